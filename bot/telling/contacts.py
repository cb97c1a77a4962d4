"""The contacts overview: every department with its contact and deputies, its last answer,
its topics this year and the addresses that bounce. In the month's first digest and as
`intake contacts list`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.errors import one_line
from bot.telling import select
from bot.telling.select import ContactLine, DepartmentOverview
from bot.telling.views import full_date, year_bounds


def overview(session: Session, year: int, tz: ZoneInfo) -> list[DepartmentOverview]:
    first, after = year_bounds(year, tz)
    return select.contacts_overview(session, first, after)


def _person(c: ContactLine | None) -> str:
    if c is None:
        return ""
    return f"{one_line(c.name)}, {c.email}" if c.name else c.email


def context(rows: Sequence[DepartmentOverview], tz: ZoneInfo) -> list[dict[str, Any]]:
    """The digest's `contacts` entries (see `mailtemplates`)."""
    return [{
        "department": row.department,
        "active": row.active,
        "contact": _person(row.primary),
        "deputies": [_person(c) for c in row.deputies],
        "last_answer": full_date(row.last_answer.astimezone(tz).date()) if row.last_answer else "",
        "topics_this_year": row.topics_this_year,
        "bouncing": [c.email for c in row.bouncing],
    } for row in rows]


def lines(rows: Sequence[DepartmentOverview], tz: ZoneInfo, year: int) -> list[str]:
    """`intake contacts list`: one block per department, the counts at the end."""
    out: list[str] = []
    for row in rows:
        state = "" if row.active else "  (inactive)"
        out.append(f"{row.department}{state}")
        out.append(f"  contact:     {_person(row.primary) or '-'}")
        for deputy in row.deputies:
            out.append(f"  deputy:      {_person(deputy)}")
        last = row.last_answer.astimezone(tz).strftime("%Y-%m-%d") if row.last_answer else "never"
        out.append(f"  last answer: {last}; topics {year}: {row.topics_this_year}")
        for bad in row.bouncing:
            stamp = bad.bounced_at.astimezone(tz).strftime("%Y-%m-%d") if bad.bounced_at else ""
            out.append(f"  BOUNCES:     {bad.email} (since {stamp})")
    active = sum(1 for r in rows if r.active)
    bouncing = sum(len(r.bouncing) for r in rows)
    out.append(f"{len(rows)} department(s) ({active} active), {bouncing} bouncing address(es)")
    return out


def as_json(rows: Sequence[DepartmentOverview], tz: ZoneInfo) -> list[dict[str, Any]]:
    def person(c: ContactLine) -> dict[str, Any]:
        return {"email": c.email, "name": c.name,
                "bounced_at": c.bounced_at.astimezone(tz).isoformat() if c.bounced_at else None}

    return [{
        "department": row.department,
        "active": row.active,
        "contact": person(row.primary) if row.primary else None,
        "deputies": [person(c) for c in row.deputies],
        "last_answer": row.last_answer.astimezone(tz).isoformat() if row.last_answer else None,
        "topics_this_year": row.topics_this_year,
        "bouncing": [c.email for c in row.bouncing],
    } for row in rows]
