"""Shard work on Ray: Ray Data ``map_batches`` over shard descriptors with an actor pool.

Each actor loads its analyzer or embedder once and handles one shard per call; a shard's
output is written atomically to a checkpoint directory, so a retried shard (after an
actor died) never duplicates calls and a rerun after the driver died skips finished
shards. Ray is imported only here, and only when ``engine: ray`` is chosen.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slmconvert.core.progress import Task
from slmconvert.engine.config import RayOptions
from slmconvert.errors import ConfigError

# A Ray instance that slmconvert starts itself stays on this machine:
_LOCAL_ENV = {
    # listen on loopback (on Linux Ray otherwise finds the host's address by routing
    # towards a public one)
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # no access token to create in ~/.ray for a loopback-only instance
    "RAY_AUTH_MODE": "disabled",
    # Ray's dashboard process probes cloud metadata endpoints when it starts, whatever
    # the usage-stats setting; send those requests to a closed loopback port
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "", "no_proxy": "",
}


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("engine: ray needs Ray; install it with "
                          "pip install 'slmconvert[ray]'") from None
    return ray


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _loopback(ray: Any) -> Iterator[None]:
    """Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when it is imported: for a driver that
    imported it before, set the constant it was read into (the processes Ray starts read
    the variable)."""
    constants: Any = getattr(getattr(ray, "_private", None), "ray_constants", None)
    old = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if old is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old is not None:
            constants.ENABLE_RAY_CLUSTER = old


@contextmanager
def session(opts: RayOptions) -> Iterator[int]:
    """Join the configured Ray cluster (or $RAY_ADDRESS), or start a local instance
    for the duration; yields the number of actors to use."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never report usage
    ray = ray_module()
    started = False
    if not ray.is_initialized():
        address = opts.address or os.environ.get("RAY_ADDRESS")
        quiet = {"log_to_driver": False, "logging_level": "WARNING"}
        if address:
            ray.init(address=address, **quiet)
        else:
            with _env(_LOCAL_ENV), _loopback(ray):
                ray.init(num_cpus=max(opts.workers or 0, os.cpu_count() or 1),
                         include_dashboard=False, **quiet)
        started = True
    try:
        import logging

        import ray.data

        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the stage's own bar counts calls
        ctx.print_on_execution_start = False
        cpus = float(ray.cluster_resources().get("CPU", 1))
        yield opts.workers or max(1, int(cpus // opts.cpus_per_worker))
    finally:
        if started:
            ray.shutdown()


class ShardWorker:
    """Base of the Ray Data UDFs: called with a batch of shard descriptors, returns one
    summary row per shard (what ``process`` returns, plus the actor's pid and peak RSS)."""

    def process(self, item: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        rows = [self.process({k: _plain(v[i]) for k, v in batch.items()})
                for i in range(len(batch["index"]))]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        for r in rows:
            r.update(pid=os.getpid(), peak_rss=rss)
        return {k: [r[k] for r in rows] for k in rows[0]}


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def map_shards(worker: type[ShardWorker], items: list[dict[str, Any]], *, workers: int,
               opts: RayOptions, kwargs: dict[str, Any], task: Task,
               advance: str = "rows") -> list[dict[str, Any]]:
    """Run ``worker`` over the shard descriptors on an actor pool of ``workers``; the
    summary rows in shard order. A shard whose actor dies is retried on a new one."""
    if not items:
        return []
    ray_module()
    import ray.data

    # Ray Data restarts a dead actor and retries its shard by default (max_restarts and
    # max_task_retries -1); docs/scale.md relies on that.
    source = ray.data.from_items(items, override_num_blocks=len(items))
    pool = ray.data.ActorPoolStrategy(size=max(1, min(workers, len(items))))
    ds = source.map_batches(worker, batch_size=1, fn_constructor_kwargs=kwargs, compute=pool,
                        num_cpus=opts.cpus_per_worker)
    out = []
    for row in ds.iter_rows():
        out.append(dict(row))
        task.advance(int(row[advance]))
    return sorted(out, key=lambda r: r["index"])
