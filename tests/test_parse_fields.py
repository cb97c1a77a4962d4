"""Header fields read straight from a mail's bytes (parsers.fields), and what storing takes
from them, compared with what the email package reads out of the same bytes."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest

from bot.errors import one_line
from bot.listening.fetch import _headers
from parsers.fields import HEAD_LIMIT, header_block, header_fields

FIXTURES = Path(__file__).parent / "fixtures" / "parse"


def test_values_in_order_unfolded_whatever_the_case_of_the_name() -> None:
    raw = (b"Received: from a\r\n\tby b\r\nSUBJECT: Erste\r\n Zeile\r\n"
           b"received: from c\r\nX-Empty:\r\n\r\nReceived: im Text\r\n")
    fields = header_fields(raw, ["Received", "subject", "x-empty", "to"])
    assert fields == {"received": ["from a\tby b", "from c"], "subject": ["Erste Zeile"],
                      "x-empty": [""], "to": []}


def test_eight_bit_values_are_decoded_and_encoded_words_kept() -> None:
    raw = ("From: \"Köhler, Jörg\" <j@x.de>\nSubject: =?utf-8?q?f=C3=BCr?= x\n\nText\n"
           .encode())
    assert header_fields(raw, ["from", "subject"]) == {
        "from": ["\"Köhler, Jörg\" <j@x.de>"], "subject": ["=?utf-8?q?f=C3=BCr?= x"]}
    # Outlook in Windows-1252 without declaring it
    assert header_fields(b"From: Kr\xfcger <k@x.de>\r\n\r\n", ["from"]) == {
        "from": ["Krüger <k@x.de>"]}


@pytest.mark.parametrize(("raw", "block"), [
    # an mbox line first, then the fields up to the blank line
    (b"From bot@x.de Mon Jan  4 09:00:00 2027\nTo: a@x.de\n\nFrom: b@x.de\n",
     b"From bot@x.de Mon Jan  4 09:00:00 2027\nTo: a@x.de\n"),
    (b"To: a@x.de\r\n\r\nFrom: b@x.de\r\n", b"To: a@x.de\r\n"),
    (b"To: a@x.de", b"To: a@x.de"),  # no body at all
    (b"\r\nTo: a@x.de\r\n", b""),  # a body only
])
def test_the_block_ends_where_the_email_package_ends_it(raw: bytes, block: bytes) -> None:
    assert header_block(raw) == block
    package = BytesHeaderParser(policy=compat32).parsebytes(raw)
    assert [name.lower() for name in package] == \
        [name for name in ("to",) if b"To:" in block]


@pytest.mark.parametrize("raw", [
    # a line the email package skips (no name), then more fields
    b"Subject: s\n:kaputt\nFrom: a@b.de\nAuthentication-Results: mx; dmarc=fail\n\nText\n",
    # a second mbox line inside the block
    b"Subject: s\nFrom nobody Mon Jan  4 09:00:00 2027\nFrom: a@b.de\n\nText\n",
    # lines ending in a bare CR (old Macs), also before the field that matters
    b"X-A: a\rAuthentication-Results: mx; dmarc=fail\r\n\r\nText\r\n",
    b"Message-ID: <a@b>\rFrom: x@y.de\rSubject: Hallo\r\rBody text",
    b"Subject: echt\r\r\nFrom: body@evil.example\r\n",
    # the body begins without a blank line
    b"Subject: s\nFrom: a@b.de\nHallo zusammen\nFrom: b@evil.example\n",
])
def test_a_block_that_is_not_well_formed_is_read_as_the_email_package_reads_it(
        raw: bytes) -> None:
    assert header_block(raw) is None
    names = ["from", "subject", "message-id", "authentication-results"]
    package = BytesHeaderParser(policy=compat32).parsebytes(raw)
    expected = {name: [one_line(v) for v in package.get_all(name) or []] for name in names}
    got = header_fields(raw, names)
    assert {name: [one_line(v) for v in values] for name, values in got.items()} == expected


def test_a_header_block_beyond_the_limit_is_cut() -> None:
    raw = b"".join(b"X-Filler-%06d: %s\r\n" % (n, b"y" * 60) for n in range(5000))
    raw += b"Message-ID: <late@x.de>\r\n\r\nText\r\n"
    assert len(header_block(raw) or b"") == HEAD_LIMIT
    assert header_fields(raw, ["message-id"]) == {"message-id": []}
    # unless the whole block is asked for
    assert header_fields(raw, ["message-id"], limit=None) == {"message-id": ["<late@x.de>"]}


def test_stored_fields_are_what_the_email_package_reads_for_every_fixture() -> None:
    mails = sorted(FIXTURES.glob("*.eml"))
    assert len(mails) > 150
    for path in mails:
        raw = path.read_bytes()
        package = BytesHeaderParser(policy=compat32).parsebytes(raw)
        expected = tuple(one_line(package.get(name)) or None
                         for name in ("Message-ID", "From", "Subject"))
        got = _headers(raw)
        if any("\ufffd" in (value or "") for value in expected):
            # the package keeps undeclared 8-bit text as replacement characters; here it is
            # decoded (UTF-8, else Windows-1252): the ASCII around it must be the same
            assert not any("\ufffd" in (value or "") for value in got), path.name
            assert [_ascii(v) for v in got] == [_ascii(v) for v in expected], path.name
            continue
        assert got == expected, path.name


def _ascii(value: str | None) -> str | None:
    return None if value is None else "".join(ch for ch in value if ch.isascii())
