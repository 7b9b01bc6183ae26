"""Filesystem helpers: owner-only permissions, atomic writes, stable path labels.

Raw logs carry PII, so everything slmconvert creates in a workspace is 0700/0600.
A file being written lives under a dot-name containing ``.tmp-`` and is renamed into
place only when complete, so a killed process never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DIR_MODE = 0o700
FILE_MODE = 0o600
TMP_MARKER = ".tmp-"


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and TMP_MARKER in name


def ensure_private_dir(path: Path) -> Path:
    """mkdir -p with 0700 on every directory it creates (and on ``path`` itself)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmp_sibling(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}{TMP_MARKER}{os.getpid()}")


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success fsync, chmod 0600, rename."""
    ensure_private_dir(dest.parent)
    tmp = _tmp_sibling(dest)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``dest``; on success it replaces ``dest``."""
    ensure_private_dir(dest.parent)
    tmp = _tmp_sibling(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    ensure_private_dir(tmp)
    try:
        yield tmp
        for f in tmp.rglob("*"):
            os.chmod(f, DIR_MODE if f.is_dir() else FILE_MODE)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(dest: Path, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(dest: Path, obj: Any) -> None:
    write_text_atomic(dest, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def open_private(path: Path, mode: str = "w") -> Any:
    """Open a file for writing, created 0600 (append/write text)."""
    ensure_private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    return os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")


def path_label(path: str | Path, base: str | Path) -> str:
    """``path`` as a stable label for records and reports (not for opening files).

    Normalised lexically, as :func:`os.path.normpath` does: ``dir/..`` and ``./`` are
    folded and symlinks are not followed, so the label does not depend on how this
    machine links its directories. A relative ``path`` (taken as relative to ``base``)
    stays relative, climbing out of ``base`` with ``../`` where it must; an absolute one
    becomes relative when it lies under ``base`` and stays absolute otherwise. POSIX
    separators.
    """
    given = os.fspath(path)
    root = os.path.abspath(base)
    full = os.path.normpath(os.path.join(root, given))  # join keeps an absolute ``given``
    try:
        rel = os.path.relpath(full, root)
    except ValueError:  # another drive (Windows)
        return Path(full).as_posix()
    outside = rel == os.pardir or rel.startswith(os.pardir + os.sep)
    return Path(full if outside and os.path.isabs(given) else rel).as_posix()
