"""The optional pairwise LLM judge against a real HTTP server on loopback that plays a
scripted judge (no mocks of the HTTP layer)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from slmconvert.errors import ConfigError
from slmconvert.evaluation.judge import (
    GIVE_UP_AFTER,
    MAX_TOKENS,
    ItemOutcome,
    JudgeConfig,
    JudgeItem,
    combine,
    judge_pairs,
    parse_verdict,
    wilson_interval,
)

SECRET = "sk-test-7Hq2-NEVER-PRINT-ME-4f9c"
KEY_ENV = "SLMCONVERT_TEST_JUDGE_KEY"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
              "all_proxy")

# ------------------------------------------------------------- scripted judge ----


@dataclass
class Reply:
    content: str = "TIE"
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


#: (call number from 1, answer shown as A, answer shown as B) -> what the server sends
Behaviour = Callable[[int, str, str], Reply]


def prefers_longer(call: int, a: str, b: str) -> Reply:
    return Reply("A" if len(a) > len(b) else "B" if len(b) > len(a) else "TIE")


def always_a(call: int, a: str, b: str) -> Reply:
    return Reply("A")


def fails_twice(call: int, a: str, b: str) -> Reply:
    return Reply(status=500) if call <= 2 else prefers_longer(call, a, b)


def rate_limited_once(call: int, a: str, b: str) -> Reply:
    if call == 1:
        return Reply(status=429, headers={"Retry-After": "0"})
    return prefers_longer(call, a, b)


def garbage(call: int, a: str, b: str) -> Reply:
    return Reply("Both are fine, I think.")


def sleeps(call: int, a: str, b: str) -> Reply:
    return Reply("A", delay=1.0)


def always_500(call: int, a: str, b: str) -> Reply:
    return Reply(status=500)


def not_found(call: int, a: str, b: str) -> Reply:
    return Reply(status=404)


def not_json(call: int, a: str, b: str) -> Reply:
    return Reply(body=b"<html>gateway page</html>")


def _between(tag: str, text: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    assert m, f"no <{tag}> in the judge prompt"
    return m.group(1)


class _Handler(BaseHTTPRequestHandler):
    server: JudgeServer

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        user = body["messages"][-1]["content"]
        a, b = _between("answer_a", user), _between("answer_b", user)
        with self.server.lock:
            self.server.requests.append({"path": self.path, "body": body, "a": a, "b": b,
                                         "auth": self.headers.get("Authorization")})
            call = len(self.server.requests)
        reply = (self.server.behave(call, a, b) if self.path == "/v1/chat/completions"
                 else Reply(status=404))
        time.sleep(reply.delay)
        if reply.body is not None:
            data = reply.body
        elif reply.status == 200:
            data = json.dumps({"id": f"c{call}", "object": "chat.completion", "choices": [
                {"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": reply.content}}]}).encode()
        else:
            data = json.dumps({"error": {"message": f"scripted {reply.status}"}}).encode()
        try:
            self.send_response(reply.status)
            for k, v in {"Content-Type": "application/json", **reply.headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out first
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class JudgeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behave: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behave = behave
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Behaviour], JudgeServer]]:
    for var in (*PROXY_VARS, "OPENAI_API_KEY", KEY_ENV):
        monkeypatch.delenv(var, raising=False)
    servers: list[JudgeServer] = []

    def start(behave: Behaviour) -> JudgeServer:
        srv = JudgeServer(behave)
        threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def cfg_for(srv: JudgeServer | str, **kw: Any) -> JudgeConfig:
    url = srv if isinstance(srv, str) else srv.base_url
    return JudgeConfig(**{"enabled": True, "base_url": url, "model": "judge-test",
                          "backoff_s": 0, **kw})


REQUEST = "Summarise the ticket for the on-call engineer."
WIN = JudgeItem(REQUEST, reference="Disk full.", candidate="Disk full on db-2 since 04:00.")
LOSS = JudgeItem(REQUEST, reference="Disk full on db-2 since 04:00.", candidate="Disk.")
TIE = JudgeItem(REQUEST, reference="Disk full.", candidate="Disk FULL.")


# ------------------------------------------------------------------ judging ----


def test_both_orders_are_asked_and_combined_into_win_loss_tie(serve) -> None:
    srv = serve(prefers_longer)
    seen: list[ItemOutcome] = []
    s = judge_pairs(cfg_for(srv), [WIN, LOSS, TIE], on_item=seen.append)

    assert (s.n, s.wins, s.losses, s.ties, s.inconsistent, s.invalid, s.errors) == \
        (3, 1, 1, 1, 0, 0, 0)
    assert [o.outcome for o in s.outcomes] == ["win", "loss", "tie"]
    assert s.outcomes[0].verdicts == ("candidate", "candidate")
    assert list(s.outcomes) == seen
    assert s.calls == 6 and s.skipped == 0 and s.stopped is None
    assert s.agreement_rate == pytest.approx(2 / 3)
    assert s.agreement_ci95 == pytest.approx(wilson_interval(2, 3))

    # each item twice: the LLM's answer as A first, then the small model's as A
    shown = [(r["a"], r["b"]) for r in srv.requests]
    for i, item in enumerate([WIN, LOSS, TIE]):
        assert shown[2 * i] == (item.reference, item.candidate)
        assert shown[2 * i + 1] == (item.candidate, item.reference)
    for r in srv.requests:
        assert r["path"] == "/v1/chat/completions"
        assert r["auth"] is None  # no key variable set: no header
        body = r["body"]
        assert body["model"] == "judge-test"
        assert body["temperature"] == 0 and body["max_tokens"] == MAX_TOKENS == 4
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert REQUEST in body["messages"][1]["content"]


def test_a_judge_that_always_says_a_cancels_into_inconsistent_ties(serve) -> None:
    s = judge_pairs(cfg_for(serve(always_a)), [WIN, LOSS, TIE])
    assert (s.wins, s.losses, s.ties, s.inconsistent) == (0, 0, 3, 3)
    assert all(o.verdicts == ("reference", "candidate") and o.inconsistent
               for o in s.outcomes)
    assert s.agreement_rate == 1.0


def test_500_is_retried_then_succeeds(serve) -> None:
    srv = serve(fails_twice)
    s = judge_pairs(cfg_for(srv, max_retries=2), [WIN, LOSS])
    assert s.errors == 0 and (s.wins, s.losses) == (1, 1)
    assert s.calls == len(srv.requests) == 2 + 4
    assert s.last_error is None


def test_500_beyond_the_retries_makes_that_item_an_error_only(serve) -> None:
    s = judge_pairs(cfg_for(serve(fails_twice), max_retries=1), [WIN, LOSS])
    assert [o.outcome for o in s.outcomes] == ["error", "loss"]
    assert s.outcomes[0].verdicts == ("error", "candidate")
    assert s.errors == 1 and s.calls == 2 + 1 + 2
    assert s.last_error == "HTTP 500 (2 attempts)"
    assert s.agreement_rate == 0.0  # the error is not counted as judged


def test_429_waits_as_long_as_retry_after_says(serve) -> None:
    t0 = time.perf_counter()
    s = judge_pairs(cfg_for(serve(rate_limited_once), max_retries=1, backoff_s=30), [WIN])
    assert time.perf_counter() - t0 < 10  # Retry-After: 0, not the 30 s backoff
    assert s.wins == 1 and s.calls == 3


def test_404_is_not_retried(serve) -> None:
    srv = serve(not_found)
    s = judge_pairs(cfg_for(srv, max_retries=2), [WIN])
    assert s.errors == 1 and s.calls == len(srv.requests) == 2
    assert s.last_error == "HTTP 404"


def test_garbage_verdicts_are_invalid_and_nothing_is_judged(serve) -> None:
    s = judge_pairs(cfg_for(serve(garbage)), [WIN, LOSS])
    assert s.invalid == 2 and s.judged == 0 and s.errors == 0
    assert s.outcomes[0].verdicts == ("invalid", "invalid")
    assert s.agreement_rate is None and s.agreement_ci95 is None


def test_a_body_that_is_not_a_completion_is_an_error(serve) -> None:
    s = judge_pairs(cfg_for(serve(not_json), max_retries=2), [WIN])
    assert s.errors == 1 and s.calls == 2
    assert s.last_error is not None and "without a chat completion" in s.last_error


def test_a_slow_judge_times_out_and_the_item_is_an_error(serve) -> None:
    t0 = time.perf_counter()
    s = judge_pairs(cfg_for(serve(sleeps), timeout_s=0.2, max_retries=1), [WIN])
    assert time.perf_counter() - t0 < 3.0  # 4 calls of 0.2 s, not 4 of 1 s
    assert s.errors == 1 and s.calls == 4
    assert s.last_error == "timed out after 0.2 s (2 attempts)"


def test_a_dead_endpoint_is_given_up_after_failures_in_a_row(serve) -> None:
    srv = serve(always_500)
    seen: list[ItemOutcome] = []
    s = judge_pairs(cfg_for(srv, max_retries=0), [WIN, LOSS, TIE, WIN, LOSS],
                    on_item=seen.append)
    assert s.calls == len(srv.requests) == GIVE_UP_AFTER == 3
    assert s.n == s.errors == 5 and len(seen) == 5
    assert s.stopped is not None and "HTTP 500" in s.stopped


def test_max_calls_caps_the_items_judged(serve) -> None:
    seen: list[ItemOutcome] = []
    s = judge_pairs(cfg_for(serve(prefers_longer), max_calls=2), [WIN, LOSS, TIE, WIN, WIN],
                    on_item=seen.append)
    assert (s.n, s.skipped, s.calls) == (2, 3, 4)
    assert [o.index for o in seen] == [0, 1]


def test_no_items_makes_no_calls(serve) -> None:
    srv = serve(prefers_longer)
    s = judge_pairs(cfg_for(srv), [])
    assert s.n == 0 and s.calls == 0 and srv.requests == []
    assert s.agreement_rate is None


def test_disabled_judge_refuses() -> None:
    with pytest.raises(ConfigError, match="disabled"):
        judge_pairs(JudgeConfig(), [WIN])


def test_summary_holds_no_texts_and_is_json(serve) -> None:
    item = JudgeItem("UNIQUE-REQUEST-31", "UNIQUE-REFERENCE-32", "UNIQUE-CANDIDATE-33")
    s = judge_pairs(cfg_for(serve(prefers_longer)), [item])
    dumped = json.dumps(s.as_dict()) + repr(s)
    assert "UNIQUE" not in dumped
    assert json.loads(json.dumps(s.as_dict()))["outcomes"][0]["verdicts"] == ["tie", "tie"]


# --------------------------------------------------------------------- the key ----


def test_key_is_sent_as_bearer_and_never_kept(serve, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    srv = serve(prefers_longer)
    cfg = cfg_for(srv, api_key_env=KEY_ENV)
    s = judge_pairs(cfg, [WIN, LOSS])
    assert [r["auth"] for r in srv.requests] == [f"Bearer {SECRET}"] * 4
    for text in (repr(s), str(s), json.dumps(s.as_dict()), repr(cfg), str(cfg),
                 cfg.model_dump_json()):
        assert SECRET not in text

    srv2 = serve(prefers_longer)
    judge_pairs(cfg_for(srv2, api_key_env=None), [WIN])
    assert [r["auth"] for r in srv2.requests] == [None, None]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_fails_fast_naming_the_url_not_the_key(serve, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        judge_pairs(cfg_for(url, api_key_env=KEY_ENV, max_retries=2, backoff_s=5), [WIN])
    assert time.perf_counter() - t0 < 3  # no retries, no backoff
    exc = info.value
    assert exc.exit_code == 2
    assert f"{url}/chat/completions" in exc.message and "\n" not in exc.message
    assert SECRET not in f"{exc} {exc.hint} {exc!r} {exc.__cause__!r}"


def test_key_pasted_into_config_is_rejected_without_showing_it() -> None:
    with pytest.raises(ValidationError) as info:
        JudgeConfig(api_key_env=SECRET)
    assert "not the key itself" in str(info.value)
    assert info.value.errors()[0]["loc"] == ("api_key_env",)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.errors())

    with pytest.raises(ValidationError) as info:
        JudgeConfig.model_validate({"enabled": True, "api_key": SECRET})
    assert info.value.errors()[0]["loc"] == ("api_key",)
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.errors())


# ---------------------------------------------------------------------- config ----


def test_default_config_is_off_and_every_field_is_described() -> None:
    cfg = JudgeConfig()
    assert cfg.enabled is False and cfg.base_url is None
    assert (cfg.api_key_env, cfg.max_calls, cfg.timeout_s, cfg.max_retries,
            cfg.temperature) == ("OPENAI_API_KEY", 50, 60, 2, 0)
    assert all(f.description for f in JudgeConfig.model_fields.values())
    with pytest.raises(ValidationError):
        cfg.enabled = True  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(("data", "loc", "message"), [
    ({"enabled": True}, (), "base_url and model required when enabled"),
    ({"enabled": True, "model": "m"}, (), "base_url required when enabled"),
    ({"enabled": True, "base_url": "http://h:8000/v1"}, (), "model required when enabled"),
    ({"enabled": True, "base_url": "127.0.0.1:8000/v1", "model": "m"}, ("base_url",),
     "http://"),
    ({"base_url": "http://h:8000/v1/chat/completions"}, ("base_url",),
     "without /chat/completions"),
    ({"max_calls": 0}, ("max_calls",), "greater than or equal to 1"),
    ({"timeout_s": 0}, ("timeout_s",), "greater than 0"),
    ({"max_retries": -1}, ("max_retries",), "greater than or equal to 0"),
    ({"api_key_env": ""}, ("api_key_env",), "not the key itself"),
    ({"modle": "m"}, ("modle",), "Extra inputs are not permitted"),
])
def test_config_errors_name_the_key(data: dict[str, Any], loc: tuple[str, ...],
                                    message: str) -> None:
    with pytest.raises(ValidationError) as info:
        JudgeConfig.model_validate(data)
    err = info.value.errors()[0]
    assert err["loc"] == loc
    assert message in err["msg"]


def test_base_url_trailing_slash_is_dropped() -> None:
    cfg = JudgeConfig(enabled=True, base_url=" http://127.0.0.1:8000/v1/ ", model="m")
    assert cfg.base_url == "http://127.0.0.1:8000/v1"


# ----------------------------------------------------------- parsing and maths ----


@pytest.mark.parametrize(("text", "verdict"), [
    ("A", "A"), ("b", "B"), ("TIE", "TIE"), ("Tie.", "TIE"), ("**B**", "B"),
    ("Answer: A", "A"), (" A\n", "A"), ("B - it", "B"), ("tie, both", "TIE"),
    ("The answer is B.", "B"), ("A or B", "A"),
    ("", None), (None, None), ("AB", None), ("Both", None), ("neither", None),
    ("answer_a", None), ("TIED", None), ("I cannot tell", None),
])
def test_parse_verdict(text: str | None, verdict: str | None) -> None:
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize(("first", "second", "outcome", "inconsistent"), [
    ("candidate", "candidate", "win", False),
    ("candidate", "tie", "win", False),
    ("tie", "candidate", "win", False),
    ("reference", "reference", "loss", False),
    ("tie", "reference", "loss", False),
    ("reference", "tie", "loss", False),
    ("tie", "tie", "tie", False),
    ("candidate", "reference", "tie", True),
    ("reference", "candidate", "tie", True),
    ("candidate", "invalid", "invalid", False),
    ("invalid", "error", "error", False),
    ("error", "candidate", "error", False),
])
def test_combine(first: Any, second: Any, outcome: str, inconsistent: bool) -> None:
    assert combine(first, second) == (outcome, inconsistent)


def test_wilson_interval() -> None:
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(1, 1)[0] == pytest.approx(0.2065, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_import_does_not_load_httpx() -> None:
    code = ("import sys, slmconvert.evaluation.judge; "
            "print('httpx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
