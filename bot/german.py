"""German date wording for mails (no locale set-up needed on the server)."""

from __future__ import annotations

from datetime import date

MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember")
WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")


def month_label(month: str) -> str:
    """'2027-01' -> 'Januar 2027'."""
    year, number = month.split("-")
    return f"{MONTHS[int(number) - 1]} {year}"


def long_date(day: date) -> str:
    """'Freitag, 15. Januar 2027'."""
    return f"{WEEKDAYS[day.weekday()]}, {day.day}. {MONTHS[day.month - 1]} {day.year}"


def short_date(day: date) -> str:
    """'4. Januar 2027'."""
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"
