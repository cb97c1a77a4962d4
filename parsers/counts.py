"""Head counts as colleagues write them -> `HowMany`.

Choices (the contract fixes the first three; keep in sync with the tests):

- "80", "ca. 80", "etwa/rund/ungefähr/circa/~ 80", "about 80" -> 80/80.
- "50-60", "50 bis 60", "zwischen 50 und 60", "50 to 60" -> 50/60.
- "über 100", "mehr als 100", "more than 100", "> 100" -> 101/None.
- "mindestens 100", "ab 100", "100+", "100 und mehr", "at least 100" -> 100/None.
- "bis zu 100", "bis 100", "max. 100", "maximal/höchstens 100", "up to 100" -> None/100.
- "unter 100", "weniger als 100", "less than 100", "< 100" -> None/99.
- Thousands separators "1.500", "1,500", "1 500" -> 1500.
- Number words: "zwanzig", "dreißig", "hundertfünfzig", "zweihundert", "einundzwanzig",
  "zweitausend", "a dozen", "ein Dutzend" (12), "two hundred and fifty". A lone "ein/eine/one/a"
  is not a count ("eine Klasse").
- The first count in the text wins ("80 Gäste, davon 20 Kinder" -> 80).
- Vague amounts keep their text and give the range they stand for: "mehrere/einige hundert",
  "Hunderte" 200-999, "einige Dutzend" 24-119, "mehrere tausend" 2000-9999 (at least two,
  fewer than ten of the unit); "ein paar", "viele" alone give no numbers.
- Ordinals are no counts ("alle 7. Klassen"); a head count in parentheses after a number of
  groups is the answer ("4 Kitagruppen (etwa 60 Kinder)" -> 60, "alle 7. Klassen (ca. 110
  Schülerinnen und Schüler)" -> 110).
- Counts above `MAX_COUNT` (10 million) are not head counts: min/max are None, the text is
  kept. Digit groups and number-word runs are capped while reading, so no input builds a
  huge integer ("hundert hundert hundert ..." or "1.000.000.000...").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers.common import clean_inline, is_not_applicable
from parsers.model import HowMany

_DE_UNITS: dict[str, int] = {
    "null": 0, "eins": 1, "ein": 1, "eine": 1, "zwei": 2, "zwo": 2, "drei": 3, "vier": 4,
    "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11,
    "zwölf": 12, "dreizehn": 13, "vierzehn": 14, "fünfzehn": 15, "sechzehn": 16,
    "siebzehn": 17, "achtzehn": 18, "neunzehn": 19,
}  # fmt: skip
_DE_TENS: dict[str, int] = {
    "zwanzig": 20, "dreißig": 30, "vierzig": 40, "fünfzig": 50, "sechzig": 60,
    "siebzig": 70, "achtzig": 80, "neunzig": 90,
}  # fmt: skip
_EN_NUMBERS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_MULTIPLIERS: dict[str, int] = {
    "hundert": 100, "hundred": 100, "tausend": 1000, "thousand": 1000,
    "dutzend": 12, "dozen": 12,
}  # fmt: skip
#: Words that mean "one" only in front of a multiplier ("ein Dutzend", "a hundred").
_WEAK_ONE = frozenset({"a", "an", "ein", "eine", "einen", "one", "eins"})


def _de_below_100(word: str) -> int | None:
    if word in _DE_UNITS:
        return _DE_UNITS[word]
    if word in _DE_TENS:
        return _DE_TENS[word]
    if "und" in word:
        unit, _, tens = word.partition("und")
        if unit in _DE_UNITS and 1 <= _DE_UNITS[unit] <= 9 and tens in _DE_TENS:
            return _DE_UNITS[unit] + _DE_TENS[tens]
    return None


def _de_below_1000(word: str) -> int | None:
    if "hundert" not in word:
        return _de_below_100(word)
    left, _, right = word.partition("hundert")
    hundreds = 1 if left in ("", "ein", "eins") else _de_below_100(left)
    if hundreds is None or not 1 <= hundreds <= 9:
        return None
    right = right.removeprefix("und")
    rest = 0 if not right else _de_below_100(right)
    return None if rest is None else hundreds * 100 + rest


def german_number(word: str) -> int | None:
    """A German number word ("hundertfünfzig", "dreiundzwanzig", "zweitausend") or None."""
    w = word.lower().replace("ss", "ß").replace("ue", "ü").replace("oe", "ö")
    if "tausend" in w:
        left, _, right = w.partition("tausend")
        thousands = 1 if left in ("", "ein", "eins") else _de_below_1000(left)
        right = right.removeprefix("und")
        rest = 0 if not right else _de_below_1000(right)
        if thousands is None or rest is None or thousands == 0:
            return None
        return thousands * 1000 + rest
    return _de_below_1000(w)


#: The largest count taken at face value; anything above it gives min/max None.
MAX_COUNT = 10_000_000
#: What a number that exceeds MAX_COUNT is read as while parsing (then dropped).
_TOO_BIG = MAX_COUNT + 1


@dataclass(frozen=True)
class _Num:
    start: int
    end: int
    value: int


# At most four thousands groups ("1.000.000.000.000"); a longer chain of groups is no count.
_DIGITS = re.compile(
    r"(?<![\d,])(?<!\d\.)(?:\d{1,3}(?:(?:\.|,|[ \u00a0\u202f\u2009])\d{3}){1,4}(?![\d])|\d{1,9})"
    r"(?!\d|[.,]\d)"
)
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _word_value(word: str) -> tuple[str, int] | None:
    """("num", n), ("mul", m), ("one", 1) or ("and", 0) for number-ish words, else None."""
    w = word.lower()
    if w in ("and", "und"):
        return ("and", 0)
    if w in _WEAK_ONE:
        return ("one", 1)
    if w in _MULTIPLIERS:
        return ("mul", _MULTIPLIERS[w])
    if w in _EN_NUMBERS:
        return ("num", _EN_NUMBERS[w])
    if "-" in w:  # "twenty-five"
        parts = [_EN_NUMBERS.get(p) for p in w.split("-")]
        if all(p is not None for p in parts):
            return ("num", sum(p for p in parts if p is not None))
        return None
    value = german_number(w)
    if value is not None:
        return ("num", value)
    return None


def _evaluate(run: list[tuple[str, int]]) -> int | None:
    if not any(kind in ("num", "mul") for kind, _ in run):
        return None
    total = current = 0
    for kind, value in run:
        if kind in ("num", "one"):
            current += value
        elif kind == "mul" and value == 1000:
            total += (current or 1) * 1000
            current = 0
        elif kind == "mul":
            current = (current or 1) * value
        if total + current > MAX_COUNT:  # "hundert hundert hundert ...": stop, no huge int
            return _TOO_BIG
    return total + current


def _word_numbers(text: str) -> list[_Num]:
    found: list[_Num] = []
    run: list[tuple[str, int]] = []
    run_start = run_end = 0
    last_end = -1

    def flush() -> None:
        while run and run[-1][0] in ("and", "one"):
            run.pop()
        value = _evaluate(run)
        if value is not None:
            found.append(_Num(run_start, run_end, value))

    for m in _WORD.finditer(text):
        item = _word_value(m.group())
        adjacent = last_end >= 0 and text[last_end : m.start()].strip() == ""
        if item is None or (item[0] == "and" and not run):
            if run:
                flush()
            run = []
            last_end = -1
            continue
        if run and not adjacent:
            flush()
            run = []
        if not run:
            run_start = m.start()
            if item[0] == "and":
                last_end = -1
                continue
        run.append(item)
        if item[0] != "and":
            run_end = m.end()
        last_end = m.end()
    if run:
        flush()
    return found


def numbers(text: str) -> list[_Num]:
    """All counts written in digits or words, in text order."""
    found = [
        _Num(m.start(), m.end(), int(re.sub(r"\D", "", m.group()))) for m in _DIGITS.finditer(text)
    ]
    found += _word_numbers(text)
    found.sort(key=lambda n: n.start)
    return found


_APPROX = r"ca\.?|circa|zirka|etwa|rund|ungef(?:ä|ae)hr|ungef\.|gesch(?:ä|ae)tzt|~|≈|about|around|approx\.?|approximately|roughly|some"  # noqa: E501
_PREFIX = re.compile(
    r"""(?ix)(?<![^\W\d_])(?:
        (?P<over>(?:(?:ü|ue)ber|mehr\s+als|more\s+than|over|>)\s*)
      | (?P<least>(?:mindestens|mind\.|min\.|wenigstens|at\s+least|ab|≥|>=|\+)\s*)
      | (?P<upto>(?:bis\s+zu|bis|max\.?|maximal|h(?:ö|oe)chstens|up\s+to|at\s+most|maximum|≤|<=)\s*)
      | (?P<under>(?:unter|weniger\s+als|less\s+than|fewer\s+than|under|below|<)\s*)
      | (?P<between>(?:zwischen|between)\s+)
      | (?:(?:"""
    + _APPROX
    + r""")\s*)
    )$""",
)
_RANGE_GAP = re.compile(r"\s*(?:-|–|—|bis|to|/)\s*", re.IGNORECASE)
_AND_GAP = re.compile(r"\s*(?:und|and)\s*", re.IGNORECASE)
_PLUS_SUFFIX = re.compile(r"\s*(?:\+|(?:und|oder|or|and)\s+(?:mehr|more)\b|plus\b)", re.IGNORECASE)


def _interpret(
    text: str, first: _Num, second: _Num | None
) -> tuple[int | None, int | None, int, int]:
    """(min, max, start, end) for the count `first` (maybe a range to `second`) in `text`.

    min and max are both None when a number read exceeds MAX_COUNT.
    """
    low, high, start, end = _interpret_raw(text, first, second)
    used = (first,) if second is None or end < second.end else (first, second)
    if any(n.value > MAX_COUNT for n in used):
        return None, None, start, end
    return low, high, start, end


def _interpret_raw(
    text: str, first: _Num, second: _Num | None
) -> tuple[int | None, int | None, int, int]:
    before = text[max(0, first.start - 20) : first.start]
    prefix = _PREFIX.search(before)
    kind = next((k for k, v in (prefix.groupdict() if prefix else {}).items() if v), "")
    start = prefix.start() + max(0, first.start - 20) if prefix else first.start
    if second is not None:
        gap = text[first.end : second.start]
        if _RANGE_GAP.fullmatch(gap) or (kind == "between" and _AND_GAP.fullmatch(gap)):
            low, high = sorted((first.value, second.value))
            return low, high, start, second.end
    suffix = _PLUS_SUFFIX.match(text, first.end)
    n = first.value
    if kind == "over":
        return n + 1, None, start, first.end
    if kind == "least" or suffix:
        return n, None, start, suffix.end() if suffix else first.end
    if kind == "upto":
        return None, n, start, first.end
    if kind == "under":
        return None, max(n - 1, 0), start, first.end
    return n, n, start, first.end


# "mehrere hundert", "einige Dutzend", "Hunderte", "mehrere tausend": a multiple of the
# unit of at least two and fewer than ten, so 200-999, 24-119, 2000-9999. The text says
# no more than that; an exact number would claim a precision it does not have.
_VAGUE_UNIT = {"dutzend": 12, "hundert": 100, "tausend": 1000, "dozen": 12, "hundred": 100,
               "thousand": 1000}  # fmt: skip
_VAGUE = re.compile(
    r"(?i)(?<![^\W\d_])(?:(?:mehrere[nm]?|einige[nm]?|etliche[nm]?|viele[nm]?|zahlreiche[nm]?"
    r"|ein\s+paar|paar|several"
    r"|a\s+few|some|many)\s+(?P<unit>dutzend|hundert|tausend|dozen|hundred|thousand)"
    r"|(?P<units>dutzende|hunderte|tausende|dozens|hundreds|thousands)n?)(?![^\W\d_])"
)
# An ordinal is no count: "alle 7. Klassen", "die 5. und 6. Jahrgänge".
_ORDINAL = re.compile(r"\.\s*(?:und\s+\d{1,2}\.\s*)?[^\W\d_]")
# Groups counted in front of a head count in parentheses: "4 Kitagruppen (etwa 60 Kinder)".
_PAREN_AFTER = re.compile(r"[^\W\d_][\w-]*(?:\s+[^\W\d_][\w-]*){0,2}\s*\(\s*")


def _vague_count(text: str) -> tuple[int, int, int, int] | None:
    """(start, end, min, max) of a vague amount such as "mehrere hundert", else None."""
    m = _VAGUE.search(text)
    if m is None:
        return None
    word = (m.group("unit") or m.group("units")).lower().removesuffix("e").removesuffix("s")
    unit = _VAGUE_UNIT.get(word, 0)
    if not unit:
        return None
    return m.start(), m.end(), 2 * unit, 10 * unit - 1


_CLOCK_AFTER = re.compile(r"\s*(?:uhr\b|h\b|[:.]\d{2}\s*uhr)", re.IGNORECASE)


def _counting(text: str, nums: list[_Num]) -> list[_Num]:
    """The numbers that count something: ordinals ("7. Klassen") and clock times ("15 Uhr")
    left out."""
    return [
        n for n in nums
        if not (n.value < 100 and _ORDINAL.match(text, n.end))
        and not (n.value < 25 and _CLOCK_AFTER.match(text, n.end))
    ]


def _head_count_in_parentheses(text: str, nums: list[_Num], first: _Num) -> _Num | None:
    """In "4 Kitagruppen (etwa 60 Kinder)" the people in parentheses, else None."""
    m = _PAREN_AFTER.match(text, first.end + (1 if text[first.end : first.end + 1] == " " else 0))
    if m is None:
        return None
    inner = next((n for n in nums if n.start >= m.end()), None)
    if inner is None or text.find(")", m.end()) < inner.end:
        return None
    gap = text[m.end() : inner.start]
    if gap.strip() and not _PREFIX.search(gap):
        return None
    return inner if _PEOPLE.match(text, inner.end) else None


# An audience named before its number, after a count of something else:
# "6 Bands, Publikum ca. 250", "3 Chöre; Zuschauer: etwa 400".
_AUDIENCE_BEFORE = re.compile(
    r"""(?ix)(?<![^\W\d_])(?:publikum|zuschauer(?:innen)?|besucher(?:innen)?|g(?:ä|ae)ste
    |teilnehm(?:er|ende)(?:innen)?|audience|visitors|guests)\s*:?\s*
    (?:(?:ca|etwa|rund|circa|ungef(?:ä|ae)hr|gut|knapp|about|approx)\.?\s*)?$"""
)


def _head_count_named_later(text: str, nums: list[_Num], first: _Num) -> _Num | None:
    """In "6 Bands, Publikum ca. 250" the audience, not the bands; else None."""
    if _PEOPLE.match(text, first.end):
        return None
    for n in nums:
        if n.start > first.end and _AUDIENCE_BEFORE.search(text[first.end : n.start]):
            return n
    return None


def parse_how_many(text: str) -> HowMany:
    """Parse an answer to "Wie viele:". The text is kept as written; unparseable -> None/None."""
    written = clean_inline(text)
    if not written or is_not_applicable(written):
        return HowMany(text=written)
    all_nums = numbers(written)
    nums = _counting(written, all_nums)
    vague = _vague_count(written)
    if vague is not None and (not nums or vague[0] <= nums[0].start):
        return HowMany(text=written, min=vague[2], max=vague[3])
    if not nums:
        return HowMany(text=written)
    first = (
        _head_count_in_parentheses(written, nums, nums[0])
        or _head_count_named_later(written, nums, nums[0])
        or nums[0]
    )
    rest = [n for n in nums if n.start > first.start]
    found = _interpret(written, first, rest[0] if rest else None)
    if _people(written, found[3]) is None:
        # "ca. 40 Höfe machen mit, letztes Jahr mehrere hundert Besucher": the people
        # counted later answer "Wie viele", not the stalls, groups or yards counted first
        later = _later_people_count(written, nums, first, found, vague)
        if later is not None:
            return HowMany(text=written, min=later[0], max=later[1])
    if found[0] is None and found[1] is None:
        return HowMany(text=written)
    return _with_added_group(written, rest, found)


# Two groups of people added up: "24 Kinder + 4 Betreuer", "ca. 40 Kinder und 15 Erwachsene".
# With "und"/"sowie" both sides must name people ("200 Besucher und 40 Stände" stays 200);
# a written "+" or "plus" adds whatever is counted after it.
_ADD_GAP = re.compile(r"\s*(?P<op>\+|plus|und|sowie|&)\s*(?:(?:ca|etwa|rund|circa)\.?\s*)?", re.I)


def _with_added_group(
    text: str, rest: list[_Num], found: tuple[int | None, int | None, int, int]
) -> HowMany:
    low, high, _, end = found
    people_end = _people(text, end)
    nxt = next((n for n in rest if n.start >= end), None)
    if people_end is None or nxt is None:
        return HowMany(text=text, min=low, max=high)
    gap = _ADD_GAP.fullmatch(text, people_end, nxt.start)
    if gap is None or low is None or high is None:
        return HowMany(text=text, min=low, max=high)
    op = gap.group("op").lower()
    after = _interpret(text, nxt, None)
    if op == "+" and after[0] != after[1]:
        after = (nxt.value, nxt.value, nxt.start, nxt.end)  # "+ 4" is no "at least 4" here
    if after[0] is None or after[0] != after[1]:
        return HowMany(text=text, min=low, max=high)
    if op in ("und", "sowie", "&"):
        if _people(text, after[3]) is None:
            return HowMany(text=text, min=low, max=high)
    elif not re.match(r"\s*[^\W\d_]", text[after[3] :]):
        return HowMany(text=text, min=low, max=high)
    return HowMany(text=text, min=low + after[0], max=high + after[0])


# "3 Gruppen à 15 Kinder", "12 Teams mit je 8 Spielern": groups times their size.
_EACH = re.compile(
    r"(?i)\s*(?:[^\W\d_][\w-]*\s*(?:à|a|mit\s+je(?:weils)?|zu\s+je|von\s+je|je(?:weils)?|"
    r"mit\s+(?:ca\.?|etwa|rund)\s+je)|x|×|mal)\s*(?:(?:ca|etwa|rund|circa)\.?\s*)?"
)


def _later_people_count(
    text: str,
    nums: list[_Num],
    first: _Num,
    found: tuple[int | None, int | None, int, int],
    vague: tuple[int, int, int, int] | None,
) -> tuple[int | None, int | None] | None:
    """(min, max) of the first count after `first` (read as `found`) that is followed by
    people, else None; groups of a size ("3 Gruppen à 15 Kinder") are multiplied."""
    first_end = found[3]
    if vague is not None and vague[0] >= first_end and _people(text, vague[1]) is not None:
        vague_pos = vague[0]
    else:
        vague_pos = None
    for i, n in enumerate(nums):
        if n.start < first_end or (vague_pos is not None and n.start > vague_pos):
            continue
        second = nums[i + 1] if i + 1 < len(nums) else None
        low, high, start, end = _interpret(text, n, second)
        if _people(text, end) is None:
            continue
        groups = found[0] if found[0] is not None and found[0] == found[1] else None
        if groups is not None and _EACH.fullmatch(text, first_end, start):
            return (None if low is None else low * groups), (
                None if high is None else high * groups
            )
        return low, high
    if vague_pos is not None and vague is not None:
        return vague[2], vague[3]
    return None


_PEOPLE = re.compile(
    r"""(?ix)\s*(?:[^\W\d_][\w-]*\s+){0,2}?
    (?:[^\W\d_]{0,12}?(?:b(?:ü|ue)rger|sch(?:ü|ue)ler|kinder|kl(?:ä|ae)ssler|bewohner|besucher
      |teilnehm|helfer|l(?:ä|ae)ufer|fahrer|sportler)
      |g(?:ä|ae)st|besucher|besuchend|person|teilnehm|kinder|sch(?:ü|ue)ler|mensch|leute
      |anwohner|frauen|m(?:ä|ae)nner|eltern|azubis|auszubildend|studierend|zuh(?:ö|oe)rer
      |radler|wanderer|schwimmer|reiter|athlet|neub(?:ü|ue)rger
      |zuschauer|mitarbeit|helfer|ehrenamtlich|anmeldung|famili|senior|jugendlich|erwachsen
      |b(?:ü|ue)rger|einwohner|sportler|l(?:ä|ae)ufer|aussteller|g(?:ä|ae)ste|mitglied
      |musiker|s(?:ä|ae)nger|t(?:ä|ae)nzer|spieler|k(?:ü|ue)nstler|aktive
      |people|persons|guests|visitors|participants|attendees|children|kids|students
      |residents|volunteers|members)[\w*:/_-]*""",
)


_PAIR = re.compile(r"(?i)\s+(?:und|oder|sowie|/|and)\s+")


def _people(text: str, pos: int) -> int | None:
    """End of the people word(s) at `pos` ("Besucherinnen und Besucher"), or None."""
    people = _PEOPLE.match(text, pos)
    if people is None or "\n" in text[pos : people.end()]:
        return None
    end = people.end()
    pair = _PAIR.match(text, end)
    if pair is not None:
        second = _PEOPLE.match(text, pair.end())
        if second is not None and "\n" not in text[end : second.end()]:
            end = second.end()
    return end


def find_how_many(text: str) -> HowMany | None:
    """A count of people in free text ("ca. 80 Gäste", "50 bis 60 Kinder"), or None.

    The text of the result is the phrase found, e.g. "ca. 80 Gäste".
    """
    nums = _counting(text, numbers(text))
    found: tuple[int, HowMany] | None = None
    for i, num in enumerate(nums):
        second = nums[i + 1] if i + 1 < len(nums) else None
        low, high, start, end = _interpret(text, num, second)
        people = _PEOPLE.match(text, end)
        if people is None or "\n" in text[end : people.end()]:
            continue
        phrase = " ".join(text[start : people.end()].split())
        found = (start, HowMany(text=phrase, min=low, max=high))
        break
    vague = _vague_count(text)
    if vague is not None and (found is None or vague[0] < found[0]):
        people_end = _people(text, vague[1])
        if people_end is not None:
            phrase = " ".join(text[vague[0] : people_end].split())
            return HowMany(text=phrase, min=vague[2], max=vague[3])
    return found[1] if found is not None else None
