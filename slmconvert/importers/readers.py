"""Stream raw items out of log files, with their location, never loading a whole file.

An *item* is what one importer call sees: a JSONL line, an element of a JSON array, a
Parquet row, or a VCR cassette interaction. Items that cannot be decoded come out as
:class:`BadItem` (with the reason) so the caller quarantines them; nothing is dropped.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LOG_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".parquet", ".yaml",
                ".yml")
_CHUNK = 1 << 20


@dataclass
class Item:
    line: int  # 1-based line (or element/row/interaction number for non-line formats)
    value: Any


@dataclass
class BadItem:
    line: int
    reason: str


def suffix_of(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(LOG_SUFFIXES, key=len, reverse=True) if name.endswith(s)),
                None)


def _open(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid UTF-8 at byte {exc.start}") from None


def iter_jsonl(path: Path, max_bytes: int) -> Iterator[Item | BadItem]:
    """One item per non-blank line; lines over ``max_bytes`` are skipped without being read
    into memory whole."""
    with _open(path) as fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline(max_bytes + 1)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                yield BadItem(lineno + 1, f"unreadable file: {exc}")
                return
            if not raw:
                return
            lineno += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                size = len(raw)
                while raw and not raw.endswith(b"\n"):  # drain the rest of the line
                    raw = fh.readline(_CHUNK)
                    size += len(raw)
                yield BadItem(lineno, f"record too large ({size} bytes > limit {max_bytes})")
                continue
            if not raw.strip():
                continue
            try:
                text = _decode(raw)
                if lineno == 1:
                    text = text.lstrip("\ufeff")
                yield Item(lineno, json.loads(text))
            except ValueError as exc:
                yield BadItem(lineno, _json_reason(exc))


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    return str(exc)


def iter_json(path: Path, max_bytes: int) -> Iterator[Item | BadItem]:
    """A JSON document: an array is streamed element by element; an object holding one
    list (``data``, ``observations``, ``items``, ``records``) is treated as that array;
    any other object is one item."""
    with _open(path) as fh:
        head = fh.read(4096)
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if start != b"[":
            rest = fh.read(max_bytes + 1 - len(head))
            data = head + rest
            if len(data) > max_bytes:
                yield BadItem(1, f"JSON document too large (> {max_bytes} bytes); "
                                 "use JSONL or a JSON array")
                return
            try:
                doc = json.loads(_decode(data).lstrip("\ufeff"))
            except ValueError as exc:
                yield BadItem(1, _json_reason(exc))
                return
            if isinstance(doc, dict):
                for key in ("data", "observations", "items", "records"):
                    if isinstance(doc.get(key), list) and len(doc) <= 3:
                        for i, v in enumerate(doc[key]):
                            yield Item(i + 1, v)
                        return
            yield Item(1, doc)
            return
        yield from _iter_array(head, fh, max_bytes)


def _iter_array(head: bytes, fh: IO[bytes], max_bytes: int) -> Iterator[Item | BadItem]:
    decoder = json.JSONDecoder()
    buf = _decode_prefix(head)
    pos = buf.index("[") + 1
    index = 0
    eof = False
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if pos < len(buf) and buf[pos] == "]":
            return
        try:
            value, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            if eof:
                yield BadItem(index + 1, f"invalid JSON array element: {exc.msg}")
                return
            if len(buf) - pos > max_bytes:
                yield BadItem(index + 1, f"array element too large (> {max_bytes} bytes)")
                return
            chunk = fh.read(_CHUNK)
            eof = not chunk
            buf = buf[pos:] + _decode_prefix(chunk)
            pos = 0
            continue
        index += 1
        yield Item(index, value)
        buf, pos = buf[end:], 0


def _decode_prefix(data: bytes) -> str:
    # Chunks may split a multi-byte character; keep undecodable bytes as replacement so the
    # JSON decoder sees them (a truncated char at the end is rare and only affects strings).
    return data.decode("utf-8", errors="replace")


def iter_parquet(path: Path, max_bytes: int) -> Iterator[Item | BadItem]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        yield BadItem(1, f"unreadable Parquet file: {exc}")
        return
    row = 0
    for batch in pf.iter_batches(batch_size=1024):
        for value in batch.to_pylist():
            row += 1
            yield Item(row, value)


def iter_yaml_cassette(path: Path, max_bytes: int) -> Iterator[Item | BadItem]:
    """VCR cassettes (YAML with ``interactions``): one item per interaction."""
    import yaml

    if path.stat().st_size > max_bytes:
        yield BadItem(1, f"cassette too large ({path.stat().st_size} bytes > limit {max_bytes})")
        return
    try:
        doc = yaml.load(_decode(path.read_bytes()), Loader=getattr(yaml, "CSafeLoader",
                                                                    yaml.SafeLoader))
    except (yaml.YAMLError, ValueError) as exc:
        yield BadItem(1, f"invalid YAML: {str(exc).splitlines()[0]}")
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("interactions"), list):
        yield BadItem(1, "not a VCR cassette (no 'interactions' list)")
        return
    for i, inter in enumerate(doc["interactions"]):
        yield Item(i + 1, inter)


def iter_items(path: Path, max_bytes: int) -> Iterator[Item | BadItem]:
    suffix = suffix_of(path)
    if suffix in (".jsonl", ".jsonl.gz", ".ndjson"):
        return iter_jsonl(path, max_bytes)
    if suffix in (".json", ".json.gz"):
        return iter_json(path, max_bytes)
    if suffix == ".parquet":
        return iter_parquet(path, max_bytes)
    if suffix in (".yaml", ".yml"):
        return iter_yaml_cassette(path, max_bytes)
    raise ValueError(f"unsupported file type: {path.name}")
