"""The one prompt format (``slmconvert-chatml-v1``), shared by select, finetune, evaluate
and serve: an agent call (messages, tools, response) as model text, and model text back
as an assistant message.

The format is ours, the same for every model. Turns are ChatML,
``<|im_start|>{role}\\n{content}<|im_end|>\\n``. SmolLM2's tokenizer has those markers as
single special tokens; for a model with no chat template (Gemma 3 270M base) they are
plain text. SmolLM2's own template ignores tools and fails on tool-call turns
(MODELS.md), so it is not used.

- The leading system/developer messages make one ``system`` turn. When the call offers
  tools it ends with a tools section: a short instruction, one compact JSON schema per
  line (``name``, ``description``, ``parameters`` first; first schema of a name wins), and
  the rule that calls are answered as ``<tool_call>{"name": ..., "arguments": {...}}
  </tool_call>`` blocks and nothing else. Later system messages stay ``system`` turns
  where they are.
- An assistant turn with tool calls holds its text (if any), then one block per call,
  one per line. Call ids are not rendered: results follow their calls in order.
- A tool result is a ``tool`` turn: ``<tool_response>{content}</tool_response>``.
- The prompt ends with the generation prefix ``<|im_start|>assistant\\n``.
- The target is what the model must write, then ``<|im_end|>``: the blocks alone for a
  tool-call response (text the LLM wrote beside its calls is not a target: the rule says
  "nothing else"), a JSON answer as compact JSON (``separators=(",", ":")``, keys in their
  order, no fence, non-ASCII kept), any other text stripped.

All content is stripped of surrounding whitespace. :func:`parse` reads an answer back
and never raises; see its docstring for what counts as invalid.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slmconvert.core.records import INSTRUCTION_ROLES, CallRecord, Message, ToolCall

FORMAT = "slmconvert-chatml-v1"
START = "<|im_start|>"
STOP = "<|im_end|>"
STOPS = (STOP, START, "<|endoftext|>")  # any of these ends an answer
GENERATION_PREFIX = f"{START}assistant\n"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
RESULT_OPEN, RESULT_CLOSE = "<tool_response>", "</tool_response>"

TOOLS_INTRO = "# Tools\n\nYou can call these functions. Their JSON schemas, one per line:"
TOOLS_RULE = ("To call functions, answer with one or more "
              '<tool_call>{"name": <function name>, "arguments": <JSON object>}</tool_call> '
              "blocks, one per line, and nothing else.")

Kind = Literal["text", "json", "tool_calls", "invalid"]
_FENCE = re.compile(r"```[ \t]*(json|JSON)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)
_DECODER = json.JSONDecoder()


def dumps(value: Any) -> str:
    """Compact JSON, keys in their order, non-ASCII kept: how JSON is written to a model."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------ render ----


def tool_schema(tool: Any) -> dict[str, Any] | None:
    """The function schema of an OpenAI tool (or a bare ``{"name": ...}`` schema) with
    ``name``, ``description`` and ``parameters`` first; None when it has no name."""
    fn = tool.get("function", tool) if isinstance(tool, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        return None
    head = {k: fn[k] for k in ("name", "description", "parameters") if k in fn}
    return head | {k: v for k, v in fn.items() if k not in head}


def tool_names(tools: Sequence[Any]) -> list[str]:
    """Names of the offered tools, in order, each once."""
    return list(dict.fromkeys(s["name"] for t in tools if (s := tool_schema(t))))


def tools_section(tools: Sequence[Any]) -> str:
    """The tools part of the system turn; empty when no tool has a name."""
    schemas: dict[str, str] = {}
    for t in tools:
        if (s := tool_schema(t)) and s["name"] not in schemas:
            schemas[s["name"]] = dumps(s)
    if not schemas:
        return ""
    return "\n".join([TOOLS_INTRO, *schemas.values(), "", TOOLS_RULE])


def render_calls(calls: Sequence[ToolCall]) -> str:
    return "\n".join(f"{CALL_OPEN}{dumps({'name': c.name, 'arguments': c.arguments})}"
                     f"{CALL_CLOSE}" for c in calls)


def response_text(message: Message) -> str:
    """An assistant message as the model writes it (no end marker): its tool-call blocks
    alone when it calls tools, compact JSON when its text is JSON, else its text."""
    if message.tool_calls:
        return render_calls(message.tool_calls)
    text = (message.content or "").strip()
    parsed = _parse_answer(text) if text else None
    return dumps(parsed.value) if parsed is not None and parsed.kind == "json" else text


def _assistant_turn(message: Message) -> str:
    """A history turn: like a target, but text beside tool calls is kept."""
    if not message.tool_calls:
        return response_text(message)
    return "\n".join(filter(None, [(message.content or "").strip(),
                                   render_calls(message.tool_calls)]))


def _turn(role: str, content: str) -> str:
    return f"{START}{role}\n{content}{STOP}\n"


def render_prompt(messages: Sequence[Message], tools: Sequence[dict[str, Any]]) -> str:
    """The model input for a call: its turns, ending with the generation prefix."""
    lead = 0
    while lead < len(messages) and messages[lead].role in INSTRUCTION_ROLES:
        lead += 1
    system = [t for m in messages[:lead] if (t := (m.content or "").strip())]
    head = "\n\n".join(filter(None, [*system, tools_section(tools)]))
    turns = [_turn("system", head)] if head else []
    for m in messages[lead:]:
        text = (m.content or "").strip()
        if m.role in INSTRUCTION_ROLES:
            turns.append(_turn("system", text))
        elif m.role == "assistant":
            turns.append(_turn("assistant", _assistant_turn(m)))
        elif m.role == "tool":
            turns.append(_turn("tool", f"{RESULT_OPEN}{text}{RESULT_CLOSE}"))
        else:
            turns.append(_turn(m.role, text))
    return "".join(turns) + GENERATION_PREFIX


def render_target(response: Message) -> str:
    """What the model must produce for ``response``, end marker included."""
    return response_text(response) + STOP


def render_example(rec: CallRecord) -> tuple[str, str]:
    """(prompt, target) of a call for training; the call must have a response."""
    if rec.response is None:
        raise ValueError(f"call {rec.id or rec.source} has no response to train on")
    return render_prompt(rec.messages, rec.tools), render_target(rec.response)


# ------------------------------------------------------------------- parse ----


@dataclass(frozen=True)
class Parsed:
    """A model answer read back. ``message``: the assistant message (None when invalid);
    ``value``: the parsed JSON for kind json; ``reason``: why it is invalid."""

    kind: Kind
    message: Message | None = None
    value: Any = None
    reason: str | None = None


def _invalid(reason: str) -> Parsed:
    return Parsed("invalid", reason=reason)


def cut_at_stop(text: str) -> str:
    """The text before the first stop marker (all of it when there is none)."""
    ends = [i for s in STOPS if (i := text.find(s)) >= 0]
    return text[:min(ends)] if ends else text


def _unreadable(text: str) -> str | None:
    for i, ch in enumerate(text):
        if ch == "\ufffd" or (ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cs")):
            return f"unreadable output: character U+{ord(ch):04X} at {i}"
    return None


def _json_problem(text: str) -> str:
    """Why ``text`` is not JSON: ``truncated`` when it ends mid-value, else the error."""
    s = text.strip()
    try:
        json.loads(s)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(s) or exc.msg.startswith("Unterminated string"):
            return "truncated"
        return f"{exc.msg} at char {exc.pos}"
    except RecursionError:
        return "nested too deeply"
    except ValueError as exc:
        return str(exc)
    return "extra text"


def _loads(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _looks_like_json(s: str) -> bool:
    """An attempt at a JSON object or array (``[CONTENT]`` or ``[1] ...`` are text)."""
    return s.startswith("{") or (s.startswith("[") and s[1:].lstrip()[:1] in ("", "{", "[",
                                                                                '"', "]"))


def _parse_answer(body: str) -> Parsed:
    fence = _FENCE.fullmatch(body)
    inner = fence.group(2).strip() if fence else body
    if inner.startswith(("{", "[")):
        ok, value = _loads(inner)
        if ok:
            return Parsed("json", Message(role="assistant", content=inner), value=value)
        if _looks_like_json(inner) or (fence and fence.group(1)):
            return _invalid(f"malformed JSON: {_json_problem(inner)}")
    elif fence and fence.group(1):
        return _invalid("malformed JSON: a ```json fence without a JSON object or array")
    return Parsed("text", Message(role="assistant", content=body))


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _call_problem(value: Any, names: set[str] | None) -> str | None:
    if not isinstance(value, dict):
        return f"not a JSON object but {type(value).__name__}"
    name = value.get("name")
    if not isinstance(name, str) or not name:
        return "no string 'name'"
    if names is not None and name not in names:
        return f"unknown tool {name!r}"
    if "arguments" not in value:
        return "no 'arguments'"
    if not isinstance(value["arguments"], dict):
        return f"arguments not a JSON object but {type(value['arguments']).__name__}"
    return None


def _parse_calls(body: str, names: set[str] | None) -> Parsed:
    calls: list[ToolCall] = []
    pos = _skip_ws(body, 0)
    while pos < len(body):
        if not body.startswith(CALL_OPEN, pos):
            return _invalid("text around tool call")
        n, start = len(calls) + 1, _skip_ws(body, pos + len(CALL_OPEN))
        try:
            value, end = _DECODER.raw_decode(body, start)
        except (ValueError, RecursionError):
            problem = _json_problem(body[start:].split(CALL_CLOSE, 1)[0])
            return _invalid(f"tool call {n}: " + ("truncated JSON" if problem == "truncated"
                                                   else f"not JSON: {problem}"))
        end = _skip_ws(body, end)
        if not body.startswith(CALL_CLOSE, end):
            return _invalid(f"tool call {n}: " + ("missing closing tag </tool_call>"
                                                   if end == len(body) else
                                                   "text around tool call"))
        if wrong := _call_problem(value, names):
            return _invalid(f"tool call {n}: {wrong}")
        calls.append(ToolCall(name=value["name"], arguments=value["arguments"]))
        pos = _skip_ws(body, end + len(CALL_CLOSE))
    return Parsed("tool_calls", Message(role="assistant", tool_calls=calls))


def parse(text: str, tools: Sequence[dict[str, Any]] | None = None) -> Parsed:
    """Read a model answer (cut at the first stop marker, stripped) back. Never raises.

    - ``tool_calls`` when it holds ``<tool_call>``: one or more blocks, each a JSON object
      with a string ``name`` and an object ``arguments``, separated by whitespace only;
      the name must be one of ``tools`` when they name any (an empty list means the
      call's tools were not logged, so there is nothing to check against);
    - ``json`` when it is a JSON object or array, bare or in a ``` / ```json fence;
    - ``text`` otherwise;
    - ``invalid`` with a reason: empty output, control characters, a block that is
      truncated or not JSON, has no closing tag, names an unknown tool or has non-object
      arguments, text around the blocks, or an answer that starts as JSON (``{``,
      ``[{``, ``["``, a ```json fence) and does not parse ("malformed JSON: ...").
    """
    body = cut_at_stop(text).strip()
    if not body:
        return _invalid("empty output")
    if problem := _unreadable(body):
        return _invalid(problem)
    if CALL_OPEN in body:
        return _parse_calls(body, set(tool_names(tools or [])) or None)
    return _parse_answer(body)
