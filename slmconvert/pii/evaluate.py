"""`slmconvert curate eval-pii`: leak rate, recall, precision and F2 on span-labelled text.

Input is the presidio-research format: a JSON list of ``{full_text, spans: [{entity_type,
entity_value, start_position, end_position}]}``. A labelled entity is *leaked* when any
letter or digit of it is left outside every scrubbed span, so a half-masked address
counts as a leak. Recall is the share of entities not leaked. Precision is, per type
we scrubbed, the share of scrubbed spans that overlap some labelled entity (of any
type: an SSN scrubbed as a phone number is still protected). F2 weighs recall twice.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.errors import InputError

# Labelled type -> the type our detector reports for it (for per-type precision and F2).
ALIASES = {"ADDRESS": "STREET_ADDRESS", "GPE": "LOCATION", "ZIP_CODE": "STREET_ADDRESS",
           "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER", "SSN": "US_SSN",
           "IP": "IP_ADDRESS", "IBAN": "IBAN_CODE"}
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
    by_type: dict[str, TypeScore] = field(default_factory=lambda: defaultdict(TypeScore))
    predicted: Counter[str] = field(default_factory=Counter)
    predicted_hit: Counter[str] = field(default_factory=Counter)

    def precision(self, ours: str) -> float | None:
        n = self.predicted.get(ours, 0)
        return self.predicted_hit[ours] / n if n else None

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for t, s in sorted(self.by_type.items(), key=lambda kv: -kv[1].n):
            p = self.precision(ALIASES.get(t, t))
            r = s.recall
            f2 = 5 * p * r / (4 * p + r) if p is not None and (4 * p + r) > 0 else None
            rows.append({"entity_type": t, "n": s.n, "leaked": s.leaked,
                         "leak_rate": round(s.leak_rate, 4), "recall": round(r, 4),
                         "precision": None if p is None else round(p, 4),
                         "f2": None if f2 is None else round(f2, 4),
                         "detected_rate": round(s.detected / s.n, 4) if s.n else 0.0})
        return rows

    def as_dict(self) -> dict[str, Any]:
        total_pred = sum(self.predicted.values())
        return {"samples": self.samples, "by_type": self.rows(),
                "scrubbed_spans": total_pred,
                "precision_overall": round(sum(self.predicted_hit.values()) / total_pred, 4)
                if total_pred else None}


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
            cov = [(a, b) for _, a, b in scrubbed]
            any_cov = cov + [(a, b) for _, a, b in report_only]
            for etype, a, b in s.spans:
                ts = out.by_type[etype]
                ts.n += 1
                ts.leaked += _uncovered(s.text, a, b, cov)
                ts.detected += not _uncovered(s.text, a, b, any_cov)
            for etype, a, b in scrubbed:
                out.predicted[etype] += 1
                out.predicted_hit[etype] += any(a < e and s0 < b for _, s0, e in s.spans)
            task.advance()
    return out


def ours(cfg: Any) -> Detect:
    """Our scrubber as configured (spans after merging, propagation and field rules)."""
    from slmconvert.pii.engine import Scrubber, merge

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
    from slmconvert.pii.engine import presidio_stock_analyzer

    analyzer = presidio_stock_analyzer(spacy_model)

    def detect(text: str) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
        return [(r.entity_type, r.start, r.end) for r in analyzer.analyze(text, "en")], []

    return detect
