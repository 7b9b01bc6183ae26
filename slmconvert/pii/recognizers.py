"""Our own recognizers, for the places where Presidio's defaults are weak.

Each rule is a compiled pattern plus an optional validator (Luhn, mod-97, a real IP
address, enough entropy) and optional context words that raise its score. A named
group ``v`` marks the part of the match to report, so a rule can require context
("date of birth: ...") without scrubbing the context itself. Rules are plain Python
and testable without Presidio; :func:`presidio_recognizer` adapts them to Presidio's
``EntityRecognizer`` interface so the analyzer merges them with its own results.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from slmconvert.core.text import EMAIL_RE
from slmconvert.errors import ConfigError, did_you_mean
from slmconvert.pii import particles

CONTEXT_WINDOW = 48  # characters before a match searched for context words


@dataclass(frozen=True)
class Rule:
    name: str
    entity: str
    pattern: re.Pattern[str]
    score: float
    validate: Callable[[str], bool] | None = None
    context: tuple[str, ...] = ()
    context_score: float = 0.0
    description: str = ""
    lower_text_only: bool = False  # only in a text with no capital letter at all
    # A group whose words must be unknown to English: no function word, no software name
    # and, given a vocabulary, no dictionary word ("in tarvola 4410", not "in batches 4000").
    unknown: str = ""
    # A group whose words must be no English function word ("Tampere 33100", not "is 37170").
    plain: str = ""
    # A group that names no software, format or standard ("in UTC ISO 8601", "PEP 3100").
    not_software: str = ""
    # A check that needs the vocabulary: (value, words) -> whether to keep the value.
    validate_words: Callable[[str, frozenset[str]], bool] | None = None

    def find(self, text: str, words: frozenset[str] = frozenset()
             ) -> Iterator[tuple[int, int, float]]:
        if self.lower_text_only and (any(c.isupper() for c in text) or caseless_script(text)):
            return
        has_v = "v" in self.pattern.groupindex
        for m in self.pattern.finditer(text):
            start, end = m.span("v") if has_v and m.group("v") is not None else m.span()
            value = text[start:end]
            if not value.strip() or (self.validate and not self.validate(value)):
                continue
            if self.unknown and any(known_word(w, words)
                                    for w in _outside_particles(m.group(self.unknown))
                                    for w in [w.strip("()")]):
                continue
            if self.plain and any(w.lower() in stop_words() for w in m.group(self.plain).split()):
                continue
            if self.not_software and any(w.lower() in tech_names()
                                         for w in m.group(self.not_software).split()):
                continue
            if self.validate_words and not self.validate_words(value, words):
                continue
            score = self.score
            if self.context and _context_near(text, start, self.context):
                score = max(score, self.context_score)
            yield start, end, score


def _outside_particles(value: str) -> list[str]:
    """The words of ``value`` but a particle between two of them ("Treinta | y | Tres")."""
    ws = value.split()
    return [w for i, w in enumerate(ws) if not (0 < i < len(ws) - 1 and w in particles.STREET)]


def _context_near(text: str, start: int, words: Sequence[str]) -> bool:
    before = text[max(0, start - CONTEXT_WINDOW):start].lower()
    return any(w in before for w in words)


# ------------------------------------------------------------------ validators ----

def luhn_ok(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    if not 12 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return total % 10 == 0


def iban_ok(value: str) -> bool:
    s = re.sub(r"\s", "", value).upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def ip_ok(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def ssn_ok(value: str) -> bool:
    area, group, serial = re.split(r"[- ]", value)
    return area not in ("000", "666") and not area.startswith("9") and group != "00" \
        and serial != "0000"


_DATE_LIKE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|"
                        r"\d{1,2}:\d{2}(?::\d{2})?)$")


_DATE_START = re.compile(r"\s*\d{4}-\d{1,2}-\d{1,2}(?!\d)")  # "2006-04-07 09": a timestamp
# "2023-2024", "1998 - 2001": a span of years, up to ten, no phone
_YEARS = re.compile(r"\s*((?:19|20)\d\d)[ \t]?[-–/][ \t]?((?:19|20)\d\d)\s*")


def year_span(value: str) -> bool:
    m = _YEARS.fullmatch(value)
    return m is not None and 0 < int(m[2]) - int(m[1]) <= 10


_DECIMAL = re.compile(r"\d+\.\d+")  # "46.603354": a coordinate or a measure, not a phone


def phone_span_ok(text: str, start: int, end: int) -> bool:
    """A phone number any recognizer found is no decimal and no fraction of one: not
    "46.603354" or " -112.8984375", nor the "384662" of "07:00:02.384662"; no span of
    years ("2023-2024") and no version in a slug ("4-5-20251001" of "model-4-5-20251001")."""
    return not (_DECIMAL.fullmatch(text[start:end].strip().lstrip("+-"))
                or year_span(text[start:end])
                or (start >= 2 and text[start - 1] == "-" and text[start - 2].isalpha())
                or (start >= 2 and text[start - 1] in ".:" and text[start - 2].isdigit()))


def phone_ok(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    if not 7 <= digits <= 15 or _DATE_LIKE.match(value.strip()) or _DATE_START.match(value) \
            or _DECIMAL.fullmatch(value.strip()):
        return False
    return not ip_ok(value.strip())


def shannon(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


# What providers and the web prefix to ids, digests and files that are no secrets: tool
# call, message and completion ids ("call_", "toolu_", "chatcmpl-"), subresource integrity
# digests ("sha256-"), and base64 files by their magic bytes (PNG, JPEG, GIF, PDF).
_NOT_SECRET_PREFIX = re.compile(
    r"(?:call|toolu|tooluse|chatcmpl|msg|req|resp|run|thread|asst|file|batch|step|ftjob|"
    r"sha256|sha384|sha512)[_-]|iVBORw0KGgo|/9j/|R0lGOD|JVBERi0")


def secret_ok(value: str) -> bool:
    """High entropy, mixed character classes, and not an ordinary identifier shape."""
    if re.fullmatch(r"[0-9a-fA-F-]+", value):  # hashes, UUIDs, hex ids: not secrets
        return False
    if _NOT_SECRET_PREFIX.match(value):
        return False
    if not (re.search(r"\d", value) and re.search(r"[a-z]", value) and re.search(r"[A-Z]", value)):
        return False
    if re.fullmatch(r"[A-Za-z]+(?:[_-][A-Za-z0-9]+)*", value) and value.count("_") + \
            value.count("-") >= 2:  # snake_case / kebab-case names
        return False
    return shannon(value) >= 4.0


# The words of an identifier, a file name or a path: "Test|Open|AIGPT|Mini", "what-are".
_CODE_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def spelled_in_words(value: str, words: frozenset[str]) -> bool:
    """Most letters of ``value`` spell English words of three letters or more: the name
    of a class, a test or a page in code or a URL ("TestOpenAIGPT4MiniIntegration",
    "uploads/2025/07/What-Are-AI-Agents"), not a secret, whatever its entropy."""
    return sum(len(w) for w in _CODE_WORD.findall(value) if len(w) >= 3 and (
        common_word(w, words))) \
        >= 0.6 * sum(c.isalpha() for c in value)


# -------------------------------------------------------------------- patterns ----

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_DATE = (rf"(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|"
         rf"{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|"
         rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+\d{{4}})")

_STREET_TYPES = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Square|Sq|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Way|Circle|Cir|Trail|Trl|Crescent|Cres|"
    r"Close|Grove|Gardens|Row|Hill|Walk|Mews|Alley|Path|Pike|Plaza|Loop|Run|Crossing|Point|"
    r"Park|Green|Vale|View|Rise|Wharf|Quay|Parade|Esplanade|Embankment|Causeway|Broadway|"
    r"Turnpike|Expressway|Freeway|Ridge|Heights|Meadow|Meadows|Estates|Junction|Landing|"
    r"Bypass|Route|Rte|Hollow|Brook|Creek|Station|Manor|Village|Commons|Center|Centre)"
)
# Street words that are written as a suffix of the name in many European languages
# (Rantakatu, Lindenweg, Parklaan, Lindenstrasse, Strandvej ...). Not the Hungarian "út"
# and "u.", words of their own there ("Váci út", "Király u. 15", :data:`_STREET_AFTER`)
# and the end of many words elsewhere ("10 phút" is ten minutes in Vietnamese, "Mr Wu. 2
# days later").
_STREET_SUFFIX = (
    r"(?:katu|kuja|tie|polku|kaari|gatan|gata|vägen|vagen|väg|gränd|gade|vej|vei|veien|gaten|"
    r"weg|straße|strasse|str\.|gasse|allee|platz|ring|damm|ufer|laan|straat|plein|kade|dijk|"
    r"gracht|steeg|singel|utca|tér|iela|gatve|tänav|ulica|ulice|cesta|sokak|sokağı|caddesi|"
    r"odos|vegur|gate|gt\.|stræde|torv|plads|vegen|terrasse|bulevardi|väylä|rinne|mäki|ranta|"
    r"utca|útja|rkp\.|krt\.)"
)
# Street words written as a separate word after the name ("Király u. 15", "hegyalja út 98",
# "Kask iela 14"), where the name itself may be lower-case.
_STREET_AFTER = (r"(?:u\.|utca|út|útja|tér|iela|gatve|tänav|sokak|caddesi|odos|str\.?|gate|gata|"
                 r"ulica|cesta|gatan|vei|veg|vegen|veien|vej|gade|allé|terrasse|plass|torg|stræde|straße|"
                 r"strasse|weg|laan|straat|rakpart|rkp\.|körút|krt\.|fasor|köz|sétány|kapu|"
                 r"põik|puiestee|pst\.|maantee|mnt\.|"
                 # Basque, Lithuanian, Czech and Slovak: "Boriñaur enparantza 29"
                 r"kalea|etorbidea|hiribidea|enparantza|pasealekua|bidea|gatvė|prospektas|"
                 r"alėja|náměstí|nábřeží|třída|námestie|nábrežie|trieda)")
_SUFFIXED = rf"(?:['’]s-)?[^\W\d_][\w'’-]*?(?i:{_STREET_SUFFIX})"  # (Dutch "'s-Gravenweg")
_ENDS_LIKE_A_STREET = re.compile(_SUFFIXED)
_STREET_WORD = re.compile(rf"(?i:{_STREET_SUFFIX})")


def _english_before_tee(value_words: list[str], words: frozenset[str]) -> bool:
    """Estonian "tee" (road) after an English word is the English one: "Golf tee 3"."""
    return any(w == "tee" and i and ordinary_word(value_words[i - 1], words)
               for i, w in enumerate(value_words))


def _english_ending_like_a_street(word: str, words: frozenset[str]) -> bool:
    """A function word that ends like a street ("During", "you."), or an English word that
    does in lower case ("delegate"); not the street word on its own ("Ring", "Strasse") nor
    a capitalised word, which may name a street ("Lothair Spring")."""
    if not _ENDS_LIKE_A_STREET.fullmatch(word) or _STREET_WORD.fullmatch(word):
        return False
    bare = word.rstrip(".")
    return bare.lower() in stop_words() or (bare.islower() and ordinary_word(bare, words))

# Prepositions between "address" and its value ("address with 4 ...", "address to 9 ..."):
# read before the value, never a word of it.
_ADDRESS_PREPOSITIONS = "to|with|for|from|in|at|on|of|by|as|near"

STREET_PREFIX = (
    r"(?:Rua|Rúa|R\.|C/|Via|Viale|Vicolo|Corso|Piazza|Piazzale|Largo|Strada|Rue|Avenue|Boulevard|Bd|"
    r"Chemin|Allée|Impasse|Place|Quai|Cours|Route|Calle|Carrer|Avenida|Av\.|Paseo|Plaza|Camino|"
    r"Travessa|Praça|Estrada|Alameda|Avda\.|Avda|Ctra\.|Carretera|ul\.|ulica|al\.|aleja|"
    r"os\.|pl\.|Str\.|"
    r"Odos|Leoforos|Bulevar|Trg|Ulitsa|Prospekt|Jalan|Jl\.)"
)
# The street words of STREET_PREFIX that are not also English words ("via", "place").
STREET_FOREIGN = (r"(?:rua|rúa|rue|calle|c/|carrer|avenida|chemin|allée|impasse|quai|cours|viale|"
                  r"vicolo|"
                  r"corso|piazza|piazzale|largo|strada|travessa|praça|estrada|alameda|paseo|"
                  r"camino|ul\.|ulica|aleja|odos|leoforos|jalan|jl\.|"
                  # Greek and Russian, in their own script: "οδός", "λεωφ.", "ул."
                  r"οδός|οδ\.|λεωφόρος|λεωφ\.|πλατεία|πλ\.|улица|ул\.|проспект|пр-т|переулок|"
                  r"бульвар|б-р|шоссе|набережная|наб\.)")
_WORD = r"[A-ZÀ-ÖØ-Þa-zß-öø-ÿĀ-ſ][\w'’.-]*"
_ANY_WORD = r"[^\W\d_][\w'’.-]*"  # a word in any script
_PARTICLE = particles.STREET_PATTERN
# The particles that may start a street's name: "on van Aken Lane", "on de la Paz Street".
_LEADING_PARTICLE = particles.alternation(particles.STREET_LAST)
# Capital letters of the scripts addresses are written in here (Latin, Greek with its
# accented capitals, Cyrillic); Latin Extended-A mixes both cases.
UPPER = "A-ZÀ-ÖØ-ÞĀ-ŽΆΈ-ΊΌΎ-ΏΑ-ΩА-Я"
# A word in title case, in the Latin scripts names are written in here: "Orvelle", "Núñez".
CAP_NAME = r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿā-ž'’-]+"
_CAP = rf"[{UPPER}][\w'’.-]*"
_UNIT = r"(?:(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Bldg|Building|Box|#)\.?\s*#?\s*[\w-]{1,6})"  # noqa: E501
_NUM = r"\d{1,6}[A-Za-z]?"
# A word in title case, letters only: "Tarvola", "Åkerby" (not "Q4", "NeurIPS", "RHEL").
_TITLE_WORD = rf"[{UPPER}](?:(?![{UPPER}])[^\W\d_])+(?![\w'’.-])"
# An abbreviation in any script, also dotted letters: "St.", "ul.", "P.O.", "Λ.".
_ABBREVIATION = r"(?<![^\s])(?:[^\W\d_]{1,4}\.){1,3}(?=\s)"
# A street's name that ends in its street word abbreviated, before its house number:
# "Brandstr. 14" (German "-straße", "-strasse").
_DOT_HOUSE = rf"(?<![^\s])[{UPPER}][^\W\d_]{{1,20}}str\.(?=[ \t]+\d)"
# Postal codes with letters: Canadian ("K1A 0B1", letters of its alphabet only), British
# ("SW1A 1AA", "M1 1AE") and Dutch ("7721 KM"; not one that reads as a year, "2000 SP").
POSTAL_ALNUM = (r"(?:[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ -]?\d[ABCEGHJ-NPRSTV-Z]\d|"
                r"[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}|"
                r"(?!(?:19|20)\d\d)[1-9]\d{3}[ ]?(?!S[ADS])[A-Z]{2})")
# The same in lower case, where a whole text is ("in nanaimo v9r 3a8", "in leeds ls6 2qt";
# British inward letters are never c, i, k, m, o or v, so no "4th" or "1st").
POSTAL_ALNUM_LOWER = (r"(?:[abceghj-nprstvxy]\d[abceghj-nprstv-z][ -]?\d[abceghj-nprstv-z]\d|"
                      r"[a-z]{1,2}\d[a-z\d]?[ \t]\d(?!st|nd|rd|th)[abd-hjlnp-uw-z]{2})")
# "in", "at", "from" or "near" and a place of one or two words in lower case, before
# its postal code.
_IN_LOWER_PLACE = (r"\b(?:in|at|from|near)[ \t]+(?P<place>[^\W\d_]+(?:['’-][^\W\d_]+)*"
                   r"(?:[ \t]+[^\W\d_]+(?:['’-][^\W\d_]+)*)?)[ \t]+")
# Buildings an address is given for, none a word software uses ("the bakery is on ...";
# not "the shop", "the branch" or "the library is on Symfony 6").
_PLACE_NOUN = (r"(?:station|stop|house|flat|apartment|bakery|restaurant|caf[eé]|hotel|hostel|"
               r"church|clinic|hospital|pharmacy|museum|cinema|pub|butcher'?s?|"
               r"post[ \t]+office)")
# Words for a line, a channel, a floor or a platform, numbered like a house: "the station
# is on Linha 4", "on Kanal 5", "on Piso 3".
_LINE_WORD = (r"(?i:linha|linea|línea|lijn|linie|ligne|lini[ja]|kanal|canal|piso|planta|"
              r"etage|étage|stock|gleis|quai|voie|spor|perron|anden|andén|binario)(?!\w)")
# A four-digit number that reads as a year.
YEAR = r"(?:19|20)\d\d(?![\w-])"
# A postal code of any national shape in a text with capitals (not one that reads as a year).
POSTCODE = rf"(?:(?!{YEAR})\d{{4,6}}(?:-\d{{3,4}})?|\d\d-\d{{3}}|{POSTAL_ALNUM})"
# English auxiliary verbs in lower case: no street's name holds one, a sentence does.
_AUXILIARIES = frozenset("is are was were be been being am has have had will would can could "
                         "should shall may might must does do did".split())
# The name of a street or a town: one to three capitalised words, a particle between; a
# house number with its letter, flat or range ("42", "42 A", "42/3", "42-44"); a postal
# code also with a country's letters or in two groups ("D-48329", "114 55").
_NAME_WORDS = rf"{_CAP}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_CAP}){{0,2}}"
_HOUSE = r"\d{1,5}(?:[ ]?[A-Za-z](?![\w'’-])|[/-]\d{1,4})?"
_POSTCODE_ANY = rf"(?:(?:[A-Z]{{1,2}}-)?{POSTCODE}|\d{{3}}[ ]\d{{2}})"
# The lower-case words that may follow an address as its sentence goes on.
_GOES_ON = ("(?:by|and|or|in|on|for|to|from|please|until|before|after|at|if|but|as|with|"
            "when|where|which|that|is|was|today|tomorrow|tonight|asap|instead|too|also)")
# Month and weekday names: whole, and abbreviated ("Jan", "Wed").
_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
           "dec", "january", "february", "march", "april", "june", "july", "august",
           "september", "october", "november", "december"}
_WEEKDAY_NAMES = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
_WEEKDAYS = {"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
             *_WEEKDAY_NAMES}
CALENDAR_WORDS = frozenset(_MONTHS | _WEEKDAYS)
_CALENDAR = (r"(?i:(?:" + "|".join(sorted(CALENDAR_WORDS)) + r")(?![A-Za-zÀ-ÿ]))")
# What code assigns to a secret's name instead of a secret: a type ("Optional[str]") or a
# variable that names a secret itself, with no digit ("self.api_key", "os.environ['API_TOKEN']"),
# or a call or lookup in a module or object ("os.environ[", "settings.get(").
_CODE_VALUE = re.compile(
    r"(?:Optional|List|Dict|Union|Tuple|Set|Sequence|Mapping|Any|str|int|bool|float|bytes|"
    r"SecretStr|None)(?![\w])[\w\[\], |.]*"
    r"|[A-Za-z_.\[\]'\"]*(?<![A-Za-z])(?i:api_?key|key|token|secret|password|passwd|pwd)"
    r"(?![A-Za-z])[A-Za-z_.\[\]'\"]*"
    r"|[a-z_]+(?:\.[a-z_]+)+[\[(]?\\*")  # "os.environ[", "settings.get(", 'getenv(\\"'
# One-line tail of an address: ", City, ST 12345" or ", Town AB1 2CD" (US and UK shapes).
_TAIL = (rf"(?:,?\s+{_UNIT})*(?:,\s*(?!I\b){_CAP}(?:\s+{_CAP}){{0,3}}?)?"  # (not ", I will")
         r"(?:,?\s+(?:[A-Z]{2}\s+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}))?")


def _c(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


# Forms of address written before a name: "Ms. Okonkwo", "Dr White", "Herr Brandt".
FORMS_OF_ADDRESS = ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "mme",
                    "mlle", "herr", "frau", "sr", "sra")
_POSSESSIVE_S = re.compile(r"['’]s$")


def without_possessive(word: str) -> str:
    """The word without a possessive "'s" ("Pygame's" -> "Pygame")."""
    return _POSSESSIVE_S.sub("", word)


# Kinship and role nouns a name may follow: "my son Tomas", "her boss Ines".
_KIN = (r"(?:kid|son|daughter|child|baby|wife|husband|partner|spouse|brother|sister|sibling|"
        r"mother|mom|mum|father|dad|aunt|uncle|niece|nephew|cousin|grandson|granddaughter|"
        r"grandmother|grandfather|fianc[eé]e?|girlfriend|boyfriend|friend|neighbou?r|boss|"
        r"manager|colleague|coworker|co-worker|roommate|flatmate|tenant|landlord|landlady|"
        r"assistant|dependant|dependent|ward|guardian)")

# Words for a role, not a person, after "I am", "Dear", "Sir" ...
_ROLE_WORDS = {"user", "users", "bot", "assistant", "agent", "customer", "customers", "admin",
               "system", "ai", "sir", "madam", "team", "all", "everyone", "friend", "friends",
               "colleague", "colleagues", "member", "members", "guest", "here", "there",
               "sorry", "happy", "glad", "not", "also", "the", "a", "an"}

# Words greeted or addressed that are not names ("hi there,", "hello world!", "ok, can").
_NOT_VOCATIVES = _ROLE_WORDS | {
    "world", "guys", "folks", "again", "both", "y'all", "yall", "everybody", "people", "gang",
    "yes", "no", "okay", "ok", "hi", "hello", "hey", "sorry", "well", "so", "now", "however",
    "thanks", "thank", "anyway", "actually", "alright", "sure", "please", "oh", "great",
    "perfect", "listen", "look", "then", "first", "second", "third", "finally", "honestly",
    "seriously", "boss", "mom", "dad", "doctor", "excuse", "besides", "meanwhile",
    "otherwise", "today", "tomorrow", "yesterday", "still", "btw", "fine", "good", "right",
    "wait", "ah", "um", "uh", "hmm", "dear", "yeah", "yep", "nope", "also", "next",
    "last", "lastly", "instead", "note", "remember", "tonight"}

# Greetings said to someone by name: "Hi Tavi,", "Good morning Ines Moreau!".
_GREETINGS = r"(?:hi|hello|hey|hiya|good\s+(?:morning|afternoon|evening))"

# Function words that are also given names: "my name is Will", "Guest: May".
_NAME_STOP_WORDS = frozenset({"will", "may"})


def _not_a_name_word(word: str) -> bool:
    """A word that opens a reply or a clause, never a name: an interjection or a greeting
    (:data:`_NOT_VOCATIVES`: "Hi", "Sure") or a function word ("We", "Can", "I'd",
    "back"), not one that is also a given name (:data:`_NAME_STOP_WORDS`)."""
    w = re.split(r"['’]", word.lower(), maxsplit=1)[0]
    return w in _NOT_VOCATIVES or (w in stop_words() and w not in _NAME_STOP_WORDS)


# Words between "gave" and "his/her" that are not a person ("gave him his", "sent all
# their").
_NOT_RECIPIENTS = _ROLE_WORDS | {
    "a", "an", "the", "and", "or", "but", "of", "that", "this", "these", "those", "what",
    "which", "who", "whom", "whose", "if", "when", "where", "how", "why", "at", "by", "from",
    "into", "is", "are", "was", "were", "be", "been", "all", "some", "any", "no", "not",
    "him", "her", "them", "me", "us", "you", "it", "everyone", "everybody", "someone",
    "somebody", "anyone", "anybody", "nobody", "each", "both", "up", "back", "out", "in",
    "on", "off", "over", "away", "down", "again", "only", "just", "also", "still", "then",
    "to", "for", "with", "about", "myself", "himself", "herself", "themselves",
    "yourself", "ourselves", "one", "people", "others", "staff", "support"}

# Verbs whose first object is the person something goes to ("gave Tavi his keys"); not
# "text" or "ask", which also start noun phrases ("text of your answer").
_GIVE_VERB = (r"(?i:\b(?:give|gives|gave|given|giving|send|sends|sent|sending|tell|tells|"
              r"told|show|shows|showed|shown|offer|offered|lend|lent|pay|paid|owe|owed|owes|"
              r"hand|handed|email|emailed|texted|promise|promised|bring|brought))")
_POSSESSIVE_AFTER = r"(?=(?i:his|her|their|my|your|our)\b)"
# What a possessive name owns that only a person has: an address, a phone number, a
# birthday, family, a song or a novel ("Auriel's address", "Tavi's wife", "Orvelle's song").
_WHOSE = (r"(?:(?:new|old|current|home|postal|mailing|email|e-mail|work|personal|latest|first|"
          r"last|debut)[ \t]+)?(?:address|phone[ \t]+number|mobile[ \t]+number|birthday|"
          r"date[ \t]+of[ \t]+birth|wife|husband|son|daughter|mother|father|mom|mum|dad|"
          r"parents|boyfriend|girlfriend|fianc[eé]e?|maiden[ \t]+name|middle[ \t]+name|surname|"
          r"songs?|novels?|poems?|memoirs?|lyrics|autobiography)\b(?![ \t]+book)")

# One to three words of a name given as an answer, a middle initial allowed.
_ANSWER_NAME = (r"[^\W\d_][\w'’-]+(?:[ \t]+(?:[^\W\d_]\.?[ \t]+)?[^\W\d_][\w'’-]+){0,2}")
# What only a person writes or gives, right after a name: "the Tarvola novel".
_WORK = r"(?i:novels?|memoirs?|biography|concerts?)\b"
_WORK_AFTER = re.compile(rf"[ \t]+{_WORK}")
# Adjectives between an article and whose work it is: "the new Tarvola novel".
_WORK_ADJECTIVE = (r"(?i:new|latest|last|first|early|late|final|debut|old|classic|famous|"
                   r"upcoming|next|recent|great|best)")

# Traits of character only a person has ("so impulsive", "very generous"); not "reliable"
# or "lazy", which agent traffic says of tools ("the Stripe API is reliable").
_TRAIT = (r"(?:impulsive|stubborn|jealous|shy|rude|generous|honest|arrogant|polite|"
          r"talkative|grumpy|selfish|brave|moody|naive|clever|kind)")

# Kin a possessive name has that software and products are said to have too ("Haiku's
# sister model", "Sonnet's brother"): a person's only when the name is one (a given name
# or a word no dictionary knows).
_KIN_OWNED = (r"(?:kid|brother|sister|cousin|grandson|granddaughter|nephew|niece)\b")

# "sung by", "directed by": the artist of a work follows; the name ends at punctuation
# or a preposition ("... in 2007").
_ARTIST_BY = (r"(?i:\b(?:sung|directed|composed|arranged|painted|performed|narrated|"
              r"illustrated|photographed|choreographed|conducted|sculpted)"
              r"(?:[ \t]+and[ \t]+\w+)?[ \t]+by[ \t]*:?)")
_ARTIST_END = (r"(?=[ \t]*(?:[,.;:!?)]|\n|$|[ \t](?:in|and|with|for|from|on|at|who|whose)"
               r"\b))")

# Words that follow "my boss" in a sentence, not a name ("my boss Is away" in a shout).
_VERB_WORDS = {"is", "was", "are", "were", "has", "had", "have", "will", "would", "can",
               "could", "and", "or", "but", "says", "said", "told", "asked", "wants", "did",
               "does", "to", "at", "in", "on", "for", "who", "which"}

RULES: dict[str, Rule] = {r.name: r for r in [
    # --- contact details
    Rule("email", "EMAIL_ADDRESS",
         EMAIL_RE, 0.95,
         description="Email addresses (no public-suffix lookup, so it works offline)."),
    Rule("phone_nanp", "PHONE_NUMBER",
         _c(r"(?<![\w+])(?:(?:\+?1|001)[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
            r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?(?!\w|-\d)"), 0.75,
         description="US/Canada numbers in every common layout (Presidio labels some UK_NHS)."),
    Rule("phone_intl", "PHONE_NUMBER",
         _c(r"(?<![\w+/.:-])(?:\+\d{1,3}[ \t.-]?)?(?:\(\d{1,5}\)[ \t.-]?)?\d{1,6}"
            r"(?:[ \t-]\(?\d{1,8}\)?|\.\(?\d{1,6}\)?){1,5}(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,6})?"
            r"(?![\w/]|-\d|\.\d)"),
         0.42,
         validate=phone_ok,
         context=("phone", "call", "tel", "mobile", "cell", "fax", "contact", "reach", "number",
                  "office", "whatsapp", "text me", "sms", "dial"), context_score=0.8,
         description="Grouped digits of phone length (7-15 digits) in any national layout, "
                     "on one line: '0389 0506426', '+49 30 12345678'."),
    Rule("phone_labelled", "PHONE_NUMBER",
         _c(r"(?<![\w+.-])\+?\(?\d[\d \t().-]{5,18}\d(?=[ \t]*[-–(/]?[ \t]*(?i:fax|office|mobile|"
            r"cell|home|work|tel|phone|landline)\b)"), 0.7, validate=phone_ok,
         description="Digits of phone length followed by a label: '0612345678-Fax'."),
    Rule("phone_plain", "PHONE_NUMBER", _c(r"(?<![\w+.-])\+?\d{10,13}(?![\w.-])"), 0.3,
         context=("phone", "call", "tel", "mobile", "cell", "fax", "contact", "reach",
                  "whatsapp", "sms"), context_score=0.75,
         description="Ungrouped 10-13 digit numbers next to phone words."),
    Rule("phone_short", "PHONE_NUMBER",
         _c(r"(?<![\w+.-])\d{2}[ .-]\d{2}[ .-]\d{2}(?![\w-]|[ .-]\d)"), 0.2,
         context=("phone", "tel", "mobile", "cell", "fax", "call", "sms", "text", "message",
                  "messages", "whatsapp", "reach", "answer", "voicemail"), context_score=0.7,
         description="Six-digit local numbers in pairs next to phone words: 'Tel: 61 23 68'."),
    # --- government and financial identifiers
    Rule("us_ssn", "US_SSN",
         _c(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"), 0.7, validate=ssn_ok,
         context=("ssn", "social security", "social sec"), context_score=0.95,
         description="US SSNs (Presidio scores many below its threshold)."),
    Rule("us_ssn_spaced", "US_SSN",
         _c(r"(?<![\w-])\d{3} \d{2} \d{4}(?![\w-])"), 0.2, validate=ssn_ok,
         context=("ssn", "social security"), context_score=0.9,
         description="Space-separated SSNs next to SSN words."),
    Rule("credit_card", "CREDIT_CARD",
         _c(r"(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w-])"), 0.8, validate=luhn_ok,
         description="12-19 digit card numbers that pass the Luhn check."),
    Rule("iban", "IBAN_CODE",
         _c(r"(?<![\w])[A-Za-z]{2}\d{2}(?:\s?[A-Za-z0-9]{4}){2,7}(?:\s?[A-Za-z0-9]{1,4})?(?!\w)"),
         0.9, validate=iban_ok, description="IBANs with a valid mod-97 checksum."),
    # --- network
    Rule("ipv4", "IP_ADDRESS",
         _c(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\w]|\.\d)"), 0.75,
         validate=lambda v: ip_ok(v.split("/")[0]),
         description="IPv4 addresses (optionally with a CIDR suffix)."),
    Rule("ipv6", "IP_ADDRESS",
         _c(r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:)[0-9A-Fa-f:]{6,39}(?:%\w+)?(?![\w:])"),
         0.8, validate=lambda v: ip_ok(v.split("%")[0]), description="IPv6 addresses."),
    # --- secrets
    Rule("openai_key", "API_KEY",
         _c(r"(?<![\w-])sk-(?:[A-Za-z]{2,8}-)*[A-Za-z0-9_-]{20,}"), 0.95,
         description="OpenAI-style and Anthropic (sk-ant-) keys."),
    Rule("aws_access_key", "API_KEY",
         _c(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])"),
         0.95, description="AWS access key ids."),
    Rule("aws_secret_key", "API_KEY",
         _c(r"(?i:aws)[\w\s\"']{0,30}?(?i:secret)[\w\s\"']{0,20}?[:=]\s*[\"']?"
            r"(?P<v>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"), 0.9,
         description="AWS secret access keys after an aws...secret label."),
    Rule("github_token", "API_KEY",
         _c(r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), 0.95,
         description="GitHub tokens."),
    Rule("google_key", "API_KEY", _c(r"(?<!\w)AIza[0-9A-Za-z_-]{35}"), 0.95,
         description="Google API keys."),
    Rule("slack_token", "API_KEY", _c(r"(?<!\w)xox[abposr]-[A-Za-z0-9-]{10,}"), 0.95,
         description="Slack tokens."),
    Rule("stripe_key", "API_KEY", _c(r"(?<!\w)[rsp]k_(?:live|test)_[A-Za-z0-9]{16,}"), 0.95,
         description="Stripe keys."),
    Rule("jwt", "API_KEY",
         _c(r"(?<![\w-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), 0.95,
         description="JSON Web Tokens."),
    Rule("bearer", "API_KEY",
         _c(r"(?i:\bbearer|\btoken)\s+(?P<v>[A-Za-z0-9._~+/-]{16,}=*)"), 0.85,
         validate=lambda v: bool(re.search(r"\d", v)) and shannon(v) >= 3.5,
         description="Bearer tokens in headers or text."),
    Rule("assigned_secret", "SECRET",
         _c(r"(?i:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|"
            r"refresh[_-]?token|password|passwd|pwd|passcode|client[_-]?secret|private[_-]?key)"
            r"[\"']?[ \t]*(?:[:=]|\bis\b)[ \t]*[\"']?(?P<v>[^\s\"',;<>]{6,})"), 0.8,
         validate=lambda v: not v.startswith("<") and not _CODE_VALUE.fullmatch(v),
         description="Values assigned to password/secret/token/api_key names (not a type "
                     "or a variable of code: 'api_key: Optional[str]', 'key = "
                     "self.api_key')."),
    Rule("high_entropy", "SECRET",
         _c(r"(?<![\w/+=-])[A-Za-z0-9_+/=-]{24,}(?![\w/+=-])"), 0.6, validate=secret_ok,
         validate_words=lambda v, words: not spelled_in_words(v, words),
         description="Generic high-entropy strings (>= 4 bits/char, mixed case and digits)."),
    # --- dates of birth
    Rule("date_of_birth", "DATE_OF_BIRTH",
         _c(rf"(?i:\bborn(?:\s+on)?|\bd\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthday|"
            rf"\bbday)\b\W{{0,12}}(?:(?i:is|was|on)\s+)?(?P<v>{_DATE})"), 0.9,
         description="Dates next to 'born', 'DOB', 'date of birth', 'birthday'."),
    # --- street addresses (Presidio has no recognizer for them)
    Rule("street_number_first", "STREET_ADDRESS",
         _c(rf"(?<![\w-]){_NUM}(?:\s+{_NUM})?\s+(?:(?:{_CAP}|\d+(?:st|nd|rd|th))\s+){{0,4}}?"
            rf"{_STREET_TYPES}\b\.?{_TAIL}"), 0.7,
         description="'17 Harrow Lane, Leeds LS6 2QT', '90 Elm Rd, Apt 4': a building "
                     "number, capitalised name words and a street type."),
    Rule("street_number_first_type_lower", "STREET_ADDRESS",
         _c(rf"(?<![\w-]){_NUM}\s+(?:{_CAP}\s+(?:{_PARTICLE}\s+)?){{1,3}}"
            r"(?:street|road|avenue|lane|boulevard)\b(?=[ \t]*(?:$|[\n.,;:!?)]|(?:in|on|at|to|"
            r"and|near|off|from|where|which|that|is|was)\b))"), 0.55,
         description="A building number and a capitalised name with the street word in "
                     "lower case, where the phrase ends: '40 Harrow Vale street in town' (not "
                     "'2 Abbey road signs')."),
    Rule("street_number_first_lower", "STREET_ADDRESS",
         _c(rf"(?<![\w-]){_NUM}\s+(?:(?:{_WORD}\s+){{1,3}}?{_STREET_TYPES}|\d{{1,3}}(?:st|nd|rd|th)"
            r"\s+(?:street|st|avenue|ave|road|rd|drive|dr|boulevard|blvd|lane|way))\b\.?",
            re.IGNORECASE),
         0.6, lower_text_only=True,
         description="The same in a text with no capital letter: '12 elm street', '4589 "
                     "40th street'."),
    Rule("street_suffix", "STREET_ADDRESS",
         _c(rf"(?<![\w-])(?:{_NUM}\s+(?:{_CAP}\s+(?:{_PARTICLE}\s+)?){{0,2}}{_SUFFIXED}"
            rf"(?:\s+{_NUM}\.?)?|"
            rf"(?:{_CAP}\s+(?:{_PARTICLE}\s+)?){{0,2}}{_SUFFIXED}[ \t]+{_NUM}\.?|"
            rf"(?:{_CAP}\s+)?{_WORD}\s+(?i:{_STREET_AFTER})\s+{_NUM}\.?|"
            rf"(?:{_NUM}[ \t]+)?{_CAP}[ \t]+tee[ \t]+{_NUM}\.?|"
            rf"{_NUM}\s+(?:{_CAP}\s+){{1,3}}(?i:{_STREET_AFTER})(?<!\.)\.?(?:\s+{_NUM}\.?)?)"
            rf"(?!\w){_TAIL}"), 0.6,
         validate_words=lambda v, words: not any(_english_ending_like_a_street(w, words)
                                                 for w in v.split())
         and not _english_before_tee(v.split(), words),
         description="European street names written with a suffix, next to a building "
                     "number on its line: 'Rantakatu 14', '8 Lindenstrasse', '12 Ilinden "
                     "Str.', Estonian 'Kaasiku tee 4' after a capitalised name (not 'the "
                     "70s during', 'sent to you.\\n3.', 'a golf tee 3')."),
    Rule("street_prefix", "STREET_ADDRESS",
         _c(rf"(?<![\w-])(?:{_NUM},?\s+)?{STREET_PREFIX}\s+(?:{_WORD}\s+){{0,5}}?"
            rf"(?:{_NUM}\.?|{_WORD}\.?(?!\s+(?:{_WORD}\s+){{0,4}}{_NUM}\b))(?!\w){_TAIL}"), 0.6,
         # not "Place an", nor a name of lower-case words with no number: "Route features"
         # (but a particle the street's name goes on after: "Avenue d'Ouchy")
         validate=lambda v: not sentence_word(v.split()[-1])
         and (any(c.isdigit() for c in v) or v.split()[-1][:1].isupper()
              or len(v.split()[-1]) <= 3)
         and not any(w in _AUXILIARIES for w in v.split()[:-1]),
         description="Addresses led by a street word: 'Rua das Flores 512', 'Rua Sete de "
                     "Abril 2041', 'Via in Lucina 10' (no verb of the sentence in the name: "
                     "not 'Boulevard are on the 7 line')."),
    Rule("street_prefix_lower", "STREET_ADDRESS",
         # (a quoted word in the name is a nickname: 'ul. gen. jana kowala "grota" 4')
         _c(rf"(?<![\w-])(?:{_NUM},?\s+)?(?i:{STREET_FOREIGN})\s+"
            rf"(?:(?:{_ANY_WORD}|[\"“„]{_ANY_WORD}[\"”])\s+){{0,6}}?{_NUM}\.?(?!\w)|"
            # a house number, the street word and a particle: the next word is the
            # street's name in any case ("8 rue du vieux Moulin")
            rf"(?<![\w-]){_NUM},?[ \t]+(?i:{STREET_FOREIGN})(?:[ \t]+{_PARTICLE})+"
            rf"[ \t]+[^\W\d_][\w'’-]+(?:[ \t]+{_CAP}){{0,3}}(?!\w)|"
            rf"(?<![\w-]){_NUM},?[ \t]+(?i:{STREET_FOREIGN})[ \t]+(?:{_WORD}[ \t]+){{0,3}}"
            rf"{_WORD}(?=[ \t]*(?:\n|$|,|[ \t](?i:apt|suite|unit)\b))|"
            rf"(?<![\w-]){_NUM},?[ \t]+(?:(?i:{STREET_FOREIGN})|route|place|avenue|boulevard|"
            rf"piazzetta)(?:[ \t]+{_PARTICLE})*"
            rf"(?:[ \t]+{_CAP}(?:[ \t]+{_PARTICLE})*?){{1,4}}(?<![ \t])(?!\w)"), 0.55,
         validate=lambda v: not any(sentence_word(w) for w in v.split()[1:]),
         description="A street word in any case with a number: '36 rue des lilas', "
                     "'avenida praia 1', '8 rue du vieux Moulin'."),
    Rule("street_prefix_lower_words", "STREET_ADDRESS",
         _c(rf"(?<![\w-]){_NUM},?[ \t]+(?i:{STREET_FOREIGN})(?:[ \t]+{_PARTICLE})+"
            rf"(?P<words>(?:[ \t]+[a-zß-öø-ÿā-ž][\w'’-]+){{2,3}})(?:[ \t]+{_CAP}){{1,3}}(?!\w)"),
         0.55, unknown="words",
         validate_words=lambda v, words: not any(inflected_english(w, words) for w in v.split()),
         description="A house number, a street word and a particle, then lower-case words "
                     "no English dictionary knows (nor a form of one) up to the capitalised "
                     "end of the name: '93 rue des trois frères Morel' (not '8 rue du bac "
                     "says Marie', '8 rue du moulin texted Marie')."),
    Rule("street_via", "STREET_ADDRESS",
         _c(rf"(?<![\w-])(?:{_NUM},?[ \t]+)?(?i:via)[ \t]+(?:del|dei|degli|della|delle|dello)"
            rf"[ \t]+(?:{_ANY_WORD}[ \t]+){{1,4}}?{_NUM}(?!\w)"), 0.55,
         description="An Italian street in any case: 'via' (an English word too), an "
                     "Italian particle with its article ('del', 'della', 'dei'...; not 'di', "
                     "which English texts use for dependency injection), the name and a "
                     "number: 'via delle rose 12'."),
    Rule("street_r", "STREET_ADDRESS",
         _c(rf"(?i:\b(?:on|at|to|from|in))[ \t]+(?P<v>(?:{_NUM},?[ \t]+)?[rR]\.?[ \t]+"
            rf"(?P<name>{_ANY_WORD}(?:[ \t]+{_ANY_WORD}){{0,3}}?)[ \t]+{_NUM}(?![\w.]*\d))"),
         0.5,
         unknown="name",
         description="Portuguese 'r' (rua) after 'on', 'at', 'to', 'from' or 'in', with a "
                     "name no English dictionary knows and no software is named by, and a "
                     "number: 'on r tarvães 39' (not 'on r dplyr 1.0' nor 'in r studio 2')."),
    Rule("street_number_then_type", "STREET_ADDRESS",
         _c(rf"(?<![\w-])(?:{_CAP}\s+(?:{_PARTICLE}\s+)?){{0,2}}{_CAP}\s+{_NUM}\s+"
            r"(?i:street|road|avenue|lane)\b"),
         0.55, description="A street name, its number, then the street word: 'Korvalla 31 "
                           "street' (a foreign street written in English word order)."),
    Rule("street_number_then_type_lower", "STREET_ADDRESS",
         _c(rf"\b(?:on|at|to|in)[ \t]+(?P<v>(?:[^\W\d_][\w'’.-]*[ \t]+){{1,2}}{_NUM}[ \t]+"
            r"(?:street|road|avenue|lane|st\.|rd\.|ave\.))"), 0.5, lower_text_only=True,
         validate=lambda v: v.split()[0] not in _NOT_RECIPIENTS | {"the", "a", "an", "my",
                                                                   "your", "our", "this"},
         description="The same in a text with no capital letter, after on/at/to/in: 'enter "
                     "on korvalla 31 st.'."),
    Rule("street_named", "STREET_ADDRESS",
         _c(rf"\b(?:on|at|off)\s+(?P<v>(?:{_LEADING_PARTICLE}\s+){{0,2}}(?:{_CAP}\s+){{1,3}}"
            r"(?:Street|Avenue|Road|Boulevard|Lane|"
            rf"Drive|St\.|Ave\.|Rd\.|Blvd\.)(?!\w))"), 0.5,
         description="A street named without a number after on/at: 'the cafe on Willow "
                     "Brook Street', 'on van Aken Lane'."),
    Rule("street_named_lower", "STREET_ADDRESS",
         _c(rf"\b(?:on|at|off)[ \t]+(?P<v>(?:{_LEADING_PARTICLE}[ \t]+){{0,2}}"
            r"(?P<name>[^\W\d_]{3,})(?:[ \t]+[^\W\d_]{2,}){0,2}"
            r"[ \t]+(?:street|avenue|road|boulevard|lane|drive))(?![\w-])"), 0.5,
         lower_text_only=True, unknown="name",
         validate=lambda v: not any(sentence_word(w) for w in v.split()),
         description="The same in a text with no capital letter, when the name starts "
                     "with a word English does not know, after its particles if any: "
                     "'shows on varnoki hills street', 'on van der kelm street' (not 'on "
                     "main street')."),
    Rule("street_before_unit", "STREET_ADDRESS",
         _c(rf"(?<![\w-])(?P<v>(?:{_CAP}\s+){{0,2}}{_CAP}\s+{_NUM}\.?),?\s+(?={_UNIT}(?!\w))"),
         0.55,
         description="A street name and house number before an apartment or suite: "
                     "'Lindqvist 12 Apt. 5'."),
    Rule("street_line", "STREET_ADDRESS",
         _c(rf"(?<![\w.,-])(?P<v>{_NUM}[ \t]+(?:{_CAP}[ \t]+(?:{_PARTICLE}[ \t]+)?){{1,3}}"
            rf"{_NUM}\.?)[ \t]*,?[ \t]*(?=\n[ \t]*(?:[^\w\s]{{1,4}}[ \t]*)?"
            rf"(?:\d{{4,5}}[ \t]+)?[{UPPER}])"), 0.5,
         description="An address line of a multi-line block: a number, capitalised name "
                     "words and a house number on one line, with the town (after its postal "
                     "code, or the unit) on the next line, also in a quoted or list-marked "
                     "block."),
    Rule("street_line_lower", "STREET_ADDRESS",
         _c(rf"(?<![\w.,-])(?P<v>{_NUM}[ \t]+(?:{_WORD}[ \t]+){{1,3}}{_NUM}\.?)[ \t]*,?[ \t]*"
            r"(?=\n(?:[^\n]{1,40}\n){0,3}[^\n]{0,40}?(?<!\d)\d{4,6}(?![\d:]))"), 0.5,
         lower_text_only=True,
         description="The same in a text with no capital letter, when a postal code closes "
                     "the block within three lines: '12 lindqvist 4\\nostby\\n 10417'."),
    Rule("street_number_town", "STREET_ADDRESS",
         _c(rf"(?:^|(?<=[\n,:>])[ \t]*|(?<=\b(?:at|to|in|is|on)\s)|(?<=\band\s)|(?<=\bfrom\s))"
            rf"(?P<v>{_NUM}\s+(?:{_CAP}\s+(?:{_PARTICLE}\s+)?){{1,4}}{_NUM}\.?)"
            rf"(?=[ \t]*,[ \t]*{_CAP})",
            re.MULTILINE), 0.5,
         description="A building number, a street name and a house number, then a comma "
                     "and a capitalised town, where an address starts (line start, after "
                     "a comma or colon, after 'at', 'to', 'in'): '12 Lindqvist 4, Ostby'."),
    Rule("street_number_town_lower", "STREET_ADDRESS",
         _c(rf"(?:^|(?<=[\n,:;>?!.])[ \t]*|(?<=\b(?:at|to|in|is|on)\s))"
            rf"(?P<v>{_NUM}[ \t]+(?:{_WORD}[ \t]+){{1,3}}{_NUM}\.?)"
            rf"(?=[ \t]*,[ \t]*{_WORD}(?:[ \t]+{_WORD}){{0,2}}[ \t]*,[ \t]*{_WORD})",
            re.MULTILINE), 0.5,
         lower_text_only=True,
         validate=lambda v: not any(sentence_word(w) for w in v.split()[1:-1]),
         description="The same in a text with no capital letter, where an address starts, "
                     "when a town and a region or country follow: 'to 12 lindqvist 4, ostby, "
                     "sweden'."),
    Rule("street_comma_postal", "STREET_ADDRESS",
         _c(rf"(?<![\w.,'’-])(?P<v>(?:{_NUM}[ \t]+{_NAME_WORDS}|{_NAME_WORDS}[ \t]+{_HOUSE}),"
            rf"[ \t]*{_POSTCODE_ANY}[ \t]+{_NAME_WORDS}|"
            rf"{_NUM}[ \t]+{_NAME_WORDS},[ \t]*{_NAME_WORDS}(?:,[ \t]*{_NAME_WORDS}){{0,2}}"
            rf"[ \t]+{_POSTCODE_ANY})"
            rf"(?![\w'’-])(?![ \t]+(?!{_GOES_ON}\b)[a-zß-öø-ÿ])"), 0.55,
         validate_words=lambda v, words: _street_and_town(v, words),
         description="A street and its house number, a comma, then a postal code and a "
                     "town, or (number first) a town, a region or country and a postal code, "
                     "on one line, with no street word and no cue before it: 'Gladstrom "
                     "42, 48329 Tarvola', '42 Gladstrom, Tarvola, Germany 89774?'. A word of "
                     "the street is no English one and names no software; the town's words "
                     "are in title case (not a unit or a currency: 'GPU 0, 24576 MiB', "
                     "'Model 3, 42990 USD'), and no lower-case word but a function word "
                     "follows ('6204 Kilometers nonstop')."),
    Rule("street_number_name_lower", "STREET_ADDRESS",
         _c(r"(?:(?<=\b(?:at|to|in|is|on)[ \t])|(?<=\bfrom[ \t])|(?<=\band[ \t])|(?<=,[ \t]))"
            rf"(?P<v>\d{{1,6}}[ \t]+(?:via[ \t]+)?(?P<name>[^\W\d_]{{3,}})"
            rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+)?[^\W\d_]{{2,}}){{0,2}}[ \t]+\d{{1,5}}[a-z]?)"
            r"(?![\w%/:-]|[.,]\d)"), 0.5,
         lower_text_only=True, unknown="name",
         validate=lambda v: not any(sentence_word(w) for w in v.split()[1:-1] if w != "via"),
         description="In a text with no capital letter, where an address starts (after "
                     "'at', 'to' or a comma): a building number, a street name English does "
                     "not know (after 'via' too) and a house number: 'off at 415 krokhagen "
                     "12', 'to 88 via rondello 3', 'acme ltd., 12 tarvolagen 4, oslo'."),
    Rule("street_unit", "STREET_ADDRESS",
         _c(r"(?<![\w-])(?:Apt|Apartment|Suite|Ste|Unit|Flat)\.?\s*#?\s*\d{1,5}[A-Za-z]?(?!\w)",
            re.IGNORECASE), 0.6, description="Apartment, suite and unit numbers."),
    Rule("po_box", "STREET_ADDRESS",
         _c(r"(?<!\w)(?:P\.?\s?O\.?\s+Box|PSC|Unit|USNS|USNV|USS|USCGC)\s+[\w .'’-]{1,30}?,?\s*"
            r"(?:Box\s+\d{1,6}\s*)?(?:,?\s*)?(?:APO|FPO|DPO)\s+A[AEP]\s+\d{5}(?!\w)"
            r"|(?<!\w)(?:P\.?\s?O\.?\s+Box|Post(?:\s+Office)?\s?Box|Postboks|Postfach)"
            r"\s+\d{1,8}(?!\w)", re.IGNORECASE), 0.85,
         description="PO boxes ('PO Box 12', 'Postbox 12', 'Postboks 12', 'Postfach 12') and "
                     "military (APO/FPO/DPO) addresses."),
    Rule("address_context", "STREET_ADDRESS",
         # after what the address is of: "address of Acme Ltd is", "address for billing is"
         _c(r"(?i:\baddress\s+(?:of|for)\s+[^\n.;:!?]{1,40}?\s+is|\baddress(?:\s+is)?|"
            r"\blives?\s+(?:at|on)|\blived\s+(?:at|on)|\breside[sd]?\s+at|"
            r"\blocated\s+at|\bship(?:ped)?\s+to|\bdeliver(?:ed|y)?\s+to|\bmoved\s+to|\bis\s+at|"
            r"\bside\s+of)\s*[:\-]?"
            # "address to", "address with": the preposition before the value, not in it
            rf"\s*(?:(?i:{_ADDRESS_PREPOSITIONS})\s+)?"
            r"(?P<v>(?!\d{1,2}[:.]\d\d\b|\d+\.\d{3,})"
            r"(?:\d(?=[\w/-]*,?(?:[ \t]+\d[\w/-]*,?)*[ \t]+"
            r"(?!(?:but|and|or|so|yet|then|which|that)\b)[^\W\d_])|"
            # a name and a number, no function word in the name ("address with 476 ...",
            # "address for the invoice is 3577 ...")
            rf"(?:(?!(?:{_ADDRESS_PREPOSITIONS}|the|an?|is|are|was|were|"
            r"be|my|our|your|his|her|their|its|this|that|it)\s)"
            r"[^\W\d_][\w'’.-]*\s+){1,3}\d{1,5}[A-Za-z]?\b"
            r"(?![.,]\d))"
            r"[^\n;]{0,80}?)"
            r"(?=\s*(?:\n\n|[.;!?](?:\s|$)|$| and | but ))"), 0.6,
         description="Text after 'address:', 'lives at', 'ship to', 'is at', 'address of "
                     "Acme Ltd is' that starts with a number and a word (not a time, a "
                     "coordinate or a bare count: 'is at 41, but'), or with a name and a house "
                     "number ('lives on Lipowa 12'; not 'at coordinates 37.77'); a preposition "
                     "after 'address' ('address with 4 ...') is no part of it."),
    Rule("street_on_foreign", "STREET_ADDRESS",
         _c(rf"\bon\s+(?P<v>{_CAP}(?:\s+{_CAP}){{0,2}}\s+{_NUM})"
            r"(?=\s*(?:$|[\n,;!?)]|\.(?:\s|$)))"), 0.5,
         validate_words=lambda v, words: any(not c.isascii() for c in v.rsplit(None, 1)[0])
         or (len(v.split()) > 2 and v.split()[0].lower() in particles.STREET_LAST)
         or _slavic_street(v, words),
         description="A name written with letters English has not, or led by a particle, "
                     "then a number, after 'on': 'the bakery is on Åkerlunden 30.', 'on La "
                     "Tercia 4', 'on Na Kopci 19' (streets; 'is on Xbox 360' is left alone)."),
    Rule("street_on_unknown", "STREET_ADDRESS",
         _c(rf"\bon\s+(?!{_CALENDAR})(?P<v>(?P<name>{_TITLE_WORD}"
            rf"(?:\s+(?:{_PARTICLE}\s+)?{_TITLE_WORD})?)"
            r"\s+\d{2,5}[A-Za-z]?)(?=\s*(?:$|[\n,;!?)]|\.(?:\s|$)))"), 0.5, unknown="name",
         description="A street of one or two words no English dictionary knows and no "
                     "software is named by (a particle may join them: 'Ribeira da Pena'), "
                     "then a number of two digits or more, closing a clause after 'on': 'the "
                     "bus stop is on Tarvola 1153.' (not 'on Xbox 360', 'on Debian 12', 'on "
                     "Windows 11', 'on Python 3', 'on Jan 28,')."),
    Rule("street_on_after_place", "STREET_ADDRESS",
         _c(rf"(?i:\b{_PLACE_NOUN}[ \t]+(?:is|was|are|were|sits|stands)[ \t]+"
            rf"(?:located[ \t]+|situated[ \t]+)?on)[ \t]+(?!{_CALENDAR}|{_LINE_WORD})"
            rf"(?P<v>(?P<name>{_TITLE_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_TITLE_WORD})?)"
            r"[ \t]+\d{1,5}[A-Za-z]?)(?=[ \t]*(?:$|[\n,;!?)]|\.(?:\s|$)))"), 0.5,
         unknown="name",
         description="The same with a house number of any length where what is on the "
                     "street is a building: 'the bakery is on Ostbyhavn 5' (not 'it runs on "
                     "Godot 4', 'the pub is on Jan 5')."),
    Rule("street_on_unknown_lower", "STREET_ADDRESS",
         _c(rf"\bon[ \t]+(?!{_CALENDAR})(?P<v>(?P<name>[^\W\d_]{{3,}}(?:[ \t]+[^\W\d_]{{3,}})?)"
            r"[ \t]+\d{2,5}[a-z]?)(?=[ \t]*(?:$|[\n,;!?)]|\.(?:\s|$)))"), 0.5,
         lower_text_only=True, unknown="name",
         description="The same in a text with no capital letter: 'the bus stop is on tarvola "
                     "1153' (not 'on ubuntu 22', 'on page 12')."),
    Rule("street_corner", "STREET_ADDRESS",
         _c(rf"(?i:\bcorner\s+of)\s+(?P<v>(?:\d+\.|{_ABBREVIATION}|{_DOT_HOUSE}|[^\n.,;?!])"
            rf"{{3,60}}?\s+and\s+(?:{_ABBREVIATION}|{_DOT_HOUSE}|[^\n.,;?!]){{2,40}}?)"
            r"(?=\s*(?:\n|[.,;?!]|$| in | on | at | for ))"), 0.6,
         description="Intersections: 'the corner of Oak Street and 5th Avenue', 'the "
                     "corner of ul. Lipowa 3 and Mill Road', 'the corner of Brandstr. 14 and "
                     "Tiller Lane'."),
    Rule("postal_after_place", "STREET_ADDRESS",
         _c(rf"(?<![A-Za-zÀ-ÿ])(?P<place>[A-Za-zÀ-ÿ]+)(?:,\s*|\s+|\n\s*)"
            rf"(?P<v>(?!{YEAR})\d{{4,6}}(?:-\d{{4}})?|{POSTAL_ALNUM})"
            r"(?![\w-])"
            r"(?=\s*(?:\n|$|[.,;)]))"), 0.3,
         context=("\n", "apt", "suite", "street", "road", "box", "city", "zip", "postal",
                  "postcode"), context_score=0.5, plain="place", not_software="place",
         description="A postal code closing an address block ('Tampere 33100'; not 'is "
                     "37170.', '(PEP 3100)')."),
    Rule("postal_year_after_place", "STREET_ADDRESS",
         _c(rf"(?<![A-Za-zÀ-ÿ])(?!{_CALENDAR})(?P<place>[A-Za-zÀ-ÿ]+)(?:,\s*|\s+|\n\s*)"
            rf"(?P<v>{YEAR})(?=\s*(?:\n|$|[.,;)]))"), 0.3,
         context=("\n", "apt", "suite", "street", "road", "box", "city", "zip", "postal",
                  "postcode"), context_score=0.5, unknown="place",
         description="The same for a postal code shaped like a year, after a place no "
                     "English dictionary knows ('Valby 2018'; not 'In 2025,', 'Report "
                     "2024.', 'May 2025')."),
    Rule("postal_in_place", "STREET_ADDRESS",
         _c(rf"\b(?:in|at|from)\s+(?P<place>(?:[{UPPER}][\w'’.-]*\s+(?:{_PARTICLE}\s+)?){{1,3}})"
            rf"(?:\d{{1,2}}\s+)?(?P<v>(?!(?:19|20)\d\d\b)\d{{3,6}}(?:[- ]\d{{2,4}})?|\d\d-\d{{3}}|"
            rf"{POSTAL_ALNUM})(?![\w-])"
            r"(?=\s+(?:in|on|for|to|and|with)\b|[.,;)])"), 0.45, not_software="place",
         description="A postal code after a place (and its district number) in running "
                     "text: 'an office in Tampere 33100 in its new building', 'in Ottawa K1A "
                     "0B1', 'in Łódź 90-001' (years are not postal codes)."),
    Rule("postal_in_bracketed_place", "STREET_ADDRESS",
         _c(rf"\b(?:in|at|from|to)\s+(?P<v>(?P<place>{_TITLE_WORD}(?:\s+{_TITLE_WORD})?"
            rf"\s+\([{UPPER}][a-zß-öø-ÿā-ž]+\.?\))\s+"
            r"(?!(?:1[5-9]|20)\d\d(?![\w-]))(?:\d{4,6}(?:-\d{3,4})?|\d\d-\d{3}))(?![\w-])"
            r"(?=\s+(?:in|on|for|to|and|with)\b|[.,;)]|\s*$)"), 0.45, unknown="place",
         description="A town with its second name in brackets, then a postal code: 'an "
                     "office in Tarvola (Ostby) 2237 in its new building'; each word of both "
                     "names in title case, no English word (given names count as none) and "
                     "no software, and no number that reads as a year (not 'in Revenue (USD) "
                     "4500', 'in Release (Beta) 2301', 'from Priya (Support) 4521', 'in Ulm "
                     "(Germany) 4500', 'born in Gmund (Baden) 1852')."),
    Rule("postal_year_in_place", "STREET_ADDRESS",
         _c(rf"\b(?:in|at|from)\s+(?!{_CALENDAR})"
            rf"(?P<place>{_TITLE_WORD}(?:\s+{_TITLE_WORD})?)(?:\s+[{UPPER}])?\s+(?P<v>{YEAR})"
            r"(?=\s+(?:in|on|for|to|and|with)\b|[.,;)])"), 0.45, unknown="place",
         description="The same for a postal code shaped like a year, after a place no "
                     "English dictionary knows and no software is named by (and its district "
                     "letter): 'an office in Tarvola 2042 in its new building', 'in Vesterby C "
                     "1911 in' (not 'in March 2024,', 'in Windows 2000 SP', 'at Microsoft "
                     "2019.')."),
    Rule("postal_in_place_lower", "STREET_ADDRESS",
         _c(rf"{_IN_LOWER_PLACE}"
            r"(?P<v>(?!(?:19|20)\d\d\b)\d{3,6}|\d{3}[ ]\d{2}|\d\d-\d{3}|"
            r"(?!(?:19|20)\d\d\b)[1-9]\d{3}[ ]"  # a Dutch code, no unit: "7721 kt", not "km"
            r"(?!s[ads]\b|(?:km|mi|ft|kg|lb|ml|mg|cm|mm|gb|mb|kb|hz|am|pm|ms|hp|px|kw|mw|us)\b)"
            r"[a-z]{2})(?![\w-])"
            r"(?=[ \t]+(?:in|on|for|to|and|with)\b|[.,;)])"), 0.45, lower_text_only=True,
         unknown="place",
         description="The same in a text with no capital letter, after a place no English "
                     "dictionary knows: 'an office in tarvola 4410 in its new building', 'in "
                     "dalvik 7721 kt for' (not 'in batches 4000 in')."),
    Rule("postal_alnum_in_place_lower", "STREET_ADDRESS",
         _c(rf"{_IN_LOWER_PLACE}(?P<v>{POSTAL_ALNUM_LOWER})(?![\w-])"
            r"(?=[ \t]+(?:in|on|for|to|and|with)\b|[.,;)]|$)"), 0.45, lower_text_only=True,
         description="A Canadian or British postal code in a text with no capital letter, "
                     "after any place: 'a shop in leeds ls6 2qt in the spring', 'in kelby "
                     "k2p 1l4.'"),
    Rule("postal_labelled", "STREET_ADDRESS",
         _c(r"(?i:\bzip(?:\s*code)?|\bpostal\s*code|\bpost\s*code|\bpostcode)\s*(?:is\s+)?[:#]?\s*"
            rf"(?P<v>{POSTAL_ALNUM}|{POSTAL_ALNUM_LOWER}|\d{{2,6}}(?:[- ]\d{{2,4}})?)(?![\w-])"),
         0.6, description="A postal code of any national shape and case after its label: "
                          "'ZIP: 48213', 'postal code 123 45', 'postcode SW1A 1AA', 'postcode "
                          "sw1a 1aa'."),
    # --- people (spaCy NER does most of the work)
    Rule("person_title", "PERSON",
         _c(rf"(?<!\w)(?i:{'|'.join(FORMS_OF_ADDRESS)})\.?\s+"
            r"(?P<v>[A-Za-zÀ-ÖØ-öø-ÿĀ-ž][\w'’-]+(?:\s+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+){0,2})"), 0.7,
         # nor a function word after the verb "miss" ("don't miss on the latest")
         validate=lambda v: v.split()[0].lower() not in _ROLE_WORDS
         and not (v.split()[0].islower() and sentence_word(v.split()[0])),
         description="Names after a title: 'Ms. Okonkwo', 'Dr Anna Berg'."),
    Rule("person_title_particle", "PERSON",
         _c(rf"(?<!\w)(?:{'|'.join(t.title() for t in FORMS_OF_ADDRESS)})\.?[ \t]+"
            rf"(?P<v>{particles.alternation(particles.PEOPLE)}(?:[ \t]+"
            rf"{particles.alternation(particles.PEOPLE)})?[ \t]+{CAP_NAME})"), 0.7,
         description="A surname led by a particle after a capitalised title: 'Ms. ten "
                     "Vossen', 'Dr. van der Berg' (not 'miss ten Python tips')."),
    Rule("email_display_name", "PERSON",
         _c(r"(?P<v>(?<![\w'’-])[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’.-]*(?:[ \t]+[^\W\d_][\w'’.-]*){0,3})[ \t]*"
            r"<[\w.+-]+@[\w-]+(?:\.[\w-]+)+>"), 0.8,
         description="The display name in 'Anna Berg <anna@example.com>' (mail headers)."),
    Rule("person_signature", "PERSON",
         _c(r"(?:^|\n)[ \t]*(?:--|—|–|~)[ \t]*\n?[ \t]*"
            r"(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’.-]+){0,2})[ \t]*(?=\n|$)"),
         0.75, description="A name signing off a message after '-- '."),
    Rule("person_here", "PERSON",
         _c(r"(?<![\w'’-])(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+)[ \t]+here\b"),
         0.6, description="Self-introductions: 'Ines Moreau here'."),
    Rule("person_initial", "PERSON",
         # (a bare "I" or "A" only where no title-case run goes on: "Will A Turner signed",
         # "Ilse A Tarvo's New Songs", not a headline's "How Can I Help You", "Build A Bot
         # In Python")
         _c(r"(?<![\w.])[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿā-ž'’-]+\s+(?:(?![AI]\s)[A-Z]\.?\s+"
            r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+|[AI]\s+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]++"
            r"(?:(?<=['’]s)|(?![ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž])))"
            # in lower case an article or "i" is no initial: "i need a flight from"
            r"|(?<![\w.])[a-zß-öø-ÿā-ž]{2,}\s+(?:(?![ai]\b)[a-z]|[a-z]\.)\s+[a-zß-öø-ÿā-ž]{2,}"
            r"(?=\s+(?:lives|is|was|from)\b)"), 0.6,
         validate=lambda v: not v.islower() or not _function_word_in(v),  # not "if a move is"
         description="First name, middle initial, last name: 'Elita B. Desaulniers'."),
    Rule("person_initial_lower", "PERSON",
         _c(r"(?<![\w.'’-])(?P<v>[a-zß-öø-ÿā-ž][a-zß-öø-ÿā-ž'’-]+[ \t]+[a-z]\.[ \t]+"
            r"[a-zß-öø-ÿā-ž][a-zß-öø-ÿā-ž'’-]+)(?![\w'’-])"), 0.5, lower_text_only=True,
         validate_words=lambda v, words: not any(common_word(w, words)
                                                 for w in v.split()[::2]),
         description="The same in a text with no capital letter, anywhere, when neither "
                     "name is an English word: 'a tavo k. lindqvist concert'."),
    Rule("person_block_head_lower", "PERSON",
         _c(r"(?m)^[ \t>]*(?P<v>[a-zß-öø-ÿā-ž][a-zß-öø-ÿā-ž'’-]+(?:[ \t]+(?:[a-z]\.?|"
            r"[a-zß-öø-ÿā-ž][a-zß-öø-ÿā-ž'’-]+)){1,2})[ \t]*"
            r"(?=\n(?:[ \t>]*[^\n]{0,60}\n){0,2}[ \t>]*\d{1,6}(?:[ \t]+\d{1,6})?[ \t]+[^\W\d_])"),
         0.5,
         lower_text_only=True,
         validate_words=lambda v, words: _unknown_name_line(v, words),
         description="The head of an address block in a text with no capital letter: a "
                     "line of two or three words, initials aside, none an English word nor "
                     "software, at most two lines above a line that starts with a house "
                     "number, or a unit's and a house's ('tavo lindqvist\\n12 tarvolagen "
                     "4\\n...')."),
    Rule("person_intro_lower", "PERSON",
         _c(r"(?i:\bmy\s+name\s+is|\bcall\s+me|\bcalls\s+me|\b(?:maiden|last|first|family)\s+"
            r"name\s+is)\s+(?P<v>[^\W\d_][\w'’-]+(?:\s+(?!(?:but|and|or|so)\b)[^\W\d_][\w'’-]+)?)"
            r"(?=\s*(?:[.,;!?\n]|$)|\s+(?:but|and|or|so)\b)"), 0.6,
         validate=lambda v: not _not_a_name_word(v.split()[0]),  # "please call me back"
         description="A name, in any case, ending a 'my name is' / 'call me' phrase."),
    Rule("person_name_answer", "PERSON",
         _c(r"(?i:\bwhat(?:['’]s|\s+is)\s+your\s+(?:(?:full|first|last|given|family|middle|"
            r"maiden)\s+|sur)?name\s*\?)[ \t]*+(?:\r?\n[ \t]*+){0,2}"
            r"(?:(?i:user|customer|client|caller|guest|human|me|you|answer|reply)[ \t]*+:"
            rf"[ \t]*+)?(?P<v>{_ANSWER_NAME})[ \t]*+(?=[.,;!?\r\n]|$)"), 0.6,
         validate_words=lambda v, words: _named_answer(v, words),
         description="The answer to a question for a name, in any case: \"and your "
                     "surname? tarvola\" (name words: a common given name or no English word "
                     "nor software, not a reply such as 'sure' or 'I am ...')."),
    Rule("person_kin_name", "PERSON",
         _c(rf"(?i:\b(?:my|his|her|their|our|your)\s+{_KIN}['’]s\s+(?:(?:full|first|last|"
            r"middle|maiden)\s+)?name(?:\s+is)?)\b(?:[ \t]*+[:,])?[ \t]*+(?:\r?\n[ \t]*+)?"
            rf"(?<=[\s:,])(?P<v>{_ANSWER_NAME})[ \t]*+(?=[.,;!?\r\n]|$)"), 0.6,
         validate_words=lambda v, words: _named_answer(v, words),
         description="A name given after 'my wife's name (is)': \"it's under my wife's "
                     "name orla tarvo\"."),
    Rule("person_gender_of", "PERSON",
         _c(rf"(?i:\bgender[ \t]+of)[ \t]+(?P<v>{CAP_NAME}(?:[ \t]+{CAP_NAME}){{0,2}})"
            r"(?![\w'’-])"), 0.5,
         validate_words=lambda v, words: _someones_name(v, words),
         description="Whose gender a sentence speaks of: 'the gender of Orvelle' (name "
                     "words only, no software)."),
    Rule("person_gender_of_lower", "PERSON",
         _c(r"\bgender[ \t]+of[ \t]+(?P<v>[^\W\d_][^\W\d_'’-]+)(?![\w'’-])"
            r"(?![ \t]+(?!(?:is|was|has|does)\b)[^\W\d_]+s\b|[ \t]+in[ \t]+the\b)"), 0.5,
         lower_text_only=True, validate_words=lambda v, words: _kin_name(v, words)
         and (given_name(v) or not v.endswith("s")),  # not "usernames", "emojis"
         description="The same in a text with no capital letter, when the word is a common "
                     "given name or no English word nor software."),
    Rule("person_former_member", "PERSON",
         _c(rf"(?i:\bby[ \t]+(?:ex-|former[ \t]+))[{UPPER}][\w'’.&-]*[ \t]+"
            rf"(?P<v>{CAP_NAME}(?:[ \t]+{CAP_NAME})?)(?![\w'’-])"), 0.5,
         validate_words=lambda v, words: _someones_name(v, words) and not any(
             _role_noun(w, words) for w in v.split()),
         description="A former member of a band or a team who made a work: 'a song by "
                     "ex-Zombie Tarvo' (name words only, no software)."),
    Rule("person_former_member_lower", "PERSON",
         _c(r"\bby[ \t]+(?:ex-|former[ \t]+)[^\W\d_][\w'’.&-]*[ \t]+"
            r"(?P<v>[^\W\d_][^\W\d_'’-]+)(?![\w'’-])"), 0.5,
         lower_text_only=True, validate_words=lambda v, words: _kin_name(v, words),
         description="The same in a text with no capital letter, when the word is a common "
                     "given name or no English word nor software."),
    Rule("person_work", "PERSON",
         _c(rf"\b(?i:the|a|an)[ \t]+(?:{_WORK_ADJECTIVE}[ \t]+)?"
            rf"(?P<v>{CAP_NAME}(?:[ \t]+{CAP_NAME}){{0,2}})[ \t]+"
            rf"{_WORK}"), 0.5,
         validate_words=lambda v, words: _someones_name(v, words),
         description="Whose novel, memoir or concert: 'the Tarvola novel', 'a Lewis Orvelle "
                     "concert' (name words, one a given name or no English word: not 'the "
                     "Gothic novel')."),
    Rule("person_work_lower", "PERSON",
         _c(rf"\b(?:the|a|an)[ \t]+(?:(?i:{_WORK_ADJECTIVE})[ \t]+)?"
            r"(?:[^\W\d_][^\W\d_'’-]+[ \t]+)?(?P<v>[^\W\d_][^\W\d_'’-]+)"
            rf"[ \t]+{_WORK}"), 0.5, lower_text_only=True,
         validate_words=lambda v, words: _kin_name(v, words),
         description="The same in a text with no capital letter: 'the tarvola novel'."),
    Rule("person_subject", "PERSON",
         _c(r"(?:^|(?<=[.!?\n]\s)|(?<=[.!?]\s\s)|(?<=\n))[ \t]*(?P<v>(?!(?:The|This|That|It|He|She|"
            r"They|We|You|I|Who|Everyone|Everybody|Someone|Somebody|Nobody|No|One|There|Here|What|"
            r"Which|My|Our|Your|His|Her|Their|Each|Every|All|Most|Many)\b)"
            r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+)?)[ \t]+"
            r"(?=(?:lives|lived|resides|works|worked|was\s+born|grew\s+up|is\s+from|"
            r"comes\s+from)\b)"), 0.5,
         description="The subject opening 'X lives on ...', 'X is from ...', 'X works at ...'."),
    Rule("person_subject_lower", "PERSON",
         _c(r"(?:^|(?<=[.!?\n]\s)|(?<=\n))(?P<v>(?!(?:the|this|that|it|he|she|they|we|you|i|who|"
            r"everyone|everybody|someone|somebody|nobody|no|one|there|here|what|which|my|our|your|"
            r"his|her|their|each|every|all|most|many)\b)[a-zß-öø-ÿā-ž]{2,}"
            r"(?:[ \t]+[a-zß-öø-ÿā-ž]{2,})?)"
            r"[ \t]+(?=(?:lives|lived|resides|works\s+(?:at|for)|was\s+born|grew\s+up|is\s+from|"
            r"comes\s+from)\b)"), 0.45,
         description="The same in lower-case text: 'odile is from ...'."),
    Rule("person_vocative", "PERSON",
         _c(r"(?:^|(?<=\n))[ \t]*(?P<v>(?!(?:Yes|No|Okay|Ok|Hi|Hello|Hey|Sorry|Well|So|Now|Also|"
            r"However|Thanks|Thank|Anyway|Actually|Alright|Sure|Please|Oh|Great|Perfect|Listen|Look|"
            r"Then|First|Second|Third|Finally|Again|Honestly|Seriously|Sir|Madam|Guys|Everyone|"
            r"Folks|Team|Friends|Boss|Mom|Dad|Doctor|Excuse|Besides|Meanwhile|Otherwise|Today|"
            r"Tomorrow|Yesterday|Also|Still|Btw|Fine|Good|Right|Wait|Ah|Um|Uh|Hmm|Dear|Hmmm)\b)"
            r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿā-ž'’-]+),[ \t]+(?=(?:can|could|would|will|do|did|are|have|"
            r"please|I|you|we|let's|what|where|when|how|why|thank)\b)"), 0.5,
         description="A name addressed at the start of a line: 'Tavi, can you ...'."),
    Rule("person_vocative_lower", "PERSON",
         _c(r"(?:^|(?<=\n))[ \t]*(?P<v>[a-zß-öø-ÿā-ž][a-zß-öø-ÿā-ž'’-]+),[ \t]+"
            r"(?=(?:can|could|would|will|do|did|are|have|please|i|you|we|let's|what|where|when|how|why|thank)\b)"),
         0.5, lower_text_only=True, validate=lambda v: v not in _NOT_VOCATIVES,
         description="The same in a text with no capital letter: 'tavi, can you ...'."),
    Rule("person_greeting", "PERSON",
         _c(rf"(?:^|(?<=[\s\"“(]))(?i:{_GREETINGS}|greetings)[ \t]+"
            r"(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+)?)"
            r"[ \t]*(?=[,!]|\n|$)"), 0.55,
         validate=lambda v: v.split()[0].lower() not in _NOT_VOCATIVES,
         description="A name greeted: 'Hi Tavi,', 'Good morning Ines Moreau!'."),
    Rule("person_greeting_lower", "PERSON",
         _c(rf"(?:^|(?<=[\s\"“(])){_GREETINGS}"
            r"[ \t]+(?P<v>[a-zß-öø-ÿā-ž][\w'’-]+)[ \t]*(?=[,!]|\n|$)"), 0.5,
         lower_text_only=True, validate=lambda v: v not in _NOT_VOCATIVES,
         description="The same in a text with no capital letter: 'hi tavi, ...'."),
    Rule("person_given_to", "PERSON",
         _c(rf"{_GIVE_VERB}[ \t]+(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+)?)"
            rf"[ \t]+{_POSSESSIVE_AFTER}"), 0.55,
         validate=lambda v: not {w.lower() for w in v.split()} & _NOT_RECIPIENTS,
         description="The person something is given, sent or shown, before a possessive: "
                     "'had given Tavi his address', 'sent Ines her invoice'."),
    Rule("person_given_to_lower", "PERSON",
         _c(rf"{_GIVE_VERB}[ \t]+(?P<v>[^\W\d_][\w'’-]+(?:[ \t]+[^\W\d_][\w'’-]+)?)[ \t]+"
            rf"{_POSSESSIVE_AFTER}"), 0.5, lower_text_only=True,
         validate=lambda v: not {w.lower() for w in v.split()} & _NOT_RECIPIENTS,
         description="The same in a text with no capital letter: 'gave tavi his keys'."),
    Rule("person_author", "PERSON",
         _c(rf"{_ARTIST_BY}[ \t]+(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:[ \t]+(?:[A-Z]\.?[ \t]+)?"
            rf"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+){{0,2}}){_ARTIST_END}"), 0.5,
         validate=lambda v: not {w.lower() for w in v.split()} & _NOT_RECIPIENTS,
         description="The artist of a work: 'sung by Tavi Lund in 2007', 'directed by "
                     "Ines Moreau and ...' (not 'written by', which names tools and models)."),
    Rule("person_author_lower", "PERSON",
         _c(rf"{_ARTIST_BY}[ \t]+(?P<v>[^\W\d_][\w'’-]+(?:[ \t]+(?:[a-z]\.?[ \t]+)?"
            rf"[^\W\d_][\w'’-]+){{0,2}}){_ARTIST_END}"), 0.5, lower_text_only=True,
         validate=lambda v: not {w.lower() for w in v.split()} & _NOT_RECIPIENTS,
         description="The same in a text with no capital letter."),
    Rule("person_kin", "PERSON",
         _c(r"(?i:\b(?:my|our|his|her|their|your)\s+(?:(?:eldest|youngest|older|younger|little|"
            rf"big|late|ex|step|grand|new|best)[ -]?)?{_KIN})"
            r",?\s+(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:\s+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+){0,2})"), 0.6,
         validate=lambda v: v.split()[0].lower() not in _ROLE_WORDS | _VERB_WORDS,
         description="A name after a kinship or role noun: 'my son Tomas', 'her boss Ines'."),
    Rule("person_kin_lower", "PERSON",
         _c(rf"\b(?:my|our|his|her|their|your)\s+{_KIN}\s+(?P<v>[^\W\d_][\w'’-]+)"), 0.5,
         lower_text_only=True, validate_words=lambda v, words: _kin_name(v, words),
         description="The same in a text with no capital letter, when the word is a common "
                     "given name or no English word nor software: 'my son mateo', 'my "
                     "daughter ilsabet'."),
    Rule("person_is_a_person", "PERSON",
         _c(r"(?:^|(?<=[.!?:]\s)|(?<=\n))[ \t]*(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž]"
            r"[\w'’-]+)?)[ \t]+(?:is|was)[ \t]+(?:a|an|such[ \t]+a)[ \t]+(?:[a-z]+[ \t]+){0,2}?"
            r"(?:person|man|woman|guy|girl|boy|lady|gentleman|human[ \t]+being)\b"), 0.5,
         validate=lambda v: all(name_word(w) for w in v.split()),
         description="Someone a sentence calls a person: 'Tavi is a very kind person'."),
    Rule("person_is_a_person_lower", "PERSON",
         _c(r"(?:^|(?<=[.!?:]\s)|(?<=\n))[ \t]*(?P<v>[^\W\d_][\w'’-]+)[ \t]+(?:is|was)[ \t]+"
            r"(?:a|an|such[ \t]+a)[ \t]+(?:[a-z]+[ \t]+){0,2}?(?:person|man|woman|guy|girl|"
            r"boy|lady|gentleman|human[ \t]+being)\b"), 0.5, lower_text_only=True,
         validate=lambda v: name_word(v), description="The same in a text with no capital "
                                                      "letter."),
    Rule("person_trait", "PERSON",
         _c(rf"(?:(?i:\b(?:why|how)[ \t]+(?:is|was))[ \t]+|(?:^|(?<=[.!?:]\s)|(?<=\n))[ \t]*)"
            rf"(?P<v>{CAP_NAME}(?:[ \t]+{CAP_NAME})?)(?:[ \t]+(?:is|was))?[ \t]+"
            rf"(?:so|very|really|extremely|always|too)[ \t]+{_TRAIT}\b(?![ \t]+of\b)"), 0.5,
         validate_words=lambda v, words: _someones_name(v, words),
         description="Someone a sentence gives a trait of character: 'Why is Tavi so "
                     "impulsive?', 'Orvelle is very generous.' (name words, no software)."),
    Rule("person_trait_lower", "PERSON",
         _c(r"(?:\b(?:why|how)[ \t]+(?:is|was)[ \t]+|(?:^|(?<=[.!?:]\s)|(?<=\n))[ \t]*)"
            r"(?P<v>[^\W\d_][^\W\d_'’-]+)(?:[ \t]+(?:is|was))?[ \t]+"
            rf"(?:so|very|really|extremely|always|too)[ \t]+{_TRAIT}\b(?![ \t]+of\b)"), 0.5,
         lower_text_only=True, validate_words=lambda v, words: _kin_name(v, words),
         description="The same in a text with no capital letter, when the word is a common "
                     "given name or no English word nor software."),
    Rule("person_named", "PERSON",
         _c(r"(?i:\b(?:named|called|christened|bapti[sz]ed)\s+(?:him|her|them|it|me|us|the\s+"
            r"(?:baby|child|boy|girl)))\s+(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:\s+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+)?)"),
         0.6, description="A name given: 'they named her Ilse'."),
    Rule("person_named_lower", "PERSON",
         _c(r"\b(?:named|christened|bapti[sz]ed)\s+(?:him|her|them|me|us|the\s+"
            r"(?:baby|child|boy|girl))\s+(?P<v>[^\W\d_][\w'’-]+)"), 0.5, lower_text_only=True,
         validate_words=lambda v, words: _kin_name(v, words),
         description="The same in a text with no capital letter, when the word is a common "
                     "given name or no English word nor software: 'she named him ilsabet'."),
    Rule("person_recipient", "PERSON",
         _c(r"(?i:\b(?:ship|send|deliver|bill|mail)(?:ping|ed|ery)?\s+to|\b(?:billing|shipping|"
            r"mailing|delivery|postal|home|return)\s+address|\brecipient|\baddressee|\battn\.?|"
            r"\battention)[ \t]*:?[ \t]*(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:[ \t]+[A-Z]\.?)?(?:[ \t]+"
            r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+){1,2})(?=[ \t]*,?[ \t]*(?:\n[ \t]*)?\d)"), 0.6,
         validate=lambda v: v.split()[0].lower() not in _ROLE_WORDS,
         description="The recipient's name heading an address: 'Ship to: Ines Moreau, 12 "
                     "Harbour Lane'."),
    Rule("person_possessive", "PERSON",
         _c(rf"(?<![\w'’-])(?P<v>{CAP_NAME}(?:[ \t]+{CAP_NAME})?)['’]s[ \t]+{_WHOSE}"), 0.5,
         validate=lambda v: _possessor(v),
         description="Whose address, phone number, birthday, family or song: 'here is "
                     "Auriel's address', 'Tavi's wife', 'Orvelle's novel' (no software, "
                     "organisation or place word)."),
    Rule("person_possessive_kin", "PERSON",
         _c(rf"(?<![\w'’-])(?P<v>{CAP_NAME}(?:[ \t]+{CAP_NAME})?)['’]s[ \t]+{_KIN_OWNED}"), 0.5,
         validate_words=lambda v, words: _someones_name(v, words),
         description="Whose kid, brother, sister, cousin, nephew or niece, when a word of "
                     "the name is a given name or no English word: 'Ansgar's kid' (not "
                     "'Haiku's sister model')."),
    Rule("person_possessive_lower", "PERSON",
         _c(rf"(?<![\w'’-])(?P<v>[^\W\d_][^\W\d_-]+)['’]s[ \t]+(?:{_WHOSE}|{_KIN_OWNED})"),
         0.5,
         lower_text_only=True, validate_words=lambda v, words: _kin_name(v, words),
         description="The same in a text with no capital letter, when the word is a common "
                     "given name or no English word nor software: 'here's ilsabet's "
                     "address'."),
    Rule("person_quoted", "PERSON",
         _c(r"[,!?][\"”’][ \t]+(?:says|said|adds|added|explains|explained|notes|noted|recalls|"
            r"recalled|writes|wrote|asks|asked)[ \t]+"
            rf"(?P<v>{CAP_NAME}(?:[ \t]+{CAP_NAME}){{0,2}})(?=[ \t]*(?:[.,;!?\n]|$))"), 0.5,
         validate=lambda v: _possessor(v),
         description="Who a quotation is attributed to: '\"We ship on Friday,\" says "
                     "Orvelle.' (name words only, no software)."),
    Rule("person_role", "PERSON",
         _c(r"(?<![\w-])(?i:producer|director|editor|professor|coach|manager|ceo|cto|cfo|coo|"
            r"chair(?:man|woman|person)?|senator|governor|mayor|judge|detective|sergeant|"
            r"inspector|minister|ambassador|reporter|correspondent|spokes(?:person|man|woman)|"
            r"analyst|singer|songwriter|guitarist|drummer|bassist|vocalist|actor|actress|author|"
            r"writer|poet|painter|commenter|founder|co-founder|researcher|economist|engineer)"
            rf"[ \t]+(?P<v>{CAP_NAME}(?:[ \t]+{CAP_NAME}){{0,2}})[ \t]+(?:says|said|explains|"
            r"explained|tells|told|adds|added|notes|noted|writes|wrote|points[ \t]+out|"
            r"pointed[ \t]+out|announced|confirmed|recalls|recalled|argues|argued)\b"), 0.5,
         validate=lambda v: _possessor(v),
         description="A name between the role before it and a verb of speech after it: "
                     "'Producer Orvel Tarn explained', 'as commenter Ines Hale points out'."),
    Rule("person_intro", "PERSON",
         _c(r"(?i:\bmy\s+name\s+is|\b(?:sur|(?:first|last|family|given)\s+)?name"
            r"(?:\s+on\s+the\s+\w+)?(?:\s+is|\s*:|\?)?|\bi\s+am|\bi'm|"
            r"\bthis\s+is|\bdear|\bsincerely,?|\b(?:was|is|be|been|were)\s+(?:called|named)"
            r"|\bregards,?|\bthanks,|\bcheers,|\bsigned,?|\bcontact\s+person\s*:|\bpassenger\s*:"
            r"|\bguest\s*:|\bcustomer\s*:|\bholder\s*:)\s+"
            r"(?P<v>[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+(?:[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+){0,2})"), 0.55,
         validate=lambda v: v.split()[0].lower() not in _ROLE_WORDS
         and (" " in v or not _not_a_name_word(v)),  # "Customer: Hi, this is", "Customer: We"
         description="Capitalised names after 'my name is', 'Dear', 'Regards,', 'Passenger:'."),
]}


# spaCy entity labels that mean "not a person" strongly enough to leave a proper noun.
_NOT_PERSON_LABELS = {"GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
                      "LANGUAGE", "DATE", "TIME", "MONEY", "QUANTITY", "PERCENT", "CARDINAL",
                      "ORDINAL"}
# Of those, the labels NER gives to words it does not know (not numbers or dates).
_GUESSED_LABELS = {"GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
                   "LANGUAGE", "LOCATION", "NRP"}


def guessable(label: str) -> bool:
    """A label NER may give to words it does not know (:func:`guessed_label`)."""
    return label in _GUESSED_LABELS


def guessed_label(span: Any) -> bool:
    """A place, product or nationality label (spaCy's or Presidio's name for it) on words
    the model has no vector for: a guess. The md model calls most unfamiliar foreign
    names GPE or LOC ("Ojuolape will call")."""
    return span.label_ in _GUESSED_LABELS and bool(span.doc.vocab.vectors.size) \
        and all(t.is_oov for t in span)
_ORG_WORDS = {
    "inc", "corp", "corporation", "company", "co", "ltd", "llc", "plc", "gmbh", "ag", "sa",
    "group", "bank", "university", "college", "school", "institute", "airlines", "airline",
    "airways", "hotel", "hotels", "resort", "hospital", "clinic", "foundation", "association",
    "agency", "department", "ministry", "council", "partners", "solutions", "systems",
    "technologies", "labs", "services", "international", "holdings", "capital", "media",
    "street", "road", "avenue", "api", "sdk", "cloud", "ai", "app", "platform", "team",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "orchestra", "associates", "incorporated", "enterprises", "industries", "studios",
    "studio", "records", "trust", "society", "club", "committee", "union", "network",
    "consulting", "ventures", "works", "press", "publishing", "pharma", "motors",
    "logistics", "software", "analytics", "insights", "data", "health", "energy",
    "inn", "suites", "lodge", "airport", "station", "terminal", "museum", "church",
    "cathedral", "stadium", "arena", "theatre", "theater", "library", "mall", "market",
    "sons", "brothers", "website", "office", "offices", "headquarters", "hq", "employees",
    "limited", "companies", "bancorp", "bancshares", "securities", "resorts", "fund", "funds",
    "etf", "reit", "trading", "exchange", "investments", "financial", "insurance",
    # trades and industries a firm is named after ("Halvorsen Shipping")
    "shipping", "freight", "transport", "construction", "foods", "brewing", "brewery",
    "bakery", "textiles", "garments", "mining", "chemicals", "electric", "electronics",
    "telecom", "communications", "automotive", "engineering", "manufacturing", "realty",
    "properties", "global", "worldwide", "research", "cement", "pharmaceuticals", "biotech",
    "therapeutics", "dairy", "farms", "hospitality", "management", "marketing", "digital",
    "tech", "robotics", "dynamics", "semiconductor", "semiconductors", "instruments",
    "aerospace", "apparel", "cosmetics", "retail", "wholesale", "supplies", "supply",
}
# Legal forms of companies across countries: they make a company whatever the letter
# case ("acme ltd", "Foo S.p.A.", "Bar Oy", "Baz Société Anonyme").
_SHORT_FORMS = {"se", "va", "sl", "cv", "sa", "ab", "ag", "kg", "comm", "spa", "sas"}  # words too
_LEGAL_FORMS = {
    "inc", "corp", "ltd", "llc", "llp", "plc", "gmbh", "ag", "sa", "sas", "sarl", "spa", "srl",
    "nv", "bv", "ab", "oy", "oyj", "asa", "kk", "kg", "pty", "bhd", "sdn", "pte", "se",
    "limited", "incorporated", "corporation", "société", "societe", "anonyme", "aktiengesellschaft",
    "aktiebolag", "comm", "va", "cv", "sca", "sl", "ooo", "zao", "pjsc", "jsc",
}


def org_like(text: str, start: int, end: int, org_starts: frozenset[int] = frozenset(),
             verbs: frozenset[int] = frozenset()) -> bool:
    """A "name" that holds or is followed by an organisation or venue word ("Harlow
    Orchestra", "Hilton Garden Inn", "Acme Ltd", "the Acme website"), or that is
    described as one ("Acme is a small consultancy"). ``org_starts``: where NER found an
    organisation; one that starts right after the name is the person's employer
    ("Ines Moreau Acme Holdings Inc." on a business card). ``verbs``: where the tagger
    saw a verb, which ends an organisation's name ("my son mateo starts school")."""
    words = re.findall(r"[^\W\d_]+", text[start:end].lower())
    if any(w in _ORG_WORDS or w in _LEGAL_FORMS for w in words):
        return True
    if _DESCRIBED_AS.match(text, end):
        return True
    lower = lower_case_prose(text)
    pos = end
    for _ in range(6):  # "Reyes, Marsh and Harlow Orchestra"
        m = _NAME_OR_JOIN.match(text, pos)
        if not m or m.start(1) in org_starts:
            return False  # NER put the organisation next to the name, not around it
        if m.start(1) in verbs and m.group(1).islower():
            # the sentence goes on: "mateo starts school" (a capitalised word tagged a
            # verb may still name the organisation: "Acme Trading Ltd")
            return False
        w, pos = m.group(1), m.end()
        if _legal_form(w) or (w.lower() in _ORG_WORDS and (w[0].isupper() or lower)):
            return True
        if not (w[0].isupper() or w in ("and", "&") or (lower and w not in _FUNCTION_WORDS)):
            return False
    return False


def _legal_form(word: str) -> bool:
    """A company's legal form: "Ltd", "S.p.A", "SE", or one glued to the name ("AcmeInc")."""
    w = word.lower().strip(".")
    for form in {w.replace(".", ""), *w.split(".")} & _LEGAL_FORMS:
        if word[0].isupper() or form not in _SHORT_FORMS:
            return True
    return bool(re.search(r"[a-z](?:Inc|Corp|Ltd|LLC|GmbH|Incorporated)\.?$", word))


_NAME_OR_JOIN = re.compile(r"[ \t,]*([^\W\d_][\w'’.-]*|&)")
# "<name> is a (small) consultancy": a description whose head noun (the word that ends
# it, before punctuation or a preposition) names an organisation or a work. "a company director"
# ends in "director", so a person stays a person.
_ORG_HEADS = ("agency", "company", "firm", "startup", "nonprofit", "non-profit", "charity",
              "organisation", "organization", "multinational", "brand", "manufacturer",
              "retailer", "provider", "vendor", "corporation", "business", "bank", "airline",
              "university", "publisher", "franchise", "chain", "website", "platform",
              "consultancy", "conglomerate", "subsidiary", "band", "label", "501\\(c\\)\\(?3\\)?",
              # works: "Brightwater is a 1999 road-movie"
              "film", "movie", "novel", "book", "song", "album", "game", "series", "sitcom",
              "comedy", "drama", "documentary", "musical", "opera", "podcast", "magazine",
              "newspaper", "journal", "blog")
_DESCRIBED_AS = re.compile(
    r"[ \t]+(?:is|was|are|were)[ \t]+(?:a|an|the|one\s+of\s+the)[ \t]+(?:[\w'’-]+[ \t]+){0,3}?"
    rf"(?:[\w'’]+-)?(?i:{'|'.join(_ORG_HEADS)})s?(?=[ \t]*(?:[.,;:!?)]|$)|[ \t]+(?:based|in|"
    r"that|which|with|for|of|from|located|headquartered|founded|specializing|specialising|and|"
    r"focused|"
    r"on|at|whose|where|who|\w+(?:ed|ing))\b)")


# Words just before a proper noun that make it a place or an organisation rather than a
# person, unless it holds a common given name: "I am in Tampere", "we drove to Oulu",
# "I work for Quillbase".
_PLACE_OR_ORG_BEFORE = re.compile(
    r"(?i:\b(?:in|near|into|via|across|throughout|towards?|"
    r"(?:return(?:s|ed|ing)?|went|go(?:es|ing)?|dr(?:o|i)ve|driving|head(?:s|ed|ing)|"
    r"arriv(?:e|es|ed|ing))(?:\s+back)?\s+(?:to|in|at)|"
    r"work(?:s|ed|ing)?\s+(?:for|at)|employed\s+(?:by|at)|"
    r"according\s+to(?:\s+the)?)[ \t]+|"
    # a field that holds a place, a venue, a company or a product ("city": "Lisbon")
    r"\b(?i:where|city|town|country|region|state|location|place|venue|destination|origin|"
    r"restaurant|hotel|airline|carrier|airport|station|company|employer|organi[sz]ation|org|"
    r"product|brand|model|category|genre|language|team|department|role|vendor|tool|"
    r"service)[\"']?[ \t]*[:=][ \t]*[\"']?)$")
# Words that make what follows a place even when it holds a given name ("born in
# Dolores", "relocated here from Warren", "University of <town>", "her home town X"): where
# someone lives, comes from or moves to, and an institution or a place "of" a name.
_PLACE_BEFORE_STRONG = re.compile(
    r"(?i:\b(?:(?:originally|hails?|hailing|emigrated|immigrated)\s+from|"
    r"(?:born|raised|grew\s+up|settled|based|li(?:ve|ves|ved|ving)|resid(?:e|es|ed|ing))\s+in|"
    r"(?:fl(?:ew|y|ies|ying)|mov(?:e|es|ed|ing)|relocat(?:e|es|ed|ing)|"
    r"travel(?:s|l?ed|l?ing)?|sail(?:s|ed|ing)?|emigrat(?:e|es|ed|ing))"
    r"(?:\s+(?:here|there|back|away|over|out|home|abroad))?\s+(?:to|in|from|into)|"
    r"home\s*town|home\s+(?:city|village|country)|"
    r"(?:university|college|city|town|village|county|province|region|district|republic|"
    r"kingdom|state|port|isle|island|lake|gulf|bay|municipality|commune|diocese|bishop|"
    r"mayor|governor)\s+of(?:\s+the)?)[ \t]+)$")
# The first word of a place name: "San Javier", "New Haldon", "Port Elsby", "Lake Ruuna".
_PLACE_PREFIXES = {"san", "santa", "são", "sao", "saint", "sainte", "st", "ste",
                   "port", "porto", "puerto", "fort", "mount", "mt", "lake", "cape", "new",
                   "north", "south", "east", "west", "upper", "lower", "villa", "ciudad",
                   "cite", "cité", "isla", "ile", "île"}
_PHRASE_WORD_BEFORE = re.compile(r"(?:^|(?<=[\s(\"'“‘]))(?P<w>[^\W\d_][\w'’.-]*)[ \t]+$")


def place_phrase_start(text: str, start: int, lower: bool = False) -> int:
    """Where the capitalised phrase holding ``start`` begins: back over capitalised words
    and the particles between them ("Talavera de la Reina" from "Reina"); in lower-case
    prose back over up to two words that are not function words."""
    pos, taken = start, 0
    while taken < 5 and (m := _PHRASE_WORD_BEFORE.search(text, max(0, pos - 40), pos)):
        w = m.group("w")
        if w.lower() in _CALENDAR_WORDS or w.lower() in _FUNCTION_WORDS \
                or (w[-1] in ".!?" and w.lower() not in ("st.", "ste.", "mt.")):
            break  # not across a sentence end: "... in Africa. Producer Ines Moreau"
        if w[0].isupper() or w in particles.PLACE:
            pos = m.start()
        elif lower and taken < 2 and w not in _FUNCTION_WORDS:
            pos = m.start()
        else:
            break
        taken += 1
    while pos < start and text[pos:].split(maxsplit=1)[0] in particles.PLACE:
        pos = text.index(" ", pos) + 1  # a place name never starts with a particle
    return pos


_CALENDAR_WORDS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                   "sunday", "january", "february", "march", "april", "may", "june", "july",
                   "august", "september", "october", "november", "december", "today",
                   "tomorrow", "yesterday"}
_FUNCTION_WORDS = {
    "a", "an", "the", "and", "or", "but", "at", "in", "on", "to", "of", "for", "from", "with",
    "by", "near", "into", "via", "is", "are", "was", "were", "be", "been", "i", "i'm", "me",
    "my", "we", "our", "you", "your", "he", "his", "she", "her", "they", "their", "them",
    "this", "that", "it", "its", "here", "there", "originally", "born", "moved", "live",
    "lives", "lived", "living", "based", "grew", "up", "flew", "ask", "tell", "call", "met",
}


def place_or_org_context(text: str, start: int, end: int) -> bool:
    """A "name" that is a place or an organisation by the words before it: a place word
    ("San", "New", "Lake") leads it or stands just before it in its phrase
    (:func:`place_phrase_start`), or follows :data:`_PLACE_BEFORE_STRONG`, or follows
    :data:`_PLACE_OR_ORG_BEFORE` with no common given name in it. Never when possessive
    ("in Anna's car" is about Anna)."""
    if text.startswith(("'s", "’s"), end):
        return False
    begin = min(place_phrase_start(text, start, lower_case_prose(text)), start)
    phrase = re.findall(r"[^\W\d_]+", text[begin:end])
    if not phrase:
        return False  # no letters at all: nothing here names a place
    before = re.findall(r"[^\W\d_]+", text[begin:start])
    lead = before[-1] if before else phrase[0]  # the word just before, or the span's first
    if len(phrase) >= 2 and lead.lower() in _PLACE_PREFIXES \
            and (lead[0].isupper() or lower_case_prose(text)) \
            and not (lead.lower() == "new" and _WORK_AFTER.match(text, end)):
        return True  # but "the new Tarvola novel" is Tarvola's ("a San Diego concert" stays)
    if _PLACE_BEFORE_STRONG.search(text, max(0, begin - 48), begin):
        return True
    if any(given_name(w) for w in phrase):
        return False
    return bool(_PLACE_OR_ORG_BEFORE.search(text, max(0, begin - 40), begin))


# What follows a product, a technique or a unit named after someone, never a person:
# a model or version number ("Forerunner 265", "MX Master 3S", "Redis 7.2", "Firefox
# 121+"), an airline's flight number ("Aer Lingus EI 1479"), or a technical noun ("Kalman
# filter", "Dijkstra's algorithm").
_THING_AFTER = re.compile(
    r"(?:['’]s)?[ \t]+(?:(?:[A-Z]{1,3}\d+[A-Za-z]*|\d+[A-Za-z]+|\d+(?:\.\d+)+|\d+\+|"
    r"[A-Z][A-Z\d][ \t]\d{1,4})(?![\w-])|"
    r"(?i:algorithms?|filters?|distributions?|distances?|formulas?|formulae|coding|encoding|"
    r"simulations?|theorems?|lemmas?|conjectures?|equations?|transforms?|inequality|"
    r"principle|constants?|criterion|paradox|hypothesis|integrals?|polynomials?|"
    r"heuristics?|sampling|estimators?|kernels?|notation|method)\b)")


# What follows a place name ("the Pellingham bridge") or a line of a job title
# ("Freight coordinator"), never a person's name; a possessive ("Anna's bridge") is about
# the person and does not match.
_PLACE_OR_JOB_AFTER = re.compile(
    r"[ \t]+(?:(?i:bridge|river|lake|mountains?|valley|islands?|bay|beach|castle|palace|"
    r"tower|canal|harbou?r|peninsula|forest|cathedral|region|county|province|district|"
    r"municipality|fjord|glacier|volcano|waterfall|creek|reservoir|strait|coast|desert)\b|"
    r"(?:consultant|manager|worker|engineer|officer|representative|assistant|director|"
    r"specialist|technician|analyst|designer|developer|clerk|operator|supervisor|"
    r"coordinator|administrator|scientist|inspector|advis[eo]r|planner|architect|surveyor|"
    r"therapist|counsell?or|teacher|instructor|editor|writer|producer|accountant|attendant|"
    r"broker|trainer|programmer|researcher|executive|salesperson|mechanic|electrician|"
    r"plumber|installer|estimator|auditor|nurse|aide|buyer|chef|cook|driver|pilot|scout|"
    r"practitioner|therapist|secretary|receptionist|cashier|tester|curator|librarian|"
    r"translator|interpreter|surgeon|physician|pharmacist|dentist|paralegal|lawyer)s?"
    r"(?=[ \t]*(?:$|\n|[,;.)]|[ \t](?:at|for|of|in)\b)))")
# Occupations that are one title-case word: "the Volcanologist".
_OCCUPATION_WORD = re.compile(r"[^\W\d_]+(?:ologist|ographer|ician|ologue)$")


_DIGIT_AFTER = re.compile(r"[ \t,.]*\d")  # "Tue 22:00", "Fri, 3 May"
# A full stop and a number that ends at punctuation or the line: "Vol. 122,", "Fig. 3)"
# (not "Anna. 3 people came": a name that ends a sentence)
_DOT_NUMBER_AFTER = re.compile(r"\.[ \t]*\d+(?=[ \t]*(?:[,;:)*\]]|\n|$))")
_LETTERS = re.compile(r"[^\W\d_]*")
_DAY_BEFORE = re.compile(r"(?<![\d.,])\d{1,2}(?:st|nd|rd|th)?[ \t]+$")  # "9 Jan", "3rd May"
# Temperature scales; Kelvin is also a given name, so only after a quantity.
_SCALES = {"celsius", "fahrenheit", "centigrade", "kelvin", "rankine"}
_QUANTITY_BEFORE = re.compile(r"(?:\d|°|\b(?i:degrees?))[ \t]*$")
# Code around a word: a keyword that declares or imports a name before it, or a call
# right after it ("from typing import List", "class Snake:", "-> Board", "Board(3)").
_CODE_BEFORE = re.compile(r"(?:(?:\b(?:import|def|extends|implements|interface|struct|enum|"
                          r"typeof|instanceof)|->|::)[ \t]+"
                          r"|\bimport[ \t]+(?:[\w.]+[ \t]*,[ \t]*)+"  # "import Any, Dict"
                          r"|(?<![\w.])[a-z_][a-z0-9_]{2,}\.)\Z")  # "pygame.KEYDOWN"
# A parameter with its type, in a signature or a docstring: "(self, cmd: str)", "cmd
# (str): the command", "env (str, optional):". Built-in types in lower case only, closed
# by code punctuation ("Okafor: None yet" and "Moreau: set up the call" are speakers).
_TYPES = r"(?:str|int|float|bool|bytes|dict|list|tuple)"
_ANNOTATION_AFTER = re.compile(rf"[ \t]*:[ \t]*{_TYPES}[ \t]*(?:[,)=\]|]|->|$)"
                               rf"|[ \t]*\({_TYPES}(?:,[ \t]*optional)?\)[ \t]*:", re.MULTILINE)
_CLASS_BEFORE = re.compile(r"\bclass[ \t]+$")
_CLASS_AFTER = re.compile(r"[ \t]*[:{(]|[ \t]+(?:extends|implements)\b")  # "class Snake:"
# Placeholders of a date or time format: "YYYY-MM-DD", "HH:MM:SS".
_DATE_PART = r"(?:Y{2,4}|MM|DD|HH|hh|mm|SS|ss)"
_DATE_FORMAT = re.compile(rf"{_DATE_PART}(?:[-/:. T]{_DATE_PART})+")  # "YYYY-MM-DDTHH"
# "Tool Name: Hand off work": the name of a thing, not of a person.
_THING_NAME_BEFORE = re.compile(
    r"(?i:\b(?:tool|file|project|product|company|model|function|method|class|field|column|"
    r"table|package|module|library|app|brand|team|business|domain|host|repo|repository|"
    r"branch|dataset|variable|parameter|argument|attribute|property|key|node|task|"
    r"service|server|database|bucket|topic|channel|workspace|organi[sz]ation|hotel|"
    r"restaurant|store|venue|street|city|place|game|course|song|album|book|movie|film|show|"
    r"item|plan|section|tag|label|folder|directory|image|container|device|network|bot|"
    r"feature|metric|index|job|pipeline|stage|step|page|site|skill|action|command|event|"
    r"test|recipe|dish|ship|vessel|species|pet)[ \t]+name[ \t]*[:=]?[ \t]*[\"'“‘]?)$")
_LANDMARKS = {"bridge", "river", "lake", "valley", "island", "bay", "beach", "castle", "palace",
              "tower", "canal", "harbour", "harbor", "fjord", "glacier", "waterfall", "creek",
              "reservoir", "coast"}


# Kinds of site a proper noun names in title case ("Belém Tower", "Taronga Zoo", "Meiji
# Shrine"); none is a common surname, as Hill, Hall, Park, Church or Lake are.
_SITES = frozenset({"bridge", "tower", "palace", "castle", "canal", "fjord", "glacier",
                    "waterfall", "reservoir", "monastery", "gallery", "zoo", "cemetery",
                    "shrine", "museum", "cathedral", "basilica", "mosque", "synagogue",
                    "chapel", "fortress", "aquarium", "stadium", "beach", "island", "islands",
                    "peninsula", "volcano", "gardens", "airport", "station"})


def site_name(value: str) -> bool:
    """A proper noun ending in the kind of site it names (:data:`_SITES`), with no given
    name before it: "Borghese Gallery", not "Anna Tower" (nor, at a cost, "Charles
    Bridge")."""
    words = value.split()
    return len(words) > 1 and words[-1].lower() in _SITES \
        and not any(any_given_name(w) for w in words[:-1])


# Given names that are English words too ("Jack", "Felicity"), left out of
# ``first_names.txt`` so that the word alone is no name; next to another word of a name
# they say it is one ("Jack Cook").
WORD_GIVEN_NAMES = frozenset("""
    abbey amber april art august autumn bill bob bud buddy carol chance chase chip christian
    clay cliff crystal daisy dale dawn dean destiny dick don dot drew eve faith fern
    frank gene ginger glen grace grant guy hazel heath heather holly honey hope hunter
    iris ivy jack jade jasmine jay jean jewel jim joy june kit lance lily mark marsh
    mason max may melody mercy mike misty nick norm olive opal pat patience pearl penny
    peter piper poppy prince ray red reed rich robin rocky rose rod ruby rusty sage
    sandy scarlett skip sky stacy sterling stone sue summer sunny sydney taylor ted
    terry tom tony trinity violet wade ward will willow win wren charity verity felicity
    clement clemency""".split())


def any_given_name(word: str) -> bool:
    """A given name (:func:`given_name`) or one that is an English word too
    (:data:`WORD_GIVEN_NAMES`: "Jack", "Trinity"), in any case."""
    return given_name(word) or word.lower() in WORD_GIVEN_NAMES


# Endings of abstract nouns and adjectives, which names seldom have ("development",
# "integration", "autonomous", "technical"; not "-ing", "-ers", "-ies": "Fleming", "Rogers",
# "Davies").
_ABSTRACT = re.compile(r"(?:tion|sion|ment|ness|ity|ship|ism|ics|ous|ive|able|ible|ical|"
                       r"ogy|ure|ancy|ency|ture)s?$")
WORD_EDGES = re.compile(r"^[\W_]+|[\W_]+$")  # punctuation and markup around a word


def name_part(word: str, words: frozenset[str] = frozenset()) -> bool:
    """A word of a name: a given name (one that is an English word too: "Jack", "Rose"),
    an initial ("m."), or a word that is no English word and names no software
    ("yegorova"; not "chatbot")."""
    w = WORD_EDGES.sub("", without_possessive(word)).lower()
    return bool(w) and (any_given_name(w)
                        or (len(w) == 1 and w.isalpha()) or not (
        common_word(w, words) or w in tech_names()
        or not any(c.isalpha() for c in w)))


def heading(value_words: Sequence[str], words: frozenset[str] = frozenset()) -> bool:
    """Words of which none is a word of a name (:func:`name_part`; a form of address first
    is) and one at least, of seven letters or more, has the ending of an abstract noun or
    an adjective ("Development", "Technical Integration", "Autonomous Agents"), or the
    first is an "-ing" form ("Unlocking Model Context Protocol"): a heading or a term,
    which NER calls a person in web pages and prompts."""
    first = WORD_EDGES.sub("", value_words[0]).lower() if value_words else ""
    return bool(value_words) and first not in FORMS_OF_ADDRESS \
        and not any(name_part(w, words) for w in value_words) \
        and (any(_ABSTRACT.search(WORD_EDGES.sub("", w).lower()) and len(w) >= 7
                 for w in value_words)
             or (len(value_words) >= 2 and first.endswith("ing")))


# Endings of abstract nouns that no name has ("integration", "development", "business",
# "architecture", "capabilities", "technologies"; not the adjective endings of
# :data:`_ABSTRACT`, "Constable", nor "-ence" and "-ance", "Florence", "Constance").
_TERM_ENDING = re.compile(r"(?:(?:tion|sion|ment|ness|ity|ship|ism|ics|ogy|ture)s?|ities|ogies)$")


def term_word(word: str, words: frozenset[str] = frozenset()) -> bool:
    """An English abstract noun of seven letters or more (:data:`_TERM_ENDING`) that is
    no given name: the word of a product, a feature or a menu entry, never a surname."""
    w = WORD_EDGES.sub("", without_possessive(word))
    return len(w) >= 7 and bool(_TERM_ENDING.search(w.lower())) and ordinary_word(w, words) \
        and w.lower() not in WORD_GIVEN_NAMES  # "Trinity", "Patience"


# Nouns for the part a program or a group plays, which end the name of one ("Async Test
# Agent", "Support Team"), never a person's.
_ROLE_NOUNS = frozenset({"agent", "assistant", "bot", "team", "crew", "user", "customer",
                         "admin"})


def role_word(word: str) -> bool:
    """A noun of :data:`_ROLE_NOUNS`, in the singular or the plural."""
    w = WORD_EDGES.sub("", without_possessive(word)).lower()
    return w in _ROLE_NOUNS or (w.endswith("s") and w[:-1] in _ROLE_NOUNS)


def control_label(text: str, start: int, end: int, words: frozenset[str]) -> bool:
    """A "person" of two or more words, none a given name, whose last word is an English
    word that ends different capitalised words of the text, three or more and at least
    half of them English words or software, none a given name: the label of a menu entry
    or a control repeated down a page ("DagsHub Toggle", "Litmaps Toggle", "Links to
    Code Toggle"), a product line ("Facial Cleanser", "Gel Cleanser"), not a surname.
    People of one surname keep their names ("Tavi Baker, Orvel Baker, Kestin Baker";
    "Ezra Vane, Orvel Vane, Baby Vane")."""
    value = [WORD_EDGES.sub("", w) for w in text[start:end].split()]
    if len(value) < 2 or any(any_given_name(w) for w in value) \
            or not ordinary_word(value[-1], words):
        return False
    before = {m.group(1) for m in re.finditer(
        rf"(?<![\w'’-])([A-Z][\w'’-]*)[ \t]+{re.escape(value[-1])}(?![\w'’-])", text)}
    known = sum(known_word(w, words) for w in before)
    return known >= 3 and 2 * known >= len(before) \
        and not any(any_given_name(w) for w in before)


def term_phrase(value_words: Sequence[str], words: frozenset[str] = frozenset()) -> bool:
    """Words, none a given name, that end with an abstract noun (:func:`term_word`) or a
    role (:func:`role_word`): a product, a feature, a menu entry or an agent's name
    ("Agentspace Integration", "Orbix Automation", "Dev & Integration", "Async Test
    Agent"), not a person."""
    return bool(value_words) and (term_word(value_words[-1], words)
                                  or role_word(value_words[-1])) \
        and not any(any_given_name(WORD_EDGES.sub("", v)) for v in value_words)


# A job title line under a name: one capitalised word and a lower-case agent noun
# ("Credit checker", "Hand packager"), the line ending there.
_AGENT_NOUN_LINE = re.compile(r"[ \t]+(?P<n>[a-z]{3,}(?:er|or|ist|ant|ent|ian))[ \t]*(?:\n|$)")
_NOT_AGENT_NOUNS = {"another", "together", "whether", "neither", "either", "however",
                    "forever", "whatever", "whenever", "wherever", "whoever", "rather",
                    "further", "meanwhile", "present", "recent", "different", "important",
                    "urgent", "absent", "silent", "patient", "pleasant", "instant"}
_PLACE_LINE = re.compile(rf"[ \t]*(?:[^\w\s]{{1,4}}[ \t]*)?(?:{_CAP}|{_PARTICLE})"
                         rf"(?:[ \t]+(?:{_CAP}|{_PARTICLE}))*[ \t]*")


# A word mentioned as a word, not used as a name: "terms like Patience and Candour",
# "the term Hope", "nouns such as Justice".
_MENTION_BEFORE = re.compile(
    r"(?i:\b(?:words?|terms?|nouns?|adjectives?|verbs?|phrases?|expressions?|"
    r"capitali[sz]ed\s+words?)(?:\s+(?:like|such\s+as|as))?)[ \t]+[\"'“‘]?"
    r"(?:[A-Z][\w'’-]*[\"'”’]?,?[ \t]+(?:and|or)?[ \t]*[\"'“‘]?){0,3}$")
# A proper noun between a possessive determiner and a noun modifies the noun: it names
# a company or a product ("her Brightcurve notice letter", "my Corvex account").
_POSSESSIVE_BEFORE = re.compile(r"(?i:\b(?:my|your|his|her|our|their|its))[ \t]+$")
_NOUN_AFTER = re.compile(r"[ \t]+(?!(?:and|or|but|is|was|are|were|has|had|will|would|"
                         r"can|could|said|says|told|to|of|in|on|at|for|who|that|family|families|relatives|"
                         r"cousins|parents|grandparents|kids|children|household|clan|side|"
                         r"ancestors|twins|brothers|sisters|estate)\b)[a-z]{3,}\b")


def mentioned_or_modifier(text: str, start: int, end: int) -> bool:
    """A word mentioned as a word (:data:`_MENTION_BEFORE`) or a proper noun modifying a
    noun after a possessive determiner (:data:`_POSSESSIVE_BEFORE`), with no given name
    in it."""
    if any(given_name(w) for w in re.findall(r"[^\W\d_]+", text[start:end])):
        return False
    if _MENTION_BEFORE.search(text, max(0, start - 80), start):
        return True
    return bool(_POSSESSIVE_BEFORE.search(text, max(0, start - 8), start)
                and _NOUN_AFTER.match(text, end))


def title_line(text: str, start: int, end: int) -> bool:
    """One capitalised word opening a line of a job title: "Credit checker"."""
    line_start = text.rfind("\n", 0, start) + 1
    m = _AGENT_NOUN_LINE.match(text, end)
    if m is None or m.group("n") in _NOT_AGENT_NOUNS:
        return False
    return " " not in text[start:end].strip() and not re.search(r"\w", text[line_start:start]) \
        and not given_name(text[start:end])


def town_line(text: str, start: int, end: int, places: frozenset[tuple[int, int]]) -> bool:
    """A line that is a place name alone, right above a line that NER calls a place
    (a town above its country: "Nove Hrady u Kolina\nCzech Republic"), with no
    given name in it."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    if line_end < 0 or not _PLACE_LINE.fullmatch(text, line_start, line_end):
        return False
    if any(given_name(w) for w in re.findall(r"[^\W\d_]+",
                                                          text[line_start:line_end])):
        return False
    nxt_end = text.find("\n", line_end + 1)
    nxt_end = len(text) if nxt_end < 0 else nxt_end
    nxt = text[line_end + 1:nxt_end]
    body = re.sub(r"^[^\w]*|[\s\d-]*$", "", nxt)
    if not body:
        return False
    a = line_end + 1 + nxt.index(body)
    return any(ps <= a and a + len(body) <= pe for ps, pe in places)


def not_a_person(text: str, start: int, end: int, org_starts: frozenset[int] = frozenset(),
                 words: frozenset[str] = frozenset(),
                 places: frozenset[tuple[int, int]] = frozenset(),
                 verbs: frozenset[int] = frozenset()) -> bool:
    """A span NER or a rule called a person that is an organisation, a place, a product,
    a title or a code: :func:`org_like`, :func:`place_or_org_context`, a model number or
    a technical noun after it, ordinary words in quotes with no given name ('"Quiet
    Harbour Blues"'), two or three capitals alone ("AS", "LH"), or a word agent traffic
    uses for something else (:func:`not_a_name_in_traffic`), the verb of an instruction
    (:func:`imperative`)."""
    value = text[start:end]
    return (org_like(text, start, end, org_starts, verbs)
            or place_or_org_context(text, start, end)
            or bool(_THING_AFTER.match(text, end)) or bool(_PLACE_OR_JOB_AFTER.match(text, end))
            or title_line(text, start, end) or town_line(text, start, end, places)
            or imperative(text, start, end, words)
            or mentioned_or_modifier(text, start, end)
            or bool(_OCCUPATION_WORD.fullmatch(value.split()[-1] if value.split() else ""))
            or (len(value.split()) > 1 and value.split()[-1] in _LANDMARKS)
            or site_name(value) or heading(value.split(), words)
            or term_phrase(value.split(), words) or control_label(text, start, end, words)
            or not_a_name_in_traffic(text, start, end, words)
            or (value.isupper() and value.isalpha() and len(value) <= 3)
            or (text[start - 1:start] in _QUOTES and text[end:end + 1] in _QUOTES
                and all(ordinary_word(w, words) for w in value.split())))


def not_a_name_in_traffic(text: str, start: int, end: int,
                          words: frozenset[str] = frozenset()) -> bool:
    """What agent traffic uses a capitalised word for besides names: a weekday or a month
    next to a number ("Wed, 19 Nov 2025", "09 Jan 2026"), a temperature scale ("degrees
    Celsius", "300 Kelvin"), an ordinary word in capitals for emphasis or as a label
    ("This is VERY important", "ATTENTION:"), software or a technology company
    (:func:`tech_names`: "a Jupyter notebook"), a name code declares, imports, calls or
    reads an attribute of ("import List", "class Snake:", "Board(3)", "pygame.KEYDOWN"),
    a parameter before its type ("cmd: str", "env (str, optional)"), an abbreviation
    before its number ("Vol. 122"), a date format ("YYYY-MM-DD"), the
    title of a field in a tool's JSON schema
    (:func:`schema_title`), the name of a thing ("Tool Name: Hand off work"), an alphabet
    spelled out ("Aa Bb Cc") and a class or product named in camel case
    (:func:`camel_compound`)."""
    value = text[start:end]
    bare = value.strip("".join(_QUOTES))  # a span may end in its closing quote
    parts = [without_possessive(w) for w in bare.split()]
    names = [w.lower() for w in parts]
    if names and all(n in tech_names() for n in names):
        return True  # "a Jupyter notebook", "Pygame's window"
    if bare and all(len(w) == 2 and w[0].isupper() and w[1] == w[0].lower()
                    for w in bare.split()):
        return True  # "Aa Bb Cc": an alphabet spelled out
    if len(parts) == 1 and camel_compound(parts[0], words):
        return True  # "WonderLab", "QaEngineer": a class or a product
    rest = _LETTERS.match(text, end)
    word_end = rest.end() if rest else end  # "Wed" when NER found "We"
    if " " not in value.strip():
        word = text[start:word_end].lower().rstrip(".")
        if word in _WEEKDAYS | _MONTHS and (
                _DIGIT_AFTER.match(text, word_end)
                or _DAY_BEFORE.search(text, max(0, start - 8), start)):
            return True
        if 2 <= len(word) <= 4 and word.isalpha() and not any_given_name(word) \
                and _DOT_NUMBER_AFTER.match(text, word_end):
            return True  # "Vol. 122, No. 6": an abbreviation before its number
        if word in _SCALES and (word != "kelvin"
                                or _QUANTITY_BEFORE.search(text, max(0, start - 12), start)):
            return True
        if value.isupper() and len(value) > 3 and (
                common_word(value, words)) and (
                re.match(r"[ \t]*(?::|[a-z])", text[end:]) or re.search(
                    r"[a-z][ \t]*$", text[max(0, start - 4):start])):
            return True
    if _CODE_BEFORE.search(text, max(0, start - 60), start) or text[end:end + 1] == "(" \
            or (_ANNOTATION_AFTER.match(text, end) and not any(c.isupper() for c in value)) \
            or (_CLASS_BEFORE.search(text, max(0, start - 8), start)
                and _CLASS_AFTER.match(text, end)) \
            or _DATE_FORMAT.fullmatch(bare) or schema_title(text, start, end):
        return True
    return bool(_THING_NAME_BEFORE.search(text, max(0, start - 40), start))


# What starts a name written in two capitalised parts: "McKinsey", "LeBron", "DiCaprio".
_NAME_PREFIXES = frozenset({"mc", "mac", "de", "di", "da", "du", "le", "la", "van", "von",
                            "del", "della", "st", "fitz", "o"})


def camel_compound(word: str, words: frozenset[str]) -> bool:
    """A word of two or more capitalised parts, the last an English word of four letters or
    more, the first no name prefix: a class or a product ("WonderLab", "QaEngineer",
    "DeepMind"), not a name ("McKinsey", "LeBron", "DiCaprio", "JoAnn")."""
    parts = re.findall(r"[A-Z][a-z]+", word)
    return (len(parts) >= 2 and "".join(parts) == word
            and parts[0].lower() not in _NAME_PREFIXES
            and len(parts[-1]) >= 4 and ordinary_word(parts[-1], words))


def schema_title(text: str, start: int, end: int) -> bool:
    """A quoted title of a field whose key is in the same text ('coworker': {'title':
    'Coworker'}, "search_query": {"title": "Search Query"}): JSON schemas of tools."""
    if text[start - 1:start] not in _QUOTES or text[end:end + 1] not in _QUOTES:
        return False
    key = re.escape("_".join(text[start:end].lower().split()))
    return bool(re.search(rf"[\"']{key}[\"'][ \t]*:", text))


_QUOTES = frozenset("\"'“”‘’«»")
_LABEL_IN_SPAN = re.compile(r"[^\W\d_]+[ \t]*:[ \t]*[\"'“‘«]?")
_GREETING_IN_SPAN = re.compile(rf"(?i:{_GREETINGS}|dear)[ \t,]+(?=[^\W\d_])")


_NUMBER_IN_SPAN = re.compile(r"[ \t]+\d{1,6}$")
_OF_IN_SPAN = re.compile(r"[ \t]+of[ \t]+")


def trim_person(text: str, start: int, end: int, words: frozenset[str] = frozenset()
                ) -> tuple[int, int]:
    """A "person" span that NER ran across a field label or a greeting, cut to what follows
    it ('Answer:"Quiet Harbour' -> 'Quiet Harbour', "Hello Elena" -> "Elena"), into
    a number after a word shaped like a name ("Anna 5" -> "Anna"; not "AF 2205"), or into
    the company the person is "of" ("Ines K Moreau of Brannoc Ltd" -> "Ines K Moreau"; not
    "University of Oslo", whose head is no name). A name before the colon is no label
    ('Ines:"I am Tom' stays whole)."""
    m = _LABEL_IN_SPAN.match(text, start, end)
    if m and m.end() < end and ordinary_word(text[start:text.index(":", start)].strip(), words):
        return m.end(), end
    m = _GREETING_IN_SPAN.match(text, start, end)
    if m and m.end() < end:
        return m.end(), end  # "Hello Elena" -> "Elena"
    m = _NUMBER_IN_SPAN.search(text, start, end)
    if m and title_name_word((text[start:m.start()].split() or [""])[-1]):
        return start, m.start()  # "Give Anna 5 apples": NER ran the name into the count
    m = _OF_IN_SPAN.search(text, start, end)
    if m and any(_legal_form(w) or w.lower().strip(".,") in _ORG_WORDS
                 for w in text[m.end():end].split()) and any(
            not ordinary_word(w, words) for w in text[start:m.start()].split() if len(w) > 1):
        return start, m.start()  # "Ines Moreau of Brannoc Ltd": the person, not the firm
    return start, end


_CODE_CHARS = frozenset("{}[]()=;<>_|`$\\")
# A parenthetical remark in prose: after a space, words inside, then a space or punctuation.
_PARENTHETICAL = re.compile(r"(?:^|(?<=\s))\((?=[^\W\d_])[^()\n{}\[\]=;<>_|`$\\]*\)"
                            r"(?=[\s.,;:!?]|$)")


def caseless_script(text: str) -> bool:
    """Most letters are of a script without letter case (Chinese, Japanese, Korean,
    Arabic, Thai...): no capital letter there says nothing about names."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.islower() or c.isupper() for c in letters) < len(letters) / 2


def lower_case_prose(text: str) -> bool:
    """Text with no capital letter that reads as prose, not code, JSON or a command
    line (where lower-case words are identifiers, not names), in a script with case."""
    if any(c.isupper() for c in text) or caseless_script(text):
        return False
    prose = _PARENTHETICAL.sub(" ", text)  # "(not by him)" is prose, "f(x)" is not
    return sum(c in _CODE_CHARS for c in prose) <= 0.02 * max(len(text), 1)


def _slavic_street(value: str, words: frozenset[str]) -> bool:
    """A street led by a Slavic preposition in title case whose other words are in title
    case, letters only, no English word and no software: "Na Kopci 19", "Pod Lipami 12"
    (not "Pod Save America 12", "Na Channel 4", "Pod Kube-Proxy 2", "POD XJ9 4")."""
    first, *name, _ = value.split()
    return bool(words) and first.lower() in particles.SLAVIC_STREET_FIRST \
        and first.istitle() and bool(name) \
        and all(_TITLE_LETTERS.fullmatch(w) and not known_word(w, words) for w in name)


_TITLE_LETTERS = re.compile(_TITLE_WORD)


def _street_and_town(value: str, words: frozenset[str]) -> bool:
    """Of "street, town ...": a word of the street's name (before the first comma) is no
    English word and names no software, and none is a function word; every word of the
    town and region after it is in title case and letters only, no function word and no
    software ("42 Gladstrom, 48329 Tarvola"; not "Windows 10 Pro, Build 19045", "GPU 0,
    24576 MiB", "Model 3, 42990 USD")."""
    street, _, rest = value.partition(",")
    names = [w for w in street.split()
             if w[:1].isalpha() and len(w) > 1 and w not in particles.STREET]  # (not "42 A")
    towns = [w.rstrip(".") for w in rest.replace(",", " ").split()
             if not any(c.isdigit() for c in w) and w not in particles.STREET]
    return bool(words) and not any(w.lower() in stop_words() for w in names + towns) \
        and any(not known_word(w, words) for w in names) \
        and all(_TOWN_WORD.fullmatch(w) and w.lower() not in tech_names() for w in towns)


_TOWN_WORD = re.compile(r"[A-ZÀ-ÖØ-ÞĀ-Ž](?:[a-zß-öø-ÿā-ž]|['’-](?=[A-Za-zÀ-ÿ]))+")


def common_word(word: str, words: frozenset[str]) -> bool:
    """A function word (:func:`stop_words`) or a dictionary word (:func:`ordinary_word`),
    in any case."""
    return word.lower() in stop_words() or ordinary_word(word, words)


def known_word(word: str, words: frozenset[str]) -> bool:
    """A word English has (:func:`common_word`) or that names software (:func:`tech_names`):
    no part of a street's, a town's or a person's name a rule takes as unknown."""
    return common_word(word, words) or word.lower() in tech_names()


def ordinary_word(word: str, words: frozenset[str]) -> bool:
    """An English dictionary word (``words``), plural, superlative and "-ing" forms
    included ("Pets", "Engineers", "Safest", "Unlocking"), that is not a common given
    name ("Roberts" stays a name). An "-ing" form counts when its verb has six letters
    or more: surnames are such forms of short words ("Browning", "Fielding", "Harding")."""
    w = word.lower().rstrip(".")
    if _fold(w) in first_names():
        return False
    if w in words:
        return True
    stems = []
    if w.endswith("ies"):
        stems.append(w[:-3] + "y")
    if w.endswith("es"):
        stems.append(w[:-2])
    if w.endswith("s") and not w.endswith("ss"):
        stems.append(w[:-1])
    if w.endswith("est") and len(w) >= 6:  # superlatives: "Safest", "Biggest", "Happiest"
        stems += [w[:-2], w[:-3], w[:-4], w[:-4] + "y"]
    if w.endswith("ing") and len(w) >= 9:  # "Unlocking", "Influencing", "Harnessing"
        stems += [w[:-3], w[:-3] + "e"]
    return any(s in words and _fold(s) not in first_names() for s in stems)


# The prefixes of a title-case name word with a second capital: "McKay", "O'Neill".
_NAME_PREFIX = re.compile(rf"(?:Mc|Mac|O['’]|D['’])(?=[{UPPER}])")  # not "Machado"
_DUTCH_IJ = re.compile(r"^IJ(?=[^\W\d_])")  # Dutch capitalises both letters: "IJssel"


def title_name_word(word: str) -> bool:
    """One word of a name in title case, in any script with letter case: "Anna", "Иван",
    "Łukasz", "O'Neill", "McKay", "IJzerman", "Jean-Luc", "J."; not "ANNA", "łódź" or
    "TestRunner"."""
    word = _NAME_PREFIX.sub("", _DUTCH_IJ.sub("Ij", word.removesuffix(".")), count=1)
    parts = re.split(r"[-'’]", word)
    return all(p and p.isalpha() and p[0].isupper() and not any(c.isupper() for c in p[1:])
               for p in parts) and (len(parts[0]) > 1 or len(parts) == 1)


# Titles and forms of address written before a name: part of the text, not of the name.
_HONORIFICS = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "lord",
               "lady", "king", "queen", "prince", "princess", "president", "senator", "judge",
               "captain", "general", "uncle", "aunt", "auntie", "saint", "st", "father",
               "mother", "brother", "sister", "officer", "coach", "doctor", "pastor", "rabbi",
               "imam", "reverend", "rev", "chairman", "minister", "mayor", "governor", "chief",
               "sergeant", "colonel", "major", "detective", "nurse", "grandma", "grandpa",
               "dear", "hi", "hello", "hey", "thanks", "cc"}


def name_neighbour(word: str) -> bool:
    """A title-case word that, written next to a found name in the middle of a sentence,
    is more of that name ("the Drew | Graham version", "a | Homer Walker | fan"): letters
    only, not a function, calendar, verb, organisation or street word, a title ("Dr",
    "President") or a legal form."""
    bare = without_possessive(word)
    return len(bare) > 1 and title_name_word(bare) and bare.lower() not in _NOT_NEIGHBOURS \
        and not _legal_form(bare)


@functools.cache
def stop_words() -> frozenset[str]:
    """English function words (spaCy's stop-word list)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def _function_word_in(value: str) -> bool:
    """A word of ``value`` (not a lone letter) is an English function word."""
    return any(w in stop_words() for w in value.lower().split() if len(w.rstrip(".")) > 1)


def sentence_word(word: str) -> bool:
    """An English function word that is no particle of a street's or place's name: the
    sentence going on ("36 rue des lilas | is closed"), not "rua do carmo"."""
    w = word.lower().rstrip(".,")
    return w in stop_words() and w not in particles.STREET_LOWER


def name_word(word: str) -> bool:
    """A word, in any case, that can be a one-word name where the sentence says it names
    someone (:func:`name_neighbour` in title case), and no English function word
    ("him", "everyone")."""
    return name_neighbour(word[:1].upper() + word[1:]) and word.lower() not in stop_words()


def english_words(doc: Any, words: frozenset[str]) -> bool:
    """Whether most words of a spaCy doc are English (dictionary or function words): in
    other languages an English model's guesses at lower-case names are noise."""
    seen = [t for t in doc if t.is_alpha and len(t) > 1]
    known = sum(t.is_stop or t.lower_ in words or t.lemma_.lower() in words for t in seen)
    return known >= len(seen) / 2


def plain_word(token: Any, words: frozenset[str]) -> bool:
    """A spaCy token that is a function word or an ordinary English word, inflected forms
    included, and no given name."""
    return token.is_stop or ordinary_word(token.text, words) or (
        token.lemma_.lower() in words and _fold(token.text) not in first_names())


def second_opinion_lines(doc: Any, people: Sequence[tuple[int, int]],
                         words: frozenset[str]) -> list[tuple[int, int]]:
    """The parts of a text (character ranges of the first model's doc) where a second NER
    model may find a name :func:`second_opinion_name` accepts: the whole of English
    lower-case prose; otherwise each line with a title-case word that is no ordinary
    word, outside the people found already. The rest needs no second look."""
    text = doc.text
    if lower_case_prose(text):
        return [(0, len(text))] if english_words(doc, words) else []
    lines: list[tuple[int, int]] = []
    for t in doc:
        if (lines and t.idx < lines[-1][1]) or len(t) < 2 \
                or not title_name_word(t.text) \
                or any(a <= t.idx < b for a, b in people) or plain_word(t, words):
            continue
        end = text.find("\n", t.idx)
        lines.append((text.rfind("\n", 0, t.idx) + 1, len(text) if end < 0 else end))
    return lines


def second_opinion_name(span: Any, words: frozenset[str]) -> bool:
    """Whether a person (a spaCy span of the first model's doc) that only the second NER
    model saw may be one: letters only (no digits, quotes, brackets or code); every word
    in title case ("Tavi Rand") with one the tagger calls a proper noun, or two or more
    words all in lower case ("tavi rand") in English lower-case prose; particles allowed.
    In title case not every word may be an ordinary English word (inflected forms
    included) unless one is a given name ("Velvet Harbours" is a title, "Escalated" a
    verb); in lower case, none may be ("import numpy" is code)."""
    value = without_possessive(span.text.strip())
    if not value or re.search(r"[^\w\s.'’-]|[\d_]", value) or caseless_script(value):
        return False
    named = [t for t in span
             if any(c.isalpha() for c in t.text) and t.lower_ not in particles.PEOPLE]
    if not named:
        return False
    if value.islower():
        if len(value.split()) < 2 or not lower_case_prose(span.doc.text) \
                or not english_words(span.doc, words):
            return False
    elif not (all(title_name_word(t) for t in value.split()
                  if t.lower() not in particles.PEOPLE)
              and any(t.pos_ == "PROPN" for t in named)):
        return False
    content = [t for t in named if len(t.text.rstrip(".")) > 1]
    plain = [plain_word(t, words) for t in content]
    # in lower case, where nothing marks a proper noun, no word of it may be a plain one
    return bool(content) and not (any(plain) if value.islower() else all(plain))


# Prepositions after which a capitalised word with no given name in it is a place.
_PLACE_BEFORE = {"in", "at", "near", "from", "via", "into", "across", "around", "outside",
                 "inside", "throughout", "towards", "toward"}
# Words that are no more of a name next to it (:func:`name_neighbour`).
_NOT_NEIGHBOURS = frozenset(_FUNCTION_WORDS | _CALENDAR_WORDS | _VERB_WORDS | _ORG_WORDS
                            | _HONORIFICS | _NOT_VOCATIVES | _PLACE_BEFORE)
PROPER_NOUN_SCORE = 0.5


@functools.cache
def first_names() -> frozenset[str]:
    """Common given names across cultures (``first_names.txt``; see its header)."""
    text = (resources.files("slmconvert.pii") / "first_names.txt").read_text(encoding="utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and w[0] != "#")


def _fold(word: str) -> str:
    """Lower case without accents: 'Jürgen' -> 'jurgen'."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower())
                   if not unicodedata.combining(c))


def foreign_letters(word: str) -> bool:
    """A word written with letters English spells without (accents, "ð", "ø"):
    "Eygló", "Þóra"; no English word is."""
    return _fold(word) != word.lower() or any(c in "ðþøæœßłđı" for c in word.lower())


@functools.cache
def tech_names() -> frozenset[str]:
    """Software, languages, formats, services and technology companies NER takes for
    people (``tech_names.txt``; see its header)."""
    text = (resources.files("slmconvert.pii") / "tech_names.txt").read_text(encoding="utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and w[0] != "#")


def _unknown_name_line(value: str, words: frozenset[str]) -> bool:
    """Two or more words of three letters or more, initials aside, none an English word
    nor software: "tavo k lindqvist" (not "uses pandas")."""
    parts = value.split()
    return sum(len(w) > 2 for w in parts) >= 2 and all(
        len(w.rstrip(".")) == 1 or not (common_word(w, words) or w in tech_names())
        for w in parts)


def _possessor(value: str) -> bool:
    """Words that can name the person whose address or family a possessive gives: name
    words (:func:`name_neighbour`), no software ("Python's", "Gmail's")."""
    return all(name_neighbour(w) and w.lower() not in tech_names() for w in value.split())


def inflected_english(word: str, words: frozenset[str]) -> bool:
    """A past or "-ing" form of an English word ("called", "hoped", "planned", "carried",
    "sitting", "redacted"), which :func:`ordinary_word` does not count."""
    w = word.lower()
    stems = [w[:-2], w[:-1], w[:-3], w[:-3] + "y", w[:-3] + "e", w[:-4]] \
        if w.endswith(("ed", "ing")) else []
    return any(st in words for st in stems)


def _named_answer(value: str, words: frozenset[str]) -> bool:
    """Words given as a name where one was asked for: capitalised name words
    (:func:`_possessor`) or lower-case ones that are a common given name or no English
    word (:func:`_kin_name`), initials aside; no reply word ("Sure", "I'm", "not")."""
    names = [w for w in value.split() if len(w.rstrip(".")) > 1]
    return all(not _not_a_name_word(w) and (given_name(w) or (
        _possessor(w) if w[:1].isupper() else (
            _kin_name(w, words) and not inflected_english(w, words)))) for w in names) \
        and _has_name_word(names, words)


def _has_name_word(names: Sequence[str], words: frozenset[str]) -> bool:
    """One of ``names`` is a common given name or a word no dictionary knows: "Tarvola",
    "Lewis Orvelle" (not "Given Name", "Testing", "Stripe")."""
    return any(given_name(w) or not common_word(w, words) for w in names)


def _someones_name(value: str, words: frozenset[str]) -> bool:
    """Capitalised name words, no software (:func:`_possessor`), one of them a given name
    or unknown to the dictionary (:func:`_has_name_word`), after a cue only a person
    fits ("the gender of", "so stubborn", "'s kid")."""
    return _possessor(value) and _has_name_word(value.split(), words)


# Nouns for a role or a group, not a person: "ex-Google Engineer", "ex-Google Staff".
_ROLE_ENDING = re.compile(r"(?:er|or|ist|ian|ant|ent|eer|s)$")


def _role_noun(word: str, words: frozenset[str]) -> bool:
    """An English word, no given name, that ends like a role or a plural ("Engineer",
    "Founders") or is a role word ("Staff", "Team")."""
    w = word.lower()
    return w in _ROLE_WORDS | {"staff", "crew", "brain", "alum", "alumni"} or (
        ordinary_word(word, words) and bool(_ROLE_ENDING.search(w)))


def _kin_name(word: str, words: frozenset[str]) -> bool:
    """A common given name, or a word of four letters or more that is no English word nor
    software, given a vocabulary to tell: "mateo", "ilsabet" (not "bro", "lego",
    "pandas")."""
    return given_name(word) or (bool(words) and len(word) > 3 and not common_word(word, words)
                                and word not in tech_names())


def given_name(word: str) -> bool:
    """A common given name (:func:`first_names`), in any case and with or without accents."""
    return _fold(word) in first_names()


def vocabulary(nlp: Any) -> frozenset[str]:
    """Ordinary English words: the lemma index of the spaCy pipeline's lemmatizer (WordNet
    nouns, verbs, adjectives and adverbs), empty when the pipeline has none."""
    try:
        index = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
    except (KeyError, ValueError, AttributeError):
        return frozenset()
    return frozenset(w for pos in index for w in index[pos] if w.isalpha())


# A lower-case slug of words with a version number: the name of a model or a package
# ("claude-opus-4-6", "llama-3-8b-instruct"), not a person in it.
_SLUG = re.compile(r"(?<![\w.-])[a-z]+(?:-[a-z]+)*-\d+[a-z]?(?:[-.][a-z0-9]+)*(?![\w-])")


# A capitalised word opening a sentence (or a string, a list item, a field's value) and an
# article after it: a verb giving an instruction ("Preprocess the data", "Task 3: Tokenize
# a file"), not a name. Not after "Mr." or "Dr.": "Send Mr. Cooper the invoice".
_OPENS_INSTRUCTION = re.compile(r"(?:^|[.!?:;\n\"“'(*•-])[ \t]*$")
_ABBREVIATION_BEFORE = re.compile(r"(?<![\w.])(?P<w>[^\W\d_]+)\.[ \t]*$")
_ARTICLE_AFTER = re.compile(r"[ \t]+(?:the|a|an|your)[ \t]")
_VERB_PREFIX = re.compile(r"(?i:pre|re)(?=[a-z]{5})")
_VERB_ENDING = re.compile(r"(?i:(?P<stem>[a-z]{3,})(?:ize|ise|ify|ate))$")


def imperative(text: str, start: int, end: int, words: frozenset[str] = frozenset()) -> bool:
    """``text[start:end]`` is one capitalised word, no given name, that opens a sentence
    before an article and is an English verb by its shape: a verb's ending on an English
    word or stem ("Tokenize", "Summarise", "Validate") or "pre"/"re" before an English
    word ("Preprocess", "Refactor"). "Brannoc the baker", "Cooper the invoice", "Dr.
    Cohen this week", "Applegate the landlord" and "Overstreet the plumber" stay names."""
    word = text[start:end]
    rest = _VERB_PREFIX.sub("", word, count=1)
    ending = _VERB_ENDING.search(word)
    stem = ending.group("stem").lower() if ending else ""
    verb = ending is not None and (ordinary_word(word, words) or any(
        st in words for st in (stem, stem + "y", stem + "e")))
    title = _ABBREVIATION_BEFORE.search(text, max(0, start - 12), start)
    if title and (len(title.group("w")) == 1 or title.group("w").lower() in _HONORIFICS):
        return False  # "Mr. Cooper the ...", "J. Cooper the ..."
    return " " not in word and not given_name(word) \
        and bool(_OPENS_INSTRUCTION.search(text, max(0, start - 8), start)) \
        and bool(_ARTICLE_AFTER.match(text, end)) \
        and (verb or (rest != word and ordinary_word(rest, words)))


def proper_noun_people(doc: Any, words: frozenset[str] = frozenset()
                       ) -> Iterator[tuple[int, int, float]]:
    """Runs of title-case proper nouns that spaCy did not call a place, product, date...

    A run of ordinary English words (``words``) with no given name in it is a heading
    or a product, not a name. The small English model often labels unfamiliar
    (non-English) names as ORG or nothing at all while still tagging them PROPN; this
    catches those names. It costs precision on other proper nouns, which is the right
    trade for training data.
    A common given name (:func:`first_names`) starts a run whatever spaCy said of it
    ("Why is Ingrid so late?" is tagged a place), and the proper nouns after it
    join the run. In a text with no capital letter at all, a given name or a proper noun
    that is not an ordinary English word starts a run ("ask priya raman").
    """
    names = first_names()
    lower = lower_case_prose(doc.text)
    blocked: set[int] = set()
    for ent in doc.ents:
        # A guessed place or product label (:func:`guessed_label`) does not block a name.
        # Real places in place context are left by ``place_or_org_context``.
        if ent.label_ in _NOT_PERSON_LABELS and not guessed_label(ent):
            blocked.update(range(ent.start, ent.end))
    run: list[Any] = []

    def flush() -> Iterator[tuple[int, int, float]]:
        named = [t for t in run if len(t.text.rstrip(".")) > 1]
        t = run[0]
        after = t.nbor(1).text if t.i + 1 < len(t.doc) else "\n"
        line_start = t.i == 0 or "\n" in t.nbor(-1).text_with_ws
        given = _fold(t.text) in names
        any_given = any(_fold(x.text) in names for x in run)
        last = run[-1]
        if len(run) == 1 and not given and (
                (t.i > 0 and t.nbor(-1).text in ("#", "##", "###", "-", "*"))
                or (line_start and (after.startswith("\n") or after == ":"))):
            return  # one capitalised word heading a line or a list item: a title, not a name
        if len(run) == 1 and imperative(doc.text, t.idx, t.idx + len(t.text), words):
            return  # "Preprocess the data": a verb opening an instruction, not a name
        if not any_given and all(
                ordinary_word(t.text, words) or t.lemma_.lower() in words for t in named):
            return  # ordinary words in title case ("Quiet Mornings"), no given name
        if not any_given and t.i > 0 \
                and t.nbor(-1).lower_ in _PLACE_BEFORE:
            return  # "flew in from Brackley": a place
        if not any_given and last.i + 2 < len(t.doc) \
                and not last.whitespace_ and last.nbor(1).text == "-" \
                and not last.nbor(1).whitespace_ and ordinary_word(last.nbor(2).text, words):
            return  # "Advanced Multi-Agent Collaboration": the first half of a compound
        nxt = last.nbor(1).lower_ if last.i + 1 < len(t.doc) else ""
        if named and not any(t.lower_.rstrip(".") in _ORG_WORDS for t in [*run]) \
                and nxt not in _ORG_WORDS:
            yield run[0].idx, run[-1].idx + len(run[-1].text), PROPER_NOUN_SCORE

    # In English lower-case prose spaCy rarely tags an unfamiliar name PROPN; two
    # neighbouring words that are no English word ("ask lejla jonsson") are taken for a
    # name. (In another language most words are no English word.)
    unknown = [t.text.isalpha() and len(t.text) >= 4 and not plain_word(t, words) for t in doc] \
        if lower and words and english_words(doc, words) else [False] * len(doc)
    # One such word alone is a name when it has letters English writes without accents
    # ("says rajkovič") in English prose: no English word folds to it.
    foreign = [u and _fold(t.text) != t.lower_ and not ordinary_word(_fold(t.text), words)
               for u, t in zip(unknown, doc, strict=True)] \
        if any(unknown) else [False] * len(doc)
    pair = [u and ((i > 0 and unknown[i - 1]) or (i + 1 < len(doc) and unknown[i + 1])
                   or foreign[i])
            for i, u in enumerate(unknown)]
    # A title-case word the model has no vector for and which is no English word is a
    # proper noun whatever the tagger said ("Brannoc is late": tagged a noun).
    unseen = [bool(doc.vocab.vectors.size) and not lower and t.is_oov and len(t.text) > 2
              and title_name_word(t.text) and t.pos_ in ("NOUN", "ADJ", "ADV", "INTJ", "X")
              and t.i + 1 < len(doc) and t.nbor(1).pos_ in ("AUX", "VERB")
              and not ordinary_word(t.text, words) for t in doc]
    if any(unseen) and not english_words(doc, words):
        unseen = [False] * len(doc)
    in_slug: set[int] = set()
    for m in _SLUG.finditer(doc.text):
        if (slug := doc.char_span(*m.span(), alignment_mode="expand")) is not None:
            in_slug.update(range(slug.start, slug.end))
    for tok in doc:
        word = tok.text.rstrip(".")
        if tok.i in in_slug:
            word = ""  # a word of a name in a version slug: "claude-opus-4-6"
        cased = bool(word) and word.isalpha() and (
            word.istitle() or (len(word) == 1 and word.isupper()) or (lower and len(word) > 1))
        given = cased and len(word) > 1 and _fold(word) in names
        surname = bool(run) and _fold(run[0].text) in names and cased and not tok.is_stop and (
            not lower or tok.pos_ in ("PROPN", "NOUN", "ADJ", "VERB", "X"))
        if len(run) < 4 and (given or surname or (pair[tok.i] and tok.i not in blocked) or (
                (tok.pos_ == "PROPN" or unseen[tok.i]) and cased and tok.i not in blocked
                and not (lower and (len(word) < 3 or tok.lower_ in words)))):
            run.append(tok)
            continue
        if run:
            yield from flush()
        run = []
    if run:
        yield from flush()


# Speaker labels of a dialogue ("Brannock: Where now?\nMirela: Home."): a line that
# starts with one name and a colon, in a text with two or more such lines. Words that
# label roles or fields rather than people are left alone.
_SPEAKER = re.compile(r"(?m)^[ \t>]*(?P<v>[^\W\d_][\w'’-]{1,30})[ \t]*:[ \t]*(?=[\"“'‘]?[^\W_])")
_NOT_SPEAKERS = {
    "user", "assistant", "system", "bot", "agent", "human", "ai", "customer", "client",
    "support", "q", "a", "question", "answer", "note", "notes", "tool", "function", "input",
    "output", "response", "request", "reply", "example", "context", "task", "instructions",
    "summary", "error", "warning", "info", "debug", "result", "status", "subject", "from",
    "to", "cc", "bcc", "date", "time", "re", "fwd", "title", "name", "email", "phone",
    "address", "model", "me", "you", "interviewer", "host", "guest", "speaker", "narrator",
    "caller", "operator", "moderator", "teacher", "student", "doctor", "patient", "nurse",
    "mobile", "desk", "fax", "office", "website", "url", "id", "step", "thought", "action",
    "observation", "final", "tip", "hint", "source", "location", "company",
    "position", "role", "type", "description", "details", "comment", "comments", "update",
    "reason", "total", "price", "amount", "order", "booking", "ticket", "flight", "hotel",
    "passenger", "guests", "origin", "destination", "departure", "arrival", "seat", "class",
    "ps", "p.s", "edit", "yes", "no", "ok", "okay", "day", "morning", "evening", "when",
    "where", "who", "what", "why", "how", "which", "venue", "event", "topic", "agenda",
}


def field_label(word: str) -> bool:
    """A word that labels a field or a role rather than naming anyone ("Phone", "Note")."""
    return word.lower() in _NOT_SPEAKERS


# The lower-case rest of a field label of several words: "Date| of birth:", "Place| of
# issue:", "Booking| reference:".
_LABEL_REST = re.compile(r"(?:[ \t]+[a-z]+){1,3}[ \t]*[*_`]*:(?!\S)")


def label_phrase(text: str, start: int, end: int, words: frozenset[str] = frozenset()) -> bool:
    """One ordinary word opening a line that, with the lower-case words after it, labels a
    field ("Date of birth: ...", which NER runs into a name one line up). A given
    name is no ordinary word, so a speaker stays a name ("Anna from sales: ...")."""
    value = text[start:end]
    line_start = text.rfind("\n", 0, start) + 1
    return (" " not in value and ordinary_word(value, words)
            and not re.search(r"\w", text[line_start:start])
            and bool(_LABEL_REST.match(text, end)))


def dialogue_speakers(text: str, words: frozenset[str] = frozenset(),
                      people: frozenset[int] = frozenset()
                      ) -> Iterator[tuple[int, int, float]]:
    """The speaker labels of a dialogue (``person_speaker``): not a role or a field; in
    lower case only in lower-case prose (in code it is a field or a type: "desc: str",
    "Returns:\n  str: The summary"). Two or more different labels that are all ordinary
    English words, none of which NER called a person (``people``: the starts of its
    people), are the fields of a form or a prompt ("Constraint:", "Format:"), not
    speakers (one such label again and again is: "Rose: ...\nRose: ..."). Where a text
    has four or more different labels and most of them are ordinary words or fields, it
    is a record or a form ("Title:", "Author:", "Score:", "Favicon:" of each search
    result), and only a label that is a given name or that NER called a person is a
    speaker."""
    lower = lower_case_prose(text)
    every = list(_SPEAKER.finditer(text))
    found = [m for m in every if m.group("v").lower() not in _NOT_SPEAKERS
             and (lower or m.group("v")[0].isupper())]
    labels = {m.group("v") for m in found}
    form = len(labels) >= 2 and all(ordinary_word(v, words) for v in labels) \
        and not any(m.start("v") in people for m in found)
    every_label = {m.group("v") for m in every}
    if len(every_label) >= 4 and 2 * sum(field_label(v) or ordinary_word(v, words)
                                         for v in every_label) > len(every_label):
        found = [m for m in found if m.start("v") in people or given_name(m.group("v"))]
    if len(found) >= 2 and not form:
        for m in found:
            yield m.start("v"), m.end("v"), PROPER_NOUN_SCORE


def select(names: Sequence[str] | None, extra: Sequence[Rule] = ()) -> list[Rule]:
    """The named rules (all by default), plus configured ones; unknown names are errors."""
    if names is None:
        chosen = list(RULES.values())
    else:
        chosen = []
        for n in names:
            if n not in RULES:
                raise ConfigError(f"unknown recognizer '{n}'{did_you_mean(n, list(RULES))}; "
                                  f"known: {', '.join(RULES)}")
            chosen.append(RULES[n])
    return chosen + list(extra)


def pattern_rule(name: str, entity: str, regex: str, score: float) -> Rule:
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ConfigError(f"pattern '{name}': invalid regular expression: {exc}") from None
    return Rule(name, entity, compiled, score, description="configured pattern")


def presidio_recognizer(rules: Sequence[Rule], people: bool = True,
                        words: frozenset[str] = frozenset()) -> Any:
    """One Presidio ``EntityRecognizer`` that runs every rule (and, with ``people``,
    :func:`proper_noun_people` on spaCy's tokens)."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class SlmconvertRules(EntityRecognizer):
        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None
                    ) -> list[Any]:
            wanted = set(entities or ())
            out = []
            if nlp_artifacts is not None and getattr(nlp_artifacts, "tokens", None) is not None \
                    and (not wanted or "PERSON" in wanted) and people:
                found = [(*f, "person_proper_noun") for f in proper_noun_people(
                    nlp_artifacts.tokens, words)]
                found += [(*f, "person_speaker") for f in dialogue_speakers(
                    text, words, frozenset(e.start_char for e in nlp_artifacts.entities
                                           if e.label_ == "PERSON"))]
                for start, end, score, name in found:
                    out.append(RecognizerResult("PERSON", start, end, score, recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: f"slmconvert:{name}",
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
            for rule in rules:
                if wanted and rule.entity not in wanted:
                    continue
                for start, end, score in rule.find(text, words):
                    out.append(RecognizerResult(rule.entity, start, end, score,
                                                recognition_metadata={
                                                    RecognizerResult.RECOGNIZER_NAME_KEY:
                                                        f"slmconvert:{rule.name}",
                                                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY:
                                                        self.id}))
            return out

    entities = sorted({r.entity for r in rules} | ({"PERSON"} if people else set()))
    return SlmconvertRules(supported_entities=entities, name="SlmconvertRules")
