"""Out-of-office replies: the last day the sender is away.

`absent_until(text, sent)` reads the reply's own text (quotes removed) and returns the last
day of the absence, inclusive, or None when the text does not say. "Last day away" rather
than "first day back" because that is what most notices state ("bis einschließlich 14.01.",
"bis zum 3.2.2027", "vom 20.12. bis 6.1.", "until January 14"); a return date ("ab dem 15.
Januar wieder erreichbar", "returning on 15 January 2027", "back on Monday 11/01") gives the
day before it. The bot may write again from the day after `absent_until`.

Decisions (keep in sync with tests/test_parse_absence.py):

- Only sentences that speak of an absence or a return count ("nicht im Büro", "Urlaub",
  "abwesend", "out of the office", "vacation", "wieder", "zurück", "back", "return"), so "Meine
  Vertretung ist bis 23.12. erreichbar" or a quoted deadline are never taken.
- An "until" date wins over a return date (it names the last day itself: "bis einschließlich
  15.01. im Urlaub und ab dem 18.01. wieder im Büro" gives the Friday, not the Sunday), which
  wins over a bare range ("Abwesenheit: 20.12.2026 - 06.01.2027", its end), which wins over a
  single day ("am 14.01. nicht im Büro"); within one kind the first in the text wins.
- "bis X" and English "until X" both mean X is the last day away (the common German reading;
  in English it is ambiguous, and reading it as the last day errs towards leaving the person
  in peace one day longer).
- Years are resolved against `sent` (the mail's Date). A date without a year is its next
  occurrence on or after `sent`, except within 60 days before it: "bis 14.01." in a notice
  sent on 20.01. is a notice left switched on, not next year's holiday ("vom 20.12. bis 6.1."
  sent on 2.1. is this holiday, too). Weekdays and "morgen", "nächste Woche" count from `sent`.
- Slashed dates: an impossible reading is dropped ("01/14" is 14 January); when both readings
  are possible, a weekday named with it decides ("Monday 11/01"), then German text means day
  first; otherwise the reading nearer to `sent` wins (day first on a tie).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import islice

from parsers.dates import WEEKDAYS, DateMatch, find_date

#: How far back a date without a year may lie and still be read in the year of `sent`.
STALE_DAYS = 60
#: Only this much of a reply is read (an out-of-office notice is short) ...
_MAX_CHARS = 4000
#: ... and only this many anchors of one kind per sentence are tried (each costs a few
#: date look-ups; a notice has one or two).
_MAX_ANCHORS = 8

_ABSENCE = re.compile(
    r"(nicht\s+(im|in\s+der|ins)\s+(büro|buero|hause?|dienst|amt|rathaus|verwaltung)"
    r"|nicht\s+(erreichbar|zu\s+erreichen|da\b|anwesend|vor\s+ort|am\s+(arbeits)?platz"
    r"|im\s+dienst|verfügbar)|abwesend|abwesenheit|urlaub|au(ß|ss)er\s+haus|elternzeit"
    r"|mutterschutz|dienstreise|fortbildung|schulung|seminar|krank|\bkur\b|\breha\b"
    r"|sabbatical|freizeitausgleich|gleittag|out\s+of\s+(the\s+)?office|\booo\b|\baway\b"
    r"|vacation|holiday|\bleave\b|not\s+(available|in\s+the\s+office)|unavailable"
    r"|travell?ing|business\s+trip|\bsick\b|off\s+work)",
    re.IGNORECASE,
)
#: "wieder"/"back" words: a sentence with one of these speaks of the return.
_RETURN_WORD = re.compile(
    r"\b(wieder|zurück|zurueck|rückkehr\w*|rueckkehr\w*|return\w*|back)\b", re.IGNORECASE
)
#: A return word, then (after a few words) the first day back.
_RETURN_BEFORE_DATE = re.compile(
    r"\b(wieder|zurück|zurueck|rückkehr\w*|rueckkehr\w*|return\w*|back"
    r"|available\s+again|in\s+the\s+office\s+again)\b",
    re.IGNORECASE,
)
#: "ab/am DATE ... wieder/zurück": the date first, the return word after it.
_DATE_BEFORE_RETURN = re.compile(r"\b(ab|am|erst\s+am|erst\s+ab|from|on)\b", re.IGNORECASE)
_UNTIL = re.compile(
    r"\b(bis|until|till|til|through|thru|up\s+to(\s+and\s+including)?)\b", re.IGNORECASE
)
_ON = re.compile(r"\b(am|on)\b", re.IGNORECASE)

#: Words between an anchor and its date that change nothing.
_FILLER = re.compile(
    r"(?:[\s,:;]|einschlie(?:ß|ss)lich\b|einschl\.|inkl\.|inklusive\b|incl\.|including\b"
    r"|and\s+including\b|zum\b|zur\b|den\b|dem\b|der\b|voraussichtlich\b|vsl\.|vorauss\."
    r"|ca\.|circa\b|sp(?:ä|ae)testens\b|the\b|on\b|approx(?:imately\b|\.)|around\b|about\b"
    r"|am\b|ab\b|from\b|by\b)*",
    re.IGNORECASE,
)
_WEEKDAY_LEAD = re.compile(
    r"(?P<wd>" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")s?\b\s*,?\s*"
    r"(?:(?:den|dem|the)\s+)?",
    re.IGNORECASE,
)
#: A return word's gap to its date: a few words, no digits, no end of sentence.
_RETURN_GAP = re.compile(r"[^\d.!?;]{0,40}")
_SLASH = re.compile(r"(?<![\d/.])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])")
_SENTENCE_END = re.compile(r"(?<!\d)[.!?]+\s+(?=[A-ZÄÖÜ\"„])|\n\s*\n")
_GERMAN = re.compile(r"\b(ich|bin|nicht|und|bis|wieder|ihre|sie|im|der|die|das)\b", re.I)
_ENGLISH = re.compile(r"\b(i|am|not|and|until|back|your|you|the|of|will)\b", re.I)


@dataclass(frozen=True)
class _Found:
    start: date
    end: date
    stop: int  # where the date's text ends in the sentence


def absent_until(text: str, sent: date, subject: str = "") -> date | None:
    """The last day away (inclusive) that an out-of-office text gives, else None."""
    text = text[:_MAX_CHARS]
    german = len(_GERMAN.findall(text)) >= len(_ENGLISH.findall(text))
    best: tuple[int, int, date] | None = None
    for offset, sentence in _sentences(text):
        for priority, pos, day in _candidates(sentence, sent, german):
            key = (priority, offset + pos, day)
            if best is None or key[:2] < best[:2]:
                best = key
    if best is None and subject:
        for priority, pos, day in _candidates(subject, sent, german, anchors_only=True):
            if best is None or (priority, pos) < best[:2]:
                best = (priority, pos, day)
    if best is None:
        return None
    day = best[2]
    if not (sent - timedelta(days=366) <= day <= sent + timedelta(days=3 * 366)):
        return None  # a typo'd year, not an absence
    return day


def _sentences(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for m in _SENTENCE_END.finditer(text):
        yield start, " ".join(text[start : m.end()].split())
        start = m.end()
    yield start, " ".join(text[start:].split())


def _candidates(
    sentence: str, sent: date, german: bool, anchors_only: bool = False
) -> Iterator[tuple[int, int, date]]:
    """(priority, position, last day away) for each date the sentence gives."""
    absence = _ABSENCE.search(sentence) is not None
    returning = _RETURN_WORD.search(sentence) is not None
    if not (absence or returning or anchors_only):
        return
    if absence or anchors_only:
        for m in islice(_UNTIL.finditer(sentence), _MAX_ANCHORS):
            found = _date_after(sentence, m.end(), sent, german)
            if found is not None:
                yield 1, m.start(), found.end
    if returning:
        for m in islice(_RETURN_BEFORE_DATE.finditer(sentence), _MAX_ANCHORS):
            found = _date_after(sentence, m.end(), sent, german, loose=True)
            if found is not None:
                yield 2, m.start(), found.start - timedelta(days=1)
        for m in islice(_DATE_BEFORE_RETURN.finditer(sentence), _MAX_ANCHORS):
            found = _date_after(sentence, m.end(), sent, german)
            if found is None:
                continue
            after = sentence[found.stop : found.stop + 80]
            word = _RETURN_WORD.search(after)
            if word is not None and not re.search(r"[.!?;]", after[: word.start()]):
                yield 2, m.start(), found.start - timedelta(days=1)
    if absence and not anchors_only:
        span = _first_date(sentence, sent - timedelta(days=STALE_DAYS), explicit_only=True)
        if span is not None and span.end > span.start:
            yield 3, span.start_pos, span.end
        if not returning:
            for m in islice(_ON.finditer(sentence), _MAX_ANCHORS):
                found = _date_after(sentence, m.end(), sent, german)
                if found is not None and found.start == found.end:
                    yield 4, m.start(), found.end


def _date_after(
    sentence: str, pos: int, sent: date, german: bool, loose: bool = False
) -> _Found | None:
    """The date right after an anchor: only filler words (or, `loose`, a few words without
    digits) and perhaps a weekday between them."""
    gap = (_RETURN_GAP if loose else _FILLER).match(sentence, pos)
    assert gap is not None  # both patterns match the empty string
    candidates = [gap.end()]
    if loose:
        filler = _FILLER.match(sentence, pos)
        assert filler is not None
        candidates = sorted({filler.end(), *_word_starts(sentence, pos, gap.end())})
    for start in candidates:
        found = _date_at(sentence, start, sent, german)
        if found is not None:
            return found
    return None


def _word_starts(sentence: str, pos: int, end: int) -> list[int]:
    """Positions after each filler run between pos and end (where a date could begin)."""
    starts: list[int] = []
    for m in re.finditer(r"\s+", sentence[pos:end]):
        filler = _FILLER.match(sentence, pos + m.start())
        if filler is not None:
            starts.append(filler.end())
    return starts


def _date_at(sentence: str, pos: int, sent: date, german: bool) -> _Found | None:
    weekday: int | None = None
    lead = _WEEKDAY_LEAD.match(sentence, pos)
    date_pos = pos
    if lead is not None:
        weekday = WEEKDAYS[lead.group("wd").lower()]
        date_pos = lead.end()
    window = sentence[date_pos : date_pos + 60]
    slash = _SLASH.match(window)
    if slash is not None:
        day = _slash_date(slash, sent, german, weekday)
        if day is not None:
            return _Found(day, day, date_pos + slash.end())
        return None
    found = _first_date(window, sent - timedelta(days=STALE_DAYS), explicit_only=True)
    if found is not None and found.start_pos == 0:
        return _Found(found.start, found.end, date_pos + found.end_pos)
    if lead is not None and weekday is not None:
        # "bis Freitag": the weekday itself, from the day the notice was sent
        day = sent + timedelta(days=(weekday - sent.weekday()) % 7)
        return _Found(day, day, lead.end())
    found = _first_date(window, sent, explicit_only=False)
    if found is not None and found.start_pos == 0:
        return _Found(found.start, found.end, date_pos + found.end_pos)
    return None


def _first_date(text: str, today: date, *, explicit_only: bool) -> DateMatch | None:
    """The earliest date in `text` (find_date gives the most confident one)."""
    found = find_date(text, today, explicit_only=explicit_only)
    while found is not None and found.start_pos > 0:
        earlier = find_date(text[: found.start_pos], today, explicit_only=explicit_only)
        if earlier is None:
            break
        found = earlier
    return found


def _next_on_or_after(month: int, day: int, ref: date) -> date | None:
    for year in (ref.year, ref.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= ref:
            return candidate
    return None


def _slash_date(m: re.Match[str], sent: date, german: bool, weekday: int | None) -> date | None:
    first, second, year_text = int(m.group(1)), int(m.group(2)), m.group(3)
    year = None
    if year_text is not None:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    readings: list[date] = []  # day first, then month first
    for day, month in ((first, second), (second, first)):
        if not (1 <= month <= 12 and 1 <= day <= 31):
            continue
        if year is not None:
            try:
                readings.append(date(year, month, day))
            except ValueError:
                continue
        else:
            found = _next_on_or_after(month, day, sent - timedelta(days=STALE_DAYS))
            if found is not None:
                readings.append(found)
    readings = list(dict.fromkeys(readings))
    if len(readings) <= 1:
        return readings[0] if readings else None
    if weekday is not None:
        matching = [r for r in readings if r.weekday() == weekday]
        if len(matching) == 1:
            return matching[0]
    if german:
        return readings[0]
    return min(readings, key=lambda r: abs((r - sent).days))
