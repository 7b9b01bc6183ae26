"""`slmconvert serve --router R --shadow` on loopback, against a real fake upstream, with a
real router: the packaged embedding model assigns the calls, and a tiny random-weight
model (SmolLM2's tokenizer) with a LoRA adapter per task answers them beside the LLM.
The client gets the upstream's bytes; each log line holds the LLM's answer, the SLM's,
what the router would have done and the agreement; collect imports the log without
quarantine, curate keeps its calls, iterate can read the agreement back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_serve import Served

from slmconvert.core.records import CallRecord, Message

TICKET_TOOLS = [{"type": "function", "function": {
    "name": "route_ticket", "description": "Send a ticket to a team.",
    "parameters": {"type": "object", "properties": {"team": {"type": "string"}},
                   "required": ["team"]}}}]
TASKS = {  # cluster -> (system prompt, user turns, tools)
    "c00": ("Route the ticket to the right team.\nUse the tool, never answer in text.",
            [f"Ticket {i}: a question about {team} for order {1000 + i}"
             for i, team in enumerate(["billing", "shipping", "returns"] * 3)], TICKET_TOOLS),
    "c01": ("Classify the sentiment of the review as positive, negative or neutral.\n"
            "Answer with the label only.",
            [f"Review: {t}" for t in ["The kettle broke after two days.",
                                      "Lovely service, fast delivery, will buy again.",
                                      "It is a chair. It does what chairs do.",
                                      "Terrible support, nobody answered my emails.",
                                      "Great value and the colour is exactly as shown.",
                                      "Arrived on time, nothing special.",
                                      "The battery lasts all week, brilliant.",
                                      "Smells odd and the zip is broken."]], []),
    "c02": ("Summarise the customer's message in one sentence for the support log.",
            [f"Message: {t}" for t in ["Hi, I moved house last month and my parcels still go "
                                       "to the old address, can you update it please?",
                                       "I was charged twice for the same order and the bank "
                                       "says it is your side, please refund one.",
                                       "The app logs me out every time I open the camera.",
                                       "Can I change the delivery day of my weekly box?",
                                       "My voucher code says expired but the email says "
                                       "valid until June.",
                                       "Please close my account and delete my data."]], []),
    "c03": ("Extract the order number and the problem from the message.\n"
            "Answer with a JSON object with the keys order and problem.",
            [f"Message: order {n} {p}" for n, p in [
                ("A-1042", "arrived late"), ("B-2231", "is missing a part"),
                ("C-0007", "came in the wrong size"), ("A-5530", "was never delivered"),
                ("D-8812", "arrived broken"), ("B-0193", "was charged twice")]], []),
}
NEW_TASK = "Write a limerick about a lighthouse keeper's cat."
#: What each task's route is: c00 `replace` (every answer the verifier accepts is
#: kept), c01 `hybrid` with a threshold no answer reaches, c02 `keep`, c03 `replace` for
#: JSON answers, which the verifier turns down (the tiny model does not write JSON).
ROUTES = {"c00": ("replace", None, "tool_call"), "c01": ("hybrid", 0.0, "label"),
          "c03": ("replace", None, "json")}


def _call(cid: str, user: str) -> CallRecord:
    system, _, tools = TASKS[cid]
    return CallRecord(source="t", messages=[Message(role="system", content=system),
                                            Message(role="user", content=user)], tools=tools)


def _body(cid: str, user: str, **kw: Any) -> dict[str, Any]:
    system, _, tools = TASKS[cid]
    return {"model": "gpt-4o", "messages": [{"role": "system", "content": system},
                                            {"role": "user", "content": user}],
            **({"tools": tools} if tools else {}), **kw}


def build_router(ws: Path) -> Path:
    """A workspace with a router (:data:`ROUTES`), its adapters on one tiny base model,
    their prompt recipes, and centroids and thresholds from the tasks' calls embedded as
    serve embeds a request."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from slmconvert.clustering.embed import Embedder
    from slmconvert.clustering.model import Featurizer, Weights
    from slmconvert.core.hashing import sha256_file
    from slmconvert.core.models import prepare
    from slmconvert.evaluation.router import (
        CENTROIDS,
        ROUTER,
        Assignment,
        BaseModelRef,
        Route,
        Router,
        save_router,
    )
    from slmconvert.prompting.format import FORMAT
    from slmconvert.prompting.recipe import learn

    tok = AutoTokenizer.from_pretrained(prepare("smollm2-135m").path)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=2048, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    base = ws / "models" / "tiny"
    LlamaForCausalLM(cfg).save_pretrained(base)
    tok.save_pretrained(base)
    routes = []
    for cid, (_, users, _) in TASKS.items():
        if cid not in ROUTES:
            routes.append(Route(cluster=cid, route="llm", verdict="keep",
                                reason="set by the test"))
            continue
        verdict, threshold, kind = ROUTES[cid]
        unit = ws / "finetune" / cid / "tiny"
        torch.manual_seed(1)
        lora = get_peft_model(LlamaForCausalLM.from_pretrained(base), LoraConfig(
            r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
        lora.save_pretrained(unit / "adapter")
        calls = [_call(cid, u) for u in users]
        learn(((c.messages, c.tools) for c in calls), task_tag=cid).save(
            unit / "prompt_recipe.json")
        routes.append(Route(
            cluster=cid, route="slm", verdict=verdict, reason="set by the test",
            model=BaseModelRef(name=str(base), source=str(base)),
            adapter=f"finetune/{cid}/tiny/adapter",
            recipe=f"finetune/{cid}/tiny/prompt_recipe.json", answer_kind=kind,
            threshold=threshold, max_new_tokens=8))
    weights = Weights()
    featurizer = Featurizer(Embedder.load("minilm-l6-v2"), weights, 2000)
    ids, cents, thr = [], [], []
    for cid, (_, users, _) in TASKS.items():
        calls = [_call(cid, u) for u in users]
        x = featurizer.vectors(featurizer.features(calls), with_response=False)
        c = x.mean(axis=0)
        ids.append(cid)
        cents.append(c)
        thr.append(1.5 * float(np.linalg.norm(x - c, axis=1).max()))
    out = ws / "evaluate"
    out.mkdir(parents=True)
    np.savez(out / CENTROIDS, ids=np.array(ids), centroids=np.stack(cents).astype(np.float32),
             thresholds=np.array(thr, dtype=np.float32))
    save_router(out / ROUTER, Router(format=FORMAT, routes=routes, assignment=Assignment(
        embedding_model="minilm-l6-v2", embedding_dim=featurizer.embedder.dim, max_chars=2000,
        weights=weights.model_dump(), centroids=CENTROIDS,
        centroids_sha256=sha256_file(out / CENTROIDS),
        thresholds=dict(zip(ids, thr, strict=True)))))
    return out / ROUTER


def scripted_upstream(sent: list[bytes], script: dict[str, str]) -> Any:
    """An OpenAI-compatible fake LLM: answers the last user turn with ``script[turn]``
    when the test set one, else calls the first offered tool (team "billing") or echoes
    the turn; streams on request. ``sent`` gets the exact bytes of every answer."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    async def chat(request: Request) -> Response:
        body = await request.json()
        if body.get("model") == "busy":
            return Response(b'{"error": {"message": "rate limited", "type": "rate_limit"}}',
                            status_code=429, media_type="application/json")
        last = str(body["messages"][-1].get("content"))
        text = script.get(last, "echo: " + last)
        if body.get("stream"):
            base = {"id": "chatcmpl-s", "object": "chat.completion.chunk",
                    "created": 1780000000, "model": body.get("model")}
            deltas = [{"role": "assistant", "content": ""}, {"content": text[:6]},
                      {"content": text[6:]}]
            events = [json.dumps(base | {"choices": [{"index": 0, "delta": d,
                                                      "finish_reason": None}]})
                      for d in deltas]
            events.append(json.dumps(base | {"choices": [{"index": 0, "delta": {},
                                                          "finish_reason": "stop"}]}))
            parts = [f"data: {e}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
            sent.append(b"".join(parts))

            async def stream() -> Any:
                for p in parts:
                    yield p
                    await asyncio.sleep(0.01)
            return StreamingResponse(stream(), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if body.get("tools") and last not in script:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {
                    "name": body["tools"][0]["function"]["name"],
                    "arguments": json.dumps({"team": "billing"})}}]}
        payload = json.dumps({"id": "chatcmpl-1", "object": "chat.completion",
                              "created": 1780000000, "model": body.get("model"),
                              "choices": [{"index": 0, "message": message,
                                           "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 11, "completion_tokens": 5,
                                        "total_tokens": 16}}).encode()
        sent.append(payload)
        return Response(payload, media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from slmconvert.serving.routing import SlmRouter

    return SlmRouter(build_router(tmp_path_factory.mktemp("shadow") / "ws"))


@pytest.fixture
def stack(router: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    from slmconvert.serving.capture import CaptureLog
    from slmconvert.serving.proxy import build_app

    sent: list[bytes] = []
    script: dict[str, str] = {}
    upstream = Served(scripted_upstream(sent, script))
    log_dir = tmp_path / "capture"
    proxy = Served(build_app(upstream.url + "/v1", log=CaptureLog(log_dir), timeout=30,
                             router=router, shadow=True))
    yield {"url": proxy.url, "proxy": proxy, "upstream": upstream.url, "sent": sent,
           "script": script, "log_dir": log_dir, "tmp": tmp_path}
    proxy.stop()
    upstream.stop()


def _lines(log_dir: Path, n: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The log's lines, once there are ``n`` (shadow lines are written after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(x) for p in sorted(log_dir.glob("*.jsonl"))
                 for x in p.read_text().splitlines()]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _by_id(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {x["metadata"]["request_id"]: x for x in lines}


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)


def _metric(url: str, name: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return int(next((line.split()[-1] for line in text.splitlines()
                     if line.startswith(name + " ")), "0"))


TICKET = "Ticket 42: a question about shipping for order 5511"
REVIEW = "Review: The lamp is fine but the cable is short."
MESSAGE = "Message: my password reset email never arrives, please help."
ORDER = "Message: order Z-3301 arrived with a cracked screen"


def test_the_client_gets_the_llms_answer_and_the_log_holds_both(stack: dict[str, Any]) -> None:
    url = stack["url"]
    calls = [("c00", TICKET), ("c01", REVIEW), ("c02", MESSAGE), ("c03", ORDER)]
    ids = {}
    for cid, user in calls:
        r = _post(url, _body(cid, user))
        assert r.status_code == 200 and r.headers["x-slmconvert-route"] == "upstream"
        assert r.content == stack["sent"][-1]  # the upstream's bytes, untouched
        ids[cid] = r.headers["x-request-id"]
    r = _post(url, {"model": "gpt-4o", "messages": [{"role": "user", "content": NEW_TASK}]})
    assert r.json()["choices"][0]["message"]["content"] == "echo: " + NEW_TASK
    ids["new"] = r.headers["x-request-id"]
    lines = _by_id(_lines(stack["log_dir"], 5))
    assert {x["metadata"]["route"] for x in lines.values()} == {"upstream"}
    sh = {cid: lines[rid]["metadata"]["shadow"] for cid, rid in ids.items()}

    c00 = sh["c00"]  # replace: the verifier accepts the text answer, so it would be served
    assert (c00["route"], c00["cluster"], c00["kept"], c00["reason"]) == \
        ("slm", "c00", True, "c00: replace")
    assert c00["slm_model"].endswith("tiny+c00") and c00["adapter"] == "finetune/c00/tiny/adapter"
    assert c00["threshold"] is None and c00["verifier"] is None and c00["confidence"] < 0
    assert c00["confidence_measure"] == "mean_logprob" and c00["skipped"] is None
    slm_text = c00["answer"]["content"]
    assert c00["answer"]["role"] == "assistant" and slm_text and c00["text"] is None
    # the LLM called route_ticket; the SLM answered in text: scored as evaluate scores it
    llm = lines[ids["c00"]]["response"]["choices"][0]["message"]
    assert llm["tool_calls"][0]["function"]["name"] == "route_ticket"
    assert (c00["kind"], c00["value"], c00["correct"], c00["error"]) == \
        ("tool_call", 0.0, False, "no_tool_call")

    c01 = sh["c01"]  # hybrid, threshold 0: every answer falls under it
    assert (c01["route"], c01["kept"], c01["threshold"], c01["verifier"]) == \
        ("slm", False, 0.0, None)
    assert c01["reason"] == f"confidence {c01['confidence']:.3f} under the threshold 0.000"
    assert (c01["kind"], c01["correct"], c01["error"]) == ("text", False, "low_overlap")
    assert c01["answer"]["content"]

    c03 = sh["c03"]  # a JSON task: the verifier turns the text answer down
    assert (c03["route"], c03["kept"], c03["verifier"], c03["reason"]) == \
        ("slm", False, "malformed_json", "verifier: malformed_json")
    assert c03["answer"]["content"] and c03["correct"] is False

    for key, reason in (("c02", "c02: keep"), ("new", "no cluster: a new kind of call")):
        block = sh[key]  # kept on the LLM: no SLM ran
        assert (block["route"], block["reason"], block["kept"]) == ("llm", reason, False)
        assert block["answer"] is None and block["correct"] is None
        assert block["cluster"] == (None if key == "new" else "c02")

    # The same call again, now the LLM answers what the SLM said: they agree.
    stack["script"][TICKET] = slm_text
    r = _post(url, _body("c00", TICKET))
    assert r.json()["choices"][0]["message"]["content"] == slm_text
    again = _by_id(_lines(stack["log_dir"], 6))[r.headers["x-request-id"]]["metadata"]["shadow"]
    assert again["answer"]["content"] == slm_text
    assert (again["kind"], again["value"], again["correct"], again["error"], again["kept"]) \
        == ("text", 1.0, True, None, True)

    m = lambda name: _metric(url, name)  # noqa: E731
    assert m('slmconvert_shadow_calls_total{route="slm"}') == 4
    assert m('slmconvert_shadow_calls_total{route="llm"}') == 2
    assert (m('slmconvert_shadow_scored_total{cluster="c00"}'),
            m('slmconvert_shadow_agreed_total{cluster="c00"}'),
            m('slmconvert_shadow_kept_total{cluster="c00"}'),
            m('slmconvert_shadow_kept_agreed_total{cluster="c00"}')) == (2, 1, 2, 1)
    assert (m('slmconvert_shadow_scored_total{cluster="c01"}'),
            m('slmconvert_shadow_kept_total{cluster="c01"}'),
            m('slmconvert_shadow_kept_total{cluster="c03"}')) == (1, 0, 0)
    assert m('slmconvert_calls_total{route="upstream",status="200"}') == 6
    assert m('slmconvert_calls_total{route="slm",status="200"}') == 0
    assert m("slmconvert_shadow_skipped_total") == 0


def test_streams_pass_through_and_upstream_errors_are_logged_as_skipped(
        stack: dict[str, Any]) -> None:
    url = stack["url"]
    with httpx.stream("POST", f"{url}/v1/chat/completions",
                      json=_body("c00", TICKET, stream=True), timeout=60) as r:
        assert r.headers["x-slmconvert-route"] == "upstream"
        received = b"".join(r.iter_bytes())
    assert received == stack["sent"][-1] and received.endswith(b"data: [DONE]\n\n")
    stream_id = r.headers["x-request-id"]
    busy = _post(url, _body("c00", TICKET, model="busy"))
    assert busy.status_code == 429 and busy.json()["error"]["type"] == "rate_limit"
    lines = _lines(stack["log_dir"], 2)
    streamed = _by_id(lines)[stream_id]
    assert streamed["metadata"]["streamed"] is True and len(streamed["response"]) == 4
    block = streamed["metadata"]["shadow"]  # scored against the assembled stream
    assert (block["route"], block["kept"], block["kind"], block["correct"]) == \
        ("slm", True, "text", False)
    assert block["error"] == "low_overlap"
    refused = next(x for x in lines if x["metadata"]["http_status"] == 429)
    assert refused["metadata"]["shadow"]["skipped"] == \
        "no LLM answer to compare with (status 429)"
    assert refused["metadata"]["shadow"]["route"] is None
    assert _metric(url, "slmconvert_shadow_skipped_total") == 1


def test_the_log_imports_with_collect_and_curate_keeps_its_calls(stack: dict[str, Any]) -> None:
    from slmconvert.core.parquet import iter_records
    from slmconvert.pipeline.commands import run_stage_command
    from slmconvert.serving.shadow import shadow_agreement
    from slmconvert.stages.curate import Filters, filter_reason

    url = stack["url"]
    r = _post(url, _body("c00", TICKET))
    slm_text = _lines(stack["log_dir"], 1)[0]["metadata"]["shadow"]["answer"]["content"]
    stack["script"][TICKET] = slm_text
    for cid, user in (("c00", TICKET), ("c01", REVIEW), ("c02", MESSAGE)):
        r = _post(url, _body(cid, user))
        assert r.status_code == 200
    lines = _lines(stack["log_dir"], 4)
    assert len(lines) == 4 and all("shadow" in x["metadata"] for x in lines)
    ws = stack["tmp"] / "ws"
    run_stage_command("collect", {"inputs": [str(stack["log_dir"])]}, ws, force=True)
    counts = json.loads((ws / "collect" / "manifest.json").read_text())["counts"]
    assert counts["quarantined"] == 0 and counts["imported"] == 4, counts
    records = list(iter_records(ws / "collect" / "calls.parquet"))
    blocks = [rec.extra["metadata"]["shadow"] for rec in records]
    assert sorted(str(b["cluster"]) for b in blocks) == ["c00", "c00", "c01", "c02"]
    # The client's answer is the LLM's, so curate keeps these calls as training data,
    # even those whose shadow block says the router would have used its SLM.
    assert [filter_reason(rec, Filters()) for rec in records] == [None] * 4
    assert {b["route"] for b in blocks} == {"slm", "llm"}
    run_stage_command("curate", {}, ws, force=True)
    curated = json.loads((ws / "curate" / "manifest.json").read_text())["counts"]
    assert curated["read"] == 4 and curated["dropped_slm_answer"] == 0, curated
    assert curated["kept"] == 4, curated
    # What iterate reads back from the curated calls: the served adapter's agreement.
    records = list(iter_records(ws / "curate" / "calls.parquet"))
    assert sorted(shadow_agreement(records, "c00", "finetune/c00/tiny/adapter")) == \
        [False, True]
    assert shadow_agreement(records, "c00", "iterate/adapters/c00/v2/adapter") == []
    assert shadow_agreement(records, "c01", "finetune/c01/tiny/adapter") == [False]
    # ... and uses as the served adapter's quality on new calls, without answering them.
    from types import SimpleNamespace

    from slmconvert.pipeline.iterate import IterateConfig, Iteration, iterate_report

    it = Iteration.__new__(Iteration)  # only the quality check: no workspace needed
    it.cfg, it.seed = IterateConfig(quality_sample=2), 0
    served = SimpleNamespace(adapter="finetune/c00/tiny/adapter", metrics={"accuracy": 0.9})
    c00 = [rec for rec in records if rec.extra["metadata"]["shadow"]["cluster"] == "c00"]
    q = it._quality("c00", served, c00)  # type: ignore[arg-type]
    assert q == {"n": 2, "accuracy": 0.5, "before": 0.9, "drop": 0.4, "source": "shadow"}
    drift = {"cluster": "c00", "new_calls": 2, "pending": 2, "centroid_shift": None,
             "kind_change": None, "new_tools": [], "quality": q, "decision": "retrain",
             "reason": "agreement fell"}
    table = iterate_report({"id": "b1", "drift": [drift]}).tables[0]
    assert table.rows[0][6] == "50% (was 90%; shadow, n=2)"


def test_the_slm_does_not_delay_the_answer_and_shutdown_writes_its_line(
        stack: dict[str, Any], router: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    decide = router.decide

    def slow(body: dict[str, Any]) -> Any:
        time.sleep(2.0)
        return decide(body)

    monkeypatch.setattr(router, "decide", slow)
    t0 = time.perf_counter()
    r = _post(stack["url"], _body("c00", TICKET))
    assert r.status_code == 200 and time.perf_counter() - t0 < 1.0
    assert _lines(stack["log_dir"], 1, timeout=0) == []  # the router is still at work
    stack["proxy"].stop()  # shutdown waits for the shadow line
    lines = _lines(stack["log_dir"], 1, timeout=0)
    assert len(lines) == 1
    block = lines[0]["metadata"]["shadow"]
    assert block["skipped"] is None and block["route"] == "slm" and block["kept"] is True


def test_shadow_without_a_router_is_a_one_line_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from slmconvert.cli import app
    from slmconvert.errors import ConfigError
    from slmconvert.serving.proxy import build_app

    res = CliRunner().invoke(app, ["serve", "--upstream", "http://127.0.0.1:9/v1",
                                   "--log-dir", str(tmp_path / "capture"), "--shadow"])
    assert res.exit_code == 2, res.output
    assert "--shadow needs --router" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "capture").exists()
    with pytest.raises(ConfigError, match="--shadow needs --router"):
        build_app("http://127.0.0.1:9/v1", log=None, shadow=True)


def test_without_shadow_the_router_serves_the_answer_shadow_logged(
        stack: dict[str, Any], router: Any) -> None:
    """The same router, the same call: what shadow mode logged as the SLM's answer is what
    the router serves without --shadow, and what it logged as a fallback falls back."""
    from slmconvert.serving.capture import CaptureLog
    from slmconvert.serving.proxy import build_app

    _post(stack["url"], _body("c00", TICKET))
    _post(stack["url"], _body("c01", REVIEW))
    shadowed = {x["metadata"]["shadow"]["cluster"]: x["metadata"]["shadow"]
                for x in _lines(stack["log_dir"], 2)}
    live = Served(build_app(stack["upstream"] + "/v1", log=CaptureLog(stack["tmp"] / "live"),
                            timeout=30, router=router))
    try:
        r = _post(live.url, _body("c00", TICKET))
        assert r.headers["x-slmconvert-route"] == "slm" and shadowed["c00"]["kept"] is True
        assert r.json()["choices"][0]["message"]["content"] == \
            shadowed["c00"]["answer"]["content"]
        assert r.json()["model"] == shadowed["c00"]["slm_model"]
        r = _post(live.url, _body("c01", REVIEW))
        assert r.headers["x-slmconvert-route"] == "fallback" and shadowed["c01"]["kept"] is False
        assert r.json()["choices"][0]["message"]["content"] == "echo: " + REVIEW
    finally:
        live.stop()


def test_a_constrained_route_answers_among_its_options(tmp_path: Path) -> None:
    """Label-constrained decoding in serve, as evaluate calibrated it: a label route
    answers one of its labels with the choice's probability as confidence; a tool route
    starts its call with a tool the request offers."""
    from slmconvert.evaluation.router import load_router, save_router
    from slmconvert.serving.routing import SlmRouter

    path = build_router(tmp_path / "ws")
    r = load_router(path)
    labels = ["positive", "negative", "neutral"]
    routes = [x.model_copy(update={"constrained": True, "confidence": "choice_prob",
                                   "labels": labels if x.cluster == "c01" else None})
              if x.cluster in ("c00", "c01") else x for x in r.routes]
    save_router(path, r.model_copy(update={"routes": routes}))
    router = SlmRouter(path)
    d = router.decide(_body("c01", REVIEW))
    assert d.cluster == "c01" and d.route == "slm", d.reason
    assert d.message is not None and d.message.content in labels
    assert d.confidence is not None and 1 / 3 <= d.confidence <= 1
    d = router.decide(_body("c00", TICKET))
    assert d.cluster == "c00" and d.text is not None
    assert d.text.startswith('<tool_call>{"name":"route_ticket","arguments":')
    assert d.confidence == 1.0  # one tool offered: the only option
