"""Which topics come first, and how the departments balance: pure, `now` is an argument.

The officer must not be flooded, and one busy department must not crowd out the quiet ones.
A topic's score multiplies

- what it offers: date proximity (the next few days are worth most: they need action now;
  a range already running too, the past nothing), completeness, a photo, a quote;
- its department's balance: a department that sent far more than its share in recent weeks
  is damped, one that sent little is lifted (a square root keeps it gentle, and the factor
  stays within BALANCE_RANGE, so a quiet department's weak topic does not beat a strong one);
- within the list itself: each further topic of a department already listed counts
  SAME_DEPARTMENT less, so a department with twenty topics this week gets its best two or
  three on top and the others follow further down.

Each ranked topic carries the reasons it scored (codes the templates word in German), so
the digest can say in one line why the top topics are on top.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

#: weights of what a topic offers (sum 1.0)
W_SOON = 0.45
W_COMPLETE = 0.25
W_PHOTO = 0.15
W_QUOTE = 0.15
#: topics this close need action now: full proximity
URGENT_DAYS = 3
#: days beyond URGENT_DAYS at which date proximity is worth half
HALF_LIFE_DAYS = 7
#: what an undated topic's date is worth (it may well be soon; nobody knows)
UNDATED = 0.1
#: the balance factor's bounds (damped, lifted)
BALANCE_RANGE = (0.8, 1.25)
#: each further topic of a department already listed is worth this much of the one before
SAME_DEPARTMENT = 0.8
#: of the fields a topic can miss (Was, Wann, Wo, Wer, Wie viele, Zitat)
FIELDS = 6
#: "soon" is worth a reason up to this many days ahead
SOON_DAYS = 14


@dataclass(frozen=True)
class Candidate:
    id: int
    department: str
    start: date | None
    end: date | None
    missing: int
    has_photo: bool
    has_quote: bool


@dataclass(frozen=True)
class Reason:
    """Why a topic scored: `code` is one of soon, running, complete, photo, quote,
    quiet_department; `days` goes with soon (0 = today)."""

    code: str
    days: int = 0


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    score: float
    balance: float
    reasons: tuple[Reason, ...]


def proximity(start: date | None, end: date | None, now: date) -> float:
    """1.0 up to URGENT_DAYS ahead, half that HALF_LIFE_DAYS later, falling gently after;
    a range that is running counts as today; over: 0."""
    if start is None:
        return UNDATED
    last = end or start
    if last < now:
        return 0.0
    days = max(0, (start - now).days - URGENT_DAYS)
    return 1.0 / (1.0 + days / HALF_LIFE_DAYS)


def balance_factors(recent: Mapping[str, int], departments: Iterable[str]) -> dict[str, float]:
    """Per department: above 1 when it sent less than an even share of the recent topics,
    below 1 when it sent more; 1 for all when nothing was sent."""
    names = set(departments) | set(recent)
    total = sum(recent.values())
    if not names or total == 0:
        return {name: 1.0 for name in names}
    fair = total / len(names)
    low, high = BALANCE_RANGE
    return {name: min(high, max(low, ((fair + 1) / (recent.get(name, 0) + 1)) ** 0.5))
            for name in names}


def _reasons(c: Candidate, now: date, balance: float) -> tuple[Reason, ...]:
    out: list[Reason] = []
    if c.start is not None and (c.end or c.start) >= now:
        days = (c.start - now).days
        if days < 0:
            out.append(Reason("running"))
        elif days <= SOON_DAYS:
            out.append(Reason("soon", days))
    if c.missing == 0:
        out.append(Reason("complete"))
    if c.has_photo:
        out.append(Reason("photo"))
    if c.has_quote:
        out.append(Reason("quote"))
    if balance > 1.05:
        out.append(Reason("quiet_department"))
    return tuple(out)


def score(c: Candidate, now: date, balance: float = 1.0) -> float:
    offer = (W_SOON * proximity(c.start, c.end, now)
             + W_COMPLETE * max(0.0, 1.0 - c.missing / FIELDS)
             + W_PHOTO * c.has_photo + W_QUOTE * c.has_quote)
    return offer * balance


def rank(candidates: Sequence[Candidate], now: date, recent: Mapping[str, int],
         departments: Iterable[str] = ()) -> list[Ranked]:
    """All candidates, best first.

    `recent`: topics per department in the recent weeks (the balance history);
    `departments`: every department that could have sent some (a department with none
    counts as quiet). Ties go to the earlier date, then the lower id, so the order is
    stable from run to run.
    """
    factors = balance_factors(recent, [*departments, *(c.department for c in candidates)])
    # Within a department the discount hits every topic alike, so its own order is by
    # score; across departments, a heap of each department's next topic at its discounted
    # value picks the best (n log d, also for thousands of topics).
    queues: dict[str, list[tuple[float, Candidate]]] = {}
    for c in candidates:
        queues.setdefault(c.department, []).append((score(c, now, factors[c.department]), c))
    for queue in queues.values():
        queue.sort(key=lambda item: (item[0], _later_first(item[1])))  # best last: pop()
    heap: list[tuple[float, date, int, str]] = []
    for name, queue in queues.items():
        value, c = queue[-1]
        heapq.heappush(heap, (-value, c.start or date.max, c.id, name))
    listed: dict[str, int] = {}
    out: list[Ranked] = []
    while heap:
        negative, _, _, name = heapq.heappop(heap)
        _, c = queues[name].pop()
        listed[name] = listed.get(name, 0) + 1
        out.append(Ranked(c, -negative, factors[name], _reasons(c, now, factors[name])))
        if queues[name]:
            value, following = queues[name][-1]
            heapq.heappush(heap, (-value * SAME_DEPARTMENT ** listed[name],
                                  following.start or date.max, following.id, name))
    return out


def _later_first(c: Candidate) -> tuple[int, int]:
    """Sort key for equal scores so that pop() takes the earlier date, then the lower id."""
    start = c.start or date.max
    return (-start.toordinal(), -c.id)


@dataclass(frozen=True)
class Bar:
    department: str
    count: int
    #: the bar's length in percent of the longest (0 to 100)
    percent: int


def balance_bars(counts: Mapping[str, int], departments: Iterable[str]) -> list[Bar]:
    """One bar per department (those with none included: they are the point), most first,
    then by name; lengths relative to the busiest department."""
    names = set(departments) | set(counts)
    most = max((counts.get(n, 0) for n in names), default=0)
    bars = [Bar(n, counts.get(n, 0), round(100 * counts.get(n, 0) / most) if most else 0)
            for n in names]
    bars.sort(key=lambda b: (-b.count, b.department.casefold()))
    return bars
