"""The importer registry: one small class per log format, keyed by name.

An importer says whether an item looks like its format (``sniff``) and maps it to
canonical records (``parse``), yielding :class:`Skip` for items that are valid but are
not LLM calls (a tool span, a batch request with no result). It raises ``ShapeError``
for items that claim the format but are broken; the collect stage quarantines those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from slmconvert.core.records import CallRecord, Message, Usage
from slmconvert.errors import ConfigError, did_you_mean
from slmconvert.importers import shapes as sh
from slmconvert.importers.shapes import ShapeError, need


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


# ------------------------------------------------------------------ helpers ----

def _json_type(value: Any) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


_META_KEYS = ("metadata", "meta", "tags_metadata")


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in _META_KEYS:
        if isinstance(value.get(key), dict):
            meta.update(value[key])
    for key in ("session_id", "conversation_id", "trace_id", "latency_ms", "timestamp",
                "agent", "workflow", "step", "tags", "human_facing", "request_id", "user"):
        if key in value and key not in meta:
            meta[key] = value[key]
    return meta


def _build(loc: Loc, messages: list[Message], response: Message | None, *, meta: dict[str, Any],
           tools: list[dict[str, Any]], model: Any, provider: str | None, usage: Usage,
           status: str, dropped: list[Any], extra: dict[str, Any] | None = None,
           latency_ms: float | None = None, timestamp: Any = None,
           conversation_id: Any = None, suffix: str = "") -> CallRecord:
    if not messages:
        raise ShapeError("call has no request messages (the prompt is not in the log, e.g. "
                         "server-side state via previous_response_id)")
    extra = dict(extra or {})
    if dropped:
        extra["dropped_parts"] = dropped
    leftovers = {k: v for k, v in meta.items() if k not in (
        "session_id", "conversation_id", "trace_id", "latency_ms", "timestamp", "agent",
        "workflow", "step", "human_facing")}
    if leftovers:
        extra["metadata"] = leftovers
    conv = conversation_id or meta.get("session_id") or meta.get("conversation_id") or meta.get(
        "trace_id")
    return CallRecord(
        source=f"{loc}{suffix}",
        conversation_id=str(conv) if conv else None,
        timestamp=sh.timestamp(timestamp if timestamp is not None else meta.get("timestamp")),
        agent=_str(meta.get("agent")), workflow=_str(meta.get("workflow")),
        step=_str(meta.get("step")),
        model=_str(model) or _str(meta.get("model")), provider=provider,
        messages=messages, tools=tools, response=response, usage=usage,
        latency_ms=latency_ms if latency_ms is not None else sh.as_float(meta.get("latency_ms")),
        status=status,
        human_facing=meta.get("human_facing") is True,
        extra=extra,
    ).with_id()


def _str(v: Any) -> str | None:
    return str(v) if v not in (None, "") else None


def _usage(prompt: Any, completion: Any, total: Any = None) -> Usage:
    p, c, t = sh.as_int(prompt), sh.as_int(completion), sh.as_int(total)
    if c is None and p is not None and t is not None and t >= p:
        c = t - p
    return Usage(prompt_tokens=p, completion_tokens=c)


def _status(finish: Any, truncated: tuple[str, ...] = ("length", "max_tokens", "MAX_TOKENS",
                                                       "incomplete")) -> str:
    return "truncated" if finish in truncated else "ok"


def _pair(value: Any) -> tuple[dict[str, Any], Any] | None:
    if isinstance(value, dict) and isinstance(value.get("request"), dict) and "response" in value:
        return value["request"], value["response"]
    return None


def _error_response(resp: Any) -> bool:
    return isinstance(resp, dict) and (
        "error" in resp and not resp.get("choices") and not resp.get("content")
        or resp.get("type") == "error")


# ------------------------------------------------------------ OpenAI chat pairs ----

class _PairImporter(Importer):
    """Formats logged as {"request": ..., "response": ..., "metadata": ...} pairs."""

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        pair = _pair(value)
        if pair is None:
            raise ShapeError("expected an object with 'request' and 'response'")
        yield type(self).from_pair(pair[0], pair[1], loc, _metadata(value))

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any]) -> CallRecord:
        raise NotImplementedError


class OpenAIChat(_PairImporter):
    name = "openai-chat"
    description = ("OpenAI Chat Completions request/response pairs, as logging proxies and "
                   "SDK wrappers write them; streamed responses recorded as chunks or SSE text.")
    example = ('{"request": {"model": "gpt-4o", "messages": [...], "tools": [...]}, '
               '"response": {"choices": [{"message": {...}, "finish_reason": "stop"}], '
               '"usage": {...}}, "metadata": {"session_id": "s1", "latency_ms": 812}}')

    def sniff(self, value: Any) -> bool:
        pair = _pair(value)
        return pair is not None and "messages" in pair[0] and not Anthropic.is_anthropic(*pair)

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any],
                  provider: str = "openai", suffix: str = "") -> CallRecord:
        dropped: list[Any] = []
        messages = sh.openai_messages(need(req, "messages", list, "request"), "request.messages",
                                      dropped)
        tools = sh.normalise_tools(req.get("tools") or req.get("functions"), dropped)
        extra: dict[str, Any] = {}
        if isinstance(resp, str):
            resp = sh.parse_sse(resp)
        if isinstance(resp, list):
            message, finish, usage_raw = sh.openai_stream(resp)
            model = next((c.get("model") for c in resp if isinstance(c, dict)), None)
            extra["streamed"] = True
            return _build(loc, messages, message, meta=meta, tools=tools,
                          model=req.get("model") or model, provider=provider,
                          usage=_usage((usage_raw or {}).get("prompt_tokens"),
                                       (usage_raw or {}).get("completion_tokens")),
                          status=_status(finish), dropped=dropped, extra=extra, suffix=suffix)
        if _error_response(resp):
            err = resp.get("error") if isinstance(resp.get("error"), dict) else {}
            extra["error"] = {"type": err.get("type"), "code": err.get("code"),
                              "message": str(err.get("message", ""))[:500]}
            return _build(loc, messages, None, meta=meta, tools=tools, model=req.get("model"),
                          provider=provider, usage=Usage(), status="error", dropped=dropped,
                          extra=extra, suffix=suffix)
        choices = need(resp, "choices", list, "response")
        if not choices:
            raise ShapeError("response.choices is empty")
        choice = choices[0]
        message = sh.openai_message(need(choice, "message", dict, "response.choices[0]"),
                                    "response.choices[0].message", dropped)
        if len(choices) > 1:
            extra["other_choices"] = len(choices) - 1
        u = resp.get("usage") or {}
        return _build(loc, messages, message, meta=meta, tools=tools,
                      model=resp.get("model") or req.get("model"), provider=provider,
                      usage=_usage(u.get("prompt_tokens"), u.get("completion_tokens"),
                                   u.get("total_tokens")),
                      status=_status(choice.get("finish_reason")), dropped=dropped, extra=extra,
                      timestamp=meta.get("timestamp") or resp.get("created"), suffix=suffix)


class OpenAIResponses(_PairImporter):
    name = "openai-responses"
    description = "OpenAI Responses API request/response pairs (input items, output items)."
    example = ('{"request": {"model": "gpt-4.1", "instructions": "...", "input": [...]}, '
               '"response": {"output": [...], "usage": {...}}}')

    def sniff(self, value: Any) -> bool:
        pair = _pair(value)
        return pair is not None and "input" in pair[0] and "messages" not in pair[0]

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any],
                  suffix: str = "") -> CallRecord:
        dropped: list[Any] = []
        messages = sh.responses_input(req.get("input"), req.get("instructions"), dropped)
        tools = sh.normalise_tools(req.get("tools"), dropped)
        if isinstance(resp, str):  # streamed: the completed event carries the response
            events = sh.parse_sse(resp)
            done = [e.get("response") for e in events if isinstance(e, dict)
                    and e.get("type") in ("response.completed", "response.incomplete")]
            if not done:
                raise ShapeError("streamed Responses body without a completed event")
            resp = done[-1]
        if _error_response(resp) and not resp.get("output"):
            return _build(loc, messages, None, meta=meta, tools=tools, model=req.get("model"),
                          provider="openai", usage=Usage(), status="error", dropped=dropped,
                          suffix=suffix)
        message = sh.responses_output(need(resp, "output", list, "response"), dropped)
        u = resp.get("usage") or {}
        return _build(loc, messages, message, meta=meta, tools=tools,
                      model=resp.get("model") or req.get("model"), provider="openai",
                      usage=_usage(u.get("input_tokens"), u.get("output_tokens")),
                      status=_status(resp.get("status")), dropped=dropped,
                      timestamp=meta.get("timestamp") or resp.get("created_at"), suffix=suffix)


class Anthropic(_PairImporter):
    name = "anthropic"
    description = ("Anthropic Messages request/response pairs: top-level system, tool_use and "
                   "tool_result blocks; streamed responses as events or SSE text.")
    example = ('{"request": {"model": "claude-3-5-haiku", "system": "...", "messages": [...], '
               '"tools": [{"name": ..., "input_schema": {...}}]}, "response": {"type": '
               '"message", "content": [...], "stop_reason": "end_turn", "usage": {...}}}')

    @staticmethod
    def is_anthropic(req: dict[str, Any], resp: Any) -> bool:
        if isinstance(resp, dict) and (resp.get("type") == "message" or "stop_reason" in resp):
            return True
        tools = req.get("tools")
        if isinstance(tools, list) and tools and isinstance(tools[0], dict) and (
                "input_schema" in tools[0]):
            return True
        return isinstance(req.get("system"), str | list) and "max_tokens" in req and not any(
            isinstance(m, dict) and m.get("role") == "system" for m in req.get("messages") or [])

    def sniff(self, value: Any) -> bool:
        pair = _pair(value)
        return pair is not None and "messages" in pair[0] and self.is_anthropic(*pair)

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any],
                  suffix: str = "") -> CallRecord:
        dropped: list[Any] = []
        messages = sh.anthropic_request(req, dropped)
        tools = sh.normalise_tools(req.get("tools"), dropped)
        extra: dict[str, Any] = {}
        if isinstance(resp, str):
            resp = sh.parse_sse(resp)
        if isinstance(resp, list):
            resp = sh.anthropic_stream(resp)
            extra["streamed"] = True
        if _error_response(resp):
            return _build(loc, messages, None, meta=meta, tools=tools, model=req.get("model"),
                          provider="anthropic", usage=Usage(), status="error", dropped=dropped,
                          extra=extra, suffix=suffix)
        out = sh.anthropic_blocks("assistant", need(resp, "content", list, "response"),
                                  "response", dropped)
        u = resp.get("usage") or {}
        prompt = sh.as_int(u.get("input_tokens"))
        if prompt is not None:
            prompt += sum(sh.as_int(u.get(k)) or 0 for k in (
                "cache_read_input_tokens", "cache_creation_input_tokens"))
        return _build(loc, messages, out[-1], meta=meta, tools=tools,
                      model=resp.get("model") or req.get("model"), provider="anthropic",
                      usage=_usage(prompt, u.get("output_tokens")),
                      status=_status(resp.get("stop_reason")), dropped=dropped, extra=extra,
                      suffix=suffix)


class Gemini(_PairImporter):
    name = "gemini"
    description = "Gemini generateContent request/response pairs (contents, parts, candidates)."
    example = ('{"request": {"contents": [...], "systemInstruction": {...}}, "response": '
               '{"candidates": [...], "usageMetadata": {...}}, "metadata": {"model": "..."}}')

    def sniff(self, value: Any) -> bool:
        pair = _pair(value)
        return pair is not None and "contents" in pair[0]

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any],
                  model: str | None = None, suffix: str = "") -> CallRecord:
        dropped: list[Any] = []
        messages = sh.gemini_request(req, dropped)
        tools = sh.normalise_tools(req.get("tools"), dropped)
        extra: dict[str, Any] = {}
        if isinstance(resp, str):
            resp = sh.parse_sse(resp)
        chunks = resp if isinstance(resp, list) else [resp]
        if len(chunks) == 1 and _error_response(chunks[0]):
            return _build(loc, messages, None, meta=meta, tools=tools, model=model,
                          provider="google", usage=Usage(), status="error", dropped=dropped,
                          suffix=suffix)
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
        out = sh.gemini_parts("assistant", parts, "response", dropped)
        return _build(loc, messages, out[-1], meta=meta, tools=tools,
                      model=model or meta.get("model") or version, provider="google",
                      usage=_usage(usage.get("promptTokenCount"),
                                   usage.get("candidatesTokenCount")),
                      status=_status(finish), dropped=dropped, extra=extra, suffix=suffix)


# ------------------------------------------------------------------ OpenAI files ----

class OpenAIBatchInput(Importer):
    name = "openai-batch-input"
    description = ("OpenAI Batch API input file (custom_id, method, url, body). Indexed, "
                   "then joined with the output file by custom_id.")
    example = '{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}'

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and "custom_id" in value and "body" in value and (
            "url" in value or "method" in value)

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        raise ShapeError("batch input files are joined with their output, not parsed alone")


class OpenAIBatchOutput(Importer):
    name = "openai-batch"
    description = ("OpenAI Batch API output file (custom_id, response.body); each line is "
                   "joined with the request of the same custom_id from the input file.")
    example = ('{"id": "batch_req_1", "custom_id": "r1", "response": {"status_code": 200, '
               '"body": {"choices": [...]}}, "error": null}')

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and "custom_id" in value and (
            "response" in value or "error" in value) and "body" not in value

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        custom_id = need(value, "custom_id", str, "batch output")
        request = self.batch_index.get(custom_id) if self.batch_index else None
        if request is None:
            raise ShapeError(f"no batch input line with custom_id {custom_id!r}")
        response = value.get("response") or {}
        body = response.get("body") if isinstance(response, dict) else None
        if value.get("error") or not isinstance(body, dict) or (
                response.get("status_code", 200) >= 400):
            body = {"error": value.get("error") or (body or {}).get("error") or {}}
        meta = {"request_id": custom_id, "batch_id": value.get("id")}
        yield OpenAIChat.from_pair(request, body, loc, meta)


class OpenAIFinetune(Importer):
    name = "openai-finetune"
    description = ("OpenAI fine-tuning JSONL (messages, tools): the last assistant message is "
                   "the response, the messages before it the request.")
    example = ('{"messages": [{"role": "system", ...}, {"role": "user", ...}, '
               '{"role": "assistant", ...}]}')

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and isinstance(value.get("messages"), list) and not (
            {"request", "response", "response_text", "api", "source"} & set(value))

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        dropped: list[Any] = []
        msgs = sh.openai_messages(need(value, "messages", list, "line"), "messages", dropped)
        if len(msgs) < 2 or msgs[-1].role != "assistant":
            raise ShapeError("fine-tuning example must end with an assistant message")
        tools = sh.normalise_tools(value.get("tools") or value.get("functions"), dropped)
        yield _build(loc, msgs[:-1], msgs[-1], meta=_metadata(value), tools=tools, model=None,
                     provider=None, usage=Usage(), status="ok", dropped=dropped)


# ------------------------------------------------------------ OpenTelemetry ----

def _otlp_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return sh.as_int(v["intValue"])
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
            try:  # some instrumentations store the content parts list as JSON
                content = sh.openai_content(json.loads(content), dropped)
            except (json.JSONDecodeError, ShapeError):
                pass
        out.append(Message(
            role=sh.role_of(g.get("role", "assistant" if kind == "completion" else "user"),
                            f"gen_ai.{kind}"),
            content=content if isinstance(content, str) else None,
            tool_calls=[sh.tool_call(c.get("name"), c.get("arguments"), c.get("id"))
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
            messages.append(Message(role="system", content=sh.openai_content(
                [{"type": "text", "text": p.get("content", "")} for p in system
                 if isinstance(p, dict)], dropped)))
        elif isinstance(system, str):
            messages.append(Message(role="system", content=system))
        response: Message | None = None
        if has_new:
            for i, m in enumerate(_json_attr(attrs.get("gen_ai.input.messages")) or []):
                messages += sh.genai_parts_message(m, f"gen_ai.input.messages[{i}]", dropped)
            outs = _json_attr(attrs.get("gen_ai.output.messages")) or []
            if outs:
                response = sh.genai_parts_message(outs[0], "gen_ai.output.messages[0]",
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
        tools = sh.normalise_tools(tools_raw, dropped)
        start, end = sh.as_int(span.get("startTimeUnixNano")), sh.as_int(
            span.get("endTimeUnixNano"))
        code = (span.get("status") or {}).get("code")
        status = "error" if code in (2, "STATUS_CODE_ERROR") else _status(finish)
        meta = {"agent": attrs.get("gen_ai.agent.name"), "trace_id": span.get("traceId"),
                "service": resource.get("service.name"), "span_name": span.get("name")}
        conv = attrs.get("gen_ai.conversation.id") or attrs.get("session.id")
        return _build(
            loc, messages, response, meta=meta, tools=tools,
            model=attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model"),
            provider=_str(attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")),
            usage=_usage(attrs.get("gen_ai.usage.input_tokens",
                                   attrs.get("gen_ai.usage.prompt_tokens")),
                         attrs.get("gen_ai.usage.output_tokens",
                                   attrs.get("gen_ai.usage.completion_tokens"))),
            status=status, dropped=dropped,
            latency_ms=(end - start) / 1e6 if start and end and end >= start else None,
            timestamp=start, conversation_id=conv or span.get("traceId"), suffix=suffix)


# ----------------------------------------------------------------- Langfuse ----

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
            messages = sh.openai_messages(raw_in, "input", dropped)
        out = value.get("output")
        if isinstance(out, dict) and isinstance(out.get("choices"), list) and out["choices"]:
            out = out["choices"][0].get("message")
        if isinstance(out, str):
            response: Message | None = Message(role="assistant", content=out)
        elif isinstance(out, dict):
            response = sh.openai_message({"role": "assistant", **out}, "output", dropped)
        else:
            response = None
        u = value.get("usageDetails") or value.get("usage") or {}
        start, end = sh.timestamp(value.get("startTime")), sh.timestamp(value.get("endTime"))
        cost = value.get("calculatedTotalCost")
        if cost is None and isinstance(value.get("costDetails"), dict):
            cost = value["costDetails"].get("total")
        status = "error" if value.get("level") == "ERROR" else (
            "ok" if response is not None else "error")
        meta = {**(value.get("metadata") if isinstance(value.get("metadata"), dict) else {}),
                "trace_id": value.get("traceId"), "step": value.get("name"),
                "observation_id": value.get("id")}
        rec = _build(loc, messages, response, meta=meta, tools=sh.normalise_tools(
            tools_raw, dropped), model=value.get("model"), provider=None,
            usage=_usage(u.get("input", u.get("promptTokens")),
                         u.get("output", u.get("completionTokens")), u.get("total")),
            status=status, dropped=dropped, timestamp=value.get("startTime"),
            latency_ms=(end - start).total_seconds() * 1000 if start and end else None)
        rec.cost_usd = sh.as_float(cost)
        yield rec


# ------------------------------------------------ flattened capture (shared data) ----

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
        calls = [sh.tool_call(tc.get("name"), tc.get("arguments"), tc.get("id"))
                 for tc in value.get("response_tool_calls") or [] if isinstance(tc, dict)]
        text = value.get("response_text")
        http = sh.as_int(value.get("status"))
        status = "error" if http is not None and http >= 400 else _status(
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
        yield _build(loc, messages, response, meta=meta,
                     tools=sh.normalise_tools(value.get("tools"), dropped),
                     model=value.get("model"),
                     provider=_CAPTURE_PROVIDER.get(str(value.get("api")),
                                                    _str(value.get("provider"))),
                     usage=_usage(u.get("prompt_tokens"), u.get("completion_tokens")),
                     status=status, dropped=dropped)

    @staticmethod
    def _message(m: Any, i: int, dropped: list[Any]) -> Message:
        msg = sh.openai_message(m, f"messages[{i}]", dropped)
        # Gemini turns arrive as JSON text: {"function_call": {...}} / {"function_response": ...}
        text = msg.content
        if text and text.startswith('{"function_') and not msg.tool_calls:
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                return msg
            if isinstance(obj, dict) and isinstance(obj.get("function_call"), dict):
                fc = obj["function_call"]
                return Message(role="assistant",
                               tool_calls=[sh.tool_call(fc.get("name"), fc.get("args", {}))])
            if isinstance(obj, dict) and isinstance(obj.get("function_response"), dict):
                fr = obj["function_response"]
                return Message(role="tool", name=fr.get("name"),
                               content=json.dumps(fr.get("response"), ensure_ascii=False))
        return msg


# ------------------------------------------------------------- canonical ----

class Canonical(Importer):
    name = "canonical"
    description = "slmconvert's own canonical records (collect/curate output, JSONL or Parquet)."
    example = '{"id": "...", "source": "a.jsonl:3", "messages": [...], "response": {...}, ...}'

    _KEYS = {"source", "messages", "response", "status", "human_facing"}

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and self._KEYS <= set(value)

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        from pydantic import ValidationError

        from slmconvert.core.records import from_row

        row = dict(value)
        for key in ("tools", "extra"):
            if not isinstance(row.get(key), str):
                row[key] = json.dumps(row.get(key) or ([] if key == "tools" else {}))
        try:
            rec = from_row({**{k: None for k in ("conversation_id", "timestamp", "agent",
                                                 "workflow", "step", "model", "provider",
                                                 "latency_ms", "cost_usd", "usage")}, **row})
        except (ValidationError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ShapeError(f"not a canonical record: {str(exc).splitlines()[0]}") from None
        yield rec.with_id()


# --------------------------------------------------------- VCR cassettes ----

class VCRCassette(Importer):
    name = "vcr"
    description = ("Recorded HTTP interactions (VCR/pytest-recording YAML cassettes): each "
                   "LLM API request/response is mapped by its URL (OpenAI chat and Responses, "
                   "Anthropic Messages, Gemini generateContent); other requests are skipped.")
    example = "interactions: [{request: {uri: ..., body: ...}, response: {body: {string: ...}}}]"

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and isinstance(value.get("request"), dict) and (
            "uri" in value["request"])

    @staticmethod
    def _body(part: dict[str, Any]) -> Any:
        if "parsed_body" in part:
            return part["parsed_body"]
        body = part.get("body")
        if isinstance(body, dict):
            body = body.get("string", body)
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        if isinstance(body, str):
            text = body.strip()
            if text.startswith(("{", "[")):
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    return body
        return body

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        req_part = need(value, "request", dict, "interaction")
        uri = str(req_part.get("uri", ""))
        path = uri.split("?", 1)[0]
        resp_part = value.get("response") or {}
        status = sh.as_int((resp_part.get("status") or {}).get("code"))
        req, resp = self._body(req_part), self._body(resp_part)
        meta = {"uri": path, "http_status": status}
        if status is not None and status >= 400 and isinstance(resp, dict):
            resp = {"error": resp.get("error", resp)}
        if path.endswith("/chat/completions"):
            if not isinstance(req, dict):
                raise ShapeError("chat completions request without a JSON body")
            yield OpenAIChat.from_pair(req, resp, loc, meta)
        elif path.endswith("/responses"):
            if not isinstance(req, dict):
                raise ShapeError("responses request without a JSON body")
            yield OpenAIResponses.from_pair(req, resp, loc, meta)
        elif path.endswith("/messages") and "anthropic" in uri or path.endswith("/v1/messages"):
            if not isinstance(req, dict):
                raise ShapeError("messages request without a JSON body")
            yield Anthropic.from_pair(req, resp, loc, meta)
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            if not isinstance(req, dict):
                raise ShapeError("generateContent request without a JSON body")
            model = path.rsplit("/models/", 1)[-1].split(":", 1)[0] if "/models/" in path else None
            yield Gemini.from_pair(req, resp, loc, meta, model=model)
        elif "/converse" in path or "bedrock" in uri:
            raise ShapeError("unsupported LLM API: AWS Bedrock Converse")
        else:
            yield Skip(f"not an LLM API call ({path.rsplit('/', 1)[-1] or path})")


# ----------------------------------------------------------------- registry ----

# Sniffing order matters: specific shapes before general ones.
IMPORTERS: dict[str, type[Importer]] = {c.name: c for c in (
    Capture, OTelGenAI, Langfuse, OpenAIBatchInput, OpenAIBatchOutput, Anthropic, Gemini,
    OpenAIResponses, OpenAIChat, OpenAIFinetune, Canonical, VCRCassette)}


def get(name: str) -> Importer:
    if name not in IMPORTERS:
        raise ConfigError(f"unknown format '{name}'{did_you_mean(name, list(IMPORTERS))}; "
                          f"known: {', '.join(IMPORTERS)}")
    return IMPORTERS[name]()


def detect(value: Any) -> Importer | None:
    for cls in IMPORTERS.values():
        imp = cls()
        if imp.sniff(value):
            return imp
    return None
