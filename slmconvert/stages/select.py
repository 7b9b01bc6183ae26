"""S4 select: which small models are worth fine-tuning for each task, and why.

For every cluster the cluster stage marked as an SLM candidate, each catalog model is
first checked against hard constraints from the config (licence allow-list, commercial
use, parameters, weight memory at a precision, context length against the cluster's
p95 prompt + completion tokens, native tool calls when asked for, available on this
machine); every exclusion keeps its reason. The survivors are probed: a seeded sample
of the cluster's validation calls is answered zero-shot and k-shot (k train examples
placed before the call, within the context budget), with real batched generation in the
one prompt format (:mod:`slmconvert.prompting.format`), and each answer is scored
against the LLM's recorded response with the metrics evaluate uses
(:mod:`slmconvert.evaluation.metrics`). Candidates are ranked by probe quality, then by
size and measured latency, and the top N are chosen for fine-tuning.

Outputs: ``selection.json`` (per cluster: ranked candidates with probe scores, sample
sizes, latency, exclusions with reasons, the chosen ones).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmconvert.core.fsio import write_json_atomic
from slmconvert.core.models import (
    DTYPE_HELP,
    Dtype,
    ModelEntry,
    catalog_with,
    licence_allowed,
    source_for,
)
from slmconvert.core.parquet import iter_records
from slmconvert.core.records import CallRecord
from slmconvert.errors import ConfigError, InputError, did_you_mean
from slmconvert.pipeline.stage import Report, Stage, StageConfig, StageContext, StageResult, Table

SELECTION = "selection.json"
Precision = Literal["fp32", "bf16", "int8", "int4"]


class ProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(8, ge=1, description=(
        "Validation calls per cluster answered by each candidate (seeded sample)."))
    shots: list[int] = Field(default_factory=lambda: [0, 2], description=(
        "Numbers of train examples placed before each call; every value is probed."))
    max_new_tokens: int = Field(128, ge=1, description="Longest answer generated.")
    batch_size: int = Field(4, ge=1, description="Prompts generated together.")
    dtype: Dtype = Field("float32", description=(
        f"Weights for probing: {DTYPE_HELP}; bfloat16's numerics differ slightly."))
    max_prompt_tokens: int = Field(4096, ge=256, description=(
        "Prompt budget for probing (examples are dropped to fit; a call longer than this "
        "is skipped and counted)."))


class SelectConfig(StageConfig):
    candidates: list[str] | None = Field(None, description=(
        "Catalog names to consider; default: every causal LM in the catalog (those not "
        "on this machine are listed as excluded)."))
    models: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "Models to add to the catalog or fields to override, same schema as "
        "slmconvert/catalog.yaml (see docs/select.md)."))
    licences: list[str] | None = Field(None, description=(
        "Licence allow-list (SPDX ids or named terms, e.g. [Apache-2.0, MIT]); "
        "default: any licence."))
    commercial_use: bool = Field(False, description=(
        "Exclude models whose licence does not permit commercial use."))
    max_params_m: float | None = Field(None, description="Largest model, millions of parameters.")
    max_memory_mb: float | None = Field(None, description=(
        "Largest weight memory at `precision` for the deployment target, MB."))
    precision: Precision = Field("bf16", description="Precision the memory limit applies to.")
    native_tool_calls: bool = Field(False, description=(
        "For clusters answered with tool calls, require the model's own template to support "
        "tools (by default slmconvert's prompt format teaches any model to call tools)."))
    probe: ProbeConfig = Field(default_factory=ProbeConfig, description="Probing.")
    top_n: int = Field(2, ge=1, description="Candidates chosen per cluster for fine-tuning.")


class SelectStage(Stage):
    name = "select"
    version = "1"
    Config = SelectConfig
    upstream = ("cluster",)
    description = ("S4: filter catalog SLMs per task by licence, size, context and tool "
                   "support, probe the rest on validation calls, rank, choose the top N.")

    def run(self, ctx: StageContext, cfg: SelectConfig) -> StageResult:
        clusters_path = ctx.upstream_dir("cluster") / "clusters.json"
        if not clusters_path.exists():
            raise InputError(f"{clusters_path}: missing; run cluster first")
        data = json.loads(clusters_path.read_text(encoding="utf-8"))
        return Selector(ctx, cfg).run(data["clusters"])

    def report(self, counts: dict[str, Any], summary: dict[str, Any]) -> Report:
        rows = []
        for cl in summary.get("clusters", []):
            for c in cl["candidates"]:
                if c["status"] == "excluded":
                    rows.append([cl["id"], c["model"], "excluded", "-", "-", "-",
                                 "; ".join(c["reasons"])])
                    continue
                probes = {p["shots"]: p for p in c["probes"]}
                cells = [_cell(probes.get(k)) for k in sorted(probes)]
                rows.append([cl["id"], c["model"], f"#{c['rank']}" + (" chosen" if c["chosen"]
                                                                       else ""),
                             "; ".join(cells), f"{c['best']['value']:.2f}",
                             f"{c['latency_s']:.2f}", c.get("note") or ""])
        shots = "/".join(str(s) for s in summary.get("shots", []))
        out = Report(tables=[Table(
            f"Candidate SLMs per task ({counts.get('clusters', 0)} clusters; probe score by "
            f"{shots} shots: mean [95% CI] over n validation calls)",
            ["cluster", "model", "rank", "probe (shots: score n)", "best", "s/call", "why"],
            rows)])
        for cl in summary.get("skipped_clusters", []):
            out.notes.append(f"cluster {cl['id']}: not probed ({cl['why']})")
        return out


def _cell(p: dict[str, Any] | None) -> str:
    if not p or not p["n"]:
        return "-"
    lo, hi = p["ci"]
    return f"{p['shots']}: {p['mean']:.2f} [{lo:.2f}, {hi:.2f}] n={p['n']}"


# ----------------------------------------------------------------- filtering ----

def exclusions(entry: ModelEntry, cluster: dict[str, Any], cfg: SelectConfig) -> list[str]:
    """Every hard constraint the model fails for this cluster, as reasons."""
    reasons = []
    if not licence_allowed(entry, cfg.licences):
        reasons.append(f"licence: {entry.licence}")
    if cfg.commercial_use and not entry.commercial_use:
        reasons.append(f"licence: {entry.licence} does not permit commercial use")
    if cfg.max_params_m is not None and entry.params_m > cfg.max_params_m:
        reasons.append(f"parameters: {entry.params_m:g}M > {cfg.max_params_m:g}M")
    if cfg.max_memory_mb is not None:
        mem = entry.memory_mb(cfg.precision)
        if mem > cfg.max_memory_mb:
            reasons.append(f"memory: {mem:,.0f} MB at {cfg.precision} > "
                           f"{cfg.max_memory_mb:,.0f} MB")
    need = cluster_tokens(cluster)
    if entry.context_length and need > entry.context_length:
        reasons.append(f"context: p95 prompt + completion {need:,} tokens > "
                       f"{entry.context_length:,}")
    if cfg.native_tool_calls and _tool_share(cluster) >= 0.5 and not entry.native_tool_calls:
        reasons.append("tool calls: no native tool-call support")
    missing = source_for(entry).unavailable_reason()
    if missing:
        reasons.append(f"not on this machine: {missing}")
    return reasons


def cluster_tokens(cluster: dict[str, Any]) -> int:
    """p95 prompt + p95 completion tokens of a cluster (its logged usage, or the
    cluster stage's estimate where usage was missing)."""
    return int((cluster.get("prompt_tokens_p95") or 0) + (cluster.get("completion_tokens_p95")
                                                           or 0))


def _tool_share(cluster: dict[str, Any]) -> float:
    return float(cluster.get("response_kinds", {}).get("tool_call", 0.0))


# ------------------------------------------------------------------- probing ----

class Selector:
    def __init__(self, ctx: StageContext, cfg: SelectConfig) -> None:
        self.ctx, self.cfg = ctx, cfg
        self.catalog = catalog_with(cfg.models)
        self.generations = 0
        self.skipped_long = 0

    def _candidates(self) -> list[ModelEntry]:
        names = self.cfg.candidates or [n for n, e in self.catalog.items()
                                        if e.kind == "causal-lm"]
        out = []
        for n in names:
            if n not in self.catalog:
                raise ConfigError(f"stages.select.candidates: unknown model '{n}'"
                                  f"{did_you_mean(n, list(self.catalog))}",
                                  hint="add it under stages.select.models, or see "
                                       "`slmconvert models list`")
            out.append(self.catalog[n])
        return out

    def _split(self, cluster_id: str, side: str) -> list[CallRecord]:
        path = self.ctx.upstream_dir("cluster") / "splits" / cluster_id / f"{side}.parquet"
        return list(iter_records(path)) if path.exists() else []

    def run(self, clusters: list[dict[str, Any]]) -> StageResult:
        cfg = self.cfg
        candidates = self._candidates()
        probed = [c for c in clusters if c.get("route") == "slm-candidate"]
        skipped = [{"id": c["id"], "why": c.get("why_llm") or "not an SLM candidate"}
                   for c in clusters if c.get("route") != "slm-candidate"]
        plan: dict[str, dict[str, Any]] = {}
        for cl in probed:
            rows = []
            for entry in candidates:
                reasons = exclusions(entry, cl, cfg)
                rows.append({"model": entry.name, "params_m": entry.params_m,
                             "licence": entry.licence, "status": "excluded" if reasons
                             else "probed", "reasons": reasons, "probes": []})
            plan[cl["id"]] = {"cluster": cl, "candidates": rows,
                              "val": self._sample(cl["id"]),
                              "train": self._split(cl["id"], "train")}
        wanted = {r["model"] for p in plan.values() for r in p["candidates"]
                  if r["status"] == "probed"}
        for entry in candidates:
            if entry.name in wanted:
                self._probe_model(entry, plan)
        out_clusters = [self._rank(cid, p) for cid, p in plan.items()]
        selection = {"precision": cfg.precision, "shots": cfg.probe.shots,
                     "samples": cfg.probe.samples, "probe": cfg.probe.model_dump(),
                     "top_n": cfg.top_n,
                     "clusters": out_clusters, "skipped_clusters": skipped}
        write_json_atomic(self.ctx.stage_dir / SELECTION, selection)
        excluded = sum(c["status"] == "excluded" for cl in out_clusters
                       for c in cl["candidates"])
        counts = {"clusters": len(out_clusters), "candidates": len(candidates),
                  "probed": sum(c["status"] == "probed" for cl in out_clusters
                                for c in cl["candidates"]),
                  "excluded": excluded, "generations": self.generations,
                  "skipped_long_prompts": self.skipped_long,
                  "chosen": sum(len(cl["chosen"]) for cl in out_clusters)}
        return StageResult(counts=counts, summary=selection)

    def _sample(self, cluster_id: str) -> list[CallRecord]:
        return probe_calls(self._split(cluster_id, "val"), self.ctx.seed, cluster_id,
                           self.cfg.probe.samples)

    def _probe_model(self, entry: ModelEntry, plan: dict[str, dict[str, Any]]) -> None:
        from slmconvert.core.models import load_causal_lm
        from slmconvert.prompting.generate import Generator

        rep = self.ctx.reporter
        rep.info(f"select: loading {entry.name}")
        model, tokenizer = load_causal_lm(entry.name, rep, entry=entry,
                                          dtype=self.cfg.probe.dtype)
        gen = Generator(model, tokenizer, batch_size=self.cfg.probe.batch_size,
                        max_new_tokens=self.cfg.probe.max_new_tokens)
        budget = min(self.cfg.probe.max_prompt_tokens,
                     (entry.context_length or 10**9) - self.cfg.probe.max_new_tokens)
        jobs = [(cid, p, row) for cid, p in plan.items() for row in p["candidates"]
                if row["model"] == entry.name and row["status"] == "probed"]
        total = sum(len(p["val"]) * len(self.cfg.probe.shots) for _, p, _ in jobs)
        with rep.task(f"select: probing {entry.name}", total=total) as task:
            for cid, p, row in jobs:
                for k in self.cfg.probe.shots:
                    row["probes"].append(self._probe(gen, p, k, budget, cid, task.advance))
        del model

    def _probe(self, gen: Any, plan: dict[str, Any], shots: int, budget: int, cid: str,
               advance: Any) -> dict[str, Any]:
        from slmconvert.evaluation.metrics import score_response, summarise
        from slmconvert.prompting.format import parse

        prompts, refs, used = [], [], 0
        rng = random.Random(f"{self.ctx.seed}:{cid}:shots:{shots}")
        for rec in plan["val"]:
            built = few_shot_prompt(rec, plan["train"], shots, gen.token_count, budget, rng)
            if built is None:
                self.skipped_long += 1
                advance()
                continue
            prompts.append(built[0])
            used += built[1]
            refs.append(rec)
        if shots and not used:  # no example fits: the same prompts as zero-shot
            advance(len(prompts))
            return {"shots": shots, "n": 0, "mean": 0.0, "accuracy": 0.0, "ci": [0.0, 0.0],
                    "errors": {}, "latency_s": None, "new_tokens": 0,
                    "note": "no example fits the prompt budget"}
        outs = gen.generate(prompts, on_batch=advance) if prompts else []
        self.generations += len(outs)
        scores, errors = [], []
        for rec, g in zip(refs, outs, strict=True):
            parsed = parse(g.text, rec.tools)
            assert rec.response is not None
            s = score_response(rec.response, parsed.message, rec.tools, parsed.reason)
            scores.append(s)
            errors.append(s.error)
        summary = summarise(scores)
        secs = [g.seconds for g in outs]
        return {"shots": shots, "n": summary["n"], "mean": summary["mean"] or 0.0,
                "accuracy": summary["accuracy"] or 0.0,
                "ci": list(summary["ci95"] or [0.0, 0.0]),
                "errors": summary["errors"],
                "latency_s": sum(secs) / len(secs) if secs else None,
                "new_tokens": sum(g.new_tokens for g in outs)}

    def _rank(self, cid: str, plan: dict[str, Any]) -> dict[str, Any]:
        cl = plan["cluster"]
        rows = plan["candidates"]
        probed = [r for r in rows if r["status"] == "probed"]
        for r in probed:
            done = [p for p in r["probes"] if p["n"]]
            best = max(done, key=lambda p: (p["mean"], -p["shots"]), default=None)
            r["best"] = {"shots": best["shots"], "value": best["mean"]} if best else \
                {"shots": None, "value": 0.0}
            lat = [p["latency_s"] for p in done if p["latency_s"] is not None]
            r["latency_s"] = sum(lat) / len(lat) if lat else 0.0
            if not done:
                r["note"] = "no validation call fits the prompt budget"
            elif skipped := [p for p in r["probes"] if p.get("note")]:
                r["note"] = f"{skipped[0]['shots']}-shot: {skipped[0]['note']}"
        probed.sort(key=lambda r: (-round(r["best"]["value"], 3), r["params_m"],
                                   r["latency_s"]))
        for i, r in enumerate(probed, 1):
            r["rank"] = i
            r["chosen"] = i <= self.cfg.top_n
        ordered = probed + [r for r in rows if r["status"] == "excluded"]
        return {"id": cid, "label": cl.get("label"), "calls": cl.get("calls"),
                "response_kinds": cl.get("response_kinds"), "tokens_p95": cluster_tokens(cl),
                "sample": len(plan["val"]), "candidates": ordered,
                "chosen": [r["model"] for r in probed if r["chosen"]]}


def probe_calls(val: list[CallRecord], seed: int, cluster_id: str, k: int) -> list[CallRecord]:
    """The seeded sample of a cluster's validation calls that select probes; finetune
    scores its adapters on the same calls, so the two figures compare."""
    answered = [r for r in val if r.response is not None]
    random.Random(f"{seed}:{cluster_id}:probe").shuffle(answered)
    return answered[:k]


def few_shot_prompt(rec: CallRecord, train: list[CallRecord], shots: int,
                    count: Any, budget: int, rng: random.Random) -> tuple[str, int] | None:
    """The call's prompt with up to ``shots`` train examples (prompt + answer) before it,
    dropping examples that do not fit ``budget`` tokens, and how many it holds; None when
    the call alone does not fit."""
    from slmconvert.prompting.format import render_prompt, render_target

    query = render_prompt(rec.messages, rec.tools)
    room = budget - count(query)
    if room < 0:
        return None
    pool = [t for t in train if t.response is not None and t.id != rec.id]
    examples = []
    for t in rng.sample(pool, min(shots, len(pool))):
        text = render_prompt(t.messages, t.tools) + render_target(t.response) + "\n"  # type: ignore[arg-type]
        n = count(text)
        if n <= room:
            examples.append(text)
            room -= n
    return "".join(examples) + query, len(examples)


def load_selection(workspace: Path) -> dict[str, Any]:
    path = workspace / "select" / SELECTION
    if not path.exists():
        raise InputError(f"{path}: missing; run select first")
    return dict(json.loads(path.read_text(encoding="utf-8")))
