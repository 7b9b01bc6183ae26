"""Batched greedy generation with the KV cache, for select, evaluate and serve.

Prompts are sorted by length and cut into batches (less padding), left-padded, and
generated in one ``model.generate`` call per batch, which keeps the KV cache, stops each
sequence at the end marker of the prompt format (or the tokenizer's end token) and pads
finished ones. Texts come back in the order of the prompts, with the end marker cut off,
and the measured time of each batch is shared among its prompts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slmconvert.prompting.format import STOPS, cut_at_stop


@dataclass(frozen=True)
class Generation:
    text: str
    new_tokens: int
    seconds: float  # this prompt's share of its batch's wall time


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that end an answer: each stop marker of the prompt format that is one
    token for this tokenizer, and the tokenizer's own end-of-sequence token."""
    ids: list[int] = []
    for stop in STOPS:
        encoded = tokenizer.encode(stop, add_special_tokens=False)
        if len(encoded) == 1:
            ids.append(int(encoded[0]))
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return ids


class Generator:
    """Greedy generation for one loaded causal LM and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 4,
                 max_new_tokens: int = 128) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos = stop_token_ids(tokenizer)
        # markers spelled in several tokens (a model with no template) stop as strings
        self.stop_strings = [s for s in STOPS
                             if len(tokenizer.encode(s, add_special_tokens=False)) > 1]
        model.eval()

    def token_count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def generate(self, prompts: Sequence[str],
                 on_batch: Callable[[int], None] | None = None) -> list[Generation]:
        import torch

        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[Generation | None] = [None] * len(prompts)
        tok = self.tokenizer
        tok.padding_side = "left"
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True,
                      add_special_tokens=False)
            extra: dict[str, Any] = {}
            if self.stop_strings:
                extra = {"stop_strings": self.stop_strings, "tokenizer": tok}
            t0 = time.perf_counter()
            with torch.inference_mode():
                seqs = self.model.generate(**enc, max_new_tokens=self.max_new_tokens,
                                           do_sample=False, eos_token_id=self.eos,
                                           pad_token_id=tok.pad_token_id, **extra)
            share = (time.perf_counter() - t0) / len(idx)
            width = enc["input_ids"].shape[1]
            for row, i in enumerate(idx):
                new = seqs[row, width:]
                n = int((new != tok.pad_token_id).sum()) if tok.pad_token_id is not None \
                    else len(new)
                text = cut_at_stop(tok.decode(new, skip_special_tokens=False))
                for special in (tok.pad_token, tok.eos_token):
                    if special:
                        text = text.split(special, 1)[0]
                out[i] = Generation(text, n, share)
            if on_batch:
                on_batch(len(idx))
        return [g for g in out if g is not None]


def plain_generate(model: Any, tokenizer: Any, prompts: Sequence[str], *,
                   max_new_tokens: int = 128) -> list[str]:
    """One prompt at a time, no batching: the baseline the benchmark compares with."""
    import torch

    texts = []
    for p in prompts:
        enc = tokenizer(p, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            seq = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=stop_token_ids(tokenizer),
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        texts.append(cut_at_stop(tokenizer.decode(seq[0, enc["input_ids"].shape[1]:],
                                                  skip_special_tokens=False)))
    return texts
