"""The evaluation report for people: Markdown for CI logs and a self-contained HTML page
(slmconvert/evaluation/report.py), rendered from a synthetic report.json with one cluster
per verdict, nulls, NaN and a label that tries to inject a script. The browser test opens
the page in headless Chromium and checks what it drew."""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from slmconvert.evaluation.report import render_html, render_markdown

FIGURES = ("plot-share", "plot-quality", "plot-curves", "plot-latency")
EVIL = "<script>alert(1)</script>"
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def _system(system: str, accuracy: float, n: int = 24, abstained: int = 0,
            latency: float | None = 0.7) -> dict[str, Any]:
    half = 1.96 * math.sqrt(accuracy * (1 - accuracy) / n) + 0.02
    return {"system": system, "model": "smollm2-135m", "n": n, "mean": accuracy + 0.03,
            "ci95": [max(accuracy - half, 0.0), min(accuracy + 0.03 + half, 1.0)],
            "accuracy": accuracy, "accuracy_ci": [max(accuracy - half, 0.0),
                                                  min(accuracy + half, 1.0)],
            "abstained": abstained, "errors": {"wrong_value": 5, "invalid_output": 2},
            "metrics": {"name_accuracy": 0.9, "full_accuracy": accuracy},
            "latency_s": None if latency is None else {"mean": latency * 1.1, "p50": latency,
                                                       "p95": latency * 2}}


def _curve(agreements: list[float]) -> list[dict[str, float]]:
    """A confidence curve: agreement of the calls kept, keeping 10%, 20%, ... 100%."""
    return [{"threshold": round(-0.1 * k, 2), "share_kept": k / 10, "agreement": a}
            for k, a in enumerate(agreements, start=1)]


def sample_report() -> dict[str, Any]:
    """A report.json as the evaluate stage writes it: replace, hybrid and keep."""
    return {
        "version": 1,
        "workspace": "workspace/demo",
        "headline": {"text": "31% of calls (12% of tokens, n/a of LLM cost) can move to "
                             "SLMs at 96% agreement with the LLM",
                     "share_calls_slm": 0.31, "share_tokens_slm": 0.12, "share_cost_slm": None,
                     "agreement": 0.96, "agreement_ci": [0.93, 0.98]},
        "target": {"agreement": 0.95, "level": 0.95, "confidence": "mean_logprob"},
        "clusters": [
            {"id": "c00", "label": "booking tool tools", "kind": "tool_call",
             "verdict": "replace", "reason": "the adapter meets the target on every call",
             "model": "smollm2-135m", "adapter": "finetune/c00/smollm2-135m", "calls": 907,
             "share_calls": 0.32, "share_tokens": 0.51, "share_cost": 0.49,
             "calls_val": 24, "calls_test": 24, "threshold": -0.41, "share_kept": 1.0,
             "agreement": 0.97, "agreement_ci": [0.8, 1.0],
             "val": {"n": 24, "share_kept": 1.0, "agreement": 0.98,
                     "agreement_ci": [0.85, 1.0]},
             "systems": [_system("router", 0.97), _system("zero_shot", 0.12, latency=0.5),
                         _system("few_shot", 0.4), _system("adapter", 0.96),
                         _system("adapter_no_recipe", 0.8)],
             "curve": _curve([1.0] * 5 + [0.99, 0.99, 0.98, 0.97, 0.97]),
             "llm": {"latency_ms_p50": 1200, "latency_ms_mean": 1350,
                     "cost_usd_per_call": 0.0021},
             "slm": {"latency_s_p50": 0.7}},
            {"id": "c01", "label": EVIL, "kind": "label", "verdict": "hybrid",
             "reason": "agreement | on the confident half & above target",
             "model": "gemma-3-270m", "adapter": "finetune/c01/gemma-3-270m", "calls": 412,
             "share_calls": 0.15, "share_tokens": 0.05, "share_cost": 0.08,
             "calls_val": 30, "calls_test": 30, "threshold": -0.62, "share_kept": 0.5,
             "agreement": 0.96, "agreement_ci": [0.81, 0.99],
             "systems": [_system("zero_shot", 0.3, n=30), _system("adapter", 0.72, n=30),
                         _system("router", 0.96, n=30, abstained=13, latency=1.9)],
             "curve": _curve([1.0, 1.0, 0.99, 0.98, 0.96, 0.92, 0.86, 0.8, 0.76, 0.72]),
             "llm": {"latency_ms_p50": 2400, "latency_ms_mean": 2500,
                     "cost_usd_per_call": 0.004},
             "slm": {"latency_s_p50": 1.9}},
            {"id": "c02", "label": "free-text replies to customers", "kind": "text",
             "verdict": "keep", "reason": None, "model": None, "adapter": None, "calls": 1500,
             "share_calls": 0.53, "share_tokens": 0.44, "share_cost": None,
             "calls_val": 0, "calls_test": None, "threshold": None,
             "share_kept": float("nan"), "agreement": None, "agreement_ci": None,
             "val": None, "systems": [], "curve": None,
             "llm": {"latency_ms_p50": None, "latency_ms_mean": None,
                     "cost_usd_per_call": None},
             "slm": None},
        ],
        "notes": ["c02: no adapter was trained (too few calls with a reference answer).",
                  f"an injected note {EVIL}"],
    }


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return sample_report()


@pytest.fixture(scope="module")
def page(report: dict[str, Any]) -> str:
    return render_html(report)


def _figure(page: str, fig_id: str) -> str:
    found = re.search(rf'<figure class="plot" id="{fig_id}">(.*?)</figure>', page, re.DOTALL)
    assert found, f"no figure {fig_id}"
    return found.group(1)


def _row(markdown: str, first_cell: str) -> list[str]:
    """The cells of the first Markdown table row that starts with ``first_cell``."""
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


# ------------------------------------------------------------------ markdown ----


def test_markdown_has_the_headline_and_a_row_per_cluster(report: dict[str, Any]) -> None:
    md = render_markdown(report)
    assert f"**{report['headline']['text']}**" in md
    header = _row(md, "id")
    assert header[-2] == "agreement [95% CI]"
    rows = {c["id"]: _row(md, c["id"]) for c in report["clusters"]}
    assert all(len(cells) == len(header) for cells in rows.values())  # "|" in a reason
    assert rows["c00"][:3] == ["c00", "booking tool tools", "replace"]
    assert rows["c00"][5:] == ["24", "100%", "97.0% [80.0–100.0%]", "-0.41"]
    assert rows["c01"][1] == r"\<script\>alert(1)\</script\>"
    assert rows["c01"][2:4] == ["hybrid", r"agreement \| on the confident half & above target"]
    # nulls and NaN: reason, model, calls_test, share_kept, agreement, threshold
    assert rows["c02"][2:] == ["keep", "–", "–", "–", "–", "–", "–"]


def test_markdown_systems_in_a_fixed_order_and_latency_cost(report: dict[str, Any]) -> None:
    md = render_markdown(report)
    c00 = md[md.index("### c00"):md.index("### c01")]
    systems = [line.split("|")[1].strip() for line in c00.splitlines()
               if line.startswith("| ") and not line.startswith("| system")]
    assert systems == ["zero_shot", "few_shot", "adapter",
                       "adapter_no_recipe", "router"]
    assert "| router | smollm2-135m | 24 | 1.00 [" in c00
    c02 = md[md.index("### c02"):md.index("## LLM vs SLM")]
    assert "No systems evaluated." in c02
    # cost after: replace moves every call, hybrid the kept half, keep none
    assert "| c00 | replace | 1.20 s | 0.70 s | $0.0021 | $0.0000 |" in md
    assert "| c01 | hybrid | 2.40 s | 1.90 s | $0.0040 | $0.0020 |" in md
    assert "| c02 | keep | – | – | – | – |" in md
    assert "- an injected note \\<script\\>alert(1)\\</script\\>" in md


# ------------------------------------------------------------------ html ----


def test_html_loads_nothing_from_outside(page: str) -> None:
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "@import" not in page and not re.search(r"url\((?!#)", page)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= SVG_NAMESPACES


def test_html_has_the_four_plots_as_inline_svg(page: str) -> None:
    for fig_id in FIGURES:
        figure = _figure(page, fig_id)
        assert figure.count("<svg") == 1 and "</svg>" in figure
        assert "<figcaption>" in figure
        assert "<?xml" not in figure and "<!DOCTYPE" not in figure
    assert "n/a" in _figure(page, "plot-share")  # the logs have no cost
    assert _figure(page, "plot-quality").count("target 95%") == 1
    # the svg ids of different plots never clash on one page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_html_escapes_strings_from_the_logs(page: str) -> None:
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "agreement | on the confident half &amp; above target" in page


def test_html_colours_verdicts_and_renders_nulls_as_dashes(page: str) -> None:
    rows = re.findall(r"<tr><td>(c0\d)</td>.*?</tr>", page)
    assert rows[:3] == ["c00", "c01", "c02"]
    for cluster_id, verdict in [("c00", "replace"), ("c01", "hybrid"), ("c02", "keep")]:
        row = re.search(rf"<tr><td>{cluster_id}</td>.*?</tr>", page)
        assert row and f'class="verdict verdict-{verdict}">{verdict}<' in row.group(0)
    c02 = re.search(r"<tr><td>c02</td>.*?</tr>", page)
    assert c02 and c02.group(0).count(">–</td>") == 6
    assert ".verdict-replace { background: #2e7d32" in page


def test_html_is_byte_identical_when_rendered_again(report: dict[str, Any],
                                                    page: str) -> None:
    assert render_html(copy.deepcopy(report)) == page


def test_rendering_leaves_matplotlib_as_it_was(report: dict[str, Any]) -> None:
    import matplotlib

    before = (matplotlib.get_backend(), dict(matplotlib.rcParams))
    render_html(report)
    assert (matplotlib.get_backend(), dict(matplotlib.rcParams)) == before


def test_importing_the_module_imports_no_matplotlib() -> None:
    code = ("import sys, slmconvert.evaluation.report; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def _degenerate() -> list[tuple[str, dict[str, Any]]]:
    full = sample_report()
    no_systems = copy.deepcopy(full)
    for c in no_systems["clusters"]:
        c["systems"] = None
        c["curve"] = []
    nulls = copy.deepcopy(full)
    nulls["headline"] = None
    nulls["target"] = {"agreement": None, "level": None, "confidence": None}
    nulls["clusters"] = [dict.fromkeys(c, None) for c in full["clusters"]]
    nan = float("nan")
    nans = copy.deepcopy(full)
    for c in nans["clusters"]:
        c["llm"] = {"latency_ms_p50": nan, "cost_usd_per_call": nan}
        c["agreement_ci"] = [nan, nan]
        for s in c["systems"]:
            s.update(accuracy=nan, mean=nan, ci95=[nan, 1.0])
    wrong = copy.deepcopy(full)
    wrong["clusters"][0].update(calls_test="24", share_kept=True, agreement_ci=[0.9],
                                systems=["router"], curve=[{"share_kept": "x"}, 3])
    wrong["notes"] = "one note, not a list"
    return [("empty report", {}), ("zero clusters", {**full, "clusters": []}),
            ("clusters null", {**full, "clusters": None}), ("no systems", no_systems),
            ("nulls everywhere", nulls), ("NaN", nans), ("wrong types", wrong)]


@pytest.mark.parametrize(("case", "report"), _degenerate(), ids=[c for c, _ in _degenerate()])
def test_degenerate_reports_render(case: str, report: dict[str, Any]) -> None:
    md = render_markdown(report)
    assert md.startswith("# slmconvert evaluation") and "nan" not in md.lower()
    page = render_html(report)
    for fig_id in FIGURES:
        assert "<svg" in _figure(page, fig_id)
    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.DOTALL)
    assert "nan" not in text.lower()
    if not report.get("clusters"):
        assert "No clusters evaluated." in md and "No clusters evaluated." in page


# ------------------------------------------------------------------ browser ----

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
QUIET = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-background-networking", "--no-first-run", "--disable-sync",
         "--disable-extensions", "--disable-component-update",
         "--disable-default-apps", "--no-default-browser-check"]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if browser is None:
        pytest.skip("chromium not installed; .ci/run installs Debian's chromium")
    return subprocess.run([browser, *QUIET, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def test_page_renders_in_headless_chromium(page: str, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    started = time.monotonic()
    dom = _chromium(["--dump-dom", path.as_uri()], tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for fig_id in FIGURES:
        figure = _figure(dom.stdout, fig_id)
        assert re.search(r"<svg[^>]*>.*<(path|text|g)\b", figure, re.DOTALL), fig_id
    shown = _chromium(["--window-size=1280,2400", f"--screenshot={shot}", path.as_uri()],
                      tmp_path / "profile")
    assert shown.returncode == 0 and shot.exists(), shown.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000

    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is None or len(colours) > 50  # drawn plots, not a blank page
    if target := os.environ.get("SLMCONVERT_REPORT_SCREENSHOT"):
        shutil.copyfile(shot, target)
    print(f"chromium: dump-dom and screenshot in {time.monotonic() - started:.1f} s")
