"""sample_logs/: deterministic, realistic, and collected exactly as the generator intended."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from slmconvert.core.parquet import iter_records
from slmconvert.pipeline.stage import StageContext
from slmconvert.stages.collect import CollectConfig, CollectStage

SAMPLES = Path(__file__).parent.parent / "sample_logs"
LOGS = ("openai_proxy.jsonl", "anthropic_messages.jsonl.gz", "otel_spans.jsonl")


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory):
    ws = tmp_path_factory.mktemp("ws")
    ctx = StageContext(workspace=ws, stage_dir=ws / "collect", base_dir=SAMPLES.parent)
    (ws / "collect").mkdir()
    result = CollectStage().run(ctx, CollectConfig(inputs=["sample_logs"]))
    return result, list(iter_records(ws / "collect/calls.parquet"))


def labels() -> list[dict[str, str]]:
    with open(SAMPLES / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_generator_is_deterministic(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SAMPLES / "generate.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in (*LOGS, "labels.csv", "planted_pii.csv"):
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == hashlib.sha256(
            (SAMPLES / name).read_bytes()).hexdigest(), name


def test_sample_logs_shape(collected) -> None:
    result, records = collected
    c = result.counts
    assert c["imported"] >= 3000
    assert set(result.summary["by_format"]) == {"openai-chat", "anthropic", "otel"}
    assert c["quarantined"] == 3  # the three deliberately malformed lines
    assert c["read"] == c["imported"] + c["duplicates"] + c["quarantined"] + c["skipped"]
    tasks = {row["task"] for row in labels()}
    assert len(tasks) >= 7
    assert sum(r.status == "error" for r in records) == 10
    assert any(len(r.response.tool_calls) > 1 for r in records if r.response)


def test_every_labelled_call_is_imported_and_human_facing_matches(collected) -> None:
    result, records = collected
    by_source = {r.source.split("#")[0]: r for r in records}
    missing = []
    for row in labels():
        rec = by_source.get(f"sample_logs/{row['file']}:{row['line']}")
        if rec is None:
            missing.append(row)  # allowed only for exact duplicates of an earlier call
            continue
        assert rec.human_facing == (row["task"] == "customer_reply"), row
    # the 20 duplicated lines, and calls whose content repeats an earlier one exactly
    assert len(missing) == result.counts["duplicates"] >= 20


def test_conversations_match_the_generator(collected) -> None:
    """Calls the generator put in one conversation share one id, and no id spans two."""
    _, records = collected
    truth = {f"sample_logs/{r['file']}:{r['line']}": r["conversation"] for r in labels()}
    ours_to_truth: dict[str, set[str]] = defaultdict(set)
    truth_to_ours: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        t = truth.get(rec.source.split("#")[0])
        if t is None:
            continue
        assert rec.conversation_id is not None
        ours_to_truth[rec.conversation_id].add(t)
        truth_to_ours[t].add(rec.conversation_id)
    assert all(len(v) == 1 for v in ours_to_truth.values())
    assert all(len(v) == 1 for v in truth_to_ours.values())
    assert max(len(v) for v in truth_to_ours.values()) == 1
    multi = sum(1 for r in records if r.messages and r.messages[-1].role == "tool")
    assert multi > 500  # many calls resend a growing history


def by_task(records) -> dict[str, list]:
    task = {f"sample_logs/{r['file']}:{r['line']}": r["task"] for r in labels()}
    out: dict[str, list] = defaultdict(list)
    for rec in records:
        t = task.get(rec.source.split("#")[0])
        if t is not None:
            out[t].append(rec)
    return out


def test_names_are_missing_from_about_half_of_the_calls(collected) -> None:
    """Raw provider logs usually carry no agent or step names: whole sessions are logged
    without them, in every format and for every task."""
    _, records = collected
    for task, recs in by_task(records).items():
        unnamed = sum(not (r.agent or r.workflow or r.step) for r in recs) / len(recs)
        assert 0.3 <= unnamed <= 0.7, (task, unnamed)
    unnamed = sum(not (r.agent or r.workflow or r.step) for r in records) / len(records)
    assert 0.4 <= unnamed <= 0.6, unnamed
    named: dict[str | None, set[bool]] = defaultdict(set)
    for rec in records:  # a conversation is named throughout or not at all
        named[rec.conversation_id].add(bool(rec.agent))
    assert all(len(v) == 1 for v in named.values())


def test_no_log_field_carries_the_task(collected) -> None:
    tasks = {row["task"] for row in labels()}
    _, records = collected

    def values(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield k
                yield from values(v)
        elif isinstance(obj, list):
            for v in obj:
                yield from values(v)
        else:
            yield obj

    for rec in records:
        found = {v for v in values(rec.extra) if isinstance(v, str)} | {
            rec.agent, rec.workflow, rec.step}
        assert not found & tasks, (rec.source, found & tasks)


def test_machine_facing_pair_shares_agent_prompt_and_tools(collected) -> None:
    """case_note and tool_selection calls of one session have the same system prompt and
    tools (and the same names when named): only the request's last turn differs."""
    _, records = collected
    tasks = by_task(records)
    loop = defaultdict(list)
    for rec in tasks["tool_selection"]:
        loop[rec.conversation_id].append(rec)
    checked = 0
    for note in tasks["case_note"]:
        for other in loop.get(note.conversation_id, []):
            assert other.messages[0] == note.messages[0] and other.tools == note.tools
            assert (other.agent, other.human_facing) == (note.agent, False)
            checked += 1
    assert len(tasks["case_note"]) >= 200 and checked >= 200


def test_instructions_are_paraphrased_and_requests_varied(collected) -> None:
    """Many phrasings of each task's instructions, and requests that seldom repeat (so
    that near-duplicate removal keeps most calls)."""
    import re

    _, records = collected
    for task, recs in by_task(records).items():
        system = Counter(re.sub(r"\d", "0", r.messages[0].content or "") for r in recs
                         if r.messages[0].role == "system")
        assert len(system) >= 20 and max(system.values()) <= 0.1 * len(recs), task
        requests = Counter(" ".join(re.sub(r"\d", "0", " ".join(
            m.content or "" for m in r.messages if m.role != "system")).lower().split())
            for r in recs)
        repeated = sum(n for n in requests.values() if n > 1)
        assert repeated <= 0.05 * len(recs), (task, repeated)
