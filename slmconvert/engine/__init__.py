"""Where curate and cluster run their per-call work: in this process (``local``) or on
a Ray cluster (``ray``), in shards of a Parquet file, with the global steps (near-duplicate
join, cluster fit) done once on the driver. See docs/scale.md."""
