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


def test_models_list_reports_offline_availability() -> None:
    result = CliRunner().invoke(app, ["--json", "models", "list"])
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["smollm2-135m"]["available"] == "yes"
    assert rows["minilm-l6-v2"]["available"] == "yes"
    assert rows["qwen2.5-0.5b"]["available"].startswith("no")


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
