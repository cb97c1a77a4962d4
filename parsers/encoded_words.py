"""RFC 2047 encoded words in header values ("=?utf-8?q?Gr=C3=BC=C3=9Fe?="), decoded in one
linear pass.

`email.header.decode_header` glues the bytes of each word onto those before it, which is
quadratic: a 5 MB subject of encoded words took over a minute. Here every word is decoded
once; adjacent words in the same charset are joined as bytes before decoding (a character
may be split across two words), and the whitespace between encoded words is dropped, as
RFC 2047 says.
"""

from __future__ import annotations

import binascii
import re

from parsers.charsets import decode_bytes, decode_text
from parsers.transfer import lenient_base64

#: The encoded text may hold spaces and a few "?" (senders get that wrong) but is bounded,
#: and its repeats are possessive: from each "=?" the search looks a bounded distance ahead
#: and never backtracks, so a header full of unterminated words costs linear time.
_ENCODED_WORD = re.compile(
    r"=\?(?P<charset>[^?\s]{1,80}+)\?(?P<encoding>[qQbB])\?"
    r"(?P<text>[^?]{0,1000}+(?:\?(?!=)[^?]{0,1000}+){0,4}+)\?="
)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        return lenient_base64(text)[0]
    try:
        return binascii.a2b_qp(text.encode("utf-8", errors="surrogateescape"), header=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8", errors="surrogateescape")


def decode_encoded_words(value: str) -> str:
    """`value` with its encoded words decoded and raw 8-bit bytes (surrogate-escaped, as
    the email package leaves them) decoded as UTF-8 or Windows-1252."""
    if "=?" not in value:
        return decode_text(value)
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset))
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        pos = match.end()
        charset = match.group("charset").split("*", 1)[0].lower()  # RFC 2231 language tag
        data = _word_bytes(match.group("encoding"), match.group("text"))
        joins = pending_charset is not None and (not gap or gap.isspace())
        if joins and charset == pending_charset:
            pending += data
            continue
        if not joins:
            flush()
            out.append(decode_text(gap))
        flush()
        pending += data
        pending_charset = charset
    flush()
    out.append(decode_text(value[pos:]))
    return "".join(out)
