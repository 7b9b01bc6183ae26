"""Metrics for scoring a model's answer against the recorded LLM response.

Tool calls are checked against real ground truth: BFCL v4's questions (function
schemas) and possible answers in ../shared/data/tool_calls/bfcl_v4/. For every entry
of six categories we build the correct call from the answer key and, from it, one
wrong call per kind of mistake, and check the label the checker gives."""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slmconvert.core.records import Message, ToolCall
from slmconvert.evaluation.metrics import (
    SCORE_ERRORS,
    TEXT_CORRECT_ROUGE_L,
    TOOL_CALL_ERRORS,
    Score,
    bootstrap_ci,
    exact_match,
    flatten_json,
    match_json,
    match_tool_calls,
    match_tool_calls_any,
    response_kind,
    rouge_l,
    score_response,
    summarise,
    tool_schemas,
)

CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple", "live_simple",
              "live_multiple"]

# Entries whose answer key contradicts its own schema, so the call built from it is
# wrong by BFCL's rules too; the checker must say how.
ANSWER_KEY_DEFECTS = {
    "parallel_multiple_21": "wrong_type",     # array argument answered with a string
    "parallel_multiple_94": "wrong_type",     # integer items answered with strings
    "live_simple_106-63-0": "missing_argument",  # required argument with no answer: []
    "live_simple_112-68-0": "missing_argument",
    "live_multiple_507-149-4": "missing_argument",  # required argument answered only ""
    "live_multiple_552-153-1": "wrong_type",  # string enum "True"/"False" answered false
    "live_multiple_595-158-1": "wrong_type",  # string argument answered with a number
    "live_multiple_596-158-2": "wrong_type",
    "live_multiple_731-167-2": "wrong_type",
    "live_multiple_733-167-4": "wrong_type",
    "live_multiple_735-167-6": "wrong_type",
    "live_multiple_862-181-3": "unexpected_argument",  # argument not in the schema
    "live_multiple_964-207-0": "unexpected_argument",
}


# ------------------------------------------------------------------ BFCL data ----


@functools.cache
def _load(root: Path, category: str) -> list[dict[str, Any]]:
    base = root / "tool_calls" / "bfcl_v4"
    questions = [json.loads(line) for line in
                 (base / f"BFCL_v4_{category}.json").read_text().splitlines() if line.strip()]
    answers = {}
    for line in (base / "possible_answer" / f"BFCL_v4_{category}.json").read_text().splitlines():
        if line.strip():
            a = json.loads(line)
            answers[a["id"]] = a["ground_truth"]
    return [{"id": q["id"], "tools": q["function"], "answer": answers[q["id"]]}
            for q in questions]


def _options(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _first(v: Any) -> Any:
    """First acceptable value, nested BFCL dicts resolved the same way."""
    if isinstance(v, dict):
        return {k: _first(o[0]) for k, o in ((k, _options(x)) for k, x in v.items())
                if o and "" not in o}
    if isinstance(v, list):
        return [_first(x) for x in v]
    return v


def correct_calls(entry: dict[str, Any]) -> list[ToolCall]:
    """The call from each argument's first acceptable value; arguments whose list holds
    "" (optional) are left out unless the schema requires them."""
    schemas = tool_schemas(entry["tools"])
    calls = []
    for call in entry["answer"]:
        ((name, args),) = call.items()
        required = set(schemas[name].get("required", []))
        kept = {}
        for k, values in args.items():
            given = [v for v in values if v != ""]
            if given and ("" not in values or k in required):
                kept[k] = _first(given[0])
        calls.append(ToolCall(name=name, arguments=kept))
    return calls


def _entries(shared_data: Path, category: str) -> list[dict[str, Any]]:
    return [e for e in _load(shared_data, category) if e["id"] not in ANSWER_KEY_DEFECTS]


_JSON_TYPE = {"dict": "object", "float": "number", "tuple": "array"}


def _arg_type(entry: dict[str, Any], call: ToolCall, arg: str) -> str | None:
    t = tool_schemas(entry["tools"])[call.name]["properties"][arg].get("type")
    return _JSON_TYPE.get(t, t)


# Mutations: (entry, correct calls) -> wrong calls, or None when the entry has no
# place for this kind of mistake.
Mutation = Callable[[dict[str, Any], list[ToolCall]], list[ToolCall] | None]


def _replace(calls: list[ToolCall], i: int, **changes: Any) -> list[ToolCall]:
    out = [c.model_copy(deep=True) for c in calls]
    out[i] = out[i].model_copy(update=changes)
    return out


def other_tool(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall]:
    others = [n for n in tool_schemas(entry["tools"]) if n != calls[0].name]
    return _replace(calls, 0, name=others[0] if others else "not_a_tool")


def drop_required(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall] | None:
    schemas = tool_schemas(entry["tools"])
    for i, c in enumerate(calls):
        for k in schemas[c.name].get("required", []):
            if k in c.arguments:
                return _replace(calls, i, arguments={a: v for a, v in c.arguments.items()
                                                     if a != k})
    return None


def add_unknown_argument(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall]:
    return _replace(calls, 0, arguments={**calls[0].arguments, "zz_not_a_parameter": 1})


_OTHER_TYPE = {"string": 12345, "integer": "12", "number": "1.5", "boolean": "true",
               "array": "a, b", "object": "{}"}


def change_type(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall] | None:
    for i, c in enumerate(calls):
        for k in c.arguments:
            t = _arg_type(entry, c, k)
            if t in _OTHER_TYPE:
                return _replace(calls, i, arguments={**c.arguments, k: _OTHER_TYPE[t]})
    return None


def _changed(v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, int | float):
        return v + 7
    if isinstance(v, str):
        return v + " zzq"
    if isinstance(v, list) and v:
        return [*v, copy.deepcopy(v[0])]
    return None


def change_value(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall] | None:
    for i, c in enumerate(calls):
        ((_, answer),) = entry["answer"][i].items()
        for k, v in c.arguments.items():
            new = _changed(v)
            if new is not None and new not in answer[k]:
                return _replace(calls, i, arguments={**c.arguments, k: new})
    return None


def add_call(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall]:
    return [*calls, calls[0].model_copy(deep=True)]


def remove_call(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall]:
    return calls[:-1]


WRONG: dict[str, tuple[Mutation, str]] = {
    "other_tool": (other_tool, "wrong_tool"),
    "drop_required": (drop_required, "missing_argument"),
    "add_unknown_argument": (add_unknown_argument, "unexpected_argument"),
    "change_type": (change_type, "wrong_type"),
    "change_value": (change_value, "wrong_value"),
    "add_call": (add_call, "wrong_count"),
    "remove_call": (remove_call, "wrong_count"),
}


# ----------------------------------------------------------- BFCL: tool calls ----


@pytest.mark.parametrize("category", CATEGORIES)
def test_bfcl_correct_call_scores_full(shared_data: Path, category: str) -> None:
    entries = _entries(shared_data, category)
    assert len(entries) >= 190
    failures = []
    for e in entries:
        calls = correct_calls(e)
        for how, score in [("reference", match_tool_calls(calls, calls, e["tools"])),
                           ("acceptable", match_tool_calls_any(calls, e["answer"], e["tools"]))]:
            if not (score.full_ok and score.name_ok and score.error is None):
                failures.append((e["id"], how, score.error, score.detail))
        ref = Message(role="assistant", tool_calls=calls)
        s = score_response(ref, ref.model_copy(deep=True), e["tools"])
        if (s.kind, s.value, s.correct, s.error) != ("tool_call", 1.0, True, None):
            failures.append((e["id"], "score_response", s.error, s.detail))
    assert failures == []


@pytest.mark.parametrize("category", CATEGORIES)
def test_bfcl_last_acceptable_value_also_accepted(shared_data: Path, category: str) -> None:
    """Any listed value is acceptable, not only the first."""
    failures = []
    for e in _entries(shared_data, category):
        last = [{n: {k: [v for v in vals if v != ""][-1:] + [""] * ("" in vals)
                     for k, vals in args.items()}} for c in e["answer"] for n, args in c.items()]
        calls = correct_calls({**e, "answer": last})
        score = match_tool_calls_any(calls, e["answer"], e["tools"])
        if not score.full_ok:
            failures.append((e["id"], score.error, score.detail))
    assert failures == []


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("mistake", list(WRONG))
def test_bfcl_wrong_call_gets_its_label(shared_data: Path, category: str, mistake: str) -> None:
    mutate, label = WRONG[mistake]
    failures, tried = [], 0
    for e in _entries(shared_data, category):
        calls = correct_calls(e)
        wrong = mutate(e, calls)
        if wrong is None:
            continue
        tried += 1
        for how, score in [("reference", match_tool_calls(wrong, calls, e["tools"])),
                           ("acceptable", match_tool_calls_any(wrong, e["answer"], e["tools"]))]:
            name_ok = label not in ("wrong_tool", "wrong_count")
            if (score.full_ok, score.error, score.name_ok) != (False, label, name_ok):
                failures.append((e["id"], how, score.error, score.detail))
            assert score.detail
        ref = Message(role="assistant", tool_calls=calls)
        s = score_response(ref, Message(role="assistant", tool_calls=wrong), e["tools"])
        expected = "no_tool_call" if not wrong else label
        if (s.value, s.correct, s.error) != (0.0, False, expected):
            failures.append((e["id"], "score_response", s.error, s.detail))
    assert tried >= 50, f"only {tried} entries could take this mistake"
    assert failures == []


def _change_type_of(t: str) -> Mutation:
    def mutate(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall] | None:
        for i, c in enumerate(calls):
            for k in c.arguments:
                if _arg_type(entry, c, k) == t:
                    return _replace(calls, i, arguments={**c.arguments, k: _OTHER_TYPE[t]})
        return None
    return mutate


def _change_value_of(kind: type) -> Mutation:
    def mutate(entry: dict[str, Any], calls: list[ToolCall]) -> list[ToolCall] | None:
        names = [c.name for c in calls]
        for i, c in enumerate(calls):
            if names.count(c.name) > 1:  # a changed call may then fit a sibling's answer
                continue
            ((_, answer),) = entry["answer"][i].items()
            for k, v in c.arguments.items():
                if type(v) is kind and (new := _changed(v)) is not None and new not in answer[k]:
                    return _replace(calls, i, arguments={**c.arguments, k: new})
        return None
    return mutate


@pytest.mark.parametrize("mistake,mutate,label", [
    *[(f"{t} given as {type(v).__name__}", _change_type_of(t), "wrong_type")
      for t, v in _OTHER_TYPE.items()],
    *[(f"other {k.__name__} value", _change_value_of(k), "wrong_value")
      for k in (str, int, float, bool, list)],
])
def test_bfcl_each_type_and_value_kind(shared_data: Path, mistake: str, mutate: Mutation,
                                       label: str) -> None:
    """Every JSON type and every kind of value, across all categories."""
    failures, tried = [], 0
    for category in CATEGORIES:
        for e in _entries(shared_data, category):
            calls = correct_calls(e)
            wrong = mutate(e, calls)
            if wrong is None:
                continue
            tried += 1
            for score in (match_tool_calls(wrong, calls, e["tools"]),
                          match_tool_calls_any(wrong, e["answer"], e["tools"])):
                if (score.full_ok, score.error) != (False, label):
                    failures.append((e["id"], score.error, score.detail))
    assert tried >= 10, f"only {tried} entries could take this mistake"
    assert failures == []


@pytest.mark.parametrize("category", ["parallel", "parallel_multiple"])
def test_bfcl_parallel_calls_in_any_order(shared_data: Path, category: str) -> None:
    failures = []
    for e in _entries(shared_data, category):
        calls = correct_calls(e)
        for order in (calls[::-1], calls[1:] + calls[:1]):
            for score in (match_tool_calls(order, calls, e["tools"]),
                          match_tool_calls_any(order, e["answer"], e["tools"])):
                if not score.full_ok:
                    failures.append((e["id"], score.error, score.detail))
    assert failures == []


@pytest.mark.parametrize("category", CATEGORIES)
def test_bfcl_unparsable_output_is_invalid(shared_data: Path, category: str) -> None:
    e = _entries(shared_data, category)[0]
    calls = correct_calls(e)
    reason = "tool call 1: truncated JSON"
    for score in (match_tool_calls(None, calls, e["tools"], reason),
                  match_tool_calls_any(None, e["answer"], e["tools"], reason)):
        assert (score.full_ok, score.name_ok, score.error, score.detail) == (
            False, False, "invalid_output", reason)
    s = score_response(Message(role="assistant", tool_calls=calls), None, e["tools"], reason)
    assert (s.kind, s.value, s.error, s.detail) == ("tool_call", 0.0, "invalid_output", reason)


@pytest.mark.parametrize("entry_id,label", sorted(ANSWER_KEY_DEFECTS.items()))
def test_bfcl_answer_key_defects_are_caught(shared_data: Path, entry_id: str,
                                            label: str) -> None:
    category = entry_id.rsplit("_", 1)[0]
    (e,) = [x for x in _load(shared_data, category) if x["id"] == entry_id]
    score = match_tool_calls_any(correct_calls(e), e["answer"], e["tools"])
    assert (score.full_ok, score.error) == (False, label)


# ------------------------------------------------ tool calls: hand-written ----

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string"},
        "note": {"type": "string"},
        "days": {"type": "integer", "default": 1},
        "scale": {"type": "number"},
        "units": {"type": "string", "enum": ["c", "f"], "default": "c"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "opts": {"type": "object", "properties": {"hourly": {"type": "boolean"}}},
    }}}}
BARE_SEARCH = {"name": "search", "parameters": {"type": "object", "required": ["q"],
                                                "properties": {"q": {"type": "string"}}}}
TOOLS = [WEATHER, BARE_SEARCH]


def _tc(name: str, **args: Any) -> ToolCall:
    return ToolCall(name=name, arguments=args)


REF = [_tc("get_weather", city="Paris", scale=2.0, tags=["a", "b"], opts={"hourly": True})]

TOOL_CASES: list[tuple[str, list[ToolCall] | None, str | None]] = [
    ("identical", REF, None),
    ("case, whitespace, trailing punctuation", [_tc("get_weather", city="  paris. ",
                                                    scale=2.0, tags=["A", "b!"],
                                                    opts={"hourly": True})], None),
    ("int for number", [_tc("get_weather", city="Paris", scale=2, tags=["a", "b"],
                            opts={"hourly": True})], None),
    ("defaults given explicitly", [_tc("get_weather", city="Paris", scale=2.0, days=1,
                                       units="C", tags=["a", "b"], opts={"hourly": True})],
     None),
    ("null for an omitted argument", [_tc("get_weather", city="Paris", scale=2.0, days=None,
                                          tags=["a", "b"], opts={"hourly": True})], None),
    ("non-default value where the reference implies the default",
     [_tc("get_weather", city="Paris", scale=2.0, days=3, tags=["a", "b"],
          opts={"hourly": True})], "wrong_value"),
    ("optional argument the reference does not give", [_tc("get_weather", city="Paris",
                                                           scale=2.0, note="x", tags=["a", "b"],
                                                           opts={"hourly": True})],
     "unexpected_argument"),
    ("float for integer", [_tc("get_weather", city="Paris", scale=2.0, days=1.0,
                               tags=["a", "b"], opts={"hourly": True})], "wrong_type"),
    ("bool for number", [_tc("get_weather", city="Paris", scale=True, tags=["a", "b"],
                             opts={"hourly": True})], "wrong_type"),
    ("nested item type", [_tc("get_weather", city="Paris", scale=2.0, tags=["a", 2],
                              opts={"hourly": True})], "wrong_type"),
    ("nested object type", [_tc("get_weather", city="Paris", scale=2.0, tags=["a", "b"],
                                opts={"hourly": "yes"})], "wrong_type"),
    ("list order matters", [_tc("get_weather", city="Paris", scale=2.0, tags=["b", "a"],
                                opts={"hourly": True})], "wrong_value"),
    ("nested dict value", [_tc("get_weather", city="Paris", scale=2.0, tags=["a", "b"],
                               opts={"hourly": False})], "wrong_value"),
    ("number value", [_tc("get_weather", city="Paris", scale=2.5, tags=["a", "b"],
                          opts={"hourly": True})], "wrong_value"),
    ("float rounding", [_tc("get_weather", city="Paris", scale=0.1 + 0.2 + 1.7,
                            tags=["a", "b"], opts={"hourly": True})], None),
    ("reference argument missing", [_tc("get_weather", city="Paris", tags=["a", "b"],
                                        opts={"hourly": True})], "missing_argument"),
    ("required argument null", [_tc("get_weather", city=None, scale=2.0, tags=["a", "b"],
                                    opts={"hourly": True})], "missing_argument"),
    ("unknown tool", [_tc("get_wether", city="Paris")], "wrong_tool"),
    ("other known tool", [_tc("search", q="Paris")], "wrong_tool"),
    ("no calls", [], "wrong_count"),
    ("two calls", REF * 2, "wrong_count"),
    ("unparsable arguments", [ToolCall(name="get_weather", arguments='{"city": "Par',
                                       arguments_error="truncated")], "invalid_output"),
    ("no output", None, "invalid_output"),
]


@pytest.mark.parametrize("pred,error", [c[1:] for c in TOOL_CASES], ids=[c[0] for c in TOOL_CASES])
def test_match_tool_calls_table(pred: list[ToolCall] | None, error: str | None) -> None:
    score = match_tool_calls(pred, REF, TOOLS)
    assert (score.full_ok, score.error) == (error is None, error)
    assert error is None or score.detail
    assert error is None or error in TOOL_CALL_ERRORS


def test_reference_value_at_schema_default_may_be_omitted() -> None:
    ref = [_tc("get_weather", city="Paris", days=1)]
    assert match_tool_calls([_tc("get_weather", city="Paris")], ref, TOOLS).full_ok
    # ... but not when it differs from the default
    ref = [_tc("get_weather", city="Paris", days=2)]
    score = match_tool_calls([_tc("get_weather", city="Paris")], ref, TOOLS)
    assert score.error == "missing_argument"


def test_without_schemas_types_come_from_the_reference() -> None:
    ref = [_tc("lookup", id=5, who="Ann")]
    assert match_tool_calls([_tc("lookup", id=5.0, who="ann")], ref, []).full_ok
    assert match_tool_calls([_tc("lookup", id="5", who="Ann")], ref, []).error == "wrong_type"
    assert match_tool_calls([_tc("lookup", id=5, who="Ann", x=1)], ref, []).error == \
        "unexpected_argument"
    assert match_tool_calls([_tc("lookup", id=5)], ref, []).error == "missing_argument"


def test_big_integers_compare_exactly() -> None:
    ref = [_tc("report", since=1617176400000)]
    assert match_tool_calls([_tc("report", since=1617176400000.0)], ref, []).full_ok
    assert match_tool_calls([_tc("report", since=1617176400001)], ref, []).error == \
        "wrong_value"


def test_parallel_calls_find_the_matching_assignment() -> None:
    """Greedy pairing by name would pair search(q=b) with search(q=a) and fail."""
    ref = [_tc("search", q="a"), _tc("search", q="b"), _tc("get_weather", city="Rome")]
    pred = [_tc("get_weather", city="rome"), _tc("search", q="b"), _tc("search", q="a")]
    assert match_tool_calls(pred, ref, TOOLS).full_ok
    pred[2] = _tc("search", q="c")
    score = match_tool_calls(pred, ref, TOOLS)
    assert (score.name_ok, score.full_ok, score.error) == (True, False, "wrong_value")
    assert "search.q" in score.detail


def test_empty_reference_and_prediction_match() -> None:
    assert match_tool_calls([], [], TOOLS).full_ok


def test_acceptable_values_optional_and_nested() -> None:
    tools = [{"name": "order", "parameters": {"type": "dict", "required": ["item"],
                                              "properties": {
        "item": {"type": "string"}, "size": {"type": "string"},
        "prefs": {"type": "dict", "properties": {"milk": {"type": "string"},
                                                 "sugar": {"type": "integer"}}}}}}]
    acceptable = [{"order": {"item": ["latte", "caffe latte"], "size": ["", "large"],
                             "prefs": [{"milk": ["oat", "soy"], "sugar": ["", 0]}]}}]

    def score(**args: Any) -> str | None:
        return match_tool_calls_any([_tc("order", **args)], acceptable, tools).error

    assert score(item="Caffe Latte", prefs={"milk": "soy"}) is None
    assert score(item="latte", size="large", prefs={"milk": "oat", "sugar": 0}) is None
    assert score(item="latte", size="small", prefs={"milk": "oat"}) == "wrong_value"
    assert score(item="latte", prefs={"milk": "cow"}) == "wrong_value"
    assert score(item="latte", prefs={"milk": "oat", "ice": 1}) == "wrong_value"
    assert score(item="latte") == "missing_argument"
    assert score(size="large", prefs={"milk": "oat"}) == "missing_argument"
    assert score(item="latte", prefs={"milk": "oat", "sugar": "0"}) == "wrong_type"


# ----------------------------------------------------------------------- JSON ----

JSON_CASES = [
    # pred, ref, parsed, keys_ok, field_accuracy, exact, error
    ({"a": 1, "b": "X "}, {"a": 1.0, "b": "x"}, True, True, 1.0, True, None),
    ({"a": 1, "b": "y"}, {"a": 1, "b": "x"}, True, True, 0.5, False, "wrong_value"),
    ({"a": 1}, {"a": 1, "b": "x"}, True, False, 0.5, False, "wrong_keys"),
    ({"a": 1, "b": "x", "c": 3}, {"a": 1, "b": "x"}, True, False, 1.0, False, "wrong_keys"),
    ({"a": {"b": [1, 2], "c": True}}, {"a": {"b": [1, 3], "c": True}}, True, True, 2 / 3,
     False, "wrong_value"),
    ({"a": {"c": 1}}, {"a": {"c": True}}, True, True, 0.0, False, "wrong_value"),
    ([{"id": 1}, {"id": 2}], [{"id": 1}, {"id": 2}], True, True, 1.0, True, None),
    ([{"id": 1}], [{"id": 1}, {"id": 2}], True, False, 0.5, False, "wrong_keys"),
    ({"a": []}, {"a": []}, True, True, 1.0, True, None),
    ("text", {"a": 1}, True, False, 0.0, False, "wrong_keys"),
    (None, {"a": 1}, False, False, 0.0, False, "malformed_json"),
]


@pytest.mark.parametrize("pred,ref,parsed,keys_ok,acc,exact,error", JSON_CASES)
def test_match_json_table(pred: Any, ref: Any, parsed: bool, keys_ok: bool, acc: float,
                          exact: bool, error: str | None) -> None:
    s = match_json(pred, ref)
    assert (s.parsed, s.keys_ok, s.exact, s.error) == (parsed, keys_ok, exact, error)
    assert s.field_accuracy == pytest.approx(acc)


def test_match_json_invalid_reason_and_paths() -> None:
    s = match_json(None, {"a": 1}, "unterminated string")
    assert (s.parsed, s.error, s.detail) == (False, "malformed_json", "unterminated string")
    assert flatten_json({"a": {"b": [1, {"c": 2}]}, "d": {}}) == {
        "a.b.0": 1, "a.b.1.c": 2, "d": {}}
    assert "a.b.1" in match_json({"a": {"b": [1, 5]}}, {"a": {"b": [1, 2]}}).detail


# ------------------------------------------------------------ labels and text ----

LABEL_CASES = [
    ("Positive", "positive", True),
    ('  "Positive."  ', "positive", True),
    ("'yes'!", "Yes", True),
    ("New   York\n", "new york", True),
    ("`billing`", "Billing", True),
    ("negative", "positive", False),
    ("not positive", "positive", False),
    ("positive, mostly", "positive", False),
    (None, "positive", False),
    ("", "", True),
]


@pytest.mark.parametrize("pred,ref,expected", LABEL_CASES)
def test_exact_match_table(pred: str | None, ref: str, expected: bool) -> None:
    assert exact_match(pred, ref) is expected


ROUGE_CASES = [
    # Lin (2004), ROUGE paper section 3.1: S1 vs the reference scores 0.75, S2 0.5.
    ("police kill the gunman", "police killed the gunman", 0.75),
    ("the gunman kill police", "police killed the gunman", 0.5),
    ("the cat sat on the mat", "the cat is on the mat", 5 / 6),
    ("The Cat, the MAT.", "the cat the mat", 1.0),
    ("a b c d", "a b", 2 * (0.5 * 1.0) / 1.5),
    ("x y z", "a b c", 0.0),
    ("", "a b", 0.0),
    ("", "", 1.0),
]


@pytest.mark.parametrize("pred,ref,expected", ROUGE_CASES)
def test_rouge_l_known_values(pred: str, ref: str, expected: float) -> None:
    assert rouge_l(pred, ref) == pytest.approx(expected)
    assert rouge_l(ref, pred) == pytest.approx(expected)  # F1 is symmetric


def test_rouge_l_long_texts_are_fast_enough() -> None:
    words = [f"w{i % 97}" for i in range(1500)]
    assert 0.9 < rouge_l(" ".join(words), " ".join(words[:-100])) < 1.0


# ---------------------------------------------------------------- dispatcher ----

JSON_REF = '```json\n{"name": "Ann", "age": 31}\n```'
LONG_REF = "The invoice was paid on the second of March by bank transfer."
KIND_CASES = [
    # reference, predicted, kind, value, correct, error
    (Message(role="assistant", tool_calls=[_tc("search", q="x")]),
     Message(role="assistant", content="I would search for x."),
     "tool_call", 0.0, False, "no_tool_call"),
    (Message(role="assistant", content=JSON_REF),
     Message(role="assistant", content='{"name": "ann", "age": 31}'),
     "json", 1.0, True, None),
    (Message(role="assistant", content='{"name": "Ann", "age": 31}'),
     Message(role="assistant", content='```json\n{"name": "Ann", "age": 30}\n```'),
     "json", 0.5, False, "wrong_value"),
    (Message(role="assistant", content="[1, 2]"),
     Message(role="assistant", content="one and two"), "json", 0.0, False, "malformed_json"),
    (Message(role="assistant", content="Billing"),
     Message(role="assistant", content="billing."), "label", 1.0, True, None),
    (Message(role="assistant", content="Billing"),
     Message(role="assistant", content="Shipping"), "label", 0.0, False, "wrong_label"),
    (Message(role="assistant", content="Billing"),
     Message(role="assistant", tool_calls=[_tc("search", q="billing")]),
     "label", 0.0, False, "unexpected_tool_call"),
    (Message(role="assistant", content=LONG_REF),
     Message(role="assistant", content=LONG_REF.upper()), "text", 1.0, True, None),
    (Message(role="assistant", content=LONG_REF),
     Message(role="assistant", content="Payment is still pending."),
     "text", None, False, "low_overlap"),
]


@pytest.mark.parametrize("ref,pred,kind,value,correct,error", KIND_CASES)
def test_score_response_dispatch(ref: Message, pred: Message, kind: str, value: float | None,
                                 correct: bool, error: str | None) -> None:
    s = score_response(ref, pred, TOOLS)
    assert (s.kind, s.correct, s.error) == (kind, correct, error)
    assert response_kind(ref) == kind
    assert 0.0 <= s.value <= 1.0
    if value is not None:
        assert s.value == pytest.approx(value)
    assert error is None or error in SCORE_ERRORS


@pytest.mark.parametrize("content,kind", [
    ("yes", "label"), ("four words right here", "label"), ("five words are too many", "text"),
    ("x" * 41, "text"), ('{"a": 1}', "json"), ("```\n[1]\n```", "json"), ('"just a string"',
                                                                           "label"),
    ("{not json}", "label"), ("", "label"),
])
def test_response_kind_thresholds(content: str, kind: str) -> None:
    assert response_kind(Message(role="assistant", content=content)) == kind


def test_score_response_invalid_output_for_every_kind() -> None:
    for ref in (Message(role="assistant", content="Billing"),
                Message(role="assistant", content=LONG_REF)):
        s = score_response(ref, None, [], "text around tool call")
        assert (s.value, s.correct, s.error) == (0.0, False, "invalid_output")


def test_text_threshold_is_the_module_constant() -> None:
    ref = "alpha beta gamma delta epsilon zeta"
    half = score_response(Message(role="assistant", content=ref),
                          Message(role="assistant", content="alpha beta gamma"), [])
    assert half.value == pytest.approx(2 / 3) and half.correct is (2 / 3 >= TEXT_CORRECT_ROUGE_L)
    low = score_response(Message(role="assistant", content=ref),
                         Message(role="assistant", content="alpha omega"), [])
    assert low.value < TEXT_CORRECT_ROUGE_L and low.error == "low_overlap"


# ------------------------------------------------------------- aggregation ----


def test_bootstrap_ci_deterministic_contains_mean_and_narrows() -> None:
    small = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    lo, hi = bootstrap_ci(small, seed=3)
    assert (lo, hi) == bootstrap_ci(small, seed=3)
    graded = [0.12, 0.97, 0.33, 0.58, 0.71, 0.05, 0.44, 0.89, 0.26, 0.63]
    assert bootstrap_ci(graded, seed=3) == bootstrap_ci(graded, seed=3)
    assert bootstrap_ci(graded, seed=4) != bootstrap_ci(graded, seed=3)
    assert lo <= sum(small) / len(small) <= hi
    assert 0.0 <= lo < hi <= 1.0
    big = small * 40
    blo, bhi = bootstrap_ci(big, seed=3)
    assert blo <= 0.7 <= bhi
    assert (bhi - blo) < (hi - lo) / 3  # ~1/sqrt(40) as wide
    wide = bootstrap_ci(small, seed=3, level=0.99)
    assert wide[0] <= lo and wide[1] >= hi


def test_bootstrap_ci_edge_cases() -> None:
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    assert bootstrap_ci([0.4]) == (0.4, 0.4)
    assert bootstrap_ci([1.0] * 50) == (1.0, 1.0)
    assert bootstrap_ci([0.0] * 50) == (0.0, 0.0)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 0.0], level=1.0)


def test_bootstrap_ci_large_sample_in_chunks() -> None:
    values = [float(i % 2) for i in range(50_000)]
    lo, hi = bootstrap_ci(values, n=200)
    assert lo < 0.5 < hi and hi - lo < 0.02


def test_summarise() -> None:
    scores = [Score("label", 1.0, True), Score("label", 0.0, False, "wrong_label"),
              Score("tool_call", 0.0, False, "wrong_value"),
              Score("tool_call", 0.0, False, "wrong_value"), Score("text", 0.6, True)]
    s = summarise(scores)
    assert s["n"] == 5
    assert s["mean"] == pytest.approx(0.32)
    assert s["accuracy"] == pytest.approx(0.4)
    lo, hi = s["ci95"]
    assert lo <= 0.32 <= hi
    assert s["errors"] == {"wrong_value": 2, "wrong_label": 1}
    assert list(s["errors"]) == ["wrong_value", "wrong_label"]  # most frequent first
    assert s["kinds"] == {"label": 2, "tool_call": 2, "text": 1}
    json.dumps(s)  # goes into reports as is
    assert summarise([])["n"] == 0 and summarise([])["mean"] is None
