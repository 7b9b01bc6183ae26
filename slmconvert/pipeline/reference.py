"""Generate docs/config.md from the pydantic models, so the docs cannot drift.

    python -m slmconvert.pipeline.reference > docs/config.md
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from slmconvert.pipeline import registry
from slmconvert.pipeline.config import PipelineFile


def _type_name(ann: Any) -> str:
    text = ann.__name__ if isinstance(ann, type) else str(ann)
    return text.replace("typing.", "").replace("NoneType", "None").replace("|", "\\|")


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory else field.default
    if isinstance(value, BaseModel):
        return "see below" if type(value).model_fields else "`{}`"
    text = repr(value)
    return f"`{text}`" if len(text) <= 60 else f"built-in ({len(value)} entries)"


def model_table(model: type[BaseModel]) -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |")
    return lines


def config_reference() -> str:
    out = [
        "# Configuration reference",
        "",
        "Generated from the pydantic models by `python -m slmconvert.pipeline.reference`; "
        "a test fails when this file is out of date. Unknown keys are errors.",
        "",
        "## Pipeline file (top level)",
        "",
        *model_table(PipelineFile),
    ]
    for name in registry.names():
        stage = registry.get(name)
        out += ["", f"## `stages.{name}`", ""]
        if stage.description:
            out += [stage.description, ""]
        out += model_table(stage.Config)
        for fname, field in stage.Config.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                out += ["", f"### `stages.{name}.{fname}`", "", *model_table(ann)]
    from slmconvert.pipeline.iterate import IterateConfig

    out += ["", "## `slmconvert iterate --config FILE`", "",
            "Not a pipeline stage: a YAML file of its own, optionally nested under "
            "`iterate:` (docs/iterate.md).", "", *model_table(IterateConfig)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(config_reference(), end="")
