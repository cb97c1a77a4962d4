"""Table-driven tests of the value parsers: dates, times, counts, places (pure functions)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from parsers.model import HowMany, When
from parsers.values import (
    find_how_many,
    find_when,
    find_where,
    german_number,
    is_not_applicable,
    parse_how_many,
    parse_when,
)

TODAY = date(2027, 3, 10)  # a Wednesday, ISO week 10

D = date

WHEN_CASES: list[tuple[str, str, date | None, date | None, str | None]] = [
    # (id, text, start, end, time)
    ("numeric_full", "12.03.2027", D(2027, 3, 12), D(2027, 3, 12), None),
    ("numeric_no_year", "12.3.", D(2027, 3, 12), D(2027, 3, 12), None),
    ("numeric_no_year_past_rolls_over", "1.3.", D(2028, 3, 1), D(2028, 3, 1), None),
    ("numeric_today_is_kept", "10.3.", D(2027, 3, 10), D(2027, 3, 10), None),
    ("numeric_two_digit_year", "12.3.28", D(2028, 3, 12), D(2028, 3, 12), None),
    ("numeric_space_year", "12.3. 2028", D(2028, 3, 12), D(2028, 3, 12), None),
    ("slash_day_first", "12/04/2027", D(2027, 4, 12), D(2027, 4, 12), None),
    ("iso", "2027-05-12", D(2027, 5, 12), D(2027, 5, 12), None),
    ("iso_with_time", "2027-05-12T14:00", D(2027, 5, 12), D(2027, 5, 12), "14:00"),
    ("month_name", "12. März", D(2027, 3, 12), D(2027, 3, 12), None),
    ("month_name_maerz", "5. Maerz 2028", D(2028, 3, 5), D(2028, 3, 5), None),
    ("month_abbr_mrz", "3. Mrz", D(2028, 3, 3), D(2028, 3, 3), None),
    ("month_abbr_sept", "12. Sept.", D(2027, 9, 12), D(2027, 9, 12), None),
    ("month_abbr_jan", "5. Jan.", D(2028, 1, 5), D(2028, 1, 5), None),
    ("month_no_space", "12.Mai", D(2027, 5, 12), D(2027, 5, 12), None),
    ("weekday_and_date_date_wins", "Dienstag, 12. Mai", D(2027, 5, 12), D(2027, 5, 12), None),
    ("range_bis", "3. bis 5. Mai", D(2027, 5, 3), D(2027, 5, 5), None),
    ("range_vom_bis_zum", "vom 3. bis zum 5. Mai 2027", D(2027, 5, 3), D(2027, 5, 5), None),
    ("range_numeric_short", "vom 3.-5.5.", D(2027, 5, 3), D(2027, 5, 5), None),
    ("range_numeric_full", "12.05.-14.05.2027", D(2027, 5, 12), D(2027, 5, 14), None),
    ("range_two_months", "30. April bis 2. Mai", D(2027, 4, 30), D(2027, 5, 2), None),
    ("range_over_new_year", "28.12.-3.1.", D(2027, 12, 28), D(2028, 1, 3), None),
    ("range_two_days_und", "12. und 13. Juni", D(2027, 6, 12), D(2027, 6, 13), None),
    ("range_en_dash", "3–5 May 2027", D(2027, 5, 3), D(2027, 5, 5), None),
    ("range_english_month_first", "May 3-5, 2027", D(2027, 5, 3), D(2027, 5, 5), None),
    ("range_with_time", "vom 3. bis 5. Mai, jeweils ab 9 Uhr", D(2027, 5, 3), D(2027, 5, 5),
     "09:00"),
    ("anfang", "Anfang Mai", D(2027, 5, 1), D(2027, 5, 10), None),
    ("mitte", "Mitte Mai", D(2027, 5, 11), D(2027, 5, 20), None),
    ("ende", "Ende Mai", D(2027, 5, 21), D(2027, 5, 31), None),
    ("ende_februar_leap_year", "Ende Februar", D(2028, 2, 21), D(2028, 2, 29), None),
    ("mitte_ende", "Mitte/Ende Mai", D(2027, 5, 11), D(2027, 5, 31), None),
    ("anfang_current_period_ends_today", "Anfang März", D(2027, 3, 1), D(2027, 3, 10), None),
    ("anfang_past_month_rolls_over", "Anfang Februar", D(2028, 2, 1), D(2028, 2, 10), None),
    ("ende_current_month_running", "Ende März", D(2027, 3, 21), D(2027, 3, 31), None),
    ("english_early", "early June", D(2027, 6, 1), D(2027, 6, 10), None),
    ("english_late", "late June 2028", D(2028, 6, 21), D(2028, 6, 30), None),
    ("kw", "KW 12", D(2027, 3, 22), D(2027, 3, 28), None),
    ("kw_no_space", "KW12", D(2027, 3, 22), D(2027, 3, 28), None),
    ("kalenderwoche", "Kalenderwoche 12", D(2027, 3, 22), D(2027, 3, 28), None),
    ("kw_ordinal", "12. KW 2028", D(2028, 3, 20), D(2028, 3, 26), None),
    ("kw_past_rolls_over", "KW 2", D(2028, 1, 10), D(2028, 1, 16), None),
    ("kw_current_week", "KW 10", D(2027, 3, 8), D(2027, 3, 14), None),
    ("week_english", "week 12", D(2027, 3, 22), D(2027, 3, 28), None),
    ("month_only", "im Juni", D(2027, 6, 1), D(2027, 6, 30), None),
    ("month_only_with_year", "Juni 2028", D(2028, 6, 1), D(2028, 6, 30), None),
    ("heute", "heute", D(2027, 3, 10), D(2027, 3, 10), None),
    ("morgen", "morgen", D(2027, 3, 11), D(2027, 3, 11), None),
    ("uebermorgen", "übermorgen", D(2027, 3, 12), D(2027, 3, 12), None),
    ("morgen_with_time", "morgen um 9 Uhr", D(2027, 3, 11), D(2027, 3, 11), "09:00"),
    ("guten_morgen_is_no_date", "Guten Morgen", None, None, None),
    ("tomorrow", "tomorrow", D(2027, 3, 11), D(2027, 3, 11), None),
    ("weekday_future", "Dienstag", D(2027, 3, 16), D(2027, 3, 16), None),
    ("weekday_today", "Mittwoch", D(2027, 3, 10), D(2027, 3, 10), None),
    ("naechsten_weekday", "nächsten Dienstag", D(2027, 3, 16), D(2027, 3, 16), None),
    ("naechsten_weekday_today_is_next_week", "nächsten Mittwoch", D(2027, 3, 17),
     D(2027, 3, 17), None),
    ("kommenden_weekday", "kommenden Freitag", D(2027, 3, 12), D(2027, 3, 12), None),
    ("uebernaechsten_weekday", "übernächsten Dienstag", D(2027, 3, 23), D(2027, 3, 23), None),
    ("next_tuesday", "next Tuesday", D(2027, 3, 16), D(2027, 3, 16), None),
    ("naechste_woche", "nächste Woche", D(2027, 3, 15), D(2027, 3, 21), None),
    ("naechsten_monat", "nächsten Monat", D(2027, 4, 1), D(2027, 4, 30), None),
    ("am_wochenende", "am Wochenende", D(2027, 3, 13), D(2027, 3, 14), None),
    ("english_month_day", "May 12", D(2027, 5, 12), D(2027, 5, 12), None),
    ("english_month_day_sentence_end", "on May 12.", D(2027, 5, 12), D(2027, 5, 12), None),
    ("english_ordinal", "May 12th, 2028", D(2028, 5, 12), D(2028, 5, 12), None),
    ("english_day_month_year", "12 May 2027", D(2027, 5, 12), D(2027, 5, 12), None),
    ("english_of", "the 1st of June", D(2027, 6, 1), D(2027, 6, 1), None),
    ("english_may_verb_is_no_month", "it may rain", None, None, None),
    ("sentence", "Am 12. Mai um 14 Uhr", D(2027, 5, 12), D(2027, 5, 12), "14:00"),
    ("weekday_date_time_range", "Samstag, 12.6., 10-12 Uhr", D(2027, 6, 12), D(2027, 6, 12),
     "10:00"),
    ("date_then_evening_time", "12.3. 20 Uhr", D(2027, 3, 12), D(2027, 3, 12), "20:00"),
    ("invalid_date", "31.02.", None, None, None),
    ("season_unparsed", "Sommer 2027", None, None, None),
    ("not_applicable", "entfällt", None, None, None),
    ("open", "noch offen", None, None, None),
    ("von_bis_line", "Von: 10 Uhr bis 12 Uhr", None, None, "10:00"),
    ("list_of_days", "am 3., 10. und 17. Mai", D(2027, 5, 3), D(2027, 5, 17), None),
    ("vague_or_vague", "Ende Juni/Anfang Juli", D(2027, 6, 21), D(2027, 7, 10), None),
    ("vague_oder_vague", "Ende Juni oder Anfang Juli", D(2027, 6, 21), D(2027, 7, 10), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "start", "end", "time"),
    [pytest.param(*case[1:], id=case[0]) for case in WHEN_CASES],
)
def test_parse_when(text: str, start: date | None, end: date | None, time: str | None) -> None:
    assert parse_when(text, TODAY) == When(text=text, start=start, end=end, time=time)


TIME_CASES = [
    ("uhr", "14 Uhr", "14:00"),
    ("colon", "14:30", "14:30"),
    ("dot_uhr", "14.30 Uhr", "14:30"),
    ("um_dot", "um 12.30", "12:30"),
    ("pm", "2 pm", "14:00"),
    ("pm_dotted", "2:30 p.m.", "14:30"),
    ("am_twelve", "12 am", "00:00"),
    ("ab", "ab 10 Uhr", "10:00"),
    ("range", "10-12 Uhr", "10:00"),
    ("range_bis", "von 10 bis 12 Uhr", "10:00"),
    ("range_minutes", "9:30 – 11:00 Uhr", "09:30"),
    ("h_suffix", "18h", "18:00"),
    ("um_bare", "um 19", "19:00"),
    ("invalid_hour", "25 Uhr", None),
    ("count_is_no_time", "ab 100 Personen", None),
    ("range_estimated_end", "10.00 bis ca. 13.00 Uhr", "10:00"),
    ("range_etwa_end", "von 9 bis etwa 12 Uhr", "09:00"),
]


@pytest.mark.parametrize(
    ("text", "time"), [pytest.param(t, e, id=i) for i, t, e in TIME_CASES]
)
def test_parse_when_times(text: str, time: str | None) -> None:
    when = parse_when(text, TODAY)
    assert when.time == time
    assert when.start is None


def test_parse_when_keeps_text_and_collapses_spaces() -> None:
    when = parse_when("  12.  Mai\n  14 Uhr ", TODAY)
    assert when.text == "12. Mai\n14 Uhr"
    assert when.start == D(2027, 5, 12)
    assert when.time == "14:00"


def test_parse_when_empty() -> None:
    assert parse_when("   ", TODAY) == When(text="")


FIND_WHEN_CASES = [
    ("sentence_with_time", "Das Fest ist am 12. Mai um 14 Uhr im Park.", "12. Mai um 14 Uhr",
     D(2027, 5, 12), "14:00"),
    ("time_in_next_sentence_not_taken", "Das Fest ist am 12. Mai. Um 14 Uhr kommt Besuch.",
     "12. Mai", D(2027, 5, 12), None),
    ("range", "Die Woche vom 3. bis 5. Mai wird bunt.", "3. bis 5. Mai", D(2027, 5, 3), None),
    ("vague", "Geplant ist Anfang Juni ein Fest.", "Anfang Juni", D(2027, 6, 1), None),
    ("kw", "In der KW 20 ist Aktionswoche.", "KW 20", D(2027, 5, 17), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "phrase", "start", "time"), [pytest.param(*c[1:], id=c[0]) for c in FIND_WHEN_CASES]
)
def test_find_when(text: str, phrase: str, start: date, time: str | None) -> None:
    found = find_when(text, TODAY)
    assert found is not None
    assert (found.text, found.start, found.time) == (phrase, start, time)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Ich melde mich morgen.", id="relative_day_is_chit_chat"),
        pytest.param("Bis Dienstag dann!", id="weekday_is_chit_chat"),
        pytest.param("Im Juni vielleicht mehr.", id="bare_month_not_confident"),
        pytest.param("Danke, melde mich später.", id="no_date"),
    ],
)
def test_find_when_needs_explicit_dates(text: str) -> None:
    assert find_when(text, TODAY) is None


COUNT_CASES: list[tuple[str, str, int | None, int | None]] = [
    ("digits", "80", 80, 80),
    ("ca", "ca. 80", 80, 80),
    ("etwa", "etwa 80", 80, 80),
    ("rund", "rund 80", 80, 80),
    ("ungefaehr", "ungefähr 80 Personen", 80, 80),
    ("tilde", "~80", 80, 80),
    ("about", "about 40 people", 40, 40),
    ("ueber", "über 100", 101, None),
    ("mehr_als", "mehr als 100", 101, None),
    ("more_than", "more than 100", 101, None),
    ("gt", "> 100", 101, None),
    ("mindestens", "mindestens 100", 100, None),
    ("ab", "ab 30", 30, None),
    ("plus_suffix", "100+", 100, None),
    ("und_mehr", "100 und mehr", 100, None),
    ("bis_zu", "bis zu 100", None, 100),
    ("max", "max. 100", None, 100),
    ("hoechstens", "höchstens 100", None, 100),
    ("up_to", "up to 100", None, 100),
    ("unter", "unter 100", None, 99),
    ("weniger_als", "weniger als 100", None, 99),
    ("range_dash", "50-60", 50, 60),
    ("range_spaced_en_dash", "50 – 60", 50, 60),
    ("range_bis", "50 bis 60", 50, 60),
    ("range_zwischen", "zwischen 50 und 60", 50, 60),
    ("range_between", "between 50 and 60", 50, 60),
    ("range_words", "Fünfzig bis sechzig", 50, 60),
    ("range_reversed", "60-50", 50, 60),
    ("thousands_dot", "1.500", 1500, 1500),
    ("thousands_comma", "1,500", 1500, 1500),
    ("thousands_space", "1 500", 1500, 1500),
    ("thousands_nbsp", "1\u00a0500", 1500, 1500),
    ("thousands_with_ca", "etwa 1.200 Besucher", 1200, 1200),
    ("word_zweihundert", "zweihundert", 200, 200),
    ("word_zwanzig", "zwanzig", 20, 20),
    ("word_dreissig", "dreißig", 30, 30),
    ("word_dreissig_ss", "dreissig", 30, 30),
    ("word_fuenfzig_ue", "fuenfzig", 50, 50),
    ("word_hundertfuenfzig", "hundertfünfzig", 150, 150),
    ("word_einundzwanzig", "einundzwanzig", 21, 21),
    ("word_zweitausendfuenfhundert", "zweitausendfünfhundert", 2500, 2500),
    ("word_capitalised", "Zwölf Kinder", 12, 12),
    ("word_dutzend", "ein Dutzend", 12, 12),
    ("word_zwei_dutzend", "zwei Dutzend", 24, 24),
    ("word_a_dozen", "a dozen", 12, 12),
    ("word_english_compound", "two hundred and fifty", 250, 250),
    ("word_english_hyphen", "twenty-five", 25, 25),
    ("word_a_hundred", "a hundred", 100, 100),
    ("word_ca", "ca. dreißig", 30, 30),
    ("lone_eine_is_no_count", "eine Klasse (25 Kinder)", 25, 25),
    ("first_count_wins", "ca. 80 Gäste, davon 20 Kinder", 80, 80),
    ("date_is_no_count", "12.3.", None, None),
    ("no_number", "viele", None, None),
    ("not_applicable_dash", "-", None, None),
    ("not_applicable_ka", "k. A.", None, None),
    ("not_applicable_na", "n/a", None, None),
    ("not_applicable_entfaellt", "entfällt", None, None),
    ("two_groups_plus", "24 Kinder + 4 Gärtner", 28, 28),
    ("two_groups_und", "ca. 40 Kinder und 15 Erwachsene", 55, 55),
    ("range_and_group", "50-60 Kinder und 10 Eltern", 60, 70),
    ("und_non_people_not_added", "200 Besucher und 40 Stände", 200, 200),
    ("davon_not_added", "80 Gäste, davon 20 Kinder", 80, 80),
    ("groups_times_size", "3 Gruppen à 15 Kinder", 45, 45),
    ("teams_mit_je", "12 Teams mit je 8 Spielern", 96, 96),
    ("groups_times_x", "3 x 20 Kinder", 60, 60),
    ("vague_dative", "mit mehreren tausend Besuchern", 2000, 9999),
    ("vague_plural_dative", "vor Hunderten Gästen", 200, 999),
    ("people_after_stalls", "ca. 40 Höfe machen mit, letztes Jahr mehrere hundert Besucher", 200,
     999),
    ("people_after_teams", "5 Teams, insgesamt 40 Läufer", 40, 40),
    ("compound_people_word", "ca. 450 Erstklässler", 450, 450),
]


@pytest.mark.parametrize(
    ("text", "low", "high"), [pytest.param(*c[1:], id=c[0]) for c in COUNT_CASES]
)
def test_parse_how_many(text: str, low: int | None, high: int | None) -> None:
    assert parse_how_many(text) == HowMany(text=" ".join(text.split()), min=low, max=high)


FIND_COUNT_CASES: list[tuple[str, str, str | None, int | None, int | None]] = [
    ("gaeste", "Wir erwarten ca. 80 Gäste im Bürgerhaus.", "ca. 80 Gäste", 80, 80),
    ("after_date", "Am 12. Mai kommen rund 200 Besucherinnen.", "rund 200 Besucherinnen", 200,
     200),
    ("range_kinder", "Es werden 50 bis 60 Kinder erwartet", "50 bis 60 Kinder", 50, 60),
    ("gender_star", "über 100 Teilnehmer*innen", "über 100 Teilnehmer*innen", 101, None),
    ("adjective_between", "etwa 30 junge Leute", "etwa 30 junge Leute", 30, 30),
    ("word_number", "zweihundert Leute", "zweihundert Leute", 200, 200),
    ("skips_non_people", "3 Klassen mit je 25 Schülern", "25 Schülern", 25, 25),
    ("english", "We expect about 40 guests.", "about 40 guests", 40, 40),
    ("year_is_no_count", "Im Jahr 2026 hatten wir das Fest.", None, None, None),
    ("date_is_no_count", "Am 12. Mai ist es soweit.", None, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "phrase", "low", "high"), [pytest.param(*c[1:], id=c[0]) for c in FIND_COUNT_CASES]
)
def test_find_how_many(text: str, phrase: str | None, low: int | None, high: int | None) -> None:
    found = find_how_many(text)
    if phrase is None:
        assert found is None
    else:
        assert found == HowMany(text=phrase, min=low, max=high)


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("eins", 1), ("zwölf", 12), ("siebzehn", 17), ("neunundneunzig", 99), ("hundert", 100),
        ("einhundert", 100), ("hundertundzwanzig", 120), ("dreihundertvierundsechzig", 364),
        ("tausend", 1000), ("eintausendzweihundert", 1200), ("zehntausend", 10000),
        ("Hunderte", None), ("zwanzigste", None), ("Haus", None), ("undzwanzig", None),
    ],
)  # fmt: skip
def test_german_number(word: str, value: int | None) -> None:
    assert german_number(word) == value


WHERE_CASES: list[tuple[str, str, str | None]] = [
    ("im", "Das Fest ist im Bürgerhaus.", "Bürgerhaus"),
    ("in_der_with_district", "Treffpunkt in der Stadthalle Nord um 10 Uhr", "Stadthalle Nord"),
    ("auf_dem", "Wir sind auf dem Marktplatz.", "Marktplatz"),
    ("sentence_start", "Im Stadtpark findet es statt", "Stadtpark"),
    ("with_street", "in der Grundschule am Lindenweg, ab 9", "Grundschule am Lindenweg"),
    ("adjective", "im Alten Rathaus", "Alten Rathaus"),
    ("house_number", "in der Hauptstraße 5.", "Hauptstraße 5"),
    ("weekday_is_no_place", "am Montag", None),
    ("zeitraum_is_no_place", "im Zeitraum vom 3. bis 5. Mai", None),
    ("rahmen_is_no_place", "im Rahmen des Festes", None),
    ("lowercase_is_no_place", "im park", None),
]


@pytest.mark.parametrize(("text", "place"), [pytest.param(*c[1:], id=c[0]) for c in WHERE_CASES])
def test_find_where(text: str, place: str | None) -> None:
    assert find_where(text) == place


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("entfällt", True), ("Entfällt.", True), ("-", True), ("–", True), ("---", True),
        ("k. A.", True), ("k.A.", True), ("keine Angabe", True), ("nicht relevant", True),
        ("n/a", True), ("N/A", True), ("n. a.", True), ("nicht zutreffend", True),
        ("./.", True), ("Stadtpark", False), ("12. Mai", False), ("nicht vor Mai", False),
    ],
)  # fmt: skip
def test_is_not_applicable(text: str, expected: bool) -> None:
    assert is_not_applicable(text) is expected


# --- Regression: huge counts and dates at the edge of `datetime.date` -----------------------
# Inputs are sized to hang or crash the old code; the fixed code answers at once.

COUNT_LIMIT_CASES: list[tuple[str, str, int | None, int | None]] = [
    ("number_words_repeated", "hundert " * 3000, None, None),
    ("hundred_words_times_four", "hundert hundert hundert hundert", None, None),
    ("endless_thousands_groups", "1" + ".000" * 1500, None, None),
    ("twelve_digits_grouped", "1.000.000.000.000", None, None),
    ("above_limit", "10.000.001", None, None),
    ("at_limit", "10.000.000", 10_000_000, 10_000_000),
    ("under_huge", "unter 999999999", None, None),
    ("range_to_huge", "50 bis 99999999", None, None),
    ("words_within_limit", "zweitausend", 2000, 2000),
]


@pytest.mark.parametrize(
    ("text", "low", "high"), [pytest.param(*c[1:], id=c[0]) for c in COUNT_LIMIT_CASES]
)
def test_parse_how_many_is_bounded(text: str, low: int | None, high: int | None) -> None:
    found = parse_how_many(text)
    assert found == HowMany(text=" ".join(text.split()), min=low, max=high)
    json.dumps(found.to_json_dict())  # no integer too large to write


def test_find_how_many_is_bounded() -> None:
    found = find_how_many("Es kommen " + "hundert " * 3000 + "Gäste.")
    assert found is not None
    assert (found.min, found.max) == (None, None)


LAST_DAY = D(9999, 12, 31)  # a Friday

EDGE_DATE_CASES: list[tuple[str, str, date, date | None]] = [
    # (id, text, today, start): start None means the text is kept with null dates
    ("month_after_year_9999", "Juni", LAST_DAY, None),
    ("vague_after_year_9999", "Anfang Juni", LAST_DAY, None),
    ("kw_after_year_9999", "KW 52", LAST_DAY, None),
    ("kw_with_year_9999", "KW 52/9999", D(9999, 1, 1), None),
    ("no_year_after_9999", "1.1.", LAST_DAY, None),
    ("next_week_at_max", "nächste Woche", date.max, None),
    ("tomorrow_at_max", "morgen", date.max, None),
    ("next_tuesday_at_max", "nächsten Dienstag", date.max, None),
    ("weekend_at_max", "am Wochenende", date.max, None),
    ("next_month_in_december_9999", "nächsten Monat", D(9999, 12, 1), None),
    ("today_at_max_still_works", "heute", date.max, date.max),
    ("last_day_still_works", "31.12.", LAST_DAY, LAST_DAY),
]


@pytest.mark.parametrize(
    ("text", "today", "start"), [pytest.param(*c[1:], id=c[0]) for c in EDGE_DATE_CASES]
)
def test_parse_when_at_the_edge_of_the_calendar(text: str, today: date, start: date | None) -> None:
    found = parse_when(text, today)
    assert found.text == text
    assert (found.start, found.end) == (start, start)


def test_find_when_at_the_edge_of_the_calendar() -> None:
    assert find_when("Wir feiern am 1.1. im Rathaus.", LAST_DAY) is None


# -- ranges with times and weekdays, week ranges, vague-to-vague ---------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "time"),
    [
        ("31.12., 18 Uhr bis 1.1., 6 Uhr", date(2027, 12, 31), date(2028, 1, 1), "18:00"),
        ("Mo, 15.3. bis Fr, 19.3.", date(2027, 3, 15), date(2027, 3, 19), None),
        ("Freitag, 12.3., 17 Uhr bis Sonntag, 14.3., 15 Uhr", date(2027, 3, 12),
         date(2027, 3, 14), "17:00"),
        ("12.3., 17:30 - 14.3.", date(2027, 3, 12), date(2027, 3, 14), "17:30"),
        ("KW 12-13", date(2027, 3, 22), date(2027, 4, 4), None),
        ("KW 11/2027", date(2027, 3, 15), date(2027, 3, 21), None),
        ("Ende März bis Anfang April", date(2027, 3, 21), date(2027, 4, 10), None),
        ("Mitte Mai - Ende Juni", date(2027, 5, 11), date(2027, 6, 30), None),
    ],
)
def test_parse_when_ranges(text: str, start: date, end: date, time: str | None) -> None:
    when = parse_when(text, TODAY)
    assert (when.start, when.end, when.time) == (start, end, time)


# -- counts: vague amounts, ordinals, a head count in parentheses -------------------------


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("mehrere hundert", 200, 999),
        ("einige Dutzend", 24, 119),
        ("Hunderte", 200, 999),
        ("mehrere tausend Besucher", 2000, 9999),
        ("ein paar Journalisten", None, None),
        ("viele", None, None),
        ("alle 7. Klassen (ca. 110 Schülerinnen und Schüler)", 110, 110),
        ("die 5. und 6. Klassen, zusammen rund 180 Kinder", 180, 180),
        ("alle 7. Klassen", None, None),
        ("4 Kitagruppen (etwa 60 Kinder)", 60, 60),
        ("2 Gruppen (à 15)", 2, 2),
        ("40 Stände", 40, 40),
        ("ca.120", 120, 120),
        ("mind. 100 Kinder", 100, None),
    ],
)
def test_parse_how_many_vague_and_ordinal(text: str, low: int | None, high: int | None) -> None:
    count = parse_how_many(text)
    assert (count.text, count.min, count.max) == (text, low, high)


def test_find_how_many_vague_amount_in_prose() -> None:
    found = find_how_many("Letztes Jahr kamen mehrere hundert Besucherinnen und Besucher.")
    assert found == HowMany("mehrere hundert Besucherinnen und Besucher", 200, 999)
