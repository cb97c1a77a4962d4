"""New rows' ids drawn ahead from PostgreSQL's sequence, so that a flush needs none back.

The ORM inserts rows whose id the database makes as one multi-row `INSERT ... RETURNING id`
per batch. Its text changes with the number of rows, and psycopg converts every statement
text that is longer than 4 KB or has more than 50 parameters anew before sending it; for a
batch of a hundred topics of twenty-five columns that conversion costs more than the
insert. Rows that already have their ids are inserted as one statement text repeated
(psycopg pipelines it and prepares it once). The ids come from the column's own sequence,
as the insert would have taken them, in one query for the whole batch. SQLite has no
sequences, and its driver no such cost: its rows get their ids from the insert.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.orm import DeclarativeBase, Session


def draw_ids(session: Session, rows: Sequence[DeclarativeBase]) -> None:
    """Give each of `rows` (new, of one mapped class with an integer `id`, none set yet)
    its id from the id column's sequence, in the order given; nothing on SQLite."""
    if not rows or session.get_bind().dialect.name != "postgresql":
        return
    sequence = func.pg_get_serial_sequence(rows[0].__tablename__, "id")
    with session.no_autoflush:  # a flush now would insert them the other way first
        ids = list(session.scalars(select(func.nextval(sequence, type_=Integer)).select_from(
            func.generate_series(1, bindparam("n", len(rows))).table_valued("n"))))
    for row, new_id in zip(rows, ids, strict=True):
        row.id = new_id  # type: ignore[attr-defined]
