"""Normalise provider shapes (OpenAI, Anthropic, Gemini, OTel GenAI) to canonical messages.

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


def _join(texts: list[str]) -> str | None:
    return "\n".join(texts) if texts else None


def _turn(role: str, texts: list[str], calls: list[ToolCall],
          results: list[Message]) -> list[Message]:
    """Tool results (as role=tool messages) first, then the turn's own text and calls."""
    if role == "tool":
        return results or [Message(role="tool", content=_join(texts))]
    if texts or calls or not results:
        return [*results, Message(role=role, content=_join(texts), tool_calls=calls)]
    return results


# ------------------------------------------------------------------ OpenAI chat ----

def openai_content(content: Any, dropped: list[Any]) -> str | None:
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
                dropped.append(_describe_part(part))
        return _join(texts)
    raise ShapeError(f"message content must be a string or a list, got {type(content).__name__}")


def _describe_part(part: Any) -> dict[str, Any]:
    """What a non-text part was, without its payload (images, audio are large)."""
    if isinstance(part, dict):
        kind = part.get("type") or next(iter(part), "unknown")
        return {"type": str(kind)}
    return {"type": type(part).__name__}


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


def openai_stream(chunks: list[Any]) -> tuple[Message, str | None, dict[str, Any]]:
    """Assemble ``chat.completion.chunk`` objects into one message, finish reason, usage."""
    texts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: Any = None
    usage: dict[str, Any] = {}
    for chunk in chunks:
        if not isinstance(chunk, dict):
            raise ShapeError("stream chunk is not an object")
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                texts.append(delta["content"])
            for tc in delta.get("tool_calls") or []:
                slot = calls.setdefault(int(tc.get("index", len(calls))),
                                        {"id": None, "name": "", "arguments": ""})
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    msg = Message(role="assistant", content="".join(texts) if texts else None,
                  tool_calls=[tool_call(c["name"], c["arguments"], c["id"])
                              for _, c in sorted(calls.items())])
    return msg, finish, usage


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


# -------------------------------------------------------------- OpenAI Responses ----

def responses_input(raw: Any, instructions: Any, dropped: list[Any]) -> list[Message]:
    msgs: list[Message] = []
    if isinstance(instructions, str) and instructions:
        msgs.append(Message(role="system", content=instructions))
    if isinstance(raw, str):
        return msgs + [Message(role="user", content=raw)]
    if not isinstance(raw, list):
        raise ShapeError("responses request: 'input' must be a string or a list")
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ShapeError(f"input[{i}]: expected an object")
        kind = item.get("type", "message")
        if kind == "message" or "role" in item and kind not in ("function_call",
                                                               "function_call_output"):
            msgs.append(Message(role=role_of(item.get("role"), f"input[{i}]"),
                                content=openai_content(item.get("content"), dropped)))
        elif kind == "function_call":
            msgs.append(Message(role="assistant", tool_calls=[
                tool_call(item.get("name"), item.get("arguments"), item.get("call_id"))]))
        elif kind == "function_call_output":
            out = item.get("output")
            msgs.append(Message(role="tool", tool_call_id=item.get("call_id"),
                                content=out if isinstance(out, str) else json.dumps(out)))
        else:
            dropped.append({"type": str(kind)})
    return msgs


def responses_output(output: Any, dropped: list[Any]) -> Message:
    if not isinstance(output, list):
        raise ShapeError("responses response: 'output' must be a list")
    texts, calls = [], []
    for item in output:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            text = openai_content(item.get("content"), dropped)
            if text:
                texts.append(text)
        elif item.get("type") == "function_call":
            calls.append(tool_call(item.get("name"), item.get("arguments"), item.get("call_id")))
        else:
            dropped.append({"type": str(item.get("type"))})
    return Message(role="assistant", content=_join(texts), tool_calls=calls)


# ------------------------------------------------------------------- Anthropic ----

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
            dropped.append(_describe_part(block))
    return _turn(role, texts, calls, results)


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


# ---------------------------------------------------------------------- Gemini ----

def gemini_parts(role: str, parts: Any, where: str, dropped: list[Any]) -> list[Message]:
    if not isinstance(parts, list):
        raise ShapeError(f"{where}.parts: expected a list")
    texts, calls, results = [], [], []
    for part in parts:
        if not isinstance(part, dict):
            raise ShapeError(f"{where}.parts: expected objects")
        if part.get("thought"):
            dropped.append({"type": "thought"})
        elif "text" in part:
            texts.append(str(part["text"]))
        elif "functionCall" in part or "function_call" in part:
            fc = part.get("functionCall") or part.get("function_call") or {}
            calls.append(tool_call(fc.get("name"), fc.get("args", {}), fc.get("id")))
        elif "functionResponse" in part or "function_response" in part:
            fr = part.get("functionResponse") or part.get("function_response") or {}
            results.append(Message(role="tool", name=fr.get("name"),
                                   content=json.dumps(fr.get("response"), ensure_ascii=False)))
        else:
            dropped.append(_describe_part(part))
    return _turn(role, texts, calls, results)


def gemini_request(req: dict[str, Any], dropped: list[Any]) -> list[Message]:
    msgs: list[Message] = []
    system = req.get("systemInstruction") or req.get("system_instruction")
    if isinstance(system, dict):
        texts = [str(p.get("text", "")) for p in system.get("parts", []) if isinstance(p, dict)]
        msgs.append(Message(role="system", content=_join(texts)))
    elif isinstance(system, str):
        msgs.append(Message(role="system", content=system))
    for i, c in enumerate(need(req, "contents", list, "request")):
        if not isinstance(c, dict):
            raise ShapeError(f"request.contents[{i}]: expected an object")
        msgs += gemini_parts(role_of(c.get("role", "user"), f"contents[{i}]"), c.get("parts"),
                             f"request.contents[{i}]", dropped)
    return msgs


# ------------------------------------------------------------- OTel GenAI parts ----

def genai_parts_message(m: Any, where: str, dropped: list[Any]) -> list[Message]:
    """A message in the OTel GenAI semantic-convention shape (role + typed parts)."""
    if not isinstance(m, dict):
        raise ShapeError(f"{where}: expected a message object")
    role = role_of(m.get("role"), where)
    if "parts" not in m:  # some instrumentations log OpenAI-shaped messages
        return [openai_message(m, where, dropped)]
    texts, calls, results = [], [], []
    for part in m.get("parts") or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("content", "")))
        elif kind == "tool_call":
            calls.append(tool_call(part.get("name"), part.get("arguments"), part.get("id")))
        elif kind == "tool_call_response":
            resp = part.get("response", part.get("result"))
            results.append(Message(role="tool", tool_call_id=part.get("id"),
                                   content=resp if isinstance(resp, str)
                                   else json.dumps(resp, ensure_ascii=False)))
        else:
            dropped.append(_describe_part(part))
    return _turn(role, texts, calls, results)


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
