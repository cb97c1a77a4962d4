"""Places in free text ("im Bürgerhaus Nord", "in der Aula des Gymnasiums", "rund um die
Gesamtschule", "die Bücherei Süd").

Only confident matches: a capitalised noun that ends like a place ("-haus", "-halle",
"-park", "-platz", "-schule", ...), introduced by a preposition ("im", "auf dem", "at the")
or, in `find_places`, by an article ("die Bücherei Süd", "den neuen Schulgarten"), or
standing alone on its line ("• Festwiese am Schwanenteich"). After the noun may come a
district or name ("Bürgerhaus Süd", "Gemeindezentrum St. Marien", "Spielplatz Wiesengrund"
before a full stop or "statt"), a house number, a street ("am Lindenweg") or a genitive
("Aula des Gymnasiums", "Schulgarten der Realschule Am Park").

The preposition is left out ("Bürgerhaus Nord"), except where it carries the meaning:
"rund um die Gesamtschule", "entlang der Hauptstraße" stay as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SUFFIXES = (
    "haus", "häuser", "halle", "park", "platz", "saal", "säle", "schule", "zentrum", "bad",
    "hof", "garten", "markt", "straße", "strasse", "str.", "kirche", "museum", "bibliothek",
    "bücherei", "kita", "kindergarten", "stadion", "gelände", "wald", "ufer", "raum", "räume",
    "gebäude", "heim", "treff", "forum", "bühne", "arena", "center", "centre", "gymnasium",
    "wache", "allee", "weg", "gasse", "wiese", "anlage", "kapelle", "kloster", "schloss",
    "burg", "theater", "kino", "café", "cafe", "mensa", "aula", "foyer", "galerie", "turm",
    "brücke", "hafen", "campus", "zoo", "see", "rathaus", "amt", "bahnhof", "hall",
    "square", "library", "school", "church", "stadium", "gallery", "station", "zentrale",
    "promenade", "innenstadt", "altstadt", "fußgängerzone", "quartier", "viertel", "hostel",
    "jugendherberge", "sporthalle", "festplatz", "schwimmbad", "freibad", "hallenbad",
    "lehrküche", "küche", "werkstatt", "atelier", "keller", "ratskeller", "pavillon",
    "parkplatz", "spielplatz", "friedhof", "mahnmal", "denkmal", "brunnen", "teich",
)  # fmt: skip
_SUFFIX_ALT = "|".join(re.escape(s) for s in sorted(set(_SUFFIXES), key=len, reverse=True))
_CAP = r"[A-ZÄÖÜ][\wäöüß'’-]*"
_PREP = (
    r"(?i:im|ins|in\s+der|in\s+dem|in\s+den|auf\s+dem|auf\s+der|am|an\s+der|an\s+dem|beim"
    r"|bei\s+der|vor\s+dem|vor\s+der|vorm|hinter\s+dem|hinter\s+der|at\s+the|in\s+the"
    r"|zum|zur)"
)
#: Prepositions kept with the place: without them the place says something else.
_KEEP_PREP = (
    r"(?i:rund\s+um\s+(?:den|die|das)|entlang\s+der|entlang\s+des|zwischen\s+dem"
    r"|zwischen\s+der)"
)
#: Articles (and possessives) before a place without preposition ("die Bücherei Süd").
_ARTICLE = (
    r"(?i:der|die|das|den|dem|des|unser|unsere|unserem|unseren|unserer|ein|eine|einer|einem"
    r"|einen|neue|neuen|neuer|neues)"
)
#: After a place, a name is taken only when the sentence goes on with one of these (or
#: ends): "im Bürgerhaus Nord statt", "am Spielplatz Wiesengrund." but not
#: "im Stadtpark Kinder können ...".
_AFTER_NAME = (
    r"(?=\s*(?:[.,;:!?)\n]|$|\s(?:statt|ein|am|an|im|in|um|ab|bei|zum|zur|mit|und|auf)\b))"
)
#: "im Rathaus am Samstag": a day or time of day after "am" is no street.
_NOT_TIME = (
    r"(?!(?:Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonnabend|Sonntag|Wochenende"
    r"|Vormittag|Nachmittag|Abend|Morgen|Mittag|Feiertag|Tag\s+der)(?![\wäöüß]))"
)
_TAIL = (
    r"(?:\s+(?:(?:Nord|Süd|Ost|West|Mitte|Stadtmitte)(?![\wäöüß])|\d{1,4}[a-z]?(?![\d:]|\.\d)"
    rf"|\((?:[^()\n]){{1,60}}\)|(?:am|an\s+der|in\s+der|im|Am|An\s+der)\s+{_NOT_TIME}{_CAP}"
    r"(?:\s+\d{1,4}[a-z]?(?![\d:]|\.\d))?"
    rf"|(?:der|des)\s+(?:[a-zäöüß]+(?:e|en|er|es)\s+)?{_CAP}(?:\s+Am\s+{_CAP})?"
    rf"|St\.\s+{_CAP}|{_CAP}{_AFTER_NAME}))"
)
_PLACE_CORE = (
    rf"(?P<place>(?:{_CAP}\s+){{0,2}}?(?P<noun>(?=[A-ZÄÖÜ])[\wäöüß-]*?(?i:{_SUFFIX_ALT}))"
    r"(?![\wäöüß])"
    rf"{_TAIL}{{0,2}})"
)
_PLACE = re.compile(rf"(?<![^\W\d_]){_PREP}\s+{_PLACE_CORE}")
_KEPT_PLACE = re.compile(rf"(?<![^\W\d_])(?P<kept>{_KEEP_PREP}\s+{_PLACE_CORE})")
_ARTICLE_PLACE = re.compile(
    rf"(?<![^\W\d_]){_ARTICLE}\s+(?:[a-zäöüß]+(?:e|en|er|es|em)\s+){{0,2}}{_PLACE_CORE}"
)
_LINE_PLACE = re.compile(rf"^[ \t]*(?:[-•*·▪◦–][ \t]+)?{_PLACE_CORE}[ \t]*[.,;]?[ \t]*$", re.M)

#: Nouns that end like places but are not ("im Zeitraum", "auf dem Weg").
_NOT_PLACES = frozenset(
    {"zeitraum", "spielraum", "freiraum", "weg", "amt", "rahmenprogramm", "haus", "ausgang",
     "see", "hof", "raum", "bad", "heim", "treff", "markt", "station", "keller", "küche",
     "anlage", "zentrale", "forum", "kino", "theater"}
)  # fmt: skip


@dataclass(frozen=True)
class Place:
    start: int
    end: int
    text: str


def _valid(m: re.Match[str]) -> bool:
    noun = m.group("noun")
    return not (noun.lower() in _NOT_PLACES and noun == m.group("place").split()[0])


def _clean(text: str) -> str:
    return " ".join(text.split()).rstrip(".,;:")


def find_where(text: str) -> str | None:
    """The first confident place after a preposition in `text`, without the preposition."""
    for m in _PLACE.finditer(text):
        if _valid(m):
            return _clean(m.group("place"))
    return None


def _capitalised(text: str) -> str:
    """`text` with every word's first letter in upper case, same length (lower-case mails)."""
    return re.sub(r"(?<![\wäöüß])[a-zäöü]", lambda m: m.group().upper(), text)


def find_places(text: str, *, standalone: bool = False, lowercase: bool = False) -> list[Place]:
    """Every confident place in `text`, in text order, none inside another.

    Besides places after a preposition: places after an article ("die Bücherei Süd"),
    "rund um die Gesamtschule" (kept with its preposition), and with `standalone` a line
    that is nothing but a place ("• Festwiese am Schwanenteich"). With `lowercase` the text
    is read as if its words were capitalised (for mails written all in lower case); the
    places keep the original spelling.
    """
    source = _capitalised(text) if lowercase else text
    found: list[Place] = []
    searches = [(_KEPT_PLACE, "kept"), (_PLACE, "place"), (_ARTICLE_PLACE, "place")]
    if standalone:
        searches.append((_LINE_PLACE, "place"))
    for rx, group in searches:
        for m in rx.finditer(source):
            if _valid(m):
                start, end = m.start(group), m.end(group)
                found.append(Place(start, end, _clean(text[start:end])))
    found.sort(key=lambda p: (p.start, -(p.end - p.start)))
    out: list[Place] = []
    for place in found:
        if any(o.start <= place.start and place.end <= o.end for o in out):
            continue
        out = [o for o in out if not (place.start <= o.start and o.end <= place.end)]
        out.append(place)
    return out
