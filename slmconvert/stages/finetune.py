"""S5 finetune: LoRA distillation of the LLM's recorded answers into the chosen SLMs.

For every training group (by default one per evaluable SLM-candidate cluster; config
``groups`` can put clusters that share one instruction frame and tool set together) and
every model select chose for it, a prompt recipe is learned from the group's train
split (:mod:`slmconvert.prompting.recipe`), the calls become tokenized examples in the
one prompt format with the loss on the answer alone (:mod:`slmconvert.training.data`),
and :func:`slmconvert.training.lora.train` fine-tunes the base model with early
stopping on the validation split, checkpoints and a step/time budget. The adapter is
then scored on the same seeded validation calls that select probed the base model on,
so "beats the zero-shot base" is measured on identical calls.

Each (group, model) unit has a key over its data, recipe settings, hyper-parameters,
base model and seed. Its checkpoints live under ``checkpoints/<unit>-<key>/`` (kept
across reruns): a rerun after a kill resumes from the newest checkpoint, and a unit
whose key finished before is reused without training.

Outputs per unit, ``<group>/<model>/``: ``adapter/`` (PEFT), ``prompt_recipe.json``,
``train_log.jsonl``, ``model_card.md``, ``result.json``; and ``finetune.json`` for all.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmconvert.core.fsio import atomic_dir, write_json_atomic, write_text_atomic
from slmconvert.core.hashing import sha256_dir, sha256_file, sha256_json
from slmconvert.core.models import ModelEntry, catalog_with
from slmconvert.core.parquet import iter_records
from slmconvert.core.records import CallRecord
from slmconvert.errors import ConfigError, InputError, did_you_mean
from slmconvert.pipeline.stage import Report, Stage, StageConfig, StageContext, StageResult, Table
from slmconvert.prompting.format import FORMAT
from slmconvert.prompting.recipe import RECIPE_FILE, PromptRecipe
from slmconvert.training.data import IGNORE, ExampleStats, examples

SUMMARY = "finetune.json"
CHECKPOINTS = "checkpoints"
MAX_NEW_TOKENS_CAP = 384
LENGTH_SAMPLE = 512  # calls used to size max_length when it is "auto"


class RecipeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prune: bool = Field(True, description=(
        "Replace instruction lines and tool schemas common to the group's calls by a "
        "short task tag."))
    min_share: float = Field(1.0, gt=0, le=1, description=(
        "Share of the group's train calls a line or schema must appear in to be pruned."))
    budget_tokens: int | None = Field(1024, ge=64, description=(
        "History is trimmed to this many prompt tokens (null: no trimming)."))
    tool_result_tokens: int = Field(256, ge=16, description=(
        "Tool results in the middle of a conversation are cut to about this many tokens "
        "when the prompt is over budget."))
    keep_last: int = Field(2, ge=1, description="Most recent turns never dropped.")


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["lora", "qlora", "full"] = Field("lora", description=(
        "lora (CPU or GPU), qlora (4-bit base, CUDA GPU only), full (all weights)."))
    rank: int = Field(8, ge=1, description="LoRA rank r.")
    alpha: int = Field(16, ge=1, description="LoRA alpha.")
    dropout: float = Field(0.0, ge=0, lt=1, description=(
        "LoRA dropout (0: peft then skips a copy of every adapted layer's input, ~40% "
        "faster on CPU; early stopping guards against overfitting)."))
    target_modules: str | list[str] = Field("all-linear", description=(
        "Modules given adapters (peft names; all-linear: every linear layer but the head)."))


class FinetuneConfig(StageConfig):
    models: list[str] | None = Field(None, description=(
        "Models to fine-tune for every group; default: the candidates select chose."))
    catalog: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "Models to add to the catalog or fields to override (as select's `models`; "
        "select's own additions are read from its manifest)."))
    top: int | None = Field(None, ge=1, description=(
        "Of the chosen candidates, only the first N by select's rank (default: all)."))
    always: list[str] = Field(default_factory=list, description=(
        "Models also fine-tuned on every group, chosen or not (e.g. the smallest one)."))
    groups: Literal["cluster", "tools"] | list[list[str]] = Field("cluster", description=(
        "cluster: one adapter per cluster; tools: clusters that offer the same tool set "
        "share one; or explicit lists of cluster ids that share one."))
    clusters: list[str] | None = Field(None, description="Only these clusters.")
    recipe: RecipeConfig = Field(default_factory=RecipeConfig, description="Prompt recipe.")
    lora: LoraConfig = Field(default_factory=LoraConfig, description="Adapter settings.")
    max_length: int | Literal["auto"] = Field("auto", description=(
        "Longest training sequence in tokens; auto: the p95 after the recipe, rounded up "
        "to 64, at most max_length_cap."))
    max_length_cap: int = Field(2048, ge=64, description="Upper bound for auto max_length.")
    learning_rate: float = Field(2e-3, gt=0, description="Peak learning rate (cosine decay).")
    epochs: float = Field(2.0, gt=0, description="Passes over the train split.")
    max_steps: int | None = Field(None, ge=1, description="Step budget (overrides epochs).")
    time_budget_s: float | None = Field(None, gt=0, description=(
        "Wall-clock budget per adapter; training stops and saves when it is spent."))
    min_steps: int = Field(1, ge=1, description=(
        "Steps an adapter trains before the time budget may stop it (a slow or busy "
        "machine still gets adapters that learned something)."))
    batch_size: int = Field(4, ge=1, description="Sequences per step.")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    max_batch_tokens: int | None = Field(1024, ge=64, description=(
        "Padded tokens per micro-batch: a step's batch_size sequences are split into "
        "micro-batches with gradient accumulation (same effective batch), so memory is "
        "bounded by this, not by batch_size x max_length; null: no splitting."))
    gradient_checkpointing: bool | None = Field(None, description=(
        "Recompute activations in the backward pass (less memory, about one more forward "
        "per step); default: on when the longest sequence alone exceeds max_batch_tokens."))
    eval_steps: int = Field(10, ge=1, description=(
        "Validation loss every N steps; checkpoints at the same steps."))
    patience: int = Field(3, ge=1, description="Early stopping: evaluations without gain.")
    val_calls: int = Field(32, ge=0, description="Validation calls in the validation loss.")
    score_calls: int | None = Field(None, ge=0, description=(
        "Validation calls the adapter answers after training, scored like select's probe; "
        "default: select's probe sample (the same calls), 0: skip."))
    max_new_tokens: int | None = Field(None, ge=1, description=(
        "Longest answer when scoring; default: the p95 of the group's training answers "
        "+ 16 tokens, at most 384."))
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's).")
    warm_start: dict[str, str] = Field(default_factory=dict, description=(
        "Group id -> a trained adapter directory to continue from instead of a fresh "
        "adapter (iterate retrains this way); its content is part of the adapter's key."))


class FinetuneStage(Stage):
    name = "finetune"
    version = "1"
    Config = FinetuneConfig
    upstream = ("cluster", "select")
    preserve = (CHECKPOINTS,)
    description = ("S5: LoRA-distil the LLM's recorded answers into each chosen SLM per "
                   "task (prompt recipe, answer-only loss, early stopping, resumable).")

    def run(self, ctx: StageContext, cfg: FinetuneConfig) -> StageResult:
        return Finetuner(ctx, cfg).run()

    def report(self, counts: dict[str, Any], summary: dict[str, Any]) -> Report:
        rows = []
        for u in summary.get("units", []):
            d, r = u["data"], u["result"]
            before, after = d["tokens_before"]["mean"], d["tokens_after"]["mean"]
            nll = "; ".join(f"{s['cluster']}: {_fmt(s.get('base_nll'))} -> "
                            f"{_fmt(s.get('adapter_nll'))}" for s in u.get("scores", []))
            scores = "; ".join(
                f"{s['cluster']}: {_fmt(s['base_zero_shot'])} -> {_fmt(s['adapter'])} "
                f"n={s['n']}" for s in u.get("scores", []) if s["n"])
            rows.append([u["group"], u["model"], d["used"], f"{before:.0f} -> {after:.0f}",
                         f"{r['steps']} ({r['stopped_by']})",
                         _fmt(r.get("first_eval_loss")) + " -> " + _fmt(r.get("best_eval_loss")),
                         f"{r['tokens_per_s']:.0f}", f"{r['seconds']:.0f}",
                         "reused" if u.get("reused") else
                         (f"resumed at {r['resumed_from']}" if r["resumed_from"] else ""),
                         nll or "-", scores or "-"])
        out = Report(tables=[Table(
            "Fine-tuned adapters (val answer NLL and val score: base zero-shot -> adapter, "
            "same calls)",
            ["group", "model", "examples", "tokens/example", "steps", "val loss",
             "tok/s", "s", "run", "val NLL", "val score"], rows)])
        for note in summary.get("notes", []):
            out.notes.append(note)
        return out


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


# ------------------------------------------------------------------- planning ----

def _split_path(ctx: StageContext, cluster_id: str, side: str) -> Path:
    return ctx.upstream_dir("cluster") / "splits" / cluster_id / f"{side}.parquet"


def _records(path: Path) -> Iterator[CallRecord]:
    return iter_records(path) if path.exists() else iter(())


def _tool_set(ctx: StageContext, cluster_id: str) -> tuple[str, ...]:
    from collections import Counter

    from slmconvert.prompting.format import tool_names

    seen: Counter[tuple[str, ...]] = Counter()
    for i, rec in enumerate(_records(_split_path(ctx, cluster_id, "train"))):
        if i >= 200:
            break
        seen[tuple(sorted(tool_names(rec.tools)))] += 1
    return seen.most_common(1)[0][0] if seen else ()


def plan_groups(ctx: StageContext, cfg: FinetuneConfig,
                clusters: list[dict[str, Any]]) -> list[list[str]]:
    """Cluster ids per training group, in cluster order."""
    ids = [c["id"] for c in clusters]
    if isinstance(cfg.groups, list):
        listed = [i for g in cfg.groups for i in g]
        unknown = [i for i in listed if i not in ids]
        if unknown:
            raise ConfigError(f"stages.finetune.groups: {', '.join(unknown)} not a trainable "
                              f"cluster (trainable: {', '.join(ids) or 'none'})")
        twice = {i for i in listed if listed.count(i) > 1}
        if twice:
            raise ConfigError(f"stages.finetune.groups: {', '.join(sorted(twice))} in two groups")
        return [list(g) for g in cfg.groups if g] + [[i] for i in ids if i not in listed]
    if cfg.groups == "tools":
        by_tools: dict[tuple[str, ...], list[str]] = {}
        out: list[list[str]] = []
        for i in ids:
            tools = _tool_set(ctx, i)
            if not tools:
                out.append([i])
            elif tools in by_tools:
                by_tools[tools].append(i)
            else:
                by_tools[tools] = [i]
                out.append(by_tools[tools])
        return out
    return [[i] for i in ids]


def group_id(clusters: list[str]) -> str:
    return "+".join(clusters)


class Finetuner:
    def __init__(self, ctx: StageContext, cfg: FinetuneConfig) -> None:
        self.ctx, self.cfg = ctx, cfg
        from slmconvert.stages.select import load_selection

        self.selection = load_selection(ctx.workspace)
        select_manifest = ctx.upstream_dir("select") / "manifest.json"
        overrides: dict[str, dict[str, Any]] = {}
        if select_manifest.exists():
            overrides = json.loads(select_manifest.read_text())["params"].get("models") or {}
        self.catalog = catalog_with({**overrides, **cfg.catalog})
        self.notes: list[str] = []

    def _models_for(self, cluster_ids: list[str]) -> list[str]:
        cfg = self.cfg
        by_id = {c["id"]: c for c in self.selection["clusters"]}
        names: list[str] = []
        if cfg.models is not None:
            names = list(cfg.models)
        else:
            for cid in cluster_ids:
                chosen = by_id[cid]["chosen"]
                names.extend(chosen[:cfg.top] if cfg.top else chosen)
        names.extend(cfg.always)
        for n in names:
            if n not in self.catalog:
                raise ConfigError(f"stages.finetune: unknown model '{n}'"
                                  f"{did_you_mean(n, list(self.catalog))}")
        return list(dict.fromkeys(names))

    def _trainable(self) -> list[dict[str, Any]]:
        sel = [c for c in self.selection["clusters"] if c["chosen"] or self.cfg.models
               or self.cfg.always]
        if self.cfg.clusters is not None:
            unknown = [c for c in self.cfg.clusters if c not in {s["id"] for s in sel}]
            if unknown:
                raise ConfigError(f"--cluster {', '.join(unknown)}: not a cluster select "
                                  f"chose models for")
            sel = [c for c in sel if c["id"] in self.cfg.clusters]
        return sel

    def run(self) -> StageResult:
        clusters = self._trainable()
        groups = plan_groups(self.ctx, self.cfg, clusters)
        units = [(g, m) for g in groups for m in self._models_for(g)]
        if not units:
            self.notes.append("nothing to fine-tune: select chose no model for any cluster")
        results = []
        for i, (g, model) in enumerate(units, 1):
            self.ctx.reporter.info(f"finetune [{i}/{len(units)}]: {group_id(g)} on {model}")
            results.append(self._unit(g, self.catalog[model]))
        self._prune_checkpoints({r["key_dir"] for r in results})
        summary = {"format": FORMAT, "groups": [group_id(g) for g in groups],
                   "units": results, "notes": self.notes,
                   "settings": self.cfg.model_dump(mode="json")}
        write_json_atomic(self.ctx.stage_dir / SUMMARY, summary)
        counts = {"groups": len(groups), "adapters": len(results),
                  "trained": sum(not r["reused"] for r in results),
                  "reused": sum(bool(r["reused"]) for r in results),
                  "examples": sum(r["data"]["used"] for r in results),
                  "steps": sum(r["result"]["steps"] for r in results)}
        return StageResult(counts=counts, summary=summary)

    # ------------------------------------------------------------------ a unit ----

    def _unit_key(self, clusters: list[str], entry: ModelEntry) -> str:
        files = {}
        for cid in clusters:
            for side in ("train", "val"):
                p = _split_path(self.ctx, cid, side)
                files[f"{cid}/{side}"] = sha256_file(p) if p.exists() else None
        settings = self.cfg.model_dump(mode="json")
        for k in ("models", "catalog", "top", "always", "groups", "clusters", "threads",
                  "warm_start"):
            settings.pop(k)
        start = self.cfg.warm_start.get(group_id(clusters))
        if start is not None:
            settings["warm_start"] = sha256_dir(Path(start))
        # the adapter is scored on select's probe calls, beside the base model's score
        return sha256_json({"format": FORMAT, "model": entry.model_dump(mode="json"),
                            "data": files, "settings": settings, "seed": self.ctx.seed,
                            "probe": self.selection.get("probe"),
                            "stage": FinetuneStage.version})

    def _unit(self, clusters: list[str], entry: ModelEntry) -> dict[str, Any]:
        gid = group_id(clusters)
        key = self._unit_key(clusters, entry)
        key_dir = f"{gid}__{entry.name}-{key[:12]}".replace("/", "_")
        work = self.ctx.stage_dir / CHECKPOINTS / key_dir
        out_dir = self.ctx.stage_dir / gid / entry.name.replace("/", "_")
        done = work / "final"
        reused = (done / "result.json").exists()
        if not reused:
            self._train_unit(clusters, entry, work, done, gid)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(done, out_dir)
        result = json.loads((done / "result.json").read_text(encoding="utf-8"))
        return {**result, "reused": reused, "key": key, "key_dir": key_dir,
                "path": str(out_dir.relative_to(self.ctx.stage_dir))}

    def _train_unit(self, clusters: list[str], entry: ModelEntry, work: Path, done: Path,
                    gid: str) -> None:
        import datasets
        from transformers import AutoTokenizer

        from slmconvert.core.models import prepare
        from slmconvert.prompting.recipe import learn
        from slmconvert.training.lora import TrainPlan, train

        cfg, rep = self.cfg, self.ctx.reporter
        t0 = time.perf_counter()
        datasets.disable_progress_bars()
        prepared = prepare(entry.name, rep, entry=entry)
        tokenizer = AutoTokenizer.from_pretrained(prepared.path)
        work.mkdir(parents=True, exist_ok=True)

        def train_calls() -> Iterator[CallRecord]:
            for cid in clusters:
                yield from _records(_split_path(self.ctx, cid, "train"))

        rc = cfg.recipe
        recipe = learn(((r.messages, r.tools) for r in train_calls()),
                       task_tag=f"slmconvert {gid}", min_share=rc.min_share,
                       budget_tokens=rc.budget_tokens, tool_result_tokens=rc.tool_result_tokens,
                       keep_last=rc.keep_last) if rc.prune else PromptRecipe(
            budget_tokens=rc.budget_tokens, tool_result_tokens=rc.tool_result_tokens,
            keep_last=rc.keep_last)
        max_length = self._max_length(train_calls(), recipe, tokenizer)
        stats = ExampleStats()
        data_dir = work / "data"
        if data_dir.exists():
            shutil.rmtree(data_dir)

        def gen() -> Iterator[dict[str, Any]]:
            for ex in examples(train_calls(), recipe, tokenizer, max_length, stats):
                yield {**ex, "length": len(ex["input_ids"])}

        with rep.task(f"finetune: tokenizing {gid}", total=None):
            train_ds = datasets.Dataset.from_generator(
                gen, cache_dir=str(work / "hf-cache"), keep_in_memory=False)
            train_ds.save_to_disk(str(data_dir / "train"))
            val_recs = list(islice(self._val_calls(clusters), cfg.val_calls))
            vstats = ExampleStats()
            val_rows = [{**e, "length": len(e["input_ids"])}
                        for e in examples(val_recs, recipe, tokenizer, max_length, vstats,
                                          measure_raw=False)]
            val_path = None
            if val_rows:
                datasets.Dataset.from_list(val_rows).save_to_disk(str(data_dir / "val"))
                val_path = str(data_dir / "val")
        if stats.used == 0:
            raise InputError(f"finetune {gid}: no trainable calls ({stats.as_dict()['dropped']})")
        lc = cfg.lora
        plan = TrainPlan(
            base=str(prepared.path), train_data=str(data_dir / "train"), val_data=val_path,
            checkpoints=str(work / "steps"), adapter=str(work / "adapter-tmp"),
            log=str(work / "train_log.jsonl"), method=lc.method, rank=lc.rank,
            alpha=lc.alpha, dropout=lc.dropout, target_modules=lc.target_modules,
            learning_rate=cfg.learning_rate, epochs=cfg.epochs, max_steps=cfg.max_steps,
            batch_size=cfg.batch_size, grad_accum=cfg.grad_accum,
            max_batch_tokens=cfg.max_batch_tokens,
            gradient_checkpointing=cfg.gradient_checkpointing, eval_steps=cfg.eval_steps,
            save_steps=cfg.eval_steps, patience=cfg.patience, time_budget_s=cfg.time_budget_s,
            min_steps=cfg.min_steps,
            seed=self.ctx.seed, threads=cfg.threads, init_adapter=cfg.warm_start.get(gid))
        write_text_atomic(work / "plan.json", plan.to_json())
        with rep.task(f"finetune: {gid} on {entry.name}", total=None) as task:
            last: dict[str, int | None] = {"step": None}

            def on_step(step: int, total: int) -> None:
                if last["step"] is None:
                    task.set_total(total)
                    task.advance(step)
                else:
                    task.advance(step - (last["step"] or 0))
                last["step"] = step

            t_train = time.perf_counter()
            result = train(plan, on_step=on_step)
            t_score = time.perf_counter()
        with rep.task(f"finetune: scoring {gid} on {entry.name}", total=None):
            answers = sorted(sum(1 for x in labels if x != IGNORE) for labels in train_ds["labels"])
            scores = self._score(clusters, entry, Path(plan.adapter), prepared.path, recipe,
                                 answers[min(len(answers) - 1, int(0.95 * len(answers)))])
        timing = {"data_s": round(t_train - t0, 1), "train_s": round(t_score - t_train, 1),
                  "score_s": round(time.perf_counter() - t_score, 1)}
        data = stats.as_dict() | {"max_length": max_length, "val_examples": len(val_rows)}
        unit = {"group": gid, "clusters": clusters, "model": entry.name,
                "base": {"name": entry.name, "source": entry.source,
                         "licence": entry.licence, "params_m": entry.params_m,
                         "gguf_sha256": prepared.gguf_sha256},
                "data": data, "data_sha256": self._data_digest(clusters),
                "result": result.as_dict(), "scores": scores, "timing": timing,
                "hyperparameters": {k: v for k, v in json.loads(plan.to_json()).items()
                                    if k not in ("base", "train_data", "val_data",
                                                 "checkpoints", "adapter", "log")},
                "recipe": {"pruned_lines": len(recipe.static_lines),
                           "pruned_tools": len(recipe.static_tools),
                           "task_tag": recipe.task_tag,
                           "budget_tokens": recipe.budget_tokens}}
        with atomic_dir(done) as tmp:
            shutil.copytree(plan.adapter, tmp / "adapter")
            recipe.save(tmp / RECIPE_FILE)
            shutil.copy2(plan.log, tmp / "train_log.jsonl")
            write_json_atomic(tmp / "result.json", unit)
            write_text_atomic(tmp / "model_card.md", model_card(unit))
        shutil.rmtree(work / "hf-cache", ignore_errors=True)

    def _data_digest(self, clusters: list[str]) -> str:
        return sha256_json({f"{c}/{s}": sha256_file(p) for c in clusters
                            for s in ("train", "val")
                            if (p := _split_path(self.ctx, c, s)).exists()})

    def _val_calls(self, clusters: list[str]) -> Iterator[CallRecord]:
        for cid in clusters:
            yield from _records(_split_path(self.ctx, cid, "val"))

    def _max_length(self, calls: Iterator[CallRecord], recipe: PromptRecipe,
                    tokenizer: Any) -> int:
        cfg = self.cfg
        if cfg.max_length != "auto":
            return cfg.max_length

        sample = _reservoir(calls, LENGTH_SAMPLE, random.Random(f"{self.ctx.seed}:length"))
        stats = ExampleStats()
        lengths = sorted(len(e["input_ids"]) for e in examples(
            sample, recipe, tokenizer, cfg.max_length_cap, stats, measure_raw=False))
        if not lengths:
            return cfg.max_length_cap
        p95 = lengths[min(len(lengths) - 1, int(0.95 * len(lengths)))]
        return min(cfg.max_length_cap, -(-p95 // 64) * 64)

    def _score(self, clusters: list[str], entry: ModelEntry, adapter: Path, base: Path,
               recipe: PromptRecipe, answer_p95: int) -> list[dict[str, Any]]:
        """Per cluster: the answer likelihood of the base model (raw prompt, as zero-shot
        sees it) and of the adapter (the recipe's prompt) on the first ``val_calls`` val
        calls; and the adapter's answers on select's probe calls, scored, beside the base
        model's zero-shot probe score on the same calls."""
        from slmconvert.evaluation.answer import answer_nll, load_adapter, score_calls
        from slmconvert.stages.select import probe_calls

        probe = self.selection.get("probe", {})
        k = self.cfg.score_calls if self.cfg.score_calls is not None else probe.get("samples", 8)
        by_id = {c["id"]: c for c in self.selection["clusters"]}
        max_new = self.cfg.max_new_tokens or min(MAX_NEW_TOKENS_CAP, answer_p95 + 16)
        model, tokenizer = load_adapter(base, adapter)
        out = []
        for cid in clusters:
            val = list(_records(_split_path(self.ctx, cid, "val")))
            nll_calls = val[:self.cfg.val_calls]
            with model.disable_adapter():
                base_nll = answer_nll(model, tokenizer, nll_calls, None,
                                      max_prompt_tokens=probe.get("max_prompt_tokens", 4096))
            tuned_nll = answer_nll(model, tokenizer, nll_calls, recipe)
            row: dict[str, Any] = {"cluster": cid, "nll_calls": base_nll["n"],
                                   "base_nll": base_nll["nll"], "adapter_nll": tuned_nll["nll"],
                                   "n": 0, "adapter": None, "adapter_ci": None, "errors": {},
                                   "base_zero_shot": None, "max_new_tokens": max_new,
                                   "base_max_new_tokens": probe.get("max_new_tokens")}
            if k:
                calls = probe_calls(val, self.ctx.seed, cid, k)
                s = score_calls(model, tokenizer, calls, recipe, max_new_tokens=max_new,
                                batch_size=probe.get("batch_size", 4))
                base_row = next((c for c in by_id.get(cid, {}).get("candidates", [])
                                 if c["model"] == entry.name), None)
                zero = next((p for p in (base_row or {}).get("probes", [])
                             if p["shots"] == 0), None)
                row.update(n=s["n"], adapter=s["mean"], adapter_ci=s["ci95"],
                           errors=s["errors"],
                           base_zero_shot=zero["mean"] if zero and zero["n"] == s["n"] else None)
            out.append(row)
        return out

    def _prune_checkpoints(self, keep: set[str]) -> None:
        root = self.ctx.stage_dir / CHECKPOINTS
        if self.cfg.clusters is not None or not root.exists():
            return  # a partial run keeps the other groups' work
        for p in root.iterdir():
            if p.is_dir() and p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)


def _reservoir(it: Iterator[CallRecord], k: int, rng: random.Random) -> list[CallRecord]:
    out: list[CallRecord] = []
    for i, x in enumerate(it):
        if i < k:
            out.append(x)
        else:
            j = rng.randint(0, i)
            if j < k:
                out[j] = x
    return out


def model_card(unit: dict[str, Any]) -> str:
    """The adapter's model card: what it is, what it was trained on, how to serve it."""
    b, d, r, h = unit["base"], unit["data"], unit["result"], unit["hyperparameters"]
    scores = "\n".join(
        f"| {s['cluster']} | {s.get('nll_calls', 0)} | {_fmt(s.get('base_nll'))} | "
        f"{_fmt(s.get('adapter_nll'))} | {s['n']} | {_fmt(s['base_zero_shot'])} | "
        f"{_fmt(s['adapter'])} [{_fmt(s['adapter_ci'][0] if s['adapter_ci'] else None)}, "
        f"{_fmt(s['adapter_ci'][1] if s['adapter_ci'] else None)}] |"
        for s in unit["scores"]) or "| - | 0 | - | - | 0 | - | - |"
    name = unit["model"]
    return f"""# slmconvert adapter: {unit['group']} on {name}

LoRA adapter distilled from an LLM's recorded answers by `slmconvert finetune`.

- **Base model:** {name} (`{b['source']}`), {b['params_m']}M parameters, licence
  {b['licence']}. The adapter is subject to the base model's licence.
- **Task:** cluster(s) {', '.join(unit['clusters'])}; prompt format `{FORMAT}`; the
  prompt recipe in `prompt_recipe.json` must be applied to every request (slmconvert
  evaluate and serve do).
- **Data:** {d['used']} training calls of {d['offered']} offered (dropped:
  {json.dumps(d['dropped'])}); split files sha256 `{unit['data_sha256'][:16]}…`.
  Tokens per example {d['tokens_before']['mean']:.0f} before the recipe,
  {d['tokens_after']['mean']:.0f} after (p95 {d['tokens_after']['p95']}), max length
  {d['max_length']}.
- **Training:** {h['method']} r={h['rank']} alpha={h['alpha']} dropout={h['dropout']}
  targets {h['target_modules']}; lr {h['learning_rate']} cosine, batch {h['batch_size']}
  x {h['grad_accum']}; {r['steps']} steps ({r['stopped_by']}), {r['seconds']:.0f} s,
  {r['tokens_per_s']:.0f} tokens/s; seed {h['seed']}.
- **Validation loss:** {_fmt(r['first_eval_loss'])} at the first evaluation, best
  {_fmt(r['best_eval_loss'])}.

## Validation

Answer NLL: mean negative log-likelihood per token of the LLM's recorded answers, base
model on the raw prompt (as zero-shot) against the adapter on the recipe's prompt; lower
is closer to the LLM. Score: answers generated on select's probe calls and scored like
select's zero-shot probe on the same calls.

| cluster | NLL calls | base NLL | adapter NLL | scored calls | base zero-shot | adapter [95% CI] |
|---|---|---|---|---|---|---|
{scores}

## Serving it

transformers + peft:

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
base = AutoModelForCausalLM.from_pretrained("BASE_DIR")  # slmconvert models prepare {name}
model = PeftModel.from_pretrained(base, "adapter")
```

vLLM: `vllm serve BASE_DIR --enable-lora --lora-modules {unit['group']}=./adapter`.
Ollama: `slmconvert export` writes a GGUF and a Modelfile (`FROM` the base, `ADAPTER` the
adapter). In every case render requests with slmconvert's prompt format and recipe.
"""
