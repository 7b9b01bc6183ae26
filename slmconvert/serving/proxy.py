"""`slmconvert serve`: an OpenAI-compatible HTTP server (Starlette on uvicorn, httpx to
the upstream) that forwards every call to the upstream LLM API and logs it for the next
iteration (S1 and S6).

Endpoints: ``POST /v1/chat/completions`` (non-streaming and streaming SSE, tools and tool
calls passed through untouched), ``GET /v1/models``, ``GET /healthz`` and ``GET
/metrics`` (Prometheus text). Upstream errors come back with their status code and body;
an upstream that does not answer in time is a 504, one that cannot be reached a 502, a
malformed request a 400 with an OpenAI-style error body. Every answered call is logged
(:mod:`slmconvert.serving.capture`); headers never are. With a router in shadow mode the
upstream answers every call and the router's choice is logged beside it
(:mod:`slmconvert.serving.shadow`).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slmconvert.errors import ConfigError
from slmconvert.serving.capture import CaptureLog, redact

HOP_HEADERS = {"host", "content-length", "connection", "keep-alive", "transfer-encoding",
               "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
               "accept-encoding"}
QUANTILES = (0.5, 0.95, 0.99)


SHADOW_COUNTERS = {
    "scored": "SLM answers scored against the LLM's, per cluster.",
    "agreed": "Scored SLM answers that agree with the LLM's, per cluster.",
    "kept": "SLM answers the router would have served (verifier and threshold passed).",
    "kept_agreed": "Answers the router would have served that agree with the LLM's.",
}


@dataclass
class Metrics:
    """Calls per route and status, fallbacks, log failures, and latency quantiles over
    the last ``window`` calls per route; in shadow mode, what the router would have done."""

    window: int = 10_000
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    latency: dict[str, deque[float]] = field(default_factory=dict)
    fallbacks: int = 0
    shadow: bool = False
    shadow_calls: dict[str, int] = field(default_factory=dict)  # would-be route -> calls
    shadow_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (what, cluster)
    shadow_skipped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            key = (route, str(status))
            self.calls[key] = self.calls.get(key, 0) + 1
            self.latency.setdefault(route, deque(maxlen=self.window)).append(seconds)

    def observe_shadow(self, block: dict[str, Any]) -> None:
        """Count one call's shadow block (:mod:`slmconvert.serving.shadow`)."""
        with self.lock:
            if block.get("skipped"):
                self.shadow_skipped += 1
                return
            route = block["route"]
            self.shadow_calls[route] = self.shadow_calls.get(route, 0) + 1
            if route != "slm":
                return
            agreed, kept = block.get("correct") is True, bool(block.get("kept"))
            for what, hit in (("scored", block.get("correct") is not None), ("agreed", agreed),
                              ("kept", kept), ("kept_agreed", kept and agreed)):
                key = (what, str(block.get("cluster")))
                self.shadow_counts[key] = self.shadow_counts.get(key, 0) + int(hit)

    def _render_shadow(self) -> list[str]:
        out = ["# HELP slmconvert_shadow_calls_total Calls the router worked out in shadow "
               "mode, by the route it would have taken.",
               "# TYPE slmconvert_shadow_calls_total counter"]
        for route in ("slm", "llm"):
            out.append(f'slmconvert_shadow_calls_total{{route="{route}"}} '
                       f"{self.shadow_calls.get(route, 0)}")
        out += ["# HELP slmconvert_shadow_skipped_total Calls whose router choice was not "
                "worked out (no LLM answer, backlog, failure).",
                "# TYPE slmconvert_shadow_skipped_total counter",
                f"slmconvert_shadow_skipped_total {self.shadow_skipped}"]
        for what, help_text in SHADOW_COUNTERS.items():
            name = f"slmconvert_shadow_{what}_total"
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            for (w, cluster), n in sorted(self.shadow_counts.items()):
                if w == what:
                    out.append(f'{name}{{cluster="{cluster}"}} {n}')
        return out

    def render(self, log: CaptureLog | None) -> str:
        out = ["# HELP slmconvert_calls_total Calls answered, by route and HTTP status.",
               "# TYPE slmconvert_calls_total counter"]
        with self.lock:
            for (route, status), n in sorted(self.calls.items()):
                out.append(f'slmconvert_calls_total{{route="{route}",status="{status}"}} {n}')
            out += ["# HELP slmconvert_fallbacks_total SLM answers replaced by the upstream's.",
                    "# TYPE slmconvert_fallbacks_total counter",
                    f"slmconvert_fallbacks_total {self.fallbacks}",
                    "# HELP slmconvert_latency_seconds Latency per route (last calls).",
                    "# TYPE slmconvert_latency_seconds summary"]
            for route, xs in sorted(self.latency.items()):
                s = sorted(xs)
                for q in QUANTILES:
                    v = s[min(len(s) - 1, int(q * len(s)))]
                    out.append(f'slmconvert_latency_seconds{{route="{route}",quantile="{q}"}} '
                               f"{v:.6f}")
                out.append(f'slmconvert_latency_seconds_count{{route="{route}"}} {len(s)}')
                out.append(f'slmconvert_latency_seconds_sum{{route="{route}"}} {sum(s):.6f}')
            if self.shadow:
                out += self._render_shadow()
        if log is not None:
            out += ["# HELP slmconvert_log_failures_total Calls that could not be logged.",
                    "# TYPE slmconvert_log_failures_total counter",
                    f"slmconvert_log_failures_total {log.failures}",
                    "# HELP slmconvert_logged_total Calls logged.",
                    "# TYPE slmconvert_logged_total counter",
                    f"slmconvert_logged_total {log.written}"]
        return "\n".join(out) + "\n"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": kind, "code": status}},
                        status_code=status)


def _forward_headers(headers: Any, key: str | None = None) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
    if key and not any(k.lower() == "authorization" for k in out):
        out["authorization"] = f"Bearer {key}"
    return out


def _sse_events(buffer: str) -> tuple[list[Any], str]:
    """Complete ``data:`` events of an SSE text, parsed; and the unfinished rest."""
    events: list[Any] = []
    *done, rest = buffer.split("\n\n")
    for block in done:
        for line in block.splitlines():
            if line.startswith("data:"):
                data = line[5:].strip()
                if data and data != "[DONE]":
                    try:
                        events.append(json.loads(data))
                    except json.JSONDecodeError:
                        events.append({"unparsed": data[:200]})
    return events, rest


def build_app(upstream: str, *, log: CaptureLog | None, timeout: float = 120.0,
              upstream_key: str | None = None, router: Any = None,
              shadow: bool = False) -> Any:
    """The ASGI app. ``upstream`` is the base URL of an OpenAI-compatible API (the part
    before ``/chat/completions``, e.g. ``https://api.openai.com/v1``); ``upstream_key``
    is sent as a bearer token when a client sends no Authorization header; ``router``
    (a :class:`slmconvert.serving.routing.SlmRouter`) answers the calls its routes send
    to an SLM, everything else goes upstream. With ``shadow`` the upstream answers every
    call and the router's choice is only logged (:mod:`slmconvert.serving.shadow`)."""
    if shadow and router is None:
        raise ConfigError("--shadow needs --router: shadow mode runs a router's SLMs beside "
                          "the LLM")
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    base = upstream.rstrip("/")
    metrics = Metrics(shadow=shadow)
    state: dict[str, Any] = {}
    decisions: dict[str, Any] = {}  # request id -> the router's decision, until logged
    runner = None
    if shadow:
        from slmconvert.serving.shadow import ShadowRunner

        runner = ShadowRunner(router, log.write if log is not None else lambda entry: None,
                              metrics.observe_shadow)

    def client() -> httpx.AsyncClient:
        if "client" not in state:
            state["client"] = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
        return state["client"]

    def record(body: dict[str, Any], response: Any, status: int, started: float,
               request_id: str, route: str, stream: bool) -> None:
        metrics.observe(route, status, time.perf_counter() - started)
        decision = decisions.pop(request_id, None)
        if log is None and runner is None:
            return
        routed = {} if decision is None else {
            "cluster": decision.cluster, "route_reason": decision.reason,
            "slm_model": decision.model, "slm_confidence": decision.confidence}
        entry = {"request": redact(body), "response": response, "metadata": {
            "request_id": request_id, "timestamp": datetime.now(UTC).isoformat(
                timespec="milliseconds"), "latency_ms": round(
                    1000 * (time.perf_counter() - started), 1),
            "http_status": status, "route": route, "streamed": stream,
            "upstream": base, **routed}}
        if runner is not None:  # written once the router's choice is worked out
            runner.submit(entry, body, response, status)
        elif log is not None:
            log.write(entry)

    async def answer_with_slm(body: dict[str, Any], d: Any, started: float,
                              request_id: str) -> Response:
        from slmconvert.serving.routing import completion, completion_chunks

        headers = {"x-slmconvert-route": "slm", "x-slmconvert-model": str(d.model),
                   "x-request-id": request_id}
        if body.get("stream"):
            chunks = completion_chunks(d)
            record(body, chunks, 200, started, request_id, "slm", True)
            text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            return Response(text, media_type="text/event-stream", headers=headers)
        payload = completion(d)
        record(body, payload, 200, started, request_id, "slm", False)
        from starlette.responses import JSONResponse

        return JSONResponse(payload, headers=headers)

    async def chat(request: Request) -> Response:
        started = time.perf_counter()
        request_id = "req_" + secrets.token_hex(12)
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            metrics.observe("invalid", 400, time.perf_counter() - started)
            return _error(400, "the request body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) \
                or not body["messages"]:
            metrics.observe("invalid", 400, time.perf_counter() - started)
            return _error(400, "the request needs a non-empty 'messages' list")
        headers = _forward_headers(request.headers, upstream_key)
        url = f"{base}/chat/completions"
        route = "upstream"
        if router is not None and runner is None:
            from starlette.concurrency import run_in_threadpool

            d = await run_in_threadpool(router.decide, body)
            decisions[request_id] = d
            if d.route == "slm":
                return await answer_with_slm(body, d, started, request_id)
            if d.route == "fallback":
                route = "fallback"
                with metrics.lock:
                    metrics.fallbacks += 1
        if body.get("stream"):
            return await _stream(body, headers, url, started, request_id, route)
        try:
            r = await client().post(url, json=body, headers=headers)
        except httpx.TimeoutException:
            record(body, {"error": {"message": "upstream timeout"}}, 504, started, request_id,
                   route, False)
            return _error(504, f"the upstream did not answer within {timeout:g} s",
                          "upstream_timeout")
        except httpx.HTTPError as exc:
            record(body, {"error": {"message": "upstream unreachable"}}, 502, started,
                   request_id, route, False)
            return _error(502, f"the upstream cannot be reached ({type(exc).__name__})",
                          "upstream_error")
        try:
            payload: Any = r.json()
        except ValueError:
            payload = {"error": {"message": r.text[:500]}}
        record(body, payload, r.status_code, started, request_id, route, False)
        return Response(r.content, status_code=r.status_code,
                        media_type=r.headers.get("content-type", "application/json"),
                        headers={"x-slmconvert-route": route, "x-request-id": request_id})

    async def _stream(body: dict[str, Any], headers: dict[str, str], url: str,
                      started: float, request_id: str, route: str) -> Response:
        req = client().build_request("POST", url, json=body, headers=headers)
        try:
            r = await client().send(req, stream=True)
        except httpx.TimeoutException:
            record(body, {"error": {"message": "upstream timeout"}}, 504, started, request_id,
                   route, True)
            return _error(504, f"the upstream did not answer within {timeout:g} s",
                          "upstream_timeout")
        except httpx.HTTPError as exc:
            record(body, {"error": {"message": "upstream unreachable"}}, 502, started,
                   request_id, route, True)
            return _error(502, f"the upstream cannot be reached ({type(exc).__name__})",
                          "upstream_error")
        if r.status_code >= 400:
            content = await r.aread()
            await r.aclose()
            try:
                payload: Any = json.loads(content)
            except ValueError:
                payload = {"error": {"message": content[:500].decode(errors="replace")}}
            record(body, payload, r.status_code, started, request_id, route, True)
            return Response(content, status_code=r.status_code,
                            media_type=r.headers.get("content-type", "application/json"))

        async def relay() -> Any:
            chunks: list[Any] = []
            buffer = ""
            ok = True
            try:
                async for part in r.aiter_bytes():
                    yield part
                    buffer += part.decode("utf-8", errors="replace")
                    events, buffer = _sse_events(buffer)
                    chunks += events
            except BaseException:  # upstream broke, or the client went away: partial
                ok = False
                raise
            finally:
                await r.aclose()
                events, _ = _sse_events(buffer + "\n\n")
                chunks += events
                record(body, chunks if ok else {"error": {"message": "stream broken",
                                                          "chunks": len(chunks)}},
                       r.status_code if ok else 502, started, request_id, route, True)

        return StreamingResponse(relay(), status_code=r.status_code,
                                 media_type=r.headers.get("content-type", "text/event-stream"),
                                 headers={"x-slmconvert-route": route,
                                          "x-request-id": request_id})

    async def models(request: Request) -> Response:
        try:
            r = await client().get(f"{base}/models",
                                   headers=_forward_headers(request.headers, upstream_key))
        except httpx.HTTPError as exc:
            return _error(502, f"the upstream cannot be reached ({type(exc).__name__})",
                          "upstream_error")
        return Response(r.content, status_code=r.status_code,
                        media_type=r.headers.get("content-type", "application/json"))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def prometheus(request: Request) -> Response:
        return PlainTextResponse(metrics.render(log),
                                 media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        if runner is not None:
            await runner.drain()
        if "client" in state:
            await state["client"].aclose()
        if log is not None:
            log.close()

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.metrics = metrics
    return app
