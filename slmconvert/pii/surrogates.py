"""Surrogates: a fake value of the same shape, chosen by a keyed digest (never stored)."""

from __future__ import annotations

import hashlib
import hmac

from slmconvert.pii.config import norm_value

SURROGATE_KEY_ENV = "SLMCONVERT_SURROGATE_KEY"

_FIRST = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery",
          "Quinn", "Robin", "Dana", "Kai", "Noa", "Ari", "Remy", "Sasha", "Toni", "Eli", "Jo"]
_LAST = ["Ashdown", "Brightwell", "Calloway", "Dunmore", "Elsworth", "Farrow", "Galloway",
         "Hartley", "Ingram", "Jessop", "Kendrick", "Lockwood", "Merriman", "Northcott",
         "Oakley", "Pembrook", "Quill", "Radley", "Stanwick", "Thornbury"]


def _surrogate(entity: str, value: str, digest: bytes) -> str:
    """A fake value of the same shape, chosen by the keyed digest (never stored)."""
    if entity == "PERSON":
        parts = value.split()
        first, last = _FIRST[digest[0] % len(_FIRST)], _LAST[digest[1] % len(_LAST)]
        return first if len(parts) == 1 else f"{first} {last}"
    if entity == "EMAIL_ADDRESS":
        first, last = _FIRST[digest[0] % len(_FIRST)], _LAST[digest[1] % len(_LAST)]
        return f"{first.lower()}.{last.lower()}{digest[2] % 100}@example.com"
    out, i = [], 3
    for c in value:  # keep separators and letter case, replace digits and letters
        b = digest[i % len(digest)]
        i += 1
        if c.isdigit():
            out.append(str(b % 10))
        elif c.isalpha() and c.isascii():
            ch = chr(ord("a") + b % 26)
            out.append(ch.upper() if c.isupper() else ch)
        else:
            out.append(c)
    return "".join(out)



def surrogate(key: bytes, entity: str, value: str) -> str:
    """The surrogate of ``value`` under ``key`` (the pipeline seed and the secret)."""
    digest = hmac.new(key, f"{entity}\x00{norm_value(value)}".encode(), hashlib.sha256).digest()
    return _surrogate(entity, value, digest)
