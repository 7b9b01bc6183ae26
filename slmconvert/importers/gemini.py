"""Gemini generateContent request/response pairs (contents, parts, candidates); streamed
responses as chunk lists or SSE text."""

from __future__ import annotations

import json
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
    describe_part,
    join_texts,
    need,
    normalise_tools,
    parse_sse,
    role_of,
    tool_call,
    turn_messages,
)

# ------------------------------------------------------------------------- shapes ----

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
            dropped.append(describe_part(part))
    return turn_messages(role, texts, calls, results)


def gemini_request(req: dict[str, Any], dropped: list[Any]) -> list[Message]:
    msgs: list[Message] = []
    system = req.get("systemInstruction") or req.get("system_instruction")
    if isinstance(system, dict):
        texts = [str(p.get("text", "")) for p in system.get("parts", []) if isinstance(p, dict)]
        msgs.append(Message(role="system", content=join_texts(texts)))
    elif isinstance(system, str):
        msgs.append(Message(role="system", content=system))
    for i, c in enumerate(need(req, "contents", list, "request")):
        if not isinstance(c, dict):
            raise ShapeError(f"request.contents[{i}]: expected an object")
        msgs += gemini_parts(role_of(c.get("role", "user"), f"contents[{i}]"), c.get("parts"),
                             f"request.contents[{i}]", dropped)
    return msgs


# ----------------------------------------------------------------------- importer ----

class Gemini(PairImporter):
    name = "gemini"
    description = "Gemini generateContent request/response pairs (contents, parts, candidates)."
    example = ('{"request": {"contents": [...], "systemInstruction": {...}}, "response": '
               '{"candidates": [...], "usageMetadata": {...}}, "metadata": {"model": "..."}}')

    def sniff(self, value: Any) -> bool:
        pair = request_response(value)
        return pair is not None and "contents" in pair[0]

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any],
                  model: str | None = None, suffix: str = "") -> CallRecord:
        dropped: list[Any] = []
        messages = gemini_request(req, dropped)
        tools = normalise_tools(req.get("tools"), dropped)
        extra: dict[str, Any] = {}
        if isinstance(resp, str):
            resp = parse_sse(resp)
        chunks = resp if isinstance(resp, list) else [resp]
        if len(chunks) == 1 and is_error_response(chunks[0]):
            return build_record(loc, messages, None, meta=meta, tools=tools, model=model,
                                provider="google", usage=Usage(), status="error",
                                dropped=dropped, suffix=suffix)
        parts: list[Any] = []
        finish: Any = None
        usage: dict[str, Any] = {}
        version: Any = None
        for chunk in chunks:
            cands = need(chunk, "candidates", list, "response")
            if cands:
                parts += (cands[0].get("content") or {}).get("parts") or []
                finish = cands[0].get("finishReason") or finish
            usage = chunk.get("usageMetadata") or usage
            version = chunk.get("modelVersion") or version
        if len(chunks) > 1:
            extra["streamed"] = True
        out = gemini_parts("assistant", parts, "response", dropped)
        return build_record(loc, messages, out[-1], meta=meta, tools=tools,
                            model=model or meta.get("model") or version, provider="google",
                            usage=usage_of(usage.get("promptTokenCount"),
                                           usage.get("candidatesTokenCount")),
                            status=status_of(finish), dropped=dropped, extra=extra,
                            suffix=suffix)
