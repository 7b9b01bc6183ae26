"""The prompt format: rendering calls, and reading answers back (round trips on real calls)."""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from slmconvert.clustering.features import response_kind
from slmconvert.core.parquet import iter_records
from slmconvert.core.records import CallRecord, Message, ToolCall
from slmconvert.pipeline.stage import StageContext
from slmconvert.prompting.format import (
    GENERATION_PREFIX,
    STOP,
    parse,
    render_example,
    render_prompt,
    render_target,
    tool_names,
)
from slmconvert.stages.collect import CollectConfig, CollectStage

REPO = Path(__file__).parent.parent


def fn(name: str, **props: str) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": f"{name} tool",
        "parameters": {"type": "object", "properties": {k: {"type": t} for k, t in props.items()}},
    }}


TOOLS = [fn("get_weather", city="string"), fn("get_time", tz="string")]
CALL = '<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>'


@cache
def collected(base: Path, pattern: str) -> list[CallRecord]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="prompting-") as tmp:
        ws = Path(tmp)
        (ws / "collect").mkdir()
        ctx = StageContext(workspace=ws, stage_dir=ws / "collect", base_dir=base)
        CollectStage().run(ctx, CollectConfig(inputs=[pattern]))
        return list(iter_records(ws / "collect/calls.parquet"))


def _json_of(text: str) -> Any:
    s = text.strip()
    if s.startswith("```"):
        s = s.strip("`").removeprefix("json").strip()
    return json.loads(s)


def check_round_trip(records: list[CallRecord]) -> dict[str, int]:
    """parse(render_target(response)) gives back each real response; returns counts of
    round trips per kind, and of the responses that are rightly invalid as targets."""
    counts: dict[str, int] = {}
    for rec in records:
        if rec.response is None:
            continue
        resp, kind = rec.response, response_kind(rec)
        got = parse(render_target(resp), rec.tools)
        text = (resp.content or "").strip()
        offered = set(tool_names(rec.tools))
        if kind == "tool_call" and offered and {c.name for c in resp.tool_calls} - offered:
            assert got.kind == "invalid" and "unknown tool" in str(got.reason), rec.source
            kind = "unknown tool"
        elif kind == "tool_call":
            assert got.kind == "tool_calls" and got.message is not None, (rec.source, got)
            assert [(c.name, c.arguments) for c in got.message.tool_calls] == \
                [(c.name, c.arguments) for c in resp.tool_calls], rec.source
        elif kind == "json":
            assert got.kind == "json" and got.value == _json_of(text), (rec.source, got)
        elif not text:
            assert (got.kind, got.reason) == ("invalid", "empty output"), rec.source
            kind = "empty"
        elif text.startswith("{"):  # a text that starts as JSON and is not JSON
            assert got.kind == "invalid" and "malformed JSON" in str(got.reason), rec.source
            kind = "broken json"
        else:
            assert got.kind == "text" and got.message is not None, (rec.source, got)
            assert got.message.content == text, rec.source
        counts[kind] = counts.get(kind, 0) + 1
    return counts


# ------------------------------------------------------------ round trips ----


def test_round_trip_on_sample_logs() -> None:
    counts = check_round_trip(collected(REPO, "sample_logs"))
    assert counts["tool_call"] >= 100 and counts["json"] >= 100 and counts["text"] >= 100
    assert set(counts) <= {"tool_call", "json", "text", "empty", "unknown tool"}


def test_round_trip_on_shared_agent_logs(shared_data: Path) -> None:
    counts = check_round_trip(collected(shared_data, "agent_logs/*.jsonl"))
    assert counts["tool_call"] >= 50 and counts["json"] >= 50 and counts["text"] >= 50
    rest = sum(v for k, v in counts.items() if k not in ("tool_call", "json", "text"))
    assert rest < 0.1 * sum(counts.values())


# -------------------------------------------------------------- targets ----


@pytest.mark.parametrize(("response", "target"), [
    (Message(role="assistant", content="  Paris.\n"), "Paris." + STOP),
    (Message(role="assistant", content='```json\n{"b": 1, "a": [1, 2]}\n```'),
     '{"b":1,"a":[1,2]}' + STOP),
    (Message(role="assistant", content='{"city": "Zürich"}'), '{"city":"Zürich"}' + STOP),
    (Message(role="assistant", content="Let me check.", tool_calls=[
        ToolCall(name="get_weather", arguments={"city": "Paris"}),
        ToolCall(name="get_time", arguments={})]),
     CALL + '\n<tool_call>{"name":"get_time","arguments":{}}</tool_call>' + STOP),
    (Message(role="assistant", content=""), STOP),
], ids=["text", "fenced json", "json unicode", "calls drop text", "empty"])
def test_render_target(response: Message, target: str) -> None:
    assert render_target(response) == target


def test_render_example_needs_a_response() -> None:
    rec = CallRecord(source="x", messages=[Message(role="user", content="hi")])
    with pytest.raises(ValueError, match="no response"):
        render_example(rec)
    rec.response = Message(role="assistant", content="hello")
    assert render_example(rec) == ("<|im_start|>user\nhi<|im_end|>\n" + GENERATION_PREFIX,
                                   "hello" + STOP)


# -------------------------------------------------------------- prompts ----


def test_prompt_golden_with_history_tool_calls_and_results() -> None:
    """The whole format, pinned: changing it means a new FORMAT version."""
    messages = [
        Message(role="system", content="You are a weather bot."),
        Message(role="developer", content="Be brief."),
        Message(role="user", content="Weather and time in Paris?"),
        Message(role="assistant", content="Checking.", tool_calls=[
            ToolCall(id="c1", name="get_weather", arguments={"city": "Paris"}),
            ToolCall(id="c2", name="get_time", arguments={"tz": "Europe/Paris"})]),
        Message(role="tool", tool_call_id="c1", content='{"temp": 21}'),
        Message(role="tool", tool_call_id="c2", content="14:05"),
        Message(role="system", content="Answer in French."),
        Message(role="user", content="Thanks"),
    ]
    tools = [fn("get_weather", city="string"), {"name": "get_time"}]
    assert render_prompt(messages, tools) == (
        "<|im_start|>system\nYou are a weather bot.\n\nBe brief.\n\n# Tools\n\n"
        "You can call these functions. Their JSON schemas, one per line:\n"
        '{"name":"get_weather","description":"get_weather tool","parameters":{"type":"object",'
        '"properties":{"city":{"type":"string"}}}}\n'
        '{"name":"get_time"}\n\n'
        'To call functions, answer with one or more <tool_call>{"name": <function name>, '
        '"arguments": <JSON object>}</tool_call> blocks, one per line, and nothing else.'
        "<|im_end|>\n"
        "<|im_start|>user\nWeather and time in Paris?<|im_end|>\n"
        "<|im_start|>assistant\nChecking.\n" + CALL + "\n"
        '<tool_call>{"name":"get_time","arguments":{"tz":"Europe/Paris"}}</tool_call>'
        "<|im_end|>\n"
        '<|im_start|>tool\n<tool_response>{"temp": 21}</tool_response><|im_end|>\n'
        "<|im_start|>tool\n<tool_response>14:05</tool_response><|im_end|>\n"
        "<|im_start|>system\nAnswer in French.<|im_end|>\n"
        "<|im_start|>user\nThanks<|im_end|>\n"
        "<|im_start|>assistant\n")


def test_prompt_without_tools_or_system() -> None:
    prompt = render_prompt([Message(role="user", content="Summarise: cats sleep a lot.")], [])
    assert prompt == ("<|im_start|>user\nSummarise: cats sleep a lot.<|im_end|>\n"
                      "<|im_start|>assistant\n")


def test_real_prompts_name_every_tool_once() -> None:
    records = collected(REPO, "sample_logs")
    with_tools = [r for r in records if r.tools]
    without = [r for r in records if not r.tools]
    assert len(with_tools) > 100 and len(without) > 100
    for rec in with_tools:
        prompt = render_prompt(rec.messages, rec.tools)
        assert prompt.endswith(GENERATION_PREFIX) and prompt.count("# Tools\n") == 1
        system = prompt.split("<|im_end|>")[0]
        assert system.startswith("<|im_start|>system\n") and system.endswith("nothing else.")
        for name in tool_names(rec.tools):
            assert system.count(f'{{"name":"{name}"') == 1, (rec.source, name)
    for rec in without:
        prompt = render_prompt(rec.messages, rec.tools)
        assert prompt.endswith(GENERATION_PREFIX) and "# Tools" not in prompt
        assert "You can call these functions" not in prompt
    history = [r for r in with_tools if any(m.role == "tool" for m in r.messages)]
    assert history
    for rec in history[:50]:
        prompt = render_prompt(rec.messages, rec.tools)
        results = sum(m.role == "tool" for m in rec.messages)
        assert prompt.count("<|im_start|>tool\n<tool_response>") == results
        calls = sum(len(m.tool_calls) for m in rec.messages)
        turns = prompt.split("<|im_end|>", 1)[1]  # after the system turn and its rule
        assert turns.count("<tool_call>{\"name\":") == calls > 0, rec.source


# ---------------------------------------------------------------- parse ----


@pytest.mark.parametrize(("output", "kind", "expect"), [
    ("Paris is sunny.", "text", "Paris is sunny."),
    ("  Paris.<|im_end|>\n<|im_start|>user\nmore", "text", "Paris."),
    ("Paris<|endoftext|>junk", "text", "Paris"),
    ("[CONTENT]\n{\"a\": 1}\n[/CONTENT]", "text", "[CONTENT]\n{\"a\": 1}\n[/CONTENT]"),
    ("[1] First point.", "text", "[1] First point."),
    ("```python\nprint(1)\n```", "text", "```python\nprint(1)\n```"),
    ('{"b": 1, "a": 2}', "json", {"b": 1, "a": 2}),
    ('```json\n{"a": [1, 2]}\n```', "json", {"a": [1, 2]}),
    ('```\n[{"a": 1}]\n```', "json", [{"a": 1}]),
    ("[1, 2]", "json", [1, 2]),
    (CALL, "tool_calls", [("get_weather", {"city": "Paris"})]),
    (f"\n{CALL}\n{CALL.replace('Paris', 'Oslo')}\n<|im_end|>", "tool_calls",
     [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]),
    ('<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>', "tool_calls",
     [("get_time", {})]),
    ('<tool_call>{"name":"get_weather","arguments":{"city":"a</tool_call>b"}}</tool_call>',
     "tool_calls", [("get_weather", {"city": "a</tool_call>b"})]),
], ids=["text", "stop cut", "eos cut", "bracket tag text", "numbered text", "code fence",
        "json", "json fence", "plain fence", "json list", "call", "two calls",
        "spaced call", "closing tag in argument"])
def test_parse_valid(output: str, kind: str, expect: Any) -> None:
    got = parse(output, TOOLS)
    assert got.kind == kind and got.reason is None and got.message is not None
    assert got.message.role == "assistant"
    if kind == "text":
        assert got.message.content == expect and got.value is None
    elif kind == "json":
        assert got.value == expect and json.loads(got.message.content or "") == expect
    else:
        assert [(c.name, c.arguments) for c in got.message.tool_calls] == expect
        assert not got.message.content


def test_unknown_tools_are_only_checked_against_given_tools() -> None:
    out = CALL.replace("get_weather", "book_flight")
    assert parse(out).kind == "tool_calls"
    assert parse(out, []).kind == "tool_calls"  # tools not logged: nothing to check against
    assert parse(out, [{"name": "book_flight"}]).kind == "tool_calls"


_RNG = random.Random(11)


@pytest.mark.parametrize(("output", "reason"), [
    ('<tool_call>{"name":"get_weather","arguments":{"city":"Pa', "tool call 1: truncated JSON"),
    ('<tool_call>{"name":"get_weather","arguments":{"city":"Paris"</tool_call>',
     "tool call 1: truncated JSON"),
    (f'{CALL}\n<tool_call>{{"name":"get_time","argu', "tool call 2: truncated JSON"),
    ('<tool_call>get_weather(city="Paris")</tool_call>', "tool call 1: not JSON: "),
    ("<tool_call>{'name': 'get_weather', 'arguments': {}}</tool_call>", "tool call 1: not JSON"),
    (CALL.replace("get_weather", "book_flight"), "tool call 1: unknown tool 'book_flight'"),
    (f"Sure, checking. {CALL}", "text around tool call"),
    (f"{CALL} and {CALL}", "text around tool call"),
    (f"{CALL}\nDone!", "text around tool call"),
    (CALL.removesuffix("</tool_call>"), "tool call 1: missing closing tag </tool_call>"),
    (CALL.replace("</tool_call>", " extra</tool_call>"), "tool call 1: text around tool call"),
    ('<tool_call>{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"}</tool_call>',
     "tool call 1: arguments not a JSON object but str"),
    ('<tool_call>{"name":"get_weather"}</tool_call>', "tool call 1: no 'arguments'"),
    ('<tool_call>{"name":7,"arguments":{}}</tool_call>', "tool call 1: no string 'name'"),
    ('<tool_call>["get_weather", {}]</tool_call>', "tool call 1: not a JSON object but list"),
    ("", "empty output"),
    ("  \n\t", "empty output"),
    ("<|im_end|>Paris", "empty output"),
    (_RNG.randbytes(200).decode("latin-1"), "unreadable output: character U+"),
    (b"\xff\xfeabc".decode("utf-8", "replace"), "unreadable output: character U+FFFD"),
    (b"abc\xff".decode("utf-8", "surrogateescape"), "unreadable output: character U+DCFF"),
    ('{"city": "Paris",}', "malformed JSON: Expecting property name"),
    ('{"city": "Pa', "malformed JSON: truncated"),
    ('[{"city": "Paris"}', "malformed JSON: truncated"),
    ('{"city": "Paris"} I hope this helps!', "malformed JSON: Extra data"),
    ('```json\n{"a": }\n```', "malformed JSON: Expecting value"),
    ("```json\nnot json\n```", "malformed JSON: a ```json fence"),
    ("[" * 100_000, "malformed JSON"),
    ("<tool_call>" + "[" * 100_000, "tool call 1: "),
], ids=["truncated call", "truncated call closed", "second call truncated", "call not json",
        "python dict", "unknown tool", "text before", "text between", "text after",
        "missing closing tag", "text inside block", "arguments string", "no arguments",
        "name not string", "call is list", "empty", "whitespace", "stop first",
        "random bytes", "replacement chars", "lone surrogate", "trailing comma",
        "truncated json", "truncated list", "json then text", "broken fence",
        "fence without json", "deep nesting", "deep nesting in call"])
def test_parse_invalid(output: str, reason: str) -> None:
    got = parse(output, TOOLS)
    assert got.kind == "invalid" and got.message is None and got.value is None
    assert got.reason is not None and got.reason.startswith(reason), got.reason


_PIECES = ["<tool_call>", "</tool_call>", "{", "}", "[", "]", '"name"', '"arguments"', ":",
           ",", '"get_weather"', '"x', "1", " ", "\n", "<|im_end|>", "<|im_start|>",
           "```json\n", "```", "text", "\\", "\x00", "é", "null", "1e999", "9" * 5000]


def test_parse_never_raises() -> None:
    rng = random.Random(0)
    for _ in range(3000):
        out = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 30)))
        got = parse(out, TOOLS if rng.random() < 0.5 else None)
        assert (got.kind == "invalid") == (got.message is None) == (got.reason is not None)
        assert got.kind != "json" or got.value is not None


# ------------------------------------------------------------- tokenizer ----


@pytest.fixture(scope="module")
def smollm2_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from slmconvert.core.models import prepare

    return AutoTokenizer.from_pretrained(prepare("smollm2-135m").path)


@pytest.mark.slow
def test_smollm2_tokenizes_markers_as_special_tokens(smollm2_tokenizer: Any) -> None:
    tok = smollm2_tokenizer
    for marker in ("<|im_start|>", "<|im_end|>"):
        ids = tok.encode(marker, add_special_tokens=False)
        assert len(ids) == 1 and marker in tok.all_special_tokens
    ids = tok.encode(GENERATION_PREFIX, add_special_tokens=False)
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")


@pytest.mark.slow
def test_target_tokens_are_a_suffix_of_the_example(smollm2_tokenizer: Any) -> None:
    """Tokenizing prompt + target gives the prompt's tokens then the target's, so the
    target's positions are known for assistant-only loss."""
    tok = smollm2_tokenizer
    records = [r for r in collected(REPO, "sample_logs") if r.response is not None]
    by_kind: dict[str, list[CallRecord]] = {}
    for rec in records:
        by_kind.setdefault(response_kind(rec), []).append(rec)
    assert set(by_kind) == {"tool_call", "json", "text"}
    for recs in by_kind.values():
        for rec in recs[:60]:
            prompt, target = render_example(rec)
            whole = tok.encode(prompt + target, add_special_tokens=False)
            p = tok.encode(prompt, add_special_tokens=False)
            t = tok.encode(target, add_special_tokens=False)
            assert whole == p + t, rec.source
            assert t[-1] == tok.convert_tokens_to_ids(STOP)
