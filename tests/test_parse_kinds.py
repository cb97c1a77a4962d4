"""Automatic mail: out-of-office replies and bounces, by headers, subject and body."""

from __future__ import annotations

from pathlib import Path

import pytest

import parsers
from parsers import ParseOptions, parse_message
from parsers.kinds import kind_from_body, kind_from_headers
from parsers.mime import decode_message

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


def _multipart(headers: str, content_type: str, parts: list[tuple[str, str]]) -> bytes:
    body = "".join(f"--b1\r\nContent-Type: {ctype}\r\n\r\n{text}\r\n" for ctype, text in parts)
    return (
        headers + "MIME-Version: 1.0\r\n"
        f'Content-Type: {content_type}; boundary="b1"\r\n\r\n{body}--b1--\r\n'
    ).encode()


_RETURNED = (
    "message/rfc822",
    "From: anna.schmidt@musterhausen.de\r\nTo: max@example.org\r\nSubject: Themen\r\n\r\n"
    "Was: Stadtfest\r\nWann: 12.03.2027",
)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        # multipart/report without a report-type parameter: sender and subject still decide
        (
            _multipart(
                "From: Mail Delivery System <Mail.Delivery.System@mx.example.com>\r\n"
                "Subject: Delivery status notification\r\n",
                "multipart/report",
                [("text/plain", "Delivery to the following recipients failed permanently:"),
                 _RETURNED],
            ),
            "bounce",
        ),
        # a provider's failure notice from a no-reply address with the original attached
        (
            _multipart(
                "From: no-reply@mail.example.jp\r\n"
                "Subject: =?UTF-8?B?44Oh44O844Or44Ko44Op44O8?=\r\n",
                "multipart/mixed",
                [("text/plain", "Your mail sent on: Thu, 29 Apr 2013 23:45:22 +0900\r\n"
                  "     Could not be delivered to: <max@example.org>\r\n"
                  "     As their mailbox is full."),
                 _RETURNED],
            ),
            "bounce",
        ),
        # a no-reply sender with an attached message but no failure wording: a newsletter
        (
            _multipart(
                "From: noreply@musterhausen.de\r\nSubject: Ihre Anmeldung\r\n",
                "multipart/mixed",
                [("text/plain", "Anbei Ihre Anmeldung zum Stadtfest am 12.03.2027."), _RETURNED],
            ),
            None,
        ),
        # a colleague forwarding a failure notice as an attachment: not decided by headers
        (
            _multipart(
                "From: Anna Schmidt <anna.schmidt@musterhausen.de>\r\nSubject: WG: Fehler\r\n",
                "multipart/mixed",
                [("text/plain", "Das kam zurück: could not be delivered to: <max@example.org>"),
                 _RETURNED],
            ),
            None,
        ),
        # read receipts stay no bounce
        (
            _multipart(
                "From: Anna Schmidt <anna.schmidt@musterhausen.de>\r\nSubject: Gelesen: Themen\r\n",
                'multipart/report; report-type="disposition-notification"',
                [("text/plain", "Ihre Nachricht wurde gelesen."),
                 ("message/disposition-notification",
                  "Disposition: manual-action/MDN-sent-manually; displayed")],
            ),
            "auto_reply",
        ),
    ],
)
def test_bounce_by_structure_and_sender(raw: bytes, kind: str | None) -> None:
    assert kind_from_headers(decode_message(raw, ParseOptions())) == kind


# -- automatic: may the bot answer this mail at all? ----------------------------------------

_TOPIC = "Was: Stadtfest\r\nWann: 12.03.2027\r\nWo: Marktplatz\r\n"


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        # a rule forwarded a person's mail: automatic, but its content decides the kind
        ("Subject: WG: Ihre Themen\r\nAuto-Submitted: auto-forwarded\r\n", "topics"),
        # Exchange inbox rule forward
        ("Subject: WG: Ihre Themen\r\nX-MS-Exchange-Inbox-Rules-Loop: anna@musterhausen.de\r\n",
         "topics"),
        # through a mailing list (Mailman, Google Groups, Sympa)
        ("Subject: Re: Ihre Themen\r\nList-Id: <kultur.lists.musterhausen.de>\r\n", "topics"),
        ("Subject: Re: Ihre Themen\r\nList-Unsubscribe: <mailto:leave@lists.example.org>\r\n",
         "topics"),
        ("Subject: Re: Ihre Themen\r\nPrecedence: list\r\n", "topics"),
        # the null sender: only the mail system sends from <>
        ("Subject: Re: Ihre Themen\r\nReturn-Path: <>\r\n", "topics"),
        # RFC 3834 keywords other than auto-forwarded are auto-replies anyway
        ("Subject: Re: Ihre Themen\r\nAuto-Submitted: auto-generated\r\n", "auto_reply"),
        ("Subject: Re: Ihre Themen\r\nAuto-Submitted: auto-notified\r\n", "auto_reply"),
        ("Subject: Re: Ihre Themen\r\nPrecedence: bulk\r\n", "auto_reply"),
        ("Subject: Re: Ihre Themen\r\nX-Autoreply: yes\r\n", "auto_reply"),
    ],
)  # fmt: skip
def test_automatic_mail(headers: str, kind: str) -> None:
    result = parse_message(_mail(headers, _TOPIC))
    assert result.automatic is True
    assert result.kind == kind


@pytest.mark.parametrize(
    "headers",
    [
        "Subject: AW: Ihre Themen\r\n",
        "Subject: AW: Ihre Themen\r\nAuto-Submitted: no\r\n",
        "Subject: AW: Ihre Themen\r\nAuto-Submitted: No (manually sent)\r\n",
        # Outlook adds this to ordinary mail; alone it says nothing
        "Subject: AW: Ihre Themen\r\nX-Auto-Response-Suppress: All\r\n",
        "Subject: AW: Ihre Themen\r\nX-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\r\n",
        "Subject: AW: Ihre Themen\r\nX-Autoreply: no\r\n",
        "Subject: AW: Ihre Themen\r\nReturn-Path: <anna.schmidt@musterhausen.de>\r\n",
        "Subject: AW: Ihre Themen\r\nPrecedence: normal\r\n",
    ],
)
def test_a_persons_reply_is_not_automatic(headers: str) -> None:
    result = parse_message(_mail(headers, _TOPIC))
    assert result.automatic is False
    assert result.kind == "topics"


def test_auto_replies_and_bounces_are_always_automatic() -> None:
    # found by their wording alone, without any header
    oof = _mail("Subject: AW: Ihre Themen\r\n", "Ich bin bis zum 22.01. nicht im Büro.")
    bounce = _mail("Subject: Fehler\r\n", "Diese Nachricht wurde nicht zugestellt.")
    assert parse_message(oof).kind == "auto_reply"
    assert parse_message(oof).automatic is True
    assert parse_message(bounce).kind == "bounce"
    assert parse_message(bounce).automatic is True


def test_normal_reply_fixture_with_x_auto_response_suppress_is_not_automatic() -> None:
    result = parse_message((MIME / "normal_reply_with_x_auto_response_suppress.eml").read_bytes())
    assert result.automatic is False


def test_a_failure_after_classifying_keeps_the_kind_and_answers_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object) -> None:
        raise ValueError("kaputt")

    monkeypatch.setattr(parsers, "find_tag", broken)
    result = parse_message(_mail("Subject: AW: Ihre Themen\r\n", _TOPIC))
    assert result.kind == "topics"
    assert result.automatic is True
    assert result.warnings[-1].startswith("Auswertung fehlgeschlagen (Zuordnung): ValueError")
