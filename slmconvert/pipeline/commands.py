"""What `slmconvert run` and `slmconvert status` do, between parsing and rendering."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from slmconvert import ui
from slmconvert.errors import ConfigError
from slmconvert.pipeline.config import Pipeline, format_validation_error, load_pipeline
from slmconvert.pipeline.runner import Outcome, Runner, StageFailed


def _fmt_counts(counts: dict[str, object]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if not isinstance(v, dict))


def render_collect(outcome: Outcome) -> None:
    s, c = outcome.summary, outcome.counts
    ui.table("Calls by format", ["format", "calls"], list(s.get("by_format", {}).items()))
    ui.table("Calls by model", ["model", "calls"], list(s.get("by_model", {}).items())[:15])
    ui.table("Totals", ["read", "imported", "duplicates", "quarantined", "skipped", "joined",
                        "human-facing"],
             [[c["read"], c["imported"], c["duplicates"], c["quarantined"], c["skipped"],
               c["joined"], c["human_facing"]]])
    reasons = list(s.get("quarantine_reasons", {}).items()) + [
        (f"skipped: {k}", v) for k, v in s.get("skip_reasons", {}).items()]
    if reasons:
        ui.table("Quarantined and skipped, by reason", ["reason", "items"], reasons[:15])
    if s.get("ignored_files"):
        ui.note(f"ignored {len(s['ignored_files'])} file(s) that are not logs "
                f"(e.g. {s['ignored_files'][0]})")


RENDERERS = {"collect": render_collect}


def run_stage_command(stage_name: str, cfg: Mapping[str, object], workspace: Path, *,
                      force: bool) -> None:
    """Run one stage from command-line flags, with the same caching as `run`."""
    from slmconvert.pipeline import registry

    stage = registry.get(stage_name)
    try:
        config = stage.Config.model_validate(cfg)
    except ValidationError as exc:
        lines = format_validation_error(exc, Path("command line"), stage.Config, (), None)
        raise ConfigError("\n".join(lines)) from None
    pipeline = Pipeline(path=Path.cwd() / f"<{stage_name}>", name=stage_name,
                        workspace=workspace.resolve(), seed=0, stages=[(stage, config)],
                        base=Path.cwd())
    runner = Runner(pipeline, reporter=ui.ConsoleReporter())
    with runner.locked():
        outcome = runner.run_stage(stage, config, force=force)
    if ui.state.json:
        ui.emit_json(asdict(outcome))
        return
    if outcome.action == "skipped":
        ui.note(f"{stage_name}: skipped, {outcome.reason} (use --force to rerun)")
    RENDERERS.get(stage_name, lambda o: None)(outcome)
    ui.line(f"{stage_name}: {workspace / stage_name}")


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
