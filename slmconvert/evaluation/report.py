"""The evaluate stage's ``report.json`` for people: Markdown for CI logs and pull
requests (:func:`render_markdown`) and one self-contained HTML page with plots
(:func:`render_html`).

Both are pure: a report dict in, a string out; no files, no printing, no global state
left changed. Any value may be missing, null, NaN or of the wrong type and renders as
"–". Every string from the report is escaped (labels and reasons come from users' logs).
The page loads nothing: CSS is inline and the plots are inline SVG drawn by matplotlib
with a fixed hash salt and text kept as text, so the same report renders to the same
bytes.

Cost after the move, per cluster, is the LLM cost per call times the share of calls the
LLM still answers: none for ``replace``, the calls below the threshold for ``hybrid``,
all for ``keep``. The small model's own compute is not priced.
"""

from __future__ import annotations

import html
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

MISSING = "–"
#: The systems evaluate compares, in the order tables and plots show them.
SYSTEMS = ("zero_shot", "few_shot", "adapter", "adapter_no_recipe", "router")
VERDICT_COLOURS = {"replace": "#2e7d32", "hybrid": "#f0a202", "keep": "#8a8a8a"}
SYSTEM_COLOURS = {"zero_shot": "#9e9e9e", "few_shot": "#5c6bc0", "adapter": "#26a69a",
                  "adapter_no_recipe": "#80cbc4", "router": "#2e7d32"}
OTHER_COLOURS = ("#8d6e63", "#ab47bc", "#ef6c00", "#546e7a")
LLM_COLOUR = "#c62828"
SLM_COLOUR = "#2e7d32"

# ------------------------------------------------------------------ reading values ----


def _get(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _num(value: Any) -> float | None:
    """A finite number as float; None for null, NaN, infinities, bools and strings."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _ci(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        return None
    lo, hi = _num(value[0]), _num(value[1])
    return None if lo is None or hi is None else (lo, hi)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return " ".join(str(value).split()) or None


def _rows(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [row for row in value if isinstance(row, Mapping)]


def _notes(report: Any) -> list[str]:
    notes = _get(report, "notes")
    if not isinstance(notes, Sequence) or isinstance(notes, str):
        return []
    return [text for text in map(_text, notes) if text]


def _clusters(report: Any) -> list[Mapping[str, Any]]:
    return _rows(_get(report, "clusters"))


def _systems(cluster: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The cluster's systems, known ones first in :data:`SYSTEMS` order."""
    rows = _rows(cluster.get("systems"))
    rank = {name: i for i, name in enumerate(SYSTEMS)}
    return sorted(rows, key=lambda s: rank.get(_text(s.get("system")) or "", len(SYSTEMS)))


def _moved(cluster: Mapping[str, Any]) -> float | None:
    """Share of the cluster's calls the small model answers under its verdict."""
    verdict = _text(cluster.get("verdict"))
    if verdict == "replace":
        return 1.0
    if verdict == "keep":
        return 0.0
    if verdict == "hybrid":
        return _num(cluster.get("share_kept"))
    return None


def _latencies(cluster: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(LLM, SLM) median latency per call in seconds."""
    llm_ms = _num(_get(cluster, "llm", "latency_ms_p50"))
    return (None if llm_ms is None else llm_ms / 1000,
            _num(_get(cluster, "slm", "latency_s_p50")))


def _costs(cluster: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(before, after) LLM cost per call in USD; see the module docstring."""
    before, moved = _num(_get(cluster, "llm", "cost_usd_per_call")), _moved(cluster)
    if before is None:
        return None, None
    return before, None if moved is None else before * (1 - moved)


# ------------------------------------------------------------------ formatting ----


def _pct(value: Any, digits: int = 0) -> str:
    number = _num(value)
    return MISSING if number is None else f"{number:.{digits}%}"


def _pct_ci(value: Any, ci: Any, digits: int = 1) -> str:
    number, bounds = _num(value), _ci(ci)
    if number is None:
        return MISSING
    if bounds is None:
        return f"{number:.{digits}%}"
    return f"{number:.{digits}%} [{bounds[0] * 100:.{digits}f}–{bounds[1]:.{digits}%}]"


def _score_ci(value: Any, ci: Any) -> str:
    number, bounds = _num(value), _ci(ci)
    if number is None:
        return MISSING
    return f"{number:.2f}" if bounds is None else f"{number:.2f} [{bounds[0]:.2f}–{bounds[1]:.2f}]"


def _count(value: Any) -> str:
    number = _num(value)
    return MISSING if number is None else f"{round(number):,}"


def _general(value: Any) -> str:
    number = _num(value)
    return MISSING if number is None else f"{number:.3g}"


def _seconds(value: Any) -> str:
    number = _num(value)
    if number is None:
        return MISSING
    if number < 0.1:
        return f"{number * 1000:.0f} ms"
    return f"{number:.2f} s" if number < 10 else f"{number:,.1f} s"


def _usd(value: Any) -> str:
    number = _num(value)
    if number is None:
        return MISSING
    return f"${number:.4f}" if number < 1 else f"${number:,.2f}"


def _usd_fine(value: Any) -> str:
    """Dollars with enough digits for per-call costs of a fraction of a cent."""
    number = _num(value)
    if number is None or abs(number) >= 0.01:
        return _usd(value)
    return f"${number:.6f}"


def _or_missing(value: Any) -> str:
    return _text(value) or MISSING


def _level(report: Any) -> str:
    level = _num(_get(report, "target", "level"))
    return MISSING if level is None else f"{level:.0%}"


def _target_line(report: Any) -> str:
    target = _get(report, "target")
    return (f"Target: {_pct(_get(target, 'agreement'), 1)} agreement with the LLM on the "
            f"calls a small model answers; {_level(report)} confidence intervals; "
            f"confidence score: {_or_missing(_get(target, 'confidence'))}.")


def _headline(report: Any) -> str:
    return _text(_get(report, "headline", "text")) or "No headline in the report."


# ------------------------------------------------------------------ tables ----
# Each table is (header, rows of plain strings), shared by the Markdown and HTML renderers.

Table = tuple[list[str], list[list[str]]]


def _clusters_table(report: Any) -> Table:
    header = ["id", "label", "verdict", "reason", "model", "calls_test", "share_kept",
              f"agreement [{_level(report)} CI]", "threshold"]
    rows = [[_or_missing(c.get("id")), _or_missing(c.get("label")),
             _or_missing(c.get("verdict")), _or_missing(c.get("reason")),
             _or_missing(c.get("model")), _count(c.get("calls_test")),
             _pct(c.get("share_kept")), _pct_ci(c.get("agreement"), c.get("agreement_ci")),
             _general(c.get("threshold"))]
            for c in _clusters(report)]
    return header, rows


def _systems_table(report: Any, cluster: Mapping[str, Any]) -> Table:
    header = ["system", "model", "n", f"score mean [{_level(report)} CI]", "accuracy",
              "abstained", "latency p50"]
    rows = [[_or_missing(s.get("system")), _or_missing(s.get("model")), _count(s.get("n")),
             _score_ci(s.get("mean"), s.get("ci95")),
             _pct_ci(s.get("accuracy"), s.get("accuracy_ci")), _count(s.get("abstained")),
             _seconds(_get(s, "latency_s", "p50"))]
            for s in _systems(cluster)]
    return header, rows


def _latency_cost_table(report: Any) -> Table:
    header = ["cluster", "verdict", "LLM latency p50", "SLM latency p50",
              "LLM cost / call", "LLM cost / call after"]
    rows = []
    for c in _clusters(report):
        llm_s, slm_s = _latencies(c)
        before, after = _costs(c)
        rows.append([_or_missing(c.get("id")), _or_missing(c.get("verdict")),
                     _seconds(llm_s), _seconds(slm_s), _usd(before), _usd(after)])
    return header, rows


def _points(value: Any) -> str:
    v = _num(value)
    return MISSING if v is None else f"{100 * v:+.0f} pt"


def _trust_table(report: Any) -> Table:
    header = ["cluster", "verdict", "SLM", "majority", "TF-IDF + LR", "SLM margin",
              "ECE (test)", "AUROC (test)", "leaks val/test", "kept share val→test",
              "agreement val→test"]
    rows = []
    for c in _clusters(report):
        base = c.get("baselines") if isinstance(c.get("baselines"), Mapping) else {}
        by = {_text(r.get("name")): r for r in _rows(_get(base, "results"))}
        leaks = c.get("leaks") if isinstance(c.get("leaks"), Mapping) else None
        gap = c.get("transfer") if isinstance(c.get("transfer"), Mapping) else {}
        rows.append([
            _or_missing(c.get("id")), _or_missing(c.get("verdict")),
            _pct(_get(base, "slm_accuracy")), _pct(_get(by.get("majority"), "accuracy")),
            _pct(_get(by.get("tfidf_logreg"), "accuracy")), _points(_get(base, "margin")),
            _general(_get(c, "calibration", "test", "ece")),
            _general(_get(c, "calibration", "test", "auroc")),
            MISSING if leaks is None else f"{_count(leaks.get('val'))}/{_count(leaks.get('test'))}",
            MISSING if not gap else f"{_pct(gap.get('val_share_kept'))} → "
                                    f"{_pct(gap.get('test_share_kept'))}",
            MISSING if not gap else f"{_pct(gap.get('val_agreement'))} → "
                                    f"{_pct(gap.get('test_agreement'))}"])
    return header, rows


def _per_month(value: Any) -> str:
    v = _num(value)
    return MISSING if v is None else f"{v:,.0f}"


def _economics_table(report: Any) -> Table:
    header = ["cluster", "verdict", "LLM cost / call", "SLM cost / call", "saving / call",
              "fine-tuning cost", "break-even calls", "calls / month", "savings / month",
              "note"]
    rows = []
    for c in _clusters(report):
        e = c.get("economics")
        if not isinstance(e, Mapping):
            continue
        rows.append([_or_missing(c.get("id")), _or_missing(c.get("verdict")),
                     _usd_fine(e.get("llm_cost_per_call")),
                     _usd_fine(e.get("slm_cost_per_call")),
                     _usd_fine(e.get("saving_per_call")), _usd(e.get("training_cost_usd")),
                     _count(e.get("break_even_calls")), _per_month(e.get("calls_per_month")),
                     _usd(e.get("monthly_savings_usd")), _or_missing(e.get("note"))])
    return header, rows


# ------------------------------------------------------------------ markdown ----

# Markdown and inline HTML out, a link out ("](" or "]["), GFM table cells kept whole.
_MD_SPECIAL = re.compile(r"([\\|<>*`]|\](?=[(\[]))")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_table(table: Table) -> list[str]:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    """A compact Markdown summary of ``report.json``: headline, clusters, systems per
    cluster, LLM vs SLM latency and cost."""
    clusters = _clusters(report)
    lines = ["# slmconvert evaluation", "", f"**{_md(_headline(report))}**", "",
             _md(_target_line(report)), "", "## Clusters", ""]
    lines += _md_table(_clusters_table(report)) if clusters else ["No clusters evaluated."]
    lines += ["", "## Systems per cluster"]
    for c in clusters:
        lines += ["", f"### {_md(_or_missing(c.get('id')))} {_md(_or_missing(c.get('label')))}",
                  ""]
        table = _systems_table(report, c)
        lines += _md_table(table) if table[1] else ["No systems evaluated."]
    if not clusters:
        lines += ["", "No clusters evaluated."]
    lines += ["", "## LLM vs SLM: latency and cost per call", ""]
    lines += _md_table(_latency_cost_table(report)) if clusters else ["No clusters evaluated."]
    trust = _trust_table(report)
    if clusters:
        lines += ["", "## Baselines, calibration, leaks and transfer (test)", ""]
        lines += _md_table(trust)
    econ = _economics_table(report)
    if econ[1]:
        lines += ["", "## Economics", ""] + _md_table(econ)
    if notes := _notes(report):
        lines += ["", "## Notes", ""] + [f"- {_md(n)}" for n in notes]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ plots ----


def _mpl(text: str) -> str:
    """Text for matplotlib: a ``$`` from a log must not start mathtext."""
    return text.replace("$", r"\$")


def _short(text: str, width: int = 36) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _note(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _target_line_on(ax: Any, target: float | None) -> None:
    if target is not None:
        ax.axhline(target * 100, ls="--", lw=1.2, color="#333333",
                   label=f"target {target:.0%}")


def _plot_share(fig: Any, report: Any) -> None:
    ax = fig.subplots()
    headline = _get(report, "headline")
    bars = [("calls", _num(_get(headline, "share_calls_slm"))),
            ("tokens", _num(_get(headline, "share_tokens_slm"))),
            ("LLM cost", _num(_get(headline, "share_cost_slm")))]
    ys = list(range(len(bars)))
    ax.barh(ys, [100] * len(bars), color="#eeeeee", height=0.6)
    for y, (_, share) in zip(ys, bars, strict=True):
        if share is None:
            ax.text(1, y, "n/a", va="center", ha="left", color="#666666")
            continue
        width = min(max(share, 0.0), 1.0) * 100
        ax.barh(y, width, color=SLM_COLOUR, height=0.6)
        inside = width > 88
        ax.text(width - 1 if inside else width + 1, y, f"{share:.0%}", va="center",
                ha="right" if inside else "left", color="white" if inside else "#222222")
    ax.set_yticks(ys, [name for name, _ in bars])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xticks(range(0, 101, 20), [f"{x}%" for x in range(0, 101, 20)])
    ax.set_xlabel("share that moves to small models")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _plot_quality(fig: Any, report: Any) -> None:
    ax = fig.subplots()
    clusters = _clusters(report)
    seen = {_text(s.get("system")) or MISSING for c in clusters for s in _systems(c)}
    present = [n for n in SYSTEMS if n in seen] + sorted(seen - set(SYSTEMS))
    if not present:
        _note(ax, "no systems evaluated" if clusters else "no clusters evaluated")
        return
    width = 0.8 / len(present)
    for i, c in enumerate(clusters):
        if not any(_num(s.get("accuracy")) is not None for s in _systems(c)):
            ax.text(i, 2, "no systems", ha="center", va="bottom", color="#666666")
    for k, name in enumerate(present):
        xs, ys, below, above = [], [], [], []
        for i, c in enumerate(clusters):
            for s in _systems(c):
                accuracy = _num(s.get("accuracy"))
                if (_text(s.get("system")) or MISSING) != name or accuracy is None:
                    continue
                lo, hi = _ci(s.get("accuracy_ci")) or (accuracy, accuracy)
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(accuracy * 100)
                below.append(max(accuracy - lo, 0.0) * 100)
                above.append(max(hi - accuracy, 0.0) * 100)
        colour = SYSTEM_COLOURS.get(name, OTHER_COLOURS[k % len(OTHER_COLOURS)])
        if xs:
            ax.errorbar(xs, ys, yerr=[below, above], fmt="o", ms=5, capsize=3,
                        color=colour, label=_mpl(_short(name, 24)))
        else:
            ax.plot([], [], "o", color=colour, label=_mpl(_short(name, 24)))
    _target_line_on(ax, _num(_get(report, "target", "agreement")))
    ax.set_xticks(range(len(clusters)),
                  [_mpl(_short(_or_missing(c.get("id")), 12)) for c in clusters])
    ax.set_xlim(-0.5, len(clusters) - 0.5)
    ax.set_ylim(0, 102)
    ax.set_ylabel("agreement with the LLM on test (%)")
    ax.grid(axis="y", color="#e5e5e5")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)


def _plot_curves(fig: Any, report: Any) -> None:
    import matplotlib

    ax = fig.subplots()
    colours = matplotlib.colormaps["tab10"]
    lowest, drawn = 100.0, 0
    for i, c in enumerate(_clusters(report)):
        points = sorted((x * 100, y * 100) for p in _rows(c.get("curve"))
                        if (x := _num(p.get("share_kept"))) is not None
                        and (y := _num(p.get("agreement"))) is not None)
        if not points:
            continue
        colour = colours(i % 10)
        label = f"{_or_missing(c.get('id'))} {_short(_or_missing(c.get('label')), 28)}"
        ax.plot([x for x, _ in points], [y for _, y in points], lw=1.5, color=colour,
                label=_mpl(label))
        kept, agreement = _num(c.get("share_kept")), _num(c.get("agreement"))
        if kept is not None and agreement is not None:
            ax.plot([kept * 100], [agreement * 100], "o", ms=6, color=colour)
        lowest = min([lowest] + [y for _, y in points])
        drawn += 1
    if not drawn:
        _note(ax, "no confidence curves in the report")
        return
    _target_line_on(ax, _num(_get(report, "target", "agreement")))
    ax.set_xlim(0, 100)
    ax.set_ylim(max(0.0, math.floor(lowest / 5) * 5 - 5), 101)
    ax.set_xlabel("share of calls kept by the small model (%)")
    ax.set_ylabel("agreement on kept calls (%)")
    ax.grid(color="#e5e5e5")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)


def _grouped_bars(ax: Any, ids: list[str], series: list[tuple[str, str, list[float | None]]],
                  fmt: Callable[[float], str]) -> None:
    """Bars per cluster, one per series; a missing value is an "n/a" at the base."""
    width = 0.8 / len(series)
    for k, (name, colour, values) in enumerate(series):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(ids))]
        known = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        bars = ax.bar([x for x, _ in known], [v for _, v in known], width=width * 0.95,
                      color=colour, label=name)
        ax.bar_label(bars, labels=[_mpl(fmt(v)) for _, v in known], fontsize=7, padding=2)
        for x, v in zip(xs, values, strict=True):
            if v is None:
                ax.annotate("n/a", (x, 0), xytext=(0, 3), textcoords="offset points",
                            xycoords=("data", "axes fraction"), ha="center", fontsize=7,
                            color="#666666")
    ax.set_xticks(range(len(ids)), [_mpl(_short(i, 12)) for i in ids])
    ax.set_xlim(-0.5, len(ids) - 0.5)
    ax.legend(fontsize=8, frameon=False, loc="upper right")


def _plot_latency(fig: Any, report: Any) -> None:
    clusters = _clusters(report)
    latencies = [_latencies(c) for c in clusters]
    costs = [_costs(c) for c in clusters]
    has_cost = any(before is not None for before, _ in costs)
    axes = fig.subplots(1, 2 if has_cost else 1, squeeze=False)[0]
    if not any(v is not None for pair in latencies for v in pair):
        _note(axes[0], "no latency in the report" if clusters else "no clusters evaluated")
        return
    ids = [_or_missing(c.get("id")) for c in clusters]
    ax = axes[0]
    _grouped_bars(ax, ids, [("LLM (logs)", LLM_COLOUR, [llm for llm, _ in latencies]),
                            ("SLM per answer", SLM_COLOUR, [slm for _, slm in latencies])],
                  _seconds)
    known = [v for pair in latencies for v in pair if v is not None and v > 0]
    if known and max(known) > 10 * min(known):
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("median latency per call (s, log scale)")
    else:
        ax.set_ylabel("median latency per call (s)")
    ax.margins(y=0.25)
    ax.set_title("latency", fontsize=10)
    if has_cost:
        ax = axes[1]
        _grouped_bars(ax, ids, [("before", LLM_COLOUR, [b for b, _ in costs]),
                                ("after", SLM_COLOUR, [a for _, a in costs])], _usd)
        ax.margins(y=0.2)
        ax.set_ylabel("LLM cost per call (USD)")
        ax.set_title("cost per call, before and after", fontsize=10)


class _Plot(NamedTuple):
    id: str
    draw: Callable[[Any, Any], None]
    size: tuple[float, float]  # inches; the width grows with the clusters when per_cluster
    per_cluster: bool
    caption: str


PLOTS = (
    _Plot("plot-share", _plot_share, (8.0, 2.2), False,
          "Share of calls, tokens and LLM cost that move to small models (n/a: the logs "
          "carry no cost)."),
    _Plot("plot-quality", _plot_quality, (9.0, 3.6), True,
          "Agreement with the LLM on each cluster's test calls, per system, with confidence "
          "intervals; the dashed line is the target."),
    _Plot("plot-curves", _plot_curves, (9.0, 3.6), False,
          "Confidence curves: keeping only the calls the small model is most confident "
          "about raises agreement; the dot is the chosen threshold, the dashed line the "
          "target."),
    _Plot("plot-latency", _plot_latency, (10.0, 3.4), True,
          "Median latency per call, LLM (from the logs) vs small model (measured here), and "
          "LLM cost per call before and after the move (small-model compute not priced)."),
)


def _svg(plot: _Plot, report: Any) -> str:
    """One plot as an ``<svg>`` element: no XML prolog, no metadata (it holds a date),
    ids fixed by the hash salt and prefixed by the plot's so that plots share a page."""
    import io

    import matplotlib
    from matplotlib.figure import Figure

    width, height = plot.size
    if plot.per_cluster:
        width = min(max(width, 3.0 + 0.9 * len(_clusters(report))), 18.0)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "slmconvert",
                                "svg.fonttype": "none", "font.size": 9}):
        fig = Figure(figsize=(width, height), layout="constrained")
        plot.draw(fig, report)
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<[^>]*>", lambda tag: _prefix_ids(tag.group(0), plot.id), svg)
    return svg.replace("<svg ", '<svg role="img" ', 1).strip()


def _prefix_ids(tag: str, prefix: str) -> str:
    """Ids and references to them in one SVG tag, prefixed: matplotlib numbers its groups
    (``axes_1``) the same in every plot. Text never matches: its ``<`` are escaped."""
    tag = re.sub(r'(\sid=")', rf"\g<1>{prefix}-", tag)
    tag = re.sub(r'(href="#|url\(#)', rf"\g<1>{prefix}-", tag)
    return tag


def _figure(plot: _Plot, report: Any) -> str:
    return (f'<figure class="plot" id="{plot.id}">\n{_svg(plot, report)}\n'
            f"<figcaption>{html.escape(plot.caption)}</figcaption>\n</figure>")


# ------------------------------------------------------------------ html ----

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #222; max-width: 1180px; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin-bottom: .3rem; }
.workspace { color: #666; font-size: .85rem; }
.headline { font-size: 1.3rem; font-weight: 600; margin: 1rem 0 .3rem; }
.target, .howto { color: #444; }
figure.plot { margin: 1.2rem 0; }
figure.plot svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: .85rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; white-space: nowrap; }
.verdict { display: inline-block; padding: 0 .45rem; border-radius: .6rem; color: #fff;
           font-weight: 600; }
.verdict-replace { background: #2e7d32; }
.verdict-hybrid { background: #f0a202; color: #222; }
.verdict-keep { background: #8a8a8a; }
.verdict-other { background: #eee; color: #222; }
.empty { color: #666; font-style: italic; }
""".strip()

_HOW_TO_READ = (
    "Each cluster is one kind of LLM call found in the logs. For each one the evaluate "
    "stage answered held-out test calls with a small model and compared the answers with "
    "the LLM's recorded ones. <b>replace</b>: the small model answers every call. "
    "<b>hybrid</b>: it answers the calls it is confident about (score above the "
    "threshold) and the rest go to the LLM. <b>keep</b>: the LLM stays. Agreement is the "
    "share of answers that match the LLM's; the bracket is its confidence interval, and "
    "a verdict other than keep needs it to meet the target on the calls the small model "
    "answers. Latency and cost compare the LLM's medians from the logs with the small "
    "model's measured here; the small model's compute is not priced.")


class _Html(str):
    """Markup built here from escaped parts; table cells of this type are not escaped."""


def _esc(text: str) -> str:
    return text if isinstance(text, _Html) else html.escape(text, quote=True)


def _verdict_badge(verdict: str) -> _Html:
    kind = verdict if verdict in VERDICT_COLOURS else "other"
    return _Html(f'<span class="verdict verdict-{kind}">{html.escape(verdict)}</span>')


_NUMBER = re.compile(r"[-$]?\d[\d.,]*(%| s| ms)?( \[[\d.,–%-]+\])?")


def _html_table(table: Table, verdict_column: int | None = None) -> str:
    """An HTML table; columns whose every value is a number are right-aligned."""
    header, rows = table
    numeric = [all(_NUMBER.fullmatch(row[j]) or row[j] == MISSING for row in rows)
               for j in range(len(header))]
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header)
           + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = []
        for j, cell in enumerate(row):
            content = _verdict_badge(cell) if j == verdict_column and cell != MISSING else cell
            cls = ' class="num"' if numeric[j] else ""
            cells.append(f"<td{cls}>{_esc(content)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def render_html(report: Mapping[str, Any]) -> str:
    """One self-contained HTML page for ``report.json``: headline, the four plots
    (``plot-share``, ``plot-quality``, ``plot-curves``, ``plot-latency``), the tables of
    :func:`render_markdown` with verdicts coloured, notes and how to read them."""
    clusters = _clusters(report)
    figures = {plot.id: _figure(plot, report) for plot in PLOTS}
    headline = _get(report, "headline")
    agreement = _pct_ci(_get(headline, "agreement"), _get(headline, "agreement_ci"))
    empty = '<p class="empty">No clusters evaluated.</p>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>slmconvert evaluation</title>",
        f"<style>\n{_CSS}\n</style>\n</head>",
        "<body>",
        "<h1>slmconvert evaluation</h1>",
        f'<div class="workspace">workspace: {html.escape(_or_missing(_get(report, "workspace")))}'
        "</div>",
        f'<p class="headline">{html.escape(_headline(report))}</p>',
        f'<p class="target">Agreement on the calls moved: {html.escape(agreement)}. '
        f"{html.escape(_target_line(report))}</p>",
        figures["plot-share"],
        "<h2>How to read this report</h2>",
        f'<p class="howto">{_HOW_TO_READ}</p>',
        "<h2>Clusters</h2>",
        _html_table(_clusters_table(report), verdict_column=2) if clusters else empty,
        figures["plot-quality"],
        figures["plot-curves"],
        "<h2>Systems per cluster</h2>",
    ]
    for c in clusters:
        verdict = _text(c.get("verdict"))
        parts.append(f"<h3>{html.escape(_or_missing(c.get('id')))} "
                     f"{html.escape(_or_missing(c.get('label')))}"
                     f"{' ' + _verdict_badge(verdict) if verdict else ''}</h3>")
        table = _systems_table(report, c)
        parts.append(_html_table(table) if table[1]
                     else '<p class="empty">No systems evaluated.</p>')
    if not clusters:
        parts.append(empty)
    parts += ["<h2>LLM vs SLM: latency and cost per call</h2>", figures["plot-latency"],
              _html_table(_latency_cost_table(report), verdict_column=1) if clusters else empty]
    if clusters:
        parts += ["<h2>Baselines, calibration, leaks and transfer (test)</h2>",
                  _html_table(_trust_table(report), verdict_column=1)]
    econ = _economics_table(report)
    if econ[1]:
        parts += ["<h2>Economics</h2>", _html_table(econ, verdict_column=1)]
    if notes := _notes(report):
        parts += ["<h2>Notes</h2>", "<ul>"] + [f"<li>{html.escape(n)}</li>" for n in notes]
        parts.append("</ul>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
