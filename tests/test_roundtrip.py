"""The bot's own request, answered the ways colleagues answer, parses back (pure).

The request text is rendered by the real templates, so a wording change that confuses the
parser (e.g. the hint „keine Themen“ in the quoted request) fails here.
"""

from __future__ import annotations

from datetime import date

import pytest

from mailtemplates import DEFAULT_TEMPLATE_LABELS, TemplateRenderer, template_block
from parsers import parse_message
from parsers.model import ParseOptions

TODAY = date(2027, 1, 4)


def request_text() -> str:
    mail = TemplateRenderer().render("request", {
        "contact_salutation": "Frau Muster", "contact_name": "Erika Muster",
        "department": "Bauamt", "sender_name": "Social-Media-Team",
        "organisation": "Stadt Musterhausen", "subject_tag": "[Themen 2027-01 #K7Q2]",
        "month_label": "Januar 2027", "deadline": "Montag, 18. Januar 2027",
        "template_block": template_block(DEFAULT_TEMPLATE_LABELS),
        "officer_name": "Julia Beispiel", "officer_email": "presse@musterhausen.de",
    })
    return mail.text


def reply(body: str) -> bytes:
    head = ("From: Erika Muster <erika.muster@musterhausen.de>\r\n"
            "To: themen@musterhausen.de\r\n"
            "Subject: AW: Ihre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]\r\n"
            "Date: Tue, 05 Jan 2027 09:12:00 +0100\r\n"
            "Message-ID: <reply-1@musterhausen.de>\r\n"
            "In-Reply-To: <req-2027-01-K7Q2.1@musterhausen.de>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    return head.encode() + body.replace("\n", "\r\n").encode()


OUTLOOK_HEADER = ("\n\nVon: Social-Media-Team <themen@musterhausen.de>\n"
                  "Gesendet: Montag, 4. Januar 2027 08:00\n"
                  "An: Muster, Erika <erika.muster@musterhausen.de>\n"
                  "Betreff: Ihre Themen für Januar 2027 – Bauamt [Themen 2027-01 #K7Q2]\n\n")


def quoted(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def filled(text: str) -> str:
    return (text.replace("Was:\n", "Was: Richtfest Kita Sonnenschein\n")
                .replace("Wann:\n", "Wann: 12. März, 14 Uhr\n")
                .replace("Wo:\n", "Wo: Lindenstraße 4\n")
                .replace("Wer:\n", "Wer: Bürgermeisterin, Kita-Leitung\n")
                .replace("Wie viele:\n", "Wie viele: ca. 60\n"))


def filled_block() -> str:
    text = filled(request_text())
    return text[text.index("--- Thema ---"):text.index("--- Ende ---") + len("--- Ende ---")]


@pytest.mark.parametrize("body", [
    "keine Themen diesen Monat.\n\nViele Grüße\nErika Muster" + OUTLOOK_HEADER + request_text(),
    "Fehlanzeige.\n\nAm 04.01.2027 um 08:00 schrieb Social-Media-Team "
    "<themen@musterhausen.de>:\n" + quoted(request_text()),
], ids=["outlook-top-post", "thunderbird-quoted"])
def test_nothing_this_time(body: str) -> None:
    result = parse_message(reply(body), ParseOptions(today=TODAY))
    assert result.kind == "no_topics"
    assert result.topics == ()


@pytest.mark.parametrize("body", [
    "Hallo,\nanbei unser Thema.\n\nGruß\nErika Muster" + OUTLOOK_HEADER + filled(request_text()),
    "Gern:\n\n" + filled_block() + OUTLOOK_HEADER + request_text(),
    "Siehe unten.\n\nAm 04.01.2027 um 08:00 schrieb Social-Media-Team "
    "<themen@musterhausen.de>:\n" + quoted(filled(request_text())),
], ids=["typed-into-outlook-quote", "block-copied-on-top", "typed-into-thunderbird-quote"])
def test_a_filled_template_anywhere(body: str) -> None:
    result = parse_message(reply(body), ParseOptions(today=TODAY))
    assert result.kind == "topics", result
    (topic,) = result.topics
    assert topic.what == "Richtfest Kita Sonnenschein"
    assert topic.when is not None and topic.when.start == date(2027, 3, 12)
    assert topic.when.time == "14:00"
    assert topic.where == "Lindenstraße 4"
    assert topic.how_many is not None and (topic.how_many.min, topic.how_many.max) == (60, 60)
    assert topic.missing == ()


def test_an_untouched_quoted_request_is_not_a_topic() -> None:
    body = "Ich melde mich nächste Woche.\n\nGruß" + OUTLOOK_HEADER + request_text()
    result = parse_message(reply(body), ParseOptions(today=TODAY))
    assert result.kind == "unrecognized"
    assert result.reply_text == "Ich melde mich nächste Woche."
