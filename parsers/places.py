"""Places in free text ("im Bürgerhaus", "in der Stadthalle", "auf dem Marktplatz").

Only confident matches: a preposition followed by a capitalised noun that ends like a place
("-haus", "-halle", "-park", "-platz", "-schule", ...), optionally with a name or district
after it ("Bürgerhaus Süd", "Grundschule am Lindenweg", "Hauptstraße 5").
"""

from __future__ import annotations

import re

_SUFFIXES = (
    "haus", "häuser", "halle", "park", "platz", "saal", "säle", "schule", "zentrum", "bad",
    "hof", "garten", "markt", "straße", "strasse", "str.", "kirche", "museum", "bibliothek",
    "bücherei", "kita", "kindergarten", "stadion", "gelände", "wald", "ufer", "raum", "räume",
    "gebäude", "heim", "treff", "forum", "bühne", "arena", "center", "centre", "gymnasium",
    "wache", "allee", "weg", "gasse", "wiese", "anlage", "kapelle", "kloster", "schloss",
    "burg", "theater", "kino", "café", "cafe", "mensa", "aula", "foyer", "galerie", "turm",
    "brücke", "hafen", "campus", "zoo", "see", "rathaus", "amt", "bahnhof", "hall",
    "square", "library", "school", "church", "stadium", "gallery",
)  # fmt: skip
_SUFFIX_ALT = "|".join(re.escape(s) for s in sorted(_SUFFIXES, key=len, reverse=True))
_CAP = r"[A-ZÄÖÜ][\wäöüß.-]*"
_PREP = (
    r"(?i:im|ins|in\s+der|in\s+dem|in\s+den|auf\s+dem|auf\s+der|am|an\s+der|an\s+dem|beim"
    r"|bei\s+der|vor\s+dem|vor\s+der|vorm|hinter\s+dem|hinter\s+der|at\s+the|in\s+the)"
)
_TAIL = (
    r"(?:\s+(?:Nord|Süd|Ost|West|Mitte|Stadtmitte|\d{1,4}[a-z]?(?![\d:]|\.\d)"
    rf"|\((?:[^()\n]){{1,60}}\)|(?:am|an\s+der|in\s+der|im)\s+{_CAP}))"
)
_PLACE = re.compile(
    rf"(?<![^\W\d_]){_PREP}\s+"
    rf"(?P<place>(?:{_CAP}\s+){{0,2}}?(?P<noun>(?=[A-ZÄÖÜ])[\wäöüß-]*?(?i:{_SUFFIX_ALT}))"
    r"(?![\wäöüß])"
    rf"{_TAIL}{{0,2}})"
)


#: Nouns that end like places but are not ("im Zeitraum", "auf dem Weg").
_NOT_PLACES = frozenset(
    {"zeitraum", "spielraum", "freiraum", "weg", "amt", "rahmenprogramm", "haus", "ausgang"}
)


def find_where(text: str) -> str | None:
    """The first confident place in `text` without its preposition, or None."""
    for m in _PLACE.finditer(text):
        if m.group("noun").lower() in _NOT_PLACES and m.group("noun") == m.group("place"):
            continue
        return " ".join(m.group("place").split()).rstrip(".,;:")
    return None
