"""Content-Transfer-Encoding: a part's payload to bytes, leniently and within a byte limit.

Base64 is decoded here rather than by the standard library: mail in the wild loses its
padding, carries stray characters, glues several encodings together ("QUI=QUJD") or is cut
off, and every byte that can be decoded is wanted (a value often sits in the last line). It
is also decoded in slices, so a 24 MB part costs no more than the bytes that are wanted.
"""

from __future__ import annotations

import binascii
import re
from email.message import Message

_B64_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: Every byte that is neither a base64 letter nor padding, for bytes.translate to delete
#: (in C, several times faster than a regular expression).
_B64_JUNK = bytes(sorted(set(range(256)) - set(_B64_LETTERS + b"=")))
_B64_PAD = re.compile(rb"=+")
#: Base64 interrupted by padding more often than this is read as one stream of letters
#: (padding everywhere is noise, not glued encodings, and decoding run by run costs time).
MAX_B64_RUNS = 1000
#: Encoded characters looked at per step.
_SLICE_CHARS = 1 << 20
_UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})


def transfer_encoding(part: Message) -> str:
    return str(part.get("Content-Transfer-Encoding", "")).strip().lower()


def b64_decode_run(data: bytes) -> bytes:
    """Decode a run of base64 letters (no padding) of any length: the complete groups and
    then the partial last group, padded as it needs. A single letter left over is the only
    thing lost: it holds 6 bits, less than a byte."""
    rest = len(data) % 4
    if rest == 1:
        data = data[:-1]
    elif rest:
        data += b"=" * (4 - rest)
    return binascii.a2b_base64(data)


def lenient_base64(text: str, limit: int | None = None) -> tuple[bytes, bool]:
    """Decode base64 that lost its padding or its tail, carries stray characters, or is
    several encodings glued together: every decodable byte is kept.

    Returns the bytes and whether they are complete: with a `limit`, decoding stops once
    that many bytes are there and (the first `limit` bytes, False) comes back.
    """
    out = bytearray()
    carry = b""
    runs = 0
    for start in range(0, len(text), _SLICE_CHARS):
        last = start + _SLICE_CHARS >= len(text)
        chunk = text[start : start + _SLICE_CHARS].encode("ascii", errors="ignore")
        data = carry + chunk.translate(None, _B64_JUNK)
        if last:
            data = data.rstrip(b"=")
        if runs > MAX_B64_RUNS:
            pieces = [data.replace(b"=", b"")]
        else:
            pieces = _B64_PAD.split(data) if b"=" in data else [data]
            runs += len(pieces) - 1
        for piece in pieces[:-1]:
            out += b64_decode_run(piece)
        tail = pieces[-1]
        if last:
            out += b64_decode_run(tail)
            carry = b""
        else:
            whole = len(tail) - len(tail) % 4
            out += binascii.a2b_base64(tail[:whole])
            carry = tail[whole:]
        if limit is not None and len(out) >= limit and not (last and len(out) == limit):
            return bytes(out[:limit]), False
    return bytes(out), True


def decoded_payload(part: Message, limit: int) -> tuple[bytes, bool]:
    """A leaf part's payload without its transfer encoding, at most `limit` bytes; and
    whether that is all of it."""
    cte = transfer_encoding(part)
    if cte == "base64":
        raw = part.get_payload(decode=False)
        return lenient_base64(raw, limit) if isinstance(raw, str) else (b"", True)
    if cte in _UUENCODE and estimated_size(part) > limit:
        return b"", False  # decoded line by line in Python: not for what would be cut anyway
    try:
        data = part.get_payload(decode=True)
    except (binascii.Error, ValueError):
        data = None
    if not isinstance(data, bytes):
        return b"", True
    if len(data) > limit:
        return data[:limit], False
    return data, True


def encoded_length(part: Message) -> int:
    """An upper bound of a leaf's decoded size, at no cost: its payload's length as it
    stands (no transfer encoding lengthens what it encodes)."""
    payload = part.get_payload(decode=False)
    return len(payload) if isinstance(payload, str) else 0


def estimated_size(part: Message) -> int:
    """The decoded size of a part's payload, estimated from its encoded length (nothing is
    decoded or copied: an attachment too large to keep costs no memory)."""
    payload = part.get_payload(decode=False)
    if not isinstance(payload, str):
        return 0
    if transfer_encoding(part) == "base64":
        letters = len(payload) - sum(payload.count(c) for c in "\r\n \t=")
        return max(0, letters) * 3 // 4
    return len(payload)
