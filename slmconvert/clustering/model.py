"""Feature vectors, the clustering fit and the assigner that S6 and the router reuse.

A call's vector is a concatenation of weighted blocks, each of unit length before its
weight: hashed structural tokens (identity, tools, template skeleton), the embeddings of
the masked instructions and of the last turn, and (for the fit only) the response kind.
The request blocks come first, so the request-only view used by :class:`Assigner` is
a prefix of the fit vector.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
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

HASHED = {"identity": 64, "tools": 128, "skeleton": 256}
RESPONSE_DIM = 64
ASSIGNER = "assigner.npz"


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identity: float = Field(2.0, ge=0, description="Agent, workflow and step names (counters "
                                                   "folded: agent_turn_2 is agent_turn_#).")
    tools: float = Field(0.7, ge=0, description=(
        "The offered tools: names, parameter signatures and the set as a whole."))
    skeleton: float = Field(0.5, ge=0, description=(
        "The instructions' template frame: first line and heading-like lines, masked."))
    instructions: float = Field(1.0, ge=0, description=(
        "Embedding of the masked system prompt (or first user turn when there is none)."))
    last_turn: float = Field(0.6, ge=0, description=(
        "Embedding of the last request turn (user text, tool result or tool call)."))
    response: float = Field(0.3, ge=0, description=(
        "Response kind (tool called, JSON keys, free text). Used to fit the clusters only: "
        "assignment sees the request alone."))


@dataclass(frozen=True)
class Layout:
    """Where each block sits in a vector; request blocks first, response last."""

    emb_dim: int

    @property
    def request_dim(self) -> int:
        return sum(HASHED.values()) + 2 * self.emb_dim

    @property
    def dim(self) -> int:
        return self.request_dim + RESPONSE_DIM


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
            blocks.append(np.stack([hash_block(f.response, RESPONSE_DIM) for f in feats])
                          * w.response)
        return np.hstack(blocks).astype(np.float32)


# ---------------------------------------------------------------------- fit ----

@dataclass
class Fit:
    labels: np.ndarray          # cluster index per fitted row, 0 = largest cluster
    k: int
    scores: dict[int, float]    # silhouette per k tried (empty when k was given)
    projector: Any              # PCA fitted on the rows, for prediction and the map
    kmeans: Any


def fit_clusters(x: np.ndarray, *, k: int | None, k_min: int, k_max: int, seed: int,
                 tolerance: float = 0.05, silhouette_sample: int = 3000,
                 reporter: Reporter | None = None) -> Fit:
    """Clusters of the rows of ``x``; unless ``k`` is given, the fewest clusters in
    [k_min, k_max] whose silhouette is within ``tolerance`` of the best one.

    Preferring fewer clusters near the best score keeps one task whole when its calls
    also split cleanly by a filled-in slot (the city asked about, say): such sub-groups
    score a little higher, but they are not different tasks.

    In a PCA projection, KMeans first cuts the calls into many small groups; Ward linkage
    over their centroids then gives one nested partition per k, so the candidates differ
    only in what they merge (no KMeans restart luck between one k and the next). The
    chosen cut is refined by KMeans started from its centroids. Deterministic for a given
    input and seed; clusters are numbered by size (ties by first member)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    n = len(x)
    if n < 2:
        raise InputError(f"cannot cluster {n} call(s); need at least 2")
    reporter = reporter or NullReporter()
    pca = PCA(n_components=min(64, n, x.shape[1]), svd_solver="full", random_state=seed)
    z = pca.fit_transform(x).astype(np.float64)
    _, first = np.unique(z.round(6), axis=0, return_index=True)
    distinct = len(first)
    unique_rows = np.sort(first)
    m = max(1, min(distinct, max(4 * k_max, 60), n))
    micro = KMeans(n_clusters=m, n_init=3, random_state=seed).fit(z)
    tree = linkage(micro.cluster_centers_, method="ward") if m > 1 else None

    def cut(kk: int) -> np.ndarray:
        if tree is None:
            return np.zeros(n, dtype=np.int64)
        groups = fcluster(tree, t=kk, criterion="maxclust") - 1
        return np.asarray(groups[micro.labels_], dtype=np.int64)

    scores: dict[int, float] = {}
    if k is None:
        # Calls with identical features (same template, same masked turn) would each make
        # a perfect one-point cluster: score on distinct rows, and ask for two per cluster.
        hi = min(k_max, m, n - 1, max(2, distinct // 2))
        lo = min(max(k_min, 2), hi)
        with reporter.task("cluster: choosing k (silhouette)", total=max(0, hi - lo + 1)) as t:
            for kk in range(lo, hi + 1):
                labels = cut(kk)[unique_rows]
                if 2 <= len(set(labels.tolist())) < len(unique_rows):
                    scores[kk] = round(float(silhouette_score(
                        z[unique_rows], labels, sample_size=min(distinct, silhouette_sample),
                        random_state=seed)), 4)
                t.advance()
        top = max(scores.values(), default=0.0)
        k = min((kk for kk, sc in scores.items() if sc >= top - tolerance), default=1)
    k = max(1, min(k, m))
    start = cut(k)
    k = int(start.max()) + 1
    init = np.stack([z[start == c].mean(axis=0) for c in range(k)])
    km = KMeans(n_clusters=k, init=init, n_init=1, random_state=seed).fit(z)
    k = len(km.cluster_centers_)
    order = _by_size(km.labels_, k)
    km.cluster_centers_ = km.cluster_centers_[order]
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return Fit(labels=remap[km.labels_], k=k, scores=scores, projector=pca, kmeans=km)


def _by_size(labels: np.ndarray, k: int) -> list[int]:
    sizes = np.bincount(labels, minlength=k)
    first = [int(np.argmax(labels == c)) for c in range(k)]
    return sorted(range(k), key=lambda c: (-sizes[c], first[c]))


def predict(fit: Fit, x: np.ndarray) -> np.ndarray:
    return np.asarray(fit.kmeans.predict(fit.projector.transform(x)), dtype=np.int64)


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
