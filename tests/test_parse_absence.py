"""Out-of-office replies: the last day the sender is away (inclusive), and what it answers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from parsers import SubjectTag, parse_message
from parsers.absence import absent_until

MIME = Path(__file__).parent / "fixtures" / "mime"
#: A Friday in January; the notices below were "sent" on it unless a case says otherwise.
FRI = date(2027, 1, 8)


@pytest.mark.parametrize(
    ("text", "sent", "expected"),
    [
        # -- German, "bis": the date is the last day away
        ("Ich bin bis einschließlich 14.01. nicht im Büro.", FRI, date(2027, 1, 14)),
        ("Ich bin bis zum 3.2.2027 nicht im Büro.", FRI, date(2027, 2, 3)),
        ("Ich bin bis 14.01. nicht im Büro und lese meine E-Mails nicht.", FRI, date(2027, 1, 14)),
        ("Ich befinde mich bis einschl. 22. Januar im Urlaub.", FRI, date(2027, 1, 22)),
        ("Bis voraussichtlich 31.03.2027 bin ich in Elternzeit.", FRI, date(2027, 3, 31)),
        ("Ich bin bis Freitag, den 15.01. auf Dienstreise.", FRI, date(2027, 1, 15)),
        ("Ich bin bis Ende Januar in Elternzeit.", FRI, date(2027, 1, 31)),
        ("Ich befinde mich bis einschließlich KW 3 im Urlaub.", FRI, date(2027, 1, 24)),
        ("Abwesend bis: 14.01.2027", FRI, date(2027, 1, 14)),
        ("Ich bin bis Dienstag krank.", FRI, date(2027, 1, 12)),  # weekday counted from sent
        ("Bin bis morgen außer Haus.", FRI, date(2027, 1, 9)),
        # -- German, a range: its end
        ("Ich bin vom 20.12. bis 6.1. im Urlaub.", date(2026, 12, 18), date(2027, 1, 6)),
        ("Ich bin vom 20.12. bis 6.1. im Urlaub.", date(2027, 1, 2), date(2027, 1, 6)),
        ("Abwesenheit: 20.12.2026 – 06.01.2027. Vertretung: Frau Krause",
         date(2026, 12, 21), date(2027, 1, 6)),
        # -- German, a return date: the day before it
        ("Ich bin ab dem 15. Januar wieder erreichbar.", FRI, date(2027, 1, 14)),
        ("Ab dem 15.01. bin ich wieder für Sie da. Bis dahin bin ich im Urlaub.",
         FRI, date(2027, 1, 14)),
        ("Ich bin ab Montag, 11. Januar wieder im Haus.", FRI, date(2027, 1, 10)),
        ("Ich werde ab 11.01.2027 nicht im Büro sein. Ich kehre zurück am 25.01.2027.",
         FRI, date(2027, 1, 24)),
        ("Ich kehre am 25.01. zurück.", FRI, date(2027, 1, 24)),
        ("Ab Montag bin ich wieder im Büro.", FRI, date(2027, 1, 10)),
        ("Rückkehr: 18.01.2027", FRI, date(2027, 1, 17)),
        ("Ich bin erst am 18.01. wieder im Rathaus erreichbar.", FRI, date(2027, 1, 17)),
        # "bis" names the last day itself and wins over a return date
        ("Ich bin bis einschließlich 15.01. im Urlaub und ab dem 18.01. wieder im Büro.",
         FRI, date(2027, 1, 15)),
        ("Ab dem 18.01. bin ich wieder im Büro, bis 15.01. bin ich im Urlaub.",
         FRI, date(2027, 1, 15)),
        ("I am out of the office until Friday, January 15, returning on Monday, January 18.",
         FRI, date(2027, 1, 15)),
        # a single day away
        ("Am 14.01. bin ich nicht im Büro.", FRI, date(2027, 1, 14)),
        # -- English
        ("I am out of the office until January 14.", FRI, date(2027, 1, 14)),
        ("I am out of the office until Thursday, January 14th, with limited access to email.",
         FRI, date(2027, 1, 14)),
        ("I am out of the office, returning on 15 January 2027.", FRI, date(2027, 1, 14)),
        ("I'm on annual leave and will be back on Monday 11/01.", FRI, date(2027, 1, 10)),
        ("I'm away until 01/14/2027.", FRI, date(2027, 1, 14)),  # only month-first is possible
        ("I'm away until 14/01/2027.", FRI, date(2027, 1, 14)),  # only day-first is possible
        ("I will be out of the office from December 20 to January 6.",
         date(2026, 12, 19), date(2027, 1, 6)),
        ("I am currently away returning to the office on May 5th.",
         date(2027, 4, 29), date(2027, 5, 4)),
        ("I will be traveling for work on July 10-31. I will respond when I am back.",
         date(2027, 7, 9), date(2027, 7, 31)),
        ("Thank you for your message. I am on vacation through Friday, January 15.",
         FRI, date(2027, 1, 15)),
    ],
)  # fmt: skip
def test_absent_until(text: str, sent: date, expected: date) -> None:
    assert absent_until(text, sent) == expected


@pytest.mark.parametrize(
    ("text", "sent", "expected"),
    [
        # the weekday decides where both readings are possible: 11 Jan 2027 is a Monday,
        # 1 Nov 2027 is one, too; then the nearer reading wins
        ("I am on leave and back on Monday 11/01.", FRI, date(2027, 1, 10)),
        # 05/02: 5 February is a Friday, 2 May a Sunday
        ("I am on leave and back on Friday 05/02.", FRI, date(2027, 2, 4)),
        ("I am on leave and back on Sunday 05/02.", FRI, date(2027, 5, 1)),
        # no weekday, English text: the reading nearer to the sent date (1 February, not the
        # 2 January that has just passed)
        ("I am on leave until 02/01.", date(2027, 1, 25), date(2027, 2, 1)),
        # German text: day first
        ("Ich bin bis 02/01 im Urlaub.", date(2026, 12, 20), date(2027, 1, 2)),
    ],
)
def test_slashed_dates(text: str, sent: date, expected: date) -> None:
    assert absent_until(text, sent) == expected


@pytest.mark.parametrize(
    ("text", "sent", "expected"),
    [
        # a notice left switched on: the date lies in the past, not next year
        ("Ich bin bis 14.01. nicht im Büro.", date(2027, 1, 20), date(2027, 1, 14)),
        ("Ab dem 15.01. bin ich wieder im Büro.", date(2027, 2, 1), date(2027, 1, 14)),
        # far enough back it is next year's date again
        ("Ich bin bis 14.01. nicht im Büro.", date(2027, 6, 1), date(2028, 1, 14)),
    ],
)
def test_year_resolution_around_the_sent_date(text: str, sent: date, expected: date) -> None:
    assert absent_until(text, sent) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Vielen Dank für Ihre Nachricht. Ich bin zurzeit nicht im Büro.",
        "Meine Vertretung Frau Krause ist bis 23.12. erreichbar.",  # no absence of the sender
        "Ich bin bis auf Weiteres nicht im Büro, ab 14.01. vertritt mich Frau Krause.",
        "Ich bin im Urlaub. Bitte antworten Sie bis Montag, 18. Januar 2027.",  # a quoted deadline
        "Ich bin von 8 bis 12 Uhr im Büro.",
        "I am out of the office. I will get back to you as soon as possible.",
        "Ich bin bis 14.01.2207 nicht im Büro.",  # a typo'd year
        "",
    ],
)
def test_no_date_without_a_clear_statement(text: str) -> None:
    assert absent_until(text, FRI) is None


def test_the_subject_helps_when_the_body_says_nothing() -> None:
    body = "Vielen Dank für Ihre Nachricht."
    assert absent_until(body, FRI, "Abwesend bis 22.01.") == date(2027, 1, 22)
    assert absent_until(body, FRI, "Away until May 5") == date(2027, 5, 5)


# -- whole mails ----------------------------------------------------------------------------


def test_outlook_oof_in_german_with_a_return_date() -> None:
    result = parse_message((MIME / "outlook_oof_de_return_date.eml").read_bytes())
    assert result.kind == "auto_reply"
    # "vom 4. bis einschließlich 15. Januar 2027 im Urlaub und ab Montag, 18. Januar wieder
    # für Sie da": the last day away is named, the return date only confirms it
    assert result.absent_until == date(2027, 1, 15)
    assert result.in_reply_to == "<req-2027-01-P9WE.7d3f1e0c2b9a8d65@musterhausen.de>"
    assert result.subject_tag == SubjectTag(month="2027-01", code="P9WE")
    assert result.automatic is True


def test_gmail_vacation_responder_in_english() -> None:
    result = parse_message((MIME / "gmail_vacation_responder_en.eml").read_bytes())
    assert result.kind == "auto_reply"
    assert result.date == date(2027, 1, 3)
    assert result.absent_until == date(2027, 1, 14)
    assert result.in_reply_to == "<req-2027-01-Z3MB.9b8a7c6d5e4f3a21@musterhausen.de>"
    assert result.subject_tag == SubjectTag(month="2027-01", code="Z3MB")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("outlook_oof_automatische_antwort.eml", date(2027, 1, 22)),  # "bis einschließlich"
        ("notes_oof_subject_only.eml", date(2027, 1, 24)),  # "Ich kehre zurück am 25.01.2027"
    ],
)
def test_older_oof_fixtures(fixture: str, expected: date) -> None:
    assert parse_message((MIME / fixture).read_bytes()).absent_until == expected


def _oof(body: str, headers: str = "", sent: str = "Fri, 8 Jan 2027 10:00:00 +0100") -> bytes:
    return (
        "From: Karin Vogel <karin.vogel@musterhausen.de>\r\nTo: themen@musterhausen.de\r\n"
        f"Subject: Abwesenheitsnotiz: Ihre Themen\r\nDate: {sent}\r\n{headers}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


def test_years_count_from_the_mails_date() -> None:
    raw = _oof("Ich bin bis 6.1. im Urlaub.", sent="Sun, 20 Dec 2026 10:00:00 +0100")
    assert parse_message(raw).absent_until == date(2027, 1, 6)


def test_the_quoted_request_is_not_read() -> None:
    body = (
        "Ich bin derzeit im Urlaub.\r\n\r\n"
        "-----Ursprüngliche Nachricht-----\r\nVon: Themen-Bot\r\n"
        "Gesendet: Montag, 4. Januar 2027\r\n"
        "An: Karin Vogel\r\nBetreff: Ihre Themen\r\n\r\n"
        "Bitte antworten Sie bis Montag, 18. Januar 2027. Wir sind bis 20.01. im Urlaub.\r\n"
    )
    assert parse_message(_oof(body)).absent_until is None


def test_in_reply_to_falls_back_to_the_last_reference() -> None:
    headers = "References: <round-1@musterhausen.de> <req-2027-01-K7Q2@musterhausen.de>\r\n"
    result = parse_message(_oof("Ich bin nicht im Büro.", headers))
    assert result.kind == "auto_reply"
    assert result.in_reply_to == "<req-2027-01-K7Q2@musterhausen.de>"


def test_absence_is_only_read_from_auto_replies() -> None:
    raw = (
        "From: Karin Vogel <karin.vogel@musterhausen.de>\r\nSubject: AW: Ihre Themen\r\n"
        "Date: Fri, 8 Jan 2027 10:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Was: Stadtfest\r\nWann: 12.03.2027\r\nWo: Marktplatz\r\n"
        "Ich bin übrigens bis 14.01. im Urlaub.\r\n"
    ).encode()
    result = parse_message(raw)
    assert result.kind == "topics"
    assert result.absent_until is None
