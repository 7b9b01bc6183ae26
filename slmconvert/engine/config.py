"""The engine settings shared by curate and cluster."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SHARD_QUANTUM = 256  # cluster's shards are whole embedding batches of this many calls


class RayOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(None, description=(
        "Ray cluster to join ('auto', 'ray://host:10001', host:port). null: $RAY_ADDRESS "
        "if set, else start a local Ray instance on this machine (loopback only)."))
    workers: int | None = Field(None, ge=1, description=(
        "Actors (each loads one analyzer or embedder and uses one CPU). null: the CPUs of "
        "the cluster, or of this machine for a local instance."))
    shard_calls: int = Field(2048, ge=1, description=(
        f"Calls per shard: the unit of work, of retry and of resume. For cluster a "
        f"multiple of {SHARD_QUANTUM} (its embedding batch)."))
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves per actor.")
