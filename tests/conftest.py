from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(TESTS / "netguard"))

import sitecustomize as netguard  # noqa: E402  (our guard, also used by subprocesses)

os.environ["SLMCONVERT_NETGUARD"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(TESTS / "netguard"), str(TESTS), os.environ.get("PYTHONPATH", "")]
).rstrip(os.pathsep)
for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[var] = "1"
netguard.install()


@pytest.fixture(autouse=True)
def no_network(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Fail any test (or subprocess it starts) that tries a non-loopback connection."""
    log = tmp_path_factory.mktemp("netguard") / "violations.log"
    monkeypatch.setenv("SLMCONVERT_NETGUARD_LOG", str(log))
    yield
    if log.exists() and log.read_text().strip():
        pytest.fail("network access attempted:\n" + log.read_text())


@pytest.fixture
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.exists():
        pytest.skip("../shared/data is not beside the checkout")
    return data
