"""The suite's network guard really refuses non-loopback connections (and allows loopback)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest
import sitecustomize as netguard


def test_outbound_connection_is_refused(monkeypatch, tmp_path) -> None:
    log = tmp_path / "v.log"
    monkeypatch.setenv("SLMCONVERT_NETGUARD_LOG", str(log))
    with pytest.raises(netguard.NetworkBlocked):
        socket.create_connection(("93.184.215.14", 443), timeout=1)
    with pytest.raises(netguard.NetworkBlocked):
        socket.getaddrinfo("huggingface.co", 443)
    assert "93.184.215.14" in log.read_text()
    log.unlink()  # recorded as expected; keep the suite-wide check clean


def test_subprocesses_are_guarded_too(monkeypatch, tmp_path) -> None:
    log = tmp_path / "v.log"
    monkeypatch.setenv("SLMCONVERT_NETGUARD_LOG", str(log))
    code = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=1)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0 and "network access blocked" in out.stderr
    assert "1.1.1.1" in log.read_text()
    log.unlink()


def test_loopback_is_allowed() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    t = threading.Thread(target=lambda: server.accept()[0].close())
    t.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    t.join(5)
    server.close()
