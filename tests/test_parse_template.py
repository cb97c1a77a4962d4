"""Table-driven tests of template extraction (pure functions, plain strings as input).

Each case gives the reply text (and, where it matters, the full text with quotes), and the
expected topics as partial JSON dicts in the contract's shape: only the keys listed are
compared, but the number of topics always is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from parsers import parse_message
from parsers.model import DEFAULT_LABELS, ParseOptions, Topic
from parsers.template import (
    extract_topics,
    first_sentence,
    is_no_topics,
    looks_like_prose,
    required_missing,
)

TODAY = date(2027, 3, 10)

BOT_TEMPLATE = """--- Thema ---
Was:
Wann:
Wo:
Wer:
Wie viele:
Zitat:
Bilder: (gern direkt anhängen)
--- Ende ---"""


def when(text: str, start: str | None, end: str | None = None, time: str | None = None) -> Any:
    return {"text": text, "start": start, "end": end or start, "time": time}


def count(text: str, low: int | None, high: int | None) -> Any:
    return {"text": text, "min": low, "max": high}


@dataclass(frozen=True)
class Case:
    id: str
    reply: str
    expected: list[dict[str, Any]]
    full: str | None = None  # default: the reply itself
    attachments: tuple[str, ...] = ()
    asked: tuple[str, ...] = ()
    labels: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_LABELS))


CASES = [
    Case(
        "full_template_block",
        """Hallo,

--- Thema ---
Was: Sommerfest der Kita
Wann: 3. Juli, 14 Uhr
Wo: Stadtpark
Wer: Kita Sonnenschein
Wie viele: ca. 200
Zitat: „Wir freuen uns auf alle!“
Bilder: (gern direkt anhängen)
--- Ende ---

Viele Grüße
Anna""",
        [
            {
                "what": "Sommerfest der Kita",
                "when": when("3. Juli, 14 Uhr", "2027-07-03", time="14:00"),
                "where": "Stadtpark",
                "who": "Kita Sonnenschein",
                "how_many": count("ca. 200", 200, 200),
                "quote": "„Wir freuen uns auf alle!“",
                "attachments": ["fest.jpg"],
                "missing": [],
            }
        ],
        attachments=("fest.jpg",),
    ),
    Case(
        "answers_on_next_line_multiline_value",
        """--- Thema ---
Was:
Sommerfest
mit Flohmarkt und Tombola
Wann:
12.6.
Wo:
Stadtpark
Wer:
Wie viele:
Zitat:
Bilder: (gern direkt anhängen)
--- Ende ---""",
        [
            {
                "what": "Sommerfest\nmit Flohmarkt und Tombola",
                "when": when("12.6.", "2027-06-12"),
                "where": "Stadtpark",
                "who": None,
                "how_many": None,
                "missing": ["who", "how_many"],
            }
        ],
    ),
    Case(
        "label_variants_bold_question_dash_case",
        """**Thema:** Laternenumzug
**Wann?** 11.11., 17:30
WO GENAU: ab Rathaus
Wie viele Personen: 50-60
Wer - Grundschule am Park
- Zitat: -""",
        [
            {
                "what": "Laternenumzug",
                "when": when("11.11., 17:30", "2027-11-11", time="17:30"),
                "where": "ab Rathaus",
                "who": "Grundschule am Park",
                "how_many": count("50-60", 50, 60),
                "quote": "-",
                "missing": [],
            }
        ],
    ),
    Case(
        "not_applicable_answers_are_answered",
        """Was: Ratssitzung
Wann: 12.5., 18 Uhr
Wo: Sitzungssaal
Wer: entfällt
Wie viele: k. A.""",
        [
            {
                "who": "entfällt",
                "how_many": count("k. A.", None, None),
                "missing": [],
            }
        ],
    ),
    Case(
        "dash_after_label_is_a_not_applicable_answer",
        "Was: Fest\nWann: 1.8.\nWo: Park\nWer -\nWie viele: 30",
        [{"who": "-", "missing": []}],
    ),
    Case(
        "von_an_lines_are_not_labels",
        """Was: Elternabend
Wann: 20.4.
Von: 10 Uhr bis 12 Uhr
Wo: Aula
Wer: Schulleitung
An: alle Eltern""",
        [
            {
                "what": "Elternabend",
                "when": when("20.4.\nVon: 10 Uhr bis 12 Uhr", "2027-04-20", time="10:00"),
                "where": "Aula",
                "who": "Schulleitung\nAn: alle Eltern",
            }
        ],
    ),
    Case(
        "repeated_blocks_two_topics",
        f"""{BOT_TEMPLATE.replace("Was:", "Was: Frühjahrsputz").replace("Wann:", "Wann: 20.3.")}

{BOT_TEMPLATE.replace("Was:", "Was: Osterfeuer").replace("Wann:", "Wann: Ostersamstag")}""",
        [
            {"what": "Frühjahrsputz", "when": when("20.3.", "2027-03-20")},
            {"what": "Osterfeuer", "when": when("Ostersamstag", None, None)},
        ],
    ),
    Case(
        "repeated_labels_without_markers",
        """Was: Fest
Wann: 12.5.
Was: Umzug
Wann: KW 20""",
        [
            {"what": "Fest", "when": when("12.5.", "2027-05-12")},
            {"what": "Umzug", "when": when("KW 20", "2027-05-17", "2027-05-23")},
        ],
    ),
    Case(
        "numbered_labelled_topics_with_pictures",
        """1) Was: Fest
Wann: 12.5.
Bilder: fest.jpg
2) Was: Umzug
Wann: 1.6.
Bilder: siehe umzug.png""",
        [
            {"what": "Fest", "attachments": ["fest.jpg", "plakat.pdf"]},
            {"what": "Umzug", "attachments": ["umzug.png"]},
        ],
        attachments=("fest.jpg", "umzug.png", "plakat.pdf"),
    ),
    Case(
        "topic_headings",
        """Thema 1: Seniorennachmittag
Wann: 14.4.
Thema 2: Blutspende
Wann: 21.4.""",
        [
            {"what": "Seniorennachmittag", "when": when("14.4.", "2027-04-14")},
            {"what": "Blutspende", "when": when("21.4.", "2027-04-21")},
        ],
    ),
    Case(
        "table_header_row",
        """Hier unsere Termine:

Was | Wann | Wo | Wer | Wie viele
Sommerfest | 3. Juli | Stadtpark | Kita | 200
Laternenumzug | 11.11. |  | Grundschule | über 100""",
        [
            {
                "what": "Sommerfest",
                "when": when("3. Juli", "2027-07-03"),
                "where": "Stadtpark",
                "how_many": count("200", 200, 200),
                "missing": [],
            },
            {
                "what": "Laternenumzug",
                "where": None,
                "how_many": count("über 100", 101, None),
                "missing": ["where"],
            },
        ],
    ),
    Case(
        "markdown_table",
        """| Thema | Datum | Ort |
|---|---|---|
| Lesung | 5.5. | Stadtbibliothek |""",
        [{"what": "Lesung", "when": when("5.5.", "2027-05-05"), "where": "Stadtbibliothek"}],
    ),
    Case(
        "two_column_label_value_rows",
        """Was: | Bürgersprechstunde
Wann: | 8.4., 16 Uhr
Wo: | Rathaus, Zimmer 12""",
        [
            {
                "what": "Bürgersprechstunde",
                "when": when("8.4., 16 Uhr", "2027-04-08", time="16:00"),
                "where": "Rathaus, Zimmer 12",
            }
        ],
    ),
    Case(
        "label_column_table_one_topic_per_column",
        """Was | Sommerfest | Laternenumzug
Wann | 3. Juli | 11.11.
Wo | Park | Rathaus""",
        [
            {"what": "Sommerfest", "when": when("3. Juli", "2027-07-03"), "where": "Park"},
            {"what": "Laternenumzug", "when": when("11.11.", "2027-11-11"), "where": "Rathaus"},
        ],
    ),
    Case(
        "numbered_free_text_list",
        """Hallo,

1. Sommerfest am 3. Juli im Stadtpark, ca. 200 Gäste
2. Laternenumzug am 11.11. ab dem Rathaus

Gruß""",
        [
            {
                # the contract's free-text rule: the event's name, not the whole item
                "what": "Sommerfest",
                "when": when("3. Juli", "2027-07-03"),
                "where": "Stadtpark",
                "how_many": count("ca. 200 Gäste", 200, 200),
                "missing": ["who"],
            },
            {
                "what": "Laternenumzug",
                "when": when("11.11.", "2027-11-11"),
                "missing": ["where", "who", "how_many"],
            },
        ],
    ),
    Case(
        "bullet_list_with_facts",
        """- Frühlingsmarkt am 24.4. auf dem Marktplatz
- Stadtradeln vom 1. bis 21. Mai""",
        [
            {"where": "Marktplatz", "when": when("24.4.", "2027-04-24")},
            {"when": when("1. bis 21. Mai", "2027-05-01", "2027-05-21")},
        ],
    ),
    Case(
        "free_text_facts",
        """Hallo Frau Müller,

vielen Dank für Ihre Nachricht. Wir veranstalten am 12. Mai um 14 Uhr ein Frühlingsfest im \
Bürgerhaus. Es werden ca. 80 Gäste erwartet.

Viele Grüße
Tom""",
        [
            {
                "what": "Frühlingsfest",  # the event's name, not the first sentence
                "when": when("12. Mai um 14 Uhr", "2027-05-12", time="14:00"),
                "where": "Bürgerhaus",
                "who": None,
                "how_many": count("ca. 80 Gäste", 80, 80),
                "missing": ["who"],
                "attachments": ["flyer.pdf"],
            }
        ],
        attachments=("flyer.pdf",),
    ),
    Case(
        "free_text_long_report_keeps_what_short",
        "Sehr geehrte Damen und Herren,\n\n"
        + "Im vergangenen Quartal haben wir zahlreiche Maßnahmen umgesetzt, " * 8
        + "und das war gut.\n\n"
        + "Die Abschlussveranstaltung findet am 12. Mai in der Stadthalle statt.\n",
        [
            {
                "when": when("12. Mai", "2027-05-12"),
                "where": "Stadthalle",
                "missing": ["who", "how_many"],
            }
        ],
    ),
    Case("chit_chat_gives_nothing", "Danke, melde mich später.", []),
    Case("chit_chat_with_relative_day_gives_nothing", "Ich melde mich morgen wieder.", []),
    Case("no_topics_gives_nothing", "Diesen Monat leider nichts. Ab dem 12. Mai wieder.", []),
    Case(
        "out_of_office_text_gives_nothing",
        "Ich bin bis zum 12. April nicht im Büro. In dringenden Fällen wenden Sie sich an ...",
        [],
    ),
    Case(
        "filled_inside_outlook_quoted_original",
        "Siehe unten.",
        [
            {
                "what": "Tag der offenen Tür",
                "when": when("24.4.", "2027-04-24"),
                "missing": ["where", "who", "how_many"],
            }
        ],
        full="""Siehe unten.

Von: Intake-Bot <intake@stadt.example>
Gesendet: Montag, 1. März 2027 09:00
An: Bauamt
Betreff: Ihre Themen für April

Guten Tag,

bitte füllen Sie für jedes Thema einen Block aus.

"""
        + BOT_TEMPLATE.replace("Was:", "Was: Tag der offenen Tür").replace("Wann:", "Wann: 24.4."),
    ),
    Case(
        "filled_inside_gt_quoted_original",
        "",
        [{"what": "Baumpflanzaktion", "where": "Schulhof", "missing": ["when", "who", "how_many"]}],
        full="""Am 01.03.2027 schrieb Intake-Bot <intake@stadt.example>:
> --- Thema ---
> Was: Baumpflanzaktion
> Wann:
> Wo: Schulhof
> Wer:
> Wie viele:
> Zitat:
> Bilder: (gern direkt anhängen)
> --- Ende ---""",
    ),
    Case(
        "unfilled_quoted_template_gives_nothing",
        "Danke, ich melde mich nächste Woche.",
        [],
        full="Danke, ich melde mich nächste Woche.\n\n"
        + "\n".join("> " + line for line in BOT_TEMPLATE.splitlines()),
    ),
    Case(
        "reply_blocks_win_over_quoted_ones",
        "Was: Neues Thema\nWann: 5.5.",
        [{"what": "Neues Thema"}],
        full="Was: Neues Thema\nWann: 5.5.\n\n> Was: Altes Thema\n> Wann: 1.4.",
    ),
    Case(
        "apple_mail_header_datum_is_not_a_label",
        "",
        [],
        full="""Von: Intake-Bot <intake@stadt.example>
Datum: 1. März 2027 um 09:00:00 MEZ
An: Bauamt
Betreff: Ihre Themen für April""",
    ),
    Case(
        "asked_single_field_unlabelled",
        "Hallo,\nam 12. Mai um 14 Uhr.\nGruß",
        [
            {
                "what": None,
                "when": when("am 12. Mai um 14 Uhr.", "2027-05-12", time="14:00"),
                "missing": [],
            }
        ],
        asked=("when",),
    ),
    Case(
        "asked_single_field_where",
        "Im Bürgerhaus, Saal 2",
        [{"where": "Im Bürgerhaus, Saal 2", "missing": []}],
        asked=("where",),
    ),
    Case(
        "asked_single_field_how_many_in_a_sentence",
        "Am 12. Mai kommen etwa 40 Leute.",
        [{"how_many": count("Am 12. Mai kommen etwa 40 Leute.", 40, 40), "missing": []}],
        asked=("how_many",),
    ),
    Case(
        "asked_several_fields_unlabelled_facts",
        "Im Bürgerhaus, es kommen etwa 40 Leute.",
        [
            {
                "where": "Bürgerhaus",
                "how_many": count("etwa 40 Leute", 40, 40),
                "missing": [],
            }
        ],
        asked=("where", "how_many"),
    ),
    Case(
        "asked_several_fields_labels_decide",
        "Wann: 5.5.\nWo: Rathaus",
        [{"when": when("5.5.", "2027-05-05"), "where": "Rathaus", "missing": ["who"]}],
        asked=("when", "where", "who"),
    ),
    Case(
        "asked_answer_ignores_older_quoted_template",
        "Am 3. Juni.",
        [{"what": None, "when": when("Am 3. Juni.", "2027-06-03"), "missing": []}],
        full="Am 3. Juni.\n\n> Was: Sommerfest\n> Wann:\n> Wo: Park",
        asked=("when",),
    ),
    Case(
        "single_plain_label_with_free_text_facts",
        "Thema: Sommerfest am 3. Juli im Stadtpark",
        [
            {
                "what": "Sommerfest am 3. Juli im Stadtpark",
                "when": when("3. Juli", "2027-07-03"),
                "where": "Stadtpark",
            }
        ],
    ),
    Case(
        "sentence_with_label_word_is_not_a_template",
        "Wer Lust hat: gerne melden.",
        [],
    ),
    Case(
        "configured_labels",
        "Anlass: Jubiläum\nTermin: 1.9.",
        [{"what": "Jubiläum", "when": when("1.9.", "2027-09-01")}],
        labels={"what": ("Anlass",), "when": ("Termin",)},
    ),
]


def _check(topics: tuple[Topic, ...], expected: list[dict[str, Any]]) -> None:
    got = [t.to_json_dict() for t in topics]
    assert len(got) == len(expected), got
    for actual, wanted in zip(got, expected, strict=True):
        assert {k: actual[k] for k in wanted} == wanted, actual


def _check_case(case: Case) -> None:
    options = ParseOptions(asked=case.asked, labels=case.labels)
    full = case.reply if case.full is None else case.full
    topics = extract_topics(full, case.reply, case.attachments, options, TODAY)
    _check(topics, case.expected)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_extract_topics(case: Case) -> None:
    _check_case(case)


def test_free_text_what_is_trimmed() -> None:
    # no event noun: the first sentence stands in, cut short
    long_sentence = "Wir machen " + "etwas wirklich sehr Schönes " * 20 + "am 12. Mai."
    topics = extract_topics(long_sentence, long_sentence, (), ParseOptions(), TODAY)
    assert len(topics) == 1
    what = topics[0].what
    assert what is not None and len(what) <= 200 and what.endswith("…")
    # an event noun: its name, however long the sentence
    long_sentence = "Wir feiern " + "ein wirklich sehr schönes Fest " * 20 + "am 12. Mai."
    (topic,) = extract_topics(long_sentence, long_sentence, (), ParseOptions(), TODAY)
    assert topic.what == "Fest"


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("Hallo Herr Meier,\n\nvielen Dank! Anbei unsere Themen:\nDas Stadtfest am 3. Juli.",
         "Das Stadtfest am 3. Juli."),
        ("Am 12. Mai ist z. B. das Fest. Danach mehr.", "Am 12. Mai ist z. B. das Fest."),
        ("Danke.", None),
    ],
    ids=["skips_greeting_thanks_meta", "keeps_ordinals_and_abbreviations", "nothing_meaningful"],
)  # fmt: skip
def test_first_sentence(text: str, sentence: str | None) -> None:
    assert first_sentence(text) == sentence


NO_TOPICS = [
    ("keine_themen", "keine Themen", True),
    ("keine_neuen_themen", "Hallo,\nwir haben keine neuen Themen.\nGruß", True),
    ("diesen_monat_nichts", "Diesen Monat nichts.", True),
    ("diesmal_leider_nichts", "Diesmal leider nichts, sorry!", True),
    ("nichts_zu_melden", "Hallo,\nleider nichts zu melden.\nViele Grüße", True),
    ("fehlanzeige", "Fehlanzeige!", True),
    ("leider_nichts", "Leider nichts.", True),
    ("aktuell_nichts", "Aktuell nichts Neues von uns.", True),
    ("english", "No topics this month, sorry.", True),
    ("english_nothing", "Nothing to report this time.", True),
    ("ausser", "Keine Themen außer dem Sommerfest am 3. Juli.", False),
    ("bis_auf", "Diesen Monat nichts bis auf die Ratssitzung.", False),
    ("kein_thema_idiom", "Kein Thema, hier das Fest: 3. Juli", False),
    ("with_template", "Keine Themen diesmal?\nWas: Fest\nWann: 3.7.", False),
    ("real_topic", "Wir feiern am 3. Juli das Sommerfest.", False),
    ("empty", "", False),
    ("deep_in_long_text", "Das Sommerfest ist am 3. Juli. " * 30 + "Sonst leider nichts.", False),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(*c[1:], id=c[0]) for c in NO_TOPICS])
def test_is_no_topics(text: str, expected: bool) -> None:
    assert is_no_topics(text) is expected


@pytest.mark.parametrize(
    ("topic", "asked", "missing"),
    [
        (Topic(what="Fest"), (), ("when", "where", "who", "how_many")),
        (Topic(what="Fest", who="  "), ("who", "what"), ("who",)),
        (Topic(what="Fest"), ("images",), ("images",)),
        (Topic(what="Fest", attachments=("a.jpg",)), ("images",), ()),
    ],
    ids=["required_default", "asked_in_field_order", "images_without_attachments",
         "images_with_attachments"],
)  # fmt: skip
def test_required_missing(topic: Topic, asked: tuple[str, ...], missing: tuple[str, ...]) -> None:
    assert required_missing(topic, ParseOptions(asked=asked)) == missing


def test_long_free_text_still_yields_its_facts() -> None:
    filler = "Im vergangenen Jahr haben wir viel erreicht und vieles verbessert. " * 1500
    text = "Am 12. Mai feiern wir im Bürgerhaus. " + filler
    topics = extract_topics(text, text, (), ParseOptions(), TODAY)
    assert [t.where for t in topics] == ["Bürgerhaus"]


@pytest.mark.parametrize("text, expected", [
    ("Am 12. Mai feiern wir das Richtfest im Bürgerhaus, ca. 80 Gäste.", True),
    ("Termin: 3.–5. Juni (Fr.–So.), Ort: Stadtpark / Bühne 2 & Zelt; Info@stadt.de", True),
    ("…jÎMõ]J,Ĵ´Š©Gê?bпk@܀ÍQ£دñ¹f#ÿ#ÐÊà2&ᴈÍô¯5TŠᷣOhðÛy£ÿ™$®ÏhЁëVn_’ åÀ½Zõz_”ÆÞg=Ž6õ?†Kw31", False),
    ("", False),
], ids=["german-sentence", "dense-but-human", "decoded-binary", "empty"])
def test_looks_like_prose(text: str, expected: bool) -> None:
    assert looks_like_prose(text) is expected


# --- Regression: pathological lines, file names, configured labels ---------------------------
# Inputs are sized to make the old regexes backtrack for seconds (or crash the old code); the
# fixed code answers at once. Only results are asserted, never timings.

LONG_VALUE = "ein sehr langer Text über das Fest " * 20

REGRESSION_CASES = [
    Case("label_then_blank_run_then_word", "Was" + " " * 3000 + "x", []),
    Case("label_then_tab_run_then_word", "Was" + " \t" * 2000 + "x", []),
    Case(
        "blank_run_before_value",
        "Was:" + " " * 5000 + "Sommerfest\nWo:" + "\t" * 3000 + "Stadtpark",
        [{"what": "Sommerfest", "where": "Stadtpark"}],
    ),
    Case(
        "blank_run_before_colon",
        "Was" + " " * 400 + ": Sommerfest\nWo: Stadtpark",
        [{"what": "Sommerfest", "where": "Stadtpark"}],
    ),
    Case(
        "blank_runs_around_question_mark",
        "Was: Fest\nWie viele" + " " * 3000 + "?" + " " * 3000 + "80",
        [{"what": "Fest", "how_many": count("80", 80, 80)}],
    ),
    Case(  # not a marker: a continuation line of the answer, as at any length
        "line_of_stars_between_labels",
        "Was: Fest\n" + "*" * 10000 + "\nWo: Halle",
        [{"what": "Fest\n" + "*" * 10000, "where": "Halle"}],
    ),
    Case(
        "label_glued_to_stars",
        "Was" + "*" * 10000 + "x\nWo: Halle",
        [{"what": None, "where": "Halle"}],
    ),
    Case(  # not a marker (the "x"): a continuation line of the answer
        "marker_words_inside_long_dashes",
        "Was: Fest\n" + "-" * 5000 + " Thema " + "-" * 5000 + "x\nWo: Halle",
        [{"what": "Fest\n" + "-" * 5000 + " Thema " + "-" * 5000 + "x", "where": "Halle"}],
    ),
    Case(
        "long_dashes_around_marker_words",
        "-" * 5000 + " Thema " + "-" * 5000 + "\nWas? Fest\n" + "*" * 3000 + " Ende " + "*" * 3000,
        [{"what": "Fest", "where": None}],
    ),
    Case(
        "long_value_is_kept_whole",
        "Was: " + LONG_VALUE + "\nWo: Halle",
        [{"what": LONG_VALUE.strip(), "where": "Halle"}],
    ),
    Case(
        "attachment_name_inside_a_longer_name",
        """--- Thema ---
Was: Sommerfest
Bilder: sommerfoto.jpg
--- Ende ---
--- Thema ---
Was: Umzug
Bilder: foto.jpg
--- Ende ---""",
        [
            {"what": "Sommerfest", "attachments": ["sommerfoto.jpg"]},
            {"what": "Umzug", "attachments": ["foto.jpg"]},
        ],
        attachments=("foto.jpg", "sommerfoto.jpg"),
    ),
    Case(
        "attachment_names_ignore_case",
        """1) Was: Fest
Bilder: Plakat.PDF
2) Was: Umzug
Bilder: FOTO.JPG, sommerFOTO.jpg""",
        [
            {"what": "Fest", "attachments": ["plakat.pdf", "extra.png"]},
            {"what": "Umzug", "attachments": ["foto.jpg", "sommerfoto.jpg"]},
        ],
        attachments=("foto.jpg", "plakat.pdf", "sommerfoto.jpg", "extra.png"),
    ),
    Case(
        "full_name_beats_stem_of_another_file",
        """1) Was: Fest
Bilder: foto-2.jpg
2) Was: Umzug
Bilder: foto.jpg""",
        [
            {"what": "Fest", "attachments": ["foto-2.jpg"]},
            {"what": "Umzug", "attachments": ["foto.jpg"]},
        ],
        attachments=("foto.jpg", "foto-2.jpg"),
    ),
    Case(
        "stem_still_names_a_file",
        """1) Was: Fest
Bilder: das Plakat
2) Was: Umzug
Bilder: umzug""",
        [
            {"what": "Fest", "attachments": ["plakat.pdf"]},
            {"what": "Umzug", "attachments": ["umzug.png"]},
        ],
        attachments=("umzug.png", "plakat.pdf"),
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REGRESSION_CASES])
def test_extract_topics_regressions(case: Case) -> None:
    _check_case(case)


CUSTOM_LABELS = {"what": ("Vorhaben",), "when": ("Tag",)}
CUSTOM_TEMPLATE = "Vorhaben: Sommerfest\nTag: 3. Juli\n\nSonst gibt es diesmal nichts."


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (None, True),  # the default labels see no template here
        (ParseOptions(labels=CUSTOM_LABELS), False),
    ],
    ids=["default_labels", "configured_labels"],
)
def test_is_no_topics_uses_the_configured_labels(
    options: ParseOptions | None, expected: bool
) -> None:
    assert is_no_topics(CUSTOM_TEMPLATE, options) is expected


def test_is_no_topics_keeps_its_one_argument_form() -> None:
    assert is_no_topics("Diesen Monat leider nichts.") is True


def _mail(body: str, date_header: str = "Wed, 10 Mar 2027 10:00:00 +0100") -> bytes:
    return (
        "From: Anna <anna@example.org>\r\nTo: bot@example.org\r\nSubject: Re: Themen\r\n"
        f"Date: {date_header}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body.replace("\n", "\r\n")
        + "\r\n"
    ).encode()


MESSAGE_CASES: list[tuple[str, bytes, date | None, dict[str, Any]]] = [
    # (id, raw mail, --today, the first topic's expected keys)
    (
        "count_of_repeated_number_words",
        _mail("Was: Fest\nWie viele: " + "hundert " * 3000),
        None,
        {"what": "Fest", "how_many": count(" ".join(["hundert"] * 3000), None, None)},
    ),
    (
        "count_of_endless_thousands_groups",
        _mail("Was: Fest\nWie viele: 1" + ".000" * 1500),
        None,
        {"what": "Fest", "how_many": count("1" + ".000" * 1500, None, None)},
    ),
    (
        "date_header_in_year_9999",
        _mail("Was: Fest\nWann: Juni\nWo: Halle", "Fri, 31 Dec 9999 10:00:00 +0000"),
        None,
        {"what": "Fest", "when": when("Juni", None), "where": "Halle"},
    ),
    (
        "calendar_week_in_year_9999",
        _mail("Was: Fest\nWann: KW 52\nWo: Halle", "Fri, 31 Dec 9999 10:00:00 +0000"),
        None,
        {"what": "Fest", "when": when("KW 52", None)},
    ),
    (
        "today_is_date_max",
        _mail("Was: Fest\nWann: nächste Woche, morgen\nWo: Halle"),
        date.max,
        {"what": "Fest", "when": when("nächste Woche, morgen", None)},
    ),
    (
        "label_then_blank_run",
        _mail("Was: Fest\nWo" + " " * 3000 + "x\nWann: 12.5."),
        None,  # "Wo x" is no label line: it continues the answer above
        {"what": "Fest\nWo x", "when": when("12.5.", "2027-05-12"), "where": None},
    ),
]


@pytest.mark.parametrize(
    ("raw", "today", "expected"), [pytest.param(*c[1:], id=c[0]) for c in MESSAGE_CASES]
)
def test_parse_message_survives(raw: bytes, today: date | None, expected: dict[str, Any]) -> None:
    result = parse_message(raw, ParseOptions(today=today))
    assert result.kind == "topics", result.warnings
    data = result.to_json_dict("x.eml")
    json.dumps(data)
    first = data["topics"][0]
    assert {k: first[k] for k in expected} == expected


FORWARD_FULL = """Hallo Julia,

anbei was von unserem Hausmeister, kannst du damit was anfangen?

Gruß Ute

Von: Krause, Bernd <bernd.krause@musterhausen.de>
Gesendet: Freitag, 8. Januar 2027 07:12
An: Lehmann, Ute <ute.lehmann@musterhausen.de>
Betreff: AW: Themen

Moin Ute,

am 17. April machen wir den Frühjahrsputz am Schulzentrum Nord, rund 60 Schüler.

Gruß Bernd
"""


def test_a_note_handing_on_a_quoted_mail_takes_the_topic_from_that_mail() -> None:
    reply = FORWARD_FULL.split("\n\nVon:")[0]
    (topic,) = extract_topics(FORWARD_FULL, reply, (), ParseOptions(), TODAY)
    assert topic.what == "Frühjahrsputz"
    assert topic.when is not None and topic.when.start == date(2027, 4, 17)


def test_without_a_hint_the_quoted_mail_gives_no_topic() -> None:
    full = FORWARD_FULL.replace("anbei was von unserem Hausmeister, kannst du", "kannst du")
    reply = full.split("\n\nVon:")[0]
    assert extract_topics(full, reply, (), ParseOptions(), TODAY) == ()
