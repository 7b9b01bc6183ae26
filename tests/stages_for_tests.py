"""Two small real stages for runner tests: `make` reads a text file, `shout` uppercases it.

`make` can be told to stop half-way (after writing part of its output) and wait to be
killed, to test recovery from kill -9.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field

from slmconvert.core.fsio import write_text_atomic
from slmconvert.errors import InputError
from slmconvert.pipeline import registry
from slmconvert.pipeline.stage import Stage, StageConfig, StageContext, StageResult


class MakeConfig(StageConfig):
    source: str = Field("input.txt", description="Text file to read.")
    repeat: int = Field(1, ge=1, description="Repeat every line this many times.")
    hang_after_partial: bool = Field(False, description="Write a partial file, then hang.")


class MakeStage(Stage):
    name = "make"
    Config = MakeConfig

    def inputs(self, ctx: StageContext, cfg: MakeConfig) -> list[Path]:
        path = ctx.resolve(cfg.source)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        return [path]

    def run(self, ctx: StageContext, cfg: MakeConfig) -> StageResult:
        lines = ctx.resolve(cfg.source).read_text().splitlines()
        out = [line for line in lines for _ in range(cfg.repeat)]
        if cfg.hang_after_partial:
            (ctx.stage_dir / "partial.txt").write_text("\n".join(out[:1]))
            (ctx.workspace / "READY").write_text("x")
            time.sleep(600)
        write_text_atomic(ctx.stage_dir / "lines.txt", "\n".join(out) + "\n")
        return StageResult(counts={"in": len(lines), "out": len(out)})


class ShoutConfig(StageConfig):
    suffix: str = Field("!", description="Appended to each line.")


class ShoutStage(Stage):
    name = "shout"
    Config = ShoutConfig
    upstream = ("make",)

    def run(self, ctx: StageContext, cfg: ShoutConfig) -> StageResult:
        if cfg.suffix == "boom":
            raise InputError("shout was told to fail")
        lines = (ctx.upstream_dir("make") / "lines.txt").read_text().splitlines()
        write_text_atomic(ctx.stage_dir / "shout.txt",
                          "\n".join(line.upper() + cfg.suffix for line in lines) + "\n")
        return StageResult(counts={"in": len(lines), "out": len(lines)})


def register() -> None:
    registry.register(MakeStage)
    registry.register(ShoutStage)


def unregister() -> None:
    registry.unregister("make")
    registry.unregister("shout")
