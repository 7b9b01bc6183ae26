"""core helpers shared by every layer: JSON sniffing, the email pattern, path labels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from slmconvert.core.fsio import path_label
from slmconvert.core.text import EMAIL_PATTERN, EMAIL_RE, sniff_json


@pytest.mark.parametrize(("text", "value"), [
    ('{"a": 1}', {"a": 1}),
    ('  \n[1, {"b": null}]\t', [1, {"b": None}]),
    ("{}", {}),
    ("[]", []),
    ("plain prose", None),
    ("", None),
    ("   ", None),
    ("42", None),  # JSON, but not an object or array
    ('"quoted"', None),
    ("true", None),
    ('{"a": 1', None),  # looks like JSON, is not
    ("[1, 2] trailing", None),
    ("{not json at all}", None),
    ("[" * 100_000, None),  # too deep for the parser: None, not RecursionError
])
def test_sniff_json(text: str, value: Any) -> None:
    assert sniff_json(text) == value


@pytest.mark.parametrize(("text", "found"), [
    ("write to anna.berg+x@mail.example.org today", ["anna.berg+x@mail.example.org"]),
    ("ops@example.com, b_2@sub.domain.co.uk.", ["ops@example.com", "b_2@sub.domain.co.uk"]),
    ("<ops@example.com>", ["ops@example.com"]),
    ("user@localhost", []),  # no dotted domain
    ("a@b.c", []),  # one-letter top-level domain
    ("v1.2@3.4", []),  # numbers, not an address
    ("@handle and name@", []),
    ("x@example.com-foo", []),  # glued to more domain characters
])
def test_email_pattern(text: str, found: list[str]) -> None:
    assert EMAIL_RE.findall(text) == found


def test_email_pattern_embeds_in_larger_patterns() -> None:
    import re

    display = re.compile(rf"(?P<name>[A-Z][a-z]+) <{EMAIL_PATTERN}>")
    m = display.search("From: Camille <c.d@example.org>")
    assert m is not None and m["name"] == "Camille"


BASE = "/srv/project/pipelines"


@pytest.mark.parametrize(("path", "label"), [
    ("logs/a.jsonl", "logs/a.jsonl"),
    ("./logs/./a.jsonl", "logs/a.jsonl"),
    ("../x/../sample_logs/a.jsonl", "../sample_logs/a.jsonl"),
    ("../pipelines/logs/a.jsonl", "logs/a.jsonl"),  # out and back in: folded
    ("../../../../../data/a.jsonl", "../../../data/a.jsonl"),  # cannot climb above /
    (f"{BASE}/logs/../logs/a.jsonl", "logs/a.jsonl"),  # absolute under base: relative
    ("/data/x/../logs/a.jsonl", "/data/logs/a.jsonl"),  # absolute elsewhere: absolute
    ("/srv/project/pipelines-old/a.jsonl", "/srv/project/pipelines-old/a.jsonl"),
])
def test_path_label(path: str, label: str) -> None:
    assert path_label(path, BASE) == label


def test_path_label_does_not_follow_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real" / "deep").mkdir(parents=True)
    os.symlink(tmp_path / "real" / "deep", tmp_path / "link")
    # Lexical: link/.. is the base directory, whatever the link points at.
    assert path_label("link/../a.jsonl", tmp_path) == "a.jsonl"
    assert path_label(tmp_path / "link" / "a.jsonl", tmp_path) == "link/a.jsonl"
