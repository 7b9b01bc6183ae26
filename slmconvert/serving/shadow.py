"""Shadow mode of `slmconvert serve --router R --shadow`: the upstream LLM answers every
call, and the router's choice for the call is worked out beside it, to validate a router
on live traffic before it answers anyone.

Once the LLM's answer is known (the client has it, or is being streamed it), the router
decides the call exactly as it would without ``--shadow``
(:meth:`slmconvert.serving.routing.SlmRouter.decide`: assignment, prompt recipe,
adapter, verifier, confidence threshold), on a thread of its own; when its SLM answered,
that answer is scored against the LLM's with the metric evaluate uses
(:func:`slmconvert.evaluation.metrics.score_response`). The call's log line is the
capture proxy's (its response is the LLM's, its route ``upstream``) with a ``shadow``
block in its metadata: what the router would have done, the SLM's answer and the
agreement (docs/serve.md#shadow-mode). The line is written when the block is complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from slmconvert.core.records import CallRecord, Message
from slmconvert.serving.routing import Decision

#: Calls waiting for the router at most; a call past it is logged with ``skipped``.
SHADOW_BACKLOG = 64
#: Characters of an SLM answer the parser could not read that are logged.
MAX_TEXT = 2000

KEYS = ("route", "cluster", "reason", "kept", "slm_model", "adapter", "confidence",
        "confidence_measure", "threshold", "verifier", "answer", "text", "kind", "value",
        "correct", "error", "slm_seconds", "skipped")


def skipped(reason: str) -> dict[str, Any]:
    """The shadow block of a call whose router choice was not worked out."""
    return dict.fromkeys(KEYS) | {"skipped": reason}


def llm_message(response: Any) -> Message:
    """The assistant message of an upstream answer as logged: a ``chat.completion`` body
    or the list of its stream chunks, read as collect reads them. ShapeError (a
    ValueError) when it holds no message."""
    from slmconvert.importers.common import ShapeError, openai_message
    from slmconvert.importers.openai import openai_stream

    if isinstance(response, list):
        return openai_stream(response)[0]
    choices = response.get("choices") if isinstance(response, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ShapeError("the answer has no choices")
    return openai_message(choices[0].get("message"), "response.choices[0].message", [])


def compare(d: Decision, body: dict[str, Any], llm: Message) -> dict[str, Any]:
    """The shadow block of one call: what the router decided and, when its SLM answered,
    that answer and its score against the LLM's, as evaluate scores an adapter's answer
    (every answer, kept or not; one the parser cannot read scores 0)."""
    from slmconvert.evaluation.metrics import score_response
    from slmconvert.serving.routing import openai_message, request_record

    task = d.task
    block = dict.fromkeys(KEYS) | {
        "route": "slm" if d.route in ("slm", "fallback") else "llm", "cluster": d.cluster,
        "reason": d.reason, "kept": d.route == "slm", "slm_model": d.model,
        "adapter": task.adapter if task else None, "confidence": d.confidence,
        "confidence_measure": task.confidence if task else None,
        "threshold": task.threshold if task else None, "verifier": d.rejected,
        "slm_seconds": round(d.seconds, 3)}
    if d.answer is not None:
        p = d.answer
        s = score_response(llm, p.message, request_record(body).tools, p.reason)
        block |= {"answer": openai_message(p.message) if p.message is not None else None,
                  "text": None if p.message is not None else (d.text or "")[:MAX_TEXT],
                  "kind": s.kind, "value": round(s.value, 4), "correct": s.correct,
                  "error": s.error}
    return block


class ShadowRunner:
    """Works out the router's choice for calls the upstream answered, off the request
    path: :meth:`submit` is called on the event loop with the call's finished log line,
    the router runs on one worker thread of its own (not Starlette's pool), and the line
    is written with its shadow block. :meth:`drain` waits for the calls still running
    (serve's shutdown does, before it closes the log)."""

    def __init__(self, router: Any, write: Callable[[dict[str, Any]], Any],
                 observe: Callable[[dict[str, Any]], None],
                 backlog: int = SHADOW_BACKLOG) -> None:
        self.router = router
        self.write = write
        self.observe = observe
        self.backlog = backlog
        self.pending: set[asyncio.Task[None]] = set()
        self._limiter: Any = None

    def submit(self, entry: dict[str, Any], body: dict[str, Any], response: Any,
               status: int) -> None:
        if status != 200:
            self._finish(entry, skipped(f"no LLM answer to compare with (status {status})"))
        elif len(self.pending) >= self.backlog:
            self._finish(entry, skipped(f"backlog: {len(self.pending)} calls waiting for "
                                        "the router"))
        else:
            task = asyncio.get_running_loop().create_task(self._run(entry, body, response))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _run(self, entry: dict[str, Any], body: dict[str, Any], response: Any) -> None:
        import anyio

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        try:
            block = await anyio.to_thread.run_sync(self._shadow, body, response,
                                                   limiter=self._limiter)
        except Exception as exc:  # noqa: BLE001 - a shadow failure never loses the line
            block = skipped(f"shadow failed: {type(exc).__name__}: {exc}")
        self._finish(entry, block)

    def _shadow(self, body: dict[str, Any], response: Any) -> dict[str, Any]:
        try:
            llm = llm_message(response)
        except ValueError as exc:
            return skipped(f"the LLM's answer cannot be read ({exc})")
        return compare(self.router.decide(body), body, llm)

    def _finish(self, entry: dict[str, Any], block: dict[str, Any]) -> None:
        entry["metadata"]["shadow"] = block
        self.observe(block)
        self.write(entry)

    async def drain(self) -> None:
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)


def shadow_agreement(calls: Sequence[CallRecord], cluster: str, adapter: str) -> list[bool]:
    """Whether the adapter agreed with the LLM, for each call of ``calls`` that `serve
    --shadow` answered with it in that cluster (collected logs keep the shadow block in
    ``extra.metadata``). Iterate measures a served adapter's quality on new calls with
    these instead of answering them again."""
    out: list[bool] = []
    for rec in calls:
        meta = rec.extra.get("metadata")
        block = meta.get("shadow") if isinstance(meta, dict) else None
        if isinstance(block, dict) and block.get("cluster") == cluster \
                and block.get("adapter") == adapter and isinstance(block.get("correct"), bool):
            out.append(block["correct"])
    return out
