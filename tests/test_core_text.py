"""core helpers shared by every layer: JSON sniffing and the email pattern."""

from __future__ import annotations

from typing import Any

import pytest

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
