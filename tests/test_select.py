"""S4 select: hard constraints with reasons, few-shot budgets, and probes from real
generation (the demo's packaged models; a random-weight tiny model scores near zero)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from slmconvert.core.models import catalog_with
from slmconvert.core.records import CallRecord, Message
from slmconvert.stages.select import SelectConfig, exclusions, few_shot_prompt

CLUSTER = {"id": "c00", "route": "slm-candidate", "prompt_tokens_p95": 1200,
           "completion_tokens_p95": 80, "response_kinds": {"tool_call": 1.0}}


def test_licence_allow_list_excludes_gemma_with_its_terms() -> None:
    cat = catalog_with(None)
    cfg = SelectConfig(licences=["Apache-2.0", "MIT"])
    assert "licence: Gemma terms" in exclusions(cat["gemma3-270m"], CLUSTER, cfg)
    assert not any(r.startswith("licence") for r in exclusions(cat["smollm2-135m"], CLUSTER, cfg))


def test_context_size_memory_commercial_and_native_tools_are_reasons() -> None:
    cat = catalog_with(None)
    long = {**CLUSTER, "prompt_tokens_p95": 9000, "completion_tokens_p95": 500}
    reasons = exclusions(cat["smollm2-135m"], long, SelectConfig())
    assert "context: p95 prompt + completion 9,500 tokens > 8,192" in reasons
    assert not any(r.startswith("context") for r in exclusions(cat["gemma3-270m"], long,
                                                                 SelectConfig()))
    cfg = SelectConfig(max_params_m=200, max_memory_mb=300, commercial_use=True,
                       native_tool_calls=True)
    gemma = exclusions(cat["gemma3-270m"], CLUSTER, cfg)
    assert "parameters: 268M > 200M" in gemma
    assert any(r.startswith("memory: 536 MB at bf16") for r in gemma)
    assert "tool calls: no native tool-call support" in gemma
    xlam = exclusions(cat["xlam2-1b"], CLUSTER, cfg)
    assert any("does not permit commercial use" in r for r in xlam)
    text_cluster = {**CLUSTER, "response_kinds": {"text": 1.0}}
    assert not any(r.startswith("tool calls") for r in exclusions(cat["gemma3-270m"],
                                                                    text_cluster, cfg))


def _call(i: int, words: int = 5) -> CallRecord:
    return CallRecord(source=f"t:{i}", messages=[
        Message(role="system", content="Classify the ticket."),
        Message(role="user", content=" ".join(["word"] * words) + f" {i}")],
        response=Message(role="assistant", content="billing")).with_id()


def test_few_shot_prompt_fits_the_budget_and_never_uses_the_call_itself() -> None:
    def count(text: str) -> int:
        return len(text.split())

    train = [_call(i) for i in range(5)]
    query = _call(99)
    built = few_shot_prompt(query, train + [query], 3, count, 10_000, random.Random(0))
    assert built is not None and built[1] == 3
    full = built[0]
    assert full.count("<|im_start|>system") == 4 and full.count("word 99") == 1
    tight = few_shot_prompt(query, train, 3, count, count(full) - 5, random.Random(0))
    assert tight is not None and tight[1] < 3 and tight[0].count("<|im_start|>system") < 4
    assert few_shot_prompt(_call(1, words=500), train, 2, count, 100, random.Random(0)) is None


# ------------------------------------------------------------- real models ----

def _selection(ws: Path) -> dict[str, Any]:
    return json.loads((ws / "select" / "selection.json").read_text())


@pytest.mark.slow
def test_demo_probes_both_packaged_models_on_every_candidate_cluster(
        demo_workspace: Path) -> None:
    sel = _selection(demo_workspace)
    clusters = json.loads((demo_workspace / "cluster/clusters.json").read_text())["clusters"]
    wanted = {c["id"] for c in clusters if c["route"] == "slm-candidate"}
    assert {c["id"] for c in sel["clusters"]} == wanted
    for cl in sel["clusters"]:
        by = {c["model"]: c for c in cl["candidates"]}
        for name in ("smollm2-135m", "gemma3-270m"):
            assert by[name]["status"] == "probed"
            probes = by[name]["probes"]
            assert probes[0]["shots"] == 0 and probes[0]["n"] > 0, (cl["id"], name)
            # a k-shot probe is skipped only when no example fits, and says so
            assert all(p["n"] > 0 or p.get("note") for p in probes), (cl["id"], name)
        assert by["qwen2.5-0.5b"]["status"] == "excluded"
        assert any(r.startswith("not on this machine") for r in by["qwen2.5-0.5b"]["reasons"])
        assert cl["chosen"] == [c["model"] for c in cl["candidates"] if c.get("chosen")]
        assert len(cl["chosen"]) == 2


@pytest.mark.slow
def test_random_weights_score_near_zero_where_smollm2_scores_higher(
        demo_workspace: Path, tmp_path: Path) -> None:
    """Probe scores come from real generation: the same calls, a random-weight model."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from slmconvert.core.models import prepare
    from slmconvert.pipeline.commands import run_stage_command

    tok = AutoTokenizer.from_pretrained(prepare("smollm2-135m").path)
    tiny_dir = tmp_path / "tiny"
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=8192, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id)
    import torch
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(tiny_dir)
    tok.save_pretrained(tiny_dir)
    ws = tmp_path / "ws"
    ws.mkdir()
    for stage in ("collect", "curate", "cluster"):
        shutil.copytree(demo_workspace / stage, ws / stage)
    tiny = {"kind": "causal-lm", "source": str(tiny_dir), "params_m": 0.1,
            "architecture": "llama", "licence": "MIT", "commercial_use": True,
            "context_length": 8192, "chat_template": False, "native_tool_calls": False,
            "sources": ["tests/test_select.py"]}
    demo = _selection(demo_workspace)  # SmolLM2's probe, same seeded calls and settings
    run_stage_command("select", {"candidates": ["tiny-random"], "models": {"tiny-random": tiny},
                                 "probe": demo["probe"]}, ws, force=True)
    tiny_best = {cl["id"]: cl["candidates"][0]["best"]["value"]
                 for cl in _selection(ws)["clusters"]}
    smol_best = {cl["id"]: next(c["best"]["value"] for c in cl["candidates"]
                                if c["model"] == "smollm2-135m") for cl in demo["clusters"]}
    assert tiny_best.keys() == smol_best.keys()
    assert max(tiny_best.values()) < 0.1, tiny_best
    assert sum(smol_best.values()) > sum(tiny_best.values()) + 0.2, (smol_best, tiny_best)


TOOLS = [{"type": "function", "function": {
    "name": "get_booking", "description": "Fetch a booking.",
    "parameters": {"type": "object", "properties": {"ref": {"type": "string"}},
                   "required": ["ref"]}}}]


@pytest.mark.parametrize(("output", "reason"), [
    ('<tool_call>{"name": "get_booking", "arguments": {"ref": "TM-', "truncated"),
    ('<tool_call>{"name": "cancel_all", "arguments": {}}</tool_call>', "unknown tool"),
    ('Sure! <tool_call>{"name": "get_booking", "arguments": {"ref": "TM-1"}}</tool_call>',
     "text around"),
])
def test_malformed_output_scores_invalid_with_its_reason(output: str, reason: str) -> None:
    """What the probe does with one answer: parse it, then score it; never an exception."""
    from slmconvert.core.records import ToolCall
    from slmconvert.evaluation.metrics import score_response
    from slmconvert.prompting.format import parse

    ref = Message(role="assistant", tool_calls=[ToolCall(name="get_booking",
                                                         arguments={"ref": "TM-1"})])
    parsed = parse(output, TOOLS)
    assert parsed.kind == "invalid" and reason in (parsed.reason or "")
    score = score_response(ref, parsed.message, TOOLS, parsed.reason)
    assert (score.value, score.correct, score.error) == (0.0, False, "invalid_output")
