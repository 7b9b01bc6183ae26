"""Confidence thresholds: which of a small model's answers to keep, chosen on val.

Every answer the verifier accepts has a confidence (the mean or minimum token
log-probability of the answer). Keeping the answers at or above a threshold trades
coverage (the share of calls the SLM keeps) for agreement with the LLM among them.
:func:`choose_threshold` picks, on the val split, the lowest threshold (the most calls
kept) whose kept answers meet the quality target by the lower bound of a 95% Wilson
score interval, over at least ``min_kept`` answers; :func:`apply_threshold` then
measures the chosen threshold on other calls (the test split). Pure Python.

Wilson rather than a percentile bootstrap for these rates: with every kept answer
correct the bootstrap interval collapses to [1, 1] whatever the sample size, so five
lucky answers would pass any target; the Wilson bound grows with n (all of n correct
gives n / (n + 3.84) at 95%: 0.95 needs 73 answers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

Mode = Literal["all", "threshold", "none"]


@dataclass(frozen=True)
class Answer:
    """One SLM answer as calibration sees it. ``abstained``: the verifier rejected it
    (it goes to the LLM whatever its confidence)."""

    correct: bool
    confidence: float | None
    abstained: bool = False


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion k/n; None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, n], got k={k}, n={n}")
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact at the ends (k = 0 gives 0, k = n gives 1), free of float rounding
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def kept(a: Answer, threshold: float | None) -> bool:
    """The router keeps an answer the verifier accepts whose confidence reaches the
    threshold (None: every accepted answer)."""
    if a.abstained:
        return False
    if threshold is None:
        return True
    return a.confidence is not None and a.confidence >= threshold


@dataclass(frozen=True)
class Outcome:
    """What a threshold does on a set of answers: ``n`` answers, ``kept`` of them,
    ``correct`` among those, ``abstained`` by the verifier."""

    n: int
    kept: int
    correct: int
    abstained: int
    level: float = 0.95

    @property
    def share_kept(self) -> float | None:
        return self.kept / self.n if self.n else None

    @property
    def agreement(self) -> float | None:
        return self.correct / self.kept if self.kept else None

    @property
    def ci(self) -> tuple[float, float] | None:
        return wilson(self.correct, self.kept, self.level)

    def as_dict(self) -> dict[str, object]:
        ci = self.ci
        return {"n": self.n, "kept": self.kept, "correct": self.correct,
                "abstained": self.abstained, "share_kept": _r(self.share_kept),
                "agreement": _r(self.agreement),
                "agreement_ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def apply_threshold(answers: Sequence[Answer], threshold: float | None,
                    level: float = 0.95) -> Outcome:
    sel = [a for a in answers if kept(a, threshold)]
    return Outcome(len(answers), len(sel), sum(a.correct for a in sel),
                   sum(a.abstained for a in answers), level)


@dataclass(frozen=True)
class Calibration:
    """The chosen threshold and what it does on the answers it was chosen on.
    ``mode``: ``all`` (every accepted answer meets the target: no threshold needed),
    ``threshold`` (only those at or above ``threshold``), ``none`` (no threshold does).
    ``reason``: one sentence for the report."""

    mode: Mode
    threshold: float | None
    outcome: Outcome
    reason: str


def choose_threshold(answers: Sequence[Answer], *, target: float, min_kept: int,
                     level: float = 0.95) -> Calibration:
    """The lowest confidence threshold whose kept answers number at least ``min_kept``
    and agree with the LLM at ``target`` or better by the lower Wilson bound."""
    accepted = [a for a in answers if not a.abstained and a.confidence is not None]
    if len(accepted) < min_kept:
        return Calibration("none", None, apply_threshold(answers, None, level),
                           f"{len(accepted)} accepted val answers, fewer than the "
                           f"{min_kept} a threshold needs")
    ranked = sorted(accepted, key=lambda a: -(a.confidence or 0.0))
    best: tuple[float, int] | None = None
    correct = 0
    for i, a in enumerate(ranked):
        correct += a.correct
        n = i + 1
        if i + 1 < len(ranked) and ranked[i + 1].confidence == a.confidence:
            continue  # ties are kept together
        lo = wilson(correct, n, level)
        if n >= min_kept and lo is not None and lo[0] >= target:
            best = (a.confidence or 0.0, n)
    if best is None:
        out = apply_threshold(answers, None, level)
        ci = out.ci
        lo_txt = f"{ci[0]:.0%}" if ci else "n/a"
        return Calibration("none", None, out,
                           f"no confidence threshold keeps {min_kept}+ val answers at "
                           f"{target:.0%} agreement (all accepted: {out.agreement or 0:.0%}, "
                           f"lower bound {lo_txt})")
    threshold, n = best
    out = apply_threshold(answers, threshold, level)
    if n == len(ranked):
        return Calibration("all", threshold, out,
                           f"every accepted val answer counts: {out.agreement:.0%} agreement "
                           f"over {n}")
    return Calibration("threshold", threshold, out,
                       f"confidence >= {threshold:.3f} keeps {out.share_kept:.0%} of val calls "
                       f"at {out.agreement:.0%} agreement")


def curve(answers: Sequence[Answer], points: int = 40) -> list[dict[str, float]]:
    """Coverage vs agreement as the threshold falls: for each distinct confidence (at
    most ``points``, evenly spaced by rank), the share of all answers kept and the
    agreement among them."""
    accepted = sorted((a for a in answers if not a.abstained and a.confidence is not None),
                      key=lambda a: -(a.confidence or 0.0))
    if not accepted or not answers:
        return []
    out, correct = [], 0
    cuts = [i for i, a in enumerate(accepted)
            if i + 1 == len(accepted) or accepted[i + 1].confidence != a.confidence]
    step = max(1, math.ceil(len(cuts) / points))
    chosen = set(cuts[::step]) | {cuts[-1]}
    for i, a in enumerate(accepted):
        correct += a.correct
        if i in chosen:
            out.append({"threshold": round(a.confidence or 0.0, 4),
                        "share_kept": round((i + 1) / len(answers), 4),
                        "agreement": round(correct / (i + 1), 4)})
    return out
