"""Cluster-stage embedding throughput against raw sentence-transformers ``encode``.

    python benchmarks/bench_embed.py WORKSPACE [--records N]

WORKSPACE must have a curate/ stage. The texts are what the cluster stage embeds for
each call: the masked instructions (system prompt) and the masked last turn.
Raw: ``SentenceTransformer.encode`` on every text (batch 64, the model's own 256-token
limit), as a user would write it. Ours: ``Embedder.encode`` in the stage's batches of
256 calls (each distinct text once, a cache across batches, texts cut before
tokenising, 128 tokens). A second run of ours at 256 tokens separates what the
de-duplication alone brings from what the shorter window brings; the cosine of our
vectors against raw ones shows what the shorter window changes.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from slmconvert.clustering.embed import Embedder, load_sentence_model
from slmconvert.clustering.features import call_features
from slmconvert.core.parquet import iter_records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--records", type=int, default=1000)
    args = ap.parse_args()
    recs = list(itertools.islice(iter_records(args.workspace / "curate/calls.parquet"),
                                 args.records))
    feats = [call_features(r) for r in recs]
    texts = [t for f in feats for t in (f.instructions, f.last_turn)]
    print(f"{len(recs)} calls, {len(texts)} texts, {len(set(texts))} distinct")

    model = load_sentence_model("minilm-l6-v2")
    model.encode(texts[:64], batch_size=64)  # warm-up
    t0 = time.perf_counter()
    raw = model.encode(texts, batch_size=64, normalize_embeddings=True)
    t_raw = time.perf_counter() - t0
    print(f"raw sentence-transformers encode : {len(texts) / t_raw:8.1f} texts/s "
          f"({t_raw:.1f} s, max_seq_length {model.max_seq_length})")

    for max_tokens in (256, 128):
        emb = Embedder(load_sentence_model("minilm-l6-v2"), 64, max_tokens)
        t0 = time.perf_counter()
        ours = np.vstack([emb.encode(texts[i:i + 512]) for i in range(0, len(texts), 512)])
        t = time.perf_counter() - t0
        cos = float(np.mean(np.sum(ours * raw, axis=1)))
        print(f"slmconvert Embedder ({max_tokens:3d} tokens): {len(texts) / t:8.1f} texts/s "
              f"({t:.1f} s; {emb.encoded} encoded; ratio {t_raw / t:.2f}x; "
              f"mean cosine to raw {cos:.3f})")


if __name__ == "__main__":
    main()
