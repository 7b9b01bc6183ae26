"""manifest.json: the record of what a stage ran, written last and atomically."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from slmconvert.core.fsio import is_temp_name, write_json_atomic
from slmconvert.core.hashing import sha256_file, sha256_json
from slmconvert.errors import IntegrityError

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1
_LIBRARIES = (
    "slmconvert", "pyarrow", "pydantic", "datasets", "torch", "transformers", "peft", "trl",
    "sentence-transformers", "scikit-learn", "presidio-analyzer", "presidio-anonymizer", "spacy",
)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return versions


def file_entry(path: Path, rel: str) -> dict[str, Any]:
    return {"path": rel, "sha256": sha256_file(path), "size": path.stat().st_size}


def list_outputs(stage_dir: Path, preserve: tuple[str, ...] = ()) -> list[str]:
    """Every finished file in the stage dir, minus the manifest, temp files and preserved dirs."""
    rels = []
    for p in sorted(stage_dir.rglob("*")):
        rel = p.relative_to(stage_dir)
        if not p.is_file() or rel.as_posix() == MANIFEST:
            continue
        if rel.parts[0] in preserve or any(is_temp_name(part) for part in rel.parts):
            continue
        rels.append(rel.as_posix())
    return rels


def outputs_digest(outputs: list[dict[str, Any]]) -> str:
    return sha256_json(sorted((o["path"], o["sha256"]) for o in outputs))


def write(stage_dir: Path, manifest: dict[str, Any]) -> None:
    write_json_atomic(stage_dir / MANIFEST, manifest)


def read(stage_dir: Path) -> dict[str, Any] | None:
    path = stage_dir / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{path}: unreadable manifest ({exc})",
                             hint="rerun the stage with --force") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION or "key" not in data:
        raise IntegrityError(f"{path}: not a manifest of this slmconvert version",
                             hint="rerun the stage with --force")
    return data


def verify(stage_dir: Path, manifest: dict[str, Any]) -> str | None:
    """None when every recorded output is present with its size and sha256; else why not."""
    for out in manifest.get("outputs", []):
        path = stage_dir / out["path"]
        if not path.is_file():
            return f"output {out['path']} is missing"
        if path.stat().st_size != out["size"]:
            return f"output {out['path']} changed size"
        if sha256_file(path) != out["sha256"]:
            return f"output {out['path']} does not match its sha256"
    return None


def command_line() -> str:
    return " ".join(["slmconvert", *sys.argv[1:]]) if sys.argv else ""
