"""Answer recorded calls with a small model and score the answers against the LLM's:
recipe, prompt format, batched generation, parse, metrics. Finetune scores its adapters
with this; evaluate and serve answer calls the same way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmconvert.core.models import resolve_dtype
from slmconvert.core.records import CallRecord
from slmconvert.prompting.format import render_target
from slmconvert.prompting.recipe import PromptRecipe, apply
from slmconvert.training.data import IGNORE, encode
from slmconvert.training.lora import answer_loss


def load_adapter(base: Path | str, adapter: Path | str | None,
                 dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) of a base checkpoint with a PEFT adapter on it (or none), its
    weights (adapter included) in ``dtype`` (float32, bfloat16 or auto:
    :func:`~slmconvert.core.models.resolve_dtype`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model: Any = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    dtype = resolve_dtype(dtype)
    if dtype != "float32":
        model = model.to(getattr(torch, dtype))
    model.eval()
    return model, tokenizer


def prompt_for(rec: CallRecord, recipe: PromptRecipe | None, tokenizer: Any) -> str:
    """The model input for a call under a recipe (``None``: the raw prompt)."""
    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    return apply(recipe, rec.messages, rec.tools, count).prompt()


def score_calls(model: Any, tokenizer: Any, calls: Sequence[CallRecord],
                recipe: PromptRecipe | None, *, max_new_tokens: int = 128,
                batch_size: int = 4) -> dict[str, Any]:
    """Answer each call and score it against its recorded response (see
    :func:`slmconvert.evaluation.metrics.summarise` for the keys)."""
    from slmconvert.evaluation.metrics import score_response, summarise
    from slmconvert.prompting.format import parse
    from slmconvert.prompting.generate import Generator

    calls = [c for c in calls if c.response is not None]
    gen = Generator(model, tokenizer, batch_size=batch_size, max_new_tokens=max_new_tokens)
    outs = gen.generate([prompt_for(c, recipe, tokenizer) for c in calls]) if calls else []
    scores = []
    for rec, g in zip(calls, outs, strict=True):
        parsed = parse(g.text, rec.tools)
        assert rec.response is not None
        scores.append(score_response(rec.response, parsed.message, rec.tools, parsed.reason))
    return summarise(scores)


def answer_nll(model: Any, tokenizer: Any, calls: Sequence[CallRecord],
               recipe: PromptRecipe | None, *, max_prompt_tokens: int = 4096) -> dict[str, Any]:
    """Mean negative log-likelihood per token of the LLM's recorded answers given each
    call's prompt (the recipe's, or the raw prompt with ``None``; a longer prompt keeps
    its end): how close the model is to the LLM's behaviour, without sampling noise.
    ``{"n", "tokens", "nll"}``; nll is None when no call has an answer."""
    import torch

    total, tokens, n = 0.0, 0, 0
    with torch.inference_mode():
        for rec in calls:
            if rec.response is None:
                continue
            ex = encode(tokenizer, prompt_for(rec, recipe, tokenizer),
                        render_target(rec.response))
            answer = sum(1 for x in ex["labels"] if x != IGNORE)
            keep = max_prompt_tokens + answer
            ids, labels = ex["input_ids"][-keep:], ex["labels"][-keep:]
            inputs = {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
                      "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
            count = sum(1 for x in labels[1:] if x != IGNORE)
            loss, _ = answer_loss(model, inputs, count)
            total += float(loss) * count
            tokens += count
            n += 1
    return {"n": n, "tokens": tokens, "nll": round(total / tokens, 4) if tokens else None}
