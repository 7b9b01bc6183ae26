"""Fine-tuning throughput and memory: the finetune stage's trainer against a bare TRL
``SFTTrainer`` on the same data, model and settings.

    python benchmarks/bench_finetune.py WORKSPACE [--cluster c05] [--model smollm2-135m]
                                                  [--steps 6] [--seq 1024] [--batch-size 4]

WORKSPACE must have a cluster/ stage. The examples are the cluster's train calls in
slmconvert's prompt format with no prompt recipe, cut to ``--seq`` tokens (long prompts
keep their end), so both sides train on sequences of the same length.

- ours: :func:`slmconvert.training.lora.train` on the tokenized examples (labels -100
  on the prompt, length-grouped batches, checkpoints every ``--steps``), with its
  defaults: micro-batches of at most 1,024 tokens with gradient accumulation (the same
  effective batch) and large allocations served from mmap, which bound memory.
- TRL: ``SFTTrainer`` as its documentation shows it, on the same examples as
  ``prompt``/``completion`` text (TRL tokenizes, completion-only loss), same LoRA
  (r 8, alpha 16, dropout 0, all-linear), learning rate, batch, steps and seed, activation
  checkpointing off on both (TRL's default turns it on, which costs a second forward)
  and fp32 on both (``--trl-bf16`` gives TRL its default bf16 autocast, slow on CPU).

Each side runs in its own process; the script prints non-padding training tokens/s,
the ratio ours/TRL, and each process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"}


def _examples(ws: Path, cluster: str, model: str, seq: int, n: int) -> list[dict[str, Any]]:
    from transformers import AutoTokenizer

    from slmconvert.core.models import prepare
    from slmconvert.core.parquet import iter_records
    from slmconvert.prompting.format import render_prompt, render_target

    tok = AutoTokenizer.from_pretrained(prepare(model).path)
    rows = []
    for rec in iter_records(ws / "cluster" / "splits" / cluster / "train.parquet"):
        if rec.response is None:
            continue
        prompt, target = render_prompt(rec.messages, rec.tools), render_target(rec.response)
        p = tok.encode(prompt, add_special_tokens=False)
        t = tok.encode(target, add_special_tokens=False)
        p = p[-(seq - len(t)):] if len(p) + len(t) > seq else p
        rows.append({"prompt": tok.decode(p), "completion": target,
                     "input_ids": p + t, "labels": [-100] * len(p) + t,
                     "length": len(p) + len(t)})
        if len(rows) == n:
            break
    return rows


def _run_ours(rows: list[dict[str, Any]], base: str, out: Path,
              a: argparse.Namespace) -> dict[str, Any]:
    import datasets

    from slmconvert.training.lora import TrainPlan, train

    datasets.Dataset.from_list([{k: r[k] for k in ("input_ids", "labels", "length")}
                                for r in rows]).save_to_disk(str(out / "data"))
    plan = TrainPlan(base=base, train_data=str(out / "data"), val_data=None,
                     checkpoints=str(out / "steps"), adapter=str(out / "adapter"),
                     log=str(out / "log.jsonl"), max_steps=a.steps, batch_size=a.batch_size,
                     rank=LORA["r"], alpha=LORA["lora_alpha"], dropout=LORA["lora_dropout"],
                     save_steps=a.steps, seed=0)
    r = train(plan)
    return {"tokens": r.tokens, "seconds": r.seconds, "micro_batch": r.micro_batch,
            "checkpointing": r.checkpointing}


def _run_trl(rows: list[dict[str, Any]], base: str, out: Path,
             a: argparse.Namespace) -> dict[str, Any]:
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    ds = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]}
                                     for r in rows])
    tokens = {"n": 0}

    class Counting(SFTTrainer):
        def training_step(self, model: Any, inputs: Any, *args: Any, **kw: Any) -> Any:
            tokens["n"] += int(inputs["attention_mask"].sum())
            return super().training_step(model, inputs, *args, **kw)

    args = SFTConfig(output_dir=str(out / "trl"), max_steps=a.steps,
                     per_device_train_batch_size=a.batch_size, learning_rate=2e-3,
                     report_to="none", seed=0, save_strategy="no",
                     activation_checkpointing=False, max_length=a.seq + 64,
                     use_cpu=True, disable_tqdm=True, bf16=a.trl_bf16)
    trainer = Counting(model=model, args=args, train_dataset=ds, processing_class=tok,
                       peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA))
    t0 = time.perf_counter()
    trainer.train()
    return {"tokens": tokens["n"], "seconds": time.perf_counter() - t0}


def _child(a: argparse.Namespace) -> None:
    from slmconvert.core.models import prepare

    base = str(prepare(a.model).path)
    rows = _examples(a.workspace, a.cluster, a.model, a.seq, a.steps * a.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        res = (_run_ours if a.mode == "ours" else _run_trl)(rows, base, Path(tmp), a)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["mean_length"] = sum(r["length"] for r in rows) / len(rows)
    print("RESULT " + json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--cluster", default="c05")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--trl-bf16", action="store_true",
                    help="TRL's own default on CPU: bf16 autocast (ours runs fp32 on CPU)")
    ap.add_argument("--mode", choices=["ours", "trl"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.mode:
        _child(a)
        return
    out = {}
    for mode in ("trl", "ours"):
        cmd = [sys.executable, __file__, str(a.workspace), "--cluster", a.cluster, "--model",
               a.model, "--steps", str(a.steps), "--seq", str(a.seq), "--batch-size",
               str(a.batch_size), "--mode", mode] + (["--trl-bf16"] if a.trl_bf16 else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        out[mode] = json.loads(line[len("RESULT "):])
        r = out[mode]
        print(f"{mode:5s} {r['tokens'] / r['seconds']:8.1f} tokens/s  {r['tokens']} tokens in "
              f"{r['seconds']:.1f} s  mean length {r['mean_length']:.0f}  peak RSS "
              f"{r['peak_rss_mb']:.0f} MB")
    ours = out["ours"]["tokens"] / out["ours"]["seconds"]
    trl = out["trl"]["tokens"] / out["trl"]["seconds"]
    print(f"ratio ours/TRL: {ours / trl:.2f}  ({a.model}, {a.cluster}, {a.steps} steps x "
          f"{a.batch_size} x up to {a.seq} tokens)")


if __name__ == "__main__":
    main()
