"""Scores for one model answer against the LLM's recorded response (docs/metrics.md).

Four kinds of answer, each with its own metric, and one dispatcher over them:

- tool calls: an AST-style check in the manner of BFCL's checker
  (:func:`match_tool_calls`, and :func:`match_tool_calls_any` for BFCL's lists of
  acceptable values);
- JSON: share of the reference's leaf fields matched (:func:`match_json`);
- labels and short answers: normalised exact match (:func:`exact_match`);
- free text: ROUGE-L F-measure over word tokens (:func:`rouge_l`).

:func:`score_response` picks the kind from the reference message and returns a
:class:`Score`; :func:`summarise` aggregates scores with a bootstrap CI
(:func:`bootstrap_ci`). A failed answer is a score with an ``error`` label from a fixed
vocabulary, never an exception. ``detail`` strings name tools, arguments and field
paths, never argument values, so they can go into reports of curated logs.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slmconvert.core.records import Message, ToolCall

# ------------------------------------------------------------------ vocabulary ----

INVALID_OUTPUT = "invalid_output"
WRONG_COUNT = "wrong_count"
WRONG_TOOL = "wrong_tool"
MISSING_ARGUMENT = "missing_argument"
UNEXPECTED_ARGUMENT = "unexpected_argument"
WRONG_TYPE = "wrong_type"
WRONG_VALUE = "wrong_value"
NO_TOOL_CALL = "no_tool_call"
UNEXPECTED_TOOL_CALL = "unexpected_tool_call"
MALFORMED_JSON = "malformed_json"
WRONG_KEYS = "wrong_keys"
WRONG_LABEL = "wrong_label"
LOW_OVERLAP = "low_overlap"

#: Labels :func:`match_tool_calls` can return, in the order the checks run.
TOOL_CALL_ERRORS: tuple[str, ...] = (
    INVALID_OUTPUT, WRONG_COUNT, WRONG_TOOL, UNEXPECTED_ARGUMENT, MISSING_ARGUMENT,
    WRONG_TYPE, WRONG_VALUE,
)
#: Labels :func:`match_json` can return.
JSON_ERRORS: tuple[str, ...] = (MALFORMED_JSON, WRONG_KEYS, WRONG_VALUE)
#: Every label :func:`score_response` can return.
SCORE_ERRORS: tuple[str, ...] = (
    *TOOL_CALL_ERRORS, NO_TOOL_CALL, UNEXPECTED_TOOL_CALL, MALFORMED_JSON, WRONG_KEYS,
    WRONG_LABEL, LOW_OVERLAP,
)

#: A free-text answer counts as correct at this ROUGE-L F-measure or above.
TEXT_CORRECT_ROUGE_L = 0.5
#: A reference text with at most this many words and characters is scored as a label.
LABEL_MAX_WORDS = 4
LABEL_MAX_CHARS = 40

Kind = Literal["tool_call", "json", "label", "text"]

_TRAILING_PUNCT = ".,;:!?"
_QUOTES = "\"'`\u2018\u2019\u201c\u201d"


# -------------------------------------------------------------- normalisation ----


def _norm_str(s: str) -> str:
    """Case-folded, surrounding whitespace and trailing punctuation stripped."""
    return s.strip().casefold().rstrip(_TRAILING_PUNCT).strip()


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _equal(pred: Any, ref: Any) -> bool:
    """Normalised equality: strings as :func:`_norm_str`, numbers numerically (but a
    bool is no number), lists elementwise, dicts recursively over the same keys; a
    :class:`_Nested` reference accepts any of its per-field options."""
    if isinstance(ref, _Nested):
        return ref.accepts(pred)
    if isinstance(ref, bool) or isinstance(pred, bool):
        return isinstance(ref, bool) and isinstance(pred, bool) and ref == pred
    if isinstance(ref, int) and isinstance(pred, int):
        return pred == ref  # exact: ids and millisecond timestamps are big integers
    if _is_number(ref) and _is_number(pred):
        return math.isclose(pred, ref, rel_tol=1e-12, abs_tol=1e-12)  # float rounding only
    if isinstance(ref, str) and isinstance(pred, str):
        return _norm_str(pred) == _norm_str(ref)
    if isinstance(ref, list | tuple) and isinstance(pred, list | tuple):
        return len(ref) == len(pred) and all(_equal(p, r) for p, r in zip(pred, ref, strict=True))
    if isinstance(ref, Mapping) and isinstance(pred, Mapping):
        return set(ref) == set(pred) and all(_equal(pred[k], ref[k]) for k in ref)
    return type(pred) is type(ref) and bool(pred == ref)


# ---------------------------------------------------------------- JSON types ----

_TYPE_ALIASES = {
    "dict": "object", "float": "number", "double": "number", "tuple": "array",
    "list": "array", "int": "integer", "str": "string", "bool": "boolean",
}


def _has_type(v: Any, t: str) -> bool:
    t = _TYPE_ALIASES.get(t, t)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return _is_number(v)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "array":
        return isinstance(v, list | tuple)
    if t == "object":
        return isinstance(v, Mapping)
    if t == "null":
        return v is None
    return True  # "any" and types we do not know


def _type_error(v: Any, schema: Any, path: str) -> str | None:
    """The first place where ``v`` breaks the types of a JSON schema, or None."""
    if not isinstance(schema, Mapping):
        return None
    alts = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alts, list) and alts and all(_type_error(v, s, path) for s in alts):
        return f"{path}: not any of the allowed types"
    t = schema.get("type")
    types = [t] if isinstance(t, str) else [x for x in t if isinstance(x, str)] \
        if isinstance(t, list) else []
    if types and not any(_has_type(v, x) for x in types):
        return f"{path}: expected {'/'.join(types)}, got {_json_type(v)}"
    items = schema.get("items")
    if isinstance(v, list | tuple) and isinstance(items, Mapping):
        for i, x in enumerate(v):
            if err := _type_error(x, items, f"{path}[{i}]"):
                return err
    props = schema.get("properties")
    if isinstance(v, Mapping) and isinstance(props, Mapping):
        for k, x in v.items():
            if k in props and (err := _type_error(x, props[k], f"{path}.{k}")):
                return err
    return None


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


# ---------------------------------------------------------------- tool calls ----


@dataclass(frozen=True)
class ToolCallScore:
    """Result of comparing predicted tool calls with the reference ones.

    ``name_ok``: the multiset of called function names matches. ``full_ok``: every call
    matches (names, arguments, types, values), in some order. ``error``: one label of
    :data:`TOOL_CALL_ERRORS` when not ``full_ok``. ``detail``: which tool/argument."""

    name_ok: bool
    full_ok: bool
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Arg:
    """What one argument may be: any of ``options``; absent (or null) if ``optional``."""

    options: tuple[Any, ...]
    optional: bool


@dataclass(frozen=True)
class _Nested:
    """A BFCL dict answer: per key, the acceptable values (keys with "" may be absent)."""

    fields: Mapping[str, _Arg]

    def accepts(self, v: Any) -> bool:
        if not isinstance(v, Mapping) or any(k not in self.fields for k in v):
            return False
        for k, arg in self.fields.items():
            if v.get(k) is None:
                if not arg.optional and None not in arg.options:
                    return False
            elif not any(_equal(v[k], o) for o in arg.options):
                return False
        return True


def tool_schemas(tools: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Function name -> its parameters schema, from OpenAI ``{"type": "function",
    "function": {...}}`` entries or bare ``{"name", "parameters"}`` ones (Anthropic's
    ``input_schema`` too). Entries without a name are skipped."""
    out: dict[str, dict[str, Any]] = {}
    for t in tools:
        if not isinstance(t, Mapping):
            continue
        fn: Mapping[str, Any] = t["function"] if isinstance(t.get("function"), Mapping) else t
        name = fn.get("name")
        if isinstance(name, str) and name:
            params = fn.get("parameters", fn.get("input_schema"))
            out[name] = dict(params) if isinstance(params, Mapping) else {}
    return out


def _props(schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
    p = schema.get("properties") if schema else None
    return p if isinstance(p, Mapping) else {}


def _with_defaults(spec: dict[str, _Arg], schema: Mapping[str, Any] | None) -> dict[str, _Arg]:
    """Arguments the reference omits may be given at their schema default."""
    for k, p in _props(schema).items():
        if k not in spec and isinstance(p, Mapping) and "default" in p:
            spec[k] = _Arg((p["default"],), optional=True)
    return spec


def _spec_from_ref(args: Mapping[str, Any], schema: Mapping[str, Any] | None) -> dict[str, _Arg]:
    props = _props(schema)
    spec: dict[str, _Arg] = {}
    for k, v in args.items():
        p = props.get(k)
        default_ok = isinstance(p, Mapping) and "default" in p and _equal(p["default"], v)
        spec[k] = _Arg((v,), optional=v is None or default_ok)
    return _with_defaults(spec, schema)


def _nest(v: Any) -> Any:
    """BFCL answer value -> reference value (dicts become per-key option sets)."""
    if isinstance(v, Mapping):
        return _Nested({k: _arg_from_options(x if isinstance(x, list) else [x])
                        for k, x in v.items()})
    if isinstance(v, list):
        return [_nest(x) for x in v]
    return v


def _arg_from_options(values: Sequence[Any]) -> _Arg:
    return _Arg(tuple(_nest(x) for x in values if x != ""), optional="" in values)


def _call_error(pred: ToolCall, ref_name: str, spec: Mapping[str, _Arg] | None,
                ref_raw: Any, schemas: Mapping[str, dict[str, Any]]) -> tuple[str, str] | None:
    """Why ``pred`` is not the reference call, as (label, detail); None if it is.
    ``spec`` None means the reference arguments were not an object: compare raw."""
    if schemas and pred.name not in schemas:
        return WRONG_TOOL, f"unknown tool {pred.name!r}"
    if pred.name != ref_name:
        return WRONG_TOOL, f"called {pred.name!r} where the reference calls {ref_name!r}"
    args = pred.arguments
    if spec is None:
        return None if _equal(args, ref_raw) else (WRONG_VALUE, f"{ref_name}: arguments differ")
    schema = schemas.get(ref_name)
    props = _props(schema)
    if schema is not None:
        for k in args:
            if k not in props:
                return UNEXPECTED_ARGUMENT, f"{ref_name}.{k}: not in the tool's parameters"
    required = schema.get("required") if schema else None
    for k in required if isinstance(required, list) else []:
        if args.get(k) is None and k in spec and None not in spec[k].options:
            return MISSING_ARGUMENT, f"{ref_name}.{k}: required argument missing"
    for k, arg in spec.items():
        if args.get(k) is None and not arg.optional and None not in arg.options:
            return MISSING_ARGUMENT, f"{ref_name}.{k}: the reference gives it, the answer not"
    for k, v in args.items():
        if v is None:
            continue
        if k in props:
            if err := _type_error(v, props[k], f"{ref_name}.{k}"):
                return WRONG_TYPE, err
        elif k in spec:
            refs = [o for o in spec[k].options if o is not None and not isinstance(o, _Nested)]
            want = {_json_type(o) for o in refs}
            if len(want) == 1 and _json_type(v) not in want:
                return WRONG_TYPE, f"{ref_name}.{k}: expected {want.pop()}, got {_json_type(v)}"
    for k, v in args.items():
        if v is not None and k not in spec:
            return UNEXPECTED_ARGUMENT, f"{ref_name}.{k}: not in the reference call"
    for k, arg in spec.items():
        v = args.get(k)
        if v is not None and not any(_equal(v, o) for o in arg.options):
            return WRONG_VALUE, f"{ref_name}.{k}: value differs from the reference"
    return None


def schema_problem(call: ToolCall, schemas: Mapping[str, dict[str, Any]]) -> tuple[str, str] | None:
    """Why one tool call does not validate against the offered tools, with no reference
    needed (the verifier's check, as serve applies it): arguments that are not an object
    (``invalid_output``), a name not among the tools (``wrong_tool``), an argument outside
    the schema's ``properties`` unless it allows others (``unexpected_argument``), a
    ``required`` one absent or null (``missing_argument``), a JSON-schema type broken
    (``wrong_type``). None when it validates; with no schemas only the arguments' shape
    is checked."""
    if call.arguments_error or not isinstance(call.arguments, Mapping):
        return INVALID_OUTPUT, f"{call.name}: arguments are not a JSON object"
    if not schemas:
        return None
    if call.name not in schemas:
        return WRONG_TOOL, f"unknown tool {call.name!r}"
    schema = schemas[call.name]
    props = _props(schema)
    if props and schema.get("additionalProperties") is not True:
        for k in call.arguments:
            if k not in props:
                return UNEXPECTED_ARGUMENT, f"{call.name}.{k}: not in the tool's parameters"
    required = schema.get("required")
    for k in required if isinstance(required, list) else []:
        if call.arguments.get(k) is None:
            return MISSING_ARGUMENT, f"{call.name}.{k}: required argument missing"
    for k, v in call.arguments.items():
        if v is not None and k in props and (err := _type_error(v, props[k], f"{call.name}.{k}")):
            return WRONG_TYPE, err
    return None


def _max_matching(ok: list[list[bool]]) -> list[int | None]:
    """Maximum bipartite matching (Kuhn): for each row, the matched column or None."""
    n_cols = len(ok[0]) if ok else 0
    col_of_row: list[int | None] = [None] * len(ok)
    row_of_col: list[int | None] = [None] * n_cols

    def augment(r: int, seen: set[int]) -> bool:
        for c in range(n_cols):
            if ok[r][c] and c not in seen:
                seen.add(c)
                owner = row_of_col[c]
                if owner is None or augment(owner, seen):
                    row_of_col[c], col_of_row[r] = r, c
                    return True
        return False

    for r in range(len(ok)):
        augment(r, set())
    return col_of_row


def _match(pred: Sequence[ToolCall] | None, refs: Sequence[tuple[str, Any]],
           tools: Sequence[Mapping[str, Any]], invalid_reason: str | None,
           to_spec: Callable[[Any, Mapping[str, Any] | None], dict[str, _Arg] | None],
           ) -> ToolCallScore:
    if pred is None or invalid_reason is not None:
        return ToolCallScore(False, False, INVALID_OUTPUT, invalid_reason or "no parsable output")
    for i, c in enumerate(pred, 1):
        if c.arguments_error or not isinstance(c.arguments, Mapping):
            return ToolCallScore(False, False, INVALID_OUTPUT,
                                 f"tool call {i} ({c.name}): arguments are not a JSON object")
    pred_names = Counter(c.name for c in pred)
    ref_names = Counter(name for name, _ in refs)
    name_ok = pred_names == ref_names
    if len(pred) != len(refs):
        return ToolCallScore(name_ok, False, WRONG_COUNT,
                             f"{len(pred)} call(s) where the reference makes {len(refs)}")
    schemas = tool_schemas(tools)
    if not name_ok:
        extra = sorted((pred_names - ref_names).elements())
        missing = sorted((ref_names - pred_names).elements())
        unknown = [n for n in extra if schemas and n not in schemas]
        if unknown:
            return ToolCallScore(False, False, WRONG_TOOL, f"unknown tool {unknown[0]!r}")
        return ToolCallScore(False, False, WRONG_TOOL,
                             f"called {extra[0]!r} where the reference calls {missing[0]!r}")
    specs = [(name, to_spec(args, schemas.get(name)), args) for name, args in refs]
    errors = [[_call_error(p, name, spec, raw, schemas) for name, spec, raw in specs]
              for p in pred]
    assignment = _max_matching([[e is None for e in row] for row in errors])
    if all(c is not None for c in assignment):
        return ToolCallScore(True, True)
    # Report one failing pair: an unmatched prediction against an unmatched reference
    # call of the same name (one exists, since the name multisets are equal).
    taken = {c for c in assignment if c is not None}
    for i, col in enumerate(assignment):
        if col is None:
            free = [j for j in range(len(refs)) if j not in taken]
            same = [j for j in free if refs[j][0] == pred[i].name] or free
            err = errors[i][same[0]]
            assert err is not None
            where = f"call {i + 1}: " if len(pred) > 1 else ""
            return ToolCallScore(True, False, err[0], where + err[1])
    raise AssertionError("unreachable")  # pragma: no cover


def match_tool_calls(pred: Sequence[ToolCall] | None, ref: Sequence[ToolCall],
                     tools: Sequence[Mapping[str, Any]],
                     invalid_reason: str | None = None) -> ToolCallScore:
    """Compare predicted tool calls with the reference calls, order-insensitively.

    ``pred`` None (or any ``invalid_reason``) is ``invalid_output``. Arguments are
    checked against the tool's schema (unknown names, arguments outside its
    ``properties``, missing ``required`` ones, JSON-schema types; an int passes as a
    number) and against the reference values after normalisation (see
    :func:`_equal`). An argument the reference omits may be omitted or given at its
    schema default; an argument the reference gives at the schema default may be
    omitted; null counts as omitted. With no ``tools`` only the reference is used
    (types then come from the reference values)."""
    refs = [(c.name, c.arguments) for c in ref]

    def to_spec(args: Any, schema: Mapping[str, Any] | None) -> dict[str, _Arg] | None:
        return _spec_from_ref(args, schema) if isinstance(args, Mapping) else None

    return _match(pred, refs, tools, invalid_reason, to_spec)


def match_tool_calls_any(pred: Sequence[ToolCall] | None,
                         acceptable: Sequence[Mapping[str, Mapping[str, Sequence[Any]]]],
                         tools: Sequence[Mapping[str, Any]],
                         invalid_reason: str | None = None) -> ToolCallScore:
    """:func:`match_tool_calls` against BFCL-style possible answers: one
    ``{function_name: {argument: [acceptable values]}}`` per expected call. ``""`` in a
    list means the argument may be omitted; a dict among the values lists acceptable
    values per key in the same way (BFCL's nested answers)."""
    refs = [next(iter(c.items())) for c in acceptable if c]

    def to_spec(args: Mapping[str, Sequence[Any]],
                schema: Mapping[str, Any] | None) -> dict[str, _Arg]:
        spec = {k: _arg_from_options(v if isinstance(v, list) else [v]) for k, v in args.items()}
        return _with_defaults(spec, schema)

    return _match(pred, refs, tools, invalid_reason, to_spec)


# ---------------------------------------------------------------------- JSON ----


@dataclass(frozen=True)
class JsonScore:
    """``parsed``: the answer was JSON. ``keys_ok``: same top-level keys (same length
    for arrays). ``field_accuracy``: share of the reference's leaf fields (dotted
    paths) whose normalised values match. ``exact``: the whole value matches after
    normalisation. ``error`` from :data:`JSON_ERRORS`; ``detail`` names a field."""

    parsed: bool
    keys_ok: bool
    field_accuracy: float
    exact: bool
    error: str | None = None
    detail: str = ""


def flatten_json(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf fields by dotted path (``a.b``, list items as ``a.0``); an empty object or
    array is a leaf itself, and so is a scalar at the top (path ``""``)."""
    if isinstance(value, Mapping) and value:
        items: Any = value.items()
    elif isinstance(value, list | tuple) and value:
        items = enumerate(value)
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for k, v in items:
        out.update(flatten_json(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _top_keys(v: Any) -> set[str] | None:
    if isinstance(v, Mapping):
        return {str(k) for k in v}
    if isinstance(v, list | tuple):
        return {str(i) for i in range(len(v))}
    return None


def match_json(pred_value: Any | None, ref_value: Any,
               invalid_reason: str | None = None) -> JsonScore:
    """Compare a parsed JSON answer with the reference value. ``pred_value`` None (or
    an ``invalid_reason``) means the answer did not parse."""
    if pred_value is None or invalid_reason is not None:
        return JsonScore(False, False, 0.0, False, MALFORMED_JSON, invalid_reason or "no JSON")
    ref_top, pred_top = _top_keys(ref_value), _top_keys(pred_value)
    keys_ok = ref_top is not None and ref_top == pred_top
    ref_flat, pred_flat = flatten_json(ref_value), flatten_json(pred_value)
    wrong = [p for p, v in ref_flat.items() if p not in pred_flat or not _equal(pred_flat[p], v)]
    accuracy = 1.0 - len(wrong) / len(ref_flat)
    exact = _equal(pred_value, ref_value)
    if exact:
        return JsonScore(True, True, 1.0, True)
    if not keys_ok:
        extra = sorted((pred_top or set()) - (ref_top or set()))
        missing = sorted((ref_top or set()) - (pred_top or set()))
        detail = (f"missing key {missing[0]!r}" if missing else
                  f"extra key {extra[0]!r}" if extra else "not the reference's JSON type")
        return JsonScore(True, False, accuracy, False, WRONG_KEYS, detail)
    detail = f"field {wrong[0]!r} differs" if wrong else "extra nested fields"
    return JsonScore(True, True, accuracy, False, WRONG_VALUE, detail)


_FENCE = re.compile(r"^```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)\n?```$", re.DOTALL)


def parse_json_text(text: str | None) -> tuple[bool, Any]:
    """(True, value) when ``text`` is a JSON object or array, bare or in a ``` fence
    (```json or plain); (False, None) otherwise."""
    if not text:
        return False, None
    s = text.strip()
    if m := _FENCE.match(s):
        s = m.group(1).strip()
    if not s or s[0] not in "[{":
        return False, None
    try:
        value = json.loads(s)
    except ValueError:
        return False, None
    return isinstance(value, dict | list), value if isinstance(value, dict | list) else None


# ------------------------------------------------------------ labels and text ----


def normalise_answer(s: str) -> str:
    """Casefolded, inner whitespace collapsed, surrounding whitespace and quotes and
    trailing punctuation stripped (repeatedly, so ``'"Yes."'`` becomes ``yes``)."""
    s = " ".join(s.casefold().split())
    prev = None
    while s != prev:
        prev = s
        s = s.strip().strip(_QUOTES).rstrip(_TRAILING_PUNCT)
    return s


def exact_match(pred: str | None, ref: str) -> bool:
    """Short answers and labels: equal after :func:`normalise_answer`."""
    return pred is not None and normalise_answer(pred) == normalise_answer(ref)


_WORD = re.compile(r"\w+")


def _tokens(s: str) -> list[str]:
    return _WORD.findall(s.lower())


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F1: longest common subsequence of lower-cased word tokens (``\\w+``),
    harmonic mean of its precision and recall. Two empty texts score 1.0."""
    p, r = _tokens(pred or ""), _tokens(ref or "")
    if not p or not r:
        return 1.0 if not p and not r else 0.0
    lcs = _lcs_length(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------- dispatcher ----


@dataclass(frozen=True)
class Score:
    """One answer scored. ``kind``: which metric applied; ``value`` in [0, 1];
    ``correct``: whether it counts as right; ``error``: a label from
    :data:`SCORE_ERRORS` (None when correct); ``detail``: for humans."""

    kind: Kind
    value: float
    correct: bool
    error: str | None = None
    detail: str = ""


def response_kind(reference: Message) -> Kind:
    """tool_call if the reference calls tools; json if its text is a JSON object or
    array (bare or fenced); label if at most :data:`LABEL_MAX_WORDS` words and
    :data:`LABEL_MAX_CHARS` characters; text otherwise."""
    if reference.tool_calls:
        return "tool_call"
    text = (reference.content or "").strip()
    if parse_json_text(text)[0]:
        return "json"
    if len(text.split()) <= LABEL_MAX_WORDS and len(text) <= LABEL_MAX_CHARS:
        return "label"
    return "text"


def score_response(reference: Message, predicted: Message | None,
                   tools: Sequence[Mapping[str, Any]],
                   invalid_reason: str | None = None) -> Score:
    """Score a predicted assistant message against the reference one, with the metric
    that fits the reference (:func:`response_kind`). Never raises on bad answers."""
    kind = response_kind(reference)
    if predicted is None or invalid_reason is not None:
        return Score(kind, 0.0, False, INVALID_OUTPUT, invalid_reason or "no parsable output")
    if kind == "tool_call":
        if not predicted.tool_calls:
            return Score(kind, 0.0, False, NO_TOOL_CALL, "answered in text, a tool call expected")
        tc = match_tool_calls(predicted.tool_calls, reference.tool_calls, tools)
        return Score(kind, float(tc.full_ok), tc.full_ok, tc.error, tc.detail)
    if predicted.tool_calls:
        return Score(kind, 0.0, False, UNEXPECTED_TOOL_CALL,
                     f"called {predicted.tool_calls[0].name!r}, a text answer expected")
    text = predicted.content or ""
    if kind == "json":
        _, ref_value = parse_json_text(reference.content)
        ok, value = parse_json_text(text)
        if not ok:
            return Score(kind, 0.0, False, MALFORMED_JSON, "answer is not a JSON object or array")
        js = match_json(value, ref_value)
        correct = js.exact or js.field_accuracy == 1.0
        return Score(kind, js.field_accuracy, correct, None if correct else js.error, js.detail)
    if kind == "label":
        ok = exact_match(text, reference.content or "")
        return Score(kind, float(ok), ok, None if ok else WRONG_LABEL,
                     "" if ok else "label differs from the reference")
    r = rouge_l(text, reference.content or "")
    ok = r >= TEXT_CORRECT_ROUGE_L
    return Score(kind, r, ok, None if ok else LOW_OVERLAP,
                 f"ROUGE-L {r:.2f}" + ("" if ok else f" < {TEXT_CORRECT_ROUGE_L}"))


# ------------------------------------------------------------- aggregation ----


def bootstrap_ci(values: Sequence[float], *, n: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean: ``n`` resamples with replacement from a
    generator seeded with ``seed``. No values: (nan, nan); all values equal: (v, v)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if len(values) == 0:
        return math.nan, math.nan
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if np.all(arr == arr[0]):
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    rows = max(1, 2_000_000 // arr.size)  # bound memory for large samples
    means = np.concatenate([
        arr[rng.integers(0, arr.size, size=(min(rows, n - start), arr.size))].mean(axis=1)
        for start in range(0, n, rows)
    ])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def summarise(scores: Sequence[Score]) -> dict[str, Any]:
    """``n``, ``mean`` value, ``accuracy`` (share correct), ``ci95`` of the mean value
    as [low, high], ``errors`` {label: count} (most frequent first) and ``kinds``
    {kind: count}. Means and the CI are None when there are no scores."""
    values = [s.value for s in scores]
    errors = Counter(s.error for s in scores if s.error is not None)
    if not scores:
        return {"n": 0, "mean": None, "accuracy": None, "ci95": None, "errors": {}, "kinds": {}}
    lo, hi = bootstrap_ci(values)
    return {
        "n": len(scores),
        "mean": sum(values) / len(values),
        "accuracy": sum(s.correct for s in scores) / len(scores),
        "ci95": [lo, hi],
        "errors": dict(errors.most_common()),
        "kinds": dict(Counter(s.kind for s in scores).most_common()),
    }
