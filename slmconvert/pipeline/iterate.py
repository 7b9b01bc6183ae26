"""`slmconvert iterate` (S6): take in new logs, measure drift per cluster, retrain what
needs it (warm-started, promoted only if not worse), turn a grown pool of unassigned
calls into new clusters, and regenerate the router from the registry.

Everything it writes is under ``WS/iterate/`` plus ``WS/registry.json``; the pipeline's
stage directories are never touched, so ``slmconvert run`` keeps treating them as up to
date. Each step writes its result atomically and is skipped when it is already there, so
a killed run resumes where it stopped; a batch of logs that was taken in once is recorded
in the registry, and giving it again changes nothing.

    WS/iterate/batches/<batch>/{collect,curate}/   the new logs, through the workspace's
                                                   own collect and curate settings
    WS/iterate/batches/<batch>/assign.parquet      cluster and split of every new call
    WS/iterate/batches/<batch>/decisions.json      drift and the decision per cluster
    WS/iterate/rounds/<cluster>-<key>/             a retraining: merged splits, the new
                                                   adapter, both adapters evaluated
    WS/iterate/new/<pool>/                         unassigned calls clustered, selected,
                                                   fine-tuned and evaluated as new tasks
    WS/iterate/adapters/<cluster>/v<N>/            every registered adapter version
    WS/iterate/router.json                         the router for what the registry serves
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slmconvert.core.fsio import write_json_atomic
from slmconvert.core.hashing import sha256_file, sha256_json
from slmconvert.core.parquet import RecordWriter, iter_records
from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.core.records import CallRecord
from slmconvert.errors import ConfigError, InputError
from slmconvert.evaluation import registry as rg
from slmconvert.pipeline import manifest as mf
from slmconvert.pipeline.stage import Report, StageContext, Table

# Exit codes of `slmconvert iterate` (docs/iterate.md, docs/errors.md)
EXIT_NOTHING = 0      # nothing to do: no cluster retrained, no new cluster, nothing to check
EXIT_CHANGED = 10     # retrained and promoted, or new clusters: the router changed
EXIT_ATTENTION = 11   # needs attention: a retrained adapter was worse, quality dropped on
                      # a task without an adapter, or many calls fit no cluster

SIDES = ("train", "val", "test")


class IterateConfig(BaseModel):
    """Thresholds of `slmconvert iterate` (YAML file given with --config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_new_calls: int = Field(50, ge=1, description=(
        "Retrain a cluster once this many new calls with a recorded answer arrived since "
        "its adapter was trained."))
    min_drift_calls: int = Field(10, ge=1, description=(
        "Drift and quality are judged only on at least this many new calls of a cluster."))
    max_centroid_shift: float = Field(0.5, gt=0, description=(
        "Retrain when the new calls' mean request vector moved this far from the cluster "
        "centroid, in units of the cluster's assignment radius."))
    max_kind_change: float = Field(0.2, gt=0, le=1, description=(
        "Retrain when the share of response kinds (tool call, JSON, text, ...) changed by "
        "this much (total variation distance)."))
    max_quality_drop: float = Field(0.1, gt=0, le=1, description=(
        "Retrain when the current adapter's agreement with the LLM on new calls is this "
        "much below its agreement on its test split."))
    quality_sample: int = Field(16, ge=0, description=(
        "New calls per cluster the current adapter answers to measure its quality "
        "(0: skip)."))
    recluster_min_calls: int = Field(30, ge=1, description=(
        "Cluster the pool of unassigned calls into new tasks once it holds this many."))
    max_unassigned_share: float = Field(0.2, ge=0, le=1, description=(
        "Needs attention when more of a batch's calls than this fit no cluster and the "
        "pool is still too small to cluster."))
    warm_start_lr: float = Field(0.25, gt=0, le=1, description=(
        "Peak learning rate of a retraining as a fraction of the workspace's finetune "
        "learning rate: it continues from a trained adapter, and a full-size first step "
        "can undo what it learned."))
    select: dict[str, Any] = Field(default_factory=dict, description=(
        "Overrides of the workspace's select settings for new clusters."))
    finetune: dict[str, Any] = Field(default_factory=dict, description=(
        "Overrides of the workspace's finetune settings for retraining and new clusters."))
    evaluate: dict[str, Any] = Field(default_factory=dict, description=(
        "Overrides of the workspace's evaluate settings for iterate's evaluations."))


def load_iterate_config(path: Path | None) -> IterateConfig:
    if path is None:
        return IterateConfig()
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: iterate config not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read iterate config ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("iterate"), dict):
        data = data["iterate"]
    try:
        return IterateConfig.model_validate(data)
    except ValidationError as exc:
        from slmconvert.pipeline.config import format_validation_error

        raise ConfigError("\n".join(format_validation_error(exc, path, IterateConfig, (),
                                                            None))) from None


def _params(workspace: Path, stage: str) -> tuple[dict[str, Any], int]:
    m = mf.read(workspace / stage)
    if m is None:
        raise InputError(f"{workspace / stage}: has not run; iterate needs a workspace that "
                         f"ran the pipeline through evaluate")
    return dict(m["params"]), int(m.get("seed", 0))


def _stage_config(stage_name: str, params: dict[str, Any], overrides: dict[str, Any]) -> Any:
    from slmconvert.pipeline import registry

    stage = registry.get(stage_name)
    try:
        return stage, stage.Config.model_validate({**params, **overrides})
    except ValidationError as exc:
        from slmconvert.pipeline.config import format_validation_error

        raise ConfigError("\n".join(format_validation_error(
            exc, Path(f"iterate {stage_name} settings"), stage.Config, (), None))) from None


def _side(seed: int, conversation: str, val: float, test: float) -> str:
    from slmconvert.stages.cluster import _rank

    u = int.from_bytes(_rank(seed, conversation)[:8], "big") / 2 ** 64
    return "test" if u < test else "val" if u < test + val else "train"


def _wilson_low(ci: list[float] | None) -> float:
    return float(ci[0]) if ci else 0.0


@dataclass
class Drift:
    cluster: str
    new_calls: int = 0
    pending: int = 0            # new calls since the served adapter was trained
    share_before: float | None = None
    share_now: float | None = None
    centroid_shift: float | None = None
    kind_change: float | None = None
    new_tools: list[str] = field(default_factory=list)
    quality: dict[str, Any] | None = None
    decision: str = "nothing"
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Iteration:
    def __init__(self, workspace: Path, cfg: IterateConfig,
                 reporter: Reporter | None = None) -> None:
        self.ws = workspace.resolve()
        self.cfg = cfg
        self.rep: Reporter = reporter or NullReporter()
        self.root = self.ws / rg.ITERATE
        self._batch = ""
        self.cluster_params, self.seed = _params(self.ws, "cluster")
        _params(self.ws, "evaluate")  # the workspace must have run evaluate

    # ----------------------------------------------------------------- public ----

    def run(self, logs: list[Path]) -> dict[str, Any]:
        reg = rg.open_registry(self.ws)
        self._write_assigner(reg)
        files, bid = self._batch_id(logs)
        done = reg.batch(bid)
        if done is not None:
            return {**done, "already": True, "exit_code": EXIT_NOTHING,
                    "router": str(rg.router_paths(self.ws)[0])}
        bdir = self.root / "batches" / bid
        self._batch = bid
        self._ingest(bdir, files)
        assigned = self._assign(bdir, reg)
        decisions = self._decide(bdir, reg, assigned)
        outcomes: list[dict[str, Any]] = []
        for d in decisions["clusters"]:
            if d["decision"] == "retrain":
                outcomes.append(self._retrain(reg, d["cluster"]))
            elif d["decision"] == "train":
                outcomes.append(self._train(reg, d["cluster"]))
        pool = decisions["pool"]
        if pool["decision"] == "recluster":
            outcomes.append(self._new_clusters(reg, pool["batches"]))
        router = rg.write_router(self.ws, reg)
        changed = any(o.get("changed") for o in outcomes)
        attention = [o["attention"] for o in outcomes if o.get("attention")] + \
            decisions["attention"]
        code = EXIT_ATTENTION if attention else EXIT_CHANGED if changed else EXIT_NOTHING
        record = {"id": bid, "files": [{"path": str(p), "sha256": s} for p, s in files],
                  "finished_at": rg.now(), "counts": decisions["counts"],
                  "drift": decisions["clusters"], "pool": pool, "outcomes": outcomes,
                  "attention": attention, "exit_code": code}
        reg.batches.append(record)
        rg.save_registry(self.ws, reg)
        return {**record, "already": False, "router": str(router)}

    # ----------------------------------------------------------------- ingest ----

    def _batch_id(self, logs: list[Path]) -> tuple[list[tuple[Path, str]], str]:
        from slmconvert.stages.collect import expand_inputs

        ctx = StageContext(workspace=self.ws, stage_dir=self.ws, base_dir=Path.cwd())
        found, _ = expand_inputs(ctx, [str(p) for p in logs])
        if not found:
            raise InputError(f"no log files in {', '.join(str(p) for p in logs)}")
        files = sorted(((p.resolve(), sha256_file(p)) for p in found), key=lambda x: x[1])
        return files, sha256_json([s for _, s in files])[:12]

    def _ingest(self, bdir: Path, files: list[tuple[Path, str]]) -> None:
        """Collect and curate the new logs with the workspace's own settings, as a small
        pipeline of their own (manifests, caching and resume included)."""
        from slmconvert.pipeline.config import Pipeline
        from slmconvert.pipeline.runner import Runner

        collect, ccfg = _stage_config("collect", _params(self.ws, "collect")[0],
                                      {"inputs": [str(p) for p, _ in files]})
        curate, kcfg = _stage_config("curate", _params(self.ws, "curate")[0], {})
        pipeline = Pipeline(path=bdir / "iterate", name=f"iterate {bdir.name}", workspace=bdir,
                            seed=self.seed, stages=[(collect, ccfg), (curate, kcfg)],
                            base=Path.cwd())
        for o in Runner(pipeline, reporter=self.rep).run():
            self.rep.info(f"iterate: {o.name} {o.action} ({o.reason})")

    # ----------------------------------------------------------------- assign ----

    def _assigner(self) -> Any:
        import numpy as np

        from slmconvert.clustering.model import Assigner

        a = Assigner.load(self.ws / "cluster", reporter=self.rep)
        extra = self.root / rg.ASSIGNER
        if extra.exists():
            with np.load(extra) as z:
                a.ids = [str(i) for i in z["ids"]]
                a.centroids, a.thresholds = z["centroids"], z["thresholds"]
        return a

    def _known_ids(self, reg: rg.Registry) -> set[str]:
        import pyarrow.parquet as pq

        known = set(pq.read_table(self.ws / "cluster" / "assignments.parquet",
                                  columns=["id"]).column("id").to_pylist())
        for b in reg.batches:
            path = self.root / "batches" / b["id"] / "assign.parquet"
            if path.exists():
                known |= set(pq.read_table(path, columns=["id"]).column("id").to_pylist())
        return known

    def _assign(self, bdir: Path, reg: rg.Registry) -> dict[str, Any]:
        """Place every new call (request only, as serve does) and give it a split side;
        per cluster, the sum of the request vectors for the centroid shift."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        out, sums_path = bdir / "assign.parquet", bdir / "assign_vectors.npz"
        if out.exists() and sums_path.exists():
            with np.load(sums_path) as z:
                return {"ids": [str(i) for i in z["ids"]], "sums": z["sums"],
                        "counts": z["counts"]}
        src = bdir / "curate" / "calls.parquet"
        assigner = self._assigner()
        known = self._known_ids(reg)
        splits = self.cluster_params.get("splits", {})
        val_f, test_f = float(splits.get("val_fraction", 0.1)), float(
            splits.get("test_fraction", 0.2))
        old_side = self._old_sides(reg)
        k, dim = len(assigner.ids), assigner.centroids.shape[1]
        sums, counts = np.zeros((k, dim)), np.zeros(k, dtype=np.int64)
        rows: list[dict[str, Any]] = []

        def flush(batch: list[CallRecord]) -> None:
            if not batch:
                return
            feats = assigner.featurizer.features(batch)
            x = assigner.featurizer.vectors(feats, with_response=False)
            for rec, a, vec in zip(batch, assigner.assign_vectors(x), x, strict=True):
                conv = rec.conversation_id or rec.id
                seen = rec.id in known
                side = None
                if a.cluster is not None and not seen:
                    i = assigner.ids.index(a.cluster)
                    sums[i] += vec
                    counts[i] += 1
                    side = old_side.get((a.cluster, conv)) or _side(self.seed, conv, val_f,
                                                                    test_f)
                rows.append({"id": rec.id, "conversation_id": conv, "cluster": a.cluster,
                             "nearest": a.nearest, "distance": a.distance, "split": side,
                             "seen": seen, "answered": rec.response is not None})

        from slmconvert.core.parquet import count_rows

        with self.rep.task("iterate: assigning new calls", total=count_rows(src)) as task:
            batch: list[CallRecord] = []
            for rec in iter_records(src):
                batch.append(rec)
                if len(batch) == 256:
                    flush(batch)
                    task.advance(len(batch))
                    batch = []
            flush(batch)
            task.advance(len(batch))
        from slmconvert.core.fsio import atomic_path

        schema = pa.schema([("id", pa.string()), ("conversation_id", pa.string()),
                            ("cluster", pa.string()), ("nearest", pa.string()),
                            ("distance", pa.float32()), ("split", pa.string()),
                            ("seen", pa.bool_()), ("answered", pa.bool_())])
        with atomic_path(out) as tmp:
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
        with atomic_path(sums_path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, ids=np.array(assigner.ids), sums=sums, counts=counts)
        return {"ids": list(assigner.ids), "sums": sums, "counts": counts}

    def _old_sides(self, reg: rg.Registry) -> dict[tuple[str, str], str]:
        """(cluster, conversation) -> side of the fitted splits (the workspace's and those
        of iterate's new clusters), so a conversation that goes on stays on its side (no
        leak from train into test)."""
        import pyarrow.parquet as pq

        out: dict[tuple[str, str], str] = {}
        fits = [(self.ws, {})] + [(self.root / "new" / p["key"], p["clusters"])
                                  for p in reg.pools]
        for origin, rename in fits:
            t = pq.read_table(origin / "cluster" / "assignments.parquet",
                              columns=["cluster", "conversation_id", "split"]).to_pydict()
            for c, v, side in zip(t["cluster"], t["conversation_id"], t["split"], strict=True):
                if c is not None and side:
                    out[(rename.get(c, c), v)] = side
        return out

    def _tools(self, reg: rg.Registry, cid: str) -> set[str]:
        """Every tool the cluster's training calls were offered or used."""
        from slmconvert.core.records import tool_names

        path = self._cluster_info(reg, cid)["splits"] / "train.parquet"
        names: set[str] = set()
        for rec in iter_records(path) if path.exists() else []:
            names |= tool_names(rec)
        return names

    def _rows(self, batch_ids: list[str]) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        out: list[dict[str, Any]] = []
        for b in batch_ids:
            for r in pq.read_table(self.root / "batches" / b / "assign.parquet").to_pylist():
                out.append(r | {"batch": b})
        return out

    # ----------------------------------------------------------------- decide ----

    def _meta(self) -> dict[str, Any]:
        return dict(json.loads((self.ws / "cluster" / "clusters.json").read_text("utf-8")))

    def _cluster_info(self, reg: rg.Registry, cid: str) -> dict[str, Any]:
        """The cluster's clusters.json entry (from the fit that made it) and the
        directory of its split files."""
        entry = reg.entry(cid)
        origin = self.ws if entry.origin == "cluster" else self.ws / entry.origin
        meta = json.loads((origin / "cluster" / "clusters.json").read_text("utf-8"))
        info = next(c for c in meta["clusters"] if c["id"] == entry.local_id)
        return {"meta": meta, "info": info,
                "splits": origin / "cluster" / "splits" / entry.local_id}

    def _decide(self, bdir: Path, reg: rg.Registry, assigned: dict[str, Any]) -> dict[str, Any]:
        path = bdir / "decisions.json"
        if path.exists():  # a rerun after a kill: the same decisions as the first time
            return dict(json.loads(path.read_text("utf-8")))
        import numpy as np

        from slmconvert.clustering.features import response_kind
        from slmconvert.core.records import tool_names

        rows = [r for r in self._rows([bdir.name]) if not r["seen"]]
        total = len(rows)
        pending_batches = [b["id"] for b in reg.batches] + [bdir.name]
        by_cluster: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["cluster"] is not None:
                by_cluster.setdefault(r["cluster"], []).append(r)
        recs = {r.id: r for r in iter_records(bdir / "curate" / "calls.parquet")}
        old_total = sum(int(c.get("calls") or 0) for c in self._meta()["clusters"])
        assigner_ids = assigned["ids"]
        with np.load(self._centroids_file()) as z:
            cents = {str(i): (c, float(t)) for i, c, t in zip(z["ids"], z["centroids"],
                                                              z["thresholds"], strict=True)}
        drifts: list[Drift] = []
        attention: list[str] = []
        for cid, entry in reg.clusters.items():
            mine = by_cluster.get(cid, [])
            d = Drift(cluster=cid, new_calls=len(mine))
            served = entry.served
            info = self._cluster_info(reg, cid)["info"]
            d.share_before = round(int(info.get("calls") or 0) / old_total, 4) if old_total \
                else None
            d.share_now = round(len(mine) / total, 4) if total else None
            included = set(served.data.get("batches", [])) if served else set()
            d.pending = sum(1 for r in self._rows([b for b in pending_batches
                                                   if b not in included])
                            if r["cluster"] == cid and not r["seen"] and r["answered"])
            if mine and cid in assigner_ids:
                i = assigner_ids.index(cid)
                mean = assigned["sums"][i] / max(int(assigned["counts"][i]), 1)
                c, t = cents[cid]
                d.centroid_shift = round(float(np.linalg.norm(mean - c)) / max(t, 1e-9), 4)
                answered = [r for r in mine if r["answered"]]
                kinds = Counter(response_kind(recs[r["id"]]) for r in answered)
                before = info.get("response_kinds") or {}
                if answered:
                    d.kind_change = round(0.5 * sum(
                        abs(kinds.get(k, 0) / len(answered) - before.get(k, 0))
                        for k in set(kinds) | set(before)), 4)
                offered = set().union(*(tool_names(recs[r["id"]]) for r in mine))
                d.new_tools = sorted(offered - self._tools(reg, cid))[:10]
            enough = len(mine) >= self.cfg.min_drift_calls
            if served is not None and enough and self.cfg.quality_sample:
                d.quality = self._quality(cid, served, [recs[r["id"]] for r in mine
                                                       if r["answered"]])
            trainable = float(info.get("human_facing_share") or 0.0) < 0.5
            d.decision, d.reason = self._rule(d, served, enough, trainable)
            if d.decision == "attention":
                attention.append(f"{cid}: {d.reason}")
            drifts.append(d)
        pool_batches = [b for b in pending_batches
                        if b not in {x for p in reg.pools for x in p["batches"]}]
        pool_rows = [r for r in self._rows(pool_batches) if r["cluster"] is None
                     and not r["seen"] and r["answered"]]
        unassigned = sum(r["cluster"] is None for r in rows)
        pool: dict[str, Any] = {"calls": len(pool_rows), "batches": pool_batches,
                                "decision": "nothing", "reason": ""}
        if len(pool_rows) >= self.cfg.recluster_min_calls:
            pool["decision"] = "recluster"
            pool["reason"] = (f"{len(pool_rows)} unassigned calls, at least "
                              f"recluster_min_calls {self.cfg.recluster_min_calls}: cluster "
                              f"them into new tasks")
        else:
            pool["reason"] = (f"{len(pool_rows)} unassigned calls, under recluster_min_calls "
                              f"{self.cfg.recluster_min_calls}")
            if total and unassigned / total > self.cfg.max_unassigned_share:
                attention.append(f"{unassigned / total:.0%} of the new calls fit no cluster "
                                 f"(max_unassigned_share {self.cfg.max_unassigned_share:.0%})")
        result = {"batch": bdir.name,
                  "counts": {"calls": total, "seen_before": sum(
                      1 for r in self._rows([bdir.name]) if r["seen"]),
                      "assigned": total - unassigned, "unassigned": unassigned},
                  "clusters": [d.as_dict() for d in drifts], "pool": pool,
                  "attention": attention}
        write_json_atomic(path, result)
        return result

    def _centroids_file(self) -> Path:
        extra = self.root / rg.ASSIGNER
        return extra if extra.exists() else self.ws / "cluster" / "assigner.npz"

    def _write_assigner(self, reg: rg.Registry) -> None:
        """``iterate/assigner.npz``: the fitted clusters, then each new-task fit of the
        registry under its registry ids. Rebuilt from the registry every time (never
        appended to), so a run killed between two writes cannot leave it inconsistent."""
        import numpy as np

        from slmconvert.core.fsio import atomic_path

        if not reg.pools:
            return
        fits = [(self.ws / "cluster" / "assigner.npz", {})] + [
            (self.root / "new" / p["key"] / "cluster" / "assigner.npz", p["clusters"])
            for p in reg.pools]
        ids: list[str] = []
        cents, thr = [], []
        for path, rename in fits:
            with np.load(path) as z:
                ids += [rename.get(str(i), str(i)) for i in z["ids"]]
                cents.append(z["centroids"])
                thr.append(z["thresholds"])
        arrays = {"ids": np.array(ids), "centroids": np.concatenate(cents),
                  "thresholds": np.concatenate(thr)}
        dest = self.root / rg.ASSIGNER
        if dest.exists():
            with np.load(dest) as z:
                if all(np.array_equal(z[k], v) for k, v in arrays.items()):
                    return  # unchanged: not rewritten (a zip's timestamps would differ)
        with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, ids=arrays["ids"], centroids=arrays["centroids"],
                     thresholds=arrays["thresholds"])

    def _rule(self, d: Drift, served: rg.Version | None, enough: bool,
              trainable: bool = True) -> tuple[str, str]:
        cfg = self.cfg
        if d.new_calls == 0:
            return "nothing", "no new calls"
        drift = []
        if enough and d.centroid_shift is not None and d.centroid_shift > cfg.max_centroid_shift:
            drift.append(f"requests moved {d.centroid_shift:.2f} radii from the centroid "
                         f"(max_centroid_shift {cfg.max_centroid_shift})")
        if enough and d.kind_change is not None and d.kind_change > cfg.max_kind_change:
            drift.append(f"response kinds changed by {d.kind_change:.0%} "
                         f"(max_kind_change {cfg.max_kind_change:.0%})")
        if enough and d.new_tools:
            drift.append(f"new tools offered: {', '.join(d.new_tools)}")
        q = d.quality
        if q and q.get("drop") is not None and q["drop"] > cfg.max_quality_drop:
            drift.append(f"agreement fell {q['drop']:.0%} on new calls "
                         f"(max_quality_drop {cfg.max_quality_drop:.0%})")
        if served is None:
            if d.pending >= cfg.min_new_calls and trainable:
                return "train", (f"{d.pending} new calls and no adapter yet (min_new_calls "
                                 f"{cfg.min_new_calls}): select, fine-tune and evaluate one")
            if drift:
                return "attention", f"drift on a task without an adapter: {'; '.join(drift)}"
            why = "" if trainable else "; human-facing"
            return "nothing", f"{d.pending} new calls; no adapter (stays with the LLM{why})"
        if d.pending >= cfg.min_new_calls:
            return "retrain", (f"{d.pending} new calls since v{served.version} was trained "
                               f"(min_new_calls {cfg.min_new_calls})")
        if drift:
            return "retrain", "; ".join(drift)
        return "nothing", (f"{d.pending} new calls since v{served.version} (under "
                           f"min_new_calls {cfg.min_new_calls}); no drift")

    def _quality(self, cid: str, served: rg.Version,
                 calls: list[CallRecord]) -> dict[str, Any]:
        """The served adapter's agreement with the LLM on new calls, against its
        agreement on its own test split: on the calls `serve --shadow` answered with it
        when there are at least ``quality_sample`` of them (its answers were scored
        against the LLM's as they came), else on a seeded sample it answers now."""
        from slmconvert.core.models import prepare
        from slmconvert.evaluation.answer import load_adapter, score_calls
        from slmconvert.prompting.recipe import PromptRecipe
        from slmconvert.serving.shadow import shadow_agreement

        before = served.metrics.get("accuracy")
        shadowed = shadow_agreement(calls, cid, served.adapter)
        if shadowed and len(shadowed) >= min(self.cfg.quality_sample, len(calls)):
            now = sum(shadowed) / len(shadowed)
            return {"n": len(shadowed), "accuracy": round(now, 4), "before": before,
                    "drop": None if before is None else round(before - now, 4),
                    "source": "shadow"}
        rng = random.Random(f"{self.seed}:{cid}:quality")
        sample = rng.sample(calls, self.cfg.quality_sample) \
            if len(calls) > self.cfg.quality_sample else calls
        if not sample:
            return {"n": 0}
        with self.rep.task(f"iterate: {cid} v{served.version} on {len(sample)} new calls",
                           total=None):
            prepared = prepare(served.model.name, self.rep)
            model, tok = load_adapter(prepared.path, self.ws / served.adapter, served.dtype)
            recipe = PromptRecipe.load(self.ws / served.recipe)
            s = score_calls(model, tok, sample, recipe,
                            max_new_tokens=served.max_new_tokens or 128, batch_size=8)
            del model
        now = s["accuracy"]
        return {"n": s["n"], "accuracy": None if now is None else round(now, 4),
                "before": before, "drop": None if now is None or before is None
                else round(before - now, 4), "source": "sample"}

    # ---------------------------------------------------------------- retrain ----

    def _write_split(self, dest: Path, base: Path | None, extra: list[CallRecord]) -> int:
        n = 0
        with RecordWriter(dest) as w:
            if base is not None and base.exists():
                for rec in iter_records(base):
                    w.write(rec)
                    n += 1
            for rec in extra:
                w.write(rec)
                n += 1
        return n

    def _new_calls(self, cid: str, batch_ids: list[str]) -> dict[str, list[CallRecord]]:
        by_side: dict[str, list[CallRecord]] = {s: [] for s in SIDES}
        for b in batch_ids:
            want = {r["id"]: r["split"] for r in self._rows([b])
                    if r["cluster"] == cid and not r["seen"] and r["answered"]}
            if not want:
                continue
            for rec in iter_records(self.root / "batches" / b / "curate" / "calls.parquet"):
                if rec.id in want:
                    by_side[want[rec.id]].append(rec)
        return by_side

    def _child_workspace(self, child: Path, reg: rg.Registry, cid: str,
                         extra: dict[str, list[CallRecord]]) -> dict[str, Any]:
        """A workspace holding one cluster, under its registry id: its splits plus the
        new calls, its clusters.json entry, select's record, and the fitted assigner."""
        src = self._cluster_info(reg, cid)
        origin = src["splits"].parent.parent.parent
        splits = child / "cluster" / "splits" / cid
        splits.mkdir(parents=True, exist_ok=True)
        counts = {s: self._write_split(splits / f"{s}.parquet", src["splits"] / f"{s}.parquet",
                                       extra[s]) for s in SIDES}
        splits_cfg = self.cluster_params.get("splits", {})
        evaluable = counts["test"] >= int(splits_cfg.get("min_test", 10)) and \
            counts["train"] >= int(splits_cfg.get("min_train", 20))
        human = float(src["info"].get("human_facing_share") or 0.0) >= 0.5
        info = dict(src["info"]) | {
            "id": cid, "split": counts, "evaluable": evaluable,
            "route": "slm-candidate" if evaluable and not human else "llm",
            "why_llm": None if evaluable and not human else
            "human-facing" if human else (f"too small to evaluate: {counts['test']} test and "
                                          f"{counts['train']} train calls")}
        write_json_atomic(child / "cluster" / "clusters.json",
                          src["meta"] | {"clusters": [info]})
        shutil.copy2(origin / "cluster" / "assigner.npz", child / "cluster" / "assigner.npz")
        sel = json.loads((origin / "select" / "selection.json").read_text("utf-8"))
        local = reg.entry(cid).local_id
        sel["clusters"] = [c | {"id": cid} for c in sel["clusters"] if c["id"] == local]
        (child / "select").mkdir(parents=True, exist_ok=True)
        write_json_atomic(child / "select" / "selection.json", sel)
        shutil.copy2(origin / "select" / "manifest.json", child / "select" / "manifest.json")
        return {s: sha256_file(splits / f"{s}.parquet") for s in SIDES} | {"calls": counts}

    def _evaluate_unit(self, child: Path, out: Path, cid: str, unit: dict[str, Any],
                       ft_val_calls: int) -> dict[str, Any]:
        return self._evaluate_units(child, out, cid, [unit], ft_val_calls)

    def _evaluate_units(self, child: Path, out: Path, cid: str, units: list[dict[str, Any]],
                        ft_val_calls: int) -> dict[str, Any]:
        """Evaluate adapters on the child workspace's val and test splits (the best on val
        is chosen); the report row of the cluster (cached: the router file is written
        last)."""
        from slmconvert.evaluation.router import ROUTER
        from slmconvert.stages.evaluate import REPORT_JSON, Evaluator

        if not (out / ROUTER).exists():
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            params, _ = _params(self.ws, "evaluate")
            # the adapters on the same calls; the base model's answers are not needed
            _, ecfg = _stage_config("evaluate", params, {"systems": ["adapter"],
                                                         **self.cfg.evaluate,
                                                         "clusters": None})
            ctx = StageContext(workspace=child, stage_dir=out, seed=self.seed,
                               reporter=self.rep)
            ev = Evaluator(ctx, ecfg)
            ev.finetune = {"units": units, "settings": {"val_calls": ft_val_calls}}
            ev.run()
        report = json.loads((out / REPORT_JSON).read_text("utf-8"))
        return dict(next(c for c in report["clusters"] if c["id"] == cid))

    def _retrain(self, reg: rg.Registry, cid: str) -> dict[str, Any]:
        from slmconvert.stages.finetune import Finetuner

        entry = reg.entry(cid)
        served = entry.served
        assert served is not None
        batches = list(dict.fromkeys([b["id"] for b in reg.batches] + [self._batch]))
        ft_params, _ = _params(self.ws, "finetune")
        ev_params, _ = _params(self.ws, "evaluate")
        key = sha256_json({"cluster": cid, "from": served.version, "batches": batches,
                           "finetune": ft_params, "evaluate": ev_params,
                           "overrides": self.cfg.model_dump(mode="json")})[:12]
        origin = f"iterate retrain {cid}-{key}"
        existing = next((v for v in entry.versions if v.origin == origin), None)
        if existing is not None:  # finished before a kill: nothing to redo
            return {"cluster": cid, "action": "retrain", "version": existing.version,
                    "promoted": existing.promoted, "changed": existing.promoted,
                    "note": existing.note}
        rdir = self.root / "rounds" / f"{cid}-{key}"
        child = rdir / "ws"
        self.rep.info(f"iterate: retraining {cid} from v{served.version} on old + new calls")
        data = self._child_workspace(child, reg, cid, self._new_calls(cid, batches))
        lr = float(ft_params.get("learning_rate", 2e-3)) * self.cfg.warm_start_lr
        _, fcfg = _stage_config("finetune", ft_params, {
            "learning_rate": lr, **self.cfg.finetune,
            "models": [served.model.name], "top": None, "always": [],
            "clusters": [cid], "groups": "cluster",
            "warm_start": {cid: str(self.ws / served.adapter)}})
        ft_dir = child / "finetune"
        ft_dir.mkdir(parents=True, exist_ok=True)
        ctx = StageContext(workspace=child, stage_dir=ft_dir, seed=self.seed, reporter=self.rep)
        summary_path = ft_dir / "finetune.json"
        if not summary_path.exists():
            Finetuner(ctx, fcfg).run()
        new_unit = json.loads(summary_path.read_text("utf-8"))["units"][0]
        old_dir = self.ws / served.adapter
        old_unit = {"group": cid, "clusters": [cid], "model": served.model.name,
                    "path": str(old_dir.parent),
                    "base": {"name": served.model.name, "source": served.model.source},
                    "scores": [{"cluster": cid, "max_new_tokens": served.max_new_tokens}]}
        val_used = int(fcfg.val_calls)
        old_row = self._evaluate_unit(child, rdir / "eval_current", cid, old_unit, val_used)
        new_row = self._evaluate_unit(child, rdir / "eval_candidate", cid, new_unit, val_used)
        old_lo, new_lo = (_wilson_low(self._adapter_ci(r)) for r in (old_row, new_row))
        promote = new_lo >= old_lo
        note = (f"lower 95% bound of agreement on the refreshed test split: candidate "
                f"{new_lo:.3f} vs served v{served.version} {old_lo:.3f}: "
                + ("not worse, promoted" if promote else "worse, not promoted"))
        number = max(v.version for v in entry.versions) + 1
        version = rg.version_from_report(
            self.ws, new_row, new_unit, ft_dir / new_unit["path"], cluster=cid, number=number,
            origin=origin, data={"train_sha256": data["train"], "val_sha256": data["val"],
                                 "test_sha256": data["test"], "calls": data["calls"],
                                 "batches": batches, "warm_start": f"v{served.version}"},
            evaluate_params={**ev_params, **self.cfg.evaluate}, promoted=promote, note=note)
        entry.versions.append(version)
        if promote:
            entry.current = number
        rg.save_registry(self.ws, reg)
        # the version is stored in the registry: the training checkpoints are not needed
        shutil.rmtree(ft_dir / "checkpoints", ignore_errors=True)
        out = {"cluster": cid, "action": "retrain", "version": number, "promoted": promote,
               "changed": promote, "note": note,
               "verdict_before": served.verdict, "verdict_after": version.verdict}
        if not promote:
            out["attention"] = f"{cid}: retrained v{number} was worse ({note})"
        return out

    def _train(self, reg: rg.Registry, cid: str) -> dict[str, Any]:
        """A first adapter for a cluster that has none (too small when it was fitted, or
        not evaluated): select, fine-tune and evaluate on its splits plus the new calls."""
        from slmconvert.stages.finetune import Finetuner
        from slmconvert.stages.select import Selector

        entry = reg.entry(cid)
        batches = list(dict.fromkeys([b["id"] for b in reg.batches] + [self._batch]))
        params = {n: _params(self.ws, n)[0] for n in ("select", "finetune", "evaluate")}
        key = sha256_json({"cluster": cid, "batches": batches, "params": params,
                           "overrides": self.cfg.model_dump(mode="json")})[:12]
        origin = f"iterate train {cid}-{key}"
        existing = next((v for v in entry.versions if v.origin == origin), None)
        if existing is not None:
            return {"cluster": cid, "action": "train", "version": existing.version,
                    "promoted": True, "changed": existing.verdict != "keep",
                    "note": existing.note}
        rdir = self.root / "rounds" / f"{cid}-{key}"
        child = rdir / "ws"
        self.rep.info(f"iterate: a first adapter for {cid} on old + new calls")
        data = self._child_workspace(child, reg, cid, self._new_calls(cid, batches))
        info = json.loads((child / "cluster" / "clusters.json").read_text("utf-8"))["clusters"][0]
        if info["route"] != "slm-candidate":
            return {"cluster": cid, "action": "train", "version": None, "promoted": False,
                    "changed": False, "note": f"not trained: {info['why_llm']}"}
        sel_dir = child / "select"
        if not (sel_dir / "done.json").exists():
            _, scfg = _stage_config("select", params["select"], self.cfg.select)
            Selector(StageContext(workspace=child, stage_dir=sel_dir, seed=self.seed,
                                  reporter=self.rep), scfg).run([info])
            write_json_atomic(sel_dir / "done.json", {"cluster": cid})
        _, fcfg = _stage_config("finetune", params["finetune"], {
            **self.cfg.finetune, "clusters": [cid], "groups": "cluster", "models": None})
        ft_dir = child / "finetune"
        ft_dir.mkdir(parents=True, exist_ok=True)
        if not (ft_dir / "finetune.json").exists():
            sel = json.loads((sel_dir / "selection.json").read_text("utf-8"))
            if not any(c["chosen"] for c in sel["clusters"]):
                return {"cluster": cid, "action": "train", "version": None,
                        "promoted": False, "changed": False,
                        "note": "not trained: select chose no model for it"}
            Finetuner(StageContext(workspace=child, stage_dir=ft_dir, seed=self.seed,
                                   reporter=self.rep), fcfg).run()
        units = json.loads((ft_dir / "finetune.json").read_text("utf-8"))["units"]
        row = self._evaluate_units(child, rdir / "eval_candidate", cid, units,
                                   int(fcfg.val_calls))
        path = (row.get("adapter") or "").removeprefix("finetune/")
        unit = next((u for u in units if u["path"] == path), None)
        if unit is None:
            return {"cluster": cid, "action": "train", "version": None, "promoted": False,
                    "changed": False, "note": f"not evaluated: {row.get('reason')}"}
        number = max((v.version for v in entry.versions), default=0) + 1
        version = rg.version_from_report(
            self.ws, row, unit, ft_dir / path, cluster=cid, number=number, origin=origin,
            data={"train_sha256": data["train"], "val_sha256": data["val"],
                  "test_sha256": data["test"], "calls": data["calls"], "batches": batches},
            evaluate_params={**params["evaluate"], **self.cfg.evaluate}, promoted=True,
            note="a first adapter, trained by iterate")
        entry.versions.append(version)
        entry.current = number
        rg.save_registry(self.ws, reg)
        shutil.rmtree(ft_dir / "checkpoints", ignore_errors=True)
        return {"cluster": cid, "action": "train", "version": number, "promoted": True,
                "changed": version.verdict != "keep",
                "note": f"{unit['model']}: {version.verdict} ({version.reason})"}

    @staticmethod
    def _adapter_ci(row: dict[str, Any]) -> list[float] | None:
        s = next((s for s in row.get("systems", []) if s["system"] == "adapter"), None)
        return None if s is None else s.get("accuracy_ci")

    # ----------------------------------------------------------- new clusters ----

    def _new_clusters(self, reg: rg.Registry, batch_ids: list[str]) -> dict[str, Any]:
        """Cluster the unassigned pool with the workspace's settings, then select,
        fine-tune and evaluate the new tasks: a small pipeline of its own."""

        from slmconvert.pipeline.config import Pipeline
        from slmconvert.pipeline.runner import Runner

        key = sha256_json(batch_ids)[:12]
        taken = next((p for p in reg.pools if p["key"] == key), None)
        if taken is not None:  # finished before a kill
            return {"action": "new clusters", "pool": key, "clusters": taken["clusters"],
                    "changed": bool(taken["clusters"])}
        ndir = self.root / "new" / key
        curate_dir = ndir / "curate"
        if mf.read(curate_dir) is None:
            ids = {r["id"] for r in self._rows(batch_ids)
                   if r["cluster"] is None and not r["seen"] and r["answered"]}
            curate_dir.mkdir(parents=True, exist_ok=True)
            n = 0
            with RecordWriter(curate_dir / "calls.parquet") as w:
                for b in batch_ids:
                    for rec in iter_records(self.root / "batches" / b / "curate"
                                            / "calls.parquet"):
                        if rec.id in ids:
                            w.write(rec)
                            n += 1
            outputs = [mf.file_entry(curate_dir / "calls.parquet", "calls.parquet")]
            mf.write(curate_dir, {"schema": mf.SCHEMA_VERSION, "stage": "curate",
                                  "stage_version": "pool", "key": sha256_json(
                                      {"pool": batch_ids, "calls": sorted(ids)}),
                                  "params": {"pool_of": batch_ids}, "seed": self.seed,
                                  "inputs": [], "upstream": {}, "outputs": outputs,
                                  "outputs_digest": mf.outputs_digest(outputs),
                                  "counts": {"kept": n}, "summary": {},
                                  "started_at": rg.now(), "duration_s": 0.0})
        stages = []
        for name, extra in (("cluster", {}), ("select", self.cfg.select),
                            ("finetune", {**self.cfg.finetune, "clusters": None}),
                            ("evaluate", {**self.cfg.evaluate, "clusters": None})):
            stages.append(_stage_config(name, _params(self.ws, name)[0], extra))
        pipeline = Pipeline(path=ndir / "iterate", name=f"iterate new {key}", workspace=ndir,
                            seed=self.seed, stages=stages, base=Path.cwd())
        self.rep.info(f"iterate: clustering {key}: unassigned calls into new tasks")
        for o in Runner(pipeline, reporter=self.rep).run():
            self.rep.info(f"iterate: new tasks {o.name} {o.action} ({o.reason})")
        report = json.loads((ndir / "evaluate" / "report.json").read_text("utf-8"))
        units = json.loads((ndir / "finetune" / "finetune.json").read_text("utf-8"))["units"]
        ev_params = json.loads((ndir / "evaluate" / "manifest.json").read_text("utf-8"))["params"]
        numbers = [int(c[1:]) for c in reg.clusters if c[1:].isdigit()]
        nxt = max(numbers, default=-1) + 1
        width = max(2, len(str(nxt + len(report["clusters"]))))
        mapping: dict[str, str] = {}
        for row in report["clusters"]:
            gid = f"c{nxt:0{width}d}"
            nxt += 1
            mapping[row["id"]] = gid
            entry = rg.ClusterEntry(cluster=gid, label=row.get("label"),
                                    origin=f"{rg.ITERATE}/new/{key}", local_id=row["id"],
                                    reason=row.get("reason") or "")
            if row.get("adapter"):
                path = row["adapter"].removeprefix("finetune/")
                unit = next(u for u in units if u["path"] == path)
                splits = ndir / "cluster" / "splits" / row["id"]
                data = {f"{s}_sha256": sha256_file(p) for s in SIDES
                        if (p := splits / f"{s}.parquet").exists()}
                entry.versions.append(rg.version_from_report(
                    self.ws, row | {"id": row["id"]}, unit, ndir / "finetune" / path,
                    cluster=gid, number=1, origin=f"iterate new {key}",
                    data=data | {"batches": batch_ids}, evaluate_params=ev_params,
                    promoted=True, note="a new task found by iterate"))
                entry.current = 1
            reg.clusters[gid] = entry
        reg.pools.append({"key": key, "batches": batch_ids, "clusters": mapping,
                          "finished_at": rg.now()})
        rg.save_registry(self.ws, reg)
        self._write_assigner(reg)  # the router and later batches assign to them too
        shutil.rmtree(ndir / "finetune" / "checkpoints", ignore_errors=True)
        return {"action": "new clusters", "pool": key, "clusters": mapping,
                "changed": bool(mapping)}


def iterate_report(result: dict[str, Any]) -> Report:
    """The terminal summary of an iterate run, as data."""
    rows = []
    for d in result.get("drift", []):
        q = d.get("quality") or {}
        was = [f"was {q['before']:.0%}"] if q.get("before") is not None else []
        was += [f"shadow, n={q['n']}"] if q.get("source") == "shadow" else []
        rows.append([d["cluster"], d["new_calls"], d["pending"],
                     "-" if d["centroid_shift"] is None else f"{d['centroid_shift']:.2f}",
                     "-" if d["kind_change"] is None else f"{d['kind_change']:.0%}",
                     ", ".join(d["new_tools"]) or "-",
                     "-" if q.get("accuracy") is None else
                     f"{q['accuracy']:.0%}" + (f" ({'; '.join(was)})" if was else ""),
                     d["decision"], d["reason"]])
    out_rows = []
    for o in result.get("outcomes", []):
        if o["action"] == "retrain":
            out_rows.append([o["cluster"], f"retrained v{o['version']}",
                             "promoted" if o["promoted"] else "kept the served version",
                             o["note"]])
        elif o["action"] == "train":
            out_rows.append([o["cluster"], "first adapter" + (
                f" v{o['version']}" if o["version"] else ""),
                "served" if o["version"] else "none", o["note"]])
        else:
            new = ", ".join(f"{g} (from {loc})" for loc, g in o["clusters"].items()) or "none"
            out_rows.append([new, "new clusters", f"pool {o['pool']}",
                             "selected, fine-tuned and evaluated"])
    c = result.get("counts", {})
    pool = result.get("pool", {})
    notes = [f"batch {result['id']}: {c.get('calls', 0)} new calls "
             f"({c.get('seen_before', 0)} seen before), {c.get('assigned', 0)} assigned, "
             f"{c.get('unassigned', 0)} unassigned",
             f"unassigned pool: {pool.get('reason', '-')}"]
    notes += [f"needs attention: {a}" for a in result.get("attention", [])]
    if result.get("already"):
        return Report(notes=[f"batch {result['id']} was taken in on {result['finished_at']}: "
                             "nothing to do (the same logs change nothing twice; "
                             "`slmconvert registry list` shows what it did)"],
                      headline=[f"router: {result.get('router')}"])
    return Report(
        tables=[Table("Drift per cluster (new calls of this batch)",
                      ["cluster", "new", "pending", "shift", "kinds", "new tools",
                       "quality", "decision", "reason"], rows)]
        + ([Table("What iterate did", ["cluster", "action", "result", "why"], out_rows)]
           if out_rows else []),
        notes=notes, headline=[f"router: {result.get('router')}"])
