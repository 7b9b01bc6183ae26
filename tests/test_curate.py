"""The curate stage: recognizers, record scrubbing, filters, near-duplicates, reports.

Uses the real Presidio analyzer with the packaged spaCy model (no mocks); the
scrubber is loaded once per module (about 8 s).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from slmconvert.cli import app
from slmconvert.core.parquet import RecordWriter, iter_records
from slmconvert.core.records import CallRecord, Message, ToolCall
from slmconvert.pii import recognizers as rec
from slmconvert.pii.config import PatternSpec, PiiConfig
from slmconvert.pii.occurrences import Occurrences, ScrubError
from slmconvert.pii.scrubber import Scrubber
from slmconvert.pii.spans import Span
from slmconvert.pipeline.stage import StageContext
from slmconvert.stages.curate import (
    CurateConfig,
    CurateStage,
    MinHashLSH,
    NearDuplicates,
    near_duplicate_text,
)

REPO = Path(__file__).parent.parent


# ------------------------------------------------------------- recognizers ----

FOUND = [  # (rule, text, the value it must report)
    ("email", "write to anna.berg+x@mail.example.org today", "anna.berg+x@mail.example.org"),
    ("phone_nanp", "call (212) 555-0134 now", "(212) 555-0134"),
    ("phone_nanp", "cell: +1 415-555-0199", "+1 415-555-0199"),
    ("phone_nanp", "001-415-555-0142x312 is the desk", "001-415-555-0142x312"),
    ("phone_intl", "phone: +44 7700 900123", "+44 7700 900123"),
    ("phone_intl", "Fax (03) 9521 4478-Office", "(03) 9521 4478"),
    ("us_ssn", "SSN 523-41-7788 on file", "523-41-7788"),
    ("credit_card", "card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111"),
    ("iban", "IBAN GB82WEST12345698765432 please", "GB82WEST12345698765432"),
    ("ipv4", "client 203.0.113.77 connected", "203.0.113.77"),
    ("ipv6", "from 2001:db8:85a3::8a2e:370:7334 at", "2001:db8:85a3::8a2e:370:7334"),
    ("openai_key", "key sk-proj-abcDEF1234567890abcdefGHIJ used", "sk-proj-abcDEF1234567890abcdefGHIJ"),  # noqa: E501
    ("aws_access_key", "AKIAIOSFODNN7EXAMPLE is the id", "AKIAIOSFODNN7EXAMPLE"),
    ("github_token", "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),  # noqa: E501
    ("jwt", "auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N"),  # noqa: E501
    ("bearer", "Authorization: Bearer abC9xYz81Qw2Er4Ty6Ui", "abC9xYz81Qw2Er4Ty6Ui"),
    ("assigned_secret", "password=Hunter2!xyz and more", "Hunter2!xyz"),
    ("high_entropy", "secret aZ3kP9qLm2Xv8Rt5Wn7Yb4Hc6Jd1Fg0 here", "aZ3kP9qLm2Xv8Rt5Wn7Yb4Hc6Jd1Fg0"),  # noqa: E501
    ("date_of_birth", "my DOB is 04/12/1987, thanks", "04/12/1987"),
    ("date_of_birth", "born on March 3, 1990 in", "March 3, 1990"),
    ("street_number_first", "ship to 17 Harrow Lane, Leeds LS6 2QT now",
     "17 Harrow Lane, Leeds LS6 2QT"),
    ("street_suffix", "asuu osoitteessa Rantakatu 14 nyt", "Rantakatu 14"),
    ("street_prefix", "vivo na Rua das Flores 512 agora", "Rua das Flores 512"),
    ("po_box", "PSC 1187, Box 4420\nAPO AE 09310", "PSC 1187, Box 4420\nAPO AE 09310"),
    ("email_display_name", "From: Camila Dubois <cd@example.com>", "Camila Dubois"),
    ("person_title", "please ask Ms. Okonkwo to call", "Okonkwo"),
    ("person_title_particle", "we thank Ms. ten Vossen for it", "ten Vossen"),
    ("person_initial", "the Elita B. Desaulniers file", "Elita B. Desaulniers"),
    ("person_intro_lower", "my name is ilsa brandt but friends say ilse", "ilsa brandt"),
    ("person_subject", "Maren lives on the coast now.", "Maren"),
    ("person_subject_lower", "odile is from a small town", "odile"),
    ("person_vocative", "Tavi, can you check the logs?", "Tavi"),
    ("phone_labelled", "reach me on 0612345678-Mobile or by mail", "0612345678"),
    ("street_prefix", "ship it to Rua Sete de Abril 2041 please", "Rua Sete de Abril 2041"),
    ("street_prefix_lower", "vivo en 3 calle del pinar\nsegovia", "3 calle del pinar"),
    ("street_suffix", "meet me on kossuth út 12 today", "kossuth út 12"),
    ("street_suffix", "ship to 8 Pieter van Loonkade today", "8 Pieter van Loonkade"),
    ("street_suffix", "post it to 31 Aart van 's-Molenweg 4 now", "31 Aart van 's-Molenweg 4"),
    ("street_named", "the cafe on Willow Brook Street is shut", "Willow Brook Street"),
    ("street_corner", "near the corner of Tallow kapu 3. and Mirren Road",
     "Tallow kapu 3. and Mirren Road"),
    ("po_box", "USNV Harrow\nFPO AE 41207", "USNV Harrow\nFPO AE 41207"),
    ("po_box", "ship to uss tarn-vale\nfpo ap 34021 soon", "uss tarn-vale\nfpo ap 34021"),
    ("po_box", "Meet at USNS Karel van der Stoep\nFPO AE 41207", "USNS Karel van der Stoep\nFPO AE 41207"),  # noqa: E501
    ("street_on_foreign", "the bus stop is on Åkerlunden 30", "Åkerlunden 30"),
    ("street_corner", "meet by corner of P.O. Box 81 and Fenwick Islands",
     "P.O. Box 81 and Fenwick Islands"),
    ("street_corner", "wait by corner of Λ. Κηφισίας 22 and Tarrow Road",
     "Λ. Κηφισίας 22 and Tarrow Road"),
    ("street_number_first_type_lower", "the song is named after 40 Harrow Vale street in town",
     "40 Harrow Vale street"),
    ("street_named", "the cafe on van Aken Lane is shut", "van Aken Lane"),
    ("street_prefix_lower", "write to 2231 c/ pinos 14\n la mola", "2231 c/ pinos 14"),
    ("street_number_town_lower", "can you check this? 4471 varsk aqq. 12, tromvik, norway",
     "4471 varsk aqq. 12"),
    ("postal_in_place_lower", "an office in tarvola 4410 in its new building", "4410"),
    ("postal_labelled", "City: Tarnwick\nZIP: 48213", "48213"),
    ("person_kin", "please add my eldest daughter Rieke Tammsaar to the policy", "Rieke Tammsaar"),
    ("person_named", "and then they named her Ottilie", "Ottilie"),
    ("person_recipient", "Ship to: Ines Vardøy, 12 Harbour Lane", "Ines Vardøy"),
    ("phone_intl", "text me on 0412 7730419 after six", "0412 7730419"),
    ("phone_intl", "desk +49 30 12345678, ask for Ole", "+49 30 12345678"),
    ("postal_in_place", "a studio in Dalfsen 7721 KM for two years", "7721 KM"),
    ("postal_labelled", "postcode 3581 KT, second floor", "3581 KT"),
    ("street_number_town", "mail both: 12 Oak Lane, Leeds, and 4410 Harstova 12, Kjelby, Norway",
     "4410 Harstova 12"),
    ("street_number_name_lower", "the shuttle stops at 415 krokhagen 12 daily",
     "415 krokhagen 12"),
    ("street_number_name_lower", "we moved to 88 via rondello 3 last year", "88 via rondello 3"),
    ("street_named_lower", "the early gigs on varnoki hills street drew crowds",
     "varnoki hills street"),
    ("street_on_foreign", "the ferry stop is on La Tercia 4", "La Tercia 4"),
    ("street_prefix_lower", "drop it at 7 cours Vitton, then call", "7 cours Vitton"),
    ("postal_year_after_place", "Borvika Street 4\nSkarnes 2018\nNorway", "2018"),
    ("postal_after_place", "Borvika Street 4\nSkarnes 20180\nNorway", "20180"),
    ("street_on_unknown", "the night bus stops on Kelvaro 1153", "Kelvaro 1153"),
    ("street_on_unknown", "our depot is on Marsk Tolvenne 60.", "Marsk Tolvenne 60"),
    ("postal_year_in_place", "we back a clinic in Harstovik 2031 in its first year", "2031"),
    ("postal_year_in_place", "a studio in Vesterlund K 1907, near the harbour", "1907"),
    ("street_number_town", "see you at Orla Mills, 5890 Condomínio Bela Vista de Minas 1045, "
     "Belmonte", "5890 Condomínio Bela Vista de Minas 1045"),
    ("person_name_answer", "What's your full name?\nCaller: Orla K. Tarvo\nBot: thanks",
     "Orla K. Tarvo"),
    ("person_kin_name", "My nephew's name is Tarvolin.", "Tarvolin"),
    ("person_gender_of", "Fans still argue about the gender of Orvelle Tane in that song.",
     "Orvelle Tane"),
    ("person_possessive", "It was Mccallum's song all along.", "Mccallum"),
]

NOT_FOUND = [  # (rule, text): values that must not be reported by that rule
    ("phone_intl", "released on 2024-05-01 at 10:30"),
    ("phone_intl", "version 1.2.3.4 of the SDK"),
    ("credit_card", "order 4111111111111112 (fails Luhn)"),
    ("us_ssn", "area 900-12-3456 is never issued"),
    ("ipv4", "schema 999.1.1.1 is not an address"),
    ("high_entropy", "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("high_entropy", "call get_flight_status_by_booking_reference_v2 now"),
    ("high_entropy", '{"tool_call_id": "call_Qm7TzW2pLx9KdR4vNb8Yc3Hf"}'),
    ("high_entropy", '"id": "toolu_01Xq7RmZ2kT9wLp4Vn8Bc3Jd"'),
    ("high_entropy", '"id":"chatcmpl-Zq81Kf3LmP0xTr7WvB2nY5cHd9Gs"'),
    ("high_entropy", "script-src 'sha256-Qm7TzW2pLx9KdR4vNb8Yc3Hf1aZ0oP6uE5iW4yT3rS2='"),
    ("high_entropy", "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAA9QAAAF3CAYAAAB7x1pQzT4m"),
    ("iban", "GB82WEST12345698765433 has a bad checksum"),
    ("date_of_birth", "the flight on 2026-04-01 departs at noon"),
    ("email_display_name", "send it to <ops@example.com>"),
    ("person_subject", "The company is from Oslo and It lives on a server."),
    ("person_vocative", "Yes, can you book it? Thanks, I will."),
    ("person_intro_lower", "my name is on the list"),
    ("person_name_answer", "What is your name? I am the billing assistant."),
    ("person_name_answer", "What is your name?\nname: string"),
    ("person_kin_name", "your partner's name: string"),
    ("person_title_particle", "Don't miss ten Python tips"),
    ("person_possessive", "Haiku's sister model is faster."),
    ("person_possessive", "Sonnet's brother is larger."),
    ("person_name_answer", "what's your full name? sure, one second"),
    ("person_kin_name", "my boss's name is on the door"),
    ("person_gender_of", "store the gender of Python objects as a flag"),
    ("person_possessive", "the Node's children are sorted"),
    ("phone_labelled", "build 2.4.1-office is out"),
    ("street_prefix_lower", "sent via email 12 times"),
    ("street_named", "we are on the main road now"),
    ("street_number_first_type_lower", "we saw 2 Abbey road signs on the way"),
    ("street_on_foreign", "the game is on Xbox 360."),
    ("street_number_town_lower", "version 3 build 12, linux, amd64"),
    ("postal_in_place_lower", "it opened in tarvola in 2021, then grew"),
    ("street_number_town_lower", "i have 3 kids and 2, maybe 3, dogs"),
    ("postal_labelled", "zip the folder with 12 files"),
    ("person_kin", "my son is at school and my boss Is away"),
    ("person_named", "the file named README is missing"),
    ("phone_intl", "order 4410\n1234567 shipped"),
    ("postal_in_place", "it ran in Windows 2000 SP for years"),
    ("street_on_unknown", "the model runs on Qwen 72."),
    ("street_on_unknown", "we deploy on Debian 12, then test"),
    ("street_on_unknown", "that host is on RHEL 10."),
    ("street_on_unknown", "the bug is on Kelvaro 3."),
    ("street_on_unknown", "who played on Jan 28, 2021?"),
    ("street_on_unknown", "the patch went out on Wed 14."),
    ("street_suffix", "2. Keep the notes sent to you.\n3. Reply in markdown."),
    ("street_suffix", "lows stay in the 70s during the night"),
    ("street_suffix", "strengths: passing, goal-scoring\n\n2. **Next player**"),
    ("address_context", "the mast was located at coordinates 41.3851 and 2.1734 today."),
    ("postal_after_place", "headers follow the mail format (RFC 5322)."),
    ("postal_in_place", "log every stamp in UTC ISO 8601, for example"),
    ("street_line", "Round Round 1\nRound Round 2\nRound Round 3"),
    ("postal_year_in_place", "revenue doubled in Q4 2023, said the report"),
    ("postal_year_in_place", "the talk was published in March 2024, then again in May"),
    ("postal_year_in_place", "I worked at Microsoft 2019."),
    ("street_on_foreign", "the show is on Le 3."),
    ("postal_year_after_place", "Published: May 2025."),
    ("postal_year_after_place", "Since 2021, the team ships weekly."),
    ("postal_after_place", "so the total is 37170."),
    ("postal_after_place", "revenue grew from 2019 to 2023\nsee the chart"),
    ("street_prefix", "Route options to avoid. Default is none."),
]


@pytest.mark.parametrize(("rule", "text", "value"), FOUND, ids=[f"{r}:{v[:12]}" for r, _, v in FOUND])  # noqa: E501
def test_recognizer_finds(rule: str, text: str, value: str) -> None:
    found = [text[a:b] for a, b, _ in rec.RULES[rule].find(text)]
    assert value in found


@pytest.mark.parametrize(("rule", "text"), NOT_FOUND, ids=[f"{r}:{t[:16]}" for r, t in NOT_FOUND])
def test_recognizer_does_not_find(rule: str, text: str) -> None:
    assert list(rec.RULES[rule].find(text)) == []


@pytest.mark.parametrize(("text", "speakers"), [
    ("Brannock: Where were you?\nMirela: \"At the market.\"", ["Brannock", "Mirela"]),
    ("tavi: who is it?\nruno:it's me", ["tavi", "runo"]),
    ("User: hi\nAssistant: hello\nUser: book it", []),  # roles, not people
    ("When: 10:00\nWhere: Hall B", []),                  # fields, not people
    ("Dorota: one line only", []),                        # one label is a heading
])
def test_dialogue_speakers(text: str, speakers: list[str]) -> None:
    assert [text[a:b] for a, b, _ in rec.dialogue_speakers(text)] == speakers


def test_first_names_come_from_the_packaged_list() -> None:
    names = rec.first_names()
    assert 1400 <= len(names) <= 2000 and {"ingrid", "jane", "mia", "johannes"} <= names
    assert rec._fold("Jürgen") in names  # accents folded: "Jürgen" matches "jurgen"
    assert not names & {"will", "may", "grace", "frank", "victoria", "sofia", "jordan",
                       "liga", "amber", "ruby", "claude"}  # words, places, products


def test_unknown_recognizer_name_suggests() -> None:
    with pytest.raises(Exception, match="did you mean 'ipv4'"):
        rec.select(["ipv44"])


# ---------------------------------------------------------------- scrubber ----

@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(PiiConfig(patterns={"booking": PatternSpec(
        entity="BOOKING_REF", regex=r"\bTM-[A-Z0-9]{6}\b")}))


def booking_call(**over: Any) -> CallRecord:
    args = {"passenger_name": "Anna Berg", "email": "anna.berg@example.com",
            "booking_ref": "TM-4K7Q2Z", "cabin": "economy", "passengers": 2,
            "contact": {"phone": "+1 415-555-0199", "notes": ["call Anna Berg after 5pm"]}}
    fields: dict[str, Any] = {
        "source": "t.jsonl:1",
        "tools": [{"type": "function", "function": {"name": "book_flight", "parameters": {}}}],
        "messages": [
            Message(role="system", content="You are TripMate. Use book_flight to book. "
                                           "Tools version 2.4.1, released 2025-01-15."),
            Message(role="user", content="Hi, I'm Anna Berg (anna.berg@example.com). Please "
                                         "book TM-4K7Q2Z for 2 people; call +1 415-555-0199."),
        ],
        "response": Message(role="assistant", content="Booking for Anna Berg now.",
                            tool_calls=[ToolCall(id="c1", name="book_flight", arguments=args)]),
    }
    fields.update(over)
    return CallRecord(**fields).with_id()


def texts_of(r: CallRecord) -> str:
    return json.dumps(r.model_dump(mode="json", exclude={"tools"}), ensure_ascii=False)


def test_record_is_scrubbed_everywhere_with_consistent_placeholders(scrubber: Scrubber) -> None:
    [out] = scrubber.scrub_batch([booking_call()])
    assert isinstance(out, CallRecord)
    text = texts_of(out)
    for value in ("Anna", "Berg", "anna.berg@example.com", "TM-4K7Q2Z", "415-555-0199"):
        assert value not in text
    args = out.response.tool_calls[0].arguments  # type: ignore[union-attr]
    # keys intact, JSON-able, non-PII values untouched
    assert set(args) == {"passenger_name", "email", "booking_ref", "cabin", "passengers",
                         "contact"}
    json.loads(json.dumps(args))
    assert args["cabin"] == "economy" and args["passengers"] == 2
    person = args["passenger_name"]
    assert person.startswith("<PERSON_")
    # the same person, email and booking get the same placeholder in prompt, reply and args
    assert person in out.messages[1].content  # type: ignore[operator]
    assert person in out.response.content  # type: ignore[union-attr,operator]
    assert person in args["contact"]["notes"][0]
    assert args["email"] in out.messages[1].content  # type: ignore[operator]
    assert args["booking_ref"] in out.messages[1].content  # type: ignore[operator]


def test_must_not_scrub_tool_names_versions_and_dates(scrubber: Scrubber) -> None:
    [out] = scrubber.scrub_batch([booking_call()])
    assert isinstance(out, CallRecord)
    system = out.messages[0].content or ""
    assert "book_flight" in system and "2.4.1" in system and "2025-01-15" in system
    assert out.response.tool_calls[0].name == "book_flight"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "gone"), [
    # given names spaCy calls a place, and names in lower-case text
    ("Why is Ingrid so late today?", ["Ingrid"]),
    ("please ask priya raman to call next week.", ["priya", "raman"]),
    ("they invited oskar, lieve, dunja, anna, piet and maria.",
     ["oskar", "lieve", "dunja", "anna", "piet", "maria"]),
    # address blocks grown backwards: building number, street name, the other street
    ("Deliver to 4417 Lindqvist iela 12, Apt. 5", ["4417", "Lindqvist", "iela"]),
    ("Pickup spot, corner of Tallow Lane and Mirren Road.", ["corner", "Tallow", "Mirren"]),
    ("Send it to: Ilse and Ostergade 14", ["Ilse", "Ostergade", "14"]),
    ("Our office is at Brandvik 52 Solberg Heights, Tromvik", ["Brandvik", "52", "Tromvik"]),
    ("Post it to Koepstrasse 9, Ober-Ramsdorf", ["Koepstrasse", "Ramsdorf"]),
    # the other of two people joined by "and"; cues "called", a name question
    ("Okafor and Lindqvist were the engineers on call.", ["Okafor", "Lindqvist"]),
    ("her aunt is called Mirela Dancu", ["Mirela", "Dancu"]),
    ("What is your surname? Okonkwo", ["Okonkwo"]),
    # address blocks: street and number before a unit, a number-name-number line
    ("Ship to Brekke 14 Apt. 2, Tromvik", ["Brekke", "14"]),
    ("Send it here:\n4410 Varden 27\nSOLBERG\nNorway", ["4410", "Varden", "SOLBERG"]),
    ("Meet by corner of ul. Lipowa 3 and Tarrow Road?", ["Lipowa", "Tarrow"]),
    ("She lives on Lipowa 12 now.", ["Lipowa", "12"]),
    ("They opened an office in Tarnwick 33100 in May.", ["33100"]),
    ("we back a small firm in tarvola 4410 in its growth", ["4410"]),
    ("we opened an office in vittan 981 01 in its first year", ["981 01"]),
    ("Tel: 61 23 68", ["61 23 68"]),
    ("Ship to:\n4410 Varden 27\nSOLBERG, nord 1234\nNorway 5501", ["4410", "nord", "5501"]),
    ("my zip code is 123 45", ["123 45"]),
    ("please send the parcel to 52 an der weide 7 apt. 3 bremen", ["52", "an der", "weide"]),
    ("Walk in on Ρ. Γούναρη 8 St. at noon", ["Ρ.", "Γούναρη"]),
    ("nobody is answering at 61 23 68", ["61 23 68"]),
    ("The code never came by message to my 47 82 16, can you resend it?", ["47 82 16"]),
    ("No text reached my cell 47 82 16. Please check.", ["47 82 16"]),
    # a particle surname and post-nominal letters belong to the name
    ("Ask Maartje ten Velde about the refund.", ["Maartje", "Velde"]),
    ("The letter was signed by Corvin Haldane MD yesterday.", ["Corvin", "Haldane", "MD"]),
    # the employer NER puts next to a name does not make the name a company
    ("Maria Lindgren Quorn Holdings Inc. joined the call.", ["Maria", "Lindgren"]),
    # an unfamiliar name the model guesses is a place, outside place context
    ("Please tell Ojuolape that the car is ready.", ["Ojuolape"]),
])
def test_scrubber_finds_whole_names_and_addresses(scrubber: Scrubber, text: str,
                                                  gone: list[str]) -> None:
    out, _ = scrubber.scrub_text(text)
    assert [g for g in gone if g in out] == [], out


@pytest.mark.parametrize("text", [
    "Step: run the tests\nResult: all green",
    "Use get_weather for Paris; version 2.4.1 shipped on 2025-01-15.",
    "The bus leaves at 10:30 from platform 4.",
    "Loaded tests/data/rsp_cache.json#61 and tests/data/x.json",
    '{"properties": {"order_id": {"type": "string"}, "city": {"type": "string"}}}',
    "java.lang.NullPointerException at refill_per_s in tempC",
    "The Harlow Orchestra played at the festival.",
    "We flew in from Brackley on Monday.",
    "I am User and this is the bot.",
    "Started 2024-06-07 09:15:22 by the scheduler.",
    "Logged at 2024-06-07 09:15:22.983877 by the scheduler.",
    "We opened in Tarnwick in 2023 and grew fast.",
    "we ran the tests in batches 4000 in the new setup",
    "it happened in room 4012 on the second floor",
    "SELECT * FROM t ORDER BY ts ROWS BETWEEN 6 PRECEDING AND CURRENT ROW",
    # places after place words, employers after work words, products with model numbers
    "We relocated to Vaasa last spring and I work for Quillbase now.",
    "My Garmin Venu 3S stopped syncing after the Firmware 12.4 update.",
    "Apply a Kalman filter, then Dijkstra's algorithm on the graph.",
    '{"city": "Tampere", "restaurant": "Nokka", "carrier": "AY"}',
    "Quillbase is a small logistics startup in Turku.",
    "Brightwater is a 1999 road-movie filmed in Wales.",
    "Sections: Travel, Pets & Garden, Weather",
    "def route(src, dst): return graph.shortest(src, dst)",
    # a number, dictionary words and a number in lower-case text are no street
    "we scaled to 3 replicas 5 times",
    "it grew to 2 hosts 14 minutes ago",
    "we went to 3 via email 2 times",
    # years, counts and results of sums are no postal codes or addresses
    "Since 2021, the team ships weekly.\nMore below.",
    "3 * 4110 = 12330\n\nSo the answer is 12330.\n",
    "The count is at 41, but it may rise.",
    # decimals and fractions of a second are no phone numbers
    "the pin is at 46.603354, 1.888334 on the map",
    "Started at 2024-06-07 09:15:22.384662 by cron.",
    '<path d="M( -118.2734375, 152.4140625) L(611.0390625)"/>',
    "the shop on main street is closed",
])
def test_scrubber_leaves_ordinary_text(scrubber: Scrubber, text: str) -> None:
    assert scrubber.scrub_text(text)[0] == text


def test_phone_line_after_an_address_block_stays_a_phone(scrubber: Scrubber) -> None:
    text = "Ida Rask\n14 Harbour Lane\nLeeds\n LS6 2QT\n0113 4960123 office\n+44 20 7946 0321 fax"
    _, spans = scrubber.scrub_text(text)
    found = {text[s.start:s.end]: s.entity for s in spans}
    assert found.get("0113 4960123") == "PHONE_NUMBER", found
    assert found.get("+44 20 7946 0321") == "PHONE_NUMBER", found
    assert not any(e == "STREET_ADDRESS" and "office" in v for v, e in found.items()), found


@pytest.mark.parametrize("text", ["Roadmap Report 2024\n- item one",
                                  "Since 2021, the team ships weekly.",
                                  "Quarterly Growth Review 2023.\nNext steps"])
def test_a_year_after_words_is_no_address(scrubber: Scrubber, text: str) -> None:
    _, spans = scrubber.scrub_text(text)
    assert not [s for s in spans if s.entity == "STREET_ADDRESS"], spans


@pytest.mark.parametrize(("text", "gone", "kept"), [
    ("the shuttle stops at 415 krokhagen 12 daily", "krokhagen", "daily"),
    ("ok, mail it to 8 rue des lilas 3 tomorrow", "lilas", "tomorrow"),
])
def test_address_block_stops_before_when(scrubber: Scrubber, text: str, gone: str,
                                         kept: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert gone not in out and kept in out, out


def test_tool_results_json_is_scrubbed_and_stays_json(scrubber: Scrubber) -> None:
    result = json.dumps({"status": "confirmed", "holder": {"name": "Jonas Lindqvist",
                                                           "phone": "(212) 555-0134"}})
    r = booking_call(messages=[
        Message(role="user", content="status of my booking?"),
        Message(role="assistant", tool_calls=[ToolCall(id="c0", name="get_booking",
                                                       arguments={"ref": "TM-4K7Q2Z"})]),
        Message(role="tool", tool_call_id="c0", name="get_booking", content=result),
    ])
    [out] = scrubber.scrub_batch([r])
    assert isinstance(out, CallRecord)
    parsed = json.loads(out.messages[2].content or "")
    assert parsed["status"] == "confirmed"
    assert "Jonas" not in out.messages[2].content and "555-0134" not in out.messages[2].content  # type: ignore[operator]


def test_surrogates_are_realistic_keyed_and_consistent(scrubber: Scrubber) -> None:
    s = Scrubber(PiiConfig(operator="surrogate"), seed=1)
    [out] = s.scrub_batch([booking_call()])
    assert isinstance(out, CallRecord)
    args = out.response.tool_calls[0].arguments  # type: ignore[union-attr]
    assert "<" not in args["passenger_name"] and args["passenger_name"] != "Anna Berg"
    assert args["passenger_name"] in (out.messages[1].content or "")
    assert "@example.com" in args["email"] and args["email"] != "anna.berg@example.com"
    other = Scrubber(PiiConfig(operator="surrogate"), seed=2)
    [out2] = other.scrub_batch([booking_call()])
    assert isinstance(out2, CallRecord)
    assert out2.response.tool_calls[0].arguments["email"] != args["email"]  # type: ignore[union-attr]


def test_unscrubbable_record_fails_closed(scrubber: Scrubber) -> None:
    small = Scrubber(PiiConfig(max_text_chars=50))
    out = small.scrub_batch([booking_call()])
    assert isinstance(out[0], ScrubError)


def test_email_check_stays_offline(scrubber: Scrubber) -> None:
    # the no_network fixture fails this test if tldextract tries to download anything
    text, spans = scrubber.scrub_text("mail jo@example.co.uk or visit tripmate.example")
    assert "jo@example.co.uk" not in text and any(s.entity == "EMAIL_ADDRESS" for s in spans)


# ------------------------------------------------------------ near-dups ----

def test_minhash_flags_near_duplicates_only() -> None:
    lsh = MinHashLSH(NearDuplicates(), seed=0)
    base = ("user: please find flights from boston to denver on 0000-00-00 for two adults "
            "in economy and show the cheapest option with a checked bag included")
    assert lsh.check_and_add("a", base) is None
    assert lsh.check_and_add("b", base + " please") == "a"
    assert lsh.check_and_add("c", "user: what is the weather in paris tomorrow morning") is None
    assert lsh.check_and_add("d", base + " please", conversation="x") == "a"
    lsh2 = MinHashLSH(NearDuplicates(), seed=0)
    lsh2.check_and_add("a", base, conversation="x")
    assert lsh2.check_and_add("b", base, conversation="x") is None  # same conversation


def test_near_duplicate_text_skips_system_prompt_and_folds_digits() -> None:
    r = booking_call()
    t = near_duplicate_text(r)
    assert "tripmate" not in t and "0000" in t


# ---------------------------------------------------------------- stage ----

def run_curate(tmp: Path, records: list[CallRecord], **cfg: Any) -> tuple[Any, Path]:
    ws = tmp / "ws"
    (ws / "collect").mkdir(parents=True)
    with RecordWriter(ws / "collect/calls.parquet") as w:
        w.write_all(records)
    (ws / "curate").mkdir()
    ctx = StageContext(workspace=ws, stage_dir=ws / "curate", base_dir=tmp)
    return CurateStage().run(ctx, CurateConfig(**cfg)), ws / "curate"


def test_filters_count_and_reconcile(tmp_path: Path) -> None:
    ok = booking_call()
    records = [
        ok,
        booking_call(source="t:2", status="error", response=None).with_id(),
        booking_call(source="t:3", status="truncated").with_id(),
        booking_call(source="t:4", response=Message(role="assistant", content="  ")).with_id(),
        booking_call(source="t:5", human_facing=True,
                     messages=[Message(role="user", content="hello there")]).with_id(),
        booking_call(source="t:6", messages=[Message(role="user", content="x" * 40_000)]
                     ).with_id(),
        booking_call(source="t:7", response=Message(role="assistant", content="Other.")
                     ).with_id(),  # same request as ok: a near-duplicate
        booking_call(source="t:8", messages=[Message(role="user", content="a routed call")],
                     extra={"metadata": {"route": "slm"}}).with_id(),  # serve's SLM answered
    ]
    result, out = run_curate(tmp_path, records)
    c = result.counts
    assert c["read"] == 8 and c["kept"] == 1
    assert {k: v for k, v in c.items() if k.startswith("dropped_") and v} == {
        "dropped_slm_answer": 1, "dropped_failed": 1, "dropped_truncated": 1,
        "dropped_empty_response": 1, "dropped_human_facing": 1, "dropped_too_long": 1,
        "dropped_near_duplicate": 1}
    dropped = [json.loads(x) for x in (out / "dropped.jsonl").read_text().splitlines()]
    assert {d["reason"] for d in dropped} >= {"failed", "near_duplicate"}
    assert all(set(d) <= {"id", "source", "reason", "duplicate_of", "detail"} for d in dropped)
    report = json.loads((out / "pii_report.json").read_text())
    assert report["scrubbed_by_type"]["PERSON"] >= 3
    assert "Anna" not in (out / "pii_report.json").read_text()


def test_curate_cli_needs_collect(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["curate", "--workspace", str(tmp_path / "none")])
    assert res.exit_code == 4 and "collect" in res.output


@pytest.mark.slow
def test_sample_logs_leave_no_planted_pii(demo_workspace: Path) -> None:
    """Acceptance: no planted value survives anywhere in curate/calls.parquet."""
    out = demo_workspace / "curate"
    records = list(iter_records(out / "calls.parquet"))
    assert len(records) > 2000
    blob = "\n".join(texts_of(r) for r in records).lower()
    planted = list(csv.DictReader((REPO / "sample_logs/planted_pii.csv").open()))
    survivors = [p["entity_type"] for p in planted
                 if p["value"].lower() in blob or json.dumps(p["value"])[1:-1].lower() in blob]
    assert survivors == [], f"{len(survivors)} planted values survived: {survivors[:10]}"
    for name in ("pii_report.json", "dropped.jsonl"):
        text = (out / name).read_text().lower()
        assert not [p for p in planted if p["value"].lower() in text]
    for r in records:  # tool-call arguments stay JSON objects with their keys
        for m in [*r.messages, *([r.response] if r.response else [])]:
            for tc in m.tool_calls:
                assert tc.arguments_error is not None or isinstance(tc.arguments, dict)
    manifest = json.loads((out / "manifest.json").read_text())
    c = manifest["counts"]
    assert c["read"] == c["kept"] + c["dropped"]


# ------------------------------------------------------- fail closed, no gaps ----

def call_with(user: str, args: dict[str, Any] | None = None, **over: Any) -> CallRecord:
    fields: dict[str, Any] = {
        "source": "t.jsonl:9",
        "tools": [{"type": "function", "function": {"name": "send_message", "parameters": {}}}],
        "messages": [Message(role="user", content=user)],
        "response": Message(role="assistant", content="Done.", tool_calls=[
            ToolCall(id="c1", name="send_message", arguments=args or {"text": "ok"})]),
    }
    fields.update(over)
    return CallRecord(**fields).with_id()


def test_lower_case_repeats_of_a_found_name_are_replaced(scrubber: Scrubber) -> None:
    r = call_with("odile is from a small town. Please ask odile to send the form. "
                  "I will message odile today.")
    [out] = scrubber.scrub_batch([r])
    assert isinstance(out, CallRecord)
    text = texts_of(out).lower()
    assert "odile" not in text
    assert "will message" in text  # a function word is not a name part


def test_a_repeat_longer_than_what_was_found_there_is_replaced_whole() -> None:
    # NER found only "odile" in the second sentence; the whole found name is there too
    text = "Odile Brunvik called. Please ask odile brunvik to call back."
    at = text.index("odile")
    found = Occurrences({"odile brunvik": "PERSON"})
    spans = found.spans(text, [Span(at, at + len("odile"), "PERSON", 0.85)])
    assert [text[s.start:s.end] for s in spans] == ["Odile Brunvik", "odile brunvik"]


@pytest.mark.parametrize("surname", ["Li", "Wu", "Ng"])
def test_short_surnames_are_searched_again(scrubber: Scrubber, surname: str) -> None:
    r = call_with(f"Dear Mr. Chen {surname}, your refund is ready.",
                  {"text": f"note for {surname.lower()}: refund ready"})
    [out] = scrubber.scrub_batch([r])
    assert isinstance(out, CallRecord)
    args = out.response.tool_calls[0].arguments  # type: ignore[union-attr]
    assert surname.lower() not in args["text"].lower().split()


def test_identifiers_built_from_a_found_name_are_replaced_consistently(
        scrubber: Scrubber) -> None:
    r = call_with("Hi, I am Mia Li, my user id is mia_li_3668 and my handle is mli3668.",
                  {"user_id": "mia_li_3668", "handle": "mli3668", "alias": "mia.li",
                   "text": "ok"})
    [out] = scrubber.scrub_batch([r])
    assert isinstance(out, CallRecord)
    text = texts_of(out)
    for value in ("mia_li_3668", "mli3668", "mia.li", "Mia", "3668"):
        assert value not in text, value
    args = out.response.tool_calls[0].arguments  # type: ignore[union-attr]
    assert args["user_id"].startswith("<") and args["user_id"] in (out.messages[0].content or "")
    assert args["handle"] in (out.messages[0].content or "")
    assert args["user_id"] != args["handle"]


def test_identifiers_without_a_found_name_stay(scrubber: Scrubber) -> None:
    r = call_with("Hi, I am Mia Li. Look up order_3668 and run tests/test_api.py.")
    [out] = scrubber.scrub_batch([r])
    assert isinstance(out, CallRecord)
    assert "order_3668" in (out.messages[0].content or "")
    assert "tests/test_api.py" in (out.messages[0].content or "")


def test_provenance_in_extra_is_kept_and_user_content_is_scrubbed(scrubber: Scrubber) -> None:
    r = call_with("Book it for me.", extra={"metadata": {
        "source": "acme-bench/gpt-4o-airline", "source_file": "tests/cassettes/Hanna.yaml",
        "note": "customer Jonas Lindqvist called twice", "user": "jonas.lindqvist@example.com"}})
    [out] = scrubber.scrub_batch([r])
    assert isinstance(out, CallRecord)
    meta = out.extra["metadata"]
    assert meta["source"] == "acme-bench/gpt-4o-airline"
    assert meta["source_file"] == "tests/cassettes/Hanna.yaml"
    assert "Jonas" not in meta["note"] and "jonas" not in meta["user"]


def test_a_survivor_fails_the_call(scrubber: Scrubber) -> None:
    from slmconvert.pii.config import PiiConfig as Cfg

    no_propagation = Scrubber(Cfg(propagate=False))
    [out] = no_propagation.scrub_batch([call_with(
        "Please ask Odile Brun to call us back.", {"user_id": "odile_brun_77"})])
    assert isinstance(out, ScrubError)  # the id carries her name and was not replaced


# ------------------------------------------------ evaluation honesty ----

SHARED_PII = REPO.parent / "shared" / "data" / "pii"


def _literals(path: Path) -> list[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and len(n.value) >= 16]


def _comments(path: Path) -> list[str]:
    import io
    import tokenize

    return [t.string for t in tokenize.generate_tokens(io.StringIO(
        path.read_text(encoding="utf-8")).readline) if t.type == tokenize.COMMENT]


def _word_runs(text: str, n: int = 16) -> set[str]:
    """Every ``n``-character run of ``text`` that starts at a word."""
    return {text[m.start():m.start() + n] for m in re.finditer(r"(?<!\w)\w", text)
            if m.start() + n <= len(text)}


@pytest.mark.skipif(not SHARED_PII.exists(), reason="needs ../shared/data/pii")
def test_no_evaluation_string_is_copied_into_rules_or_tests() -> None:
    texts = []
    for f in sorted(SHARED_PII.glob("*.json")):
        texts += [x["full_text"].lower() for x in json.loads(f.read_text(encoding="utf-8"))]
    blob = "\n".join(texts)
    files = [*sorted((REPO / "slmconvert/pii").glob("*.py")), Path(__file__),
             Path(__file__).with_name("test_pii_context.py")]
    copied = [(f.name, lit[:40]) for f in files for lit in _literals(f)
              if lit.lower() in blob]
    assert copied == []
    # comments too: no 16-character run of a comment starting at a word
    runs = _word_runs(blob)
    in_comments = sorted({(f.name, r) for f in files for c in _comments(f)
                          for r in _word_runs(c.lower()) & runs})
    assert in_comments == []


def test_split_halves_are_disjoint_stable_and_stratified() -> None:
    from slmconvert.pii.evaluate import Labelled, split

    samples = [Labelled(f"text {i}", [("PERSON", 0, 4)] * (i % 3 > 0)
                        + [("IBAN_CODE", 0, 4)] * (i % 10 == 0)) for i in range(200)]
    tune, hold = split(samples, "tune"), split(samples, "holdout")
    assert {s.text for s in tune}.isdisjoint({s.text for s in hold})
    assert len(tune) + len(hold) == 200 and split(samples, "all") == samples
    assert split(list(reversed(samples)), "tune") == list(reversed(tune))  # order-free
    ibans = [sum(any(t == "IBAN_CODE" for t, _, _ in s.spans) for s in half)
             for half in (tune, hold)]
    assert ibans == [10, 10]


def test_over_scrubbing_is_measured_on_the_packaged_pii_free_set(scrubber: Scrubber) -> None:
    from slmconvert.pii import evaluate as ev

    clean = ev.load(ev.PII_FREE)
    assert len(clean) >= 300 and all(not s.spans for s in clean)
    scores = ev.score(clean[:40], ev.ours(PiiConfig()))
    assert scores.words > 300
    assert scores.per_kilo_words() == 1000 * sum(scores.false_spans.values()) / scores.words


def test_an_unscrubbable_call_never_makes_a_later_call_its_duplicate(tmp_path: Path) -> None:
    base = ("Please find flights from Boston to Denver next Friday for two adults in economy "
            "and show the cheapest option with a checked bag included, thanks.")
    huge = booking_call(source="t:1", conversation_id="a",
                        messages=[Message(role="user", content=base),
                                  Message(role="user", content="y" * 300)]).with_id()
    twin = booking_call(source="t:2", conversation_id="b",
                        messages=[Message(role="user", content=base),
                                  Message(role="user", content="y" * 300)]).with_id()
    third = booking_call(source="t:3", conversation_id="c",
                         messages=[Message(role="user", content=base),
                                   Message(role="user", content="y" * 300)]).with_id()
    result, _ = run_curate(tmp_path, [huge, twin, third], pii={"max_text_chars": 200})
    c = result.counts
    # all three fail scrubbing; none is anyone's near-duplicate
    assert c["dropped_unscrubbable"] == 3 and c["dropped_near_duplicate"] == 0
    result, _ = run_curate(tmp_path / "2", [twin, third])
    assert result.counts["kept"] == 1 and result.counts["dropped_near_duplicate"] == 1


def test_near_duplicate_buckets_have_no_cap() -> None:
    lsh = MinHashLSH(NearDuplicates(), seed=0)
    for i in range(20):  # 20 distinct calls that share most shingles with each other
        lsh.check_and_add(f"k{i}", f"user: alpha beta gamma delta epsilon zeta eta {i} " * 2)
    assert all(len(v) <= 20 for v in lsh.buckets.values())
    assert max(len(v) for v in lsh.buckets.values()) > 8 or len(lsh.sigs) == 20


def test_the_report_counts_what_was_found_in_kept_calls_only(tmp_path: Path) -> None:
    # Two calls of different conversations with the same request, in one batch: the
    # second is a near-duplicate, so only the first call's findings are counted.
    first = booking_call(source="t:1", conversation_id="a")
    second = booking_call(source="t:2", conversation_id="b")
    result, out = run_curate(tmp_path, [first, second])
    assert result.counts["kept"] == 1 and result.counts["dropped_near_duplicate"] == 1
    alone, _ = run_curate(tmp_path / "alone", [first])
    report = json.loads((out / "pii_report.json").read_text())
    assert report["records"] == 1
    assert report == json.loads((tmp_path / "alone/ws/curate/pii_report.json").read_text())
    assert result.summary["pii"] == alone.summary["pii"]


def test_an_analyzer_failure_costs_only_the_call_that_caused_it(
        scrubber: Scrubber, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: no real input is known to break the analyzer any more.
    real = scrubber.detector.analyze

    def analyze(texts: list[str], *args: Any) -> Any:
        if any("BREAKS-THE-ANALYZER" in t for t in texts):
            raise IndexError("injected")
        return real(texts, *args)

    monkeypatch.setattr(scrubber.detector, "analyze", analyze)
    bad = booking_call(messages=[Message(role="user", content="BREAKS-THE-ANALYZER")])
    out = scrubber.scrub_batch([booking_call(), bad, booking_call(source="t:9")])
    assert [type(r).__name__ for r in out] == ["CallRecord", "ScrubError", "CallRecord"]
    assert str(out[1]) == "analyzer failed: IndexError"
    assert len(scrubber.last_stats) == 3 and scrubber.last_stats[0].found


@pytest.mark.parametrize("text", ["添加条目。\n  - `删除`: 删除条目。", "- ` -- ` . 。"])
def test_place_context_copes_with_spans_without_letters(text: str) -> None:
    # spaCy can tag punctuation in CJK text as a name; no letters is no place context
    for start in range(len(text)):
        for end in range(start + 1, min(len(text), start + 4) + 1):
            assert rec.place_or_org_context(text, start, end) in (True, False)
