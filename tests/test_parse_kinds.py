"""Automatic mail: out-of-office replies and bounces, by headers, subject and body."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers import parse_message
from parsers.kinds import kind_from_body

MIME = Path(__file__).parent / "fixtures" / "mime"


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("outlook_oof_automatische_antwort.eml", "auto_reply"),
        ("notes_oof_subject_only.eml", "auto_reply"),
        ("postfix_bounce_undelivered_mail.eml", "bounce"),
        ("exchange_unzustellbar_de.eml", "bounce"),
    ],
)
def test_automatic_mail_fixtures(fixture: str, kind: str) -> None:
    result = parse_message((MIME / fixture).read_bytes())
    assert result.kind == kind
    assert result.topics == ()


def test_x_auto_response_suppress_alone_is_not_an_auto_reply() -> None:
    result = parse_message((MIME / "normal_reply_with_x_auto_response_suppress.eml").read_bytes())
    assert result.kind not in ("auto_reply", "bounce")
    assert "Lesenacht in der Stadtbibliothek" in result.reply_text


def _mail(headers: str, body: str = "Hallo") -> bytes:
    return (
        "From: Anna Schmidt <anna.schmidt@musterhausen.de>\r\n"
        + headers
        + "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + body
    ).encode()


@pytest.mark.parametrize(
    "headers",
    [
        "Subject: Re: Themen\r\nAuto-Submitted: auto-replied\r\n",
        "Subject: Re: Themen\r\nAuto-Submitted: auto-generated; owner-email=x@y\r\n",
        "Subject: Re: Themen\r\nX-Autoreply: yes\r\n",
        "Subject: Re: Themen\r\nX-Autorespond: Urlaub\r\n",
        "Subject: Re: Themen\r\nPrecedence: auto_reply\r\n",
        "Subject: Re: Themen\r\nPrecedence: bulk\r\n",
        "Subject: Re: Themen\r\nPrecedence: junk\r\n",
        "Subject: Automatic reply: Themen\r\n",
        "Subject: Out of Office: Themen\r\n",
        "Subject: AW: Themen (Abwesenheit)\r\n",
        "Subject: Autoreply: Themen\r\n",
    ],
)
def test_auto_reply_headers_and_subjects(headers: str) -> None:
    assert parse_message(_mail(headers)).kind == "auto_reply"


@pytest.mark.parametrize(
    "headers",
    [
        "Subject: Re: Themen\r\nAuto-Submitted: no\r\n",
        "Subject: Re: Themen\r\nPrecedence: list\r\n",
        "Subject: Re: Themen\r\nX-Auto-Response-Suppress: All\r\n",
        "Subject: Abwasser-Infotag\r\n",
    ],
)
def test_not_automatic(headers: str) -> None:
    assert parse_message(_mail(headers)).kind not in ("auto_reply", "bounce")


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Unzustellbar: Themen",
        "Undeliverable: Themen",
    ],
)
def test_bounce_subjects(subject: str) -> None:
    assert parse_message(_mail(f"Subject: {subject}\r\n")).kind == "bounce"


def test_mailer_daemon_sender_is_a_bounce() -> None:
    raw = b"From: MAILER-DAEMON@mx.example.org\r\nSubject: failure\r\n\r\nsorry"
    assert parse_message(raw).kind == "bounce"


def test_x_failed_recipients_is_a_bounce() -> None:
    assert parse_message(_mail("Subject: x\r\nX-Failed-Recipients: a@b.de\r\n")).kind == "bounce"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Ich bin bis zum 22.01. nicht im Büro und lese keine E-Mails.", "auto_reply"),
        ("I am currently out of the office until Monday.", "auto_reply"),
        ("Ich befinde mich bis 15.03. im Urlaub.", "auto_reply"),
        ("Diese Nachricht wurde nicht zugestellt.", "bounce"),
        ("Hier unser Thema: Stadtfest am 12.03.", None),
        ("Ich bin im Büro erreichbar, rufen Sie gern an.", None),
    ],
)
def test_kind_from_body(text: str, kind: str | None) -> None:
    assert kind_from_body(text) == kind


def test_body_out_of_office_without_headers() -> None:
    raw = _mail("Subject: Re: Themen\r\n", "Ich bin bis einschließlich 22.01. nicht im Büro.")
    assert parse_message(raw).kind == "auto_reply"
