"""What `slmconvert run` and `slmconvert status` do, between parsing and rendering."""

from __future__ import annotations

import shlex
from dataclasses import asdict
from pathlib import Path

from slmconvert import ui
from slmconvert.pipeline.config import load_pipeline
from slmconvert.pipeline.runner import Outcome, Runner, StageFailed


def _fmt_counts(counts: dict[str, object]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if not isinstance(v, dict))


def run_pipeline(path: Path, *, from_: str | None, only: str | None, force: bool,
                 workspace: Path | None, seed: int | None) -> None:
    pipeline = load_pipeline(path, workspace=workspace, seed=seed)
    runner = Runner(pipeline, reporter=ui.ConsoleReporter())
    if not pipeline.stages:
        ui.warn(f"{path}: no stages to run")

    def report(outcome: Outcome) -> None:
        if outcome.action == "skipped":
            ui.note(f"- {outcome.name}: skipped, {outcome.reason}")
        else:
            ui.success(f"{outcome.name}: done in {outcome.duration_s:.1f}s "
                       f"({_fmt_counts(outcome.counts)})")

    try:
        outcomes = runner.run(from_=from_, only=only, force=force, on_outcome=report)
    except StageFailed as exc:
        args = ["slmconvert", "run", str(path), "--from", exc.stage]
        if workspace is not None:
            args += ["--workspace", str(workspace)]
        exc.hint = "resume with: " + shlex.join(args)
        raise
    if ui.state.json:
        ui.emit_json({"pipeline": str(pipeline.path), "workspace": str(pipeline.workspace),
                      "stages": [asdict(o) for o in outcomes]})
    else:
        ui.line(f"workspace: {pipeline.workspace}")


def show_status(path: Path, *, workspace: Path | None) -> None:
    pipeline = load_pipeline(path, workspace=workspace)
    statuses = Runner(pipeline).status()
    if ui.state.json:
        ui.emit_json([{"stage": s.name, "state": s.state, "reason": s.reason, "key": s.key,
                       "finished": (s.manifest or {}).get("started_at")} for s in statuses])
        return
    rows = [[s.name, s.state, s.reason, (s.key or "")[:12],
             (s.manifest or {}).get("started_at", ""),
             _fmt_counts((s.manifest or {}).get("counts", {}))] for s in statuses]
    ui.table(f"{pipeline.name} — {pipeline.workspace}",
             ["stage", "state", "reason", "key", "last run", "counts"], rows)
