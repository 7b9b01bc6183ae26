"""The adapter registry (``registry.json`` in the workspace): every adapter version per
cluster, with its data hashes, recipe, metrics, verdict and whether it is the one the
router serves; and the router regenerated from it.

Evaluate's choices become version 1 the first time iterate (or ``slmconvert registry``)
opens a workspace; iterate adds versions (retrained or new clusters) and promotes them;
``registry rollback`` points a cluster back at an older version. Adapters live under
``iterate/adapters/<cluster>/v<N>/`` so that rerunning finetune never changes a version.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slmconvert.core.models import resolve_dtype
from slmconvert.errors import ConfigError, InputError
from slmconvert.evaluation.router import (
    CENTROIDS,
    ROUTER,
    BaseModelRef,
    Confidence,
    Route,
    Router,
    Verdict,
    load_router,
    save_router,
)

REGISTRY = "registry.json"
REGISTRY_VERSION = 1
ITERATE = "iterate"          # iterate's directory in the workspace
ADAPTERS = "adapters"        # under ITERATE
ASSIGNER = "assigner.npz"    # under ITERATE: the fitted clusters plus iterate's new ones


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Version(_Model):
    version: int
    created_at: str
    origin: str = Field(description="evaluate, iterate retrain <round> or iterate new <pool>.")
    model: BaseModelRef
    adapter: str = Field(description="PEFT adapter directory, workspace-relative.")
    recipe: str = Field(description="prompt_recipe.json, workspace-relative.")
    answer_kind: str | None = None
    confidence: Confidence = "mean_logprob"
    dtype: str = "float32"
    max_new_tokens: int | None = None
    verdict: Verdict
    reason: str
    threshold: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description=(
        "On the test split it was evaluated on: n, accuracy (adapter answers agreeing "
        "with the LLM) and its CI, share_kept and agreement of the router."))
    data: dict[str, Any] = Field(default_factory=dict, description=(
        "sha256 of the split files it was trained and evaluated on, call counts, and the "
        "iterate batches they include."))
    promoted: bool = False
    promoted_at: str | None = None
    note: str = ""


class ClusterEntry(_Model):
    cluster: str
    label: str | None = None
    origin: str = Field("cluster", description="cluster, or iterate/new/<pool> for a task "
                                               "iterate found.")
    local_id: str = Field(description="Its id in the cluster stage that fitted it.")
    reason: str = Field("", description="Why it has no adapter, when it has none.")
    current: int | None = Field(None, description="The version the router serves.")
    versions: list[Version] = Field(default_factory=list)

    def version(self, number: int) -> Version:
        for v in self.versions:
            if v.version == number:
                return v
        have = ", ".join(str(v.version) for v in self.versions) or "none"
        raise ConfigError(f"{self.cluster}: no version {number} (versions: {have})")

    @property
    def served(self) -> Version | None:
        return None if self.current is None else self.version(self.current)


class Registry(_Model):
    version: int = REGISTRY_VERSION
    clusters: dict[str, ClusterEntry] = Field(default_factory=dict)
    batches: list[dict[str, Any]] = Field(default_factory=list, description=(
        "Iterate runs that finished, in order: batch id, files, counts, decisions."))
    pools: list[dict[str, Any]] = Field(default_factory=list, description=(
        "Re-clustered pools of unassigned calls: key, batches, new clusters."))

    def entry(self, cluster: str) -> ClusterEntry:
        if cluster not in self.clusters:
            from slmconvert.errors import did_you_mean

            raise ConfigError(f"no cluster '{cluster}' in the registry"
                              f"{did_you_mean(cluster, list(self.clusters))}")
        return self.clusters[cluster]

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        return next((b for b in self.batches if b["id"] == batch_id), None)


def registry_path(workspace: Path) -> Path:
    return workspace / REGISTRY


def load_registry(workspace: Path) -> Registry | None:
    path = registry_path(workspace)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable registry ({exc})") from None
    found = data.get("version") if isinstance(data, dict) else None
    if found != REGISTRY_VERSION:
        raise InputError(f"{path}: registry version {found}, this slmconvert reads version "
                         f"{REGISTRY_VERSION}")
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"{path}: invalid registry: {where}: {first['msg']}") from None


def save_registry(workspace: Path, reg: Registry) -> None:
    from slmconvert.core.fsio import write_json_atomic

    write_json_atomic(registry_path(workspace), reg.model_dump(mode="json"))


def store_adapter(workspace: Path, cluster: str, number: int, unit_dir: Path) -> tuple[str, str]:
    """Copy a fine-tuned unit directory (adapter/ and prompt_recipe.json) to the
    registry's own place; returns the workspace-relative adapter and recipe paths."""
    from slmconvert.core.fsio import atomic_dir
    from slmconvert.prompting.recipe import RECIPE_FILE

    rel = Path(ITERATE) / ADAPTERS / cluster / f"v{number}"
    dest = workspace / rel
    if not (dest / "adapter").exists():
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_dir(dest) as tmp:
            shutil.copytree(unit_dir / "adapter", tmp / "adapter")
            shutil.copy2(unit_dir / RECIPE_FILE, tmp / RECIPE_FILE)
            if (unit_dir / "result.json").exists():
                shutil.copy2(unit_dir / "result.json", tmp / "result.json")
    return (rel / "adapter").as_posix(), (rel / RECIPE_FILE).as_posix()


def version_from_report(workspace: Path, row: dict[str, Any], unit: dict[str, Any],
                        unit_dir: Path, *, cluster: str, number: int, origin: str,
                        data: dict[str, Any], evaluate_params: dict[str, Any],
                        promoted: bool, note: str) -> Version:
    """A registry version from an evaluate report row and the finetune unit it chose."""
    adapter, recipe = store_adapter(workspace, cluster, number, unit_dir)
    system: dict[str, Any] = next((s for s in row.get("systems", [])
                                   if s["system"] == "adapter"), {})
    score: dict[str, Any] = next((s for s in unit.get("scores", [])
                                  if s["cluster"] == row["id"]), {})
    return Version(
        version=number, created_at=now(), origin=origin,
        model=BaseModelRef(name=unit["base"]["name"], source=unit["base"]["source"]),
        adapter=adapter, recipe=recipe, answer_kind=row.get("kind"),
        confidence=evaluate_params.get("confidence", "mean_logprob"),
        dtype=resolve_dtype(evaluate_params.get("dtype", "float32")),  # what evaluate ran
        max_new_tokens=evaluate_params.get("max_new_tokens") or score.get("max_new_tokens"),
        verdict=row["verdict"], reason=row["reason"], threshold=row.get("threshold"),
        metrics={"n": system.get("n"), "accuracy": system.get("accuracy"),
                 "accuracy_ci": system.get("accuracy_ci"), "share_kept": row.get("share_kept"),
                 "agreement": row.get("agreement"), "agreement_ci": row.get("agreement_ci"),
                 "calls_test": row.get("calls_test"), "calls_val": row.get("calls_val")},
        data=data, promoted=promoted, promoted_at=now() if promoted else None, note=note)


def bootstrap(workspace: Path) -> Registry:
    """The registry of a workspace that has run evaluate: every cluster, and evaluate's
    chosen adapter as version 1 of each evaluated cluster (served as evaluate decided)."""
    from slmconvert.core.hashing import sha256_file

    report_path = workspace / "evaluate" / "report.json"
    ft_path = workspace / "finetune" / "finetune.json"
    for p, stage in ((report_path, "evaluate"), (ft_path, "finetune")):
        if not p.exists():
            raise InputError(f"{p}: missing; run the pipeline through {stage} first")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    units = json.loads(ft_path.read_text(encoding="utf-8")).get("units", [])
    manifest = json.loads((workspace / "evaluate" / "manifest.json").read_text(encoding="utf-8"))
    reg = Registry()
    for row in report["clusters"]:
        cid = row["id"]
        entry = ClusterEntry(cluster=cid, label=row.get("label"), local_id=cid,
                             reason=row.get("reason") or "")
        if row.get("adapter"):
            path = row["adapter"].removeprefix("finetune/")
            unit = next(u for u in units if u["path"] == path)
            splits = workspace / "cluster" / "splits" / cid
            data = {f"{side}_sha256": sha256_file(p) for side in ("train", "val", "test")
                    if (p := splits / f"{side}.parquet").exists()}
            entry.versions.append(version_from_report(
                workspace, row, unit, workspace / "finetune" / path, cluster=cid, number=1,
                origin="evaluate", data=data | {"batches": []},
                evaluate_params=manifest["params"], promoted=True,
                note="evaluate's choice"))
            entry.current = 1
        reg.clusters[cid] = entry
    return reg


def open_registry(workspace: Path) -> Registry:
    """The workspace's registry, created from evaluate's results on first use."""
    reg = load_registry(workspace)
    if reg is None:
        reg = bootstrap(workspace)
        save_registry(workspace, reg)
        write_router(workspace, reg)
    return reg


def router_paths(workspace: Path) -> tuple[Path, Path]:
    return workspace / ITERATE / ROUTER, workspace / ITERATE / CENTROIDS


def build_router(workspace: Path, reg: Registry) -> Router:
    """The router for what the registry serves: each cluster's current version, and the
    assignment of evaluate's router extended with iterate's new clusters."""
    from slmconvert.core.hashing import sha256_file

    base = load_router(workspace / "evaluate" / ROUTER)
    routes = []
    for cid, entry in reg.clusters.items():
        v = entry.served
        if v is None or v.verdict == "keep":
            reason = v.reason if v is not None else (entry.reason or "no adapter")
            routes.append(Route(cluster=cid, route="llm", verdict="keep", reason=reason))
            continue
        routes.append(Route(cluster=cid, route="slm", verdict=v.verdict, reason=v.reason,
                            model=v.model, adapter=v.adapter, recipe=v.recipe,
                            answer_kind=v.answer_kind, confidence=v.confidence,
                            threshold=v.threshold, max_new_tokens=v.max_new_tokens,
                            dtype=v.dtype))
    _, centroids = router_paths(workspace)
    src = workspace / ITERATE / ASSIGNER
    if not src.exists():
        src = workspace / "cluster" / "assigner.npz"
    centroids.parent.mkdir(parents=True, exist_ok=True)
    from slmconvert.core.fsio import atomic_path

    with atomic_path(centroids) as tmp:
        shutil.copy2(src, tmp)
    import numpy as np

    with np.load(centroids) as z:
        thresholds = {str(i): round(float(t), 6) for i, t in zip(z["ids"], z["thresholds"],
                                                                 strict=True)}
    assignment = base.assignment.model_copy(update={
        "centroids": CENTROIDS, "centroids_sha256": sha256_file(centroids),
        "thresholds": thresholds})
    return Router(format=base.format, routes=routes, assignment=assignment)


def write_router(workspace: Path, reg: Registry) -> Path:
    path, _ = router_paths(workspace)
    save_router(path, build_router(workspace, reg))
    return path


def rollback(workspace: Path, cluster: str, number: int) -> Registry:
    """Serve an earlier (or any recorded) version of a cluster's adapter again."""
    reg = open_registry(workspace)
    entry = reg.entry(cluster)
    v = entry.version(number)
    if not (workspace / v.adapter).exists():
        raise InputError(f"{workspace / v.adapter}: adapter of {cluster} v{number} is missing")
    entry.current = number
    v.note = (v.note + "; " if v.note else "") + f"served again by rollback at {now()}"
    save_registry(workspace, reg)
    write_router(workspace, reg)
    return reg


def list_rows(reg: Registry) -> list[list[Any]]:
    """One row per version, for `slmconvert registry list`."""
    rows: list[list[Any]] = []
    for cid, entry in reg.clusters.items():
        if not entry.versions:
            rows.append([cid, entry.label or "", "-", "-", "-", "-", "-", "-", "-",
                         entry.reason or "no adapter"])
        for v in entry.versions:
            acc, ci = v.metrics.get("accuracy"), v.metrics.get("accuracy_ci")
            rows.append([cid, entry.label or "", v.version,
                         "yes" if entry.current == v.version else "",
                         v.model.name, v.verdict,
                         "-" if acc is None else f"{acc:.0%}" + (
                             f" [{ci[0]:.0%}, {ci[1]:.0%}]" if ci else ""),
                         "-" if v.threshold is None else f"{v.threshold:.3f}",
                         v.created_at, f"{v.origin}: {v.note}"])
    return rows
