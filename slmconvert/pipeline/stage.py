"""What a stage is: a config model, what it reads, and ``run(ctx, cfg)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from slmconvert.core.progress import NullReporter, Reporter


class StageConfig(BaseModel):
    """Base for every stage's config: unknown keys are errors, never silent defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StageContext:
    workspace: Path
    stage_dir: Path
    base_dir: Path = field(default_factory=Path.cwd)
    seed: int = 0
    reporter: Reporter = field(default_factory=NullReporter)

    def upstream_dir(self, stage: str) -> Path:
        return self.workspace / stage

    def resolve(self, path: str | Path) -> Path:
        """Resolve a path from the config relative to the pipeline file's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


@dataclass(frozen=True)
class Table:
    """One table of a stage's terminal summary, as data: the face renders it."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Report:
    """What a stage shows when run from the command line: tables and one-line notes."""

    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headline: list[str] = field(default_factory=list)  # repeated at the end of a pipeline run


@dataclass
class StageResult:
    counts: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] | None = None  # relative to stage_dir; None: every file written


class Stage:
    """Subclass per pipeline step. Class attributes describe it; ``run`` does the work.

    ``preserve`` names subdirectories of the stage dir that survive a rerun (for
    example fine-tuning checkpoints to resume from); everything else is cleared
    before the stage runs, so stale files never mix with new ones.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Config: ClassVar[type[StageConfig]] = StageConfig
    upstream: ClassVar[tuple[str, ...]] = ()
    preserve: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def inputs(self, ctx: StageContext, cfg: Any) -> list[Path]:
        """Files outside the workspace this stage reads; their content is in its key."""
        return []

    def run(self, ctx: StageContext, cfg: Any) -> StageResult:  # pragma: no cover
        raise NotImplementedError

    def report(self, counts: dict[str, Any], summary: dict[str, Any]) -> Report:
        """The terminal summary of a run (or of the manifest of a skipped one), as data."""
        return Report()
