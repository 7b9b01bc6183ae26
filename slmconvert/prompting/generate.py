"""Batched greedy generation with the KV cache, for select, evaluate and serve.

Prompts are tokenized once, sorted by token count and cut into batches (least padding),
left-padded, and generated in one ``model.generate`` call per batch, which keeps the KV
cache, stops each sequence at the end marker of the prompt format (or the tokenizer's end
token) and pads finished ones. Texts come back in the order of the prompts, with the end
marker cut off, and the measured time of each batch (padding, generation, confidence) is
shared among its prompts.

Confidence: the log-probabilities (log-softmax of the model's raw logits, natural log) of
the tokens that make up each answer, up to and including the token that ended it (the
end marker is part of the decision "the answer ends here"); padding after a finished
sequence and tokens beyond a stop marker spelled as text are not part of the answer.
Their mean and minimum come with each :class:`Generation`.
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
    new_tokens: int  # tokens of the answer, with the one that ended it; no padding
    seconds: float  # this prompt's share of its batch's wall time
    mean_logprob: float | None = None  # over the answer's tokens; None: confidence off
    min_logprob: float | None = None
    choice_prob: float | None = None  # label-constrained decoding: the chosen option's share


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


def answer_length(tokenizer: Any, new: Sequence[int], end_ids: set[int],
                  stop_strings: Sequence[str]) -> int:
    """How many of the generated tokens ``new`` make up the answer: up to and including
    the first end token (a one-token stop marker, the end-of-sequence or padding token),
    or the token that completes the first stop marker spelled in several tokens; all of
    them when nothing ended the answer (the ``max_new_tokens`` limit)."""
    n = next((j + 1 for j, t in enumerate(new) if t in end_ids), len(new))
    if not stop_strings or not _has_stop(tokenizer.decode(new[:n]), stop_strings):
        return n
    lo, hi = 1, n  # the shortest prefix whose text holds a stop marker
    while lo < hi:
        mid = (lo + hi) // 2
        if _has_stop(tokenizer.decode(new[:mid]), stop_strings):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _has_stop(text: str, stop_strings: Sequence[str]) -> bool:
    return any(s in text for s in stop_strings)


class Generator:
    """Greedy generation for one loaded causal LM and its tokenizer. With ``confidence``
    (the default) each :class:`Generation` carries the mean and minimum log-probability
    of its answer's tokens; without it they are None and ``generate`` keeps no logits."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 4,
                 max_new_tokens: int = 128, confidence: bool = True) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.confidence = confidence
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos = stop_token_ids(tokenizer)
        # padding follows a finished answer; a pad the model writes ends its text too
        self.end_ids = set(self.eos) | ({int(tokenizer.pad_token_id)}
                                        if tokenizer.pad_token_id is not None else set())
        # markers spelled in several tokens (a model with no template) stop as strings
        self.stop_strings = [s for s in STOPS
                             if len(tokenizer.encode(s, add_special_tokens=False)) > 1]
        model.eval()

    def token_count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def generate(self, prompts: Sequence[str],
                 on_batch: Callable[[int], None] | None = None) -> list[Generation]:
        """One :class:`Generation` per prompt, in the order of ``prompts``."""
        if not prompts:
            return []
        ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        order = sorted(range(len(prompts)), key=lambda i: len(ids[i]))
        out: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            for i, g in zip(idx, self._batch([ids[i] for i in idx]), strict=True):
                out[i] = g
            if on_batch:
                on_batch(len(idx))
        done = [g for g in out if g is not None]
        assert len(done) == len(prompts), "a prompt got no generation"
        return done

    def _batch(self, ids: list[list[int]]) -> list[Generation]:
        import torch

        tok = self.tokenizer
        t0 = time.perf_counter()
        enc = tok.pad({"input_ids": ids}, padding=True, return_tensors="pt",
                      padding_side="left")
        extra: dict[str, Any] = {}
        if self.stop_strings:
            extra = {"stop_strings": self.stop_strings, "tokenizer": tok}
        record = _ChosenLogprobs() if self.confidence else None
        if record is not None:
            extra["logits_processor"] = [record]
        with torch.inference_mode():
            seqs = self.model.generate(**enc, max_new_tokens=self.max_new_tokens,
                                       do_sample=False, eos_token_id=self.eos,
                                       pad_token_id=tok.pad_token_id, **extra)
            new = seqs[:, enc["input_ids"].shape[1]:]
            rows = new.tolist()
            lengths = [answer_length(tok, r, self.end_ids, self.stop_strings) for r in rows]
            logprobs = record.finish(new).tolist() if record is not None else None
        texts = [self._text(r[:n]) for r, n in zip(rows, lengths, strict=True)]
        share = (time.perf_counter() - t0) / len(ids)
        out = []
        for row, (text, n) in enumerate(zip(texts, lengths, strict=True)):
            mean = low = None
            if logprobs is not None and n:
                lp = logprobs[row][:n]
                mean, low = sum(lp) / n, min(lp)
            out.append(Generation(text, n, share, mean, low))
        return out

    def answer(self, prompts: Sequence[str], options: Sequence[Sequence[str] | None],
               complete: bool, on_batch: Callable[[int], None] | None = None
               ) -> list[Generation]:
        """Answers with label-constrained decoding where a prompt has ``options``: the
        option with the highest probability under the model is chosen, and its share of
        the options' total probability is the answer's ``choice_prob``. ``complete``:
        an option is the whole answer (a label: scored with the end marker, nothing is
        generated after it); else it is a forced prefix (a tool call up to its name) and
        the rest of the answer is generated after it. Prompts without options are
        generated freely, as :meth:`generate`."""
        free = [i for i, o in enumerate(options) if not o]
        out: list[Generation | None] = [None] * len(prompts)
        for i, g in zip(free, self.generate([prompts[i] for i in free], on_batch), strict=True):
            out[i] = g
        tails: list[tuple[int, list[int], str, float, float]] = []
        for i, opts in enumerate(options):
            if not opts:
                continue
            t0 = time.perf_counter()
            ids = self.tokenizer.encode(prompts[i], add_special_tokens=False)
            best, prob = self._choose(ids, list(opts), complete)
            seconds = time.perf_counter() - t0
            if complete:
                out[i] = Generation(opts[best], len(self.tokenizer.encode(
                    opts[best] + STOPS[0], add_special_tokens=False)), seconds,
                    choice_prob=prob)
                if on_batch:
                    on_batch(1)
            else:
                tails.append((i, ids + self.tokenizer.encode(opts[best], add_special_tokens=False),
                              opts[best], prob, seconds))
        for start in range(0, len(tails), self.batch_size):
            chunk = tails[start:start + self.batch_size]
            for (i, _, prefix, prob, secs), g in zip(
                    chunk, self._batch([t[1] for t in chunk]), strict=True):
                out[i] = Generation(prefix + g.text, g.new_tokens, secs + g.seconds,
                                    g.mean_logprob, g.min_logprob, choice_prob=prob)
            if on_batch:
                on_batch(len(chunk))
        done = [g for g in out if g is not None]
        assert len(done) == len(prompts), "a prompt got no answer"
        return done

    def _choose(self, prompt_ids: list[int], options: list[str], complete: bool
                ) -> tuple[int, float]:
        """Index of the most probable option after the prompt, and its probability
        among the options (a softmax of their sequence log-probabilities)."""
        import torch

        tok = self.tokenizer
        end = [STOPS[0]] if complete else []
        seqs = [tok.encode(o + "".join(end), add_special_tokens=False) for o in options]
        if len(options) == 1:
            return 0, 1.0
        with torch.inference_mode():
            scores = self._option_logprobs(prompt_ids, seqs)
        probs = torch.softmax(torch.tensor(scores, dtype=torch.float64), dim=0)
        best = int(torch.argmax(probs))
        return best, float(probs[best])

    def _option_logprobs(self, prompt_ids: list[int], seqs: list[list[int]]) -> list[float]:
        """Sum of log-probabilities of each token sequence after the prompt: the prompt
        runs once, and its cache is shared by all options (one batched forward pass)."""
        import torch

        model, pad = self.model, int(self.tokenizer.pad_token_id)
        first = model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
        head = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
        longest = max(len(s) for s in seqs)
        scores = [float(head[s[0]]) for s in seqs]
        if longest == 1:
            return scores
        n = len(seqs)
        cache = first.past_key_values
        try:
            cache.batch_repeat_interleave(n)
        except (AttributeError, NotImplementedError):  # a cache type that cannot expand
            cache = None
        rows = [s[:-1] + [pad] * (longest - len(s)) for s in seqs]
        mask_tail = [[1] * (len(s) - 1) + [0] * (longest - len(s)) for s in seqs]
        if cache is not None:
            inp = torch.tensor(rows)
            mask = torch.cat([torch.ones(n, len(prompt_ids), dtype=torch.long),
                              torch.tensor(mask_tail)], dim=1)
            logits = model(input_ids=inp, attention_mask=mask, past_key_values=cache,
                           use_cache=False).logits.float()
            offset = 0
        else:
            inp = torch.tensor([prompt_ids + r for r in rows])
            mask = torch.cat([torch.ones(n, len(prompt_ids), dtype=torch.long),
                              torch.tensor(mask_tail)], dim=1)
            logits = model(input_ids=inp, attention_mask=mask).logits.float()
            offset = len(prompt_ids)
        logp = torch.log_softmax(logits, dim=-1)
        for j, s in enumerate(seqs):
            for k in range(1, len(s)):
                scores[j] += float(logp[j, offset + k - 1, s[k]])
        return scores

    def _text(self, answer: list[int]) -> str:
        tok = self.tokenizer
        text = cut_at_stop(tok.decode(answer, skip_special_tokens=False))
        for special in (tok.pad_token, tok.eos_token):
            if special:
                text = text.split(special, 1)[0]
        return text


class _ChosenLogprobs:
    """A logits processor that keeps, step by step, the log-probability of the token
    generation chose: the log-softmax (float32) of each step's scores is held until the
    next step shows which token was appended, then only that value is kept, so memory is
    one step's scores plus (batch, steps) floats, not every step's logits. It returns the
    scores unchanged; with greedy decoding and no other processors (slmconvert passes
    none) they are the model's raw logits."""

    def __init__(self) -> None:
        self.pending: Any = None
        self.values: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self.pending is not None:
            self.values.append(self.pending.gather(1, input_ids[:, -1:]).squeeze(1))
        self.pending = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, new: Any) -> Any:
        """(batch, steps) log-probabilities of the generated tokens ``new``."""
        import torch

        steps = new.shape[1]
        if self.pending is not None and len(self.values) < steps:
            self.values.append(self.pending.gather(1, new[:, len(self.values):
                                                          len(self.values) + 1]).squeeze(1))
        self.pending = None
        if not self.values:
            return torch.zeros(new.shape[0], 0)
        return torch.stack(self.values[:steps], dim=1)


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
