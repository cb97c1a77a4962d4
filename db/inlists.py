"""`column IN (values)` as one statement text whatever the number of values.

An IN list has a statement text of its own for every length, and batches of mail make a new
length nearly every time. On PostgreSQL each new text is converted by the driver (psycopg
caches only short ones) before it is sent, which for hundreds of values costs more than the
query; `column = ANY(array)` is one text and one parameter, and uses the same index.
SQLite has no arrays, and its driver has no such cost: it keeps the IN list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.types import ARRAY, String


def among(session: Session, column: InstrumentedAttribute[Any],
          values: Sequence[Any]) -> ColumnElement[bool]:
    """`column` is one of `values` (at most 500 of them: SQLite binds each)."""
    if session.get_bind().dialect.name == "postgresql":
        # an array of the column's type without its length: a cast to VARCHAR(n)[] would cut
        # a longer value (a foreign Message-ID) silently, and the cut one could match a row
        kind = String() if isinstance(column.type, String) else column.type
        return column == any_(bindparam(None, list(values), type_=ARRAY(kind)))
    return column.in_(list(values))
