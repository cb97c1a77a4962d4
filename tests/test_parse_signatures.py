"""Signatures: closing formulas and signature lines (parsers.markers), learned and HTML-marked
signatures (parsers.signatures), and the cuts in reply extraction that use them."""

from __future__ import annotations

import pytest

from parsers import ParseOptions, parse_message
from parsers.markers import is_closing, is_contact_line, is_signature_line
from parsers.reply import extract_reply
from parsers.signatures import cut_known_signatures, html_signature_blocks, learn_signature

SIGNATURE = "Anna Schulz\nStadtbibliothek\nAm Alten Markt 7\n12345 Musterhausen\nTel. 01234 567-310"


@pytest.mark.parametrize(
    "line",
    ["Mit freundlichen Grüßen", "Mit freundlichem Gruß", "Sportliche Grüße", "Viele Grüße, Nils",
     "LG", "Bis bald!", "Herzlich", "Best regards,", "Kameradschaftliche Grüße", "MfG"],
)
def test_closing_formulas(line: str) -> None:
    assert is_closing(line)


@pytest.mark.parametrize(
    "line",
    ["Herzlich willkommen zum Sommerfest", "Bis morgen muss das fertig sein",
     "Grüße an alle Beteiligten, die beim Fest am 3. Mai im Bürgerhaus geholfen haben, und danke"],
)
def test_sentences_are_no_closing(line: str) -> None:
    assert not is_closing(line)


def test_signature_lines() -> None:
    assert is_contact_line("Tel.: +49 1234 567-120")
    assert is_contact_line("Am Alten Markt 7, Zimmer 0.12")
    assert is_signature_line("[cid:image001.png@01DB64C2.8F1E3A70]")
    assert is_signature_line(
        "Datenschutzhinweis: Informationen zur Verarbeitung Ihrer personenbezogenen Daten durch "
        "die Stadt Musterhausen finden Sie unter www.musterhausen.de/datenschutz."
    )
    assert not is_signature_line(
        "Am Samstag feiern wir das Sommerfest. Es gibt Musik, Spiele und Kuchen für alle Gäste."
    )


def test_learn_signature_needs_two_mails() -> None:
    assert learn_signature([]) is None
    assert learn_signature(["Hallo\n\nTermin am 3.3.\n\n" + SIGNATURE]) is None
    learned = learn_signature([
        "Hallo,\nTermin am 3.3.\n\n" + SIGNATURE,
        "Guten Tag,\nkeine Themen.\n\n" + SIGNATURE,
    ])
    assert learned == SIGNATURE


def test_learn_signature_ignores_a_tail_only_one_mail_has() -> None:
    texts = [
        "Hallo,\nkeine Themen.\n\nGruß Anna",
        "Hallo,\nam 3.3. Lesung.\n\n" + SIGNATURE,
        "Termin folgt.\n\nAnna Schulz\nvom Handy",
    ]
    assert learn_signature(texts) is None


def test_learn_signature_with_majority_of_mails() -> None:
    texts = ["A\n\n" + SIGNATURE, "B\n\n" + SIGNATURE, "C\n\nvom Handy", "D\n\n" + SIGNATURE]
    assert learn_signature(texts) == SIGNATURE


def test_learn_signature_rejects_identical_mails_and_short_lines() -> None:
    assert learn_signature(["keine Themen", "keine Themen"]) is None
    assert learn_signature(["x\nAnna", "y\nAnna"]) is None


def test_learn_signature_never_takes_answers_that_end_every_mail() -> None:
    """The library's contact ends each month with the same place and the same people: those
    are answers, not a signature; what follows them may be one."""
    months = [f"Was: Lesung im {month}\nWann: {day}.\nOrt: Stadtbibliothek, Markt 3\n"
              "Ansprechpartner: Team Kinderbibliothek" for month, day in
              (("Januar", "14.1"), ("Februar", "11.2"), ("März", "11.3"))]
    assert learn_signature(months) is None
    assert learn_signature([m + "\nWeie viele:  30" for m in months]) is None
    signed = [m + "\n\nStadtbibliothek Musterhausen – Lesen verbindet\nTel. 0123 45-600"
              for m in months]
    assert learn_signature(signed) == ("Stadtbibliothek Musterhausen – Lesen verbindet\n"
                                       "Tel. 0123 45-600")


def test_known_signature_block_is_cut_but_a_shared_line_stays() -> None:
    lines = ["Wer:", "Stadtbibliothek", "Wie viele: 40", "", *SIGNATURE.split("\n")]
    kept = cut_known_signatures(lines, [SIGNATURE])
    assert kept == ["Wer:", "Stadtbibliothek", "Wie viele: 40", ""]


def test_known_signature_with_one_changed_line() -> None:
    changed = SIGNATURE.replace("Am Alten Markt 7", "Marktplatz 1")
    assert cut_known_signatures(["Text", "", *changed.split("\n")], [SIGNATURE]) == ["Text", ""]


def test_one_line_signature_only_at_the_end() -> None:
    sig = "Lea Brandt · Klimaschutz · 0160 9876543"
    assert cut_known_signatures(["Text", sig], [sig]) == ["Text"]
    assert cut_known_signatures([sig, "Text"], [sig]) == [sig, "Text"]


def test_html_signature_blocks() -> None:
    html = (
        '<div dir="ltr">Hallo<div class="gmail_signature"><div>Sportliche Grüße<br>'
        "Sebastian Koch<br>Jugendleiter</div></div></div>"
        '<blockquote><div class="gmail_signature">Alt</div></blockquote>'
        '<div class="moz-signature">-- <br>Dr. Henrike Falk</div>'
        '<div id="Signature"><p>Serkan Yildiz</p></div>'
    )
    assert html_signature_blocks(html) == (
        "Sportliche Grüße\nSebastian Koch\nJugendleiter",
        "Dr. Henrike Falk",
        "Serkan Yildiz",
    )
    assert html_signature_blocks("<p>Hallo</p>") == ()


def test_signature_without_closing_after_the_answer() -> None:
    text = (
        "Wer: Stadtjugendring\nWie viele: 60\n\nMarek Kowalski\nAbteilungsleiter Jugendarbeit\n"
        "Schillerstraße 14\n12345 Musterhausen\nTelefon: 01234 567-520"
    )
    assert extract_reply(text) == "Wer: Stadtjugendring\nWie viele: 60"


def test_venue_address_at_the_end_stays() -> None:
    text = "Das Fest ist am 3. Mai hier:\n\nBürgerhaus Nord\nLindenstraße 5\n12345 Musterhausen"
    assert extract_reply(text) == text


def test_long_signature_with_notice_after_closing() -> None:
    lines = ["Hallo,", "", "am 3.3. ist Lesung.", "", "Mit freundlichen Grüßen", "Anna Schulz", ""]
    lines += [f"Zeile {k} der Abteilung" for k in range(14)]
    lines += ["Tel. 01234 567-310", "www.musterhausen.de",
              "Datenschutzhinweis: Informationen zur Verarbeitung Ihrer personenbezogenen Daten "
              "finden Sie unter www.musterhausen.de/datenschutz. " * 2]
    assert extract_reply("\n".join(lines)) == "Hallo,\n\nam 3.3. ist Lesung."


def test_known_signature_option_reaches_the_reply_text() -> None:
    raw = (
        "From: a@musterhausen.de\nSubject: x\nContent-Type: text/plain; charset=utf-8\n\n"
        "Lesung am 3.3.2027 in der Stadtbibliothek.\n\nTeam Stadtbibliothek\n"
        "Öffnungszeiten Di-Fr\nRaum 3\n"
    ).encode()
    sig = "Team Stadtbibliothek\nÖffnungszeiten Di-Fr\nRaum 3"
    assert "Raum 3" in parse_message(raw).reply_text
    assert "Raum 3" not in parse_message(raw, ParseOptions(known_signatures=(sig,))).reply_text
