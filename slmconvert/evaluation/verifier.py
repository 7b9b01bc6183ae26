"""The verifier: whether a small model's answer may be used at all.

An answer the verifier rejects is never counted as the SLM's answer: evaluate counts it
as an escalation to the LLM, and serve forwards the call upstream, with the same rules:

- ``empty_answer``: nothing but whitespace (or only the end marker);
- ``invalid_output``: the prompt-format parser could not read it (a truncated or
  unclosed tool-call block, control characters, malformed JSON it started, ...);
- ``invalid_tool_call``: a tool call that does not validate against the tools the
  request offered (unknown tool, arguments outside the schema, a required one missing,
  a wrong JSON type), or any tool call when the request offered no tools;
- ``malformed_json``: the task answers in JSON (``answer_kind`` "json") and the answer
  is not a JSON object or array.

Everything else passes, right or wrong: whether it agrees with the LLM is the metrics'
business, and whether to trust it is the confidence threshold's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slmconvert.evaluation.metrics import schema_problem, tool_schemas
from slmconvert.prompting.format import Parsed

EMPTY = "empty_answer"
INVALID = "invalid_output"
INVALID_CALL = "invalid_tool_call"
MALFORMED_JSON = "malformed_json"
#: Every reason :func:`verify` can give, in the order the checks run.
REASONS: tuple[str, ...] = (EMPTY, INVALID, INVALID_CALL, MALFORMED_JSON)


@dataclass(frozen=True)
class Check:
    """``ok``: the answer may be used. ``reason``: one of :data:`REASONS` when not;
    ``detail``: which tool or argument (never a value)."""

    ok: bool
    reason: str | None = None
    detail: str = ""


PASS = Check(True)


def verify(parsed: Parsed, tools: Sequence[Mapping[str, Any]],
           answer_kind: str | None = None) -> Check:
    """Check one parsed answer against the request's tools and the task's answer kind
    (``tool_call``, ``json``, ``label``, ``text`` or None when unknown)."""
    if parsed.kind == "invalid" or parsed.message is None:
        reason = parsed.reason or "unparsable output"
        return Check(False, EMPTY if reason == "empty output" else INVALID, reason)
    msg = parsed.message
    if not msg.tool_calls and not (msg.content or "").strip():
        return Check(False, EMPTY, "empty output")
    if msg.tool_calls:
        schemas = tool_schemas(tools)
        if not schemas:
            return Check(False, INVALID_CALL, "a tool call, but the request offers no tools")
        for call in msg.tool_calls:
            if problem := schema_problem(call, schemas):
                return Check(False, INVALID_CALL, f"{problem[0]}: {problem[1]}")
        return PASS
    if answer_kind == "json" and parsed.kind != "json":
        return Check(False, MALFORMED_JSON, "the task answers in JSON; this answer is not JSON")
    return PASS
