"""IN lists of a few fixed lengths.

A query with `column IN (...)` has a statement text of its own for every length of the list.
PostgreSQL's driver (psycopg) converts each new text before sending it, which for lists of
hundreds of values costs more than the query itself; batches of mail make a new length
nearly every time. Lengthened to the next of a few sizes by repeating the last value (which
changes nothing in an IN list), the same query has at most that many texts, each converted
once per connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

#: the lengths an IN list is padded to; longer lists are the caller's to cut (500 at most)
SIZES = (8, 32, 128, 500)


def padded(values: Sequence[T]) -> list[T]:
    """`values` (not empty), lengthened to the next of SIZES by repeating the last one."""
    out = list(values)
    for size in SIZES:
        if len(out) <= size:
            return out + [out[-1]] * (size - len(out))
    return out
