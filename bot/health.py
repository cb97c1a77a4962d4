"""`intake health`: is this worker's daemon doing its job? One line, exit status 0 or 1.

Healthy means: the database answers at the expected schema, this worker's outbox tick
(every 30 s, recorded in `heartbeats` under the host name) is recent, and the mailbox
was read recently (`mailbox_state.last_poll_at` of the configured folder, written by
whichever worker read it). A Docker HEALTHCHECK runs it inside the container.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.app import App
from bot.errors import UserError, one_line
from db.heartbeats import beat, last_beat
from db.models import MailboxState

#: the outbox ticks every 30 s: four missed ticks are a problem
OUTBOX_MAX_AGE = timedelta(seconds=120)
#: the poller reads at least every `poll_seconds` (IDLE or not); three missed passes, and
#: never less than five minutes (a pass over a large batch of mail takes its time)
POLL_MIN_MAX_AGE = timedelta(minutes=5)


def worker_name() -> str:
    """This worker's name in `heartbeats`: the host name (in Docker: the container's)."""
    return socket.gethostname()


def record_outbox_tick(app: App) -> None:
    with app.sessions.begin() as session:
        beat(session, "outbox", worker_name(), app.now())


@dataclass(frozen=True)
class Health:
    healthy: bool
    line: str


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def check(app: App, max_age: timedelta | None = None) -> Health:
    """This worker's health at `app.now()`; `max_age` replaces both limits."""
    try:
        app.require_schema()
    except UserError as exc:
        return Health(False, f"unhealthy: {one_line(exc)}")
    now = app.now()
    folder = app.settings.imap.folder
    worker = worker_name()
    outbox_limit = max_age or OUTBOX_MAX_AGE
    poll_limit = max_age or max(POLL_MIN_MAX_AGE,
                                timedelta(seconds=3 * app.settings.schedule.poll_seconds))
    try:
        with app.sessions() as session:
            tick = last_beat(session, "outbox", worker)
            polled = session.scalar(select(MailboxState.last_poll_at)
                                    .where(MailboxState.folder == folder))
    except SQLAlchemyError as exc:
        return Health(False, f"unhealthy: database {app.safe_db_url()}: "
                             f"{one_line(getattr(exc, 'orig', exc))}")
    problems: list[str] = []
    facts: list[str] = []
    if tick is None:
        problems.append(f"no outbox tick recorded for this worker ({worker}); is `intake run` "
                        f"running here?")
    elif now - tick > outbox_limit:
        problems.append(f"last outbox tick {_ago(now, tick)} (limit "
                        f"{int(outbox_limit.total_seconds())} s; worker {worker})")
    else:
        facts.append(f"last outbox tick {_ago(now, tick)}")
    if polled is None:
        problems.append(f"the mailbox {folder} was never read")
    elif now - polled > poll_limit:
        problems.append(f"last mailbox pass {_ago(now, polled)} (limit "
                        f"{int(poll_limit.total_seconds())} s; folder {folder})")
    else:
        facts.append(f"last mailbox pass {_ago(now, polled)} ({folder})")
    if problems:
        return Health(False, "unhealthy: " + "; ".join(problems + facts))
    return Health(True, "healthy: " + ", ".join(facts))
