"""One exception family for everything the user can act on, mapped to exit codes.

Exit codes (documented in docs/errors.md):
  0  success
  1  internal error (a bug: rerun with -v and report it)
  2  usage or configuration error (bad flag, bad pipeline YAML)
  3  input error (missing or unreadable input files)
  4  a stage failed while running
  5  integrity error (corrupted outputs, manifest mismatch, workspace busy)
  6  a model or optional component is not available offline on this machine
  7  a quality gate failed (evaluate --fail-under)
  130 interrupted
"""

from __future__ import annotations


class SlmconvertError(Exception):
    """Base class: a one-line message for the user, and an optional hint."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(SlmconvertError):
    exit_code = 2


class InputError(SlmconvertError):
    exit_code = 3


class StageError(SlmconvertError):
    exit_code = 4


class IntegrityError(SlmconvertError):
    exit_code = 5


class WorkspaceBusyError(IntegrityError):
    pass


class ModelUnavailableError(SlmconvertError):
    exit_code = 6


class QualityGateError(SlmconvertError):
    """The run worked but its result is below a bar the user set (``--fail-under``)."""

    exit_code = 7


EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "internal": 1,
    "config": ConfigError.exit_code,
    "input": InputError.exit_code,
    "stage": StageError.exit_code,
    "integrity": IntegrityError.exit_code,
    "model_unavailable": ModelUnavailableError.exit_code,
    "quality_gate": QualityGateError.exit_code,
    "interrupted": 130,
}


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """A ' (did you mean 'x'?)' suffix, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
