"""The working-day calendar: pure functions, every `now` explicit.

Berlin changes to summer time on the last Sunday of March (2027-03-28) and back on the last
Sunday of October (2026-10-25); 08:00 local is 07:00 UTC in winter and 06:00 UTC in summer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import (
    add_working_days,
    digest_due_week,
    digest_time_for,
    due_request_month,
    first_request_time,
    first_working_day,
    holiday_name,
    is_working_day,
    iso_week_label,
    local_moment,
    may_send_now,
    month_of,
    next_digest_time,
    next_request_time,
    next_working_time,
    parse_hhmm,
    parse_iso_week,
    parse_month,
    reminder_due,
    reminder_time,
    reply_deadline,
    request_time_for,
)

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


@pytest.mark.parametrize(("day", "state", "working", "why"), [
    (date(2027, 1, 4), "NW", True, "an ordinary Monday"),
    (date(2027, 1, 2), "NW", False, "Saturday"),
    (date(2027, 1, 3), "NW", False, "Sunday"),
    (date(2027, 1, 1), "NW", False, "Neujahr (a Friday)"),
    (date(2026, 5, 1), "NI", False, "Tag der Arbeit (a Friday)"),
    (date(2028, 10, 3), "NW", False, "Tag der Deutschen Einheit (a Tuesday)"),
    (date(2028, 10, 3), "NI", False, "Tag der Deutschen Einheit, every state"),
    (date(2027, 5, 27), "NW", False, "Fronleichnam in NW"),
    (date(2027, 5, 27), "BY", False, "Fronleichnam in BY"),
    (date(2027, 5, 27), "NI", True, "no Fronleichnam in NI"),
    (date(2028, 10, 31), "NI", False, "Reformationstag in NI"),
    (date(2028, 10, 31), "NW", True, "no Reformationstag in NW"),
    (date(2028, 11, 1), "NW", False, "Allerheiligen in NW"),
    (date(2028, 11, 1), "NI", True, "no Allerheiligen in NI"),
    (date(2027, 1, 6), "BY", False, "Heilige Drei Könige in BY"),
    (date(2027, 1, 6), "NW", True, "no Heilige Drei Könige in NW"),
    (date(2026, 12, 24), "NW", True, "Heiligabend is no public holiday"),
    (date(2026, 12, 25), "NW", False, "1. Weihnachtstag"),
    (date(2027, 3, 26), "NW", False, "Karfreitag"),
    (date(2027, 3, 29), "NW", False, "Ostermontag"),
])
def test_is_working_day(day: date, state: str, working: bool, why: str) -> None:
    assert is_working_day(day, state) is working, why


def test_holiday_name_is_state_specific() -> None:
    assert holiday_name(date(2027, 5, 27), "NW") is not None
    assert holiday_name(date(2027, 5, 27), "NI") is None
    assert holiday_name(date(2027, 1, 4), "NW") is None
    # lower-case state codes work too
    assert is_working_day(date(2027, 5, 27), "nw") is False


@pytest.mark.parametrize(("year", "month", "state", "expected"), [
    (2027, 1, "NW", date(2027, 1, 4)),    # Fri 1 Jan is Neujahr, then a weekend
    (2026, 1, "NW", date(2026, 1, 2)),    # Thu 1 Jan Neujahr -> Friday
    (2026, 5, "NW", date(2026, 5, 4)),    # Fri 1 May Tag der Arbeit -> Monday
    (2027, 5, "NW", date(2027, 5, 3)),    # Sat 1 May -> Monday
    (2026, 11, "NW", date(2026, 11, 2)),  # Sun 1 Nov (Allerheiligen anyway) -> Monday
    (2027, 11, "NW", date(2027, 11, 2)),  # Mon 1 Nov Allerheiligen in NW -> Tuesday
    (2027, 11, "NI", date(2027, 11, 1)),  # ... but an ordinary Monday in NI
    (2027, 4, "NW", date(2027, 4, 1)),    # Thursday before no holiday
    (2026, 10, "NW", date(2026, 10, 1)),
])
def test_first_working_day(year: int, month: int, state: str, expected: date) -> None:
    assert first_working_day(year, month, state) == expected


@pytest.mark.parametrize(("day", "n", "state", "expected"), [
    (date(2027, 1, 4), 0, "NW", date(2027, 1, 4)),
    (date(2027, 1, 4), 1, "NW", date(2027, 1, 5)),
    (date(2027, 1, 8), 1, "NW", date(2027, 1, 11)),     # Friday -> Monday
    (date(2027, 1, 9), 1, "NW", date(2027, 1, 11)),     # from a Saturday
    (date(2027, 1, 4), 10, "NW", date(2027, 1, 18)),
    (date(2027, 1, 4), 10, "BY", date(2027, 1, 19)),    # 6 Jan is a holiday in BY
    (date(2026, 12, 23), 1, "NW", date(2026, 12, 24)),
    (date(2026, 12, 23), 2, "NW", date(2026, 12, 28)),  # over Christmas
    (date(2026, 12, 30), 2, "NW", date(2027, 1, 4)),    # over the year boundary and Neujahr
    (date(2027, 3, 25), 1, "NW", date(2027, 3, 30)),    # over Easter
])
def test_add_working_days(day: date, n: int, state: str, expected: date) -> None:
    assert add_working_days(day, n, state) == expected


def test_add_working_days_rejects_negative() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        add_working_days(date(2027, 1, 4), -1, "NW")


@pytest.mark.parametrize(("day", "hhmm", "expected_utc"), [
    (date(2027, 1, 4), "08:00", utc(2027, 1, 4, 7, 0)),     # CET
    (date(2027, 4, 1), "08:00", utc(2027, 4, 1, 6, 0)),     # CEST, after the March change
    (date(2027, 3, 28), "08:00", utc(2027, 3, 28, 6, 0)),   # the change day itself
    (date(2027, 3, 28), "02:30", utc(2027, 3, 28, 1, 30)),  # in the gap: 03:30 CEST
    (date(2026, 10, 25), "02:30", utc(2026, 10, 25, 0, 30)),  # twice: the first (CEST)
    (date(2026, 10, 25), "08:00", utc(2026, 10, 25, 7, 0)),
])
def test_local_moment_across_dst(day: date, hhmm: str, expected_utc: datetime) -> None:
    moment = local_moment(day, hhmm, BERLIN)
    assert moment.tzinfo == BERLIN
    assert moment.astimezone(UTC) == expected_utc


def test_local_moment_in_the_gap_is_a_real_time() -> None:
    moment = local_moment(date(2027, 3, 28), "02:30", BERLIN)
    assert (moment.hour, moment.minute) == (3, 30)
    assert moment.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(("after", "state", "expected"), [
    # the same day while before 08:00
    (berlin(2027, 1, 4, 7, 59), "NW", berlin(2027, 1, 4, 8, 0)),
    # strictly after: exactly 08:00 gives the next working day
    (berlin(2027, 1, 4, 8, 0), "NW", berlin(2027, 1, 5, 8, 0)),
    # Friday evening -> Monday
    (berlin(2027, 1, 8, 18, 0), "NW", berlin(2027, 1, 11, 8, 0)),
    # Good Friday, Easter, Easter Monday, and the change to summer time in between
    (berlin(2027, 3, 25, 9, 0), "NW", berlin(2027, 3, 30, 8, 0)),
    # the change back to winter time on Sunday 2026-10-25
    (berlin(2026, 10, 23, 9, 0), "NW", berlin(2026, 10, 26, 8, 0)),
    # year boundary
    (berlin(2026, 12, 31, 8, 30), "NW", berlin(2027, 1, 4, 8, 0)),
    # an input in UTC: 2027-01-04 06:30 UTC is 07:30 in Berlin
    (utc(2027, 1, 4, 6, 30), "NW", berlin(2027, 1, 4, 8, 0)),
])
def test_next_working_time(after: datetime, state: str, expected: datetime) -> None:
    result = next_working_time(after, "08:00", BERLIN, state)
    assert result.astimezone(UTC) == expected.astimezone(UTC)
    assert (result.hour, result.minute) == (8, 0)  # local wall clock, winter or summer


def test_next_working_time_wants_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_working_time(datetime(2027, 1, 4, 8, 0), "08:00", BERLIN, "NW")


@pytest.mark.parametrize(("month", "state", "expected_utc", "offset_hours"), [
    ("2027-01", "NW", utc(2027, 1, 4, 7, 0), 1),
    ("2027-04", "NW", utc(2027, 4, 1, 6, 0), 2),   # right after the March change
    ("2026-11", "NW", utc(2026, 11, 2, 7, 0), 1),  # right after the October change
    ("2026-10", "NW", utc(2026, 10, 1, 6, 0), 2),
    ("2027-11", "NI", utc(2027, 11, 1, 7, 0), 1),
    ("2027-11", "NW", utc(2027, 11, 2, 7, 0), 1),
])
def test_request_time_for(month: str, state: str, expected_utc: datetime,
                          offset_hours: int) -> None:
    moment = request_time_for(month, BERLIN, state, "08:00")
    assert moment.astimezone(UTC) == expected_utc
    assert (moment.hour, moment.minute) == (8, 0)
    assert moment.utcoffset() == timedelta(hours=offset_hours)


@pytest.mark.parametrize("bad", ["2027-13", "2027-1", "27-01", "2027/01", "januar"])
def test_parse_month_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(bad)


@pytest.mark.parametrize(("now", "expected"), [
    (utc(2027, 1, 15, 12, 0), "2027-01"),
    (utc(2026, 12, 31, 23, 30), "2027-01"),  # already New Year's Day in Berlin
    (utc(2027, 6, 30, 22, 0), "2027-07"),    # midnight in summer time
    (utc(2027, 6, 30, 21, 59), "2027-06"),
])
def test_month_of_uses_the_local_date(now: datetime, expected: str) -> None:
    assert month_of(now, BERLIN) == expected


@pytest.mark.parametrize(("now", "state", "expected"), [
    (utc(2027, 1, 1, 12, 0), "NW", None),         # Neujahr: not yet, and no December redo
    (utc(2027, 1, 4, 6, 59, 59), "NW", None),     # 07:59:59 CET
    (utc(2027, 1, 4, 7, 0), "NW", "2027-01"),     # 08:00 CET
    (utc(2027, 1, 20, 3, 0), "NW", "2027-01"),    # later in the month: still that month
    (utc(2027, 4, 1, 5, 59), "NW", None),         # 07:59 CEST
    (utc(2027, 4, 1, 6, 0), "NW", "2027-04"),     # 08:00 CEST
    (utc(2026, 11, 2, 6, 30), "NW", None),        # 07:30 CET
    (utc(2026, 11, 2, 7, 0), "NW", "2026-11"),
    (utc(2027, 11, 1, 9, 0), "NW", None),         # Allerheiligen in NW
    (utc(2027, 11, 1, 9, 0), "NI", "2027-11"),    # an ordinary day in NI
    (utc(2026, 12, 31, 23, 30), "NW", None),      # local January, before its first working day
])
def test_due_request_month(now: datetime, state: str, expected: str | None) -> None:
    assert due_request_month(now, BERLIN, state, "08:00") == expected


@pytest.mark.parametrize(("known_since", "now", "expected"), [
    # set up on 30 December: not a round "for December" at once, January's on its first
    # working day (and the same answer on every start until then)
    (None, berlin(2026, 12, 30, 10, 0), berlin(2027, 1, 4, 8, 0)),
    (berlin(2026, 12, 30, 10, 0), berlin(2026, 12, 31, 9, 0), berlin(2027, 1, 4, 8, 0)),
    (berlin(2026, 12, 30, 10, 0), berlin(2027, 1, 4, 8, 0), berlin(2027, 1, 4, 8, 0)),
    # down at that moment, back later that day: that day's round still goes out
    (berlin(2026, 12, 30, 10, 0), berlin(2027, 1, 4, 11, 0), berlin(2027, 1, 4, 8, 0)),
    # set up on the first working day before its request time: that same day
    (None, berlin(2027, 1, 4, 7, 0), berlin(2027, 1, 4, 8, 0)),
    (berlin(2027, 1, 4, 7, 0), berlin(2027, 1, 4, 9, 0), berlin(2027, 1, 4, 8, 0)),
    # ... after it: next month (nobody gets a request late into a month)
    (None, berlin(2027, 1, 4, 8, 0, 1), berlin(2027, 2, 1, 8, 0)),
    (berlin(2027, 1, 4, 9, 0), berlin(2027, 1, 4, 9, 5), berlin(2027, 2, 1, 8, 0)),
    # departments synced weeks before the first start: the next regular time after now
    (berlin(2026, 11, 20, 10, 0), berlin(2026, 12, 30, 10, 0), berlin(2027, 1, 4, 8, 0)),
    (berlin(2026, 11, 20, 10, 0), berlin(2027, 1, 5, 10, 0), berlin(2027, 2, 1, 8, 0)),
])
def test_first_request_time(known_since: datetime | None, now: datetime,
                            expected: datetime) -> None:
    result = first_request_time(known_since, now, BERLIN, "NW", "08:00")
    assert result.astimezone(UTC) == expected.astimezone(UTC)


@pytest.mark.parametrize(("after", "expected"), [
    (berlin(2026, 10, 15, 12, 0), berlin(2026, 11, 2, 8, 0)),
    (berlin(2026, 11, 2, 8, 0), berlin(2026, 12, 1, 8, 0)),     # strictly after
    (berlin(2026, 11, 2, 7, 59), berlin(2026, 11, 2, 8, 0)),
    (berlin(2026, 12, 1, 8, 0), berlin(2027, 1, 4, 8, 0)),      # year boundary, Neujahr
    (berlin(2027, 3, 1, 8, 0), berlin(2027, 4, 1, 8, 0)),       # over the March change
])
def test_next_request_time(after: datetime, expected: datetime) -> None:
    result = next_request_time(after, BERLIN, "NW", "08:00")
    assert result.astimezone(UTC) == expected.astimezone(UTC)


@pytest.mark.parametrize(("day", "label"), [
    (date(2027, 1, 4), "2027-W01"),
    (date(2027, 1, 1), "2026-W53"),   # belongs to the last week of 2026
    (date(2024, 12, 30), "2025-W01"),
    (date(2026, 3, 9), "2026-W11"),
])
def test_iso_week_label(day: date, label: str) -> None:
    assert iso_week_label(day) == label
    monday = parse_iso_week(label)
    assert monday.weekday() == 0
    assert iso_week_label(monday) == label


@pytest.mark.parametrize("bad", ["2027-W54", "2027W01", "2027-01", "2027-W1"])
def test_parse_iso_week_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="YYYY-Www|has no week"):
        parse_iso_week(bad)


@pytest.mark.parametrize(("week", "weekday", "expected"), [
    ("2027-W01", "mon", berlin(2027, 1, 4, 7, 30)),
    ("2027-W13", "mon", berlin(2027, 3, 30, 7, 30)),   # Easter Monday -> Tuesday, CEST
    ("2027-W12", "fri", berlin(2027, 3, 30, 7, 30)),   # Good Friday -> next week's Tuesday
    ("2026-W52", "fri", berlin(2026, 12, 28, 7, 30)),  # Christmas Day -> Monday
    ("2026-W44", "mon", berlin(2026, 10, 26, 7, 30)),  # first day of winter time
])
def test_digest_time_for(week: str, weekday: str, expected: datetime) -> None:
    moment = digest_time_for(week, BERLIN, weekday, "07:30", "NW")
    assert moment.astimezone(UTC) == expected.astimezone(UTC)
    assert (moment.hour, moment.minute) == (7, 30)


def test_digest_time_without_state_ignores_holidays() -> None:
    moment = digest_time_for("2027-W13", BERLIN, 0, "07:30")
    assert moment.astimezone(UTC) == berlin(2027, 3, 29, 7, 30).astimezone(UTC)


@pytest.mark.parametrize(("now", "weekday", "expected"), [
    (berlin(2027, 1, 4, 7, 29), "mon", None),          # before this week's, last week's gone
    (berlin(2027, 1, 4, 7, 30), "mon", "2027-W01"),
    (berlin(2027, 1, 5, 12, 0), "mon", "2027-W01"),    # the day after: still due (catch-up)
    (berlin(2027, 1, 10, 23, 59), "mon", "2027-W01"),  # Sunday night: still this week
    (berlin(2027, 3, 29, 10, 0), "mon", None),         # Easter Monday: moved to Tuesday
    (berlin(2027, 3, 30, 7, 30), "mon", "2027-W13"),
    (berlin(2027, 3, 26, 12, 0), "fri", None),         # Good Friday: moved
    (berlin(2027, 3, 29, 12, 0), "fri", None),         # Easter Monday: still waiting
    (berlin(2027, 3, 30, 7, 30), "fri", "2027-W12"),   # last week's digest, moved here
    (berlin(2027, 4, 2, 7, 30), "fri", "2027-W13"),    # then this week's own
    (utc(2027, 1, 4, 6, 30), "mon", "2027-W01"),       # 07:30 CET given in UTC
])
def test_digest_due_week(now: datetime, weekday: str, expected: str | None) -> None:
    assert digest_due_week(now, BERLIN, weekday, "07:30", "NW") == expected


@pytest.mark.parametrize(("after", "weekday", "expected"), [
    (berlin(2027, 1, 4, 7, 29), "mon", berlin(2027, 1, 4, 7, 30)),
    (berlin(2027, 1, 4, 7, 30), "mon", berlin(2027, 1, 11, 7, 30)),
    (berlin(2027, 3, 28, 12, 0), "mon", berlin(2027, 3, 30, 7, 30)),
    (berlin(2027, 3, 29, 0, 0), "fri", berlin(2027, 3, 30, 7, 30)),  # a moved digest
    (berlin(2027, 3, 30, 7, 30), "fri", berlin(2027, 4, 2, 7, 30)),
    (berlin(2026, 10, 19, 7, 30), "mon", berlin(2026, 10, 26, 7, 30)),
])
def test_next_digest_time(after: datetime, weekday: str, expected: datetime) -> None:
    result = next_digest_time(after, BERLIN, weekday, "07:30", "NW")
    assert result.astimezone(UTC) == expected.astimezone(UTC)


@pytest.mark.parametrize(("sent", "state", "days", "expected"), [
    (berlin(2027, 1, 4, 8, 0), "NW", 10, date(2027, 1, 18)),
    (berlin(2027, 1, 4, 8, 0), "BY", 10, date(2027, 1, 19)),
    (utc(2026, 12, 31, 23, 30), "NW", 1, date(2027, 1, 4)),  # sent on local New Year's Day
    (berlin(2027, 3, 1, 8, 0), "NW", 20, date(2027, 3, 31)),
    (berlin(2027, 3, 15, 8, 0), "NW", 10, date(2027, 3, 31)),  # not over Easter yet
    (berlin(2027, 3, 22, 8, 0), "NW", 5, date(2027, 3, 31)),
    (berlin(2027, 3, 22, 8, 0), "NW", 10, date(2027, 4, 7)),   # over Easter
])
def test_reply_deadline(sent: datetime, state: str, days: int, expected: date) -> None:
    assert reply_deadline(sent, BERLIN, state, days) == expected


@pytest.mark.parametrize(("now", "nth", "due"), [
    (utc(2027, 1, 11, 6, 59, 59), 1, False),   # 5 working days later, 07:59:59 CET
    (utc(2027, 1, 11, 7, 0), 1, True),
    (utc(2027, 1, 14, 7, 0), 1, True),
    (utc(2027, 1, 14, 7, 0), 2, False),
    (utc(2027, 1, 18, 7, 0), 2, True),
])
def test_reminder_due(now: datetime, nth: int, due: bool) -> None:
    sent = berlin(2027, 1, 4, 8, 0)
    assert reminder_due(sent, now, BERLIN, "NW", 5, "08:00", nth=nth) is due


def test_reminder_time_over_easter_and_dst() -> None:
    # sent Mon 2027-03-22 in winter time; 5 working days skip Good Friday and Easter Monday
    moment = reminder_time(berlin(2027, 3, 22, 8, 0), BERLIN, "NW", 5, "08:00")
    assert moment.astimezone(UTC) == utc(2027, 3, 31, 6, 0)
    assert moment.hour == 8


@pytest.mark.parametrize(("now", "state", "allowed"), [
    (berlin(2027, 1, 4, 8, 0), "NW", True),
    (berlin(2027, 1, 2, 8, 0), "NW", False),      # Saturday
    (berlin(2027, 1, 3, 23, 0), "NW", False),     # Sunday night
    (utc(2027, 1, 3, 23, 30), "NW", True),        # already Monday in Berlin
    (utc(2026, 12, 31, 23, 30), "NW", False),     # Thursday in UTC, Neujahr in Berlin
    (berlin(2027, 5, 27, 10, 0), "NW", False),    # Fronleichnam
    (berlin(2027, 5, 27, 10, 0), "NI", True),
])
def test_may_send_now(now: datetime, state: str, allowed: bool) -> None:
    assert may_send_now(now, BERLIN, state) is allowed


@pytest.mark.parametrize("bad", ["8", "08-00", "0800", "ab:cd", "25:00", "08:60"])
def test_parse_hhmm_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_hhmm(bad)


def test_other_time_zone() -> None:
    # the calendar is not tied to Berlin: 08:00 in New York on the first working day
    # (German holidays still apply, because the state decides the days)
    new_york = ZoneInfo("America/New_York")
    moment = request_time_for("2027-04", new_york, "NW", "08:00")
    assert moment.astimezone(UTC) == utc(2027, 4, 1, 12, 0)
