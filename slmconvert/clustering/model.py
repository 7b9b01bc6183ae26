"""Feature vectors, the clustering fit and the assigner that S6 and the router reuse.

A call's vector is a concatenation of weighted blocks, each of unit length before its
weight: hashed structural tokens (tools, template skeleton), the embeddings of the masked
instructions and of the last turn, and (for the fit only) the response's kind and detail.
The request blocks come first, so the request-only view used by :class:`Assigner` is
a prefix of the fit vector.

Logged agent/workflow/step names are not a block: a log often names some calls and not
others, and a missing name would look like a different task. They enter the fit as
constraints instead (:func:`fit_clusters`, ``names``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from slmconvert.clustering.embed import Embedder
from slmconvert.clustering.features import CallFeatures, call_features, hash_block
from slmconvert.core.fsio import atomic_path
from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.core.records import CallRecord
from slmconvert.errors import InputError

HASHED = {"tools": 128, "skeleton": 256}
RESPONSE = {"response_kind": 64, "response": 64}
ASSIGNER = "assigner.npz"


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: float = Field(0.7, ge=0, description=(
        "The offered tools: names, parameter signatures and the set as a whole."))
    skeleton: float = Field(0.25, ge=0, description=(
        "The instructions' template frame: first line and heading-like lines, masked."))
    instructions: float = Field(1.0, ge=0, description=(
        "Embedding of the masked system prompt (or first user turn when there is none)."))
    last_turn: float = Field(0.6, ge=0, description=(
        "Embedding of the last request turn (user text, tool result or tool call)."))
    response_kind: float = Field(0.5, ge=0, description=(
        "What the response is: a tool call, JSON or free text. Used to fit the clusters "
        "only: assignment sees the request alone."))
    response: float = Field(0.3, ge=0, description=(
        "The response's detail: the tools it called or its JSON keys. Fit only, like "
        "response_kind."))


@dataclass(frozen=True)
class Layout:
    """Where each block sits in a vector; request blocks first, response last."""

    emb_dim: int

    @property
    def request_dim(self) -> int:
        return sum(HASHED.values()) + 2 * self.emb_dim

    @property
    def dim(self) -> int:
        return self.request_dim + sum(RESPONSE.values())


class Featurizer:
    def __init__(self, embedder: Embedder, weights: Weights, max_chars: int = 2000) -> None:
        self.embedder, self.w, self.max_chars = embedder, weights, max_chars
        self.layout = Layout(embedder.dim)

    def features(self, records: Sequence[CallRecord]) -> list[CallFeatures]:
        return [call_features(r, self.max_chars) for r in records]

    def vectors(self, feats: Sequence[CallFeatures], with_response: bool = True) -> np.ndarray:
        """Rows of the fit space (``with_response``) or of the request-only prefix."""
        w = self.w
        hashed = [np.stack([hash_block(getattr(f, name), dim) for f in feats]) * getattr(w, name)
                  for name, dim in HASHED.items()]
        instr = self.embedder.encode([f.instructions for f in feats]) * w.instructions
        last = self.embedder.encode([f.last_turn for f in feats]) * w.last_turn
        blocks = [*hashed, instr, last]
        if with_response:
            blocks += [np.stack([hash_block(getattr(f, name), dim) for f in feats])
                       * getattr(w, name) for name, dim in RESPONSE.items()]
        return np.hstack(blocks).astype(np.float32)


# ---------------------------------------------------------------------- fit ----

@dataclass
class Fit:
    labels: np.ndarray          # cluster index per fitted row, 0 = largest cluster
    k: int
    scores: dict[int, float]    # silhouette per k tried (empty when k was given)
    projector: Any              # PCA fitted on the rows, for prediction and the map
    centroids: np.ndarray       # per cluster, in the projection
    cluster_keys: np.ndarray    # per cluster, the key values its calls carry (-1: none)
    merged: list[dict[str, Any]] = field(default_factory=list)  # merges below the best k
    floor: int = 1              # clusters the keys alone call for (k is never below it)


def fit_clusters(x: np.ndarray, *, k: int | None, k_min: int, k_max: int, seed: int,
                 tolerance: float = 0.05, silhouette_sample: int = 3000,
                 keys: np.ndarray | None = None, reporter: Reporter | None = None) -> Fit:
    """Clusters of the rows of ``x``; unless ``k`` is given, the best cut by silhouette,
    merged back while merging costs the merged calls little (:func:`_choose_k`).

    In a PCA projection, KMeans first cuts the calls into many small groups; Ward linkage
    over their centroids then gives one nested partition per k, so the candidates differ
    only in what they merge (no KMeans restart luck between one k and the next). The
    chosen cut is refined by k-means iterations from its centroids. Deterministic for a given
    input and seed; clusters are numbered by size (ties by first member).

    ``keys`` (n rows x one column per attribute, -1 where unknown) is what is known to
    tell tasks apart, such as logged names and response kinds: two calls that both have
    a value for an attribute, and differ in it, belong to different tasks. A small group
    holding such calls is split (calls with unknown values join the nearest part that
    agrees with them), groups that disagree are merged only after all others, and k is
    never below the number of groups that can be told apart this way."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    n = len(x)
    if n < 2:
        raise InputError(f"cannot cluster {n} call(s); need at least 2")
    reporter = reporter or NullReporter()
    pca = PCA(n_components=min(64, n, x.shape[1]), svd_solver=pca_solver(x), random_state=seed)
    z = pca.fit_transform(x).astype(np.float64)
    _, first = np.unique(z.round(6), axis=0, return_index=True)
    distinct = len(first)
    unique_rows = np.sort(first)
    m = max(1, min(distinct, max(4 * k_max, 60), n))
    micro = KMeans(n_clusters=m, n_init=3, random_state=seed).fit(z).labels_.astype(np.int64)
    keys = np.full((n, 0), -1, dtype=np.int64) if keys is None else \
        np.asarray(keys, dtype=np.int64).reshape(n, -1)
    micro, group_keys = _split_by_keys(z, micro, keys)
    m = len(group_keys)
    tree, floor = None, 1
    if m > 1:
        centers = np.stack([z[micro == c].mean(axis=0) for c in range(m)])
        d = pdist(centers)
        apart = _disagree(group_keys)
        scale = float(d.max()) + 1.0
        if apart.any():  # merged only after everything else: far beyond any real distance
            d[apart] += _APART * scale
        tree = linkage(d, method="ward")
        # Ward heights of real merges stay within a few tens of the largest distance;
        # a merge across keys keeps a large part of its penalty.
        floor = 1 + int((tree[:, 2] >= np.sqrt(_APART) * scale).sum())

    def cut(kk: int) -> np.ndarray:
        if tree is None:
            return np.zeros(n, dtype=np.int64)
        groups = fcluster(tree, t=kk, criterion="maxclust") - 1
        return np.asarray(groups[micro], dtype=np.int64)

    scores: dict[int, float] = {}
    merged: list[dict[str, Any]] = []
    if k is None:  # the keys win over k_max: k is never below the floor
        lo = max(k_min, floor)
        k, scores, merged = _choose_k(z, unique_rows, cut, k_min=lo, k_max=max(min(k_max, m), lo),
                                      floor=floor, tolerance=tolerance,
                                      sample=silhouette_sample, seed=seed, reporter=reporter)
    k = max(1, min(k, m))
    labels, cents, ckeys = _refine(z, cut(k), keys)
    k = len(cents)
    order = _by_size(labels, k)
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return Fit(labels=remap[labels], k=k, scores=scores, projector=pca,
               centroids=cents[order], cluster_keys=ckeys[order], merged=merged, floor=floor)


def pca_solver(x: np.ndarray) -> str:
    """Exact PCA either way: through the features' covariance when there are more rows than
    features (much cheaper for long logs), else a full SVD."""
    return "covariance_eigh" if x.shape[0] >= x.shape[1] else "full"


def _refine(z: np.ndarray, labels: np.ndarray, keys: np.ndarray, max_iter: int = 100
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means iterations from a partition, each call moving only to clusters that agree
    with its keys. Returns labels (clusters renumbered 0..k-1), centroids, cluster keys."""
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.astype(np.int64).ravel()
    k = int(labels.max()) + 1
    ckeys = _cluster_keys(keys, labels, k)
    cents = np.stack([z[labels == c].mean(axis=0) for c in range(k)])
    for _ in range(max_iter):
        new = nearest(z, cents, keys, ckeys)
        if np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):  # an emptied cluster keeps its centroid
            if (labels == c).any():
                cents[c] = z[labels == c].mean(axis=0)
    return labels, cents, ckeys


def _cluster_keys(keys: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per cluster and attribute, the one known value among its calls (-1: none, or
    several, which happens only when k was set below what the keys call for)."""
    out = np.full((k, keys.shape[1]), -1, dtype=np.int64)
    for c in range(k):
        for j in range(keys.shape[1]):
            values = np.unique(keys[labels == c, j])
            values = values[values >= 0]
            if len(values) == 1:
                out[c, j] = values[0]
    return out


def nearest(z: np.ndarray, centroids: np.ndarray, keys: np.ndarray | None = None,
            cluster_keys: np.ndarray | None = None) -> np.ndarray:
    """Each row's nearest centroid among the clusters that agree with its keys."""
    d = (z ** 2).sum(1)[:, None] - 2 * z @ centroids.T + (centroids ** 2).sum(1)[None, :]
    if keys is not None and cluster_keys is not None and keys.shape[1]:
        a, b = keys[:, None, :], cluster_keys[None, :, :]
        d[((a >= 0) & (b >= 0) & (a != b)).any(-1)] = np.inf
    return np.asarray(d.argmin(axis=1), dtype=np.int64)


_APART = 1e6  # added to the distance of groups that disagree on a key (times the largest)


def _choose_k(z: np.ndarray, rows: np.ndarray, cut: Callable[[int], np.ndarray], *, k_min: int,
              k_max: int, tolerance: float, sample: int, seed: int, reporter: Reporter,
              floor: int = 1) -> tuple[int, dict[int, float], list[dict[str, Any]]]:
    """The best-scoring cut, then merges back down the tree that its own calls do not pay for.

    Every cut in [k_min, k_max] is scored by its mean silhouette on one seeded sample of
    the distinct rows (``rows``): calls with identical features would each make a perfect
    one-point cluster, so they count once, and k is at most half of them. From the best
    cut, the two clusters that the tree merges next are merged as long as keeping them
    apart raises the mean silhouette *of their own calls* by less than ``tolerance``.
    Sub-groups of one task (split by a filled-in slot, say) gain little from being apart,
    while two tasks lose a lot when merged. Judging a merge by the calls it touches, not
    by the mean over all calls, keeps a small task from being merged into a big one only
    because it is a small share of the log. With too few distinct rows to score any
    cut, k is the ``floor`` that the keys call for (1 without keys)."""
    from sklearn.metrics import pairwise_distances, silhouette_samples

    distinct = len(rows)
    hi = min(k_max, distinct - 1, max(2, distinct // 2))
    lo = max(k_min, 2)
    if lo > hi:
        return max(floor, 1), {}, []
    rng = np.random.default_rng(seed)
    pick = rows if distinct <= sample else np.sort(rng.choice(rows, size=sample, replace=False))
    dist = pairwise_distances(z[pick])  # once for every k
    scores: dict[int, float] = {}
    values: dict[int, np.ndarray] = {}
    labels: dict[int, np.ndarray] = {}
    with reporter.task("cluster: choosing k (silhouette)", total=max(0, hi - lo + 1)) as t:
        for kk in range(lo, hi + 1):
            lab = cut(kk)[pick]
            if 2 <= len(np.unique(lab)) < len(pick):
                labels[kk] = lab
                values[kk] = silhouette_samples(dist, lab, metric="precomputed")
                scores[kk] = round(float(values[kk].mean()), 4)
            t.advance()
    if not scores:
        return max(floor, 1), scores, []
    best = max(scores, key=lambda kk: (scores[kk], -kk))
    k, merged = best, []
    while k - 1 in scores:
        apart, together = labels[k], labels[k - 1]
        # the one cluster of the k-1 cut that is two clusters in the k cut
        pair = next((c for c in np.unique(together)
                     if len(np.unique(apart[together == c])) > 1), None)
        touched = together == pair
        gain = float(values[k][touched].mean() - values[k - 1][touched].mean()) \
            if pair is not None else 0.0
        if gain >= tolerance:
            break
        merged.append({"k": k - 1, "calls": int(touched.sum()), "gain": round(gain, 4)})
        k -= 1
    return k, scores, merged


def key_codes(columns: Sequence[Sequence[str]], min_calls: int) -> np.ndarray:
    """The ``keys`` of :func:`fit_clusters` from one list of values per attribute ('' for
    unknown): each distinct value as an int, -1 where unknown. A call whose combination of
    values is on fewer than ``min_calls`` calls counts as unknown in every attribute: a
    rare combination (a name logged a few times, the odd response of another kind) is no
    evidence of a task of its own."""
    n = len(columns[0]) if columns else 0
    rows = list(zip(*columns, strict=True)) if columns else [()] * n
    counts = Counter(rows)
    rows = [r if counts[r] >= min_calls else ("",) * len(columns) for r in rows]
    out = np.full((n, len(columns)), -1, dtype=np.int64)
    for j in range(len(columns)):
        values = sorted({r[j] for r in rows} - {""})
        code = {v: i for i, v in enumerate(values)}
        out[:, j] = [code.get(r[j], -1) for r in rows]
    return out


def _disagree(keys: np.ndarray) -> np.ndarray:
    """Condensed (pdist order) mask of the pairs of rows of ``keys`` that disagree."""
    i, j = np.triu_indices(len(keys), 1)
    a, b = keys[i], keys[j]
    return ((a >= 0) & (b >= 0) & (a != b)).any(axis=1) if keys.shape[1] else \
        np.zeros(len(i), dtype=bool)


def _split_by_keys(z: np.ndarray, micro: np.ndarray, keys: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Small groups split until none holds two calls that disagree on a key; returns the
    new group of each row and each group's keys (-1 where none of its calls has one).

    Within a group, the distinct fully known keys make the parts; a call with unknown
    values joins the nearest part (by centroid) that agrees with it, or starts one."""
    out = np.empty_like(micro)
    group_keys: list[np.ndarray] = []
    width = keys.shape[1]
    for c in range(int(micro.max()) + 1):
        rows = np.flatnonzero(micro == c)
        if not len(rows):
            continue
        ks = keys[rows]
        order = sorted({tuple(r) for r in ks.tolist()}, key=lambda t: (-sum(v >= 0 for v in t), t))
        parts: list[tuple[int, ...]] = []
        for t in order:  # most specific first: fully known keys become parts
            if not any(all(v < 0 or v == p for v, p in zip(t, part, strict=True))
                       for part in parts):
                parts.append(t)
        if len(parts) <= 1:
            out[rows] = len(group_keys)
            group_keys.append(np.array(parts[0] if parts else (-1,) * width, dtype=np.int64))
            continue
        arr = np.array(parts, dtype=np.int64)
        agree = ((ks[:, None, :] < 0) | (ks[:, None, :] == arr[None, :, :])).all(-1)
        exact = (ks[:, None, :] == arr[None, :, :]).all(-1)
        own = np.where(exact.any(1), exact.argmax(1), -1)
        cents = np.stack([z[rows[own == p]].mean(axis=0) if (own == p).any()
                          else z[rows[agree[:, p]]].mean(axis=0) for p in range(len(parts))])
        dist = ((z[rows][:, None, :] - cents[None, :, :]) ** 2).sum(-1)
        dist[~agree] = np.inf
        part = np.where(own >= 0, own, dist.argmin(axis=1))
        used = sorted(set(part.tolist()))
        for p in used:
            out[rows[part == p]] = len(group_keys)
            group_keys.append(arr[p])
    keys_arr = np.stack(group_keys) if group_keys else np.zeros((0, width), dtype=np.int64)
    return out, keys_arr


def _by_size(labels: np.ndarray, k: int) -> list[int]:
    sizes = np.bincount(labels, minlength=k)
    first = [int(np.argmax(labels == c)) for c in range(k)]
    return sorted(range(k), key=lambda c: (-sizes[c], first[c]))


def predict(fit: Fit, x: np.ndarray, keys: np.ndarray | None = None) -> np.ndarray:
    """Clusters of rows that were not fitted: the nearest centroid that agrees with the
    row's keys (same columns and codes as the fit's)."""
    return nearest(fit.projector.transform(x).astype(np.float64), fit.centroids, keys,
                   fit.cluster_keys)


# ------------------------------------------------------------------- assign ----

@dataclass
class Assignment:
    cluster: str | None   # None: new/unassigned (stays with the LLM)
    nearest: str          # the nearest cluster, even when outside its threshold
    distance: float


class Assigner:
    """Nearest request-space centroid within that cluster's learned distance threshold.

    Everything it needs is in ``cluster/assigner.npz`` and ``cluster/clusters.json``;
    the embedding model is loaded by name from there. The router calls :meth:`assign`
    with requests only (no response yet)."""

    def __init__(self, ids: list[str], centroids: np.ndarray, thresholds: np.ndarray,
                 featurizer: Featurizer) -> None:
        self.ids, self.centroids, self.thresholds = ids, centroids, thresholds
        self.featurizer = featurizer

    @staticmethod
    def build_chunked(x: np.ndarray, request_dim: int, labels: np.ndarray, k: int, *,
                      quantile: float, margin: float, chunk: int = 4096
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Request-space centroids and per-cluster thresholds, reading ``x`` in chunks."""
        sums = np.zeros((k, request_dim), dtype=np.float64)
        for s in range(0, len(x), chunk):
            np.add.at(sums, labels[s:s + chunk], np.asarray(x[s:s + chunk, :request_dim]))
        cents = (sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None])
        cents = cents.astype(np.float32)
        d = Assigner.distances_chunked(x, request_dim, labels, cents, chunk)
        thresholds = np.array([max(float(np.quantile(d[labels == c], quantile)) * margin, 1e-3)
                               if np.any(labels == c) else 1e-3 for c in range(k)],
                              dtype=np.float32)
        return cents, thresholds

    @staticmethod
    def distances_chunked(x: np.ndarray, request_dim: int, labels: np.ndarray,
                          cents: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Each row's request-space distance to its own cluster's centroid."""
        d = np.empty(len(x), dtype=np.float32)
        for s in range(0, len(x), chunk):
            rows = np.asarray(x[s:s + chunk, :request_dim])
            d[s:s + chunk] = np.linalg.norm(rows - cents[labels[s:s + chunk]], axis=1)
        return d

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, centroids=self.centroids, thresholds=self.thresholds,
                     ids=np.array(self.ids))

    @classmethod
    def load(cls, cluster_dir: Path, embedder: Embedder | None = None,
             reporter: Reporter | None = None) -> Assigner:
        meta_path, npz_path = cluster_dir / "clusters.json", cluster_dir / ASSIGNER
        if not meta_path.exists() or not npz_path.exists():
            raise InputError(f"{cluster_dir}: no fitted clusters; run `slmconvert cluster` "
                             "first")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        feat = meta["features"]
        if embedder is None:
            embedder = Embedder.load(feat["embedding_model"], max_tokens=feat.get("max_tokens"),
                                     reporter=reporter)
        if embedder.dim != feat["embedding_dim"]:
            raise InputError(f"{cluster_dir}: fitted with {feat['embedding_dim']}-d embeddings, "
                             f"this model gives {embedder.dim}")
        with np.load(npz_path) as z:
            ids, cents, thr = [str(i) for i in z["ids"]], z["centroids"], z["thresholds"]
        featurizer = Featurizer(embedder, Weights(**feat["weights"]), feat["max_chars"])
        return cls(ids, cents, thr, featurizer)

    def assign_vectors(self, request_x: np.ndarray) -> list[Assignment]:
        d = np.sqrt(((request_x[:, None, :] - self.centroids[None, :, :]) ** 2).sum(-1))
        out = []
        for row in d:
            c = int(np.argmin(row))
            dist = float(row[c])
            out.append(Assignment(self.ids[c] if dist <= self.thresholds[c] else None,
                                  self.ids[c], round(dist, 5)))
        return out

    def assign(self, records: Sequence[CallRecord]) -> list[Assignment]:
        if not records:
            return []
        feats = self.featurizer.features(records)
        return self.assign_vectors(self.featurizer.vectors(feats, with_response=False))
