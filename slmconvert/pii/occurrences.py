"""Finding again, anywhere in a call, what was found once: propagation and verification.

Everything the detectors found in a call is searched for in every text of the call, in
any letter case, on word boundaries (a letter or digit may not touch it; ``_``, ``.``
and ``-`` may), whatever its length:

- every found value (whitespace between its words may vary);
- every part of a found person's name ("odile" of "Odile Brun", "Li" of "Mia Li"),
  except particles and titles ("van", "de", "Dr."). A part that is also an English
  function word ("Will", "May"), or an ordinary English word of four letters or more
  that is not a common given name ("Orchestra", "Baker"), is looked for only when
  capitalised, since the lower-case word is the verb or the noun;
- identifiers that contain a name part as one of their pieces (``mia_li_3668``,
  ``odile.brun``, ``MiaLi``) or are built from the name (``mli``, ``mli3668``,
  ``brun.o``): the whole identifier is one value, so it gets one placeholder
  (``<PERSON_ID_1>``) wherever it occurs, tool arguments included, and the small
  model still learns to copy it.

Propagation replaces every such occurrence; verification runs the same search on the
scrubbed texts and fails the call if anything is left (privacy fails closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from slmconvert.pii import recognizers as rec
from slmconvert.pii.config import in_original, norm_value, visible
from slmconvert.pii.spans import Span

ID_ENTITY = "PERSON_ID"
NOT_NAME_PARTS = frozenset({
    "the", "and", "van", "von", "der", "den", "del", "della", "de", "da", "di", "du", "la",
    "le", "ten", "ter", "bin", "ibn", "al", "el", "y", "mr", "mrs", "ms", "dr", "prof", "jr",
    "sr", "ii", "iii", "iv", "st"})
_B = r"(?<![^\W_])"        # no letter or digit before
_E = r"(?![^\W_])"         # no letter or digit after
_IDENT = re.compile(r"(?<![\w.@-])(?=[\w.-]*(?:[_.-]|\d|[a-z][A-Z]))[^\W_][\w.-]*[^\W_]"
                    r"(?![\w@]|[.-]\w)")
_ID_SHAPE = re.compile(r"[_.-]|\d|[a-z][A-Z]")  # inside the identifier, not after it
_PIECE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+|[^\W\d_]+")
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*?(?:_\d+)?>")


class ScrubError(Exception):
    """A record could not be scrubbed safely; the caller drops it."""


class CasedOnly:
    """Name parts searched for only capitalised: English function words, and ordinary
    English words of four letters or more (:func:`rec.ordinary_word`: plural and
    superlative forms too, "agents", "systems") that are not common given names."""

    def __init__(self, words: frozenset[str] = frozenset()) -> None:
        self.words = words
        self.stop = rec.stop_words()

    def heading(self, words: list[str]) -> bool:
        """Several words that are a heading, not a name (:func:`rec.heading`)."""
        return len(words) > 1 and rec.heading(words, self.words)

    def __contains__(self, part: object) -> bool:
        return isinstance(part, str) and (part in self.stop or (
            len(part) >= 4 and rec.ordinary_word(part, self.words)))


def _phrase(value: str) -> str:
    """A regular expression for a normalised value: any whitespace between its words."""
    return r"\s+".join(re.escape(w) for w in value.split())


class Occurrences:
    """What one call's detectors found, and a search for it anywhere in a text."""

    def __init__(self, values: dict[str, str], cased: CasedOnly | None = None) -> None:
        self.values = values  # normalised value -> entity type
        stop = cased if cased is not None else CasedOnly()
        parts: set[str] = set()
        for v, ent in values.items():
            if ent != "PERSON":
                continue
            # The words of a heading NER calls a person ("chatbot development", "technical
            # implementation roadmap") are not searched alone; a person's are ("Banks" of
            # "anna banks", "Rasmussen" of "victor rasmussen").
            words = v.split()
            anchored = not stop.heading(words)
            for word in words:
                for p in {word.strip(".,'’"), *re.split(r"[-'’]", word)}:
                    p = rec.WORD_EDGES.sub("", p)  # "Lima**" -> "Lima"
                    if len(p) >= 2 and p not in NOT_NAME_PARTS and any(c.isalpha() for c in p) \
                            and (anchored or p not in stop) and p not in rec.tech_names():
                        parts.add(p)
        self.parts = {p for p in parts if p not in stop}          # any case
        self.cased_parts = {p for p in parts if p in stop}        # capitalised only
        self.built = self._built_names()
        self._built_re = re.compile(_B + "(?:" + "|".join(
            map(re.escape, sorted(self.built, key=len, reverse=True))) + r")\d*" + _E,
            re.IGNORECASE) if self.built else None
        whole = {v for v, ent in values.items()
                 if ent != "PERSON" or (" " in v and any(c.isalpha() for c in v))}
        everything = sorted({*whole, *self.parts}, key=len, reverse=True)
        self._any_case = re.compile(_B + "(?:" + "|".join(map(_phrase, everything)) + ")" + _E,
                                    re.IGNORECASE) if everything else None
        title = sorted(self.cased_parts, key=len, reverse=True)
        self._cased = re.compile(_B + "(?:" + "|".join(
            f"{re.escape(p.title())}|{re.escape(p.upper())}" for p in title) + ")" + _E
        ) if title else None

    def _built_names(self) -> set[str]:
        """Identifiers built from a full name: flast, firstlast, lastfirst, lastf, firstl."""
        out: set[str] = set()
        for v, ent in self.values.items():
            words = [w for w in re.split(r"[\s.]+", v) if w and w not in NOT_NAME_PARTS]
            if ent != "PERSON" or len(words) < 2:
                continue
            first, last = words[0], words[-1]
            out |= {first[0] + last, first + last, last + first, last + first[0],
                    first + last[0]}
        return {b for b in out if len(b) >= 3}

    def __bool__(self) -> bool:
        return bool(self.values)

    def find(self, text: str) -> Iterator[Span]:
        """Every occurrence in ``text``: found values and name parts, and whole
        identifiers that carry a name part; also where an invisible character splits one
        ("mar\u200bgit")."""
        if not self.values:
            return
        clean, kept = visible(text)
        for s in self._find(clean):
            yield Span(*in_original(kept, s.start, s.end), s.entity, s.score)

    def _find(self, text: str) -> Iterator[Span]:
        for pattern in (self._any_case, self._cased):
            if pattern is None:
                continue
            for m in pattern.finditer(text):
                key = norm_value(m.group())
                yield Span(m.start(), m.end(), self.values.get(key, "PERSON"), 1.0)
        if self._built_re is not None:
            for m in self._built_re.finditer(text):
                yield Span(m.start(), m.end(), ID_ENTITY, 1.0)
        for m in _IDENT.finditer(text):  # (a name closing a sentence is no identifier)
            if _ID_SHAPE.search(m.group()) and self._names_someone(m.group()):
                yield Span(m.start(), m.end(), ID_ENTITY, 1.0)

    def _names_someone(self, ident: str) -> bool:
        pieces = [p.lower() for p in _PIECE.findall(ident)]
        names = [p for p in pieces if p in self.parts or p in self.cased_parts]
        if any(p in self.parts for p in names) or len(set(names)) >= 2:
            return True
        return any(p.rstrip("0123456789") in self.built for p in pieces)

    def spans(self, text: str, found: list[Span]) -> list[Span]:
        """``found`` plus every other occurrence, overlapping spans merged."""
        from slmconvert.pii.spans import merge

        kept = list(found)
        extra: list[Span] = []
        for s in self.find(text):
            overlapping = [k for k in kept if k.start < s.end and s.start < k.end]
            if s.entity == ID_ENTITY:  # a whole identifier replaces the parts found in it
                kept = [k for k in kept if k not in overlapping]
                extra.append(Span(min([s.start, *(k.start for k in overlapping)]),
                                  max([s.end, *(k.end for k in overlapping)]), ID_ENTITY, 1.0))
            elif not any(k.start <= s.start and s.end <= k.end for k in [*kept, *extra]):
                extra.append(s)  # merged with what it overlaps: "ask [anna] banks" grows
        return merge([*kept, *extra]) if extra else found

    def verify(self, texts: Iterable[str]) -> None:
        """Fail closed: nothing found in the call may be left in any scrubbed text."""
        for t in texts:
            for _ in self.find(_PLACEHOLDER.sub(" ", t)):
                raise ScrubError("a found value survived scrubbing")
