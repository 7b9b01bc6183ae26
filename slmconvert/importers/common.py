"""Parsing pieces every importer shares: required fields, roles, tool calls and tool
schemas, the OpenAI chat message shape (the canonical one, which most formats reuse),
server-sent events, timestamps and numbers.

Every function raises :class:`ShapeError` with a short reason when the input is not the
shape it claims to be; the collect stage quarantines the item with that reason.
Anything that has no canonical place (images, audio, thinking blocks, provider extras)
is reported through ``dropped`` so the importer can keep it in ``extra``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from slmconvert.core.records import Message, ToolCall

ROLE_ALIASES = {"model": "assistant", "human": "user", "ai": "assistant", "function": "tool",
                "developer": "developer", "system": "system", "user": "user",
                "assistant": "assistant", "tool": "tool"}


class ShapeError(ValueError):
    pass


def need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise ShapeError(f"{where}: expected an object, got {type(obj).__name__}")
    if key not in obj or obj[key] is None:
        raise ShapeError(f"{where}: missing required field '{key}'")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ShapeError(f"{where}.{key}: expected {names}, got {type(value).__name__}")
    return value


def role_of(raw: Any, where: str) -> str:
    role = ROLE_ALIASES.get(str(raw).lower()) if raw is not None else None
    if role is None:
        raise ShapeError(f"{where}: unknown role {raw!r}")
    return role


# ------------------------------------------------------------------ tool calls ----

def parse_arguments(raw: Any) -> tuple[Any, str | None]:
    """Tool-call arguments as a JSON value; an unparsable string is kept with the error."""
    if raw is None:
        return {}, None
    if not isinstance(raw, str):
        return raw, None
    if not raw.strip():
        return {}, None
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as exc:
        return raw, f"invalid JSON arguments: {exc.msg} at column {exc.colno}"


def tool_call(name: Any, arguments: Any, call_id: Any = None) -> ToolCall:
    if not isinstance(name, str) or not name:
        raise ShapeError("tool call without a function name")
    args, err = parse_arguments(arguments)
    return ToolCall(id=str(call_id) if call_id else None, name=name, arguments=args,
                    arguments_error=err)


# ------------------------------------------------------------------ messages ----

def join_texts(texts: list[str]) -> str | None:
    return "\n".join(texts) if texts else None


def turn_messages(role: str, texts: list[str], calls: list[ToolCall],
                  results: list[Message]) -> list[Message]:
    """One provider turn as canonical messages: tool results (as role=tool messages)
    first, then the turn's own text and calls."""
    if role == "tool":
        return results or [Message(role="tool", content=join_texts(texts))]
    if texts or calls or not results:
        return [*results, Message(role=role, content=join_texts(texts), tool_calls=calls)]
    return results


def describe_part(part: Any) -> dict[str, Any]:
    """What a non-text part was, without its payload (images, audio are large)."""
    if isinstance(part, dict):
        kind = part.get("type") or next(iter(part), "unknown")
        return {"type": str(kind)}
    return {"type": type(part).__name__}


def openai_content(content: Any, dropped: list[Any]) -> str | None:
    """OpenAI message content (a string or a list of parts) as text; non-text parts
    are reported in ``dropped``."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str) and part.get(
                    "type", "text") in ("text", "input_text", "output_text", None):
                texts.append(part["text"])
            else:
                dropped.append(describe_part(part))
        return join_texts(texts)
    raise ShapeError(f"message content must be a string or a list, got {type(content).__name__}")


def openai_tool_calls(raw: Any, where: str) -> list[ToolCall]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ShapeError(f"{where}.tool_calls: expected a list")
    calls = []
    for tc in raw:
        if not isinstance(tc, dict):
            raise ShapeError(f"{where}.tool_calls: expected objects")
        fn: dict[str, Any] = tc["function"] if isinstance(tc.get("function"), dict) else tc
        calls.append(tool_call(fn.get("name"), fn.get("arguments"), tc.get("id")))
    return calls


def openai_message(m: Any, where: str, dropped: list[Any]) -> Message:
    if not isinstance(m, dict):
        raise ShapeError(f"{where}: expected a message object")
    role = role_of(m.get("role"), where)
    calls = openai_tool_calls(m.get("tool_calls"), where)
    if m.get("function_call"):
        fc = m["function_call"]
        calls.append(tool_call(fc.get("name"), fc.get("arguments")))
    for extra_key in ("reasoning", "reasoning_content", "reasoning_details", "audio", "refusal"):
        if m.get(extra_key):
            dropped.append({"type": extra_key})
    return Message(role=role, content=openai_content(m.get("content"), dropped),
                   name=m.get("name") if isinstance(m.get("name"), str) else None,
                   tool_calls=calls,
                   tool_call_id=str(m["tool_call_id"]) if m.get("tool_call_id") else None)


def openai_messages(raw: Any, where: str, dropped: list[Any]) -> list[Message]:
    if not isinstance(raw, list):
        raise ShapeError(f"{where}: expected a list of messages")
    return [openai_message(m, f"{where}[{i}]", dropped) for i, m in enumerate(raw)]


# ----------------------------------------------------------------------- tools ----

def normalise_tools(raw: Any, dropped: list[Any]) -> list[dict[str, Any]]:
    """OpenAI function schemas from OpenAI, Responses, Anthropic or Gemini tool lists."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out: list[dict[str, Any]] = []
    for t in items:
        if not isinstance(t, dict):
            raise ShapeError("tools: expected a list of objects")
        decls = t.get("functionDeclarations") or t.get("function_declarations")
        if isinstance(decls, list):
            for d in decls:
                params = d.get("parameters") or d.get("parameters_json_schema") or d.get(
                    "parametersJsonSchema") or {}
                out.append(_fn(d.get("name"), d.get("description"), params))
        elif isinstance(t.get("function"), dict):
            f = t["function"]
            out.append(_fn(f.get("name"), f.get("description"), f.get("parameters") or {}))
        elif "input_schema" in t:
            out.append(_fn(t.get("name"), t.get("description"), t.get("input_schema") or {}))
        elif t.get("type") == "function" and "name" in t:
            out.append(_fn(t.get("name"), t.get("description"), t.get("parameters") or {}))
        else:
            dropped.append({"builtin_tool": str(t.get("type") or next(iter(t), "unknown"))})
    return out


def _fn(name: Any, description: Any, params: Any) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise ShapeError("tools: a function without a name")
    fn: dict[str, Any] = {"name": name, "parameters": params if isinstance(params, dict) else {}}
    if isinstance(description, str):
        fn["description"] = description
    return {"type": "function", "function": fn}


# ---------------------------------------------------------------------- values ----

def parse_sse(text: str) -> list[Any]:
    """``data: {...}`` lines of a server-sent-events body, as JSON values."""
    out = []
    for line in text.splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data and data != "[DONE]":
                try:
                    out.append(json.loads(data))
                except json.JSONDecodeError as exc:
                    raise ShapeError(f"invalid JSON in stream event: {exc.msg}") from None
    return out


def timestamp(raw: Any) -> datetime | None:
    """ISO-8601, RFC 2822 (HTTP dates), unix seconds/ms/ns; None when absent/unknown."""
    if raw is None or raw == "":
        return None
    try:
        if isinstance(raw, int | float) or (isinstance(raw, str) and raw.isdigit()):
            value = float(raw)
            for scale in (1e9, 1e6, 1e3):  # ns, us, ms
                if value > scale * 1e8:
                    value /= scale
                    break
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(raw, str):
            try:
                dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                dt = parsedate_to_datetime(raw)
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        return None
    return None


def as_int(raw: Any) -> int | None:
    try:
        return int(raw) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        return None


def as_float(raw: Any) -> float | None:
    try:
        return float(raw) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        return None
