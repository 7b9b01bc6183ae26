"""The prompt recipe: static-prompt pruning and history trimming, the same everywhere."""

from __future__ import annotations

import json
from pathlib import Path

from slmconvert.core.records import Message, ToolCall
from slmconvert.prompting.format import render_prompt
from slmconvert.prompting.recipe import PromptRecipe, apply, learn

POLICY = ["You are the returns assistant of a garden-tools shop.",
          "Never promise refunds above the order value.",
          "Answer in the customer's language."]
TOOLS = [{"type": "function", "function": {
    "name": "lookup_order", "description": "Find an order by its number.",
    "parameters": {"type": "object", "properties": {"order": {"type": "string"}},
                   "required": ["order"]}}},
    {"type": "function", "function": {
        "name": "open_return", "description": "Open a return for an order line.",
        "parameters": {"type": "object", "properties": {"line": {"type": "integer"}}}}}]


def _call(i: int, extra_line: str | None = None) -> tuple[list[Message], list[dict]]:
    system = "\n".join([*POLICY, f"Today is day {i} of the sale."]
                       + ([extra_line] if extra_line else []))
    return [Message(role="system", content=system),
            Message(role="user", content=f"Where is order {1000 + i}?")], TOOLS


def _words(text: str) -> int:
    return len(text.split())


def test_lines_and_tools_every_call_carries_become_a_tag_and_varying_lines_stay() -> None:
    recipe = learn([_call(i) for i in range(20)], task_tag="returns")
    assert len(recipe.static_lines) == 3 and len(recipe.static_tools) == 2
    messages, tools = _call(99, extra_line="The customer is a trade account.")
    applied = apply(recipe, messages, tools)
    prompt = applied.prompt()
    assert prompt.startswith("<|im_start|>system\nTask: returns\n")
    assert "Today is day 99 of the sale." in prompt
    assert "The customer is a trade account." in prompt  # a line never seen in training
    assert not any(line in prompt for line in POLICY) and "lookup_order" not in prompt
    assert applied.pruned_lines == 3 and applied.pruned_tools == 2
    assert len(prompt) < len(render_prompt(messages, tools)) / 2


def test_a_line_missing_from_some_calls_is_kept_unless_min_share_allows() -> None:
    calls = [_call(i) for i in range(10)]
    calls[0] = ([Message(role="system", content=POLICY[0]), calls[0][0][1]], TOOLS)
    assert len(learn(calls, task_tag="t").static_lines) == 1
    assert len(learn(calls, task_tag="t", min_share=0.9).static_lines) == 3


def test_the_saved_recipe_holds_hashes_not_the_prompt_text(tmp_path: Path) -> None:
    recipe = learn([_call(i) for i in range(5)], task_tag="returns", budget_tokens=300)
    recipe.save(tmp_path / "prompt_recipe.json")
    saved = (tmp_path / "prompt_recipe.json").read_text()
    assert not any(line in saved for line in POLICY) and "lookup_order" not in saved
    again = PromptRecipe.load(tmp_path / "prompt_recipe.json")
    assert again == recipe
    messages, tools = _call(7)
    assert apply(again, messages, tools).prompt() == apply(recipe, messages, tools).prompt()


def test_no_recipe_is_the_raw_prompt() -> None:
    messages, tools = _call(3)
    assert apply(None, messages, tools).prompt() == render_prompt(messages, tools)
    recipe = learn([_call(i) for i in range(3)], task_tag="x")
    assert json.loads(json.dumps(recipe.as_dict()))["task_tag"] == "x"


def _conversation(turns: int) -> list[Message]:
    msgs = [Message(role="system", content="Handle the ticket."),
            Message(role="user", content="first request about order 7 please help")]
    for t in range(turns):
        msgs.append(Message(role="assistant", tool_calls=[
            ToolCall(id=f"k{t}", name="lookup_order", arguments={"order": str(t)})]))
        msgs.append(Message(role="tool", tool_call_id=f"k{t}",
                            content=" ".join(f"row{t}-{j}" for j in range(200))))
        msgs.append(Message(role="user", content=f"and now question number {t}"))
    return msgs


def test_history_is_trimmed_to_the_budget_keeping_the_first_and_last_turns() -> None:
    msgs = _conversation(6)
    recipe = PromptRecipe(budget_tokens=250, tool_result_tokens=40, keep_last=2)
    applied = apply(recipe, msgs, [], _words)
    prompt = applied.prompt()
    assert _words(prompt) <= 250 < _words(render_prompt(msgs, []))
    assert "first request about order 7" in prompt
    assert "and now question number 5" in prompt
    assert applied.trimmed_results > 0 and "tokens trimmed" in prompt
    assert applied.omitted_turns > 0 and "earlier turns omitted]" in prompt
    # a tool result never survives without the call it answers
    kept = applied.messages
    for i, m in enumerate(kept):
        if m.role == "tool":
            j = i - 1
            while kept[j].role == "tool":
                j -= 1
            assert kept[j].role == "assistant" and kept[j].tool_calls


def test_a_short_conversation_is_untouched_and_a_long_single_turn_is_cut_in_the_middle() -> None:
    msgs = _conversation(1)
    recipe = PromptRecipe(budget_tokens=10_000)
    assert apply(recipe, msgs, [], _words).prompt() == render_prompt(msgs, [])
    long = [Message(role="user", content=" ".join(f"w{i}" for i in range(1000)))]
    cut = apply(PromptRecipe(budget_tokens=200), long, [], _words).prompt()
    assert _words(cut) <= 200 and "w0 " in cut and "w999" in cut


def test_the_request_being_answered_keeps_half_the_budget_whatever_else_is_cut() -> None:
    reply = " ".join(f"r{i}" for i in range(300))
    request = "Write the case note as JSON with keys " + " ".join(f"k{i}" for i in range(32))
    msgs = [Message(role="user", content="I need to move my trip."),
            Message(role="assistant", content=reply),
            Message(role="user", content=request)]
    applied = apply(PromptRecipe(budget_tokens=80, keep_last=2), msgs, [], _words)
    assert applied.messages[-1].content == request  # over budget rather than cut
    assert "tokens trimmed" in (applied.messages[-2].content or "")
    roomy = apply(PromptRecipe(budget_tokens=150, keep_last=2), msgs, [], _words)
    assert _words(roomy.prompt()) <= 150 and roomy.messages[-1].content == request
    alone = apply(PromptRecipe(budget_tokens=60), [Message(role="user", content=request * 3)],
                  [], _words)
    assert _words(alone.prompt()) <= 60 and "k31" in alone.prompt()
