"""What makes a call's task, as text to embed and structural tokens to hash.

Two views of a call:

- the *request* (all a router has at serving time): the instructions (system prompt, or
  the first user turn when there is none) reduced to a template by masking variable
  spans, the headings that make up that template, the offered tool set, and the last turn
  (user text, tool result or tool call);
- the *response* (used when clustering, never when assigning): its kind (a tool call,
  JSON or free text) and its detail (which tools were called, which JSON keys).

The agent/workflow/step names are kept apart (:attr:`CallFeatures.identity`): they are
not a feature to measure distance on, because many logs carry them for some calls only.

Structural tokens are hashed into fixed-size blocks, so no vocabulary has to be stored
or agreed on between the fit and a later assignment.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

import numpy as np

from slmconvert.core.records import CallRecord, Message

# Variable spans of a prompt, masked so that calls of one template look the same.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r) for p, r in (
        (r"<([A-Z_]+?)_\d+>", r"<\1>"),                          # our PII placeholders
        (r"https?://\S+", "<URL>"),
        (r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b", "<EMAIL>"),
        (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<ID>"),
        (r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b", "<ID>"),
        (r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
         "<DATE>"),
        (r"\b\d{1,2}:\d{2}(?::\d{2})?\b", "<TIME>"),
        (r"\d+(?:[.,]\d+)*", "<NUM>"),
    ))
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+\S.*|\[[A-Z_ /]+\]|[A-Z][^.!?\n]{0,60}:)\s*$")
_INSTRUCTION_ROLES = ("system", "developer")


def mask(text: str) -> str:
    """The text with numbers, dates, ids, URLs, emails and placeholders masked."""
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


def _fold(name: str) -> str:
    """Agent/step names without their counters: agent_turn_3 and agent_turn_1 are one step."""
    return re.sub(r"\d+", "#", name.strip().lower())


def instructions(rec: CallRecord) -> str:
    system = [m.content or "" for m in rec.messages if m.role in _INSTRUCTION_ROLES]
    if any(s.strip() for s in system):
        return "\n".join(system)
    first = next((m for m in rec.messages if m.role == "user"), None)
    return first.content or "" if first else ""


def _turn_text(m: Message) -> str:
    calls = " ".join(f"call {tc.name}" for tc in m.tool_calls)
    prefix = {"tool": "tool result: ", "assistant": "assistant: "}.get(m.role, "")
    return f"{prefix}{m.content or ''} {calls}".strip()


def last_turn(rec: CallRecord) -> str:
    turns = [m for m in rec.messages if m.role not in _INSTRUCTION_ROLES]
    return _turn_text(turns[-1]) if turns else ""


def skeleton(text: str, limit: int = 40) -> list[str]:
    """The template's frame: its first line and heading-like lines, masked."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    out = [mask(lines[0])[:80]] if lines else []
    out += [mask(ln)[:80] for ln in lines[1:] if _HEADING.match(ln)]
    return out[:limit]


def tool_signatures(rec: CallRecord) -> dict[str, str]:
    """Offered tools: name -> signature ``name(required params; optional params)``."""
    out: dict[str, str] = {}
    for t in rec.tools:
        fn = t.get("function", t) if isinstance(t, dict) else {}
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str):
            continue
        params = fn.get("parameters") or fn.get("input_schema") or {}
        props = params.get("properties") if isinstance(params, dict) else None
        required = params.get("required") if isinstance(params, dict) else None
        keys = sorted(props) if isinstance(props, dict) else []
        req = sorted(k for k in keys if isinstance(required, list) and k in required)
        out[name] = f"{name}({','.join(req)};{','.join(k for k in keys if k not in req)})"
    return dict(sorted(out.items()))


def response_kind(rec: CallRecord) -> str:
    """tool_call, json or text (what a call's response is)."""
    r = rec.response
    if r is not None and r.tool_calls:
        return "tool_call"
    return "json" if _json_keys((r.content or "") if r else "") is not None else "text"


def _json_keys(text: str) -> list[str] | None:
    s = text.strip()
    if s.startswith("```"):
        s = s.strip("`").removeprefix("json").strip()
    if not s.startswith(("{", "[")):
        return None
    try:
        value = json.loads(s)
    except ValueError:
        return None
    if isinstance(value, list):
        value = value[0] if value and isinstance(value[0], dict) else {}
    return sorted(value) if isinstance(value, dict) else []


@dataclass
class CallFeatures:
    """One call's feature inputs, before hashing and embedding."""

    identity: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    skeleton: list[str] = field(default_factory=list)
    response_kind: list[str] = field(default_factory=list)
    response: list[str] = field(default_factory=list)
    instructions: str = ""
    last_turn: str = ""


def call_features(rec: CallRecord, max_chars: int = 2000) -> CallFeatures:
    instr = instructions(rec)
    identity = [f"{k}={_fold(v)}" for k, v in (("agent", rec.agent), ("workflow", rec.workflow),
                                               ("step", rec.step)) if v]
    sigs = tool_signatures(rec)
    feats = CallFeatures(
        identity=identity,
        tools=[f"tool={t}" for t in sigs] + [f"sig={s}" for s in sigs.values()]
        + ([f"toolset={'|'.join(sigs)}"] if sigs else []),
        skeleton=[f"line={s}" for s in skeleton(instr[:20_000])],
        instructions=mask(instr[: max_chars * 2])[:max_chars],
        last_turn=mask(last_turn(rec)[: max_chars * 2])[:max_chars],
    )
    kind = response_kind(rec)
    feats.response_kind = [f"kind={kind}"]
    r = rec.response
    if r is not None and r.tool_calls:
        feats.response = [f"called={tc.name}" for tc in r.tool_calls]
    elif kind == "json" and r is not None:
        feats.response = [f"key={k}" for k in (_json_keys(r.content or "") or [])[:20]]
    return feats


def name_of(feats: CallFeatures) -> str:
    """The call's logged agent/workflow/step names as one key ('' when none)."""
    return "|".join(feats.identity)


def hash_block(tokens: list[str], dim: int) -> np.ndarray:
    """Signed feature hashing into ``dim`` slots, L2-normalised (zeros when no tokens)."""
    v = np.zeros(dim, dtype=np.float32)
    for tok in tokens:
        h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
        v[h % dim] += 1.0 if (h >> 63) & 1 else -1.0
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v
