"""S3 cluster: find the recurring tasks among the curated calls and split each one.

Reads ``curate/calls.parquet`` in batches and writes into ``cluster/``:

- ``clusters.json``: per cluster a label (c-TF-IDF terms), its tools, size and shares of
  calls, tokens and cost, response-kind mix, token percentiles, whether it is human
  facing, whether it is big enough to evaluate, and 3 representative (scrubbed) calls;
- ``assignments.parquet``: id, source, conversation, cluster, split and the request-space
  distance to the cluster's centroid, one row per call;
- ``splits/<cluster>/{train,val,test}.parquet``: the calls themselves, canonical schema,
  every conversation wholly on one side;
- ``assigner.npz``: request-only centroids and thresholds for ``cluster assign``;
- ``map.png``: a 2-D projection coloured by cluster.

The fit sees structure, text and the response; assignment sees the request only, so
that the router can place a call before any model has answered it. Logged names and
response kinds are evidence of different tasks, not distances (``features``).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from slmconvert.clustering.embed import Embedder
from slmconvert.clustering.features import CallFeatures, name_of, response_kind
from slmconvert.clustering.model import (
    ASSIGNER,
    Assigner,
    Featurizer,
    Fit,
    Weights,
    fit_clusters,
    key_codes,
    pca_solver,
    predict,
)
from slmconvert.core.fsio import atomic_path, write_json_atomic
from slmconvert.core.parquet import RecordWriter, count_rows, iter_records, iter_rows
from slmconvert.core.progress import Task
from slmconvert.core.records import CallRecord, token_counts
from slmconvert.engine.config import RayOptions
from slmconvert.errors import InputError
from slmconvert.pipeline.stage import Report, Stage, StageConfig, StageContext, StageResult, Table

CLUSTERS = "clusters.json"
ASSIGNMENTS = "assignments.parquet"
SPLITS = "splits"
MAP = "map.png"
SIDES = ("train", "val", "test")
BATCH = 256


class EmbeddingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("minilm-l6-v2", description=(
        "sentence-transformers model: catalog name, pkg:/hf: source or local path "
        "(never downloaded)."))
    batch_size: int = Field(1, ge=1, description=(
        "Texts per encode batch. 1 (default): each text alone, unpadded, so that its "
        "vector never depends on the texts beside it or before it: the router, which "
        "embeds one request at a time, and engine: ray get exactly the fit's vectors. "
        "Measured on 2 CPU cores: 5% slower than batches of 64."))
    max_tokens: int = Field(128, ge=16, description=(
        "Word pieces of each text the model reads (its opening: where a prompt's template "
        "and a turn's intent are). Lower is faster."))
    max_chars: int = Field(2000, ge=100, description=(
        "Characters of instructions and of the last turn kept for features."))


class FeatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    use_names: bool = Field(True, description=(
        "Use the agent, workflow and step names logged with calls: calls with different "
        "names are never put in one cluster, and k is at least the number of names. Calls "
        "without names are placed by their content alone, so a log that names only some "
        "calls is fine. false: ignore names, cluster on content alone."))
    response_kind_apart: bool = Field(True, description=(
        "Calls whose responses differ in kind (a tool call, JSON, free text) are never "
        "put in one cluster: a step that answers with a tool call and one that answers "
        "with JSON are different tasks, even when they share a system prompt and tools."))


class Selection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int | None = Field(None, ge=1, description="Number of clusters; null: choose by "
                                                  "silhouette between k_min and k_max.")
    k_min: int = Field(2, ge=1, description=(
        "Fewest clusters tried. Raised to the number of groups that the names and "
        "response kinds tell apart (features.*)."))
    k_max: int = Field(60, ge=2, description="Most clusters tried.")
    tolerance: float = Field(0.05, ge=0, le=1, description=(
        "From the k with the best silhouette, merge the two clusters that the tree merges "
        "next while keeping them apart raises their own calls' mean silhouette by less "
        "than this: a split that does little for its own calls is not a task of its own. "
        "0: take the best k."))
    min_key_calls: int = Field(30, ge=1, description=(
        "Calls a combination of name and response kind needs to count as a task of its "
        "own (features.*); rarer combinations are placed by their content."))
    silhouette_sample: int = Field(3000, ge=100, description=(
        "Calls the silhouette score is computed on (a seeded sample)."))
    fit_max: int = Field(20000, ge=100, description=(
        "Calls the clusters are fitted on (a seeded sample); the rest are placed at their "
        "nearest centroid, so memory stays bounded however big the log."))


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    val_fraction: float = Field(0.1, ge=0, lt=1, description="Share of calls for validation.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Share of calls held out "
                                                              "for evaluation.")
    min_test: int = Field(10, ge=1, description=(
        "Fewest test calls; a cluster that cannot have them and min_train is marked "
        "too small to evaluate and stays with the LLM."))
    min_train: int = Field(20, ge=1, description="Fewest training calls for an "
                                                 "evaluable cluster.")


class AssignConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    quantile: float = Field(0.99, gt=0, le=1, description=(
        "Quantile of a cluster's own request-space distances that sets its threshold."))
    margin: float = Field(1.25, ge=1, description="Threshold = quantile distance x margin; "
                                                  "farther calls are 'unassigned'.")


class ClusterConfig(StageConfig):
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig,
                                       description="Text embedding model.")
    features: FeatureConfig = Field(default_factory=FeatureConfig, description=(
        "What tells tasks apart besides the feature distances: logged names, "
        "response kinds."))
    weights: Weights = Field(default_factory=Weights, description=(
        "Weight of each feature block (each block has unit length before weighting)."))
    selection: Selection = Field(default_factory=Selection, description="How many clusters.")
    splits: SplitConfig = Field(default_factory=SplitConfig, description=(
        "Train/val/test split of each cluster, by conversation."))
    assign: AssignConfig = Field(default_factory=AssignConfig, description=(
        "Distance thresholds for placing new calls (cluster assign, the router)."))
    representatives: int = Field(3, ge=0, le=20, description="Example calls per cluster.")
    map: bool = Field(True, description="Draw cluster/map.png.")
    engine: Literal["local", "ray"] = Field("local", description=(
        "Where features and embeddings are computed and calls assigned: local (this "
        "process) or ray (an actor pool on a Ray cluster, one embedder per actor, see "
        "docs/scale.md). The fit runs once on the driver; both give the same clusters."))
    ray: RayOptions = Field(default_factory=RayOptions, description=(
        "Ray settings (engine: ray)."))


# ------------------------------------------------------------------ per call ----

@dataclass
class Calls:
    """What the stage keeps per call between passes: small columns, never the text."""

    ids: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)
    cost: list[float | None] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    called: list[list[str]] = field(default_factory=list)
    human_facing: list[bool] = field(default_factory=list)
    # Fitted calls only: text for labels and examples.
    label_text: dict[int, str] = field(default_factory=dict)
    snippet: dict[int, str] = field(default_factory=dict)

    def add(self, rec: CallRecord, feats: CallFeatures, keep_text: bool) -> None:
        i = len(self.ids)
        self.ids.append(rec.id)
        self.sources.append(rec.source)
        self.conversations.append(rec.conversation_id or f"call:{rec.id}")
        self.named.append(name_of(feats))
        p, c = token_counts(rec)
        self.prompt_tokens.append(p)
        self.completion_tokens.append(c)
        self.cost.append(rec.cost_usd)
        self.kinds.append(response_kind(rec))
        self.called.append([tc.name for tc in rec.response.tool_calls] if rec.response else [])
        self.human_facing.append(rec.human_facing)
        if keep_text:
            self.label_text[i] = f"{feats.instructions[:600]}\n{feats.last_turn[:600]}"
            self.snippet[i] = feats.last_turn[:240]


# ---------------------------------------------------------------------- stage ----

class ClusterStage(Stage):
    name = "cluster"
    version = "2"
    Config = ClusterConfig
    upstream = ("curate",)
    preserve = ("shards",)  # engine: ray's finished shards, for a rerun after a crash
    description = "S3: cluster calls into recurring tasks; split each for training and eval."

    def run(self, ctx: StageContext, cfg: ClusterConfig) -> StageResult:
        src = ctx.upstream_dir("curate") / "calls.parquet"
        if not src.exists():
            raise InputError(f"{src}: missing; run curate first")
        if cfg.engine == "ray":
            from slmconvert.stages.cluster_sharded import ShardedClusterer

            return ShardedClusterer(ctx, cfg).run(src)
        return Clusterer(ctx, cfg).run(src)

    def report(self, counts: dict[str, Any], summary: dict[str, Any]) -> Report:
        rows = []
        for cl in summary.get("clusters", []):
            kind, share = next(iter(cl["response_kinds"].items()), ("-", 0))
            sp = cl["split"]
            route = "SLM candidate" if cl["route"] == "slm-candidate" else \
                f"LLM: {cl['why_llm'].split(':')[0]}"
            rows.append([cl["id"], cl["label"][:30], ", ".join(cl["tools"][:2]), cl["calls"],
                         "-" if cl["share_tokens"] is None else f"{100 * cl['share_tokens']:.0f}%",
                         f"{kind} {round(100 * share)}%",
                         f"{sp['train']}/{sp['val']}/{sp['test']}", route])
        out = Report(tables=[Table(
            f"{counts['clusters']} task clusters over {counts['calls']} calls "
            f"(k by {summary.get('k_chosen_by')})",
            ["id", "label", "tools called", "calls", "tokens", "response", "train/val/test",
             "route"], rows)])
        if summary.get("conversations_in_several_sides"):
            out.notes.append(f"{summary['conversations_in_several_sides']} conversation(s) span "
                             "clusters whose splits put them on different sides (each cluster "
                             "keeps it whole)")
        return out


class Clusterer:
    def __init__(self, ctx: StageContext, cfg: ClusterConfig) -> None:
        self.ctx, self.cfg = ctx, cfg

    def run(self, src: Path) -> StageResult:
        cfg, ctx = self.cfg, self.ctx
        n = count_rows(src)
        if n < 2:
            raise InputError(f"{src}: {n} call(s) after curate; clustering needs at least 2")
        ctx.reporter.info(f"cluster: loading the embedding model {cfg.embedding.model}")
        embedder = Embedder.load(cfg.embedding.model, cfg.embedding.batch_size,
                                 cfg.embedding.max_tokens, ctx.reporter)
        featurizer = Featurizer(embedder, cfg.weights, cfg.embedding.max_chars)
        rng = np.random.default_rng(ctx.seed)
        fitted = np.sort(rng.choice(n, size=min(n, cfg.selection.fit_max), replace=False))
        is_fitted = np.zeros(n, dtype=bool)
        is_fitted[fitted] = True

        # Pass 1: features of every call, into a file-backed matrix (memory stays flat).
        calls = Calls()
        tmp = ctx.stage_dir / ".tmp-features.npy"
        x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                      shape=(n, featurizer.layout.dim))
        try:
            with ctx.reporter.task("cluster: features and embeddings", total=n) as task:
                self._pass1(src, featurizer, calls, x, is_fitted, task)
            fitted_x = np.asarray(x[fitted])
            keys = task_keys(calls, cfg)
            fit = fit_clusters(fitted_x, k=cfg.selection.k, k_min=cfg.selection.k_min,
                               k_max=cfg.selection.k_max, seed=ctx.seed,
                               tolerance=cfg.selection.tolerance,
                               silhouette_sample=cfg.selection.silhouette_sample,
                               keys=None if keys is None else keys[fitted],
                               reporter=ctx.reporter)
            labels = self._labels(fit, x, fitted, keys)
            ids = [f"c{c:02d}" for c in range(fit.k)]
            req = featurizer.layout.request_dim
            cents, thresholds = Assigner.build_chunked(x, req, labels, fit.k,
                                                       quantile=cfg.assign.quantile,
                                                       margin=cfg.assign.margin)
            dist = Assigner.distances_chunked(x, req, labels, cents)
        finally:
            del x
            tmp.unlink(missing_ok=True)

        Assigner(ids, cents, thresholds, featurizer).save(ctx.stage_dir / ASSIGNER)
        sides = split_clusters(calls.conversations, labels, fit.k, cfg.splits, ctx.seed)
        clusters = describe(calls, labels, ids, dist, sides, fitted, cfg)
        self._write_assignments(calls, labels, ids, sides, dist)
        self._write_splits(src, labels, ids, sides)
        k_lo = min(max(cfg.selection.k_min, fit.floor), cfg.selection.k_max)
        meta = {
            "k": fit.k, "k_chosen_by": "config" if cfg.selection.k else "silhouette",
            "k_range": [k_lo, cfg.selection.k_max], "k_floor": fit.floor,
            "silhouette": fit.scores,
            "silhouette_margin": silhouette_margin(fit.scores, fit.k),
            "merged_below_best": fit.merged,
            "calls": n, "fitted_calls": len(fitted),
            "features": {"embedding_model": cfg.embedding.model,
                         "embedding_dim": embedder.dim,
                         "max_tokens": cfg.embedding.max_tokens,
                         "max_chars": cfg.embedding.max_chars,
                         "weights": cfg.weights.model_dump(),
                         **cfg.features.model_dump(),
                         "named_calls": sum(bool(nm) for nm in calls.named)},
            "clusters": clusters,
        }
        write_json_atomic(ctx.stage_dir / CLUSTERS, meta)
        if cfg.map:
            draw_map(fitted_x, labels[fitted], clusters, ctx.stage_dir / MAP, ctx.seed)
        return self._result(meta, sides, calls, labels)

    def _pass1(self, src: Path, featurizer: Featurizer, calls: Calls, x: np.ndarray,
               is_fitted: np.ndarray, task: Task) -> None:
        """Features of every call into ``calls`` and the rows of ``x``, in batches of
        BATCH from the first call (the sharded engine keeps the same batches)."""
        batch: list[CallRecord] = []
        for rec in iter_records(src):
            batch.append(rec)
            if len(batch) >= BATCH:
                self._featurize(batch, featurizer, calls, x, is_fitted)
                task.advance(len(batch))
                batch = []
        if batch:
            self._featurize(batch, featurizer, calls, x, is_fitted)
            task.advance(len(batch))

    def _featurize(self, batch: list[CallRecord], featurizer: Featurizer, calls: Calls,
                   x: np.ndarray, is_fitted: np.ndarray) -> None:
        start = len(calls.ids)
        feats = featurizer.features(batch)
        for i, (rec, f) in enumerate(zip(batch, feats, strict=True)):
            calls.add(rec, f, keep_text=bool(is_fitted[start + i]))
        x[start:start + len(batch)] = featurizer.vectors(feats)

    def _labels(self, fit: Fit, x: np.ndarray, fitted: np.ndarray, keys: np.ndarray | None
                ) -> np.ndarray:
        n = len(x)
        if len(fitted) == n:
            return fit.labels
        labels = np.empty(n, dtype=np.int64)
        for s in range(0, n, 4096):
            labels[s:s + 4096] = predict(fit, np.asarray(x[s:s + 4096]),
                                         None if keys is None else keys[s:s + 4096])
        labels[fitted] = fit.labels
        return labels

    def _write_assignments(self, calls: Calls, labels: np.ndarray, ids: list[str],
                           sides: list[str], dist: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            "id": calls.ids, "source": calls.sources, "conversation_id": calls.conversations,
            "cluster": [ids[c] for c in labels], "split": sides,
            "distance": dist.astype(np.float32),
        })
        with atomic_path(self.ctx.stage_dir / ASSIGNMENTS) as tmp:
            pq.write_table(table, tmp, compression="zstd")

    def _write_splits(self, src: Path, labels: np.ndarray, ids: list[str],
                      sides: list[str]) -> None:
        from contextlib import ExitStack

        root = self.ctx.stage_dir / SPLITS
        with ExitStack() as stack, \
                self.ctx.reporter.task("cluster: writing splits", total=len(sides)) as task:
            writers: dict[tuple[int, str], RecordWriter] = {}
            for c in range(len(ids)):
                (root / ids[c]).mkdir(parents=True, exist_ok=True)
                for side in SIDES:
                    writers[c, side] = stack.enter_context(
                        RecordWriter(root / ids[c] / f"{side}.parquet", row_group_size=256))
            for i, row in enumerate(iter_rows(src)):
                writers[int(labels[i]), sides[i]].write_row(row)
                task.advance()

    def _result(self, meta: dict[str, Any], sides: list[str], calls: Calls,
                labels: np.ndarray) -> StageResult:
        clusters = meta["clusters"]
        side_counts = Counter(sides)
        crossing = _conversations_on_two_sides(calls.conversations, sides)
        counts = {"calls": meta["calls"], "clusters": meta["k"],
                  "evaluable_clusters": sum(c["evaluable"] for c in clusters),
                  **{s: side_counts.get(s, 0) for s in SIDES}}
        if sum(side_counts.values()) != meta["calls"]:
            raise AssertionError(f"cluster split counts do not reconcile: {counts}")
        summary = {"k": meta["k"], "k_chosen_by": meta["k_chosen_by"],
                   "k_floor": meta["k_floor"], "silhouette": meta["silhouette"],
                   "silhouette_margin": meta["silhouette_margin"],
                   "merged_below_best": meta["merged_below_best"],
                   "conversations_in_several_sides": crossing,
                   "clusters": [{k: c[k] for k in ("id", "label", "tools", "calls", "share_calls",
                                                   "share_tokens", "response_kinds",
                                                   "prompt_tokens_p50", "evaluable",
                                                   "split", "human_facing", "route",
                                                   "why_llm")}
                                for c in clusters]}
        return StageResult(counts=counts, summary=summary)


def task_keys(calls: Calls, cfg: ClusterConfig) -> np.ndarray | None:
    """What tells the calls' tasks apart besides distances: their logged names and their
    response kinds, as configured (the ``keys`` of :func:`fit_clusters`)."""
    columns = []
    if cfg.features.use_names:
        columns.append(calls.named)
    if cfg.features.response_kind_apart:
        columns.append(calls.kinds)
    return key_codes(columns, cfg.selection.min_key_calls) if columns else None


def silhouette_margin(scores: dict[int, float], k: int) -> dict[str, Any] | None:
    """How clearly the silhouette picked k: the best k against the runner-up, and the
    chosen k against the best (they differ when clusters were merged below the best)."""
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    (best_k, best), runner = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    chosen = scores.get(k)
    return {"best_k": best_k, "best": best,
            "runner_up_k": runner[0] if runner else None,
            "runner_up": runner[1] if runner else None,
            "best_minus_runner_up": round(best - runner[1], 4) if runner else None,
            "chosen_k": k, "chosen": chosen,
            "chosen_minus_best": round(chosen - best, 4) if chosen is not None else None}


def _conversations_on_two_sides(conversations: list[str], sides: list[str]) -> int:
    """Conversations whose calls (in different clusters) sit on different sides."""
    seen: dict[str, set[str]] = defaultdict(set)
    for conv, side in zip(conversations, sides, strict=True):
        seen[conv].add(side)
    return sum(len(s) > 1 for s in seen.values())


# --------------------------------------------------------------------- splits ----

def _rank(seed: int, conversation: str) -> bytes:
    return hashlib.sha256(f"{seed}:{conversation}".encode()).digest()


def split_clusters(conversations: list[str], labels: np.ndarray, k: int, cfg: SplitConfig,
                   seed: int) -> list[str]:
    """train/val/test per call; within a cluster every conversation is on one side.

    Conversations are taken in one seeded hash order for every cluster, test first, then
    val, so a conversation spanning clusters usually lands on the same side in each."""
    sides = ["train"] * len(conversations)
    members: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (conv, c) in enumerate(zip(conversations, labels, strict=True)):
        members[int(c)][conv].append(i)
    for c in range(k):
        groups = members[c]
        n = sum(len(v) for v in groups.values())
        want = {"test": max(cfg.min_test, round(cfg.test_fraction * n)),
                "val": round(cfg.val_fraction * n)}
        got = {"test": 0, "val": 0}
        for conv in sorted(groups, key=lambda g: _rank(seed, g)):
            side = next((s for s in ("test", "val") if got[s] < want[s]), "train")
            for i in groups[conv]:
                sides[i] = side
            if side != "train":
                got[side] += len(groups[conv])
    return sides


# ------------------------------------------------------------------- describe ----

_MASK_TOKEN = re.compile(r"<[A-Z_]+>")


def ctfidf_terms(texts_by_cluster: list[list[str]], top: int = 5) -> list[list[str]]:
    """Distinctive terms per cluster by class-based TF-IDF (BERTopic's c-TF-IDF)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    docs = [_MASK_TOKEN.sub(" ", " ".join(t)) for t in texts_by_cluster]
    if not any(d.strip() for d in docs):
        return [[] for _ in docs]
    stop = sorted(ENGLISH_STOP_WORDS | {"null", "true", "false", "json", "none"})
    vec = CountVectorizer(stop_words=stop, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z_]{2,}\b",
                          max_features=50_000)
    try:
        counts = vec.fit_transform(docs).toarray().astype(np.float64)
    except ValueError:  # only stop words
        return [[] for _ in docs]
    terms = vec.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    avg = counts.sum() / max(len(docs), 1)
    idf = np.log(1 + avg / np.maximum(counts.sum(axis=0), 1))
    scores = tf * idf
    return [[str(terms[j]) for j in np.argsort(-row, kind="stable")[:top] if row[j] > 0]
            for row in scores]


def _pct(values: list[int], q: float) -> int:
    return int(np.percentile(values, q)) if values else 0


def describe(calls: Calls, labels: np.ndarray, ids: list[str], dist: np.ndarray,
             sides: list[str], fitted: np.ndarray, cfg: ClusterConfig) -> list[dict[str, Any]]:
    n = len(calls.ids)
    total_tokens = sum(calls.prompt_tokens) + sum(calls.completion_tokens)
    known_cost = [c for c in calls.cost if c is not None]
    total_cost = sum(known_cost) if known_cost else None
    texts: list[list[str]] = [[] for _ in ids]
    for i in fitted:
        texts[int(labels[i])].append(calls.label_text[int(i)])
    terms = ctfidf_terms(texts)
    out = []
    for c, cid in enumerate(ids):
        idx = np.flatnonzero(labels == c)
        pt = [calls.prompt_tokens[i] for i in idx]
        ct = [calls.completion_tokens[i] for i in idx]
        kinds = Counter(calls.kinds[i] for i in idx)
        tools = Counter(t for i in idx for t in calls.called[i])
        cost = [float(v) for i in idx if (v := calls.cost[i]) is not None]
        side = Counter(sides[i] for i in idx)
        evaluable = side["test"] >= cfg.splits.min_test and side["train"] >= cfg.splits.min_train
        reps = sorted((i for i in idx if int(i) in calls.snippet), key=lambda i: (dist[i], i))
        tool_names = [t for t, _ in tools.most_common(3)]
        label = " ".join(terms[c][:3]) or (tool_names[0] if tool_names else cid)
        hf_share = sum(calls.human_facing[i] for i in idx) / len(idx)
        out.append({
            "id": cid, "label": label, "terms": terms[c], "tools": tool_names,
            "calls": len(idx), "share_calls": round(len(idx) / n, 4),
            "share_tokens": round((sum(pt) + sum(ct)) / total_tokens, 4) if total_tokens
            else None,
            "share_cost": round(sum(cost) / total_cost, 4) if total_cost else None,
            "response_kinds": {k: round(v / len(idx), 3) for k, v in kinds.most_common()},
            "prompt_tokens_p50": _pct(pt, 50), "prompt_tokens_p95": _pct(pt, 95),
            "completion_tokens_p50": _pct(ct, 50), "completion_tokens_p95": _pct(ct, 95),
            "human_facing": hf_share >= 0.5, "human_facing_share": round(hf_share, 3),
            "split": {s: side.get(s, 0) for s in SIDES},
            "evaluable": evaluable,
            "route": "slm-candidate" if evaluable and hf_share < 0.5 else "llm",
            "why_llm": None if evaluable else (
                f"too small to evaluate: needs {cfg.splits.min_test} test and "
                f"{cfg.splits.min_train} train calls"),
            "conversations": len({calls.conversations[i] for i in idx}),
            "representatives": [{"id": calls.ids[i], "source": calls.sources[i],
                                 "last_turn": calls.snippet[int(i)]}
                                for i in reps[:cfg.representatives]],
        })
        if out[-1]["why_llm"] is None and hf_share >= 0.5:
            out[-1]["why_llm"] = "human-facing"
    return out


def draw_map(points: np.ndarray, labels: np.ndarray, clusters: list[dict[str, Any]],
             path: Path, seed: int) -> None:
    """A 2-D PCA projection of the fitted calls, coloured by cluster, labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    xy = np.zeros((len(points), 2))
    if len(points) > 2:
        pca = PCA(n_components=2, svd_solver=pca_solver(points), random_state=seed)
        xy = pca.fit_transform(points)
    fig, ax = plt.subplots(figsize=(10, 7), dpi=110)
    cmap = plt.get_cmap("tab20")
    for c, meta in enumerate(clusters):
        pts = xy[labels == c]
        if not len(pts):
            continue
        ax.scatter(pts[:, 0], pts[:, 1], s=8, alpha=0.6, color=cmap(c % 20),
                   label=f"{meta['id']} {meta['label'][:40]} ({meta['calls']})")
        cx, cy = np.median(pts, axis=0)
        ax.annotate(meta["id"], (cx, cy), fontsize=9, weight="bold", ha="center",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8})
    ax.set_title(f"{len(clusters)} task clusters, {len(points)} calls (PCA of the features)")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
