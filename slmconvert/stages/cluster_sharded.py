"""Cluster on Ray (``engine: ray``): features and embeddings of every call computed in
parallel (one embedder per actor, shards of whole embedding batches, so every call is
embedded in the same batch as in a local run), the fit once on the driver on the same
seeded sample, and the calls outside the sample assigned in parallel. Everything after
(thresholds, splits, descriptions, files) is the local code on the merged result.
Finished shards are kept under ``shards/`` until the stage succeeds, so a rerun after a
crash resumes from them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from slmconvert.clustering.embed import Embedder
from slmconvert.clustering.model import Featurizer, Fit, predict
from slmconvert.core.fsio import atomic_path, write_json_atomic
from slmconvert.core.progress import Task
from slmconvert.core.records import from_row
from slmconvert.engine import ray_engine
from slmconvert.engine.shards import Shard, checkpoint_dir, plan, read_rows
from slmconvert.errors import ConfigError
from slmconvert.pipeline.stage import StageResult
from slmconvert.stages.cluster import BATCH, Calls, ClusterConfig, Clusterer

SHARDS = "shards"


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


class FeatureWorker(ray_engine.ShardWorker):
    """Features, embeddings and the small per-call columns of a shard."""

    def __init__(self, src: str, out: str, cfg: str) -> None:
        self.src, self.out = Path(src), Path(out)
        c = ClusterConfig.model_validate_json(cfg)
        embedder = Embedder.load(c.embedding.model, c.embedding.batch_size,
                                 c.embedding.max_tokens)
        self.featurizer = Featurizer(embedder, c.weights, c.embedding.max_chars)
        self.is_fitted = np.load(self.out / "fitted.npy", mmap_mode="r")

    def process(self, item: dict[str, Any]) -> dict[str, Any]:
        stem = self.out / f"feat-{item['index']:05d}"
        start, stop = item["start"], item["stop"]
        if not stem.with_suffix(".json").exists():
            calls = Calls()
            x = np.zeros((stop - start, self.featurizer.layout.dim), dtype=np.float32)
            batch = []
            for row in read_rows(self.src, start, stop):
                batch.append(from_row(row))
                if len(batch) >= BATCH:
                    self._featurize(batch, calls, x, start)
            if batch:
                self._featurize(batch, calls, x, start)
            _save_npy(stem.with_suffix(".npy"), x)
            write_json_atomic(stem.with_suffix(".json"), dataclasses.asdict(calls))
        return {"index": item["index"], "rows": stop - start}

    def _featurize(self, batch: list[Any], calls: Calls, x: np.ndarray, start: int) -> None:
        at = len(calls.ids)
        feats = self.featurizer.features(batch)
        for i, (rec, f) in enumerate(zip(batch, feats, strict=True)):
            calls.add(rec, f, keep_text=bool(self.is_fitted[start + at + i]))
        x[at:at + len(batch)] = self.featurizer.vectors(feats)
        batch.clear()


class AssignWorker(ray_engine.ShardWorker):
    """Cluster of each call of a shard, from the fit made on the driver."""

    def __init__(self, out: str, fit: Fit, keys: np.ndarray | None) -> None:
        self.out, self.fit, self.keys = Path(out), fit, keys

    def process(self, item: dict[str, Any]) -> dict[str, Any]:
        path = self.out / f"labels-{item['index']:05d}.npy"
        if not path.exists():
            x = np.load(self.out / f"feat-{item['index']:05d}.npy")
            keys = None if self.keys is None else self.keys[item["start"]:item["stop"]]
            _save_npy(path, predict(self.fit, x, keys).astype(np.int64))
        return {"index": item["index"], "rows": item["stop"] - item["start"]}


class ShardedClusterer(Clusterer):
    workers = 1
    ckpt: Path
    shards: list[Shard]

    def run(self, src: Path) -> StageResult:
        from slmconvert.core.parquet import count_rows

        cfg = self.cfg
        if cfg.ray.shard_calls % BATCH:
            raise ConfigError(f"cluster: ray.shard_calls must be a multiple of {BATCH} (whole "
                              f"embedding batches, so that every call is embedded as in a "
                              f"local run); got {cfg.ray.shard_calls}")
        self.shards = plan(count_rows(src), cfg.ray.shard_calls)
        settings = {"config": cfg.model_dump(mode="json", exclude={"ray": {"workers",
                                                                           "address"}}),
                    "seed": self.ctx.seed}
        self.ckpt = checkpoint_dir(self.ctx.stage_dir / SHARDS, src, settings)
        self.resumed = len(list(self.ckpt.glob("feat-*.json")))
        with ray_engine.session(cfg.ray) as workers:
            self.workers = workers
            self.ctx.reporter.info(f"cluster: {len(self.shards)} shard(s) of up to "
                                   f"{cfg.ray.shard_calls} calls on {workers} Ray worker(s)")
            result = super().run(src)
        result.summary["ray"] = {"workers": self.workers, "shards": len(self.shards),
                                 "resumed_shards": self.resumed}
        shutil.rmtree(self.ctx.stage_dir / SHARDS, ignore_errors=True)
        return result

    def _pass1(self, src: Path, featurizer: Featurizer, calls: Calls, x: np.ndarray,
               is_fitted: np.ndarray, task: Task) -> None:
        _save_npy(self.ckpt / "fitted.npy", is_fitted)
        ray_engine.map_shards(FeatureWorker, [s.as_item() for s in self.shards],
                              workers=self.workers, opts=self.cfg.ray, task=task,
                              kwargs={"src": str(src.resolve()), "out": str(self.ckpt.resolve()),
                                      "cfg": self.cfg.model_dump_json()})
        for sh in self.shards:  # merged in call order
            stem = self.ckpt / f"feat-{sh.index:05d}"
            part = json.loads(stem.with_suffix(".json").read_text())
            for f in dataclasses.fields(Calls):
                value = part[f.name]
                if isinstance(value, dict):  # fitted calls only, keyed by row in the shard
                    getattr(calls, f.name).update({sh.start + int(k): v
                                                   for k, v in value.items()})
                else:
                    getattr(calls, f.name).extend(value)
            x[sh.start:sh.stop] = np.load(stem.with_suffix(".npy"))

    def _labels(self, fit: Fit, x: np.ndarray, fitted: np.ndarray, keys: np.ndarray | None
                ) -> np.ndarray:
        if len(fitted) == len(x):
            return fit.labels
        with self.ctx.reporter.task("cluster: assigning calls", total=len(x)) as task:
            ray_engine.map_shards(AssignWorker, [s.as_item() for s in self.shards],
                                  workers=self.workers, opts=self.cfg.ray, task=task,
                                  kwargs={"out": str(self.ckpt.resolve()), "fit": fit,
                                          "keys": keys})
        labels = np.concatenate([np.load(self.ckpt / f"labels-{s.index:05d}.npy")
                                 for s in self.shards])
        labels[fitted] = fit.labels
        return labels
