"""OpenTelemetry GenAI spans as OTLP-JSON: the current gen_ai.input.messages /
gen_ai.output.messages attributes and the older flattened gen_ai.prompt.N.* /
gen_ai.completion.N.* ones (and llm.request.functions.N.* tool schemas)."""

from __future__ import annotations

import json
import re
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
from slmconvert.importers.common import (
    ShapeError,
    as_int,
    describe_part,
    need,
    normalise_tools,
    openai_content,
    openai_message,
    role_of,
    tool_call,
    turn_messages,
)

# ------------------------------------------------------------------------- shapes ----

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
            dropped.append(describe_part(part))
    return turn_messages(role, texts, calls, results)


# ----------------------------------------------------------------------- importer ----

def _otlp_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return as_int(v["intValue"])
    if "arrayValue" in v:
        return [_otlp_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return {kv.get("key"): _otlp_value(kv.get("value"))
                for kv in (v["kvlistValue"] or {}).get("values", [])}
    return None


_INDEXED = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")
_FUNCS = re.compile(r"^llm\.request\.functions\.(\d+)\.(name|description|parameters)$")
_LLM_OPS = {"chat", "text_completion", "generate_content", "completion"}


def _json_attr(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ShapeError("GenAI message attribute is not valid JSON") from None
    return raw


def _legacy_messages(attrs: dict[str, Any], kind: str, dropped: list[Any]) -> list[Message]:
    grouped: dict[int, dict[str, Any]] = {}
    for key, val in attrs.items():
        m = _INDEXED.match(key)
        if m and m.group(1) == kind:
            grouped.setdefault(int(m.group(2)), {})[m.group(3)] = val
    out = []
    for _, g in sorted(grouped.items()):
        calls: dict[int, dict[str, Any]] = {}
        for k, v in g.items():
            tm = re.match(r"^tool_calls\.(\d+)\.(name|arguments|id)$", k)
            if tm:
                calls.setdefault(int(tm.group(1)), {})[tm.group(2)] = v
        content = g.get("content")
        if isinstance(content, str) and content.startswith("[") and kind == "prompt":
            parts = sniff_json(content)  # some instrumentations store the parts list as JSON
            if parts is not None:
                content = openai_content(parts, dropped)
        out.append(Message(
            role=role_of(g.get("role", "assistant" if kind == "completion" else "user"),
                         f"gen_ai.{kind}"),
            content=content if isinstance(content, str) else None,
            tool_calls=[tool_call(c.get("name"), c.get("arguments"), c.get("id"))
                        for _, c in sorted(calls.items())],
            tool_call_id=g.get("tool_call_id")))
    return out


class OTelGenAI(Importer):
    name = "otel"
    description = ("OpenTelemetry GenAI spans as OTLP-JSON (resourceSpans): current "
                   "gen_ai.input.messages / gen_ai.output.messages attributes and the older "
                   "flattened gen_ai.prompt.N.* / gen_ai.completion.N.* ones. Spans that are "
                   "not LLM calls, or carry no prompt content, are counted and skipped.")
    example = ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": ..., "attributes": '
               '[{"key": "gen_ai.input.messages", "value": {"stringValue": "[...]"}}]}]}]}]}')

    _ENVELOPES = ("otlp", "export", "payload", "body")

    @classmethod
    def _unwrap(cls, value: Any) -> Any:
        """Accept an OTLP export wrapped in a capture envelope ({"otlp": {...}})."""
        if isinstance(value, dict) and "resourceSpans" not in value:
            for key in cls._ENVELOPES:
                inner = value.get(key)
                if isinstance(inner, dict) and "resourceSpans" in inner:
                    return inner
        return value

    def sniff(self, value: Any) -> bool:
        value = self._unwrap(value)
        return isinstance(value, dict) and isinstance(value.get("resourceSpans"), list)

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        value = self._unwrap(value)
        for rs in need(value, "resourceSpans", list, "export"):
            resource = {a.get("key"): _otlp_value(a.get("value"))
                        for a in ((rs or {}).get("resource") or {}).get("attributes", [])}
            scopes = (rs or {}).get("scopeSpans") or (rs or {}).get("instrumentationLibrarySpans")
            for ss in scopes or []:
                for span in (ss or {}).get("spans") or []:
                    yield self.span(span, resource, loc)

    def span(self, span: Any, resource: dict[str, Any], loc: Loc) -> CallRecord | Skip:
        if not isinstance(span, dict):
            raise ShapeError("span is not an object")
        suffix = f"#{span.get('spanId', '')}"
        attrs: dict[str, Any] = {str(a.get("key")): _otlp_value(a.get("value"))
                                 for a in span.get("attributes") or [] if isinstance(a, dict)}
        op = attrs.get("gen_ai.operation.name") or attrs.get("llm.request.type")
        has_new = "gen_ai.input.messages" in attrs or "gen_ai.output.messages" in attrs
        has_old = any(_INDEXED.match(k) for k in attrs)
        is_llm = op in _LLM_OPS or has_new or has_old or "gen_ai.request.model" in attrs and (
            op is None)
        if not is_llm:
            return Skip(f"not an LLM call span ({span.get('name', 'unnamed')})", suffix)
        if not (has_new or has_old):
            return Skip("LLM span without prompt content (content capture was off)", suffix)
        dropped: list[Any] = []
        messages: list[Message] = []
        system = _json_attr(attrs.get("gen_ai.system_instructions"))
        if isinstance(system, list):
            messages.append(Message(role="system", content=openai_content(
                [{"type": "text", "text": p.get("content", "")} for p in system
                 if isinstance(p, dict)], dropped)))
        elif isinstance(system, str):
            messages.append(Message(role="system", content=system))
        response: Message | None = None
        if has_new:
            for i, m in enumerate(_json_attr(attrs.get("gen_ai.input.messages")) or []):
                messages += genai_parts_message(m, f"gen_ai.input.messages[{i}]", dropped)
            outs = _json_attr(attrs.get("gen_ai.output.messages")) or []
            if outs:
                response = genai_parts_message(outs[0], "gen_ai.output.messages[0]",
                                               dropped)[-1]
                finish = outs[0].get("finish_reason") if isinstance(outs[0], dict) else None
            else:
                finish = None
        else:
            messages += _legacy_messages(attrs, "prompt", dropped)
            completions = _legacy_messages(attrs, "completion", dropped)
            response = completions[0] if completions else None
            finish = attrs.get("gen_ai.completion.0.finish_reason")
        reasons = attrs.get("gen_ai.response.finish_reasons")
        if finish is None and isinstance(reasons, list) and reasons:
            finish = reasons[0]
        tools_raw = _json_attr(attrs.get("gen_ai.tool.definitions"))
        if tools_raw is None:
            funcs: dict[int, dict[str, Any]] = {}
            for k, v in attrs.items():
                fm = _FUNCS.match(k)
                if fm:
                    funcs.setdefault(int(fm.group(1)), {})[fm.group(2)] = v
            tools_raw = [{"type": "function", "function": {
                "name": f.get("name"), "description": f.get("description"),
                "parameters": _json_attr(f.get("parameters")) or {}}}
                for _, f in sorted(funcs.items())] or None
        tools = normalise_tools(tools_raw, dropped)
        start, end = as_int(span.get("startTimeUnixNano")), as_int(
            span.get("endTimeUnixNano"))
        code = (span.get("status") or {}).get("code")
        status = "error" if code in (2, "STATUS_CODE_ERROR") else status_of(finish)
        meta = {"agent": attrs.get("gen_ai.agent.name"), "trace_id": span.get("traceId"),
                "service": resource.get("service.name"), "span_name": span.get("name")}
        conv = attrs.get("gen_ai.conversation.id") or attrs.get("session.id")
        return build_record(
            loc, messages, response, meta=meta, tools=tools,
            model=attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model"),
            provider=str_or_none(attrs.get("gen_ai.provider.name")
                                 or attrs.get("gen_ai.system")),
            usage=usage_of(attrs.get("gen_ai.usage.input_tokens",
                                     attrs.get("gen_ai.usage.prompt_tokens")),
                           attrs.get("gen_ai.usage.output_tokens",
                                     attrs.get("gen_ai.usage.completion_tokens"))),
            status=status, dropped=dropped,
            latency_ms=(end - start) / 1e6 if start and end and end >= start else None,
            timestamp=start, conversation_id=conv or span.get("traceId"), suffix=suffix)

