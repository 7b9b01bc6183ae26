"""`slmconvert serve --router` after the demo, with the real packaged models: a call of a
task routed to its SLM is answered by the adapter (also streamed), a task kept on the LLM
and a call of no known task go upstream, an SLM answer under the threshold falls back to
the upstream, and every call is logged in a form collect imports without quarantine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_serve import Served, fake_upstream

from slmconvert.core.models import resolve_dtype
from slmconvert.core.parquet import iter_records
from slmconvert.core.records import CallRecord
from slmconvert.evaluation.router import BaseModelRef, Route, load_router, save_router


def _body(rec: CallRecord, **kw: Any) -> dict[str, Any]:
    msgs = []
    for m in rec.messages:
        d: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.name:
            d["name"] = m.name
        if m.tool_calls:
            d["tool_calls"] = [{"id": tc.id or f"call_{i}", "type": "function", "function": {
                "name": tc.name, "arguments": json.dumps(tc.arguments)}}
                for i, tc in enumerate(m.tool_calls)]
        if m.tool_call_id:
            d["tool_call_id"] = m.tool_call_id
        msgs.append(d)
    return {"model": "gpt-4o", "messages": msgs, **({"tools": rec.tools} if rec.tools else {}),
            **kw}


def _slm_route(ws: Path, cid: str, threshold: float | None) -> Route:
    ft = json.loads((ws / "finetune" / "finetune.json").read_text())
    unit = next(u for u in ft["units"] if u["clusters"] == [cid])
    score = next(s for s in unit["scores"] if s["cluster"] == cid)
    kinds = json.loads((ws / "cluster" / "clusters.json").read_text())
    info = next(c for c in kinds["clusters"] if c["id"] == cid)
    kind = next(iter(info["response_kinds"]))  # tool_call, json or text
    return Route(cluster=cid, route="slm", verdict="replace" if threshold is None else "hybrid",
                 reason="set by the test", model=BaseModelRef(name=unit["base"]["name"],
                                                              source=unit["base"]["source"]),
                 adapter=f"finetune/{unit['path']}/adapter",
                 recipe=f"finetune/{unit['path']}/prompt_recipe.json", answer_kind=kind,
                 threshold=threshold, max_new_tokens=score["max_new_tokens"],
                 dtype=resolve_dtype("auto"))


@pytest.fixture(scope="module")
def routed(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from slmconvert.serving.capture import CaptureLog
    from slmconvert.serving.proxy import build_app
    from slmconvert.serving.routing import SlmRouter

    tmp = tmp_path_factory.mktemp("serve")
    ws = tmp / "ws"
    shutil.copytree(demo_workspace, ws, ignore=shutil.ignore_patterns("checkpoints", "export",
                                                                      "iterate"))
    path = ws / "evaluate" / "router.json"
    router = load_router(path)
    # The demo's 12-step adapters meet no target, so every task stays with the LLM; route
    # two tasks to their adapters to exercise the SLM path: the JSON task c02 as replace,
    # the label task c01 as hybrid with a threshold no answer reaches (log-probs are < 0).
    routes = [_slm_route(ws, r.cluster, None) if r.cluster == "c02" else
              _slm_route(ws, r.cluster, 0.0) if r.cluster == "c01" else r
              for r in router.routes]
    save_router(path, router.model_copy(update={"routes": routes}))
    seen: list[dict[str, Any]] = []
    upstream = Served(fake_upstream(seen))
    log_dir = tmp / "capture"
    proxy = Served(build_app(upstream.url + "/v1", log=CaptureLog(log_dir), timeout=30,
                             router=SlmRouter(path)))
    yield {"ws": ws, "url": proxy.url, "seen": seen, "log_dir": log_dir, "tmp": tmp}
    proxy.stop()
    upstream.stop()


def _calls(ws: Path, cid: str, k: int) -> list[CallRecord]:
    return list(iter_records(ws / "cluster" / "splits" / cid / "test.parquet"))[:k]


@pytest.mark.slow
def test_routes_slm_tasks_to_the_adapter_and_the_rest_upstream(routed: Any) -> None:
    url, ws = routed["url"], routed["ws"]
    routes = []
    for rec in _calls(ws, "c02", 4):
        r = httpx.post(f"{url}/v1/chat/completions", json=_body(rec), timeout=120)
        assert r.status_code == 200
        routes.append(r.headers["x-slmconvert-route"])
        if routes[-1] == "slm":
            assert r.json()["model"] == "smollm2-135m+c02"
            assert r.headers["x-slmconvert-model"] == "smollm2-135m+c02"
            json.loads(r.json()["choices"][0]["message"]["content"])  # the verifier passed it
    assert "slm" in routes, routes  # the rest: the verifier rejected them (fallback)
    assert set(routes) <= {"slm", "fallback"}
    keep = _calls(ws, "c00", 1)[0]  # a keep task: upstream
    r = httpx.post(f"{url}/v1/chat/completions", json=_body(keep), timeout=120)
    assert r.headers["x-slmconvert-route"] == "upstream"
    new = httpx.post(f"{url}/v1/chat/completions", json={"model": "gpt-4o", "messages": [
        {"role": "user", "content": "Write a limerick about a lighthouse keeper's cat."}]},
        timeout=120)
    assert new.headers["x-slmconvert-route"] == "upstream"
    assert new.json()["choices"][0]["message"]["content"].startswith("echo: ")


@pytest.mark.slow
def test_an_answer_under_the_threshold_falls_back_to_the_upstream(routed: Any) -> None:
    rec = _calls(routed["ws"], "c01", 1)[0]
    r = httpx.post(f"{routed['url']}/v1/chat/completions", json=_body(rec), timeout=120)
    assert r.status_code == 200 and r.headers["x-slmconvert-route"] == "fallback"
    assert r.json()["choices"][0]["message"]["content"].startswith("echo: ")
    metrics = httpx.get(f"{routed['url']}/metrics", timeout=10).text
    fallbacks = int(next(line.split()[-1] for line in metrics.splitlines()
                         if line.startswith("slmconvert_fallbacks_total")))
    assert fallbacks >= 1


@pytest.mark.slow
def test_slm_answers_stream_and_every_call_is_logged_for_collect(routed: Any) -> None:
    from slmconvert.pipeline.commands import run_stage_command

    url = routed["url"]
    for rec in _calls(routed["ws"], "c02", 4):
        with httpx.stream("POST", f"{url}/v1/chat/completions",
                          json=_body(rec, stream=True), timeout=120) as r:
            text = "".join(r.iter_text())
            route = r.headers["x-slmconvert-route"]
        assert text.rstrip().endswith("data: [DONE]")
        if route == "slm":
            first = json.loads(text.split("\n\n")[0].removeprefix("data: "))
            assert first["choices"][0]["delta"]["content"]
            break
    else:
        pytest.fail("no c02 call was answered by the SLM")
    lines = [json.loads(x) for p in routed["log_dir"].glob("*.jsonl")
             for x in p.read_text().splitlines()]
    assert {x["metadata"]["route"] for x in lines} >= {"slm", "upstream", "fallback"}
    assert all("cluster" in x["metadata"] for x in lines)
    ws = routed["tmp"] / "collected"
    run_stage_command("collect", {"inputs": [str(routed["log_dir"])]}, ws, force=True)
    counts = json.loads((ws / "collect" / "manifest.json").read_text())["counts"]
    assert counts["quarantined"] == 0 and counts["imported"] + counts.get(
        "duplicates", 0) == len(lines), counts
