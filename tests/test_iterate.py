"""S6 iterate on a copy of the demo workspace: later logs of the sample application plus
a task it never had. The new task becomes a new cluster (selected, fine-tuned,
evaluated); a cluster with enough new calls is retrained from its adapter and promoted
only if not worse; clusters without new calls are left alone; the router is regenerated
from the registry; the same iterate again changes nothing; rollback serves v1 again."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from iterate_data import later_logs, new_task_log
from typer.testing import CliRunner

from slmconvert.cli import app

# Thresholds for a small scenario: 60 extraction calls reach min_new_calls (c02 has an
# adapter: retrain), 45 summarisation calls too (the demo evaluated no adapter for that
# task: a first one), 12 classification calls are too few to judge drift on, and 45 calls of a new
# task fill the pool.
CONFIG = """\
iterate:
  min_new_calls: 40
  min_drift_calls: 20
  quality_sample: 4
  recluster_min_calls: 30
"""


def _tree(ws: Path) -> dict[str, str]:
    return {p.relative_to(ws).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(ws.rglob("*")) if p.is_file() and p.name != ".lock"}


def _registry(ws: Path) -> dict[str, Any]:
    return dict(json.loads((ws / "registry.json").read_text()))


@pytest.fixture(scope="module")
def scenario(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("iterate")
    ws = tmp / "ws"
    shutil.copytree(demo_workspace, ws, ignore=shutil.ignore_patterns("checkpoints", "export",
                                                                      "iterate"))
    (ws / "registry.json").unlink(missing_ok=True)
    logs = tmp / "new_logs"
    logs.mkdir()
    later_logs(logs, tmp / "gen", seed=8,
               take={"extraction": 60, "classification": 12, "summarisation": 45})
    new_task_log(logs / "timetable.jsonl", n=45, seed=1)
    cfg = tmp / "iterate.yaml"
    cfg.write_text(CONFIG)
    before = _tree(ws)
    args = ["iterate", str(logs), "--workspace", str(ws), "--config", str(cfg)]
    first = CliRunner().invoke(app, args)
    after_first = _tree(ws)
    second = CliRunner().invoke(app, args)
    return {"ws": ws, "logs": logs, "args": args, "first": first, "second": second,
            "before": before, "after_first": after_first, "after_second": _tree(ws)}


@pytest.mark.slow
def test_new_task_becomes_a_new_cluster(scenario: dict[str, Any]) -> None:
    assert scenario["first"].exit_code in (10, 11), scenario["first"].output
    ws = scenario["ws"]
    reg = _registry(ws)
    new = {c: e for c, e in reg["clusters"].items() if e["origin"].startswith("iterate/new/")}
    assert new, "the unassigned pool became at least one new cluster"
    import pyarrow.parquet as pq

    pool = ws / "iterate" / "new" / reg["pools"][0]["key"]

    sources = pq.read_table(pool / "curate" / "calls.parquet", columns=["source"]) \
        .column("source").to_pylist()
    timetable = sum("timetable.jsonl" in s for s in sources)
    assert timetable >= 0.9 * len(sources), "the pool holds the new task's calls"
    for cid, entry in new.items():
        assert int(cid[1:]) >= 7, "new ids continue after the fitted clusters"
        if entry["versions"]:  # selected, fine-tuned and evaluated like any cluster
            v = entry["versions"][0]
            assert (ws / v["adapter"]).is_dir() and v["verdict"] in ("replace", "hybrid", "keep")


@pytest.mark.slow
def test_retrained_only_with_enough_new_data_and_promoted_only_if_not_worse(
        scenario: dict[str, Any]) -> None:
    ws = scenario["ws"]
    reg = _registry(ws)
    batch = reg["batches"][0]
    drift = {d["cluster"]: d for d in batch["drift"]}
    retrain = [c for c, d in drift.items() if d["decision"] == "retrain"]
    assert retrain, batch["drift"]
    for cid, d in drift.items():
        entry = reg["clusters"][cid]
        if d["decision"] == "train":
            continue  # test_a_task_without_an_adapter_gets_its_first_one
        if d["decision"] != "retrain":
            assert [v["version"] for v in entry["versions"]] in ([], [1]), cid
            assert entry["current"] in (None, 1)
            if d["new_calls"] == 0:
                assert d["reason"] == "no new calls"
            continue
        assert d["pending"] >= 40
        v2 = entry["versions"][1]
        assert v2["origin"].startswith("iterate retrain") and v2["data"]["warm_start"] == "v1"
        rounds = list((ws / "iterate" / "rounds").glob(f"{cid}-*"))
        assert len(rounds) == 1
        lows = {}
        for name in ("eval_current", "eval_candidate"):
            rep = json.loads((rounds[0] / name / "report.json").read_text())
            row = next(c for c in rep["clusters"] if c["id"] == cid)
            adapter = next(s for s in row["systems"] if s["system"] == "adapter")
            lows[name] = adapter["accuracy_ci"][0]
            assert row["calls_test"] > 0
        promoted = lows["eval_candidate"] >= lows["eval_current"]
        assert v2["promoted"] is promoted and entry["current"] == (2 if promoted else 1)
        # old + new calls in the refreshed splits, every new call on one side only
        sizes = v2["data"]["calls"]
        old = json.loads((ws / "cluster" / "clusters.json").read_text())
        split = next(c for c in old["clusters"] if c["id"] == cid)["split"]
        assert sum(sizes.values()) >= sum(split.values()) + 40


@pytest.mark.slow
def test_a_task_without_an_adapter_gets_its_first_one(scenario: dict[str, Any]) -> None:
    ws = scenario["ws"]
    reg = _registry(ws)
    drift = {d["cluster"]: d for d in reg["batches"][0]["drift"]}
    train = [c for c, d in drift.items() if d["decision"] == "train"]
    assert train, drift
    for cid in train:
        entry = reg["clusters"][cid]
        assert drift[cid]["pending"] >= 40 and entry["origin"] == "cluster"
        assert [v["version"] for v in entry["versions"]] == [1] and entry["current"] == 1
        v1 = entry["versions"][0]
        assert v1["origin"].startswith("iterate train") and (ws / v1["adapter"]).is_dir()
        outcome = next(o for o in reg["batches"][0]["outcomes"] if o.get("cluster") == cid)
        assert outcome["action"] == "train" and outcome["version"] == 1
    # clusters that had no adapter and too few new calls still have none
    for cid, d in drift.items():
        if d["decision"] == "nothing" and not reg["clusters"][cid]["versions"]:
            assert d["pending"] < 40


@pytest.mark.slow
def test_router_is_regenerated_from_the_registry(scenario: dict[str, Any]) -> None:
    from slmconvert.evaluation.router import load_router

    ws = scenario["ws"]
    reg = _registry(ws)
    router = load_router(ws / "iterate" / "router.json")
    assert [r.cluster for r in router.routes] == list(reg["clusters"])
    assert set(router.assignment.thresholds) == set(reg["clusters"])
    for r in router.routes:
        entry = reg["clusters"][r.cluster]
        served = next((v for v in entry["versions"] if v["version"] == entry["current"]), None)
        if served is None or served["verdict"] == "keep":
            assert r.route == "llm"
        else:
            assert r.route == "slm" and r.adapter == served["adapter"]
            assert (ws / r.adapter).is_dir()
    # evaluate's own router and every stage directory are untouched
    before = scenario["before"]
    for path, digest in before.items():
        if path != "registry.json":
            assert scenario["after_first"].get(path) == digest, path


@pytest.mark.slow
def test_same_iterate_twice_changes_nothing(scenario: dict[str, Any]) -> None:
    second = scenario["second"]
    assert second.exit_code == 0, second.output
    assert "nothing to do" in second.output
    assert scenario["after_second"] == scenario["after_first"]


@pytest.mark.slow
def test_registry_list_and_rollback(scenario: dict[str, Any], tmp_path: Path) -> None:
    from slmconvert.evaluation.router import load_router

    ws = tmp_path / "ws"
    shutil.copytree(scenario["ws"], ws)
    res = CliRunner().invoke(app, ["registry", "list", "--workspace", str(ws)])
    assert res.exit_code == 0, res.output
    reg = _registry(ws)
    cid = next(c for c, e in reg["clusters"].items() if len(e["versions"]) > 1)
    res = CliRunner().invoke(app, ["registry", "rollback", cid, "9", "--workspace", str(ws)])
    assert res.exit_code == 2 and "no version 9" in res.output
    res = CliRunner().invoke(app, ["registry", "rollback", cid, "1", "--workspace", str(ws)])
    assert res.exit_code == 0, res.output
    assert _registry(ws)["clusters"][cid]["current"] == 1
    route = load_router(ws / "iterate" / "router.json").route(cid)
    v1 = reg["clusters"][cid]["versions"][0]
    assert route is not None
    if v1["verdict"] != "keep":
        assert route.adapter == v1["adapter"]
    else:
        assert route.route == "llm"


def _timeless(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _timeless(v) for k, v in x.items()
                if k not in ("created_at", "promoted_at", "finished_at")}
    if isinstance(x, list):
        return [_timeless(v) for v in x]
    return x


@pytest.mark.slow
def test_a_run_killed_before_it_recorded_its_work_reaches_the_same_state(
        scenario: dict[str, Any], tmp_path: Path) -> None:
    """Every step's result is on disk before the registry records it: take the registry
    back to where it stood before the batch (as a kill before any registry write leaves
    it) and rerun; nothing is trained or answered again and the end state is the same."""
    ws = tmp_path / "ws"
    shutil.copytree(scenario["ws"], ws)
    final = _registry(ws)
    router = (ws / "iterate" / "router.json").read_text()
    reg = json.loads(json.dumps(final))
    reg["batches"], reg["pools"] = [], []
    reg["clusters"] = {c: e for c, e in reg["clusters"].items() if e["origin"] == "cluster"}
    for e in reg["clusters"].values():
        e["versions"] = [v for v in e["versions"] if v["origin"] == "evaluate"]
        e["current"] = 1 if e["versions"] else None
    (ws / "registry.json").write_text(json.dumps(reg))
    (ws / "iterate" / "router.json").unlink()
    args = [a if a != str(scenario["ws"]) else str(ws) for a in scenario["args"]]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == scenario["first"].exit_code, res.output
    assert "running" not in res.output and "finetune [" not in res.output  # all done before
    assert _timeless(_registry(ws)) == _timeless(final)
    assert (ws / "iterate" / "router.json").read_text() == router
