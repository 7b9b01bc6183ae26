"""S5 finetune on the demo: SmolLM2 adapters for every trainable cluster, the prompt
recipe beside each, reuse of finished work, and the merged export round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from slmconvert.core.records import CallRecord, Message
from slmconvert.pipeline.stage import StageContext
from slmconvert.stages.finetune import FinetuneConfig, plan_groups

REPO = Path(__file__).resolve().parents[1]


def _demo_cfg() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "pipelines/demo.yaml").read_text())["stages"]["finetune"])


def _summary(ws: Path) -> dict[str, Any]:
    return dict(json.loads((ws / "finetune" / "finetune.json").read_text()))


def test_explicit_groups_are_checked_and_the_rest_train_alone(tmp_path: Path) -> None:
    from slmconvert.errors import ConfigError

    ctx = StageContext(workspace=tmp_path, stage_dir=tmp_path / "finetune")
    clusters = [{"id": f"c0{i}"} for i in range(4)]
    cfg = FinetuneConfig(groups=[["c00", "c02"]])
    assert plan_groups(ctx, cfg, clusters) == [["c00", "c02"], ["c01"], ["c03"]]
    assert plan_groups(ctx, FinetuneConfig(), clusters) == [[c["id"]] for c in clusters]
    with pytest.raises(ConfigError, match="c09 not a trainable cluster"):
        plan_groups(ctx, FinetuneConfig(groups=[["c00", "c09"]]), clusters)
    with pytest.raises(ConfigError, match="in two groups"):
        plan_groups(ctx, FinetuneConfig(groups=[["c00"], ["c00", "c01"]]), clusters)


def test_tool_groups_join_clusters_that_offer_the_same_tools(tmp_path: Path) -> None:
    from slmconvert.core.parquet import RecordWriter

    tools = [{"type": "function", "function": {"name": "find", "parameters": {}}}]
    for cid, offered in (("c00", tools), ("c01", []), ("c02", tools)):
        path = tmp_path / "cluster" / "splits" / cid / "train.parquet"
        path.parent.mkdir(parents=True)
        with RecordWriter(path) as w:
            w.write(CallRecord(source="t:1", tools=offered, messages=[
                Message(role="user", content=f"hello {cid}")]).with_id())
    ctx = StageContext(workspace=tmp_path, stage_dir=tmp_path / "finetune")
    groups = plan_groups(ctx, FinetuneConfig(groups="tools"),
                         [{"id": "c00"}, {"id": "c01"}, {"id": "c02"}])
    assert groups == [["c00", "c02"], ["c01"]]


# ------------------------------------------------------------- the real demo ----

@pytest.mark.slow
def test_demo_fine_tunes_smollm2_on_every_chosen_cluster_with_its_recipe(
        demo_workspace: Path) -> None:
    sel = json.loads((demo_workspace / "select" / "selection.json").read_text())
    summary = _summary(demo_workspace)
    units = summary["units"]
    smol = {c for u in units if u["model"] == "smollm2-135m" for c in u["clusters"]}
    assert smol == {c["id"] for c in sel["clusters"]
                    if c["chosen"] and c["chosen"][0] == "smollm2-135m"}
    firsts = {(c["id"], c["chosen"][0]) for c in sel["clusters"] if c["chosen"]}
    trained = {(c, u["model"]) for u in units for c in u["clusters"]}
    assert firsts <= trained and any(m != "smollm2-135m" for _, m in firsts)
    for u in units:
        d = demo_workspace / "finetune" / u["path"]
        for name in ("adapter/adapter_config.json", "prompt_recipe.json", "train_log.jsonl",
                     "model_card.md", "result.json"):
            assert (d / name).exists(), (u["path"], name)
        assert u["data"]["used"] + sum(u["data"]["dropped"].values()) == u["data"]["offered"]
        assert u["data"]["tokens_after"]["mean"] <= u["data"]["tokens_before"]["mean"]
        assert u["result"]["steps"] > 0 and u["result"]["tokens_per_s"] > 0
        card = (d / "model_card.md").read_text()
        assert u["model"] in card and "--lora-modules" in card
    tool_units = [u for u in units if u["recipe"]["pruned_tools"]]
    assert tool_units, "the tool-calling cluster's schemas are pruned"
    for u in tool_units:
        assert u["data"]["tokens_after"]["mean"] < 0.75 * u["data"]["tokens_before"]["mean"]
    for u in units:  # every adapter is closer to the LLM than its base on held-out calls
        for s in u["scores"]:
            assert s["nll_calls"] > 0 and s["adapter_nll"] < s["base_nll"], (u["group"], s)
    scored = {s["cluster"] for u in units for s in u["scores"]}
    assert scored == {c for u in units for c in u["clusters"]}


@pytest.mark.slow
def test_a_forced_rerun_reuses_every_finished_adapter(demo_workspace: Path,
                                                      tmp_path: Path) -> None:
    from slmconvert.pipeline.commands import run_stage_command

    ws = tmp_path / "ws"
    shutil.copytree(demo_workspace, ws)
    before = _summary(ws)
    run_stage_command("finetune", _demo_cfg(), ws, force=True)
    after = _summary(ws)
    assert [u["reused"] for u in after["units"]] == [True] * len(before["units"])
    assert [u["key"] for u in after["units"]] == [u["key"] for u in before["units"]]
    manifest = json.loads((ws / "finetune" / "manifest.json").read_text())
    assert manifest["counts"]["trained"] == 0


@pytest.mark.slow
def test_merged_export_answers_like_base_plus_adapter(demo_workspace: Path,
                                                      tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from slmconvert.cli import app
    from slmconvert.core.models import prepare
    from slmconvert.core.parquet import iter_records
    from slmconvert.evaluation.answer import load_adapter, prompt_for
    from slmconvert.prompting.generate import Generator
    from slmconvert.prompting.recipe import PromptRecipe

    unit = next(u for u in _summary(demo_workspace)["units"] if u["model"] == "smollm2-135m")
    cid = unit["clusters"][0]
    out = tmp_path / "merged"
    res = CliRunner().invoke(app, ["export", "-w", str(demo_workspace), "-c", cid,
                                   "-m", "smollm2-135m", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "model.safetensors").exists() and (out / "prompt_recipe.json").exists()
    recipe = PromptRecipe.load(out / "prompt_recipe.json")
    calls = list(iter_records(demo_workspace / "cluster" / "splits" / cid / "val.parquet"))[:3]
    merged, tok = load_adapter(out, None)
    tuned, tok2 = load_adapter(prepare("smollm2-135m").path,
                               demo_workspace / "finetune" / unit["path"] / "adapter")
    prompts = [prompt_for(c, recipe, tok) for c in calls]
    a = [g.text for g in Generator(merged, tok, max_new_tokens=32).generate(prompts)]
    b = [g.text for g in Generator(tuned, tok2, max_new_tokens=32).generate(prompts)]
    assert a == b
    bad = CliRunner().invoke(app, ["export", "-w", str(demo_workspace), "-c", "c99"])
    assert bad.exit_code != 0 and "no adapter for cluster c99" in bad.output
