"""Confidence thresholds chosen on val, the Wilson interval they are judged by, and the
verifier that decides which answers may count at all."""

from __future__ import annotations

import pytest

from slmconvert.core.records import ToolCall
from slmconvert.evaluation.calibrate import (
    Answer,
    apply_threshold,
    choose_threshold,
    curve,
    kept,
    wilson,
)
from slmconvert.evaluation.verifier import EMPTY, INVALID, INVALID_CALL, MALFORMED_JSON, verify
from slmconvert.prompting.format import parse

# ------------------------------------------------------------------- wilson ----


@pytest.mark.parametrize(("k", "n", "lo", "hi"), [
    (0, 10, 0.0, 0.2775),     # textbook values (Newcombe 1998, z = 1.96)
    (10, 10, 0.7225, 1.0),
    (5, 10, 0.2366, 0.7634),
    (81, 263, 0.2553, 0.3662),
])
def test_wilson_known_values(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson(k, n)
    assert got is not None
    assert got[0] == pytest.approx(lo, abs=1e-3) and got[1] == pytest.approx(hi, abs=1e-3)


def test_wilson_all_correct_needs_73_answers_for_95_percent() -> None:
    assert wilson(72, 72)[0] < 0.95 <= wilson(73, 73)[0]  # type: ignore[index]
    assert wilson(0, 0) is None
    with pytest.raises(ValueError):
        wilson(3, 2)


# ---------------------------------------------------------------- thresholds ----

def _answers(pairs: list[tuple[float, bool]], abstained: int = 0) -> list[Answer]:
    out = [Answer(correct, conf) for conf, correct in pairs]
    return out + [Answer(False, -0.01, abstained=True)] * abstained


def test_confident_answers_are_kept_and_doubtful_ones_escalated() -> None:
    # 100 confident right answers, then 50 doubtful ones that are mostly wrong
    good = [(-0.01 - i * 1e-4, True) for i in range(100)]
    bad = [(-1.0 - i * 1e-3, i % 5 == 1) for i in range(50)]
    cal = choose_threshold(_answers(good + bad), target=0.95, min_kept=20)
    assert cal.mode == "threshold"
    assert -1.0 < cal.threshold <= good[-1][0]  # type: ignore[operator]
    assert cal.outcome.kept == 100 and cal.outcome.correct == 100
    assert cal.outcome.share_kept == pytest.approx(100 / 150)
    assert cal.outcome.ci[0] >= 0.95  # type: ignore[index]


def test_every_answer_good_enough_means_no_threshold_needed() -> None:
    pairs = [(-0.1 * i, True) for i in range(200)] + [(-30.0, False)]
    cal = choose_threshold(_answers(pairs), target=0.95, min_kept=20)
    assert cal.mode == "all" and cal.outcome.kept == 201


def test_too_few_answers_or_too_low_quality_give_no_threshold() -> None:
    few = choose_threshold(_answers([(-0.1, True)] * 10), target=0.5, min_kept=20)
    assert few.mode == "none" and "fewer than the 20" in few.reason
    weak = choose_threshold(_answers([(-0.1 * i, i % 2 == 0) for i in range(100)]),
                            target=0.9, min_kept=20)
    assert weak.mode == "none" and weak.threshold is None


def test_small_perfect_samples_do_not_pass_a_high_target() -> None:
    # the percentile bootstrap would call 30 of 30 correct [1, 1]; Wilson does not
    cal = choose_threshold(_answers([(-0.1, True)] * 30), target=0.95, min_kept=20)
    assert cal.mode == "none"


def test_abstained_answers_are_never_kept_whatever_their_confidence() -> None:
    answers = _answers([(-0.5, True)] * 100, abstained=10)
    cal = choose_threshold(answers, target=0.9, min_kept=20)
    assert cal.mode == "all"
    assert cal.outcome.kept == 100 and cal.outcome.abstained == 10 and cal.outcome.n == 110
    assert not kept(Answer(True, 0.0, abstained=True), None)


def test_tied_confidences_are_kept_or_dropped_together() -> None:
    pairs = [(-0.1, True)] * 80 + [(-0.2, True)] * 10 + [(-0.2, False)] * 10
    cal = choose_threshold(_answers(pairs), target=0.9, min_kept=20)
    assert cal.threshold == -0.1 and cal.outcome.kept == 80


def test_apply_threshold_measures_other_answers_without_changing_it() -> None:
    val = _answers([(-0.01 * i, i < 120) for i in range(150)])
    cal = choose_threshold(val, target=0.95, min_kept=20)
    test = _answers([(-0.01 * i, True) for i in range(0, 150, 3)])
    out = apply_threshold(test, cal.threshold)
    assert out.n == 50 and out.kept == sum(-0.01 * i >= cal.threshold  # type: ignore[operator]
                                           for i in range(0, 150, 3))
    assert out.agreement == 1.0


def test_curve_runs_from_most_confident_to_all_answers() -> None:
    ans = _answers([(-0.01 * i, i % 3 != 0) for i in range(300)], abstained=20)
    pts = curve(ans, points=25)
    assert len(pts) <= 27
    shares = [p["share_kept"] for p in pts]
    assert shares == sorted(shares) and shares[-1] == pytest.approx(300 / 320, abs=1e-4)
    assert all(0 <= p["agreement"] <= 1 for p in pts)
    assert curve([]) == []


# ----------------------------------------------------------------- verifier ----

TOOLS = [{"type": "function", "function": {
    "name": "get_booking", "parameters": {
        "type": "object", "properties": {"ref": {"type": "string"},
                                         "nights": {"type": "integer"}},
        "required": ["ref"]}}}]


def _call(name: str, args: dict[str, object]) -> str:
    import json

    return f'<tool_call>{json.dumps({"name": name, "arguments": args})}</tool_call>'


@pytest.mark.parametrize(("text", "tools", "kind", "reason"), [
    (_call("get_booking", {"ref": "X1"}), TOOLS, "tool_call", None),
    (_call("get_booking", {"ref": "X1", "nights": 2}), TOOLS, "tool_call", None),
    (_call("get_booking", {"nights": 2}), TOOLS, "tool_call", INVALID_CALL),
    (_call("get_booking", {"ref": "X1", "colour": "red"}), TOOLS, "tool_call", INVALID_CALL),
    (_call("get_booking", {"ref": 7}), TOOLS, "tool_call", INVALID_CALL),
    (_call("cancel_booking", {"ref": "X1"}), TOOLS, "tool_call", INVALID),  # parser: unknown
    (_call("get_booking", {"ref": "X1"}), [], "tool_call", INVALID_CALL),
    ('<tool_call>{"name": "get_booking", "arguments": {"ref": ', TOOLS, "tool_call", INVALID),
    ("", TOOLS, "tool_call", EMPTY),
    ("   \n", [], "text", EMPTY),
    ('{"a": 1}', [], "json", None),
    ('```json\n{"a": 1}\n```', [], "json", None),
    ("the answer is a", [], "json", MALFORMED_JSON),
    ('{"a": 1', [], "json", INVALID),
    ("refund_request", [], "label", None),
    ("Sure, here is a summary.", [], "text", None),
    # text in a tool task: scored (wrong), not rejected
    ("Sure, here is a summary.", TOOLS, "tool_call", None),
])
def test_verifier_table(text: str, tools: list[dict[str, object]], kind: str,
                        reason: str | None) -> None:
    check = verify(parse(text, tools), tools, kind)
    assert check.ok is (reason is None)
    assert check.reason == reason, check


def test_verifier_detail_names_the_argument_never_its_value() -> None:
    check = verify(parse(_call("get_booking", {"ref": "SECRET-42", "pin": "9999"}), TOOLS),
                   TOOLS, "tool_call")
    assert not check.ok and "pin" in check.detail
    assert "9999" not in check.detail and "SECRET-42" not in check.detail


def test_schema_problem_checks_without_a_reference() -> None:
    from slmconvert.evaluation.metrics import schema_problem, tool_schemas

    schemas = tool_schemas(TOOLS)
    assert schema_problem(ToolCall(name="get_booking", arguments={"ref": "a"}), schemas) is None
    assert schema_problem(ToolCall(name="get_booking", arguments=[1]), schemas)[0] == \
        "invalid_output"  # type: ignore[index]
    open_schema = tool_schemas([{"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": "number"}},
        "additionalProperties": True}}])
    assert schema_problem(ToolCall(name="f", arguments={"a": 1.5, "b": 2}), open_schema) is None
    assert schema_problem(ToolCall(name="f", arguments={"a": "x"}), open_schema)[0] == \
        "wrong_type"  # type: ignore[index]
