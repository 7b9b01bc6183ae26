"""Curate on Ray (``engine: ray``): the same filters, near-duplicate test and scrubber as
the local run, split so that the per-call work runs in parallel and the one global step,
the near-duplicate join, runs once on the driver.

1. **Signatures** (in parallel, per shard): each call's filter reason and MinHash
   signature.
2. **Join** (driver, in call order, the rule of the local run): a call is a
   near-duplicate when an earlier *kept* call is its twin. Whether an earlier call is
   kept depends on whether it could be scrubbed, so the join assumes it can, the
   calls it would keep are scrubbed (in parallel, one analyzer per actor), and the join
   runs again with what is known, until no call it keeps is still unscrubbed (a call
   found unscrubbable can free a later call that was its near-duplicate).
3. **Merge** (driver): kept calls in input order into ``calls.parquet``, every drop into
   ``dropped.jsonl``, the stats of the kept calls into ``pii_report.json``.

Placeholders are numbered within a call, so a call scrubbed on any worker reads the
same. Each shard's output is written atomically under ``shards/``; a retried shard
overwrites nothing twice, and a rerun after the driver died reuses every finished
shard.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from slmconvert.core.fsio import atomic_path, write_json_atomic
from slmconvert.core.parquet import RecordWriter, count_rows, iter_rows
from slmconvert.core.records import from_row
from slmconvert.engine import ray_engine
from slmconvert.engine.shards import checkpoint_dir, plan, read_rows
from slmconvert.pii.occurrences import ScrubError
from slmconvert.pii.scrubber import Scrubber, ScrubStats
from slmconvert.pipeline.stage import StageContext, StageResult
from slmconvert.stages.curate import (
    CALLS,
    DROPPED,
    CurateConfig,
    Curator,
    MinHashLSH,
    detector_info,
    filter_reason,
    near_duplicate_text,
)

SHARDS = "shards"


def _near(cfg: CurateConfig, seed: int) -> MinHashLSH | None:
    nd = cfg.filters.near_duplicates
    return MinHashLSH(nd, seed) if nd.enabled else None


# -------------------------------------------------------------------- workers ----

class SignatureWorker(ray_engine.ShardWorker):
    """Per call of a shard: id, source, conversation, filter reason, MinHash signature."""

    def __init__(self, src: str, out: str, cfg: str, seed: int) -> None:
        self.src, self.out = Path(src), Path(out)
        self.cfg = CurateConfig.model_validate_json(cfg)
        self.near = _near(self.cfg, seed)

    def process(self, item: dict[str, Any]) -> dict[str, Any]:
        meta_path = self.out / f"sig-{item['index']:05d}.json"
        if not meta_path.exists():
            meta: dict[str, list[Any]] = {"ids": [], "sources": [], "conversations": [],
                                          "reasons": []}
            sigs = []
            perm = self.cfg.filters.near_duplicates.num_perm
            for row in read_rows(self.src, item["start"], item["stop"]):
                rec = from_row(row)
                reason = filter_reason(rec, self.cfg.filters)
                meta["ids"].append(rec.id)
                meta["sources"].append(rec.source)
                meta["conversations"].append(rec.conversation_id)
                meta["reasons"].append(reason)
                sigs.append(self.near.signature(near_duplicate_text(rec))
                            if reason is None and self.near is not None
                            else np.zeros(perm, dtype=np.uint32))
            with atomic_path(meta_path.with_suffix(".npy")) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.stack(sigs) if sigs else np.zeros((0, perm), np.uint32))
            write_json_atomic(meta_path, meta)  # last: the shard's done marker
        return {"index": item["index"], "rows": item["stop"] - item["start"]}


class ScrubWorker(ray_engine.ShardWorker):
    """Scrub the listed calls of a shard with one analyzer loaded per actor."""

    def __init__(self, src: str, out: str, cfg: str, seed: int) -> None:
        self.src, self.out = Path(src), Path(out)
        self.cfg = CurateConfig.model_validate_json(cfg)
        self.scrubber = Scrubber(self.cfg.pii, seed=seed)

    def process(self, item: dict[str, Any]) -> dict[str, Any]:
        wanted = set(json.loads(item["positions"]))
        stem = self.out / f"scrub-{item['index']:05d}-{item['tag']}"
        done = stem.with_suffix(".json")
        if not done.exists():
            result: dict[str, Any] = {"ok": [], "errors": {}, "stats": {}, "estimated": [],
                                      "detector": detector_info(self.scrubber)}
            with RecordWriter(stem.with_suffix(".parquet")) as writer:
                batch: list[tuple[int, Any]] = []
                size = self.cfg.pii.batch_size
                rows = read_rows(self.src, item["start"], item["stop"])
                for pos, row in enumerate(rows, start=item["start"]):
                    if pos in wanted:
                        batch.append((pos, from_row(row)))
                    if len(batch) >= size:
                        self._scrub(batch, writer, result)
                if batch:
                    self._scrub(batch, writer, result)
            write_json_atomic(done, result)  # last: the shard's done marker
        return {"index": item["index"], "rows": len(wanted)}

    def _scrub(self, batch: list[tuple[int, Any]], writer: RecordWriter,
               result: dict[str, Any]) -> None:
        out = self.scrubber.scrub_batch([r for _, r in batch])
        for (pos, _), rec, found in zip(batch, out, self.scrubber.last_stats, strict=True):
            if isinstance(rec, ScrubError):
                result["errors"][str(pos)] = str(rec)
                continue
            writer.write(rec)
            result["ok"].append(pos)
            result["stats"][str(pos)] = found.to_json()
            if rec.usage.prompt_tokens is None:
                result["estimated"].append(pos)
        batch.clear()


# --------------------------------------------------------------------- driver ----

class ShardedCurator(Curator):
    def __init__(self, ctx: StageContext, cfg: CurateConfig) -> None:
        super().__init__(ctx, cfg)
        self.worker_stats: list[dict[str, Any]] = []

    def run(self, src: Path) -> StageResult:
        cfg, ctx = self.cfg, self.ctx
        n = count_rows(src)
        shards = plan(n, cfg.ray.shard_calls)
        settings = {"config": cfg.model_dump(mode="json", exclude={"ray": {"workers",
                                                                           "address"}}),
                    "seed": ctx.seed}
        ckpt = checkpoint_dir(ctx.stage_dir / SHARDS, src, settings)
        kwargs = {"src": str(src.resolve()), "out": str(ckpt.resolve()),
                  "cfg": cfg.model_dump_json(), "seed": ctx.seed}
        resumed = len(list(ckpt.glob("*.json")))
        if resumed:
            ctx.reporter.info(f"curate: resuming: {resumed} shard output(s) of an earlier "
                              f"run are reused")
        with ray_engine.session(cfg.ray) as workers:
            ctx.reporter.info(f"curate: {len(shards)} shard(s) of up to {cfg.ray.shard_calls} "
                              f"calls on {workers} Ray worker(s)")
            with ctx.reporter.task("curate: signatures", total=n) as task:
                ray_engine.map_shards(SignatureWorker, [s.as_item() for s in shards],
                                      workers=workers, opts=cfg.ray, kwargs=kwargs, task=task)
            rounds = 0
            with ctx.reporter.task("curate: scrubbing", total=None) as task:
                while True:
                    need = self._join(shards, ckpt)[1]
                    if not need:
                        break
                    rounds += 1
                    task.set_total(sum(len(v) for v in need.values()))
                    items = [{**shards[i].as_item(), "positions": json.dumps(pos),
                              "tag": hashlib.sha256(json.dumps(pos).encode()).hexdigest()[:10]}
                             for i, pos in sorted(need.items())]
                    self.worker_stats += ray_engine.map_shards(
                        ScrubWorker, items, workers=workers, opts=cfg.ray, kwargs=kwargs,
                        task=task)
        decisions, _ = self._join(shards, ckpt)
        result = self._merge(shards, ckpt, decisions)
        result.summary["ray"] = {"workers": workers, "shards": len(shards),
                                 "scrub_rounds": rounds, "resumed_shards": resumed,
                                 "peak_rss_per_worker": _rss_by_pid(self.worker_stats)}
        shutil.rmtree(ctx.stage_dir / SHARDS, ignore_errors=True)
        return result

    # ---- the global step
    def _status(self, shard: int, ckpt: Path) -> dict[int, str | None]:
        """What is known of a shard's scrubbed calls: position -> None (scrubbed) or the
        reason it could not be."""
        out: dict[int, str | None] = {}
        for f in sorted(ckpt.glob(f"scrub-{shard:05d}-*.json")):
            d = json.loads(f.read_text())
            out.update({p: None for p in d["ok"]})
            out.update({int(p): e for p, e in d["errors"].items()})
        return out

    def _join(self, shards: list[Any], ckpt: Path
              ) -> tuple[list[list[tuple[str, Any]]], dict[int, list[int]]]:
        """Decide every call in order as the local run does, from what is known; calls it
        would keep that are not yet scrubbed are returned as the next work, by shard."""
        near = _near(self.cfg, self.ctx.seed)
        decisions: list[list[tuple[str, Any]]] = []
        need: dict[int, list[int]] = {}
        for sh in shards:
            meta = json.loads((ckpt / f"sig-{sh.index:05d}.json").read_text())
            sigs = np.load(ckpt / f"sig-{sh.index:05d}.npy")
            status = self._status(sh.index, ckpt)
            mine: list[tuple[str, Any]] = []
            for j, pos in enumerate(range(sh.start, sh.stop)):
                reason, conv, rid = meta["reasons"][j], meta["conversations"][j], meta["ids"][j]
                if reason is not None:
                    mine.append((reason, None))
                    continue
                twin = near.find(sigs[j], conv) if near is not None else None
                if twin is not None:
                    mine.append(("near_duplicate", twin))
                elif pos in status and status[pos] is not None:
                    mine.append(("unscrubbable", status[pos]))
                else:
                    if pos not in status:
                        need.setdefault(sh.index, []).append(pos)
                    if near is not None:
                        near.add(rid, sigs[j], conv)
                    mine.append(("kept", None))
            decisions.append(mine)
        return decisions, need

    # ---- output
    def _merge(self, shards: list[Any], ckpt: Path,
               decisions: list[list[tuple[str, Any]]]) -> StageResult:
        detector: dict[str, Any] | None = None
        with RecordWriter(self.ctx.stage_dir / CALLS) as writer, \
                atomic_path(self.ctx.stage_dir / DROPPED) as dropped_tmp, \
                open(dropped_tmp, "w", encoding="utf-8") as dropped, \
                self.ctx.reporter.task("curate: merging shards", total=count_sum(shards)) as task:
            for sh, mine in zip(shards, decisions, strict=True):
                meta = json.loads((ckpt / f"sig-{sh.index:05d}.json").read_text())
                rows: dict[int, dict[str, Any]] = {}
                stats: dict[int, Any] = {}
                estimated: set[int] = set()
                for f in sorted(ckpt.glob(f"scrub-{sh.index:05d}-*.json")):
                    d = json.loads(f.read_text())
                    detector = detector or d["detector"]
                    rows.update(zip(d["ok"], iter_rows(f.with_suffix(".parquet")),
                                    strict=True))
                    stats.update({int(p): s for p, s in d["stats"].items()})
                    estimated.update(d["estimated"])
                for j, (what, detail) in enumerate(mine):
                    pos = sh.start + j
                    self.counts["read"] += 1
                    if what == "kept":
                        writer.write_row(rows[pos])
                        self.counts["kept"] += 1
                        self.stats.add(ScrubStats.from_json(stats[pos]))
                        self.estimated_tokens += pos in estimated
                        continue
                    self.counts[f"dropped_{what}"] += 1
                    more = ({"duplicate_of": detail} if what == "near_duplicate" else
                            {"detail": detail} if what == "unscrubbable" else {})
                    if what == "unscrubbable":
                        self.unscrubbable[detail] += 1
                    dropped.write(json.dumps({"id": meta["ids"][j],
                                              "source": meta["sources"][j],
                                              "reason": what, **more}) + "\n")
                task.advance(sh.stop - sh.start)
        if detector is None:  # nothing needed scrubbing: describe the analyzer anyway
            detector = detector_info(Scrubber(self.cfg.pii, seed=self.ctx.seed))
        return self._result(detector)


def count_sum(shards: list[Any]) -> int:
    return sum(s.stop - s.start for s in shards)


def _rss_by_pid(rows: list[dict[str, Any]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for r in rows:
        out[str(r["pid"])] = max(out[str(r["pid"])], int(r["peak_rss"]))
    return dict(out)

