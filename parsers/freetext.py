"""Free text without labels: the event's name and the facts the prose states.

Rules and word lists (parsers/gazetteer.py), no model: they ship with the package, run in
microseconds, say why they found something, and find nothing rather than something wrong.

- `what` is the event's name as a noun phrase: a capitalised noun that ends like an event
  ("Jubiläumsfeier", "Sponsorenlauf", "Stadtteilkonferenz"; "Tag der offenen Tür" and
  "Woche der Inklusion" by their genitive), with its genitive ("Eröffnung der neuen
  Radstation"), a name after it ("Stadtteilkonferenz Weststadt") or a title in quotes. The
  one in the sentence that gives the date wins; without any, the caller falls back to the
  first meaningful sentence.
- `who`: roles with their names ("Bürgermeisterin Andrea Vogt", "Schulleiterin Dr. Maren
  Koch"), organisations by their endings ("Förderverein", "Klimabeirat", "Lebenshilfe
  Musterhausen", "Lauftreff des TV Musterhausen"), known abbreviations ("ADFC") and
  "Vertreter der Telekom". Up to four, in text order.
- `where`: `parsers.places.find_places` (prepositions, articles, a line of its own); the
  place in the date's sentence wins.
- `when`, `how_many`: the confident finders of parsers.dates and parsers.counts.
- Facts come from the paragraph that names the event; a short mail (under
  `SHORT_TEXT` characters) may supply the rest from its other paragraphs.
- Two or more paragraphs that each name an event and give a date are separate topics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from parsers.counts import find_how_many
from parsers.dates import find_date, find_when
from parsers.gazetteer import (
    EVENT_ENDINGS,
    EVENT_WORDS,
    NOT_EVENTS,
    NOT_ORGS,
    ORG_ACRONYMS,
    ORG_ENDINGS,
    ORG_NAMES,
    ROLE_ENDINGS,
)
from parsers.model import HowMany, When
from parsers.places import Place, find_places

#: A mail shorter than this may take facts from all its paragraphs for one topic.
SHORT_TEXT = 1500
#: `what` is cut to this many characters.
WHAT_LIMIT = 120

_WORD = re.compile(r"(?<![\wäöüß'’-])[A-ZÄÖÜ][\wäöüß'’-]*")
_CAP = r"[A-ZÄÖÜ][\wäöüß'’-]*"
_GENITIVE = re.compile(
    rf"\s+(?:der|des)\s+(?:[a-zäöüß]+(?:e|en|er|es)\s+){{0,2}}{_CAP}(?:\s+{_CAP}(?=[\s.,;:!?]|$))?"
)
_OF = re.compile(rf"\s+of\s+(?:the\s+)?{_CAP}(?:\s+{_CAP})?")
_TITLE = re.compile(r"\s*[„\"»‚](?P<title>[^“”\"«‘’\n]{1,80})[“”\"«‘’]")
#: Words that end like a town or district: taken as the name after an organisation or event.
_PLACE_NAME = re.compile(
    r"^(?:[A-ZÄÖÜ][\wäöüß-]*(?:hausen|stadt|dorf|heim|berg|burg|feld|felde|bach|hof|au|ingen"
    r"|grund|tal|hagen|rode|kirchen|brück|wald|see|mitte)|Nord|Süd|Ost|West|Mitte)$"
)
_REGISTERED_NAME = re.compile(rf"(?:\s+{_CAP}){{1,3}}\s+e\.\s?V\.")
_NAME_AFTER = re.compile(rf"\s+(?P<name>{_CAP})(?=[\s.,;:!?)]|$)")
_ROLE_NAME = re.compile(
    r"(?:\s+(?:Frau|Herr))?(?:\s+(?:Dr\.|Prof\.|Dipl\.-\w+\.?))*"
    rf"(?:\s+{_CAP}){{1,2}}(?=[\s.,;:!?)]|$)"
)
_STOP = frozenset(
    {"Der", "Die", "Das", "Den", "Dem", "Des", "Ein", "Eine", "Einen", "Einem", "Einer",
     "Unser", "Unsere", "Unseren", "Unserem", "Wir", "Sie", "Ich", "Es", "Er", "Am", "Im",
     "In", "Mit", "Von", "Vom", "Zum", "Zur", "Bei", "Beim", "Auf", "Für", "Und", "Oder",
     "Auch", "Außerdem", "Dort", "Hier", "Dann", "Danach", "Letztes", "Nächstes", "Diesmal",
     "Heute", "Morgen", "Bitte", "Danke", "Leider", "Liebe", "Lieber", "Hallo", "The", "A",
     "An", "Our", "This", "Next", "Last", "We", "Thank", "Dear", "Jahr", "Jahre", "Jahren",
     "Uhr", "Stadt"}
)  # fmt: skip
_ADJECTIVE_CAP = re.compile(r"^[A-ZÄÖÜ][a-zäöüß]+(?:e|en|er|es)$")
_REPRESENTATIVES = re.compile(
    r"(?:Vertreter(?:innen)?|Vertreterinnen\s+und\s+Vertreter|Mitarbeitende|Kolleginnen\s+und"
    rf"\s+Kollegen|Team)\s+(?:der|des|von|vom)\s+(?P<org>{_CAP})"
)
_EN_ORG = re.compile(
    r"(?:[A-Z][\w'’-]+\s+){1,3}(?:Association|Society|Club|Council|Committee|Office|Team"
    r"|Choir|Orchestra|Department|Foundation|Trust)\b"
)
_EN_EVENT = re.compile(
    r"(?:(?:[A-Z][\w'’-]+)\s+(?:(?:and|&|und)\s+)?){0,2}(?:Open\s+Day|Open\s+House|Open\s+Evening|Day|Festival"
    r"|Fair|Market|Concert|Reception|Workshop|Exhibition|Ceremony|Conference|Tournament|Run"
    r"|Tour|Celebration|Party|Screening|Lecture|Gala)\b"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ„\"])|\n")
#: A full stop after these is no sentence end ("Dr. Maren Koch", "14. März", "St. Marien").
_NO_END_BEFORE = re.compile(
    r"(?:\d|\b(?:dr|prof|st|nr|ca|bzw|str|hr|fr|dipl|ing|evtl|ggf|inkl|vgl|z\.b|u\.a|e\.v"
    r"|[a-zäöü]))\.$",
    re.IGNORECASE,
)


@dataclass
class Facts:
    what: str | None = None
    when: When | None = None
    where: str | None = None
    who: str | None = None
    how_many: HowMany | None = None


_ROLE_TUPLE = tuple(ROLE_ENDINGS)
_ORG_TUPLE = tuple(
    {*ORG_ENDINGS, *(e + "s" for e in ORG_ENDINGS), *(e + "es" for e in ORG_ENDINGS)}
)
_EVENT_TUPLE = tuple(EVENT_ENDINGS)


def _last_part(word: str) -> str:
    return word.rsplit("-", 1)[-1] if "-" in word.strip("-") else word


#: Compounds that end like events but are none ("Unterführung", "Geschäftsführung").
_NOT_EVENT_COMPOUNDS = (
    "unterführung", "durchführung", "ausführung", "einführung", "fortführung",
    "weiterführung", "geschäftsführung", "buchführung", "zusammenführung", "überführung",
    "bundestag", "landtag", "kreistag", "sonnabend", "feierabend", "vorabend", "lebensabend",
    "wochenende", "vorwoche", "börsenkurs", "wechselkurs", "marktplatz", "beispiel",
)


def _is_event(word: str) -> bool:
    """A noun that names an event by its ending ("Sponsorenlauf", "Eröffnung")."""
    low = word.lower()
    part = _last_part(word).lower()
    if low in EVENT_WORDS:
        return True
    if low in NOT_EVENTS or part in NOT_EVENTS or part.endswith(_NOT_EVENT_COMPOUNDS):
        return False
    return part.endswith(_EVENT_TUPLE)


def _extend(text: str, end: int, *, genitive: bool, name: bool, title: bool) -> int:
    """The end of a noun phrase after its head: genitive, a name, a title in quotes."""
    if genitive:
        m = _GENITIVE.match(text, end) or _OF.match(text, end)
        if m is not None:
            end = m.end()
    if name:
        registered = _REGISTERED_NAME.match(text, end)
        if registered is not None:
            return registered.end()  # "Verein Brücken e.V.": the club's registered name
        m = _NAME_AFTER.match(text, end)
        if m is not None and (
            _PLACE_NAME.match(m.group("name")) or m.group("name") in ORG_ACRONYMS
        ):
            end = m.end()
    if title:
        m = _TITLE.match(text, end)
        if m is not None:
            end = m.end()
    return end


def event_names(text: str) -> list[tuple[int, int, str]]:
    """(start, end, phrase) of every event named in `text`, in text order."""
    found: list[tuple[int, int, str]] = []
    for m in _WORD.finditer(text):
        word = m.group()
        special = word in ("Tag", "Woche", "Nacht", "Fest", "Abend", "Markt") and bool(
            _GENITIVE.match(text, m.end())
        )
        if not (special or _is_event(word)):
            continue
        end = _extend(text, m.end(), genitive=True, name=True, title=True)
        found.append((m.start(), end, " ".join(text[m.start() : end].split())))
    for m in _EN_EVENT.finditer(text):
        words = m.group().split()
        while words and words[0] in _STOP:
            words = words[1:]
        if len(words) >= 2 or (words and words[0] not in ("Day", "Run", "Tour", "Party")):
            start = m.end() - len(" ".join(words))
            found.append((start, m.end(), " ".join(words)))
    found.sort()
    return found


_NOT_ORG_COMPOUNDS = ("baustelle", "haltestelle", "feuerstelle", "gottesdienst")


def _is_org(low: str) -> bool:
    """A word that names an organisation by its ending ("Förderverein", "Kantorei")."""
    base = _last_part(low)
    if low in NOT_ORGS or base in NOT_ORGS or low.endswith(_NOT_ORG_COMPOUNDS):
        return False
    return base.endswith(_ORG_TUPLE)


def _nominative(phrase: str) -> str:
    """'Ortsbeirats' -> 'Ortsbeirat', 'Tiefbauamts' -> 'Tiefbauamt' (genitive endings)."""
    words = phrase.split()
    if len(words) != 1:
        return phrase
    low = phrase.lower()
    for suffix in ("es", "s"):
        stem = low.removesuffix(suffix)
        if stem != low and any(stem.endswith(e) for e in ORG_ENDINGS) and not any(
            low.endswith(e) for e in ORG_ENDINGS
        ):
            return phrase[: len(stem)]
    return phrase


def _mentions(text: str) -> list[tuple[int, int, str]]:
    """Roles with names and organisations in `text` (start, end, phrase)."""
    found: list[tuple[int, int, str]] = []
    for m in _WORD.finditer(text):
        word = m.group()
        low = word.lower()
        start, end = m.start(), m.end()
        if low.endswith(_ROLE_TUPLE):
            named = _ROLE_NAME.match(text, end)
            end = named.end() if named is not None else _extend(
                text, end, genitive=True, name=False, title=False
            )
        elif word in ORG_ACRONYMS or word in ORG_NAMES or _is_org(low):
            end = _extend(text, end, genitive=True, name=True, title=False)
            # a capitalised adjective before it: "Freiwilligen Feuerwehr"
            before = text[: m.start()].rstrip()
            prev = before.rsplit(None, 1)[-1] if before else ""
            if _ADJECTIVE_CAP.match(prev) and prev not in _STOP and before.endswith(prev):
                start = m.start() - (len(text[: m.start()]) - len(before)) - len(prev)
        else:
            continue
        found.append((start, end, _nominative(" ".join(text[start:end].split()))))
    for rx, group in ((_REPRESENTATIVES, "org"), (_EN_ORG, None)):
        for m in rx.finditer(text):
            s, e = (m.start(group), m.end(group)) if group else (m.start(), m.end())
            phrase = text[s:e]
            if group is None:
                words = phrase.split()
                while words and words[0] in _STOP:
                    words = words[1:]
                phrase = " ".join(words)
                s = e - len(phrase)
            found.append((s, e, phrase))
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    out: list[tuple[int, int, str]] = []
    for item in found:
        if any(o[0] <= item[0] and item[1] <= o[1] for o in out):
            continue
        out = [o for o in out if not (item[0] <= o[0] and o[1] <= item[1])]
        out.append(item)
    return out


def find_who(text: str, exclude: tuple[tuple[int, int], ...] = ()) -> str | None:
    """The people and organisations the text names, joined with ", ", or None."""
    names: list[str] = []
    for start, end, phrase in _mentions(text):
        if any(s <= start < e or s < end <= e for s, e in exclude):
            continue
        if phrase.lower() not in {n.lower() for n in names}:
            names.append(phrase)
        if len(names) >= 4:
            break
    return ", ".join(names) if names else None


def _sentence_span(text: str, pos: int) -> tuple[int, int]:
    """The sentence around `pos`: from the last sentence end before it to the next after."""
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.group() != "\n" and _NO_END_BEFORE.search(text[max(0, m.start() - 6) : m.start()]):
            continue  # "14. März", "Dr. Koch": a full stop inside the sentence
        if m.start() >= pos:
            return start, m.start()
        start = m.end()
    return start, len(text)


def _pick_place(places: list[Place], span: tuple[int, int] | None) -> Place | None:
    if not places:
        return None
    if span is not None:
        inside = [p for p in places if span[0] <= p.start < span[1]]
        if inside:
            return inside[0]
    return places[0]


_GERMAN_WORDS = re.compile(r"(?i)\b(?:und|der|die|das|ist|mit|für|wir|ein|eine|am|im|den)\b")


def _mostly_german(text: str) -> bool:
    return len(_GERMAN_WORDS.findall(text)) >= 3


def _is_lowercase(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 30 and sum(c.isupper() for c in letters) <= len(letters) * 0.01


def _lower_events(text: str) -> list[tuple[int, int, str]]:
    """Event words in a text written all in lower case ("sommerfest")."""
    out = []
    for m in re.finditer(r"(?<![\wäöüß])[a-zäöüß][\wäöüß-]*", text):
        if _is_event(m.group()):
            out.append((m.start(), m.end(), m.group()))
    return out


def _facts_of(text: str, today: date, context: str | None) -> Facts:
    """The facts of one topic in `text`; `context` (the whole mail) fills the gaps."""
    lowercase = _is_lowercase(text)
    date_match = find_date(text, today, explicit_only=True)
    span = _sentence_span(text, date_match.start_pos) if date_match is not None else None
    events = _lower_events(text) if lowercase else event_names(text)
    german = [e for e in events if not _EN_EVENT.fullmatch(e[2])]
    if german and _mostly_german(text):
        events = german  # "zum Earth Day ... einen Klimaaktionstag": the German event
    event = None
    if events:
        inside = [e for e in events if span is not None and span[0] <= e[0] < span[1]]
        event = (inside or events)[0]
    places = find_places(text, standalone=True, lowercase=lowercase)
    if event is not None:
        # "unser Bilderbuchkino", "Ostermarkt": the event's own name is no place
        head_end = event[0] + len(event[2].split()[0])
        places = [p for p in places if not (event[0] <= p.start < head_end)]
        # "Frühjahrskonzert der Musikschule ... in der Stadthalle": a place named outside
        # the event's phrase comes first; the genitive one only when there is no other
        # ("Eröffnung des Spielplatzes")
        event_end = event[0] + len(event[2])
        places.sort(key=lambda p: event[0] <= p.start < event_end)
    place = _pick_place(places, span)
    facts = Facts(
        what=_shorten(event[2]) if event else None,
        when=find_when(text, today),
        where=place.text if place else None,
        how_many=find_how_many(text),
    )
    facts.who = find_who(text, ((place.start, place.end),) if place else ())
    organisers = _organisers(text) or (_organisers(context) if context is not None else None)
    if organisers is not None:
        facts.who = organisers
    if context is not None and context != text:
        facts.when = facts.when or find_when(context, today)
        facts.how_many = facts.how_many or find_how_many(context)
        if facts.where is None:
            other = _pick_place(find_places(context, standalone=True, lowercase=lowercase), None)
            facts.where = other.text if other else None
        facts.who = facts.who or find_who(context)
    return facts


# "Organisiert wird das Ganze vom Gleichstellungsbüro zusammen mit ...", "veranstaltet von",
# "Veranstalter ist ...": the sentence that says who runs the event names the organisers.
_ORGANISED_BY = re.compile(
    r"(?i)(?<![\wäöüß])(?:organisiert|veranstaltet|ausgerichtet|durchgef(?:ü|ue)hrt"
    r"|organised|organized|hosted|run)(?![\wäöüß])[^.!?\n]{0,40}?(?<![\wäöüß])(?:von|vom|by)\s"
    r"|(?<![\wäöüß])(?:veranstalter(?:in)?|organisator(?:in)?|ausrichter|tr(?:ä|ae)ger)\s+"
    r"(?:ist|sind|sein\s+wird)\s"
)


def _organisers(text: str | None) -> str | None:
    """The people and organisations of the sentence that says who organises, else None."""
    if not text:
        return None
    m = _ORGANISED_BY.search(text)
    if m is None:
        return None
    _, end = _sentence_span(text, m.end())
    return find_who(text[m.start() : end])


def _shorten(text: str) -> str:
    if len(text) <= WHAT_LIMIT:
        return text
    cut = text[:WHAT_LIMIT].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"


def _dated_event(paragraph: str, today: date) -> str | None:
    """The event named in the sentence that gives the paragraph's date, if any."""
    found = find_date(paragraph, today, explicit_only=True)
    if found is None:
        return None
    start, end = _sentence_span(paragraph, found.start_pos)
    for event_start, _end, phrase in event_names(paragraph):
        if start <= event_start < end:
            return phrase.split()[0]
    return None


# Where a sentence may be cut into clauses that each announce an event of their own.
_CLAUSE_CUT = re.compile(r";\s+|,?\s+und\s+(?=(?:am|an|vom|ab|im)\s)|,\s+(?=außerdem\s|zudem\s)")


def _event_parts(paragraph: str, today: date) -> list[str]:
    """The paragraph cut into pieces that each name a different event with its own explicit
    date (sentences, then clauses); undated pieces go with the dated piece before them.
    Fewer than two such pieces: []."""
    sentences: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(paragraph):
        if m.group() != "\n" and _NO_END_BEFORE.search(
            paragraph[max(0, m.start() - 6) : m.start()]
        ):
            continue
        sentences.append(paragraph[start : m.start()])
        start = m.end()
    sentences.append(paragraph[start:])
    pieces = [c for sent in sentences for c in _CLAUSE_CUT.split(sent) if c.strip()]
    parts: list[str] = []
    names: list[str] = []
    for piece in pieces:
        events = event_names(piece)
        dated = find_date(piece, today, explicit_only=True) is not None
        head = events[0][2].split()[0].lower() if events else ""
        # "Frühlingsfest" ... "Das Fest beginnt": the short word names the same event again
        if events and dated and not any(n.endswith(head) or head.endswith(n) for n in names):
            names.append(head)
            parts.append(piece)
        elif parts:
            parts[-1] = parts[-1] + " " + piece
        elif dated:
            return []  # a date without an event before the first event: one topic
    return parts if len(parts) >= 2 else []


def _only_past(paragraph: str, today: date) -> bool:
    """Every date the paragraph gives lies before `today` (the mail's reference date)."""
    found = find_date(paragraph, today, explicit_only=True)
    return found is not None and found.end < today


def free_text_facts(paragraphs: list[str], today: date) -> list[Facts]:
    """One `Facts` per topic the paragraphs describe (see the module docstring)."""
    merged: list[str] = []
    for paragraph in (p for p in paragraphs if p.strip()):
        if merged and merged[-1].rstrip().endswith(":"):
            # "... lädt zum Frühlingsfest ein:" and the list of details after it
            merged[-1] = merged[-1] + "\n" + paragraph
        else:
            merged.append(paragraph)
    paragraphs = merged
    if not paragraphs:
        return []
    body = "\n\n".join(paragraphs)
    if (
        find_date(body, today, explicit_only=True) is None
        and find_how_many(body) is None
        and not find_places(body, standalone=True, lowercase=_is_lowercase(body))
    ):
        return []  # no fact at all: chit-chat, not a topic
    dated: list[str] = []
    seen: set[str] = set()
    for paragraph in paragraphs:
        event = _dated_event(paragraph, today)
        if event is not None and event.lower() not in seen:
            seen.add(event.lower())
            dated.append(paragraph)
    upcoming = [p for p in dated if not _only_past(p, today)]
    if upcoming and len(upcoming) < len(dated):
        # "zum Tag der Bibliotheken am 24.10.2026 hatten wir ...": a report of an event that
        # is over is no topic beside the ones still to come, nor a source of its facts
        past = [p for p in dated if p not in upcoming]
        dated = upcoming
        paragraphs = [p for p in paragraphs if p not in past]
        body = "\n\n".join(paragraphs)
    if len(dated) >= 2:
        return [_facts_of(p, today, None) for p in dated]
    for paragraph in dated or paragraphs[:1]:
        parts = _event_parts(paragraph, today)
        if len(parts) >= 2:
            # "Am 3. Mai ist unser Maifest ... Außerdem ist am 12. Juni das Brunnenfest ...":
            # two dated events in one paragraph are two topics
            return [_facts_of(part, today, None) for part in parts]
    # one topic: from the paragraph that names the event with a date, else the first that
    # names an event, else the whole text
    home = dated[0] if dated else next((p for p in paragraphs if event_names(p)), body)
    context = body if len(body) <= SHORT_TEXT else None
    facts = _facts_of(home, today, context)
    if context is None and _organisers(home) is None:
        # one topic: who organises it may be said in any paragraph of a long mail
        facts.who = _organisers(body) or facts.who
    return [facts]
