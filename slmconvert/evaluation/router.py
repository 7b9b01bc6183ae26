"""The router contract: ``evaluate/router.json``, everything serve needs and nothing else.

Evaluate writes it, iterate rewrites it, serve reads it, all through this module, so
the three never disagree about a field. Per cluster: the route (``slm`` or ``llm``),
the verdict, the base model, the adapter and prompt recipe (paths relative to the
workspace), the task's answer kind (for the verifier), the confidence measure and its
threshold, and the generation budget; plus how to assign a request to a cluster: the
embedding model and features the cluster stage fitted with, the per-cluster distance
thresholds, and the centroids file (copied beside router.json, with its sha256).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slmconvert.errors import InputError

ROUTER = "router.json"
CENTROIDS = "router_centroids.npz"
ROUTER_VERSION = 1

Verdict = Literal["replace", "hybrid", "keep"]
Confidence = Literal["mean_logprob", "min_logprob", "choice_prob"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseModelRef(_Model):
    name: str = Field(description="Catalog name of the base model.")
    source: str = Field(description="Where its weights come from (pkg:, hf: or a path).")


class Route(_Model):
    cluster: str
    route: Literal["slm", "llm"] = Field(description="slm: answer with the adapter below "
                                                     "(subject to the threshold); llm: upstream.")
    verdict: Verdict
    reason: str
    model: BaseModelRef | None = None
    adapter: str | None = Field(None, description="PEFT adapter directory, workspace-relative.")
    recipe: str | None = Field(None, description="prompt_recipe.json, workspace-relative.")
    answer_kind: str | None = Field(None, description="tool_call, json, label or text: what "
                                                      "the verifier expects.")
    confidence: Confidence = "mean_logprob"
    constrained: bool = Field(False, description=(
        "Label-constrained decoding: choose among `labels` (label tasks) or the tools the "
        "request offers (tool-call tasks); the confidence is then choice_prob."))
    labels: list[str] | None = Field(None, description="The label set of a constrained "
                                                       "label task.")
    threshold: float | None = Field(None, description=(
        "Keep an SLM answer whose confidence is at least this; null: every answer the "
        "verifier accepts (replace)."))
    max_new_tokens: int | None = None
    dtype: Literal["float32", "bfloat16"] = Field("float32", description=(
        "Weights the threshold was calibrated with; serve loads the model the same way."))


class Assignment(_Model):
    embedding_model: str
    embedding_dim: int
    max_tokens: int | None = None
    max_chars: int
    weights: dict[str, Any]
    centroids: str = Field(description="npz with ids, centroids, thresholds (router-relative).")
    centroids_sha256: str
    thresholds: dict[str, float] = Field(description="Per cluster: largest request distance "
                                                     "assigned to it; farther goes to the LLM.")


class Router(_Model):
    version: int = ROUTER_VERSION
    format: str = Field(description="The prompt format the adapters were trained in.")
    workspace: str = Field("..", description="The workspace, relative to router.json.")
    routes: list[Route]
    assignment: Assignment

    def route(self, cluster: str | None) -> Route | None:
        return next((r for r in self.routes if r.cluster == cluster), None)

    def resolve(self, router_file: Path, rel: str) -> Path:
        """A workspace-relative path of this router as an absolute path."""
        return (router_file.parent / self.workspace / rel).resolve()


def save_router(path: Path, router: Router) -> None:
    from slmconvert.core.fsio import write_json_atomic

    write_json_atomic(path, router.model_dump(mode="json"))


def load_router(path: Path) -> Router:
    if not path.exists():
        raise InputError(f"{path}: no router; run `slmconvert evaluate` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable router file ({exc})") from None
    version = data.get("version") if isinstance(data, dict) else None
    if version != ROUTER_VERSION:
        raise InputError(f"{path}: router version {version}, this slmconvert reads version "
                         f"{ROUTER_VERSION}")
    try:
        return Router.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"{path}: invalid router: {where}: {first['msg']}") from None
