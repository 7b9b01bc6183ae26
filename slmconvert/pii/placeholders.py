"""Replacements within one call: each distinct value gets one replacement, numbered per
entity type in order of appearance (``<PERSON_1>``, ``<PERSON_2>``), or its surrogate,
redaction or mask, as the operator for its type says."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from slmconvert.pii.config import PiiConfig, norm_value
from slmconvert.pii.surrogates import surrogate


class Replacements:
    """Per-call value -> replacement."""

    def __init__(self, cfg: PiiConfig, values: dict[str, str], key: bytes) -> None:
        self.cfg = cfg
        self.values = values
        self.key = key
        self.assigned: dict[str, str] = {}
        self.counters: Counter[str] = Counter()

    def replacer(self, entity: str) -> Callable[[str], str]:
        def replace(value: str) -> str:
            key = norm_value(value)
            if key in self.assigned:
                return self.assigned[key]
            ent = self.values.get(key, entity)
            op = self.cfg.operators.get(ent, self.cfg.operator)
            if op == "placeholder":
                self.counters[ent] += 1
                out = f"<{ent}_{self.counters[ent]}>"
            elif op == "redact":
                out = f"<{ent}>"
            elif op == "mask":
                out = re.sub(r"\w", "*", value)
            else:
                out = surrogate(self.key, ent, value)
            self.assigned[key] = out
            return out

        return replace
