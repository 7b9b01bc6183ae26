"""The second NER opinion on names (pii.second_opinion_model): people only the second
model sees are scrubbed when they are shaped like a name, and nothing else is.

Every sentence here is written for these tests."""

from __future__ import annotations

import pytest

from slmconvert.errors import ModelUnavailableError
from slmconvert.pii import recognizers as rec
from slmconvert.pii.analyzer import second_opinion_model
from slmconvert.pii.config import SECOND_OPINION_DEFAULT, PiiConfig
from slmconvert.pii.scrubber import Scrubber

needs_model = pytest.mark.skipif(  # the fixtures skip too
    second_opinion_model(PiiConfig()) is None,
    reason=f"{SECOND_OPINION_DEFAULT} is not installed (make setup installs it)")


def test_an_explicit_second_model_that_is_not_installed_is_an_error() -> None:
    with pytest.raises(ModelUnavailableError, match="drop pii.second_opinion_model"):
        second_opinion_model(PiiConfig(second_opinion_model="no_such_spacy_model"))


@pytest.mark.parametrize(("word", "ok"), [
    ("Anna", True), ("Иван", True), ("Łukasz", True), ("O'Neill", True), ("McKay", True),
    ("Jean-Luc", True), ("J.", True), ("ANNA", False), ("łódź", False), ("иван", False),
    ("TestRunner", False), ("ORDER_BY", False), ("R2", False),
    ("Machado", True), ("Mcandrew", True), ("MacLeod", True), ("McdonalD", False),
])
def test_a_title_case_name_word_in_any_script_with_case(word: str, ok: bool) -> None:
    assert rec.title_name_word(word) is ok


@pytest.fixture(scope="module")
def both() -> Scrubber:
    if second_opinion_model(PiiConfig()) is None:
        pytest.skip(f"{SECOND_OPINION_DEFAULT} is not installed (make setup installs it)")
    return Scrubber(PiiConfig())


@pytest.fixture(scope="module")
def first_only() -> Scrubber:
    return Scrubber(PiiConfig(second_opinion_model=None))


def persons(scrubber: Scrubber, text: str) -> list[str]:
    return [text[s.start:s.end] for s in scrubber.scrub_text(text)[1] if s.entity == "PERSON"]


@pytest.mark.parametrize(("text", "name"), [
    ("I am writing on behalf of Thorvald Kovac regarding the lease.", "Thorvald Kovac"),
    ("The parcel for Ottilie Obi is at the depot.", "Ottilie Obi"),
    ("cc: Ottilie Obi", "Ottilie Obi"),
])
def test_a_name_only_the_second_model_sees_is_scrubbed(both: Scrubber, first_only: Scrubber,
                                                       text: str, name: str) -> None:
    assert name not in persons(first_only, text)  # what the second opinion is for
    assert name in persons(both, text)
    assert name not in both.scrub_text(text)[0]


@pytest.mark.parametrize("text", [
    "Escalated by Teodora from the Lisbon office.",  # an inflected verb is no name
    "Tell Siosaia the build is green.",              # nor an imperative before one
])
def test_the_second_opinion_adds_no_ordinary_words(both: Scrubber, first_only: Scrubber,
                                                   text: str) -> None:
    assert both.scrub_text(text)[0] == first_only.scrub_text(text)[0]
    assert text.split()[0] in both.scrub_text(text)[0]


@pytest.fixture(scope="module")
def nlp(both: Scrubber):
    return both.detector.analyzer.nlp_engine.nlp["en"]


@pytest.mark.parametrize(("text", "start", "end", "ok"), [
    ("We met Ottilie Obi there.", 7, 18, True),
    ("we met ottilie kowalczyk there", 7, 24, True),
    ("Ask Anneke van der Wal.", 4, 22, True),
    ("Sent by Maeve O'Rourke.", 8, 22, True),
    ("we met ottilie there", 7, 14, False),          # one lower-case word: a code word as often
    ("Read Quiet Gardens first.", 5, 18, False),     # ordinary words: a title or a heading
    ("Returned by Checkout today.", 12, 20, False),
    ("Use TestRunner here.", 4, 14, False),          # code shapes
    ("Set ORDER_BY now.", 4, 12, False),
    ('Read \\"rows\\" now.', 5, 13, False),
    ("Call Room 101 now.", 5, 13, False),            # digits
])
def test_what_a_second_opinion_name_looks_like(nlp, both: Scrubber, text: str, start: int,
                                               end: int, ok: bool) -> None:
    span = nlp(text).char_span(start, end, alignment_mode="expand")
    assert rec.second_opinion_name(span, both.detector.words) is ok, span.text


def test_the_second_model_is_named_in_the_label_and_can_be_switched_off(
        both: Scrubber, first_only: Scrubber) -> None:
    assert "+ en_core_web_md-3.7" in both.detector.model_label
    assert "+" not in first_only.detector.model_label


@pytest.mark.parametrize(("text", "start", "end", "ok"), [
    ("we met ottilie kowalczyk there and then we left", 7, 24, True),
    ("we met import numpy there and then we left", 7, 19, False),      # a plain word in it
    ("We met ottilie kowalczyk there and then we left", 7, 24, False),  # not lower-case prose
    ("import numpy as np\nimport json, os", 0, 12, False),              # code
    ("morgen wordt het weer zonnig met een lichte bries", 30, 49, False),  # plain words
    ("saya ingin memesan tiket kereta untuk besok", 11, 25, False),       # not English
])
def test_lower_case_names_only_in_english_lower_case_prose(nlp, both: Scrubber, text: str,
                                                           start: int, end: int,
                                                           ok: bool) -> None:
    span = nlp(text).char_span(start, end, alignment_mode="expand")
    assert rec.second_opinion_name(span, both.detector.words) is ok, span.text


def test_the_second_model_reads_only_lines_where_a_new_name_can_be(nlp, both: Scrubber) -> None:
    text = ("def load(path: Path) -> dict:\n"
            "    return json.loads(path.read_text())\n"
            "# reviewed by Ottilie Kowalczyk\n"
            "Owner: Anna Smith\n"
            "The Report is Ready")
    doc = nlp(text)
    words = both.detector.words
    people = [(text.index("Anna Smith"), text.index("Anna Smith") + 10)]
    parts = [text[a:b] for a, b in rec.second_opinion_lines(doc, people, words)]
    assert parts == ["# reviewed by Ottilie Kowalczyk"]  # code, found names, plain words: no
    prose = "we met ottilie kowalczyk there and then we left"
    assert rec.second_opinion_lines(nlp(prose), [], words) == [(0, len(prose))]
    assert rec.second_opinion_lines(nlp("saya ingin memesan tiket kereta untuk besok"), [],
                                    words) == []  # lower-case prose, not English


@needs_model
def test_names_on_later_lines_of_several_texts_land_where_they_are(both: Scrubber,
                                                                   first_only: Scrubber) -> None:
    texts = ["def load(path):\n    return path.read_text()\n",     # no candidate line
             "Build log\n\nstep 3 of 5 ok\ncc: Ottilie Obi\nend of log",
             "Report\nThe parcel for Ottilie Obi is at the depot.\nThanks",
             "Notes\n- step one done\n- I am writing on behalf of Ottilie Obi regarding it."]
    got = both.detector.analyze(texts)
    alone = first_only.detector.analyze(texts)
    assert got[0] == alone[0]
    for text, spans, before in zip(texts[1:], got[1:], alone[1:], strict=True):
        assert "Ottilie Obi" not in [text[s.start:s.end] for s in before]
        assert "Ottilie Obi" in [text[s.start:s.end] for s in spans if s.entity == "PERSON"]
