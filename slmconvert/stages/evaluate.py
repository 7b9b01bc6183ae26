"""S5 evaluate: which calls can move to an SLM, at what quality, and the router for it.

For every evaluable cluster and every adapter finetune trained for it, the held-out
calls are answered by the base model zero-shot and few-shot, and by the adapter with
and without its prompt recipe (config ``systems``), with batched greedy generation in
the one prompt format; each answer is read back, checked by the verifier
(:mod:`slmconvert.evaluation.verifier`) and scored against the LLM's recorded response
(:mod:`slmconvert.evaluation.metrics`).

The router is calibrated on val and reported on test: the adapter (with its recipe, as
serve runs it) answers the cluster's val calls, not those finetune stopped early on;
:func:`slmconvert.evaluation.calibrate.choose_threshold` picks the confidence threshold
whose kept answers meet the quality target by the lower Wilson bound; the best adapter
per cluster is the one that keeps the most val calls. That threshold is then applied
to the test answers, which set nothing. Verdict per cluster: ``replace`` (every answer
the verifier accepts meets the target), ``hybrid`` (the answers above the threshold),
``keep`` (stays with the LLM), each with its reason.

Outputs: ``report.json`` (docs/evaluate.md documents every key), ``report.md``,
``report.html``, ``router.json`` with the assignment centroids beside it, and
``answers/<cluster>.jsonl`` (every answer, its score and confidence).
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmconvert.core.fsio import write_json_atomic, write_text_atomic
from slmconvert.core.hashing import sha256_file
from slmconvert.core.models import DTYPE_HELP, Dtype, resolve_dtype
from slmconvert.core.parquet import iter_records
from slmconvert.core.records import CallRecord
from slmconvert.errors import ConfigError, InputError
from slmconvert.evaluation.calibrate import (
    Answer,
    Outcome,
    apply_threshold,
    calibration_quality,
    choose_threshold,
    cross_validate,
    curve,
    decide,
    kept,
    transfer,
)
from slmconvert.evaluation.economics import Economics, Span, overall, task_economics
from slmconvert.evaluation.judge import JudgeConfig
from slmconvert.evaluation.router import (
    CENTROIDS,
    ROUTER,
    Assignment,
    BaseModelRef,
    Confidence,
    Route,
    Router,
    save_router,
)
from slmconvert.pipeline.stage import Report, Stage, StageConfig, StageContext, StageResult, Table
from slmconvert.stages.curate import NearDuplicates

REPORT_JSON, REPORT_MD, REPORT_HTML = "report.json", "report.md", "report.html"
ANSWERS = "answers"
REPORT_VERSION = 1
System = Literal["zero_shot", "few_shot", "adapter", "adapter_no_recipe"]
SYSTEMS: tuple[System, ...] = ("zero_shot", "few_shot", "adapter", "adapter_no_recipe")


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0, description="USD per million prompt tokens.")
    output_per_mtok: float = Field(ge=0, description="USD per million completion tokens.")


class EvaluateConfig(StageConfig):
    systems: list[System] = Field(default_factory=lambda: list(SYSTEMS), description=(
        "What answers the test calls: zero_shot and few_shot (the base model), adapter "
        "(with its prompt recipe, as serve runs it; always run, it is the router's "
        "candidate) and adapter_no_recipe."))
    shots: int = Field(2, ge=1, description="Train examples before each call for few_shot.")
    max_test_calls: int | None = Field(None, ge=1, description=(
        "Test calls per cluster (a seeded sample; null: all)."))
    max_val_calls: int | None = Field(None, ge=1, description=(
        "Val calls per cluster the threshold is calibrated on (a seeded sample of those "
        "finetune did not use; null: all)."))
    target: float = Field(0.95, gt=0, le=1, description=(
        "Agreement with the LLM the calls an SLM keeps must reach, judged by the lower "
        "bound of the confidence interval on val."))
    level: float = Field(0.95, gt=0, lt=1, description="Confidence level of the intervals.")
    confidence: Confidence = Field("mean_logprob", description=(
        "Confidence of an answer: the mean or the minimum log-probability of its tokens."))
    min_kept: int = Field(20, ge=1, description=(
        "Fewest val answers a threshold may rest on."))
    min_share: float = Field(0.1, ge=0, le=1, description=(
        "A hybrid route must keep at least this share of val calls (else: keep)."))
    max_abstain: float = Field(0.05, ge=0, le=1, description=(
        "Replace only when the verifier rejects at most this share of val answers "
        "(else the route is hybrid: rejected answers go to the LLM)."))
    batch_size: int = Field(8, ge=1, description="Prompts generated together.")
    dtype: Dtype = Field("float32", description=(
        f"Weights for generation: {DTYPE_HELP}. Confidences shift slightly with the "
        "dtype, so the router records the one used and serve loads the same."))
    max_new_tokens: int | None = Field(None, ge=1, description=(
        "Longest answer (null: the adapter's, from its training answers' p95)."))
    max_prompt_tokens: int = Field(4096, ge=256, description=(
        "A prompt longer than this is not answered (counted as skipped per system)."))
    prices: dict[str, Price] = Field(default_factory=dict, description=(
        "LLM prices by logged model name, for calls whose logs carry usage but no cost."))
    embedding_similarity: bool = Field(True, description=(
        "Score free-text answers by embedding cosine similarity too (the clustering "
        "embedder)."))
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description=(
        "Optional pairwise LLM judge of free-text answers at an OpenAI-compatible "
        "endpoint (off by default; never needed offline)."))
    clusters: list[str] | None = Field(None, description="Only these clusters (default: all).")
    leak_check: NearDuplicates = Field(default_factory=NearDuplicates, description=(
        "Leave out of the figures every val or test call whose request is a near-duplicate "
        "of a train call of its cluster (curate's MinHash test; counted in the report)."))
    baselines: bool = Field(True, description=(
        "Score the majority answer and a TF-IDF + logistic regression classifier (labels "
        "and tool names), trained on the train split, on the same test calls."))
    cv_folds: int = Field(5, ge=2, description=(
        "Folds (whole conversations) of the cross-validation that checks a val threshold "
        "holds on calls it was not chosen on."))
    transfer_tolerance: float = Field(0.1, ge=0, le=1, description=(
        "A route falls back to keep when its kept share differs by more than this between "
        "in-sample val and cross-validated val, or between val and test (or its agreement "
        "drops by more than this on test)."))
    economics: Economics = Field(default_factory=Economics, description=(
        "Hardware prices for break-even volume and monthly savings."))
    constrained: bool = Field(True, description=(
        "Label-constrained decoding of the adapter: on label tasks (at most max_options "
        "labels in train) it chooses among the labels, on tool-call tasks among the "
        "tools the request offers (then writes the arguments); the confidence is the "
        "chosen option's probability (choice_prob) instead of `confidence`."))
    max_options: int = Field(32, ge=2, description=(
        "Most labels a label task may have for constrained decoding."))


class EvaluateStage(Stage):
    name = "evaluate"
    version = "1"
    Config = EvaluateConfig
    upstream = ("cluster", "select", "finetune")
    description = ("S5: answer held-out calls with base models and adapters, score them "
                   "against the LLM, calibrate a router on val, report on test.")

    def run(self, ctx: StageContext, cfg: EvaluateConfig) -> StageResult:
        return Evaluator(ctx, cfg).run()

    def report(self, counts: dict[str, Any], summary: dict[str, Any]) -> Report:
        rows = []
        for c in summary.get("clusters", []):
            rows.append([c["id"], c.get("label") or "", c["verdict"], c.get("model") or "-",
                         c.get("calls_test") or 0, _pct(c.get("share_kept")),
                         _pct_ci(c.get("agreement"), c.get("agreement_ci")),
                         "-" if c.get("threshold") is None else f"{c['threshold']:.3f}",
                         c["reason"]])
        sys_rows = []
        for c in summary.get("clusters", []):
            for s in c.get("systems", []):
                lat = (s.get("latency_s") or {}).get("p50")
                sys_rows.append([c["id"], s["system"], s.get("model") or "-", s.get("n", 0),
                                 _pct_ci(s.get("accuracy"), s.get("accuracy_ci")),
                                 "-" if s.get("mean") is None else f"{s['mean']:.2f}",
                                 s.get("abstained", 0), "-" if lat is None else f"{lat:.2f}"])
        trust_rows = []
        for c in summary.get("clusters", []):
            b, e, g = c.get("baselines") or {}, c.get("economics") or {}, c.get("transfer") or {}
            cal = (c.get("calibration") or {}).get("test") or {}
            leaks = c.get("leaks")
            trust_rows.append([
                c["id"], c["verdict"],
                "-" if not b else f"{_pct(b.get('slm_accuracy'))} vs {b['best']} "
                                  f"{_pct(max((r.get('accuracy') or 0) for r in b['results']))}",
                "-" if cal.get("ece") is None else f"{cal['ece']:.2f}",
                "-" if cal.get("auroc") is None else f"{cal['auroc']:.2f}",
                "-" if not leaks else f"{leaks['val']}/{leaks['test']}",
                "-" if not g else f"{_pct(g.get('val_share_kept'))} -> "
                                  f"{_pct(g.get('test_share_kept'))}",
                "-" if e.get("break_even_calls") is None else f"{e['break_even_calls']:,}",
                "-" if e.get("monthly_savings_usd") is None
                else f"${e['monthly_savings_usd']:,.2f}"])
        target = summary.get("target", {}).get("agreement")
        out = Report(tables=[
            Table(f"Verdict per task (router calibrated on val, figures on test; target "
                  f"{_pct(target)} agreement)",
                  ["cluster", "label", "verdict", "model", "test calls", "SLM keeps",
                   "agreement [95% CI]", "threshold", "why"], rows),
            Table("Answers on test by system (agreement with the LLM; abstained: the "
                  "verifier sent them to the LLM)",
                  ["cluster", "system", "model", "n", "agreement [95% CI]", "score",
                   "abstained", "s/answer p50"], sys_rows),
            Table("Can it be trusted? Baselines, calibration, leaks, val-to-test transfer, "
                  "economics (test)",
                  ["cluster", "verdict", "SLM vs best baseline", "ECE", "AUROC",
                   "leaks val/test", "kept share val -> test", "break-even calls",
                   "savings / month"], trust_rows)])
        out.notes.extend(summary.get("notes", []))
        head = summary.get("headline", {}).get("text")
        if head:
            out.headline.append(head)
            out.headline.append(f"report: {summary.get('report_html', REPORT_HTML)}")
        return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _pct_ci(x: float | None, ci: Sequence[float] | None) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.0f}%" + (f" [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]" if ci else "")


# --------------------------------------------------------------------- data ----

def _records(path: Path) -> Iterator[CallRecord]:
    return iter_records(path) if path.exists() else iter(())


def _sample(calls: list[CallRecord], k: int | None, seed: str) -> list[CallRecord]:
    """A seeded sample in split order (the same calls for every system and rerun)."""
    calls = [c for c in calls if c.response is not None]
    if k is None or len(calls) <= k:
        return calls
    keep = set(random.Random(seed).sample(range(len(calls)), k))
    return [c for i, c in enumerate(calls) if i in keep]


def call_tokens(rec: CallRecord) -> int:
    p, c = rec.usage.prompt_tokens, rec.usage.completion_tokens
    if p is not None or c is not None:
        return (p or 0) + (c or 0)
    chars = sum(len(m.content or "") for m in rec.messages)
    return max(1, chars // 4)  # no usage logged: a rough estimate


def call_cost(rec: CallRecord, prices: dict[str, Price]) -> float | None:
    if rec.cost_usd is not None:
        return rec.cost_usd
    price = prices.get(rec.model or "")
    p, c = rec.usage.prompt_tokens, rec.usage.completion_tokens
    if price is None or (p is None and c is None):
        return None
    return ((p or 0) * price.input_per_mtok + (c or 0) * price.output_per_mtok) / 1e6


@dataclass
class Scored:
    """One answer: the call, the system, the generated text read back and scored."""

    call: CallRecord
    system: str
    text: str
    kind: str
    correct: bool
    value: float
    error: str | None
    abstained: str | None
    confidence: dict[str, float | None]
    seconds: float
    new_tokens: int
    metrics: dict[str, float] = field(default_factory=dict)

    def answer(self, measure: str) -> Answer:
        return Answer(self.correct and not self.abstained, self.confidence.get(measure),
                      self.abstained is not None)


# --------------------------------------------------------------- evaluation ----

class Evaluator:
    def __init__(self, ctx: StageContext, cfg: EvaluateConfig) -> None:
        from slmconvert.stages.select import load_selection

        self.ctx, self.cfg = ctx, cfg
        self.dtype = resolve_dtype(cfg.dtype)
        cl_path = ctx.upstream_dir("cluster") / "clusters.json"
        ft_path = ctx.upstream_dir("finetune") / "finetune.json"
        for p, stage in ((cl_path, "cluster"), (ft_path, "finetune")):
            if not p.exists():
                raise InputError(f"{p}: missing; run {stage} first")
        self.meta = json.loads(cl_path.read_text(encoding="utf-8"))
        self.finetune = json.loads(ft_path.read_text(encoding="utf-8"))
        self.selection = load_selection(ctx.workspace)
        self.notes: list[str] = []
        self.embedder: Any = None
        self.generations = 0
        self.skipped: dict[str, int] = {}

    # ------------------------------------------------------------------ plan ----

    def _split(self, cid: str, side: str) -> list[CallRecord]:
        return list(_records(self.ctx.upstream_dir("cluster") / "splits" / cid
                             / f"{side}.parquet"))

    def _units_for(self, cid: str) -> list[dict[str, Any]]:
        return [u for u in self.finetune.get("units", []) if cid in u["clusters"]]

    def _plan(self) -> list[dict[str, Any]]:
        clusters = self.meta["clusters"]
        ids = [c["id"] for c in clusters]
        if self.cfg.clusters is not None:
            unknown = [c for c in self.cfg.clusters if c not in ids]
            if unknown:
                raise ConfigError(f"--cluster {', '.join(unknown)}: no such cluster "
                                  f"(clusters: {', '.join(ids)})")
        used_val = int(self.finetune.get("settings", {}).get("val_calls") or 0)
        plan = []
        for c in clusters:
            units = self._units_for(c["id"])
            why = None
            if self.cfg.clusters is not None and c["id"] not in self.cfg.clusters:
                why = "not evaluated in this run (stages.evaluate.clusters / --cluster)"
            elif c.get("route") != "slm-candidate" or not c.get("evaluable", True):
                why = c.get("why_llm") or "not an SLM candidate"
            elif not units:
                why = "no fine-tuned adapter"
            kinds: dict[str, float] = c.get("response_kinds") or {}
            item: dict[str, Any] = {"cluster": c, "units": units, "why": why,
                                    "val": [], "test": [], "kind": max(
                                        kinds, key=lambda k: kinds[k]) if kinds else "text"}
            if why is None:
                seed = f"{self.ctx.seed}:{c['id']}"
                val = self._split(c["id"], "val")[used_val:]  # finetune stopped early on those
                test = self._split(c["id"], "test")
                val, test = self._without_leaks(c["id"], val, test, item)
                item["val"] = _sample(val, self.cfg.max_val_calls, seed + ":val")
                item["test"] = _sample(test, self.cfg.max_test_calls, seed + ":test")
                item["test_split"] = c.get("split", {}).get("test")
                item["kind"] = _answer_kind(item["val"] + item["test"]) or item["kind"]
                self._constraint(c["id"], item)
                if not item["test"]:
                    item["why"] = "no test calls with a recorded answer"
            plan.append(item)
        return plan

    def _constraint(self, cid: str, item: dict[str, Any]) -> None:
        """Whether the adapter decodes among options on this task (``item["labels"]``
        for labels), and so which confidence measure the task is calibrated on."""
        from slmconvert.prompting.choices import label_options

        item["labels"], item["constrained"] = None, False
        if self.cfg.constrained and item["kind"] == "label":
            item["labels"] = label_options(self._train(cid), self.cfg.max_options)
            item["constrained"] = item["labels"] is not None
        elif self.cfg.constrained and item["kind"] == "tool_call":
            item["constrained"] = True
        item["measure"] = "choice_prob" if item["constrained"] else self.cfg.confidence

    def _train(self, cid: str) -> Iterator[CallRecord]:
        return _records(self.ctx.upstream_dir("cluster") / "splits" / cid / "train.parquet")

    def _without_leaks(self, cid: str, val: list[CallRecord], test: list[CallRecord],
                       item: dict[str, Any]) -> tuple[list[CallRecord], list[CallRecord]]:
        """Val and test without the calls that near-duplicate a train call (counted in
        ``item["leaks"]``); also the time span of the cluster's calls, for economics."""
        from slmconvert.evaluation.leaks import find_leaks

        span = Span()

        def train() -> Iterator[CallRecord]:
            for rec in self._train(cid):
                span.add(rec.timestamp)
                yield rec

        for rec in val + test:
            span.add(rec.timestamp)
        item["span"] = span
        if not self.cfg.leak_check.enabled:
            for _ in train():
                pass
            item["leaks"] = None
            return val, test
        leaks = find_leaks(train(), val + test, self.cfg.leak_check, self.ctx.seed)
        item["leaks"] = {"val": sum(r.id in leaks for r in val),
                         "test": sum(r.id in leaks for r in test),
                         "pairs": [{"held_out": k, "train": v}
                                   for k, v in sorted(leaks.items())[:20]]}
        if leaks:
            self.notes.append(f"{cid}: {len(leaks)} val/test call(s) near-duplicate a train "
                              f"call and are left out of the figures")
        return ([r for r in val if r.id not in leaks], [r for r in test if r.id not in leaks])

    def run(self) -> StageResult:
        t0 = time.perf_counter()
        plan = self._plan()
        systems: list[str] = [s for s in SYSTEMS if s in self.cfg.systems or s == "adapter"]
        total = sum(len(p["val"]) + len(p["test"]) * len(systems)
                    for p in plan if p["why"] is None for _ in p["units"])
        results: dict[str, dict[str, dict[str, list[Scored]]]] = {}
        by_unit: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        for p in plan:
            if p["why"] is None:
                for u in p["units"]:
                    by_unit.setdefault(u["path"], (u, []))[1].append(p)
        with self.ctx.reporter.task("evaluate: answering val and test calls",
                                    total=total) as task:
            for path, (unit, items) in by_unit.items():
                self.ctx.reporter.info(f"evaluate: {unit['group']} on {unit['model']}")
                out = self._run_unit(unit, items, systems, task.advance)
                for cid, per_system in out.items():
                    results.setdefault(cid, {})[path] = per_system
        if self.embedder is not None:
            self.embedder = None
        report = self._report(plan, results, systems, time.perf_counter() - t0)
        self._write(plan, results, report)
        counts = {"clusters": len(plan), "evaluated": len(results),
                  "replace": sum(c["verdict"] == "replace" for c in report["clusters"]),
                  "hybrid": sum(c["verdict"] == "hybrid" for c in report["clusters"]),
                  "keep": sum(c["verdict"] == "keep" for c in report["clusters"]),
                  "generations": self.generations,
                  "skipped_long_prompts": sum(self.skipped.values())}
        return StageResult(counts=counts, summary=report)

    # -------------------------------------------------------------- answering ----

    def _run_unit(self, unit: dict[str, Any], items: list[dict[str, Any]],
                  systems: list[str], advance: Any) -> dict[str, dict[str, list[Scored]]]:
        from slmconvert.core.models import prepare
        from slmconvert.evaluation.answer import load_adapter
        from slmconvert.prompting.generate import Generator
        from slmconvert.prompting.recipe import RECIPE_FILE, PromptRecipe

        ft_dir = self.ctx.upstream_dir("finetune") / unit["path"]
        prepared = prepare(unit["model"], self.ctx.reporter)
        model, tok = load_adapter(prepared.path, ft_dir / "adapter", self.dtype)
        recipe = PromptRecipe.load(ft_dir / RECIPE_FILE)
        out: dict[str, dict[str, list[Scored]]] = {}
        for item in items:
            cid = item["cluster"]["id"]
            score: dict[str, Any] = next((s for s in unit.get("scores", [])
                                          if s["cluster"] == cid), {})
            max_new = self.cfg.max_new_tokens or int(score.get("max_new_tokens") or 128)
            gen = Generator(model, tok, batch_size=self.cfg.batch_size, max_new_tokens=max_new)
            kind = item["kind"]
            pool = self._pool(cid) if "few_shot" in systems else None
            # val apart from test, so nothing about the test calls can reach the threshold;
            # on test, the systems that share the model's state share its batches
            per = self._answer_many(gen, [("val:adapter", item["val"], recipe)], kind,
                                    advance, cid, constraint=item)
            tuned = [(s, item["test"], recipe if s == "adapter" else None)
                     for s in systems if s in ("adapter", "adapter_no_recipe")]
            per |= self._answer_many(gen, tuned, kind, advance, cid, constraint=item)
            with model.disable_adapter():
                base = [(s, item["test"], None) for s in systems
                        if s in ("zero_shot", "few_shot")]
                per |= self._answer_many(gen, base, kind, advance, cid, pool)
            out[cid] = per
        del model
        return out

    def _pool(self, cid: str, k: int = 256) -> list[CallRecord]:
        """Few-shot examples: a seeded sample of the cluster's train calls."""
        train = [r for r in _records(self.ctx.upstream_dir("cluster") / "splits" / cid
                                     / "train.parquet") if r.response is not None]
        rng = random.Random(f"{self.ctx.seed}:{cid}:pool")
        return rng.sample(train, k) if len(train) > k else train

    def _answer_many(self, gen: Any, jobs: list[tuple[str, list[CallRecord], Any]],
                     kind: str, advance: Any, cid: str,
                     pool: list[CallRecord] | None = None,
                     constraint: dict[str, Any] | None = None) -> dict[str, list[Scored]]:
        """Answer each job's calls (``(key, calls, recipe)``; the system is the key's
        last part) in one batched generation, and score every answer. With a
        ``constraint`` (the plan item of a constrained task) the adapter with its recipe
        decodes among the task's options, as serve does."""
        from slmconvert.evaluation.answer import prompt_for
        from slmconvert.prompting.choices import is_complete, options_for
        from slmconvert.stages.select import few_shot_prompt

        budget = self.cfg.max_prompt_tokens
        prompts: list[str] = []
        owners: list[tuple[str, CallRecord]] = []
        for key, calls, recipe in jobs:
            system = key.rpartition(":")[2]
            rng = random.Random(f"{self.ctx.seed}:{cid}:{system}")
            for rec in calls:
                if system == "few_shot":
                    built = few_shot_prompt(rec, pool or [], self.cfg.shots, gen.token_count,
                                            budget, rng)
                    prompt = built[0] if built else None
                else:
                    prompt = prompt_for(rec, recipe, gen.tokenizer)
                    if gen.token_count(prompt) > budget:
                        prompt = None
                if prompt is None:
                    self.skipped[system] = self.skipped.get(system, 0) + 1
                    advance()
                    continue
                prompts.append(prompt)
                owners.append((key, rec))
        options = [options_for(rec, kind, constraint["labels"])
                   if constraint and constraint["constrained"]
                   and key.rpartition(":")[2] == "adapter" else None
                   for key, rec in owners]
        if any(options):
            outs = gen.answer(prompts, options, is_complete(kind), on_batch=advance)
        else:
            outs = gen.generate(prompts, on_batch=advance) if prompts else []
        self.generations += len(outs)
        out: dict[str, list[Scored]] = {key: [] for key, _, _ in jobs}
        for (key, rec), g in zip(owners, outs, strict=True):
            out[key].append(self._score(rec, g, key.rpartition(":")[2], kind))
        return out

    def _score(self, rec: CallRecord, g: Any, system: str, kind: str) -> Scored:
        from slmconvert.evaluation.metrics import score_response
        from slmconvert.evaluation.verifier import verify
        from slmconvert.prompting.format import parse

        assert rec.response is not None
        parsed = parse(g.text, rec.tools)
        check = verify(parsed, rec.tools, kind)
        s = score_response(rec.response, parsed.message, rec.tools, parsed.reason)
        conf = {"mean_logprob": getattr(g, "mean_logprob", None),
                "min_logprob": getattr(g, "min_logprob", None),
                "choice_prob": getattr(g, "choice_prob", None)}
        return Scored(rec, system, g.text, s.kind, s.correct, s.value, s.error,
                      None if check.ok else check.reason, conf, g.seconds, g.new_tokens,
                      _kind_metrics(rec, parsed, s))

    # ------------------------------------------------------------------ report ----

    def _similarity(self, answers: list[Scored]) -> None:
        """Embedding cosine similarity of free-text answers to the LLM's."""
        texts = [a for a in answers if a.kind == "text" and a.call.response is not None]
        if not texts or not self.cfg.embedding_similarity:
            return
        import numpy as np

        from slmconvert.clustering.embed import Embedder

        if self.embedder is None:
            feat = self.meta["features"]
            self.embedder = Embedder.load(feat["embedding_model"],
                                          max_tokens=feat.get("max_tokens"),
                                          reporter=self.ctx.reporter)
        refs = self.embedder.encode([a.call.response.content or "" for a in texts])  # type: ignore[union-attr]
        preds = self.embedder.encode([a.text for a in texts])
        norms = np.linalg.norm(refs, axis=1) * np.linalg.norm(preds, axis=1)
        sims = (refs * preds).sum(axis=1) / np.maximum(norms, 1e-12)
        for a, s in zip(texts, sims, strict=True):
            a.metrics["embedding_similarity"] = round(float(s), 4)

    def _judge(self, kind: str, answers: list[Scored]) -> dict[str, Any] | None:
        """The LLM judge on the chosen adapter's free-text test answers, when enabled."""
        if not self.cfg.judge.enabled or kind != "text":
            return None
        from slmconvert.evaluation.judge import JudgeItem, judge_pairs

        items = [JudgeItem(request=_request_text(a.call), reference=a.call.response.content
                           or "", candidate=a.text)
                 for a in answers if not a.abstained and a.call.response is not None]
        with self.ctx.reporter.task("evaluate: LLM judge", total=min(
                len(items), self.cfg.judge.max_calls)) as task:
            summary = judge_pairs(self.cfg.judge, items, on_item=lambda _: task.advance())
        out = summary.as_dict()
        out.pop("outcomes", None)
        return out

    def _system_row(self, system: str, model: str, answers: list[Scored],
                    n_test: int) -> dict[str, Any]:
        from slmconvert.evaluation.calibrate import wilson
        from slmconvert.evaluation.metrics import bootstrap_ci

        n = len(answers)
        correct = sum(a.correct and not a.abstained for a in answers)
        ci = wilson(correct, n, self.cfg.level)
        values = [0.0 if a.abstained else a.value for a in answers]
        lo, hi = bootstrap_ci(values, seed=self.ctx.seed) if values else (0.0, 0.0)
        metrics: dict[str, list[float]] = {}
        for a in answers:
            for k, v in a.metrics.items():
                metrics.setdefault(k, []).append(v)
        errors: dict[str, int] = {}
        for a in answers:
            label = a.abstained or a.error
            if label and (a.abstained or not a.correct):
                errors[label] = errors.get(label, 0) + 1
        secs = sorted(a.seconds for a in answers)
        return {"system": system, "model": model, "n": n,
                "mean": round(sum(values) / n, 4) if n else None,
                "ci95": [round(lo, 4), round(hi, 4)] if n else None,
                "accuracy": round(correct / n, 4) if n else None,
                "accuracy_ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
                "abstained": sum(a.abstained is not None for a in answers),
                "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
                "metrics": {k: round(sum(v) / len(v), 4) for k, v in sorted(metrics.items())},
                "latency_s": _dist(secs),
                "skipped": max(0, n_test - n)}

    def _decide(self, item: dict[str, Any], per_unit: dict[str, dict[str, list[Scored]]]
                ) -> dict[str, Any]:
        cfg = self.cfg
        measure = item["measure"]
        best: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        for unit in item["units"]:
            answers = per_unit.get(unit["path"])
            if not answers:
                continue
            val = [a.answer(measure) for a in answers["val:adapter"]]
            groups = [_conversation(a.call) for a in answers["val:adapter"]]
            cal = choose_threshold(val, target=cfg.target, min_kept=cfg.min_kept,
                                   level=cfg.level, groups=groups, seed=self.ctx.seed)
            o = cal.outcome
            rank = (cal.mode != "none", o.share_kept if cal.mode != "none" else 0.0,
                    o.agreement or 0.0, -float(unit.get("base", {}).get("params_m") or 0))
            cand = {"unit": unit, "cal": cal, "answers": answers, "val": val,
                    "groups": groups}
            if best is None or rank > best[0]:
                best = (rank, cand)
        assert best is not None
        cand = best[1]
        cal, unit = cand["cal"], cand["unit"]
        cv = None
        if cal.mode != "none":
            cv = cross_validate(cand["val"], cand["groups"], target=cfg.target,
                                min_kept=cfg.min_kept, level=cfg.level, folds=cfg.cv_folds,
                                seed=self.ctx.seed)
        d = decide(cal, min_share=cfg.min_share, max_abstain=cfg.max_abstain, cv=cv,
                   tolerance=cfg.transfer_tolerance)
        return {"unit": unit, "cal": cal, "answers": cand["answers"], "verdict": d.verdict,
                "threshold": d.threshold, "reason": d.reason, "cv": cv,
                "labels": item.get("labels")}

    def _report(self, plan: list[dict[str, Any]],
                results: dict[str, dict[str, dict[str, list[Scored]]]],
                systems: list[str], seconds: float) -> dict[str, Any]:
        cfg = self.cfg
        clusters, self.decisions = [], {}
        for item in plan:
            c = item["cluster"]
            row: dict[str, Any] = {
                "id": c["id"], "label": c.get("label"), "kind": item["kind"],
                "calls": c.get("calls"), "share_calls": c.get("share_calls"),
                "share_tokens": c.get("share_tokens"), "share_cost": c.get("share_cost"),
                "verdict": "keep", "reason": item["why"], "model": None, "adapter": None,
                "calls_val": len(item["val"]), "calls_test": len(item["test"]),
                "test_split": item.get("test_split"), "threshold": None,
                "share_kept": 0.0 if item["why"] is None else None, "agreement": None,
                "agreement_ci": None, "share_tokens_kept": None, "share_cost_kept": None,
                "val": None, "systems": [], "curve": [], "llm": _llm(item["test"], cfg.prices),
                "slm": None}
            per_unit = results.get(c["id"])
            if item["why"] is None and per_unit:
                d = self._decide(item, per_unit)
                self.decisions[c["id"]] = d
                unit, cal = d["unit"], d["cal"]
                for path, answers in per_unit.items():
                    u = next(x for x in item["units"] if x["path"] == path)
                    for system in systems:
                        self._similarity(answers.get(system, []))
                        row["systems"].append(self._system_row(
                            system, u["model"], answers.get(system, []), len(item["test"])))
                test = d["answers"]["adapter"]
                measure = item["measure"]
                test_ans = [a.answer(measure) for a in test]
                gap = None
                if d["verdict"] != "keep":
                    gap, failed = transfer(cal.outcome, apply_threshold(
                        test_ans, d["threshold"], cfg.level), cfg.transfer_tolerance)
                    if failed:
                        d.update(verdict="keep", threshold=None, reason=failed)
                moved = d["verdict"] != "keep"
                keep_mask = [moved and kept(a, d["threshold"]) for a in test_ans]
                out = apply_threshold(test_ans, d["threshold"], cfg.level) if moved else \
                    Outcome(len(test_ans), 0, 0, sum(a.abstained for a in test_ans), cfg.level)
                tokens = [call_tokens(a.call) for a in test]
                costs = [call_cost(a.call, cfg.prices) for a in test]
                router_row = self._system_row(
                    "router", unit["model"], [a for a, k in zip(test, keep_mask, strict=True)
                                              if k], len(test))
                router_row.update(n=len(test), kept=out.kept, accuracy=_r(out.agreement),
                                  accuracy_ci=_ci(out.ci), skipped=0)
                row["systems"].append(router_row)
                secs = sorted(a.seconds for a in test)
                row.update(
                    verdict=d["verdict"], reason=d["reason"], model=unit["model"],
                    adapter=f"finetune/{unit['path']}",
                    threshold=None if d["threshold"] is None else round(d["threshold"], 6),
                    share_kept=_r(out.share_kept) if moved else 0.0,
                    agreement=_r(out.agreement) if moved else None,
                    agreement_ci=_ci(out.ci) if moved else None,
                    share_tokens_kept=_r(_weighted(tokens, keep_mask)),
                    share_cost_kept=_r(_weighted(costs, keep_mask)),
                    val=cal.outcome.as_dict() | {"mode": cal.mode,
                                                 "threshold": _r(cal.threshold)},
                    curve=curve(test_ans), slm={"latency_s_p50": _dist(secs)["p50"],
                                                "latency_s_mean": _dist(secs)["mean"]},
                    test_outcome=out.as_dict(), judge=self._judge(row["kind"], test),
                    transfer=gap, cv=d["cv"],
                    calibration={"val": calibration_quality(
                        [a.answer(measure) for a in d["answers"]["val:adapter"]], measure),
                        "test": calibration_quality(test_ans, measure)},
                    confidence=measure, constrained=item["constrained"])
                row["baselines"] = self._baselines(c["id"], item, test)
                if row["baselines"]:
                    row["reason"] += "; " + row["baselines"]["summary"]
                row["economics"] = task_economics(
                    cfg=cfg.economics, share_kept=row["share_kept"] or 0.0,
                    llm_cost_per_call=row["llm"]["cost_usd_per_call"],
                    slm_seconds_per_call=_dist(secs)["mean"],
                    train_seconds=_train_seconds(unit),
                    calls_logged=int(c.get("calls") or 0), days_logged=item["span"].days)
            if item["why"] is None:
                row["leaks"] = item.get("leaks")
            clusters.append(row)
        headline = _headline(clusters, cfg.target)
        return {"version": REPORT_VERSION, "workspace": str(self.ctx.workspace),
                "headline": headline,
                "target": {"agreement": cfg.target, "level": cfg.level,
                           "confidence": cfg.confidence, "min_kept": cfg.min_kept},
                "clusters": clusters, "systems": systems,
                "economics": overall([c["economics"] for c in clusters if c.get("economics")])
                | {"serve_hour_usd": cfg.economics.serve_hour_usd,
                   "train_hour_usd": cfg.economics.train_hour_usd},
                "skipped_long_prompts": dict(self.skipped),
                "notes": self.notes, "seconds": round(seconds, 1),
                "report_html": str(self.ctx.stage_dir / REPORT_HTML)}

    def _baselines(self, cid: str, item: dict[str, Any], test: list[Scored]
                   ) -> dict[str, Any] | None:
        """The trivial baselines on the test calls, beside the SLM's accuracy on the same
        measure, and one sentence on how far the SLM beats them."""
        from slmconvert.evaluation.baselines import run_baselines
        from slmconvert.evaluation.calibrate import wilson

        if not self.cfg.baselines:
            return None
        kind = item["kind"]
        results = run_baselines(self._train(cid), item["test"], kind, seed=self.ctx.seed,
                                level=self.cfg.level)
        if not results:
            return None
        measure = "name_accuracy" if kind == "tool_call" else None
        hits = [0.0 if a.abstained else (a.metrics.get(measure, 0.0) if measure
                                         else float(a.correct)) for a in test]
        slm = sum(hits) / len(hits) if hits else None
        best = max(results, key=lambda r: r.accuracy or 0.0)
        rows = [r.as_dict() for r in results]
        margin = None if slm is None or best.accuracy is None else slm - best.accuracy
        lo = wilson(best.correct, best.n, self.cfg.level)
        meets = lo is not None and lo[0] >= self.cfg.target
        what = "tool names" if kind == "tool_call" else "answers"
        summary = (f"SLM {_pct(slm)} right {what} vs best baseline {best.name} "
                   f"{_pct(best.accuracy)} ({'+' if (margin or 0) >= 0 else ''}"
                   f"{100 * (margin or 0):.0f} points)")
        if meets:
            summary += (f"; the {best.name} baseline already meets the {self.cfg.target:.0%} "
                        f"target on test: this task may not need an SLM")
        return {"results": rows, "measure": measure or "accuracy", "slm_accuracy": _r(slm),
                "best": best.name, "margin": _r(margin), "baseline_meets_target": meets,
                "summary": summary}

    def _write(self, plan: list[dict[str, Any]],
               results: dict[str, dict[str, dict[str, list[Scored]]]],
               report: dict[str, Any]) -> None:
        from slmconvert.evaluation.report import render_html, render_markdown

        out = self.ctx.stage_dir
        (out / ANSWERS).mkdir(parents=True, exist_ok=True)
        for cid, per_unit in results.items():
            lines = []
            for path, per in per_unit.items():
                for key, answers in per.items():
                    split, _, system = key.rpartition(":")
                    for a in answers:
                        lines.append(json.dumps({
                            "call_id": a.call.id, "split": split or "test", "system": system,
                            "unit": path, "text": a.text, "kind": a.kind,
                            "correct": a.correct, "value": round(a.value, 4),
                            "error": a.error, "abstained": a.abstained,
                            "confidence": a.confidence, "new_tokens": a.new_tokens,
                            "metrics": a.metrics}, ensure_ascii=False))
            write_text_atomic(out / ANSWERS / f"{cid}.jsonl", "\n".join(lines) + "\n")
        write_json_atomic(out / REPORT_JSON, report)
        write_text_atomic(out / REPORT_MD, render_markdown(report))
        write_text_atomic(out / REPORT_HTML, render_html(report))
        self._write_router(report)

    def _write_router(self, report: dict[str, Any]) -> None:
        import numpy as np

        from slmconvert.clustering.model import ASSIGNER
        from slmconvert.prompting.format import FORMAT
        from slmconvert.prompting.recipe import RECIPE_FILE

        cl_dir = self.ctx.upstream_dir("cluster")
        src = cl_dir / ASSIGNER
        if not src.exists():
            raise InputError(f"{src}: missing; rerun cluster")
        dst = self.ctx.stage_dir / CENTROIDS
        shutil.copy2(src, dst)
        with np.load(dst) as z:
            thresholds = {str(i): round(float(t), 6) for i, t in zip(z["ids"], z["thresholds"],
                                                                     strict=True)}
        feat = self.meta["features"]
        routes = []
        by_id = {c["id"]: c for c in report["clusters"]}
        for c in self.meta["clusters"]:
            row = by_id.get(c["id"])
            d = self.decisions.get(c["id"])
            if row is None or d is None or row["verdict"] == "keep":
                routes.append(Route(cluster=c["id"], route="llm", verdict="keep",
                                    reason=(row or {}).get("reason") or "not evaluated"))
                continue
            unit = d["unit"]
            score: dict[str, Any] = next((s for s in unit.get("scores", [])
                                          if s["cluster"] == c["id"]), {})
            routes.append(Route(
                cluster=c["id"], route="slm", verdict=row["verdict"], reason=row["reason"],
                model=BaseModelRef(name=unit["base"]["name"], source=unit["base"]["source"]),
                adapter=f"finetune/{unit['path']}/adapter",
                recipe=f"finetune/{unit['path']}/{RECIPE_FILE}", answer_kind=row["kind"],
                confidence=row.get("confidence") or self.cfg.confidence,
                constrained=bool(row.get("constrained")), labels=d.get("labels"),
                threshold=d["threshold"], dtype=self.dtype,
                max_new_tokens=self.cfg.max_new_tokens or score.get("max_new_tokens")))
        router = Router(
            format=FORMAT, routes=routes,
            assignment=Assignment(
                embedding_model=feat["embedding_model"], embedding_dim=feat["embedding_dim"],
                max_tokens=feat.get("max_tokens"), max_chars=feat["max_chars"],
                weights=feat["weights"], centroids=CENTROIDS,
                centroids_sha256=sha256_file(dst), thresholds=thresholds))
        save_router(self.ctx.stage_dir / ROUTER, router)


# ------------------------------------------------------------------ helpers ----

def _answer_kind(calls: list[CallRecord]) -> str | None:
    """The most common kind of the LLM's answers (as the metrics see them: tool_call,
    json, label or text): what the verifier expects of the task."""
    from collections import Counter

    from slmconvert.evaluation.metrics import response_kind

    kinds = Counter(response_kind(c.response) for c in calls if c.response is not None)
    return kinds.most_common(1)[0][0] if kinds else None


def _request_text(rec: CallRecord) -> str:
    """What the judge reads as the request: the call's messages, newest last."""
    return "\n\n".join(f"{m.role}: {m.content}" for m in rec.messages if m.content)[-8000:]


def _kind_metrics(rec: CallRecord, parsed: Any, s: Any) -> dict[str, float]:
    """Per-answer metrics of its kind (docs/evaluate.md)."""
    from slmconvert.evaluation.metrics import match_json, match_tool_calls, parse_json_text

    ref = rec.response
    assert ref is not None
    msg = parsed.message
    if s.kind == "tool_call":
        tc = match_tool_calls(msg.tool_calls if msg is not None and msg.tool_calls else None,
                              ref.tool_calls, rec.tools, parsed.reason)
        return {"name_accuracy": float(tc.name_ok), "full_accuracy": float(tc.full_ok)}
    if s.kind == "json":
        ok, value = parse_json_text(msg.content if msg is not None and msg.content else "")
        _, ref_value = parse_json_text(ref.content)
        js = match_json(value if ok else None, ref_value)
        return {"parse_rate": float(ok), "key_match": float(js.keys_ok),
                "field_accuracy": js.field_accuracy}
    if s.kind == "label":
        return {"exact_match": float(s.correct)}
    from slmconvert.evaluation.metrics import rouge_l

    text = msg.content if msg is not None and msg.content else ""
    return {"rouge_l": round(rouge_l(text, ref.content or ""), 4)}


def _conversation(rec: CallRecord) -> str:
    return rec.conversation_id or f"call:{rec.id}"


def _train_seconds(unit: dict[str, Any]) -> float | None:
    timing = unit.get("timing") or {}
    if "train_s" not in timing:
        return None
    return float(timing.get("data_s") or 0) + float(timing["train_s"])


def _dist(xs: Sequence[float]) -> dict[str, float | None]:
    if not xs:
        return {"mean": None, "p50": None, "p95": None}
    s = sorted(xs)
    return {"mean": round(statistics.fmean(s), 4), "p50": round(s[len(s) // 2], 4),
            "p95": round(s[min(len(s) - 1, int(0.95 * len(s)))], 4)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _ci(ci: tuple[float, float] | None) -> list[float] | None:
    return [round(ci[0], 4), round(ci[1], 4)] if ci else None


def _weighted(weights: Sequence[float | None], mask: Sequence[bool]) -> float | None:
    if not weights or any(w is None for w in weights):
        return None
    total = sum(w for w in weights if w is not None)
    return sum(w for w, k in zip(weights, mask, strict=True) if k and w is not None) / total \
        if total else None


def _llm(test: list[CallRecord], prices: dict[str, Price]) -> dict[str, Any]:
    lat = sorted(r.latency_ms for r in test if r.latency_ms is not None)
    costs = [call_cost(r, prices) for r in test]
    known = [c for c in costs if c is not None]
    return {"latency_ms_p50": lat[len(lat) // 2] if lat else None,
            "latency_ms_mean": round(statistics.fmean(lat), 1) if lat else None,
            "cost_usd_per_call": round(statistics.fmean(known), 6) if known else None,
            "cost_known": len(known), "calls": len(test)}


def _headline(clusters: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Shares of all clustered calls, tokens and cost the router moves to SLMs (each
    cluster's share times the share of its test calls kept), and the agreement of the
    moved calls: their weighted mean, with the weighted clusters' Wilson bounds."""
    moved = [c for c in clusters if c["verdict"] != "keep" and c.get("share_kept")]
    share_calls = sum((c.get("share_calls") or 0) * c["share_kept"] for c in moved)
    share_tokens = sum((c.get("share_tokens") or 0) * (c.get("share_tokens_kept") or 0)
                       for c in moved)
    costs_known = all(c.get("share_cost") is not None for c in clusters) and \
        all(c.get("share_cost_kept") is not None for c in moved)
    share_cost = sum(c["share_cost"] * c["share_cost_kept"] for c in moved) \
        if costs_known else None
    weights = [(c.get("share_calls") or 0) * c["share_kept"] for c in moved]
    total = sum(weights)
    agreement = ci = None
    if total > 0:
        agreement = sum(w * c["agreement"] for w, c in zip(weights, moved, strict=True)) / total
        ci = [round(sum(w * c["agreement_ci"][i] for w, c in zip(weights, moved, strict=True))
                    / total, 4) for i in (0, 1)]
    cost_txt = "n/a" if share_cost is None else f"{100 * share_cost:.0f}%"
    if agreement is None:
        text = (f"0% of calls (0% of tokens, {cost_txt if share_cost is None else '0%'} of "
                f"LLM cost) can move to SLMs at the {100 * target:.0f}% agreement target: "
                f"no task met it on held-out calls")
    else:
        text = (f"{100 * share_calls:.0f}% of calls ({100 * share_tokens:.0f}% of tokens, "
                f"{cost_txt} of LLM cost) can move to SLMs at {100 * agreement:.0f}% "
                f"agreement with the LLM")
    return {"text": text, "share_calls_slm": round(share_calls, 4),
            "share_tokens_slm": round(share_tokens, 4),
            "share_cost_slm": None if share_cost is None else round(share_cost, 4),
            "agreement": _r(agreement), "agreement_ci": ci,
            "clusters_moved": [c["id"] for c in moved]}
