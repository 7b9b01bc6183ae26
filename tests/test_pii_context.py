"""Context rules for names: what makes a capitalised word a place, a company, a street or
a job title rather than a person, and the cases where a name must stay a name.

Every sentence here is written for these tests; the last test checks that no string
literal of 16 or more characters occurs in the shared labelled files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from slmconvert.pii.config import PiiConfig
from slmconvert.pii.scrubber import Scrubber

REPO = Path(__file__).resolve().parents[1]
SHARED_PII = REPO.parent / "shared" / "data" / "pii"


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(PiiConfig())


def persons(scrubber: Scrubber, text: str) -> list[str]:
    return [text[s.start:s.end] for s in scrubber.scrub_text(text)[1] if s.entity == "PERSON"]


@pytest.mark.parametrize(("text", "kept"), [
    # where someone lives, comes from or moves to is a place, given name or not
    ("My cousin grew up in Puerto Villamar and now works there.", "Villamar"),
    ("We relocated here from Dorrance last spring.", "Dorrance"),
    ("I'm originally from Marcus Hook, and I'm 40.", "Hook"),
    ("She went to the University of Kelburn to study law.", "Kelburn"),
    ("i'm originally from vila nova, and i'm 30.", "nova"),
    # a place name led by a place word, or with particles inside it
    ("The ferry leaves from Santa Ilona at noon.", "Ilona"),
    ("We flew to Torre de la Brisa on Monday morning.", "Brisa"),
    # a landmark noun after a name
    ("The Pellingham bridge is closed for repairs.", "Pellingham"),
    # legal forms of companies in any case, trades a firm is named after
    ("Talk to Hendry Voss Mallory Ltd about the lease.", "Mallory"),
    ("The deal with Quorvant Oy closed.", "Quorvant"),
    ("she used to work with harlan quist co.ltd. on the tender.", "quist"),
    ("I bought shares of Rendelle Bancorp yesterday.", "Rendelle"),
    # words mentioned as words; a proper noun modifying a noun after "her", "my"
    ("Title-case words like Patience and Courage can look like names.", "Courage"),
    ("She quoted her Brightcurve resignation letter in full.", "Brightcurve"),
    # job titles under a name, and an occupation in one word
    ("Lorne Abbot\nFreight coordinator\nHalvorsen Shipping", "Freight"),
    ("Lorne Abbot\nCredit checker\nHalvorsen Shipping", "Credit"),
    ("Tomas Brandt, the Glaciologist, said it was melting.", "Glaciologist"),
    # a field label NER ran into a name
    ("Name:    Ines Moreau\nAddress:     12 Harbour Lane", "Address"),
    # weekday abbreviations before a time
    ("Deploy window: Tue 22:00 to Fri 02:00 UTC.", "Fri"),
])
def test_a_place_company_word_or_title_is_no_person(scrubber: Scrubber, text: str,
                                                     kept: str) -> None:
    found = persons(scrubber, text)
    assert not any(kept in p for p in found), found


@pytest.mark.parametrize(("text", "name"), [
    ("In March Okonkwo flew to Lagos.", "Okonkwo"),
    ("Ask Okonkwo about the ticket.", "Okonkwo"),
    ("Please send it to Anna Berg.", "Anna Berg"),
    ("the meeting is with ines moreau in lisbon.", "ines moreau"),
    ("We toured the Cape. Producer Margit Holloway explained it.", "Margit Holloway"),
    ("Ines Moreau, Acme Holdings Inc.", "Ines Moreau"),
    ("Orsolya Brandt from Kesselring Dienste AG is the speaker", "Orsolya Brandt"),
    ("He met her Okonkwo relatives at the airport.", "Okonkwo"),
    ("My landlord is Brandt.", "Brandt"),
    ("Lorne Abbot\nFreight coordinator\nHalvorsen Shipping", "Lorne Abbot"),
    ("Tamsin Okoro\nOkonkwo\nsaid hi", "Tamsin Okoro"),
    ("Yuki: Where were you?\nMolly: At home.", "Molly"),
])
def test_names_stay_names(scrubber: Scrubber, text: str, name: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out, out


@pytest.mark.parametrize(("text", "street"), [
    # a number then the street word after a foreign street name
    ("The song is named after Korvalla 31 street in Narvik.", "Korvalla"),
    # a building number before the street name
    ("Deliver it to 4410 Brennwald, Oberlinden, Austria please.", "Brennwald"),
    # a quoted address block keeps its town line
    ("Ship to\n> 4410 Brennwald Road 61\n> Suite 29\n> Oberlinden\n> Austria 44100",
     "Oberlinden"),
])
def test_streets_and_towns_are_addresses(scrubber: Scrubber, text: str, street: str) -> None:
    out, spans = scrubber.scrub_text(text)
    assert street not in out, out
    assert not any(street in text[s.start:s.end] for s in spans if s.entity == "PERSON")


@pytest.mark.parametrize(("text", "parts"), [
    # the street line above a unit line, in a block marked by braces
    ("Post it to:\n}} Jon Berg\n}}4410 Rostvik 27\n}}Apt. 12\n}}Ostby\n}}Norway 1234",
     ["4410", "Rostvik", "27", "12", "Ostby"]),
    # ... and in lower case, led by a street word that is also an English word
    ("Please return to 2157 via marco polo 131\n apt. 137\n san vito",
     ["2157", "marco", "polo", "131", "137"]),
    # accented Greek capitals, a Spanish street abbreviation
    ("Send the parcel to 672 Άνδρου 18\nPalaiochora, CA 11223",
     ["672", "Άνδρου", "18", "Palaiochora"]),
    ("My new address: 14 Avda. Miramar 22, Tolosa", ["14", "Miramar", "22", "Tolosa"]),
    # two particles inside a town's name
    ("Send to 18774 Hoogstraat 134 Suite 214, Bad Neustadt an der Saale, Germany",
     ["Hoogstraat", "Neustadt", "Saale", "Germany"]),
])
def test_every_part_of_an_address_block_is_scrubbed(scrubber: Scrubber, text: str,
                                                    parts: list[str]) -> None:
    out, _ = scrubber.scrub_text(text)
    assert [p for p in parts if p in out] == [], out


@pytest.mark.parametrize("text", [
    "Release notes: Python 3, Java 17 and Top 100 Songs 2023, all fine.",
    "Upgrade from version 2 Build 7, then reboot.",
    "Step 1: run 3 Workers 2, Scheduler 1 and wait.",
])
def test_numbers_around_a_word_are_no_address(scrubber: Scrubber, text: str) -> None:
    _, spans = scrubber.scrub_text(text)
    assert [s for s in spans if s.entity == "STREET_ADDRESS"] == []


@pytest.mark.parametrize(("text", "name"), [
    # an invisible character inside a name does not split it
    ("Oskar \ufeffLindqvist, the Deckhand, said: \"I'm glad to hear it\"", "Lindqvist"),
    ("Tuuli \u200bHamalainen, the Navigator, said: \"we are late\"", "Hamalainen"),
    # a lower-case first name and initial before the surname NER found, and the reverse
    ("have you met ottavio g ferrante yet?", "ottavio"),
    # two neighbouring words of lower-case prose that are no English words
    ("i want to add ysolde brannvik as a second holder of my account", "brannvik"),
    ("a tribute to teodor mrkonjic - sadly, it never aired.", "mrkonjic"),
    # the person something is given before a possessive; the artist of a work
    ("mirko had given tavish his address last week", "tavish"),
    ("the film was directed by marisol c quintero and starring quintero", " c "),
])
def test_split_and_lower_case_names_are_scrubbed(scrubber: Scrubber, text: str,
                                                 name: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out, out


@pytest.mark.parametrize("text", [
    "hi there, can you help me with the report?",
    "Hello World! Hi Team, the deploy is done.",
    "ok, can you run the tests again?",
    "please configure nginx and gunicorn, then restart the service",
    "The specific text of your answer should be in English.",
    "Just say hi Task Output: hi",
    "I gave him his keys and told everyone their seats.",
    "This chart was painted by hand, and the README was written by the agent.",
    # text in scripts without letter case: no capital is no cue, and names carry no
    # sentence punctuation
    "你是一名数据分析师。下面是任务说明，请按要求完成分析。",
    "검색 결과는 텍스트로 보여 주세요. 키워드로 다시 찾아 주세요.",
])
def test_cues_without_a_name_scrub_nothing(scrubber: Scrubber, text: str) -> None:
    assert persons(scrubber, text) == []


@pytest.mark.parametrize("text", [
    "Tamsin Okoro\n\nVeldhoven\nNetherlands",
    "> Ines Moreau\n> Quillbase\n> Ines Moreau\n> 12 Harbour Lane\n> Tromvik",
])
def test_town_and_company_lines_of_an_address_are_no_person(scrubber: Scrubber,
                                                              text: str) -> None:
    found = persons(scrubber, text)
    assert found and all(p.endswith(("Okoro", "Moreau")) for p in found), found


@pytest.mark.skipif(not SHARED_PII.exists(), reason="needs ../shared/data/pii")
def test_no_evaluation_string_is_copied_here() -> None:
    blob = "\n".join(x["full_text"].lower() for f in sorted(SHARED_PII.glob("*.json"))
                     for x in json.loads(f.read_text(encoding="utf-8")))
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                and isinstance(n.value, str) and len(n.value) >= 16]
    assert [lit[:40] for lit in literals if lit.lower() in blob] == []
