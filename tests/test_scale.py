"""engine: ray for curate and cluster, on a local Ray instance of 2 CPUs: the same kept
calls, placeholders and clusters as the local engine; an actor killed mid-run is retried
without losing or duplicating calls; a driver killed mid-run resumes from its finished
shards. Inputs are real third-party agent logs from ../shared/data."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="engine: ray needs the ray extra (make setup installs it)")

from slmconvert.core.parquet import iter_rows  # noqa: E402
from slmconvert.engine import ray_engine  # noqa: E402
from slmconvert.engine.config import RayOptions  # noqa: E402
from slmconvert.errors import ConfigError  # noqa: E402
from slmconvert.pipeline.stage import StageContext  # noqa: E402
from slmconvert.stages.cluster import ClusterConfig, ClusterStage  # noqa: E402
from slmconvert.stages.collect import CollectConfig, CollectStage  # noqa: E402
from slmconvert.stages.curate import CurateConfig, CurateStage  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
LOGS = ["agent_logs/metagpt.jsonl", "agent_logs/pydantic_ai.jsonl"]
CURATE_SHARD = 64  # scrubbing is the slow part: a sample of the logs in 4 shards
CLUSTER_SHARD = 256  # whole embedding batches: all calls of both logs in 7 shards
RAY_CURATE = {"engine": "ray", "ray": {"workers": 2, "shard_calls": CURATE_SHARD}}
# Small fits so that the calls outside the fitted sample are assigned in parallel.
CLUSTER = {"selection": {"fit_max": 300}, "map": False}


def _sample(root: Path, lines: int) -> list[Path]:
    """Every k-th line of each log, ``lines`` of each: both agents, spread over the logs."""
    out = []
    for rel in LOGS:
        text = (SHARED / rel).read_text(encoding="utf-8").splitlines()
        path = root / Path(rel).name
        path.write_text("\n".join(text[::max(1, len(text) // lines)][:lines]) + "\n",
                        encoding="utf-8")
        out.append(path)
    return out


def _collect(ws: Path, inputs: list[Path]) -> Path:
    (ws / "collect").mkdir(parents=True)
    ctx = StageContext(workspace=ws, stage_dir=ws / "collect", base_dir=ws)
    CollectStage().run(ctx, CollectConfig(inputs=[str(p) for p in inputs]))
    return ws


def _workspace(root: Path, name: str, collected: Path) -> Path:
    ws = root / name
    shutil.copytree(collected / "collect", ws / "collect")
    return ws


def _run(stage: Any, ws: Path, cfg: Any) -> Any:
    (ws / stage.name).mkdir(parents=True, exist_ok=True)
    ctx = StageContext(workspace=ws, stage_dir=ws / stage.name, base_dir=ws)
    return stage.run(ctx, cfg)


def _dropped(curate: Path) -> dict[str, str]:
    """id -> reason of every call a curate run left out."""
    return {d["id"]: d["reason"] for d in map(json.loads, (curate / "dropped.jsonl").open())}


@pytest.fixture(scope="module")
def ray_instance() -> Any:
    """One local Ray instance of 2 CPUs for the module (stages join it)."""
    with ray_engine.session(RayOptions(workers=2)) as workers:
        yield workers


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, ray_instance: int) -> dict[str, Any]:
    if not SHARED.exists():
        pytest.skip("../shared/data is not beside the checkout")
    root = tmp_path_factory.mktemp("scale")
    sample = _sample(root, 120)
    collected = _collect(root / "collected", sample)
    local, ray = _workspace(root, "local", collected), _workspace(root, "ray", collected)
    out: dict[str, Any] = {"local": local, "ray": ray, "collected": collected,
                           "sample": sample}
    out["curate_local"] = _run(CurateStage(), local, CurateConfig())
    out["curate_ray"] = _run(CurateStage(), ray, CurateConfig(**RAY_CURATE))
    # Cluster: every call of both logs (uncurated: only the engine is under test).
    whole = _collect(root / "whole", [SHARED / p for p in LOGS])
    for name in ("cluster_local", "cluster_ray"):
        ws = _workspace(root, name, whole)
        shutil.copytree(ws / "collect", ws / "curate")
        out[name] = ws
    out["clustered_local"] = _run(ClusterStage(), out["cluster_local"], ClusterConfig(**CLUSTER))
    out["clustered_ray"] = _run(ClusterStage(), out["cluster_ray"], ClusterConfig(
        **CLUSTER, engine="ray", ray={"workers": 2, "shard_calls": CLUSTER_SHARD}))
    return out


def test_curate_ray_keeps_the_same_calls_with_the_same_placeholders(runs: dict[str, Any]
                                                                    ) -> None:
    local, ray = runs["curate_local"], runs["curate_ray"]
    assert ray.counts == local.counts
    assert ray.counts["read"] == ray.counts["kept"] + ray.counts["dropped"]
    # the join had work to do: near-duplicates, and calls that could not be scrubbed
    assert local.counts["dropped_near_duplicate"] > 0
    assert local.counts["dropped_unscrubbable"] > 0
    assert ray.summary["ray"]["shards"] >= 3
    got, want = runs["ray"] / "curate", runs["local"] / "curate"
    assert list(iter_rows(got / "calls.parquet")) == list(iter_rows(want / "calls.parquet"))
    assert _dropped(got) == _dropped(want)
    report = json.loads((got / "pii_report.json").read_text())
    assert report == json.loads((want / "pii_report.json").read_text())
    assert report["scrubbed_by_type"]  # real logs: there was something to scrub
    assert not (got / "shards").exists()  # removed once merged


def test_cluster_ray_assigns_every_call_as_local(runs: dict[str, Any]) -> None:
    local, ray = runs["cluster_local"], runs["cluster_ray"]

    def assigned(ws: Path) -> dict[str, tuple[str, str]]:
        return {r["id"]: (r["cluster"], r["split"])
                for r in iter_rows(ws / "cluster/assignments.parquet")}

    a = assigned(local)
    assert a == assigned(ray)
    assert len(a) > 2 * CLUSTER["selection"]["fit_max"]  # most were assigned outside the fit
    assert runs["clustered_ray"].summary["ray"]["shards"] >= 3
    assert runs["clustered_ray"].counts == runs["clustered_local"].counts
    ja = json.loads((local / "cluster/clusters.json").read_text())
    jb = json.loads((ray / "cluster/clusters.json").read_text())
    assert len(ja["clusters"]) >= 2
    assert [c["label"] for c in ja["clusters"]] == [c["label"] for c in jb["clusters"]]
    for c in ja["clusters"]:
        for side in ("train", "val", "test"):
            part = Path("cluster/splits") / c["id"] / f"{side}.parquet"
            assert [r["id"] for r in iter_rows(local / part)] == \
                [r["id"] for r in iter_rows(ray / part)]


def test_cluster_shards_must_be_whole_embedding_batches(tmp_path: Path,
                                                       runs: dict[str, Any]) -> None:
    ws = _workspace(tmp_path, "odd", runs["collected"])
    shutil.copytree(ws / "collect", ws / "curate")
    with pytest.raises(ConfigError, match="multiple of 256"):
        _run(ClusterStage(), ws, ClusterConfig(engine="ray", ray={"shard_calls": 100}))


def _scrub_workers() -> list[Any]:
    import psutil

    return [p for p in psutil.process_iter(["cmdline"])
            if "ScrubWorker" in " ".join(p.info["cmdline"] or [])]


def test_a_killed_actor_is_retried_without_losing_or_duplicating_calls(
        tmp_path: Path, runs: dict[str, Any]) -> None:
    ws = _workspace(tmp_path, "killed", runs["collected"])
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["r"] = _run(CurateStage(), ws, CurateConfig(**RAY_CURATE))
        except BaseException as exc:  # reported below
            result["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.time() + 600
    while t.is_alive() and time.time() < deadline and killed is None:
        done = list((ws / "curate/shards").glob("*/scrub-*.json"))
        workers = _scrub_workers()
        if done and workers:  # one shard scrubbed, others in flight: kill an actor
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    t.join(timeout=900)
    assert killed is not None, "no scrub actor was seen mid-run"
    assert "error" not in result, result.get("error")
    r = result["r"]
    assert r.counts == runs["curate_local"].counts
    assert list(iter_rows(ws / "curate/calls.parquet")) == \
        list(iter_rows(runs["local"] / "curate/calls.parquet"))
    kept = [row["id"] for row in iter_rows(ws / "curate/calls.parquet")]
    assert len(kept) == len(set(kept))
    assert _dropped(ws / "curate") == _dropped(runs["local"] / "curate")


def test_a_killed_driver_resumes_from_finished_shards(tmp_path: Path, runs: dict[str, Any]
                                                      ) -> None:
    ws = tmp_path / "driver"
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)  # its own local instance, as a user's first run would
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(json.dumps({
        "name": "resume", "workspace": str(ws), "seed": 0,
        "stages": {"collect": {"inputs": [str(p) for p in runs["sample"]]},
                   "curate": RAY_CURATE}}))
    cmd = [sys.executable, "-c", "import sys; from slmconvert.cli import app; app(sys.argv[1:])",
           "run", str(pipeline)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        if list((ws / "curate/shards").glob("*/scrub-*.json")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, \
        f"curate ended before a shard was scrubbed: {proc.stderr.read()[-2000:]!r}"
    assert not (ws / "curate/manifest.json").exists()
    assert list((ws / "curate/shards").glob("*/scrub-*.json"))
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    manifest = json.loads((ws / "curate/manifest.json").read_text())
    assert manifest["summary"]["ray"]["resumed_shards"] >= 1
    assert list(iter_rows(ws / "curate/calls.parquet")) == \
        list(iter_rows(runs["local"] / "curate/calls.parquet"))
    assert _dropped(ws / "curate") == _dropped(runs["local"] / "curate")
    counts = manifest["counts"]
    assert counts["read"] == counts["kept"] + counts["dropped"]
    assert counts == runs["curate_local"].counts
