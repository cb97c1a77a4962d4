"""Transfer encodings keep every byte: each encoding, each tail length, the value in the last
line; charset decoding of invalid UTF-8 as before, only fast."""

from __future__ import annotations

import base64
import codecs
import quopri
import random
import re
from collections.abc import Callable

import pytest

from parsers import ParseOptions, parse_message
from parsers.charsets import decode_bytes
from parsers.mime import decode_message

HEAD = b"From: a@musterhausen.de\r\nSubject: x\r\nMIME-Version: 1.0\r\n"

TEXTS = {
    "german": "Viele Grüße aus dem Bauamt",
    "korean": "안녕하세요, 감사합니다. 시청에서 인사드립니다",
    "template": "Was: Sommerfest\nWann: 3.7.2027\nWo: Marktplatz\nWer: Bauamt\nWie viele: 80",
}
#: Greetings of 7, 8 and 9 bytes: the payload's length is 0, 1 and 2 modulo 3 for each text.
GREETINGS = ("Hallo,\n", "Hallo!,\n", "Hallo!!,\n")


def _b64_junk(data: bytes) -> bytes:
    """Base64 with stray whitespace and characters outside the alphabet, broken into odd
    line lengths, unpadded."""
    encoded = base64.b64encode(data).rstrip(b"=")
    out = bytearray()
    for i, byte in enumerate(encoded):
        out.append(byte)
        if i % 7 == 6:
            out += b" \t!*\r\n"
    return bytes(out)


def _b64_chunked(data: bytes) -> bytes:
    """Each 10-byte chunk encoded on its own, with its own padding (some senders do this)."""
    return b"\r\n".join(base64.b64encode(data[i : i + 10]) for i in range(0, len(data), 10))


def _qp_short_lines(data: bytes) -> bytes:
    """Quoted-printable with a soft line break after every third character (escapes kept
    whole), the last one right at the end of the body."""
    tokens = re.findall(rb"=[0-9A-F]{2}|=\r?\n|.|\n", quopri.encodestring(data), re.DOTALL)
    return b"".join(t + (b"=\r\n" if i % 3 == 2 else b"") for i, t in enumerate(tokens)) + b"="


ENCODERS: dict[str, tuple[bytes, Callable[[bytes], bytes]]] = {
    "7bit": (b"7bit", lambda d: d.replace(b"\n", b"\r\n")),
    "8bit": (b"8bit", lambda d: d.replace(b"\n", b"\r\n")),
    "none": (b"", lambda d: d.replace(b"\n", b"\r\n")),
    "qp": (b"quoted-printable", lambda d: quopri.encodestring(d)),
    "qp-short-lines": (b"quoted-printable", _qp_short_lines),
    "qp-soft-break-last": (b"quoted-printable", lambda d: quopri.encodestring(d) + b"=\r\n"),
    "base64": (b"base64", base64.encodebytes),
    "base64-one-line": (b"base64", base64.b64encode),
    "base64-unpadded": (b"base64", lambda d: base64.encodebytes(d).replace(b"=", b"")),
    "base64-unpadded-one-line": (b"base64", lambda d: base64.b64encode(d).rstrip(b"=")),
    "base64-junk": (b"base64", _b64_junk),
    "base64-chunked": (b"base64", _b64_chunked),
}


def _mail(cte: bytes, body: bytes, newline_after: bool) -> bytes:
    header = b"Content-Type: text/plain; charset=utf-8\r\n"
    if cte:
        header += b"Content-Transfer-Encoding: " + cte + b"\r\n"
    return HEAD + header + b"\r\n" + body + (b"\r\n" if newline_after else b"")


def test_the_greetings_cover_every_tail_length() -> None:
    for text in TEXTS.values():
        tails = {len((greeting + text).encode()) % 3 for greeting in GREETINGS}
        assert tails == {0, 1, 2}


@pytest.mark.parametrize("newline_after", [False, True], ids=["no-newline", "newline"])
@pytest.mark.parametrize("greeting", GREETINGS, ids=["mod-a", "mod-b", "mod-c"])
@pytest.mark.parametrize("text_name", list(TEXTS))
@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_every_transfer_encoding_keeps_every_character(
    encoding: str, text_name: str, greeting: str, newline_after: bool
) -> None:
    original = greeting + TEXTS[text_name]
    cte, encode = ENCODERS[encoding]
    raw = _mail(cte, encode(original.encode()), newline_after)
    msg = decode_message(raw, ParseOptions())
    assert msg.text.rstrip("\n") == original
    assert msg.warnings == ()


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_a_value_in_the_last_line_is_parsed(encoding: str) -> None:
    cte, encode = ENCODERS[encoding]
    raw = _mail(cte, encode(TEXTS["template"].encode()), newline_after=False)
    (topic,) = parse_message(raw, ParseOptions()).topics
    assert topic.how_many is not None
    assert (topic.how_many.text, topic.how_many.min) == ("80", 80)
    assert topic.who == "Bauamt"


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (b"QUJD", b"ABC"),
        (b"QUJDRA==", b"ABCD"),
        (b"QUJDRA=", b"ABCD"),
        (b"QUJDRA", b"ABCD"),
        (b"QUJDREU", b"ABCDE"),
        (b"QUJDREU=", b"ABCDE"),
        (b"QUJDR", b"ABC"),  # a single character left over carries no whole byte
        (b"QUJDREU=QUJD", b"ABCDEABC"),  # two encodings glued together
        (b"QQ==QUI=QUJD", b"AABABC"),
        (b"QU\r\nJD\r\nRE\r\nU\r\n", b"ABCDE"),
        (b"Q U J D R E U ! *", b"ABCDE"),
        (b"=QUJD", b"ABC"),
        (b"====", b""),
        (b"", b""),
    ],
)
def test_lenient_base64_keeps_every_decodable_byte(encoded: bytes, expected: bytes) -> None:
    raw = (
        HEAD
        + b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="x.bin"\r\n\r\n'
        + encoded
    )
    text_raw = raw.replace(b"application/octet-stream", b"text/plain; charset=latin-1").replace(
        b'Content-Disposition: attachment; filename="x.bin"\r\n', b""
    )
    assert decode_message(text_raw, ParseOptions()).text == expected.decode("latin-1")


def test_a_multibyte_character_at_the_very_end_survives_unpadded_base64() -> None:
    korean = "회의는 3월에 열립니다"
    for cut in range(1, 4):
        text = korean[: len(korean) - cut + 1]
        raw = _mail(b"base64", base64.b64encode(text.encode()).rstrip(b"="), False)
        assert decode_message(raw, ParseOptions()).text == text


# -- charsets -----------------------------------------------------------------------------


def _oracle_handler(err: UnicodeError) -> tuple[str, int]:
    """The per-error handler the fast decoder replaced: the bad bytes as Windows-1252."""
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return bytes(bad).decode("cp1252", errors="replace").replace("\ufffd", ""), err.end


codecs.register_error("test-oracle-cp1252", _oracle_handler)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("declared", [None, "utf-8", "iso-8859-1", "windows-1252", "us-ascii"])
def test_invalid_utf8_decodes_as_the_byte_by_byte_fallback_did(
    seed: int, declared: str | None
) -> None:
    rnd = random.Random(seed)
    pieces = ["Grüße", "€", "안녕", "\ud7ff", "x", " ", "\n", "😀"]
    data = b"".join(
        rnd.choice(pieces).encode() if rnd.random() < 0.6 else bytes([rnd.randrange(256)])
        for _ in range(300)
    )
    assert decode_bytes(data, declared) == data.decode("utf-8", errors="test-oracle-cp1252")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xed\xa0\x80", "í\xa0€"),  # an encoded surrogate is no valid UTF-8
        (b"\x81\x8d\x8f\x90\x9d", ""),  # bytes Windows-1252 leaves undefined are dropped
        (b"ok \xe2\x82", "ok â‚"),
        (b"\xf4\x90\x80\x80", "ô€€"),  # beyond U+10FFFF
    ],
)
def test_invalid_utf8_edge_cases(data: bytes, expected: str) -> None:
    assert decode_bytes(data, "utf-8") == expected
    assert decode_bytes(data, "utf-8") == data.decode("utf-8", errors="test-oracle-cp1252")
