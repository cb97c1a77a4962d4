"""One way to run a unit of work: a transaction that commits when the block ends normally,
rolls back on an exception, and always rolls back in a dry run (so a dry run executes the
very code of a real run and shows exactly what it would do)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker


@contextmanager
def unit_of_work(sessions: sessionmaker[Session], *, dry_run: bool = False) -> Iterator[Session]:
    with sessions() as session:
        session.begin()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()
