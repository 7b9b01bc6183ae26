"""GGUF export: llama.cpp's converter (run from its own directory), the check that the
GGUF answers like the merged model, the Ollama Modelfile, and the errors a user sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slmconvert.core.records import CallRecord, Message
from slmconvert.errors import IntegrityError, ModelUnavailableError
from slmconvert.prompting.format import GENERATION_PREFIX, STOPS, TOOLS_INTRO, TOOLS_RULE
from slmconvert.training import export


def test_modelfile_points_at_the_gguf_and_decodes_greedily_to_the_end_marker() -> None:
    text = export.modelfile()
    lines = text.splitlines()
    assert "FROM ./model.gguf" in lines and "PARAMETER temperature 0" in lines
    assert [ln for ln in lines if ln.startswith("PARAMETER stop")] == [
        f'PARAMETER stop "{s}"' for s in STOPS]
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert template.endswith(GENERATION_PREFIX)
    for part in (TOOLS_INTRO, TOOLS_RULE, "<tool_response>{{ .Content }}</tool_response>",
                 '<tool_call>{"name":"{{ .Function.Name }}","arguments":'):
        assert part in template
    # Go template actions must balance, or `ollama create` rejects the file
    opened = sum(template.count(k) for k in ("{{ if", "{{- if", "{{ range", "{{- range"))
    assert opened == template.count("{{ end }}") + template.count("{{- end }}")


def test_a_missing_converter_names_the_make_target(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from slmconvert.cli import app

    monkeypatch.setenv(export.CONVERTER_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ModelUnavailableError, match="make gguf-converter"):
        export.converter_version()
    summary = tmp_path / "ws" / "finetune" / "finetune.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"units": [
        {"group": "c01", "clusters": ["c01"], "model": "smollm2-135m", "path": "c01/m"}]}))
    res = CliRunner().invoke(app, ["export", "-w", str(tmp_path / "ws"), "-c", "c01",
                                   "--format", "gguf"])
    assert res.exit_code == 6 and "make gguf-converter" in res.output
    bad = CliRunner().invoke(app, ["export", "-w", str(tmp_path / "ws"), "-c", "c01",
                                   "--format", "ggfu"])
    assert bad.exit_code == 2 and "did you mean 'gguf'" in bad.output


class _Tok:
    def __init__(self, shift: int = 0) -> None:
        self.shift = shift

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) + self.shift for c in text]


@pytest.mark.parametrize(("gguf_type", "answers", "tok_shift", "ok"), [
    ("f32", ["a", "b", "c", "d"], 0, True),
    ("f32", ["a", "b", "c", "x"], 0, False),   # lossless: every answer must match
    ("f16", ["a", "b", "c", "x"], 0, True),    # one near-tie flipped by rounding
    ("q8_0", ["a", "b", "x", "x"], 0, False),
    ("f16", ["a", "b", "c", "d"], 1, False),   # same answers, different tokenizer
])
def test_the_gguf_check_rule(monkeypatch: pytest.MonkeyPatch, gguf_type: str,
                             answers: list[str], tok_shift: int, ok: bool) -> None:
    def fake_greedy(*_: Any) -> list[str]:
        return answers

    monkeypatch.setattr(export, "_load_gguf", lambda *_: (None, _Tok(tok_shift)))
    monkeypatch.setattr(export, "_greedy", fake_greedy)
    calls = [CallRecord(source=f"t:{i}", messages=[Message(role="user", content=str(i))])
             .with_id() for i in range(4)]
    args = (Path("."), _Tok(), ["p1", "p2", "p3", "p4"], ["a", "b", "c", "d"], calls,
            gguf_type, 24)
    if not ok:
        with pytest.raises(IntegrityError, match="GGUF check failed"):
            export._compare(*args)
        return
    check = export._compare(*args)
    assert check["equal"] == sum(a == b for a, b in zip(answers, "abcd", strict=True))
    assert check["differ"] == [c.id for c, a, b in zip(calls, answers, "abcd", strict=True)
                               if a != b]


# ------------------------------------------------------------- the real demo ----

@pytest.mark.slow
def test_gguf_export_answers_like_the_merged_model(demo_workspace: Path,
                                                   tmp_path: Path) -> None:
    from gguf import GGMLQuantizationType, GGUFReader
    from typer.testing import CliRunner

    from slmconvert.cli import app

    summary = json.loads((demo_workspace / "finetune" / "finetune.json").read_text())
    unit = next(u for u in summary["units"] if u["model"] == "smollm2-135m")
    out = tmp_path / "gguf"
    res = CliRunner().invoke(app, ["export", "-w", str(demo_workspace),
                                   "-c", unit["clusters"][0], "-m", "smollm2-135m",
                                   "--format", "gguf", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "Modelfile", "README.md", "export.json", "model.gguf", "prompt_recipe.json"]
    record = json.loads((out / "export.json").read_text())
    check = record["verify"]
    # the demo's test prompts: f16 rounding flips none of the greedy answers
    assert check["prompts"] == 4 and check["equal"] == 4 and check["differ"] == []
    assert check["tokenization_equal"] == 4
    assert record["bytes"] == (out / "model.gguf").stat().st_size
    reader = GGUFReader(out / "model.gguf")
    assert reader.fields["general.architecture"].contents() == "llama"
    kinds = {t.tensor_type for t in reader.tensors}
    assert GGMLQuantizationType.F16 in kinds  # the matrices; norms stay f32
    assert (out / "Modelfile").read_text() == export.modelfile()
