"""Reply extraction: quoted originals, signatures and disclaimers off; the answer kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsers import parse_message
from parsers.reply import extract_reply

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
    spec = json.loads(expected_path.read_text(encoding="utf-8"))["expected"]
    eml = expected_path.with_name(expected_path.name.replace(".expected.json", ".eml"))
    result = parse_message(eml.read_bytes())
    for needle in spec.get("reply_text_contains", []):
        assert needle in result.reply_text
    for needle in spec.get("reply_text_not_contains", []):
        assert needle not in result.reply_text
    assert result.kind == spec["kind"]
