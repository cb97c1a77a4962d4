"""Outgoing mail headers (pure): identity, encoding, no header injection; retry backoff."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.header import decode_header, make_header
from email.mime.text import MIMEText
from email.utils import formataddr
from itertools import takewhile

import pytest

from bot.mailer import (
    _WIRE,
    TAG_ALPHABET,
    build_mail,
    needs_smtputf8,
    new_message_id,
    new_tag,
    one_line,
    subject_tag,
    wire_address,
)
from bot.outbox import MAX_RETRY, backoff
from mailtemplates import RenderedMail

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


def build(**kwargs: object) -> bytes:
    args: dict[str, object] = {
        "rendered": RenderedMail("Ihre Themen für März – Bauamt [Themen 2027-03 #K7Q2]",
                                 "Guten Tag,\nÄÖÜß\n", "<p>Guten Tag</p>"),
        "from_address": "themen@musterhausen.de", "from_name": "Social-Media-Team",
        "to_address": "erika@musterhausen.de", "to_name": "Erika Muster",
        "message_id": "<req-1@musterhausen.de>", "date": NOW,
    }
    args.update(kwargs)
    return build_mail(**args)  # type: ignore[arg-type]


def test_a_newline_in_a_name_cannot_inject_a_header() -> None:
    raw = build(to_name="Erika\r\nBcc: evil@example.org", from_name="Team\nX-Evil: 1")
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["To"] == '"Erika Bcc: evil@example.org" <erika@musterhausen.de>'
    assert b"\nBcc:" not in raw and b"\nX-Evil:" not in raw


def test_a_newline_in_the_subject_stays_in_the_subject() -> None:
    raw = build(rendered=RenderedMail("Themen\r\nBcc: evil@example.org", "x\n", "<p>x</p>"))
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Themen Bcc: evil@example.org"
    assert msg["Bcc"] is None


def test_umlauts_are_rfc2047_encoded_and_round_trip() -> None:
    raw = build(to_name="Jörg Überall", from_name="Stadt Müsterhausen")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(byte < 128 for byte in head)
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["To"] == "Jörg Überall <erika@musterhausen.de>"
    assert msg["Subject"] == "Ihre Themen für März – Bauamt [Themen 2027-03 #K7Q2]"


@pytest.mark.parametrize("suppress, expected", [(False, None), (True, "OOF")])
def test_auto_headers(suppress: bool, expected: str | None) -> None:
    msg = email.message_from_bytes(build(suppress_oof=suppress), policy=policy.default)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == expected


def test_threading_headers() -> None:
    msg = email.message_from_bytes(build(in_reply_to="<req-1@x>", references=["<req-1@x>"]),
                                   policy=policy.default)
    assert msg["In-Reply-To"] == "<req-1@x>"
    assert msg["References"] == "<req-1@x>"


def test_tags_and_message_ids() -> None:
    tags = {new_tag() for _ in range(200)}
    assert len(tags) > 190
    assert all(len(t) == 4 and set(t) <= set(TAG_ALPHABET) for t in tags)
    assert not set("01OIL") & set(TAG_ALPHABET)
    assert subject_tag("2027-01", "K7Q2") == "[Themen 2027-01 #K7Q2]"
    mid = new_message_id("req", "musterhausen.de", "2027-01-K7Q2")
    assert mid.startswith("<req-2027-01-K7Q2.") and mid.endswith("@musterhausen.de>")
    assert new_message_id("req", "x.de") != new_message_id("req", "x.de")


def test_one_line() -> None:
    assert one_line(" Erika\r\n\tMuster\x00 ") == "Erika Muster"
    assert one_line(None) == ""


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert backoff(30) == MAX_RETRY


def test_an_internationalised_address_goes_into_a_utf8_header() -> None:
    """No RFC 2047 form exists for `jürgen.groß@...`: the header is raw UTF-8 (RFC 6532),
    to be sent with SMTPUTF8; an ASCII address keeps the 7-bit header."""
    raw = build(to_address="jürgen.groß@musterhausen.de", to_name="Groß, Jürgen")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert '\r\nTo: "Groß, Jürgen" <jürgen.groß@musterhausen.de>\r\n'.encode() in head
    assert b"\r\nFrom: Social-Media-Team <themen@musterhausen.de>\r\n" in head
    assert b"=?utf-8?q?Ihre_Themen" in head  # the subject is encoded as before
    raw = build(to_address="jürgen.groß@musterhausen.de", to_name=None)
    assert "\r\nTo: jürgen.groß@musterhausen.de\r\n".encode() in raw
    assert all(byte < 128 for byte in build().split(b"\r\n\r\n", 1)[0])
    assert needs_smtputf8("jürgen.groß@musterhausen.de")
    assert not needs_smtputf8("erika@musterhausen.de")


def test_a_domain_beyond_ascii_goes_out_in_its_ascii_form() -> None:
    """IDNA gives every domain an ASCII form, so only the local part can need SMTPUTF8."""
    raw = build(to_address="info@stadtwerke-müllheim.de", to_name="Jörg Überall")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(byte < 128 for byte in head)
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["To"] == "Jörg Überall <info@xn--stadtwerke-mllheim-x6b.de>"
    assert wire_address("info@stadtwerke-müllheim.de") == "info@xn--stadtwerke-mllheim-x6b.de"
    assert not needs_smtputf8(wire_address("info@stadtwerke-müllheim.de"))
    assert wire_address("jürgen.groß@müllheim.de") == "jürgen.groß@xn--mllheim-n2a.de"
    assert wire_address("erika@musterhausen.de") == "erika@musterhausen.de"


@pytest.mark.parametrize("name, value", [
    ("Message-ID", "<req-1@musterhausen.de>"),
    ("References", " ".join(f"<followup-{n}.0123456789abcdef@musterhausen.de>"
                            for n in range(4))),
    ("X-Note", "x" * 76),  # one column too many for its line: folded the long way
    ("X-Note", "genau  zwei  Leerzeichen"),
    ("Subject", "Ihre Themen für März"),
    ("To", "Jürgen Groß <juergen@musterhausen.de>"),
    # encoded by formataddr, not by the mailer: folded by compat32 as before
    ("To", formataddr(("Dr. Hans-Jürgen Müller-Lüdenscheidt, Straßenverkehrsbehörde",
                       "h.mueller@musterhausen.de"), charset="utf-8")),
])
def test_headers_come_out_as_compat32_writes_them(name: str, value: str) -> None:
    """The wire policy's short cut for short ASCII headers writes what compat32 writes."""
    msg = MIMEText("Guten Tag", "plain", "utf-8")
    msg[name] = value
    plain = policy.compat32.clone(linesep="\r\n", max_line_length=78)
    assert msg.as_bytes(policy=_WIRE) == msg.as_bytes(policy=plain)


def test_each_mail_has_its_own_boundary_that_no_body_line_contains() -> None:
    first, second = build(), build()
    boundaries = [email.message_from_bytes(raw).get_boundary() for raw in (first, second)]
    assert boundaries[0] and boundaries[1] and boundaries[0] != boundaries[1]
    body = first.split(b"\r\n\r\n", 1)[1]
    lines = [line for line in body.split(b"\r\n") if boundaries[0].encode() in line]
    assert lines and all(line.strip(b"-") == boundaries[0].encode() for line in lines)
    parsed = email.message_from_bytes(first, policy=policy.default)
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/alternative", "text/plain", "text/html"]


@pytest.mark.parametrize("subject", [
    "Ihre Themen für März – Bauamt [Themen 2027-03 #K7Q2]",
    "Rückfrage zu „Tag der offenen Tür“ und 3 weiteren Themen – Kita Sonnenschein [Themen "
    "2027-03 #K7Q2]",
    "Ä" * 120,
    "🎉 Stadtfest 2027: 100 % Vorfreude, _Unterstriche_ = Gleichheit? Ja! (a/b) [x] ñ €",
    "Grüße" + " aus dem Bürgerbüro" * 12,
    "é",
])
def test_a_subject_beyond_ascii_is_encoded_in_whole_characters_within_the_line_limits(
        subject: str) -> None:
    raw = build(rendered=RenderedMail(subject, "Guten Tag", "<p>Guten Tag</p>"))
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    lines = head.split("\r\n")
    start = next(k for k, line in enumerate(lines) if line.startswith("Subject: "))
    field = [lines[start], *takewhile(lambda line: line.startswith(" "), lines[start + 1:])]
    assert all(len(line) <= 78 for line in field), field
    words = re.findall(r"=\?utf-8\?q\?([^?]*)\?=", " ".join(field))
    assert words and all(len(w) + len("=?utf-8?q??=") <= 75 for w in words)
    for word in words:  # each word alone is whole characters (RFC 2047, 5)
        decode_header(f"=?utf-8?q?{word}?=")[0][0].decode("utf-8")
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == subject
    assert str(make_header(decode_header(" ".join(field)[len("Subject: "):]))) == subject


def test_bodies_and_attachments_come_back_whole() -> None:
    """Text with what quoted-printable must encode (umlauts, "=", trailing blanks, a long
    line, a lone dot, CR LF) and attachments with awkward names read back unchanged."""
    text = ("Grüße aus dem Bürgerbüro = Rathaus  \n.\nZeile mit Tab\t\n"
            + "Sehr lange Zeile ohne Umbruch, " * 10 + "Ende\r\nWindows-Zeile\n")
    html = "<p>Straßenfest &amp; Flohmarkt</p>\n<p>" + "ä" * 200 + "</p>"
    ics = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    photo = bytes(range(256)) * 40
    raw = build(rendered=RenderedMail("Wochenübersicht", text, html), attachments=[
        ("themenplan.ics", "text/calendar; charset=utf-8; method=PUBLISH", ics),
        ("Übergabe Spende – Foto.jpg", "image/jpeg", photo)])
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["MIME-Version"] == "1.0"
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html",
        "text/calendar", "image/jpeg"]
    plain, rich, calendar, image = (p for p in parsed.walk() if not p.is_multipart())
    # on the wire every line ends in CR LF; read back, a line is a line
    assert plain.get_content().replace("\r\n", "\n") == text.replace("\r\n", "\n")
    assert rich.get_content().replace("\r\n", "\n") == html
    assert calendar.get_filename() == "themenplan.ics"
    assert calendar.get_param("method") == "PUBLISH"
    assert calendar.get_payload(decode=True) == ics
    assert image.get_filename() == "Übergabe Spende – Foto.jpg"
    assert image.get_payload(decode=True) == photo
