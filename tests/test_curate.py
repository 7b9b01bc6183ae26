"""The curate stage: recognizers, record scrubbing, filters, near-duplicates, reports.

Uses the real Presidio analyzer with the packaged spaCy model (no mocks); the
scrubber is loaded once per module (about 8 s).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from slmconvert.cli import app
from slmconvert.core.parquet import RecordWriter, iter_records
from slmconvert.core.records import CallRecord, Message, ToolCall
from slmconvert.pii import recognizers as rec
from slmconvert.pii.engine import PatternSpec, PiiConfig, Scrubber, ScrubError
from slmconvert.pipeline.stage import StageContext
from slmconvert.stages.curate import (
    CurateConfig,
    CurateStage,
    MinHashLSH,
    NearDuplicates,
    request_text,
)

REPO = Path(__file__).parent.parent


# ------------------------------------------------------------- recognizers ----

FOUND = [  # (rule, text, the value it must report)
    ("email", "write to anna.berg+x@mail.example.org today", "anna.berg+x@mail.example.org"),
    ("phone_nanp", "call (212) 555-0134 now", "(212) 555-0134"),
    ("phone_nanp", "cell: +1 415-555-0199", "+1 415-555-0199"),
    ("phone_nanp", "001-253-366-9781x4587 is the desk", "001-253-366-9781x4587"),
    ("phone_intl", "phone: +44 7700 900123", "+44 7700 900123"),
    ("phone_intl", "Fax (08) 8747 6301-Office", "(08) 8747 6301"),
    ("us_ssn", "SSN 514-69-0360 on file", "514-69-0360"),
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
    ("street_number_first", "ship to 221B Baker Street, London NW1 6XE now",
     "221B Baker Street, London NW1 6XE"),
    ("street_suffix", "asuu osoitteessa Koskikatu 25 nyt", "Koskikatu 25"),
    ("street_prefix", "vivo na Rua Diadema 1903 agora", "Rua Diadema 1903"),
    ("po_box", "PSC 3294, Box 9168\nAPO AA 61487", "PSC 3294, Box 9168\nAPO AA 61487"),
    ("email_display_name", "From: Camila Dubois <cd@example.com>", "Camila Dubois"),
    ("person_title", "please ask Ms. Wijtze to call", "Wijtze"),
    ("person_initial", "the Elita B. Desaulniers file", "Elita B. Desaulniers"),
    ("person_intro_lower", "my name is ilsa brandt but friends say ilse", "ilsa brandt"),
    ("person_subject", "Maren lives on the coast now.", "Maren"),
    ("person_subject_lower", "odile is from a small town", "odile"),
    ("person_vocative", "Tavi, can you check the logs?", "Tavi"),
    ("phone_labelled", "reach me on 0612345678-Mobile or by mail", "0612345678"),
    ("street_prefix", "ship it to Rua Sete de Abril 2041 please", "Rua Sete de Abril 2041"),
    ("street_prefix_lower", "vivo en 3 calle del pinar\nsegovia", "3 calle del pinar"),
    ("street_suffix", "meet me on kossuth út 12 today", "kossuth út 12"),
    ("street_named", "the cafe on Willow Brook Street is shut", "Willow Brook Street"),
    ("street_corner", "at the corner of Tallow kapu 3. and Mirren Road",
     "Tallow kapu 3. and Mirren Road"),
    ("po_box", "USNV Harrow\nFPO AE 41207", "USNV Harrow\nFPO AE 41207"),
    ("postal_labelled", "City: Tarnwick\nZIP: 48213", "48213"),
]

NOT_FOUND = [  # (rule, text): values that must not be reported by that rule
    ("phone_intl", "released on 2024-05-01 at 10:30"),
    ("phone_intl", "version 1.2.3.4 of the SDK"),
    ("credit_card", "order 4111111111111112 (fails Luhn)"),
    ("us_ssn", "area 900-12-3456 is never issued"),
    ("ipv4", "schema 999.1.1.1 is not an address"),
    ("high_entropy", "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("high_entropy", "call get_flight_status_by_booking_reference_v2 now"),
    ("iban", "GB82WEST12345698765433 has a bad checksum"),
    ("date_of_birth", "the flight on 2026-04-01 departs at noon"),
    ("email_display_name", "send it to <ops@example.com>"),
    ("person_subject", "The company is from Oslo and It lives on a server."),
    ("person_vocative", "Yes, can you book it? Thanks, I will."),
    ("person_intro_lower", "my name is on the list"),
    ("phone_labelled", "build 2.4.1-office is out"),
    ("street_prefix_lower", "sent via email 12 times"),
    ("street_named", "we are on the main road now"),
    ("postal_labelled", "zip the folder with 12 files"),
]


@pytest.mark.parametrize(("rule", "text", "value"), FOUND, ids=[f"{r}:{v[:12]}" for r, _, v in FOUND])  # noqa: E501
def test_recognizer_finds(rule: str, text: str, value: str) -> None:
    found = [text[a:b] for a, b, _ in rec.RULES[rule].find(text)]
    assert value in found


@pytest.mark.parametrize(("rule", "text"), NOT_FOUND, ids=[f"{r}:{t[:16]}" for r, t in NOT_FOUND])
def test_recognizer_does_not_find(rule: str, text: str) -> None:
    assert list(rec.RULES[rule].find(text)) == []


@pytest.mark.parametrize(("text", "speakers"), [
    ("Oskar: Where were you?\nMirela: \"At the market.\"", ["Oskar", "Mirela"]),
    ("tavi: who is it?\nruno:it's me", ["tavi", "runo"]),
    ("User: hi\nAssistant: hello\nUser: book it", []),  # roles, not people
    ("When: 10:00\nWhere: Hall B", []),                  # fields, not people
    ("Dorota: one line only", []),                        # one label is a heading
])
def test_dialogue_speakers(text: str, speakers: list[str]) -> None:
    assert [text[a:b] for a, b, _ in rec.dialogue_speakers(text)] == speakers


def test_first_names_come_from_the_packaged_list() -> None:
    names = rec.first_names()
    assert 300 <= len(names) <= 800 and "ingrid" in names
    assert rec._fold("Jürgen") in names  # accents folded: "Jürgen" matches "jurgen"
    assert not names & {"will", "may", "grace", "frank", "victoria", "sofia"}  # words, places


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
    ("please follow up with priya raman next week.", ["priya", "raman"]),
    ("they invited oskar, lieve, dunja, anna, piet and maria.",
     ["oskar", "lieve", "dunja", "anna", "piet", "maria"]),
    # address blocks grown backwards: building number, street name, the other street
    ("Deliver to 4417 Lindqvist tee 12, Apt. 5", ["4417", "Lindqvist", "tee"]),
    ("It is at the corner of Tallow Lane and Mirren Road.", ["corner", "Tallow", "Mirren"]),
    ("Send it to: Ilse and Ostergade 14", ["Ilse", "Ostergade", "14"]),
    ("Our office is at Brandvik 52 Solberg Heights, Tromvik", ["Brandvik", "52", "Tromvik"]),
    ("Post it to Koepstrasse 9, Ober-Ramsdorf", ["Koepstrasse", "Ramsdorf"]),
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
])
def test_scrubber_leaves_ordinary_text(scrubber: Scrubber, text: str) -> None:
    assert scrubber.scrub_text(text)[0] == text


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


def test_request_text_skips_system_prompt_and_folds_digits() -> None:
    r = booking_call()
    t = request_text(r)
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
    ]
    result, out = run_curate(tmp_path, records)
    c = result.counts
    assert c["read"] == 7 and c["kept"] == 1
    assert {k: v for k, v in c.items() if k.startswith("dropped_") and v} == {
        "dropped_failed": 1, "dropped_truncated": 1, "dropped_empty_response": 1,
        "dropped_human_facing": 1, "dropped_too_long": 1, "dropped_near_duplicate": 1}
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
