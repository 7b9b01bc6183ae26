"""Canonical record: typed model <-> Arrow rows <-> Parquet, streamed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from slmconvert.core.parquet import RecordWriter, count_rows, iter_records
from slmconvert.core.records import (
    CallRecord,
    Message,
    ToolCall,
    Usage,
    arrow_schema,
    message_text,
    request_text,
    tool_names,
)


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


# ------------------------------------------------------- request text, tool names ----

@pytest.mark.parametrize(("message", "text"), [
    (Message(role="user", content="  Fly me to Paris \n"), "user: Fly me to Paris"),
    (Message(role="assistant", tool_calls=[
        ToolCall(name="book", arguments={"z": 1, "a": "é"}),
        ToolCall(name="pay", arguments='{"amount": 1', arguments_error="bad JSON")]),
     'assistant:  call book {"a": "\\u00e9", "z": 1} call pay "{\\"amount\\": 1"'),
    (Message(role="tool", content='{"ok": true}', tool_call_id="c1"), 'tool: {"ok": true}'),
])
def test_message_text_renders_role_content_and_calls(message: Message, text: str) -> None:
    assert message_text(message) == text


def test_request_text_is_the_request_with_or_without_instructions() -> None:
    rec = make_record()
    assert request_text(rec) == "system: You book trips.\nuser: Fly me to Paris #0"
    assert request_text(rec, instructions=False) == "user: Fly me to Paris #0"
    # The response is not part of the request; argument key order does not matter.
    other = make_record()
    other.response = None
    assert request_text(other) == request_text(rec)
    a = Message(role="assistant", tool_calls=[ToolCall(name="f", arguments={"a": 1, "b": 2})])
    b = Message(role="assistant", tool_calls=[ToolCall(name="f", arguments={"b": 2, "a": 1})])
    assert message_text(a) == message_text(b)


def test_tool_names_are_offered_called_and_answered_names() -> None:
    rec = make_record()
    assert tool_names(rec) == {"book"}
    rec.tools.append({"name": "anthropic_style", "input_schema": {}})
    rec.tools.append({"type": "function", "function": {"name": None}})
    rec.messages += [
        Message(role="assistant", tool_calls=[ToolCall(name="lookup", arguments={})]),
        Message(role="tool", name="lookup_result", content="42"),
        Message(role="user", name="alice", content="thanks"),  # a user's name is no tool
    ]
    assert tool_names(rec) == {"book", "anthropic_style", "lookup", "lookup_result"}
    assert tool_names(CallRecord(source="x")) == set()

