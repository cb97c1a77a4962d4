"""The mail templates and their renderer (pure, no servers)."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from mailtemplates import (
    DEFAULT_TEMPLATE_LABELS,
    RenderedMail,
    TemplateError,
    TemplateRenderer,
    template_block,
)

DEFAULT_BLOCK = (
    "--- Thema ---\n"
    "Was:\n"
    "Wann:\n"
    "Wo:\n"
    "Wer:\n"
    "Wie viele:\n"
    "Zitat:\n"
    "Bilder: (gern direkt anhängen)\n"
    "--- Ende ---"
)

TEMPLATES = ("digest", "followup", "oversized", "receipt", "reminder", "request")
CONTACT_TEMPLATES = ("followup", "oversized", "receipt", "reminder", "request")

COMMON_REQUIRED = ["contact_salutation", "department", "sender_name", "organisation", "subject_tag"]
ASKING_REQUIRED = ["deadline", "template_block", "officer_name", "officer_email"]
REQUIRED: dict[str, list[str]] = {
    "request": [*COMMON_REQUIRED, *ASKING_REQUIRED],
    "reminder": [*COMMON_REQUIRED, *ASKING_REQUIRED, "original_date"],
    "followup": [*COMMON_REQUIRED, "questions", "reply_hint"],
    "receipt": [*COMMON_REQUIRED, "topics"],
    "oversized": [*COMMON_REQUIRED, "original_subject", "size_label", "limit_label"],
    # (since_label, upcoming_command and contacts_year are read only where their line shows:
    # see test_digest_conditional_variables_are_still_required)
    "digest": [
        "week_label",
        "officer_name",
        "organisation",
        "labels",
        "new_topics",
        "new_count",
        "ranking",
        "upcoming_topics",
        "upcoming_count",
        "upcoming_weeks",
        "incomplete_topics",
        "incomplete_count",
        "round_label",
        "round_deadline",
        "departments_without_answer",
        "bouncing",
        "set_aside",
        "set_aside_more",
        "balance_label",
        "balance",
        "contacts",
        "calendar_file",
        "calendar_count",
    ],
}
DIGEST_LABELS = {"what": "Was", "when": "Wann", "where": "Wo", "who": "Wer",
                 "how_many": "Wie viele", "quote": "Zitat", "images": "Bilder"}

QUOTE_HEADER_LINE = re.compile(
    r"^\s*(von|an|datum|betreff|gesendet|from|to|sent|date|subject)\s*:", re.IGNORECASE
)


def digest_topic(**overrides: Any) -> dict[str, Any]:
    topic: dict[str, Any] = {
        "id": 12,
        "ref": "T-12",
        "department": "Bauamt",
        "contact_name": "Erika Muster",
        "contact_email": "erika.muster@musterhausen.de",
        "what": "Spatenstich Kita Nord",
        "when_text": "Freitag, 12. März 2027, 10 Uhr",
        "where": "Kita Nord, Lindenweg 3",
        "who": "Bürgermeisterin Schmidt",
        "how_many_text": "ca. 80",
        "quote": "Endlich geht es los.",
        "attachments": ["baustelle.jpg"],
        "has_photos": True,
        "missing_labels": [],
        "status": "complete",
        "followup": "",
        "followup_since": "",
        "is_new": False,
    }
    topic.update(overrides)
    return topic


def full_context(name: str, **overrides: Any) -> dict[str, Any]:
    """A complete context for each template; a fresh dict on every call."""
    common: dict[str, Any] = {
        "contact_salutation": "Frau Muster",
        "contact_name": "Erika Muster",
        "department": "Bauamt",
        "sender_name": "Julia Beispiel",
        "organisation": "Stadt Musterhausen",
        "subject_tag": "[Themen 2027-01 #K7Q2]",
    }
    request = {
        **common,
        "month_label": "Januar 2027",
        "deadline": "Freitag, 15. Januar 2027",
        "template_block": DEFAULT_BLOCK,
        "officer_name": "Jana Presse",
        "officer_email": "presse@musterhausen.de",
    }
    contexts: dict[str, dict[str, Any]] = {
        "request": request,
        "reminder": {**request, "original_date": "4. Januar 2027"},
        "followup": {
            **common,
            "questions": [
                {"topic_what": "Sommerfest", "missing_labels": ["Wann", "Wo"]},
                {"topic_what": "", "missing_labels": ["Was", "Wie viele"]},
            ],
            "reply_hint": "Antworten Sie einfach auf diese Mail.",
        },
        "oversized": {
            **common,
            "original_subject": "Sommerfest",
            "size_label": "38 MB",
            "limit_label": "25 MB",
        },
        "receipt": {
            **common,
            "topics": [
                {"what": "Sommerfest", "when_text": "3. Juli 2027"},
                {"what": "Tag der offenen Tür", "when_text": ""},
            ],
        },
        "digest": {
            **common,
            "week_label": "KW 3/2027",
            "officer_name": "Julia Beispiel",
            "labels": dict(DIGEST_LABELS),
            "since_label": "Montag, 11. Januar",
            "new_topics": [
                digest_topic(),
                digest_topic(
                    id=13,
                    ref="T-13",
                    department="Kulturamt",
                    what="Sommerfest",
                    when_text="",
                    where="",
                    missing_labels=["Wann", "Wo"],
                    status="incomplete",
                    followup="running",
                    followup_since="12. Januar",
                ),
                digest_topic(id=14, ref="T-14", what="Brückensanierung", attachments=[],
                             has_photos=False),
            ],
            "new_count": 3,
            "ranking": [
                {"ref": "T-12", "what": "Spatenstich Kita Nord",
                 "reasons": [{"code": "soon", "days": 3}, {"code": "complete", "days": 0},
                             {"code": "photo", "days": 0}]},
                {"ref": "T-13", "what": "Sommerfest",
                 "reasons": [{"code": "quiet_department", "days": 0}]},
            ],
            "upcoming_topics": [
                digest_topic(id=20, ref="T-20", department="Kulturamt", what="Lesenacht"),
                digest_topic(is_new=True),
            ],
            "upcoming_count": 2,
            "upcoming_weeks": 6,
            "upcoming_command": "intake topics list --from 2027-01-18 --to 2027-02-28",
            "incomplete_topics": [
                digest_topic(id=13, ref="T-13", department="Kulturamt", what="Sommerfest",
                             when_text="", missing_labels=["Wann", "Wo"], status="incomplete",
                             followup="running", followup_since="12. Januar"),
                digest_topic(id=15, ref="T-15", department="Ordnungsamt", what="Markt",
                             missing_labels=["Wer"], status="incomplete", followup="spent"),
            ],
            "incomplete_count": 2,
            "round_label": "Januar 2027",
            "round_deadline": "Montag, 18. Januar 2027",
            "departments_without_answer": [
                {"department": "Ordnungsamt", "contact": "ordnung@musterhausen.de",
                 "asked_on": "4. Januar", "reminders": 1},
                {"department": "Schulamt", "contact": "Max Schule, schule@musterhausen.de",
                 "asked_on": "4. Januar", "reminders": 0},
            ],
            "bouncing": [{"department": "Jugendamt", "email": "alt@musterhausen.de",
                          "since": "10. Januar 2027", "reason": "550 5.1.1 user unknown"}],
            "set_aside": [{"id": 45, "status": "quarantined", "sender": "fremd@example.org",
                           "subject": "Unser Fest", "reason": "unbekannter Absender",
                           "received": "12.01. 09:14"}],
            "set_aside_more": 0,
            "balance_label": "1. Quartal 2027",
            "balance": [{"department": "Bauamt", "count": 12, "percent": 100},
                        {"department": "Kulturamt", "count": 5, "percent": 42},
                        {"department": "Schulamt", "count": 0, "percent": 0}],
            "contacts": [],
            "contacts_year": "2027",
            "calendar_file": "themen-2027-W03.ics",
            "calendar_count": 2,
        },
    }
    context = contexts[name]
    context.update(overrides)
    return context


class _TextOfHtml(HTMLParser):
    """What a mail client keeps of the HTML part when a colleague replies in plain text."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "tr", "li", "h2", "h3"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data.replace("\n", ""))


def html_to_lines(html: str) -> list[str]:
    extractor = _TextOfHtml()
    extractor.feed(html)
    extractor.close()
    return [line.strip() for line in "".join(extractor.parts).split("\n") if line.strip()]


def contains_lines(lines: list[str], wanted: list[str]) -> bool:
    return any(lines[i : i + len(wanted)] == wanted for i in range(len(lines)))


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


# --- rendering with a full context -------------------------------------------------------------


def test_names_lists_exactly_the_packaged_templates(renderer: TemplateRenderer) -> None:
    assert renderer.names() == TEMPLATES


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_three_nonempty_parts(renderer: TemplateRenderer, name: str) -> None:
    mail = renderer.render(name, full_context(name))
    assert isinstance(mail, RenderedMail)
    assert mail.subject.strip() and mail.text.strip() and mail.html.strip()
    assert "\n" not in mail.subject
    assert mail.text.endswith("\n") and not mail.text.endswith("\n\n")
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("name", CONTACT_TEMPLATES)
def test_contact_mails_greet_sign_and_tag(renderer: TemplateRenderer, name: str) -> None:
    mail = renderer.render(name, full_context(name))
    assert mail.text.startswith("Guten Tag Frau Muster,\n")
    assert "Guten Tag Frau Muster," in mail.html
    assert mail.subject.endswith("– Bauamt [Themen 2027-01 #K7Q2]")
    assert "Viele Grüße\nJulia Beispiel\nStadt Musterhausen\n" in mail.text
    assert "Julia Beispiel" in mail.html and "Stadt Musterhausen" in mail.html


@pytest.mark.parametrize("name", CONTACT_TEMPLATES)
def test_empty_salutation_greets_neutrally(renderer: TemplateRenderer, name: str) -> None:
    mail = renderer.render(name, full_context(name, contact_salutation="  "))
    assert mail.text.startswith("Guten Tag,\n")
    assert "Guten Tag,</p>" in mail.html
    assert "Guten Tag ," not in mail.text + mail.html


@pytest.mark.parametrize("name", ["request", "reminder"])
def test_request_and_reminder_carry_month_deadline_and_block(
    renderer: TemplateRenderer, name: str
) -> None:
    mail = renderer.render(name, full_context(name))
    for part in (mail.text, mail.html):
        assert "Bauamt" in part
        assert "Freitag, 15. Januar 2027" in part
        assert "keine Themen" in part
    assert "Bauamt" in mail.subject
    # the block keeps its lines in both parts
    assert "\n\n" + DEFAULT_BLOCK + "\n\n" in mail.text
    assert DEFAULT_BLOCK.replace("\n", "<br>\n") in mail.html
    assert contains_lines(html_to_lines(mail.html), DEFAULT_BLOCK.split("\n"))


def test_request_subject_reads_as_specified(renderer: TemplateRenderer) -> None:
    mail = renderer.render("request", full_context("request"))
    assert mail.subject == ("Ihre Themen für die kommenden Monate – Bauamt "
                            "[Themen 2027-01 #K7Q2]")


def test_reminder_is_marked_and_names_the_original_date(renderer: TemplateRenderer) -> None:
    mail = renderer.render("reminder", full_context("reminder"))
    assert mail.subject.startswith("Erinnerung: Ihre Themen für die kommenden Monate – ")
    assert "4. Januar 2027" in mail.text and "4. Januar 2027" in mail.html
    request = renderer.render("request", full_context("request"))
    assert len(mail.text) < len(request.text) + 40


@pytest.mark.parametrize("name", ["request", "reminder"])
def test_asking_says_what_for_which_period_and_whom_to_ask(
    renderer: TemplateRenderer, name: str
) -> None:
    mail = renderer.render(name, full_context(name))
    for part in (mail.text, " ".join(html_to_lines(mail.html))):
        flat = " ".join(part.split())
        # one period, the same in subject and text: no month "for" which topics are meant
        assert "kommenden Monate" in flat and "kommenden Monate" in mail.subject
        assert "Themen für Januar" not in flat + mail.subject
        assert "tragen Sie Ihre Themen einfach in den Block unten ein" in flat
        assert "Fragen beantwortet Ihnen gern Jana Presse (presse@musterhausen.de)." in flat
        assert "„keine Themen“" in flat
    assert 'href="mailto:presse@musterhausen.de"' in mail.html
    if name == "request":
        assert "für unsere Social-Media-Kanäle" in mail.text


def test_the_request_stays_short(renderer: TemplateRenderer) -> None:
    text = renderer.render("request", full_context("request")).text
    prose = text.replace(DEFAULT_BLOCK, "")
    assert len(prose.split()) <= 110, len(prose.split())
    assert text.count("Sie ") >= 3 and " du " not in text.lower()


@pytest.mark.parametrize(("officer_name", "officer_email", "expected"), [
    ("Julia Beispiel", "presse@musterhausen.de",
     "Bei Fragen erreichen Sie mich unter presse@musterhausen.de."),  # she signs herself
    ("", "presse@musterhausen.de", "Bei Fragen schreiben Sie gern an presse@musterhausen.de."),
    ("Jana Presse", "", "Fragen beantwortet Ihnen gern Jana Presse."),
    ("", "", "Bei Fragen antworten Sie einfach auf diese Mail."),
])
def test_whom_to_ask_reads_well_whatever_is_configured(
    renderer: TemplateRenderer, officer_name: str, officer_email: str, expected: str
) -> None:
    context = full_context("request", officer_name=officer_name, officer_email=officer_email)
    mail = renderer.render("request", context)
    assert expected in mail.text.splitlines()
    assert expected in html_to_lines(mail.html)


@pytest.mark.parametrize("name", CONTACT_TEMPLATES)
def test_the_organisation_is_not_signed_twice(renderer: TemplateRenderer, name: str) -> None:
    context = full_context(name, sender_name="Social-Media-Team Stadt Musterhausen")
    mail = renderer.render(name, context)
    assert mail.text.endswith("Viele Grüße\nSocial-Media-Team Stadt Musterhausen\n")
    assert html_to_lines(mail.html)[-2:] == ["Viele Grüße",
                                             "Social-Media-Team Stadt Musterhausen"]
    context = full_context(name, sender_name="Team der STADT MUSTERHAUSEN")
    signature = renderer.render(name, context).text.split("Viele Grüße")[-1]
    assert signature == "\nTeam der STADT MUSTERHAUSEN\n"


def test_text_block_reads_back_unchanged(renderer: TemplateRenderer) -> None:
    labels = [("what", "Thema"), ("when", "Termin"), ("where", "Ort")]
    block = template_block(
        labels, "=== Anfang ===", "=== Schluss ===", hints={"where": "(Adresse)"}
    )
    mail = renderer.render("request", full_context("request", template_block=block))
    lines = mail.text.split("\n")
    start = lines.index("=== Anfang ===")
    end = lines.index("=== Schluss ===")
    assert lines[start : end + 1] == [
        "=== Anfang ===",
        "Thema:",
        "Termin:",
        "Ort: (Adresse)",
        "=== Schluss ===",
    ]


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_rendered_line_looks_like_a_quote_header(renderer: TemplateRenderer, name: str) -> None:
    mail = renderer.render(name, full_context(name))
    lines = mail.text.split("\n") + html_to_lines(mail.html)
    assert [line for line in lines if QUOTE_HEADER_LINE.match(line)] == []


@pytest.mark.parametrize("name", TEMPLATES)
def test_html_is_self_contained_table_layout(renderer: TemplateRenderer, name: str) -> None:
    html = renderer.render(name, full_context(name)).html
    assert 'role="presentation"' in html and "max-width:600px" in html
    assert "font-family:Arial, Helvetica, sans-serif" in html
    for forbidden in ("<img", "<link", "<style", "<script", "class=", "http://", "https://"):
        assert forbidden not in html


# --- follow-up, receipt, digest ----------------------------------------------------------------


def test_followup_asks_only_for_the_missing_labels(renderer: TemplateRenderer) -> None:
    mail = renderer.render("followup", full_context("followup"))
    assert "Zu „Sommerfest“:\n--- Thema ---\nWann:\nWo:\n--- Ende ---\n" in mail.text
    assert "Zu Ihrem 2. Thema:\n--- Thema ---\nWas:\nWie viele:\n--- Ende ---\n" in mail.text
    assert "Wer:" not in mail.text and "Zitat:" not in mail.text
    assert mail.text.count("--- Thema ---") == 2
    assert "Antworten Sie einfach auf diese Mail." in mail.text
    html_lines = html_to_lines(mail.html)
    assert contains_lines(html_lines, ["--- Thema ---", "Wann:", "Wo:", "--- Ende ---"])
    assert "Antworten Sie einfach auf diese Mail." in mail.html
    assert mail.subject.startswith("Kurze Rückfrage zu Ihren Themen")


def test_followup_uses_configured_block_markers(renderer: TemplateRenderer) -> None:
    context = full_context("followup", block_start="## Thema", block_end="## Ende")
    mail = renderer.render("followup", context)
    assert "## Thema\nWann:\nWo:\n## Ende" in mail.text
    assert "--- Thema ---" not in mail.text


def test_followup_refuses_a_quote_header_label(renderer: TemplateRenderer) -> None:
    questions = [{"topic_what": "Sommerfest", "missing_labels": ["Datum"]}]
    with pytest.raises(TemplateError, match=r"followup\.txt\.j2.*Datum"):
        renderer.render("followup", full_context("followup", questions=questions))


def test_followup_without_reply_hint_leaves_no_gap(renderer: TemplateRenderer) -> None:
    mail = renderer.render("followup", full_context("followup", reply_hint=""))
    assert "--- Ende ---\n\nHerzlichen Dank!" in mail.text


def test_receipt_lists_topics_with_dates(renderer: TemplateRenderer) -> None:
    mail = renderer.render("receipt", full_context("receipt"))
    assert "- Sommerfest (3. Juli 2027)\n- Tag der offenen Tür\n" in mail.text
    assert "<li" in mail.html and "Sommerfest (3. Juli 2027)" in mail.html


def test_receipt_without_topics_just_thanks(renderer: TemplateRenderer) -> None:
    mail = renderer.render("receipt", full_context("receipt", topics=[]))
    assert "Rückmeldung" in mail.text and "Rückmeldung" in mail.html
    assert "Diese Themen" not in mail.text and "<li" not in mail.html


def test_digest_summarises_and_shows_every_section(renderer: TemplateRenderer) -> None:
    mail = renderer.render("digest", full_context("digest"))
    assert mail.subject == "Themen-Übersicht KW 3/2027: 3 neue Themen, 2 unvollständig"
    assert mail.text.startswith("Guten Tag Julia Beispiel,\n")
    summary = "3 neue Themen, 2 demnächst, 2 unvollständig, 2 Fachbereiche ohne Antwort."
    assert summary in mail.text and summary in mail.html
    # the sections in the officer's order, each under its heading
    headings = ["NEUE THEMEN (3)", "DEMNÄCHST: DIE NÄCHSTEN 6 WOCHEN (2)", "UNVOLLSTÄNDIG (2)",
                "OHNE ANTWORT – RUNDE JANUAR 2027", "MAILS, DIE SIE ANSEHEN SOLLTEN",
                "AUSGEWOGENHEIT: THEMEN JE FACHBEREICH, 1. QUARTAL 2027"]
    positions = [mail.text.index(f"\n{h}\n{'=' * len(h)}\n") for h in headings]
    assert positions == sorted(positions)
    # new topics in the caller's (ranked) order, with reference, department and contact
    assert mail.text.index("Spatenstich") < mail.text.index("* T-13 [Kulturamt] Sommerfest")
    assert "* T-13 [Kulturamt] Sommerfest – fehlt: Wann, Wo\n" in mail.text
    assert "  Kontakt: Erika Muster, erika.muster@musterhausen.de\n" in mail.text
    assert "  Anhänge: baustelle.jpg (mit Fotos)\n" in mail.text
    assert "fehlt: Wann, Wo" in mail.html and "T-13 · Kulturamt" in html_to_lines(mail.html)
    why = ("Oben steht, was bald ansteht, vollständig ist und Foto oder Zitat mitbringt: "
           "„Spatenstich Kita Nord“ (in 3 Tagen, vollständig, mit Foto), dann „Sommerfest“ "
           "(Fachbereich zuletzt selten dabei).")
    assert why in mail.text and why in " ".join(html_to_lines(mail.html))
    # upcoming: a topic already shown as new is only referred to
    assert ("* T-12 [Bauamt] Spatenstich Kita Nord – Freitag, 12. März 2027, 10 Uhr "
            "(neu, siehe oben)\n") in mail.text
    assert "* T-20 [Kulturamt] Lesenacht\n" in mail.text
    # incomplete: what is missing and where the follow-up stands
    assert "  fehlt: Wann, Wo\n  Rückfrage läuft seit 12. Januar\n" in mail.text
    assert "  fehlt: Wer\n  Rückfragen ohne Erfolg – bitte fragen Sie selbst nach\n" in mail.text
    # the round, bounces, set-aside mail
    for part in (mail.text, mail.html):
        assert "Antwortfrist: Montag, 18. Januar 2027" in part
        assert "Ordnungsamt" in part and "schule@musterhausen.de" in part
        assert "alt@musterhausen.de" in part and "550 5.1.1 user unknown" in part
        assert "fremd@example.org" in part and "Quarantäne" in part
        assert "themen-2027-W03.ics" in part
        assert "Wie viele: ca. 80" in part or "Wie viele:</span> ca. 80" in part
    assert "* Schulamt: Max Schule, schule@musterhausen.de (angefragt am 4. Januar)\n" \
        in mail.text
    assert "* Ordnungsamt: ordnung@musterhausen.de (angefragt am 4. Januar, 1 Erinnerung)\n" \
        in mail.text
    assert "Status" not in mail.text  # complete/incomplete are not spelled out
    # no contacts overview unless given
    assert "KONTAKTE" not in mail.text and "Kontakte im" not in mail.html


def test_digest_balance_bars_are_table_cells(renderer: TemplateRenderer) -> None:
    mail = renderer.render("digest", full_context("digest"))
    assert "Bauamt     #################### 12\n" in mail.text
    assert "Kulturamt  #########            5\n" in mail.text
    assert "Schulamt                        0\n" in mail.text
    assert '<td width="100%" height="12" bgcolor="#2563eb"' in mail.html
    assert '<td width="42%" height="12" bgcolor="#2563eb"' in mail.html
    assert '<td width="58%" height="12" bgcolor="#eef0f3"' in mail.html
    assert "<img" not in mail.html


def test_digest_contacts_overview_when_given(renderer: TemplateRenderer) -> None:
    contacts = [
        {"department": "Bauamt", "active": True, "contact": "Erika Muster, erika@m.de",
         "deputies": ["max@m.de"], "last_answer": "12. Januar 2027", "topics_this_year": 1,
         "bouncing": []},
        {"department": "Archiv", "active": False, "contact": "", "deputies": [],
         "last_answer": "", "topics_this_year": 0, "bouncing": ["alt@m.de"]},
    ]
    mail = renderer.render("digest", full_context("digest", contacts=contacts))
    assert ("* Bauamt: Erika Muster, erika@m.de\n  Vertretung: max@m.de\n"
            "  Letzte Antwort: 12. Januar 2027; 1 Thema 2027\n") in mail.text
    assert ("* Archiv (pausiert): kein Kontakt\n  Letzte Antwort: noch keine; 0 Themen 2027\n"
            "  Nicht zustellbar: alt@m.de\n") in mail.text
    assert "Kontakte im Überblick" in mail.html and "Nicht zustellbar: alt@m.de" in mail.html


def test_digest_shows_cancelled_status_in_german(renderer: TemplateRenderer) -> None:
    topics = [digest_topic(status="cancelled")]
    mail = renderer.render("digest", full_context("digest", new_topics=topics))
    assert "  Status: abgesagt\n" in mail.text
    assert "abgesagt" in mail.html


def test_digest_quiet_week_is_one_friendly_sentence(renderer: TemplateRenderer) -> None:
    context = full_context(
        "digest", new_topics=[], new_count=0, ranking=[], upcoming_topics=[], upcoming_count=0,
        incomplete_topics=[], incomplete_count=0, departments_without_answer=[], bouncing=[],
        set_aside=[], balance=[], calendar_file="", calendar_count=0, officer_name="")
    mail = renderer.render("digest", context)
    assert mail.subject == "Themen-Übersicht KW 3/2027: eine ruhige Woche"
    assert mail.text == (
        "Guten Tag,\n\n"
        "diese Woche (KW 3/2027) gibt es nichts Neues: keine neuen Themen, nichts Offenes, "
        "und keine Mail wartet auf Sie. Eine ruhige Woche wünscht Ihnen das Themen-Postfach!"
        "\n\nAutomatisch erstellt für Stadt Musterhausen.\n")
    assert "<h2" not in mail.html and "gibt es nichts Neues" in mail.html


def test_digest_nothing_new_but_more_to_tell(renderer: TemplateRenderer) -> None:
    context = full_context("digest", new_topics=[], new_count=0, ranking=[], officer_name="")
    mail = renderer.render("digest", context)
    assert mail.text.startswith("Guten Tag,\n")
    assert "0 neue Themen, 2 demnächst, 2 unvollständig, 2 Fachbereiche ohne Antwort." \
        in mail.text
    sentence = ("Seit der letzten Übersicht (Montag, 11. Januar) sind keine neuen Themen "
                "eingegangen.")
    assert sentence in mail.text and sentence in mail.html
    one = renderer.render("digest", full_context("digest", new_topics=[digest_topic()],
                                                  new_count=1))
    assert one.subject.startswith("Themen-Übersicht KW 3/2027: 1 neues Thema,")


def test_digest_counts_what_the_cap_left_out(renderer: TemplateRenderer) -> None:
    mail = renderer.render("digest", full_context("digest", new_count=20, upcoming_count=9,
                                                  incomplete_count=5, set_aside_more=3))
    lines = html_to_lines(mail.html)
    assert "… und 17 weitere neue Themen: intake topics list\n" in mail.text
    assert "… und 7 weitere: intake topics list --from 2027-01-18 --to 2027-02-28\n" in mail.text
    assert "… und 3 weitere: intake topics list --status incomplete\n" in mail.text
    assert "… und 3 weitere Mails warten auf Sie: intake inbound list\n" in mail.text
    assert "… und 3 weitere Mails warten auf Sie: intake inbound list" in lines
    assert "… und 17 weitere neue Themen: intake topics list" in lines


def test_digest_uses_the_configured_labels(renderer: TemplateRenderer) -> None:
    labels = {**DIGEST_LABELS, "when": "Termin", "where": "Ort"}
    mail = renderer.render("digest", full_context("digest", labels=labels))
    assert "  Termin: Freitag, 12. März 2027, 10 Uhr\n  Ort: Kita Nord, Lindenweg 3\n" \
        in mail.text
    assert "Termin:</span>" in mail.html


@pytest.mark.parametrize(("variable", "overrides"), [
    ("since_label", {"new_topics": [], "new_count": 0}),
    ("upcoming_command", {"upcoming_count": 9}),
    ("contacts_year", {"contacts": [{"department": "Bauamt", "active": True, "contact": "",
                                     "deputies": [], "last_answer": "",
                                     "topics_this_year": 0, "bouncing": []}]}),
])
def test_digest_conditional_variables_are_still_required(
    renderer: TemplateRenderer, variable: str, overrides: dict[str, Any]
) -> None:
    context = full_context("digest", **overrides)
    del context[variable]
    with pytest.raises(TemplateError) as caught:
        renderer.render("digest", context)
    assert caught.value.variable == variable


def test_digest_multiline_quote_keeps_lines(renderer: TemplateRenderer) -> None:
    topics = [digest_topic(quote="Erste Zeile\nZweite Zeile")]
    mail = renderer.render("digest", full_context("digest", new_topics=topics))
    assert "  Zitat: „Erste Zeile\n          Zweite Zeile“\n" in mail.text
    assert "Erste Zeile<br>\nZweite Zeile" in mail.html


# --- escaping and header safety ----------------------------------------------------------------


@pytest.mark.parametrize("name", CONTACT_TEMPLATES)
def test_html_escapes_user_text_and_text_keeps_it(renderer: TemplateRenderer, name: str) -> None:
    context = full_context(
        name,
        department="<script>alert(1)</script> R&D",
        contact_salutation="Frau <b>Muster</b>",
        sender_name="Team <i>Social</i> & Co",
    )
    mail = renderer.render(name, context)
    assert "<script>" not in mail.html and "<b>" not in mail.html and "<i>" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; R&amp;D" in mail.html
    assert "Frau &lt;b&gt;Muster&lt;/b&gt;" in mail.html
    assert "Team &lt;i&gt;Social&lt;/i&gt; &amp; Co" in mail.html
    assert "&amp;amp;" not in mail.html
    assert "<script>alert(1)</script> R&D" in mail.subject
    if name in ("request", "reminder"):
        assert "im Bereich <script>alert(1)</script> R&D " in mail.text
    assert "Guten Tag Frau <b>Muster</b>," in mail.text
    assert "&amp;" not in mail.text and "&lt;" not in mail.text


def test_html_escapes_topic_fields(renderer: TemplateRenderer) -> None:
    evil = "<img src=x onerror=alert(1)> R&D"
    digest = full_context(
        "digest",
        new_topics=[digest_topic(what=evil, quote=evil, attachments=["R&D.png"],
                                 department="<b>Amt</b>", contact_name=evil)],
        departments_without_answer=[{"department": "<b>Amt</b>", "contact": evil,
                                      "asked_on": "", "reminders": 0}],
        set_aside=[{"id": 1, "status": "quarantined", "sender": evil, "subject": evil,
                    "reason": evil, "received": "12.01. 09:14"}],
        bouncing=[{"department": "<b>Amt</b>", "email": evil, "since": "", "reason": evil}],
        balance=[{"department": "<b>Amt</b>", "count": 1, "percent": 100}],
        contacts=[{"department": "<b>Amt</b>", "active": True, "contact": evil,
                   "deputies": [evil], "last_answer": "", "topics_this_year": 1,
                   "bouncing": [evil]}],
        ranking=[{"ref": "T-1", "what": evil, "reasons": []}],
    )
    followup = full_context("followup", questions=[{"topic_what": evil, "missing_labels": ["Wo"]}])
    receipt = full_context("receipt", topics=[{"what": evil, "when_text": "<u>bald</u>"}])
    for name, context in (("digest", digest), ("followup", followup), ("receipt", receipt)):
        mail = renderer.render(name, context)
        assert "<img" not in mail.html and "<b>" not in mail.html and "<u>" not in mail.html
        assert "&lt;img src=x onerror=alert(1)&gt; R&amp;D" in mail.html
        assert "&amp;amp;" not in mail.html
        assert evil in mail.text
    assert "R&amp;D.png" in renderer.render("digest", digest).html


@pytest.mark.parametrize(
    "value",
    ["Bau\namt", "Bau\r\namt", "Bau\ramt", "Bau\u2028amt", "Bau\x00amt", "Bau \t\n  amt"],
)
def test_subject_is_one_line_whatever_the_context(renderer: TemplateRenderer, value: str) -> None:
    context = full_context(
        "request",
        department=value,
        month_label="Januar\n2027",
        subject_tag="[Themen 2027-01 #K7Q2]\r\nBcc: alle@example.org",
    )
    subject = renderer.render("request", context).subject
    assert not any(ch in subject for ch in "\r\n\x00\u2028\t")
    assert "  " not in subject
    assert subject == (
        "Ihre Themen für die kommenden Monate – Bau amt [Themen 2027-01 #K7Q2] "
        "Bcc: alle@example.org"
    )


# --- missing variables and templates -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "variable"), [(name, var) for name, required in REQUIRED.items() for var in required]
)
def test_missing_variable_raises_naming_it(
    renderer: TemplateRenderer, name: str, variable: str
) -> None:
    context = full_context(name)
    del context[variable]
    with pytest.raises(TemplateError) as caught:
        renderer.render(name, context)
    assert caught.value.variable == variable
    assert f"'{variable}'" in str(caught.value)
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_contact_name_is_optional(renderer: TemplateRenderer) -> None:
    context = full_context("request")
    del context["contact_name"]
    assert "Guten Tag Frau Muster," in renderer.render("request", context).text


@pytest.mark.parametrize(
    ("name", "collection", "key"),
    [
        ("followup", "questions", "missing_labels"),
        ("followup", "questions", "topic_what"),
        ("receipt", "topics", "when_text"),
        ("digest", "new_topics", "missing_labels"),
        ("digest", "upcoming_topics", "status"),
    ],
)
def test_missing_item_key_raises_naming_it(
    renderer: TemplateRenderer, name: str, collection: str, key: str
) -> None:
    context = full_context(name)
    del context[collection][0][key]
    with pytest.raises(TemplateError) as caught:
        renderer.render(name, context)
    assert caught.value.variable == key
    assert f"'{key}'" in str(caught.value)


def test_unknown_template_raises(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateError, match=r"nosuch\.subject\.j2 not found"):
        renderer.render("nosuch", {})


@pytest.mark.parametrize("name", ["", "_layout", "../request", "sub/request"])
def test_invalid_template_names_are_refused(renderer: TemplateRenderer, name: str) -> None:
    with pytest.raises(TemplateError, match="invalid template name"):
        renderer.render(name, full_context("request"))


def test_rendered_mail_is_frozen(renderer: TemplateRenderer) -> None:
    mail = renderer.render("receipt", full_context("receipt"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        mail.subject = "x"  # type: ignore[misc]


# --- override directory ------------------------------------------------------------------------


def test_override_replaces_one_file_and_leaves_the_rest(tmp_path: Path) -> None:
    (tmp_path / "request.txt.j2").write_text(
        "Hallo {{ contact_salutation }}, bitte bis {{ deadline }}:\n\n{{ template_block }}\n",
        encoding="utf-8",
    )
    packaged = TemplateRenderer()
    overridden = TemplateRenderer(override_dir=tmp_path)
    mail = overridden.render("request", full_context("request"))
    assert (
        mail.text == f"Hallo Frau Muster, bitte bis Freitag, 15. Januar 2027:\n\n{DEFAULT_BLOCK}\n"
    )
    original = packaged.render("request", full_context("request"))
    assert mail.subject == original.subject
    assert mail.html == original.html
    assert overridden.render("reminder", full_context("reminder")) == packaged.render(
        "reminder", full_context("reminder")
    )
    assert overridden.names() == TEMPLATES


def test_override_of_a_shared_part_applies_everywhere(tmp_path: Path) -> None:
    (tmp_path / "_signature.txt.j2").write_text(
        "Herzliche Grüße\n{{ sender_name }}\n", encoding="utf-8"
    )
    renderer = TemplateRenderer(override_dir=tmp_path)
    for name in CONTACT_TEMPLATES:
        mail = renderer.render(name, full_context(name))
        assert mail.text.endswith("Herzliche Grüße\nJulia Beispiel\n")
        assert "Viele Grüße" in mail.html  # the HTML signature is still the packaged one


def test_override_dir_can_add_a_template(tmp_path: Path) -> None:
    for suffix, body in (("subject", "Willkommen"), ("txt", "Hallo"), ("html", "<p>Hallo</p>")):
        (tmp_path / f"welcome.{suffix}.j2").write_text(body, encoding="utf-8")
    (tmp_path / "partial.txt.j2").write_text("only one part", encoding="utf-8")
    renderer = TemplateRenderer(override_dir=tmp_path)
    assert renderer.names() == (*TEMPLATES, "welcome")
    assert renderer.render("welcome", {}) == RenderedMail("Willkommen", "Hallo\n", "<p>Hallo</p>")


def test_override_html_is_autoescaped_too(tmp_path: Path) -> None:
    (tmp_path / "receipt.html.j2").write_text("<p>{{ department }}</p>", encoding="utf-8")
    renderer = TemplateRenderer(override_dir=tmp_path)
    mail = renderer.render("receipt", full_context("receipt", department="R&D <x>"))
    assert mail.html == "<p>R&amp;D &lt;x&gt;</p>"


def test_broken_override_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "request.txt.j2").write_text("Zeile eins\n{% if %}\n", encoding="utf-8")
    renderer = TemplateRenderer(override_dir=tmp_path)
    with pytest.raises(TemplateError, match=r"request\.txt\.j2, line 2"):
        renderer.render("request", full_context("request"))


def test_missing_override_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        TemplateRenderer(override_dir=tmp_path / "fehlt")


# --- template_block ----------------------------------------------------------------------------


def test_default_block_is_exactly_the_contract_template() -> None:
    assert template_block(DEFAULT_TEMPLATE_LABELS) == DEFAULT_BLOCK


def test_block_with_custom_labels_markers_and_no_hints() -> None:
    block = template_block(
        [("what", "Thema"), ("how_many", "Anzahl"), ("images", "Fotos")],
        block_start="[Anfang]",
        block_end="[Ende]",
        hints={},
    )
    assert block == "[Anfang]\nThema:\nAnzahl:\nFotos:\n[Ende]"


def test_block_hints_follow_their_label() -> None:
    block = template_block([("when", "Wann"), ("where", "Wo")], hints={"where": "(mit Adresse)"})
    assert block == "--- Thema ---\nWann:\nWo: (mit Adresse)\n--- Ende ---"


@pytest.mark.parametrize(
    "label",
    [
        "Von",
        "von wem",
        "An",
        "Datum",
        "DATUM/Uhrzeit",
        "Betreff",
        "Gesendet am",
        "From",
        "to",
        "Sent",
        "Date",
        "Subject",
        "  Datum  ",
        "*Von*",
    ],
)
def test_block_refuses_quote_header_labels(label: str) -> None:
    with pytest.raises(ValueError, match="quote"):
        template_block([("what", "Was"), ("when", label)])


@pytest.mark.parametrize("label", ["Anzahl", "Vonseiten", "Datumsangabe", "Ansprechpartner"])
def test_block_accepts_words_that_merely_begin_alike(label: str) -> None:
    assert f"\n{label}:\n" in template_block([("x", label)])


@pytest.mark.parametrize(
    ("labels", "kwargs", "message"),
    [
        ([], {}, "at least one"),
        ([("what", "")], {}, "empty"),
        ([("what", "Was\nWann")], {}, "single line"),
        ([("what", "Was:")], {}, "':'"),
        ([("what", "Was"), ("what", "Thema")], {}, "twice"),
        ([("what", "Was"), ("where", "was")], {}, "twice"),
        ([("what", "Was")], {"hints": {"where": "x"}}, "no label"),
        ([("what", "Was")], {"block_start": "---", "block_end": "---"}, "differ"),
        ([("what", "Was")], {"block_end": "Ende\nneu"}, "single line"),
    ],
)
def test_block_refuses_what_the_parser_could_not_read(
    labels: list[tuple[str, str]], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        template_block(labels, **kwargs)
