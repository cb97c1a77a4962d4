"""Dates and times as colleagues write them (German and English) -> `When`.

Everything is relative to a reference date `today` passed in; nothing reads the clock.

Choices (the contract leaves them open; keep in sync with the tests):

- A date without a year is its next occurrence on or after `today`; a vague period without a
  year ("Anfang Mai", "KW 12", "Mai") is the next one whose last day is on or after `today`.
- "Anfang Mai" = 1-10, "Mitte Mai" = 11-20, "Ende Mai" = 21-last day; "Mitte/Ende Mai" spans
  11-last. English "early/mid/late May" likewise.
- "KW 12" / "Kalenderwoche 12" / "12. KW" / "week 12" = ISO week 12, Monday to Sunday.
- A bare weekday ("Dienstag") is its next occurrence on or after `today` (today itself when
  today is a Tuesday); "nächsten/kommenden Dienstag", "next Tuesday" is the next Tuesday
  strictly after `today` (the common German reading); "übernächsten Dienstag" is one week
  after that.
- "nächste Woche" / "next week" = Monday to Sunday of the following ISO week;
  "nächsten Monat" = the whole following month; "Wochenende" = the coming Saturday+Sunday.
- A bare month ("im Juni") = the whole month. English "may" counts as the month only with a
  day or a year (it is also a verb).
- Numeric dates are day first ("03/05/2027" is 3 May); two-digit years are 20xx.
- `time` is the first clock time after the date is taken out ("10-12 Uhr" gives "10:00").
- Dates outside what `datetime.date` holds (a reference date in the year 9999, "nächste
  Woche" from `date.max`) are not found: the finder that would overflow gives nothing, and
  the text is kept with null dates.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from parsers.common import clean_inline, is_not_applicable
from parsers.model import When

MONTHS: dict[str, int] = {
    "januar": 1, "jänner": 1, "jaenner": 1, "january": 1, "jan": 1,
    "februar": 2, "feber": 2, "february": 2, "febr": 2, "feb": 2,
    "märz": 3, "maerz": 3, "marz": 3, "march": 3, "mrz": 3, "mär": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11,
    "dezember": 12, "december": 12, "dez": 12, "dec": 12,
}  # fmt: skip
#: Month names that stand for the whole month when written alone ("im Juni").
_FULL_MONTHS = tuple(
    name
    for name in MONTHS
    if (len(name) >= 4 and name not in {"febr", "sept"}) or name == "mai"
)

WEEKDAYS: dict[str, int] = {
    "montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4,
    "samstag": 5, "sonnabend": 5, "sonntag": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
    "saturday": 5, "sunday": 6,
}  # fmt: skip


def _alt(words: tuple[str, ...] | list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_NOT_LETTER_AFTER = r"(?![^\W\d_])"
_NOT_LETTER_BEFORE = r"(?<![^\W\d_])"
_MON_ALT = _alt(list(MONTHS))


def _mon(name: str) -> str:
    return rf"(?P<{name}>{_MON_ALT})\.?{_NOT_LETTER_AFTER}"


_ORD = r"(?:\.|st|nd|rd|th)?"
_YEAR = r"(?:\s*,?\s*(?P<y>\d{4})(?!\d))?"

# Explicit dates ("atoms"); each yields day, month and maybe year.
_ISO = re.compile(r"(?<![\d.])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)")
_DMY = re.compile(
    r"(?<![\d.,:])(?P<d>\d{1,2})\.\s?(?P<m>\d{1,2})\."
    r"(?:\s?(?P<y>\d{4})(?!\d)|(?P<yy>\d{2})(?![\d.:]))?"
)
_SLASH = re.compile(r"(?<![\d/])(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4}|\d{2})(?![\d/])")
_D_MON = re.compile(
    rf"(?<![\d.,:])(?P<d>\d{{1,2}}){_ORD}\s*(?:of\s+)?{_mon('mon')}{_YEAR}", re.IGNORECASE
)
_MON_D = re.compile(
    rf"{_NOT_LETTER_BEFORE}{_mon('mon')}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?"
    rf"(?!\d|[.:]\d|\s*(?:uhr|h\b)){_YEAR}",
    re.IGNORECASE,
)
_MON_D_D = re.compile(
    rf"{_NOT_LETTER_BEFORE}{_mon('mon')}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s*"
    rf"(?:-|–|—|to|until|through|thru)\s*(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?(?!\d){_YEAR}",
    re.IGNORECASE,
)
_CONNECTOR = (
    r"(?:-|–|—|bis(?:\s+einschlie(?:ß|ss)lich|\s+einschl\.)?|to|until|till|through|thru"
    r"|/|und|and|&|\+)"
)
_DAY_ONLY = re.compile(
    rf"(?<![\d.,:/])(?P<d>\d{{1,2}}){_ORD}(?=\s*(?:,|{_CONNECTOR})\s*(?:(?:zum|den|dem|the)\s+)?\d)",
    re.IGNORECASE,
)
_WEEKDAY_WORD = (
    r"(?:montags?|dienstags?|mittwochs?|donnerstags?|freitags?|samstags?|sonnabends?|sonntags?"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|mo|di|mi|do|fr|sa|so|mon|tue|wed|thu|fri|sat|sun)\.?"
)
# Between the two dates of a range: "31.12., 18 Uhr bis 1.1.", "Mo, 1.2. bis Fr, 5.2.",
# "Freitag, 12.3., 17 Uhr bis Sonntag, 14.3.": a time after the first date and a weekday
# before the second are part of the range.
_GAP = re.compile(
    r"\s*(?:,?\s*(?:um\s+|ab\s+|von\s+)?\d{1,2}(?:[:.]\d{2})?\s*(?:uhr|h)?\s*)?"
    rf"{_CONNECTOR}\s*(?:(?:zum|den|dem|the)\s+)?(?:{_WEEKDAY_WORD},?\s*(?:den\s+)?)?",
    re.IGNORECASE,
)

# Vague periods.
_Q = r"anfang|anf\.|beginn|mitte|ende|early|mid|late|beginning\s+of|end\s+of"
_VAGUE = re.compile(
    rf"{_NOT_LETTER_BEFORE}(?P<q>{_Q})(?:\s*(?:/|-|–|bis|oder|or|to)\s*(?P<q2>{_Q}))?"
    rf"\s*-?\s*(?:des\s+|of\s+)?{_mon('mon')}{_YEAR}",
    re.IGNORECASE,
)
_KW = re.compile(
    rf"{_NOT_LETTER_BEFORE}(?:kw|kalenderwoche|calendar\s+week|week)\s*\.?\s*(?P<w>\d{{1,2}})(?!\d)"
    r"(?:\s*(?:-|–|—|bis|to)\s*(?:kw\s*)?(?P<wend>\d{1,2})(?![\d.]))?"
    r"(?:\s*[/,.-]?\s*(?P<y>\d{4})(?!\d))?"
    rf"|(?<![\d.])(?P<w2>\d{{1,2}})\.\s*(?:kw|kalenderwoche){_NOT_LETTER_AFTER}"
    r"(?:\s*,?\s*(?P<y2>\d{4})(?!\d))?",
    re.IGNORECASE,
)
_MONTH_ONLY = re.compile(
    rf"{_NOT_LETTER_BEFORE}(?:(?P<mon>{_alt(list(_FULL_MONTHS))}){_NOT_LETTER_AFTER}"
    rf"(?:\s*(?P<y>\d{{4}})(?!\d))?|(?P<mon2>{_MON_ALT})\.?\s*(?P<y2>\d{{4}})(?!\d))",
    re.IGNORECASE,
)

# Relative expressions.
_REL_DAY = re.compile(
    rf"{_NOT_LETTER_BEFORE}(?P<w>(?:ü|ue)bermorgen|day\s+after\s+tomorrow|heute|today"
    r"|(?<!am )(?<!guten )(?<!jeden )(?<!good )(?:morgen|tomorrow))"
    rf"{_NOT_LETTER_AFTER}",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(
    rf"{_NOT_LETTER_BEFORE}(?:(?P<pre>(?:ü|ue)bern(?:ä|ae|a)chste[nrs]?|n(?:ä|ae|a)chste[nrs]?"
    r"|kommende[nrs]?|diese[nrs]?|next|this|coming)\s+)?"
    rf"(?P<wd>{_alt(list(WEEKDAYS))})s?{_NOT_LETTER_AFTER}",
    re.IGNORECASE,
)
_REL_PERIOD = re.compile(
    rf"{_NOT_LETTER_BEFORE}(?P<pre>(?:ü|ue)bern(?:ä|ae|a)chste[nrs]?|n(?:ä|ae|a)chste[nrs]?"
    r"|kommende[nrs]?|diese[nrs]?|next|this|coming|am|at\s+the)\s+"
    rf"(?P<unit>woche|week|monat|month|wochenende|weekend){_NOT_LETTER_AFTER}",
    re.IGNORECASE,
)

# Clock times, tried together; the earliest match wins.
_TIMES = (
    re.compile(
        r"(?<![\d.:,])(?P<h>\d{1,2})(?:[:.](?P<mi>\d{2}))?\s*(?:-|–|—|bis)\s*"
        # the end is often only estimated: "10.00 bis ca. 13.00 Uhr", "9 bis etwa 12 Uhr"
        r"(?:(?:ca\.|circa|etwa|ungef(?:ä|ae)hr|gegen|sp(?:ä|ae)testens)\s*)?"
        r"\d{1,2}(?:[:.]\d{2})?\s*(?:uhr|h)(?![^\W\d_])",
        re.IGNORECASE,
    ),
    re.compile(
        r"(?<![\d.:,])(?P<h>\d{1,2})(?:[:.](?P<mi>\d{2}))?\s*(?:uhr|h)(?![^\W\d_])", re.IGNORECASE
    ),
    re.compile(
        r"(?<![\d.:,])(?P<h>\d{1,2})(?::(?P<mi>\d{2}))?\s*(?P<ampm>a\.?\s?m\.?|p\.?\s?m\.?)"
        r"(?![^\W\d_])",
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\d.:,])(?P<h>\d{1,2}):(?P<mi>\d{2})(?![\d:])"),
    re.compile(
        r"(?<![^\W\d_])(?:um|ab|gegen|von|at|from)\s+(?P<h>\d{1,2})(?:[.:](?P<mi>\d{2}))?"
        r"(?![\d.:])(?!\s*[^\W\d_])",
        re.IGNORECASE,
    ),
)


#: Spoken clock times ("um halb elf" is 10:30, "Viertel nach 7" 07:15, "Viertel vor 8" 07:45).
_HOUR_WORDS = {
    "eins": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "fuenf": 5, "sechs": 6,
    "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12, "zwoelf": 12,
}
_SPOKEN_TIME = re.compile(
    r"(?<![^\W\d_])(?P<kind>halb|viertel\s+nach|viertel\s+vor|dreiviertel)\s+"
    rf"(?P<hw>\d{{1,2}}|{'|'.join(sorted(_HOUR_WORDS, key=len, reverse=True))})(?![^\W\d_]|[\d.:])",
    re.IGNORECASE,
)


def _spoken_time(text: str) -> tuple[int, int, str] | None:
    m = _SPOKEN_TIME.search(text)
    if m is None:
        return None
    word = m.group("hw").lower()
    hour = int(word) if word.isdigit() else _HOUR_WORDS[word]
    kind = " ".join(m.group("kind").lower().split())
    if hour < 1 or hour > 24:
        return None
    hour, minute = {
        "halb": (hour - 1, 30), "viertel nach": (hour, 15),
        "viertel vor": (hour - 1, 45), "dreiviertel": (hour - 1, 45),
    }[kind]
    return m.start(), m.end(), f"{hour % 24:02d}:{minute:02d}"


@dataclass(frozen=True)
class _Atom:
    start: int
    end: int
    day: int
    month: int | None  # None: a bare day that starts a range ("3." in "3.-5. Mai")
    year: int | None
    end_day: int | None = None  # "May 3-5": a range inside one month


@dataclass(frozen=True)
class DateMatch:
    """Where in the text a date or period was found, and what it means."""

    start_pos: int
    end_pos: int
    start: date
    end: date


def _year(raw: str | None) -> int | None:
    if raw is None:
        return None
    value = int(raw.lstrip("'"))
    return 2000 + value if value < 100 else value


def _atoms(text: str) -> list[_Atom]:
    found: list[_Atom] = []
    for rx in (_ISO, _DMY, _SLASH):
        for m in rx.finditer(text):
            year = _year(m.group("y") or (m.groupdict().get("yy")))
            found.append(_Atom(m.start(), m.end(), int(m.group("d")), int(m.group("m")), year))
    for rx in (_D_MON, _MON_D):
        for m in rx.finditer(text):
            month = MONTHS[m.group("mon").lower().rstrip(".")]
            found.append(_Atom(m.start(), m.end(), int(m.group("d")), month, _year(m.group("y"))))
    for m in _MON_D_D.finditer(text):
        month = MONTHS[m.group("mon").lower().rstrip(".")]
        found.append(
            _Atom(
                m.start(), m.end(), int(m.group("d")), month, _year(m.group("y")),
                end_day=int(m.group("d2")),
            )
        )  # fmt: skip
    for m in _DAY_ONLY.finditer(text):
        found.append(_Atom(m.start(), m.end(), int(m.group("d")), None, None))
    valid = [
        a
        for a in found
        if 1 <= a.day <= 31 and (a.month is None or 1 <= a.month <= 12)
        and (a.end_day is None or 1 <= a.end_day <= 31)
    ]
    valid.sort(key=lambda a: (a.start, -(a.end - a.start), a.month is None))
    result: list[_Atom] = []
    last_end = -1
    for atom in valid:
        if atom.start >= last_end:
            result.append(atom)
            last_end = atom.end
    return result


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_occurrence(month: int, day: int, today: date) -> date | None:
    for year in range(today.year, today.year + 9):
        candidate = _make(year, month, day)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _resolve_single(atom: _Atom, today: date) -> date | None:
    assert atom.month is not None
    if atom.year is not None:
        return _make(atom.year, atom.month, atom.day)
    return _next_occurrence(atom.month, atom.day, today)


def _resolve_range(first: _Atom, second: _Atom, today: date) -> tuple[date, date] | None:
    assert second.month is not None
    month1 = first.month if first.month is not None else second.month
    if first.month is None and first.day > second.day:
        month1 = 12 if second.month == 1 else second.month - 1  # "28.-3.5." (rare)
    atom1 = _Atom(first.start, first.end, first.day, month1, first.year)
    if second.year is not None and first.year is None:
        end = _make(second.year, second.month, second.day)
        if end is None:
            return None
        start = _make(end.year, month1, first.day)
        if start is not None and start > end:
            start = _make(end.year - 1, month1, first.day)
    else:
        start = _resolve_single(atom1, today)
        if start is None:
            return None
        if second.year is not None:
            end = _make(second.year, second.month, second.day)
        else:
            end = _make(start.year, second.month, second.day)
            if end is not None and end < start:
                end = _make(start.year + 1, second.month, second.day)
    if start is None or end is None or end < start:
        return None
    return start, end


_LIST_GAP = re.compile(r"\s*,\s*")


def _explicit(text: str, today: date) -> DateMatch | None:
    atoms = _atoms(text)
    for i, atom in enumerate(atoms):
        # "am 3., 10. und 17. Mai": a list of days that ends in a date spans first to last
        j = i
        while (
            atoms[j].month is None
            and j + 1 < len(atoms)
            and atoms[j + 1].month is None
            and _LIST_GAP.fullmatch(text, atoms[j].end, atoms[j + 1].start) is not None
        ):
            j += 1
        if j > i and j + 1 < len(atoms) and atoms[j + 1].month is not None:
            final = atoms[j + 1]
            if _GAP.fullmatch(text, atoms[j].end, final.start) is not None:
                span = _resolve_range(atom, final, today)
                if span is not None:
                    return DateMatch(atom.start, final.end, span[0], span[1])
        nxt = atoms[i + 1] if i + 1 < len(atoms) else None
        linked = (
            nxt is not None
            and nxt.month is not None
            and _GAP.fullmatch(text, atom.end, nxt.start) is not None
        )
        if linked and nxt is not None:
            span = _resolve_range(atom, nxt, today)
            if span is not None:
                return DateMatch(atom.start, nxt.end, span[0], span[1])
        if atom.month is None:
            continue
        single = _resolve_single(atom, today)
        if single is None:
            continue
        if atom.end_day is not None:
            last = _make(single.year, single.month, atom.end_day)
            if last is not None and last >= single:
                return DateMatch(atom.start, atom.end, single, last)
            continue
        return DateMatch(atom.start, atom.end, single, single)
    return None


def _month_span(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _upcoming(
    year: int | None, make: Callable[[int], tuple[date, date] | None], today: date
) -> tuple[date, date] | None:
    """The period for an explicit year, else the next one that has not ended before today."""
    try:
        if year is not None:
            return make(year)
        for candidate_year in (today.year, today.year + 1):
            span = make(candidate_year)
            if span is not None and span[1] >= today:
                return span
    except (ValueError, OverflowError):  # a year outside 1..9999
        return None
    return None


def _part_bounds(q: str, year: int, month: int) -> tuple[date, date]:
    first, last = _month_span(year, month)
    key = q.lower()
    if key.startswith(("anf", "beginn", "early", "beginning")):
        return first, date(year, month, 10)
    if key.startswith(("mitte", "mid")):
        return date(year, month, 11), date(year, month, 20)
    return date(year, month, 21), last


def _vague(text: str, today: date) -> DateMatch | None:
    m = _VAGUE.search(text)
    if m is None:
        return None
    month = MONTHS[m.group("mon").lower().rstrip(".")]
    q1, q2 = m.group("q"), m.group("q2") or m.group("q")

    def make(year: int) -> tuple[date, date] | None:
        return _part_bounds(q1, year, month)[0], _part_bounds(q2, year, month)[1]

    span = _upcoming(_year(m.group("y")), make, today)
    if span is None:
        return None
    # "Ende März bis Anfang April": a vague period up to another one
    link = _VAGUE_LINK.match(text, m.end())
    nxt = _VAGUE.match(text, link.end()) if link is not None else None
    if nxt is not None:
        month2 = MONTHS[nxt.group("mon").lower().rstrip(".")]
        q_end = nxt.group("q2") or nxt.group("q")
        year2 = _year(nxt.group("y")) or (span[0].year + (1 if month2 < month else 0))
        try:
            last = _part_bounds(q_end, year2, month2)[1]
        except (ValueError, OverflowError):
            last = None
        if last is not None and last >= span[0]:
            return DateMatch(m.start(), nxt.end(), span[0], last)
    return DateMatch(m.start(), m.end(), *span)


# "Ende Juni/Anfang Juli", "Ende Juni oder Anfang Juli": not sure which, so the span of both
_VAGUE_LINK = re.compile(r"\s*(?:-|–|—|/|bis|to|until|oder|or)\s*", re.IGNORECASE)


def _kw(text: str, today: date) -> DateMatch | None:
    m = _KW.search(text)
    if m is None:
        return None
    week = int(m.group("w") or m.group("w2"))

    def make(year: int) -> tuple[date, date] | None:
        try:
            monday = date.fromisocalendar(year, week, 1)
            return monday, monday + timedelta(days=6)
        except (ValueError, OverflowError):  # no such week, or the year 9999/10000
            return None

    year = _year(m.group("y") or m.group("y2"))
    if year is None:
        # ISO years: week 1 of next year may start in December.
        span = make(today.isocalendar()[0])
        if span is None or span[1] < today:
            span = make(today.isocalendar()[0] + 1)
    else:
        span = make(year)
    if span is None:
        return None
    if m.group("wend"):  # "KW 10-11": Monday of the first week to Sunday of the last
        last_week = int(m.group("wend"))
        try:
            last = date.fromisocalendar(span[0].isocalendar()[0], last_week, 7)
        except (ValueError, OverflowError):
            last = None
        if last is not None and last >= span[1]:
            span = (span[0], last)
    return DateMatch(m.start(), m.end(), *span)


def _month_only(text: str, today: date) -> DateMatch | None:
    m = _MONTH_ONLY.search(text)
    if m is None:
        return None
    name = (m.group("mon") or m.group("mon2")).lower().rstrip(".")
    month = MONTHS[name]
    span = _upcoming(
        _year(m.group("y") or m.group("y2")),
        lambda year: _month_span(year, month),
        today,
    )
    return DateMatch(m.start(), m.end(), *span) if span else None


def _relative(text: str, today: date) -> DateMatch | None:
    candidates: list[DateMatch] = []
    m = _REL_DAY.search(text)
    if m is not None:
        word = m.group("w").lower()
        if "über" in word or "ueber" in word or "after" in word:
            offset = 2
        elif word.startswith(("morgen", "tomorrow")):
            offset = 1
        else:
            offset = 0
        day = today + timedelta(days=offset)
        candidates.append(DateMatch(m.start(), m.end(), day, day))
    m = _WEEKDAY.search(text)
    if m is not None:
        target = WEEKDAYS[m.group("wd").lower()]
        delta = (target - today.weekday()) % 7
        pre = (m.group("pre") or "").lower()
        if pre.startswith(("n", "kommend", "coming")):
            delta = delta or 7
        elif pre.startswith(("ü", "ue")):
            delta = (delta or 7) + 7
        day = today + timedelta(days=delta)
        candidates.append(DateMatch(m.start(), m.end(), day, day))
    m = _REL_PERIOD.search(text)
    if m is not None:
        pre = m.group("pre").lower()
        unit = m.group("unit").lower()
        steps = 2 if pre.startswith(("ü", "ue")) else 0 if pre.startswith(("dies", "this")) else 1
        if unit.endswith("ende") or unit.endswith("weekend"):
            saturday = today + timedelta(days=(5 - today.weekday()) % 7)
            if today.weekday() == 6:
                saturday = today - timedelta(days=1)
            span = (saturday, saturday + timedelta(days=1))
        elif unit in ("woche", "week"):
            monday = today - timedelta(days=today.weekday()) + timedelta(weeks=steps)
            span = (monday, monday + timedelta(days=6))
        else:
            month_index = today.month - 1 + steps
            span = _month_span(today.year + month_index // 12, month_index % 12 + 1)
        candidates.append(DateMatch(m.start(), m.end(), *span))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c.start_pos)


def find_date(text: str, today: date, *, explicit_only: bool = False) -> DateMatch | None:
    """The first date or period in `text`, by confidence.

    Explicit dates and ranges come first, then "Anfang/Mitte/Ende Mai", then calendar weeks;
    unless `explicit_only`, then bare months, then relative words (heute, morgen, Dienstag,
    nächste Woche). `explicit_only` is for free text, where "morgen" is too often chit-chat.
    """
    finders = [_explicit, _vague, _kw]
    if not explicit_only:
        finders += [_month_only, _relative]
    for finder in finders:
        try:
            found = finder(text, today)
        except (ValueError, OverflowError):  # date arithmetic beyond date.min/date.max
            continue
        if found is not None:
            return found
    return None


def find_time(text: str) -> tuple[int, int, str] | None:
    """(start, end, "HH:MM") of the first clock time in `text`, or None."""
    best: tuple[int, int, str] | None = None
    for rx in _TIMES:
        for m in rx.finditer(text):
            hour = int(m.group("h"))
            minute = int(m.group("mi") or 0)
            ampm = (m.groupdict().get("ampm") or "").lower()
            if ampm.startswith("p") and hour < 12:
                hour += 12
            elif ampm.startswith("a") and hour == 12:
                hour = 0
            if hour > 23 or minute > 59:
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), m.end(), f"{hour:02d}:{minute:02d}")
            break
    spoken = _spoken_time(text)
    if spoken is not None and (best is None or spoken[0] < best[0]):
        best = spoken
    return best


_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]?(?:\d{2,4})?")


def _times_only(text: str) -> str:
    """`text` with its dates blanked ("12.3." would read as a time "12:03" otherwise)."""
    return _DATE_LIKE.sub(lambda m: " " * len(m.group()), text)


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def parse_when(text: str, today: date) -> When:
    """Parse an answer to "Wann:". The text is kept as written; unparseable parts stay None."""
    written = clean_inline(text)
    if not written or is_not_applicable(written):
        return When(text=written)
    found = find_date(written, today)
    rest = written if found is None else _blank(written, found.start_pos, found.end_pos)
    clock = find_time(rest)
    if found is not None and found.end > found.start:
        # "31.12., 18 Uhr bis 1.1., 6 Uhr": the start time sits inside the range
        inner = find_time(_times_only(written[found.start_pos : found.end_pos]))
        if inner is not None and (clock is None or found.start_pos + inner[0] < clock[0]):
            clock = inner
    return When(
        text=written,
        start=found.start if found else None,
        end=found.end if found else None,
        time=clock[2] if clock else None,
    )


def find_when(text: str, today: date) -> When | None:
    """A confident date in free text, as `When` whose text is the phrase found, else None.

    Only explicit dates, ranges, "Anfang Mai" and calendar weeks count; a clock time within
    the next few words is included ("am 12. Mai um 14 Uhr").
    """
    found = find_date(text, today, explicit_only=True)
    if found is None:
        return None
    end_pos = found.end_pos
    tail = text[found.end_pos : found.end_pos + 40].split("\n", 1)[0]
    clock = find_time(tail)
    time = None
    between = text[found.end_pos - 1 : found.end_pos + (clock[0] if clock else 0)]
    if clock is not None and not re.search(r"[.!?;]\s+[A-ZÄÖÜ]", between):
        time = clock[2]
        end_pos = found.end_pos + clock[1]
    phrase = " ".join(text[found.start_pos : end_pos].split())
    last_word = phrase.rsplit(" ", 1)[-1]
    if last_word.endswith(".") and last_word[:-1].lower() in _FULL_MONTHS:
        phrase = phrase[:-1]  # the full stop of the sentence, not an abbreviation
    return When(text=phrase, start=found.start, end=found.end, time=time)
