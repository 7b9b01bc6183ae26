"""Probe generation throughput: batched ``Generator`` against a plain ``generate`` loop.

    python benchmarks/bench_probe.py WORKSPACE [--model smollm2-135m] [--calls 16]
                                               [--batch-size 4] [--max-new-tokens 96]

WORKSPACE must have a cluster/ stage. The prompts are what select probes: validation
calls of the SLM-candidate clusters rendered in slmconvert's prompt format, zero-shot.
Plain: ``model.generate`` one prompt at a time, greedy, stopping at the end marker, as a
user would write it. Ours: ``Generator.generate`` (prompts sorted by length, left-padded
batches, one ``generate`` per batch with the KV cache). Both produce the same number of
answers; the script prints answers/s for each, the ratio, and how many answers differ
(batching with padding can change a greedy answer in rare near-ties).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from slmconvert.core.models import load_causal_lm
from slmconvert.core.parquet import iter_records
from slmconvert.prompting.format import render_prompt
from slmconvert.prompting.generate import Generator, plain_generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--calls", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    args = ap.parse_args()
    clusters = [c for c in json.loads((args.workspace / "cluster/clusters.json").read_text())
                ["clusters"] if c.get("route") == "slm-candidate"]
    per = max(1, -(-args.calls // len(clusters)))  # the same number from every cluster
    prompts: list[str] = []
    for cl in clusters:
        path = args.workspace / "cluster/splits" / cl["id"] / "val.parquet"
        recs = [r for _, r in zip(range(per), iter_records(path), strict=False)]
        prompts += [render_prompt(r.messages, r.tools) for r in recs]
    prompts = prompts[:args.calls]
    model, tok = load_causal_lm(args.model)
    gen = Generator(model, tok, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    gen.generate(prompts[:1])  # warm-up
    print(f"{len(prompts)} prompts, model {args.model}, max_new_tokens {args.max_new_tokens}")

    t0 = time.perf_counter()
    plain = plain_generate(model, tok, prompts, max_new_tokens=args.max_new_tokens)
    t_plain = time.perf_counter() - t0
    print(f"plain generate loop    : {len(prompts) / t_plain:6.2f} answers/s ({t_plain:.1f} s)")

    t0 = time.perf_counter()
    ours = gen.generate(prompts)
    t_ours = time.perf_counter() - t0
    differ = sum(a.strip() != b.text.strip() for a, b in zip(plain, ours, strict=True))
    print(f"slmconvert Generator b{args.batch_size}: {len(prompts) / t_ours:6.2f} answers/s "
          f"({t_ours:.1f} s; ratio {t_plain / t_ours:.2f}x; {differ} answers differ)")


if __name__ == "__main__":
    main()
