"""slmconvert's own canonical records (collect or curate output, as JSONL or Parquet),
read back in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from slmconvert.core.records import CallRecord
from slmconvert.importers.base import Importer, Loc, Skip
from slmconvert.importers.common import ShapeError


class Canonical(Importer):
    name = "canonical"
    description = "slmconvert's own canonical records (collect/curate output, JSONL or Parquet)."
    example = '{"id": "...", "source": "a.jsonl:3", "messages": [...], "response": {...}, ...}'

    _KEYS = {"source", "messages", "response", "status", "human_facing"}

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and self._KEYS <= set(value)

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        from pydantic import ValidationError

        from slmconvert.core.records import from_row

        row = dict(value)
        for key in ("tools", "extra"):
            if not isinstance(row.get(key), str):
                row[key] = json.dumps(row.get(key) or ([] if key == "tools" else {}))
        try:
            rec = from_row({**{k: None for k in ("conversation_id", "timestamp", "agent",
                                                 "workflow", "step", "model", "provider",
                                                 "latency_ms", "cost_usd", "usage")}, **row})
        except (ValidationError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ShapeError(f"not a canonical record: {str(exc).splitlines()[0]}") from None
        yield rec.with_id()

