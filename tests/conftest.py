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


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo pipeline (pipelines/demo.yaml) run once on a copy of sample_logs/.
    ``SLMCONVERT_TEST_DEMO_WS=DIR`` uses a finished demo workspace instead (a developer's
    shortcut; CI always runs the demo)."""
    import shutil

    given = os.environ.get("SLMCONVERT_TEST_DEMO_WS")
    if given:
        return Path(given).resolve()

    from typer.testing import CliRunner

    from slmconvert.cli import app

    tmp = tmp_path_factory.mktemp("demo")
    shutil.copytree(REPO / "sample_logs", tmp / "sample_logs",
                    ignore=shutil.ignore_patterns("*.py", "*.csv", "*.md"))
    pipe = tmp / "pipe.yaml"
    demo = (REPO / "pipelines/demo.yaml").read_text()
    pipe.write_text(demo.replace("../workspace/demo", "ws").replace("../sample_logs",
                                                                     "sample_logs"))
    res = CliRunner().invoke(app, ["run", str(pipe)])
    assert res.exit_code == 0, res.output
    return tmp / "ws"
