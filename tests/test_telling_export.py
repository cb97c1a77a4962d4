"""The year's plan (ICS, CSV, intranet HTML), the editorial meeting's agenda and the contacts
overview, on both databases, through the command line."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar
from lxml import etree, html
from sqlalchemy import select

from db.models import Topic
from tests.test_telling import (
    BERLIN,
    EVIL,
    MONDAY,
    Seeder,
    a_full_week,
    app_for,
    intake,
    seed,
    write_site,
)


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> Path:
    return write_site(tmp_path / "site", db_url)


def a_year(s: Seeder) -> None:
    """The full week plus topics over the year: a range across months, last year's, next
    year's, undated, withdrawn, and text that must be escaped."""
    a_full_week(s)
    s.topic("Bauamt", "Stadtfest", start=date(2027, 6, 30), end=date(2027, 7, 2),
            where="Marktplatz")
    s.topic("Kulturamt", "Silvesterkonzert 2026", start=date(2026, 12, 31))
    s.topic("Kulturamt", "Neujahrsempfang 2028", start=date(2028, 1, 7))
    s.topic("Kulturamt", "Herbstmarkt", missing=["when"], when_text="im Herbst")
    s.topic("Schulamt", "Zurückgezogen", start=date(2027, 5, 5), status="withdrawn")
    s.topic("Schulamt", f"=HYPERLINK(\"x\") {EVIL}", start=date(2027, 9, 1), where=EVIL,
            quote="Zeile eins\nZeile zwei; mit \"Anführung\"")


def export(site: Path, fmt: str, out: Path, *args: str) -> tuple[str, str]:
    result = intake(site, "topics", "export", "--format", fmt, str(out), *args, now=MONDAY)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def topic_ids(site: Path) -> dict[str, int]:
    app = app_for(site)
    try:
        with app.sessions() as session:
            return {t.what or "": t.id for t in session.scalars(select(Topic))}
    finally:
        app.close()


# --- ICS -----------------------------------------------------------------------------------

def test_ics_parses_back_with_events_as_outlook_needs_them(site: Path, tmp_path: Path) -> None:
    seed(site, a_year)
    out = tmp_path / "plan.ics"
    _, err = export(site, "ics", out)
    assert "2 topic(s) without a date left out of the calendar" in err  # Sommerfest, Herbst
    cal = Calendar.from_ical(out.read_bytes())
    events = {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
    ids = topic_ids(site)
    assert set(events) == {
        "Spatenstich Kita Nord – Bauamt", "Lesenacht – Kulturamt",
        "Brückensanierung – Bauamt", "Stadtfest – Bauamt",
        f"=HYPERLINK(\"x\") {EVIL} – Schulamt"}
    # a timed topic: local time with its zone, the zone described in the file
    spaten = events["Spatenstich Kita Nord – Bauamt"]
    start = spaten.decoded("DTSTART")
    assert start == datetime(2027, 1, 22, 10, 0, tzinfo=BERLIN)
    assert spaten["DTSTART"].params["TZID"] == "Europe/Berlin"
    (zone,) = cal.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Berlin"
    assert "RRULE" in zone.walk("DAYLIGHT")[0]
    # a range: all-day, DTEND exclusive
    fest = events["Stadtfest – Bauamt"]
    assert fest.decoded("DTSTART") == date(2027, 6, 30)
    assert fest.decoded("DTEND") == date(2027, 7, 3)
    lese = events["Lesenacht – Kulturamt"]
    assert (lese.decoded("DTSTART"), lese.decoded("DTEND")) == (date(2027, 2, 5),
                                                                date(2027, 2, 7))
    # department and five W's in the description; stable UID; not busy
    text = str(spaten["DESCRIPTION"])
    for line in ("Fachbereich: Bauamt", "Kontakt: Erika Muster <contact1@musterhausen.test>",
                 "Was: Spatenstich Kita Nord", "Wo: Kita Nord, Lindenweg 3",
                 "Wer: Bürgermeisterin", "Zitat: „Endlich geht es los.“",
                 "Anhänge: baustelle.jpg, plan.pdf (mit Fotos)",
                 f"Referenz: T-{ids['Spatenstich Kita Nord']} (intake topics list)"):
        assert line in text.splitlines(), line
    assert str(spaten["UID"]) == f"topic-{ids['Spatenstich Kita Nord']}@musterhausen.test"
    assert str(spaten["TRANSP"]) == "TRANSPARENT"
    assert str(spaten["CATEGORIES"].cats[0]) == "Bauamt"
    assert str(events["Brückensanierung – Bauamt"]["STATUS"]) == "TENTATIVE"
    assert str(spaten["STATUS"]) == "CONFIRMED"
    assert "Fehlt: Wer" in str(events["Brückensanierung – Bauamt"]["DESCRIPTION"])
    # the year only: neither last year's nor next year's, nor withdrawn topics
    raw = out.read_bytes()
    assert b"Silvesterkonzert" not in raw and b"Neujahrsempfang" not in raw
    assert b"Zur\xc3\xbcckgezogen" not in raw
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n") and b"\r\nEND:VCALENDAR\r\n" in raw


def test_a_second_export_keeps_the_uids_and_a_change_raises_the_sequence(
        site: Path, tmp_path: Path) -> None:
    seed(site, a_year)
    first, second = tmp_path / "a.ics", tmp_path / "b.ics"
    export(site, "ics", first)
    export(site, "ics", second)
    assert first.read_bytes() == second.read_bytes()  # the same data, the same file
    before = {str(e["UID"]): e for e in Calendar.from_ical(first.read_bytes()).walk("VEVENT")}
    app = app_for(site)
    try:
        with app.sessions.begin() as session:
            topic = session.scalars(select(Topic).where(Topic.what == "Lesenacht")).one()
            topic.where = "Stadtbibliothek, Saal 2"
            topic.updated_at = topic.updated_at + timedelta(days=3)
            uid = f"topic-{topic.id}@musterhausen.test"
    finally:
        app.close()
    third = tmp_path / "c.ics"
    export(site, "ics", third)
    after = {str(e["UID"]): e for e in Calendar.from_ical(third.read_bytes()).walk("VEVENT")}
    assert set(after) == set(before)
    assert int(after[uid]["SEQUENCE"]) > int(before[uid]["SEQUENCE"])
    assert after[uid].decoded("LAST-MODIFIED") > before[uid].decoded("LAST-MODIFIED")
    assert str(after[uid]["LOCATION"]) == "Stadtbibliothek, Saal 2"
    unchanged = next(u for u in after if u != uid)
    assert after[unchanged]["SEQUENCE"] == before[unchanged]["SEQUENCE"]


def test_the_year_option_and_standard_output(site: Path) -> None:
    seed(site, a_year)
    result = intake(site, "topics", "export", "--format", "ics", "-", "--year", "2028",
                    now=MONDAY)
    assert result.exit_code == 0, result.output
    cal = Calendar.from_ical(result.stdout_bytes)
    assert [str(e["SUMMARY"]) for e in cal.walk("VEVENT")] == [
        "Neujahrsempfang 2028 – Kulturamt"]


def test_ics_lines_are_folded_escaped_and_any_zone_is_described() -> None:
    from zoneinfo import ZoneInfo

    from bot.telling.export import ics
    from bot.telling.select import TopicView

    moment = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    topic = TopicView(
        id=7, department_id=1, department="Amt für Öffentlichkeit, Kultur; Sport",
        contact_name=None, contact_email=None, status="complete",
        what="Ä" * 80 + "\x00\x1b", when_text="morgen", when_start=date(2027, 5, 1),
        when_end=None, when_time="19:30", where="Halle\r\nBcc: x@example.org", who=None,
        how_many_text=None, quote="eins\nzwei", missing=(), attachments=(),
        created_at=moment, updated_at=moment, escalated_at=None, followups_sent=0,
        followup_open_since=None)
    words = {"what": "Was", "when": "Wann", "where": "Wo", "who": "Wer",
             "how_many": "Wie viele", "quote": "Zitat"}
    result = ics([topic], words, ZoneInfo("America/New_York"), "example.org", "Plan")
    raw = result.data
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    assert b"\x00" not in raw and b"\x1b" not in raw
    assert b"\nBcc:" not in raw.replace(b"\r\n ", b"")
    (event,) = Calendar.from_ical(raw).walk("VEVENT")
    assert str(event["SUMMARY"]).startswith("Ä" * 80)
    assert str(event["LOCATION"]) == "Halle\nBcc: x@example.org"
    assert str(event["CATEGORIES"].cats[0]) == "Amt für Öffentlichkeit, Kultur; Sport"
    assert "Zitat: „eins\nzwei“" in str(event["DESCRIPTION"])
    start = event.decoded("DTSTART")
    assert start.utcoffset() == timedelta(hours=-4)  # EDT on 1 May
    (zone,) = Calendar.from_ical(raw).walk("VTIMEZONE")
    assert str(zone["TZID"]) == "America/New_York"


# --- CSV -----------------------------------------------------------------------------------

def test_csv_opens_in_german_excel_and_reads_back(site: Path, tmp_path: Path) -> None:
    seed(site, a_year)
    out = tmp_path / "plan.csv"
    export(site, "csv", out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfNr;Fachbereich;")
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"").replace(
        b"Zeile eins\nZeile", b"")  # line breaks only CRLF, or inside a quoted cell
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""),
                               dialect="excel", delimiter=";"))
    by_what = {r["Was"]: r for r in rows}
    ids = topic_ids(site)
    spaten = by_what["Spatenstich Kita Nord"]
    assert spaten["Nr"] == f"T-{ids['Spatenstich Kita Nord']}"
    assert (spaten["Datum von"], spaten["Datum bis"], spaten["Uhrzeit"]) == (
        "22.01.2027", "", "10:00")
    assert spaten["Fachbereich"] == "Bauamt" and spaten["Status"] == "vollständig"
    assert spaten["Fotos"] == "ja" and spaten["Anhänge"] == "baustelle.jpg, plan.pdf"
    assert spaten["Eingegangen"] == "16.01.2027"
    fest = by_what["Stadtfest"]
    assert (fest["Datum von"], fest["Datum bis"]) == ("30.06.2027", "02.07.2027")
    # undated topics of the year are in the spreadsheet (only a calendar cannot hold them)
    assert by_what["Herbstmarkt"]["Datum von"] == ""
    assert by_what["Herbstmarkt"]["Wann (Text)"] == "im Herbst"
    assert by_what["Herbstmarkt"]["Fehlt"] == "Wann"
    # a formula stays text; quotes, semicolons and line breaks survive
    evil = next(r for r in rows if "HYPERLINK" in r["Was"])
    assert evil["Was"].startswith("'=HYPERLINK")
    assert evil["Zitat"] == "Zeile eins\nZeile zwei; mit \"Anführung\""
    assert evil["Wo"] == EVIL
    assert "Zurückgezogen" not in by_what and "Neujahrsempfang 2028" not in by_what


# --- the intranet page ---------------------------------------------------------------------

def test_html_page_is_valid_self_contained_and_escaped(site: Path, tmp_path: Path) -> None:
    seed(site, a_year)
    out = tmp_path / "plan.html"
    export(site, "html", out)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # well-formed enough for a strict parser (no recovery needed)
    parser = etree.HTMLParser(recover=False)
    tree = etree.fromstring(page.encode("utf-8"), parser)
    assert tree.tag == "html" and tree.get("lang") == "de"
    doc = html.fromstring(page)
    assert doc.xpath("//script") == [] and doc.xpath("//link") == [] and \
        doc.xpath("//img") == []
    assert "http://" not in page and "https://" not in page
    # month by month, every month present, the range under the month it starts in
    months = [h.text_content().split()[0] for h in doc.xpath("//section/h2")]
    assert months[:12] == ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
                           "August", "September", "Oktober", "November", "Dezember"]
    june = doc.xpath("//section[@id='m2027-06']")[0].text_content()
    assert "Stadtfest" in june and "30.6.–2.7." in june
    assert "Noch ohne Termin" in page and "Herbstmarkt" in page
    # colleagues' text escaped: shown, never markup
    assert "<script>" not in page and "<img" not in page
    assert EVIL in doc.xpath("//section[@id='m2027-09']")[0].text_content()
    assert "Fragen und Ergänzungen gern an Julia Beispiel (officer@musterhausen.test)." in page


# --- the agenda ----------------------------------------------------------------------------

def test_agenda_by_department_incomplete_and_silent_for_two_rounds(site: Path) -> None:
    def fill(s: Seeder) -> None:
        a_full_week(s)
        december = s.round("2026-12")
        s.request(december, "Schulamt", "sent")
        s.request(december, "Jugendamt", "no_topics")
        s.request(december, "Bauamt", "answered")
        s.request(december, "Kulturamt", "sent")
        s.topic("Kulturamt", "Faschingsumzug", start=date(2027, 2, 9), time="14:11",
                where="Altstadt")
        s.topic("Bauamt", f"Baustelle {EVIL}", start=date(2027, 2, 15), missing=["who"],
                who=None)
    seed(site, fill)
    result = intake(site, "agenda", now=MONDAY)  # default: the next month
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert md.startswith("# Redaktionssitzung: Themen für Februar 2027\n")
    ids = topic_ids(site)
    by_department = md.split("## 1.")[1].split("## 2.")[0]
    assert by_department.index("### Bauamt") < by_department.index("### Kulturamt")
    assert (f"- **Di 09.02., 14:11 Uhr** Faschingsumzug – Wo: Altstadt; Wer: Bürgermeisterin "
            f"(T-{ids['Faschingsumzug']})") in by_department
    assert "- **05.02.–06.02.** Lesenacht" in by_department
    # Markdown characters and HTML in colleagues' text are escaped
    assert "\\<script\\>" in md and "<script>" not in md
    incomplete = md.split("## 2.")[1].split("## 3.")[0]
    assert "Baustelle" in incomplete and "fehlt Wer" in incomplete
    assert "Sommerfest (Kulturamt): fehlt Wann, Wo – Rückfrage läuft seit 17. Januar" \
        in incomplete
    silent = md.split("## 3.")[1]
    assert "- Schulamt (contact3@musterhausen.test): Dezember 2026 keine Antwort, " \
           "Januar 2027 keine Antwort" in silent
    assert "- Jugendamt (contact4@musterhausen.test): Dezember 2026 „keine Themen“, " \
           "Januar 2027 „keine Themen“" in silent
    assert "Kulturamt" not in silent and "Bauamt" not in silent  # answered once
    page = intake(site, "agenda", "--month", "2027-02", "--format", "html", now=MONDAY)
    assert page.exit_code == 0, page.output
    etree.fromstring(page.stdout.encode("utf-8"), etree.HTMLParser(recover=False))
    assert "<script>" not in page.stdout and "&lt;script&gt;" in page.stdout
    assert "Faschingsumzug" in page.stdout and "Schulamt" in page.stdout


def test_agenda_before_two_rounds_and_bad_month(site: Path) -> None:
    seed(site, lambda s: s.department("Bauamt"))
    result = intake(site, "agenda", "--month", "2027-03", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert "Für März 2027 sind noch keine Themen eingegangen." in result.stdout
    assert "Noch keine zwei Runden" in result.stdout
    bad = intake(site, "agenda", "--month", "März", now=MONDAY)
    assert bad.exit_code == 2 and "YYYY-MM" in bad.stderr


# --- the contacts overview -----------------------------------------------------------------

def test_contacts_list_shows_contacts_deputies_answers_topics_and_bounces(site: Path) -> None:
    seed(site, a_full_week)
    result = intake(site, "contacts", "list", now=MONDAY)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert ("Bauamt\n  contact:     Erika Muster, contact1@musterhausen.test\n"
            "  deputy:      contact9@musterhausen.test\n"
            "  last answer: 2027-01-16; topics 2027: 1\n") in out
    assert "Jugendamt\n  contact:     contact4@musterhausen.test\n" in out
    assert "  BOUNCES:     contact4@musterhausen.test (since 2027-01-13)\n" in out
    assert "Schulamt\n  contact:     contact3@musterhausen.test\n  last answer: never;" in out
    assert out.endswith("4 department(s) (4 active), 1 bouncing address(es)\n")
    data = json.loads(intake(site, "contacts", "list", "--format", "json",
                             now=MONDAY).stdout)
    bau = next(d for d in data if d["department"] == "Bauamt")
    assert bau["contact"]["email"] == "contact1@musterhausen.test"
    assert [d["email"] for d in bau["deputies"]] == ["contact9@musterhausen.test"]
    assert bau["topics_this_year"] == 1
    assert datetime.fromisoformat(bau["last_answer"]).astimezone(UTC).date() == \
        date(2027, 1, 16)
