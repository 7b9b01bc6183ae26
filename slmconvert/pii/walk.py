"""Record walking: every text-bearing place of a call, as fragments that can be written back.

Message contents and names, tool-call arguments (the JSON is walked: string leaves, and
numbers of six digits or more), JSON tool results (walked the same way), the response,
and ``extra``. In ``extra``, values under provenance keys (source labels, file names,
record ids, model names) are marked, so that only structured identifiers are looked for
in them, not names or addresses; everything else in ``extra`` is user content.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from slmconvert.core.records import CallRecord, Message
from slmconvert.core.text import sniff_json
from slmconvert.pii.config import norm_key


@dataclass
class Fragment:
    text: str
    where: str                      # "messages" | "tool_arguments" | "tool_results" | ...
    put: Callable[[str], None]      # writes the scrubbed text back
    key: str | None = None          # JSON key the value sits under, for field rules
    provenance: bool = False        # a provenance value of ``extra``


@dataclass
class Plan:
    frags: list[Fragment] = field(default_factory=list)
    finish: list[Callable[[], None]] = field(default_factory=list)  # after leaves changed


class _Box:
    """A JSON value whose leaves are replaced in place (the root may be a leaf)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.changed = False

    def setter(self, parent: Any, slot: Any) -> Callable[[str], None]:
        def put(text: str) -> None:
            self.changed = True
            if parent is None:
                self.value = text
            else:
                parent[slot] = text
        return put


def fragments(r: CallRecord, provenance_keys: Collection[str] = ()) -> Plan:
    """The call's text-bearing places, in a stable order."""
    plan = Plan()
    for m in [*r.messages, *([r.response] if r.response else [])]:
        place = "tool_results" if m.role == "tool" else (
            "response" if m is r.response else "messages")
        parsed = sniff_json(m.content) if m.role == "tool" and m.content else None
        if isinstance(parsed, (dict, list)):  # a JSON tool result: scrub its values
            box = _Box(parsed)
            _walk(parsed, box, None, place, plan)
            plan.finish.append(_dump_back(m, box))
        elif m.content:
            plan.frags.append(Fragment(m.content, place, _attr_setter(m, "content")))
        if m.name:
            plan.frags.append(Fragment(m.name, place, _attr_setter(m, "name")))
        for tc in m.tool_calls:
            if tc.arguments_error is not None or isinstance(tc.arguments, str):
                plan.frags.append(Fragment(str(tc.arguments), "tool_arguments",
                                           _attr_setter(tc, "arguments")))
            else:
                box = _Box(tc.arguments)
                _walk(tc.arguments, box, None, "tool_arguments", plan)
                plan.finish.append(_put_back(tc, "arguments", box))
    if r.extra:
        box = _Box(r.extra)
        _walk(r.extra, box, None, "extra", plan, provenance=frozenset(provenance_keys))
        plan.finish.append(_put_back(r, "extra", box))
    return plan


def _walk(value: Any, box: _Box, key: str | None, place: str, plan: Plan,
          parent: Any = None, slot: Any = None, provenance: frozenset[str] = frozenset(),
          kept: bool = False) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(v, box, str(k), place, plan, value, k, provenance,
                  kept or norm_key(str(k)) in provenance)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, box, key, place, plan, value, i, provenance, kept)
    elif isinstance(value, str) and value or (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            and len(str(abs(int(value)))) >= 6):
        plan.frags.append(Fragment(str(value), place, box.setter(parent, slot), key, kept))


def _dump_back(m: Message, box: _Box) -> Callable[[], None]:
    def finish() -> None:
        if box.changed:
            m.content = json.dumps(box.value, ensure_ascii=False)
    return finish


def _put_back(obj: Any, attr: str, box: _Box) -> Callable[[], None]:
    def finish() -> None:
        setattr(obj, attr, box.value)
    return finish


def _attr_setter(obj: Any, attr: str) -> Callable[[str], None]:
    def put(text: str) -> None:
        setattr(obj, attr, text)
    return put
