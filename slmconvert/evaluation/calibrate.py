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
                     level: float = 0.95, groups: Sequence[str] | None = None,
                     seed: int = 0) -> Calibration:
    """The lowest confidence threshold whose kept answers number at least ``min_kept``
    and agree with the LLM at ``target`` or better by the lower Wilson bound, and, with
    ``groups`` (each answer's conversation), by the lower bound of a bootstrap over
    conversations too."""
    if groups is not None and len(groups) != len(answers):
        raise ValueError("groups must have one entry per answer")
    pairs = [(a, None if groups is None else groups[i]) for i, a in enumerate(answers)
             if not a.abstained and a.confidence is not None]
    need = min_sample(target, level)
    if len(pairs) < min_kept:
        return Calibration("none", None, apply_threshold(answers, None, level),
                           f"{len(pairs)} accepted val answers, fewer than the "
                           f"{min_kept} a threshold needs")
    ranked = sorted(pairs, key=lambda p: -(p[0].confidence or 0.0))
    best: tuple[float, int] | None = None
    correct = 0
    for i, (a, _) in enumerate(ranked):
        correct += a.correct
        n = i + 1
        if i + 1 < len(ranked) and ranked[i + 1][0].confidence == a.confidence:
            continue  # ties are kept together
        lo = wilson(correct, n, level)
        if n < min_kept or lo is None or lo[0] < target:
            continue
        if groups is not None:
            glo = group_lower_bound([x.correct for x, _ in ranked[:n]],
                                    [str(g) for _, g in ranked[:n]], level=level, seed=seed)
            if glo is not None and glo < target:
                continue
        best = (a.confidence or 0.0, n)
    if best is None:
        out = apply_threshold(answers, None, level)
        ci = out.ci
        lo_txt = f"{ci[0]:.0%}" if ci else "n/a"
        small = (f"; {len(pairs)} accepted val answers cannot show it: a {level:.0%} lower "
                 f"bound of {target:.0%} needs {need} even if all agree") \
            if len(pairs) < need else ""
        return Calibration("none", None, out,
                           f"no confidence threshold keeps {min_kept}+ val answers at "
                           f"{target:.0%} agreement (all accepted: {out.agreement or 0:.0%}, "
                           f"lower bound {lo_txt}){small}")
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


# --------------------------------------------------- calibration quality ----

def as_probability(confidence: float | None, measure: str) -> float | None:
    """A confidence on [0, 1]: log-probabilities (mean or minimum per token) are
    exponentiated; a choice probability (label-constrained decoding) is one already."""
    if confidence is None:
        return None
    if measure in ("mean_logprob", "min_logprob"):
        return math.exp(min(0.0, confidence))
    return min(1.0, max(0.0, confidence))


def ece(probs: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float | None:
    """Expected calibration error: over equal-width probability bins, the mean gap
    between a bin's mean confidence and its accuracy, weighted by the bin's size."""
    if not probs:
        return None
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            conf = sum(probs[i] for i in idx) / len(idx)
            acc = sum(bool(correct[i]) for i in idx) / len(idx)
            total += len(idx) * abs(conf - acc)
    return total / len(probs)


def auroc(scores: Sequence[float], correct: Sequence[bool]) -> float | None:
    """Area under the ROC curve of confidence as a detector of correct answers: the
    chance that a correct answer has a higher confidence than a wrong one (ties count
    half). None unless both kinds occur."""
    pos = [s for s, c in zip(scores, correct, strict=True) if c]
    neg = [s for s, c in zip(scores, correct, strict=True) if not c]
    if not pos or not neg:
        return None
    ranked = sorted(scores)
    # mid-ranks, so ties count half
    rank: dict[float, float] = {}
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1] == ranked[i]:
            j += 1
        rank[ranked[i]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = sum(rank[s] for s in pos)
    return (r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def calibration_quality(answers: Sequence[Answer], measure: str) -> dict[str, object]:
    """ECE and AUROC of the accepted answers' confidences against their correctness."""
    acc = [a for a in answers if not a.abstained and a.confidence is not None]
    probs = [as_probability(a.confidence, measure) or 0.0 for a in acc]
    right = [a.correct for a in acc]
    e, auc = ece(probs, right), auroc([a.confidence or 0.0 for a in acc], right)
    return {"n": len(acc), "ece": _r(e), "auroc": _r(auc)}


# ------------------------------------------------ does the threshold hold? ----

def min_sample(target: float, level: float = 0.95) -> int:
    """The fewest answers whose lower Wilson bound can reach ``target`` even when all
    of them agree (0.95 at 95%: 73)."""
    n = 1
    while n < 100_000:
        ci = wilson(n, n, level)
        if ci is not None and ci[0] >= target:
            return n
        n += 1
    return n


def group_lower_bound(correct: Sequence[bool], groups: Sequence[str], *, level: float,
                      seed: int, n: int = 1000) -> float | None:
    """Lower bound of agreement by a cluster bootstrap: conversations are resampled with
    replacement (calls of one conversation are not independent). None when no
    conversation holds two answers (then the Wilson bound is the right one)."""
    import numpy as np

    by: dict[str, list[int]] = {}
    for c, g in zip(correct, groups, strict=True):
        by.setdefault(g, []).append(int(bool(c)))
    if not by or all(len(v) < 2 for v in by.values()):
        return None
    k = np.array([sum(v) for v in by.values()], dtype=float)
    m = np.array([len(v) for v in by.values()], dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(k), size=(n, len(k)))
    rates = k[idx].sum(axis=1) / m[idx].sum(axis=1)
    return float(np.quantile(rates, (1 - level) / 2))


def folds_by_group(groups: Sequence[str], k: int, seed: int) -> list[int]:
    """Fold of each answer, whole conversations per fold (deterministic by seed)."""
    import hashlib

    order = sorted(set(groups), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).digest())
    fold = {g: i % k for i, g in enumerate(order)}
    return [fold[g] for g in groups]


def cross_validate(answers: Sequence[Answer], groups: Sequence[str], *, target: float,
                   min_kept: int, level: float, folds: int, seed: int) -> dict[str, object]:
    """Out-of-fold estimate of what the val-chosen threshold does on new calls: for each
    fold (whole conversations), a threshold chosen on the other folds is applied to it;
    the kept share and agreement pooled over folds, beside the in-sample ones."""
    fold_of = folds_by_group(groups, folds, seed)
    k_n = k_kept = k_correct = 0
    chosen = 0
    for f in range(folds):
        fit = [a for a, g in zip(answers, fold_of, strict=True) if g != f]
        held = [a for a, g in zip(answers, fold_of, strict=True) if g == f]
        if not held:
            continue
        cal = choose_threshold(fit, target=target, min_kept=min_kept, level=level)
        k_n += len(held)
        if cal.mode == "none":
            continue
        chosen += 1
        out = apply_threshold(held, cal.threshold, level)
        k_kept, k_correct = k_kept + out.kept, k_correct + out.correct
    return {"folds": folds, "folds_with_threshold": chosen,
            "share_kept": _r(k_kept / k_n) if k_n else None,
            "agreement": _r(k_correct / k_kept) if k_kept else None}


Verdict = Literal["replace", "hybrid", "keep"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    threshold: float | None
    reason: str


def decide(cal: Calibration, *, min_share: float, max_abstain: float,
           cv: dict[str, object] | None = None, tolerance: float | None = None) -> Decision:
    """The verdict from val alone: ``keep`` when no threshold meets the target, when it
    keeps under ``min_share`` of val calls, or when the cross-validated kept share (``cv``,
    from :func:`cross_validate`) differs from the in-sample one by more than
    ``tolerance``; ``replace`` when every accepted answer counts and the verifier rejects
    at most ``max_abstain``; else ``hybrid``."""
    o = cal.outcome
    abstain_share = o.abstained / o.n if o.n else 1.0
    if cal.mode == "none":
        return Decision("keep", None, cal.reason)
    if (o.share_kept or 0) < min_share:
        return Decision("keep", None, f"the SLM meets the target on {o.share_kept:.0%} of val "
                                      f"calls, under min_share {min_share:.0%}")
    cv_share = None if cv is None else cv.get("share_kept")
    if tolerance is not None and isinstance(cv_share, float | int) and \
            abs(cv_share - (o.share_kept or 0)) > tolerance:
        return Decision("keep", None, (
            f"the threshold does not hold across val folds: chosen on other conversations "
            f"it keeps {cv_share:.0%} of held-out val calls, {o.share_kept:.0%} in-sample "
            f"(tolerance {tolerance:.0%})"))
    if cal.mode == "all" and abstain_share <= max_abstain:
        return Decision("replace", None, cal.reason)
    reason = cal.reason
    if cal.mode == "all":
        reason += f"; the verifier rejects {abstain_share:.0%} (they go to the LLM)"
    return Decision("hybrid", cal.threshold, reason)


def transfer(val: Outcome, test: Outcome, tolerance: float) -> tuple[dict[str, object], str | None]:
    """The val-to-test gap of a route's kept share and agreement, and why the route
    must fall back to the LLM when the threshold did not transfer (kept share off by more
    than ``tolerance`` either way, or agreement lower by more than it); None when it did."""
    gap_share = None if val.share_kept is None or test.share_kept is None \
        else test.share_kept - val.share_kept
    gap_agree = None if val.agreement is None or test.agreement is None \
        else test.agreement - val.agreement
    out: dict[str, object] = {
        "val_share_kept": _r(val.share_kept), "test_share_kept": _r(test.share_kept),
        "gap_share_kept": _r(gap_share), "val_agreement": _r(val.agreement),
        "test_agreement": _r(test.agreement), "gap_agreement": _r(gap_agree),
        "tolerance": tolerance}
    bad_share = gap_share is not None and abs(gap_share) > tolerance
    bad_agree = gap_agree is not None and gap_agree < -tolerance
    if not (bad_share or bad_agree):
        return out, None
    test_agree = "-" if test.agreement is None else f"{test.agreement:.0%}"
    return out, (f"the threshold did not transfer from val to test: it keeps "
                 f"{val.share_kept or 0:.0%} of val calls at {val.agreement or 0:.0%} agreement "
                 f"but {test.share_kept or 0:.0%} of test calls at {test_agree} (tolerance "
                 f"{tolerance:.0%})")
