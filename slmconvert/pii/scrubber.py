"""Scrub whole records: detect, grow, propagate, replace, verify.

A record is scrubbed as a unit: every text-bearing place (:mod:`slmconvert.pii.walk`) is
analysed in one batch; every value found anywhere in the record is then also replaced
wherever else it occurs in that record (:mod:`slmconvert.pii.occurrences`), and each
distinct value gets one placeholder (``<PERSON_1>``) so the model still learns to copy a
value from the prompt into a tool call. After replacing, the record is searched once
more: if anything found survives, scrubbing failed and the caller drops the record
(privacy fails closed).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slmconvert.core.records import CallRecord, Message, tool_names
from slmconvert.pii.analyzer import Detector
from slmconvert.pii.config import PiiConfig, norm_key, norm_value
from slmconvert.pii.occurrences import ID_ENTITY, CasedOnly, Occurrences, ScrubError
from slmconvert.pii.placeholders import Replacements
from slmconvert.pii.spans import Span, grow
from slmconvert.pii.surrogates import SURROGATE_KEY_ENV
from slmconvert.pii.walk import Plan, fragments

# Types not looked for in provenance values of ``extra`` (source labels, file names, ids):
# there a "name" is a project or a file, and a long id is not a secret.
NOT_IN_PROVENANCE = frozenset({"PERSON", "STREET_ADDRESS", "SECRET"})


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

    def add(self, other: ScrubStats) -> None:
        self.records += other.records
        self.records_with_pii += other.records_with_pii
        self.found.update(other.found)
        self.by_place.update(other.by_place)
        self.report_only.update(other.report_only)
        self.propagated += other.propagated
        self.field_rule_hits += other.field_rule_hits

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "records_with_pii": self.records_with_pii,
                "found": dict(self.found), "by_place": dict(self.by_place),
                "report_only": dict(self.report_only), "propagated": self.propagated,
                "field_rule_hits": self.field_rule_hits}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ScrubStats:
        return cls(records=d["records"], records_with_pii=d["records_with_pii"],
                   found=Counter(d["found"]), by_place=Counter(d["by_place"]),
                   report_only=Counter(d["report_only"]), propagated=d["propagated"],
                   field_rule_hits=d["field_rule_hits"])


class Scrubber:
    """Scrub batches of records; one Scrubber holds the loaded analyzer."""

    def __init__(self, cfg: PiiConfig, seed: int = 0) -> None:
        from presidio_anonymizer import AnonymizerEngine

        self.cfg = cfg
        self.detector = Detector(cfg)
        self.anonymizer = AnonymizerEngine()
        self.scrubbed = {*cfg.scrubbed_entities(), ID_ENTITY}
        self.report_only = set(cfg.report_only) - self.scrubbed
        secret = os.environ.get(SURROGATE_KEY_ENV, "")
        self._key = hashlib.sha256(f"slmconvert-surrogate:{seed}:{secret}".encode()).digest()
        self.stats = ScrubStats()  # every record scrubbed so far
        self.last_stats: list[ScrubStats] = []  # per record of the last batch
        self._cased = CasedOnly(self.detector.words)

    # ---- public
    def scrub_batch(self, records: Sequence[CallRecord]) -> list[CallRecord | ScrubError]:
        """Each record scrubbed in place, or the error that means it must be dropped.
        ``last_stats`` then holds what was found in each record (a caller that keeps
        only some of them counts only those)."""
        self.last_stats = [ScrubStats() for _ in records]
        plans: list[Plan | ScrubError] = []
        texts: list[str] = []
        allow: list[set[str]] = []
        for r in records:
            try:
                made = fragments(r, self.cfg.provenance_keys)
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
            names = allowed_names(r)
            texts.extend(f.text for f in made.frags)
            allow.extend(names for _ in made.frags)
        try:
            found = self.detector.analyze(texts, allow)
        except Exception as exc:
            if len(records) == 1:  # the analyzer fails on this call: drop it, fail closed
                return [ScrubError(f"analyzer failed: {type(exc).__name__}")]
            # One call's text must not cost the others theirs: each alone (so whether a
            # call is kept never depends on the batch it came in).
            alone: list[CallRecord | ScrubError] = []
            stats: list[ScrubStats] = []
            for r in records:
                alone += self.scrub_batch([r])
                stats += self.last_stats
            self.last_stats = stats
            return alone
        out: list[CallRecord | ScrubError] = []
        pos = 0
        total = self.stats
        for r, plan, mine in zip(records, plans, self.last_stats, strict=True):
            if isinstance(plan, ScrubError):
                out.append(plan)
                continue
            spans = found[pos:pos + len(plan.frags)]
            pos += len(plan.frags)
            self.stats = mine
            try:
                out.append(self._apply(r, plan, spans))
            except ScrubError as exc:
                out.append(exc)
            except Exception as exc:
                out.append(ScrubError(f"scrubbing raised {type(exc).__name__}"))
            finally:
                self.stats = total
                total.add(mine)
        return out

    def scrub_text(self, text: str) -> tuple[str, list[Span]]:
        """Scrub one free text (eval-pii); returns the new text and the spans replaced."""
        r = CallRecord(source="text", messages=[Message(role="user", content=text)])
        plan = fragments(r)
        spans_out: list[Span] = []
        self._apply(r, plan, self.detector.analyze([f.text for f in plan.frags]),
                    collect=spans_out, verify=False)
        return r.messages[0].content or "", spans_out

    # ---- replacing
    def _apply(self, r: CallRecord, plan: Plan, spans: list[list[Span]],
               collect: list[Span] | None = None, verify: bool = True) -> CallRecord:
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        frags = plan.frags
        names = allowed_names(r)
        per_frag: list[list[Span]] = []
        values: dict[str, str] = {}  # normalised value -> entity, everything found in the call
        for f, found in zip(frags, spans, strict=True):
            keep = [s for s in found if s.entity in self.scrubbed
                    and not (f.provenance and s.entity in NOT_IN_PROVENANCE)]
            for s in found:
                if s.entity in self.report_only:
                    self.stats.report_only[s.entity] += 1
            rule = self.cfg.field_rules.get(norm_key(f.key)) if f.key else None
            if rule and rule in self.scrubbed and f.text.strip() \
                    and norm_value(f.text) not in names:
                keep = [Span(0, len(f.text), rule, 1.0)]
                self.stats.field_rule_hits += 1
            others = [s for s in found if s.entity in self.report_only]
            keep = grow(f.text, keep, others, self.detector.words)
            per_frag.append(keep)
            for s in keep:
                values.setdefault(norm_value(f.text[s.start:s.end]), s.entity)
        occurrences = Occurrences(values, self._cased)
        if self.cfg.propagate and occurrences:
            grown = [occurrences.spans(f.text, keep) for f, keep in zip(frags, per_frag,
                                                                          strict=True)]
            self.stats.propagated += sum(len(g) - len(k) for g, k in zip(grown, per_frag,
                                                                          strict=True))
            per_frag = grown
            for f, keep in zip(frags, per_frag, strict=True):
                for s in keep:
                    values.setdefault(norm_value(f.text[s.start:s.end]), s.entity)
        mapping = Replacements(self.cfg, values, self._key)
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
            occurrences.verify(f.text for f in fragments(r, self.cfg.provenance_keys).frags)
        return r


def allowed_names(r: CallRecord) -> set[str]:
    """The normalised names of the tools a call offers or calls: never scrubbed."""
    return {norm_value(n) for n in tool_names(r)}
