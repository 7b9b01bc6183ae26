"""Hybrid routing for `slmconvert serve --router`: assign a request to a cluster from the
request alone, answer it with that cluster's adapter when the router says so, and hand
it back to the upstream when the SLM fails, the verifier rejects its answer, or its
confidence is under the calibrated threshold.

Everything comes from ``router.json`` (:mod:`slmconvert.evaluation.router`): the
assignment (embedding model, feature weights, centroids and distance thresholds, as the
cluster stage fitted them) and per cluster the base model, adapter, prompt recipe,
answer kind, confidence measure, threshold, dtype and generation budget, exactly as
evaluate calibrated them. Each base model is loaded once, with every adapter of the
router on it; a request switches to its cluster's adapter.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slmconvert.core.records import CallRecord, Message
from slmconvert.errors import InputError
from slmconvert.evaluation.router import Route, Router, load_router

if TYPE_CHECKING:
    from slmconvert.prompting.format import Parsed

MAX_PROMPT_TOKENS = 4096


@dataclass
class Decision:
    """What the router did with one request."""

    cluster: str | None
    route: str                      # slm | upstream (keep / unassigned) | fallback
    reason: str
    message: Message | None = None  # the SLM's answer when route == slm
    model: str | None = None
    confidence: float | None = None
    usage: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    task: Route | None = None       # the cluster's route, when its SLM was asked
    answer: Parsed | None = None    # the SLM's answer read back, kept or not
    text: str | None = None         # ... and as generated
    rejected: str | None = None     # the verifier's reason, when it turned the answer down


def request_record(body: dict[str, Any]) -> CallRecord:
    """A chat completions request as a canonical call (no response yet)."""
    from slmconvert.importers.common import normalise_tools, openai_messages

    dropped: list[Any] = []
    messages = openai_messages(body.get("messages"), "messages", dropped)
    tools = normalise_tools(body.get("tools") or body.get("functions"), dropped)
    return CallRecord(source="serve", messages=messages, tools=tools,
                      model=body.get("model") if isinstance(body.get("model"), str) else None)


def openai_message(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": msg.content}
    if msg.tool_calls:
        out["tool_calls"] = [{"id": tc.id or f"call_{secrets.token_hex(8)}", "type": "function",
                              "function": {"name": tc.name, "arguments": tc.arguments
                                           if isinstance(tc.arguments, str)
                                           else json.dumps(tc.arguments, ensure_ascii=False)}}
                             for tc in msg.tool_calls]
    return out


class SlmRouter:
    def __init__(self, router_file: Path, reporter: Any = None) -> None:
        from slmconvert.core.progress import NullReporter

        self.file = router_file
        self.router: Router = load_router(router_file)
        self.rep = reporter or NullReporter()
        self.lock = threading.Lock()  # one generation at a time: CPU-bound
        self.assign_lock = threading.Lock()
        self.assigner = self._assigner()
        self.bases: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.recipes: dict[str, Any] = {}
        for r in self.router.routes:
            if r.route == "slm":
                self._load(r)

    def _assigner(self) -> Any:
        import numpy as np

        from slmconvert.clustering.embed import Embedder
        from slmconvert.clustering.model import Assigner, Featurizer, Weights
        from slmconvert.core.hashing import sha256_file

        a = self.router.assignment
        npz = self.file.parent / a.centroids
        if not npz.exists():
            raise InputError(f"{npz}: the router's centroids file is missing")
        if sha256_file(npz) != a.centroids_sha256:
            raise InputError(f"{npz}: does not match the router (sha256 differs); "
                             "regenerate the router")
        embedder = Embedder.load(a.embedding_model, max_tokens=a.max_tokens,
                                 reporter=self.rep)
        with np.load(npz) as z:
            ids, cents, thr = [str(i) for i in z["ids"]], z["centroids"], z["thresholds"]
        featurizer = Featurizer(embedder, Weights(**a.weights), a.max_chars)
        return Assigner(ids, cents, thr, featurizer)

    def _load(self, r: Route) -> None:
        """The route's base model (once per model and dtype) with its adapter on it."""
        from peft import PeftModel

        from slmconvert.core.models import native_bf16, prepare
        from slmconvert.evaluation.answer import load_adapter
        from slmconvert.prompting.recipe import PromptRecipe

        assert r.model is not None and r.adapter is not None and r.recipe is not None
        adapter = self.router.resolve(self.file, r.adapter)
        recipe = self.router.resolve(self.file, r.recipe)
        for p in (adapter, recipe):
            if not p.exists():
                raise InputError(f"{p}: missing (route {r.cluster} of {self.file})")
        key = (r.model.name, r.dtype)
        if key not in self.bases:
            prepared = prepare(r.model.name, self.rep)
            self.rep.info(f"serve: loading {r.model.name} ({r.dtype}) with {r.cluster}'s adapter")
            if r.dtype == "bfloat16" and not native_bf16():
                self.rep.warn(f"serve: {r.cluster}'s threshold was calibrated in bfloat16, which "
                              "this CPU emulates (no AVX512-BF16, AMX or Arm BF16): its answers "
                              "will be many times slower than in float32; rerun evaluate with "
                              "dtype auto or float32 for a router made for this machine")
            model, tok = load_adapter(prepared.path, None, r.dtype)
            self.bases[key] = (PeftModel.from_pretrained(model, str(adapter),
                                                         adapter_name=r.cluster), tok)
        else:
            model, _ = self.bases[key]
            model.load_adapter(str(adapter), adapter_name=r.cluster)
        if r.dtype != "float32":
            import torch

            self.bases[key][0].to(getattr(torch, r.dtype))
        self.bases[key][0].eval()
        self.recipes[r.cluster] = PromptRecipe.load(recipe)

    def assign(self, rec: CallRecord) -> tuple[str | None, Route | None]:
        a = self.assigner.assign([rec])[0]
        return a.cluster, self.router.route(a.cluster)

    def decide(self, body: dict[str, Any]) -> Decision:
        """Route one request; answer it with the SLM when its route says so."""
        t0 = time.perf_counter()
        odd = [k for k, ok in (("n", body.get("n", 1) in (None, 1)),
                               ("tool_choice", body.get("tool_choice") in (None, "auto")),
                               ("response_format", not body.get("response_format")))
               if not ok]
        if odd:
            return Decision(None, "upstream", f"request options the SLM does not honour: "
                            f"{', '.join(odd)}")
        try:
            rec = request_record(body)
            with self.assign_lock:  # the embedder and its tokenizer are not thread-safe
                cluster, route = self.assign(rec)
        except Exception as exc:  # noqa: BLE001 - anything odd goes to the LLM
            return Decision(None, "upstream", f"request not assigned ({type(exc).__name__}: "
                            f"{exc})")
        if cluster is None or route is None:
            return Decision(cluster, "upstream", "no cluster: a new kind of call")
        if route.route != "slm":
            return Decision(cluster, "upstream", f"{cluster}: {route.verdict}")
        try:
            d = self._answer(rec, route)
        except Exception as exc:  # noqa: BLE001 - an SLM failure falls back
            d = Decision(cluster, "fallback", f"SLM error: {type(exc).__name__}: {exc}",
                         task=route)
        d.seconds = time.perf_counter() - t0
        return d

    def _answer(self, rec: CallRecord, route: Route) -> Decision:
        from slmconvert.evaluation.answer import prompt_for
        from slmconvert.evaluation.verifier import verify
        from slmconvert.prompting.choices import is_complete, options_for
        from slmconvert.prompting.format import parse
        from slmconvert.prompting.generate import Generator

        assert route.model is not None
        model, tok = self.bases[(route.model.name, route.dtype)]
        cid = route.cluster
        name = f"{route.model.name}+{cid}"
        with self.lock:
            model.set_adapter(cid)
            gen = Generator(model, tok, batch_size=1,
                            max_new_tokens=route.max_new_tokens or 128)
            prompt = prompt_for(rec, self.recipes[cid], tok)
            n_prompt = gen.token_count(prompt)
            if n_prompt > MAX_PROMPT_TOKENS:
                return Decision(cid, "fallback", f"prompt of {n_prompt} tokens, over "
                                f"{MAX_PROMPT_TOKENS}", model=name, task=route)
            # label-constrained decoding exactly as evaluate calibrated it
            opts = options_for(rec, route.answer_kind, route.labels) \
                if route.constrained else None
            g = gen.answer([prompt], [opts], is_complete(route.answer_kind))[0]
        parsed = parse(g.text, rec.tools)
        check = verify(parsed, rec.tools, route.answer_kind)
        conf = getattr(g, route.confidence, None)
        usage = {"prompt_tokens": n_prompt, "completion_tokens": g.new_tokens,
                 "total_tokens": n_prompt + g.new_tokens}
        seen: dict[str, Any] = {"model": name, "confidence": conf, "usage": usage,
                                "task": route, "answer": parsed, "text": g.text}
        if not check.ok:
            return Decision(cid, "fallback", f"verifier: {check.reason}",
                            rejected=check.reason, **seen)
        if route.threshold is not None and (conf is None or conf < route.threshold):
            return Decision(cid, "fallback", f"confidence {conf:.3f} under the threshold "
                            f"{route.threshold:.3f}" if conf is not None else
                            "no confidence", **seen)
        return Decision(cid, "slm", f"{cid}: {route.verdict}", message=parsed.message, **seen)


def completion(d: Decision) -> dict[str, Any]:
    """The OpenAI chat.completion body of an SLM answer."""
    assert d.message is not None
    return {"id": "chatcmpl-slm-" + secrets.token_hex(10), "object": "chat.completion",
            "created": int(time.time()), "model": d.model,
            "choices": [{"index": 0, "message": openai_message(d.message),
                         "finish_reason": "tool_calls" if d.message.tool_calls else "stop"}],
            "usage": d.usage}


def completion_chunks(d: Decision) -> list[dict[str, Any]]:
    """The same answer as a stream: role, content or tool calls, then the finish."""
    body = completion(d)
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"],
            "model": body["model"]}
    msg = body["choices"][0]["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": msg.get("content") or ""}
    if msg.get("tool_calls"):
        delta["tool_calls"] = [tc | {"index": i} for i, tc in enumerate(msg["tool_calls"])]
    return [base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            base | {"choices": [{"index": 0, "delta": {},
                                 "finish_reason": body["choices"][0]["finish_reason"]}],
                    "usage": body["usage"]}]
