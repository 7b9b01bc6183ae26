"""Table-driven importer tests: each format's shape, and what broken input becomes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slmconvert.core.records import CallRecord
from slmconvert.importers import registry
from slmconvert.importers.base import Loc, Skip
from slmconvert.importers.common import ShapeError

LOC = Loc("f.jsonl", 7)
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


def otlp(attrs: dict[str, Any], name: str = "chat gpt-4o", status: str = "STATUS_CODE_OK"):
    def val(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, list) and not any(isinstance(x, dict) for x in v):
            return {"arrayValue": {"values": [val(x) for x in v]}}
        return {"stringValue": v if isinstance(v, str) else json.dumps(v)}

    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{
        "traceId": "t1", "spanId": "s1", "name": name, "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001500000000", "status": {"code": status},
        "attributes": [{"key": k, "value": val(v)} for k, v in attrs.items()]}]}]}]}


CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("openai-chat", {
        "request": {"model": "gpt-4o", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                                         {"type": "image_url", "image_url": {"url": "data:x"}}]}],
            "tools": TOOLS},
        "response": {"model": "gpt-4o-2024-08-06", "choices": [{"finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "c2", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Lyon\"}"}}]}}],
            "usage": {"prompt_tokens": 40, "total_tokens": 52}},
        "metadata": {"session_id": "s-1", "latency_ms": 640, "agent": "weather"}},
     {"model": "gpt-4o-2024-08-06", "calls": [("get_weather", {"city": "Paris"}),
                                             ("get_weather", {"city": "Lyon"})],
      "usage": (40, 12), "conversation_id": "s-1", "latency_ms": 640.0, "agent": "weather",
      "user": "Weather in Paris?", "dropped": [{"type": "image_url"}], "tools": ["get_weather"]}),
    ("openai-chat", {  # streamed response recorded as chunks
        "request": {"model": "gpt-4o-mini", "stream": True,
                    "messages": [{"role": "user", "content": "Weather?"}]},
        "response": [
            {"model": "gpt-4o-mini", "choices": [{"delta": {"role": "assistant", "tool_calls": [
                {"index": 0, "id": "c9", "function": {"name": "get_weather", "arguments": ""}}]}}]},
            {"choices": [{"delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": "{\"city\": "}}]}}]},
            {"choices": [{"delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}, "finish_reason":
                "tool_calls"}], "usage": {"prompt_tokens": 9, "completion_tokens": 5}}]},
     {"calls": [("get_weather", {"city": "Oslo"})], "usage": (9, 5), "streamed": True}),
    ("openai-chat", {  # unparsable arguments are kept raw and flagged
        "request": {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        "response": {"choices": [{"message": {"role": "assistant", "tool_calls": [
            {"id": "a", "function": {"name": "f", "arguments": "{\"a\": 1"}}]},
            "finish_reason": "length"}]}},
     {"raw_args": "{\"a\": 1", "status": "truncated"}),
    ("openai-chat", {  # an API error response is a call with status error
        "request": {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        "response": {"error": {"message": "Rate limit", "type": "rate_limit_error"}}},
     {"status": "error", "response": None}),
    ("anthropic", {
        "request": {"model": "claude-3-5-haiku", "system": "You route.", "max_tokens": 100,
                    "messages": [
                        {"role": "user", "content": "Weather in Rome?"},
                        {"role": "assistant", "content": [
                            {"type": "text", "text": "Checking."},
                            {"type": "tool_use", "id": "tu1", "name": "get_weather",
                             "input": {"city": "Rome"}}]},
                        {"role": "user", "content": [
                            {"type": "tool_result", "tool_use_id": "tu1", "content": "21C"}]}],
                    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]},
        "response": {"type": "message", "role": "assistant", "model": "claude-3-5-haiku",
                     "content": [{"type": "text", "text": "It is 21C in Rome."}],
                     "stop_reason": "end_turn",
                     "usage": {"input_tokens": 30, "output_tokens": 9,
                               "cache_read_input_tokens": 5}}},
     {"roles": ["system", "user", "assistant", "tool"], "text": "It is 21C in Rome.",
      "usage": (35, 9), "tools": ["get_weather"], "tool_result": ("tu1", "21C")}),
    ("gemini", {
        "request": {"systemInstruction": {"parts": [{"text": "Be terse."}]}, "contents": [
            {"role": "user", "parts": [{"text": "15*8?"}]}],
            "tools": [{"functionDeclarations": [{"name": "calculator", "parameters": {}}]}]},
        "response": {"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "calculator", "args": {"expression": "15*8"}}}]},
            "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 20,
                                                        "candidatesTokenCount": 4},
            "modelVersion": "gemini-2.0-flash"}},
     {"calls": [("calculator", {"expression": "15*8"})], "model": "gemini-2.0-flash",
      "roles": ["system", "user"], "usage": (20, 4), "tools": ["calculator"]}),
    ("openai-responses", {
        "request": {"model": "gpt-4.1", "instructions": "Help.", "input": [
            {"role": "user", "content": "Weather in Oslo?"}],
            "tools": [{"type": "function", "name": "get_weather", "parameters": {}},
                      {"type": "web_search_preview"}]},
        "response": {"status": "completed", "output": [
            {"type": "function_call", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}",
             "call_id": "fc1"}], "usage": {"input_tokens": 11, "output_tokens": 3}}},
     {"calls": [("get_weather", {"city": "Oslo"})], "usage": (11, 3), "tools": ["get_weather"],
      "dropped": [{"builtin_tool": "web_search_preview"}]}),
    ("openai-finetune", {"messages": [
        {"role": "system", "content": "Extract."}, {"role": "user", "content": "Bob, 42"},
        {"role": "assistant", "content": "{\"name\": \"Bob\"}"}], "tools": TOOLS},
     {"text": "{\"name\": \"Bob\"}", "roles": ["system", "user"]}),
    ("otel", otlp({
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 4, "gen_ai.conversation.id": "conv-9",
        "gen_ai.system_instructions": [{"type": "text", "content": "Plan trips."}],
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text",
                                                              "content": "Plan Rome"}]}],
        "gen_ai.output.messages": [{"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "tool_call", "id": "x", "name": "search", "arguments": {"q": "Rome"}}]}]}),
     {"calls": [("search", {"q": "Rome"})], "usage": (12, 4), "conversation_id": "conv-9",
      "latency_ms": 1500.0, "roles": ["system", "user"], "source_suffix": "#s1"}),
    ("otel", otlp({  # the older flattened attributes
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-3.5-turbo",
        "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "Classify.",
        "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "My bag is lost",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "lost_luggage",
        "gen_ai.completion.0.finish_reason": "stop",
        "llm.request.functions.0.name": "lookup", "llm.request.functions.0.parameters": "{}"}),
     {"text": "lost_luggage", "roles": ["system", "user"], "conversation_id": "t1",
      "tools": ["lookup"]}),
    ("otel", otlp({  # flattened content stored as a JSON parts list, or broken JSON kept
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "[{\"text\": \"x\"",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": json.dumps([{"type": "text", "text": "Where is my bag?"}]),
        "gen_ai.completion.0.content": "lost_luggage"}),
     {"text": "lost_luggage", "user": "Where is my bag?",
      "system": "[{\"text\": \"x\""}),
    ("otel", otlp({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}),
     {"skip": "LLM span without prompt content"}),
    ("otel", otlp({"gen_ai.operation.name": "execute_tool"}, name="tool search"),
     {"skip": "not an LLM call span"}),
    ("otel", {"source_file": "x", "otlp": otlp({"tool_name": "search"}, name="Tool Usage")},
     {"skip": "not an LLM call span"}),
    ("langfuse", {"id": "o1", "traceId": "tr1", "type": "GENERATION", "name": "route",
                  "model": "gpt-4o-mini", "input": [{"role": "user", "content": "hi"}],
                  "output": {"role": "assistant", "content": "hello"},
                  "usage": {"input": 3, "output": 1}, "calculatedTotalCost": 0.0001,
                  "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:00:02Z"},
     {"text": "hello", "usage": (3, 1), "conversation_id": "tr1", "latency_ms": 2000.0,
      "cost": 0.0001, "step": "route"}),
    ("langfuse", {"id": "o2", "traceId": "tr1", "type": "SPAN", "input": {}, "output": {}},
     {"skip": "Langfuse SPAN observation"}),
    ("capture", {"source": "x", "api": "gemini.generateContent", "model": "gemini-2.0-flash",
                 "messages": [{"role": "user", "content": "15*8?"},
                              {"role": "model", "content": "{\"function_call\": {\"args\": "
                               "{\"expression\": \"15 * 8\"}, \"name\": \"calculator\"}}"}],
                 "tools": None, "response_text": "120", "response_tool_calls": [],
                 "finish_reason": "STOP", "usage": {"prompt_tokens": 5, "completion_tokens": 1},
                 "latency_ms": None, "timestamp": "Thu, 12 Feb 2026 19:30:50 GMT",
                 "status": 200},
     {"text": "120", "roles": ["user", "assistant"], "provider": "google",
      "history_call": ("calculator", {"expression": "15 * 8"}), "year": 2026}),
    ("capture", {"source": "x", "api": "chat.completions", "model": "m", "messages": [
        {"role": "user", "content": "x"}], "tools": None, "response_text": None,
        "response_tool_calls": [], "finish_reason": None, "usage": {}, "status": 429},
     {"status": "error", "response": None}),
    ("vcr", {"request": {"uri": "https://api.openai.com/v1/chat/completions", "body":
                         json.dumps({"model": "gpt-4o", "messages": [
                             {"role": "user", "content": "hi"}], "stream": True})},
             "response": {"status": {"code": 200}, "body": {"string":
                 'data: {"model":"gpt-4o","choices":[{"delta":{"content":"Hel"}}]}\n\n'
                 'data: {"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n'
                 "data: [DONE]\n\n"}}},
     {"text": "Hello", "streamed": True}),
    ("vcr", {"request": {"uri": "https://api.anthropic.com/v1/messages", "body": json.dumps({
        "model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})},
             "response": {"status": {"code": 200}, "body": {"string":
                 'event: message_start\ndata: {"type":"message_start","message":{"model":"claude",'
                 '"usage":{"input_tokens":4}}}\n\n'
                 'data: {"type":"content_block_start","index":0,"content_block":{"type":"text",'
                 '"text":""}}\n\n'
                 'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
                 '"text":"Hey"}}\n\n'
                 'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
                 '"usage":{"output_tokens":2}}\n\n'}}},
     {"text": "Hey", "usage": (4, 2)}),
    ("vcr", {"request": {"uri": "https://telemetry.crewai.com/v1/traces", "body": None},
             "response": {"status": {"code": 200}, "body": {"string": ""}}},
     {"skip": "not an LLM API call"}),
]


@pytest.mark.parametrize(("fmt", "item", "expect"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_importer_maps_to_canonical(fmt: str, item: Any, expect: dict[str, Any]) -> None:
    imp = registry.detect(item)
    assert imp is not None and imp.name == fmt, "format detection"
    out = imp.records(item, LOC)
    assert len(out) == 1
    rec = out[0]
    if "skip" in expect:
        assert isinstance(rec, Skip) and rec.reason.startswith(expect["skip"])
        return
    assert isinstance(rec, CallRecord)
    assert rec.id == rec.content_id() and rec.source.startswith("f.jsonl:7")
    resp = rec.response
    if "calls" in expect:
        assert resp is not None
        assert [(c.name, c.arguments) for c in resp.tool_calls] == expect["calls"]
    if "text" in expect:
        assert resp is not None and resp.content == expect["text"]
    if "raw_args" in expect:
        assert resp is not None
        call = resp.tool_calls[0]
        assert call.arguments == expect["raw_args"] and call.arguments_error
    checks = {
        "model": lambda: rec.model, "status": lambda: rec.status,
        "response": lambda: rec.response, "conversation_id": lambda: rec.conversation_id,
        "latency_ms": lambda: rec.latency_ms, "agent": lambda: rec.agent,
        "provider": lambda: rec.provider, "cost": lambda: rec.cost_usd, "step": lambda: rec.step,
        "usage": lambda: (rec.usage.prompt_tokens, rec.usage.completion_tokens),
        "roles": lambda: [m.role for m in rec.messages],
        "tools": lambda: [t["function"]["name"] for t in rec.tools],
        "dropped": lambda: rec.extra.get("dropped_parts"),
        "streamed": lambda: rec.extra.get("streamed"),
        "user": lambda: next(m.content for m in rec.messages if m.role == "user"),
        "system": lambda: next(m.content for m in rec.messages if m.role == "system"),
        "source_suffix": lambda: rec.source[len("f.jsonl:7"):],
        "year": lambda: rec.timestamp.year if rec.timestamp else None,
        "history_call": lambda: next((c.name, c.arguments) for m in rec.messages
                                     for c in m.tool_calls),
        "tool_result": lambda: next((m.tool_call_id, m.content) for m in rec.messages
                                    if m.role == "tool"),
    }
    for key, value in expect.items():
        if key in checks:
            assert checks[key]() == value, key


BROKEN: list[tuple[str, Any, str]] = [
    ("openai-chat", {"request": {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                     "response": {"id": "r"}}, "missing required field 'choices'"),
    ("openai-chat", {"request": {"messages": "hello"}, "response": {"choices": []}},
     "request.messages: expected list, got str"),
    ("openai-chat", {"request": {"messages": [{"role": "wizard", "content": "x"}]},
                     "response": {"choices": [{"message": {"role": "assistant"}}]}},
     "unknown role 'wizard'"),
    ("openai-chat", {"request": {"messages": []}, "response": {"choices": [
        {"message": {"role": "assistant", "content": "x"}}]}}, "no request messages"),
    ("openai-chat", {"request": {"messages": [{"role": "user", "content": 5}]},
                     "response": {"choices": [{"message": {"role": "assistant"}}]}},
     "content must be a string or a list"),
    ("anthropic", {"request": {"system": "s", "max_tokens": 1, "messages": [
        {"role": "user", "content": "x"}]}, "response": {"type": "message"}},
     "missing required field 'content'"),
    ("gemini", {"request": {"contents": [{"role": "user", "parts": "x"}]},
                "response": {"candidates": []}}, "expected a list"),
    ("openai-finetune", {"messages": [{"role": "user", "content": "x"}]},
     "must end with an assistant message"),
    ("otel", {"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "s", "attributes": [
        {"key": "gen_ai.input.messages", "value": {"stringValue": "[{not json"}}]}]}]}]},
     "not valid JSON"),
    ("vcr", {"request": {"uri": "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse",
                         "body": "{}"}, "response": {}}, "unsupported LLM API"),
]


@pytest.mark.parametrize(("fmt", "item", "reason"), BROKEN,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(BROKEN)])
def test_broken_items_raise_a_clear_reason(fmt: str, item: Any, reason: str) -> None:
    from pydantic import ValidationError

    imp = registry.get(fmt)
    with pytest.raises((ShapeError, ValidationError)) as info:
        imp.records(item, LOC)
    assert reason in str(info.value)


def test_unknown_format_suggests_a_name() -> None:
    from slmconvert.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'langfuse'"):
        registry.get("langfus")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["request", "response", "messages", "choices", "role", "content",
                         "resourceSpans", "spans", "attributes", "type", "traceId", "input",
                         "output", "api", "response_text", "custom_id", "uri", "body",
                         "tool_calls", "function", "parts", "contents", "candidates"]) |
        st.text(max_size=8), children, max_size=5),
    max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json_never_crashes_an_importer(value: Any) -> None:
    """Any JSON value yields records/skips or a ShapeError/ValidationError, nothing else."""
    from pydantic import ValidationError

    for cls in registry.IMPORTERS.values():
        try:
            cls().records(value, LOC)
        except (ShapeError, ValidationError):
            pass
