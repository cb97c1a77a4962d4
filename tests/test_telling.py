"""The weekly digest on both databases: what each section shows for a seeded database, the
quiet week, the cap, escaping, and sending once per week through the real mail stack
(idempotent, caught up after downtime, never twice)."""

from __future__ import annotations

import email
import hashlib
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.app import App
from bot.cli import cli
from bot.telling import digest as weekly
from db.models import (
    Attachment,
    Contact,
    Department,
    Digest,
    FollowUp,
    InboundMessage,
    OutboxMessage,
    Request,
    RequestRound,
    Topic,
)
from tests.mailstack import MailStack

BERLIN = ZoneInfo("Europe/Berlin")
OFFICER = "officer@musterhausen.test"
#: Monday of ISO week 2027-W03, after the digest time (07:30)
MONDAY = datetime(2027, 1, 18, 9, 0, tzinfo=BERLIN)
WEEK = "2027-W03"


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc, arg-type]


# --- a site and a seeder -------------------------------------------------------------------

def write_site(path: Path, db_url: str, smtp_port: int = 1, extra: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "contacts.yaml").write_text(
        "contacts:\n  - department: Bauamt\n    email: contact1@musterhausen.test\n",
        encoding="utf-8")
    (path / "intake.toml").write_text(f"""
[database]
url = "{db_url}"
[mail]
from_address = "bot@musterhausen.test"
from_name = "Social-Media-Team"
organisation = "Stadt Musterhausen"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
username = ""
timeout = 5
[imap]
host = "127.0.0.1"
username = "bot@musterhausen.test"
[officer]
email = "{OFFICER}"
name = "Julia Beispiel"
[schedule]
state = "NW"
digest_weekday = "mon"
digest_time = "07:30"
{extra}
""", encoding="utf-8")
    result = intake(path, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return path


def intake(site: Path, *args: str, now: datetime | None = None) -> Result:
    full = ["--config", str(site / "intake.toml")]
    if now is not None:
        full += ["--now", now.isoformat()]
    return CliRunner().invoke(cli, full + list(args), catch_exceptions=False)


def app_for(site: Path, now: datetime | None = None) -> App:
    return App(config_path=site / "intake.toml", config_explicit=True,
               now_override=now.isoformat() if now else None)


class Seeder:
    """Rows as listening and asking would have written them, straight into the database."""

    def __init__(self, session: Session, now: datetime = MONDAY) -> None:
        self.session = session
        self.now = now
        self.departments: dict[str, Department] = {}
        self.contacts: dict[str, Contact] = {}
        self._serial = 0

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    def department(self, name: str, email: str | None = None, person: str | None = None,
                   deputies: Sequence[str] = (), active: bool = True) -> Department:
        dept = Department(name=name, active=active, created_at=self.now - timedelta(days=90))
        self.session.add(dept)
        self.session.flush()
        local = re.sub(r"[^a-z]", "", name.lower()) or "x"
        address = email or f"{local}{dept.id}@musterhausen.test"
        for role, mail, who in [("primary", address, person),
                                *(("deputy", d, None) for d in deputies)]:
            contact = Contact(department_id=dept.id, email=mail, role=role, name=who,
                              active=True, created_at=dept.created_at,
                              updated_at=dept.created_at)
            self.session.add(contact)
            self.contacts.setdefault(name, contact) if role == "primary" else None
        self.session.flush()
        self.departments[name] = dept
        return dept

    def inbound(self, *, status: str = "processed", sender: str | None = None,
                subject: str | None = "Re: Ihre Themen", error: str | None = None,
                received_at: datetime | None = None) -> InboundMessage:
        n = self._next()
        raw = f"Message-ID: <m{n}@test>\r\n\r\nx".encode()
        row = InboundMessage(message_id=f"<m{n}@test>", folder="INBOX", uidvalidity=1, uid=n,
                             sha256=hashlib.sha256(raw).hexdigest(), raw=raw, size=len(raw),
                             received_at=received_at or self.now - timedelta(days=1),
                             status=status, from_address=sender, subject=subject, error=error)
        self.session.add(row)
        self.session.flush()
        return row

    def topic(self, department: str, what: str | None, *, start: date | None = None,
              end: date | None = None, time: str | None = None, where: str | None = "Rathaus",
              who: str | None = "Bürgermeisterin", quote: str | None = None,
              missing: Sequence[str] = (), created_at: datetime | None = None,
              files: Sequence[tuple[str, str]] = (), escalated: bool = False,
              followup_open: datetime | None = None, status: str | None = None,
              when_text: str | None = None) -> Topic:
        dept = self.departments[department]
        contact = self.contacts.get(department)
        created = created_at or self.now - timedelta(days=2)
        inbound = self.inbound(sender=contact.email if contact else None, received_at=created)
        topic = Topic(inbound_id=inbound.id, position=0, department_id=dept.id,
                      contact_id=contact.id if contact else None,
                      status=status or ("incomplete" if missing else "complete"), what=what,
                      when_text=when_text or (start.strftime("%d.%m.%Y") if start else None),
                      when_start=start, when_end=end, when_time=time, where=where, who=who,
                      quote=quote, missing=list(missing), created_at=created,
                      updated_at=created, escalated_at=self.now if escalated else None)
        self.session.add(topic)
        self.session.flush()
        for filename, content_type in files:
            self.session.add(Attachment(inbound_id=inbound.id, topic_id=topic.id,
                                        filename=filename, content_type=content_type, size=10,
                                        sha256=None, created_at=created))
        if followup_open is not None and contact is not None:
            self.session.add(FollowUp(topic_id=topic.id, contact_id=contact.id,
                                      fields=list(missing), created_at=followup_open))
        self.session.flush()
        return topic

    def round(self, month: str, deadline: date | None = None) -> RequestRound:
        rnd = RequestRound(month=month, opened_at=self.now - timedelta(days=14),
                           deadline=deadline)
        self.session.add(rnd)
        self.session.flush()
        return rnd

    def request(self, rnd: RequestRound, department: str, status: str = "sent",
                reminders: int = 0) -> Request:
        dept = self.departments[department]
        contact = self.contacts[department]
        n = self._next()
        answered = self.now - timedelta(days=3) if status in ("answered", "no_topics") else None
        row = Request(round_id=rnd.id, contact_id=contact.id, department_id=dept.id,
                      tag=f"T{n:04d}", message_id=f"<req{n}@test>", status=status,
                      created_at=rnd.opened_at, sent_at=rnd.opened_at, answered_at=answered,
                      reminders_sent=reminders)
        self.session.add(row)
        self.session.flush()
        return row


def seed(site: Path, fill: Any, now: datetime = MONDAY) -> None:
    """Run `fill(seeder)` in one committed transaction."""
    app = app_for(site)
    try:
        with app.sessions.begin() as session:
            fill(Seeder(session, now))
    finally:
        app.close()


def a_full_week(s: Seeder) -> None:
    """Every section has something: the seeded week of 2027-W03."""
    s.department("Bauamt", "contact1@musterhausen.test", "Erika Muster",
                 deputies=["contact9@musterhausen.test"])
    s.department("Kulturamt", "contact2@musterhausen.test", "Jörg Überall")
    s.department("Schulamt", "contact3@musterhausen.test")
    s.department("Jugendamt", "contact4@musterhausen.test")
    # new since last week
    s.topic("Bauamt", "Spatenstich Kita Nord", start=date(2027, 1, 22), time="10:00",
            where="Kita Nord, Lindenweg 3", quote="Endlich geht es los.",
            files=[("baustelle.jpg", "image/jpeg"), ("plan.pdf", "application/pdf")])
    s.topic("Kulturamt", "Sommerfest", where=None, missing=["when", "where"],
            followup_open=MONDAY - timedelta(days=1))
    # older, upcoming in the next six weeks
    s.topic("Kulturamt", "Lesenacht", start=date(2027, 2, 5), end=date(2027, 2, 6),
            created_at=MONDAY - timedelta(days=30))
    # older, incomplete, budget spent
    s.topic("Bauamt", "Brückensanierung", start=date(2027, 3, 1), who=None, missing=["who"],
            created_at=MONDAY - timedelta(days=20), escalated=True)
    # this round: Schulamt has not answered, Jugendamt's address bounces
    rnd = s.round("2027-01", deadline=date(2027, 1, 18))
    s.request(rnd, "Bauamt", "answered")
    s.request(rnd, "Kulturamt", "answered")
    s.request(rnd, "Schulamt", "sent", reminders=1)
    s.request(rnd, "Jugendamt", "no_topics")
    jugend = s.contacts["Jugendamt"]
    jugend.bounced_at = MONDAY - timedelta(days=5)
    jugend.bounce_reason = "550 5.1.1 user unknown"
    # mail that needs a human
    s.inbound(status="quarantined", sender="fremd@example.org", subject="Unser Fest",
              error="sender is not a known contact")
    s.inbound(status="unrecognized", sender="contact2@musterhausen.test", subject="Frage")
    s.inbound(status="failed", sender="contact1@musterhausen.test", subject="Kaputt",
              error="ValueError: boom")


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> Iterator[Path]:
    yield write_site(tmp_path / "site", db_url)


def build(site: Path, week: str = WEEK, now: datetime = MONDAY) -> weekly.BuiltDigest:
    app = app_for(site, now)
    try:
        return weekly.preview(app, week, now)
    finally:
        app.close()


def section(text: str, title: str) -> str:
    """The text part's section under the heading starting with `title` (headings are upper
    case and underlined with '=')."""
    lines = text.split("\n")
    heads = [i for i in range(len(lines) - 1)
             if lines[i] and set(lines[i + 1]) == {"="} and len(lines[i + 1]) == len(lines[i])]
    start = next(i for i in heads if lines[i].startswith(title.upper()))
    end = next((i for i in heads if i > start), len(lines))
    return "\n".join(lines[start:end])


# --- content -------------------------------------------------------------------------------

def test_every_section_shows_what_the_officer_needs(site: Path) -> None:
    seed(site, a_full_week)
    built = build(site)
    text, html = built.rendered.text, built.rendered.html
    assert built.rendered.subject == "Themen-Übersicht KW 3/2027: 2 neue Themen, 2 unvollständig"
    assert text.startswith("Guten Tag Julia Beispiel,\n")
    # the sections, in the order the officer needs them
    order = ["NEUE THEMEN", "DEMNÄCHST", "UNVOLLSTÄNDIG", "OHNE ANTWORT",
             "MAILS, DIE SIE ANSEHEN SOLLTEN", "AUSGEWOGENHEIT"]
    positions = [text.index(title) for title in order]
    assert positions == sorted(positions)
    # 1. new: five W's, quote, files with the photo noted, department, contact, reference
    new = section(text, "Neue Themen")
    spatenstich = next(t for t in Seeded.topics(site) if t.what == "Spatenstich Kita Nord")
    assert f"* T-{spatenstich.id} [Bauamt] Spatenstich Kita Nord\n" in new
    for line in ("Wann: Freitag, 22. Januar 2027, 10:00 Uhr", "Wo: Kita Nord, Lindenweg 3",
                 "Wer: Bürgermeisterin", "Zitat: „Endlich geht es los.“",
                 "Anhänge: baustelle.jpg, plan.pdf (mit Fotos)",
                 "Kontakt: Erika Muster, contact1@musterhausen.test"):
        assert f"  {line}\n" in new, line
    assert "[Kulturamt] Sommerfest – fehlt: Wann, Wo" in new
    assert "Lesenacht" not in new and "Brückensanierung" not in new
    # the one line saying why the top topics are on top
    assert ("Oben steht, was bald ansteht, vollständig ist und Foto oder Zitat mitbringt: "
            "„Spatenstich Kita Nord“ (in 4 Tagen, vollständig, mit Foto, mit Zitat") in new
    # 2. upcoming, in date order; the new one only referred to
    upcoming = section(text, "Demnächst")
    assert upcoming.index("Spatenstich") < upcoming.index("Lesenacht")
    assert "Spatenstich Kita Nord – Freitag, 22. Januar 2027, 10:00 Uhr (neu, siehe oben)" \
        in upcoming
    assert "  Wann: 5.–6. Februar 2027\n" in upcoming
    assert "Brückensanierung" not in upcoming  # 1 March: beyond six weeks
    # 3. incomplete: what is missing, follow-up running or spent (spent first)
    incomplete = section(text, "Unvollständig")
    assert incomplete.index("Brückensanierung") < incomplete.index("Sommerfest")
    assert "fehlt: Wer\n  Rückfragen ohne Erfolg – bitte fragen Sie selbst nach" in incomplete
    assert "fehlt: Wann, Wo\n  Rückfrage läuft seit 17. Januar" in incomplete
    # 4. the round: who has not answered, which address bounces
    silent = section(text, "Ohne Antwort")
    assert "RUNDE JANUAR 2027" in silent and "Antwortfrist: Montag, 18. Januar 2027" in silent
    assert "* Schulamt: contact3@musterhausen.test (angefragt am 4. Januar, 1 Erinnerung)" in silent
    assert "Bauamt" not in silent and "Kulturamt" not in silent
    assert "* Jugendamt: contact4@musterhausen.test (seit 13. Januar 2027) – 550 5.1.1 user " \
           "unknown" in silent
    # 5. mail set aside, with sender, subject and reason
    aside = section(text, "Mails, die Sie")
    assert "Quarantäne" in aside and "nicht erkannt" in aside and "fehlgeschlagen" in aside
    assert "Absender: fremd@example.org\n  „Unser Fest“\n  Grund: sender is not a known " \
           "contact" in aside
    # 6. balance this quarter: all departments, quiet ones included
    balance = section(text, "Ausgewogenheit")
    assert "1. QUARTAL 2027" in balance
    assert re.search(r"Bauamt\s+#+\s+1\n", balance) and re.search(r"Schulamt\s+0\n", balance)
    # the HTML carries the same, bars drawn with table cells
    for needle in ("Spatenstich Kita Nord", "fehlt: Wann, Wo", "Rückfragen ohne Erfolg",
                   "Schulamt", "contact4@musterhausen.test", "fremd@example.org",
                   'bgcolor="#2563eb"', "1. Quartal 2027"):
        assert needle in html, needle
    assert "<img" not in html and "<script" not in html
    # not the month's first digest: no contacts overview
    assert "KONTAKTE IM ÜBERBLICK" not in text
    # the coming weeks as a calendar attachment
    assert built.attachment is not None and built.attachment[0] == "themen-2027-W03.ics"
    assert b"SUMMARY:Spatenstich Kita Nord \xe2\x80\x93 Bauamt" in built.attachment[2]
    assert "Im Anhang finden Sie die 2 Termine der nächsten 6 Wochen" in text


class Seeded:
    @staticmethod
    def topics(site: Path) -> list[Topic]:
        app = app_for(site)
        try:
            with app.sessions() as session:
                return list(session.scalars(select(Topic).order_by(Topic.id)))
        finally:
            app.close()


def test_a_quiet_week_says_so_in_one_sentence(site: Path) -> None:
    def fill(s: Seeder) -> None:
        s.department("Bauamt")
        s.round("2027-01")  # the bot has begun, nothing came
    seed(site, fill)
    built = build(site)
    assert built.rendered.subject == "Themen-Übersicht KW 3/2027: eine ruhige Woche"
    body = built.rendered.text.split("\n\n")
    assert body[1].startswith("diese Woche (KW 3/2027) gibt es nichts Neues")
    assert "NEUE THEMEN" not in built.rendered.text and "DEMNÄCHST" not in built.rendered.text
    assert len(built.rendered.text.strip().splitlines()) <= 6
    assert "gibt es nichts Neues" in built.rendered.html
    assert "<h2" not in built.rendered.html
    assert built.attachment is None


def test_nothing_new_but_something_coming_says_so_and_shows_it(site: Path) -> None:
    def fill(s: Seeder) -> None:
        s.department("Bauamt")
        s.topic("Bauamt", "Richtfest", start=date(2027, 1, 28),
                created_at=MONDAY - timedelta(days=30))
    seed(site, fill)
    text = build(site).rendered.text
    assert ("Seit der letzten Übersicht (Montag, 11. Januar) sind keine neuen Themen "
            "eingegangen.") in text
    assert "Richtfest" in section(text, "Demnächst")


def test_the_cap_counts_the_rest_honestly_and_says_where_to_see_them(site: Path) -> None:
    def fill(s: Seeder) -> None:
        s.department("Bauamt")
        s.department("Kulturamt")
        for n in range(20):
            s.topic("Bauamt", f"Baustelle {n:02d}", start=date(2027, 1, 20) + timedelta(days=n))
        s.topic("Kulturamt", "Konzert", start=date(2027, 2, 20))
    seed(site, fill)
    built = build(site)
    new = section(built.rendered.text, "Neue Themen")
    assert new.count("\n* T-") == 15
    assert "… und 6 weitere neue Themen: intake topics list" in new
    # balance: the one Kulturamt topic, far off, still makes the list over the busy Bauamt
    assert "Konzert" in new
    upcoming = section(built.rendered.text, "Demnächst")
    assert upcoming.count("\n* T-") == 15
    assert "… und 6 weitere: intake topics list --from 2027-01-18 --to 2027-02-28" in upcoming
    assert "6 weitere" in built.rendered.html and "intake topics list" in built.rendered.html


def test_a_smaller_cap_and_horizon_from_the_config(tmp_path: Path, db_url: str) -> None:
    site = write_site(tmp_path / "s", db_url, extra="[digest]\nmax_topics = 2\n"
                      "upcoming_weeks = 1\nattach_calendar = false\n")

    def fill(s: Seeder) -> None:
        s.department("Bauamt")
        for n in range(4):
            s.topic("Bauamt", f"Termin {n}", start=date(2027, 1, 19) + timedelta(days=3 * n))
    seed(site, fill)
    built = build(site)
    assert section(built.rendered.text, "Neue Themen").count("\n* T-") == 2
    upcoming = section(built.rendered.text, "Demnächst")
    assert "die nächsten 1 Wochen".upper() in upcoming.upper() or "1 WOCHEN" in upcoming
    assert "Termin 3" not in upcoming  # 28 January: beyond one week
    assert built.attachment is None and "Kalenderdatei" not in built.rendered.text


def test_the_months_first_digest_carries_the_contacts_overview(site: Path) -> None:
    monday = datetime(2027, 2, 1, 9, 0, tzinfo=BERLIN)

    def fill(s: Seeder) -> None:
        a_full_week(s)
        s.department("Archiv", active=False)
    seed(site, fill)
    text = build(site, "2027-W05", monday).rendered.text
    overview = section(text, "Kontakte im Überblick")
    assert ("* Bauamt: Erika Muster, contact1@musterhausen.test\n"
            "  Vertretung: contact9@musterhausen.test\n") in overview
    # the last answer: a topic received (16 January) or a request answered (15 January)
    assert "Letzte Antwort: 16. Januar 2027; 1 Thema 2027" in overview
    assert ("* Jugendamt: contact4@musterhausen.test\n"
            "  Letzte Antwort: 15. Januar 2027; 0 Themen 2027\n"
            "  Nicht zustellbar: contact4@musterhausen.test\n") in overview
    assert "* Schulamt: contact3@musterhausen.test\n  Letzte Antwort: noch keine;" in overview
    assert overview.index("Schulamt") < overview.index("* Archiv (pausiert): archiv")
    assert "Kontakte im Überblick" in build(site, "2027-W05", monday).rendered.html


def test_new_means_since_the_last_digest(site: Path) -> None:
    def fill(s: Seeder) -> None:
        s.department("Bauamt")
        s.topic("Bauamt", "Alt", created_at=MONDAY - timedelta(days=6))
        s.topic("Bauamt", "Neu", created_at=MONDAY - timedelta(hours=2))
        s.session.add(Digest(week="2027-W02", created_at=MONDAY - timedelta(days=3),
                             covered_until=MONDAY - timedelta(days=3), topic_count=1))
    seed(site, fill)
    new = section(build(site).rendered.text, "Neue Themen")
    assert "Neu" in new and "Alt" not in new
    assert "Themen-Übersicht KW 3/2027: 1 neues Thema" in build(site).rendered.subject


# --- escaping ------------------------------------------------------------------------------

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> R&D'


def test_colleagues_text_is_escaped_and_cannot_inject_headers(site: Path) -> None:
    def fill(s: Seeder) -> None:
        s.department(f"Amt {EVIL}")
        s.department("Bauamt\r\nBcc: alle@example.org")
        s.topic(f"Amt {EVIL}", f"Fest {EVIL}", start=date(2027, 1, 25), where=EVIL,
                quote=f"Zitat {EVIL}\nZweite Zeile", files=[(f"{EVIL}.jpg", "image/jpeg")])
        s.topic("Bauamt\r\nBcc: alle@example.org", "Thema\r\nBcc: alle@example.org",
                missing=["when"])
        s.inbound(status="quarantined", sender="x@example.org\r\nBcc: y@example.org",
                  subject=f"Betreff {EVIL}\r\nBcc: z@example.org", error=EVIL)
    seed(site, fill)
    built = build(site)
    html = built.rendered.html
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "R&amp;D" in html and "&amp;amp;" not in html
    assert "\n" not in built.rendered.subject and "\r" not in built.rendered.subject
    # the text part keeps the words as typed
    assert f"Fest {EVIL}" in built.rendered.text
    # the mail itself: no header line made of a colleague's text
    app = app_for(site, MONDAY)
    try:
        raw = app_raw(app)
    finally:
        app.close()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\nBcc:" not in head
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["To"] == f"Julia Beispiel <{OFFICER}>"
    assert msg.get_all("Bcc") is None


def app_raw(app: App) -> bytes:
    outcome = weekly.send(app, WEEK, MONDAY)
    assert outcome.queued
    with app.sessions() as session:
        raw = session.scalar(select(OutboxMessage.raw).where(OutboxMessage.kind == "digest"))
    assert raw is not None
    return raw


# --- sending: once per week, through the real mail stack ------------------------------------

@pytest.fixture
def mail_site(tmp_path: Path, db_url: str, clean_mailboxes: MailStack) -> Path:
    return write_site(tmp_path / "site", db_url, clean_mailboxes.smtp_port)


def outbox_digests(site: Path) -> list[OutboxMessage]:
    app = app_for(site)
    try:
        with app.sessions() as session:
            return list(session.scalars(select(OutboxMessage)
                                        .where(OutboxMessage.kind == "digest")))
    finally:
        app.close()


def digest_rows(site: Path) -> list[Digest]:
    app = app_for(site)
    try:
        with app.sessions() as session:
            return list(session.scalars(select(Digest).order_by(Digest.week)))
    finally:
        app.close()


def test_send_mails_the_digest_once_per_week(mail_site: Path, clean_mailboxes: MailStack) -> None:
    seed(mail_site, a_full_week)
    result = intake(mail_site, "digest", "--send", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert f"digest {WEEK} queued for {OFFICER}" in result.stdout
    (raw,) = clean_mailboxes.wait_for_messages(OFFICER)
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"] == "Themen-Übersicht KW 3/2027: 2 neue Themen, 2 unvollständig"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "OOF"
    assert msg.get_content_type() == "multipart/mixed"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and "Spatenstich Kita Nord" in text.get_content()
    assert html is not None and "Spatenstich Kita Nord" in html.get_content()
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "themen-2027-W03.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert b"BEGIN:VEVENT" in attachment.get_payload(decode=True)
    # a second call, and the scheduler's job, send nothing
    again = intake(mail_site, "digest", "--send", now=MONDAY + timedelta(hours=1))
    assert again.exit_code == 0, again.output
    assert "already queued" in again.stdout
    app = app_for(mail_site, MONDAY + timedelta(hours=2))
    try:
        from bot.usecases import run_weekly_digest

        run_weekly_digest(app)
    finally:
        app.close()
    assert len(outbox_digests(mail_site)) == 1
    (row,) = digest_rows(mail_site)
    assert (row.week, row.topic_count) == (WEEK, 2)
    assert row.outbox_id == outbox_digests(mail_site)[0].id
    clean_mailboxes.wait_queue_empty()
    assert len(clean_mailboxes.wait_for_messages(OFFICER)) == 1


def test_without_send_nothing_is_queued_and_the_preview_is_written(site: Path,
                                                                    tmp_path: Path) -> None:
    seed(site, a_full_week)
    preview = tmp_path / "digest.html"
    result = intake(site, "digest", "--preview", str(preview), now=MONDAY)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Subject: Themen-Übersicht KW 3/2027")
    assert "Spatenstich Kita Nord" in result.stdout
    assert "not sent" in result.stderr
    assert preview.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert outbox_digests(site) == [] and digest_rows(site) == []


def test_catch_up_after_downtime_sends_once_and_a_past_week_never(mail_site: Path,
                                                                  clean_mailboxes: MailStack
                                                                  ) -> None:
    """Down on Monday morning, back on Wednesday: the daemon's catch-up sends the week's
    digest, once; before the digest time and in a week whose digest is done nothing goes."""
    from bot.usecases import run_weekly_digest

    seed(mail_site, a_full_week)

    def tick(now: datetime) -> None:
        app = app_for(mail_site, now)
        try:
            run_weekly_digest(app)
        finally:
            app.close()

    tick(berlin(2027, 1, 18, 7, 0))  # before 07:30: not due yet
    assert outbox_digests(mail_site) == []
    tick(berlin(2027, 1, 20, 11, 0))  # catch-up on Wednesday
    tick(berlin(2027, 1, 20, 11, 5))  # a restart
    tick(berlin(2027, 1, 24, 22, 0))  # Sunday evening, same week
    assert [d.week for d in digest_rows(mail_site)] == [WEEK]
    assert len(clean_mailboxes.wait_for_messages(OFFICER)) == 1
    # the next week's digest starts where this one stopped looking
    tick(berlin(2027, 1, 25, 7, 45))
    rows = digest_rows(mail_site)
    assert [d.week for d in rows] == [WEEK, "2027-W04"]
    assert rows[1].topic_count == 0
    assert len(clean_mailboxes.wait_for_messages(OFFICER, count=2)) == 2


def test_two_runs_at_once_queue_one_digest(site: Path) -> None:
    """Two processes (here: threads with their own engines) send the week's digest at the
    same moment: the week's row (or its unique constraint) lets exactly one through."""
    seed(site, a_full_week)
    apps = [app_for(site, MONDAY), app_for(site, MONDAY)]
    start = threading.Barrier(2)
    outcomes: list[weekly.SendOutcome] = []
    errors: list[BaseException] = []

    def run(app: App) -> None:
        try:
            start.wait(timeout=30)
            outcomes.append(weekly.send(app, WEEK, MONDAY))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(app,)) for app in apps]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for app in apps:
            app.close()
    assert errors == []
    assert sorted(o.queued for o in outcomes) == [False, True]
    assert len(outbox_digests(site)) == 1 and len(digest_rows(site)) == 1


def test_a_holiday_moves_the_digest_to_the_next_working_day(site: Path) -> None:
    """Easter Monday 2027 (29 March) is a holiday in NW: the week's digest goes out on
    Tuesday at the digest time, labelled with its own week."""
    seed(site, a_full_week)

    def due(now: datetime) -> list[str]:
        app = app_for(site, now)
        try:
            weekly.send_due(app)
        finally:
            app.close()
        return [d.week for d in digest_rows(site)]

    assert due(berlin(2027, 3, 29, 9, 0)) == []
    assert due(berlin(2027, 3, 30, 7, 29)) == []
    assert due(berlin(2027, 3, 30, 7, 30)) == ["2027-W13"]


def test_a_bot_that_has_not_begun_sends_no_digest(site: Path) -> None:
    from bot.usecases import run_weekly_digest

    app = app_for(site, MONDAY)
    try:
        run_weekly_digest(app)
        with app.sessions() as session:
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    finally:
        app.close()


def test_bad_week_and_future_week_are_one_line_errors(site: Path) -> None:
    bad = intake(site, "digest", "--week", "2027-53", now=MONDAY)
    assert bad.exit_code == 2 and "YYYY-Www" in bad.stderr
    future = intake(site, "digest", "--send", "--week", "2027-W09", now=MONDAY)
    assert future.exit_code == 1
    assert future.stderr.strip().splitlines() == [
        "intake: --week 2027-W09 has not begun; its digest can be sent from its Monday on"]
    assert outbox_digests(site) == []


def test_the_digest_dates_are_local(site: Path) -> None:
    """A topic received late on Sunday evening local time (UTC still Sunday) is new."""
    def fill(s: Seeder) -> None:
        s.department("Bauamt")
        s.topic("Bauamt", "Spät", created_at=datetime(2027, 1, 17, 22, 30, tzinfo=UTC))
    seed(site, fill)
    assert "Spät" in section(build(site).rendered.text, "Neue Themen")
