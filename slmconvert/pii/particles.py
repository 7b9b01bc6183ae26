"""The short lower-case words inside the names of people, streets and places.

A name may hold lower-case words of its language: "Anna van der Berg", "Rua das
Flores", "Frankfurt am Main", "Dole pri Litiji". This module is their one home: the
words grouped by what they are, and the subset each context takes. Rules and span
growing read these sets (or :func:`alternation` of them), never a list of their own.
"""

from __future__ import annotations

from collections.abc import Iterable


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Romance articles and the prepositions fused with them: "Via della Spiga", "Rue des
# Lilas", "Calle de los Reyes", "Place aux Herbes".
ROMANCE = _words("de del della dei delle degli da das do dos di du des la le les los las el "
                 "au aux")
# Dutch and German name particles: "Anna van der Berg", "Huis ten Bosch".
GERMANIC = _words("van von der den ten ter")
# Prepositions inside place names: "Frankfurt am Main", "Weil im Schönbuch", "Neustadt
# bei Coburg", "Boulogne sur Mer", "Clichy sous Bois", "Pont à Mousson", "Newcastle upon
# Tyne", "Berg en Dal", "Kostelec u Jihlavy", "Ústí nad Labem", "Dole pri Litiji".
PLACE_PREPOSITIONS = _words("am an im bei sur sous à upon en u v z na nad pod pri ob")
# "and" in Spanish, Portuguese and Catalan names: "Rua Ferreira e Silva".
AND = _words("y e i")
# Arabic patronyms and the article: "Omar bin Said", "Aisha al Rashid".
ARABIC = _words("bin ibn al")
# Particles that in English text are English words ("an hour", "on foot", "I will"):
# where case cannot tell them apart, as in lower-case prose, they end a name. "do"
# stays a particle ("rua do carmo"): after a street, English "do" is rare.
ENGLISH_LOOKALIKES = _words("am an i on ten upon")

# Inside the name of a street, a town or an address block.
STREET = ROMANCE | GERMANIC | PLACE_PREPOSITIONS | AND
# A place name also joins with English "on" ("Stratford on Avon").
PLACE = STREET | {"on"}
# Inside a street's name in lower-case text.
STREET_LOWER = STREET - ENGLISH_LOOKALIKES
# A street's name never ends on an article or a name particle: the next word is the
# rest of it ("18 Rue de | Brest"). Prepositions and "and" may end the part a rule found.
STREET_LAST = ROMANCE | GERMANIC
# Slavic prepositions that lead a street's name: "Na Kopci", "Pod Lipami", "Za Mlýnem".
SLAVIC_STREET_FIRST = _words("na nad pod za")
# Inside a person's name. Plural articles lead places more than people ("Los Angeles",
# "Les Halles"), except Portuguese "das" and "dos" ("Maria dos Santos").
PEOPLE = (ROMANCE - {"dei", "delle", "degli", "des", "les", "los", "las", "au", "aux"}) \
    | GERMANIC | ARABIC


def alternation(words: Iterable[str]) -> str:
    """A regex group matching any of ``words``, longest first."""
    return "(?:" + "|".join(sorted(words, key=lambda w: (-len(w), w))) + ")"


# The pattern every rule uses for a particle inside a street, town or address block.
STREET_PATTERN = alternation(STREET)
