"""Does an SLM pay for itself? Break-even call volume and monthly savings per task.

Per call the router sends to a task's SLM, the SLM always runs (its cost: the measured
latency per answer times the serving hardware's hourly price, one call at a time), and
the LLM still answers the calls it does not keep. So with ``kept`` the share of calls the
SLM keeps (on test), ``llm`` the logged LLM cost per call and ``slm`` the SLM's:

    saving per call  = kept x llm - slm                      (0 when the task stays
                                                             with the LLM: no SLM runs)
    one-off cost     = fine-tuning time x training hardware's hourly price
    break-even calls = one-off cost / saving per call        (none when saving <= 0)
    monthly savings  = saving per call x the task's calls per 30 days in the logs

The call rate comes from the first and last timestamps of the task's calls. Prices are
config (``stages.evaluate.economics``); the defaults are an assumption stated in
docs/evaluate.md, not a measurement.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MONTH_DAYS = 30.0


class Economics(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    serve_hour_usd: float = Field(0.10, ge=0, description=(
        "Hourly price of the machine that serves the SLM (default: a small cloud CPU "
        "instance); one call at a time, so the SLM's cost per call is its latency times "
        "this."))
    train_hour_usd: float = Field(0.10, ge=0, description=(
        "Hourly price of the machine that fine-tunes (the one finetune ran on)."))


class Span:
    """First and last timestamp seen, and how many calls."""

    def __init__(self) -> None:
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.calls = 0

    def add(self, ts: datetime | None) -> None:
        self.calls += 1
        if ts is None:
            return
        if ts.tzinfo is not None:  # compare in naive UTC: logs mix aware and naive times
            ts = ts.astimezone(UTC).replace(tzinfo=None)
        self.first = ts if self.first is None else min(self.first, ts)
        self.last = ts if self.last is None else max(self.last, ts)

    @property
    def days(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        d = (self.last - self.first).total_seconds() / 86400
        return d if d > 0 else None


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(x, nd)


def task_economics(*, cfg: Economics, share_kept: float, llm_cost_per_call: float | None,
                   slm_seconds_per_call: float | None, train_seconds: float | None,
                   calls_logged: int, days_logged: float | None) -> dict[str, Any]:
    """The figures above for one task; a ``note`` says what is missing when a figure
    cannot be computed."""
    out: dict[str, Any] = {
        "llm_cost_per_call": _r(llm_cost_per_call), "slm_cost_per_call": None,
        "saving_per_call": None, "training_cost_usd": None, "break_even_calls": None,
        "calls_per_month": None, "monthly_savings_usd": None, "note": None}
    if slm_seconds_per_call is not None:
        out["slm_cost_per_call"] = _r(slm_seconds_per_call * cfg.serve_hour_usd / 3600)
    if train_seconds is not None:
        out["training_cost_usd"] = _r(train_seconds * cfg.train_hour_usd / 3600, 4)
    if days_logged is not None:
        out["calls_per_month"] = round(calls_logged / days_logged * MONTH_DAYS, 1)
    if llm_cost_per_call is None:
        out["note"] = "no LLM cost in the logs (set stages.evaluate.prices)"
        return out
    if out["slm_cost_per_call"] is None:
        out["note"] = "no SLM latency measured"
        return out
    # a task that stays with the LLM does not run the SLM at all: no saving, no cost
    saving = share_kept * llm_cost_per_call - out["slm_cost_per_call"] if share_kept > 0 \
        else 0.0
    out["saving_per_call"] = _r(saving)
    if share_kept <= 0:
        out["note"] = "the SLM keeps no calls: the task stays with the LLM"
    elif saving <= 0:
        out["note"] = "the SLM saves nothing per call: it keeps too few calls for its own cost"
    elif out["training_cost_usd"] is not None:
        out["break_even_calls"] = int(-(-out["training_cost_usd"] // saving))
    if out["calls_per_month"] is not None:
        out["monthly_savings_usd"] = round(out["calls_per_month"] * saving, 2)
    elif out["note"] is None:
        out["note"] = "the logs carry no time span (timestamps), so no monthly figure"
    return out


def overall(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the tasks that move to an SLM: one-off cost, monthly savings, and the
    months to break even."""
    moved = [r for r in rows if r.get("monthly_savings_usd") is not None]
    training = sum(r.get("training_cost_usd") or 0.0 for r in rows)
    monthly = sum(r["monthly_savings_usd"] for r in moved) if moved else None
    months = round(training / monthly, 2) if monthly and monthly > 0 else None
    return {"training_cost_usd": round(training, 4), "monthly_savings_usd": monthly,
            "months_to_break_even": months}
