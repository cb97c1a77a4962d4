"""Listening, end to end on the real Postfix + Dovecot stack and both databases:
request -> colleague's reply over SMTP -> `intake poll --once` -> stored topics, with
strangers, spoofs, automatic mail, bounces and oversized mail set aside, never answered."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.app import App
from bot.cli import cli
from db.models import Absence, Contact, InboundMessage, OutboxMessage, Request, Topic
from tests.mailstack import MailStack

BOT = "bot@musterhausen.test"
CONTACTS = """\
contacts:
  - department: Bauamt
    name: Erika Muster
    email: contact1@musterhausen.test
    salutation: Frau Muster
    deputies: [contact9@musterhausen.test]
  - department: Stadtbibliothek
    name: Jörg Überall
    email: contact2@musterhausen.test
    salutation: Herr Überall
  - department: Kita Sonnenschein
    email: contact3@musterhausen.test
"""
MONDAY = "2027-01-04T08:00:00+01:00"
LATER = "2027-01-06T10:00:00+01:00"
ENV = {"TEST_IMAP_PW": "secret"}


@pytest.fixture
def site(tmp_path: Path, clean_mailboxes: MailStack, db_url: str) -> Path:
    (tmp_path / "contacts.yaml").write_text(CONTACTS, encoding="utf-8")
    (tmp_path / "intake.toml").write_text(f"""
[database]
url = "{db_url}"
[mail]
from_address = "{BOT}"
from_name = "Social-Media-Team"
organisation = "Stadt Musterhausen"
max_attachment_mb = 1
[smtp]
host = "127.0.0.1"
port = {clean_mailboxes.smtp_port}
security = "none"
username = ""
[imap]
host = "127.0.0.1"
port = {clean_mailboxes.imaps_port}
security = "ssl"
username = "{BOT}"
password_env = "TEST_IMAP_PW"
ca_file = "{clean_mailboxes.cafile}"
[officer]
email = "officer@musterhausen.test"
name = "Julia Beispiel"
[inbound]
max_message_mb = 2
authserv_id = "mx.musterhausen.test"
[schedule]
state = "NW"
""", encoding="utf-8")
    assert intake(tmp_path, "db", "upgrade").exit_code == 0
    return tmp_path


def intake(site: Path, *args: str, now: str | None = None):  # type: ignore[no-untyped-def]
    full = ["--config", str(site / "intake.toml")]
    if now:
        full += ["--now", now]
    return CliRunner().invoke(cli, full + list(args), env=ENV, catch_exceptions=False)


def rows(site: Path, model: type) -> list[Any]:
    app = App(config_path=site / "intake.toml", config_explicit=True)
    query = select(model).order_by(model.id)  # type: ignore[attr-defined]
    if model is InboundMessage:  # with their bytes, read after the session is gone
        query = query.options(selectinload(InboundMessage.content))
    with app.sessions() as session:
        found = list(session.scalars(query))
    app.close()
    return found


def requests_by_address(site: Path, mailstack: MailStack) -> dict[str, tuple[str, str]]:
    """address -> (Message-ID, Subject) of the request each contact received."""
    assert intake(site, "send-requests", now=MONDAY).exit_code == 0
    out = {}
    for n in (1, 2, 3):
        address = f"contact{n}@musterhausen.test"
        (raw,) = mailstack.wait_for_messages(address)
        msg = email.message_from_bytes(raw, policy=policy.default)
        out[address] = (str(msg["Message-ID"]), str(msg["Subject"]))
    # the bot's own copies are not in its inbox; start from an empty one
    return out


def deliver(mailstack: MailStack, raw: bytes | str, sender: str, count: int) -> None:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    mailstack.send(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), sender, [BOT])
    mailstack.wait_for_messages(BOT, count=count)


def poll(site: Path) -> str:
    result = intake(site, "poll", "--once", now=LATER)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def topics_json(site: Path, *args: str) -> list[dict[str, Any]]:
    result = intake(site, "topics", "list", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def outlook_reply(request: tuple[str, str], sender: str, name: str) -> str:
    message_id, subject = request
    return f"""\
From: {name} <{sender}>
To: Social-Media-Team <{BOT}>
Subject: AW: {subject}
Date: Tue, 5 Jan 2027 09:12:44 +0000
Message-ID: <AM0PR07MB4@EURPRD07.PROD.OUTLOOK.COM>
In-Reply-To: {message_id}
References: {message_id}
Content-Language: de-DE
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="_000_AM0PR07MB4_"

--_000_AM0PR07MB4_
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Hallo zusammen,

anbei unser Thema:

Was: Spatenstich f=FCr die neue Grundschule
Wann: 12.03.2027, 10 Uhr
Wo: Baugebiet Am Lindenhof
Wer: B=FCrgermeisterin Weber, Bauamtsleiter Kr=FCger
Wie viele: ca. 80 G=E4ste
Zitat: "Ein gro=DFer Tag f=FCr unsere Kinder."

Mit freundlichen Gr=FC=DFen
Erika Muster

--_000_AM0PR07MB4_
Content-Type: text/html; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

<html><body><div class=3D"WordSection1"><p class=3D"MsoNormal">Hallo zusammen,</p>
<p class=3D"MsoNormal">anbei unser Thema:</p>
<p class=3D"MsoNormal"><b>Was:</b> Spatenstich f=FCr die neue Grundschule<br>
<b>Wann:</b> 12.03.2027, 10 Uhr<br><b>Wo:</b> Baugebiet Am Lindenhof<br>
<b>Wer:</b> B=FCrgermeisterin Weber, Bauamtsleiter Kr=FCger<br>
<b>Wie viele:</b> ca. 80 G=E4ste<br>
<b>Zitat:</b> &quot;Ein gro=DFer Tag f=FCr unsere Kinder.&quot;</p>
<p class=3D"MsoNormal">Mit freundlichen Gr=FC=DFen<br>Erika Muster</p></div></body></html>

--_000_AM0PR07MB4_--
"""


def thunderbird_incomplete(request: tuple[str, str], sender: str) -> str:
    message_id, subject = request
    return f"""\
Message-ID: <5b1c9d2e-77aa-4c1e-9f0b-3c2d1e0f9a88@musterhausen.test>
Date: Tue, 5 Jan 2027 14:03:10 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Subject: Re: {subject}
To: {BOT}
References: {message_id}
In-Reply-To: {message_id}
From: =?UTF-8?Q?J=c3=b6rg_=c3=9cberall?= <{sender}>
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Guten Tag,

--- Thema ---
Was: Lesenacht für Kinder
Wann: Ende Februar
Wo:
Wer:
Wie viele:
Zitat:
Bilder:
--- Ende ---

Viele Grüße
Jörg Überall

Am 04.01.27 um 08:00 schrieb Social-Media-Team:
> Guten Tag Herr Überall,
> --- Thema ---
> Was:
""".replace("\n", "\r\n")


def test_replies_become_topics_and_requests_count_as_answered(site: Path,
                                                              mailstack: MailStack) -> None:
    requests = requests_by_address(site, mailstack)
    deliver(mailstack, outlook_reply(requests["contact1@musterhausen.test"],
                                     "contact1@musterhausen.test", "\"Muster, Erika\""),
            "contact1@musterhausen.test", 1)
    deliver(mailstack, thunderbird_incomplete(requests["contact2@musterhausen.test"],
                                              "contact2@musterhausen.test"),
            "contact2@musterhausen.test", 2)
    out = poll(site)
    assert "2 new mail(s) stored" in out

    topics = {t["department"]: t for t in topics_json(site)}
    bau = topics["Bauamt"]
    assert bau["status"] == "complete"
    assert bau["what"] == "Spatenstich für die neue Grundschule"
    assert bau["when"]["start"] == "2027-03-12" and bau["when"]["time"] == "10:00"
    assert bau["how_many"]["min"] == 80
    assert bau["source_message_id"] == "<AM0PR07MB4@EURPRD07.PROD.OUTLOOK.COM>"
    assert bau["followups_sent"] == 0
    bib = topics["Stadtbibliothek"]
    assert bib["status"] == "incomplete"
    assert set(bib["missing"]) == {"where", "who", "how_many"}
    assert bib["when"]["start"] == "2027-02-21"

    statuses = {r.contact.email: r.status for r in _requests(site)}
    assert statuses["contact1@musterhausen.test"] == "answered"
    assert statuses["contact2@musterhausen.test"] == "answered"
    assert statuses["contact3@musterhausen.test"] == "sent"

    # the mails left the inbox for the processed folder, unread (\Seen not set)
    client = mailstack.imap(BOT)
    try:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["ALL"]) == []
        client.select_folder("Intake/Processed", readonly=True)
        uids = client.search(["ALL"])
        assert len(uids) == 2
        assert client.search(["SEEN"]) == []
    finally:
        client.logout()

    # a second pass finds nothing and changes nothing
    assert "0 new mail(s) stored" in poll(site)
    assert len(rows(site, Topic)) == 2
    # filters of `topics list`
    assert [t["department"] for t in topics_json(site, "--status", "incomplete")] == [
        "Stadtbibliothek"]
    assert [t["department"] for t in topics_json(site, "--department", "bauamt")] == ["Bauamt"]
    unknown = intake(site, "topics", "list", "--status", "offen")  # not a silent empty list
    assert unknown.exit_code == 2 and "'complete', 'incomplete'" in unknown.output
    assert [t["department"] for t in topics_json(site, "--from", "2027-03-01")] == ["Bauamt"]
    table = intake(site, "topics", "list")
    assert "Spatenstich" in table.stdout and "2 topic(s)" in table.stdout
    csv_out = intake(site, "topics", "list", "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("id,department,status")


def _requests(site: Path) -> list[Request]:
    app = App(config_path=site / "intake.toml", config_explicit=True)
    with app.sessions() as session:
        found = list(session.scalars(select(Request)))
        for r in found:
            _ = r.contact.email
    app.close()
    return found


def test_a_deputy_may_answer_strangers_and_spoofs_are_quarantined(site: Path,
                                                                   mailstack: MailStack) -> None:
    requests = requests_by_address(site, mailstack)
    bau = requests["contact1@musterhausen.test"]
    deliver(mailstack, outlook_reply(bau, "contact9@musterhausen.test", "\"Vertreter, Max\"")
            .replace("AM0PR07MB4@", "DEPUTY1@"), "contact9@musterhausen.test", 1)
    # a stranger answering with the valid thread and tag
    deliver(mailstack, outlook_reply(bau, "fremd@example.org", "Fremder")
            .replace("AM0PR07MB4@", "STRANGER1@"), "fremd@example.org", 2)
    # a contact answering another department's request
    deliver(mailstack, outlook_reply(bau, "contact2@musterhausen.test", "Jörg Überall")
            .replace("AM0PR07MB4@", "WRONGDEPT@"), "contact2@musterhausen.test", 3)
    # the From of a known contact, but our own server says DMARC failed
    spoof = outlook_reply(bau, "contact3@musterhausen.test", "Kita").replace(
        "AM0PR07MB4@", "SPOOF1@").replace(
        "Content-Language: de-DE\n",
        "Authentication-Results: mx.musterhausen.test; dmarc=fail (p=none) "
        "header.from=musterhausen.test; spf=fail smtp.mailfrom=evil.example\n"
        "Authentication-Results: mx.musterhausen.test; dmarc=pass\n"
        "Content-Language: de-DE\n")
    deliver(mailstack, spoof, "attacker@evil.example", 4)
    poll(site)

    topics = topics_json(site)
    assert [(t["department"], t["contact"]) for t in topics] == [
        ("Bauamt", "contact9@musterhausen.test")]
    listed = intake(site, "inbound", "list", "--status", "quarantined")
    assert listed.exit_code == 0
    assert "3 mail(s)" in listed.stdout
    assert "fremd@example.org ist kein bekannter Kontakt" in listed.stdout
    assert "antwortet auf die Anfrage an Bauamt" in listed.stdout
    assert "dmarc=fail" in listed.stdout
    # nothing was answered: the outbox holds only the three requests
    assert sorted(o.kind for o in rows(site, OutboxMessage)) == ["request"] * 3
    quarantined = [r for r in rows(site, InboundMessage) if r.status == "quarantined"]
    shown = intake(site, "inbound", "show", str(quarantined[0].id))
    assert shown.exit_code == 0
    assert "status:      quarantined" in shown.stdout and "reason:" in shown.stdout
    assert '"kind": "topics"' in shown.stdout


AUTO_REPLY = """\
From: Jörg Überall <contact2@musterhausen.test>
To: {bot}
Subject: Automatische Antwort: {subject}
Date: Mon, 4 Jan 2027 08:00:05 +0100
Message-ID: <OOF-1@musterhausen.test>
In-Reply-To: {message_id}
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 15.01.2027 nicht im Büro
und ab dem 18. Januar wieder erreichbar. In dringenden Fällen wenden Sie sich bitte an
bibliothek@musterhausen.test.

> --- Thema ---
> Was:
> Wann:
"""

BOUNCE = """\
From: MAILER-DAEMON@mx.musterhausen.test (Mail Delivery System)
To: {bot}
Subject: Undelivered Mail Returned to Sender
Date: Mon, 4 Jan 2027 08:00:09 +0100
Message-ID: <20270104070009.ABC@mx.musterhausen.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.musterhausen.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<contact3@musterhausen.test>: host mail.kita.test said: 550 5.1.1 User unknown

--B0UND
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.musterhausen.test

Final-Recipient: rfc822; contact3@musterhausen.test
Original-Recipient: rfc822;contact3@musterhausen.test
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B0UND
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Social-Media-Team <{bot}>
To: contact3@musterhausen.test
Subject: {subject}
Message-ID: {message_id}

--B0UND--
"""


def test_automatic_mail_is_never_answered_and_records_absence_and_bounce(
        site: Path, mailstack: MailStack) -> None:
    requests = requests_by_address(site, mailstack)
    mid2, subject2 = requests["contact2@musterhausen.test"]
    deliver(mailstack, AUTO_REPLY.format(bot=BOT, subject=subject2, message_id=mid2),
            "contact2@musterhausen.test", 1)
    mid3, subject3 = requests["contact3@musterhausen.test"]
    deliver(mailstack, BOUNCE.format(bot=BOT, subject=subject3, message_id=mid3), "", 2)
    poll(site)

    inbound = {r.message_id: r for r in rows(site, InboundMessage)}
    assert inbound["<OOF-1@musterhausen.test>"].status == "auto_reply"
    assert inbound["<OOF-1@musterhausen.test>"].automatic
    (absence,) = rows(site, Absence)
    assert absence.until.isoformat() == "2027-01-15"
    contacts = {c.email: c for c in rows(site, Contact)}
    assert contacts["contact3@musterhausen.test"].bounced_at is not None
    assert contacts["contact2@musterhausen.test"].bounced_at is None
    assert rows(site, Topic) == []
    assert sorted(o.kind for o in rows(site, OutboxMessage)) == ["request"] * 3
    bounced = intake(site, "inbound", "list", "--status", "bounced").stdout
    assert "contact3@musterhausen.test ist unzustellbar" in bounced
    # reminder day: only the contact who is neither away nor bouncing is reminded
    reminded = intake(site, "followups", now="2027-01-11T09:00:00+01:00")
    assert "1 reminder(s) queued" in reminded.stdout, reminded.output
    assert "contact1@musterhausen.test" in reminded.stdout
    assert "contact2@" not in reminded.stdout and "contact3@" not in reminded.stdout
    # the bouncing address writes again (its mailbox was full): it is no longer marked
    deliver(mailstack, f"""\
From: Kita Sonnenschein <contact3@musterhausen.test>
To: {BOT}
Subject: AW: {subject3}
Message-ID: <BACK-1@musterhausen.test>
In-Reply-To: {mid3}
Date: Mon, 11 Jan 2027 10:00:00 +0100
Content-Type: text/plain; charset=utf-8

Entschuldigung, unser Postfach war voll. Diesen Monat haben wir keine Themen.
""", "contact3@musterhausen.test", 1)
    poll(site)
    contacts = {c.email: c for c in rows(site, Contact)}
    assert contacts["contact3@musterhausen.test"].bounced_at is None
    assert contacts["contact3@musterhausen.test"].bounce_reason is None


def test_an_oversized_mail_is_not_fetched_and_its_sender_is_told_once(
        site: Path, mailstack: MailStack) -> None:
    requests = requests_by_address(site, mailstack)
    mid, subject = requests["contact1@musterhausen.test"]
    filler = ("A" * 76 + "\r\n") * (3 * 1024 * 1024 // 78)
    big = f"""\
From: Erika Muster <contact1@musterhausen.test>
To: {BOT}
Subject: AW: {subject}
Message-ID: <BIG-1@musterhausen.test>
In-Reply-To: {mid}
Date: Tue, 5 Jan 2027 09:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: text/plain; charset=utf-8

Was: Richtfest
--XX
Content-Type: image/jpeg; name="richtfest.jpg"
Content-Transfer-Encoding: base64

{filler}
--XX--
"""
    deliver(mailstack, big, "contact1@musterhausen.test", 1)
    out = poll(site)
    assert "1 too large" in out
    (row,) = rows(site, InboundMessage)
    assert row.status == "oversized"
    assert len(row.raw) < 10_000  # only the headers were fetched
    notices = [o for o in rows(site, OutboxMessage) if o.kind == "notice"]
    assert len(notices) == 1 and notices[0].to_address == "contact1@musterhausen.test"
    (raw,) = mailstack.wait_for_messages("contact1@musterhausen.test", count=2)[1:]
    notice = email.message_from_bytes(raw, policy=policy.default)
    assert str(notice["Subject"]).startswith("Ihre Mail war leider zu groß – Bauamt [Themen")
    assert notice["In-Reply-To"] == "<BIG-1@musterhausen.test>"
    assert notice["Auto-Submitted"] == "auto-generated"
    # the message went to the failed folder; a second poll tells nobody again
    poll(site)
    assert len([o for o in rows(site, OutboxMessage) if o.kind == "notice"]) == 1
    client = mailstack.imap(BOT)
    try:
        client.select_folder("Intake/Failed", readonly=True)
        assert len(client.search(["ALL"])) == 1
    finally:
        client.logout()
    failed = intake(site, "inbound", "list", "--status", "failed").stdout
    assert "zu groß" in failed


IPHONE = """\
Content-Type: multipart/mixed; boundary=Apple-Mail-A1B2
Content-Transfer-Encoding: 7bit
From: Kita Sonnenschein <contact3@musterhausen.test>
Mime-Version: 1.0 (1.0)
Date: Wed, 6 Jan 2027 07:41:02 +0100
Subject: Re: {subject}
Message-Id: <9C1E2F3A-4B5C-4D6E-8F70-123456789ABC@musterhausen.test>
In-Reply-To: {message_id}
To: {bot}
X-Mailer: iPhone Mail (20D67)

--Apple-Mail-A1B2
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

1. Was: Laternenumzug
Wann: 11.11.2027, 17 Uhr
Wo: Kita Sonnenschein, Gartenstra=C3=9Fe 4
Wer: Kinder, Eltern, Erzieherinnen
Wie viele: etwa 120
Bilder: laterne.jpg

2. Was: Tag der offenen T=C3=BCr
Wann: 20.03.2027
Wo: Kita Sonnenschein
Wer: Kita-Team
Wie viele: 50-60

Von meinem iPhone gesendet
--Apple-Mail-A1B2
Content-Type: image/jpeg; name=laterne.jpg
Content-Disposition: attachment; filename=laterne.jpg
Content-Transfer-Encoding: base64

{jpeg}
--Apple-Mail-A1B2
Content-Type: image/jpeg; name=team.jpg
Content-Disposition: attachment; filename=team.jpg
Content-Transfer-Encoding: base64

{jpeg}
--Apple-Mail-A1B2--
"""


def test_several_topics_with_photos_stored_once_per_content_over_xoauth2(
        site: Path, mailstack: MailStack) -> None:
    import base64

    from bot.imap import Mailbox, OAuthLogin
    from bot.listening.fetch import poll_once
    from bot.listening.service import fetch_settings, listen_settings
    from db.models import Attachment, Blob

    requests = requests_by_address(site, mailstack)
    mid, subject = requests["contact3@musterhausen.test"]
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 200 + b"\xff\xd9"
    jpeg = base64.encodebytes(photo).decode().replace("\n", "\r\n")
    deliver(mailstack, IPHONE.format(subject=subject, message_id=mid, bot=BOT, jpeg=jpeg),
            "contact3@musterhausen.test", 1)

    # log in as Microsoft 365 would have it: XOAUTH2 with a bearer token, no password
    app = App(config_path=site / "intake.toml", config_explicit=True, now_override=LATER)
    login = OAuthLogin(lambda: mailstack.oauth_token(BOT))
    mailbox = Mailbox.open(app.settings.imap, login)
    try:
        report = poll_once(mailbox, app.sessions, fetch_settings(app), listen_settings(app),
                           app.now)
    finally:
        mailbox.close()
        app.close()
    assert report.stored == 1 and report.processing.topics == 2

    topics = topics_json(site)
    assert [t["what"] for t in topics] == ["Tag der offenen Tür", "Laternenumzug"]
    lantern = topics[1]
    # named in its Bilder: line, and the unnamed one goes to the mail's first topic
    assert lantern["attachments"] == ["laterne.jpg", "team.jpg"]
    assert topics[0]["attachments"] == []
    assert lantern["how_many"] == {"text": "etwa 120", "min": 120, "max": 120}
    attachments = rows(site, Attachment)
    assert sorted(a.filename for a in attachments) == ["laterne.jpg", "team.jpg"]
    # the same bytes twice are one blob, read from the mail they came in (not stored again)
    (blob,) = rows_blob(site, Blob)
    inbound_id = rows(site, InboundMessage)[0].id
    assert blob.data is None and blob.inbound_id == inbound_id and blob.size == len(photo)
    assert file_content(site, blob.sha256) == photo
    # replaying the mail changes nothing and doubles nothing
    assert intake(site, "inbound", "replay", str(inbound_id), now=LATER).exit_code == 0
    assert len(rows(site, Topic)) == 2 and len(rows(site, Attachment)) == 2


def file_content(site: Path, sha256: str) -> bytes | None:
    from bot.blobs import blob_content

    app = App(config_path=site / "intake.toml", config_explicit=True)
    with app.sessions() as session:
        content = blob_content(session, sha256)
    app.close()
    return content


def rows_blob(site: Path, model: type) -> list[Any]:
    app = App(config_path=site / "intake.toml", config_explicit=True)
    with app.sessions() as session:
        found = list(session.scalars(select(model)))
    app.close()
    return found


def test_the_daemon_listens_under_idle_and_stops_cleanly(site: Path, mailstack: MailStack,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from bot.daemon import run_daemon

    requests = requests_by_address(site, mailstack)
    monkeypatch.setenv("TEST_IMAP_PW", "secret")
    app = App(config_path=site / "intake.toml", config_explicit=True)
    stop = threading.Event()
    daemon = threading.Thread(target=run_daemon, args=(app, stop))
    daemon.start()
    try:
        # the first pass has run when the processed folder exists; then a reply arrives
        deliver(mailstack, outlook_reply(requests["contact1@musterhausen.test"],
                                         "contact1@musterhausen.test", "Erika Muster"),
                "contact1@musterhausen.test", 1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not rows(site, Topic):
            time.sleep(0.2)
        (topic,) = rows(site, Topic)
        assert topic.what == "Spatenstich für die neue Grundschule"
    finally:
        stop.set()
        daemon.join(timeout=30)
        app.close()
    assert not daemon.is_alive()


def test_intake_check_logs_in_as_the_poller_does_with_xoauth2(
        site: Path, mailstack: MailStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `auth = "xoauth2"` the check logs in with a token, not with the client secret as
    a password (which Microsoft 365, and Dovecot here, refuse). The token is one the test
    signs instead of one from Microsoft's endpoint; Dovecot validates it."""
    from bot.oauth import MsalTokenProvider

    config = site / "intake.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'password_env = "TEST_IMAP_PW"', 'password_env = "TEST_IMAP_PW"\nauth = "xoauth2"\n'
        'oauth_tenant_id = "musterhausen"\noauth_client_id = "intake-bot"'), encoding="utf-8")
    (site / "contacts.yaml").write_text(CONTACTS, encoding="utf-8")
    monkeypatch.setattr(MsalTokenProvider, "token",
                        lambda self, now: mailstack.oauth_token(BOT))
    # the client secret is no IMAP password: a password login with it is refused
    result = CliRunner().invoke(cli, ["--config", str(config), "check"],
                                env={**ENV, "TEST_IMAP_PW": "the-client-secret"})
    assert result.exit_code == 0, result.output
    assert f"logged in as {BOT}, INBOX has" in result.output
