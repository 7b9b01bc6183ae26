"""Command-line interface: parse, call one function, render. Nothing heavy at import."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from slmconvert import __version__, ui
from slmconvert.errors import SlmconvertError


def _offline() -> None:
    """slmconvert never fetches anything at run time."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _Group(TyperGroup):
    """Maps our exceptions to one line and an exit code, for every (sub)command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors, --help, explicit exits: typer renders these
        except SlmconvertError as exc:
            if ui.state.verbose and exc.__cause__ is not None:
                ui.internal_error(exc.__cause__)
            ui.error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            ui.error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug: say so in one line, traceback with -v
            ui.internal_error(exc)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Move an agent's LLM calls onto fine-tuned small language models "
         "(collect → curate → cluster → select → finetune → evaluate → iterate).",
)
models_app = typer.Typer(cls=_Group, no_args_is_help=True,
                         help="Model catalog: list what is available, prepare checkpoints.")
app.add_typer(models_app, name="models")
curate_app = typer.Typer(cls=_Group, invoke_without_command=True,
                         help="S2: filter calls, drop near-duplicates, scrub PII and secrets.")
app.add_typer(curate_app, name="curate")
cluster_app = typer.Typer(cls=_Group, invoke_without_command=True,
                          help="S3: cluster calls into recurring tasks and split each one.")
app.add_typer(cluster_app, name="cluster")
registry_app = typer.Typer(cls=_Group, no_args_is_help=True,
                           help="S6: adapter versions per cluster; serve an older one again.")
app.add_typer(registry_app, name="registry")


def _version(value: bool) -> None:
    if value:
        ui.line(f"slmconvert {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show tracebacks and details.")]
    = False,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
    = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    ui.state.verbose, ui.state.json = verbose, json_out
    _offline()


PipelineArg = Annotated[Path, typer.Argument(help="Pipeline YAML file.", show_default=False)]
WorkspaceOpt = Annotated[Path | None, typer.Option("--workspace", "-w",
                         help="Override the pipeline's workspace directory.")]


@app.command()
def run(
    pipeline: PipelineArg,
    from_: Annotated[str | None, typer.Option("--from", help="Start at this stage.")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Run just this stage.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun even if up to date.")] = False,
    workspace: WorkspaceOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override the pipeline's seed.")] = None,
) -> None:
    """Run a pipeline's stages in order, skipping those that are up to date."""
    from slmconvert.pipeline.commands import run_pipeline

    run_pipeline(pipeline, from_=from_, only=only, force=force, workspace=workspace, seed=seed)


@app.command()
def status(pipeline: PipelineArg, workspace: WorkspaceOpt = None) -> None:
    """Show which stages are up to date, stale (and why) or not run."""
    from slmconvert.pipeline.commands import show_status

    show_status(pipeline, workspace=workspace)


@app.command()
def collect(
    inputs: Annotated[list[str], typer.Argument(help="Log files, directories or globs.",
                                                show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Workspace directory.")],
    format: Annotated[str | None, typer.Option(
        "--format", "-f", help="Importer for every file (default: detect per file).")] = None,
    max_record_mb: Annotated[float, typer.Option(help="Quarantine larger items.")] = 16.0,
    force: Annotated[bool, typer.Option("--force", help="Rerun even if up to date.")] = False,
) -> None:
    """S1: import agent call logs into WORKSPACE/collect (calls.parquet, quarantine.jsonl)."""
    from slmconvert.pipeline.commands import run_stage_command

    cfg = {"inputs": inputs, "format": format, "max_record_mb": max_record_mb}
    run_stage_command("collect", cfg, out, force=force)


def _engine(value: str) -> str:
    if value not in ("local", "ray"):
        raise typer.BadParameter("must be local or ray", param_hint="--engine")
    return value


@curate_app.callback()
def curate(
    ctx: typer.Context,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", "-w", help="Workspace with a collect/ stage.")] = None,
    include_human_facing: Annotated[bool, typer.Option(
        help="Keep calls whose output a person reads.")] = False,
    operator: Annotated[str, typer.Option(
        help="placeholder, surrogate, redact or mask.")] = "placeholder",
    shard: Annotated[str | None, typer.Option(help="Only shard i of N, as i/N.")] = None,
    workers: Annotated[int, typer.Option(help="spaCy processes (engine local).")] = 1,
    engine: Annotated[str, typer.Option(
        help="local, or ray: shards on a Ray cluster ($RAY_ADDRESS, else a local one).")]
    = "local",
    ray_workers: Annotated[int | None, typer.Option(
        help="Ray actors (engine ray; default: the cluster's CPUs).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun even if up to date.")] = False,
) -> None:
    """S2: read WORKSPACE/collect, write WORKSPACE/curate (calls.parquet, dropped.jsonl,
    pii_report.json)."""
    if ctx.invoked_subcommand is not None:
        return
    if workspace is None:
        raise typer.BadParameter("--workspace is required", param_hint="--workspace")
    from slmconvert.pipeline.commands import run_stage_command

    cfg = {"filters": {"include_human_facing": include_human_facing}, "shard": shard,
           "pii": {"operator": operator, "workers": workers},
           "engine": _engine(engine), "ray": {"workers": ray_workers}}
    run_stage_command("curate", cfg, workspace, force=force)


@curate_app.command("eval-pii")
def eval_pii(
    labelled: Annotated[Path, typer.Argument(help="Span-labelled JSON (presidio-research).")],
    pipeline: Annotated[Path | None, typer.Option(
        help="Use the pii settings of this pipeline's curate stage.")] = None,
    baseline: Annotated[bool, typer.Option(
        help="Also score Presidio's defaults on the same texts.")] = True,
    limit: Annotated[int | None, typer.Option(help="Score only the first N samples.")] = None,
    split: Annotated[str, typer.Option(
        help="Which half of the file to score: tune (rules may be written from it), "
             "holdout (published figures) or all. Seeded, stratified by entity type.")
    ] = "all",
    pii_free: Annotated[bool, typer.Option(
        help="Also measure over-scrubbing on the packaged PII-free agent traffic.")] = True,
) -> None:
    """Leak rate, precision and over-scrubbing per entity type on labelled text."""
    from slmconvert.pipeline.commands import eval_pii as run_eval

    if split not in ("tune", "holdout", "all"):
        raise typer.BadParameter("must be tune, holdout or all", param_hint="--split")
    run_eval(labelled, pipeline=pipeline, baseline=baseline, limit=limit, split=split,
             pii_free=pii_free)


@cluster_app.callback()
def cluster(
    ctx: typer.Context,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", "-w", help="Workspace with a curate/ stage.")] = None,
    k: Annotated[int | None, typer.Option(
        "--k", help="Number of clusters (default: chosen by silhouette).")] = None,
    embedding_model: Annotated[str, typer.Option(
        help="sentence-transformers model: catalog name, pkg:/hf: source or path.")]
    = "minilm-l6-v2",
    engine: Annotated[str, typer.Option(
        help="local, or ray: embed shards on a Ray cluster ($RAY_ADDRESS, else a local "
             "one).")] = "local",
    ray_workers: Annotated[int | None, typer.Option(
        help="Ray actors (engine ray; default: the cluster's CPUs).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun even if up to date.")] = False,
) -> None:
    """S3: read WORKSPACE/curate, write WORKSPACE/cluster (clusters.json, assignments.parquet,
    splits/, map.png)."""
    if ctx.invoked_subcommand is not None:
        return
    if workspace is None:
        raise typer.BadParameter("--workspace is required", param_hint="--workspace")
    from slmconvert.pipeline.commands import run_stage_command

    cfg = {"selection": {"k": k}, "embedding": {"model": embedding_model},
           "engine": _engine(engine), "ray": {"workers": ray_workers}}
    run_stage_command("cluster", cfg, workspace, force=force)


@cluster_app.command("assign")
def cluster_assign(
    inputs: Annotated[list[Path], typer.Argument(
        help="Parquet files of canonical calls (e.g. a curate/calls.parquet or a split).",
        show_default=False)],
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Workspace with fitted clusters (cluster/).")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write id, cluster, nearest, distance per call (.parquet/.jsonl).")]
    = None,
) -> None:
    """Place calls into the existing clusters from their requests alone (no re-clustering)."""
    from slmconvert.pipeline.commands import assign_calls

    assign_calls(inputs, workspace=workspace, out=out)


@app.command("select")
def select(
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Workspace with a cluster/ stage.")],
    candidate: Annotated[list[str] | None, typer.Option(
        "--candidate", "-m", help="Catalog model to consider (repeat; default: all).")] = None,
    licence: Annotated[list[str] | None, typer.Option(
        "--licence", help="Allowed licence, e.g. Apache-2.0 (repeat; default: any).")] = None,
    top_n: Annotated[int, typer.Option(help="Candidates chosen per cluster.")] = 2,
    samples: Annotated[int, typer.Option(
        help="Validation calls per cluster each candidate answers.")] = 8,
    force: Annotated[bool, typer.Option("--force", help="Rerun even if up to date.")] = False,
) -> None:
    """S4: filter catalog SLMs per task, probe the rest on validation calls, rank them and
    choose the top N (WORKSPACE/select/selection.json)."""
    from slmconvert.pipeline.commands import run_stage_command

    cfg: dict[str, object] = {"top_n": top_n, "probe": {"samples": samples}}
    if candidate:
        cfg["candidates"] = candidate
    if licence:
        cfg["licences"] = licence
    run_stage_command("select", cfg, workspace, force=force)


@app.command("finetune")
def finetune(
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Workspace with cluster/ and select/ stages.")],
    cluster: Annotated[list[str] | None, typer.Option(
        "--cluster", "-c", help="Only this cluster (repeat; default: every chosen one).")]
    = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Fine-tune this model (repeat; default: select's choice).")]
    = None,
    max_steps: Annotated[int | None, typer.Option(
        help="Step budget per adapter (default: 2 epochs).")] = None,
    time_budget: Annotated[float | None, typer.Option(
        "--time-budget", help="Seconds per adapter; training stops and saves then.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun even if up to date.")] = False,
) -> None:
    """S5: LoRA-distil the LLM's recorded answers into each chosen SLM per task
    (WORKSPACE/finetune/<group>/<model>/adapter). Resumes after a kill."""
    from slmconvert.pipeline.commands import run_stage_command

    cfg: dict[str, object] = {}
    if cluster:
        cfg["clusters"] = cluster
    if model:
        cfg["models"] = model
    if max_steps is not None:
        cfg["max_steps"] = max_steps
    if time_budget is not None:
        cfg["time_budget_s"] = time_budget
    run_stage_command("finetune", cfg, workspace, force=force)


@app.command("evaluate")
def evaluate(
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Workspace with a finetune/ stage.")],
    cluster: Annotated[list[str] | None, typer.Option(
        "--cluster", "-c", help="Only this cluster (repeatable).")] = None,
    max_test_calls: Annotated[int | None, typer.Option(
        help="Test calls per cluster (seeded sample; default: all).")] = None,
    max_val_calls: Annotated[int | None, typer.Option(
        help="Val calls per cluster to calibrate on (default: all).")] = None,
    target: Annotated[float | None, typer.Option(
        help="Agreement with the LLM kept calls must reach (default 0.95).")] = None,
    fail_under: Annotated[float | None, typer.Option(
        "--fail-under", help="Exit 7 when under PCT% of calls move to SLMs, or their "
        "agreement is under the target (for CI).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun even if up to date.")] = False,
) -> None:
    """S5: score base models and adapters on held-out calls, calibrate the router on val,
    report on test (WORKSPACE/evaluate: report.html/.md/.json, router.json)."""
    from slmconvert.pipeline.commands import check_quality_gate, run_stage_command

    flags = {"clusters": cluster or None, "max_test_calls": max_test_calls,
             "max_val_calls": max_val_calls, "target": target}
    run_stage_command("evaluate", {k: v for k, v in flags.items() if v is not None},
                      workspace, force=force)
    if fail_under is not None:
        check_quality_gate(workspace, fail_under)


@app.command("iterate")
def iterate(
    logs: Annotated[list[Path], typer.Argument(
        help="New log files or directories (any format collect reads).")],
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Workspace that ran the pipeline through evaluate.")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="YAML with iterate's thresholds and setting overrides "
        "(docs/iterate.md).")] = None,
) -> None:
    """S6: take in new logs, report drift per cluster, retrain (warm-started, promoted
    only if not worse) or cluster new tasks, and regenerate the router (WORKSPACE/iterate/
    router.json). Exit 0: nothing to do; 10: the router changed; 11: needs attention."""
    from slmconvert.pipeline.commands import run_iterate

    code = run_iterate(logs, workspace=workspace, config=config)
    if code:
        raise typer.Exit(code)


@app.command("serve")
def serve(
    upstream: Annotated[str, typer.Option(
        "--upstream", help="Base URL of the OpenAI-compatible LLM API the calls go to "
        "(the part before /chat/completions, e.g. https://api.openai.com/v1).")],
    log_dir: Annotated[Path, typer.Option(
        "--log-dir", help="Where calls are logged (owner-only JSONL files that `slmconvert "
        "collect` and `iterate` read).")] = Path("capture"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    timeout: Annotated[float, typer.Option(
        help="Seconds to wait for the upstream before answering 504.")] = 120.0,
    max_log_mb: Annotated[float, typer.Option(
        help="Start a new log file when the current one reaches this size.")] = 64.0,
    upstream_key_env: Annotated[str | None, typer.Option(
        "--upstream-key-env", help="Environment variable holding the upstream API key, "
        "sent as a bearer token when a client sends no Authorization header.")] = None,
    router: Annotated[Path | None, typer.Option(
        "--router", help="router.json (or a workspace: its iterate/router.json, else "
        "evaluate/router.json): answer the calls of replace and hybrid tasks with their "
        "SLM, the rest upstream. Without it: capture only.")] = None,
    shadow: Annotated[bool, typer.Option(
        "--shadow", help="With --router: the upstream answers every call; the router's SLM "
        "answers are worked out beside it and logged with their agreement, never served.")]
    = False,
) -> None:
    """OpenAI-compatible endpoint: forwards calls to the upstream (or, with --router,
    answers proven tasks with their SLM; with --shadow too, only logs what it would have
    answered) and logs every call for the next iteration (docs/serve.md)."""
    from slmconvert.pipeline.commands import run_server

    run_server(upstream=upstream, log_dir=log_dir, host=host, port=port, timeout=timeout,
               max_log_mb=max_log_mb, upstream_key_env=upstream_key_env, router=router,
               shadow=shadow)


@registry_app.command("list")
def registry_list(
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Workspace that ran the pipeline through evaluate.")],
) -> None:
    """Every adapter version per cluster: model, verdict, test agreement, which one the
    router serves."""
    from slmconvert.pipeline.commands import show_registry

    show_registry(workspace)


@registry_app.command("rollback")
def registry_rollback(
    cluster: Annotated[str, typer.Argument(help="Cluster id, e.g. c02.")],
    version: Annotated[int, typer.Argument(help="Version to serve (see `registry list`).")],
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Workspace that ran the pipeline through evaluate.")],
) -> None:
    """Serve an earlier adapter version of a cluster again; the router is regenerated."""
    from slmconvert.pipeline.commands import rollback_registry

    rollback_registry(workspace, cluster, version)


@app.command("export")
def export(
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Workspace with a finetune/ stage.")],
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="Cluster id, e.g. c00.")],
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Which fine-tuned model, when the cluster has several.")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", help="merged: base + adapter as one safetensors checkpoint; gguf: "
        "that model as one GGUF file with an Ollama Modelfile.")] = "merged",
    gguf_type: Annotated[str, typer.Option(
        "--gguf-type", help="GGUF weights: f32, f16 or q8_0.")] = "f16",
    verify: Annotated[bool, typer.Option(
        "--verify/--no-verify", help="GGUF: load it back and check its greedy answers on "
        "test prompts against the merged model's.")] = True,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output directory (default: WORKSPACE/export/...).")] = None,
) -> None:
    """Export a fine-tuned adapter as a standalone model (merged safetensors or GGUF)."""
    from slmconvert.pipeline.commands import export_model

    export_model(workspace=workspace, cluster=cluster, model=model, fmt=fmt, out=out,
                 gguf_type=gguf_type, verify=verify)


@models_app.command("list")
def models_list() -> None:
    """List catalog models and whether each is available offline on this machine."""
    from slmconvert.core.models import catalog_rows

    rows = catalog_rows()
    if ui.state.json:
        ui.emit_json(rows)
        return
    cols = {"name": "name", "kind": "kind", "params_m": "params (M)", "licence": "licence",
            "commercial_use": "commercial", "context_length": "context", "tools": "tools",
            "memory_bf16_mb": "bf16 MB", "memory_int4_mb": "int4 MB", "available": "available"}

    def cell(v: object) -> object:
        return {True: "yes", False: "no"}[v] if isinstance(v, bool) else \
            f"{v:,.0f}" if isinstance(v, int | float) else v

    ui.table("Model catalog (memory: weights only)", list(cols.values()),
             [[cell(r[k]) for k in cols] for r in rows])


@models_app.command("prepare")
def models_prepare(
    name: Annotated[str, typer.Argument(help="Catalog name (see `models list`) or source.")],
) -> None:
    """Turn a packaged GGUF model into a cached, trainable HF checkpoint (once)."""
    from slmconvert.core.models import prepare

    prepared = prepare(name, reporter=ui.ConsoleReporter())
    if ui.state.json:
        ui.emit_json(prepared.as_dict())
    else:
        ui.success(f"{name}: {'cached' if prepared.cached else 'prepared'} at {prepared.path}")
