"""LoRA (and full) supervised fine-tuning of one base model on tokenized examples, with
TRL's ``SFTTrainer``: checkpoints every N steps, resume from the newest one (optimizer,
scheduler and RNG state included), early stopping on validation loss, a step and time
budget, and a JSONL training log.

The input is a :class:`TrainPlan` (paths and hyper-parameters, JSON-serialisable), so
the same function runs in-process from the finetune stage and on several GPUs with::

    accelerate launch -m slmconvert.training.lora PLAN.json

Examples come tokenized with ``input_ids`` and ``labels`` (-100 on prompt tokens, see
:mod:`slmconvert.training.data`); the LM head runs only at the answer positions
(:func:`answer_loss`), never materialising logits over the whole vocabulary for the
prompt.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Method = Literal["lora", "qlora", "full"]
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainPlan:
    base: str  # prepared checkpoint directory of the base model
    train_data: str  # datasets.save_to_disk directory
    val_data: str | None
    checkpoints: str  # where checkpoint-N directories go (kept for resume)
    adapter: str  # where the final adapter (or full model) is saved
    log: str  # train_log.jsonl
    method: Method = "lora"
    rank: int = 8
    alpha: int = 16
    # Dropout > 0 makes peft copy every adapted layer's input: measured on SmolLM2-135M at
    # 1,024 tokens, 0.05 costs ~60% more time per step and ~1.3 GB; early stopping on the
    # validation loss guards against overfitting instead.
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    learning_rate: float = 2e-3
    epochs: float = 2.0
    max_steps: int | None = None
    batch_size: int = 4
    grad_accum: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    eval_steps: int = 10
    save_steps: int = 10
    patience: int = 3
    time_budget_s: float | None = None
    # The time budget never stops training before this many steps of this run: an
    # adapter of one step has learned next to nothing, however slow the machine.
    min_steps: int = 1
    seed: int = 0
    logging_steps: int = 1
    threads: int | None = None
    # A micro-batch holds at most this many tokens (padded); the rest of a step's batch
    # comes through gradient accumulation, so the effective batch is unchanged.
    max_batch_tokens: int | None = 1024
    # None (auto): on when the longest sequence alone exceeds max_batch_tokens, the only
    # case micro-batching cannot bound (activations take ~2.5 MB per token for
    # SmolLM2-135M, measured); costs about one more forward per step.
    gradient_checkpointing: bool | None = None
    # Start from this trained LoRA adapter (iterate's warm start) instead of a fresh one;
    # its rank and targets win over the fields above.
    init_adapter: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainPlan:
        return cls(**json.loads(text))


@dataclass
class TrainResult:
    steps: int
    resumed_from: int
    stopped_by: str
    train_loss: float | None
    best_eval_loss: float | None
    first_eval_loss: float | None
    tokens: int
    seconds: float
    tokens_per_s: float
    trainable_params: int
    total_params: int
    evals: list[dict[str, float]] = field(default_factory=list)
    micro_batch: int = 0
    accumulation: int = 0
    checkpointing: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def newest_checkpoint(directory: Path) -> Path | None:
    """The highest-numbered complete checkpoint (one with its trainer state)."""
    found = []
    if directory.is_dir():
        for p in directory.iterdir():
            m = CHECKPOINT.match(p.name)
            if m and (p / "trainer_state.json").exists():
                found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def answer_loss(model: Any, inputs: dict[str, Any],
                num_items_in_batch: Any = None) -> tuple[Any, Any]:
    """(loss, model output): next-token cross-entropy on the answer tokens only.

    The LM head runs only at positions whose next token is a label (the answers, a few
    percent of a long agent prompt), via ``logits_to_keep``. TRL's fused head does the
    same in vocabulary tiles with a recompute in backward, which measured ~1.8 s per
    1,024-token step on 2 cores for SmolLM2-135M; one small matmul pair here is cheaper
    when only the adapter trains. The sum is divided by ``num_items_in_batch`` (the
    answer tokens of the whole accumulated batch) when given, as ``Trainer`` expects."""
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    target = labels[:, 1:]
    keep = (target != -100).any(0).nonzero().squeeze(1)
    out = model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                logits_to_keep=keep, use_cache=False)
    logits = out.logits
    summed = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                             target[:, keep].reshape(-1), ignore_index=-100, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (target != -100).sum()
    return summed / torch.as_tensor(count, device=summed.device).clamp(min=1), out


def micro_batching(plan: TrainPlan, longest: int) -> tuple[int, int, bool]:
    """(micro-batch size, accumulation steps, activation checkpointing) for a dataset
    whose longest example has ``longest`` tokens. The micro-batch is the largest divisor
    of ``batch_size`` whose padded tokens fit ``max_batch_tokens``."""
    budget = plan.max_batch_tokens
    micro = plan.batch_size
    if budget:
        micro = max(d for d in range(1, plan.batch_size + 1)
                    if plan.batch_size % d == 0 and (d == 1 or d * longest <= budget))
    accum = plan.grad_accum * (plan.batch_size // micro)
    checkpointing = plan.gradient_checkpointing
    if checkpointing is None:
        checkpointing = bool(budget) and longest > budget  # type: ignore[operator]
    return micro, accum, checkpointing


def _bound_heap() -> None:
    """Serve large allocations from mmap so freed activations go back to the system.

    glibc raises its mmap threshold after each large free, so later activations come from
    the heap, which fragments and is not returned: peak RSS of a LoRA step on 1,024
    tokens (SmolLM2-135M) measured 5.1 GB with the default and 2.8 GB with a fixed 1 MB
    threshold, for about 10% more time per step. No-op off glibc."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except OSError:
        pass


def _load_model(plan: TrainPlan) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if plan.method == "qlora":
        from transformers import BitsAndBytesConfig

        if not torch.cuda.is_available():
            raise RuntimeError("qlora needs a CUDA GPU (bitsandbytes 4-bit); use lora on CPU")
        kwargs = {"quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16), "dtype": torch.bfloat16}
    if plan.method == "full" and plan.init_adapter is not None:
        raise ValueError("init_adapter (a warm start) needs method lora or qlora")
    model = AutoModelForCausalLM.from_pretrained(plan.base, **kwargs)
    if plan.method == "full":
        return model
    from peft import LoraConfig, get_peft_model

    if plan.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    if plan.init_adapter is not None:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, plan.init_adapter, is_trainable=True)
    config = LoraConfig(r=plan.rank, lora_alpha=plan.alpha, lora_dropout=plan.dropout,
                        target_modules=plan.target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def _callbacks(plan: TrainPlan, log_path: Path, on_step: Callable[[int, int], None] | None,
               state: dict[str, Any]) -> list[Any]:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args: Any, st: Any, control: Any,  # type: ignore[override]
                           **kw: Any) -> None:
            state["t0"] = time.perf_counter()
            state["start_step"] = st.global_step
            state["max_steps"] = st.max_steps

        def on_step_end(self, args: Any, st: Any, control: Any,  # type: ignore[override]
                        **kw: Any) -> Any:
            if on_step:
                on_step(st.global_step, st.max_steps)
            budget = plan.time_budget_s
            if budget is not None and time.perf_counter() - state["t0"] >= budget \
                    and st.global_step - state["start_step"] >= plan.min_steps:
                state["stopped_by"] = "time budget"
                control.should_training_stop = True
                control.should_save = True
                control.should_evaluate = args.eval_strategy != "no"
            return control

        def on_log(self, args: Any, st: Any, control: Any,  # type: ignore[override]
                   logs: Any = None, **kw: Any) -> None:
            if not logs:
                return
            elapsed = time.perf_counter() - state["t0"]
            tokens = state["tokens"]()
            row = {"step": st.global_step, "epoch": round(st.epoch or 0.0, 4),
                   "elapsed_s": round(elapsed, 2), "tokens": tokens,
                   "tokens_per_s": round(tokens / elapsed, 1) if elapsed > 0 else None}
            for k, v in logs.items():
                if k in ("loss", "learning_rate", "eval_loss", "grad_norm", "train_loss",
                         "mean_token_accuracy", "eval_mean_token_accuracy"):
                    row[k if k != "learning_rate" else "lr"] = v
            if "eval_loss" in logs:
                state["evals"].append({"step": st.global_step, "eval_loss": logs["eval_loss"]})
            with log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    return [Progress()]


def train(plan: TrainPlan, on_step: Callable[[int, int], None] | None = None) -> TrainResult:
    """Fine-tune as planned; resumes from the newest checkpoint in ``plan.checkpoints``."""
    import datasets
    import torch
    from transformers import AutoTokenizer, EarlyStoppingCallback, set_seed
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
    if plan.threads:
        torch.set_num_threads(plan.threads)
    _bound_heap()
    tokenizer = AutoTokenizer.from_pretrained(plan.base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    train_ds = datasets.load_from_disk(plan.train_data)
    val_ds = datasets.load_from_disk(plan.val_data) if plan.val_data else None
    if val_ds is not None and len(val_ds) == 0:
        val_ds = None
    set_seed(plan.seed)  # the adapter's initial weights too: runs are reproducible
    model = _load_model(plan)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())

    longest = max(train_ds["length"]) if len(train_ds) else 1
    micro, accum, checkpointing = micro_batching(plan, longest)
    steps_per_epoch = max(1, math.ceil(len(train_ds) / (plan.batch_size * plan.grad_accum)))
    max_steps = plan.max_steps or math.ceil(steps_per_epoch * plan.epochs)
    evaluate = val_ds is not None
    eval_steps = max(1, min(plan.eval_steps, max_steps))
    save_steps = eval_steps if evaluate else max(1, plan.save_steps)
    args = SFTConfig(
        output_dir=plan.checkpoints, max_steps=max_steps,
        per_device_train_batch_size=micro, per_device_eval_batch_size=micro,
        gradient_accumulation_steps=accum, learning_rate=plan.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=int(plan.warmup_ratio * max_steps),
        weight_decay=plan.weight_decay, logging_steps=plan.logging_steps,
        save_strategy="steps", save_steps=save_steps, save_total_limit=2,
        eval_strategy="steps" if evaluate else "no", eval_steps=eval_steps,
        load_best_model_at_end=evaluate, metric_for_best_model="eval_loss",
        greater_is_better=False, prediction_loss_only=True,
        seed=plan.seed, data_seed=plan.seed, report_to="none", disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        # TRL turns bf16 autocast on by default; on a CPU without bf16 units it is several
        # times slower than fp32
        bf16=bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
        train_sampling_strategy="group_by_length", length_column_name="length",
        dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
        save_only_model=False, activation_checkpointing=checkpointing,
    )
    log_path = Path(plan.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tokens = {"n": 0}
    state: dict[str, Any] = {"stopped_by": None, "evals": [],
                             "tokens": lambda: tokens["n"]}
    callbacks = _callbacks(plan, log_path, on_step, state)
    if evaluate:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=plan.patience))

    class Trainer(SFTTrainer):
        def training_step(self, model: Any, inputs: Any, *a: Any, **kw: Any) -> Any:
            tokens["n"] += int(inputs["attention_mask"].sum())
            return super().training_step(model, inputs, *a, **kw)

        def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            loss, out = answer_loss(model, inputs, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            return (loss, out) if return_outputs else loss

    trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds,
                      processing_class=tokenizer, callbacks=callbacks)
    from transformers import PrinterCallback, ProgressCallback

    for cb in (PrinterCallback, ProgressCallback):  # progress goes through on_step
        trainer.remove_callback(cb)
    resume = newest_checkpoint(Path(plan.checkpoints))
    resumed_from = int(CHECKPOINT.match(resume.name).group(1)) if resume else 0  # type: ignore[union-attr]
    if evaluate and resume is None:  # the untrained adapter's validation loss, at step 0
        state["t0"] = time.perf_counter()
        trainer.evaluate()
    t0 = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - t0
    steps = trainer.state.global_step
    stopped = state["stopped_by"] or ("early stopping" if evaluate and steps < max_steps
                                      else "max steps")
    best = trainer.state.best_metric if evaluate else None
    Path(plan.adapter).mkdir(parents=True, exist_ok=True)
    trained: Any = trainer.model
    trained.save_pretrained(plan.adapter)
    if plan.method == "full":
        tokenizer.save_pretrained(plan.adapter)
    evals = state["evals"]
    return TrainResult(
        steps=steps, resumed_from=resumed_from, stopped_by=stopped,
        train_loss=round(float(out.training_loss), 5) if out.training_loss else None,
        best_eval_loss=round(float(best), 5) if best is not None else None,
        first_eval_loss=round(float(evals[0]["eval_loss"]), 5) if evals else None,
        tokens=tokens["n"], seconds=round(seconds, 2),
        tokens_per_s=round(tokens["n"] / seconds, 1) if seconds > 0 else 0.0,
        trainable_params=trainable, total_params=total, evals=evals, micro_batch=micro,
        accumulation=accum, checkpointing=checkpointing)


def main(argv: list[str] | None = None) -> int:
    """``python -m slmconvert.training.lora PLAN.json`` (or under ``accelerate launch``)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m slmconvert.training.lora PLAN.json", file=sys.stderr)
        return 2
    result = train(TrainPlan.from_json(Path(argv[0]).read_text(encoding="utf-8")))
    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
