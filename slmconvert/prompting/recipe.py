"""The prompt recipe: how a call is shortened before it becomes model input, the same at
training, evaluation and serving (saved beside each adapter as ``prompt_recipe.json``).

Two steps, both on messages and tools (the prompt format renders the result):

- **Static-prompt pruning.** Instruction lines (of the leading system/developer
  messages) and tool schemas that every call of the group carries are the task's frame:
  the adapter learns them, so they are replaced by one short task tag. A recipe keeps
  only their SHA-256 hashes, which is enough to recognise and remove them in a new call,
  and never their text. Lines that vary (a date, a customer record) stay.
- **History trimming** to a token budget: long tool results in the middle of the
  conversation are cut to their head and tail around a marker, then the oldest turns
  after the first user turn are dropped (a tool call with its results, as one unit) and
  a marker says how many; the first user turn and the most recent turns stay. As a last
  resort the longest conversation message is cut in the middle.

A call that still exceeds the budget (its instructions alone are too long) is left as it
is; the caller decides (finetune drops and counts it).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slmconvert.core.records import INSTRUCTION_ROLES, Message
from slmconvert.prompting.format import FORMAT, dumps, render_prompt, tool_schema

RECIPE = "slmconvert-recipe-v1"
RECIPE_FILE = "prompt_recipe.json"
TRIMMED = "[… {n} tokens trimmed …]"
OMITTED = "[{n} earlier turns omitted]"

Count = Callable[[str], int]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _instruction_lines(messages: Sequence[Message]) -> list[str]:
    lines: list[str] = []
    for m in messages:
        if m.role not in INSTRUCTION_ROLES:
            break
        lines.extend(ln.strip() for ln in (m.content or "").splitlines())
    return [ln for ln in lines if ln]


def _schema_digest(tool: Any) -> str | None:
    schema = tool_schema(tool)
    return _digest(dumps(schema)) if schema else None


@dataclass(frozen=True)
class PromptRecipe:
    """What :func:`apply` does to a call. ``task_tag`` is empty when nothing is pruned."""

    task_tag: str = ""
    static_lines: frozenset[str] = frozenset()  # digests of pruned instruction lines
    static_tools: frozenset[str] = frozenset()  # digests of pruned tool schemas
    budget_tokens: int | None = None
    tool_result_tokens: int = 256
    keep_last: int = 2
    format: str = FORMAT
    recipe: str = RECIPE

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["static_lines"] = sorted(self.static_lines)
        d["static_tools"] = sorted(self.static_tools)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PromptRecipe:
        if d.get("recipe") != RECIPE or d.get("format") != FORMAT:
            raise ValueError(f"prompt recipe {d.get('recipe')}/{d.get('format')} is not "
                             f"{RECIPE}/{FORMAT}")
        return cls(**{**d, "static_lines": frozenset(d.get("static_lines", ())),
                      "static_tools": frozenset(d.get("static_tools", ()))})

    def save(self, path: Path) -> None:
        from slmconvert.core.fsio import write_json_atomic

        write_json_atomic(path, self.as_dict())

    @classmethod
    def load(cls, path: Path) -> PromptRecipe:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


NO_RECIPE = PromptRecipe()


def learn(calls: Iterable[tuple[Sequence[Message], Sequence[Any]]], *, task_tag: str,
          min_share: float = 1.0, budget_tokens: int | None = None,
          tool_result_tokens: int = 256, keep_last: int = 2) -> PromptRecipe:
    """A recipe for a group of calls (messages, tools): the instruction lines and tool
    schemas found in at least ``min_share`` of them are pruned."""
    lines: Counter[str] = Counter()
    tools: Counter[str] = Counter()
    n = 0
    for messages, offered in calls:
        n += 1
        lines.update({_digest(ln) for ln in _instruction_lines(messages)})
        tools.update({d for t in offered if (d := _schema_digest(t))})
    need = max(1, int(n * min_share + 0.999999)) if n else 1
    static_lines = frozenset(d for d, k in lines.items() if k >= need) if n else frozenset()
    static_tools = frozenset(d for d, k in tools.items() if k >= need) if n else frozenset()
    return PromptRecipe(task_tag=task_tag if (static_lines or static_tools) else "",
                        static_lines=static_lines, static_tools=static_tools,
                        budget_tokens=budget_tokens, tool_result_tokens=tool_result_tokens,
                        keep_last=keep_last)


@dataclass
class Applied:
    messages: list[Message]
    tools: list[Any]
    pruned_lines: int = 0
    pruned_tools: int = 0
    trimmed_results: int = 0
    omitted_turns: int = 0
    notes: list[str] = field(default_factory=list)

    def prompt(self) -> str:
        return render_prompt(self.messages, self.tools)


def _prune(recipe: PromptRecipe, messages: Sequence[Message], tools: Sequence[Any],
           out: Applied) -> None:
    lead = 0
    while lead < len(messages) and messages[lead].role in INSTRUCTION_ROLES:
        lead += 1
    kept_lines = []
    for m in messages[:lead]:
        for ln in (m.content or "").splitlines():
            if ln.strip() and _digest(ln.strip()) in recipe.static_lines:
                out.pruned_lines += 1
            else:
                kept_lines.append(ln)
    kept_tools = []
    for t in tools:
        if _schema_digest(t) in recipe.static_tools:
            out.pruned_tools += 1
        else:
            kept_tools.append(t)
    rest = list(messages[lead:])
    if out.pruned_lines or out.pruned_tools:
        head = "\n".join([f"Task: {recipe.task_tag}", *kept_lines]).strip()
        out.messages = [Message(role="system", content=head), *rest]
    else:
        out.messages = list(messages)
    out.tools = kept_tools


def _trim_text(text: str, keep: int, count: Count) -> tuple[str, int]:
    """Head and tail of ``text`` around a marker, about ``keep`` tokens in all; the
    number of tokens cut (0 when it already fits)."""
    n = count(text)
    if n <= keep:
        return text, 0
    ratio = len(text) / max(n, 1)
    side = max(1, int(keep * ratio / 2))
    cut = n - keep
    return f"{text[:side]}{TRIMMED.format(n=cut)}{text[-side:]}", cut


def _units(messages: Sequence[Message], start: int, stop: int) -> list[tuple[int, int]]:
    """[start, stop) cut into droppable units: an assistant turn with the tool results
    that follow it, or one other message."""
    units, i = [], start
    while i < stop:
        j = i + 1
        if messages[i].role == "assistant":
            while j < stop and messages[j].role == "tool":
                j += 1
        units.append((i, j))
        i = j
    return units


def _trim_history(recipe: PromptRecipe, out: Applied, count: Count, budget: int) -> None:
    msgs = out.messages
    if count(render_prompt(msgs, out.tools)) <= budget:
        return
    last = len(msgs) - 1
    for i, m in enumerate(msgs):  # long tool results, except the one being answered
        if m.role == "tool" and i < last and m.content:
            text, cut = _trim_text(m.content, recipe.tool_result_tokens, count)
            if cut:
                msgs[i] = m.model_copy(update={"content": text})
                out.trimmed_results += 1
    first_user = next((i for i, m in enumerate(msgs) if m.role == "user"), None)
    if first_user is None:
        _trim_longest(out, count, budget)
        return
    protect = max(first_user + 1, len(msgs) - recipe.keep_last)
    # never start the kept tail with tool results cut off from their call
    while protect < len(msgs) and msgs[protect].role == "tool":
        protect -= 1
    head, tail = msgs[:first_user + 1], msgs[protect:]
    units = _units(msgs, first_user + 1, protect)

    def without(k: int) -> list[Message]:
        n = sum(b - a for a, b in units[:k])
        marker = [Message(role="system", content=OMITTED.format(n=n))] if k else []
        return [*head, *marker, *(m for a, b in units[k:] for m in msgs[a:b]), *tail]

    k = 0
    while k < len(units) and count(render_prompt(without(k), out.tools)) > budget:
        k += 1
    out.messages = without(k)
    out.omitted_turns = sum(b - a for a, b in units[:k])
    _trim_longest(out, count, budget)


def _trim_longest(out: Applied, count: Count, budget: int) -> None:
    """Last resort: cut the middle of the longest conversation messages (never an
    instruction), longest first, until the prompt fits the budget. The message being
    answered (the request, often the only statement of the task) goes last and keeps at
    least half the budget: a prompt whose fixed parts are larger stays over budget."""
    done: set[int] = set()
    request = len(out.messages) - 1
    while (excess := count(out.prompt()) - budget) > 0:
        sizes = [(count(m.content), i) for i, m in enumerate(out.messages)
                 if m.content and m.role not in INSTRUCTION_ROLES and i not in done
                 and i != request]
        if sizes:
            n, i = max(sizes)
            done.add(i)
            _cut_message(out, i, max(32, n - excess - 16), count, budget)
            continue
        n = count(out.messages[request].content or "") if request >= 0 else 0
        if request in done or n <= budget // 2:
            return
        done.add(request)
        _cut_message(out, request, max(budget // 2, n - excess - 16), count, budget)


def _cut_message(out: Applied, i: int, keep: int, count: Count, budget: int) -> None:
    """Cut message ``i`` to about ``keep`` tokens, shrinking until the prompt fits the
    budget or the message is down to 32 tokens (head and tail are cut by characters)."""
    original = out.messages[i]
    n = count(original.content or "")
    for _ in range(4):
        if keep >= n:
            return
        text, _cut = _trim_text(original.content or "", keep, count)
        out.messages[i] = original.model_copy(update={"content": text})
        over = count(out.prompt()) - budget
        if over <= 0 or keep <= 32:
            break
        keep = max(32, keep - over - 8)
    out.trimmed_results += 1


def apply(recipe: PromptRecipe | None, messages: Sequence[Message], tools: Sequence[Any],
          count: Count | None = None, budget: int | None = None) -> Applied:
    """The call's messages and tools after the recipe (``None``: unchanged). History is
    trimmed only with a token ``count`` and a budget (``budget`` or the recipe's)."""
    out = Applied(list(messages), list(tools))
    if recipe is None:
        return out
    _prune(recipe, messages, tools, out)
    budget = budget if budget is not None else recipe.budget_tokens
    if count is not None and budget is not None:
        _trim_history(recipe, out, count, budget)
    return out
