"""Bounces: the failed recipients, whether for good, and the Message-ID that came back."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from parsers import ParseResult, SubjectTag, parse_message

MIME = Path(__file__).parent / "fixtures" / "mime"
CORPUS = Path(__file__).resolve().parent / "corpus"
BOT = "themen@musterhausen.de"


def _parse(name: str) -> ParseResult:
    return parse_message((MIME / name).read_bytes())


# -- complete fixtures ------------------------------------------------------------------------


def test_postfix_dsn_for_a_request_the_bot_sent() -> None:
    result = _parse("postfix_dsn_request_bounced.eml")
    assert result.kind == "bounce"
    assert result.bounced_recipients == ("m.weber@stadtwerke-musterhausen.de",)
    assert result.bounce_permanent is True
    assert result.returned_message_id == "<req-2027-01-K7Q2.5f1c9a7e20b3d841@musterhausen.de>"
    # the bounce's own subject has no tag: the returned request's (RFC 2047, split mid-tag) has
    assert result.subject_tag == SubjectTag(month="2027-01", code="K7Q2")
    assert result.automatic is True


def test_exchange_ndr_in_german_with_a_delivery_status_part() -> None:
    result = _parse("exchange_ndr_de_delivery_status.eml")
    assert result.kind == "bounce"
    assert result.bounced_recipients == ("hans.mueller@musterhausen.de",)
    assert result.bounce_permanent is True
    assert result.returned_message_id == "<req-2027-01-H4TX.0c8e2d1b9a7f6e54@musterhausen.de>"
    assert result.subject_tag == SubjectTag(month="2027-01", code="H4TX")


def test_postfix_bounce_with_returned_headers_only() -> None:
    result = _parse("postfix_bounce_undelivered_mail.eml")
    assert result.bounced_recipients == ("alt.adresse@musterhausen.de",)
    assert result.bounce_permanent is True
    assert result.returned_message_id is None  # the returned headers carry none
    assert result.subject_tag == SubjectTag(month="2027-01", code="K7Q2")


def test_exchange_text_only_ndr_in_german() -> None:
    result = _parse("exchange_unzustellbar_de.eml")
    assert result.bounced_recipients == ("alt.adresse@musterhausen.de",)
    assert result.bounce_permanent is True  # no status at all: taken as permanent


def test_mail_that_is_no_bounce_has_no_bounce_facts() -> None:
    result = _parse("outlook_oof_automatische_antwort.eml")
    assert result.kind == "auto_reply"
    assert result.bounced_recipients == ()
    assert result.returned_message_id is None
    assert result.bounce_permanent is False


# -- delivery-status parts ------------------------------------------------------------------


_RETURNED = (
    "message/rfc822",
    f"From: {BOT}\r\nTo: a@example.org\r\nSubject: [Themen 2027-01 #K7Q2] Ihre Themen\r\n"
    "Message-ID: <req-1@musterhausen.de>\r\n\r\nGuten Tag",
)


def _report(status: str, text: str = "Delivery report", returned: tuple[str, str] = _RETURNED,
            headers: str = "") -> bytes:  # fmt: skip
    parts = [("text/plain; charset=utf-8", text), ("message/delivery-status", status), returned]
    body = "".join(
        f"--b1\r\nContent-Type: {ctype}\r\n\r\n{content}\r\n" for ctype, content in parts
    )
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {BOT}\r\nSubject: Undelivered Mail Returned to Sender\r\n{headers}"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        f'boundary="b1"\r\n\r\n{body}--b1--\r\n'
    ).encode()


_PER_MESSAGE = "Reporting-MTA: dns; mx.example.org\r\n\r\n"


@pytest.mark.parametrize(
    ("status", "recipients", "permanent"),
    [
        # one failed recipient, 5.x.x
        ("Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n",
         ("a@example.org",), True),
        # alias expanded: the address the bot used first, then the final one
        ("Final-Recipient: rfc822; anna.schmidt@mail.example.org\r\n"
         "Original-Recipient: rfc822;a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n",
         ("a@example.org", "anna.schmidt@mail.example.org"), True),
        # only an Original-Recipient (MimeKit's sample), upper-case address and brackets
        ("Original-Recipient: rfc822;<A.Schmidt@Example.ORG>\r\nAction: failed\r\n",
         ("a.schmidt@example.org",), True),
        # failed without a status: permanent
        ("Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\n", ("a@example.org",), True),
        # the server gave up after retrying a 4.x.x: failed, but not for good
        ("Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 4.4.7\r\n",
         ("a@example.org",), False),
        # a delay notice: nothing failed
        ("Final-Recipient: rfc822; a@example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
         "Will-Retry-Until: Thu, 7 Jan 2027 07:30:00 +0100\r\n", (), False),
        # two recipients: one delivered, one failed
        ("Final-Recipient: rfc822; ok@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n"
         "Final-Recipient: rfc822; b@example.org\r\nAction: failed\r\nStatus: 5.2.2\r\n",
         ("b@example.org",), True),
        # no Action, a 5.x.x status (broken reporters)
        ("Final-Recipient: rfc822; a@example.org\r\nStatus: 5.0.0\r\n", ("a@example.org",), True),
        # folded values and an RFC 6533 utf-8 address type
        ("Final-Recipient: utf-8;\r\n a@example.org\r\nAction: failed\r\nStatus:\r\n 5.1.1\r\n",
         ("a@example.org",), True),
    ],
)  # fmt: skip
def test_delivery_status_recipients(
    status: str, recipients: tuple[str, ...], permanent: bool
) -> None:
    result = parse_message(_report(_PER_MESSAGE + status))
    assert result.kind == "bounce"
    assert result.bounced_recipients == recipients
    assert result.bounce_permanent is permanent
    assert result.returned_message_id == "<req-1@musterhausen.de>"


def test_a_delay_notice_does_not_fall_back_to_its_text() -> None:
    # Postfix's delay notices name the address in the text as well
    text = "<a@example.org>: host mx.example.org said: 452 4.2.2 Mailbox full"
    status = _PER_MESSAGE + "Final-Recipient: rfc822; a@example.org\r\nAction: delayed\r\n"
    result = parse_message(_report(status, text))
    assert result.bounced_recipients == ()
    assert result.bounce_permanent is False


def test_returned_message_id_from_exchange_report_field() -> None:
    status = (
        "Reporting-MTA: dns;EXCH01.example.org\r\n"
        "X-Original-Message-ID: <req-7@musterhausen.de>\r\n\r\n"
        "Final-Recipient: rfc822;a@example.org\r\nAction: failed\r\nStatus: 5.1.10\r\n"
    )
    result = parse_message(_report(status, returned=("text/plain", "(kein Original)")))
    assert result.returned_message_id == "<req-7@musterhausen.de>"


def test_returned_message_id_falls_back_to_in_reply_to() -> None:
    status = _PER_MESSAGE + "Final-Recipient: rfc822;a@example.org\r\nAction: failed\r\n"
    raw = _report(status, returned=("text/plain", "-"), headers="In-Reply-To: <req-9@x.de>\r\n")
    assert parse_message(raw).returned_message_id == "<req-9@x.de>"


def test_a_bounce_wrapped_in_a_bounce_reads_the_inner_report() -> None:
    inner = _report(
        _PER_MESSAGE + "Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\n"
    ).decode()
    raw = (
        "From: MAILER-DAEMON@gw.example.org\r\nTo: themen@musterhausen.de\r\n"
        "Subject: Returned mail: User unknown\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        "--outer\r\nContent-Type: text/plain\r\n\r\nThe following addresses had permanent "
        "delivery errors\r\n\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n"
        f"{inner}\r\n--outer--\r\n"
    ).encode()
    result = parse_message(raw)
    assert result.bounced_recipients == ("a@example.org",)
    assert result.returned_message_id == "<req-1@musterhausen.de>"


# -- bounces without a report: the text ---------------------------------------------------


def _text_bounce(subject: str, body: str, sender: str = "MAILER-DAEMON@mx.example.org",
                 headers: str = "") -> bytes:  # fmt: skip
    return (
        f"From: {sender}\r\nTo: Themen-Bot <{BOT}>\r\nSubject: {subject}\r\n{headers}"
        "Date: Mon, 4 Jan 2027 07:31:00 +0100\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


@pytest.mark.parametrize(
    ("subject", "body", "recipients"),
    [
        # Exchange 2010+ (English)
        ("Undeliverable: Ihre Themen",
         "Delivery has failed to these recipients or groups:\n\n"
         "Max Muster (max.muster@example.org)<mailto:max.muster@example.org>\n"
         "The e-mail address you entered couldn't be found. Please check the recipient's e-mail "
         "address and try to resend the message.\n\n"
         "erika@example.org\nThe recipient's mailbox is full.\n\n\n\n\n"
         "Diagnostic information for administrators:\n\nGenerating server: EXCH01.example.org\n\n"
         "max.muster@example.org\n#550 5.1.1 RESOLVER.ADR.RecipientNotFound; not found ##\n",
         ("max.muster@example.org", "erika@example.org")),
        # Exchange 2016 (German)
        ("Unzustellbar: Ihre Themen",
         "Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:\n\n"
         "hans.mueller@musterhausen.de<mailto:hans.mueller@musterhausen.de>\n"
         "Die eingegebene E-Mail-Adresse wurde nicht gefunden.\n",
         ("hans.mueller@musterhausen.de",)),
        # Exchange 2003 / 2007
        ("Undeliverable: Kijitora Cat",
         "Your message\n\n  To:      Kijitora\n  Subject: Kijitora Cat\n"
         "  Sent:    Thu, 29 Apr 2010 00:00:00 -0000\n\ndid not reach the following recipient(s):"
         "\n\nkijitora@example.jp on Thu, 29 Apr 2010 00:00:00 -0000\n"
         "    The recipient name is not recognized\n",
         ("kijitora@example.jp",)),
        # Exchange, old German wording
        ("Unzustellbar: Ihre Themen",
         "Ihre Nachricht\n\n  An:      Alt, Adresse\n  Betreff: Ihre Themen\n\n"
         "erreichte folgende Empfänger nicht:\n\n"
         "      alt.adresse@musterhausen.de am 04.01.2027 07:31\n"
         "            Die E-Mail-Adresse wurde nicht gefunden.\n",
         ("alt.adresse@musterhausen.de",)),
        # Office 365, new style
        ("Undeliverable: Ihre Themen",
         "Your message to anna@example.org couldn't be delivered.\n"
         "anna wasn't found at example.org.\n",
         ("anna@example.org",)),
        # Office 365 in German
        ("Unzustellbar: Ihre Themen",
         "Ihre Nachricht an anna@example.org konnte nicht zugestellt werden.\n"
         "anna wurde bei example.org nicht gefunden.\n",
         ("anna@example.org",)),
        # Postfix without a report part, an alias expanded
        ("Undelivered Mail Returned to Sender",
         "This is the mail system at host mx.example.org.\n\n"
         "I'm sorry to have to inform you that your message could not\n"
         "be delivered to one or more recipients.\n\n"
         "<a.schmidt@mail.example.org> (expanded from <a@example.org>): host\n"
         "    mail.example.org[192.0.2.3] said: 550 5.1.1 User unknown (in reply to RCPT TO)\n",
         ("a@example.org", "a.schmidt@mail.example.org")),
        # qmail
        ("failure notice",
         "Hi. This is the qmail-send program at mx.example.org.\n"
         "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
         "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
         "<kuno@example.org>:\n192.0.2.32 does not like recipient.\n"
         "Remote host said: 550 5.1.1 <kuno@example.org>: Recipient address rejected\n\n"
         "--- Below this line is a copy of the message.\n\n"
         f"Return-Path: <{BOT}>\nTo: other@example.org\n",
         ("kuno@example.org",)),
        # Exim (the sender's address in the SMTP transcript does not count)
        ("Mail delivery failed: returning message to sender",
         "This message was created automatically by mail delivery software.\n\n"
         "A message that you sent could not be delivered to one or more of its\n"
         "recipients. This is a permanent error. The following address(es) failed:\n\n"
         "  presse@example.org\n"
         f"    SMTP error from remote mail server after RCPT TO:<presse@example.org>:\n"
         f"    host mx.example.org [192.0.2.20]: 550 5.1.1 <{BOT}>... rejected\n\n"
         "------ This is a copy of the message, including all the headers. ------\n\n"
         "To: someone.else@example.org\n",
         ("presse@example.org",)),
        # Gmail
        ("Delivery Status Notification (Failure)",
         "Delivery to the following recipient failed permanently:\n\n"
         "     kontakt@example.org\n\n"
         "Technical details of permanent failure:\nGoogle tried to deliver your message, but it "
         "was rejected by the server for the recipient domain example.org.\n",
         ("kontakt@example.org",)),
        # Gmail, newer wording
        ("Delivery Status Notification (Failure)",
         "** Address not found **\n\n"
         "Your message wasn't delivered to kontakt@example.org because the address couldn't "
         "be found, or is unable to receive mail.\n",
         ("kontakt@example.org",)),
        # HCL Notes / Domino (English)
        ("DELIVERY FAILURE: User Kuno (kuno@example.org) not listed in Domino Directory",
         "Your message\n\n  Subject: Ihre Themen\n\nwas not delivered to:\n\n"
         "  kuno@example.org\n\nbecause:\n\n  User Kuno not listed in Domino Directory\n",
         ("kuno@example.org",)),
        # HCL Notes (German)
        ("Unzustellbar: Ihre Themen",
         "Ihre Nachricht\n\n  Betreff: Ihre Themen\n\nwurde nicht zugestellt an:\n\n"
         "  kuno@example.org\n\nweil:\n\n  Benutzer nicht im Domino-Verzeichnis\n",
         ("kuno@example.org",)),
        # GroupWise
        ("Undeliverable Mail",
         "The message that you sent was undeliverable to the following:\n"
         "\tfranz.huber@example.org (user not found)\n\nPossible solutions:\n"
         "\tVerify the address\n",
         ("franz.huber@example.org",)),
        # sendmail
        ("Returned mail: see transcript for details",
         "The original message was received at Mon, 4 Jan 2027 07:30:00 +0100\n\n"
         "   ----- The following addresses had permanent fatal errors -----\n"
         "<lisa@example.org>\n    (reason: 550 5.1.1 <lisa@example.org>... User unknown)\n\n"
         "   ----- Transcript of session follows -----\n",
         ("lisa@example.org",)),
        # German, plain
        ("Unzustellbar",
         "Die Nachricht konnte nicht an folgende Empfänger zugestellt werden:\n\n"
         "alt.adresse@musterhausen.de\n",
         ("alt.adresse@musterhausen.de",)),
    ],
)  # fmt: skip
def test_text_bounces(subject: str, body: str, recipients: tuple[str, ...]) -> None:
    result = parse_message(_text_bounce(subject, body))
    assert result.kind == "bounce"
    assert result.bounced_recipients == recipients
    assert result.bounce_permanent is True


def test_exim_x_failed_recipients_header() -> None:
    raw = _text_bounce(
        "Mail delivery failed: returning message to sender",
        "A message that you sent could not be delivered.\n",
        headers="X-Failed-Recipients: a@example.org, B@Example.org\r\n",
    )
    assert parse_message(raw).bounced_recipients == ("a@example.org", "b@example.org")


def test_exim_delay_warning_in_text_has_no_failed_recipient() -> None:
    raw = _text_bounce(
        "Warning: message 1P1ceB-000FL1-4q delayed 24 hours",
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent has not yet been delivered to one or more of its\n"
        "recipients after more than 24 hours on the queue on mx.example.org.\n\n"
        "The address to which the message has not yet been delivered is:\n\n"
        "  a@example.org\n    Delay reason: SMTP error from remote mail server: 451 4.7.1\n\n"
        "No action is required on your part.\n",
    )
    result = parse_message(raw)
    assert result.bounced_recipients == ()
    assert result.bounce_permanent is False


def test_a_4xx_failure_in_text_is_not_permanent() -> None:
    raw = _text_bounce(
        "Undelivered Mail Returned to Sender",
        "<a@example.org>: connect to mx.example.org[192.0.2.3]:25: Connection timed out "
        "(421 4.4.2 gave up after 5 days)\n",
    )
    result = parse_message(raw)
    assert result.bounced_recipients == ("a@example.org",)
    assert result.bounce_permanent is False


def test_returned_message_id_from_an_inline_copy() -> None:
    raw = _text_bounce(
        "Mail delivery failed: returning message to sender",
        "The following address(es) failed:\n\n  a@example.org\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        f"From: {BOT}\nMessage-Id: <req-2027-01-K7Q2.1@musterhausen.de>\n"
        "Subject: Ihre Themen [Themen 2027-01 #K7Q2]\n\nGuten Tag\n",
        headers="Message-ID: <bounce-1@mx.example.org>\r\n",
    )
    result = parse_message(raw)
    assert result.returned_message_id == "<req-2027-01-K7Q2.1@musterhausen.de>"
    assert result.subject_tag == SubjectTag(month="2027-01", code="K7Q2")


def test_the_bots_own_address_never_counts_as_failed() -> None:
    raw = _text_bounce(
        "Undelivered Mail Returned to Sender",
        f"<{BOT}>: host mx.example.org said: 550 5.7.1 sender rejected\n",
    )
    assert parse_message(raw).bounced_recipients == ()


# -- the public corpus ---------------------------------------------------------------------


def _corpus_entries() -> list[dict[str, Any]]:
    manifest = json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))
    return [e for e in manifest["files"] if (e.get("expected") or {}).get("kind") == "bounce"]


def _failed_in_reports(raw: bytes) -> list[set[str]]:
    """Independently of parsers.dsn: each failed recipient group's addresses."""
    found: list[set[str]] = []
    for part in email.message_from_bytes(raw, policy=policy.compat32).walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in part.get_payload():
            assert isinstance(block, Message)
            final = block.get("Final-Recipient")
            if final and str(block.get("Action", "")).lower().startswith("failed"):
                values = (final, block.get("Original-Recipient") or final)
                found.append({v.split(";")[-1].strip().strip("<>").lower() for v in values})
    return found


def test_sisimai_bounces_give_the_failed_recipient_of_their_report() -> None:
    checked = 0
    misses = []
    for entry in _corpus_entries():
        if not str(entry["file"]).startswith("sisimai/"):
            continue
        raw = (CORPUS / str(entry["file"])).read_bytes()
        expected = _failed_in_reports(raw)
        if not expected:
            continue
        checked += 1
        got = set(parse_message(raw).bounced_recipients)
        if not all(addresses & got for addresses in expected):
            misses.append(entry["file"])
    assert checked >= 35  # 36 of the 74 sisimai bounces carry a failed report group
    assert misses == []


def test_sisimai_bounces_mostly_give_some_recipient() -> None:
    entries = [e for e in _corpus_entries() if str(e["file"]).startswith("sisimai/")]
    results = [parse_message((CORPUS / str(e["file"])).read_bytes()) for e in entries]
    with_recipient = sum(1 for r in results if r.bounced_recipients)
    # measured 69 of 74; the rest name no recipient outside the returned copy
    assert with_recipient >= 67, with_recipient


def test_corpus_bounces_with_an_asserted_final_recipient() -> None:
    checked = 0
    for entry in _corpus_entries():
        dsn = entry["expected"].get("dsn") or {}
        final = dsn.get("final_recipient")
        if not final:
            continue
        checked += 1
        result = parse_message((CORPUS / str(entry["file"])).read_bytes())
        address = final.split(";")[-1].strip().lower()
        if dsn.get("action") == "failed":
            assert address in result.bounced_recipients, entry["file"]
            assert result.bounce_permanent is str(dsn.get("status", "5")).startswith("5")
        else:
            assert address not in result.bounced_recipients, entry["file"]
            assert result.bounce_permanent is False
    assert checked >= 4


def test_a_phone_number_is_no_temporary_status() -> None:
    raw = _text_bounce(
        "Unzustellbar",
        "Die Nachricht konnte nicht an folgende Empfänger zugestellt werden:\n\n"
        "alt.adresse@musterhausen.de\n\nFragen? Servicedesk, Tel. 0123 456-789\n",
    )
    result = parse_message(raw)
    assert result.bounced_recipients == ("alt.adresse@musterhausen.de",)
    assert result.bounce_permanent is True
