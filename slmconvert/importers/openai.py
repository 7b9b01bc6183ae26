"""OpenAI: Chat Completions and Responses request/response pairs (streamed ones too),
Batch API input and output files (joined by custom_id), fine-tuning JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from slmconvert.core.records import CallRecord, Message, Usage
from slmconvert.importers.anthropic import looks_like_anthropic
from slmconvert.importers.base import (
    Importer,
    Loc,
    PairImporter,
    Skip,
    build_record,
    is_error_response,
    metadata,
    request_response,
    status_of,
    usage_of,
)
from slmconvert.importers.common import (
    ShapeError,
    join_texts,
    need,
    normalise_tools,
    openai_content,
    openai_message,
    openai_messages,
    parse_sse,
    role_of,
    tool_call,
)

# ------------------------------------------------------------------------- shapes ----

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
    return Message(role="assistant", content=join_texts(texts), tool_calls=calls)


# ---------------------------------------------------------------------- importers ----

class OpenAIChat(PairImporter):
    name = "openai-chat"
    description = ("OpenAI Chat Completions request/response pairs, as logging proxies and "
                   "SDK wrappers write them; streamed responses recorded as chunks or SSE text.")
    example = ('{"request": {"model": "gpt-4o", "messages": [...], "tools": [...]}, '
               '"response": {"choices": [{"message": {...}, "finish_reason": "stop"}], '
               '"usage": {...}}, "metadata": {"session_id": "s1", "latency_ms": 812}}')

    def sniff(self, value: Any) -> bool:
        pair = request_response(value)
        return pair is not None and "messages" in pair[0] and not looks_like_anthropic(*pair)

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any],
                  provider: str = "openai", suffix: str = "") -> CallRecord:
        dropped: list[Any] = []
        messages = openai_messages(need(req, "messages", list, "request"), "request.messages",
                                   dropped)
        tools = normalise_tools(req.get("tools") or req.get("functions"), dropped)
        extra: dict[str, Any] = {}
        if isinstance(resp, str):
            resp = parse_sse(resp)
        if isinstance(resp, list):
            message, finish, usage_raw = openai_stream(resp)
            model = next((c.get("model") for c in resp if isinstance(c, dict)), None)
            extra["streamed"] = True
            return build_record(loc, messages, message, meta=meta, tools=tools,
                                model=req.get("model") or model, provider=provider,
                                usage=usage_of((usage_raw or {}).get("prompt_tokens"),
                                               (usage_raw or {}).get("completion_tokens")),
                                status=status_of(finish), dropped=dropped, extra=extra,
                                suffix=suffix)
        if is_error_response(resp):
            err = resp.get("error") if isinstance(resp.get("error"), dict) else {}
            extra["error"] = {"type": err.get("type"), "code": err.get("code"),
                              "message": str(err.get("message", ""))[:500]}
            return build_record(loc, messages, None, meta=meta, tools=tools,
                                model=req.get("model"), provider=provider, usage=Usage(),
                                status="error", dropped=dropped, extra=extra, suffix=suffix)
        choices = need(resp, "choices", list, "response")
        if not choices:
            raise ShapeError("response.choices is empty")
        choice = choices[0]
        message = openai_message(need(choice, "message", dict, "response.choices[0]"),
                                 "response.choices[0].message", dropped)
        if len(choices) > 1:
            extra["other_choices"] = len(choices) - 1
        u = resp.get("usage") or {}
        return build_record(loc, messages, message, meta=meta, tools=tools,
                            model=resp.get("model") or req.get("model"), provider=provider,
                            usage=usage_of(u.get("prompt_tokens"), u.get("completion_tokens"),
                                           u.get("total_tokens")),
                            status=status_of(choice.get("finish_reason")), dropped=dropped,
                            extra=extra, timestamp=meta.get("timestamp") or resp.get("created"),
                            suffix=suffix)


class OpenAIResponses(PairImporter):
    name = "openai-responses"
    description = "OpenAI Responses API request/response pairs (input items, output items)."
    example = ('{"request": {"model": "gpt-4.1", "instructions": "...", "input": [...]}, '
               '"response": {"output": [...], "usage": {...}}}')

    def sniff(self, value: Any) -> bool:
        pair = request_response(value)
        return pair is not None and "input" in pair[0] and "messages" not in pair[0]

    @staticmethod
    def from_pair(req: dict[str, Any], resp: Any, loc: Loc, meta: dict[str, Any],
                  suffix: str = "") -> CallRecord:
        dropped: list[Any] = []
        messages = responses_input(req.get("input"), req.get("instructions"), dropped)
        tools = normalise_tools(req.get("tools"), dropped)
        if isinstance(resp, str):  # streamed: the completed event carries the response
            events = parse_sse(resp)
            done = [e.get("response") for e in events if isinstance(e, dict)
                    and e.get("type") in ("response.completed", "response.incomplete")]
            if not done:
                raise ShapeError("streamed Responses body without a completed event")
            resp = done[-1]
        if is_error_response(resp) and not resp.get("output"):
            return build_record(loc, messages, None, meta=meta, tools=tools,
                                model=req.get("model"), provider="openai", usage=Usage(),
                                status="error", dropped=dropped, suffix=suffix)
        message = responses_output(need(resp, "output", list, "response"), dropped)
        u = resp.get("usage") or {}
        return build_record(loc, messages, message, meta=meta, tools=tools,
                            model=resp.get("model") or req.get("model"), provider="openai",
                            usage=usage_of(u.get("input_tokens"), u.get("output_tokens")),
                            status=status_of(resp.get("status")), dropped=dropped,
                            timestamp=meta.get("timestamp") or resp.get("created_at"),
                            suffix=suffix)


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
        msgs = openai_messages(need(value, "messages", list, "line"), "messages", dropped)
        if len(msgs) < 2 or msgs[-1].role != "assistant":
            raise ShapeError("fine-tuning example must end with an assistant message")
        tools = normalise_tools(value.get("tools") or value.get("functions"), dropped)
        yield build_record(loc, msgs[:-1], msgs[-1], meta=metadata(value), tools=tools,
                           model=None, provider=None, usage=Usage(), status="ok",
                           dropped=dropped)
