"""Use cases: one function per thing the bot does, called by the CLI and the scheduler."""

from __future__ import annotations

import logging

from bot.app import App
from db.contacts import SyncSummary, sync_contacts

log = logging.getLogger(__name__)


def sync_contacts_file(app: App) -> SyncSummary:
    """Read the contacts file and bring the database in line; one transaction."""
    entries = app.contacts()
    with app.sessions.begin() as session:
        summary = sync_contacts(session, entries, app.now())
    for email in summary.deactivated:
        log.info("contact %s deactivated (no longer in the contacts file)", email)
    return summary
