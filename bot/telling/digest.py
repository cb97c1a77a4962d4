"""The officer's weekly digest: select -> rank -> render -> outbox, once per ISO week.

Once means once: the `digests` row (unique per week) and the outbox row (dedupe key
`digest:<week>`) are written in one transaction, so a rerun, a crash or two processes at
once can never queue a second digest for a week. A bot that was down at the digest time
sends the week's digest when it comes back (`calendar.digest_due_week`; the daemon runs
this at start), and what was new since the last digest is still new then: each digest
remembers up to when it looked (`covered_until`) and the next one starts there.

Sections, in the order the officer needs them: new topics (ranked, capped), the coming
weeks, incomplete topics, departments without an answer and bouncing addresses, mail set
aside for a human, the department balance this quarter; once a month the contacts overview.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select as sql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import calendar
from bot.app import App
from bot.compose import Composer
from bot.errors import one_line
from bot.german import WEEKDAYS, long_date, month_label
from bot.outbox import enqueue
from bot.telling import contacts, export, rank, select
from bot.telling.select import TopicView
from bot.telling.views import (
    day_month,
    followup_state,
    full_date,
    labels,
    local_stamp,
    topic_context,
)
from db.models import Digest, OutboxMessage
from mailtemplates import RenderedMail

log = logging.getLogger("intake")

#: the balance looks back this far: which departments dominated recent weeks
HISTORY = timedelta(weeks=8)
#: the ranking line names this many of the top topics
EXPLAINED = 2
ICS_TYPE = "text/calendar; charset=utf-8; method=PUBLISH"


@dataclass(frozen=True)
class BuiltDigest:
    week: str
    since: datetime
    until: datetime
    context: dict[str, Any]
    rendered: RenderedMail
    new_count: int
    #: (file name, content type, bytes) of the coming weeks' calendar, or None
    attachment: tuple[str, str, bytes] | None


@dataclass(frozen=True)
class SendOutcome:
    week: str
    queued: bool
    built: BuiltDigest | None = None
    #: when an earlier run queued this week's digest (queued is False then)
    queued_at: datetime | None = None


def week_label(week: str) -> str:
    """'2027-W03' -> 'KW 3/2027'."""
    monday = calendar.parse_iso_week(week)
    iso = monday.isocalendar()
    return f"KW {iso.week}/{iso.year}"


def candidate(t: TopicView) -> rank.Candidate:
    return rank.Candidate(id=t.id, department=t.department, start=t.when_start,
                          end=t.when_end, missing=len(t.missing), has_photo=t.has_photo,
                          has_quote=bool(t.quote))


def window(session: Session, app: App, week: str, now: datetime) -> tuple[datetime, datetime]:
    """(since, until): the digest shows what arrived after `since` up to `until`.

    `until` is now, or, for a week that is over, that week's digest time. `since` is where
    the previous digest stopped looking; a first digest looks back one week.
    """
    s = app.settings.schedule
    tz = app.tz
    monday = calendar.parse_iso_week(week)
    until = now
    if monday + timedelta(days=7) <= calendar.local_date(now, tz):
        until = min(now, calendar.digest_time_for(week, tz, s.digest_weekday, s.digest_time,
                                                  s.state))
    previous = session.scalar(sql(Digest.covered_until).where(Digest.week < week)
                              .order_by(Digest.week.desc()).limit(1))
    since = previous if previous is not None and previous < until else until - timedelta(days=7)
    return since, until


def first_of_month(app: App, week: str) -> bool:
    """Whether this week's digest is the month's first (it then carries the contacts
    overview): its scheduled day is one of the month's first seven."""
    day = calendar.parse_iso_week(week) + timedelta(
        days=calendar.weekday_index(app.settings.schedule.digest_weekday))
    return day.day <= 7


def build(app: App, session: Session, week: str, now: datetime,
          composer: Composer | None = None) -> BuiltDigest:
    """Select, rank and render the digest of `week` as it looks at `now` (writes nothing)."""
    composer = composer or Composer(app)
    settings = app.settings
    tz = app.tz
    cap = settings.digest.max_topics
    weeks = settings.digest.upcoming_weeks
    words = labels(settings)
    since, until = window(session, app, week, now)
    today = calendar.local_date(until, tz)

    names = [d.name for d in select.departments(session)]
    recent = select.received_per_department(session, until - HISTORY, until)

    # 1. new since the last digest, best first
    new = select.received_between(session, since, until)
    by_id = {t.id: t for t in new}
    ranked_new = rank.rank([candidate(t) for t in new], today, recent, names)
    new_shown = [by_id[r.candidate.id] for r in ranked_new[:cap]]
    new_ids = {t.id for t in new_shown}
    ranking = [{"ref": by_id[r.candidate.id].ref, "what": by_id[r.candidate.id].what or "",
                "reasons": [{"code": reason.code, "days": reason.days} for reason in r.reasons]}
               for r in ranked_new[:EXPLAINED]]

    # 2. the coming weeks: the best `cap` of them, in date order
    last_day = today + timedelta(weeks=weeks, days=-1)
    upcoming = select.dated_between(session, today, last_day)
    keep = {r.candidate.id for r in rank.rank([candidate(t) for t in upcoming], today, recent,
                                              names)[:cap]}
    upcoming_shown = [t for t in upcoming if t.id in keep]

    # 3. incomplete: those nobody will ask about any more first, then by date
    incomplete = select.incomplete_from(session, today)
    incomplete.sort(key=lambda t: (followup_state(t) != "spent", t.when_start is None,
                                   t.when_start or date.max, t.id))

    # 4. who has not answered this round; addresses that bounce
    current = select.latest_round(session, calendar.month_of(until, tz))
    silent = select.unanswered(session, current.id) if current else []
    bounces = select.bouncing(session)

    # 5. mail that needs a human
    aside, aside_more = select.set_aside(session, since, cap)

    # 6. balance this quarter
    quarter = (today.month - 1) // 3
    quarter_start = calendar.local_moment(date(today.year, 3 * quarter + 1, 1), "00:00", tz)
    counts = select.received_per_department(session, quarter_start, until)
    bars = rank.balance_bars(counts, names) if any(counts.values()) else []

    overview: list[dict[str, Any]] = []
    if first_of_month(app, week):
        overview = contacts.context(contacts.overview(session, today.year, tz), tz)

    attachment = None
    label = week_label(week)
    if settings.digest.attach_calendar and upcoming:
        result = export.ics(upcoming, words, tz, composer.domain,
                            name=f"Themen {label} bis {full_date(last_day)}")
        attachment = (f"themen-{week}.ics", ICS_TYPE, result.data)

    since_local = calendar.local_date(since, tz)
    context: dict[str, Any] = {
        "week_label": label,
        "officer_name": settings.officer.name,
        "organisation": settings.mail.organisation or settings.mail.from_name,
        "labels": words,
        "since_label": f"{WEEKDAYS[since_local.weekday()]}, {day_month(since_local)}",
        "new_topics": [topic_context(t, words, tz) for t in new_shown],
        "new_count": len(new),
        "ranking": ranking,
        "upcoming_topics": [topic_context(t, words, tz, new_ids) for t in upcoming_shown],
        "upcoming_count": len(upcoming),
        "upcoming_weeks": weeks,
        "upcoming_command": f"intake topics list --from {today.isoformat()} "
                            f"--to {last_day.isoformat()}",
        "incomplete_topics": [topic_context(t, words, tz) for t in incomplete[:cap]],
        "incomplete_count": len(incomplete),
        "round_label": month_label(current.month) if current else "",
        "round_deadline": long_date(current.deadline) if current and current.deadline else "",
        "departments_without_answer": [{
            "department": u.department,
            "contact": f"{one_line(u.contact_name)}, {u.contact_email}" if u.contact_name
                       else u.contact_email,
            "asked_on": day_month(calendar.local_date(u.sent_at, tz)) if u.sent_at else "",
            "reminders": u.reminders_sent,
        } for u in silent],
        "bouncing": [{"department": b.department, "email": b.email,
                      "since": full_date(calendar.local_date(b.since, tz)),
                      "reason": one_line(b.reason)[:200]} for b in bounces],
        "set_aside": [{"id": m.id, "status": m.status, "sender": one_line(m.sender),
                       "subject": one_line(m.subject)[:200], "reason": one_line(m.reason)[:200],
                       "received": local_stamp(m.received_at, tz)} for m in aside],
        "set_aside_more": aside_more,
        "balance_label": f"{quarter + 1}. Quartal {today.year}",
        "balance": [{"department": b.department, "count": b.count, "percent": b.percent}
                    for b in bars],
        "contacts": overview,
        "contacts_year": str(today.year),
        "calendar_file": attachment[0] if attachment else "",
        "calendar_count": len(upcoming) if attachment else 0,
    }
    rendered = composer.render("digest", context)
    return BuiltDigest(week, since, until, context, rendered, len(new), attachment)


def preview(app: App, week: str, now: datetime) -> BuiltDigest:
    """The digest as it would look, from a read-only look at the database."""
    with app.sessions() as session:
        return build(app, session, week, now)


def send(app: App, week: str, now: datetime) -> SendOutcome:
    """Queue the digest of `week` for the officer unless it was queued before; one
    transaction for the digest row and its outbox row."""
    composer = Composer(app)
    officer = app.settings.officer
    with app.sessions.begin() as session:
        earlier = session.scalar(sql(Digest.created_at).where(Digest.week == week))
        if earlier is not None:
            return SendOutcome(week, False, queued_at=earlier)
        built = build(app, session, week, now, composer)
        row = Digest(week=week, created_at=now, covered_until=built.until,
                     topic_count=built.new_count)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another process queued it a moment ago
            return SendOutcome(week, False, queued_at=now)
        message_id = composer.message_id("digest", week)
        raw = composer.build(built.rendered, to_address=officer.email, to_name=officer.name,
                             message_id=message_id, now=now, suppress_oof=True,
                             attachments=[built.attachment] if built.attachment else ())
        key = f"digest:{week}"
        out = enqueue(session, kind="digest", dedupe_key=key, message_id=message_id,
                      to_address=officer.email, subject=built.rendered.subject, raw=raw, now=now)
        row.outbox_id = out.id if out is not None else session.scalar(
            sql(OutboxMessage.id).where(OutboxMessage.dedupe_key == key))
    return SendOutcome(week, True, built)


def due_week(app: App, now: datetime) -> str | None:
    s = app.settings.schedule
    return calendar.digest_due_week(now, app.tz, s.digest_weekday, s.digest_time, s.state)


def send_due(app: App) -> SendOutcome | None:
    """The scheduler's job: the due week's digest, once. Nothing before the bot has begun
    (no round opened, no topic received): an empty digest would only say so."""
    now = app.now()
    week = due_week(app, now)
    if week is None:
        return None
    with app.sessions() as session:
        if not select.has_history(session):
            log.debug("digest for %s: nothing to tell yet (no round, no topic)", week)
            return None
    return send(app, week, now)


def parse_week(value: str) -> str:
    """A --week value as 'YYYY-Www'; ValueError says what is wrong."""
    text = value.strip().upper()
    try:
        calendar.parse_iso_week(text)
    except ValueError as exc:
        raise ValueError(f"{exc} (e.g. 2027-W03)") from None
    return text
