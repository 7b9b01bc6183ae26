"""S1 collect: import agent call logs in the formats people have into canonical records.

Reads files, directories or globs; writes ``collect/calls.parquet`` (canonical records),
``collect/quarantine.jsonl`` (file, line, importer, reason for every bad item) and counts
that reconcile per file: read = imported + duplicates + quarantined + skipped + joined.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from slmconvert.core.fsio import TMP_MARKER, atomic_path, path_label
from slmconvert.core.parquet import RecordWriter
from slmconvert.core.records import CallRecord, message_text
from slmconvert.errors import InputError, did_you_mean
from slmconvert.importers import registry
from slmconvert.importers.base import BatchIndex, Importer, Loc, Skip
from slmconvert.importers.common import ShapeError
from slmconvert.importers.openai import OpenAIBatchInput
from slmconvert.importers.readers import LOG_SUFFIXES, BadItem, Item, iter_items, suffix_of
from slmconvert.pipeline.stage import Report, Stage, StageConfig, StageContext, StageResult, Table

CALLS = "calls.parquet"
QUARANTINE = "quarantine.jsonl"


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0, description="USD per million prompt tokens.")
    output_per_mtok: float = Field(ge=0, description="USD per million completion tokens.")


# List prices per million tokens (USD) when this table was written; override in config.
DEFAULT_PRICES: dict[str, Price] = {k: Price(input_per_mtok=i, output_per_mtok=o) for k, (i, o) in {
    "gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1": (2.00, 8.00), "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00), "o3-mini": (1.10, 4.40), "o4-mini": (1.10, 4.40),
    "gpt-3.5-turbo": (0.50, 1.50), "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-haiku": (0.25, 1.25), "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-sonnet": (3.00, 15.00), "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00), "claude-opus-4": (15.00, 75.00),
    "gemini-1.5-flash": (0.075, 0.30), "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50), "gemini-2.5-pro": (1.25, 10.00),
}.items()}


class HumanFacingRule(BaseModel):
    """When a call's response went to a person (the paper collects non-HCI calls)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: list[str] = Field(["user-facing", "human-facing", "customer-facing"],
                            description="Metadata tags that mark a human-facing call.")
    steps: list[str] = Field([], description="Step names whose output goes to a person.")
    agents: list[str] = Field([], description="Agents whose every output goes to a person.")


class CollectConfig(StageConfig):
    inputs: list[str] = Field(min_length=1, description=(
        "Log files, directories (searched recursively for .jsonl, .jsonl.gz, .json, "
        ".parquet and .yaml cassettes) or glob patterns; relative to the pipeline file."))
    format: str | None = Field(None, description=(
        "Use this importer for every file instead of detecting the format per file "
        "(see docs/collect.md)."))
    max_record_mb: float = Field(16.0, gt=0, description=(
        "Items larger than this are quarantined without being loaded."))
    link_conversations: bool = Field(True, description=(
        "Derive a conversation id from resent message prefixes when the log has none."))
    human_facing: HumanFacingRule = Field(default_factory=HumanFacingRule,
                                          description="Rule that marks human-facing calls.")
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES), description=(
        "Model-name prefix -> price per million tokens, for cost_usd when the log has none."))

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in registry.IMPORTERS:
            raise ValueError(f"unknown format '{value}'"
                             f"{did_you_mean(value, list(registry.IMPORTERS))}")
        return value


# ------------------------------------------------------------------ helpers ----

@dataclass
class FileStats:
    file: str
    format: str = ""
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0
    joined: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)

    def reconciles(self) -> bool:
        return self.read == (self.imported + self.duplicates + self.quarantined + self.skipped
                             + self.joined)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "format": self.format, "read": self.read,
                "imported": self.imported, "duplicates": self.duplicates,
                "quarantined": self.quarantined, "skipped": self.skipped, "joined": self.joined,
                "skip_reasons": dict(self.skip_reasons.most_common()),
                "quarantine_reasons": dict(self.quarantine_reasons.most_common(20))}


def expand_inputs(ctx: StageContext, patterns: list[str]) -> tuple[dict[Path, str], list[str]]:
    """(log file -> its label, in a stable order; labels of files ignored for their type).

    A file's label is what records (``source``) and reports call it: see
    :func:`input_label`. A file named twice (by two patterns) is read once."""
    files: dict[Path, str] = {}
    labels: set[str] = set()
    ignored: list[str] = []
    for pattern in patterns:
        path = ctx.resolve(pattern)
        if any(ch in pattern for ch in "*?["):
            matches = [Path(p) for p in sorted(glob.glob(str(path), recursive=True))]
            if not matches:
                raise InputError(f"{pattern}: no file matches")
            candidates = [m for m in matches if m.is_file()]
        elif path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            candidates = [path]
        else:
            raise InputError(f"{pattern}: no such file or directory")
        for p in candidates:
            label = input_label(ctx, pattern, p)
            if suffix_of(p) is None:
                if path.is_file():  # named explicitly: say so rather than ignore it
                    raise InputError(f"{pattern}: unsupported file type (expected one of "
                                     f"{', '.join(LOG_SUFFIXES)})")
                ignored.append(label)
            elif label not in labels:
                files[p] = label
                labels.add(label)
    if not files:
        raise InputError(f"no log files found in {', '.join(patterns)}")
    return files, ignored


def input_label(ctx: StageContext, pattern: str, path: Path) -> str:
    """How records and reports name ``path``, found by the input ``pattern``: as the user
    gave it, normalised (no ``dir/..``, symlinks not followed). A relative pattern gives
    a path relative to the pipeline file's directory (the working directory for
    ``slmconvert collect``), never this machine's absolute path; an absolute one stays
    absolute unless it lies under that directory."""
    given = path if Path(pattern).expanduser().is_absolute() else Path(
        os.path.relpath(path, ctx.base_dir))
    return path_label(given, ctx.base_dir)


class _SqliteBatchIndex(BatchIndex):
    """custom_id -> request body on disk, so joining a large batch keeps memory flat."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE req (id TEXT PRIMARY KEY, file TEXT, body TEXT, "
                        "used INTEGER DEFAULT 0)")

    def add(self, custom_id: str, file: str, body: dict[str, Any]) -> bool:
        try:
            self.db.execute("INSERT INTO req (id, file, body) VALUES (?, ?, ?)",
                            (custom_id, file, json.dumps(body)))
            return True
        except sqlite3.IntegrityError:
            return False

    def get(self, custom_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT body FROM req WHERE id = ?", (custom_id,)).fetchone()
        if row is None:
            return None
        self.db.execute("UPDATE req SET used = 1 WHERE id = ?", (custom_id,))
        body: dict[str, Any] = json.loads(row[0])
        return body

    def usage(self) -> dict[str, tuple[int, int]]:
        """file -> (joined, unmatched)."""
        rows = self.db.execute("SELECT file, SUM(used), COUNT(*) - SUM(used) FROM req "
                               "GROUP BY file").fetchall()
        return {f: (int(j or 0), int(u or 0)) for f, j, u in rows}

    def close(self) -> None:
        self.db.close()
        self.path.unlink(missing_ok=True)


class ConversationLinker:
    """Agents resend the growing conversation on every call: a call whose messages start
    with an earlier call's request + response continues that call's conversation."""

    def __init__(self, window: int = 200_000) -> None:
        self._known: dict[bytes, str] = {}  # insertion-ordered: oldest first
        self._window = window

    def assign(self, rec: CallRecord) -> None:
        h = hashlib.sha256()
        prefixes: list[bytes] = []
        for m in rec.messages:
            h.update(message_text(m).encode())
            h.update(b"\x00")
            prefixes.append(h.digest()[:12])
        if rec.conversation_id is None:
            for j in range(len(rec.messages) - 1, 0, -1):
                if rec.messages[j - 1].role == "assistant" and prefixes[j - 1] in self._known:
                    rec.conversation_id = self._known[prefixes[j - 1]]
                    break
            else:
                rec.conversation_id = "c-" + (prefixes[-1].hex()[:16] if prefixes else rec.id)
        if rec.response is not None:
            h.update(message_text(rec.response).encode())
            h.update(b"\x00")
            self._known[h.digest()[:12]] = rec.conversation_id
            if len(self._known) > self._window:  # conversations are local in time
                del self._known[next(iter(self._known))]


def _price_for(model: str | None, prices: dict[str, Price]) -> Price | None:
    if not model:
        return None
    name = model.lower().rsplit("/", 1)[-1]
    matches = [k for k in prices if name.startswith(k.lower())]
    return prices[max(matches, key=len)] if matches else None


def _apply_rules(rec: CallRecord, cfg: CollectConfig) -> None:
    meta = rec.extra.get("metadata") or {}
    tags: list[Any] = meta["tags"] if isinstance(meta.get("tags"), list) else []
    rule = cfg.human_facing
    if (set(map(str, tags)) & set(rule.tags)) or (rec.step in rule.steps) or (
            rec.agent in rule.agents):
        rec.human_facing = True
    if rec.cost_usd is None and rec.usage.prompt_tokens is not None:
        price = _price_for(rec.model, cfg.prices)
        if price is not None:
            rec.cost_usd = round((rec.usage.prompt_tokens * price.input_per_mtok + (
                rec.usage.completion_tokens or 0) * price.output_per_mtok) / 1e6, 8)


# -------------------------------------------------------------------- stage ----

class CollectStage(Stage):
    name = "collect"
    # 2: record sources and file labels normalised (no dir/..); the conversation linker
    # keys messages by message_text, so derived conversation ids (c-...) differ from 1.
    version = "2"
    Config = CollectConfig
    description = ("S1: import agent call logs (OpenAI, Anthropic, Gemini, OpenTelemetry, "
                   "Langfuse, batch and fine-tuning files, VCR cassettes) into canonical "
                   "records; bad items are quarantined with file, line and reason.")

    def inputs(self, ctx: StageContext, cfg: CollectConfig) -> list[Path]:
        return list(expand_inputs(ctx, cfg.inputs)[0])

    def run(self, ctx: StageContext, cfg: CollectConfig) -> StageResult:
        files, ignored = expand_inputs(ctx, cfg.inputs)
        return Collector(ctx, cfg).run(files, ignored)

    def report(self, counts: dict[str, Any], summary: dict[str, Any]) -> Report:
        s, c = summary, counts
        out = Report(tables=[
            Table("Calls by format", ["format", "calls"],
                  [list(kv) for kv in s.get("by_format", {}).items()]),
            Table("Calls by model", ["model", "calls"],
                  [list(kv) for kv in list(s.get("by_model", {}).items())[:15]]),
            Table("Totals", ["read", "imported", "duplicates", "quarantined", "skipped",
                             "joined", "human-facing"],
                  [[c["read"], c["imported"], c["duplicates"], c["quarantined"], c["skipped"],
                    c["joined"], c["human_facing"]]])])
        reasons = [[k, v] for k, v in s.get("quarantine_reasons", {}).items()] + [
            [f"skipped: {k}", v] for k, v in s.get("skip_reasons", {}).items()]
        if reasons:
            out.tables.append(Table("Quarantined and skipped, by reason", ["reason", "items"],
                                    reasons[:15]))
        if s.get("ignored_files"):
            out.notes.append(f"ignored {len(s['ignored_files'])} file(s) that are not logs "
                             f"(e.g. {s['ignored_files'][0]})")
        return out


class Collector:
    def __init__(self, ctx: StageContext, cfg: CollectConfig) -> None:
        self.ctx, self.cfg = ctx, cfg
        self.max_bytes = int(cfg.max_record_mb * 1024 * 1024)
        self.seen: set[int] = set()
        self.linker = ConversationLinker()
        self.by_format: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.human_facing = 0
        self.importer_errors = 0

    def _detect(self, path: Path) -> Importer | None:
        if self.cfg.format:
            return registry.get(self.cfg.format)
        for item in iter_items(path, self.max_bytes):
            if isinstance(item, Item):
                return registry.detect(item.value)
        return None

    def run(self, files: dict[Path, str], ignored: list[str]) -> StageResult:
        """Import ``files`` (path -> label for records and reports)."""
        stats = {p: FileStats(label) for p, label in files.items()}
        detected = {p: self._detect(p) for p in files}
        index_path = self.ctx.stage_dir / f".batch-index{TMP_MARKER}db"
        index = _SqliteBatchIndex(index_path)
        try:
            with atomic_path(self.ctx.stage_dir / QUARANTINE) as qpath, \
                    open(qpath, "w", encoding="utf-8") as quarantine, \
                    RecordWriter(self.ctx.stage_dir / CALLS) as writer, \
                    self.ctx.reporter.task("collecting", total=len(files)) as task:
                for path in files:  # batch inputs first: outputs are joined to them
                    imp = detected[path]
                    if isinstance(imp, OpenAIBatchInput):
                        stats[path].format = imp.name
                        self._index_batch(path, stats[path], index, quarantine)
                        task.advance()
                for path in files:
                    imp = detected[path]
                    if isinstance(imp, OpenAIBatchInput):
                        continue
                    if imp is not None:
                        imp.batch_index = index
                    self._import_file(path, imp, stats[path], writer, quarantine)
                    task.advance()
            usage = index.usage()
            for st in stats.values():
                joined, unmatched = usage.get(st.file, (0, 0))
                if st.format == OpenAIBatchInput.name:
                    st.joined, st.skipped = joined, st.skipped + unmatched
                    if unmatched:
                        st.skip_reasons["batch request without a result"] += unmatched
        finally:
            index.close()
        return self._result(stats, ignored, writer.count)

    def _quarantine(self, q: Any, st: FileStats, line: int, importer: str, reason: str) -> None:
        st.quarantined += 1
        st.quarantine_reasons[reason.split(":")[0] if len(reason) > 80 else reason] += 1
        q.write(json.dumps({"file": st.file, "line": line, "importer": importer,
                            "reason": reason}, ensure_ascii=False) + "\n")

    def _index_batch(self, path: Path, st: FileStats, index: _SqliteBatchIndex, q: Any) -> None:
        for item in iter_items(path, self.max_bytes):
            st.read += 1
            if isinstance(item, BadItem):
                self._quarantine(q, st, item.line, st.format, item.reason)
                continue
            v = item.value
            if not (isinstance(v, dict) and isinstance(v.get("custom_id"), str)
                    and isinstance(v.get("body"), dict)):
                self._quarantine(q, st, item.line, st.format,
                                 "batch input line needs a string custom_id and a body object")
            elif not index.add(v["custom_id"], st.file, v["body"]):
                self._quarantine(q, st, item.line, st.format,
                                 f"duplicate custom_id {v['custom_id']!r} in batch input")

    def _import_file(self, path: Path, imp: Importer | None, st: FileStats,
                     writer: RecordWriter, q: Any) -> None:
        st.format = imp.name if imp else "unknown"
        for item in iter_items(path, self.max_bytes):
            if isinstance(item, BadItem):
                st.read += 1
                self._quarantine(q, st, item.line, st.format, item.reason)
                continue
            use = imp
            if use is None or (not self.cfg.format and not use.sniff(item.value)):
                use = registry.detect(item.value)
                if use is not None:
                    use.batch_index = imp.batch_index if imp else None
            if use is None:
                st.read += 1
                self._quarantine(q, st, item.line, st.format, _unrecognised(item.value))
                continue
            self._import_item(item, use, st, writer, q)

    def _import_item(self, item: Item, imp: Importer, st: FileStats,
                     writer: RecordWriter, q: Any) -> None:
        loc = Loc(st.file, item.line)
        produced = 0
        try:
            for out in imp.records(item.value, loc):
                produced += 1
                st.read += 1
                if isinstance(out, Skip):
                    st.skipped += 1
                    st.skip_reasons[out.reason.split(" (")[0]] += 1
                else:
                    self._keep(out, imp.name, st, writer)
        except (ShapeError, ValidationError, ValueError) as exc:
            st.read += 1
            if isinstance(exc.__cause__, Exception) and not isinstance(exc.__cause__, ShapeError):
                self.importer_errors += 1  # shape surprises: visible in the summary
            self._quarantine(q, st, item.line, imp.name, _reason(exc))
            return
        if produced == 0:
            st.read += 1
            st.skipped += 1
            st.skip_reasons["item holds no calls"] += 1

    def _keep(self, rec: CallRecord, fmt: str, st: FileStats, writer: RecordWriter) -> None:
        key = int(rec.id[:16], 16)
        if key in self.seen:
            st.duplicates += 1
            return
        self.seen.add(key)
        if self.cfg.link_conversations or rec.conversation_id is None:
            self.linker.assign(rec)
        _apply_rules(rec, self.cfg)
        writer.write(rec)
        st.imported += 1
        self.by_format[fmt] += 1
        self.by_model[rec.model or "unknown"] += 1
        self.human_facing += rec.human_facing

    def _result(self, stats: dict[Path, FileStats], ignored: list[str],
                written: int) -> StageResult:
        per_file = list(stats.values())
        totals = {k: sum(getattr(s, k) for s in per_file)
                  for k in ("read", "imported", "duplicates", "quarantined", "skipped", "joined")}
        bad = [s.file for s in per_file if not s.reconciles()]
        if bad or totals["imported"] != written:
            raise AssertionError(f"collect counts do not reconcile for {bad}")
        skip_reasons: Counter[str] = Counter()
        q_reasons: Counter[str] = Counter()
        for s in per_file:
            skip_reasons.update(s.skip_reasons)
            q_reasons.update(s.quarantine_reasons)
        return StageResult(
            counts={**totals, "files": len(per_file), "human_facing": self.human_facing},
            summary={
                "by_format": dict(self.by_format.most_common()),
                "by_model": dict(self.by_model.most_common()),
                "files": [s.as_dict() for s in per_file],
                "ignored_files": ignored,
                "skip_reasons": dict(skip_reasons.most_common()),
                "quarantine_reasons": dict(q_reasons.most_common(30)),
                "importer_errors": self.importer_errors,
            },
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"invalid record: {where}: {err['msg']}"
    if isinstance(exc, ShapeError):
        return str(exc)
    return f"invalid value: {str(exc)[:200]}"


def _unrecognised(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(sorted(map(str, value))[:8])
        return f"no importer recognises this record (keys: {keys})"
    return f"no importer recognises this record (a JSON {type(value).__name__})"
