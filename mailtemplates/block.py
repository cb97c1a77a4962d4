"""The fill-in block that request and reminder mails carry and the reply parser reads back."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

DEFAULT_BLOCK_START = "--- Thema ---"
DEFAULT_BLOCK_END = "--- Ende ---"

#: (field, label) pairs of the default block, in the order they are sent. The field names are
#: the parse contract's (what, when, where, who, how_many, quote) plus "images" for the
#: "Bilder:" line. Kept here as a plain copy because this package imports nothing of the project.
DEFAULT_TEMPLATE_LABELS: tuple[tuple[str, str], ...] = (
    ("what", "Was"),
    ("when", "Wann"),
    ("where", "Wo"),
    ("who", "Wer"),
    ("how_many", "Wie viele"),
    ("quote", "Zitat"),
    ("images", "Bilder"),
)

#: field -> text written after the label; used when template_block() gets hints=None.
DEFAULT_HINTS: Mapping[str, str] = {"images": "(gern direkt anhängen)"}

#: Words that quote parsers take for the header of a quoted original ("Von: ...",
#: "Gesendet: ..."). A label starting with one of them would make the parser cut the reply
#: at that line, so such labels are refused.
QUOTE_HEADER_WORDS: frozenset[str] = frozenset(
    {"von", "an", "datum", "betreff", "gesendet", "from", "to", "sent", "date", "subject"}
)

_FIRST_WORD = re.compile(r"[^\W\d_]+")


def _single_line(what: str, value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"{what} must not be empty")
    if any(ch in stripped for ch in "\r\n\x0b\x0c\x85\u2028\u2029"):
        raise ValueError(f"{what} must be a single line: {value!r}")
    return stripped


def check_label(label: str) -> str:
    """Return the label stripped, or raise ValueError if the parser could not read it back."""
    text = _single_line("a template label", label)
    if ":" in text:
        raise ValueError(f"template label {text!r} must not contain ':' (it is added after it)")
    match = _FIRST_WORD.search(text)
    if match is not None and match.group(0).casefold() in QUOTE_HEADER_WORDS:
        raise ValueError(
            f"template label {text!r} starts with {match.group(0)!r}, which mail quote parsers "
            "take for the header of a quoted message; choose another word"
        )
    return text


def template_block(
    labels: Sequence[tuple[str, str]],
    block_start: str = DEFAULT_BLOCK_START,
    block_end: str = DEFAULT_BLOCK_END,
    hints: Mapping[str, str] | None = None,
) -> str:
    """Render the fill-in block, one ``Label:`` line per (field, label) pair, in order.

    ``hints`` maps a field to a short text written after its label (default: DEFAULT_HINTS,
    applied only to fields that are present; pass ``{}`` for none). The result has no trailing
    newline. Raises ValueError for an empty or multi-line label or marker, a label containing
    ':' or starting with a quote-header word (Von, An, Datum, Betreff, Gesendet, From, To,
    Sent, Date, Subject; case-insensitive), a label or field used twice, or a hint for a field
    that is not in ``labels``.
    """
    start = _single_line("block_start", block_start)
    end = _single_line("block_end", block_end)
    if start == end:
        raise ValueError(f"block_start and block_end must differ, both are {start!r}")
    if not labels:
        raise ValueError("a template block needs at least one label")

    fields_seen: set[str] = set()
    labels_seen: set[str] = set()
    checked: list[tuple[str, str]] = []
    for field, label in labels:
        text = check_label(label)
        if field in fields_seen:
            raise ValueError(f"field {field!r} appears twice in the template labels")
        if text.casefold() in labels_seen:
            raise ValueError(f"template label {text!r} appears twice")
        fields_seen.add(field)
        labels_seen.add(text.casefold())
        checked.append((field, text))

    if hints is None:
        hints = DEFAULT_HINTS
    else:
        unknown = sorted(set(hints) - fields_seen)
        if unknown:
            raise ValueError(f"hints given for fields that have no label: {', '.join(unknown)}")

    lines = [start]
    for field, text in checked:
        hint = hints.get(field, "").strip()
        if hint:
            lines.append(f"{text}: {_single_line(f'the hint for {field!r}', hint)}")
        else:
            lines.append(f"{text}:")
    lines.append(end)
    return "\n".join(lines)
