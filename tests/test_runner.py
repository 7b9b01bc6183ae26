"""The stage runner: caching, invalidation, resume after kill -9, integrity, config errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import stages_for_tests
from typer.testing import CliRunner

from slmconvert.cli import app
from slmconvert.errors import ConfigError, WorkspaceBusyError
from slmconvert.pipeline import manifest as mf
from slmconvert.pipeline.config import load_pipeline
from slmconvert.pipeline.runner import Runner, StageFailed


@pytest.fixture(autouse=True)
def test_stages():
    stages_for_tests.register()
    yield
    stages_for_tests.unregister()


def write_pipeline(tmp: Path, make: dict | None = None, shout: dict | None = None) -> Path:
    (tmp / "input.txt").write_text("alpha\nbeta\n") if not (tmp / "input.txt").exists() else None
    import yaml

    stages = {"make": make or {}, "shout": shout or {}}
    path = tmp / "pipe.yaml"
    path.write_text(yaml.safe_dump({"workspace": "ws", "seed": 1, "stages": stages}))
    return path


def run(path: Path, **kw) -> dict[str, str]:
    outcomes = Runner(load_pipeline(path)).run(**kw)
    return {o.name: o.action for o in outcomes}


def test_first_run_writes_outputs_and_manifest(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    assert run(pipe) == {"make": "ran", "shout": "ran"}
    assert (tmp_path / "ws/shout/shout.txt").read_text() == "ALPHA!\nBETA!\n"
    m = json.loads((tmp_path / "ws/make/manifest.json").read_text())
    assert m["counts"] == {"in": 2, "out": 2}
    assert m["params"] == {"source": "input.txt", "repeat": 1, "hang_after_partial": False}
    assert m["seed"] == 1
    assert m["inputs"][0]["path"] == "input.txt" and len(m["inputs"][0]["sha256"]) == 64
    assert [o["path"] for o in m["outputs"]] == ["lines.txt"]
    assert "pyarrow" in m["versions"] and m["duration_s"] >= 0
    shout = json.loads((tmp_path / "ws/shout/manifest.json").read_text())
    assert shout["upstream"]["make"]["key"] == m["key"]


def test_unchanged_input_is_skipped(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    run(pipe)
    before = (tmp_path / "ws/make/manifest.json").read_text()
    assert run(pipe) == {"make": "skipped", "shout": "skipped"}
    assert (tmp_path / "ws/make/manifest.json").read_text() == before


def test_changed_params_rerun_and_invalidate_downstream(tmp_path: Path) -> None:
    run(write_pipeline(tmp_path))
    pipe = write_pipeline(tmp_path, make={"repeat": 2})
    statuses = {s.name: s for s in Runner(load_pipeline(pipe)).status()}
    assert statuses["make"].state == "stale" and "repeat" in statuses["make"].reason
    assert statuses["shout"].state == "stale" and "make" in statuses["shout"].reason
    assert run(pipe) == {"make": "ran", "shout": "ran"}
    assert (tmp_path / "ws/shout/shout.txt").read_text().count("ALPHA!") == 2


def test_downstream_params_change_reruns_only_downstream(tmp_path: Path) -> None:
    run(write_pipeline(tmp_path))
    assert run(write_pipeline(tmp_path, shout={"suffix": "?"})) == {
        "make": "skipped", "shout": "ran"}


def test_changed_input_file_content_reruns(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    run(pipe)
    (tmp_path / "input.txt").write_text("gamma\n")
    status = {s.name: s for s in Runner(load_pipeline(pipe)).status()}
    assert "inputs changed: input.txt" in status["make"].reason
    assert run(pipe) == {"make": "ran", "shout": "ran"}
    assert (tmp_path / "ws/shout/shout.txt").read_text() == "GAMMA!\n"


def test_touching_input_without_changing_content_is_skipped(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    run(pipe)
    os.utime(tmp_path / "input.txt", (time.time() + 100, time.time() + 100))
    assert run(pipe) == {"make": "skipped", "shout": "skipped"}


def test_corrupted_output_is_detected_and_rebuilt(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    run(pipe)
    out = tmp_path / "ws/make/lines.txt"
    out.write_text("ALPHA\nbeta\n")  # same size, different bytes
    status = {s.name: s for s in Runner(load_pipeline(pipe)).status()}
    assert status["make"].state == "stale"
    assert "does not match its sha256" in status["make"].reason
    assert run(pipe)["make"] == "ran"
    assert out.read_text() == "alpha\nbeta\n"


def test_deleted_output_is_detected(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    run(pipe)
    (tmp_path / "ws/shout/shout.txt").unlink()
    status = {s.name: s for s in Runner(load_pipeline(pipe)).status()}
    assert status["shout"].reason == "output shout.txt is missing"
    assert run(pipe) == {"make": "skipped", "shout": "ran"}


def test_force_reruns(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    run(pipe)
    assert run(pipe, force=True) == {"make": "ran", "shout": "ran"}
    assert run(pipe, only="shout", force=True) == {"shout": "ran"}


def test_from_and_only_select_stages(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    with pytest.raises(StageFailed, match="needs 'make'"):
        run(pipe, only="shout")
    assert run(pipe, only="make") == {"make": "ran"}
    assert run(pipe, from_="shout") == {"shout": "ran"}
    with pytest.raises(ConfigError, match="did you mean 'shout'"):
        run(pipe, from_="shuot")


def test_stage_killed_midway_leaves_no_manifest_and_reruns(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    run(pipe)  # a previous complete run exists: its manifest must not survive the kill
    hang = write_pipeline(tmp_path, make={"hang_after_partial": True, "repeat": 3})
    code = ("import stages_for_tests, sys; stages_for_tests.register();"
            "from slmconvert.cli import app; app(sys.argv[1:])")
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(hang)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (tmp_path / "ws/READY").exists():
            assert proc.poll() is None, "runner exited before reaching the hang point"
            assert time.time() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    stage_dir = tmp_path / "ws/make"
    assert not (stage_dir / "manifest.json").exists()
    assert (stage_dir / "partial.txt").exists()
    status = {s.name: s for s in Runner(load_pipeline(pipe)).status()}
    assert status["make"].state == "not-run"
    assert status["shout"].state == "blocked"
    # The workspace lock died with the process; the next run redoes the stage cleanly.
    assert run(write_pipeline(tmp_path, make={"repeat": 3})) == {"make": "ran", "shout": "ran"}
    assert not (stage_dir / "partial.txt").exists()
    assert (stage_dir / "lines.txt").read_text().count("alpha") == 3


def test_workspace_lock_refuses_a_second_runner(tmp_path: Path) -> None:
    runner = Runner(load_pipeline(write_pipeline(tmp_path)))
    with runner.locked(), pytest.raises(WorkspaceBusyError, match="in use"):
        runner.run()


def test_workspace_is_owner_only(tmp_path: Path) -> None:
    run(write_pipeline(tmp_path))
    assert (tmp_path / "ws").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "ws/make").stat().st_mode & 0o777 == 0o700
    for f in ("make/lines.txt", "make/manifest.json"):
        assert (tmp_path / "ws" / f).stat().st_mode & 0o777 == 0o600


def test_unreadable_manifest_is_an_integrity_error(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    run(pipe)
    (tmp_path / "ws/make/manifest.json").write_text("{not json")
    result = CliRunner().invoke(app, ["status", str(pipe)])
    assert result.exit_code == 5
    assert "unreadable manifest" in result.output


# ------------------------------------------------------------------ YAML errors --

@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("workspace: ws\nstages:\n  make:\n    repeet: 2\n",
         "pipe.yaml:4: stages.make.repeet: unknown key (did you mean 'repeat'?)"),
        ("workspace: ws\nstages:\n  make:\n    repeat: zero\n",
         "pipe.yaml:4: stages.make.repeat: Input should be a valid integer"),
        ("workspace: ws\nstages:\n  make:\n    repeat: 0\n",
         "pipe.yaml:4: stages.make.repeat: Input should be greater than or equal to 1"),
        ("workspace: ws\nstages:\n  mkae: {}\n",
         "pipe.yaml:3: stages.mkae: unknown stage (did you mean 'make'?)"),
        ("workspcae: ws\nstages: {}\n",
         "pipe.yaml:1: workspcae: unknown key (did you mean 'workspace'?)"),
        ("stages: {}\n", "pipe.yaml: workspace: required key is missing"),
        ("workspace: ws\nseed: -1\nstages: {}\n", "pipe.yaml:2: seed: Input should be greater"),
        ("workspace: ws\nstages: [make\n", "pipe.yaml:3:1: invalid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_yaml_errors_name_file_line_and_key(tmp_path: Path, yaml_text: str,
                                            expected: str) -> None:
    path = tmp_path / "pipe.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert expected in info.value.message
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------- CLI ----

def test_cli_run_status_and_resume_hint(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path, shout={"suffix": "boom"})
    cli = CliRunner()
    result = cli.invoke(app, ["run", str(pipe)])
    assert result.exit_code == 3  # the stage's InputError keeps its exit code
    assert "shout: shout was told to fail" in result.output
    assert f"resume with: slmconvert run {pipe} --from shout" in result.output
    assert "Traceback" not in result.output
    result = cli.invoke(app, ["--json", "status", str(pipe)])
    assert result.exit_code == 0
    states = {s["stage"]: s["state"] for s in json.loads(result.stdout)}
    assert states == {"make": "up-to-date", "shout": "not-run"}
    write_pipeline(tmp_path)
    result = cli.invoke(app, ["--json", "run", str(pipe), "--from", "shout"])
    assert result.exit_code == 0, result.output
    assert [s["action"] for s in json.loads(result.stdout)["stages"]] == ["ran"]


def test_manifest_outputs_reconcile_with_files(tmp_path: Path) -> None:
    run(write_pipeline(tmp_path))
    stage_dir = tmp_path / "ws/make"
    m = mf.read(stage_dir)
    assert m is not None and mf.verify(stage_dir, m) is None
    assert [o["path"] for o in m["outputs"]] == mf.list_outputs(stage_dir)
