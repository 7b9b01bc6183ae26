"""What an importer is, and how every importer builds a canonical record.

An importer says whether an item looks like its format (``sniff``) and maps it to
canonical records (``parse``), yielding :class:`Skip` for items that are valid but are
not LLM calls (a tool span, a batch request with no result). It raises ``ShapeError``
for items that claim the format but are broken; the collect stage quarantines those.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from slmconvert.core.records import CallRecord, Message, Usage
from slmconvert.importers import common
from slmconvert.importers.common import ShapeError, as_float, as_int


@dataclass
class Skip:
    """A valid item that is not an LLM call; counted and reported, never imported."""

    reason: str
    suffix: str = ""


@dataclass
class Loc:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class BatchIndex:
    """custom_id -> request body, for joining OpenAI Batch output to its input."""

    def get(self, custom_id: str) -> dict[str, Any] | None:  # pragma: no cover
        raise NotImplementedError


class Importer:
    name: ClassVar[str]
    description: ClassVar[str]
    example: ClassVar[str] = ""
    batch_index: BatchIndex | None = None

    def sniff(self, value: Any) -> bool:
        raise NotImplementedError

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        raise NotImplementedError

    def records(self, value: Any, loc: Loc) -> list[CallRecord | Skip]:
        """``parse`` behind a boundary: a value of the wrong shape anywhere inside raises
        ShapeError (or pydantic's ValidationError) with a reason, never something else."""
        if not isinstance(value, dict):
            raise ShapeError(f"expected a JSON object, got a JSON {_json_type(value)}")
        try:
            return list(self.parse(value, loc))
        except (AttributeError, TypeError, KeyError, IndexError, RecursionError) as exc:
            raise ShapeError(f"malformed {self.name} record ({type(exc).__name__}: "
                             f"{str(exc)[:120]})") from exc


class PairImporter(Importer):
    """Formats logged as {"request": ..., "response": ..., "metadata": ...} pairs."""

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        pair = request_response(value)
        if pair is None:
            raise ShapeError("expected an object with 'request' and 'response'")
        yield type(self).from_pair(pair[0], pair[1], loc, metadata(value))

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any]) -> CallRecord:
        raise NotImplementedError


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


def request_response(value: Any) -> tuple[dict[str, Any], Any] | None:
    """(request, response) of a logged pair, or None when ``value`` is not one."""
    if isinstance(value, dict) and isinstance(value.get("request"), dict) and "response" in value:
        return value["request"], value["response"]
    return None


def is_error_response(resp: Any) -> bool:
    return isinstance(resp, dict) and (
        "error" in resp and not resp.get("choices") and not resp.get("content")
        or resp.get("type") == "error")


_META_KEYS = ("metadata", "meta", "tags_metadata")
# Metadata that has a canonical field; anything else is kept in extra["metadata"].
_MAPPED = ("session_id", "conversation_id", "trace_id", "latency_ms", "timestamp", "agent",
           "workflow", "step", "human_facing")


def metadata(value: dict[str, Any]) -> dict[str, Any]:
    """A logged item's metadata: its metadata objects, then well-known top-level keys."""
    meta: dict[str, Any] = {}
    for key in _META_KEYS:
        if isinstance(value.get(key), dict):
            meta.update(value[key])
    for key in ("session_id", "conversation_id", "trace_id", "latency_ms", "timestamp",
                "agent", "workflow", "step", "tags", "human_facing", "request_id", "user"):
        if key in value and key not in meta:
            meta[key] = value[key]
    return meta


def str_or_none(v: Any) -> str | None:
    return str(v) if v not in (None, "") else None


def usage_of(prompt: Any, completion: Any, total: Any = None) -> Usage:
    """Token usage; completion tokens derived from a total when only that is logged."""
    p, c, t = as_int(prompt), as_int(completion), as_int(total)
    if c is None and p is not None and t is not None and t >= p:
        c = t - p
    return Usage(prompt_tokens=p, completion_tokens=c)


def status_of(finish: Any, truncated: tuple[str, ...] = ("length", "max_tokens", "MAX_TOKENS",
                                                         "incomplete")) -> str:
    """ok, or truncated when the finish/stop reason says the output was cut off."""
    return "truncated" if finish in truncated else "ok"


def build_record(loc: Loc, messages: list[Message], response: Message | None, *,
                 meta: dict[str, Any], tools: list[dict[str, Any]], model: Any,
                 provider: str | None, usage: Usage, status: str, dropped: list[Any],
                 extra: dict[str, Any] | None = None, latency_ms: float | None = None,
                 timestamp: Any = None, conversation_id: Any = None,
                 suffix: str = "") -> CallRecord:
    """The canonical record of one call, with its content id. Unmapped metadata and
    dropped parts go to ``extra``; a call without request messages is a ShapeError."""
    if not messages:
        raise ShapeError("call has no request messages (the prompt is not in the log, e.g. "
                         "server-side state via previous_response_id)")
    extra = dict(extra or {})
    if dropped:
        extra["dropped_parts"] = dropped
    leftovers = {k: v for k, v in meta.items() if k not in _MAPPED}
    if leftovers:
        extra["metadata"] = leftovers
    conv = conversation_id or meta.get("session_id") or meta.get("conversation_id") or meta.get(
        "trace_id")
    return CallRecord(
        source=f"{loc}{suffix}",
        conversation_id=str(conv) if conv else None,
        timestamp=common.timestamp(timestamp if timestamp is not None
                                   else meta.get("timestamp")),
        agent=str_or_none(meta.get("agent")), workflow=str_or_none(meta.get("workflow")),
        step=str_or_none(meta.get("step")),
        model=str_or_none(model) or str_or_none(meta.get("model")), provider=provider,
        messages=messages, tools=tools, response=response, usage=usage,
        latency_ms=latency_ms if latency_ms is not None else as_float(meta.get("latency_ms")),
        status=status,
        human_facing=meta.get("human_facing") is True,
        extra=extra,
    ).with_id()
