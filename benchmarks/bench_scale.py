"""Curate and embed on 1 and 2 (or more) Ray workers against the local engine.

    python benchmarks/bench_scale.py [--collect WS/collect/calls.parquet] [--calls 1024]
                                     [--workers 1 2] [--shard-calls 128]

The input is the first ``--calls`` calls of a collected log (default: the demo's,
``workspace/demo/collect/calls.parquet``). Each engine runs the real stage (curate: the
filters, the near-duplicate join and the scrubber; cluster: features and MiniLM
embeddings, timed on its "features and embeddings" phase) in a fresh workspace. The
local engine in this process is the baseline: what one process does with the same
libraries. For Ray, a local instance with as many CPUs as workers is started before
the clock starts (its start-up is printed apart), so the figures are the work itself.

Printed per run: calls/s, speed-up over 1 worker, efficiency per worker (speed-up /
workers), the ratio to the local engine, and the peak RSS of each worker process. The
merged curate manifest must reconcile (read = kept + dropped) and the kept calls must
equal the local run's, or the benchmark stops.

On a real cluster: ``RAY_ADDRESS=ray://head:10001 python benchmarks/bench_scale.py
--workers 8 16 32`` with the collect file on storage every node reads (docs/scale.md).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slmconvert.core.parquet import RecordWriter, iter_rows  # noqa: E402
from slmconvert.engine import ray_engine  # noqa: E402
from slmconvert.engine.config import RayOptions  # noqa: E402
from slmconvert.pipeline.stage import StageContext  # noqa: E402
from slmconvert.stages.cluster import ClusterConfig, ClusterStage  # noqa: E402
from slmconvert.stages.curate import CurateConfig, CurateStage  # noqa: E402


class TimingReporter:
    """Times each progress task of a stage by its description."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Any]:
        t0 = time.perf_counter()

        class _T:
            def advance(self, n: int = 1) -> None:
                pass

            def set_total(self, total: int | None) -> None:
                pass

        yield _T()
        self.seconds[description] = self.seconds.get(description, 0.0) + \
            time.perf_counter() - t0

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        print("warning:", message)


def _workspace(root: Path, name: str, src: Path, curated: Path | None = None) -> Path:
    ws = root / name
    (ws / "collect").mkdir(parents=True)
    shutil.copy(src, ws / "collect/calls.parquet")
    if curated is not None:
        shutil.copytree(curated, ws / "curate")
    return ws


def _run(stage: Any, ws: Path, cfg: Any) -> tuple[Any, float, TimingReporter]:
    rep = TimingReporter()
    (ws / stage.name).mkdir(exist_ok=True)
    ctx = StageContext(workspace=ws, stage_dir=ws / stage.name, base_dir=ws, reporter=rep)
    t0 = time.perf_counter()
    result = stage.run(ctx, cfg)
    return result, time.perf_counter() - t0, rep


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collect", type=Path,
                    default=Path("workspace/demo/collect/calls.parquet"))
    ap.add_argument("--calls", type=int, default=1024)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--shard-calls", type=int, default=128, help="curate's (cluster: 256)")
    args = ap.parse_args()
    if not args.collect.exists():
        sys.exit(f"{args.collect}: missing; run make demo first or pass --collect")
    root = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    src = root / "calls.parquet"
    with RecordWriter(src) as w:
        for i, row in enumerate(iter_rows(args.collect)):
            if i >= args.calls:
                break
            w.write_row(row)
    print(f"input: the first {w.count} calls of {args.collect}; cpus here: {os.cpu_count()}")

    rows: list[list[Any]] = []
    # Local engine (baseline), in this process.
    ws = _workspace(root, "local", src)
    cur, cur_s, _ = _run(CurateStage(), ws, CurateConfig())
    clu, _, rep = _run(ClusterStage(), ws, ClusterConfig(map=False))
    emb_s = rep.seconds["cluster: features and embeddings"]
    local_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n = cur.counts["read"]
    kept_local = list(iter_rows(ws / "curate/calls.parquet"))
    base = {"curate": n / cur_s, "embed": cur.counts["kept"] / emb_s}
    rows.append(["local", "-", f"{base['curate']:.2f}", "", "", "1.00",
                 f"{base['embed']:.1f}", "", "", "1.00", _mb(local_rss)])
    curated = ws / "curate"

    first: dict[str, float] = {}
    for k in args.workers:
        t0 = time.perf_counter()
        opts = RayOptions(workers=k, shard_calls=args.shard_calls)
        with ray_engine.session(opts):
            start_s = time.perf_counter() - t0
            ws = _workspace(root, f"ray{k}", src)
            cur, cur_s, _ = _run(CurateStage(), ws, CurateConfig(engine="ray", ray=opts))
            c = cur.counts
            if c["read"] != c["kept"] + c["dropped"]:
                sys.exit(f"curate on {k} worker(s): counts do not reconcile: {c}")
            if list(iter_rows(ws / "curate/calls.parquet")) != kept_local:
                sys.exit(f"curate on {k} worker(s): kept calls differ from the local run")
            ws2 = _workspace(root, f"ray{k}c", src, curated)
            copts = RayOptions(workers=k, shard_calls=256)  # whole embedding batches
            _, _, rep = _run(ClusterStage(), ws2, ClusterConfig(map=False, engine="ray",
                                                                 ray=copts))
        emb_s = rep.seconds["cluster: features and embeddings"]
        rate = {"curate": n / cur_s, "embed": c["kept"] / emb_s}
        first = first or rate  # speed-ups are against the first worker count
        rss = cur.summary["ray"]["peak_rss_per_worker"]
        cells = []
        for key in ("curate", "embed"):
            speedup = rate[key] / first[key] * args.workers[0]
            cells += [f"{rate[key]:.2f}" if key == "curate" else f"{rate[key]:.1f}",
                      f"{speedup:.2f}x", f"{speedup / k:.0%}", f"{rate[key] / base[key]:.2f}"]
        rows.append([f"ray x{k}", f"{start_s:.0f} s", *cells,
                     ", ".join(_mb(v) for v in rss.values())])
        print(f"ray x{k}: curate {cur_s:.1f} s, embed {emb_s:.1f} s; manifest read "
              f"{c['read']} = kept {c['kept']} + dropped {c['dropped']}")

    head = ["engine", "ray start", "curate calls/s", "speed-up", "efficiency", "vs local",
            "embed calls/s", "speed-up", "efficiency", "vs local", "peak RSS per worker"]
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
