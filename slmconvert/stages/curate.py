"""S2 curate: filter, drop near-duplicates and scrub PII and secrets before any training.

Reads ``collect/calls.parquet`` in batches and writes ``curate/calls.parquet`` (scrubbed
records), ``curate/dropped.jsonl`` (id, source and reason of every record left out,
never content) and ``curate/pii_report.json`` (counts per entity type, never values).
Counts reconcile: read = kept + every drop reason. A record that cannot be scrubbed is
dropped and counted, never passed through.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from slmconvert.core.fsio import atomic_path, write_json_atomic
from slmconvert.core.parquet import RecordWriter, count_rows, iter_rows
from slmconvert.core.records import CallRecord, from_row, request_text, token_counts
from slmconvert.engine.config import RayOptions
from slmconvert.errors import ConfigError, InputError, ModelUnavailableError
from slmconvert.pii.analyzer import installed_spacy_model, second_opinion_model, spacy_meta_path
from slmconvert.pii.config import PiiConfig, check_config
from slmconvert.pii.occurrences import ScrubError
from slmconvert.pii.scrubber import Scrubber, ScrubStats
from slmconvert.pipeline.stage import Report, Stage, StageConfig, StageContext, StageResult, Table

CALLS = "calls.parquet"
DROPPED = "dropped.jsonl"
PII_REPORT = "pii_report.json"
DROP_REASONS = ("slm_answer", "failed", "truncated", "empty_response", "human_facing",
                "too_long", "near_duplicate", "unscrubbable")


class NearDuplicates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Drop calls whose request is nearly the same as "
                                            "an earlier kept call's.")
    threshold: float = Field(0.9, gt=0, le=1, description=(
        "Estimated Jaccard similarity of word 3-gram sets at or above which two requests "
        "count as near-duplicates."))
    num_perm: int = Field(64, ge=16, le=256, description="MinHash permutations.")
    bands: int = Field(8, ge=1, description="LSH bands (num_perm must divide evenly).")


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    drop_slm_answers: bool = Field(True, description=(
        "Drop calls a small model answered (serve logs them with metadata route: slm): "
        "their response is not the LLM's, and distilling from it would train an SLM on "
        "its own answers."))
    drop_failed: bool = Field(True, description="Drop calls whose status is error.")
    drop_truncated: bool = Field(True, description="Drop calls cut off by a length limit.")
    drop_empty_responses: bool = Field(True, description=(
        "Drop calls whose response has neither text nor tool calls."))
    include_human_facing: bool = Field(False, description=(
        "Keep human-facing calls (the paper converts the calls no person reads)."))
    max_prompt_tokens: int | None = Field(8192, gt=0, description=(
        "Drop calls with a longer prompt (logged prompt tokens; estimated at 4 characters "
        "per token when the log has none). null: no limit."))
    near_duplicates: NearDuplicates = Field(default_factory=NearDuplicates,
                                            description="Near-duplicate removal (MinHash LSH).")


class CurateConfig(StageConfig):
    filters: Filters = Field(default_factory=Filters, description="Which calls to keep.")
    pii: PiiConfig = Field(default_factory=PiiConfig, description=(
        "PII and secret detection and replacement (see docs/curate.md)."))
    shard: str | None = Field(None, description=(
        "'i/N': curate only the calls whose position modulo N is i (run N shards, e.g. on "
        "N machines, each in its own workspace). engine: ray shards one run instead."))
    engine: Literal["local", "ray"] = Field("local", description=(
        "Where the per-call work runs: local (this process) or ray (an actor pool on a "
        "Ray cluster, see docs/scale.md). Both keep the same calls with the same "
        "placeholders."))
    ray: RayOptions = Field(default_factory=RayOptions, description=(
        "Ray settings (engine: ray)."))

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str | None) -> str | None:
        if value is not None:
            m = re.fullmatch(r"(\d+)/(\d+)", value)
            if not m or not int(m[1]) < int(m[2]):
                raise ValueError("shard must look like i/N with 0 <= i < N, e.g. 0/4")
        return value


# ----------------------------------------------------------------- near-dups ----

_P = (1 << 61) - 1


class MinHashLSH:
    """Streaming near-duplicate index: MinHash signatures bucketed by LSH bands, each
    candidate verified against the kept signature. Memory grows with kept calls only
    (num_perm x 4 bytes each), never with the text."""

    def __init__(self, cfg: NearDuplicates, seed: int) -> None:
        if cfg.num_perm % cfg.bands:
            raise InputError(f"near_duplicates.num_perm ({cfg.num_perm}) must be a multiple "
                             f"of near_duplicates.bands ({cfg.bands})")
        rng = np.random.default_rng(seed)
        # (a * x + b) mod p with 64-bit wrap-around, as datasketch does: a and b span the
        # whole field so that the products wrap and the minimum is a random shingle.
        self.a = rng.integers(1, _P, cfg.num_perm, dtype=np.uint64)
        self.b = rng.integers(0, _P, cfg.num_perm, dtype=np.uint64)
        self.cfg = cfg
        self.rows = cfg.num_perm // cfg.bands
        self.buckets: dict[tuple[int, bytes], list[str]] = {}
        self.sigs: dict[str, tuple[np.ndarray, str | None]] = {}

    def signature(self, text: str) -> np.ndarray:
        words = text.split()
        grams = {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}
        x = np.fromiter((int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(),
                                        "little") for g in grams), dtype=np.uint64)
        with np.errstate(over="ignore"):
            h = (np.outer(x, self.a) + self.b) % np.uint64(_P)
        return (h.min(axis=0) & np.uint64(0xFFFFFFFF)).astype(np.uint32)

    def find(self, sig: np.ndarray, conversation: str | None = None) -> str | None:
        """The id of a kept call whose request is a near-duplicate, else None.

        Every candidate that shares a band is verified against its signature. Calls of
        one conversation are never each other's duplicates: each resends the history
        before it, so their requests overlap by construction, yet each is a different
        step of the agent."""
        seen: set[str] = set()
        for k in self._keys(sig):
            for other in self.buckets.get(k, ()):
                if other in seen:
                    continue
                seen.add(other)
                other_sig, other_conv = self.sigs[other]
                if conversation is not None and other_conv == conversation:
                    continue
                if float(np.mean(other_sig == sig)) >= self.cfg.threshold:
                    return other
        return None

    def add(self, rid: str, sig: np.ndarray, conversation: str | None = None) -> None:
        """Remember a kept call (only kept calls: a dropped one never makes others
        duplicates)."""
        for k in self._keys(sig):
            self.buckets.setdefault(k, []).append(rid)
        self.sigs[rid] = (sig, conversation)

    def check_and_add(self, rid: str, text: str, conversation: str | None = None
                      ) -> str | None:
        """:meth:`find`, and :meth:`add` when there is no twin."""
        sig = self.signature(text)
        twin = self.find(sig, conversation)
        if twin is None:
            self.add(rid, sig, conversation)
        return twin

    def _keys(self, sig: np.ndarray) -> list[tuple[int, bytes]]:
        return [(i, sig[i * self.rows:(i + 1) * self.rows].tobytes())
                for i in range(self.cfg.bands)]


def near_duplicate_text(rec: CallRecord) -> str:
    """The request without its system prompt, lower-cased, digits folded, for near-dups.

    The system prompt is left out: every call of one task shares it, so it would make
    all of them look alike."""
    text = request_text(rec, instructions=False).lower()
    return " ".join(re.sub(r"\d", "0", text).split())


# ---------------------------------------------------------------------- stage ----

def filter_reason(rec: CallRecord, f: Filters) -> str | None:
    """Why a call is left out before scrubbing, or None to keep it."""
    meta = rec.extra.get("metadata")
    # serve's top-level route says who answered the client; a `serve --shadow` call was
    # answered by the LLM (route upstream) and its SLM answer is only in meta["shadow"]
    if f.drop_slm_answers and isinstance(meta, dict) and meta.get("route") == "slm":
        return "slm_answer"
    if rec.status == "error" and f.drop_failed:
        return "failed"
    if rec.status == "truncated" and f.drop_truncated:
        return "truncated"
    resp = rec.response
    if f.drop_empty_responses and (resp is None or (not (resp.content or "").strip()
                                                    and not resp.tool_calls)):
        return "empty_response"
    if rec.human_facing and not f.include_human_facing:
        return "human_facing"
    if f.max_prompt_tokens is not None and token_counts(rec)[0] > f.max_prompt_tokens:
        return "too_long"
    return None


class CurateStage(Stage):
    name = "curate"
    # 14 to 31: each has a section in docs/curate.md ("Curate v31: ..."); 31: a street,
    # a comma and a postal code with no street word or cue, no auxiliary verb in a street
    # led by its word, no headline "I" or "A" as a middle initial; 30: what only a
    # person has or does (a trait of character, a gender, a novel or a concert, a former
    # band member's work), the answer to a question for a name, a relative's name, "Mac"
    # and "Mc" names with one capital, a name particle after a title; 29: the unknown
    # word next to a lower-case name, a line that holds only a name, whose song or novel,
    # lower-case possessives and names given, "Directed By:", no verb of an instruction
    # or typed parameter as people, ordinal, Dutch and "An Der" addresses; 28: a list
    # after a noun only people are, whose address or family, who said it, the addressee
    # line above an address block, a kinship noun before an unknown word, region words
    # ("kraj"), Basque and Czech street words, Portuguese "r", postal codes in lower
    # case; 27: 304 more common given names, the head of a lower-case address block,
    # Italian "via delle", no preposition or function word inside an "address ..." value,
    # a verb ends an organisation's name in lower case; 26: French "à"
    # and "sous" in streets, a block's street line above a postal code and town, lower-case
    # names with an initial, no verb before a lower-case name, no sentence's first word
    # before a building number, no control labels as people, "Wu. 2" is no street; 25:
    # a number, a foreign street word and a particle, a district number ending a line, no agent or
    # team names, compounds, labels under a name, "miss on", "Vol. 122" or headings led
    # by an "-ing" form as people; 24: growing
    # reads the visible text, abbreviated street words and particles do not end or start
    # an address, a state and ZIP closing a lower-case block, abstract nouns are no
    # names; 23: no year
    # spans, slugs, code names or record labels as PII, lower-case postal codes; 22: a
    # town's lower-case word, "Postbox", a name NER ran into a count, no time words after
    # an address; 21: detection
    # reads text without invisible characters, an address stops where the sentence goes
    # on in lower case, a district number, Greek and Russian street words; 20: lower-case
    # towns and regions before a postal code, dashed postal codes, "Vrtna ulica 8", an
    # address ends at a sentence's full stop;
    # 13: intersections after "P.O. Box" or a non-Latin abbreviation, a lower-case street
    # word after a named street, lower-case number-street-number-town-country lines and
    # postal codes after an unknown place, Spanish "c/", Dutch "Jan van Goyenkade", a
    # street with non-English letters and a number after "on";
    # 12: one vocabulary of name particles (pii/particles.py); in lower-case prose "an",
    # "am", "i", "upon" end an address block;
    # 11: addresses never end on a particle, keep a number after an abbreviated street
    # word, take the whole first line of a block, German "An der", lower-case blocks
    # closed by a postal code; lower-case blocks stop at function words;
    # 10: more of a found name (initials, particles, a given name before it), people a
    # verb of speech or giving links to a found name, lists with one found person,
    # "X is a kind person", addresses led by two numbers or ending in a street word;
    # 9: name neighbours, postal codes with letters, addresses that end a sentence;
    # 8: a second NER model's people where the first saw none (pii.second_opinion_model);
    # 7: address blocks over the street line above a unit, number-street-number-town,
    # greeted and lower-case addressed names, names split by invisible characters, no
    # "names" made of Chinese/Japanese sentences or in caseless scripts, no parser;
    # 6: pii_report counts what was found in kept calls only, engine: ray; 5: see
    # docs/curate.md; 4: place, employer and product context, kinship names; 3: held-out
    # rules, identifiers, provenance kept, dedup, en_core_web_md by default
    version = "32"
    Config = CurateConfig
    upstream = ("collect",)
    preserve = ("shards",)  # engine: ray's finished shards, for a rerun after a crash
    description = "S2: filter, drop near-duplicates, scrub PII and secrets."

    def inputs(self, ctx: StageContext, cfg: CurateConfig) -> list[Path]:
        """The spaCy models' meta.json: installing a better model reruns curate."""
        try:
            second = second_opinion_model(cfg.pii)
            return [spacy_meta_path(installed_spacy_model(cfg.pii.spacy_model)),
                    *([spacy_meta_path(second)] if second else [])]
        except ModelUnavailableError:
            return []  # run() says what to install

    def run(self, ctx: StageContext, cfg: CurateConfig) -> StageResult:
        check_config(cfg.pii)
        src = ctx.upstream_dir("collect") / "calls.parquet"
        if not src.exists():
            raise InputError(f"{src}: missing; run collect first")
        if cfg.engine == "ray":
            if cfg.shard is not None:
                raise ConfigError("curate: shard and engine: ray do not combine (ray "
                                  "shards the run itself)")
            from slmconvert.stages.curate_sharded import ShardedCurator

            return ShardedCurator(ctx, cfg).run(src)
        return Curator(ctx, cfg).run(src)

    def report(self, counts: dict[str, Any], summary: dict[str, Any]) -> Report:
        c, pii = counts, summary.get("pii", {})
        out = Report(tables=[Table("Calls", ["read", "kept", "dropped"],
                                   [[c["read"], c["kept"], c["dropped"]]])])
        reasons = [[k.removeprefix("dropped_"), v] for k, v in c.items()
                   if k.startswith("dropped_") and v]
        if reasons:
            out.tables.append(Table("Dropped, by reason", ["reason", "calls"], reasons))
        out.tables.append(Table("PII and secrets replaced (counts only)",
                                ["entity type", "replaced"],
                                [list(kv) for kv in sorted(pii.get("scrubbed_by_type", {}).items(),
                                                           key=lambda kv: -kv[1])]))
        out.notes.append(f"{pii.get('records_with_pii', 0)} kept calls had PII; spaCy model "
                         f"{summary.get('spacy_model')}")
        return out


class Curator:
    def __init__(self, ctx: StageContext, cfg: CurateConfig) -> None:
        self.ctx, self.cfg = ctx, cfg
        self.counts: Counter[str] = Counter()
        self.unscrubbable: Counter[str] = Counter()
        self.stats = ScrubStats()  # what was found in the kept calls
        self.estimated_tokens = 0

    def _rows(self, src: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        i, n = (int(x) for x in self.cfg.shard.split("/")) if self.cfg.shard else (0, 1)
        for pos, row in enumerate(iter_rows(src)):
            if pos % n == i:
                yield pos, row

    def run(self, src: Path) -> StageResult:
        cfg, ctx = self.cfg, self.ctx
        total = count_rows(src)
        ctx.reporter.info("curate: loading the PII analyzer (Presidio + spaCy)")
        scrubber = Scrubber(cfg.pii, seed=ctx.seed)
        near = MinHashLSH(cfg.filters.near_duplicates, ctx.seed) \
            if cfg.filters.near_duplicates.enabled else None
        out_dir = ctx.stage_dir
        with RecordWriter(out_dir / CALLS) as writer, \
                atomic_path(out_dir / DROPPED) as dropped_tmp, \
                open(dropped_tmp, "w", encoding="utf-8") as dropped, \
                ctx.reporter.task("curate: filtering and scrubbing", total=total) as task:
            def drop(rec: CallRecord, reason: str, **more: Any) -> None:
                self.counts[f"dropped_{reason}"] += 1
                dropped.write(json.dumps({"id": rec.id, "source": rec.source, "reason": reason,
                                          **more}) + "\n")

            batch: list[CallRecord] = []
            sigs: list[Any] = []

            def flush() -> None:
                # A call enters the near-duplicate index only once it is kept, so a call
                # dropped as unscrubbable never makes a later call its duplicate.
                # A near-duplicate is that whether or not it could be scrubbed, so the
                # reason never depends on where the batches end.
                results = scrubber.scrub_batch(batch)
                for rec, sig, result, found in zip(batch, sigs, results,
                                                   scrubber.last_stats, strict=True):
                    twin = near.find(sig, rec.conversation_id) if near is not None else None
                    if twin is not None:
                        drop(rec, "near_duplicate", duplicate_of=twin)
                    elif isinstance(result, ScrubError):
                        self.unscrubbable[str(result)] += 1
                        drop(rec, "unscrubbable", detail=str(result))
                    else:
                        if near is not None:
                            near.add(rec.id, sig, rec.conversation_id)
                        writer.write(result)
                        self.counts["kept"] += 1
                        self.stats.add(found)
                        self.estimated_tokens += result.usage.prompt_tokens is None
                task.advance(len(batch))
                batch.clear()
                sigs.clear()

            for _pos, row in self._rows(src):
                self.counts["read"] += 1
                rec = from_row(row)
                reason = filter_reason(rec, cfg.filters)
                sig = None
                if reason is None and near is not None:
                    sig = near.signature(near_duplicate_text(rec))
                    twin = near.find(sig, rec.conversation_id)
                    if twin is not None:
                        drop(rec, "near_duplicate", duplicate_of=twin)
                        task.advance()
                        continue
                if reason is not None:
                    drop(rec, reason)
                    task.advance()
                    continue
                batch.append(rec)
                sigs.append(sig)
                if len(batch) >= cfg.pii.batch_size:
                    flush()
            if batch:
                flush()
        return self._result(detector_info(scrubber))

    def _result(self, detector: dict[str, Any]) -> StageResult:
        c = self.counts
        dropped = {r: c.get(f"dropped_{r}", 0) for r in DROP_REASONS}
        counts = {"read": c["read"], "kept": c["kept"], "dropped": sum(dropped.values()),
                  **{f"dropped_{r}": n for r, n in dropped.items()}}
        if counts["read"] != counts["kept"] + counts["dropped"]:
            raise AssertionError(f"curate counts do not reconcile: {counts}")
        report = {
            **detector,
            "presidio_defaults": self.cfg.pii.presidio_defaults,
            "entities_scrubbed": self.cfg.pii.scrubbed_entities(),
            "operator": self.cfg.pii.operator,
            **self.stats.as_dict(),
            "dropped_unscrubbable": dropped["unscrubbable"],
            "unscrubbable_reasons": dict(self.unscrubbable),
        }
        write_json_atomic(self.ctx.stage_dir / PII_REPORT, report)
        summary = {"pii": {k: report[k] for k in ("scrubbed_by_type", "scrubbed_by_place",
                                                  "records_with_pii")},
                   "prompt_tokens_estimated": self.estimated_tokens,
                   "spacy_model": detector["spacy_model"], "shard": self.cfg.shard,
                   "engine": self.cfg.engine}
        return StageResult(counts=counts, summary=summary)


def detector_info(scrubber: Scrubber) -> dict[str, Any]:
    """What the report says about the analyzer that ran."""
    d = scrubber.detector
    return {"spacy_model": d.model_label,
            "recognizers": [r.name for r in d.rules] + ["person_proper_noun"],
            "entities_reported_only": sorted(scrubber.report_only)}
