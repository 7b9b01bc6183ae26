"""Text helpers every layer needs: JSON sniffing and the email pattern.

One definition each, so that importers, curate and clustering agree on what counts as
JSON text and as an email address.
"""

from __future__ import annotations

import json
import re
from typing import Any

EMAIL_PATTERN = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}"
"""An email address (local part, ``@``, dotted domain ending in a letter TLD), without
boundaries, for embedding in larger patterns; :data:`EMAIL_RE` adds them."""

EMAIL_RE = re.compile(rf"(?<![\w.+-]){EMAIL_PATTERN}(?![\w-])")
"""An email address standing on its own: not glued to more address characters."""


def sniff_json(text: str) -> dict[str, Any] | list[Any] | None:
    """``text`` parsed as JSON if it is a JSON object or array, else None.

    Surrounding white space is allowed. Text that does not start with ``{`` or ``[`` is
    not parsed at all (cheap for prose), and invalid JSON is None, never an error, so
    an empty object or array is the only falsy result that means "is JSON".
    """
    s = text.strip()
    if not s or s[0] not in "{[":
        return None
    try:
        value = json.loads(s)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None
