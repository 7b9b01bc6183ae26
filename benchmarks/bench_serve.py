"""What the capture proxy adds to a call: a loopback load test against a fake upstream.

    python benchmarks/bench_serve.py [--calls 400] [--concurrency 16]

With ``--workspace WS --cluster CID`` it also measures the SLM path: a router with that
cluster's registered adapter (``WS/registry.json``, version 1 is evaluate's choice) as a
``replace`` route answers the cluster's first ``--slm-calls`` test calls, one at a time;
it prints their latency p50/p95 and how many the verifier sent back to the upstream.

A fake OpenAI-compatible upstream (Starlette on uvicorn, answering at once) and the
proxy (``slmconvert.serving.proxy``, logging every call to a temporary directory) run in
this process on loopback ports. The same ``--calls`` requests go to the upstream directly
and through the proxy, one at a time (latency: p50/p95 of each and of the difference) and
then with ``--concurrency`` client threads (requests/s of each), interleaved in blocks of
50 so that background load falls on both alike. Target: under 5 ms added at p50.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slmconvert.serving.capture import CaptureLog  # noqa: E402
from slmconvert.serving.proxy import build_app  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(app: Any) -> tuple[str, Any]:
    import uvicorn

    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server


def _upstream() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"id": "chatcmpl-b", "object": "chat.completion", "created": 0,
                             "model": body.get("model"), "choices": [{
                                 "index": 0, "finish_reason": "stop", "message": {
                                     "role": "assistant", "content": "ok"}}],
                             "usage": {"prompt_tokens": 20, "completion_tokens": 1}})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workspace", type=Path, default=None)
    ap.add_argument("--cluster", default="c02")
    ap.add_argument("--slm-calls", type=int, default=8)
    args = ap.parse_args()
    up_url, up = _serve(_upstream())
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    log = CaptureLog(tmp / "capture")
    px_url, px = _serve(build_app(up_url + "/v1", log=log, timeout=30))
    body = {"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You classify support tickets. " * 8},
        {"role": "user", "content": "My booking TM-ABC123 was charged twice."}]}
    client = httpx.Client(timeout=30)

    def call(url: str) -> float:
        t = time.perf_counter()
        r = client.post(f"{url}/v1/chat/completions", json=body)
        r.raise_for_status()
        return time.perf_counter() - t

    for url in (up_url, px_url):  # warm up connections and code paths
        for _ in range(20):
            call(url)
    direct: list[float] = []
    proxied: list[float] = []
    for start in range(0, args.calls, 50):
        n = min(50, args.calls - start)
        direct += [call(up_url) for _ in range(n)]
        proxied += [call(px_url) for _ in range(n)]
    added = [p - d for p, d in zip(proxied, direct, strict=True)]

    def throughput(url: str) -> float:
        with ThreadPoolExecutor(args.concurrency) as pool:
            t = time.perf_counter()
            list(pool.map(lambda _: call(url), range(args.calls)))
            return args.calls / (time.perf_counter() - t)

    rps_direct, rps_proxy = throughput(up_url), throughput(px_url)
    logged = sum(len(p.read_text().splitlines()) for p in (tmp / "capture").glob("*.jsonl"))
    result = {
        "calls": args.calls, "concurrency": args.concurrency,
        "direct_ms": {"p50": 1000 * _pct(direct, 0.5), "p95": 1000 * _pct(direct, 0.95)},
        "proxy_ms": {"p50": 1000 * _pct(proxied, 0.5), "p95": 1000 * _pct(proxied, 0.95)},
        "added_ms": {"p50": 1000 * _pct(added, 0.5), "p95": 1000 * _pct(added, 0.95)},
        "rps": {"direct": rps_direct, "proxy": rps_proxy,
                "ratio_proxy_direct": rps_proxy / rps_direct},
        "logged": logged, "log_failures": log.failures}
    if args.workspace is not None:
        result["slm"] = _slm_path(args, up_url, tmp)
    print(json.dumps(result, indent=2))
    print(f"proxy adds {result['added_ms']['p50']:.2f} ms at p50 "
          f"({result['added_ms']['p95']:.2f} ms at p95; target < 5 ms at p50); "
          f"{rps_proxy:.0f} vs {rps_direct:.0f} requests/s direct "
          f"(ratio {rps_proxy / rps_direct:.2f}); {logged} calls logged")
    if "slm" in result:
        s = result["slm"]
        print(f"SLM path ({args.cluster}): {s['answered']} of {s['calls']} answered by the "
              f"SLM, p50 {s['p50_s']:.2f} s, p95 {s['p95_s']:.2f} s per call "
              f"({s['fallbacks']} fell back to the upstream)")
    px.should_exit = up.should_exit = True


def _slm_path(args: Any, up_url: str, tmp: Path) -> dict[str, Any]:
    """Latency of calls answered by the SLM: a temporary router whose one SLM route is the
    cluster's registered adapter (replace: every answer the verifier accepts)."""
    import shutil

    from slmconvert.core.parquet import iter_records
    from slmconvert.evaluation import registry as rg
    from slmconvert.evaluation.router import CENTROIDS, ROUTER, Route, save_router
    from slmconvert.serving.routing import SlmRouter

    ws = args.workspace.resolve()
    reg = rg.open_registry(ws)
    v = reg.entry(args.cluster).served
    if v is None:
        raise SystemExit(f"{args.cluster} has no adapter in {ws}")
    router = rg.build_router(ws, reg)
    route = Route(cluster=args.cluster, route="slm", verdict="replace", reason="benchmark",
                  model=v.model, adapter=v.adapter, recipe=v.recipe,
                  answer_kind=v.answer_kind, confidence=v.confidence, threshold=None,
                  max_new_tokens=v.max_new_tokens, dtype=v.dtype)
    routes = [route if r.cluster == args.cluster else r for r in router.routes]
    shutil.copy2(rg.router_paths(ws)[1], tmp / CENTROIDS)
    save_router(tmp / ROUTER, router.model_copy(update={"routes": routes,
                                                        "workspace": str(ws)}))
    app = build_app(up_url + "/v1", log=CaptureLog(tmp / "slm-capture"), timeout=120,
                    router=SlmRouter(tmp / ROUTER))
    url, server = _serve(app)
    calls = list(iter_records(ws / "cluster" / "splits" / args.cluster / "test.parquet"))
    seconds, answered, fallbacks = [], 0, 0
    with httpx.Client(timeout=300) as client:
        for rec in calls[:args.slm_calls]:
            body = {"model": "gpt-4o", "messages": [
                m.model_dump(mode="json", exclude_none=True, exclude={"tool_calls"})
                for m in rec.messages], **({"tools": rec.tools} if rec.tools else {})}
            t = time.perf_counter()
            r = client.post(f"{url}/v1/chat/completions", json=body)
            took = time.perf_counter() - t
            route_taken = r.headers.get("x-slmconvert-route")
            answered += route_taken == "slm"
            fallbacks += route_taken == "fallback"
            seconds.append(took)
    server.should_exit = True
    return {"cluster": args.cluster, "model": v.model.name, "dtype": v.dtype,
            "calls": len(seconds), "answered": answered, "fallbacks": fallbacks,
            "p50_s": _pct(seconds, 0.5), "p95_s": _pct(seconds, 0.95)}


if __name__ == "__main__":
    main()
