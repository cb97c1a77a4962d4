"""Turning bytes of unknown or wrongly declared encoding into text without mojibake.

Mail clients lie about charsets: "iso-8859-1" bodies that are really Windows-1252 (curly
quotes, the euro sign), "us-ascii" bodies with umlauts, UTF-8 bodies labelled Latin-1, and
8-bit bodies with no declaration at all. The rule here: valid UTF-8 with non-ASCII bytes is
UTF-8 whatever the label says (a real Latin-1 text practically never forms valid UTF-8
multi-byte sequences); otherwise the declared charset if it decodes; otherwise Windows-1252.
"""

from __future__ import annotations

import codecs
import re

# Labels that mean "some single-byte Western encoding"; Windows-1252 is a superset of the
# printable part of ISO-8859-1 and what senders really mean (as the WHATWG encoding spec does).
_LATIN_ALIASES = frozenset(
    {
        "iso-8859-1",
        "iso8859-1",
        "latin-1",
        "latin1",
        "l1",
        "iso_8859-1",
        "iso-ir-100",
        "us-ascii",
        "ascii",
        "ansi_x3.4-1968",
        "windows-1252",
        "cp1252",
        "x-user-defined",
        "unknown-8bit",
        "x-unknown",
        "unknown",
        "default",
    }
)
_UTF8_LIKE = frozenset({"utf-8", "iso8859-1", "ascii", "cp1252"})


def _lookup(label: str) -> str | None:
    """The Python codec name for a charset label, or None when unknown."""
    label = label.strip().strip('"').strip("'").lower()
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _cp1252_for_escaped_bytes() -> dict[int, str | None]:
    """A str.translate table: the lone surrogates U+DC80..U+DCFF that the surrogateescape
    handler puts in for undecodable bytes, mapped to the byte's Windows-1252 character
    (None, i.e. dropped, for the five bytes Windows-1252 leaves undefined)."""
    table: dict[int, str | None] = {}
    for byte in range(0x80, 0x100):
        char = bytes([byte]).decode("cp1252", errors="replace")
        table[0xDC00 + byte] = None if char == "\ufffd" else char
    return table


_ESCAPED_AS_CP1252 = _cp1252_for_escaped_bytes()
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _utf8_else_cp1252(data: bytes) -> str:
    """UTF-8 where the bytes form valid UTF-8, each other byte as Windows-1252.

    Linear and in C throughout: a Python error handler would run once per bad byte (an
    8 MB part of invalid UTF-8 took seconds); surrogateescape marks the bad bytes and one
    translate maps them, with the same result.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return data.decode("utf-8", errors="surrogateescape").translate(_ESCAPED_AS_CP1252)


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode `data` by the declared charset, falling back to UTF-8 and then Windows-1252.

    For UTF-8, Latin labels and missing labels the decoding is UTF-8 where the bytes form
    valid UTF-8 and Windows-1252 byte by byte where they do not, so a Latin-1 body labelled
    UTF-8, a UTF-8 body labelled Latin-1 and a body mixing both all come out right.
    """
    if data.isascii():
        return data.decode("ascii")
    label = (declared or "").strip().strip('"').strip("'").lower()
    codec = _lookup(label) if label else None
    if codec is None or label in _LATIN_ALIASES or codec in _UTF8_LIKE:
        return _utf8_else_cp1252(data)
    if codec == "iso8859-15":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("iso8859-15")
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        pass
    return _utf8_else_cp1252(data)


def decode_text(value: str | bytes, declared: str | None = None) -> str:
    """Like decode_bytes, for str values that may carry surrogate-escaped raw bytes."""
    if isinstance(value, bytes):
        return decode_bytes(value, declared)
    if value.isascii() or not _ESCAPED_BYTE.search(value):
        return value
    return decode_bytes(value.encode("utf-8", errors="surrogateescape"), declared)
