"""Spans found in one text, and how they grow: merging overlaps, joining the parts of a
name, growing a street address over its whole block."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from slmconvert.pii import particles
from slmconvert.pii.config import in_original, to_visible, visible
from slmconvert.pii.recognizers import (
    CALENDAR_WORDS,
    CAP_NAME,
    POSTCODE,
    STREET_FOREIGN,
    STREET_PREFIX,
    UPPER,
    YEAR,
    common_word,
    field_label,
    foreign_letters,
    given_name,
    inflected_english,
    lower_case_prose,
    name_neighbour,
    name_word,
    ordinary_word,
    sentence_word,
    stop_words,
    tech_names,
    term_phrase,
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str
    score: float
    guess: bool = False  # a place or nationality NER guessed for words it does not know


# An address that overlaps a number found as a phone or a name holds it, not the reverse:
# the merged span is an address, so it grows over the rest of its block.
_CONTAINERS = frozenset({"STREET_ADDRESS"})


def merge(spans: Iterable[Span]) -> list[Span]:
    """Union overlapping spans; the merged span takes the type of its best constituent
    (an address first, then by score and length)."""
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    for s in ordered:
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            best = max((last, s), key=lambda x: (x.entity in _CONTAINERS, x.score,
                                                  x.end - x.start))
            merged[-1] = Span(last.start, max(last.end, s.end), best.entity, best.score)
        else:
            merged.append(s)
    return merged


# An address block continues over town, state, country and postal-code tokens separated
# by spaces, commas or single line breaks ("...Apt. 864\nArtilleros\n, CO\n Uruguay 64677"),
# and stops at the first ordinary lower-case word, a blank line or other punctuation.
_PARTICLES = particles.STREET_PATTERN
# (a town of two names joined by a slash is one token: "Kraków/Nowa Huta"; "I will" is
# the sentence going on; one digit is a token before a capital or a comma: a town's
# district, "Dublin 2, Ireland"; a quoted word before the house number is part of the
# street's name: 'ul. Gen. Tadeusza Kowala "Grot" 4'; so is a word in brackets of a
# town's name before a comma, a line's end or a postal code: "Frankfurt (Oder), Germany")
_ADDR_TOKEN = (rf"(?:(?!I[ \t]+[a-z])[{UPPER}][\w'’.-]*(?:/[{UPPER}][\w'’.-]*)?|"
               rf"\d{{2,6}}(?:-\d{{3,4}})?|\d(?=[ \t]+[{UPPER}]|[ \t]*[,\n])|"
               rf"[\"“][{UPPER}][\w'’.-]*[\"”](?=[ \t]+\d)|"
               rf"\([{UPPER}][\w'’.-]*\)(?=[ \t]*(?:[,\n]|$)|[ \t]+\d)|"
               rf"{_PARTICLES}(?=[ \t]+(?:{_PARTICLES}[ \t]+)?[{UPPER}]))")
# Between the tokens of a block: a comma, a line break (with a quote mark or a comma on
# the next line) or blanks.
_SEPARATOR = r"(?:[ \t]*,[ \t]*|[ \t]*\n[ \t>]*(?:,[ \t]*)?|[ \t]+)"
_CONTINUE = re.compile(rf"{_SEPARATOR}(?P<seg>{_ADDR_TOKEN})(?![\w:])")
# Where a text has capitals, a town or region typed in lower case still belongs to the
# address when a postal code closes it: "..., springfield il 62704", "Kraków,
# małopolskie\n Poland 31-042" (one to three words before it, none a function word or a
# month; a two-letter state may be one: "ca"), unless the number is a phone found there
# (", phone 01632 960 555").
_LOWER_TO_POSTCODE = re.compile(
    rf"{_SEPARATOR}(?P<words>[a-zß-öø-ÿā-ž][\w'’.-]*(?:{_SEPARATOR}[^\W\d_][\w'’.-]*){{0,2}})"
    rf"{_SEPARATOR}{POSTCODE}(?![\w:-])")
# A lower-case word no dictionary knows, after a capitalised word of the block, is part of
# the town or region's name where the block or the sentence ends or goes on in capitals:
# "Novo mesto, Slovenia", "Plzeňský kraj." ("... Boston tomorrow" is the sentence going
# on: :func:`_place_word`).
_LOWER_PLACE_WORD = re.compile(rf"[ \t]+(?P<seg>[a-zß-öø-ÿā-ž][\w'’-]{{2,}})"
                               rf"(?=[ \t]*(?:$|[\n,;!?)])|\.(?:\s|$)|[ \t]+[{UPPER}])")
# So is the word for a region's kind after its name, whatever follows: "Plzeňský kraj for
# ...", "Stockholms län", "Pest megye".
_REGION_WORD = re.compile(r"[ \t]+(?P<seg>kraj|krai|län|megye|vármegye|oblast|okres|županija|"
                          r"județ|judet|край|область|област)(?!\w)")
_CAPITALISED_LAST = re.compile(rf"(?:^|(?<=[\s,]))[{UPPER}][^\W\d_]+$")
# In a text with no capital letter, a two-letter state and a ZIP code after a comma close
# the address, whatever word the state spells: "..., kelby, or 97201", "..., in 46201";
# so do they after a blank where they end the line or the sentence: "...\ningolstadt by
# 85020".
_ZIP = rf"(?!{YEAR})\d{{5}}(?:-\d{{4}})?(?![\w:-])"
_STATE_ZIP_LOWER = re.compile(rf"(?:[ \t]*,[ \t]*[a-z]{{2}}[ \t]+{_ZIP}|"
                              rf"[ \t]+[a-z]{{2}}[ \t]+{_ZIP}(?=[ \t]*(?:$|[\n,;!?)]|\.(?:\s|$))))")
_CONTINUE_LOWER = re.compile(_SEPARATOR
                             + r"(?P<seg>[^\W\d][\w'’.-]*|\d{2,6}(?:-\d{3,4})?)(?![\w:])")
# An address whose last word of five letters or more ends a sentence, with the next
# sentence on the same line, ends there: the full stop is no abbreviation's ("St.",
# "Blvd."), and the capital after it starts a sentence, not a town.
_SENTENCE_END = re.compile(r"[^\W\d_]{5,}\.$")
_NEXT_SENTENCE = re.compile(rf"[ \t]+[{UPPER}]")
_WORD_REST = re.compile(r"(?:\w|[-'’](?=\w))*")
# An address never ends on a particle ("18 Rue de | Brest"): the next word on its line
# is the rest of the street's name, in any case; nor on an abbreviated street word whose
# house number follows its full stop ("921 Tuulik Aqq. | 19"). In lower-case text a
# block stops at an English function word, not at a particle ("vila do conde").
_LOWER_PARTICLE = re.compile(particles.alternation(particles.STREET_LOWER), re.IGNORECASE)
# ... and never starts on one: the word before it is the start of the street's name.
_PARTICLE_FIRST = re.compile(rf"{particles.alternation(particles.STREET_LAST)}[ \t]")
_PARTICLE_LAST = re.compile(rf"(?<=\w[ \t]){particles.alternation(particles.STREET_LAST)}$")
_ABBREVIATION_LAST = re.compile(rf"(?:^|(?<=[ \t]))[{UPPER}][^\W\d_]{{0,4}}$")
_NEXT_WORD = re.compile(r"[ \t]+[^\W\d_][\w'’-]*")
# Nor does it end on a street word abbreviated with a full stop ("448 avda | . de
# andalucía 77", "12 Av | . Paulista 1000"): the stop is the abbreviation's, and the
# street's name follows it.
_ABBREVIATED_STREET = sorted({w.lower() for w in re.findall(r"([^\W\d_]+)\\\.",
                                                             STREET_PREFIX + STREET_FOREIGN)})
_ABBREVIATED_LAST = re.compile(rf"(?:^|(?<=[\s\d]))(?i:{'|'.join(_ABBREVIATED_STREET)})$")
_DOT_NAME = re.compile(r"\.[ \t]+[^\W\d_][\w'’-]*")
_DOT_NUMBER = re.compile(r"\.[ \t]+\d{1,5}[A-Za-z]?(?![\w.,-]*\w)"
                         r"(?=[ \t]*(?:$|[\n,;?!)]|\.(?:\s|$)|[ \t]+(?i:apt|suite|unit)\b))")
_GAP = re.compile(r"^[\s,>]*$")
# What may lead an address before the span a recognizer found: the building number and
# street name of "4417 Kask iela 12 ...", "Brandvik 52 Solberg Heights", or the other
# street of "the corner of X and Y" / "Ines and ul. Lipowa 3" (an intersection).
_WORD_BEFORE = (r"(?:^|(?<=[\s:>(])|(?<=[^\w\s'’.,-]))"
                r"(?P<w>\d{1,6}[A-Za-z]?\.?|[^\W\d_][\w'’.-]*)")
_BACK_WORD = re.compile(_WORD_BEFORE + r"[ \t]+$")
# A unit that starts its line ("...Kask iela 12\n  Apt. 5\n Town"): the street line above
# belongs to the same address.
_UNIT_LINE_START = re.compile(r"(?i:apt|apartment|suite|ste|unit|flat)\b\.?[ \t]*#?[ \t]*\w")
_LINE_ABOVE = re.compile(r"\n[ \t]*(?:[^\w\s]{1,4}[ \t]*)?$")
_LAST_WORD = re.compile(_WORD_BEFORE + r"[ \t,]*$")  # the last word of the line above
# The start of a text or a sentence, and a building number with a street's name after it.
_OPENS_SENTENCE = re.compile(r"(?:^|[.!?][ \t]+)$")
_NUMBER_THEN_NAME = re.compile(r"\d{1,6}[A-Za-z]?[ \t]+[^\W\d_]")
# A street word, or one capital letter abbreviating it in any script ("Ρ. Φεραίου 13").
_PREFIX_WORD = re.compile(rf"(?:{STREET_PREFIX}|(?-i:[{UPPER}])\.)$", re.IGNORECASE)
_CORNER_BEFORE = re.compile(r"(?i:\b(?:the[ \t]+)?corner[ \t]+of[ \t]+)$")
_AND_BEFORE = re.compile(rf"(?:^|(?<=[\s:>]))(?:[{UPPER}][\w'’.-]*[ \t]+){{1,3}}and[ \t]+$")
# A number after a "name" that closes a clause or is followed by a place or a time: a
# house number (a year is none: "Annual Report 2024"). Before a time ("... 70 after the
# concert") only after a name with no given name in it ("Give Anna 5 before lunch").
_NUMBER_AFTER = re.compile(r"[ \t]+(?!(?:19|20)\d\d(?![\dA-Za-z]))\d{1,5}[A-Za-z]?\.?"
                           r"(?:[ \t]+(?i:street|road|avenue|lane)\b)?"
                           r"(?=[ \t]*(?:$|[\n,;?!)]|:(?!\d)|\.(?:\s|$)|[ \t]+(?:in|on|at)\b|"
                           r"[ \t]+(?P<time>after|before|since|until|till|next|last|this|"
                           r"tomorrow|today|tonight)\b))")
# A building number before a "name" that ends its line or is followed by a comma:
# "4410 Brennwald, Oberlinden" is a street, whatever NER said.
_GERMAN_ARTICLES = {"der", "den", "dem", "die", "des"}
_LINE_START = re.compile(r"(?:^|\n)[ \t]*(?:[^\w\s]{1,4}[ \t]*)?$")
_NUMBER_BEFORE = re.compile(r"(?:^|(?<=[\s,:>]))\d{1,6}[A-Za-z]?[ \t]+$")
_LINE_OR_COMMA_AFTER = re.compile(r"[ \t]*(?:$|\n|,)")
# The lower-case words that end an address in a text with capitals, from the first that
# is a function word, a word of time or a field label on: the sentence going on ("... 12
# Main Street | before noon.", "lives on via Garibaldi 12 | in town", "..., Westport, |
# phone (505) ..."), not a town typed in lower case (", springfield il").
_LOWER_TAIL = re.compile(r"(?:[ \t,]+[a-zß-öø-ÿā-ž][\w'’-]*\.?)+[ \t,]*$")
_TAIL_WORD = re.compile(r"[a-zß-öø-ÿā-ž][\w'’-]*")
# A street word or its abbreviation in front of a name NER took for a person, with a house
# number after it: "at Pl. Kowalewski 45 last night", "on Calle Benítez 8 since May"
# (the street words English has too, "via Anna 3 days ago", do not count).
_PREFIX_BEFORE = re.compile(rf"(?<![\w.])(?i:{STREET_FOREIGN}|{STREET_PREFIX}(?<=\w\w\.))[ \t]+$")
_HOUSE_NUMBER = re.compile(rf"[ \t]+(?!{YEAR})\d{{1,5}}[A-Za-z]?(?![\w.,/:-]*\d)(?!%)")
# Function words never taken into an address when growing it backwards.
_NOT_ADDRESS = {
    "a", "an", "the", "and", "or", "but", "at", "in", "on", "to", "of", "for", "from", "with",
    "by", "near", "into", "onto", "via", "off", "is", "are", "was", "were", "be", "been", "it",
    "its", "it's", "i", "i'm", "me", "my", "we", "our", "us", "you", "your", "he", "his",
    "she", "her", "they", "their", "them", "this", "that", "these", "those", "here", "there",
    "address", "lives", "live", "lived", "located", "moved", "sent", "send", "ship", "now",
    "also", "please", "new", "same", "office", "offices", "user", "name", "then", "than",
}
# When, not where: an address ends before these ("... 415 krokhagen 12 | daily").
_WHEN = {"today", "tomorrow", "tonight", "yesterday", "soon", "later", "daily", "weekly",
         "asap", "thanks"}
_NOT_ADDRESS |= _WHEN


def _word_end(text: str, end: int) -> int:
    """A span never stops inside a word ("Rheinland" of "Rheinland-Pfalz")."""
    if end and text[end - 1].isalnum():
        m = _WORD_REST.match(text, end)
        return m.end() if m else end
    return end


def _grow_back(text: str, start: int, lower: bool, block: bool = False,
               vocab: frozenset[str] = frozenset()) -> int:
    """The start of the address whose recognised part starts at ``start``: back over a
    building number and street words on its line (over the line above when the part
    starts with its unit, "Apt. 5"), to a street word ("Pl.", "via" after a number), to
    the other street of an intersection; for a ``block`` of several lines, back to the
    start of its first line over capitalised words. An English word (``vocab``) opening
    the sentence right before a building number is no part of it ("See | 26 Rue ...")."""
    words: list[tuple[int, str]] = []
    pos, most = start, 5
    if _UNIT_LINE_START.match(text, start) and (m := _LINE_ABOVE.search(text, 0, start)):
        pos, most = m.start(), 7
        last = _LAST_WORD.search(text, 0, pos)
        if not last or last.group("w").lower().rstrip(".") in _NOT_ADDRESS:
            most = 0
        else:
            words.append((last.start("w"), last.group("w")))
            pos = last.start("w")
    while len(words) < most and (m := _BACK_WORD.search(text, 0, pos)):
        w = m.group("w")
        if w.lower().rstrip(".") in _NOT_ADDRESS and not (
                _PREFIX_WORD.match(w) and _NUMBER_BEFORE.search(text, 0, m.start())) and not (
                words and (w[0].isupper() or lower)
                and words[-1][1].lower() in _GERMAN_ARTICLES):
            break  # (but "An der | Alster", "In den | Wiesen", "an der | alster", "An Der |
            # Alster": a German street's name)
        if not words and vocab and _NUMBER_THEN_NAME.match(text, start) \
                and _OPENS_SENTENCE.search(text, 0, m.start()) and common_word(w, vocab):
            break  # "See | 26 Rue ...": the sentence's verb, not the street's name
        words.append((m.start(), w))
        pos = m.start()
    if len(words) == most:  # a long street name: on to its street word close by
        more: list[tuple[int, str]] = []
        while len(more) < 2 and (m := _BACK_WORD.search(text, 0, pos)) \
                and m.group("w").lower().rstrip(".") not in _NOT_ADDRESS:
            more.append((m.start(), m.group("w")))
            pos = m.start()
            if _PREFIX_WORD.match(m.group("w")):
                words += more
                break
    while words and not (words[-1][1][0].isdigit() or words[-1][1][0].isupper() or lower):
        words.pop()  # lead with a building number or a capitalised name
    if words and (m := _NUMBER_BEFORE.search(text, 0, words[-1][0])):
        words.append((m.start(), m.group()))  # "in 212 | 33 rue ...", "at 6059 | r nossa ..."
    if block and words and not any(w[0].isdigit() for _, w in words) \
            and _LINE_START.search(text, 0, words[-1][0]) \
            and all(w[0].isupper() or w.lower() in _GERMAN_ARTICLES for _, w in words):
        return words[-1][0]  # the whole first line of a block: "Alt | Moabit 63\n Berlin"
    digit_first = text[start:start + 1].isdigit()
    prefix = [i for i, (_, w) in enumerate(words) if _PREFIX_WORD.match(w)]
    if words and (digit_first or any(w[0].isdigit() for _, w in words)):
        start = words[-1][0]
    elif prefix:
        start = words[prefix[-1]][0]
    while _PARTICLE_FIRST.match(text, start) and (m := _BACK_WORD.search(text, 0, start)):
        w = m.group("w")  # "Ventanilla | de Beas 33", "Avenida | de | la Paz 4"
        if w.lower().rstrip(".") in _NOT_ADDRESS or not (
                w[0].isupper() or lower or _PARTICLE_FIRST.match(w + " ")):
            break
        start = m.start()
    if m := _CORNER_BEFORE.search(text, 0, start):
        return m.start()
    if m := _AND_BEFORE.search(text, 0, start):
        return m.start()
    return start


_NAME_JOIN = re.compile(r"^\s*(?:(?:[A-Z]\.?|van|von|der|den|de|da|di|del|della|du|la|le|ten|"
                        r"ter|bin|ibn|al|el|y)\s+)*$")
# In lower-case prose an initial is lower case too ("yuria t horiguchi"); between two
# found names even "a" or "i" is one ("rosa a lindqvist").
_NAME_JOIN_LOWER = re.compile(r"^\s*(?:(?:[a-z]\.?|van|von|der|den|de|da|di|del|della|"
                              r"du|la|le|ten|ter|bin|ibn|al|el|y)\s+)*$")
# A first name and an initial before a found surname: "marina c goncalves", "Ivo E Moretti".
_NAME_INITIAL_BEFORE = re.compile(r"(?<![\w'’-])(?P<n>[^\W\d_][\w'’-]+)[ \t]+(?![aiAI]\b)"
                                  r"[^\W\d_]\.?[ \t]+$")
# An initial and a surname after a found first name in lower-case prose: "lothair m quirion".
_INITIAL_NAME_AFTER = re.compile(r"[ \t]+(?![ai]\b)[a-z]\.?[ \t]+(?P<n>[^\W\d_][\w'’-]+)")
# The surname after a name that ends in a particle ("Zachary van den | IJssel").
_PARTICLE_END = re.compile(r"(?:^|[ \t])(?:van|von|der|den|de|da|di|del|della|du|la|le|ten|ter|"
                           r"dos|das|do)$")
_SURNAME_AFTER = re.compile(r"[ \t]+(?:IJ|[A-ZÀ-ÖØ-ÞĀ-Ž])[\w'’-]+")
# The particles before a found surname ("the van der | Voet novel", "dos | Santos"); not
# those that are also English or French function words ("do", "le", "la" alone).
_PARTICLES_BEFORE = re.compile(r"(?<![\w'’-])(?:(?:van|von|ten|ter|bin|ibn)(?:[ \t]+(?:der|den|de|"
                               r"het))?|de(?:[ \t]+la)?|da|di|del|della|dos|das|du|al|el)[ \t]+$")
# A name field whose value holds a found name: the whole value is the name
# ("name: fjalar marselíusarson" when NER found only the surname).
_NAME_FIELD = re.compile(r"(?im)^[ \t>*-]*(?:(?:full|first|last|given|family|sur|customer|"
                         r"contact|guest|passenger|holder|account)[ _]?)?name[ \t]*[:=][ \t]*"
                         r"(?P<v>[^\W\d_][\w'’.-]*(?:[ \t]+[^\W\d_][\w'’.-]*){0,3})[ \t]*$")
_LIST_ITEM = r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+"
_NAME_LIST = re.compile(rf"{_LIST_ITEM}(?:,\s*{_LIST_ITEM})+,?\s+(?:and|or|&)\s+{_LIST_ITEM}")
# A plural noun that only people are, shortly before a list: its members are people,
# whatever NER called them ("our three founders: Ines, Costa and Long").
_PEOPLE_BEFORE_LIST = re.compile(
    r"(?i:\b(?:(?:co-?)?founders|authors|co-?authors|speakers|guests|friends|children|kids|"
    r"sons|daughters|siblings|brothers|sisters|colleagues|co-?workers|cousins|grandchildren|"
    r"parents|panell?ists|attendees|teammates|roommates|classmates|neighbou?rs)\b)"
    r"[^.!?\n]{0,24}$")
_LIST_ITEM_LOWER = r"[^\W\d_][\w'’-]+"
_NAME_LIST_LOWER = re.compile(rf"{_LIST_ITEM_LOWER}(?:,\s*{_LIST_ITEM_LOWER})+,?\s+(?:and|or|&)\s+"
                              rf"{_LIST_ITEM_LOWER}")


# A particle and the capitalised surname after a found name: "Anke ten Brink".
_PARTICLE_NAME_AFTER = re.compile(
    r"[ \t]+(?:van|von|der|den|de|da|di|del|della|du|la|le|ten|ter|bin|ibn|al|el|dos|das|do)"
    rf"(?:[ \t]+(?:der|den|la|le|de))?[ \t]+{CAP_NAME}(?![\w'’-])")
# Letters after a name that belong to it: "Ines Moreau MD", "Tom Reyes, Jr.".
_POST_NOMINAL = re.compile(r",?[ \t]+(?:MD|M\.D\.|PhD|Ph\.D\.|DDS|DVM|RN|Esq|Jr|Sr|"
                           r"II|III|IV)(?![\w'’-])")
_AND_NAME_AFTER = re.compile(rf"[ \t]+(?:and|or|&)[ \t]+(?P<n>{CAP_NAME}(?:[ \t]+{CAP_NAME})?)"
                             rf"(?![\w'’-])")
_AND_NAME_BEFORE = re.compile(rf"(?<![\w'’-])(?P<n>{CAP_NAME}(?:[ \t]+{CAP_NAME})?)[ \t]+"
                              rf"(?:and|or|&)[ \t]+$")
_JOINING_WORDS = {"by", "with", "to", "from", "for", "and", "or", "of", "in", "on", "at",
                  "as", "is", "was", "if", "so", "but", "than", "like", "about", "via"}
_NOT_A_NAME_START = {"the", "a", "an", "this", "that", "these", "those", "my", "our", "your",
                     "his", "her", "their", "its", "i", "we", "you", "he", "she", "they",
                     "it", "mr", "mrs", "ms", "dr", "also", "then", "not", "all"}


# The words next to a found name, and what marks the start of a sentence before a word.
_WORD_AFTER_NAME = re.compile(r"[ \t]+(?P<n>[^\W\d_][\w'’-]*)(?![\w'’-])")
_WORD_BEFORE_NAME = re.compile(r"(?:^|(?<=[^\w'’-]))(?P<n>[^\W\d_][\w'’-]*)[ \t]+$")
# Two people a verb of speech or giving links ("said Ines to Tavi", "Ines shouted at
# Tavi", "Ines had given Tavi her keys"): when one is a found name, so is the other.
_NAME_SLOT = r"[^\W\d_][\w'’-]+"
_SPEECH = (r"(?:said|says|asked|replied|shouted|yelled|screamed|whispered|cried|called|"
           r"waved|smiled|nodded|winked|glared|stared|pointed|laughed|spoke|talked)")
_PAIRS = (
    re.compile(rf"\b{_SPEECH}[ \t]+(?P<a>{_NAME_SLOT})[ \t]+(?:to|at)[ \t]+(?P<b>{_NAME_SLOT})"
               r"(?![\w'’-])"),
    re.compile(rf"(?<![\w'’-])(?P<a>{_NAME_SLOT})[ \t]+{_SPEECH}[ \t]+(?:to|at)[ \t]+"
               rf"(?P<b>{_NAME_SLOT})(?![\w'’-])"),
    re.compile(rf"(?<![\w'’-])(?P<a>{_NAME_SLOT})[ \t]+(?:had[ \t]+)?(?:given|gave|handed|"
               rf"showed|shown|sent|promised)[ \t]+(?P<b>{_NAME_SLOT})[ \t]+(?:his|her|their)\b"),
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n\"“”(\[«»>*#|•-])[ \t]*$")
_LINE_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def _headline(text: str, pos: int) -> bool:
    """The line holding ``pos`` is a title-case headline ("Anna Wins Gold At Home"):
    there a capital letter says nothing about names. (A short line of capitalised words
    is more often a name line of an address or a signature.)"""
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    words = _LINE_WORD.findall(text, a, len(text) if b < 0 else b)
    return len(words) >= 4 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


# A line that holds nothing but a name ("Even Olsen" heading a letter or an address).
_LINE_BEFORE = re.compile(r"(?:^|\n)[ \t>*•-]*$")
_LINE_AFTER = re.compile(r"[ \t]*(?:\n|$)")


def _name_line(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` is the whole of its line (list marks and a quote mark aside):
    there a capitalised word beside a found name is the rest of it even where a sentence
    would start ("Muslim | Ignatieff" alone on the line above a town)."""
    return bool(_LINE_BEFORE.search(text, max(0, start - 8), start)) \
        and bool(_LINE_AFTER.match(text, end))


def _name_neighbours(text: str, s: Span, others: Sequence[Span]) -> list[Span]:
    """The found name ``s`` grown over a title-case word right before or after it in the
    middle of a sentence ("The Drew Graham version" when NER found only "Graham", "a
    Homer Walker fan" when it found "Homer"): capitals there mark a name, as long as the
    word is no function word, title or company word (:func:`name_neighbour`) and no
    place, organisation or date found apart from the name (a guessed place does not
    count: NER calls many unfamiliar given names places)."""
    def apart(a: int, b: int) -> bool:
        return not any(o.start < b and a < o.end and not (o.start < s.end and s.start < o.end)
                       and not o.guess for o in others)

    out = []
    if not (text[s.start].isalpha() and text[s.end - 1].isalpha()):
        return []  # a "name" with a table border or a quote in it ("Ana Lima  |")
    before = _WORD_BEFORE_NAME.search(text, max(0, s.start - 40), s.start)
    if before and name_neighbour(before.group("n")) and apart(*before.span("n")) and (
            not _SENTENCE_START.search(text, max(0, before.start() - 8), before.start())
            or given_name(before.group("n")) or foreign_letters(before.group("n"))
            or _name_line(text, before.start("n"), s.end)):
        out.append(Span(before.start("n"), s.end, "PERSON", s.score))
    after = _WORD_AFTER_NAME.match(text, s.end)
    if after and name_neighbour(after.group("n")) and apart(*after.span("n")):
        out.append(Span(s.start, after.end("n"), "PERSON", s.score))
    return out if out and not _headline(text, s.start) else []


# Past forms of common English verbs that a dictionary lists only by the verb ("gave" for
# "give"); regular ones ("called") are told by their ending.
_IRREGULAR_PAST = frozenset(
    "ate began bit blew bought brought built came caught chose dealt did drank drew drove "
    "fed fell felt fled flew forgot fought found gave got grew had heard held hid hit hurt "
    "kept knew laid leant led left lent let lit lost made meant met paid put quit ran rang "
    "read rode rose said sang sat saw sent set shook shot shut slept sold sought spent spoke "
    "stood stole struck swam swore taught thought threw told took tore understood went wept "
    "woke wore wrote".split())


def _unknown_word(word: str, words: frozenset[str]) -> bool:
    """A name word (:func:`name_word`) of three letters or more that no English dictionary
    (``words``) knows and no software is named by: "ballesteros", "brkić" (not "version",
    "gave", "i'm", "plc", "pandas")."""
    w = word.lower()
    return len(word) >= 3 and bool(words) and name_word(word) and not common_word(word, words) \
        and w not in tech_names() | CALENDAR_WORDS | _JOINING_WORDS | _IRREGULAR_PAST \
        and not inflected_english(word, words)  # "called", "planned", "sitting"


def _mostly_english(text: str, words: frozenset[str]) -> bool:
    """Most words of ``text`` are English (dictionary or function words): only there does
    a word no dictionary knows stand out as a name."""
    seen = _LINE_WORD.findall(text)
    return bool(words) and sum(common_word(w, words) for w in seen) >= len(seen) / 2


def _unknown_neighbours(text: str, s: Span, words: frozenset[str]) -> list[Span]:
    """In English lower-case prose, the found name ``s`` grown over the word right before
    and the word right after it when no dictionary knows them and no software is named by
    them (:func:`_unknown_word`): the rest of a name NER or a rule found part of
    ("arquímedes | ballesteros", "timur | lengyel", "dr. saber | daviau")."""
    out = []
    before = _WORD_BEFORE_NAME.search(text, max(0, s.start - 40), s.start)
    if before and _unknown_word(before.group("n"), words):
        out.append(Span(before.start("n"), s.end, "PERSON", s.score))
    after = _WORD_AFTER_NAME.match(text, s.end)
    if after and _unknown_word(after.group("n"), words):
        out.append(Span(s.start, after.end("n"), "PERSON", s.score))
    return out


def people(text: str, spans: list[Span], others: Sequence[Span] = (),
           words: frozenset[str] = frozenset()) -> list[Span]:
    """Join a name broken by an initial or a particle ('Ines P Moreau', 'Anna van Berg', 'rosa
    a lindqvist'), grow a found name over the particles before it ('van der Voet'), a
    neighbouring title-case word (:func:`_name_neighbours`) and, in lower-case prose, a
    given name before it ('maria okonjo') or, in English lower-case prose, a word no
    dictionary knows on either side (:func:`_unknown_neighbours`); call every member of a
    list a person when two of its members are people, or one is and every other is a
    possible name word with no organisation or place in the list or after a noun only people
    are ("our founders: Ines, Costa and Long", in any case); call the capitalised name
    joined to a person by "and" ("Okafor and Lindqvist") a person too (not an abstract noun,
    ``words`` being the English vocabulary: "Dev & Integration"), and the other of two
    one-word names a verb of speech or giving links ("said Ines to Tavi", "Ines shouted at
    Tavi")."""
    extra: list[Span] = []
    lower = lower_case_prose(text)
    english: bool | None = None  # whether lower-case prose is English: asked once, if need be
    for m in (_NAME_LIST_LOWER if lower else _NAME_LIST).finditer(text):
        items = [(i.start(), i.end()) for i in re.finditer(_LIST_ITEM_LOWER, m.group())
                 if i.group() not in ("and", "or")]
        hits = [s for s in spans if s.entity == "PERSON" and m.start() <= s.start < m.end()]
        members = [m.group()[a:b] for a, b in items]
        if len(hits) >= 2 or (hits and not lower and all(  # "our founders: Ines, Hall and White"
                name_neighbour(w) for w in members) and not any(
                o.start < m.end() and m.start() < o.end and not o.guess for o in others)) or (
                hits and all(name_word(w) and w.lower() not in tech_names() for w in members)
                and _PEOPLE_BEFORE_LIST.search(text, max(0, m.start() - 60), m.start())):
            extra += [Span(m.start() + a, m.start() + b, "PERSON", 0.5) for a, b in items]
    for s in spans:  # "Okafor and Lindqvist": the other of two people joined by "and"
        if s.entity != "PERSON":
            continue
        if not lower:
            extra += _name_neighbours(text, s, others)
        for grow in (_PARTICLE_NAME_AFTER, _POST_NOMINAL):
            if tail := grow.match(text, s.end):  # "Anke ten Brink", "... MD"
                extra.append(Span(s.start, tail.end(), "PERSON", s.score))
        if lower and (tail := _INITIAL_NAME_AFTER.match(text, s.end)) \
                and tail.group("n").lower() not in _NOT_A_NAME_START | _JOINING_WORDS:
            extra.append(Span(s.start, tail.end(), "PERSON", s.score))
        if text[s.start].isupper() and (head := _PARTICLES_BEFORE.search(
                text, max(0, s.start - 16), s.start)):  # "van der | Voet"
            extra.append(Span(head.start(), s.end, "PERSON", s.score))
        if lower and (head := _WORD_BEFORE_NAME.search(text, max(0, s.start - 40), s.start)) \
                and given_name(head.group("n")) \
                and head.group("n") not in _NOT_A_NAME_START | _JOINING_WORDS:
            extra.append(Span(head.start("n"), s.end, "PERSON", s.score))  # "aino | kask"
        if lower and english is None:
            english = _mostly_english(text, words)
        if english:
            extra += _unknown_neighbours(text, s, words)
        if _PARTICLE_END.search(text, s.start, s.end) and (
                tail := _SURNAME_AFTER.match(text, s.end)):
            extra.append(Span(s.start, tail.end(), "PERSON", s.score))
        head = _NAME_INITIAL_BEFORE.search(text, 0, s.start)
        if head and head.group("n").lower() not in _NOT_A_NAME_START | _JOINING_WORDS \
                and (lower or head.group("n")[0].isupper()):
            extra.append(Span(head.start("n"), s.end, "PERSON", s.score))
        for joined in (_AND_NAME_AFTER.match(text, s.end),
                       _AND_NAME_BEFORE.search(text, 0, s.start)):
            first = re.split(r"['’]", joined.group("n").split()[0].lower())[0] if joined else ""
            if joined and first not in _NOT_A_NAME_START \
                    and not term_phrase(joined.group("n").split(), words):
                # ("Ines and I'd like": "i"; "Dev & Integration": a menu entry)
                extra.append(Span(joined.start("n"), joined.end("n"), "PERSON", 0.5))
    for pair in _PAIRS:
        for m in pair.finditer(text):
            slots = [m.span("a"), m.span("b")]
            named = [any(s.entity == "PERSON" and s.start <= a and b <= s.end for s in spans)
                     for a, b in slots]
            for (a, b), is_named, other in zip(slots, named, named[::-1], strict=True):
                word = text[a:b]
                if other and not is_named and name_word(word) \
                        and (lower or word[0].isupper()):
                    extra.append(Span(a, b, "PERSON", 0.5))
    for m in _NAME_FIELD.finditer(text):
        a, b = m.span("v")
        if not {w.lower() for w in m.group("v").split()} & (_JOINING_WORDS | _NOT_A_NAME_START) \
                and any(s.entity == "PERSON" and a <= s.start and s.end <= b for s in spans):
            extra.append(Span(a, b, "PERSON", 0.6))
    out = merge([*spans, *extra]) if extra else spans
    out = [Span(s.start, _word_end(text, s.end), s.entity, s.score) if s.entity == "PERSON"
           else s for s in out]
    join = _NAME_JOIN_LOWER if lower else _NAME_JOIN
    return _join(text, out, lambda a, b, gap: "PERSON" if a.entity == "PERSON" == b.entity
                 and join.match(gap) and "\n" not in gap else None)


def _join(text: str, spans: list[Span],
          joins: Callable[[Span, Span, str], str | None]) -> list[Span]:
    """Join each span with the previous one when ``joins(prev, span, gap)`` names the
    entity type of the joined span."""
    joined: list[Span] = []
    for s in spans:
        entity = joins(joined[-1], s, text[joined[-1].end:s.start]) if joined else None
        if entity is not None:
            last = joined[-1]
            joined[-1] = Span(last.start, s.end, entity, max(last.score, s.score))
        else:
            joined.append(s)
    return joined


# A line of a postal address block: short, no label, mail address, question or sentence;
# after a quote or list marker ("> ", "* ", "| ") when the block is quoted or a list.
_LINE_MARK = r"[ \t]*(?:[^\w\s]{1,4}[ \t]*)?"  # blanks and a quote or list marker
_NEXT_LINE = r"[ \t]*\n" + _LINE_MARK
_BLOCK_LINE = re.compile(_NEXT_LINE + r"(?P<line>(?=[^\n]*[^\W_])"
                         r"(?![^\n]*(?:[:@?!]|\.\s))[^\n]{1,40}?)[ \t]*(?=\n|$)")
# A few words after a comma, a spaced dash ("Arroyo Seco - Tres Pinos") or blank; a word
# may hold a full stop only at a line's end.
_FEW_WORDS = (r"[ \t]*(?:,|[-–](?=[ \t]))?[ \t]*"
              r"(?P<rest>(?:\(?[^\W_][\w'’{dot}-]*\)?[ \t]*,?[ \t]*){{1,3}}?)[ \t]*")
_REST_OF_LINE = re.compile(_FEW_WORDS.format(dot=".") + r"(?=\n|$)")
# The same at the end of a sentence ("... Linwood, WA 25130. I moved"), and the last line
# of a block that ends one ("\n Norway 25130?"): taken only when it reads as an address
# (:func:`_address_words`), not as the rest of the sentence.
_REST_OF_SENTENCE = re.compile(_FEW_WORDS.format(dot="") + r"(?=[.?!]+(?:\s|$))")
_LAST_BLOCK_LINE = re.compile(_NEXT_LINE + r"(?P<line>[^\W_][^\n:@?!.]{0,39}?)[ \t]*"
                              r"(?=[.?!]+[ \t]*(?:\n|$))")


def _before_sentence_word(part: str) -> str:
    """``part`` up to its first lower-case function word, where the sentence goes on
    ("IL 62704 | before Monday"), without the blanks and commas before it."""
    for w in re.finditer(r"\S+", part):
        if w.group()[0].islower() and sentence_word(w.group().rstrip(".,")):
            return part[:w.start()].rstrip(" \t,")
    return part


def _address_words(part: str) -> bool:
    """Words that can end an address: each a number or capitalised (a town, region,
    country or postal code), but for one lower-case word (a region written in lower
    case, or what a form printed for an empty field), with at least one number or
    capital letter and no function word ("and call me", "before Friday" are the sentence
    going on)."""
    words = part.replace(",", " ").split()
    return bool(words) and any(c.isdigit() or c.isupper() for c in part) \
        and sum(not (w[0].isdigit() or w[0].isupper() or w[0] == "(") for w in words) <= 1 \
        and not any(w.lower() in _NOT_ADDRESS or (w[0].islower() and sentence_word(w))
                    for w in words)


def _block_end(text: str, end: int) -> int:
    """The end of the address block an address ending at ``end`` belongs to: the rest of
    its line when that is a few words (", nan 18237") or, before the end of a sentence,
    a few address words; then each following line while it is short and looks like an
    address line (town, region, country, postal code), up to a blank line, the last of
    which may end its sentence; at most four lines."""
    if (m := _REST_OF_LINE.match(text, end)) and m.group("rest").strip(" ,") \
            and (rest := _before_sentence_word(m.group("rest"))) \
            and not any(w.lower().strip(".,") in _NOT_ADDRESS for w in rest.split()) \
            and (rest == m.group("rest") or _address_words(rest)):
        end = m.start("rest") + len(rest)  # ", nan 18237"; "... Évora (Portugal) | last night"
    elif (m := _REST_OF_SENTENCE.match(text, end)) and _address_words(m.group("rest")):
        end = m.end("rest")
    for _ in range(4):
        if text[end:end + 1] not in ("", "\n", " ", "\t", ","):
            break
        m = _BLOCK_LINE.match(text, end)
        if not m or len(m.group("line").split()) > 5:
            if (m := _LAST_BLOCK_LINE.match(text, end)) and _address_words(m.group("line")):
                end = m.end("line")
            break
        end = m.end("line")
    return end


# Found spans an address block does not grow into: the phone line after a block is a phone.
_CONTACTS = frozenset({"PHONE_NUMBER", "EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
                       "IP_ADDRESS"})


def _goes_on(word: str) -> bool:
    """A lower-case word after an address that is the sentence going on: a function word
    (of more than two letters, or one of :data:`_NOT_ADDRESS`), a word of time or a field
    label."""
    w = word.lower().rstrip(".")
    return w in _NOT_ADDRESS or w in CALENDAR_WORDS or field_label(w) or (
        len(w) > 2 and w in stop_words())


def _place_word(word: str, words: frozenset[str]) -> bool:
    """A lower-case word of three letters or more that can be part of a place's name:
    no English word (given a vocabulary to tell), no software word, and not the sentence
    going on (:func:`_goes_on`)."""
    w = word.lower()
    return bool(words) and not _goes_on(w) and not ordinary_word(w, words) \
        and w not in tech_names()


def _sentence_tail(text: str, start: int, end: int) -> int:
    """The end of the address ``text[start:end]`` without the sentence that goes on after
    it in lower-case words (:data:`_LOWER_TAIL`)."""
    if not (m := _LOWER_TAIL.search(text, start, end)):
        return end
    for w in _TAIL_WORD.finditer(text, m.start(), end):
        if _goes_on(w.group()):
            cut = w.start()
            break
    else:
        return end
    cut = start + len(text[start:cut].rstrip(" \t,"))
    return cut if any(c.isalnum() for c in text[start:cut]) else end


def _next_contact(spans: list[Span], pos: int) -> int:
    """The start of the first contact detail found at or after ``pos`` (or no limit)."""
    return min((s.start for s in spans if s.start >= pos and s.entity in _CONTACTS),
               default=1 << 62)


def address_blocks(text: str, spans: list[Span], words: frozenset[str] = frozenset()
                   ) -> list[Span]:
    """Grow street-address spans into the whole address block (backwards over the street
    name and building number, forwards over town, state, country and postal code), and
    join a street-address span with a neighbour that only whitespace or a comma separates
    from it. ``words`` (the English vocabulary) tells a town's lower-case word from the
    sentence going on."""
    lower = lower_case_prose(text)
    out: list[Span] = []
    for s in spans:
        after = _NUMBER_AFTER.match(text, s.end) if s.entity == "PERSON" else None
        if after and after.group("time") and any(given_name(w) for w in
                                                 text[s.start:s.end].split()):
            after = None
        if s.entity == "PERSON" and (any(c.isdigit() for c in text[s.start:s.end])
                                     or after
                                     or _CORNER_BEFORE.search(text, 0, s.start)
                                     or (_NUMBER_BEFORE.search(text, max(0, s.start - 12),
                                                               s.start)
                                         and _LINE_OR_COMMA_AFTER.match(text, s.end))
                                     or (_PREFIX_BEFORE.search(text, max(0, s.start - 12),
                                                               s.start)
                                         and _HOUSE_NUMBER.match(text, s.end))):
            # NER's "name" with a number ("Pod Lipami 12"), at a corner or after a street
            # word: a street
            m = after or _HOUSE_NUMBER.match(text, s.end)
            s = Span(s.start, m.end() if m else s.end, "STREET_ADDRESS", s.score)
        if s.entity != "STREET_ADDRESS":
            out.append(s)
            continue
        end = _word_end(text, s.end)
        if _SENTENCE_END.search(text, s.start, end) and _NEXT_SENTENCE.match(text, end):
            out.append(Span(s.start, end - 1, s.entity, s.score))
            continue  # "... Harbour Road, Westport. | New job starts Monday."
        if _PARTICLE_LAST.search(text, s.start, end) and (m := _NEXT_WORD.match(text, end)):
            end = m.end()
        elif _ABBREVIATED_LAST.search(text, s.start, end) and (m := _DOT_NAME.match(text, end)):
            end = m.end()
        elif _ABBREVIATION_LAST.search(text, s.start, end) and (
                m := _DOT_NUMBER.match(text, end)):
            end = m.end()
        for _ in range(12):
            if not lower and (m := _LOWER_TO_POSTCODE.match(text, end)) \
                    and m.end() <= _next_contact(spans, end) and not any(
                    w.lower() in _NOT_ADDRESS or (len(w) > 2 and w.lower() in stop_words())
                    or w.lower().rstrip(".") in CALENDAR_WORDS
                    for w in m.group("words").replace(",", " ").split()):  # ("il", "ca")
                end = m.end()
                continue
            if lower and (m := _STATE_ZIP_LOWER.match(text, end)):
                end = m.end()
                break
            m = (_CONTINUE_LOWER if lower else _CONTINUE).match(text, end)
            if not m and not lower and _CAPITALISED_LAST.search(text, s.start, end) and (
                    (w := _REGION_WORD.match(text, end)) or (
                        (w := _LOWER_PLACE_WORD.match(text, end))
                        and _place_word(w.group("seg"), words))):
                end = w.end("seg")  # "..., Novo | mesto", "Plzeňský | kraj for"
                continue
            if not m or m.group("seg").lower() in _WHEN or (
                    lower and m.group("seg").lower() in stop_words()
                    and not _LOWER_PARTICLE.fullmatch(m.group("seg"))):
                break  # "... 85 st. | in the mornings"
            end = m.end("seg")
        end = _block_end(text, end)
        if (stop := _next_contact(spans, s.end)) < end:  # "... 01095 | 0326 8718292 office"
            end = s.end + len(text[s.end:stop].rstrip(" \t\n,"))
        if not lower:
            end = _sentence_tail(text, s.start, end)
        if _SENTENCE_END.search(text, s.start, end):
            end -= 1  # "..., Poland|." ends the sentence, not the address
        out.append(Span(s.start, end, s.entity, s.score))
    joined = _join(text, merge(out), lambda a, b, gap: "STREET_ADDRESS"
                   if "STREET_ADDRESS" in (a.entity, b.entity) and _GAP.match(gap)
                   and not ("\n" in gap and _CONTACTS & {a.entity, b.entity})
                   and "\n\n" not in gap else None)
    grown = [Span(_grow_back(text, s.start, lower, "\n" in text[s.start:s.end].strip(), words),
                  s.end, s.entity, s.score)
             if s.entity == "STREET_ADDRESS" else s for s in joined]
    return block_heads(text, company_lines(text, merge(grown) if grown != joined else joined),
                       words)


_LINE_MARK_RE = re.compile(_LINE_MARK)


def _line_of(text: str, pos: int) -> tuple[int, int]:
    """The content of the line holding ``pos``: after its quote or list marker, without
    trailing blanks."""
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    b = len(text) if b < 0 else b
    a = _LINE_MARK_RE.match(text, a, b).end()  # type: ignore[union-attr]
    while b > a and text[b - 1] in " \t":
        b -= 1
    return a, b


def company_lines(text: str, spans: list[Span]) -> list[Span]:
    """Drop a "person" that is one word alone on the line under a full name, above a
    street address or the same name again: the company line of a postal address or a
    signature ("Ines Moreau\nQuillbase\n12 Harbour Lane"). A given name stays a name."""
    whole = {_line_of(text, s.start): s for s in spans
             if (s.start, s.end) == _line_of(text, s.start)}
    out = []
    for s in spans:
        line_start = text.rfind("\n", 0, s.start) + 1
        next_start = text.find("\n", s.end) + 1
        if s.entity == "PERSON" and line_start and next_start and text[s.start:s.end].isalpha() \
                and (s.start, s.end) == _line_of(text, s.start) \
                and not given_name(text[s.start:s.end]):
            above = whole.get(_line_of(text, line_start - 1))
            nxt_a, nxt_b = _line_of(text, next_start)
            below = [t for t in spans if nxt_a <= t.start < nxt_b]
            name = text[above.start:above.end] if above and above.entity == "PERSON" else ""
            if " " in name and below and (below[0].entity == "STREET_ADDRESS"
                                          or text[below[0].start:below[0].end] == name):
                continue
        out.append(s)
    return out


# The line of two or three title-case words (a middle initial aside) that may head an
# address block as its addressee.
_HEAD_LINE = re.compile(rf"(?P<v>{CAP_NAME}(?:[ \t]+(?:[A-Z]\.?|{CAP_NAME})){{1,2}})")


def block_heads(text: str, spans: list[Span], words: frozenset[str]) -> list[Span]:
    """Call a person the line of two or three name words at most two lines above the
    line a street address starts (a company line between, blank lines skipped): the
    addressee ("Orvelle Tarvonen\nQuillbase\n0640 Ostbyheim 50"). One of its words is a
    given name or no English word; none is software, an organisation, street, title or
    calendar word (:func:`name_neighbour`): "Head Office\n12 Harbour Lane" stays."""
    if not words:
        return spans
    extra = []
    for s in spans:
        a, _ = _line_of(text, s.start)
        if s.entity != "STREET_ADDRESS" or a != s.start or not (pos := a):
            continue
        seen = 0
        while seen < 2 and (pos := text.rfind("\n", 0, pos)) > 0:
            b_a, b_b = _line_of(text, pos - 1)
            if b_a == b_b:
                continue  # a blank line
            seen += 1
            m = _HEAD_LINE.fullmatch(text, b_a, b_b)
            names = m.group("v").split() if m else []
            if m and all(len(w.rstrip(".")) == 1 or name_neighbour(w) and w.lower()
                         not in tech_names() for w in names) and any(
                    not ordinary_word(w, words) for w in names if len(w) > 2):
                extra.append(Span(b_a, b_b, "PERSON", 0.5))
                break
            pos = b_a
    return merge([*spans, *extra]) if extra else spans


def grow(text: str, spans: list[Span], others: Sequence[Span],
         words: frozenset[str] = frozenset()) -> list[Span]:
    """The found ``spans`` of ``text`` grown into whole names (:func:`people`, with the
    report-only ``others``) and whole address blocks (:func:`address_blocks`). Growing
    reads the visible text, as detection does: an invisible character glued to a word
    ("52 \ufeffKučera Mall") neither stops a block nor starts a name."""
    shown, kept = visible(text)

    def there(found: Iterable[Span]) -> list[Span]:
        moved = [Span(*to_visible(kept, s.start, s.end), s.entity, s.score, s.guess)
                 for s in found]
        return [s for s in moved if s.start < s.end]

    grown = address_blocks(shown, people(shown, merge(there(spans)), there(others), words),
                           words)
    return grown if kept is None else [
        Span(*in_original(kept, s.start, s.end), s.entity, s.score, s.guess) for s in grown]
