"""Flattened capture lines, one call per line with the request messages and the response
text and tool calls as top-level fields (the format of ../shared/data/agent_logs/*.jsonl)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from slmconvert.core.records import CallRecord, Message
from slmconvert.core.text import sniff_json
from slmconvert.importers.base import (
    Importer,
    Loc,
    Skip,
    build_record,
    status_of,
    str_or_none,
    usage_of,
)
from slmconvert.importers.common import as_int, need, normalise_tools, openai_message, tool_call

_CAPTURE_PROVIDER = {"anthropic.messages": "anthropic", "gemini.generateContent": "google",
                     "chat.completions": "openai", "openai.responses": "openai"}


class Capture(Importer):
    name = "capture"
    description = ("Flattened capture lines (source, api, provider, model, messages, tools, "
                   "response_text, response_tool_calls, finish_reason, usage, latency_ms, "
                   "timestamp, status), the format of ../shared/data/agent_logs/*.jsonl.")
    example = ('{"api": "chat.completions", "model": "gpt-4o", "messages": [...], "tools": null, '
               '"response_text": "...", "response_tool_calls": [], "finish_reason": "stop", '
               '"usage": {...}, "status": 200}')

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and "api" in value and "messages" in value and (
            "response_text" in value or "response_tool_calls" in value)

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        dropped: list[Any] = []
        messages = [self._message(m, i, dropped)
                    for i, m in enumerate(need(value, "messages", list, "line"))]
        calls = [tool_call(tc.get("name"), tc.get("arguments"), tc.get("id"))
                 for tc in value.get("response_tool_calls") or [] if isinstance(tc, dict)]
        text = value.get("response_text")
        http = as_int(value.get("status"))
        status = "error" if http is not None and http >= 400 else status_of(
            value.get("finish_reason"))
        response = None if status == "error" and not text and not calls else Message(
            role="assistant", content=text if isinstance(text, str) and text else None,
            tool_calls=calls)
        u = value.get("usage") or {}
        meta = {"task_hint": value.get("task_hint"), "record_id": value.get("record_id"),
                "source_file": value.get("source_file"), "origin": value.get("source"),
                "api": value.get("api"), "http_status": http,
                "finish_reason": value.get("finish_reason"),
                "latency_ms": value.get("latency_ms"), "timestamp": value.get("timestamp")}
        yield build_record(loc, messages, response, meta=meta,
                           tools=normalise_tools(value.get("tools"), dropped),
                           model=value.get("model"),
                           provider=_CAPTURE_PROVIDER.get(str(value.get("api")),
                                                          str_or_none(value.get("provider"))),
                           usage=usage_of(u.get("prompt_tokens"), u.get("completion_tokens")),
                           status=status, dropped=dropped)

    @staticmethod
    def _message(m: Any, i: int, dropped: list[Any]) -> Message:
        msg = openai_message(m, f"messages[{i}]", dropped)
        # Gemini turns arrive as JSON text: {"function_call": {...}} / {"function_response": ...}
        text = msg.content
        if text and text.startswith('{"function_') and not msg.tool_calls:
            obj = sniff_json(text)
            if isinstance(obj, dict) and isinstance(obj.get("function_call"), dict):
                fc = obj["function_call"]
                return Message(role="assistant",
                               tool_calls=[tool_call(fc.get("name"), fc.get("args", {}))])
            if isinstance(obj, dict) and isinstance(obj.get("function_response"), dict):
                fr = obj["function_response"]
                return Message(role="tool", name=fr.get("name"),
                               content=json.dumps(fr.get("response"), ensure_ascii=False))
        return msg

