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
from slmconvert.errors import ConfigError, InputError, did_you_mean
from slmconvert.pipeline.config import Pipeline, format_validation_error, load_pipeline
from slmconvert.pipeline.runner import Outcome, Runner, StageFailed
from slmconvert.pipeline.stage import Report

if TYPE_CHECKING:
    from slmconvert.clustering.model import Assigner
    from slmconvert.core.records import CallRecord


def _fmt_counts(counts: dict[str, object]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if not isinstance(v, dict))




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
    render_report(stage.report(outcome.counts, outcome.summary))
    ui.line(f"{stage_name}: {workspace / stage_name}")


def render_report(report: Report) -> None:
    for t in report.tables:
        ui.table(t.title, t.columns, t.rows)
    for note in report.notes:
        ui.note(note)
    for line in report.headline:
        ui.line(line)


def check_quality_gate(workspace: Path, fail_under: float) -> None:
    """`evaluate --fail-under PCT`: exit 7 unless PCT% of calls or more move to SLMs at
    the agreement target."""
    import json

    from slmconvert.errors import QualityGateError

    path = workspace / "evaluate" / "report.json"
    if not path.exists():
        raise InputError(f"{path}: missing; run evaluate first")
    report = json.loads(path.read_text(encoding="utf-8"))
    head, target = report["headline"], report["target"]["agreement"]
    share = 100 * (head["share_calls_slm"] or 0)
    if share < fail_under:
        raise QualityGateError(f"evaluate: {share:.1f}% of calls move to SLMs, under "
                               f"--fail-under {fail_under:g}%")
    if head["agreement"] is not None and head["agreement"] < target:
        raise QualityGateError(f"evaluate: moved calls agree with the LLM at "
                               f"{100 * head['agreement']:.1f}%, under the target "
                               f"{100 * target:g}%")
    ui.success(f"evaluate: {share:.1f}% of calls move to SLMs (bar {fail_under:g}%)")


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
        from slmconvert.pipeline import registry

        for o in outcomes:  # what to look at: e.g. evaluate's headline and report path
            for line in registry.get(o.name).report(o.counts, o.summary).headline:
                ui.line(line)


def run_iterate(logs: list[Path], *, workspace: Path, config: Path | None) -> int:
    """`slmconvert iterate`: returns its exit code (0, 10 or 11; see docs/iterate.md)."""
    from slmconvert.pipeline.iterate import Iteration, iterate_report, load_iterate_config
    from slmconvert.pipeline.runner import lock_workspace

    cfg = load_iterate_config(config)
    if not workspace.is_dir():
        raise InputError(f"{workspace}: no such workspace")
    with lock_workspace(workspace):
        result = Iteration(workspace, cfg, reporter=ui.ConsoleReporter()).run(logs)
    if ui.state.json:
        ui.emit_json(result)
    else:
        render_report(iterate_report(result))
    return int(result["exit_code"]) if not result.get("already") else 0


def router_file(path: Path) -> Path:
    """A router.json, or a workspace's newest one (iterate's, else evaluate's)."""
    if path.is_dir():
        for cand in (path / "iterate" / "router.json", path / "evaluate" / "router.json"):
            if cand.exists():
                return cand
        raise InputError(f"{path}: no iterate/router.json or evaluate/router.json; run "
                         "evaluate first")
    return path


def run_server(*, upstream: str, log_dir: Path, host: str, port: int, timeout: float,
               max_log_mb: float, upstream_key_env: str | None,
               router: Path | None = None, shadow: bool = False) -> None:
    """`slmconvert serve`: the capture proxy on uvicorn until interrupted."""
    import os

    from slmconvert.serving.capture import CaptureLog
    from slmconvert.serving.proxy import build_app

    if shadow and router is None:
        raise ConfigError("--shadow needs --router: shadow mode runs a router's SLMs beside "
                          "the LLM")
    if not upstream.startswith(("http://", "https://")):
        raise ConfigError(f"--upstream {upstream}: expected an http:// or https:// URL")
    for flag, value in (("--timeout", timeout), ("--max-log-mb", max_log_mb)):
        if value <= 0:
            raise ConfigError(f"{flag} {value:g}: must be positive")
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: not a TCP port")
    key = None
    if upstream_key_env is not None:
        key = os.environ.get(upstream_key_env)
        if not key:
            raise ConfigError(f"--upstream-key-env {upstream_key_env}: not set or empty")
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ConfigError(f"serve needs uvicorn and starlette ({exc})") from None
    slm = None
    if router is not None:
        from slmconvert.serving.routing import SlmRouter

        path = router_file(router)
        slm = SlmRouter(path, reporter=ui.ConsoleReporter())
        routes = [r for r in slm.router.routes if r.route == "slm"]
        ui.line(f"router {path}: {len(routes)} of {len(slm.router.routes)} tasks "
                f"{'shadowed' if shadow else 'answered'} by SLMs "
                f"({', '.join(r.cluster for r in routes) or 'none'})")
        if shadow:
            ui.line("shadow mode: the upstream answers every call; the SLMs' answers and "
                    "their agreement are logged, not served")
    log = CaptureLog(log_dir, max_bytes=int(max_log_mb * (1 << 20)))
    app = build_app(upstream, log=log, timeout=timeout, upstream_key=key, router=slm,
                    shadow=shadow)
    ui.line(f"serving http://{host}:{port}/v1 -> {upstream}; calls logged in {log_dir}")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def show_registry(workspace: Path) -> None:
    from slmconvert.evaluation import registry as rg
    from slmconvert.pipeline.runner import lock_workspace

    if not workspace.is_dir():
        raise InputError(f"{workspace}: no such workspace")
    with lock_workspace(workspace):
        reg = rg.open_registry(workspace)
    if ui.state.json:
        ui.emit_json(reg.model_dump(mode="json"))
        return
    ui.table(f"Registry — {rg.registry_path(workspace)}",
             ["cluster", "label", "version", "served", "model", "verdict",
              "agreement (test)", "threshold", "created", "origin"], rg.list_rows(reg))
    ui.line(f"router: {rg.router_paths(workspace)[0]}")


def rollback_registry(workspace: Path, cluster: str, version: int) -> None:
    from slmconvert.evaluation import registry as rg
    from slmconvert.pipeline.runner import lock_workspace

    if not workspace.is_dir():
        raise InputError(f"{workspace}: no such workspace")
    with lock_workspace(workspace):
        reg = rg.rollback(workspace, cluster, version)
    v = reg.entry(cluster).version(version)
    ui.success(f"{cluster}: serving v{version} ({v.model.name}, {v.verdict}); router "
               f"regenerated: {rg.router_paths(workspace)[0]}")


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


def export_model(*, workspace: Path, cluster: str, model: str | None, fmt: str,
                 out: Path | None, gguf_type: str = "f16", verify: bool = True) -> None:
    """`slmconvert export`: a fine-tuned adapter as a merged standalone checkpoint, or
    as GGUF checked against it on the cluster's test prompts."""
    import json

    from slmconvert.core.models import catalog_with, prepare
    from slmconvert.stages.finetune import SUMMARY
    from slmconvert.training.export import GGUF_TYPES, converter_version, export_gguf

    summary_path = workspace / "finetune" / SUMMARY
    if not summary_path.exists():
        raise InputError(f"{summary_path}: missing; run finetune first")
    units = json.loads(summary_path.read_text(encoding="utf-8"))["units"]
    found = [u for u in units if cluster in u["clusters"] and model in (None, u["model"])]
    if not found:
        have = sorted({f"{c}/{u['model']}" for u in units for c in u["clusters"]})
        raise InputError(f"no adapter for cluster {cluster}"
                         + (f" and model {model}" if model else "")
                         + f"; fine-tuned: {', '.join(have) or 'none'}")
    if len(found) > 1:
        raise InputError(f"cluster {cluster} has adapters for "
                         f"{', '.join(u['model'] for u in found)}: choose one with --model")
    if fmt not in ("merged", "gguf"):
        raise ConfigError(f"--format {fmt}: use merged or gguf"
                          + did_you_mean(fmt, ["merged", "gguf"]))
    if fmt == "gguf":
        if gguf_type not in GGUF_TYPES:
            raise ConfigError(f"--gguf-type {gguf_type}: use {', '.join(GGUF_TYPES)}")
        converter_version()  # fails early, naming the make target, when it is missing
    unit = found[0]
    entry = catalog_with(None).get(unit["model"])
    prepared = prepare(unit["model"], ui.ConsoleReporter(), entry=entry)
    target = out or workspace / "export" / f"{unit['group']}__{unit['model']}-{fmt}"
    unit_dir = workspace / "finetune" / unit["path"]
    record: dict[str, Any] = {"cluster": cluster, "model": unit["model"], "format": fmt,
                              "path": str(target)}
    if fmt == "gguf":
        calls = _verify_calls(workspace, cluster) if verify else []
        done = export_gguf(prepared.path, unit_dir, target, calls=calls, gguf_type=gguf_type,
                           verify=verify, name=f"{unit['group']}__{unit['model']}",
                           reporter=ui.ConsoleReporter())
        record |= {"gguf_type": gguf_type, "bytes": done["bytes"], "verify": done["verify"]}
    else:
        from slmconvert.training.export import export_merged

        with ui.ConsoleReporter().task(f"merging {unit['group']}/{unit['model']}", total=None):
            export_merged(prepared.path, unit_dir, target)
    if ui.state.json:
        ui.emit_json(record)
        return
    ui.line(f"export: {target}")
    if fmt == "gguf" and record["verify"]:
        v = record["verify"]
        ui.line(f"GGUF ({gguf_type}, {record['bytes'] / 1e6:.0f} MB): {v['equal']} of "
                f"{v['prompts']} test prompts answered like the merged model")


EXPORT_VERIFY_PROMPTS = 4


def _verify_calls(workspace: Path, cluster: str) -> list[CallRecord]:
    """The first few calls of the cluster's test split (val when it has none)."""
    from itertools import islice

    from slmconvert.core.parquet import iter_records

    for side in ("test", "val"):
        path = workspace / "cluster" / "splits" / cluster / f"{side}.parquet"
        if path.exists():
            calls = list(islice((r for r in iter_records(path) if r.messages),
                                EXPORT_VERIFY_PROMPTS))
            if calls:
                return calls
    raise InputError(f"cluster {cluster} has no test or val calls to check the GGUF "
                     "against; export with --no-verify to skip the check")

