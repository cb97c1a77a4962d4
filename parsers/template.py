"""From a reply's text to topics: the filled-in template, tables, lists, or free text.

Entry points (pure; `parsers.parse_message` calls them):

- `extract_topics(full_text, reply_text, attachments, options, today) -> tuple[Topic, ...]`
- `is_no_topics(reply_text, options=None, full_text="") -> bool`
- `required_missing(topic, options) -> tuple[str, ...]`

Order of the search, first hit wins:

1. label blocks in `reply_text` ("Was: ...", repeated blocks, "--- Thema ---" markers,
   numbered "1) Was: ...", the colleagues' own label words and typos (parsers.labels), two
   labels on one line) and tables (parsers.tables: a header row of labels or a first column
   of labels; HTML, tab, pipe or semicolon rows);
2. with `options.asked`: an unlabelled answer (one asked field: the whole answer is its value;
   several: the confident facts found for the asked fields);
3. label blocks in the *quoted* part of `full_text` ("> " prefixes removed) that carry real
   answers, i.e. values that differ from the empty template the bot sent; the unfilled quoted
   template gives nothing;
4. a numbered list of topics ("1. Sommerfest am 3. Juli ...") or a bullet list whose items
   carry a date, place or count and name something more than that;
5. free text (parsers.freetext): the event's name as `what` plus the date, place, people and
   head count the prose states; only when at least one of date, place or count is there
   (chit-chat gives nothing), and never for "keine Themen" answers or out-of-office texts.

A field that was left blank is None and listed in `missing`; an answer such as "entfällt" or
"-" is kept as written (answered, nothing parsed). Labels that colleagues add and that were
left empty by the bot's own template ("Bilder: (gern direkt anhängen)") count as blank. A
template answered only with "Fehlanzeige", "entfällt" or "-" gives no topic; it means "nothing
this time" (`is_no_topics`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache

from parsers.common import clean_inline, shorten
from parsers.counts import find_how_many, parse_how_many
from parsers.dates import MONTHS, WEEKDAYS, find_date, find_time, find_when, parse_when
from parsers.freetext import event_names, find_who, free_text_facts
from parsers.kinds import NOTHING_ANSWER, says_nothing
from parsers.labels import (
    SYNONYMS,
    TIME_LABELS,
    Vocabulary,
    header_field,
    norm_label,
    vocabulary,
)
from parsers.markers import is_closing
from parsers.model import FIELDS, HowMany, ParseOptions, Topic, When
from parsers.places import find_places, find_where
from parsers.tables import find_table

IMAGES = "images"
#: Hints the bot's template puts after a label; a value equal to one of them is blank.
TEMPLATE_PLACEHOLDERS: tuple[str, ...] = ("(gern direkt anhängen)", "(gerne direkt anhängen)")
#: Words allowed between a label and a "?"/"-"/"|" separator ("Wie viele Personen?").
#: After a colon any one to three words are accepted ("Wo findet es statt:").
_QUALIFIERS = frozenset(
    re.findall(
        r"\S+",
        """genau ungefähr ungefaehr etwa ca ca. circa personen leute gäste gaeste besucher
        besucherinnen teilnehmende teilnehmer teilnehmerinnen menschen kinder kommen kommt
        werden erwartet sind ist dabei findet es statt nimmt teil exactly people guests persons
        participants approximately roughly""",
    )
)
_WHAT_LIMIT = 200
#: An answer that is only a number ("35", "ca. 80"): a count, whatever its label.
_BARE_COUNT = re.compile(r"^(?:ca\.?|etwa|rund|~|max\.?|mind\.?)?\s*\d[\d.]*\+?$", re.IGNORECASE)
FREE_TEXT_LIMIT = 60_000

# ---------------------------------------------------------------------------------------
# Lines: quote prefixes, label lines, markers, stop lines
# ---------------------------------------------------------------------------------------

_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)+")
# A label line: "1) **Wie viele Personen** (ca.)?: 80". Written so that no two neighbouring
# pieces can match the same characters (optional pieces are `X[ \t]*`, never `[ \t]*X?[ \t]*`):
# a line of spaces or stars must not make the engine try every way to split it.
_LABEL_LINE = r"""
^[ \t]*+
(?P<num>(?:\(?\d{1,2}[.)]|\#\d{1,2}:?)[ \t]+)?
(?:[-*•·▪◦+►][ \t]+)?
(?:(?:\*\*|__|\*|_)[ \t]*)?
(?P<label>ALT)(?![^\W\d_])
(?P<qual>(?:[ \t]+[^\W\d_][\w.'/-]*){0,3}?)
[ \t]*
(?:\((?P<paren>[^)\n]*)\)[ \t]*)?
(?:(?:\*\*|__|\*|_)[ \t]*)?
(?:(?P<sep>:|\?+(?:[ \t]*:)?|\||=|[-–—](?=[ \t]+\S))|(?P<dash>[-–—]+)[ \t]*$|(?P<bare>$))
[ \t]*
(?:(?:\*\*|__|\*(?!\*))[ \t]*)?
(?P<value>.*)
"""
#: Only this many characters (after collapsing blanks) at the start of a line can hold a
#: label, its qualifiers and separator; the rest of a longer line is value.
_LABEL_PREFIX_LIMIT = 300
_BLANKS = re.compile(r"[ \t]+")
_HEADER_LINE = re.compile(
    r"^\s*\*{0,2}(?P<w>von|from|an|to|cc|bcc|betreff|subject|gesendet|sent|datum|date"
    r"|antwort\s+an|reply-to|objet|envoyé|de|à)\*{0,2}\s*:",
    re.IGNORECASE,
)
_STRONG_HEADER = frozenset({"betreff", "subject", "gesendet", "sent", "objet", "envoyé"})
_ATTRIBUTION = re.compile(
    r"""(?ix)^\s*(?:
        -{2,}\s*(?:original\s+message|urspr(?:ü|ue)ngliche\s+nachricht|weitergeleitete\s+nachricht
                  |forwarded\s+message)\s*-{2,}.*
      | _{10,}
      | (?:am|on)\s.{3,160}\s(?:schrieb|wrote|hat\s.{0,80}geschrieben)\s*.{0,80}:\s*
      | .{0,120}\s(?:schrieb|wrote)\s*:\s*
    )$"""
)
_CLOSING = re.compile(
    r"""(?ix)^\s*(?:
        (?:mit\s+)?(?:freundlichen|viele|vielen|beste|besten|liebe|lieben|herzliche|herzlichen
           |sonnige|sonnigen|sch(?:ö|oe)ne|freundliche|gute)\s+gr(?:ü|ue)(?:ß|ss)(?:e|en)?
      | mfg | lg | vg | bg | gru(?:ß|ss) | gr(?:ü|ue)(?:ß|ss)e | ciao | tsch(?:ü|ue)ss
      | best\s+regards | kind\s+regards | regards | cheers | best | thanks | many\s+thanks
      | --\s* | gesendet\s+von\s.* | sent\s+from\s+my\s.* | von\s+meinem\s.*\s+gesendet
    )\s*[,.!]?\s*$"""
)
_GREETING = re.compile(
    r"""(?ix)^\s*(?:hallo|hi|hey|liebe|lieber|liebes|sehr\s+geehrte[rs]?|guten\s+(?:tag|morgen|abend)
        |moin|servus|gr(?:ü|ue)(?:ß|ss)\s+gott|dear|hello|good\s+(?:morning|afternoon))\b"""
)
_THANKS = re.compile(
    r"""(?ix)^\s*(?:(?:vielen|herzlichen|besten|lieben|tausend)\s+)?(?:dank|danke|thanks|thank\s+you)
        \b"""
)
_META = re.compile(
    r"""(?ix)^\s*(?:hier|anbei|im\s+folgenden|nachfolgend|unten|wie\s+gew(?:ü|ue)nscht
        |gerne?\s+(?:sende|schicke)|here\s+(?:are|is))\b.{0,60}
        (?:themen|thema|infos?|informationen|meldungen?|vorschl(?:ä|ae)ge|topics?|details)\b"""
)
_TOPIC_HEADING = re.compile(
    r"""(?ix)^\s*[#*_]*\s*(?:
        (?:thema|topic|veranstaltung|beitrag)\s*(?:nr\.?\s*)?\#?\d{1,2}\s*[:.)-]?
      | \(?\d{1,2}[.)]\s*$
    )\s*[*_]*\s*(?P<rest>.*)$"""
)
_CELL_SPLIT = re.compile(r"\s*\|\s*")
_SEPARATOR_CELL = re.compile(r"^:?-{2,}:?$")
_AUTOMATIC = re.compile(
    r"""(?ix)\b(?:nicht\s+im\s+(?:b(?:ü|ue)ro|haus|dienst)|abwesend|abwesenheit|out\s+of\s+(?:the\s+)?office
        |automatische\s+antwort|auto(?:matic)?[-\s]?reply|im\s+urlaub|on\s+vacation
        |(?:away\s+)?on\s+(?:annual\s+|parental\s+|sick\s+)?(?:leave|holiday)
        |wieder\s+(?:erreichbar|im\s+b(?:ü|ue)ro|im\s+dienst|zur(?:ü|ue)ck))\b"""
)


@dataclass(frozen=True)
class _LabelPatterns:
    line: re.Pattern[str]
    variants: dict[str, str]  # lower-cased label -> field
    block_start: re.Pattern[str]
    block_end: re.Pattern[str]
    vocab: Vocabulary
    #: a label of any field inside a value ("Wann: 9.5., 10 Uhr   Wo: Marktplatz")
    inline: re.Pattern[str]


def _marker(text: str) -> re.Pattern[str]:
    core = re.sub(r"[^\w\s]", " ", text).split()
    if core:  # a leading/trailing "_" is decoration ("__Thema__"), not part of the words
        core[0], core[-1] = core[0].lstrip("_"), core[-1].rstrip("_")
        core = [w for w in core if w]
    words = r"\s+".join(re.escape(w) for w in core) if core else re.escape(text.strip())
    deco = r"[-–—=_*#~]"
    # Possessive runs: decoration and blanks are never given back (the words start and end
    # with a word character), so a line of 10,000 "*" fails at once instead of trying every
    # split between `a`, the bold stars and `b`.
    return re.compile(
        rf"^\s*+(?P<a>{deco}*+)\s*+(?:\*++\s*+)?{words}(?:\s*(?:nr\.?\s*)?\d{{1,2}})?"
        rf"\s*+\**+\s*+(?P<b>{deco}*+)\s*+$",
        re.IGNORECASE,
    )


@lru_cache(maxsize=16)
def _compile(
    labels: tuple[tuple[str, tuple[str, ...]], ...], block_start: str, block_end: str
) -> _LabelPatterns:
    vocab = vocabulary(dict(labels))
    variants: dict[str, str] = {}
    for fld, names in labels:
        for name in names:
            variants.setdefault(" ".join(name.lower().split()), fld)
    # the words people write for the same fields (weak labels, see parsers.labels)
    for fld, names in SYNONYMS.items():
        for name in names:
            if norm_label(name) in vocab.weak:
                variants.setdefault(" ".join(name.lower().split()), fld)
    for name in TIME_LABELS:
        if norm_label(name) in vocab.time:
            variants.setdefault(name.lower(), "when")
    alt = "|".join(
        r"[ \t]+".join(re.escape(part) for part in variant.split())
        for variant in sorted(variants, key=len, reverse=True)
    )
    line = re.compile(_LABEL_LINE.replace("ALT", alt), re.IGNORECASE | re.VERBOSE)
    inline = re.compile(
        r"(?:[ \t]{2,}|[ \t]*[|,;][ \t]*|[ \t]+(?=[A-ZÄÖÜ]))(?P<label>" + alt + r")[ \t]*:[ \t]*",
        re.IGNORECASE,
    )
    return _LabelPatterns(
        line, variants, _marker(block_start), _marker(block_end), vocab, inline
    )


def _patterns(options: ParseOptions) -> _LabelPatterns:
    key = tuple((fld, tuple(names)) for fld, names in options.labels.items())
    return _compile(key, options.block_start, options.block_end)


def _is_marker(rx: re.Pattern[str], line: str) -> bool:
    m = rx.match(line)
    return m is not None and len(m.group("a")) + len(m.group("b")) >= 2


@dataclass(frozen=True)
class _Label:
    field: str
    value: str
    clean: bool  # the plain label with a colon, nothing else
    numbered: bool
    weak: bool = False  # the colleague's own word or a typo, not a configured label
    time: bool = False  # "Uhrzeit:": completes the date of the same topic
    #: further "label: value" pairs written on the same line
    more: tuple[tuple[str, str, bool, bool], ...] = ()


# A line that looks like "Label: value" for a label the template does not know
# ("Anmeldung:", "Link:", "Foto vom ersten Brunnen:"): it ends the answer above it. Four
# letters at least: "Von: 10 Uhr" or "An: alle Eltern" go on with the answer above.
_OTHER_LABEL = re.compile(
    r"^[ \t]*(?:[-*•][ \t]+)?(?:\*\*)?[A-ZÄÖÜ][\wäöüß./-]{3,24}(?:[ \t]+[\wäöüß./-]{1,20}){0,3}"
    r"(?:\*\*)?[ \t]*:(?:[ \t]|$)"
)
# A word (or "wie viele") before a colon or question mark at the line start: a label with a
# typo, maybe ("Wan:", "Wieviele:", "Wre :", "Wi viele?").
_TYPO_LABEL = re.compile(
    r"^[ \t]*(?:[-*•][ \t]+)?(?:\*\*)?(?P<word>[^\W\d_]{2,10}(?:[ -][^\W\d_]{3,8})?)"
    r"(?:\*\*)?[ \t]*(?P<sep>:|\?+[ \t]*:?)[ \t]*(?:\*\*)?[ \t]*(?P<value>.*)$"
)


_Pair = tuple[str, str, bool, bool]  # field, value, weak, time


def _split_inline(value: str, pats: _LabelPatterns) -> tuple[str, list[_Pair]]:
    """A value and the further "label: value" pairs written after it on the same line."""
    if ":" not in value or len(value) > _LABEL_PREFIX_LIMIT:
        return value, []
    parts: list[_Pair] = []
    matches = list(pats.inline.finditer(value))
    if not matches:
        return value, []
    head = value[: matches[0].start()].rstrip(" ,;|")
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(value)
        word = m.group("label")
        found = pats.vocab.field_of(word)
        if found is None:
            fld, weak = pats.variants[" ".join(word.lower().split())], False
        else:
            fld, weak = found
        parts.append((fld, value[m.end() : end].strip().rstrip(" ,;|"), weak,
                      pats.vocab.is_time(word)))
    return head, parts


def _parse_label(line: str, pats: _LabelPatterns) -> _Label | None:
    norm = _BLANKS.sub(" ", line)
    head, tail = norm[:_LABEL_PREFIX_LIMIT], norm[_LABEL_PREFIX_LIMIT:]
    m = pats.line.match(head)
    if m is None or (tail and m.group("sep") is None):
        return None  # a bare or dashed label fills its whole (short) line
    qual_words = m.group("qual").split()
    sep = m.group("sep")
    if (m.group("bare") is not None or m.group("dash")) and (
        qual_words or m.group("paren") is not None
    ):
        return None
    if (
        qual_words
        and sep != ":"
        and not all(w.lower().strip(".") in _QUALIFIERS for w in qual_words)
    ):
        return None
    word = m.group("label")
    found = pats.vocab.field_of(word)
    fld, weak = found if found is not None else (pats.variants[norm_label(word)], False)
    if weak and (sep is None or sep.startswith(("-", "–", "—"))):
        return None  # "Ort" or "Gäste" alone on a line is no label
    value = m.group("dash") or (m.group("value") + tail).strip()
    value = re.sub(r"^\|\s*|\s*\|$", "", value).strip()
    value = re.sub(r"^(\*\*|__)(.*)\1$", r"\2", value).strip()
    clean = not qual_words and sep == ":"
    more: list[tuple[str, str, bool, bool]] = []
    if fld != "quote":
        value, more = _split_inline(value, pats)
    return _Label(fld, value, clean, m.group("num") is not None, weak,
                  pats.vocab.is_time(word), tuple(more))


# Two labels joined into one: "Wann/Wo: Fr., 2. Juli, 15 Uhr, Zweigstelle Ost".
_COMBINED_LABEL = re.compile(
    r"^[ \t]*(?:[-*•][ \t]+)?(?:\*\*)?(?P<a>[^\W\d_][^\W\d_ ]{1,14}(?:[ \t][^\W\d_]{3,8})?)"
    r"[ \t]*(?:/|&|\+|[ \t]und[ \t])[ \t]*(?P<b>[^\W\d_][^\W\d_ ]{1,14}(?:[ \t][^\W\d_]{3,8})?)"
    r"(?:\*\*)?[ \t]*(?:\?[ \t]*)?:[ \t]*(?:\*\*)?[ \t]*(?P<value>.*)$"
)


def _parse_combined_label(line: str, pats: _LabelPatterns) -> _Label | None:
    """"Wann/Wo: <date>, <place>": one value for two fields, the date's parts to "when",
    the rest to the other field; else None."""
    if len(line) > _LABEL_PREFIX_LIMIT or ":" not in line:
        return None
    m = _COMBINED_LABEL.match(line)
    if m is None:
        return None
    fields: list[str] = []
    for word in (m.group("a"), m.group("b")):
        found = pats.vocab.field_of(word)
        fld = found[0] if found is not None else pats.vocab.typo(word)
        if fld is None:
            return None
        fields.append(fld)
    if fields[0] == fields[1] or "when" not in fields:
        return None
    other = fields[1] if fields[0] == "when" else fields[0]
    value = m.group("value").strip()
    when_parts, other_parts = _split_when(value)
    return _Label("when", when_parts, True, False, False, False,
                  ((other, other_parts, False, False),))


_WEEKDAY_ONLY = re.compile(
    rf"(?i)^(?:{'|'.join(sorted(WEEKDAYS, key=len, reverse=True))}"
    r"|mo|di|mi|do|fr|sa|so|mon|tue|wed|thu|fri|sat|sun)\.?$"
)
#: Any day serves to tell whether a piece of text is a date at all.
_SOME_DAY = date(2000, 1, 3)


def _is_dateish(part: str) -> bool:
    return (
        _WEEKDAY_ONLY.match(part) is not None
        or find_date(part, _SOME_DAY) is not None
        or find_time(part) is not None
    )


def _split_when(value: str) -> tuple[str, str]:
    """("Fr., 2. Juli, 15 Uhr", "Zweigstelle Ost (Kastanienallee 7)") from a value that
    gives a date and a place; the comma parts that hold a date, weekday or time are the
    date, the others (in their order) the place."""
    parts = [p.strip() for p in re.split(r",(?![^()]*\))", value) if p.strip()]
    when = [p for p in parts if _is_dateish(re.sub(r"\([^()]*\)", "", p).strip())]
    rest = [p for p in parts if p not in when]
    return ", ".join(when), ", ".join(rest)


# "erwartete Teilnehmerzahl: 150", "voraussichtlicher Termin: Mai": a label word after one
# or two lower-case adjectives.
_QUALIFIED_LABEL = re.compile(
    r"^[ \t]*(?:[-*•][ \t]+)?(?:\*\*)?(?:[a-zäöüß]+(?:e|en|er|es|em)[ \t]+){1,2}"
    r"(?P<word>[A-ZÄÖÜ][\wäöüß/-]{2,30})(?:\*\*)?[ \t]*:[ \t]*(?:\*\*)?[ \t]*(?P<value>.*)$"
)


def _parse_qualified_label(line: str, pats: _LabelPatterns) -> _Label | None:
    """A known label word after adjectives ("erwartete Teilnehmerzahl:"), else None."""
    if len(line) > _LABEL_PREFIX_LIMIT or ":" not in line:
        return None
    m = _QUALIFIED_LABEL.match(line)
    if m is None:
        return None
    found = pats.vocab.field_of(m.group("word"))
    if found is None:
        return None
    return _Label(found[0], m.group("value").strip(), False, False, True,
                  pats.vocab.is_time(m.group("word")))


def _parse_typo_label(line: str, pats: _LabelPatterns) -> _Label | None:
    """A question-word label with one typing slip ("Wan:", "Wieviele:"), else None."""
    if len(line) > _LABEL_PREFIX_LIMIT or (":" not in line and "?" not in line):
        return None
    m = _TYPO_LABEL.match(line)
    if m is None:
        return None
    fld = pats.vocab.typo(m.group("word"))
    if fld is None:
        return None
    value = m.group("value").strip()
    more: list[tuple[str, str, bool, bool]] = []
    if fld != "quote":
        value, more = _split_inline(value, pats)
    return _Label(fld, value, m.group("sep") == ":", False, True, False, tuple(more))


def _header_lines(lines: Sequence[str]) -> set[int]:
    """Indexes of lines in a quote header block ("Von:/Gesendet:/An:/Betreff:")."""
    marked: set[int] = set()
    i = 0
    while i < len(lines):
        j = i
        words: set[str] = set()
        while j < len(lines):
            m = _HEADER_LINE.match(lines[j])
            if m is None:
                break
            words.add(m.group("w").lower())
            j += 1
        run = j - i
        if run >= 3 or (run >= 2 and words & _STRONG_HEADER):
            marked.update(range(i, j))
        i = max(j, i + 1)
    return marked


def _unquote(text: str) -> list[str]:
    return [_QUOTE_PREFIX.sub("", line) for line in text.splitlines()]


# ---------------------------------------------------------------------------------------
# Label groups
# ---------------------------------------------------------------------------------------


@dataclass
class _Draft:
    values: dict[str, list[str]] = field(default_factory=dict)
    in_block: bool = False
    clean: bool = False
    numbered: bool = False
    strong: bool = False  # at least one configured label (not only own words or typos)


def _is_placeholder(fld: str, text: str) -> bool:
    norm = " ".join(text.lower().split())
    if norm in {" ".join(p.lower().split()) for p in TEMPLATE_PLACEHOLDERS}:
        return True
    return fld == IMAGES and norm.startswith("(") and norm.endswith(")") and "anh" in norm


def _value(fld: str, lines: list[str]) -> str:
    text = clean_inline("\n".join(lines))
    return "" if _is_placeholder(fld, text) else text


def _answered(draft: _Draft) -> bool:
    return any(_value(f, v) for f, v in draft.values.items())


def _accept(draft: _Draft) -> bool:
    if not _answered(draft):
        return False
    if draft.in_block or draft.numbered or len(draft.values) >= 2:
        return True
    return draft.clean and draft.strong


def _cells(line: str) -> list[str]:
    return _CELL_SPLIT.split(line.strip().strip("|").strip())


def _split_columns(draft: _Draft) -> list[_Draft]:
    """Label rows with several value cells ("Was | Fest | Umzug"): one draft per column."""
    split = {
        f: _cells(v[0]) for f, v in draft.values.items() if len(v) == 1 and "|" in v[0]
    }
    if len(split) < 2:
        return [draft]
    width = max(len(c) for c in split.values())
    out: list[_Draft] = []
    for k in range(width):
        values: dict[str, list[str]] = {}
        for fld, lines in draft.values.items():
            if fld in split:
                cells = split[fld]
                values[fld] = [cells[k]] if k < len(cells) and cells[k] else []
            elif k == 0:
                values[fld] = lines
        out.append(_Draft(values, in_block=True, clean=draft.clean, numbered=draft.numbered))
    return out


def _table_drafts(
    lines: Sequence[str], i: int, pats: _LabelPatterns
) -> tuple[list[_Draft] | None, int]:
    """The topics of a table starting at line i (parsers.tables), and the index after the
    run of table-like lines (no table can start inside it)."""
    line = lines[i]
    if "|" not in line and "\t" not in line and ";" not in line and "   " not in line.strip():
        return None, i + 1
    table, run_end = find_table(lines, i, lambda cell: header_field(cell, pats.vocab))
    if table is None:
        return None, run_end
    drafts: list[_Draft] = []
    for topic in table.topics:
        values = {fld: list(cells) for fld, cells in topic.items()}
        counts = [c for c in values.get("who", []) if _BARE_COUNT.match(c)]
        if counts and "how_many" not in values:
            # a "Participants" column of numbers beside a "Contact" column
            values["how_many"] = counts
            values["who"] = [c for c in values["who"] if c not in counts]
        drafts.append(
            _Draft({f: [", ".join(c)] for f, c in values.items() if c}, in_block=True)
        )
    return drafts, table.end


# A label word written without any separator, as phones and hurried typists do
# ("Wann 11.11. um 17 Uhr"): the first one or two words of the line, then the value.
_BARE_LABEL = re.compile(
    r"^[ \t]*(?P<word>[A-ZÄÖÜ][^\W\d_]{1,9}(?:[ \t]+[^\W\d_]{3,6})?)[ \t]+(?=[^\s\-–—?|=:(*])"
)


def _bare_label_field(line: str, pats: _LabelPatterns) -> tuple[str, int] | None:
    """(field, end of the label) when `line` starts with a question word and no separator."""
    m = _BARE_LABEL.match(line)
    if m is None:
        return None
    words = m.group("word").split()
    for count in (2, 1) if len(words) == 2 else (1,):
        word = " ".join(words[:count])
        found = pats.vocab.field_of(word)
        fld = found[0] if found is not None and not found[1] else pats.vocab.typo(word)
        if fld is not None:
            end = m.start("word") + len(word) if count == 2 else m.start("word") + len(words[0])
            return fld, end
    return None


def _with_colons(lines: Sequence[str], pats: _LabelPatterns) -> list[str]:
    """`lines` with a colon put after the label of every line in a run of at least three
    consecutive lines that each start with a different question word and no separator
    ("Was Laternenumzug" / "Wann 11.11." / "Wo ab Kita"). A single such line is prose
    ("Was wir noch planen ..."); three different fields in a row are a template."""
    out = list(lines)
    i = 0
    while i < len(out):
        run: list[tuple[int, int]] = []
        fields: set[str] = set()
        j = i
        while j < len(out) and len(out[j]) < _LABEL_PREFIX_LIMIT and ":" not in out[j][:12]:
            found = _bare_label_field(out[j], pats)
            if found is None or found[0] in fields:
                break
            fields.add(found[0])
            run.append((j, found[1]))
            j += 1
        if len(run) >= 3:
            for k, end in run:
                out[k] = out[k][:end] + ":" + out[k][end:]
            i = j
        else:
            i += 1
    return out


# "1. Lesesommer-Auftakt" over label lines: a numbered heading that names the topic.
_NUMBERED_TITLE = re.compile(
    r"^\s*[#*_]*\s*\(?\d{1,2}[.)]\s+[*_]*\s*(?P<rest>[^\W\d_].{0,119}?)[*_]*\s*$"
)


def _numbered_title(line: str, lines: Sequence[str], i: int, pats: _LabelPatterns) -> str | None:
    """The topic name of a numbered heading at line i-1 when the next line is a label
    (of another field than "what"), else None."""
    m = _NUMBERED_TITLE.match(line)
    if m is None or ":" in m.group("rest"):
        return None
    nxt = next((ln.strip() for ln in lines[i : i + 2] if ln.strip()), "")
    label = _parse_label(nxt, pats) or _parse_combined_label(nxt, pats) if nxt else None
    if label is None or label.field == "what":
        return None
    return m.group("rest").strip()


def _groups(lines: Sequence[str], pats: _LabelPatterns) -> list[_Draft]:
    drafts: list[_Draft] = []
    lines = _with_colons(lines, pats)
    headers = _header_lines(lines)
    cur: _Draft | None = None
    current_field: str | None = None
    in_block = False

    def close() -> None:
        nonlocal cur, current_field
        if cur is not None and cur.values:
            drafts.append(cur)
        cur = None
        current_field = None

    def put(fld: str, value: str, weak: bool, time: bool) -> None:
        """One label's answer into the current draft (a repeated field starts a new one)."""
        nonlocal cur, current_field
        if cur is None:
            cur = _Draft(in_block=in_block)
        elif time and cur.values.get("when"):
            # "Datum: 24.03.2027" then "Uhrzeit: 17 Uhr": one answer to "when"
            if value:
                cur.values["when"] = [", ".join([*cur.values["when"], value])]
            current_field = None
            return
        elif fld in cur.values:
            close()
            cur = _Draft(in_block=in_block)
        cur.values[fld] = [value] if value else []
        cur.strong = cur.strong or not weak
        current_field = fld

    i = 0
    no_table_before = 0  # lines inside a run of table-like lines that is no table
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if (i - 1) in headers or _ATTRIBUTION.match(line):
            close()
            in_block = False
            continue
        if _is_marker(pats.block_end, line):
            close()
            in_block = False
            continue
        if _is_marker(pats.block_start, line):
            close()
            in_block = True
            cur = _Draft(in_block=True)
            continue
        if i - 1 >= no_table_before:
            table, run_end = _table_drafts(lines, i - 1, pats)
            if table is not None:
                close()
                drafts.extend(table)
                i = run_end
                continue
            no_table_before = run_end
        title = _numbered_title(line, lines, i, pats)
        if title is not None:
            close()
            cur = _Draft(in_block=in_block, numbered=True)
            cur.values["what"] = [title]
            current_field = None
            continue
        label = (
            _parse_label(line, pats)
            or _parse_combined_label(line, pats)
            or _parse_typo_label(line, pats)
            or _parse_qualified_label(line, pats)
        )
        if label is not None:
            if cur is not None and label.numbered and cur.values:
                close()
            put(label.field, label.value, label.weak, label.time)
            assert cur is not None
            cur.clean = cur.clean or (label.clean and not label.weak)
            cur.numbered = cur.numbered or label.numbered
            for fld, value, weak, time in label.more:
                put(fld, value, weak, time)
            continue
        heading = _TOPIC_HEADING.match(line)
        if heading is not None:
            close()
            cur = _Draft(in_block=in_block, numbered=True)
            rest = heading.group("rest").strip()
            if rest:
                cur.values["what"] = [rest]
                current_field = "what"
            continue
        if len(line) < 60 and is_closing(line):
            if not in_block:
                close()
            current_field = None
            continue
        if current_field is None or cur is None:
            continue
        values = cur.values[current_field]
        if values and _OTHER_LABEL.match(line):
            current_field = None  # "Anmeldung: ...": a note of its own, not this answer
            continue
        if not line:
            if values and not cur.in_block:
                current_field = None  # outside a block a blank line ends the answer
            elif values:
                values.append("")
            continue
        values.append(line)
    close()
    out: list[_Draft] = []
    for draft in drafts:
        out.extend(_split_columns(draft))
    return [d for d in out if _accept(d)]


# ---------------------------------------------------------------------------------------
# Free text
# ---------------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    re.findall(
        r"\S+",
        """ca bzw z b d h u a nr str dr hr fr st usw etc ggf inkl evtl vgl tel jan feb febr mrz
        apr jun jul aug sep sept okt nov dez mio mind max min ggü gem lt od o.ä zzgl abs ff""",
    )
)
_SENTENCE_END = re.compile(r"[.!?]+[\"“”')]*\s+")


def _sentences(paragraph: str) -> list[str]:
    text = " ".join(paragraph.split())
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        word = re.findall(r"[\wäöüß]+$", text[max(start, m.start() - 40) : m.start()])
        token = word[0].lower() if word else ""
        nxt = text[m.end() : m.end() + 1]
        if token.isdigit() or len(token) == 1 or token in _ABBREVIATIONS:
            continue
        if text[m.start()] == "." and nxt and nxt.islower():
            continue
        out.append(text[start : m.end()].strip())
        start = m.end()
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def _body_lines(text: str) -> list[str]:
    """The lines that carry content: greetings dropped, stop at the closing or a quote header."""
    lines = text.splitlines()
    headers = _header_lines(lines)
    out: list[str] = []
    for idx, raw in enumerate(lines):
        line = raw.strip()
        if idx in headers or _ATTRIBUTION.match(line) or _QUOTE_PREFIX.match(raw):
            break
        if len(line) < 60 and _CLOSING.match(line):
            break
        if len(line) < 80 and _GREETING.match(line) and line.endswith((",", "!", ":")):
            continue
        out.append(line)
    return out


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs: list[str] = []
    chunk: list[str] = []
    for line in [*lines, ""]:
        if line:
            chunk.append(line)
            if line.endswith(":"):  # an introduction ("Anbei unsere Themen:") ends here
                paragraphs.append(" ".join(chunk))
                chunk = []
        elif chunk:
            paragraphs.append(" ".join(chunk))
            chunk = []
    return paragraphs


def _meaningful(sentence: str) -> bool:
    if len(sentence) < 12 or sentence.endswith(":"):
        return False
    if _GREETING.match(sentence) and len(sentence) < 60:
        return False
    if _THANKS.match(sentence) and len(sentence) < 120 and find_where(sentence) is None:
        return False
    return _META.match(sentence) is None


def first_sentence(text: str) -> str | None:
    """The first meaningful sentence of `text`, trimmed to about 200 characters."""
    for paragraph in _paragraphs(_body_lines(text)):
        for sentence in _sentences(paragraph):
            if _meaningful(sentence):
                return shorten(sentence, _WHAT_LIMIT)
    return None


@dataclass
class _Fields:
    what: str | None = None
    when: When | None = None
    where: str | None = None
    who: str | None = None
    how_many: HowMany | None = None
    quote: str | None = None
    images: str | None = None

    def blank(self, name: str) -> bool:
        value = getattr(self, name, None)
        if isinstance(value, When | HowMany):
            return not value.text
        return not value


def _facts(text: str, today: date) -> _Fields:
    return _Fields(
        what=first_sentence(text),
        when=find_when(text, today),
        where=find_where(text),
        how_many=find_how_many(text),
    )


def looks_like_prose(text: str) -> bool:
    """Whether text reads like something a person wrote, not decoded binary noise.

    Prose has word breaks (whitespace is well over 5 % of it) and consists mostly of
    letters, digits and ordinary punctuation; random bytes decoded as Windows-1252 have
    neither, and would otherwise now and then yield a "fact" such as "Kw31".
    """
    if not text:
        return False
    spaces = sum(ch.isspace() for ch in text)
    plain = sum(ch.isalnum() or ch.isspace() or ch in ".,;:!?-–()\"'„“”/&%€@+" for ch in text)
    return spaces >= 0.05 * len(text) and plain >= 0.9 * len(text)


def _blocks(lines: list[str]) -> list[str]:
    """Paragraphs (runs of non-blank lines), their line breaks kept."""
    out: list[str] = []
    chunk: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            chunk.append(line)
        elif chunk:
            out.append("\n".join(chunk))
            chunk = []
    return out


def _free_text(text: str, today: date, options: ParseOptions | None = None) -> list[_Fields]:
    # Facts are looked for in the first FREE_TEXT_LIMIT characters: an eight-page report is
    # about 25,000; beyond that it is a pasted document or a quote that slipped through.
    lines = _body_lines(text[:FREE_TEXT_LIMIT])
    body = "\n".join(lines)
    if not body.strip() or is_no_topics(body, options) or not looks_like_prose(body):
        return []
    if len(body) < 1500 and _AUTOMATIC.search(body):
        return []
    paragraphs = _blocks(lines)
    out: list[_Fields] = []
    for facts in free_text_facts(paragraphs, today):
        fields = _Fields(
            what=facts.what, when=facts.when, where=facts.where, who=facts.who,
            how_many=facts.how_many,
        )
        if fields.what is None:
            fields.what = first_sentence(body)
        if fields.what is None or (
            fields.when is None and fields.where is None and not fields.how_many
        ):
            continue
        out.append(fields)
    return out


_ITEM = re.compile(r"^\s*\(?(?P<n>\d{1,2})(?P<p>[.)])\s+(?P<rest>\S.*)$")
_BULLET = re.compile(r"^\s*[-*•·▪◦–]\s+(?P<rest>\S.*)$")
_MONTH_START = re.compile(
    r"^(?:jan|feb|m(?:ä|ae|a)r|mrz|apr|mai|may|jun|jul|aug|sep|okt|oct|nov|dez|dec)", re.I
)


def _list_items(text: str) -> list[str]:
    """Items of a numbered list (1., 2., ...) that makes up most of the text, else []."""
    lines = _body_lines(text)
    items: list[list[str]] = []
    expected = 1
    for line in lines:
        m = _ITEM.match(line)
        is_item = (
            m is not None
            and int(m.group("n")) == expected
            and not (m.group("p") == "." and _MONTH_START.match(m.group("rest")))
        )
        if m is not None and is_item:
            items.append([m.group("rest")])
            expected += 1
        elif items and line:
            items[-1].append(line)
        elif items and not line and len(items[-1]) > 0 and items[-1][-1] != "":
            items[-1].append("")
    texts = [clean_inline("\n".join(item)) for item in items]
    total = sum(len(line) for line in lines if line)
    if len(texts) >= 2 and sum(len(t) for t in texts) * 2 >= total:
        return texts
    return []


def _bullet_items(text: str) -> list[str]:
    items: list[list[str]] = []
    for line in _body_lines(text):
        m = _BULLET.match(line)
        if m is not None:
            items.append([m.group("rest")])
        elif items and line and not _BULLET.match(line) and items[-1]:
            items[-1].append(line)
        elif not line and items:
            items.append([])
    return [clean_inline("\n".join(item)) for item in items if item]


def _item_fields(item: str, today: date) -> _Fields:
    facts = _facts(item, today)
    events = event_names(item)
    if events and len(item) <= 300:
        # "21.3. Frühjahrskonzert in der Stadthalle, 17 Uhr, ca. 250 Gäste": a short item's
        # topic is the event it names, the rest are its details
        facts.what = events[0][2]
        head = item.split(",", 1)[0].strip()
        if (
            "," in item
            and events[0][0] < len(head)
            and len(head) <= 80
            and find_date(head, _SOME_DAY, explicit_only=True) is None
        ):
            facts.what = head  # "Eröffnung Kunstrasenplatz, Ende April, ...": the whole name
    if len(item) <= 300:
        spans = tuple((p.start, p.end) for p in find_places(item, standalone=True))
        facts.who = find_who(item, spans)  # "in der Musikschule" is the place, not who
    if facts.what is None:
        facts.what = shorten(item, _WHAT_LIMIT)
    if facts.where is None and len(item) <= 300 and item.count(",") >= 2:
        # "Sommerfest, 3.7., Stadtpark, Kita, 100 Gäste": a terse item lists its facts
        # between commas; a part that is nothing but a place is the place
        for part in [p.strip() for p in item.split(",")[1:]]:
            places = find_places(part, standalone=True)
            if places and places[0].text == part.rstrip("."):
                facts.where = places[0].text
                break
    if facts.when is not None and facts.when.time is None and len(item) <= 300:
        rest = item.replace(facts.when.text, " " * len(facts.when.text), 1)
        clock = find_time(rest)
        if clock is not None:
            facts.when = replace(facts.when, time=clock[2])
    return facts


def _is_item_topic(item: str, fields: _Fields) -> bool:
    """A list item is a topic of its own when it states a fact and names something: an
    event ("Sommerfest am 3. Juli") or a few words more than a bare date or place ("•
    Samstag, 24. April, ab 14 Uhr" and "• Festwiese am Schwanenteich" are details of one
    event, "1. Beteiligung" is a report's section heading)."""
    if not (fields.when or fields.where or fields.how_many):
        return False
    if len(item) > 500 or "\n\n" in item.strip():
        return False  # a section of a report, several paragraphs long
    if event_names(item):
        return True
    if not (fields.when or fields.where):
        return False  # "• letztes Jahr waren rund 150 dabei": a count is a detail of one event
    rest = item
    for phrase in (fields.when.text if fields.when else "",
                   fields.how_many.text if fields.how_many else ""):
        rest = rest.replace(phrase, " ") if phrase else rest
    for place in find_places(item, standalone=True):
        rest = rest.replace(place.text, " ")
    names = [w for w in re.findall(r"[A-ZÄÖÜ][\wäöüß-]{2,}", rest)
             if w.lower() not in WEEKDAYS and w.lower() not in MONTHS]
    return bool(names)


def _list_topics(text: str, today: date) -> list[_Fields]:
    numbered = _list_items(text)
    if numbered:
        items = [(item, _item_fields(item, today)) for item in numbered]
        solid = [f for item, f in items if _is_item_topic(item, f)]
        if len(solid) >= 2 and len(solid) * 2 >= len(items):
            return [f for _item, f in items]
        return []
    bullets = [(item, _item_fields(item, today)) for item in _bullet_items(text)]
    solid = [f for item, f in bullets if _is_item_topic(item, f)]
    return solid if len(solid) >= 2 else []


# ---------------------------------------------------------------------------------------
# From drafts to fields
# ---------------------------------------------------------------------------------------


def _draft_fields(draft: _Draft, today: date) -> _Fields:
    values = {f: _value(f, v) for f, v in draft.values.items()}
    if values.get("who") and _BARE_COUNT.match(values["who"]) and not values.get("how_many"):
        # "Participants: 35" (English "participants" is also who): a bare number is a count
        values["how_many"] = values.pop("who")
    out = _Fields()
    for name in ("what", "where", "who", "quote", IMAGES):
        if values.get(name):
            setattr(out, name, values[name])
    if values.get("when"):
        out.when = parse_when(values["when"], today)
    if values.get("how_many"):
        out.how_many = parse_how_many(values["how_many"])
    # A field whose label is absent altogether may still be stated in the "Was" answer.
    if out.what:
        if "when" not in draft.values:
            out.when = find_when(out.what, today)
        if "where" not in draft.values:
            out.where = find_where(out.what)
        if "how_many" not in draft.values:
            out.how_many = find_how_many(out.what)
    return out


def _asked_answer(
    text: str, asked: tuple[str, ...], today: date, options: ParseOptions | None = None
) -> _Fields | None:
    lines = _body_lines(text)
    sentences = [s for p in _paragraphs(lines) for s in _sentences(p)]
    kept = [s for s in sentences if not (_THANKS.match(s) and len(s) < 60)]
    body = clean_inline(" ".join(kept))
    if not body or is_no_topics(body, options):
        return None
    out = _Fields()
    if len(asked) == 1:
        name = asked[0]
        if name == "when":
            out.when = parse_when(body, today)
        elif name == "how_many":
            found = find_how_many(body)
            parsed = parse_how_many(body)
            out.how_many = (
                HowMany(body, found.min, found.max) if found is not None else parsed
            )
        elif name == "where":
            out.where = body if len(body) <= 120 else (find_where(body) or shorten(body))
        elif name in ("what", "who", "quote", IMAGES):
            setattr(out, name, body)
        return out
    facts = _facts(body, today)
    if "when" in asked:
        out.when = facts.when
        if out.when is None:
            relative = parse_when(body, today)
            out.when = relative if relative.start else None
    if "where" in asked:
        out.where = facts.where
    if "how_many" in asked:
        out.how_many = facts.how_many
    if "what" in asked:
        out.what = facts.what
    if all(out.blank(name) for name in asked):
        return None
    return out


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def required_missing(topic: Topic, options: ParseOptions) -> tuple[str, ...]:
    """The required fields (or, with `options.asked`, the asked ones) this topic leaves blank.

    In the contract's field order. "images" counts as blank without attachments.
    """
    wanted = options.asked or options.required
    order = {name: k for k, name in enumerate((*FIELDS, IMAGES))}
    out: list[str] = []
    for name in sorted(dict.fromkeys(wanted), key=lambda n: order.get(n, len(order))):
        if name == IMAGES:
            blank = not topic.attachments
        else:
            value = getattr(topic, name, None)
            blank = value is None or (isinstance(value, str) and not value.strip())
        if blank:
            out.append(name)
    return tuple(out)


def _mentions(images: str | None, token: str) -> bool:
    """Whether `images` names `token` as a whole file name (case-insensitive).

    "foto.jpg" is not named by "sommerfoto.jpg" or "foto.jpg.zip"; a full stop or comma
    after the name ("foto.jpg.", "foto.jpg, bild.png") still ends it.
    """
    if not images or not token:
        return False
    rx = rf"(?<![\w.-]){re.escape(token)}(?![\w-]|\.\w)"
    return re.search(rx, images, re.IGNORECASE) is not None


def _names_in(images: str | None, name: str) -> bool:
    """Whether `images` names the file `name`, or its stem ("foto" for "foto.jpg")."""
    stem = name.rsplit(".", 1)[0]
    return _mentions(images, name) or (len(stem) >= 3 and _mentions(images, stem))


def _assign(found: list[_Fields], attachments: tuple[str, ...]) -> list[tuple[str, ...]]:
    if len(found) == 1:
        return [tuple(attachments)]
    buckets: list[list[str]] = [[] for _ in found]
    for name in attachments:
        # The full file name wins over a mere stem ("foto" in "foto-2.jpg").
        index = next((k for k, f in enumerate(found) if _mentions(f.images, name)), None)
        if index is None:
            index = next((k for k, f in enumerate(found) if _names_in(f.images, name)), 0)
        buckets[index].append(name)
    return [tuple(b) for b in buckets]


def _topic(fields: _Fields, attachments: tuple[str, ...], options: ParseOptions) -> Topic:
    topic = Topic(
        what=fields.what or None,
        when=fields.when,
        where=fields.where or None,
        who=fields.who or None,
        how_many=fields.how_many,
        quote=fields.quote or None,
        attachments=attachments,
    )
    return replace(topic, missing=required_missing(topic, options))


def _says_nothing(draft: _Draft) -> bool:
    """Every answer of the group is "nothing" ("Was: Fehlanzeige", "Was: entfällt", "Wann: -")."""
    answered = [value for fld, lines in draft.values.items() if (value := _value(fld, lines))]
    return bool(answered) and all(NOTHING_ANSWER.match(value) for value in answered)


def _says_nothing_about_what(drafts: list[_Draft]) -> bool:
    """A "nothing" template counts as "no topics" when it answers "Was" (or everything)."""
    return any(
        _value("what", d.values.get("what", []))
        or sum(1 for f, v in d.values.items() if _value(f, v)) >= 3
        for d in drafts
    )


def _real(drafts: list[_Draft]) -> list[_Draft]:
    return [d for d in drafts if not _says_nothing(d)]


# "anbei was von unserem Hausmeister", "siehe unten", "leite ich weiter": the reply hands on
# someone else's mail that is quoted below it.
_FORWARD_HINT = re.compile(
    r"(?i)(?<![\wäöüß])(?:anbei|unten|untenstehend|nachstehend|weitergeleitet|weiterleite"
    r"|leite\s.{0,40}weiter|von\s+(?:unserem|unserer|meinem|meiner)\s+[\wäöüß-]+"
    r"|see\s+below|forwarding)(?![\wäöüß])"
)


def _forwarded_text(full_text: str) -> str | None:
    """The body of the first mail quoted below the reply (between its header and the next
    quote header), unless it is a template (the request, or labels read elsewhere)."""
    lines = _unquote(full_text)
    headers = _header_lines(lines)
    marks = [k for k, line in enumerate(lines) if k in headers or _ATTRIBUTION.match(line.strip())]
    if not marks:
        return None
    start = marks[0]
    while start + 1 < len(lines) and (start + 1) in marks:
        start += 1
    end = next((k for k in marks if k > start + 1), len(lines))
    segment = lines[start + 1 : end]
    if any(_TEMPLATE_LINE.match(line) for line in segment):
        return None
    text = "\n".join(segment).strip()
    return text or None


_TEMPLATE_LINE = re.compile(r"(?i)^\s*(?:-{2,}\s*thema\s*-{2,}|was\s*:|wann\s*:)")


def extract_topics(
    full_text: str,
    reply_text: str,
    attachments: tuple[str, ...],
    options: ParseOptions,
    today: date,
) -> tuple[Topic, ...]:
    """The topics of a reply (see the module docstring for the order of the search)."""
    pats = _patterns(options)
    found = [_draft_fields(d, today) for d in _real(_groups(reply_text.splitlines(), pats))]
    if not found and options.asked:
        answer = _asked_answer(reply_text, options.asked, today, options)
        found = [answer] if answer is not None else []
    if not found and full_text:
        found = [_draft_fields(d, today) for d in _real(_groups(_unquote(full_text), pats))]
    if not found:
        found = _list_topics(reply_text, today)
        if not found:
            found = _free_text(reply_text, today, options)
        if full_text and not any(f.when for f in found) and _FORWARD_HINT.search(reply_text):
            forwarded = _forwarded_text(full_text)
            if forwarded:
                alt = _list_topics(forwarded, today) or _free_text(forwarded, today, options)
                if any(f.when for f in alt):
                    found = alt
    names = _assign(found, attachments) if found else []
    return tuple(_topic(f, n, options) for f, n in zip(found, names, strict=True))


# "... hatte ich ja schon gemeldet": an event already reported is no new topic.
_ALREADY_SENT = re.compile(
    r"(?i)(?<![\wäöüß])(?:schon|bereits)\s+(?:\w+\s+){0,3}?(?:gemeldet|geschickt|mitgeteilt"
    r"|geschrieben|angek(?:ü|ue)ndigt|gepostet|erw(?:ä|ae)hnt)"
)


def _announces_event(sentence: str) -> bool:
    """The sentence names an event with an explicit date (and not as one reported before)."""
    return (
        bool(event_names(sentence))
        and find_date(sentence, _SOME_DAY, explicit_only=True) is not None
        and _ALREADY_SENT.search(sentence) is None
    )


def is_no_topics(
    reply_text: str, options: ParseOptions | None = None, full_text: str = ""
) -> bool:
    """The sender says there is nothing this time ("keine Themen", "Fehlanzeige", ...).

    False when the phrase is qualified ("keine Themen außer dem Sommerfest"), when the reply
    holds an answered template, or when the phrase only appears deep inside a long text.
    True as well when the template, in the reply or typed into the quoted request
    (`full_text`), is answered with nothing but "Fehlanzeige", "entfällt" or "-".
    `options` gives the configured labels for the template check (default: the defaults).
    """
    pats = _patterns(options or ParseOptions())
    drafts = _groups(reply_text.splitlines(), pats)
    if drafts:
        return all(_says_nothing(d) for d in drafts) and _says_nothing_about_what(drafts)
    if full_text:
        quoted = _groups(_unquote(full_text), pats)
        if quoted and all(_says_nothing(d) for d in quoted) and _says_nothing_about_what(quoted):
            return True
    lines = _body_lines(reply_text[:FREE_TEXT_LIMIT])
    sentences = [s for p in _paragraphs(lines) for s in _sentences(p)]
    hit_index = -1
    for k, sentence in enumerate(sentences):
        if says_nothing(sentence):
            hit_index = k
            break
    if hit_index < 0:
        return False
    if any(_announces_event(s) for s in sentences[hit_index + 1 :]):
        return False  # "keine Themen. P.S.: Am 8. Mai ist übrigens Tag der ...": one after all
    meaningful = [s for s in sentences if not _GREETING.match(s) and not _THANKS.match(s)]
    return not (hit_index > 2 and sum(len(s) for s in meaningful) > 600)
