"""MIME delimiters matched without a pattern compiled per multipart (parsers.delimiters):
the same matches as the standard library's own expression, and the same parsed mails."""

from __future__ import annotations

import email
import email.feedparser
import re
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from pathlib import Path

import pytest

from parsers import delimiters

TESTS = Path(__file__).parent
BOUNDARIES = ["000000000000000000", "----=_NextPart_000_0012_01DB1F2A.3C4D5E60",
              "Apple-Mail=_2F1E3D4C-5B6A-4798-8A9B-0C1D2E3F4A5B", "b1_a.b+c?d(e)f*g|h$",
              "=_alternative 00455E2AC1258A1F_=", "x", "tab\tin it", "[]{}^\\", "--"]
LINES = ["", "\n", "\r\n", "text\n", "--", "----", "-- \n"]


def _stdlib(boundary: str) -> re.Pattern[str]:
    separator = "--" + boundary
    return re.compile("(?P<sep>" + re.escape(separator) +
                      r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")


def _lines(boundary: str) -> Iterator[str]:
    separator = "--" + boundary
    for tail in ("", "--", " ", "\t \t", "--  ", "x", "--x", " x", "-", "---"):
        for end in ("", "\n", "\r\n", "\r", "\n\n", "\r\n\r\n", "\r\r"):
            yield separator + tail + end
            yield " " + separator + tail + end
            yield separator[:-1] + tail + end
    yield from LINES


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_delimiter_matches_what_the_standard_librarys_expression_matches(
        boundary: str) -> None:
    expected = _stdlib(boundary)
    ours = delimiters._FeedParserRe.compile(expected.pattern)
    assert isinstance(ours, delimiters.Delimiter)
    for line in _lines(boundary):
        want, got = expected.match(line), ours.match(line)
        assert (want is None) == (got is None), repr(line)
        if want is not None and got is not None:
            for group in ("end", "ws", "linesep"):
                assert want.group(group) == got.group(group), (repr(line), group)
            assert want.end() == got.end()


@pytest.mark.parametrize("pattern", [
    r"(?P<sep>--a)(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$x",  # another tail
    r"(?P<sep>--a.b)(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$",  # not escaped
    r"\r\n|\r|\n",
])
def test_any_other_pattern_is_compiled_by_re(pattern: str) -> None:
    compiled = delimiters._FeedParserRe.compile(pattern)
    assert isinstance(compiled, re.Pattern)
    assert compiled.pattern == pattern


@contextmanager
def _plain_re() -> Iterator[None]:
    shim = email.feedparser.re  # type: ignore[attr-defined]
    email.feedparser.re = re  # type: ignore[attr-defined]
    try:
        yield
    finally:
        email.feedparser.re = shim  # type: ignore[attr-defined]


def _structure(msg: email.message.Message) -> list[tuple[object, ...]]:
    return [(part.get_content_type(), part.preamble, part.epilogue,
             part.get_payload(decode=True) if not part.is_multipart() else None,
             [type(d).__name__ for d in part.defects]) for part in msg.walk()]


def test_every_stored_mail_parses_to_the_same_message_as_with_re_itself() -> None:
    import parsers.mime  # noqa: F401  (installs the stand-in, as the parser does)

    assert isinstance(email.feedparser.re, delimiters._FeedParserRe)  # type: ignore[attr-defined]
    mails = sorted(p for p in TESTS.glob("**/*.eml") if p.is_file())
    assert len(mails) > 400
    multiparts = 0
    for path in mails:
        raw = path.read_bytes()
        ours = email.message_from_bytes(raw, policy=policy.compat32)
        with _plain_re():
            theirs = email.message_from_bytes(raw, policy=policy.compat32)
        assert _structure(ours) == _structure(theirs), path
        multiparts += ours.is_multipart()
    assert multiparts > 100
