"""Langfuse observations exports (JSON or JSONL): GENERATION observations are calls;
SPAN and EVENT observations are counted and skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slmconvert.core.records import CallRecord, Message
from slmconvert.importers.base import Importer, Loc, Skip, build_record, usage_of
from slmconvert.importers.common import (
    as_float,
    normalise_tools,
    openai_message,
    openai_messages,
    timestamp,
)


class Langfuse(Importer):
    name = "langfuse"
    description = ("Langfuse observations export (JSON or JSONL): GENERATION observations are "
                   "calls; SPAN/EVENT observations are counted and skipped.")
    example = ('{"id": "obs1", "traceId": "t1", "type": "GENERATION", "model": "gpt-4o", '
               '"input": [...messages...], "output": {"role": "assistant", ...}, '
               '"usage": {"input": 120, "output": 14}, "startTime": ..., "endTime": ...}')

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and "traceId" in value and "type" in value and (
            "input" in value or "output" in value)

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        kind = value.get("type")
        if kind != "GENERATION":
            yield Skip(f"Langfuse {kind} observation is not an LLM call")
            return
        dropped: list[Any] = []
        raw_in = value.get("input")
        tools_raw = None
        if isinstance(raw_in, dict):
            tools_raw = raw_in.get("tools")
            raw_in = raw_in.get("messages", raw_in.get("prompt"))
        if isinstance(raw_in, str):
            messages = [Message(role="user", content=raw_in)]
        else:
            messages = openai_messages(raw_in, "input", dropped)
        out = value.get("output")
        if isinstance(out, dict) and isinstance(out.get("choices"), list) and out["choices"]:
            out = out["choices"][0].get("message")
        if isinstance(out, str):
            response: Message | None = Message(role="assistant", content=out)
        elif isinstance(out, dict):
            response = openai_message({"role": "assistant", **out}, "output", dropped)
        else:
            response = None
        u = value.get("usageDetails") or value.get("usage") or {}
        start, end = timestamp(value.get("startTime")), timestamp(value.get("endTime"))
        cost = value.get("calculatedTotalCost")
        if cost is None and isinstance(value.get("costDetails"), dict):
            cost = value["costDetails"].get("total")
        status = "error" if value.get("level") == "ERROR" else (
            "ok" if response is not None else "error")
        meta = {**(value.get("metadata") if isinstance(value.get("metadata"), dict) else {}),
                "trace_id": value.get("traceId"), "step": value.get("name"),
                "observation_id": value.get("id")}
        rec = build_record(loc, messages, response, meta=meta, tools=normalise_tools(
            tools_raw, dropped), model=value.get("model"), provider=None,
            usage=usage_of(u.get("input", u.get("promptTokens")),
                           u.get("output", u.get("completionTokens")), u.get("total")),
            status=status, dropped=dropped, timestamp=value.get("startTime"),
            latency_ms=(end - start).total_seconds() * 1000 if start and end else None)
        rec.cost_usd = as_float(cost)
        yield rec

