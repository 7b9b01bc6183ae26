"""`slmconvert serve` as a capture proxy, against a real fake upstream: both are real HTTP
servers (uvicorn) on loopback, the client is httpx. Pass-through of answers, tool calls,
streams and upstream errors; timeouts and unreachable upstreams; malformed requests; 50
concurrent calls with nothing lost from the log; logs that collect imports cleanly and
that never hold the Authorization header or a key."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from slmconvert.serving.capture import CaptureLog
from slmconvert.serving.proxy import build_app

KEY = "sk-test-" + "9" * 24


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """An ASGI app on uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def fake_upstream(seen: list[dict[str, Any]]) -> Any:
    """An OpenAI-compatible fake LLM API: echoes the last user message, calls the first
    offered tool, streams, fails with 429 for model 'busy', is slow for model 'slow'."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    async def chat(request: Request) -> Response:
        body = await request.json()
        seen.append({"headers": dict(request.headers), "body": body})
        model = body.get("model")
        if model == "busy":
            return JSONResponse({"error": {"message": "rate limited", "type": "rate_limit",
                                           "code": "rate_limit_exceeded"}}, status_code=429)
        if model == "slow":
            await asyncio.sleep(3)
        text = "echo: " + str(body["messages"][-1].get("content"))
        if body.get("stream"):
            async def events() -> Any:
                base = {"id": "chatcmpl-s", "object": "chat.completion.chunk",
                        "created": 1780000000, "model": model}
                parts = [{"role": "assistant", "content": ""}, {"content": "echo: "},
                         {"content": str(body["messages"][-1].get("content"))}]
                for delta in parts:
                    chunk = base | {"choices": [{"index": 0, "delta": delta,
                                                 "finish_reason": None}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                    await asyncio.sleep(0.01)
                end = base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {
                    "name": name, "arguments": json.dumps({"city": "Lisbon"})}}]}
            finish = "tool_calls"
        return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion",
                             "created": 1780000000, "model": model,
                             "choices": [{"index": 0, "message": message,
                                          "finish_reason": finish}],
                             "usage": {"prompt_tokens": 11, "completion_tokens": 5,
                                       "total_tokens": 16}})

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake-llm", "object": "model"}]})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models, methods=["GET"])])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    upstream = Served(fake_upstream(seen))
    log = CaptureLog(tmp_path / "capture")
    proxy = Served(build_app(upstream.url + "/v1", log=log, timeout=1.0))
    yield {"seen": seen, "upstream": upstream, "proxy": proxy, "log": log,
           "log_dir": tmp_path / "capture", "tmp": tmp_path}
    proxy.stop()
    upstream.stop()


def _lines(log_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for p in sorted(log_dir.glob("*.jsonl"))
            for x in p.read_text().splitlines()]


def _chat(url: str, content: str, **kw: Any) -> httpx.Response:
    body = {"model": kw.pop("model", "fake-llm"),
            "messages": [{"role": "user", "content": content}], **kw}
    return httpx.post(f"{url}/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=10)


def _collect(log_dir: Path, ws: Path) -> dict[str, Any]:
    from slmconvert.pipeline.commands import run_stage_command

    run_stage_command("collect", {"inputs": [str(log_dir)]}, ws, force=True)
    return dict(json.loads((ws / "collect" / "manifest.json").read_text())["counts"])


def test_answers_pass_through_and_are_logged_without_the_key(stack: dict[str, Any]) -> None:
    r = _chat(stack["proxy"].url, "hello", api_key="sk-in-the-body-" + "1" * 20)
    assert r.status_code == 200 and r.headers["x-slmconvert-route"] == "upstream"
    assert r.json()["choices"][0]["message"]["content"] == "echo: hello"
    assert stack["seen"][0]["headers"]["authorization"] == f"Bearer {KEY}"
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    r = _chat(stack["proxy"].url, "weather?", tools=tools)
    assert r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == \
        "get_weather"
    log_dir: Path = stack["log_dir"]
    raw = "".join(p.read_text() for p in log_dir.glob("*.jsonl"))
    assert KEY not in raw and "sk-in-the-body" not in raw and "authorization" not in raw.lower()
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    for p in log_dir.glob("*.jsonl"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    lines = _lines(log_dir)
    assert [x["metadata"]["http_status"] for x in lines] == [200, 200]
    counts = _collect(log_dir, stack["tmp"] / "ws")
    assert counts["imported"] == 2 and counts["quarantined"] == 0, counts


def test_streams_pass_through_and_are_logged_whole(stack: dict[str, Any]) -> None:
    body = {"model": "fake-llm", "stream": True,
            "messages": [{"role": "user", "content": "stream me"}]}
    with httpx.stream("POST", f"{stack['proxy'].url}/v1/chat/completions", json=body,
                      timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    data = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                   for d in data[:-1]) == "echo: stream me"
    time.sleep(0.2)  # the log line is written when the stream ends
    line = _lines(stack["log_dir"])[0]
    assert line["metadata"]["streamed"] is True and len(line["response"]) == 4
    counts = _collect(stack["log_dir"], stack["tmp"] / "ws")
    assert counts["imported"] == 1 and counts["quarantined"] == 0, counts
    from slmconvert.core.parquet import iter_records

    rec = next(iter_records(stack["tmp"] / "ws" / "collect" / "calls.parquet"))
    assert rec.response is not None and rec.response.content == "echo: stream me"


def test_upstream_errors_timeouts_and_bad_requests(stack: dict[str, Any],
                                                   tmp_path: Path) -> None:
    url = stack["proxy"].url
    r = _chat(url, "hi", model="busy")
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit"
    r = _chat(url, "hi", model="slow")
    assert r.status_code == 504 and "did not answer" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["message"] == "the request body is not JSON"
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "x"}, timeout=10)
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    statuses = [x["metadata"]["http_status"] for x in _lines(stack["log_dir"])]
    assert statuses == [429, 504]  # malformed requests never reached the upstream
    counts = _collect(stack["log_dir"], stack["tmp"] / "ws")
    assert counts["imported"] == 2 and counts["quarantined"] == 0, counts
    # an upstream that is not there
    dead = Served(build_app(f"http://127.0.0.1:{_free_port()}/v1",
                            log=CaptureLog(tmp_path / "dead"), timeout=1.0))
    try:
        r = _chat(dead.url, "hi")
        assert r.status_code == 502 and "cannot be reached" in r.json()["error"]["message"]
    finally:
        dead.stop()
    r = httpx.get(f"{url}/v1/models", timeout=10)
    assert r.json()["data"][0]["id"] == "fake-llm"
    assert httpx.get(f"{url}/healthz", timeout=10).text == "ok\n"
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'slmconvert_calls_total{route="upstream",status="429"} 1' in metrics
    assert 'slmconvert_calls_total{route="invalid",status="400"} 2' in metrics
    assert 'slmconvert_latency_seconds{route="upstream",quantile="0.95"}' in metrics


def test_fifty_concurrent_calls_are_all_answered_and_logged(stack: dict[str, Any]) -> None:
    url = stack["proxy"].url
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda i: _chat(url, f"call number {i}"), range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    assert sorted(a.json()["choices"][0]["message"]["content"] for a in answers) == \
        sorted(f"echo: call number {i}" for i in range(50))
    lines = _lines(stack["log_dir"])
    assert len(lines) == 50 and len({x["metadata"]["request_id"] for x in lines}) == 50
    counts = _collect(stack["log_dir"], stack["tmp"] / "ws")
    assert counts["imported"] == 50 and counts["quarantined"] == 0, counts


def test_log_rotates_by_size_and_a_failing_log_never_fails_a_call(tmp_path: Path) -> None:
    log = CaptureLog(tmp_path / "rot", max_bytes=600)
    for i in range(10):
        assert log.write({"request": {"messages": [{"role": "user", "content": "x" * 200}]},
                          "n": i})
    log.close()
    files = sorted((tmp_path / "rot").glob("capture-*.jsonl"))
    assert len(files) >= 3
    assert sorted(json.loads(x)["n"] for p in files for x in p.read_text().splitlines()) == \
        list(range(10))
    broken = CaptureLog(tmp_path / "broken")
    assert broken.write({"not serialisable": object()}) is False
    assert broken.failures == 1


def test_redaction_drops_credentials_but_keeps_tool_schemas() -> None:
    from slmconvert.serving.capture import redact

    tools = [{"type": "function", "function": {"name": "login", "parameters": {
        "type": "object", "properties": {"token": {"type": "string"}},
        "required": ["token"]}}}]
    body = {"api_key": "k", "metadata": {"Authorization": "Bearer k", "team": "ops"},
            "tools": tools, "messages": [{"role": "user", "content": "hi"}]}
    assert redact(body) == {"metadata": {"team": "ops"}, "tools": tools,
                            "messages": body["messages"]}
