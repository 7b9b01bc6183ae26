"""Training examples from agent calls: the prompt recipe, the one prompt format, and
token labels that put the loss on the answer alone.

The prompt and the target are tokenized separately and joined, exactly as generation
sees them (the prompt ends with the generation prefix, the model writes the target), so
the boundary is known by construction and every prompt token carries label -100
whatever the model's own chat template (SmolLM2's has no generation markers; Gemma 3
270M base has no template at all).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from slmconvert.core.records import CallRecord
from slmconvert.prompting.format import render_prompt, render_target
from slmconvert.prompting.recipe import PromptRecipe, apply

IGNORE = -100


@dataclass
class ExampleStats:
    """What happened to the calls offered for training, reconciling with ``offered``."""

    offered: int = 0
    used: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    tokens_raw: list[int] = field(default_factory=list)  # prompt + target, no recipe
    tokens: list[int] = field(default_factory=list)  # prompt + target, as trained
    target_tokens: int = 0
    pruned_lines: int = 0
    pruned_tools: int = 0
    trimmed_results: int = 0
    omitted_turns: int = 0

    def as_dict(self) -> dict[str, Any]:
        def pct(xs: list[int], q: float) -> int:
            s = sorted(xs)
            return s[min(len(s) - 1, int(q * len(s)))] if s else 0

        return {"offered": self.offered, "used": self.used, "dropped": dict(self.dropped),
                "tokens_before": {"mean": _mean(self.tokens_raw), "p50": pct(self.tokens_raw, .5),
                                  "p95": pct(self.tokens_raw, .95),
                                  "total": sum(self.tokens_raw)},
                "tokens_after": {"mean": _mean(self.tokens), "p50": pct(self.tokens, .5),
                                 "p95": pct(self.tokens, .95), "total": sum(self.tokens)},
                "target_tokens": self.target_tokens,
                "pruned_lines": self.pruned_lines, "pruned_tools": self.pruned_tools,
                "trimmed_results": self.trimmed_results,
                "omitted_turns": self.omitted_turns}


def _mean(xs: list[int]) -> float:
    return round(sum(xs) / len(xs), 1) if xs else 0.0


def encode(tokenizer: Any, prompt: str, target: str) -> dict[str, list[int]]:
    """input_ids and labels for one example: -100 on every prompt token."""
    p = tokenizer.encode(prompt, add_special_tokens=False)
    t = tokenizer.encode(target, add_special_tokens=False)
    return {"input_ids": p + t, "labels": [IGNORE] * len(p) + t}


def examples(records: Iterable[CallRecord], recipe: PromptRecipe | None, tokenizer: Any,
             max_length: int, stats: ExampleStats, *,
             measure_raw: bool = True) -> Iterator[dict[str, list[int]]]:
    """Tokenized examples of the calls that have a response and fit ``max_length`` after
    the recipe (history trimmed to what the target leaves); the rest are counted in
    ``stats.dropped`` by reason."""
    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    for rec in records:
        stats.offered += 1
        if rec.response is None:
            stats.dropped["no response"] += 1
            continue
        target = render_target(rec.response)
        t_len = count(target)
        if t_len >= max_length:
            stats.dropped["answer longer than max_length"] += 1
            continue
        if measure_raw:
            stats.tokens_raw.append(count(render_prompt(rec.messages, rec.tools)) + t_len)
        room = max_length - t_len
        if recipe is not None and recipe.budget_tokens is not None:
            room = min(room, recipe.budget_tokens)
        applied = apply(recipe, rec.messages, rec.tools, count, room)
        ex = encode(tokenizer, applied.prompt(), target)
        if len(ex["input_ids"]) > max_length:
            stats.dropped["prompt over max_length after trimming"] += 1
            continue
        stats.used += 1
        stats.tokens.append(len(ex["input_ids"]))
        stats.target_tokens += t_len
        stats.pruned_lines += applied.pruned_lines
        stats.pruned_tools += applied.pruned_tools
        stats.trimmed_results += applied.trimmed_results
        stats.omitted_turns += applied.omitted_turns
        yield ex
