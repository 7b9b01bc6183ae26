"""`slmconvert curate eval-pii`: leak rate, recall, precision and F2 on span-labelled text.

Input is the presidio-research format: a JSON list of ``{full_text, spans: [{entity_type,
entity_value, start_position, end_position}]}``. A labelled entity is *leaked* when any
letter or digit of it is left outside every scrubbed span, so a half-masked address
counts as a leak. Recall is the share of entities not leaked. Precision is, per type
we scrubbed, the share of scrubbed spans that overlap a labelled entity of the same
type (after :data:`ALIASES`); ``protective precision`` also counts a span that overlaps
any labelled entity that is scrubbed (an SSN replaced as a phone number is still
protected), never a report-only one. F2 weighs recall twice.

Every labelled file is split, with a fixed seed and stratified by entity type, into a
``tune`` half (rules and tests may be written from it) and a ``holdout`` half (the
published figures); see :func:`split`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.errors import InputError

# Labelled type -> the type our detector reports for it (for per-type precision and F2).
ALIASES = {"ADDRESS": "STREET_ADDRESS", "GPE": "LOCATION", "ZIP_CODE": "STREET_ADDRESS",
           "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER", "SSN": "US_SSN",
           "IP": "IP_ADDRESS", "IBAN": "IBAN_CODE"}
# Labelled types whose text we scrub (after ALIASES); the others (GPE, ORGANIZATION,
# DATE_TIME, TITLE, ...) are report-only or not PII for training data.
SCRUBBED_LABELS = ("PERSON", "STREET_ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD",
                   "US_SSN", "IBAN_CODE", "IP_ADDRESS", "US_DRIVER_LICENSE", "API_KEY")
PII_FREE = Path(__file__).parent / "data" / "pii_free.json"
STRUCTURED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE",
              "IP_ADDRESS", "API_KEY")


@dataclass(frozen=True)
class Labelled:
    text: str
    spans: list[tuple[str, int, int]]  # (entity_type, start, end)


def load(path: Path) -> list[Labelled]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a JSON file: {exc}") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of labelled samples "
                         "(presidio-research format)")
    out = []
    for i, item in enumerate(data):
        try:
            text = item["full_text"]
            spans = [(s["entity_type"], int(s["start_position"]), int(s["end_position"]))
                     for s in item.get("spans") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: item {i}: missing or bad field {exc}") from None
        if not isinstance(text, str) or any(not 0 <= a <= b <= len(text) for _, a, b in spans):
            raise InputError(f"{path}: item {i}: span outside full_text")
        out.append(Labelled(text, spans))
    return out


Split = Literal["tune", "holdout", "all"]
SPLIT_SEED = "slmconvert-pii-split-1"


def split(samples: list[Labelled], part: Split) -> list[Labelled]:
    """One half of a labelled set, the same every time, stratified by entity type.

    Each sample is keyed by the rarest entity type it contains (rarest over the whole
    file; "none" without spans). Within a key, samples are ordered by a seeded hash of
    their text and dealt alternately to ``tune`` and ``holdout``, so every type is split
    about in half, and a sample's half does not depend on file order."""
    if part == "all":
        return list(samples)
    freq = Counter(t for s in samples for t, _, _ in s.spans)
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for i, s in enumerate(samples):
        key = min((t for t, _, _ in s.spans), key=lambda t: (freq[t], t), default="none")
        digest = hashlib.sha256(f"{SPLIT_SEED}\x00{s.text}".encode()).hexdigest()
        groups[key].append((digest, i))
    chosen: list[int] = []
    want = 0 if part == "tune" else 1
    for key in sorted(groups):
        ranked = sorted(groups[key])
        chosen += [i for n, (_, i) in enumerate(ranked) if n % 2 == want]
    return [samples[i] for i in sorted(chosen)]


@dataclass
class TypeScore:
    n: int = 0
    leaked: int = 0
    detected: int = 0  # fully covered by any detection, scrubbed or report-only

    @property
    def leak_rate(self) -> float:
        return self.leaked / self.n if self.n else 0.0

    @property
    def recall(self) -> float:
        return 1.0 - self.leak_rate


@dataclass
class Scores:
    samples: int = 0
    words: int = 0
    by_type: dict[str, TypeScore] = field(default_factory=lambda: defaultdict(TypeScore))
    predicted: Counter[str] = field(default_factory=Counter)
    predicted_same: Counter[str] = field(default_factory=Counter)   # overlaps its own type
    predicted_safe: Counter[str] = field(default_factory=Counter)   # overlaps a scrubbed type
    false_spans: Counter[str] = field(default_factory=Counter)      # overlaps nothing labelled

    def precision(self, ours: str) -> float | None:
        n = self.predicted.get(ours, 0)
        return self.predicted_same[ours] / n if n else None

    def protective_precision(self, ours: str) -> float | None:
        n = self.predicted.get(ours, 0)
        return self.predicted_safe[ours] / n if n else None

    def per_kilo_words(self, ours: str | None = None) -> float:
        """Replaced spans that overlap no labelled entity, per 1,000 words."""
        n = sum(self.false_spans.values()) if ours is None else self.false_spans[ours]
        return 1000 * n / self.words if self.words else 0.0

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for t, s in sorted(self.by_type.items(), key=lambda kv: (-kv[1].n, kv[0])):
            ours = ALIASES.get(t, t)
            p = self.precision(ours)
            r = s.recall
            f2 = 5 * p * r / (4 * p + r) if p is not None and (4 * p + r) > 0 else None
            rows.append({"entity_type": t, "n": s.n, "leaked": s.leaked,
                         "leak_rate": round(s.leak_rate, 4), "recall": round(r, 4),
                         "precision": None if p is None else round(p, 4),
                         "f2": None if f2 is None else round(f2, 4),
                         "detected_rate": round(s.detected / s.n, 4) if s.n else 0.0})
        return rows

    def scrubbed_rows(self) -> list[dict[str, Any]]:
        """Per type we replaced: spans, precision, protective precision, false spans per
        1,000 words."""
        out = []
        for t in sorted(self.predicted, key=lambda t: (-self.predicted[t], t)):
            p, pp = self.precision(t), self.protective_precision(t)
            out.append({"entity_type": t, "spans": self.predicted[t],
                        "precision": None if p is None else round(p, 4),
                        "protective_precision": None if pp is None else round(pp, 4),
                        "false_spans": self.false_spans[t],
                        "false_per_1k_words": round(self.per_kilo_words(t), 3)})
        return out

    def as_dict(self) -> dict[str, Any]:
        total_pred = sum(self.predicted.values())
        return {"samples": self.samples, "words": self.words, "by_type": self.rows(),
                "scrubbed": self.scrubbed_rows(), "scrubbed_spans": total_pred,
                "precision_overall": round(sum(self.predicted_same.values()) / total_pred, 4)
                if total_pred else None,
                "false_per_1k_words": round(self.per_kilo_words(), 3)}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def tables(name: str, split: str, ours: dict[str, Any], base: dict[str, Any] | None,
           over: dict[str, Any] | None) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The eval-pii report as data: (title, columns, rows) per table."""
    base_rows = {r["entity_type"]: r for r in (base or {}).get("by_type", [])}
    rows = []
    for r in ours["by_type"]:
        b = base_rows.get(r["entity_type"], {})
        rows.append([r["entity_type"], r["n"], _pct(r["leak_rate"]), _pct(b.get("leak_rate")),
                     _pct(r["precision"]), _pct(b.get("precision")), _pct(r["f2"]),
                     _pct(b.get("f2"))])
    out = [(f"PII scrubbing on {name}, split {split} ({ours['samples']} texts): leaked = any "
            "letter or digit of the entity left in the text; precision = replaced spans "
            "that overlap an entity of the same type",
            ["entity type", "n", "leak", "leak (Presidio)", "precision",
             "precision (Presidio)", "F2", "F2 (Presidio)"], rows)]
    clean = {r["entity_type"]: r for r in (over or {}).get("scrubbed", [])}
    types = [r["entity_type"] for r in ours["scrubbed"]]
    types += [t for t in clean if t not in types]
    labelled = {r["entity_type"]: r for r in ours["scrubbed"]}
    rows = []
    for t in types:
        r, c = labelled.get(t, {}), clean.get(t, {})
        rows.append([t, r.get("spans", 0), _pct(r.get("precision")),
                     _pct(r.get("protective_precision")), r.get("false_spans", 0),
                     c.get("spans", 0), f"{c.get('false_per_1k_words', 0.0):.2f}"])
    words = over["words"] if over else 0
    out.append((f"Replaced spans by type: on {name}, and over-scrubbing on the packaged "
                f"PII-free agent traffic ({over['samples'] if over else 0} texts, {words} "
                "words, same split)",
                ["type", "spans", "precision", "protective precision", "false spans",
                 "PII-free: spans", "PII-free: per 1k words"], rows))
    return out


def _uncovered(text: str, start: int, end: int, covered: list[tuple[int, int]]) -> bool:
    for i in range(start, end):
        if text[i].isalnum() and not any(a <= i < b for a, b in covered):
            return True
    return False


Detect = Callable[[str], tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]]


def score(samples: Iterable[Labelled], detect: Detect, reporter: Reporter | None = None,
          total: int | None = None) -> Scores:
    """``detect(text)`` returns (scrubbed spans, report-only spans) as (type, start, end)."""
    rep = reporter or NullReporter()
    out = Scores()
    with rep.task("scoring PII detection", total=total) as task:
        for s in samples:
            scrubbed, report_only = detect(s.text)
            out.samples += 1
            out.words += len(s.text.split())
            cov = [(a, b) for _, a, b in scrubbed]
            any_cov = cov + [(a, b) for _, a, b in report_only]
            for etype, a, b in s.spans:
                ts = out.by_type[etype]
                ts.n += 1
                ts.leaked += _uncovered(s.text, a, b, cov)
                ts.detected += not _uncovered(s.text, a, b, any_cov)
            for etype, a, b in scrubbed:
                hits = {ALIASES.get(t, t) for t, s0, e in s.spans if a < e and s0 < b}
                out.predicted[etype] += 1
                out.predicted_same[etype] += etype in hits
                out.predicted_safe[etype] += bool(hits & set(SCRUBBED_LABELS))
                out.false_spans[etype] += not hits
            task.advance()
    return out


def ours(cfg: Any) -> Detect:
    """Our scrubber as configured (spans after merging, propagation and field rules)."""
    from slmconvert.pii.scrubber import Scrubber
    from slmconvert.pii.spans import merge

    scrubber = Scrubber(cfg)

    def detect(text: str) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
        _, spans = scrubber.scrub_text(text)
        found = scrubber.detector.analyze([text])[0]
        report = [(s.entity, s.start, s.end) for s in merge(found)
                  if s.entity in scrubber.report_only]
        return [(s.entity, s.start, s.end) for s in spans], report

    return detect


def presidio_defaults(spacy_model: str) -> Detect:
    """Presidio out of the box with the same spaCy model: every entity it finds is
    replaced (its anonymizer's default), at its default score threshold."""
    from slmconvert.pii.analyzer import presidio_stock_analyzer

    analyzer = presidio_stock_analyzer(spacy_model)

    def detect(text: str) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
        return [(r.entity_type, r.start, r.end) for r in analyzer.analyze(text, "en")], []

    return detect
