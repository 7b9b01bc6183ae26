"""Stage registry, keyed by name, in pipeline order; stage modules load lazily."""

from __future__ import annotations

import importlib

from slmconvert.errors import ConfigError, did_you_mean
from slmconvert.pipeline.stage import Stage

# name -> "module:attribute" (lazy, so `slmconvert --help` stays instant).
_BUILTIN: dict[str, str] = {
    "collect": "slmconvert.stages.collect:CollectStage",
    "curate": "slmconvert.stages.curate:CurateStage",
    "cluster": "slmconvert.stages.cluster:ClusterStage",
    "select": "slmconvert.stages.select:SelectStage",
    "finetune": "slmconvert.stages.finetune:FinetuneStage",
    "evaluate": "slmconvert.stages.evaluate:EvaluateStage",
}

_registry: dict[str, str | type[Stage]] = dict(_BUILTIN)


def register(stage: type[Stage]) -> None:
    """Add (or replace) a stage; it runs after the ones registered before it."""
    _registry.pop(stage.name, None)
    _registry[stage.name] = stage


def unregister(name: str) -> None:
    _registry.pop(name, None)
    if name in _BUILTIN:
        _registry[name] = _BUILTIN[name]


def names() -> list[str]:
    return list(_registry)


def get(name: str) -> Stage:
    try:
        entry = _registry[name]
    except KeyError:
        raise ConfigError(
            f"unknown stage '{name}'{did_you_mean(name, names())}; known: {', '.join(names())}"
        ) from None
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        _registry[name] = entry
    return entry()
