"""Heartbeats: when a worker last finished a job. Take a Session and never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db.models import Heartbeat


def beat(session: Session, job: str, worker: str, at: datetime) -> None:
    """Record that `worker` finished `job` at `at` (one upsert: workers tick concurrently)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Heartbeat).values(job=job, worker=worker, at=at)
    session.execute(stmt.on_conflict_do_update(index_elements=["job", "worker"],
                                               set_={"at": stmt.excluded.at}))


def last_beat(session: Session, job: str, worker: str) -> datetime | None:
    return session.scalar(select(Heartbeat.at).where(Heartbeat.job == job,
                                                     Heartbeat.worker == worker))
