"""Canonical record: typed model <-> Arrow rows <-> Parquet, streamed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from slmconvert.core.parquet import RecordWriter, count_rows, iter_records
from slmconvert.core.records import CallRecord, Message, ToolCall, Usage, arrow_schema


def make_record(i: int = 0, **kw) -> CallRecord:
    rec = CallRecord(
        source=f"logs.jsonl:{i + 1}",
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        agent="travel", model="gpt-4o-mini", provider="openai",
        messages=[
            Message(role="system", content="You book trips."),
            Message(role="user", content=f"Fly me to Paris #{i}"),
        ],
        tools=[{"type": "function", "function": {"name": "book", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}],
        response=Message(role="assistant", tool_calls=[
            ToolCall(id="call_1", name="book", arguments={"city": "Paris", "n": [1, 2]}),
            ToolCall(id="call_2", name="book", arguments='{"city": "Pa',
                     arguments_error="Unterminated string"),
        ]),
        usage=Usage(prompt_tokens=50, completion_tokens=7),
        latency_ms=812.5, extra={"x": {"y": 1}}, **kw,
    )
    return rec.with_id()


def test_roundtrip_through_parquet_is_lossless(tmp_path: Path) -> None:
    recs = [make_record(i) for i in range(5)]
    path = tmp_path / "calls.parquet"
    with RecordWriter(path, row_group_size=2) as w:
        w.write_all(recs)
    assert w.count == 5 and count_rows(path) == 5
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    assert pq.read_schema(path).equals(arrow_schema())
    assert list(iter_records(path, batch_size=2)) == recs


def test_unparsable_arguments_survive_as_raw_string(tmp_path: Path) -> None:
    path = tmp_path / "calls.parquet"
    with RecordWriter(path) as w:
        w.write(make_record())
    back = next(iter_records(path))
    assert back.response is not None
    good, bad = back.response.tool_calls
    assert good.arguments == {"city": "Paris", "n": [1, 2]}
    assert bad.arguments == '{"city": "Pa' and bad.arguments_error


def test_content_id_is_stable_and_ignores_where_it_was_logged() -> None:
    a, b = make_record(0), make_record(0)
    b.source, b.latency_ms = "other.jsonl:99", 1.0
    assert a.content_id() == b.content_id() == a.id
    assert make_record(1).id != a.id
    assert len(a.id) == 24


def test_unknown_fields_and_roles_are_rejected() -> None:
    with pytest.raises(ValidationError):
        CallRecord(source="x", bogus=1)
    with pytest.raises(ValidationError):
        Message(role="robot", content="hi")


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "calls.parquet"
    with pytest.raises(RuntimeError), RecordWriter(path) as w:
        w.write(make_record())
        raise RuntimeError("killed")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
