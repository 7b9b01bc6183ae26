"""The collect stage end to end: files on disk, quarantine, reconciliation, real logs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from slmconvert.cli import app
from slmconvert.core.parquet import RecordWriter, iter_records
from slmconvert.pipeline.stage import StageContext
from slmconvert.stages.collect import CollectConfig, CollectStage


def chat(user: str, answer: str, history: list[dict[str, Any]] | None = None, **meta: Any):
    msgs = [{"role": "system", "content": "You are a travel agent."}, *(history or []),
            {"role": "user", "content": user}]
    return {"request": {"model": "gpt-4o-mini", "messages": msgs},
            "response": {"choices": [{"message": {"role": "assistant", "content": answer},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 1000, "completion_tokens": 500}},
            "metadata": meta}


def collect(tmp: Path, *inputs: str, **cfg: Any) -> tuple[Any, list[Any], list[dict[str, Any]]]:
    ws = tmp / "ws"
    ctx = StageContext(workspace=ws, stage_dir=ws / "collect", base_dir=tmp)
    (ws / "collect").mkdir(parents=True, exist_ok=True)
    config = CollectConfig(inputs=list(inputs), **cfg)
    result = CollectStage().run(ctx, config)
    records = list(iter_records(ws / "collect/calls.parquet"))
    q = [json.loads(x) for x in (ws / "collect/quarantine.jsonl").read_text().splitlines()]
    return result, records, q


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_bad_lines_are_quarantined_with_file_line_and_reason(tmp_path: Path) -> None:
    good = chat("Fly me to Rome", "Done.")
    raw = (json.dumps(good) + "\n" + '{"request": {"messages": [\n' + "[1, 2]\n" + "\n"
           + json.dumps({"request": {"messages": [{"role": "user", "content": "x"}]},
                         "response": {"id": 1}}) + "\n").encode()
    raw += b'{"request": "caf\xe9"}\n' + json.dumps(good).encode() + b"\n"
    (tmp_path / "logs.jsonl").write_bytes(raw)
    result, records, q = collect(tmp_path, "logs.jsonl")
    assert len(records) == 1
    assert result.counts | {"files": 1} == {
        "read": 6, "imported": 1, "duplicates": 1, "quarantined": 4, "skipped": 0, "joined": 0,
        "files": 1, "human_facing": 0}
    assert [(e["file"], e["line"]) for e in q] == [("logs.jsonl", n) for n in (2, 3, 5, 6)]
    reasons = [e["reason"] for e in q]
    assert reasons[0].startswith("invalid JSON")
    assert "no importer recognises this record (a JSON list)" in reasons[1]
    assert "missing required field 'choices'" in reasons[2]
    assert reasons[3] == "invalid UTF-8 at byte 16"


def test_huge_record_is_quarantined_without_loading_it(tmp_path: Path) -> None:
    big = chat("x" * 3_000_000, "ok")
    write_jsonl(tmp_path / "big.jsonl", [big, chat("small", "ok")])
    result, records, q = collect(tmp_path, "big.jsonl", max_record_mb=1)
    assert len(records) == 1 and q[0]["line"] == 1
    assert q[0]["reason"].startswith("record too large (3000")


def test_formats_files_and_reconciliation(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_jsonl(logs / "a.jsonl", [chat("one", "1"), chat("two", "2")])
    with gzip.open(logs / "b.jsonl.gz", "wt") as fh:
        fh.write(json.dumps(chat("three", "3")) + "\n")
    (logs / "c.json").write_text(json.dumps([chat("four", "4"), chat("five", "5")]))
    (logs / "notes.txt").write_text("not a log")
    (logs / ".hidden.jsonl").write_text("ignored")
    result, records, q = collect(tmp_path, "logs")
    assert sorted(r.response.content for r in records) == ["1", "2", "3", "4", "5"]
    assert result.summary["ignored_files"] == ["logs/notes.txt"]  # labelled like sources
    files = {f["file"]: f for f in result.summary["files"]}
    assert set(files) == {"logs/a.jsonl", "logs/b.jsonl.gz", "logs/c.json"}
    for f in files.values():
        assert f["read"] == f["imported"] + f["duplicates"] + f["quarantined"] + f[
            "skipped"] + f["joined"]
    # Our own output can be collected again (Parquet, canonical format): ids are stable.
    out = tmp_path / "again.parquet"
    with RecordWriter(out) as w:
        w.write_all(records)
    (tmp_path / "ws2").mkdir()
    _, again, _ = collect(tmp_path / "ws2", str(out))
    assert sorted(r.id for r in again) == sorted(r.id for r in records)


def test_sources_name_files_as_given_without_dir_dot_dot(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`slmconvert collect ../x/../logs` labels records ../logs/a.jsonl:N: relative as
    given, folded, never this machine's absolute path; the same file named twice is read
    once; an absolute input under the working directory is labelled relative to it."""
    logs = tmp_path / "logs"
    (tmp_path / "x").mkdir()
    logs.mkdir()
    write_jsonl(logs / "a.jsonl", [chat("one", "1"), "{broken"])
    (logs / "notes.txt").write_text("not a log")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    res = CliRunner().invoke(app, ["collect", "../x/../logs", "../logs/a.jsonl", "--out", "ws"])
    assert res.exit_code == 0, res.output
    summary = json.loads((work / "ws/collect/manifest.json").read_text())["summary"]
    records = list(iter_records(work / "ws/collect/calls.parquet"))
    assert [r.source for r in records] == ["../logs/a.jsonl:1"]
    assert [f["file"] for f in summary["files"]] == ["../logs/a.jsonl"]
    assert summary["ignored_files"] == ["../logs/notes.txt"]
    quarantine = (work / "ws/collect/quarantine.jsonl").read_text()
    assert json.loads(quarantine)["file"] == "../logs/a.jsonl"
    # An absolute path: relative when it lies under the base directory, else absolute.
    _, inside, _ = collect(tmp_path, str(tmp_path / "x/../logs/a.jsonl"))
    assert inside[0].source == "logs/a.jsonl:1"
    _, outside, _ = collect(work, str(tmp_path / "x/../logs/a.jsonl"))
    assert outside[0].source == f"{tmp_path.as_posix()}/logs/a.jsonl:1"
    # The source is a label, not content: the record id does not depend on it.
    assert inside[0].id == outside[0].id == records[0].id


def test_conversations_are_linked_through_resent_history(tmp_path: Path) -> None:
    first = chat("Book Rome", "Which date?")
    second = chat("May 3", "Booked.", history=[{"role": "user", "content": "Book Rome"},
                                               {"role": "assistant", "content": "Which date?"}])
    other = chat("Book Oslo", "Which date?")
    with_session = chat("hi", "hello", session_id="sess-7")
    write_jsonl(tmp_path / "a.jsonl", [first, other, second, with_session])
    _, records, _ = collect(tmp_path, "a.jsonl")
    conv = {r.messages[-1].content: r.conversation_id for r in records}
    assert conv["Book Rome"] == conv["May 3"] != conv["Book Oslo"]
    assert conv["hi"] == "sess-7"


def test_human_facing_rule_cost_and_latency(tmp_path: Path) -> None:
    rows = [chat("a", "b", tags=["user-facing"], latency_ms=900),
            chat("c", "d", step="reply"), chat("e", "f")]
    write_jsonl(tmp_path / "a.jsonl", rows)
    result, records, _ = collect(tmp_path, "a.jsonl", human_facing={"steps": ["reply"]})
    hf = {r.messages[-1].content: r.human_facing for r in records}
    assert hf == {"a": True, "c": True, "e": False}
    assert result.counts["human_facing"] == 2
    rec = next(r for r in records if r.messages[-1].content == "a")
    assert rec.latency_ms == 900.0
    assert rec.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)


def test_openai_batch_files_are_joined_by_custom_id(tmp_path: Path) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "classify: late"}]}
    write_jsonl(tmp_path / "batch_in.jsonl", [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body |
         {"messages": [{"role": "user", "content": f"classify {i}"}]}} for i in range(3)])
    write_jsonl(tmp_path / "batch_out.jsonl", [
        {"id": "b0", "custom_id": "r0", "response": {"status_code": 200, "body": {"choices": [
            {"message": {"role": "assistant", "content": "complaint"}}]}}, "error": None},
        {"id": "b1", "custom_id": "r1", "response": None,
         "error": {"code": "server_error", "message": "x"}},
        {"id": "b9", "custom_id": "r9", "response": {"status_code": 200, "body": {}}}])
    result, records, q = collect(tmp_path, "batch_in.jsonl", "batch_out.jsonl")
    by_req = {r.messages[0].content: r for r in records}
    assert by_req["classify 0"].response.content == "complaint"
    assert by_req["classify 1"].status == "error"
    assert q[0]["file"] == "batch_out.jsonl" and "custom_id 'r9'" in q[0]["reason"]
    files = {f["file"]: f for f in result.summary["files"]}
    assert (files["batch_in.jsonl"]["joined"], files["batch_in.jsonl"]["skipped"]) == (2, 1)


def test_shared_agent_logs_import_without_crashes(tmp_path: Path, shared_data: Path) -> None:
    result, records, q = collect(tmp_path, str(shared_data / "agent_logs"))
    c = result.counts
    assert c["read"] == c["imported"] + c["duplicates"] + c["quarantined"] + c["skipped"]
    assert result.summary["importer_errors"] == 0
    assert c["imported"] > 2400
    assert c["quarantined"] / c["read"] < 0.01
    assert result.summary["skip_reasons"]["not an LLM call span"] == 295
    assert {"capture", "vcr"} <= set(result.summary["by_format"])
    assert all(r.messages for r in records)


def test_cli_collect_prints_a_summary_and_caches(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [chat("one", "1"), "{broken"])
    cli = CliRunner()
    args = ["collect", str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "ws")]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Calls by format" in result.output and "openai-chat" in result.output
    assert "Quarantined" in result.output
    again = cli.invoke(app, args)
    assert "skipped, up to date" in again.output
    manifest = json.loads((tmp_path / "ws/collect/manifest.json").read_text())
    assert manifest["counts"]["quarantined"] == 1
    bad = cli.invoke(app, ["collect", str(tmp_path / "nope"), "--out", str(tmp_path / "ws")])
    assert bad.exit_code == 3 and "no such file or directory" in bad.output
    (tmp_path / "notes.txt").write_text("hello")
    txt = cli.invoke(app, ["collect", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "w")])
    assert txt.exit_code == 3 and "unsupported file type" in txt.output
    fmt = cli.invoke(app, [*args, "--format", "opneai-chat"])
    assert fmt.exit_code == 2 and "did you mean 'openai-chat'" in fmt.output


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_random_bytes_never_crash_collect(tmp_path: Path, chunks: list[bytes]) -> None:
    d = tmp_path / str(abs(hash(tuple(chunks))))
    d.mkdir()
    data = b"\n".join(chunks)
    (d / "r.jsonl").write_bytes(data)
    (d / "r.json").write_bytes(data)
    result, records, q = collect(d, "r.jsonl", "r.json")
    c = result.counts
    assert c["read"] == c["imported"] + c["duplicates"] + c["quarantined"] + c["skipped"]
