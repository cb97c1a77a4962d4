"""Free text without labels (parsers.freetext): the event's name and the facts the prose
states, nothing invented."""

from __future__ import annotations

from datetime import date

import pytest

from parsers.freetext import event_names, find_who, free_text_facts
from parsers.places import find_places, find_where

TODAY = date(2027, 1, 12)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Die Jubiläumsfeier findet am 14. März statt.", "Jubiläumsfeier"),
        ("Wir laden zum Tag der offenen Tür ein.", "Tag der offenen Tür"),
        ("Vom 3. bis 7. Mai veranstalten wir die erste Woche der Inklusion.",
         "Woche der Inklusion"),
        ("Der wichtigste Termin ist die Stadtteilkonferenz Weststadt am 25. Februar.",
         "Stadtteilkonferenz Weststadt"),
        ("Wir planen die Eröffnung der neuen Radstation am Bahnhof.",
         "Eröffnung der neuen Radstation"),
        ("Am Samstag gibt es das Kunstprojekt „Farbe für die Unterführung“.",
         "Kunstprojekt „Farbe für die Unterführung“"),
        ("Our Open Day takes place on 27 February.", "Open Day"),
    ],
)
def test_event_names(text: str, name: str) -> None:
    assert event_names(text)[0][2] == name


@pytest.mark.parametrize(
    "text",
    ["Am Dienstag ist Geburtstag.", "Der Vertrag läuft aus.", "Die Unterführung wird hell.",
     "Am nächsten Tag fahren wir."],
)
def test_no_event_names(text: str) -> None:
    assert event_names(text) == []


@pytest.mark.parametrize(
    ("text", "who"),
    [
        ("Bürgermeisterin Andrea Vogt hält ein Grußwort, der Förderverein backt Kuchen.",
         "Bürgermeisterin Andrea Vogt, Förderverein"),
        ("Eröffnen werden Schulleiterin Dr. Maren Koch und die Schülervertretung.",
         "Schulleiterin Dr. Maren Koch, Schülervertretung"),
        ("Mit dabei ist der Lauftreff des TV Musterhausen.", "Lauftreff des TV Musterhausen"),
        ("Vertreter der Telekom und des Tiefbauamts beantworten Fragen.", "Telekom, Tiefbauamt"),
        ("zusammen mit dem ADFC und der Lebenshilfe Musterhausen.",
         "ADFC, Lebenshilfe Musterhausen"),
        ("Die Jahreshauptversammlung der Freiwilligen Feuerwehr ist im März.",
         "Freiwilligen Feuerwehr"),
        ("The food is prepared by the Parents' Association.", "Parents' Association"),
    ],
)
def test_who(text: str, who: str) -> None:
    assert find_who(text) == who


@pytest.mark.parametrize(
    "text",
    ["Die Meisterinnen und Meister werden geehrt.", "Die Baustelle ist im Frühjahr fertig.",
     "Hallo zusammen, viele Grüße vom Rat der Stadt"],
)
def test_nobody_named(text: str) -> None:
    assert find_who(text) is None


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Die Feier ist am Sonntag im Bürgerhaus Nord statt.", "Bürgerhaus Nord"),
        ("der Sponsorenlauf rund um die Gesamtschule.", "rund um die Gesamtschule"),
        ("am 15.2. öffnet die Bücherei Süd wieder.", "Bücherei Süd"),
        ("Konzert in der Aula des Gymnasiums. Durch das Programm führt ...", "Aula des Gymnasiums"),
        ("um 18 Uhr im Gemeindezentrum St. Marien. Dort", "Gemeindezentrum St. Marien"),
        ("Im Stadtpark Kinder können dort spielen.", "Stadtpark"),
    ],
)
def test_places(text: str, place: str) -> None:
    assert find_places(text)[0].text == place


def test_facts_of_an_eight_line_note() -> None:
    (facts,) = free_text_facts([
        "im März haben wir etwas zu feiern: Das Familienzentrum wird zehn Jahre alt!\n"
        "Die Jubiläumsfeier findet am Sonntag, 14. März 2027 ab 15 Uhr im Bürgerhaus Nord "
        "statt.\nBürgermeisterin Andrea Vogt spricht ein Grußwort.\n"
        "Wir rechnen mit rund 200 Gästen."
    ], TODAY)
    assert facts.what == "Jubiläumsfeier"
    assert facts.where == "Bürgerhaus Nord"
    assert facts.when is not None and facts.when.time == "15:00"
    assert facts.who == "Bürgermeisterin Andrea Vogt"
    assert facts.how_many is not None and facts.how_many.min == 200


def test_what_is_not_stated_stays_missing() -> None:
    (facts,) = free_text_facts(["Der Neujahrsempfang ist dieses Jahr am 29.1."], TODAY)
    assert (facts.what, facts.where, facts.who, facts.how_many) == (
        "Neujahrsempfang", None, None, None)


def test_two_dated_events_in_two_paragraphs_are_two_topics() -> None:
    facts = free_text_facts([
        "Am 21. Februar 2027 ist das Musikschulkonzert in der Aula.",
        "Außerdem gibt es am 13. März 2027 das Instrumentenkarussell in der Musikschule.",
    ], TODAY)
    assert [f.what for f in facts] == ["Musikschulkonzert", "Instrumentenkarussell"]


def test_the_same_event_twice_is_one_topic() -> None:
    facts = free_text_facts([
        "Die Stadtteilkonferenz ist am 25. Februar 2027 im Gemeindezentrum.",
        "Nach der Stadtteilkonferenz am 1. März 2027 werten wir aus.",
    ], TODAY)
    assert len(facts) == 1


def test_lower_case_mail() -> None:
    (facts,) = free_text_facts(
        ["hi, bei uns ist am 3.7. wieder sommerfest in der kleingartenanlage am see, "
         "so ca 150 leute."], TODAY)
    assert facts.what == "sommerfest"
    assert facts.where == "kleingartenanlage am see"


def test_organiser_sentence_in_another_paragraph_names_who() -> None:
    filler = "Bei uns ist gerade viel los, die Beratungsstelle ist gut angelaufen. " * 20
    (facts,) = free_text_facts(
        [filler, "Am 8. März ist unser Frauenfrühstück im Bürgerhaus Mitte, auch der "
         "Integrationsbeirat lädt ein.",
         "Organisiert wird das Ganze vom Gleichstellungsbüro zusammen mit dem "
         "Landfrauenverein."],
        date(2027, 1, 12),
    )
    assert facts.who == "Gleichstellungsbüro, Landfrauenverein"


def test_weekday_after_am_is_no_street() -> None:
    assert find_where("Empfang im Rathaus am Samstag um 11 Uhr") == "Rathaus"
    assert find_where("Fest im Bürgerhaus am Lindenweg 3") == "Bürgerhaus am Lindenweg 3"


def test_a_past_event_beside_an_upcoming_one_is_no_topic() -> None:
    facts = free_text_facts(
        ["Zum Tag der Bibliotheken am 24.10.2026 hatten wir über 300 Besucher.",
         "Als Nächstes kommt unsere Lesenacht am 12. März ab 18 Uhr in der Stadtbücherei."],
        date(2027, 1, 5),
    )
    assert [(f.what, f.how_many) for f in facts] == [("Lesenacht", None)]


def test_two_dated_events_in_one_paragraph_are_two_topics() -> None:
    facts = free_text_facts(
        ["Am 3. Mai ist unser Maifest im Stadtpark mit ca. 500 Gästen. Außerdem ist am "
         "12. Juni das Brunnenfest auf dem Marktplatz, da kommen meist 300 Leute."],
        date(2027, 1, 5),
    )
    assert [(f.what, f.where) for f in facts] == [
        ("Maifest", "Stadtpark"), ("Brunnenfest", "Marktplatz")
    ]
    assert [f.how_many.min if f.how_many else None for f in facts] == [500, 300]


def test_the_same_event_named_again_in_a_paragraph_stays_one_topic() -> None:
    facts = free_text_facts(
        ["Am 12. März ist unser Frühlingsfest. Das Fest beginnt um 14 Uhr im Bürgerhaus, "
         "am 13. März wird dann aufgeräumt."],
        date(2027, 1, 5),
    )
    assert [f.what for f in facts] == ["Frühlingsfest"]
