"""Reply extraction: quoted originals, signatures and disclaimers off; the answer kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsers import parse_message
from parsers.reply import extract_reply
from tests.test_parse_fixtures import options_for

PARSE = Path(__file__).parent / "fixtures" / "parse"

LABELS = ("--- Thema ---", "Was", "Wann", "Wo", "Wer", "Wie viele", "Zitat", "Bilder")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Outlook desktop / OWA, German and English
        (
            "Hier die Themen.\n\nVon: Bot <b@x.de>\nGesendet: Montag, 11. Januar 2027 08:00\n"
            "An: Anna <a@x.de>\nBetreff: Themen\n\nGuten Tag",
            "Hier die Themen.",
        ),
        (
            "Reply\n________________________________\nFrom: Bot <b@x.de>\nSent: Monday\n"
            "To: Anna\nSubject: Themen\n\nHello",
            "Reply",
        ),
        ("Antwort\n\n-----Ursprüngliche Nachricht-----\nVon: Bot\nalt", "Antwort"),
        ("Answer\n\n-----Original Message-----\nFrom: Bot\nold", "Answer"),
        # Gmail, wrapped over two lines
        (
            "Neu\n\nAm Di., 3. März 2026 um 10:00 Uhr schrieb Bot <\nbot@x.de>:\n\n> alt",
            "Neu",
        ),
        ("New\n\nOn Tue, Mar 3, 2026 at 10:00 AM Bot <bot@x.de>\nwrote:\n\n> old", "New"),
        # Thunderbird / Apple Mail
        ("Neu\n\nAm 03.03.2026 um 10:00 schrieb Bot:\n> alt", "Neu"),
        ("New\n\nOn 3 Mar 2026, at 10:00, Bot <bot@x.de> wrote:\n\n> old", "New"),
        # mobile footers
        ("Neu\n\nVon meinem iPhone gesendet\n\n> alt", "Neu"),
        ("Neu\n\nVon meinem Samsung Galaxy Smartphone gesendet.", "Neu"),
        ("Neu\n\nGesendet von Outlook für Android<https://aka.ms/ghei36>", "Neu"),
        ("New\n\nSent from my iPhone", "New"),
        # HCL Notes
        (
            "Neu\n\nVon:\tBot/Stadt/DE\nAn:\tAnna Schmidt/Stadt/DE\nDatum:\t03.03.2026 10:00\n"
            "Betreff:\tThemen\n\nalt",
            "Neu",
        ),
        ("Neu\n\nBot/ABC/DE wrote on 03.03.2026 10:00:\n\nalt", "Neu"),
        ("Neu\n\n----- Weitergeleitet von Bot/Stadt/DE am 03.03.2026 10:00 -----\n\nalt", "Neu"),
        # GroupWise
        ("Neu\n\n>>> Bot <bot@x.de> 03.03.2026 10:00 >>>\nalt ohne Zitatzeichen", "Neu"),
        # signatures and disclaimers
        ("Neu\n\n-- \nAnna Schmidt\nBauamt", "Neu"),
        ("Neu\n\nMit freundlichen Grüßen\nAnna Schmidt\nBauamt\nTel. 0123 456", "Neu"),
        ("Neu\n\nViele Grüße, Anna", "Neu"),
        ("Neu\n\nBest regards,\nAnna", "Neu"),
        (
            "Neu\n\nDiese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der "
            "richtige Adressat sind, informieren Sie bitte den Absender.",
            "Neu",
        ),
        ("New\n\nThis e-mail may contain confidential and/or privileged information.", "New"),
    ],
)
def test_quote_headers_and_signatures_are_cut(text: str, expected: str) -> None:
    assert extract_reply(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "12.03.2026 Eröffnung der Ausstellung\n13.03.2026 Führung",
        "Von: 10 Uhr bis 12 Uhr\nAn: allen Schulen der Stadt",
        "Datum: 12.03.2026\nVon: 9 Uhr\nOrt: Rathaus",
        "Am Samstag schrieben die Kinder Briefe an den Bürgermeister.",
        "Wann: 3.3.\nGesendet wird live im Stadtradio.",
    ],
)
def test_legitimate_lines_are_kept(text: str) -> None:
    assert extract_reply(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # localized attribution verbs: Ukrainian, Russian, Polish, Chinese (full-width colon)
        (
            'Спасибо еще раз.\n\n30 серп. 2016 р. 20:45 "Arpit" <no-reply@example.com> пише:\n\n'
            "> Когда будет точное название?",
            "Спасибо еще раз.",
        ),
        (
            "Спасибо.\n\n3 марта 2026 г., в 10:00, Иван <ivan@example.org> написал(а):\n> Привет",
            "Спасибо.",
        ),
        (
            "Dzięki.\n\nW dniu 3.03.2026 o 10:00, Jan Kowalski <jan@example.pl> napisał(a):\n"
            "> Cześć",
            "Dzięki.",
        ),
        (
            "好的，谢谢。\n\n在 2016年12月12日，下午8:45，张三 <zhang@example.cn> 写道：\n"
            "\n老的内容",
            "好的，谢谢。",
        ),
        (
            "Merci.\n\nLe mar. 3 mars 2026 à 10:00, Marie <marie@example.fr> a écrit :\n"
            "\n> Bonjour",
            "Merci.",
        ),
        (
            "Tack!\n\nDen fre 28 feb. 2025 10:15Anna Andersson <anna@acme.com> skrev:\n\n> Hej",
            "Tack!",
        ),
        # attribution torn apart by a mailto: link and blank lines
        (
            "One 1\n\nOn Thu, 31 Mar 2016 at 11:16 Some One\n\n<\n"
            "mailto:Some One <some.one@foo.bar>\n> wrote:\n\n\nTwo 2",
            "One 1",
        ),
        (
            "Neu\n\nAm Do., 31. März 2016 um 11:16 Uhr schrieb Max Muster\n\n<\n"
            "mailto:max@example.org>\n> :\n\nalt",
            "Neu",
        ),
        # old Gmail: date, name and address, no time, no colon
        (
            "Works now.\n\n2013/7/20 sam via Discourse Meta <info@discourse.org>\n\n"
            "| sam replied to your post",
            "Works now.",
        ),
        ("Passt.\n\n2026-03-03 Max Muster <max@example.org>:\n\nalt ohne Zeichen", "Passt."),
        # Zoho: attribution between dashes
        (
            "Answer\n\n---- On Wed, 24 Feb 2021 14:02:50 +0530 john@example.com wrote ----\n\nold",
            "Answer",
        ),
        # quoted lines wrapped by the client without repeating ">"
        (
            "Neu\n\nOp 12 december 2016 19:05 schreef Company <q@example.com>:\n\n"
            "> Beste Praesent\n"
            '> "In efficitur augue ac tristique ullamcorper. Aenean tincidunt ornare diam,\n'
            'eget accumsan est viverra quis. Pellentesque"\n>',
            "Neu",
        ),
        (
            "Neu\n\n> Lorem ipsum dolor sit amet, consectetur adipiscing elit. Nullam pharetra d\n"
            "ignissim odio?\n>\n> mehr",
            "Neu",
        ),
        # mailing-list footer under a short rule
        (
            "Hi folks\n\nHow do I clear a bucket?\n\n__\nriak-users mailing list\n"
            "riak-users@lists.basho.com\nhttp://lists.basho.com/mailman/listinfo/riak-users",
            "Hi folks\n\nHow do I clear a bucket?",
        ),
        # sign-offs in other languages and by dash or slash
        ("Czesc Anno,\n\nJak się masz?\n\nPozdrawiam,\nJan", "Czesc Anno,\n\nJak się masz?"),
        ("Cześć,\n\nDziękuję.\n\nZ poważaniem,\nJan Kowalski", "Cześć,\n\nDziękuję."),
        ("Hej,\n\nSvar.\n\nKh\nPeter", "Hej,\n\nSvar."),
        ("Hej,\n\nDet passar bra.\n\nMvh,\nPerson A\n070-0000000", "Hej,\n\nDet passar bra."),
        ("Tak for din mail.\n\nMed venlig hilsen\nAnders Andersen", "Tak for din mail."),
        ("Bedankt.\n\nMet vriendelijke groet,\nJan de Vries", "Bedankt."),
        ("Merci.\n\nCordialement,\nMarie Dupont", "Merci."),
        ("I use the Java HTTP API.\n\n-Abhishek Kona", "I use the Java HTTP API."),
        ("Let me know.\n\n/John", "Let me know."),
        ("Best regards,\n\nFine.\n\n//Jef", "Best regards,\n\nFine."),
        ("Feedback welcome!\n\n—Ryan", "Feedback welcome!"),
        # "Thanks for ..." with a name after it is still a sign-off
        ("All clear.\n\nThanks for the info\nAnna Schmidt", "All clear."),
        # a mobile footer may go on with a polite phrase
        ("New\n\nSent from my iPhone, please excuse typos", "New"),
    ],
)
def test_more_quote_headers_and_signatures_are_cut(text: str, expected: str) -> None:
    assert extract_reply(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # look like the new rules, but are the sender's text
        "Here is another email\n\nSent from my desk, is much easier than my mobile phone.",
        "Hi Erlend,\nThank you for your reply.",
        "Hallo,\nvielen Dank für die schnelle Rückmeldung.",
        "Benötigt werden:\n\n-Strom\n-Wasser\n\n-Bühne",
        "Termine:\n\n- Eröffnung\n\n-Führung",
        "Bitte an folgende Stellen:\n\n/Rathaus",
        "2024-01-15 14:30:25\n2024/01/15 14:30:25",
        "2027/03/12 Eröffnung der Ausstellung im Rathaus",
        "2027-03-12 Anmeldung bei Max Muster, Tel. 0123",
        "Am 12.03.2027 um 10 Uhr ist Eröffnung\n\nDer Bürgermeister schrieb:\nein Grußwort",
        "On 3 March 2027 at 10:00 we open.\n\nThe paper wrote:\nGreat event",
        "---- 12.03.2027 Eröffnung ----\nWas: Fest",
        "It's interesting how they handled URLs with patterns like \"wrote:\" in them.",
        "Ensuring that ON_DATE_SOMEONE_WROTE_REGEXES is not greedy.\n\nI wrote something",
        "KH\nSt. Marien",
        "Von: 10 Uhr bis 12 Uhr\nAn: allen Schulen der Stadt",
    ],
)
def test_lookalikes_of_the_new_rules_are_kept(text: str) -> None:
    assert extract_reply(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # interleaved answers directly under a quoted question or label stay
        (
            "Am 03.03.2026 um 10:00 schrieb Bot <bot@x.de>:\n"
            "> Gibt es im März Veranstaltungen in Ihrem Haus, und wenn ja, wann genau?\n"
            "ja, am 12. März\n> Wer ist Ansprechpartner in Ihrem Haus für die Presse:\n"
            "frau Schmidt\n> Danke!",
            "ja, am 12. März\nfrau Schmidt",
        ),
        # a short quoted line followed by a lower-case answer is no wrapped quote
        ("> Was\nstadtfest\n> Wann", "stadtfest"),
        # an answer that starts upper case is never taken for a wrapped quote
        (
            "> Bitte nennen Sie uns die Veranstaltungen des kommenden Monats mit Datum und\n"
            "Stadtfest am 12.03.\n> Ort",
            "Stadtfest am 12.03.",
        ),
    ],
)
def test_interleaved_answers_are_not_taken_for_wrapped_quotes(text: str, expected: str) -> None:
    assert extract_reply(text) == expected


def test_interleaved_answers_are_kept() -> None:
    text = (
        "Am 03.03.2026 um 10:00 schrieb Bot <bot@x.de>:\n"
        "> Was:\nStadtfest\n> Wann:\n12. März\n> Wo:\n\nMarktplatz\n> Danke!"
    )
    assert extract_reply(text) == "Stadtfest\n12. März\n\nMarktplatz"


def test_closing_before_template_labels_is_no_signature() -> None:
    text = "Viele Grüße vorab,\n\n--- Thema ---\nWas: Fest\nWann: 3.3.\n--- Ende ---"
    assert extract_reply(text, LABELS).endswith("--- Ende ---")


def test_closing_far_from_the_end_is_kept() -> None:
    body = "\n".join(f"Zeile {i}" for i in range(20))
    text = "Danke schön\n" + body
    assert extract_reply(text) == text


def test_nothing_above_the_header_keeps_the_text_below() -> None:
    text = "Von: Bot\nGesendet: Montag\nAn: Anna\nBetreff: Themen\n\nWas: Fest (hier eingetragen)"
    assert extract_reply(text) == "Was: Fest (hier eingetragen)"


def _fixture_cases() -> list[Path]:
    return sorted(PARSE.glob("*.expected.json"))


@pytest.mark.parametrize("expected_path", _fixture_cases(), ids=lambda p: p.name.split(".")[0])
def test_reply_text_of_parse_fixtures(expected_path: Path) -> None:
    doc = json.loads(expected_path.read_text(encoding="utf-8"))
    spec = doc["expected"]
    eml = expected_path.with_name(expected_path.name.replace(".expected.json", ".eml"))
    result = parse_message(eml.read_bytes(), options_for(doc))
    for needle in spec.get("reply_text_contains", []):
        assert needle in result.reply_text
    for needle in spec.get("reply_text_not_contains", []):
        assert needle not in result.reply_text
    assert result.kind == spec["kind"]


# -- pathological input: every line check stays linear (regressions) ----------------------
# Sized so the fixed code needs a few milliseconds; the old patterns took seconds to minutes.

MAIL_HEAD = "From: a@b.de\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"


def test_long_blank_run_before_text_is_kept() -> None:
    # "^\s*[*_]?\s*" (header keys, disclaimers) on this line backtracked quadratically
    result = parse_message((MAIL_HEAD + "Hallo\n" + " " * 5000 + "x\n").encode())
    assert result.reply_text.endswith("x")
    text = "Hallo\n" + "\t" * 5000 + "_" + " " * 5000 + "x"
    assert extract_reply(text).endswith("x")


def test_padded_header_block_and_disclaimer_are_still_found() -> None:
    text = (
        "Antwort\n\n  *Von:*  Bot <b@x.de>\n\tGesendet :  Montag\n   An: Anna\n"
        "   Betreff: Themen\n\nalt"
    )
    assert extract_reply(text) == "Antwort"
    text = "Antwort\n\n" + " " * 400 + "Diese E-Mail enthält vertrauliche Informationen.\nx"
    assert extract_reply(text) == "Antwort"


def test_many_unclosed_url_brackets_are_kept() -> None:
    # the trailing-URL pattern of mobile footers was quadratic on "<http://<http://..."
    result = parse_message((MAIL_HEAD + "Hallo\n" + "<http://" * 40_000 + "\n").encode())
    assert result.reply_text.startswith("Hallo\n<http://")
    assert len(result.reply_text) == len("Hallo\n") + 8 * 40_000


def test_mobile_footer_with_trailing_link_is_still_cut() -> None:
    assert extract_reply("Antwort\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n") == "Antwort"
    assert extract_reply("Antwort\n\nSent from my iPhone <http://a> <https://b>") == "Antwort"


def test_long_digit_lines_after_groupwise_marker() -> None:
    text = "Hallo\n" + (">>> " + "1" * 5000 + "\n") * 20 + ("1 " * 20_000 + ">>\n") * 5
    result = extract_reply(text)
    assert result.startswith("Hallo\n1 1 1")
    assert len(result.split("\n")) == 6


def test_groupwise_header_is_still_found() -> None:
    text = "Antwort\n\n>>> Max Muster <m@x.de> 03.03.2026 10:00 >>>\nalter Text"
    assert extract_reply(text) == "Antwort"


def test_many_short_rules_are_linear() -> None:
    # the footer-rule check rebuilt the rest of the mail for every rule line
    result = extract_reply("x\n__\n" * 10_000)
    assert result.startswith("x\n__\nx")
    assert len(result) <= 5 * 10_000


def test_mailing_list_footer_under_short_rule_is_still_cut() -> None:
    text = "Antwort\n__\na\nb\nc\n__\nListe mailing list\nhttps://x/listinfo/y"
    assert extract_reply(text) == "Antwort\n__\na\nb\nc"
    rule = "_" * 20
    footer = "\n".join(f"Zeile {k}" for k in range(8))
    assert extract_reply(f"Antwort\n{rule}\n{footer}") == "Antwort"
    footer = "\n".join(f"Zeile {k}" for k in range(9))  # too long for a footer
    assert extract_reply(f"Antwort\n{rule}\n{footer}").endswith("Zeile 8")


def test_long_separator_like_lines_are_kept() -> None:
    line = "-- original message" + " " * 20_000 + "x"
    assert extract_reply("Hallo\n" + line) == "Hallo\n" + line
    dashes = ("-" * 299 + "\n") * 200
    assert extract_reply("Hallo\n" + dashes + "Ende").endswith("Ende")
