"""Training data and the LoRA trainer: answer-only loss, checkpoints, resume after kill -9
(a real subprocess), on a tiny random-weight model with SmolLM2's tokenizer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from slmconvert.core.records import CallRecord, Message, ToolCall
from slmconvert.prompting.format import render_prompt, render_target
from slmconvert.prompting.recipe import learn
from slmconvert.training.data import IGNORE, ExampleStats, encode, examples

TOOLS = [{"type": "function", "function": {
    "name": "route_ticket", "description": "Send a ticket to a team.",
    "parameters": {"type": "object", "properties": {"team": {"type": "string"}},
                   "required": ["team"]}}}]
TEAMS = ["billing", "shipping", "returns"]


def _call(i: int) -> CallRecord:
    team = TEAMS[i % 3]
    return CallRecord(source=f"t:{i}", messages=[
        Message(role="system", content="Route the ticket to the right team.\n"
                                       "Use the tool, never answer in text."),
        Message(role="user", content=f"Ticket {i}: a question about {team} for order {i}")],
        tools=TOOLS, response=Message(role="assistant", tool_calls=[
            ToolCall(id="x", name="route_ticket", arguments={"team": team})])).with_id()


@pytest.fixture(scope="module")
def smol_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from slmconvert.core.models import prepare

    return AutoTokenizer.from_pretrained(prepare("smollm2-135m").path)


def test_prompt_tokens_carry_ignore_labels_and_the_answer_is_learned(smol_tokenizer: Any) -> None:
    """SmolLM2's template has no generation markers: the boundary comes from tokenizing
    the prompt and the answer apart, exactly as generation sees them."""
    rec = _call(1)
    prompt, target = render_prompt(rec.messages, rec.tools), render_target(rec.response)
    ex = encode(smol_tokenizer, prompt, target)
    n_prompt = len(smol_tokenizer.encode(prompt, add_special_tokens=False))
    assert ex["labels"][:n_prompt] == [IGNORE] * n_prompt
    answer = ex["labels"][n_prompt:]
    assert IGNORE not in answer and answer == ex["input_ids"][n_prompt:]
    assert smol_tokenizer.decode(answer) == target
    assert json.loads(target.split("<tool_call>")[1].split("</tool_call>")[0])[
        "arguments"] == {"team": "shipping"}  # arguments are a JSON object


@pytest.mark.slow
def test_plain_text_markers_are_masked_too_for_a_model_without_a_template() -> None:
    from transformers import AutoTokenizer

    from slmconvert.core.models import prepare

    tok = AutoTokenizer.from_pretrained(prepare("gemma3-270m").path)
    rec = _call(2)
    prompt, target = render_prompt(rec.messages, rec.tools), render_target(rec.response)
    ex = encode(tok, prompt, target)
    n_prompt = len(tok.encode(prompt, add_special_tokens=False))
    assert n_prompt > 20 and set(ex["labels"][:n_prompt]) == {IGNORE}
    assert tok.decode(ex["labels"][n_prompt:]) == target


def test_examples_apply_the_recipe_and_count_every_call(smol_tokenizer: Any) -> None:
    calls = [_call(i) for i in range(12)]
    calls.append(calls[0].model_copy(update={"response": None}))
    recipe = learn(((c.messages, c.tools) for c in calls), task_tag="routing")
    stats = ExampleStats()
    rows = list(examples(calls, recipe, smol_tokenizer, 512, stats))
    assert stats.offered == 13 and stats.used == 12 == len(rows)
    assert stats.dropped == {"no response": 1}
    d = stats.as_dict()
    assert d["tokens_after"]["mean"] < d["tokens_before"]["mean"] / 2
    assert stats.pruned_tools == 12 and stats.pruned_lines == 24
    tight = ExampleStats()
    assert not list(examples(calls[:2], None, smol_tokenizer, 8, tight))
    assert tight.dropped == {"answer longer than max_length": 2}


# ------------------------------------------------------------------ trainer ----

def _tiny_model(tmp: Path, tok: Any) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    path = tmp / "tiny"
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _dataset(tmp: Path, tok: Any, n: int, name: str) -> str:
    import datasets

    rows = [{**e, "length": len(e["input_ids"])}
            for e in examples([_call(i) for i in range(n)], None, tok, 512, ExampleStats())]
    path = tmp / name
    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return str(path)


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer: Any) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("tiny")
    return {"base": str(_tiny_model(tmp, smol_tokenizer)),
            "train": _dataset(tmp, smol_tokenizer, 48, "train"),
            "val": _dataset(tmp, smol_tokenizer, 8, "val")}


def _plan(setup: dict[str, str], out: Path, **kw: Any) -> Any:
    from slmconvert.training.lora import TrainPlan

    base = dict(base=setup["base"], train_data=setup["train"], val_data=None,
                checkpoints=str(out / "steps"), adapter=str(out / "adapter"),
                log=str(out / "train_log.jsonl"), max_steps=24, batch_size=4,
                save_steps=2, learning_rate=5e-3, threads=1, dropout=0.1)
    return TrainPlan(**{**base, **kw})


def test_training_logs_each_step_early_stops_on_val_and_saves_an_adapter(
        tiny_setup: dict[str, str], tmp_path: Path) -> None:
    from slmconvert.training.lora import newest_checkpoint, train

    seen: list[int] = []
    plan = _plan(tiny_setup, tmp_path, val_data=tiny_setup["val"], eval_steps=4,
                 max_steps=12)
    result = train(plan, on_step=lambda step, total: seen.append(step))
    assert seen == list(range(1, result.steps + 1)) and result.steps <= 12
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    rows = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == result.steps and losses[-1] < losses[0]
    assert all(r["tokens_per_s"] > 0 for r in rows if "loss" in r)
    assert result.best_eval_loss is not None and result.best_eval_loss <= result.first_eval_loss
    assert newest_checkpoint(tmp_path / "steps") is not None
    assert 0 < result.trainable_params < result.total_params


@pytest.mark.parametrize("min_steps", [1, 3])
def test_the_time_budget_never_stops_training_before_min_steps(
        tiny_setup: dict[str, str], tmp_path: Path, min_steps: int) -> None:
    from slmconvert.training.lora import train

    plan = _plan(tiny_setup, tmp_path, max_steps=12, time_budget_s=1e-6,
                 min_steps=min_steps)
    result = train(plan)
    assert result.stopped_by == "time budget" and result.steps == min_steps
    assert (tmp_path / "adapter" / "adapter_config.json").exists()


def _adapter_tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def test_kill_9_mid_training_resumes_from_the_newest_checkpoint_to_the_same_adapter(
        tiny_setup: dict[str, str], tmp_path: Path) -> None:
    import torch

    from slmconvert.training.lora import newest_checkpoint

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight = _plan(tiny_setup, tmp_path / "straight")
    (tmp_path / "straight").mkdir()
    (tmp_path / "straight.json").write_text(straight.to_json())
    subprocess.run([sys.executable, "-m", "slmconvert.training.lora",
                    str(tmp_path / "straight.json")], check=True, env=env,
                   capture_output=True, timeout=600)

    killed = _plan(tiny_setup, tmp_path / "killed")
    (tmp_path / "killed").mkdir()
    plan_file = tmp_path / "killed.json"
    plan_file.write_text(killed.to_json())
    proc = subprocess.Popen([sys.executable, "-m", "slmconvert.training.lora", str(plan_file)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    steps = tmp_path / "killed" / "steps"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        ck = newest_checkpoint(steps)
        if ck is not None and int(ck.name.split("-")[1]) >= 6:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert not (tmp_path / "killed" / "adapter").exists()

    rerun = subprocess.run([sys.executable, "-m", "slmconvert.training.lora", str(plan_file)],
                           check=True, env=env, capture_output=True, text=True, timeout=600)
    result = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert result["resumed_from"] >= 6 and result["steps"] == 24
    a = _adapter_tensors(tmp_path / "straight" / "adapter")
    b = _adapter_tensors(tmp_path / "killed" / "adapter")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


def test_full_fine_tuning_saves_a_whole_model_and_qlora_needs_a_gpu(
        tiny_setup: dict[str, str], tmp_path: Path) -> None:
    import torch

    from slmconvert.training.lora import train

    result = train(_plan(tiny_setup, tmp_path, method="full", max_steps=2, save_steps=2))
    assert result.trainable_params == result.total_params
    assert (tmp_path / "adapter" / "model.safetensors").exists()
    assert (tmp_path / "adapter" / "tokenizer_config.json").exists()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="qlora needs a CUDA GPU"):
            train(_plan(tiny_setup, tmp_path / "q", method="qlora", max_steps=1))


def test_micro_batches_fit_the_token_budget_and_keep_the_effective_batch() -> None:
    from slmconvert.training.lora import TrainPlan, micro_batching

    plan = TrainPlan(base="", train_data="", val_data=None, checkpoints="", adapter="",
                     log="", batch_size=6, grad_accum=2, max_batch_tokens=1024)
    assert micro_batching(plan, 100) == (6, 2, False)
    assert micro_batching(plan, 300) == (3, 4, False)  # 4 x 300 fits but 4 does not divide 6
    assert micro_batching(plan, 600) == (1, 12, False)
    assert micro_batching(plan, 1024) == (1, 12, False)
    assert micro_batching(plan, 1025) == (1, 12, True)  # one sequence exceeds the budget
    assert micro_batching(plan, 4000) == (1, 12, True)
    unbounded = TrainPlan(**{**plan.__dict__, "max_batch_tokens": None})
    assert micro_batching(unbounded, 4000) == (6, 2, False)
    forced = TrainPlan(**{**plan.__dict__, "gradient_checkpointing": False})
    assert micro_batching(forced, 4000) == (1, 12, False)


def test_micro_batching_and_checkpointing_train_the_same_adapter_as_whole_batches(
        tiny_setup: dict[str, str], tmp_path: Path) -> None:
    import datasets
    import torch

    from slmconvert.training.lora import train

    longest = max(datasets.load_from_disk(tiny_setup["train"])["length"])
    whole = train(_plan(tiny_setup, tmp_path / "whole", max_steps=3, dropout=0.0,
                        max_batch_tokens=None))
    split = train(_plan(tiny_setup, tmp_path / "split", max_steps=3, dropout=0.0,
                        max_batch_tokens=longest - 1))
    assert (whole.micro_batch, whole.accumulation, whole.checkpointing) == (4, 1, False)
    assert (split.micro_batch, split.accumulation, split.checkpointing) == (1, 4, True)
    a, b = (_adapter_tensors(tmp_path / d / "adapter") for d in ("whole", "split"))
    assert a.keys() == b.keys()
    assert max(float(a[k].abs().max()) for k in a if "lora_B" in k) > 1e-3  # it trained
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a), diff


def test_answer_only_loss_equals_the_models_own_loss(tiny_setup: dict[str, str]) -> None:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM

    from slmconvert.training.lora import answer_loss

    rows = datasets.load_from_disk(tiny_setup["train"]).select(range(3))
    width = max(rows["length"])
    ids = torch.tensor([r["input_ids"] + [0] * (width - len(r["input_ids"])) for r in rows])
    labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in rows])
    mask = torch.tensor([[1] * r["length"] + [0] * (width - r["length"]) for r in rows])
    model = AutoModelForCausalLM.from_pretrained(tiny_setup["base"])
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    ours, out = answer_loss(model, inputs)
    assert out.logits.shape[1] < width  # the head ran on the answer positions only
    reference = model(**inputs).loss
    assert torch.allclose(ours, reference, atol=1e-5), (float(ours), float(reference))
    n = int((labels[:, 1:] != -100).sum())
    halved, _ = answer_loss(model, inputs, num_items_in_batch=2 * n)
    assert torch.allclose(halved, reference / 2, atol=1e-5)


def test_a_trained_adapter_gives_the_llms_answers_a_higher_likelihood_and_is_scored(
        tiny_setup: dict[str, str], tmp_path: Path) -> None:
    from slmconvert.evaluation.answer import answer_nll, load_adapter, score_calls
    from slmconvert.training.lora import train

    train(_plan(tiny_setup, tmp_path, max_steps=24, dropout=0.0, learning_rate=3e-2))
    model, tok = load_adapter(tiny_setup["base"], tmp_path / "adapter")
    calls = [_call(i) for i in range(100, 106)]
    with model.disable_adapter():
        base = answer_nll(model, tok, calls, None)
    tuned = answer_nll(model, tok, calls, None)
    assert base["n"] == tuned["n"] == 6 and base["tokens"] == tuned["tokens"] > 6
    assert tuned["nll"] < base["nll"] - 0.2, (base, tuned)  # random weights learn slowly
    cut = answer_nll(model, tok, calls, None, max_prompt_tokens=8)  # the prompt's end only
    assert cut["tokens"] == tuned["tokens"] and cut["nll"] != tuned["nll"]
    scored = score_calls(model, tok, calls[:2], None, max_new_tokens=24, batch_size=2)
    assert scored["n"] == 2 and 0.0 <= scored["mean"] <= 1.0
