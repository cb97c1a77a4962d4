"""The working-day calendar: when the bot may mail, when requests and digests are due.

Pure functions: time is always an argument, nothing here reads the clock. Every moment is
built from a local date and a local wall-clock time with `ZoneInfo`, so "08:00" stays 08:00
in winter (CET, +01:00) and in summer (CEST, +02:00). Moments are compared in UTC: Python
compares two datetimes that share a tzinfo by their wall-clock fields only, which is wrong
around the autumn change, when 02:30 happens twice.

A working day is Monday to Friday and not a public holiday of the configured German state
(the `holidays` package, `country_holidays("DE", subdiv=STATE)`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: no German state has more than a handful of days off in a row; this bounds every search
#: loop so that a bad holiday table cannot make the scheduler spin for ever
_MAX_SEARCH_DAYS = 60
_ONE_MICROSECOND = timedelta(microseconds=1)


@lru_cache(maxsize=64)
def _holidays(state: str, year: int) -> dict[date, str]:
    """The public holidays of one German state in one year (cached per state and year).

    A plain dict copy: the package's own table grows on look-ups of other years, which
    would not be safe to share between the scheduler's threads.
    """
    table = holidays.country_holidays("DE", subdiv=state.upper(), years=year)
    return {day: str(name) for day, name in table.items()}


def holiday_name(day: date, state: str) -> str | None:
    """The holiday's name (English, from the holidays package), or None on an ordinary day."""
    return _holidays(state, day.year).get(day)


def is_working_day(day: date, state: str) -> bool:
    """Monday to Friday and not a public holiday in `state` (e.g. "NW")."""
    return day.weekday() < 5 and day not in _holidays(state, day.year)


def next_working_day(day: date, state: str) -> date:
    """`day` itself if it is a working day, else the first working day after it."""
    for offset in range(_MAX_SEARCH_DAYS):
        candidate = day + timedelta(days=offset)
        if is_working_day(candidate, state):
            return candidate
    raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days of {day} in {state}")


def add_working_days(day: date, n: int, state: str) -> date:
    """The n-th working day after `day` (n >= 0; n = 0 returns `day` unchanged).

    `day` itself never counts, whether or not it is a working day: a request sent on
    Monday with n = 1 is due on Tuesday; one sent on a Saturday with n = 1, on Monday.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    current = day
    for _ in range(n):
        current = next_working_day(current + timedelta(days=1), state)
    return current


def first_working_day(year: int, month: int, state: str) -> date:
    """The first working day of a month (2027-01 in NW: Monday 2027-01-04)."""
    return next_working_day(date(year, month, 1), state)


def parse_hhmm(hhmm: str) -> time:
    """ "08:00" -> time(8, 0); raises ValueError on anything else."""
    if not _HHMM.fullmatch(hhmm):
        raise ValueError(f"{hhmm!r} is not a time of day as HH:MM")
    return time(int(hhmm[:2]), int(hhmm[3:]))


_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment.isoformat()}")


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def local_moment(day: date, hhmm: str | time, tz: ZoneInfo) -> datetime:
    """`hhmm` wall-clock time on `day` in `tz`, as an aware datetime in `tz`.

    A wall-clock time that does not exist (the spring gap, 02:00-03:00 in Berlin) is moved
    forward by the gap (02:30 -> 03:30); one that exists twice (autumn) means the first.
    """
    wall = hhmm if isinstance(hhmm, time) else parse_hhmm(hhmm)
    naive_local = datetime.combine(day, wall).replace(tzinfo=tz)
    # the round trip through UTC normalises a time in the spring gap to a real one
    return naive_local.astimezone(UTC).astimezone(tz)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar date `moment` falls on in `tz`."""
    _require_aware(moment, "moment")
    return moment.astimezone(tz).date()


def next_working_time(after: datetime, hhmm: str, tz: ZoneInfo, state: str) -> datetime:
    """The first moment strictly after `after` that is `hhmm` local time on a working day."""
    _require_aware(after, "after")
    day = local_date(after, tz)
    for offset in range(_MAX_SEARCH_DAYS):
        candidate_day = day + timedelta(days=offset)
        if not is_working_day(candidate_day, state):
            continue
        candidate = local_moment(candidate_day, hhmm, tz)
        if _utc(candidate) > _utc(after):
            return candidate
    raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days after {after} in {state}")


# --- the monthly requests ------------------------------------------------------------------

def parse_month(month: str) -> tuple[int, int]:
    """ "2027-01" -> (2027, 1); raises ValueError with a readable message otherwise."""
    year, sep, mon = month.partition("-")
    if not sep or len(year) != 4 or len(mon) != 2 or not (year.isdigit() and mon.isdigit()):
        raise ValueError(f"{month!r} is not a month as YYYY-MM")
    if not 1 <= int(mon) <= 12:
        raise ValueError(f"{month!r} is not a month as YYYY-MM (month 01-12)")
    return int(year), int(mon)


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def next_month(month: str) -> str:
    year, mon = parse_month(month)
    return month_key(year + 1, 1) if mon == 12 else month_key(year, mon + 1)


def month_of(now: datetime, tz: ZoneInfo) -> str:
    """ "YYYY-MM" of the local date of `now` (23:30 UTC on 31 Jan is already February in
    Berlin)."""
    local = local_date(now, tz)
    return month_key(local.year, local.month)


def request_time_for(month: str, tz: ZoneInfo, state: str, request_time: str = "08:00",
                     ) -> datetime:
    """When the requests of `month` go out: `request_time` local on its first working day."""
    year, mon = parse_month(month)
    return local_moment(first_working_day(year, mon, state), request_time, tz)


def due_request_month(now: datetime, tz: ZoneInfo, state: str, request_time: str = "08:00",
                      ) -> str | None:
    """The month whose requests are due at `now`: the current local month once its request
    time has passed, else None (before 08:00 on the first working day nothing is due; the
    previous month's round is not reopened)."""
    _require_aware(now, "now")
    month = month_of(now, tz)
    if _utc(now) >= _utc(request_time_for(month, tz, state, request_time)):
        return month
    return None


def next_request_time(after: datetime, tz: ZoneInfo, state: str, request_time: str = "08:00",
                      ) -> datetime:
    """The first monthly request time strictly after `after`."""
    _require_aware(after, "after")
    month = month_of(after, tz)
    moment = request_time_for(month, tz, state, request_time)
    if _utc(moment) > _utc(after):
        return moment
    return request_time_for(next_month(month), tz, state, request_time)


def first_request_time(known_since: datetime | None, now: datetime, tz: ZoneInfo, state: str,
                       request_time: str = "08:00") -> datetime:
    """When a bot that never opened a round sends its first requests.

    At a regular request time, never in the middle of a month: the first one at or after
    `known_since` (when the departments came into the database; None: not yet, i.e. now)
    if that is today or still ahead, else the next one after `now`. So a bot set up on
    30 December starts on the first working day of January, not at once with a round
    "for December" that January's would follow days later; one set up before 08:00 on the
    first working day starts at 08:00, and one that was down at its first round's time
    waits for the next month rather than start late into a month.
    """
    _require_aware(now, "now")
    start = known_since if known_since is not None else now
    first = next_request_time(start - _ONE_MICROSECOND, tz, state, request_time)
    if local_date(first, tz) >= local_date(now, tz):
        return first
    return next_request_time(now, tz, state, request_time)


# --- the weekly digest ---------------------------------------------------------------------

def weekday_index(weekday: str | int) -> int:
    """ "mon" / "monday" / 0 -> 0 ... "sun" / 6 -> 6."""
    if isinstance(weekday, int):
        if not 0 <= weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday}")
        return weekday
    key = weekday.strip().lower()
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    if key in full:
        key = key[:3]
    if key not in WEEKDAYS:
        raise ValueError(f"{weekday!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
    return WEEKDAYS.index(key)


def iso_week_label(d: date) -> str:
    """ "YYYY-Www" of the ISO week (2027-01-01 belongs to 2026-W53)."""
    iso = d.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def parse_iso_week(label: str) -> date:
    """The Monday of an ISO week label "YYYY-Www"."""
    year, sep, week = label.partition("-W")
    if not sep or len(year) != 4 or len(week) != 2 or not (year.isdigit() and week.isdigit()):
        raise ValueError(f"{label!r} is not an ISO week as YYYY-Www")
    try:
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValueError(f"{label!r}: {year} has no week {week}") from None


def digest_time_for(week: str, tz: ZoneInfo, weekday: str | int, hhmm: str,
                    state: str | None = None) -> datetime:
    """When the digest of ISO week `week` goes out: `hhmm` local on its `weekday`.

    If that day is not a working day (a holiday, or a weekend day configured anyway), the
    digest goes out at the same time on the next working day, even when that falls into the
    following ISO week (a Friday digest on Good Friday goes out on the Tuesday after Easter).
    It keeps its week's label: the officer gets every week's digest exactly once, late
    rather than never. Without `state` holidays are ignored.
    """
    scheduled = parse_iso_week(week) + timedelta(days=weekday_index(weekday))
    day = scheduled if state is None else next_working_day(scheduled, state)
    return local_moment(day, hhmm, tz)


def digest_due_week(now: datetime, tz: ZoneInfo, weekday: str | int, hhmm: str,
                    state: str | None = None) -> str | None:
    """The ISO week whose digest is due at `now`, or None.

    A week's digest is due from its digest time (see `digest_time_for`) until the end of the
    local ISO week in which that time falls. So a bot that was down on Monday morning sends
    the week's digest when it comes back on Tuesday, but a week-old digest is never sent
    after the following week has begun; a digest moved into the next week by a holiday is
    due in that next week until the week's own digest time has passed.
    """
    _require_aware(now, "now")
    today = local_date(now, tz)
    this_week = iso_week_label(today)
    last_week = iso_week_label(today - timedelta(days=7))
    for week in (this_week, last_week):  # the latest due week wins
        moment = digest_time_for(week, tz, weekday, hhmm, state)
        in_this_week = iso_week_label(local_date(moment, tz)) == this_week
        if in_this_week and _utc(moment) <= _utc(now):
            return week
    return None


def next_digest_time(after: datetime, tz: ZoneInfo, weekday: str | int, hhmm: str,
                     state: str | None = None) -> datetime:
    """The first digest time strictly after `after` (holidays moved as in `digest_time_for`)."""
    _require_aware(after, "after")
    monday = local_date(after, tz)
    monday -= timedelta(days=monday.weekday())
    # a week's digest can move into the next week, so start one week back
    for weeks in range(-1, _MAX_SEARCH_DAYS // 7):
        week = iso_week_label(monday + timedelta(weeks=weeks))
        moment = digest_time_for(week, tz, weekday, hhmm, state)
        if _utc(moment) > _utc(after):
            return moment
    raise ValueError(f"no digest time within {_MAX_SEARCH_DAYS} days after {after}")


# --- deadlines, reminders, quiet days ------------------------------------------------------

def reply_deadline(sent: datetime, tz: ZoneInfo, state: str, working_days: int) -> date:
    """The last day for a reply: `working_days` working days after the local sending day."""
    return add_working_days(local_date(sent, tz), working_days, state)


def reminder_time(sent: datetime, tz: ZoneInfo, state: str, after_working_days: int,
                  request_time: str = "08:00", nth: int = 1) -> datetime:
    """When the nth reminder to an unanswered request is due: `request_time` local on the
    day `nth * after_working_days` working days after the local sending day."""
    if nth < 1:
        raise ValueError(f"nth must be >= 1, not {nth}")
    day = add_working_days(local_date(sent, tz), nth * after_working_days, state)
    return local_moment(day, request_time, tz)


def reminder_due(sent: datetime, now: datetime, tz: ZoneInfo, state: str,
                 after_working_days: int, request_time: str = "08:00", nth: int = 1) -> bool:
    """Whether the nth reminder for a request sent at `sent` is due at `now`.

    Only "is it time"; whether mail may go out today at all is `may_send_now`, and whether
    the contact has answered or was reminded already is the caller's business.
    """
    _require_aware(now, "now")
    moment = reminder_time(sent, tz, state, after_working_days, request_time, nth)
    return _utc(now) >= _utc(moment)


def may_send_now(now: datetime, tz: ZoneInfo, state: str) -> bool:
    """Bulk mail (requests, reminders, follow-up questions) goes out on working days only."""
    return is_working_day(local_date(now, tz), state)
