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
#
# Written line by line rather than through icalendar's component tree: the library took
# about 0.5 ms per event (3 s for a busy year), this takes a few microseconds. The output is
# plain RFC 5545 and the tests parse it back with icalendar; a zone without the EU rules
# still gets its VTIMEZONE from icalendar.

@dataclass(frozen=True)
class IcsResult:
    data: bytes
    events: int
    #: topics without a date, left out of the calendar
    undated: int


#: zones that keep the EU rules (last Sunday of March/October, CET/CEST)
_CET_ZONES = {"Europe/Berlin", "Europe/Vienna", "Europe/Zurich", "Europe/Amsterdam",
              "Europe/Brussels", "Europe/Luxembourg", "Europe/Paris", "Europe/Copenhagen",
              "Europe/Rome", "Europe/Madrid", "Europe/Prague", "Europe/Warsaw"}

#: a VTIMEZONE with yearly rules, as Outlook writes them, for Central European Time
_CET_VTIMEZONE = (
    "BEGIN:VTIMEZONE", "TZID:{tzid}",
    "BEGIN:DAYLIGHT", "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST", "END:DAYLIGHT",
    "BEGIN:STANDARD", "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET", "END:STANDARD",
    "END:VTIMEZONE",
)


def _vtimezone(tz: ZoneInfo) -> list[str]:
    if tz.key in _CET_ZONES:
        return [line.format(tzid=tz.key) for line in _CET_VTIMEZONE]
    from icalendar import Timezone

    text: str = Timezone.from_tzinfo(tz).to_ical().decode("utf-8")
    return text.replace("\r\n ", "").replace("\r\n\t", "").splitlines()


_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n"})


def _text(value: str) -> str:
    """A TEXT value: line breaks as \\n, the separators escaped, control characters gone."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if not value.isprintable():
        value = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in value)
    return value.translate(_TEXT_ESCAPES)


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with a space, never inside a UTF-8 sequence."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    parts: list[str] = []
    start, limit = 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start, limit = end, 74
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


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


def event_lines(t: TopicView, labels: Mapping[str, str], tz: ZoneInfo, domain: str
                ) -> tuple[list[str], bool]:
    """One VEVENT's content lines (unfolded), and whether it has a time of day."""
    assert t.when_start is not None
    summary = f"{t.what or '(ohne Titel)'} – {t.department}"
    lines = ["BEGIN:VEVENT", f"UID:topic-{t.id}@{domain}",
             # the topic's last change, not the export time: the same data, the same file
             f"DTSTAMP:{_utc(t.updated_at)}", f"CREATED:{_utc(t.created_at)}",
             f"LAST-MODIFIED:{_utc(t.updated_at)}",
             # grows with every change of the topic: a re-import replaces the older version
             f"SEQUENCE:{max(0, int((t.updated_at - t.created_at).total_seconds()))}",
             f"SUMMARY:{_text(summary)}"]
    single_day = t.when_end is None or t.when_end <= t.when_start
    timed = t.when_time is not None and single_day and _valid_time(t.when_time)
    if timed and t.when_time is not None:
        hour, minute = (int(part) for part in t.when_time.split(":"))
        start = datetime.combine(t.when_start, time(hour, minute))
        end = start + TIMED_EVENT_LENGTH
        lines += [f"DTSTART;TZID={tz.key}:{start:%Y%m%dT%H%M%S}",
                  f"DTEND;TZID={tz.key}:{end:%Y%m%dT%H%M%S}"]
    else:
        last = t.when_start if single_day or t.when_end is None else t.when_end
        lines += [f"DTSTART;VALUE=DATE:{t.when_start:%Y%m%d}",
                  # exclusive for all-day events: the day after the last
                  f"DTEND;VALUE=DATE:{last + timedelta(days=1):%Y%m%d}"]
    if t.where:
        lines.append(f"LOCATION:{_text(t.where)}")
    lines += [f"DESCRIPTION:{_text(description(t, labels))}",
              f"CATEGORIES:{_text(t.department)}",
              f"STATUS:{'CONFIRMED' if t.status == 'complete' else 'TENTATIVE'}",
              # a plan of communication, not a meeting: nobody's calendar shows them as busy
              "TRANSP:TRANSPARENT", "CLASS:PUBLIC", "END:VEVENT"]
    return lines, timed


def _valid_time(value: str) -> bool:
    hour, sep, minute = value.partition(":")
    return (sep == ":" and hour.isdigit() and minute.isdigit() and int(hour) < 24
            and int(minute) < 60)


def ics(topics: Iterable[TopicView], labels: Mapping[str, str], tz: ZoneInfo, domain: str,
        name: str) -> IcsResult:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH", f"X-WR-CALNAME:{_text(name)}", f"X-WR-TIMEZONE:{tz.key}"]
    body: list[str] = []
    timed = False
    events = undated = 0
    for t in topics:
        if t.when_start is None:
            undated += 1
            continue
        lines, has_time = event_lines(t, labels, tz, domain)
        body += lines
        timed = timed or has_time
        events += 1
    lines = head + (_vtimezone(tz) if timed else []) + body + ["END:VCALENDAR"]
    text = "\r\n".join(_fold(line) for line in lines) + "\r\n"
    return IcsResult(text.encode("utf-8"), events, undated)


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
