"""Answering throughput: batched ``Generator`` (KV cache, confidence on) against a plain
``model.generate`` loop, on real test calls of a finished workspace.

    python benchmarks/bench_generate.py WORKSPACE [--cluster c02] [--calls 16]
        [--batch-size 8] [--max-new-tokens 64] [--model smollm2-135m] [--adapter PATH]
        [--no-confidence] [--threads N]

The prompts are the first ``--calls`` calls of the cluster's test split, rendered with the
prompt recipe of the fine-tuned adapter (``WORKSPACE/finetune/<cluster>/<model>/``) when
there is one, and answered by that adapter on the base model (``--adapter`` names another
one; with no adapter, the base model answers the raw prompts).

- plain: :func:`slmconvert.prompting.generate.plain_generate`, one prompt at a time,
  greedy, stopping at the end marker: ``model.generate`` as a user would write it.
- ours: :class:`slmconvert.prompting.generate.Generator`: prompts sorted by token count,
  left-padded batches of ``--batch-size``, one ``generate`` per batch, and each answer's
  mean and minimum token log-probability (``--no-confidence`` turns that off).

Both run after a one-prompt warm-up of each, interleaved batch by batch (the plain loop
on a batch's prompts, then the ``Generator`` on the same ones), so that background load
on a shared machine falls on both alike; the script prints calls, generated
tokens, seconds and answers/s of each, the ratio ours/plain, how many answers are
identical, the mean confidence, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Any


def _prompts(ws: Path, cluster: str, recipe: Any, tok: Any, n: int) -> list[str]:
    from slmconvert.core.parquet import iter_records
    from slmconvert.evaluation.answer import prompt_for

    recs = [r for _, r in zip(range(n), iter_records(
        ws / "cluster" / "splits" / cluster / "test.parquet"), strict=False)]
    return [prompt_for(r, recipe, tok) for r in recs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--cluster", default="c02")
    ap.add_argument("--calls", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--adapter", type=Path,
                    help="a PEFT adapter (default: the workspace's for this cluster/model)")
    ap.add_argument("--no-confidence", action="store_true")
    ap.add_argument("--threads", type=int,
                    help="torch threads (default: torch's own, one per core); on a machine "
                         "shared with another busy process, 1 thread can be several times "
                         "faster than 2")
    a = ap.parse_args()

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)

    from slmconvert.core.models import prepare
    from slmconvert.evaluation.answer import load_adapter
    from slmconvert.prompting.generate import Generator, plain_generate
    from slmconvert.prompting.recipe import PromptRecipe

    tuned = a.workspace / "finetune" / a.cluster / a.model
    adapter = a.adapter or (tuned / "adapter" if (tuned / "adapter").is_dir() else None)
    recipe = None  # the adapter's recipe, saved beside it
    if adapter is not None and (adapter.parent / "prompt_recipe.json").exists():
        recipe = PromptRecipe.load(adapter.parent / "prompt_recipe.json")
    model, tok = load_adapter(prepare(a.model).path, adapter)
    prompts = _prompts(a.workspace, a.cluster, recipe, tok, a.calls)
    lengths_of = [len(tok.encode(p, add_special_tokens=False)) for p in prompts]
    lengths = sorted(lengths_of)
    print(f"{len(prompts)} calls of {a.cluster}, model {a.model}, adapter {adapter}, "
          f"recipe {'yes' if recipe else 'no'}; prompt tokens {lengths[0]}-{lengths[-1]} "
          f"(median {lengths[len(lengths) // 2]}); max_new_tokens {a.max_new_tokens}; "
          f"{torch.get_num_threads()} threads")

    gen = Generator(model, tok, batch_size=a.batch_size, max_new_tokens=a.max_new_tokens,
                    confidence=not a.no_confidence)
    gen.generate(prompts[:1])  # warm-up, both paths
    plain_generate(model, tok, prompts[:1], max_new_tokens=a.max_new_tokens)

    rss_warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # The Generator's own batches (token count order), each timed right after the plain
    # loop on the same prompts: the two sides see the same background load.
    order = sorted(range(len(prompts)), key=lambda i: lengths_of[i])
    plain: list[str] = [""] * len(prompts)
    ours: list[Any] = [None] * len(prompts)
    t_plain = t_ours = 0.0
    load0 = os.getloadavg()[0]
    for start in range(0, len(order), a.batch_size):
        idx = order[start:start + a.batch_size]
        t0 = time.perf_counter()
        texts = plain_generate(model, tok, [prompts[i] for i in idx],
                               max_new_tokens=a.max_new_tokens)
        t1 = time.perf_counter()
        gens = gen.generate([prompts[i] for i in idx])  # one batch
        t_ours += time.perf_counter() - t1
        t_plain += t1 - t0
        for i, text, g in zip(idx, texts, gens, strict=True):
            plain[i], ours[i] = text, g
    plain_tokens = sum(gen.token_count(t) for t in plain)  # text re-encoded: approximate
    ours_tokens = sum(g.new_tokens for g in ours)

    same = sum(p == g.text for p, g in zip(plain, ours, strict=True))
    print(f"plain generate loop   : {len(prompts) / t_plain:6.3f} answers/s  "
          f"{t_plain:6.1f} s  ~{plain_tokens} answer tokens (text, no end marker)")
    print(f"Generator b{a.batch_size:<2d}{' conf' if gen.confidence else '     '}  : "
          f"{len(prompts) / t_ours:6.3f} answers/s  {t_ours:6.1f} s  {ours_tokens} "
          f"answer tokens (with end marker)")
    print(f"ratio ours/plain: {t_plain / t_ours:.2f}  identical answers: {same}/{len(prompts)}")
    if gen.confidence:
        means = [g.mean_logprob for g in ours if g.mean_logprob is not None]
        mins = [g.min_logprob for g in ours if g.min_logprob is not None]
        print(f"confidence: mean logprob {sum(means) / len(means):.3f}, lowest min "
              f"{min(mins):.3f}")
    print(f"load average (1 min) {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          f"({rss_warm:.0f} MB after loading and one-prompt warm-ups)")


if __name__ == "__main__":
    main()
