"""The bot's subject tag: one format, found again in what mail clients make of a subject."""

from __future__ import annotations

import random

import pytest

import bot.mailer
from parsers import SubjectTag, parse_message
from parsers.tags import TAG_ALPHABET, find_quoted_tag, find_tag, format_tag

K7Q2 = SubjectTag(month="2027-01", code="K7Q2")


def test_format_tag_is_the_bots_subject_tag() -> None:
    assert format_tag("2027-01", "K7Q2") == "[Themen 2027-01 #K7Q2]"
    assert format_tag("2027-01", "K7Q2", word="Topics") == "[Topics 2027-01 #K7Q2]"


def test_the_alphabet_is_the_one_the_bot_draws_codes_from() -> None:
    assert TAG_ALPHABET == bot.mailer.TAG_ALPHABET
    assert not set("01OIL") & set(TAG_ALPHABET)


@pytest.mark.parametrize(
    ("month", "code", "word"),
    [
        ("2027-1", "K7Q2", "Themen"),  # month not zero-padded
        ("2027-13", "K7Q2", "Themen"),
        ("27-01", "K7Q2", "Themen"),
        ("2027-01", "K0Q2", "Themen"),  # 0 is not in the alphabet
        ("2027-01", "k7q2", "Themen"),  # the bot writes upper case
        ("2027-01", "K7", "Themen"),
        ("2027-01", "K7Q2", "Themen 2"),
        ("2027-01", "K7Q2", ""),
    ],
)
def test_format_tag_refuses_what_find_tag_could_not_read_back(
    month: str, code: str, word: str
) -> None:
    with pytest.raises(ValueError):
        format_tag(month, code, word)


def test_every_formatted_tag_is_found_again() -> None:
    rng = random.Random(20270101)
    for _ in range(500):
        code = "".join(rng.choice(TAG_ALPHABET) for _ in range(rng.choice((4, 5, 6))))
        month = f"{rng.randint(2025, 2040)}-{rng.randint(1, 12):02d}"
        subject = f"AW: Ihre Themen für Mai – Bauamt {format_tag(month, code)}"
        assert find_tag(subject) == SubjectTag(month=month, code=code), subject


@pytest.mark.parametrize(
    "subject",
    [
        "[Themen 2027-01 #K7Q2]",
        "Ihre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]",
        "AW: WG: Re: Ihre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]",
        "Antw: Ihre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]",  # Notes
        "RE: [Themen 2027-01 #K7Q2] Ihre Themen",  # tag moved to the front
        "AW: Ihre Themen [Topics 2027-01 #K7Q2]",  # word translated
        "Re: Vos sujets [Thèmes 2027-01 #K7Q2]",
        "AW: Ihre Themen [2027-01 #K7Q2]",  # word dropped
        "AW: Ihre Themen [ Themen  2027-01  #  K7Q2 ]",  # extra spaces
        "AW: Ihre Themen [Themen 2027-01 #k7q2]",  # code in lower case
        "aw: ihre themen themen 2027-01 #k7q2",  # everything lower case, brackets lost
        "AW: Ihre Themen Themen 2027-01 #K7Q2",  # brackets lost
        "AW: Ihre Themen (Themen 2027-01 #K7Q2)",  # brackets replaced
        "AW: Ihre Themen [Themen 2027-01 K7Q2]",  # "#" lost, brackets kept
        "AW: Ihre Themen [Themen 2027/01 #K7Q2]",
        "AW: Ihre Themen [Themen 2027-1 #K7Q2]",
        "AW: Ihre Themen [Themen 2027-01#K7Q2]",
        "AW: Ihre Themen ［Themen ２０２７-０１ ＃Ｋ７Ｑ２］",  # full-width forms
        "AW:\tIhre Themen\u00a0[Themen\u00a02027-01\u00a0#K7Q2]",  # tabs, no-break spaces
    ],
)
def test_find_tag_tolerates_what_clients_and_people_do(subject: str) -> None:
    assert find_tag(subject) == K7Q2


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "Ihre Themen für Januar 2027",
        "Rechnung 2027-01 #1034",  # 0 and 1 are not in the alphabet
        "Ticket 2027-01 #OIL9",  # O, I, L neither
        "Themen 2027-01 K7Q2",  # neither "#" nor brackets: a month and a word
        "[Themen 2027-13 #K7Q2]",  # no such month
        "[Themen 1999-01 #K7Q2]",
        "[Themen 2027-01 #K7Q2ABCDE]",  # longer than any code
        "[Themen 2027-01 #K7]",
        "Aktenzeichen 12027-01 #K7Q2",  # the year is part of a longer number
    ],
)
def test_find_tag_finds_nothing_where_there_is_no_tag(subject: str) -> None:
    assert find_tag(subject) is None


def test_the_first_tag_wins() -> None:
    subject = "AW: [Themen 2027-02 #ABCD] WG: [Themen 2027-01 #K7Q2]"
    assert find_tag(subject) == SubjectTag(month="2027-02", code="ABCD")


@pytest.mark.parametrize(
    "quoted",
    [
        # Outlook (German), top-posted
        "Von: Themen-Bot Pressestelle <themen@musterhausen.de>\n"
        "Gesendet: Montag, 4. Januar 2027 07:30\n"
        "An: Weber, Markus <m.weber@musterhausen.de>\n"
        "Betreff: Ihre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]\n",
        # Outlook HTML rendered to text: bold keys
        "*Von:* Themen-Bot Pressestelle <themen@musterhausen.de>\n"
        "*Gesendet:* Montag, 4. Januar 2027 07:30\n"
        "*Betreff:* Ihre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]\n",
        # Outlook (English)
        "From: Themen-Bot <themen@musterhausen.de>\nSent: Monday, January 4, 2027 7:30 AM\n"
        "To: Weber, Markus\nSubject: RE: Ihre Themen [Themen 2027-01 #K7Q2]\n",
        # Thunderbird forward
        "-------- Weitergeleitete Nachricht --------\n"
        "Betreff: \tIhre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]\n"
        "Datum: \tMon, 4 Jan 2027 07:30:00 +0100\n",
        # quoted with ">" and the subject wrapped before the tag
        "> Von: Themen-Bot Pressestelle\n"
        "> Betreff: Ihre Themen für Januar 2027 – Amt für Stadtentwicklung [Themen\n"
        "> 2027-01 #K7Q2]\n",
        # GroupWise / Notes style
        ">>> Themen-Bot <themen@musterhausen.de> 04.01.2027 07:30 >>>\n"
        "Betreff:  [Themen 2027-01 #k7q2] Ihre Themen\n",
    ],
)
def test_find_quoted_tag_reads_the_quoted_subject_line(quoted: str) -> None:
    text = "Hallo, anbei unser Thema.\n\nViele Grüße\nM. Weber\n\n" + quoted + "\nGuten Tag,\n"
    assert find_quoted_tag(text) == K7Q2


def test_find_quoted_tag_ignores_tags_outside_subject_lines() -> None:
    text = "Unser Aktenzeichen lautet [Themen 2027-01 #K7Q2], siehe oben.\n"
    assert find_quoted_tag(text) is None


def _mail(subject: str, body: str, extra: str = "") -> bytes:
    return (
        "From: Markus Weber <m.weber@musterhausen.de>\r\n"
        "To: themen@musterhausen.de\r\n"
        f"Subject: {subject}\r\n"
        "Date: Tue, 5 Jan 2027 09:12:00 +0100\r\n" + extra + "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


def test_parse_result_takes_the_tag_from_the_subject() -> None:
    raw = _mail(
        "=?utf-8?q?AW=3A_Ihre_Themen_f=C3=BCr_Januar_2027_=E2=80=93_Bauamt_=5BThemen_20?=\r\n"
        " =?utf-8?q?27-01_=23K7Q2=5D?=",
        "Was: Stadtfest\r\nWann: 12.03.2027\r\n",
    )
    assert parse_message(raw).subject_tag == K7Q2


def test_parse_result_falls_back_to_the_quoted_subject_when_the_subject_lost_it() -> None:
    body = (
        "Was: Stadtfest\r\nWann: 12.03.2027\r\n\r\n"
        "Von: Themen-Bot Pressestelle <themen@musterhausen.de>\r\n"
        "Gesendet: Montag, 4. Januar 2027 07:30\r\n"
        "An: Weber, Markus <m.weber@musterhausen.de>\r\n"
        "Betreff: Ihre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]\r\n"
    )
    assert parse_message(_mail("AW: Ihre Themen", body)).subject_tag == K7Q2


def test_the_subject_wins_over_the_quoted_subject() -> None:
    body = "Keine Themen.\r\n\r\n> Betreff: Ihre Themen [Themen 2026-12 #ABCD]\r\n"
    result = parse_message(_mail("AW: Ihre Themen [Themen 2027-01 #K7Q2]", body))
    assert result.subject_tag == K7Q2


def test_no_tag_anywhere_gives_none() -> None:
    assert parse_message(_mail("Stadtfest", "Was: Stadtfest\r\n")).subject_tag is None


def test_a_tag_is_no_part_of_the_contract_json() -> None:
    result = parse_message(_mail("AW: [Themen 2027-01 #K7Q2]", "Keine Themen diesmal."))
    assert set(result.to_json_dict("x.eml")) == {"file", "kind", "reply_text", "topics"}
