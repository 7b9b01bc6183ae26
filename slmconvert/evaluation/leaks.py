"""Leak-free held-out splits: no val or test call may be a near-duplicate of a train call.

Cluster splits each task by conversation, and curate drops near-duplicate requests
across conversations, so a leak needs a way round both: curate run with other
near-duplicate settings or none, calls added by iterate in later batches, or two
conversations of one user that resend the same request. An adapter that saw the twin in
training would score as if it generalised. :func:`find_leaks` applies curate's own test
(MinHash of the request without its system prompt, the same threshold) between a
cluster's train calls and its held-out calls; evaluate leaves the offenders out of the
figures and counts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from slmconvert.core.records import CallRecord
from slmconvert.stages.curate import MinHashLSH, NearDuplicates, near_duplicate_text


def find_leaks(train: Iterable[CallRecord], held_out: Sequence[CallRecord],
               cfg: NearDuplicates, seed: int) -> dict[str, str]:
    """For each held-out call that is a near-duplicate of a train call: its id -> the
    train call's id. Streams ``train`` (one signature per call is kept, not the text)."""
    if not held_out:
        return {}
    index = MinHashLSH(cfg, seed)
    for rec in train:
        index.add(rec.id, index.signature(near_duplicate_text(rec)))
    leaks = {}
    for rec in held_out:
        twin = index.find(index.signature(near_duplicate_text(rec)))
        if twin is not None:
            leaks[rec.id] = twin
    return leaks
