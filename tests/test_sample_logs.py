"""sample_logs/: deterministic, realistic, and collected exactly as the generator intended."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from collections import defaultdict
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
    _, records = collected
    by_source = {r.source.split("#")[0]: r for r in records}
    missing = []
    for row in labels():
        rec = by_source.get(f"sample_logs/{row['file']}:{row['line']}")
        if rec is None:
            missing.append(row)  # allowed only for exact duplicates of an earlier call
            continue
        assert rec.human_facing == (row["task"] == "customer_reply"), row
    assert len(missing) == 40


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
