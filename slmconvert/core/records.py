"""The canonical agent-call record (DESIGN.md) as a typed model and an Arrow schema.

Tool-call arguments are JSON objects in the model. In Arrow they are stored as JSON
text (Arrow has no "any JSON" type); arguments that could not be parsed are kept as
their raw string with ``arguments_error`` set, never dropped. ``tools`` and ``extra``
are stored as JSON text for the same reason.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmconvert.core.hashing import sha256_json

Role = Literal["system", "developer", "user", "assistant", "tool"]
Status = Literal["ok", "error", "truncated"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCall(_Model):
    id: str | None = Field(None, description="Provider's tool-call id, used by tool results.")
    name: str = Field(description="Function name.")
    arguments: Any = Field(
        default_factory=dict,
        description="Arguments as a JSON value (normally an object); the raw string when "
        "it could not be parsed.",
    )
    arguments_error: str | None = Field(
        None, description="Why the raw arguments string could not be parsed as JSON."
    )


class Message(_Model):
    role: Role
    content: str | None = Field(None, description="Text content (multi-part text is joined).")
    name: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = Field(None, description="For role=tool: the call it answers.")


class Usage(_Model):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class CallRecord(_Model):
    id: str = Field("", description="Stable content hash of the call (see content_id).")
    conversation_id: str | None = Field(None, description="Session/trace the call belongs to.")
    source: str = Field(description="Where the call came from: file:line or span id.")
    timestamp: datetime | None = None
    agent: str | None = None
    workflow: str | None = None
    step: str | None = None
    model: str | None = None
    provider: str | None = None
    messages: list[Message] = Field(default_factory=list)
    tools: list[dict[str, Any]] = Field(
        default_factory=list, description="OpenAI function schemas."
    )
    response: Message | None = Field(None, description="The assistant message returned.")
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float | None = None
    cost_usd: float | None = None
    status: Status = "ok"
    human_facing: bool = False
    extra: dict[str, Any] = Field(default_factory=dict, description="Anything else kept.")

    def content_id(self) -> str:
        """Hash of what the call *is* (request and response), not where it was logged."""
        return sha256_json(
            {
                "model": self.model,
                "messages": [m.model_dump(mode="json") for m in self.messages],
                "tools": self.tools,
                "response": self.response.model_dump(mode="json") if self.response else None,
            }
        )[:24]

    def with_id(self) -> CallRecord:
        self.id = self.content_id()
        return self


INSTRUCTION_ROLES: tuple[Role, ...] = ("system", "developer")


def message_text(m: Message) -> str:
    """One message as text: ``role: content`` (content stripped), then ``call NAME ARGS``
    for each tool call, its arguments as sorted-key JSON; space-separated."""
    calls = [f"call {tc.name} {json.dumps(tc.arguments, sort_keys=True)}" for tc in m.tool_calls]
    return " ".join([f"{m.role}: {(m.content or '').strip()}", *calls])


def request_text(rec: CallRecord, *, instructions: bool = True) -> str:
    """A call's request as one text, for comparing requests: its messages in order as
    :func:`message_text`, one per line; without the system/developer messages when
    ``instructions`` is False (every call of one task shares them)."""
    return "\n".join(message_text(m) for m in rec.messages
                     if instructions or m.role not in INSTRUCTION_ROLES)


def tool_names(rec: CallRecord) -> set[str]:
    """Every tool name a call mentions: offered in ``tools`` (OpenAI or bare
    ``{"name": ...}`` schemas), called by a message or the response, or naming a tool
    result (``role=tool`` messages with a ``name``). Empty and non-string names are left
    out."""
    names: set[str] = set()
    for t in rec.tools:
        fn = (t.get("function") or t) if isinstance(t, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and name:
            names.add(name)
    for m in [*rec.messages, *([rec.response] if rec.response else [])]:
        names.update(tc.name for tc in m.tool_calls if tc.name)
        if m.role == "tool" and m.name:
            names.add(m.name)
    return names


def _chars(m: Message) -> int:
    return len(m.content or "") + sum(len(json.dumps(tc.arguments)) for tc in m.tool_calls)


def token_counts(rec: CallRecord) -> tuple[int, int]:
    """Prompt and completion tokens: logged, else estimated at 4 characters per token
    (the prompt counting its messages, tool-call arguments and tool schemas)."""
    p, c = rec.usage.prompt_tokens, rec.usage.completion_tokens
    if p is None:
        p = (sum(_chars(m) for m in rec.messages) + len(json.dumps(rec.tools))) // 4
    if c is None:
        c = _chars(rec.response) // 4 if rec.response else 0
    return p, c


# ---------------------------------------------------------------- Arrow schema ----


def arrow_schema() -> Any:
    import pyarrow as pa

    tool_call = pa.struct(
        [
            ("id", pa.string()),
            ("name", pa.string()),
            ("arguments", pa.string()),
            ("arguments_error", pa.string()),
        ]
    )
    message = pa.struct(
        [
            ("role", pa.string()),
            ("content", pa.string()),
            ("name", pa.string()),
            ("tool_calls", pa.list_(tool_call)),
            ("tool_call_id", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("id", pa.string()),
            ("conversation_id", pa.string()),
            ("source", pa.string()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("agent", pa.string()),
            ("workflow", pa.string()),
            ("step", pa.string()),
            ("model", pa.string()),
            ("provider", pa.string()),
            ("messages", pa.list_(message)),
            ("tools", pa.string()),
            ("response", message),
            ("usage", pa.struct(
                [("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64())]
            )),
            ("latency_ms", pa.float64()),
            ("cost_usd", pa.float64()),
            ("status", pa.string()),
            ("human_facing", pa.bool_()),
            ("extra", pa.string()),
        ]
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _tool_call_row(tc: ToolCall) -> dict[str, Any]:
    raw = tc.arguments_error is not None and isinstance(tc.arguments, str)
    return {
        "id": tc.id,
        "name": tc.name,
        "arguments": tc.arguments if raw else _dumps(tc.arguments),
        "arguments_error": tc.arguments_error,
    }


def _message_row(m: Message) -> dict[str, Any]:
    return {
        "role": m.role,
        "content": m.content,
        "name": m.name,
        "tool_calls": [_tool_call_row(tc) for tc in m.tool_calls],
        "tool_call_id": m.tool_call_id,
    }


def to_row(rec: CallRecord) -> dict[str, Any]:
    row = rec.model_dump(exclude={"messages", "response", "tools", "extra", "usage"})
    row["messages"] = [_message_row(m) for m in rec.messages]
    row["response"] = _message_row(rec.response) if rec.response else None
    row["tools"] = _dumps(rec.tools)
    row["extra"] = _dumps(rec.extra)
    row["usage"] = rec.usage.model_dump()
    return row


def _tool_call_from_row(row: dict[str, Any]) -> ToolCall:
    args: Any = row["arguments"]
    if row.get("arguments_error") is None:
        args = json.loads(args)
    return ToolCall(id=row["id"], name=row["name"], arguments=args,
                    arguments_error=row.get("arguments_error"))


def _message_from_row(row: dict[str, Any]) -> Message:
    return Message(
        role=row["role"],
        content=row["content"],
        name=row["name"],
        tool_calls=[_tool_call_from_row(t) for t in row["tool_calls"] or []],
        tool_call_id=row["tool_call_id"],
    )


def from_row(row: dict[str, Any]) -> CallRecord:
    data = dict(row)
    data["messages"] = [_message_from_row(m) for m in row["messages"] or []]
    data["response"] = _message_from_row(row["response"]) if row["response"] else None
    data["tools"] = json.loads(row["tools"]) if row["tools"] else []
    data["extra"] = json.loads(row["extra"]) if row["extra"] else {}
    data["usage"] = Usage(**(row["usage"] or {}))
    return CallRecord(**data)
