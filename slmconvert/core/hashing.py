"""Content hashes only: no modification times, no random fallbacks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace). Values that have no stable
    JSON form (objects, NaN, infinities) raise TypeError/ValueError instead of hashing
    something arbitrary."""

    def reject(value: Any) -> Any:
        raise TypeError(f"cannot hash a value of type {type(value).__name__}")

    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        default=reject, allow_nan=False,
    )


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_dir(path: Path) -> str:
    """Content hash of a directory tree: every file's relative path and sha256."""
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a directory")
    return sha256_json(sorted((p.relative_to(path).as_posix(), sha256_file(p))
                              for p in path.rglob("*") if p.is_file()))
