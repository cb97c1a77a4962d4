"""Labels as people write them (parsers.labels) and tables (parsers.tables), through
`extract_topics`."""

from __future__ import annotations

from datetime import date

import pytest

from parsers.labels import header_field, vocabulary
from parsers.model import DEFAULT_LABELS, ParseOptions, Topic
from parsers.template import extract_topics

TODAY = date(2027, 1, 12)
VOCAB = vocabulary(DEFAULT_LABELS)


def topics(text: str) -> tuple[Topic, ...]:
    return extract_topics(text, text, (), ParseOptions(), TODAY)


@pytest.mark.parametrize(
    ("word", "field"),
    [("Wan", "when"), ("Wannn", "when"), ("Wnan", "when"), ("Wieviele", "how_many"),
     ("Wie veile", "how_many"), ("Wi viele", "how_many"), ("Wre", "who"), ("Woo", "where"),
     ("Waß", "what"), ("Zitta", "quote")],
)
def test_typos_of_question_words(word: str, field: str) -> None:
    assert VOCAB.typo(word) == field


@pytest.mark.parametrize("word", ["War", "Wen", "Hallo", "Info", "Wort", "Bitte"])
def test_words_that_are_no_typo_of_a_label(word: str) -> None:
    assert VOCAB.typo(word) is None


@pytest.mark.parametrize(
    ("cell", "field"),
    [("Was? (Titel)", "what"), ("Wann (Datum, Uhrzeit)", "when"), ("Datum/Uhrzeit", "when"),
     ("Wer ist dabei?", "who"), ("Wie viele Personen?", "how_many"),
     ("erwartete Besucher", "how_many"), ("Veranstaltungsort", "where"), ("Nr.", "ignore"),
     ("Bemerkung", "ignore"), ("Sommerfest", None), ("Uhrzeit", "when")],
)
def test_table_header_cells(cell: str, field: str | None) -> None:
    assert header_field(cell, VOCAB) == field


def test_own_words_as_labels() -> None:
    (topic,) = topics("Veranstaltung: Ehrenamtsbörse\nTermin: 17.04.2027\nOrt: Rathaus\n"
                      "Ansprechpartner: Frau Celik\nTeilnehmende: 25")
    assert (topic.what, topic.where, topic.who) == ("Ehrenamtsbörse", "Rathaus", "Frau Celik")
    assert topic.when is not None and topic.when.start == date(2027, 4, 17)
    assert topic.how_many is not None and topic.how_many.min == 25


def test_a_lone_own_word_label_is_no_topic() -> None:
    assert topics("Danke für die Erinnerung.\n\nKontakt: 01234 567-100") == ()


def test_two_labels_on_one_line() -> None:
    (topic,) = topics("Was: Stadtradeln\nWann: 9.5.2027, 10 Uhr   Wo: Marktplatz\n"
                      "Wer: Klimaschutz, Wie viele: ca. 300")
    assert topic.where == "Marktplatz"
    assert topic.who == "Klimaschutz"
    assert topic.how_many is not None and topic.how_many.min == 300
    assert topic.when is not None and topic.when.time == "10:00"


def test_time_label_completes_the_date() -> None:
    (topic,) = topics("Titel: Einbürgerungsfeier\nDatum: 24.03.2027\nUhrzeit: 17:00 Uhr\n"
                      "Ort: Ratssaal")
    assert topic.when is not None
    assert (topic.when.start, topic.when.time) == (date(2027, 3, 24), "17:00")


def test_unknown_label_ends_the_answer_above() -> None:
    (topic,) = topics("Was: Ferienspiele\nWie viele: 120 Kinder\nAnmeldung: ab 1. März online")
    assert topic.how_many is not None and topic.how_many.text == "120 Kinder"


def test_tab_table_with_header_row_and_two_date_columns() -> None:
    text = ("Veranstaltung\tDatum\tUhrzeit\tOrt\tBemerkung\n"
            "Tanztee\t21.03.2027\t14:30\tBürgerhaus\tmit Live-Musik\n"
            "Kaffeeklatsch\t10.02.2027\t15:00\tSeniorentreff\t\n")
    first, second = topics(text)
    assert first.what == "Tanztee" and first.where == "Bürgerhaus"
    assert first.when is not None and first.when.time == "14:30"
    assert second.when is not None and second.when.start == date(2027, 2, 10)


def test_label_column_with_one_column_per_topic() -> None:
    text = ("\tThema 1\tThema 2\nWas\tSchwimmabzeichen-Tag\tSaisonstart Freibad\n"
            "Wann\t15.05.2027\t01.05.2027\nWie viele\t100\t\n")
    first, second = topics(text)
    assert (first.what, second.what) == ("Schwimmabzeichen-Tag", "Saisonstart Freibad")
    assert second.how_many is None


def test_semicolon_rows_and_typed_pipe_table() -> None:
    csv = "Was;Wann;Wo\nAbiturfeier;25.06.2027;Stadthalle\nVorlesewettbewerb;23.02.2027;Aula\n"
    assert [t.what for t in topics(csv)] == ["Abiturfeier", "Vorlesewettbewerb"]
    pipes = ("| Anlass | Datum | Kontakt |\n|---|---|---|\n| Lesesaal | 22.02.2027 | |\n"
             "| Führung | 20.03.2027 | Dr. Lenz |\n")
    first, second = topics(pipes)
    assert first.who is None and second.who == "Dr. Lenz"


def test_participants_column_of_numbers_is_a_count() -> None:
    text = ("Event\tDate\tContact\tParticipants\nEurope Day\t9 May 2027\tOffice\t90\n"
            "Language café\t3 Feb 2027\tLibrary\t20\n")
    first, _second = topics(text)
    assert first.who == "Office"
    assert first.how_many is not None and first.how_many.min == 90


def test_a_table_without_labels_is_no_topic_list() -> None:
    text = "Name\tTelefon\nAnna\t0123\nBernd\t0456\n"
    assert topics(text) == ()


def test_a_long_table_is_read_up_to_its_row_limit() -> None:
    text = "Was | Wann | Wo\n" + "".join(f"Fest {k} | 3.3.2027 | Halle {k}\n" for k in range(300))
    found = topics(text)
    assert len(found) == 199  # MAX_ROWS rows read, the header among them
    assert found[-1].what == "Fest 198"


def test_labels_without_separator_in_a_run_of_three_fields() -> None:
    (topic,) = topics("Was Laternenumzug\nWan 11.11. um 17 Uhr\nWo ab Kita Regenbogen\n"
                      "Wieviele so 150 mit Eltern")
    assert (topic.what, topic.where) == ("Laternenumzug", "ab Kita Regenbogen")
    assert topic.when is not None and topic.when.time == "17:00"
    assert topic.how_many is not None and topic.how_many.min == 150


def test_question_words_starting_prose_lines_are_no_labels() -> None:
    found = topics("Was wir im Frühjahr planen, steht noch nicht fest.\n"
                   "Wer Lust hat, kann gern vorbeikommen.")
    assert all(t.who is None for t in found)


def test_combined_when_where_label_splits_date_and_place() -> None:
    (topic,) = topics("Was: Lesesommer-Auftakt\n"
                      "Wann/Wo: Fr., 2. Juli, 15 Uhr, Zweigstelle Ost (Kastanienallee 7)")
    assert topic.when is not None
    assert (topic.when.text, topic.when.start) == ("Fr., 2. Juli, 15 Uhr", date(2027, 7, 2))
    assert topic.where == "Zweigstelle Ost (Kastanienallee 7)"


def test_numbered_heading_over_labels_is_the_topic_name() -> None:
    found = topics("1. Lesesommer-Auftakt\nWann: 2.7.2027\nWer: Bibliotheksteam\n\n"
                   "2. Onleihe-Sprechstunde\nWann: ab März\n")
    assert [t.what for t in found] == ["Lesesommer-Auftakt", "Onleihe-Sprechstunde"]


def test_label_word_after_adjectives() -> None:
    (topic,) = topics("Thema: Sommerfest\nDatum: 03.07.2027\nerwartete Teilnehmerzahl: 150\n"
                      "voraussichtlicher Ort: Stadtpark")
    assert topic.how_many is not None and topic.how_many.min == 150
    assert topic.where == "Stadtpark"


def test_terse_numbered_items_list_their_facts_between_commas() -> None:
    found = topics("1) Stadtlauf, 19.9., Stadion am Wall, ca. 1.200 Läufer\n"
                   "2) Eröffnung Kunstrasenplatz, Ende April, Sportpark Nord, FC Musterhausen")
    assert [(t.what, t.where) for t in found] == [
        ("Stadtlauf", "Stadion am Wall"), ("Eröffnung Kunstrasenplatz", "Sportpark Nord")
    ]
