"""Use cases: one function per thing the bot does, called by the CLI and the scheduler."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import calendar
from bot.app import App
from bot.outbox import DeliveryReport, deliver_due

if TYPE_CHECKING:
    from bot.smtp import SmtpTransport
from db.contacts import SyncSummary, sync_contacts_retrying

log = logging.getLogger(__name__)


def sync_contacts_file(app: App) -> SyncSummary:
    """Read the contacts file and bring the database in line; one transaction."""
    entries = app.contacts()
    with app.sessions.begin() as session:
        summary = sync_contacts_retrying(session, entries, app.now())
    for email in summary.deactivated:
        log.info("contact %s deactivated (no longer in the contacts file)", email)
    return summary


def smtp_transport(app: App) -> SmtpTransport:
    from bot.smtp import SmtpTransport

    settings = app.settings.smtp
    password = settings.password() if settings.username else None
    return SmtpTransport(settings, password)


def deliver_outbox(app: App) -> DeliveryReport:
    """Send every due outbox row; mark requests whose mail went out as sent."""
    from bot.rounds import mark_sent_requests

    report = deliver_due(app.sessions, lambda: smtp_transport(app),
                         app.settings.mail.from_address, app.now())
    if report.sent:  # the 30-second tick mostly sends nothing: no query then
        with app.sessions.begin() as session:
            mark_sent_requests(session)
    return report


def run_monthly_requests(app: App) -> None:
    """Scheduler job: open the due month's round once (catch-up safe), then deliver."""
    from bot.rounds import send_requests

    s = app.settings.schedule
    now = app.now()
    month = calendar.due_request_month(now, app.tz, s.state, s.request_time)
    if month is None or not calendar.may_send_now(now, app.tz, s.state):
        return
    result = send_requests(app, month)
    if result.queued:
        log.info("requests for %s: %d queued", month, len(result.queued))
    deliver_outbox(app)


def run_reminders_and_followups(app: App) -> None:
    """Scheduler job: queue due reminders (follow-up questions come with the listening
    issue), then deliver."""
    from bot.rounds import queue_reminders

    # The monthly job fires once, on the first working day; a bot that was down then and
    # came back on a weekend or holiday (when nothing may go out) catches up here, on the
    # next working day. Idempotent: an open round only gains departments added since.
    run_monthly_requests(app)
    planned = queue_reminders(app)
    if planned:
        log.info("%d reminder(s) queued", len(planned))
        deliver_outbox(app)


def check_servers(app: App) -> tuple[list[str], list[str]]:
    """`intake check` online: log in to IMAP and SMTP; (what worked, what failed)."""
    from bot.errors import ConnectionProblem, UserError
    from bot.imap import check_login

    results: list[str] = []
    problems: list[str] = []
    imap = app.settings.imap
    try:
        results.append(check_login(imap, imap.password()))
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
