"""CLI skeleton: help is instant and imports nothing heavy; errors are one line."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from slmconvert import __version__
from slmconvert.cli import app

HEAVY = ("torch", "transformers", "presidio_analyzer", "sentence_transformers", "spacy",
         "peft", "trl", "datasets", "sklearn")


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from slmconvert.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "Usage" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_every_command_has_help() -> None:
    cli = CliRunner()
    for args in (["--help"], ["run", "--help"], ["status", "--help"], ["models", "--help"],
                 ["models", "list", "--help"], ["models", "prepare", "--help"]):
        result = cli.invoke(app, args)
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"slmconvert {__version__}"


def test_missing_pipeline_is_a_config_error() -> None:
    result = CliRunner().invoke(app, ["run", "nope.yaml"])
    assert result.exit_code == 2
    assert "nope.yaml: pipeline file not found" in result.output


def test_internal_errors_are_one_line_and_never_show_locals(tmp_path, monkeypatch) -> None:
    from slmconvert.pipeline import commands

    def broken(*args, **kwargs):
        secret_value = "sk-live-DO-NOT-PRINT"  # noqa: F841  (a local that must not leak)
        raise KeyError("boom")

    monkeypatch.setattr(commands, "show_status", broken)
    cli = CliRunner()
    result = cli.invoke(app, ["status", "x.yaml"])
    assert result.exit_code == 1
    assert "internal error: KeyError" in result.output
    assert "Traceback" not in result.output
    verbose = cli.invoke(app, ["-v", "status", "x.yaml"])
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.output
    assert "sk-live-DO-NOT-PRINT" not in verbose.output


def test_usage_errors_exit_2() -> None:
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2


def test_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "slmconvert", "--version"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
