"""An optional pairwise LLM judge for free-text answers (off by default, never needed
offline).

ROUGE-L and embedding similarity score a free-text answer offline. A user with an LLM at
an OpenAI-compatible endpoint can also ask it which of two answers better fulfils the
request: :func:`judge_pairs` shows each pair twice, once with the LLM's recorded answer
as A and once with the small model's as A, so a judge that favours a position cancels
out into ties (counted as ``inconsistent``). An answer "agrees" when the judge finds it
at least as good as the LLM's (:attr:`JudgeSummary.agreement_rate`, with a Wilson
interval).

The summary holds counts and per-item outcomes, never texts, so it can go into reports
of curated logs. The API key is read at call time from the environment variable named
by ``api_key_env``; it is never held in the config, the summary or an error message.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from slmconvert.errors import ConfigError

if TYPE_CHECKING:
    import httpx

#: Per-item outcome for the candidate (the small model's answer): win, tie or loss
#: against the reference; invalid when a verdict could not be parsed; error when a call
#: failed (or was not sent after the judge gave up).
Outcome = Literal["win", "tie", "loss", "invalid", "error"]
#: One order's verdict, in terms of the answers rather than the positions.
Verdict = Literal["candidate", "reference", "tie", "invalid", "error"]

#: ``max_tokens`` of each judge call: room for "A", "B" or "TIE".
MAX_TOKENS = 4
#: After this many failed calls in a row (each after its retries) the endpoint counts as
#: down: the remaining items are not sent and count as errors.
GIVE_UP_AFTER = 3
#: Longest wait honoured from a 429's Retry-After header, seconds.
RETRY_AFTER_MAX_S = 60.0
_Z95 = 1.959963984540054

SYSTEM_PROMPT = (
    "You are an impartial judge. You see a request and two answers to it, A and B. "
    "Decide which answer better fulfils the request: correct, complete, and following "
    "the request's instructions. Do not favour an answer for its position or its length. "
    "Reply with exactly one word: A, B or TIE."
)

# -------------------------------------------------------------------- config ----

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_A_NAME = "<hidden: not an environment variable name>"
_SECRET_WORDS = ("key", "token", "secret", "password")


def _hide_non_name(value: object) -> object:
    """Swap a value that is not a variable name for a placeholder before validation,
    so a key pasted into ``api_key_env`` never reaches an error message."""
    if isinstance(value, str) and not _ENV_NAME.fullmatch(value):
        return _NOT_A_NAME
    return value


def _check_env_name(value: str | None) -> str | None:
    if value == _NOT_A_NAME:
        raise ValueError("must be the name of the environment variable that holds the "
                         "API key (e.g. OPENAI_API_KEY), not the key itself")
    return value


class JudgeConfig(BaseModel):
    """An LLM judge at an OpenAI-compatible endpoint, comparing free-text answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description=(
        "Ask an LLM judge which of two free-text answers is better (off by default; "
        "evaluation never needs it)."))
    base_url: str | None = Field(None, description=(
        "OpenAI-compatible API base, e.g. http://127.0.0.1:8000/v1; calls go to "
        "{base_url}/chat/completions. Required when enabled."))
    model: str | None = Field(None, description=(
        "The judge model's name at the endpoint. Required when enabled."))
    # the before-validator must wrap the after-validator (come last) for the error to
    # carry the placeholder rather than the value given
    api_key_env: Annotated[
        str | None, AfterValidator(_check_env_name), BeforeValidator(_hide_non_name),
    ] = Field("OPENAI_API_KEY", description=(
        "Name of the environment variable holding the API key, sent as a Bearer token "
        "when the variable is set. The key itself never goes in config; null: send none."))
    max_calls: int = Field(50, ge=1, description=(
        "Answers judged per cluster at most (the first ones given); each costs two "
        "calls, one per order."))
    timeout_s: float = Field(60, gt=0, description="Seconds to wait for one judge call.")
    max_retries: int = Field(2, ge=0, description=(
        "Retries of a call after HTTP 429, a 5xx, a timeout or a dropped connection; "
        "then the answer counts as an error."))
    backoff_s: float = Field(1.0, ge=0, description=(
        "Wait before the first retry, seconds; doubles with each further retry (a 429's "
        "Retry-After wins, up to 60 s)."))
    temperature: float = Field(0, ge=0, le=2, description="Judge sampling temperature.")

    @model_validator(mode="before")
    @classmethod
    def _hide_secret_keys(cls, data: Any) -> Any:
        """An unknown key named like a secret (api_key, token, ...) is still an error,
        but its value is swapped out first so the error message cannot show it."""
        if not isinstance(data, dict):
            return data
        return {k: "<hidden>" if k not in cls.model_fields
                and any(w in str(k).lower() for w in _SECRET_WORDS) else v
                for k, v in data.items()}

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// "
                             "(e.g. http://127.0.0.1:8000/v1)")
        if value.endswith("/chat/completions"):
            raise ValueError("give the API base without /chat/completions "
                             "(e.g. http://127.0.0.1:8000/v1)")
        return value

    @model_validator(mode="after")
    def _endpoint_when_enabled(self) -> JudgeConfig:
        if self.enabled:
            missing = [k for k in ("base_url", "model") if not getattr(self, k)]
            if missing:
                raise ValueError(
                    f"{' and '.join(missing)} required when enabled is true (the judge's "
                    "OpenAI-compatible endpoint, e.g. base_url: http://127.0.0.1:8000/v1, "
                    "and the model name it serves)")
        return self


# ------------------------------------------------------------------- results ----


@dataclass(frozen=True)
class JudgeItem:
    """One answer to judge. ``request``: the last user turn or task text;
    ``reference``: the LLM's recorded answer; ``candidate``: the small model's."""

    request: str
    reference: str
    candidate: str


@dataclass(frozen=True)
class ItemOutcome:
    """How one item fared. ``index``: its position in the items given; ``verdicts``:
    (reference shown as A, candidate shown as A); ``inconsistent``: the two orders
    picked different answers (then ``outcome`` is tie)."""

    index: int
    outcome: Outcome
    verdicts: tuple[Verdict, Verdict]
    inconsistent: bool = False


@dataclass(frozen=True)
class JudgeSummary:
    """Counts over the items judged, no texts.

    ``n``: items judged (at most ``max_calls``); ``skipped``: items beyond
    ``max_calls``, not sent; ``wins``/``ties``/``losses`` of the candidate, which with
    ``invalid`` (a verdict that was not A, B or TIE) and ``errors`` (HTTP errors,
    timeouts, items not sent after the judge gave up) add up to ``n``;
    ``inconsistent``: ties where the two orders disagreed; ``calls``: HTTP requests
    made, retries included; ``agreement_rate``: (wins + ties) / (wins + ties + losses),
    the share where the candidate is at least as good as the LLM's answer, with
    ``agreement_ci95`` its 95% Wilson score interval (both None when nothing was
    judged); ``stopped``: why the judge gave up early, or None; ``last_error``: the last
    failed call's reason, or None."""

    n: int
    skipped: int
    wins: int
    ties: int
    losses: int
    inconsistent: int
    invalid: int
    errors: int
    calls: int
    agreement_rate: float | None
    agreement_ci95: tuple[float, float] | None
    stopped: str | None
    last_error: str | None
    outcomes: tuple[ItemOutcome, ...]

    @property
    def judged(self) -> int:
        """Items with a valid verdict in both orders."""
        return self.wins + self.ties + self.losses

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (lists for tuples)."""
        d = asdict(self)
        d["agreement_ci95"] = list(self.agreement_ci95) if self.agreement_ci95 else None
        d["outcomes"] = [{**o, "verdicts": list(o["verdicts"])} for o in d["outcomes"]]
        return d


# ------------------------------------------------------------------- scoring ----

_TOKEN = re.compile(r"\b(A|B|TIE)\b", re.IGNORECASE)


def parse_verdict(text: str | None) -> Literal["A", "B", "TIE"] | None:
    """The first standalone A, B or TIE in a judge's reply (case-insensitive), or None."""
    m = _TOKEN.search(text or "")
    if m is None:
        return None
    token = m.group(1).upper()
    return "A" if token == "A" else "B" if token == "B" else "TIE"


def combine(first: Verdict, second: Verdict) -> tuple[Outcome, bool]:
    """(outcome, inconsistent) from the two orders' verdicts: a win when the candidate
    wins both or wins one and ties the other, a loss likewise, a tie when both tie or
    the orders disagree (inconsistent). Any error makes the item an error, else any
    invalid verdict makes it invalid: one order alone would bring position bias back."""
    pair = (first, second)
    if "error" in pair:
        return "error", False
    if "invalid" in pair:
        return "invalid", False
    won, lost = pair.count("candidate"), pair.count("reference")
    if won and lost:
        return "tie", True
    return ("win" if won else "loss" if lost else "tie"), False


def wilson_interval(k: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95% by default). n must be > 0.
    The interval itself is :func:`slmconvert.evaluation.calibrate.wilson`'s."""
    from statistics import NormalDist

    from slmconvert.evaluation.calibrate import wilson

    ci = wilson(k, n, 2 * NormalDist().cdf(z) - 1) if n > 0 and 0 <= k <= n else None
    if ci is None:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    return ci


def judge_messages(request: str, a: str, b: str) -> list[dict[str, str]]:
    """The chat messages of one judge call: answer ``a`` shown as A, ``b`` as B."""
    user = (f"<request>\n{request}\n</request>\n\n<answer_a>\n{a}\n</answer_a>\n\n"
            f"<answer_b>\n{b}\n</answer_b>\n\n"
            "Which answer better fulfils the request? Reply with exactly one word: "
            "A, B or TIE.")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


# ------------------------------------------------------------------ endpoint ----


def _display_url(url: str) -> str:
    """The URL without user info or query string, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass
class _Reply:
    content: str | None = None
    error: str | None = None


class _Endpoint:
    """POSTs chat completions with retries; counts calls and failures in a row."""

    def __init__(self, cfg: JudgeConfig, client: httpx.Client) -> None:
        assert cfg.base_url is not None
        self.cfg = cfg
        self.client = client
        self.url = cfg.base_url + "/chat/completions"
        self.headers = {"Content-Type": "application/json"}
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.calls = 0
        self.failed_in_a_row = 0
        self.last_error: str | None = None

    def ask(self, messages: list[dict[str, str]]) -> _Reply:
        reply = self._post(messages)
        if reply.error is None:
            self.failed_in_a_row = 0
        else:
            self.failed_in_a_row += 1
            self.last_error = reply.error
        return reply

    def _post(self, messages: list[dict[str, str]]) -> _Reply:
        import httpx

        cfg = self.cfg
        body = {"model": cfg.model, "messages": messages, "temperature": cfg.temperature,
                "max_tokens": MAX_TOKENS}
        attempts = cfg.max_retries + 1
        reason = ""
        for attempt in range(attempts):
            wait = cfg.backoff_s * 2 ** attempt
            first = self.calls == 0
            self.calls += 1
            try:
                resp = self.client.post(self.url, json=body, headers=self.headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if first:
                    raise ConfigError(
                        f"LLM judge endpoint {_display_url(self.url)} is unreachable: "
                        f"{str(exc) or type(exc).__name__}",
                        hint="check the judge's base_url and that its server is running, "
                             "or set enabled: false (the judge is optional)") from exc
                reason = f"connection failed ({type(exc).__name__})"
            except httpx.TimeoutException:
                reason = f"timed out after {cfg.timeout_s:g} s"
            except httpx.TransportError as exc:
                reason = f"connection dropped ({type(exc).__name__})"
            else:
                status = resp.status_code
                if status == 429 or status >= 500:
                    reason = f"HTTP {status}"
                    if status == 429:
                        wait = _retry_after(resp.headers.get("Retry-After"), wait)
                elif status >= 400 or status < 200:
                    return _Reply(error=f"HTTP {status}")
                else:
                    return _content(resp)
            if attempt + 1 < attempts and wait > 0:
                time.sleep(wait)
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        return _Reply(error=reason + tries)


def _retry_after(header: str | None, default: float) -> float:
    try:
        return min(max(float(header), 0.0), RETRY_AFTER_MAX_S) if header else default
    except ValueError:  # an HTTP date: rare from these servers, use the backoff
        return default


def _content(resp: httpx.Response) -> _Reply:
    try:
        message = resp.json()["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return _Reply(error=f"HTTP {resp.status_code} without a chat completion in the body")
    content = message.get("content") if isinstance(message, dict) else None
    return _Reply(content=content if isinstance(content, str) else "")


def _verdict(reply: _Reply, candidate_is_a: bool) -> Verdict:
    if reply.error is not None:
        return "error"
    token = parse_verdict(reply.content)
    if token is None:
        return "invalid"
    if token == "TIE":
        return "tie"
    return "candidate" if (token == "A") == candidate_is_a else "reference"


# ---------------------------------------------------------------------- judge ----


def judge_pairs(cfg: JudgeConfig, items: Sequence[JudgeItem], *,
                on_item: Callable[[ItemOutcome], None] | None = None) -> JudgeSummary:
    """Judge the first ``cfg.max_calls`` items pairwise, in both orders (reference as A,
    then candidate as A), one call after another; ``on_item`` gets each item's outcome
    as it is decided.

    Never raises for a bad item: a call that still fails after ``max_retries`` makes
    its item an error, and after :data:`GIVE_UP_AFTER` failed calls in a row the rest
    are not sent (errors too; ``stopped`` says why).

    Raises :class:`~slmconvert.errors.ConfigError` when the judge is disabled
    (``enabled: false``: the caller should not call it, so no empty summary can pass for
    a judged one), and when the very first call cannot connect, with one line naming the
    URL (never the key)."""
    if not cfg.enabled:
        raise ConfigError("the LLM judge is disabled (enabled: false)",
                          hint="set enabled: true with base_url and model to use it")
    import httpx

    chosen = list(items[: cfg.max_calls])
    outcomes: list[ItemOutcome] = []
    stopped: str | None = None
    with httpx.Client(timeout=httpx.Timeout(cfg.timeout_s)) as client:
        endpoint = _Endpoint(cfg, client)
        for index, item in enumerate(chosen):
            verdicts: list[Verdict] = []
            for a, b, candidate_is_a in ((item.reference, item.candidate, False),
                                         (item.candidate, item.reference, True)):
                if endpoint.failed_in_a_row >= GIVE_UP_AFTER:
                    stopped = stopped or (
                        f"{GIVE_UP_AFTER} calls failed in a row (last: "
                        f"{endpoint.last_error}); the remaining answers were not sent")
                    verdicts.append("error")
                    continue
                verdicts.append(_verdict(endpoint.ask(judge_messages(item.request, a, b)),
                                         candidate_is_a))
            first, second = verdicts
            outcome, inconsistent = combine(first, second)
            done = ItemOutcome(index, outcome, (first, second), inconsistent)
            outcomes.append(done)
            if on_item is not None:
                on_item(done)
    return _summary(outcomes, skipped=len(items) - len(chosen), calls=endpoint.calls,
                    stopped=stopped, last_error=endpoint.last_error)


def _summary(outcomes: Sequence[ItemOutcome], *, skipped: int, calls: int,
             stopped: str | None, last_error: str | None) -> JudgeSummary:
    count = {k: sum(o.outcome == k for o in outcomes)
             for k in ("win", "tie", "loss", "invalid", "error")}
    judged = count["win"] + count["tie"] + count["loss"]
    agree = count["win"] + count["tie"]
    return JudgeSummary(
        n=len(outcomes), skipped=skipped, wins=count["win"], ties=count["tie"],
        losses=count["loss"], inconsistent=sum(o.inconsistent for o in outcomes),
        invalid=count["invalid"], errors=count["error"], calls=calls,
        agreement_rate=agree / judged if judged else None,
        agreement_ci95=wilson_interval(agree, judged) if judged else None,
        stopped=stopped, last_error=last_error, outcomes=tuple(outcomes))
