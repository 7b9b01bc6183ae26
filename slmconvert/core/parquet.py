"""Streaming Parquet I/O for canonical records: bounded memory however big the log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from slmconvert.core.fsio import atomic_path
from slmconvert.core.records import CallRecord, arrow_schema, from_row, to_row

DEFAULT_ROW_GROUP = 1024


class RecordWriter:
    """Write records to ``path`` in row groups; the file appears only on a clean close.

    >>> with RecordWriter(path) as w:
    ...     w.write(record)
    """

    def __init__(self, path: Path, row_group_size: int = DEFAULT_ROW_GROUP,
                 schema: Any = None) -> None:
        self.path = path
        self.row_group_size = row_group_size
        self.schema = schema if schema is not None else arrow_schema()
        self.count = 0
        self._rows: list[dict[str, Any]] = []
        self._atomic = atomic_path(path)
        self._writer: Any = None

    def __enter__(self) -> RecordWriter:
        import pyarrow.parquet as pq

        tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(tmp, self.schema, compression="zstd")
        return self

    def write(self, record: CallRecord) -> None:
        self.write_row(to_row(record))

    def write_row(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= self.row_group_size:
            self._flush()

    def write_all(self, records: Iterable[CallRecord]) -> None:
        for rec in records:
            self.write(rec)

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if et is None:
                self._flush()
        finally:
            self._writer.close()
            self._atomic.__exit__(et, ev, tb)


def iter_rows(path: Path, batch_size: int = DEFAULT_ROW_GROUP,
              columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
        yield from batch.to_pylist()


def iter_records(path: Path, batch_size: int = DEFAULT_ROW_GROUP) -> Iterator[CallRecord]:
    for row in iter_rows(path, batch_size):
        yield from_row(row)


def count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)
