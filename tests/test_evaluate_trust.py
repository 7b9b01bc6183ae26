"""Figures that hold where they are used: leak-free splits, baselines, calibration quality,
thresholds that transfer, and economics (issue 17). Pure functions, real scikit-learn."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from slmconvert.core.records import CallRecord, Message, ToolCall
from slmconvert.evaluation.baselines import answer_key, run_baselines
from slmconvert.evaluation.calibrate import (
    Answer,
    apply_threshold,
    auroc,
    calibration_quality,
    choose_threshold,
    cross_validate,
    decide,
    ece,
    group_lower_bound,
    min_sample,
    transfer,
)
from slmconvert.evaluation.economics import Economics, Span, overall, task_economics
from slmconvert.evaluation.leaks import find_leaks
from slmconvert.stages.curate import NearDuplicates

WORDS = ("river stone lantern copper meadow violet harbour engine orchard signal "
         "timber falcon granite ember willow canyon marble thistle beacon cobalt").split()


def _call(i: int, text: str, answer: str = "ok", conv: str | None = None,
          tools: list[str] | None = None) -> CallRecord:
    resp = Message(role="assistant", content=None if tools else answer,
                   tool_calls=[ToolCall(id=f"t{i}", name=n, arguments={}) for n in tools or []])
    return CallRecord(id=f"call-{i}", conversation_id=conv or f"conv-{i}", source=f"test:{i}",
                      messages=[Message(role="system", content="You route requests."),
                                Message(role="user", content=text)], response=resp)


def _sentence(rng: random.Random, n: int = 30) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


# ------------------------------------------------------------------ leaks ----

def test_a_near_duplicate_of_a_train_call_planted_in_test_is_caught() -> None:
    rng = random.Random(1)
    train = [_call(i, _sentence(rng, 60)) for i in range(40)]
    planted_src = train[17].messages[1].content or ""
    words = planted_src.split()
    words[-1] = "zeppelin"  # one word changed, another conversation
    planted = _call(1000, " ".join(words), conv="someone-else")
    fresh = [_call(2000 + i, _sentence(rng, 60)) for i in range(10)]
    leaks = find_leaks(iter(train), [*fresh, planted], NearDuplicates(), seed=0)
    assert leaks == {"call-1000": "call-17"}


def test_unrelated_held_out_calls_are_not_leaks() -> None:
    rng = random.Random(2)
    train = [_call(i, _sentence(rng, 40)) for i in range(30)]
    held = [_call(100 + i, _sentence(rng, 40)) for i in range(30)]
    assert find_leaks(iter(train), held, NearDuplicates(), seed=0) == {}
    assert find_leaks(iter(train), [], NearDuplicates(), seed=0) == {}


# -------------------------------------------------------------- baselines ----

def _label_task(n: int, seed: int) -> list[CallRecord]:
    """Requests whose label is decided by one cue word: a linear classifier learns it,
    the majority answer cannot."""
    rng = random.Random(seed)
    cues = {"refund": "billing", "crash": "bug", "invoice": "billing", "login": "account",
            "password": "account", "freeze": "bug"}
    out = []
    for i in range(n):
        cue = rng.choice(sorted(cues))
        text = f"{_sentence(rng, 8)} {cue} {_sentence(rng, 8)}"
        out.append(_call(seed * 10_000 + i, text, cues[cue]))
    return out


def test_baselines_on_labels_majority_and_tfidf() -> None:
    train, test = _label_task(300, 1), _label_task(60, 2)
    res = {r.name: r for r in run_baselines(iter(train), test, "label", seed=0)}
    assert set(res) == {"majority", "tfidf_logreg"}
    top = max(("billing", "bug", "account"),
              key=lambda k: sum(answer_key(c) == k for c in train))
    assert res["majority"].correct == sum(answer_key(c) == top for c in test)
    assert res["tfidf_logreg"].accuracy is not None and res["tfidf_logreg"].accuracy > 0.9
    assert res["majority"].accuracy is not None and res["majority"].accuracy < 0.6
    d = res["tfidf_logreg"].as_dict()
    assert d["n"] == 60 and d["accuracy_ci"][0] < d["accuracy"] <= d["accuracy_ci"][1]


def test_baselines_on_tool_names_and_free_text() -> None:
    rng = random.Random(3)
    train = [_call(i, f"please {t} {_sentence(rng, 6)}", tools=[t])
             for i, t in enumerate(rng.choice(["search", "book", "cancel"]) for _ in range(90))]
    test = [_call(500 + i, f"please {t} {_sentence(rng, 6)}", tools=[t])
            for i, t in enumerate(["search", "book", "cancel"] * 5)]
    assert answer_key(test[0]) == "search"
    res = {r.name: r for r in run_baselines(iter(train), test, "tool_call", seed=0)}
    assert res["tfidf_logreg"].correct == 15 and res["tfidf_logreg"].predicts == "tool names"
    text = [_call(i, _sentence(rng), answer=_sentence(rng, 40)) for i in range(20)]
    only = run_baselines(iter(text[:10]), text[10:], "text", seed=0)
    assert [r.name for r in only] == ["majority"] and only[0].correct == 0


# ------------------------------------------------------------ calibration ----

def test_ece_and_auroc() -> None:
    assert ece([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert ece([1.0, 1.0], [False, False]) == pytest.approx(1.0)
    assert ece([], []) is None
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.5, 0.6], [True, True]) is None
    q = calibration_quality([Answer(True, -0.1), Answer(False, -2.0),
                             Answer(False, None, abstained=True)], "mean_logprob")
    assert q["n"] == 2 and q["auroc"] == 1.0


def test_min_sample_for_the_bound() -> None:
    assert min_sample(0.95) == 73
    assert min_sample(0.5) < min_sample(0.9) < min_sample(0.95)
    cal = choose_threshold([Answer(True, -0.1)] * 30, target=0.95, min_kept=5)
    assert cal.mode == "none" and "needs 73" in cal.reason


def test_conversation_bootstrap_is_wider_than_calls_as_independent() -> None:
    # 10 conversations of 10 calls; 2 conversations wholly wrong: calls are not independent
    correct = [c >= 2 for c in range(10) for _ in range(10)]
    groups = [f"g{c}" for c in range(10) for _ in range(10)]
    lo = group_lower_bound(correct, groups, level=0.95, seed=0)
    from slmconvert.evaluation.calibrate import wilson

    w = wilson(80, 100)
    assert lo is not None and w is not None and lo < w[0]
    assert group_lower_bound([True, False], ["a", "b"], level=0.95, seed=0) is None


# --------------------------------------------------- thresholds that hold ----

def _answers(n: int, seed: int, shift: float = 0.0) -> list[Answer]:
    """Confident answers are right, unconfident ones wrong; ``shift`` moves every
    confidence (a test set the model is less sure of)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        conf = rng.uniform(-3, 0)
        out.append(Answer(conf > -1.5, conf + shift))
    return out


def test_a_hybrid_route_whose_threshold_does_not_transfer_falls_back_to_keep() -> None:
    val = _answers(400, 1)
    groups = [f"c{i}" for i in range(len(val))]
    cal = choose_threshold(val, target=0.9, min_kept=20, groups=groups)
    cv = cross_validate(val, groups, target=0.9, min_kept=20, level=0.95, folds=5, seed=0)
    d = decide(cal, min_share=0.1, max_abstain=0.05, cv=cv, tolerance=0.1)
    assert d.verdict == "hybrid" and d.threshold is not None
    assert abs(float(cv["share_kept"]) - (cal.outcome.share_kept or 0)) <= 0.1  # type: ignore[arg-type]
    # on test the model is less sure: the same threshold keeps far fewer calls
    test = _answers(400, 2, shift=-1.0)
    gap, failed = transfer(cal.outcome, apply_threshold(test, d.threshold), tolerance=0.1)
    assert failed is not None and "did not transfer" in failed
    assert gap["gap_share_kept"] is not None and float(gap["gap_share_kept"]) < -0.1  # type: ignore[arg-type]
    # the same distribution on test transfers
    gap2, ok = transfer(cal.outcome, apply_threshold(_answers(400, 3), d.threshold), 0.1)
    assert ok is None and abs(float(gap2["gap_share_kept"])) <= 0.1  # type: ignore[arg-type]


def test_a_threshold_that_does_not_hold_across_val_folds_keeps() -> None:
    val = _answers(400, 1)
    cal = choose_threshold(val, target=0.9, min_kept=20)
    fake_cv = {"share_kept": (cal.outcome.share_kept or 0) - 0.3}
    d = decide(cal, min_share=0.1, max_abstain=0.05, cv=fake_cv, tolerance=0.1)
    assert d.verdict == "keep" and "across val folds" in d.reason


# --------------------------------------------------------------- economics ----

def test_break_even_and_monthly_savings() -> None:
    cfg = Economics(serve_hour_usd=3.6, train_hour_usd=36.0)  # $0.001/s and $0.01/s
    e = task_economics(cfg=cfg, share_kept=0.5, llm_cost_per_call=0.01,
                       slm_seconds_per_call=1.0, train_seconds=100.0, calls_logged=600,
                       days_logged=3.0)
    # saving per call 0.5 x 0.01 - 0.001 = 0.004; fine-tuning $1; 200 calls a day
    assert e["saving_per_call"] == pytest.approx(0.004)
    assert e["training_cost_usd"] == pytest.approx(1.0)
    assert e["break_even_calls"] == 250
    assert e["calls_per_month"] == 6000.0 and e["monthly_savings_usd"] == pytest.approx(24.0)
    none = task_economics(cfg=cfg, share_kept=0.0, llm_cost_per_call=0.01,
                          slm_seconds_per_call=1.0, train_seconds=100.0, calls_logged=600,
                          days_logged=3.0)
    assert none["break_even_calls"] is None and "keeps no calls" in none["note"]
    unknown = task_economics(cfg=cfg, share_kept=0.5, llm_cost_per_call=None,
                             slm_seconds_per_call=1.0, train_seconds=1.0, calls_logged=1,
                             days_logged=None)
    assert unknown["saving_per_call"] is None and "prices" in unknown["note"]
    tot = overall([e, none])
    assert tot["training_cost_usd"] == pytest.approx(2.0)
    assert none["saving_per_call"] == 0.0 and none["monthly_savings_usd"] == 0.0
    assert tot["monthly_savings_usd"] == pytest.approx(24.0)
    assert tot["months_to_break_even"] == pytest.approx(round(2.0 / 24.0, 2))


def test_span_mixes_aware_and_naive_timestamps() -> None:
    s = Span()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    s.add(t0)
    s.add((t0 + timedelta(days=2)).replace(tzinfo=None))
    s.add(None)
    assert s.calls == 3 and s.days == pytest.approx(2.0)
    assert Span().days is None


# ------------------------------------------------------------------ report ----

def test_report_shows_baselines_calibration_leaks_transfer_and_economics() -> None:
    from slmconvert.evaluation.report import render_html, render_markdown
    from tests.test_evaluate_report import sample_report

    rep = sample_report()
    c = rep["clusters"][0]
    c.update(
        baselines={"results": [{"name": "majority", "accuracy": 0.41},
                               {"name": "tfidf_logreg", "accuracy": 0.62}],
                   "slm_accuracy": 0.8, "best": "tfidf_logreg", "margin": 0.18},
        calibration={"test": {"n": 24, "ece": 0.083, "auroc": 0.71}},
        leaks={"val": 1, "test": 2, "pairs": []},
        transfer={"val_share_kept": 0.6, "test_share_kept": 0.55, "val_agreement": 0.97,
                  "test_agreement": 0.96},
        economics={"llm_cost_per_call": 0.0021, "slm_cost_per_call": 0.0000194,
                   "saving_per_call": 0.00114, "training_cost_usd": 0.0123,
                   "break_even_calls": 11, "calls_per_month": 2720.0,
                   "monthly_savings_usd": 3.1, "note": None})
    md = render_markdown(rep)
    row = next(line for line in md.split("## Baselines", 1)[1].splitlines()
               if line.startswith("| c00 "))
    cells = [x.strip() for x in row.strip("|").split("|")]
    assert cells[2:] == ["80%", "41%", "62%", "+18 pt", "0.083", "0.71", "1/2", "60% → 55%",
                         "97% → 96%"]
    econ = next(line for line in md.split("## Economics", 1)[1].splitlines()
                if line.startswith("| c00 "))
    assert [x.strip() for x in econ.strip("|").split("|")][2:9] == [
        "$0.002100", "$0.000019", "$0.001140", "$0.0123", "11", "2,720", "$3.10"]
    page = render_html(rep)
    assert "<h2>Economics</h2>" in page and "60% → 55%" in page
