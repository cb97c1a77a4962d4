"""Value parsing for topic fields: one import point for the bot and the template parser.

- `parse_when(text, today) -> When`: an answer to "Wann:" (see parsers/dates.py for the rules).
- `parse_how_many(text) -> HowMany`: an answer to "Wie viele:" (see parsers/counts.py).
- `find_when`, `find_how_many`, `find_where`: confident facts in free text, or None.
- `is_not_applicable(text)`: "entfällt", "-", "k. A.", "n/a" ... (answered, nothing parsed).
"""

from __future__ import annotations

from parsers.common import is_not_applicable
from parsers.counts import find_how_many, german_number, parse_how_many
from parsers.dates import find_date, find_time, find_when, parse_when
from parsers.places import find_where

__all__ = [
    "find_date",
    "find_how_many",
    "find_time",
    "find_when",
    "find_where",
    "german_number",
    "is_not_applicable",
    "parse_how_many",
    "parse_when",
]
