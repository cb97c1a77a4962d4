"""Use cases: one function per thing the bot does, called by the CLI and the scheduler."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot import calendar
from bot.app import App
from bot.outbox import DeliveryReport, Meanwhile, deliver_due

if TYPE_CHECKING:
    from bot.smtp import SmtpTransport
from db.contacts import SyncSummary, known_since

#: every line says "intake: ...": the admin knows the program, not its modules
log = logging.getLogger("intake")


def sync_contacts_file(app: App, confirmed: bool = False) -> SyncSummary:
    """Read the contacts file and bring the database in line; one transaction.

    A file that would deactivate more than half of the active departments is refused
    (bot.rounds.SyncRefused) unless `confirmed`.
    """
    from bot.rounds import sync_contacts_checked

    entries = app.contacts()
    with app.sessions.begin() as session:
        summary = sync_contacts_checked(app, session, entries, app.now(), confirmed,
                                        "run `intake contacts sync --yes`")
    for email in summary.deactivated:
        log.info("contact %s deactivated (no longer in the contacts file)", email)
    return summary


def smtp_transport(app: App) -> SmtpTransport:
    from bot.smtp import SmtpTransport

    settings = app.settings.smtp
    password = settings.password() if settings.username else None
    return SmtpTransport(settings, password)


def deliver_outbox(app: App, before: DeliveryReport | None = None) -> DeliveryReport:
    """Send every due outbox row; mark requests whose mail went out as sent. `before`:
    what an `outbox_meanwhile` delivery sent already, counted in the report."""
    from bot.rounds import mark_sent_requests

    # the clock, not this moment: a long delivery leases each claim from when it is made
    report = deliver_due(app.sessions, lambda: smtp_transport(app),
                         app.settings.mail.from_address, app.now)
    if before is not None:
        report = before + report
    if report.sent:  # the 30-second tick mostly sends nothing: no query then
        with app.sessions.begin() as session:
            mark_sent_requests(session)
    return report


def outbox_tick(app: App) -> None:
    """Scheduler job: deliver; a tick that reached the server (or had nothing to send) is
    this worker's heartbeat for `intake health`."""
    from bot.health import record_outbox_tick

    if deliver_outbox(app).connection_error is None:
        record_outbox_tick(app)


def outbox_meanwhile(app: App, enabled: bool = True) -> Meanwhile:
    """`with outbox_meanwhile(app) as early: <queue a round>`: each committed chunk goes
    out while the next is prepared; then `deliver_outbox(app, early.report)`."""
    return Meanwhile(app.sessions, lambda: smtp_transport(app),
                     app.settings.mail.from_address, app.now, enabled=enabled)


def first_round_time(app: App) -> datetime | None:
    """When the first request round goes out, for a bot that never opened one; None once
    a round exists (then the regular monthly schedule applies)."""
    from bot.rounds import any_round

    s = app.settings.schedule
    with app.sessions() as session:
        if any_round(session):
            return None
        since = known_since(session)
    return calendar.first_request_time(since, app.now(), app.tz, s.state, s.request_time)


#: the last refused sync the daemon reported; it retries every 15 minutes and says so once
_reported_refusal: list[str] = []


def run_monthly_requests(app: App) -> None:
    """Scheduler job: open the due month's round once (catch-up safe), then deliver.

    A bot that never opened a round starts at a regular request time (see
    `calendar.first_request_time`); a contacts file that would deactivate most departments
    stops the round (logged once) until it is fixed or confirmed by hand.
    """
    from bot.rounds import SyncRefused, any_round, send_requests

    s = app.settings.schedule
    now = app.now()
    month = calendar.due_request_month(now, app.tz, s.state, s.request_time)
    if month is None or not calendar.may_send_now(now, app.tz, s.state):
        return
    with app.sessions() as session:
        first = not any_round(session)
    try:
        if first:
            # the departments' first sync marks when the bot came to know them
            sync_contacts_file(app)
            moment = first_round_time(app)
            if moment is None or moment.astimezone(UTC) > now.astimezone(UTC):
                return
            month = calendar.month_of(moment, app.tz)
        with outbox_meanwhile(app) as early:
            result = send_requests(app, month)
    except SyncRefused as exc:
        if _reported_refusal != [str(exc)]:
            _reported_refusal[:] = [str(exc)]
            log.error("requests for %s not sent: %s", month, exc)
        return
    _reported_refusal.clear()
    if result.queued:
        log.info("requests for %s: %d queued", month, len(result.queued))
    for problem in result.failed:
        log.error("requests for %s: %s (%s) not asked: %s", month, problem.department,
                  problem.address, problem.reason)
    deliver_outbox(app, early.report)


def run_reminders_and_followups(app: App) -> None:
    """Scheduler job: queue due reminders and follow-up questions, then deliver."""
    from bot.listening.askback import ask_back
    from bot.rounds import queue_reminders

    # The monthly job fires once, on the first working day; a bot that was down then and
    # came back on a weekend or holiday (when nothing may go out) catches up here, on the
    # next working day. Idempotent: an open round only gains departments added since.
    run_monthly_requests(app)
    planned = queue_reminders(app)
    if planned:
        log.info("%d reminder(s) queued", len(planned))
    asked = ask_back(app)
    if planned or asked.queued:
        deliver_outbox(app)


def run_weekly_digest(app: App) -> None:
    """Scheduler job (and the daemon's catch-up at start): the due week's digest to the
    officer, once per week whatever happens; then deliver."""
    from bot.telling.digest import send_due

    outcome = send_due(app)
    if outcome is not None and outcome.queued:
        log.info("digest %s queued for %s", outcome.week, app.settings.officer.email)
        deliver_outbox(app)


def check_servers(app: App) -> tuple[list[str], list[str]]:
    """`intake check` online: log in to IMAP and SMTP; (what worked, what failed)."""
    from bot.errors import ConnectionProblem, UserError
    from bot.imap import check_login
    from bot.listening.service import credentials

    results: list[str] = []
    problems: list[str] = []
    imap = app.settings.imap
    try:
        # the poller's own login: a password, or XOAUTH2 with a token for Microsoft 365
        results.append(check_login(imap, credentials(app)))
    except (ConnectionProblem, UserError) as exc:
        problems.append(str(exc))
    smtp = app.settings.smtp
    try:
        transport = smtp_transport(app)
        transport.open()
        transport.close()
        who = f"logged in as {smtp.username}" if smtp.username else "no AUTH (relay)"
        results.append(f"SMTP {smtp.host}:{smtp.port} ({smtp.security}): {who}")
    except (ConnectionProblem, UserError) as exc:
        problems.append(str(exc))
    return results, problems
