"""Selected values as the templates want them: plain dicts of preformatted German strings
(the contract in `mailtemplates/__init__.py`), shared by the digest, the plan and the agenda."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendar import local_moment
from bot.config import Settings
from bot.german import MONTHS, WEEKDAYS
from bot.telling.select import TopicView

#: the contract's field names, in the order the officer reads them
FIELD_ORDER = ("what", "when", "where", "who", "how_many", "quote")


def year_bounds(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Local midnight of 1 January of `year` and of the next year."""
    return (local_moment(date(year, 1, 1), "00:00", tz),
            local_moment(date(year + 1, 1, 1), "00:00", tz))


def labels(settings: Settings) -> dict[str, str]:
    """The configured labels (the first of each), so the officer reads the colleagues' words."""
    return {field: names[0] for field, names in settings.labels().items()}


def day_month(day: date) -> str:
    """'12. Januar'."""
    return f"{day.day}. {MONTHS[day.month - 1]}"


def full_date(day: date) -> str:
    """'12. Januar 2027'."""
    return f"{day_month(day)} {day.year}"


def numeric_date(day: date) -> str:
    """'12.01.2027' (German Excel reads it as a date)."""
    return f"{day.day:02d}.{day.month:02d}.{day.year}"


def local_stamp(moment: datetime, tz: ZoneInfo) -> str:
    """'12.01. 09:14' in local time."""
    local = moment.astimezone(tz)
    return f"{local.day:02d}.{local.month:02d}. {local:%H:%M}"


def when_label(t: TopicView) -> str:
    """The date as the officer reads it: 'Freitag, 12. März 2027, 10:00 Uhr',
    '12.–14. März 2027', '30. Juni – 2. Juli 2027'; the colleague's own words where no
    date was understood."""
    start, end = t.when_start, t.when_end
    if start is None:
        return (t.when_text or "").strip()
    time = f", {t.when_time} Uhr" if t.when_time else ""
    if end is None or end == start:
        return f"{WEEKDAYS[start.weekday()]}, {full_date(start)}{time}"
    if start.year != end.year:
        span = f"{full_date(start)} – {full_date(end)}"
    elif start.month != end.month:
        span = f"{day_month(start)} – {full_date(end)}"
    else:
        span = f"{start.day}.–{full_date(end)}"
    return span + (f" (ab {t.when_time} Uhr)" if t.when_time else "")


def missing_labels(t: TopicView, labels: Mapping[str, str]) -> list[str]:
    ordered = sorted(t.missing, key=lambda f: FIELD_ORDER.index(f) if f in FIELD_ORDER else 99)
    return [labels.get(field, field) for field in ordered]


def followup_state(t: TopicView) -> str:
    """'spent' (the budget is used up: the officer has to ask), 'running' (a question
    waits for its answer), 'pending' (not asked yet)."""
    if t.escalated_at is not None:
        return "spent"
    if t.followup_open_since is not None:
        return "running"
    return "pending"


def topic_context(t: TopicView, labels: Mapping[str, str], tz: ZoneInfo,
                  new_ids: Collection[int] = ()) -> dict[str, Any]:
    """One topic for the templates (see `mailtemplates` for the keys)."""
    return {
        "id": t.id,
        "ref": t.ref,
        "department": t.department,
        "contact_name": t.contact_name or "",
        "contact_email": t.contact_email or "",
        "what": t.what or "",
        "when_text": when_label(t),
        "when_short": short_when(t),
        "where": t.where or "",
        "who": t.who or "",
        "how_many_text": t.how_many_text or "",
        "quote": t.quote or "",
        "attachments": [a.filename for a in t.attachments],
        "has_photos": t.has_photo,
        "missing_labels": missing_labels(t, labels),
        "status": t.status,
        "followup": followup_state(t) if t.status == "incomplete" else "",
        "followup_since": (day_month(t.followup_open_since.astimezone(tz).date())
                           if t.followup_open_since else ""),
        "is_new": t.id in new_ids,
    }


def short_when(t: TopicView) -> str:
    """'Fr 12.02., 10:00 Uhr', '12.02.–14.02.' (agenda lines); the colleague's words where no
    date was understood."""
    start, end = t.when_start, t.when_end
    if start is None:
        return (t.when_text or "").strip()
    first = f"{start.day:02d}.{start.month:02d}."
    if end is not None and end > start:
        return f"{first}–{end.day:02d}.{end.month:02d}."
    time = f", {t.when_time} Uhr" if t.when_time else ""
    return f"{WEEKDAYS[start.weekday()][:2]} {first}{time}"
