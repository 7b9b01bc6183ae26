"""What `slmconvert run` and `slmconvert status` do, between parsing and rendering."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from slmconvert import ui
from slmconvert.core.fsio import atomic_path
from slmconvert.errors import ConfigError, InputError
from slmconvert.pipeline.config import Pipeline, format_validation_error, load_pipeline
from slmconvert.pipeline.runner import Outcome, Runner, StageFailed

if TYPE_CHECKING:
    from slmconvert.clustering.model import Assigner
    from slmconvert.core.records import CallRecord


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


def render_curate(outcome: Outcome) -> None:
    c, s = outcome.counts, outcome.summary
    ui.table("Calls", ["read", "kept", "dropped"], [[c["read"], c["kept"], c["dropped"]]])
    reasons = [(k.removeprefix("dropped_"), v) for k, v in c.items()
               if k.startswith("dropped_") and v]
    if reasons:
        ui.table("Dropped, by reason", ["reason", "calls"], reasons)
    pii = s.get("pii", {})
    ui.table("PII and secrets replaced (counts only)", ["entity type", "replaced"],
             sorted(pii.get("scrubbed_by_type", {}).items(), key=lambda kv: -kv[1]))
    ui.note(f"{pii.get('records_with_pii', 0)} kept calls had PII; spaCy model "
            f"{s.get('spacy_model')}")


def render_cluster(outcome: Outcome) -> None:
    s, c = outcome.summary, outcome.counts
    rows = []
    for cl in s.get("clusters", []):
        kind, share = next(iter(cl["response_kinds"].items()), ("-", 0))
        sp = cl["split"]
        route = "SLM candidate" if cl["route"] == "slm-candidate" else \
            f"LLM: {cl['why_llm'].split(':')[0]}"
        rows.append([cl["id"], cl["label"][:30], ", ".join(cl["tools"][:2]), cl["calls"],
                     "-" if cl["share_tokens"] is None else f"{100 * cl['share_tokens']:.0f}%",
                     f"{kind} {round(100 * share)}%",
                     f"{sp['train']}/{sp['val']}/{sp['test']}", route])
    ui.table(f"{c['clusters']} task clusters over {c['calls']} calls "
             f"(k by {s.get('k_chosen_by')})",
             ["id", "label", "tools called", "calls", "tokens", "response", "train/val/test",
              "route"], rows)
    if s.get("conversations_in_several_sides"):
        ui.note(f"{s['conversations_in_several_sides']} conversation(s) span clusters whose "
                "splits put them on different sides (each cluster keeps it whole)")


RENDERERS = {"collect": render_collect, "curate": render_curate, "cluster": render_cluster}


def assign_calls(inputs: list[Path], *, workspace: Path, out: Path | None) -> None:
    """`slmconvert cluster assign`: place calls in the fitted clusters, request only."""
    import pyarrow.parquet as pq

    from slmconvert.clustering.model import Assigner
    from slmconvert.core.parquet import count_rows, iter_records
    from slmconvert.stages.cluster import ASSIGNMENTS

    cluster_dir = workspace / "cluster"
    reporter = ui.ConsoleReporter()
    assigner = Assigner.load(cluster_dir, reporter=reporter)
    known = dict(zip(*pq.read_table(cluster_dir / ASSIGNMENTS, columns=["id", "cluster"])
                     .to_pydict().values(), strict=True))
    rows: list[dict[str, object]] = []
    for path in inputs:
        if not path.exists() or path.suffix != ".parquet":
            raise InputError(f"{path}: expected a .parquet file of canonical calls "
                             "(a curate/calls.parquet, a cluster split, ...)")
        with reporter.task(f"assigning {path.name}", total=count_rows(path)) as task:
            batch: list[CallRecord] = []
            for rec in iter_records(path):
                batch.append(rec)
                if len(batch) == 256:
                    rows += _assign_rows(assigner, batch, known, path)
                    task.advance(len(batch))
                    batch = []
            rows += _assign_rows(assigner, batch, known, path)
            task.advance(len(batch))
    summary = _assign_summary(rows, assigner.ids)
    if out is not None:
        _write_rows(rows, out)
    if ui.state.json:
        ui.emit_json({"summary": summary, "out": str(out) if out else None})
        return
    ui.table(f"Assigned {summary['calls']} calls (request only)",
             ["cluster", "assigned", "known here", "agree"],
             [[r["cluster"], r["assigned"], r["known"], r["agree"]] for r in summary["by_cluster"]])
    ui.line(f"unassigned (new task, stays with the LLM): {summary['unassigned']}")
    if summary["known"]:
        ui.line(f"agreement with the fitted clusters: {summary['agreement']:.1%} "
                f"of {summary['known']} calls")


def _assign_rows(assigner: Assigner, batch: list[CallRecord], known: dict[str, str],
                 path: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for rec, a in zip(batch, assigner.assign(batch), strict=True):
        out.append({"id": rec.id, "file": str(path), "cluster": a.cluster, "nearest": a.nearest,
                    "distance": a.distance, "known_cluster": known.get(rec.id)})
    return out


def _assign_summary(rows: list[dict[str, object]], ids: list[str]) -> dict[str, Any]:
    by: dict[str, dict[str, int]] = {c: {"assigned": 0, "known": 0, "agree": 0} for c in ids}
    for r in rows:
        if r["cluster"] is not None:
            by[str(r["cluster"])]["assigned"] += 1
        if r["known_cluster"] is not None:
            by[str(r["known_cluster"])]["known"] += 1
            by[str(r["known_cluster"])]["agree"] += r["cluster"] == r["known_cluster"]
    known = sum(v["known"] for v in by.values())
    agree = sum(v["agree"] for v in by.values())
    return {"calls": len(rows), "unassigned": sum(r["cluster"] is None for r in rows),
            "known": known, "agreement": agree / known if known else None,
            "by_cluster": [{"cluster": c, **v} for c, v in by.items()]}


def _write_rows(rows: list[dict[str, object]], out: Path) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    if out.suffix not in (".parquet", ".jsonl"):
        raise InputError(f"{out}: --out must end in .parquet or .jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if out.suffix == ".parquet":
            pq.write_table(pa.Table.from_pylist(rows), tmp, compression="zstd")
        else:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def eval_pii(labelled: Path, *, pipeline: Path | None, baseline: bool, limit: int | None,
             split: str = "all", pii_free: bool = True) -> None:
    """`slmconvert curate eval-pii`: score our scrubber (and Presidio's defaults) on one
    half (or all) of a labelled file, and over-scrubbing on the packaged PII-free set."""
    from slmconvert.pii import evaluate as ev
    from slmconvert.pii.analyzer import installed_spacy_model
    from slmconvert.pii.config import PiiConfig

    cfg = PiiConfig()
    if pipeline is not None:
        p = load_pipeline(pipeline)
        stages = {s.name: c for s, c in p.stages}
        if "curate" not in stages:
            raise ConfigError(f"{pipeline}: has no curate stage")
        cfg = stages["curate"].pii  # type: ignore[attr-defined]
    part = ev.split(ev.load(labelled), split)  # type: ignore[arg-type]
    samples = part[:limit] if limit else part
    clean = ev.split(ev.load(ev.PII_FREE), split)[:limit] if pii_free else []  # type: ignore[arg-type]
    reporter = ui.ConsoleReporter()
    reporter.info("loading the PII analyzer (Presidio + spaCy)")
    detect = ev.ours(cfg)
    ours = ev.score(samples, detect, reporter, total=len(samples)).as_dict()
    over = ev.score(clean, detect, reporter, total=len(clean)).as_dict() if clean else None
    base = None
    if baseline:
        stock = ev.presidio_defaults(installed_spacy_model(cfg.spacy_model))
        base = ev.score(samples, stock, reporter, total=len(samples)).as_dict()
    if ui.state.json:
        ui.emit_json({"file": str(labelled), "split": split, "slmconvert": ours,
                      "presidio_defaults": base, "pii_free": over})
        return
    for title, columns, rows in ev.tables(labelled.name, split, ours, base, over):
        ui.table(title, columns, rows)


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
