"""One scheduler leader per town hall, however many workers run: a PostgreSQL advisory lock.

Several `intake run` processes (workers) may share one PostgreSQL database. Every worker
delivers the outbox and reads the mailbox: their claims (`FOR UPDATE SKIP LOCKED`) hand
each row to exactly one of them. The scheduler's own jobs (the monthly round, reminders and
follow-ups, the weekly digest) run on one worker only, the leader: whoever holds a
session-level advisory lock, taken on a connection of its own that stays open for as long
as the worker leads. When the leader stops or dies, PostgreSQL ends its session and frees
the lock, and the next worker to try (every `retry_seconds`) takes over and catches up.

The lock's key is the town hall's schema (its OID in `pg_namespace`), so town halls in
separate schemas of one database each have their own leader.

A leader cut off from the server (a network partition) loses the lock when the server
notices the dead connection (TCP keepalives, set on both sides, about half a minute); the
leader notices at its next check and stops leading. The jobs are idempotent by database
constraints, so a short overlap while that happens cannot send anything twice.

On SQLite a single process is the rule (one `intake run` per database file): there is no
server to hold a lock, and every process considers itself the leader.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.errors import one_line

#: every line says "intake: ...": the admin knows the program, not its modules
log = logging.getLogger("intake")

#: the jobs only the leader runs; the outbox runs on every worker
LEADER_JOBS = ("monthly-requests", "reminders-followups", "weekly-digest")

#: first half of the lock's key: intake-bot's scheduler among other advisory locks on the
#: server (an arbitrary constant); the second half is the schema's OID
LOCK_CLASS = 0x1A7A_5C4E

#: a follower tries to take over this often; the leader checks its connection as often
RETRY_SECONDS = 10.0

#: libpq keepalives (the leader notices a dead connection) and the same on the server side
#: (the server frees the lock of a leader that is gone): about 30 s either way
_CLIENT_KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 10,
                                      "keepalives_interval": 5, "keepalives_count": 3,
                                      "tcp_user_timeout": 30_000, "connect_timeout": 10}
_SERVER_KEEPALIVES = ("SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5",
                      "SET tcp_keepalives_count = 3")

_KEY = "(SELECT oid::int4 FROM pg_namespace WHERE nspname = current_schema())"
_TRY = text(f"SELECT pg_try_advisory_lock(:cls, {_KEY})")
_HELD = text(f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
             f"AND pid = pg_backend_pid() AND classid = (:cls)::int4::oid "
             f"AND objid = {_KEY}::oid AND objsubid = 2")


class Leadership:
    """Whether this worker leads the scheduler; `watch` keeps trying to lead."""

    def __init__(self, engine: Engine, retry_seconds: float = RETRY_SECONDS) -> None:
        self.url = engine.url
        self.shared = engine.dialect.name == "postgresql"
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._thread: threading.Thread | None = None
        self._released = threading.Event()

    @property
    def held(self) -> bool:
        return not self.shared or self._conn is not None

    def try_acquire(self) -> bool:
        """One attempt to become the leader; True if this worker leads (now or already)."""
        if not self.shared:
            return True
        with self._lock:
            if self._conn is not None:
                return True
            try:
                if self._engine is None:
                    self._engine = create_engine(self.url, poolclass=NullPool,
                                                 connect_args=dict(_CLIENT_KEEPALIVES))
                conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except SQLAlchemyError as exc:
                log.warning("scheduler: cannot reach the database to lead (%s); trying again "
                            "in %.0f s", one_line(getattr(exc, "orig", exc)), self.retry_seconds)
                return False
            try:
                for statement in _SERVER_KEEPALIVES:
                    conn.execute(text(statement))
                got = conn.execute(_TRY, {"cls": LOCK_CLASS}).scalar()
            except SQLAlchemyError as exc:
                conn.close()
                log.warning("scheduler: cannot take the leader's lock (%s)",
                            one_line(getattr(exc, "orig", exc)))
                return False
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True

    def confirm(self) -> bool:
        """Whether this worker still leads, asked of the server (before each job): a
        leader whose connection broke has lost the lock and stops leading at once."""
        if not self.shared:
            return True
        with self._lock:
            if self._conn is None:
                return False
            try:
                if self._conn.execute(_HELD, {"cls": LOCK_CLASS}).scalar() == 1:
                    return True
                reason = "the lock is no longer held"
            except SQLAlchemyError as exc:
                reason = one_line(getattr(exc, "orig", exc))
            self._drop()
        log.warning("scheduler: this worker no longer leads (%s); another worker takes over",
                    reason)
        return False

    def watch(self, stop: threading.Event, on_elected: Callable[[], None]) -> None:
        """In a thread of its own until `stop`: a follower tries to take over every
        `retry_seconds` (and calls `on_elected` when it does); the leader checks that it
        still holds the lock. Nothing to watch on SQLite."""
        if not self.shared:
            return

        def loop() -> None:
            while not self._released.wait(self.retry_seconds) and not stop.is_set():
                if self.held:
                    self.confirm()
                elif self.try_acquire():
                    log.info("scheduler: this worker leads now (the previous leader stopped); "
                             "catching up")
                    try:
                        on_elected()
                    except Exception as exc:
                        log.exception("scheduler: catching up failed: %s", one_line(exc))

        self._thread = threading.Thread(target=loop, name="intake-leader", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop leading (the daemon stops): the session ends, and with it the lock."""
        self._released.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._drop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _drop(self) -> None:
        if self._conn is not None:
            # a broken connection: closing it is all that is left to do
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None

    def describe(self) -> str:
        """One line for the log: who runs the scheduler's jobs (PostgreSQL)."""
        if self.held:
            return "scheduler: this worker leads (rounds, reminders, digest)"
        return ("scheduler: another worker leads; this one delivers mail and reads the "
                f"mailbox, and takes over when the leader stops (checked every "
                f"{self.retry_seconds:.0f} s)")


class LeaderOnly:
    """A scheduler job that runs only while this worker leads."""

    def __init__(self, job: Callable[[], None], leadership: Leadership) -> None:
        self.job = job
        self.leadership = leadership

    def __call__(self) -> None:
        if self.leadership.confirm():
            self.job()

    def __repr__(self) -> str:
        return f"<LeaderOnly {self.job!r}>"


def leader_only(jobs: dict[str, Any], leadership: Leadership) -> dict[str, Any]:
    """The daemon's jobs, the leader's own wrapped in LeaderOnly."""
    return {job_id: LeaderOnly(job, leadership) if job_id in LEADER_JOBS else job
            for job_id, job in jobs.items()}
