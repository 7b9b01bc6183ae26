"""Run stages in order, skip what is up to date, and record what ran.

A stage's key hashes (stage, version, params, seed, input file hashes, and for each
upstream stage its key and the digest of its outputs). Same key and outputs intact:
skipped. The manifest is removed before a stage runs and written last, so a stage
killed half-way has none and is redone next time.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from slmconvert.core.fsio import ensure_private_dir, is_temp_name
from slmconvert.core.hashing import sha256_json
from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.errors import ConfigError, SlmconvertError, StageError, WorkspaceBusyError
from slmconvert.pipeline import manifest as mf
from slmconvert.pipeline.config import Pipeline
from slmconvert.pipeline.stage import Stage, StageConfig, StageContext

State = Literal["up-to-date", "stale", "not-run", "blocked"]


@dataclass
class KeyParts:
    stage: str
    version: str
    params: dict[str, Any]
    seed: int
    inputs: list[dict[str, Any]]
    upstream: dict[str, dict[str, str]]

    @property
    def key(self) -> str:
        return sha256_json(
            {
                "stage": self.stage,
                "version": self.version,
                "params": self.params,
                "seed": self.seed,
                "inputs": [(i["path"], i["sha256"]) for i in self.inputs],
                "upstream": self.upstream,
            }
        )


@dataclass
class StageStatus:
    name: str
    state: State
    reason: str
    key: str | None = None
    manifest: dict[str, Any] | None = None


@dataclass
class Outcome:
    name: str
    action: Literal["ran", "skipped"]
    reason: str
    duration_s: float = 0.0
    counts: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    key: str = ""


class StageFailed(StageError):
    """A stage raised; ``stage`` is where to resume from."""

    def __init__(self, stage: str, message: str, exit_code: int = StageError.exit_code) -> None:
        super().__init__(message)
        self.stage = stage
        self.exit_code = exit_code  # an input or config problem keeps its own exit code


def _explain(old: dict[str, Any] | None, new: KeyParts) -> str:
    if old is None:
        return "never ran"
    if old.get("stage_version") != new.version:
        return f"stage version changed ({old.get('stage_version')} -> {new.version})"
    if old.get("params") != new.params:
        changed = sorted(
            k for k in set(old.get("params", {})) | set(new.params)
            if old.get("params", {}).get(k) != new.params.get(k)
        )
        return f"params changed: {', '.join(changed)}"
    if old.get("seed") != new.seed:
        return "seed changed"
    old_inputs = {i["path"]: i["sha256"] for i in old.get("inputs", [])}
    new_inputs = {i["path"]: i["sha256"] for i in new.inputs}
    if old_inputs != new_inputs:
        names = sorted(p for p in set(old_inputs) | set(new_inputs)
                       if old_inputs.get(p) != new_inputs.get(p))
        more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
        return f"inputs changed: {', '.join(names[:3])}{more}"
    for up, val in new.upstream.items():
        if old.get("upstream", {}).get(up) != val:
            return f"upstream '{up}' changed"
    return "key changed"


@contextmanager
def lock_workspace(workspace: Path) -> Iterator[None]:
    """Hold the workspace's lock: one slmconvert process writes into it at a time."""
    ws = ensure_private_dir(workspace)
    fd = os.open(ws / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceBusyError(
                f"workspace {ws} is in use by another slmconvert process"
            ) from None
        yield
    finally:
        os.close(fd)


class Runner:
    def __init__(self, pipeline: Pipeline, reporter: Reporter | None = None) -> None:
        self.pipeline = pipeline
        self.reporter: Reporter = reporter or NullReporter()

    # ------------------------------------------------------------------ helpers --
    def context(self, stage: Stage) -> StageContext:
        ws = self.pipeline.workspace
        return StageContext(
            workspace=ws,
            stage_dir=ws / stage.name,
            base_dir=self.pipeline.base_dir,
            seed=self.pipeline.seed,
            reporter=self.reporter,
        )

    def key_parts(self, stage: Stage, cfg: StageConfig) -> KeyParts | str:
        """The stage's key components, or a reason why an upstream is not there."""
        ctx = self.context(stage)
        upstream: dict[str, dict[str, str]] = {}
        for up in stage.upstream:
            m = mf.read(ctx.upstream_dir(up))
            if m is None:
                return f"needs '{up}', which has not run in this workspace"
            upstream[up] = {"key": m["key"], "outputs": m["outputs_digest"]}
        inputs = []
        for p in stage.inputs(ctx, cfg):
            try:
                rel = p.resolve().relative_to(ctx.base_dir.resolve()).as_posix()
            except ValueError:
                rel = str(p.resolve())
            inputs.append(mf.file_entry(p, rel))
        return KeyParts(
            stage=stage.name,
            version=stage.version,
            params=cfg.model_dump(mode="json"),
            seed=self.pipeline.seed,
            inputs=inputs,
            upstream=upstream,
        )

    def locked(self) -> Any:
        return lock_workspace(self.pipeline.workspace)

    # ------------------------------------------------------------------- status --
    def status(self) -> list[StageStatus]:
        result: list[StageStatus] = []
        stale: set[str] = set()
        for stage, cfg in self.pipeline.stages:
            stage_dir = self.pipeline.workspace / stage.name
            old = mf.read(stage_dir)
            behind = [u for u in stage.upstream if u in stale]
            parts = self.key_parts(stage, cfg)
            if isinstance(parts, str):
                result.append(StageStatus(stage.name, "blocked", parts))
                stale.add(stage.name)
                continue
            key = parts.key
            if behind:
                st = StageStatus(stage.name, "stale", f"upstream '{behind[0]}' is not up to date",
                                 key, old)
            elif old is None:
                st = StageStatus(stage.name, "not-run", "never ran", key)
            elif old["key"] != key:
                st = StageStatus(stage.name, "stale", _explain(old, parts), key, old)
            elif problem := mf.verify(stage_dir, old):
                st = StageStatus(stage.name, "stale", problem, key, old)
            else:
                st = StageStatus(stage.name, "up-to-date", "key unchanged, outputs verified",
                                 key, old)
            if st.state != "up-to-date":
                stale.add(stage.name)
            result.append(st)
        return result

    # ---------------------------------------------------------------------- run --
    def select(self, from_: str | None, only: str | None) -> list[tuple[Stage, StageConfig]]:
        names = self.pipeline.stage_names()
        for flag, value in (("--from", from_), ("--only", only)):
            if value is not None and value not in names:
                from slmconvert.errors import did_you_mean

                raise ConfigError(
                    f"{flag} {value}: not a stage of {self.pipeline.path.name}"
                    f"{did_you_mean(value, names)}; stages: {', '.join(names)}"
                )
        if only is not None:
            return [s for s in self.pipeline.stages if s[0].name == only]
        if from_ is not None:
            return self.pipeline.stages[names.index(from_):]
        return list(self.pipeline.stages)

    def run(self, *, from_: str | None = None, only: str | None = None, force: bool = False,
            on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        outcomes = []
        with self.locked():
            for stage, cfg in self.select(from_, only):
                outcomes.append(self.run_stage(stage, cfg, force=force))
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
        return outcomes

    def run_stage(self, stage: Stage, cfg: StageConfig, *, force: bool = False) -> Outcome:
        ctx = self.context(stage)
        try:
            parts = self.key_parts(stage, cfg)
        except SlmconvertError as exc:
            raise StageFailed(stage.name, f"{stage.name}: {exc.message}", exc.exit_code) from exc
        if isinstance(parts, str):
            raise StageFailed(stage.name, f"{stage.name}: {parts}")
        old = mf.read(ctx.stage_dir)
        if old is not None and old["key"] == parts.key and not force:
            problem = mf.verify(ctx.stage_dir, old)
            if problem is None:
                return Outcome(stage.name, "skipped", "up to date (key unchanged, outputs "
                               "verified)", counts=old.get("counts", {}), key=parts.key,
                               summary=old.get("summary", {}))
            reason = problem
        else:
            reason = "forced" if force else _explain(old, parts)

        self._clear(ctx.stage_dir, stage.preserve)
        self.reporter.info(f"{stage.name}: running ({reason})")
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            result = stage.run(ctx, cfg)
        except SlmconvertError as exc:
            raise StageFailed(stage.name, f"{stage.name}: {exc.message}", exc.exit_code) from exc
        except Exception as exc:  # a bug in the stage: still say how to resume
            raise StageFailed(stage.name, f"{stage.name}: internal error: "
                              f"{type(exc).__name__}: {exc}") from exc
        duration = time.perf_counter() - t0

        rels = result.outputs if result.outputs is not None else mf.list_outputs(
            ctx.stage_dir, stage.preserve)
        outputs = [mf.file_entry(ctx.stage_dir / r, r) for r in rels]
        mf.write(ctx.stage_dir, {
            "schema": mf.SCHEMA_VERSION,
            "stage": stage.name,
            "stage_version": stage.version,
            "key": parts.key,
            "params": parts.params,
            "seed": parts.seed,
            "inputs": parts.inputs,
            "upstream": parts.upstream,
            "outputs": outputs,
            "outputs_digest": mf.outputs_digest(outputs),
            "counts": result.counts,
            "summary": result.summary,
            "versions": mf.library_versions(),
            "command": mf.command_line(),
            "started_at": started.isoformat(timespec="seconds"),
            "duration_s": round(duration, 3),
        })
        return Outcome(stage.name, "ran", reason, duration, result.counts, result.summary,
                       parts.key)

    @staticmethod
    def _clear(stage_dir: Path, preserve: tuple[str, ...]) -> None:
        """Remove the old manifest first, then every other file except preserved dirs."""
        (stage_dir / mf.MANIFEST).unlink(missing_ok=True)
        ensure_private_dir(stage_dir)
        for child in stage_dir.iterdir():
            if child.name in preserve and not is_temp_name(child.name):
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
