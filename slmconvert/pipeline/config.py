"""Pipeline YAML: what to run. Validated strictly; errors name the file, line and key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slmconvert.errors import ConfigError, did_you_mean
from slmconvert.pipeline import registry
from slmconvert.pipeline.stage import Stage, StageConfig


class PipelineFile(BaseModel):
    """Top level of a pipeline YAML file."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="A name for the pipeline, shown in reports.")
    workspace: str = Field(
        description="Workspace directory; a relative path is relative to the pipeline file."
    )
    seed: int = Field(0, ge=0, description="Seed for every random choice in every stage.")
    stages: dict[str, dict[str, Any] | None] = Field(
        description="Stages to run, by name, each with its settings (empty for defaults). "
        "They run in pipeline order whatever order they are written in."
    )


@dataclass
class Pipeline:
    path: Path
    name: str
    workspace: Path
    seed: int
    stages: list[tuple[Stage, StageConfig]]
    base: Path | None = None  # where relative paths start; default: the file's directory

    @property
    def base_dir(self) -> Path:
        return self.base or self.path.parent

    def stage_names(self) -> list[str]:
        return [s.name for s, _ in self.stages]


def _yaml_marks(text: str) -> Any:
    import yaml

    try:
        return yaml.compose(text)
    except yaml.YAMLError:
        return None


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    import yaml

    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(
            node.value
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return None
    return model


def format_validation_error(
    exc: ValidationError, path: Path, model: type[BaseModel], prefix: tuple[Any, ...],
    tree: Any,
) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        full = prefix + loc
        where = ".".join(str(p) for p in full)
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            choices = list(parent.model_fields) if parent else []
            msg = f"unknown key{did_you_mean(str(loc[-1]), choices)}"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = f"{err['msg']} (got {err.get('input')!r:.60})"
        line = _line_of(tree, full)
        lines.append(f"{path}{f':{line}' if line else ''}: {where}: {msg}")
    return lines


def load_pipeline(path: Path, *, workspace: Path | None = None,
                  seed: int | None = None) -> Pipeline:
    """Read and validate a pipeline file; command-line values override the file."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: pipeline file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read pipeline file ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'workspace' and 'stages' at the top")
    tree = _yaml_marks(text)
    try:
        top = PipelineFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(format_validation_error(exc, path, PipelineFile, (), tree)))\
            from None

    errors: list[str] = []
    stages: list[tuple[Stage, StageConfig]] = []
    known = registry.names()
    for name in top.stages:
        if name not in known:
            line = _line_of(tree, ("stages", name))
            errors.append(f"{path}{f':{line}' if line else ''}: stages.{name}: unknown stage"
                          f"{did_you_mean(name, known)}; known: {', '.join(known)}")
    for name in known:
        if name not in top.stages:
            continue
        stage = registry.get(name)
        try:
            cfg = stage.Config.model_validate(top.stages[name] or {})
        except ValidationError as exc:
            errors += format_validation_error(exc, path, stage.Config, ("stages", name), tree)
            continue
        stages.append((stage, cfg))
    if errors:
        raise ConfigError("\n".join(errors))

    base = path.resolve().parent
    ws = workspace if workspace is not None else Path(top.workspace).expanduser()
    if not ws.is_absolute():
        ws = ((base / ws) if workspace is None else ws).resolve()
    return Pipeline(
        path=path.resolve(),
        name=top.name or path.stem,
        workspace=ws,
        seed=top.seed if seed is None else seed,
        stages=stages,
    )
