"""Docs cannot drift: the config reference is generated, every field is described."""

from __future__ import annotations

from pathlib import Path

from slmconvert.pipeline import registry
from slmconvert.pipeline.config import PipelineFile
from slmconvert.pipeline.reference import config_reference

REPO = Path(__file__).parent.parent


def test_config_reference_is_up_to_date() -> None:
    assert (REPO / "docs/config.md").read_text() == config_reference(), (
        "run: python -m slmconvert.pipeline.reference > docs/config.md")


def test_every_config_field_has_a_description() -> None:
    from slmconvert.pipeline.iterate import IterateConfig

    models = [PipelineFile, IterateConfig] + [registry.get(n).Config for n in registry.names()]
    for model in models:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_readme_set_up_is_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_iterate_docs_cover_every_threshold_and_exit_code() -> None:
    from slmconvert.pipeline import iterate

    text = (REPO / "docs/iterate.md").read_text()
    for name in iterate.IterateConfig.model_fields:
        assert f"`{name}`" in text, name
    errors = (REPO / "docs/errors.md").read_text()
    for code in (iterate.EXIT_NOTHING, iterate.EXIT_CHANGED, iterate.EXIT_ATTENTION):
        assert f"| {code} " in text and (code == 0 or f"| {code} " in errors), code


def test_curate_docs_name_every_recognizer() -> None:
    """`pii.recognizers` selects rules by name: the catalogue in docs/curate.md lists them."""
    from slmconvert.pii.recognizers import RULES

    text = (REPO / "docs/curate.md").read_text()
    catalogue = text[text.index("our recognizers ("):text.index("`person_proper_noun`")]
    assert [n for n in RULES if f"`{n}`" not in catalogue] == []
