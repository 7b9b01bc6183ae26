"""The capture log of `slmconvert serve`: one JSON line per call, in the OpenAI proxy
format collect reads (``{"request": ..., "response": ..., "metadata": ...}``), written to
owner-only files that rotate by size.

What is never written: HTTP headers (so no Authorization header or API key), and any
body key that names a credential (``api_key``, ``authorization``, ``token``, ...). A
failure to write is counted and reported on /metrics; it never fails the user's call.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

SECRET_KEYS = frozenset({"api_key", "apikey", "authorization", "auth", "token", "access_token",
                         "secret", "client_secret", "password", "x-api-key", "api-key"})
PREFIX = "capture-"


def redact(body: Any) -> Any:
    """A request body without credential-named keys, at any depth outside the messages
    and the tool schemas (a tool parameter may well be called ``token``)."""
    if isinstance(body, dict):
        return {k: v if k in ("messages", "tools", "functions") else redact(v)
                for k, v in body.items()
                if not (isinstance(k, str) and k.lower() in SECRET_KEYS)}
    if isinstance(body, list):
        return [redact(v) for v in body]
    return body


class CaptureLog:
    """Append-only JSON lines under ``directory`` (mode 0700, files 0600), a new file
    once the current one reaches ``max_bytes``. Thread-safe: every line is written whole
    under a lock, so concurrent calls never interleave."""

    def __init__(self, directory: Path, max_bytes: int = 64 << 20) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.failures = 0
        self.written = 0
        self._fh: Any = None
        self._size = 0
        if not self.dir.exists():
            self.dir.mkdir(parents=True, mode=0o700)
            os.chmod(self.dir, 0o700)  # whatever the umask

    def _open(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        n = 0
        while True:
            path = self.dir / f"{PREFIX}{stamp}-{os.getpid()}-{n:03d}.jsonl"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
                break
            except FileExistsError:
                n += 1
        self._fh = os.fdopen(fd, "a", encoding="utf-8")
        self._size = 0
        self.path = path

    def write(self, record: dict[str, Any]) -> bool:
        """Write one call; False (and counted) when it could not be written."""
        try:
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            data = line.encode("utf-8")
            with self.lock:
                if self._fh is None or self._size + len(data) > self.max_bytes and self._size:
                    if self._fh is not None:
                        self._fh.close()
                    self._open()
                self._fh.write(line)
                self._fh.flush()
                self._size += len(data)
                self.written += 1
            return True
        except Exception:  # noqa: BLE001 - logging must never break a call
            with self.lock:
                self.failures += 1
            return False

    def close(self) -> None:
        with self.lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
