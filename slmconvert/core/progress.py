"""How stages report progress without knowing about terminals.

A stage receives a :class:`Reporter`; the CLI passes one that draws rich progress
bars, tests and library users get :class:`NullReporter` (or their own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Task(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def set_total(self, total: int | None) -> None: ...


class Reporter(Protocol):
    def task(
        self, description: str, total: int | None = None
    ) -> AbstractContextManager[Task]: ...

    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


class _NullTask:
    def advance(self, n: int = 1) -> None:
        pass

    def set_total(self, total: int | None) -> None:
        pass


class NullReporter:
    """Silent reporter; keeps messages so tests can look at them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        yield _NullTask()

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.messages.append("warning: " + message)
