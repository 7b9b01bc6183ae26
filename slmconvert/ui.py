"""All terminal output: the one module that imports rich.

Results go to stdout (as a table, or as JSON with --json); progress, notes and
errors go to stderr, so `slmconvert ... --json | jq` always sees clean JSON.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from slmconvert.core.progress import Task


@dataclass
class State:
    verbose: bool = False
    json: bool = False


state = State()
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else escape(str(v)) for v in r))
    out.print(t)


def line(message: str) -> None:
    out.print(escape(message))


def note(message: str) -> None:
    err.print(escape(message), style="dim")


def success(message: str) -> None:
    err.print(f"[green]✓[/green] {escape(message)}")


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(message)}")


def error(message: str, hint: str | None = None) -> None:
    for i, text in enumerate(message.splitlines() or [""]):
        err.print(f"[bold red]error:[/bold red] {escape(text)}" if i == 0 else escape(text))
    if hint:
        err.print(f"[cyan]hint:[/cyan] {escape(hint)}")


def internal_error(exc: BaseException) -> None:
    """A bug: one line by default; with -v the traceback, never with local variables."""
    if state.verbose:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    error(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
          hint=None if state.verbose else "rerun with -v for the traceback")


class _RichTask:
    def __init__(self, progress: Progress, task_id: Any) -> None:
        self._p, self._id = progress, task_id

    def advance(self, n: int = 1) -> None:
        self._p.advance(self._id, n)

    def set_total(self, total: int | None) -> None:
        self._p.update(self._id, total=total)


class _JsonTask:
    """With --json: progress as JSON lines on stderr, at most one a second per task."""

    def __init__(self, description: str, total: int | None) -> None:
        self.description, self.total, self.done = description, total, 0
        self.t0 = self.last = time.monotonic()

    def _emit(self, event: str) -> None:
        now = time.monotonic()
        rate = self.done / (now - self.t0) if now > self.t0 else 0.0
        eta = (self.total - self.done) / rate if self.total and rate else None
        sys.stderr.write(json.dumps({
            "event": event, "task": self.description, "done": self.done, "total": self.total,
            "elapsed_s": round(now - self.t0, 1),
            "eta_s": round(eta, 1) if eta is not None else None}) + "\n")
        sys.stderr.flush()
        self.last = now

    def advance(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self.last >= 1.0:
            self._emit("progress")

    def set_total(self, total: int | None) -> None:
        self.total = total


class ConsoleReporter:
    """Progress bars on stderr when it is a terminal; plain notes otherwise (CI logs);
    JSON lines on stderr with --json."""

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        if state.json:
            jt = _JsonTask(description, total)
            jt._emit("start")
            yield jt
            jt._emit("done")
            return
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=err, transient=True,
                      disable=not err.is_terminal) as progress:
            task_id = progress.add_task(description, total=total)
            yield _RichTask(progress, task_id)

    def info(self, message: str) -> None:
        note(message)

    def warn(self, message: str) -> None:
        warn(message)
