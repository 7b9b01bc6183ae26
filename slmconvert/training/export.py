"""Export a fine-tuned adapter as a standalone checkpoint: the base model with the LoRA
weights merged in (safetensors), its tokenizer, and the prompt recipe beside it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from slmconvert.core.fsio import atomic_dir, write_text_atomic
from slmconvert.prompting.format import FORMAT, STOP
from slmconvert.prompting.recipe import RECIPE_FILE


def merge(base: Path | str, adapter: Path | str) -> tuple[Any, Any]:
    """(merged model, tokenizer): the adapter's weights folded into the base model."""
    from slmconvert.evaluation.answer import load_adapter

    model, tokenizer = load_adapter(base, adapter)
    return model.merge_and_unload(), tokenizer


def export_merged(base: Path | str, unit_dir: Path, out: Path) -> Path:
    """Write ``out`` (safetensors model, tokenizer, prompt_recipe.json, README.md)."""
    model, tokenizer = merge(base, unit_dir / "adapter")
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if (unit_dir / RECIPE_FILE).exists():
            shutil.copy2(unit_dir / RECIPE_FILE, tmp / RECIPE_FILE)
        write_text_atomic(tmp / "README.md", _readme(unit_dir))
    return out


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
