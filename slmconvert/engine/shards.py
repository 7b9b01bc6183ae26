"""Shards of a Parquet file: contiguous row ranges, read without reading the rest."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmconvert.core.hashing import sha256_file, sha256_json


@dataclass(frozen=True)
class Shard:
    index: int
    start: int  # first row
    stop: int   # one past the last row

    def as_item(self) -> dict[str, int]:
        return {"index": self.index, "start": self.start, "stop": self.stop}


def plan(n_rows: int, shard_rows: int) -> list[Shard]:
    return [Shard(i, s, min(s + shard_rows, n_rows))
            for i, s in enumerate(range(0, n_rows, shard_rows))]


def read_rows(path: Path, start: int, stop: int) -> Iterator[dict[str, Any]]:
    """Rows ``start:stop`` of a Parquet file; only the row groups that hold them are read."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    meta = pf.metadata
    first = 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        lo, hi = max(start, first), min(stop, first + n)
        if lo < hi:
            table = pf.read_row_group(g).slice(lo - first, hi - lo)
            yield from table.to_pylist()
        first += n
        if first >= stop:
            break


def checkpoint_dir(root: Path, src: Path, settings: Any) -> Path:
    """Where a sharded run keeps its finished shards: one directory per input content
    and settings, so a rerun after a crash resumes and a changed input starts afresh
    (older directories are removed)."""
    key = sha256_json({"input": sha256_file(src), "settings": settings})[:16]
    if root.is_dir():
        for old in root.iterdir():
            if old.name != key:
                shutil.rmtree(old, ignore_errors=True)
    out = root / key
    out.mkdir(parents=True, exist_ok=True)
    return out
