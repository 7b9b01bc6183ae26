"""Anthropic Messages request/response pairs: top-level system, tool_use and tool_result
blocks; streamed responses as events or SSE text."""

from __future__ import annotations

from typing import Any

from slmconvert.core.records import CallRecord, Message, Usage
from slmconvert.importers.base import (
    Loc,
    PairImporter,
    build_record,
    is_error_response,
    request_response,
    status_of,
    usage_of,
)
from slmconvert.importers.common import (
    ShapeError,
    as_int,
    describe_part,
    need,
    normalise_tools,
    openai_content,
    parse_sse,
    role_of,
    tool_call,
    turn_messages,
)

# ------------------------------------------------------------------------- shapes ----

def anthropic_blocks(role: str, content: Any, where: str, dropped: list[Any]) -> list[Message]:
    """One Anthropic message; tool_result blocks become separate role=tool messages."""
    if isinstance(content, str):
        return [Message(role=role, content=content)]
    if not isinstance(content, list):
        raise ShapeError(f"{where}.content: expected a string or a list of blocks")
    texts, calls, results = [], [], []
    for block in content:
        if not isinstance(block, dict):
            raise ShapeError(f"{where}.content: expected block objects")
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(tool_call(block.get("name"), block.get("input"), block.get("id")))
        elif kind == "tool_result":
            inner = block.get("content")
            text = inner if isinstance(inner, str) else openai_content(inner, dropped) or ""
            results.append(Message(role="tool", content=text,
                                   tool_call_id=block.get("tool_use_id")))
        else:
            dropped.append(describe_part(block))
    return turn_messages(role, texts, calls, results)


def anthropic_request(req: dict[str, Any], dropped: list[Any]) -> list[Message]:
    msgs: list[Message] = []
    system = req.get("system")
    if isinstance(system, str) and system:
        msgs.append(Message(role="system", content=system))
    elif isinstance(system, list):
        msgs.append(Message(role="system", content=openai_content(system, dropped)))
    for i, m in enumerate(need(req, "messages", list, "request")):
        if not isinstance(m, dict):
            raise ShapeError(f"request.messages[{i}]: expected an object")
        msgs += anthropic_blocks(role_of(m.get("role"), f"messages[{i}]"), m.get("content"),
                                 f"request.messages[{i}]", dropped)
    return msgs


def anthropic_stream(events: list[Any]) -> dict[str, Any]:
    """Rebuild a Messages response object from its streamed events."""
    message: dict[str, Any] = {"content": [], "usage": {}}
    partial: dict[int, str] = {}
    for ev in events:
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type")
        if kind == "message_start":
            message.update({k: v for k, v in (ev.get("message") or {}).items() if k != "content"})
        elif kind == "content_block_start":
            message["content"].append(dict(ev.get("content_block") or {}))
        elif kind == "content_block_delta" and message["content"]:
            delta = ev.get("delta") or {}
            idx = int(ev.get("index", len(message["content"]) - 1))
            block = message["content"][min(idx, len(message["content"]) - 1)]
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif delta.get("type") == "input_json_delta":
                partial[idx] = partial.get(idx, "") + delta.get("partial_json", "")
        elif kind == "message_delta":
            message.update(ev.get("delta") or {})
            message["usage"] = {**message.get("usage", {}), **(ev.get("usage") or {})}
    for idx, text in partial.items():
        message["content"][idx]["input"] = text
    return message


def looks_like_anthropic(req: dict[str, Any], resp: Any) -> bool:
    """A messages-style pair that is Anthropic's rather than OpenAI's."""
    if isinstance(resp, dict) and (resp.get("type") == "message" or "stop_reason" in resp):
        return True
    tools = req.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[0], dict) and (
            "input_schema" in tools[0]):
        return True
    return isinstance(req.get("system"), str | list) and "max_tokens" in req and not any(
        isinstance(m, dict) and m.get("role") == "system" for m in req.get("messages") or [])


# ----------------------------------------------------------------------- importer ----

class Anthropic(PairImporter):
    name = "anthropic"
    description = ("Anthropic Messages request/response pairs: top-level system, tool_use and "
                   "tool_result blocks; streamed responses as events or SSE text.")
    example = ('{"request": {"model": "claude-3-5-haiku", "system": "...", "messages": [...], '
               '"tools": [{"name": ..., "input_schema": {...}}]}, "response": {"type": '
               '"message", "content": [...], "stop_reason": "end_turn", "usage": {...}}}')

    def sniff(self, value: Any) -> bool:
        pair = request_response(value)
        return pair is not None and "messages" in pair[0] and looks_like_anthropic(*pair)

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any],
                  suffix: str = "") -> CallRecord:
        dropped: list[Any] = []
        messages = anthropic_request(req, dropped)
        tools = normalise_tools(req.get("tools"), dropped)
        extra: dict[str, Any] = {}
        if isinstance(resp, str):
            resp = parse_sse(resp)
        if isinstance(resp, list):
            resp = anthropic_stream(resp)
            extra["streamed"] = True
        if is_error_response(resp):
            return build_record(loc, messages, None, meta=meta, tools=tools,
                                model=req.get("model"), provider="anthropic", usage=Usage(),
                                status="error", dropped=dropped, extra=extra, suffix=suffix)
        out = anthropic_blocks("assistant", need(resp, "content", list, "response"),
                               "response", dropped)
        u = resp.get("usage") or {}
        prompt = as_int(u.get("input_tokens"))
        if prompt is not None:
            prompt += sum(as_int(u.get(k)) or 0 for k in (
                "cache_read_input_tokens", "cache_creation_input_tokens"))
        return build_record(loc, messages, out[-1], meta=meta, tools=tools,
                            model=resp.get("model") or req.get("model"), provider="anthropic",
                            usage=usage_of(prompt, u.get("output_tokens")),
                            status=status_of(resp.get("stop_reason")), dropped=dropped,
                            extra=extra, suffix=suffix)
