"""Asking back, end to end on the real Postfix + Dovecot stack and both databases:
incomplete reply -> one bundled follow-up asking only for what is missing -> answer merged
-> topic complete, and the bounds: budget, quiet days, absences, bounces, weekends."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from db.models import OutboxMessage, Topic, TopicChange
from tests.mailstack import MailStack
from tests.test_listening import BOT, deliver, intake, requests_by_address, rows, site

__all__ = ["site"]  # the fixture, shared with the listening tests

TUESDAY = "2027-01-05T10:00:00+01:00"
WEDNESDAY = "2027-01-06T10:00:00+01:00"
THURSDAY = "2027-01-07T10:00:00+01:00"
FRIDAY = "2027-01-08T10:00:00+01:00"
SATURDAY = "2027-01-09T10:00:00+01:00"
MONDAY2 = "2027-01-11T10:00:00+01:00"
TUESDAY2 = "2027-01-12T10:00:00+01:00"
THURSDAY2 = "2027-01-14T10:00:00+01:00"


def reply(sender: str, name: str, in_reply_to: str, subject: str, body: str,
          message_id: str) -> str:
    return (f"From: {name} <{sender}>\nTo: {BOT}\nSubject: {subject}\n"
            f"Date: Tue, 5 Jan 2027 09:00:00 +0100\nMessage-ID: {message_id}\n"
            f"In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\nMIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            f"{body}")


def poll(site: Path, now: str) -> None:
    result = intake(site, "poll", "--once", now=now)
    assert result.exit_code == 0, result.output


def followups(site: Path, now: str, *extra: str) -> str:
    result = intake(site, "followups", *extra, now=now)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def topics_by_what(site: Path) -> dict[str, Topic]:
    return {t.what: t for t in rows(site, Topic)}


def incomplete_reply(site: Path, mailstack: MailStack, address: str, name: str, body: str,
                     message_id: str, *, then_poll: bool = True) -> tuple[str, str]:
    """Send the requests, let `address` answer with `body` in their thread, poll on Tuesday;
    the request's (Message-ID, Subject)."""
    requests = requests_by_address(site, mailstack)
    mid, subject = requests[address]
    deliver(mailstack, reply(address, name, mid, f"Re: {subject}", body, message_id), address, 1)
    if then_poll:
        poll(site, TUESDAY)
    return mid, subject


INCOMPLETE_TWO = """\
Hallo,

--- Thema ---
Was: Lesenacht für Kinder
Wann: 26.02.2027, 18 Uhr
Wo:
Wer: Team der Bibliothek
Wie viele: 30 Kinder
--- Ende ---

--- Thema ---
Was: Bücherflohmarkt
Wann:
Wo:
Wer: Förderverein
Wie viele: 200
--- Ende ---

Viele Grüße
Jörg Überall
"""


def test_one_bundled_question_then_answers_complete_both_topics(site: Path,
                                                                mailstack: MailStack) -> None:
    incomplete_reply(site, mailstack, "contact2@musterhausen.test", "Jörg Überall", INCOMPLETE_TWO,
                     "<bib-1@musterhausen.test>")
    # the dry run shows the question and sends nothing
    shown = followups(site, WEDNESDAY, "--dry-run")
    assert "1 follow-up(s) would be sent" in shown
    assert "Zu „Lesenacht für Kinder“" in shown and "Zu „Bücherflohmarkt“" in shown
    assert [o.kind for o in rows(site, OutboxMessage)].count("followup") == 0

    out = followups(site, WEDNESDAY)
    assert "1 follow-up(s) queued" in out
    msgs = mailstack.wait_for_messages("contact2@musterhausen.test", count=2)
    question = parse(msgs[1])
    assert str(question["Subject"]).startswith("Kurze Rückfrage zu Ihren Themen – "
                                               "Stadtbibliothek [Themen 2027-01 #")
    assert question["In-Reply-To"] == "<bib-1@musterhausen.test>"
    assert question["X-Auto-Response-Suppress"] == "OOF"
    body = text_of(question)
    lesenacht, flohmarkt = body.split("Zu „Lesenacht für Kinder“:")[1].split(
        "Zu „Bücherflohmarkt“:")
    assert "Wo:" in lesenacht and "Wann:" not in lesenacht and "Wer:" not in lesenacht
    assert "Wann:" in flohmarkt and "Wo:" in flohmarkt and "Wer:" not in flohmarkt

    # the colleague answers inside the quoted question, both blocks in order
    answer_body = ("Gern:\n\n--- Thema ---\nWo: Stadtbibliothek, Lesesaal\n--- Ende ---\n\n"
                   "--- Thema ---\nWann: 13.03.2027\nWo: Rathausplatz\n--- Ende ---\n\n"
                   "Gruß J. Überall\n")
    deliver(mailstack, reply("contact2@musterhausen.test", "Jörg Überall",
                             str(question["Message-ID"]), f"Re: {question['Subject']}",
                             answer_body, "<bib-2@musterhausen.test>"),
            "contact2@musterhausen.test", 1)  # the first reply left the inbox
    poll(site, THURSDAY)
    topics = topics_by_what(site)
    assert topics["Lesenacht für Kinder"].where == "Stadtbibliothek, Lesesaal"
    assert topics["Lesenacht für Kinder"].status == "complete"
    assert topics["Bücherflohmarkt"].when_start.isoformat() == "2027-03-13"
    assert topics["Bücherflohmarkt"].where == "Rathausplatz"
    assert topics["Bücherflohmarkt"].status == "complete"
    assert len(topics) == 2  # merged, not new topics
    # complete: nothing more is asked, ever
    assert "0 follow-up(s) queued" in followups(site, MONDAY2)
    assert [o.kind for o in rows(site, OutboxMessage)].count("followup") == 1
    listed = intake(site, "topics", "list", "--format", "json").stdout
    assert '"followups_sent": 1' in listed


INCOMPLETE_ONE = """\
Was: Richtfest Feuerwache Nord
Wann:
Wo:
Wer: Bürgermeisterin, Wehrführer
Wie viele: ca. 150

Mit freundlichen Grüßen
Erika Muster
"""


def test_a_partial_answer_leaves_the_rest_open_the_budget_ends_with_the_officer(
        site: Path, mailstack: MailStack) -> None:
    incomplete_reply(site, mailstack, "contact1@musterhausen.test", "Erika Muster", INCOMPLETE_ONE,
                     "<bau-1@musterhausen.test>")
    assert "1 follow-up(s) queued" in followups(site, WEDNESDAY)
    first = parse(mailstack.wait_for_messages("contact1@musterhausen.test", count=2)[1])
    assert "Wann:" in text_of(first) and "Wo:" in text_of(first)

    # only the date comes back, as free text (a lone answer is parsed against the question)
    deliver(mailstack, reply("contact1@musterhausen.test", "Erika Muster",
                             str(first["Message-ID"]), f"AW: {first['Subject']}",
                             "Wann: 24.04.2027, 11 Uhr\n\nGruß E. Muster\n",
                             "<bau-2@musterhausen.test>"), "contact1@musterhausen.test", 1)
    poll(site, THURSDAY)
    topic = topics_by_what(site)["Richtfest Feuerwache Nord"]
    assert topic.when_start.isoformat() == "2027-04-24" and topic.missing == ["where"]
    # the quiet period: the last mail to her went out on Wednesday
    held = followups(site, "2027-01-07T16:00:00+01:00")
    assert "held back: Richtfest Feuerwache Nord: Ruhezeit" in held
    assert "0 follow-up(s) queued" in held
    # a weekend sends nothing either
    assert "kein Arbeitstag" in followups(site, SATURDAY)
    out = followups(site, MONDAY2)
    assert "1 follow-up(s) queued" in out
    second = parse(mailstack.wait_for_messages("contact1@musterhausen.test", count=3)[2])
    assert "Wo:" in text_of(second) and "Wann:" not in text_of(second)
    # no answer: the budget (2) is spent, the officer gets the topic, nobody gets more mail
    assert "to the officer as incomplete: Richtfest Feuerwache Nord" in followups(site,
                                                                                THURSDAY2)
    assert [o.kind for o in rows(site, OutboxMessage)].count("followup") == 2
    assert topics_by_what(site)["Richtfest Feuerwache Nord"].escalated_at is not None
    assert "0 follow-up(s) queued" in followups(site, "2027-01-20T10:00:00+01:00")


def test_a_correction_updates_the_topic_and_keeps_its_history(site: Path,
                                                              mailstack: MailStack) -> None:
    incomplete_reply(site, mailstack, "contact1@musterhausen.test", "Erika Muster", INCOMPLETE_ONE,
                     "<bau-1@musterhausen.test>")
    followups(site, WEDNESDAY)
    first = parse(mailstack.wait_for_messages("contact1@musterhausen.test", count=2)[1])
    deliver(mailstack, reply("contact1@musterhausen.test", "Erika Muster",
                             str(first["Message-ID"]), f"AW: {first['Subject']}",
                             "Wann: 24.04.2027\nWo: Feuerwache Nord, Hof\n"
                             "Wie viele: eher 250\n\nGruß\n",
                             "<bau-2@musterhausen.test>"), "contact1@musterhausen.test", 1)
    poll(site, THURSDAY)
    topic = topics_by_what(site)["Richtfest Feuerwache Nord"]
    assert topic.status == "complete"
    assert topic.how_many_text == "eher 250" and topic.how_many_min == 250
    app = App(config_path=site / "intake.toml", config_explicit=True)
    with app.sessions() as session:
        changes = {c.field: c for c in session.scalars(
            select(TopicChange).where(TopicChange.topic_id == topic.id))}
    app.close()
    assert changes["how_many"].old_value == {"how_many_text": "ca. 150", "how_many_min": 150,
                                             "how_many_max": 150}
    assert changes["how_many"].new_value["how_many_text"] == "eher 250"
    assert changes["where"].old_value is None


OOF = """\
Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 15.01.2027 nicht im Haus.
"""


@pytest.mark.parametrize("event", ["absence", "bounce"])
def test_an_absence_pauses_and_a_bounce_stops_the_questions(site: Path, mailstack: MailStack,
                                                            event: str) -> None:
    mid, subject = incomplete_reply(site, mailstack, "contact1@musterhausen.test",
                                    "Erika Muster", INCOMPLETE_ONE, "<bau-1@musterhausen.test>",
                                    then_poll=False)
    if event == "absence":
        oof = reply("contact1@musterhausen.test", "Erika Muster", mid,
                    f"Automatische Antwort: {subject}", OOF, "<oof-1@musterhausen.test>")
        oof = oof.replace("MIME-Version", "Auto-Submitted: auto-replied\nMIME-Version")
        deliver(mailstack, oof, "contact1@musterhausen.test", 2)
    else:
        app = App(config_path=site / "intake.toml", config_explicit=True)
        from db.models import Contact

        with app.sessions.begin() as session:
            contact = session.scalar(select(Contact).where(
                Contact.email == "contact1@musterhausen.test"))
            assert contact is not None
            from datetime import UTC, datetime
            contact.bounced_at = datetime(2027, 1, 5, tzinfo=UTC)
        app.close()
    poll(site, TUESDAY)
    out = followups(site, WEDNESDAY)
    assert "0 follow-up(s) queued" in out
    if event == "absence":
        assert "abwesend bis 2027-01-15" in out
        # back on Monday 18 January: now she is asked
        assert "1 follow-up(s) queued" in followups(site, "2027-01-18T10:00:00+01:00")
    else:
        assert "Adresse unzustellbar" in out
        assert topics_by_what(site)["Richtfest Feuerwache Nord"].escalated_at is not None


def test_receipts_when_switched_on_thank_once_and_list_what_was_understood(
        site: Path, mailstack: MailStack) -> None:
    with (site / "intake.toml").open("a", encoding="utf-8") as fh:
        fh.write("receipts = true\n")  # [schedule] is the file's last section
    incomplete_reply(site, mailstack, "contact2@musterhausen.test", "Jörg Überall", INCOMPLETE_TWO,
                     "<bib-1@musterhausen.test>")
    poll(site, TUESDAY)  # a second pass thanks nobody again
    receipts = [o for o in rows(site, OutboxMessage) if o.kind == "receipt"]
    assert len(receipts) == 1 and receipts[0].to_address == "contact2@musterhausen.test"
    thanks = parse(mailstack.wait_for_messages("contact2@musterhausen.test", count=2)[1])
    assert str(thanks["Subject"]).startswith("Danke für Ihre Rückmeldung – Stadtbibliothek")
    assert thanks["In-Reply-To"] == "<bib-1@musterhausen.test>"
    body = text_of(thanks)
    assert "Lesenacht für Kinder" in body and "Bücherflohmarkt" in body
    # the receipt counts as mail to her: the question waits for the quiet period
    assert "Ruhezeit" in followups(site, WEDNESDAY)
