"""The listening flow's entry points for the command line and the daemon: building the
poller from the settings, and what `intake inbound` and `intake topics list` show."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.app import App
from bot.errors import UserError
from bot.imap import Credentials, Mailbox, OAuthLogin, PasswordLogin
from bot.listening.fetch import FetchSettings, PassReport
from bot.listening.poller import Poller
from bot.listening.process import ListenSettings, ProcessReport, process_pending
from db.models import (
    Attachment,
    Contact,
    Department,
    FollowUp,
    InboundMessage,
    Topic,
)
from parsers import ParseOptions

log = logging.getLogger("intake.listening")

#: `intake inbound list --status` choices and the row statuses each one shows
SET_ASIDE: dict[str, tuple[str, ...]] = {
    "quarantined": ("quarantined",),
    "failed": ("failed", "oversized"),
    "unrecognized": ("unrecognized",),
    "bounced": ("bounce",),
}


def parse_options(app: App) -> ParseOptions:
    settings = app.settings
    return ParseOptions(
        labels=settings.labels(),
        block_start=settings.templates.block_start,
        block_end=settings.templates.block_end,
        max_attachment_bytes=settings.mail.max_attachment_mb * 1024 * 1024,
        keep_attachment_content=True,
    )


def listen_settings(app: App) -> ListenSettings:
    return ListenSettings(options=parse_options(app),
                          authserv_id=app.settings.inbound.authserv_id)


def fetch_settings(app: App) -> FetchSettings:
    imap = app.settings.imap
    return FetchSettings(folder=imap.folder, processed_folder=imap.processed_folder,
                         failed_folder=imap.failed_folder,
                         max_message_bytes=app.settings.inbound.max_message_mb * 1024 * 1024)


def credentials(app: App) -> Credentials:
    imap = app.settings.imap
    if imap.auth == "xoauth2":
        from bot.oauth import MsalTokenProvider

        provider = MsalTokenProvider(tenant_id=imap.oauth_tenant_id,
                                     client_id=imap.oauth_client_id,
                                     client_secret=imap.password())
        return OAuthLogin(lambda: provider.token(app.now()))
    return PasswordLogin(imap.password())


def build_poller(app: App) -> Poller:
    login = credentials(app)
    return Poller(open_mailbox=lambda: Mailbox.open(app.settings.imap, login),
                  sessions=app.sessions, fetch=fetch_settings(app), listen=listen_settings(app),
                  now=app.now, poll_seconds=float(app.settings.schedule.poll_seconds),
                  after_pass=lambda report: after_pass(app, report))


def after_pass(app: App, report: PassReport) -> None:
    """What follows a pass: a polite notice to whoever sent an oversized mail, and the
    thank-you receipts where the town hall switched them on."""
    from bot.listening import notices

    if report.oversized_rows:
        notices.queue_oversized_notices(app, report.oversized_rows)
    if app.settings.schedule.receipts and report.processing.answered:
        notices.queue_receipts(app, report.processing.answered)


def replay(app: App, ids: Sequence[int] | None, failed: bool) -> ProcessReport:
    """Process stored mail again (after a fix). Idempotent: topics are updated in place."""
    with app.sessions() as session:
        if failed:
            wanted = list(session.scalars(select(InboundMessage.id).where(
                InboundMessage.status == "failed", InboundMessage.purged_at.is_(None))
                .order_by(InboundMessage.id)))
        else:
            wanted = list(ids or [])
            found = set(session.scalars(select(InboundMessage.id).where(
                InboundMessage.id.in_(wanted))))
            unknown = [i for i in wanted if i not in found]
            if unknown:
                raise UserError(f"no received mail with id {', '.join(map(str, unknown))} "
                                f"(see `intake inbound list`)")
            oversized = list(session.scalars(select(InboundMessage.id).where(
                InboundMessage.id.in_(wanted), InboundMessage.status == "oversized")))
            if oversized:
                raise UserError(f"mail {', '.join(map(str, oversized))} was too large to be "
                                f"fetched; only its headers are stored")
            purged = list(session.scalars(select(InboundMessage.id).where(
                InboundMessage.id.in_(wanted), InboundMessage.purged_at.is_not(None))))
            if purged:
                raise UserError(f"mail {', '.join(map(str, purged))} is past its retention: "
                                f"`intake purge` deleted its bytes, so it cannot be processed "
                                f"again")
    return process_pending(app.sessions, listen_settings(app), app.now, only_ids=wanted)


@dataclass(frozen=True)
class InboundLine:
    id: int
    received_at: Any
    status: str
    kind: str | None
    from_address: str | None
    subject: str | None
    reason: str | None


def _set_aside(status: str | None) -> tuple[str, ...]:
    return SET_ASIDE[status] if status else tuple(s for v in SET_ASIDE.values() for s in v)


def inbound_lines(session: Session, status: str | None, limit: int = 200) -> list[InboundLine]:
    """The newest `limit` set-aside mails, as columns: not their bytes (failed mails can be
    large, and a list of them must not load them all)."""
    stmt = (select(InboundMessage.id, InboundMessage.received_at, InboundMessage.status,
                   InboundMessage.kind, InboundMessage.from_address, InboundMessage.subject,
                   InboundMessage.error)
            .where(InboundMessage.status.in_(_set_aside(status)))
            .order_by(InboundMessage.id.desc()).limit(limit))
    return [InboundLine(*row) for row in session.execute(stmt)]


def set_aside_count(session: Session, status: str | None) -> int:
    """How many mails `inbound_lines` would list without its limit."""
    return int(session.scalar(select(func.count(InboundMessage.id)).where(
        InboundMessage.status.in_(_set_aside(status)))) or 0)


def inbound_row(session: Session, inbound_id: int) -> InboundMessage:
    row = session.get(InboundMessage, inbound_id)
    if row is None:
        raise UserError(f"no received mail with id {inbound_id} (see `intake inbound list`)")
    return row


def topic_rows(session: Session, *, date_from: date | None = None, date_to: date | None = None,
               department: str | None = None, status: str | None = None
               ) -> list[dict[str, Any]]:
    """Topics as cli.md's `topics list --format json` describes them."""
    followups = (select(FollowUp.topic_id, func.count(FollowUp.id).label("n"))
                 .group_by(FollowUp.topic_id).subquery("asked"))
    stmt = (select(Topic, Department.name, InboundMessage.message_id, Contact.email,
                   func.coalesce(followups.c.n, 0))
            .join(Department, Topic.department_id == Department.id)
            .join(InboundMessage, Topic.inbound_id == InboundMessage.id)
            .outerjoin(Contact, Topic.contact_id == Contact.id)
            .outerjoin(followups, followups.c.topic_id == Topic.id)
            .order_by(Topic.when_start.is_(None), Topic.when_start, Topic.id))
    shown = Topic.status == status if status else Topic.status != "withdrawn"
    stmt = stmt.where(shown)
    if department:
        stmt = stmt.where(func.lower(Department.name) == department.casefold())
    if date_from:
        stmt = stmt.where(func.coalesce(Topic.when_end, Topic.when_start) >= date_from)
    if date_to:
        stmt = stmt.where(Topic.when_start <= date_to)
    rows = session.execute(stmt).all()
    names: dict[int, list[str]] = {}
    ids = [t.id for t, *_ in rows]
    if ids:
        for topic_id, filename in session.execute(
                select(Attachment.topic_id, Attachment.filename)
                .where(Attachment.topic_id.in_(ids)).order_by(Attachment.id)):
            if topic_id is not None:
                names.setdefault(topic_id, []).append(filename)
    out: list[dict[str, Any]] = []
    for topic, dept, message_id, contact_email, sent in rows:
        out.append({
            "id": topic.id,
            "department": dept,
            "contact": contact_email,
            "status": topic.status,
            "what": topic.what,
            "when": None if topic.when_text is None and topic.when_start is None else {
                "text": topic.when_text,
                "start": topic.when_start.isoformat() if topic.when_start else None,
                "end": topic.when_end.isoformat() if topic.when_end else None,
                "time": topic.when_time},
            "where": topic.where,
            "who": topic.who,
            "how_many": None if topic.how_many_text is None else {
                "text": topic.how_many_text, "min": topic.how_many_min,
                "max": topic.how_many_max},
            "quote": topic.quote,
            "attachments": names.get(topic.id, []),
            "missing": list(topic.missing or []),
            "followups_sent": int(sent),
            "source_message_id": message_id,
            "received_at": topic.created_at.isoformat(),
        })
    return out
