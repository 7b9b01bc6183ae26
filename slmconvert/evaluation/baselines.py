"""Trivial baselines an SLM must beat: the majority answer, and TF-IDF + logistic regression.

A task whose answers are a closed set (labels, or which tool to call) may not need a
language model at all: if the most common training answer, or a linear classifier on
the request's words, already agrees with the LLM at the target, a fine-tuned SLM adds
cost and risk for nothing. Both baselines learn from the cluster's train split only and
are scored on the same test calls as the SLM, on what they can predict:

- labels: the normalised label (exact match, as :func:`metrics.score_response`);
- tool calls: the set of tool names called (the SLM's ``name_accuracy`` is the
  comparable figure; a baseline that only names the tool is favoured by this);
- JSON and free text: the majority answer only (a classifier of whole texts is
  meaningless); it matters when one answer dominates.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slmconvert.core.records import CallRecord, request_text
from slmconvert.evaluation.calibrate import wilson
from slmconvert.evaluation.metrics import normalise_answer, response_kind

MAX_TRAIN = 20_000  # a seeded sample of train calls above this (the fit stays seconds)


def answer_key(rec: CallRecord) -> str | None:
    """What a baseline predicts of a call's LLM answer: the normalised label, the
    sorted tool names (``a+b``), or the normalised whole answer; None without one."""
    resp = rec.response
    if resp is None:
        return None
    if resp.tool_calls:
        return "+".join(sorted(tc.name for tc in resp.tool_calls))
    return normalise_answer(resp.content or "")


def features_text(rec: CallRecord) -> str:
    """The request as the classifier reads it: its messages without the system prompt
    (which every call of the task shares)."""
    return request_text(rec, instructions=False)


@dataclass(frozen=True)
class BaselineResult:
    name: str
    predicts: str
    n: int
    correct: int
    level: float
    note: str = ""

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    def as_dict(self) -> dict[str, Any]:
        ci = wilson(self.correct, self.n, self.level)
        acc = self.accuracy
        return {"name": self.name, "predicts": self.predicts, "n": self.n,
                "correct": self.correct, "accuracy": None if acc is None else round(acc, 4),
                "accuracy_ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
                "note": self.note}


def _predicts(kind: str) -> str:
    return {"label": "label", "tool_call": "tool names"}.get(kind, "whole answer")


def run_baselines(train: Iterable[CallRecord], test: Sequence[CallRecord], kind: str, *,
                  seed: int, level: float = 0.95) -> list[BaselineResult]:
    """The majority answer for every kind; TF-IDF + logistic regression for labels and
    tool calls. ``train`` is streamed into a seeded sample of at most MAX_TRAIN calls."""
    rng = random.Random(f"{seed}:baselines")
    sample: list[tuple[str, str]] = []  # (features, key), reservoir-sampled
    seen = 0
    for rec in train:
        key = answer_key(rec)
        if key is None or rec.response is None or response_kind(rec.response) != kind:
            continue
        seen += 1
        item = (features_text(rec), key)
        if len(sample) < MAX_TRAIN:
            sample.append(item)
        else:
            j = rng.randrange(seen)
            if j < MAX_TRAIN:
                sample[j] = item
    refs = [(features_text(r), answer_key(r)) for r in test if r.response is not None]
    predicts = _predicts(kind)
    if not sample or not refs:
        return []
    counts = Counter(k for _, k in sample)
    top = min(counts, key=lambda k: (-counts[k], k))  # ties: the first in sort order
    out = [BaselineResult("majority", predicts, len(refs),
                          sum(k == top for _, k in refs), level,
                          f"always the most common train answer ({counts[top]} of "
                          f"{len(sample)} train calls)")]
    if kind not in ("label", "tool_call"):
        return out
    if len(counts) < 2:
        out.append(BaselineResult("tfidf_logreg", predicts, len(refs),
                                  sum(k == top for _, k in refs), level,
                                  "one answer in train: the same as majority"))
        return out
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=50_000)
    x = vec.fit_transform([t for t, _ in sample])
    clf = LogisticRegression(max_iter=2000)
    clf.fit(x, [k for _, k in sample])
    pred = clf.predict(vec.transform([t for t, _ in refs]))
    out.append(BaselineResult("tfidf_logreg", predicts, len(refs),
                              sum(p == k for p, (_, k) in zip(pred, refs, strict=True)),
                              level, f"word 1-2-gram TF-IDF, {len(counts)} classes, "
                                     f"{len(sample)} train calls"))
    return out
