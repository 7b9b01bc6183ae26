"""The closed answer sets of label-constrained decoding, shared by evaluate and serve.

When a task's answers are one of a few labels, or a call to one of the tools the request
offers, the small model need not spell its answer freely: the valid options are scored
under the model and the most probable one is chosen
(:meth:`slmconvert.prompting.generate.Generator.answer`). The chosen option's share of
the options' probability is a better-calibrated confidence than a free text's token
log-probabilities, and an answer outside the set cannot happen.

- labels: the distinct labels of the task's training answers (the most common spelling
  of each, as the model is trained to write it), when there are at most
  ``max_options`` of them; a task with more is not a closed set.
- tool calls: per request, the tools it offers, as the prefix of a call block up to the
  tool's name (``<tool_call>{"name":"search","arguments":``); the arguments are then
  generated freely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from slmconvert.core.records import CallRecord
from slmconvert.prompting.format import CALL_OPEN, dumps, response_text, tool_names

MAX_OPTIONS = 32


def label_options(calls: Iterable[CallRecord], max_options: int = MAX_OPTIONS
                  ) -> list[str] | None:
    """The label set of a task's training calls, most common first; None when there
    are more than ``max_options`` distinct labels or none."""
    from slmconvert.evaluation.metrics import normalise_answer, response_kind

    spellings: dict[str, Counter[str]] = {}
    for rec in calls:
        if rec.response is None or response_kind(rec.response) != "label":
            continue
        text = response_text(rec.response)
        key = normalise_answer(text)
        if not key:
            continue
        spellings.setdefault(key, Counter())[text] += 1
        if len(spellings) > max_options:
            return None
    if not spellings:
        return None
    ranked = sorted(spellings.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return [min(c, key=lambda s: (-c[s], s)) for _, c in ranked]


def tool_prefixes(tools: Sequence[dict[str, Any]]) -> list[str]:
    """A call block up to the tool's name, for each tool the request offers."""
    return [f'{CALL_OPEN}{{"name":{dumps(name)},"arguments":' for name in tool_names(tools)]


def options_for(rec: CallRecord, kind: str | None, labels: Sequence[str] | None
                ) -> list[str] | None:
    """The options of one request: the task's labels, or the tools it offers; None
    (decode freely) for other kinds, or a tool task whose request offers no tools."""
    if kind == "label" and labels:
        return list(labels)
    if kind == "tool_call" and rec.tools:
        return tool_prefixes(rec.tools) or None
    return None


def is_complete(kind: str | None) -> bool:
    """Whether an option is the whole answer (labels) or a prefix (tool calls)."""
    return kind == "label"
