"""The year's plan as files: a calendar (ICS) for Outlook, a spreadsheet German Excel opens
as is (CSV), and one static page for the intranet (HTML).

All three show the same selection (`select.of_year`); only the calendar leaves out topics
without a date (they are counted, so nobody wonders where they went). The calendar is
stable: a topic keeps its UID (`topic-<id>@<the bot's domain>`) in every export and in the
digest's attachment, and SEQUENCE/LAST-MODIFIED follow its last change, so importing a
newer file into Outlook updates the events instead of adding them twice. The same data gives
the same bytes (DTSTAMP is the topic's last change, not the export time).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard

from bot import calendar
from bot.app import App
from bot.german import MONTHS
from bot.telling import select
from bot.telling.pages import page_renderer
from bot.telling.select import TopicView
from bot.telling.views import (
    full_date,
    labels,
    missing_labels,
    numeric_date,
    topic_context,
    when_label,
    year_bounds,
)

#: a timed topic names when it starts, not how long it lasts: its event gets this length
TIMED_EVENT_LENGTH = timedelta(hours=1)
PRODID = "-//intake-bot//Themenplan//DE"


# --- ICS ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class IcsResult:
    data: bytes
    events: int
    #: topics without a date, left out of the calendar
    undated: int


def _berlin_like(tz: ZoneInfo) -> Timezone:
    """A VTIMEZONE with yearly rules (as Outlook writes them) for Central European Time."""
    zone = Timezone()
    zone.add("tzid", tz.key)
    daylight = TimezoneDaylight()
    daylight.add("dtstart", datetime(1970, 3, 29, 2, 0))
    daylight.add("tzoffsetfrom", timedelta(hours=1))
    daylight.add("tzoffsetto", timedelta(hours=2))
    daylight.add("tzname", "CEST")
    daylight.add("rrule", {"freq": "yearly", "bymonth": 3, "byday": "-1su"})
    standard = TimezoneStandard()
    standard.add("dtstart", datetime(1970, 10, 25, 3, 0))
    standard.add("tzoffsetfrom", timedelta(hours=2))
    standard.add("tzoffsetto", timedelta(hours=1))
    standard.add("tzname", "CET")
    standard.add("rrule", {"freq": "yearly", "bymonth": 10, "byday": "-1su"})
    zone.add_component(daylight)
    zone.add_component(standard)
    return zone


#: zones that keep the EU rules (last Sunday of March/October, CET/CEST)
_CET_ZONES = {"Europe/Berlin", "Europe/Vienna", "Europe/Zurich", "Europe/Amsterdam",
              "Europe/Brussels", "Europe/Luxembourg", "Europe/Paris", "Europe/Copenhagen"}


def description(t: TopicView, labels: Mapping[str, str]) -> str:
    """Department, contact and the five W's (in the colleague's words) as event text."""
    lines = [f"Fachbereich: {t.department}"]
    if t.contact_name or t.contact_email:
        contact = " ".join(filter(None, [t.contact_name,
                                         f"<{t.contact_email}>" if t.contact_email else None]))
        lines.append(f"Kontakt: {contact}")
    for field, value in (("what", t.what), ("when", t.when_text or when_label(t)),
                         ("where", t.where), ("who", t.who), ("how_many", t.how_many_text)):
        if value:
            lines.append(f"{labels.get(field, field)}: {value}")
    if t.quote:
        lines.append(f"{labels.get('quote', 'Zitat')}: „{t.quote}“")
    if t.attachments:
        photos = "mit Fotos" if t.has_photo else "keine Fotos"
        lines.append(f"Anhänge: {', '.join(a.filename for a in t.attachments)} ({photos})")
    if t.missing:
        lines.append(f"Fehlt: {', '.join(missing_labels(t, labels))}")
    lines.append(f"Referenz: {t.ref} (intake topics list)")
    return "\n".join(lines)


def event(t: TopicView, labels: Mapping[str, str], tz: ZoneInfo, domain: str) -> Event:
    assert t.when_start is not None
    ev = Event()
    ev.add("uid", f"topic-{t.id}@{domain}")
    # the topic's last change, not the export time: the same data gives the same file
    ev.add("dtstamp", t.updated_at.astimezone(UTC))
    ev.add("created", t.created_at.astimezone(UTC))
    ev.add("last-modified", t.updated_at.astimezone(UTC))
    # grows with every change of the topic, so a re-import replaces the older version
    ev.add("sequence", max(0, int((t.updated_at - t.created_at).total_seconds())))
    ev.add("summary", f"{t.what or '(ohne Titel)'} – {t.department}")
    single_day = t.when_end is None or t.when_end <= t.when_start
    if t.when_time and single_day:
        hour, minute = (int(part) for part in t.when_time.split(":"))
        start = datetime.combine(t.when_start, time(hour, minute), tzinfo=tz)
        ev.add("dtstart", start)
        ev.add("dtend", start + TIMED_EVENT_LENGTH)
    else:
        last = t.when_start if single_day else t.when_end
        assert last is not None
        ev.add("dtstart", t.when_start)
        ev.add("dtend", last + timedelta(days=1))  # exclusive for all-day events
    if t.where:
        ev.add("location", t.where)
    ev.add("description", description(t, labels))
    ev.add("categories", [t.department])
    ev.add("status", "CONFIRMED" if t.status == "complete" else "TENTATIVE")
    # a plan of communication, not a meeting: nobody's calendar shows them as busy
    ev.add("transp", "TRANSPARENT")
    ev.add("class", "PUBLIC")
    return ev


def ics(topics: Iterable[TopicView], labels: Mapping[str, str], tz: ZoneInfo, domain: str,
        name: str) -> IcsResult:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", tz.key)
    timed = False
    events = undated = 0
    for t in topics:
        if t.when_start is None:
            undated += 1
            continue
        ev = event(t, labels, tz, domain)
        timed = timed or isinstance(ev.decoded("dtstart"), datetime)
        cal.add_component(ev)
        events += 1
    if timed:
        if tz.key in _CET_ZONES:
            cal.subcomponents.insert(0, _berlin_like(tz))
        else:
            cal.add_missing_timezones()
    return IcsResult(cal.to_ical(), events, undated)


# --- CSV ---------------------------------------------------------------------------------

#: cells starting like a formula are prefixed with ' so Excel shows them instead of
#: evaluating them (a colleague's "=HYPERLINK(...)" stays text)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_bytes(topics: Iterable[TopicView], labels: Mapping[str, str], tz: ZoneInfo) -> bytes:
    """UTF-8 with byte-order mark, ';' and CRLF, dates as dd.mm.yyyy: German Excel opens it
    with a double click, umlauts and dates intact."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["Nr", "Fachbereich", "Kontakt", "E-Mail", "Status", "Datum von",
                     "Datum bis", "Uhrzeit", f"{labels['when']} (Text)", labels["what"],
                     labels["where"], labels["who"], labels["how_many"], labels["quote"],
                     "Anhänge", "Fotos", "Fehlt", "Eingegangen"])
    for t in topics:
        writer.writerow([_cell(v) for v in (
            t.ref, t.department, t.contact_name, t.contact_email,
            "vollständig" if t.status == "complete" else "unvollständig",
            numeric_date(t.when_start) if t.when_start else "",
            numeric_date(t.when_end) if t.when_end else "",
            t.when_time or "", t.when_text, t.what, t.where, t.who, t.how_many_text, t.quote,
            ", ".join(a.filename for a in t.attachments), "ja" if t.has_photo else "nein",
            ", ".join(missing_labels(t, labels)),
            numeric_date(t.created_at.astimezone(tz).date()))])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


# --- the intranet page -------------------------------------------------------------------

def plan_context(dated: Sequence[TopicView], undated: Sequence[TopicView], year: int,
                 labels: Mapping[str, str], tz: ZoneInfo, organisation: str, today: date,
                 officer_name: str = "", officer_email: str = "") -> dict[str, Any]:
    """Month by month (a topic under the month it starts in, or January if it began the
    year before); undated topics at the end."""
    months: list[dict[str, Any]] = [
        {"key": f"{year}-{m:02d}", "label": f"{MONTHS[m - 1]} {year}", "short": MONTHS[m - 1],
         "topics": []} for m in range(1, 13)]
    for t in dated:
        assert t.when_start is not None
        month = t.when_start.month if t.when_start.year == year else 1
        entry = topic_context(t, labels, tz)
        entry["day"] = _day_badge(t, year)
        months[month - 1]["topics"].append(entry)
    return {
        "title": f"Themenplan {year}",
        "organisation": organisation,
        "officer_name": officer_name,
        "officer_email": officer_email,
        "year": year,
        "updated_label": full_date(today),
        "months": months,
        "undated": [topic_context(t, labels, tz) for t in undated],
        "count": len(dated) + len(undated),
        "labels": dict(labels),
    }


def _day_badge(t: TopicView, year: int) -> str:
    """'12.' or '12.–14.' or '30.6.–2.7.': the day column of the page."""
    assert t.when_start is not None
    start = t.when_start if t.when_start.year == year else date(year, 1, 1)
    end = t.when_end
    if end is None or end <= start:
        return f"{start.day}."
    if end.month == start.month and end.year == start.year:
        return f"{start.day}.–{end.day}."
    return f"{start.day}.{start.month}.–{end.day}.{end.month}."



# --- the use case ------------------------------------------------------------------------

FORMATS = ("ics", "csv", "html")


@dataclass(frozen=True)
class PlanFile:
    data: bytes
    #: topics in the file
    topics: int
    #: topics without a date, left out of a calendar file
    left_out: int


def year_plan(app: App, fmt: str, year: int, now: datetime) -> PlanFile:
    """The plan of `year` in one of FORMATS: dated topics on a day of the year and undated
    ones received in it (a calendar leaves the undated ones out and counts them)."""
    tz = app.tz
    settings = app.settings
    words = labels(settings)
    received_from, received_until = year_bounds(year, tz)
    with app.sessions() as session:
        dated, undated = select.of_year(session, date(year, 1, 1), date(year, 12, 31),
                                        received_from, received_until)
    organisation = settings.mail.organisation or settings.mail.from_name
    if fmt == "ics":
        domain = settings.mail.from_address.rpartition("@")[2] or "localhost"
        result = ics([*dated, *undated], words, tz, domain,
                     name=f"Themenplan {year} – {organisation}")
        return PlanFile(result.data, result.events, result.undated)
    if fmt == "csv":
        return PlanFile(csv_bytes([*dated, *undated], words, tz), len(dated) + len(undated), 0)
    if fmt == "html":
        context = plan_context(dated, undated, year, words, tz, organisation,
                               calendar.local_date(now, tz), settings.officer.name,
                               settings.officer.email)
        page = page_renderer(app).render("plan.html.j2", context)
        return PlanFile(page.encode("utf-8"), len(dated) + len(undated), 0)
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
