"""Tables in a reply: one topic per row under a header of labels, or one topic per column
beside a first column of labels.

Rows come from Outlook/Word and OWA HTML tables (rendered as "a | b | c" by parsers.html),
from the tab-separated plain part Outlook writes for a Word table or an Excel range, from
typed "| a | b |" tables, and from CSV lines with semicolons. Empty cells count: a tab
table keeps its columns aligned ("\\tThema 1\\tThema 2" has an empty corner cell).

Header cells are read by `parsers.labels.header_field`; columns it does not know, or knows
as notes ("Nr.", "Status", "Bemerkung"), are left out. Two columns of one field ("Datum",
"Uhrzeit") are joined with ", ".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: A table has at most this many rows and columns (anything larger is not an answer).
MAX_ROWS = 200
MAX_COLUMNS = 30
_SEPARATOR_CELL = re.compile(r"^:?-{2,}:?$")
_TOPIC_NUMBER = re.compile(
    r"^(?:thema|topic|veranstaltung|termin|spalte|nr\.?)?\s*#?\d{1,2}[.:)]?$", re.IGNORECASE
)

Resolve = Callable[[str], str | None]


@dataclass(frozen=True)
class Table:
    start: int  # index of the first line
    end: int  # index after the last line
    #: one dict per topic: field -> the cell texts for it, in column order
    topics: tuple[dict[str, list[str]], ...]


def _kind(line: str) -> str | None:
    if len(line) > 5000:
        return None
    if "\t" in line and line.strip("\t ").count("\t") + (line.startswith("\t")) >= 1:
        return "tab"
    if "|" in line:
        return "pipe"
    if line.count(";") >= 2:
        return "semicolon"
    return None


def _cells(line: str, kind: str) -> list[str]:
    if kind == "tab":
        cells = line.rstrip("\r\n").split("\t")
        # trailing blanks are layout; a leading empty cell is the table's corner
        while cells and not cells[-1].strip():
            cells.pop()
        return [c.strip() for c in cells[:MAX_COLUMNS]]
    if kind == "pipe":
        text = line.strip()
        text = text[1:] if text.startswith("|") else text
        text = text[:-1] if text.endswith("|") else text
        return [c.strip() for c in text.split("|")[:MAX_COLUMNS]]
    return [c.strip() for c in line.strip().split(";")[:MAX_COLUMNS]]


def _is_separator(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    return bool(filled) and all(_SEPARATOR_CELL.match(c) for c in filled)


def _rows(lines: Sequence[str], i: int) -> tuple[list[list[str]], int, str] | None:
    """The rows of a table starting at line i, the index after it, and its kind."""
    kind = _kind(lines[i])
    if kind is None:
        return None
    rows: list[list[str]] = []
    j = i
    width = None
    while j < len(lines):
        line = lines[j]
        if not line.strip():
            # a blank line between rows of a typed table
            if kind == "pipe" and j + 1 < len(lines) and _kind(lines[j + 1]) == kind:
                j += 1
                continue
            break
        if _kind(line) != kind:
            break
        cells = _cells(line, kind)
        if kind == "semicolon":
            if width is not None and len(cells) != width:
                break
            width = len(cells)
        if len(cells) < 2:
            break
        if len(rows) < MAX_ROWS and not _is_separator(cells):
            rows.append(cells)  # rows beyond MAX_ROWS belong to the table but are not read
        j += 1
    if len(rows) < 2:
        return None
    return rows, j, kind


def _by_header(rows: list[list[str]], resolve: Resolve) -> list[dict[str, list[str]]] | None:
    for h in range(min(2, len(rows) - 1)):
        header = [resolve(c) if c else None for c in rows[h]]
        named = [f for f in header if f not in (None, "ignore")]
        filled = [c for c in rows[h] if c]
        if len(set(named)) < 2 or len(named) * 2 < len(filled) - header.count("ignore"):
            continue
        topics: list[dict[str, list[str]]] = []
        for row in rows[h + 1 :]:
            values: dict[str, list[str]] = {}
            for fld, cell in zip(header, row, strict=False):
                if fld is not None and fld != "ignore" and cell:
                    values.setdefault(fld, []).append(cell)
            if values:
                topics.append(values)
        return topics
    return None


def _by_label_column(
    rows: list[list[str]], resolve: Resolve
) -> list[dict[str, list[str]]] | None:
    body = rows
    # "| Thema 1 | Thema 2" or "\tThema 1\tThema 2": a header row over the topic columns
    if not rows[0][0] and all(_TOPIC_NUMBER.match(c) or not c for c in rows[0][1:]):
        body = rows[1:]
    elif (
        len(rows[0]) < max(len(row) for row in rows[1:])
        and all(_TOPIC_NUMBER.match(c) for c in rows[0])
    ):
        # " | Thema 1 | Thema 2" from HTML: the empty corner cell left no text before the pipe
        body = rows[1:]
    fields = [resolve(row[0]) if row[0] else None for row in body]
    named = [f for f in fields if f not in (None, "ignore")]
    if len(set(named)) < 2 or len(named) * 2 < len(body):
        return None
    width = max(len(row) for row in body)
    topics: list[dict[str, list[str]]] = []
    for column in range(1, width):
        values: dict[str, list[str]] = {}
        for fld, row in zip(fields, body, strict=True):
            if fld is None or fld == "ignore" or column >= len(row) or not row[column]:
                continue
            values.setdefault(fld, []).append(row[column])
        if values:
            topics.append(values)
    return topics


_ALIGNED_CELL = re.compile(r"\S+(?: \S+)*")


def _aligned_rows(
    lines: Sequence[str], i: int, resolve: Resolve
) -> tuple[list[list[str]], int] | None:
    """A plain table aligned with runs of spaces under a header of labels ("Was     Wann
    Wo"): the header's cells fix the columns, and every row must leave a space before each
    column it reaches (otherwise it is prose, not a row)."""
    header = lines[i]
    if len(header) > 1000 or "   " not in header.strip():
        return None
    cells = list(_ALIGNED_CELL.finditer(header))
    if not 3 <= len(cells) <= MAX_COLUMNS:
        return None
    named = [f for f in (resolve(c.group()) for c in cells) if f not in (None, "ignore")]
    if len(set(named)) < 3 or len(named) * 2 < len(cells):
        return None
    starts = [c.start() for c in cells]
    rows = [[c.group() for c in cells]]
    j = i + 1
    while j < len(lines) and lines[j].strip() and len(rows) <= MAX_ROWS:
        line = lines[j]
        if len(line) > 1000 or any(
            s < len(line) and line[s - 1] != " " for s in starts[1:]
        ):
            break
        bounds = [*starts, max(len(line), starts[-1])]
        rows.append([line[a:b].strip() for a, b in itertools.pairwise(bounds)])
        j += 1
    if len(rows) < 2:
        return None
    return rows, j


def find_table(lines: Sequence[str], i: int, resolve: Resolve) -> tuple[Table | None, int]:
    """The table that starts at line i, if any (see the module docstring), and the index
    after the run of table-like lines starting there (i + 1 when there is none): no line
    inside that run can start a table of its own."""
    found = _rows(lines, i)
    if found is None:
        aligned = _aligned_rows(lines, i, resolve)
        if aligned is None:
            return None, i + 1
        found = (aligned[0], aligned[1], "spaces")
    rows, end, _ = found
    topics = _by_header(rows, resolve)
    if topics is None:
        topics = _by_label_column(rows, resolve)
    if topics is None:
        return None, end
    return Table(i, end, tuple(topics)), end
