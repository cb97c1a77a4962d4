"""Asking, end to end against the real Postfix + Dovecot stack and both databases:
request rounds, idempotency, the outbox's retries and failures, reminders, `intake check`."""

from __future__ import annotations

import email
import inspect
import os
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.app import App
from bot.cli import RoundProgress, cli
from bot.outbox import deliver_due
from bot.smtp import SmtpTransport
from db.models import Department, OutboxMessage, Request
from tests.mailstack import MailStack

CONTACTS = """\
contacts:
  - department: Bauamt
    name: Erika Muster
    email: contact1@musterhausen.test
    salutation: Frau Muster
    deputies: [contact9@musterhausen.test]
  - department: Wirtschaftsförderung
    name: Jörg Überall
    email: contact2@musterhausen.test
    salutation: Herr Überall
  - department: Kita Sonnenschein
    email: contact3@musterhausen.test
"""
#: Monday 4 January 2027, 08:00 in Berlin: the first working day of the month
MONDAY = "2027-01-04T08:00:00+01:00"


def make_site(directory: Path, stack: MailStack, db_url: str, contacts: str = CONTACTS) -> Path:
    """A configured intake directory pointing at the loopback stack, database migrated."""
    (directory / "contacts.yaml").write_text(contacts, encoding="utf-8")
    (directory / "intake.toml").write_text(f"""
[database]
url = "{db_url}"
[mail]
from_address = "bot@musterhausen.test"
from_name = "Social-Media-Team Stadt Musterhausen"
organisation = "Stadt Musterhausen"
[officer]
email = "presse@musterhausen.test"
name = "Julia Beispiel"
[smtp]
host = "127.0.0.1"
port = {stack.smtp_port}
security = "none"
username = ""
[imap]
host = "127.0.0.1"
port = {stack.imaps_port}
security = "ssl"
username = "bot@musterhausen.test"
password_env = "TEST_IMAP_PW"
ca_file = "{stack.cafile}"
[schedule]
state = "NW"
""", encoding="utf-8")
    assert intake(directory, "db", "upgrade").exit_code == 0
    return directory


@pytest.fixture
def site(tmp_path: Path, clean_mailboxes: MailStack, db_url: str) -> Path:
    """A configured intake directory pointing at the loopback stack."""
    return make_site(tmp_path, clean_mailboxes, db_url)


def intake(site: Path, *args: str, now: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    full = ["--config", str(site / "intake.toml")]
    if now:
        full += ["--now", now]
    return CliRunner().invoke(cli, full + list(args), env=env or {}, catch_exceptions=False)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def db_rows(site: Path, model: type) -> list:  # type: ignore[type-arg]
    app = App(config_path=site / "intake.toml", config_explicit=True)
    with app.sessions() as session:
        rows = list(session.scalars(select(model)))
    app.close()
    return rows


def test_requests_arrive_with_german_text_and_identity_headers(site: Path,
                                                               mailstack: MailStack) -> None:
    result = intake(site, "send-requests", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert "round 2027-01 (reply by 2027-01-18): 3 request(s) queued" in result.stdout
    assert "outbox: 3 sent, 0 waiting for retry, 0 failed" in result.stdout

    requests = {r.message_id: r for r in db_rows(site, Request)}
    # each outbox row names its request
    assert {o.message_id: o.request_id for o in db_rows(site, OutboxMessage)} == {
        message_id: request.id for message_id, request in requests.items()}
    (raw,) = mailstack.wait_for_messages("contact2@musterhausen.test")
    msg = parse(raw)
    request = requests[msg["Message-ID"]]
    assert request.status == "sent"
    assert msg["Subject"] == (f"Ihre Themen für die kommenden Monate – Wirtschaftsförderung "
                              f"[Themen 2027-01 #{request.tag}]")
    assert msg["To"] == "Jörg Überall <contact2@musterhausen.test>"
    assert msg["From"] == "Social-Media-Team Stadt Musterhausen <bot@musterhausen.test>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] is None  # the first request reveals absences
    assert msg["Date"].endswith("+0100")
    text = body_text(msg)
    assert text.startswith("Guten Tag Herr Überall,")
    assert "Montag, 18. Januar 2027" in text
    assert "Fragen beantwortet Ihnen gern Julia Beispiel (presse@musterhausen.test)." in text
    assert text.endswith("Viele Grüße\nSocial-Media-Team Stadt Musterhausen\n")
    assert "--- Thema ---\nWas:\nWann:\nWo:\nWer:\nWie viele:\nZitat:\n" in text
    assert msg.get_body(("html",)) is not None
    # the subject is RFC 2047 encoded on the wire, never raw 8-bit
    assert b"\r\nSubject: =?utf-8?q?Ihre_Themen_f=C3=BCr" in raw
    greeting = body_text(parse(mailstack.wait_for_messages("contact3@musterhausen.test")[0]))
    assert greeting.startswith("Guten Tag,")
    # the deputy gets nothing: requests go to the primary contact
    mailstack.wait_queue_empty()
    assert mailstack.wait_for_messages("contact9@musterhausen.test", count=0) == []


def test_a_second_run_sends_nothing_new(site: Path, mailstack: MailStack) -> None:
    assert intake(site, "send-requests", now=MONDAY).exit_code == 0
    result = intake(site, "send-requests", now="2027-01-05T09:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert "0 request(s) queued, 3 already had theirs" in result.stdout
    mailstack.wait_queue_empty()
    for n in (1, 2, 3):
        assert len(mailstack.wait_for_messages(f"contact{n}@musterhausen.test")) == 1
    assert len(db_rows(site, OutboxMessage)) == 3


def test_two_concurrent_runs_send_each_contact_exactly_one_request(site: Path,
                                                                    mailstack: MailStack) -> None:
    """Two processes' worth of sessions start the same round at the same instant."""
    from bot.rounds import send_requests

    apps = [App(config_path=site / "intake.toml", config_explicit=True, now_override=MONDAY)
            for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run(app: App) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(len(send_requests(app).queued))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(results) == 3, results
    result = intake(site, "outbox", now=MONDAY)
    assert result.exit_code == 0, result.output
    mailstack.wait_queue_empty()
    for n in (1, 2, 3):
        assert len(mailstack.wait_for_messages(f"contact{n}@musterhausen.test")) == 1
    assert len(db_rows(site, Request)) == 3
    assert len(db_rows(site, OutboxMessage)) == 3
    for app in apps:
        app.close()


def test_two_concurrent_processes_send_each_contact_exactly_one_request(
        site: Path, mailstack: MailStack) -> None:
    env = {**os.environ, "INTAKE_NOW": MONDAY, "INTAKE_CONFIG": str(site / "intake.toml")}
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "send-requests"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    queued = sum(int(out.split("request(s) queued")[0].split(": ")[-1]) for out, _ in outputs)
    assert queued == 3, outputs
    mailstack.wait_queue_empty()
    for n in (1, 2, 3):
        assert len(mailstack.wait_for_messages(f"contact{n}@musterhausen.test")) == 1


def test_a_round_opened_early_counts_its_deadline_from_its_own_month(site: Path) -> None:
    result = intake(site, "send-requests", "--dry-run", "--month", "2027-03", now=MONDAY)
    assert result.exit_code == 0, result.output
    # 1 March 2027 is a Monday: ten working days later
    assert "round 2027-03 (reply by 2027-03-15)" in result.stdout
    assert "Montag, 15. März 2027" in result.stdout


def test_a_missing_smtp_password_leaves_the_mail_queued(site: Path) -> None:
    env = {"INTAKE_SMTP__USERNAME": "bot@musterhausen.test",
           "INTAKE_SMTP__PASSWORD_ENV": "NOT_SET_ANYWHERE"}
    result = intake(site, "send-requests", "--only", "Bauamt", now=MONDAY, env=env)
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("intake: ")
    assert line.endswith("environment variable NOT_SET_ANYWHERE (password_env) is not set; "
                         "export it before starting intake")
    (row,) = db_rows(site, OutboxMessage)
    assert (row.status, row.attempts) == ("queued", 0)


def test_dry_run_shows_the_mails_and_changes_nothing(site: Path, mailstack: MailStack) -> None:
    result = intake(site, "send-requests", "--dry-run", "--only", "bauamt", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert "--- would send to contact1@musterhausen.test (Bauamt)" in result.stdout
    assert "Guten Tag Frau Muster," in result.stdout
    assert "1 request(s) would be sent" in result.stdout
    assert db_rows(site, Request) == []
    assert db_rows(site, OutboxMessage) == []
    mailstack.wait_queue_empty()
    assert mailstack.wait_for_messages("contact1@musterhausen.test", count=0) == []


def test_only_an_unknown_department_is_a_clear_error(site: Path) -> None:
    result = intake(site, "send-requests", "--only", "Bauhof", now=MONDAY)
    assert result.exit_code == 1
    assert "--only 'Bauhof': no active department of that name" in result.stderr


class StopsPostfixAfter:
    """The real SMTP transport; after `n` mails the real Postfix is stopped (mid-batch)."""

    def __init__(self, inner: SmtpTransport, stack: MailStack, n: int) -> None:
        self.inner, self.stack, self.n = inner, stack, n

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send(self, sender: str, recipients: list[str], raw: bytes) -> None:
        if self.n == 0:
            # let Postfix hand the accepted mail to Dovecot first: stopped in the middle of
            # that, it delivers the mail again after the restart (its own at-least-once)
            self.stack.wait_queue_empty()
            self.stack.stop_postfix()
        self.n -= 1
        self.inner.send(sender, recipients, raw)


def test_postfix_stopped_mid_batch_keeps_rows_queued_until_it_is_back(
        site: Path, mailstack: MailStack) -> None:
    app = App(config_path=site / "intake.toml", config_explicit=True, now_override=MONDAY)
    from bot.rounds import send_requests

    assert len(send_requests(app).queued) == 3
    smtp = app.settings.smtp
    now = app.now()
    try:
        report = deliver_due(app.sessions,
                             lambda: StopsPostfixAfter(SmtpTransport(smtp, None), mailstack, 1),
                             "bot@musterhausen.test", now)
        assert report.sent == 1
        assert report.retrying == 2
        assert report.connection_error
        with app.sessions() as session:
            statuses = sorted(session.scalars(select(OutboxMessage.status)))
        assert statuses == ["queued", "queued", "sent"]
        # while Postfix is down, the CLI says so in one line and keeps the mail
        later = "2027-01-04T09:00:00+01:00"
        result = intake(site, "outbox", now=later)
        assert result.exit_code == 1
        assert "cannot connect" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("intake: SMTP 127.0.0.1:")
        assert "Traceback" not in result.stderr
    finally:
        mailstack.start_postfix()
    result = intake(site, "outbox", now="2027-01-04T12:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("3 sent")
    mailstack.wait_queue_empty()
    for n in (1, 2, 3):
        assert len(mailstack.wait_for_messages(f"contact{n}@musterhausen.test")) == 1
    app.close()


def test_permanent_failure_is_shown_and_can_be_retried(site: Path, mailstack: MailStack) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@musterhausen.test"  # unknown to the server
    contacts = CONTACTS.replace("contact3@musterhausen.test", nobody)
    (site / "contacts.yaml").write_text(contacts, encoding="utf-8")
    result = intake(site, "send-requests", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert "outbox: 2 sent, 0 waiting for retry, 1 failed" in result.stdout
    result = intake(site, "outbox", now=MONDAY)
    assert "failed" in result.stdout
    assert f"{nobody}: 550" in result.stdout  # the server's own text
    mailstack.add_user(nobody)
    result = intake(site, "outbox", "--retry-failed", now="2027-01-04T10:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert "1 failed mail(s) queued again" in result.stdout
    assert result.stdout.strip().endswith("3 sent")
    assert len(mailstack.wait_for_messages(nobody)) == 1


def test_one_reminder_in_the_same_thread_after_five_working_days(site: Path,
                                                                 mailstack: MailStack) -> None:
    assert intake(site, "send-requests", now=MONDAY).exit_code == 0
    # Friday: four working days later, nothing due yet
    result = intake(site, "followups", now="2027-01-08T10:00:00+01:00")
    assert "0 reminder(s) queued" in result.stdout
    # Saturday of the next week: no mail on weekends
    result = intake(site, "followups", now="2027-01-16T10:00:00+01:00")
    assert "0 reminder(s) queued" in result.stdout
    # Monday 11 January 08:00: five working days later
    result = intake(site, "followups", now="2027-01-11T08:30:00+01:00")
    assert result.exit_code == 0, result.output
    assert "3 reminder(s) queued" in result.stdout
    first = parse(mailstack.wait_for_messages("contact1@musterhausen.test")[0])
    reminder = parse(mailstack.wait_for_messages("contact1@musterhausen.test", count=2)[1])
    assert reminder["Subject"].startswith("Erinnerung:")
    assert reminder["In-Reply-To"] == first["Message-ID"]
    assert reminder["References"] == first["Message-ID"]
    assert reminder["X-Auto-Response-Suppress"] == "OOF"
    assert reminder["Auto-Submitted"] == "auto-generated"
    tag = first["Subject"].rsplit(" ", 1)[-1]
    assert reminder["Subject"].endswith(tag)
    assert "4. Januar 2027" in body_text(reminder)
    # at most one
    result = intake(site, "followups", now="2027-01-15T10:00:00+01:00")
    assert "0 reminder(s) queued" in result.stdout
    mailstack.wait_queue_empty()
    assert len(mailstack.wait_for_messages("contact1@musterhausen.test", count=2)) == 2


def test_a_round_while_the_server_is_away_says_how_much_stays_queued(site: Path) -> None:
    result = intake(site, "send-requests", now=MONDAY, env={"INTAKE_SMTP__PORT": "1"})
    assert result.exit_code == 1
    assert "outbox: 0 sent, 3 still queued, 0 failed" in result.stdout
    assert "the mail stays queued and goes out with `intake outbox`" in result.stderr


def test_check_online_reports_both_servers(site: Path, mailstack: MailStack) -> None:
    result = intake(site, "check", env={"TEST_IMAP_PW": "secret"})
    assert result.exit_code == 0, result.output
    imap_line, smtp_line = result.stdout.strip().splitlines()[-2:]
    assert imap_line.startswith(f"IMAP 127.0.0.1:{mailstack.imaps_port} (ssl): logged in as "
                                f"bot@musterhausen.test")
    assert smtp_line == f"SMTP 127.0.0.1:{mailstack.smtp_port} (none): no AUTH (relay)"


def test_check_online_wrong_password_tls_and_unreachable(site: Path,
                                                         mailstack: MailStack) -> None:
    result = intake(site, "check", env={"TEST_IMAP_PW": "wrong"})
    assert result.exit_code == 1
    assert "login as bot@musterhausen.test refused; check the password" in result.stderr
    result = intake(site, "check", env={"TEST_IMAP_PW": "secret", "INTAKE_IMAP__CA_FILE": ""})
    assert result.exit_code == 1
    assert "TLS certificate not trusted" in result.stderr
    result = intake(site, "check", env={"TEST_IMAP_PW": "secret", "INTAKE_SMTP__PORT": "1"})
    assert result.exit_code == 1
    assert "SMTP 127.0.0.1:1: cannot connect" in result.stderr
    # a login configured for a relay that offers none (port 25 here), and STARTTLS asked
    # of a port without it: what to change, not the library's words
    env = {"TEST_IMAP_PW": "secret", "INTAKE_SMTP__USERNAME": "bot@musterhausen.test",
           "INTAKE_SMTP__PASSWORD_ENV": "TEST_SMTP_PW", "TEST_SMTP_PW": "secret"}
    result = intake(site, "check", env=env)
    assert result.exit_code == 1
    assert "the server offers no login" in result.stderr
    assert "leave [smtp] username empty" in result.stderr


def authenticated_smtp(stack: MailStack, port: int, security: str) -> dict[str, str]:
    """Environment for SMTP with AUTH as the bot, trusting the stack's certificate."""
    return {"INTAKE_SMTP__PORT": str(port),
            "INTAKE_SMTP__SECURITY": security,
            "INTAKE_SMTP__USERNAME": "bot@musterhausen.test",
            "INTAKE_SMTP__CA_FILE": str(stack.cafile),
            "INTAKE_SMTP__PASSWORD_ENV": "TEST_SMTP_PW",
            "TEST_SMTP_PW": "secret"}


def test_submission_port_with_starttls_and_auth(site: Path, mailstack: MailStack) -> None:
    env = authenticated_smtp(mailstack, mailstack.submission_port, "starttls")
    result = intake(site, "send-requests", "--only", "Bauamt", now=MONDAY, env=env)
    assert result.exit_code == 0, result.output
    assert len(mailstack.wait_for_messages("contact1@musterhausen.test")) == 1
    result = intake(site, "check", env={**env, "TEST_SMTP_PW": "falsch", "TEST_IMAP_PW": "secret"})
    assert result.exit_code == 1
    assert "SMTP 127.0.0.1" in result.stderr and "login as bot@musterhausen.test refused" \
        in result.stderr
    assert "falsch" not in result.output


def test_an_admin_overrides_one_template_from_the_config(site: Path) -> None:
    overrides = site / "vorlagen"
    overrides.mkdir()
    (overrides / "request.subject.j2").write_text(
        "Was gibt es Neues im {{ department }}? {{ subject_tag }}", encoding="utf-8")
    env = {"INTAKE_TEMPLATES__DIRECTORY": str(overrides)}
    result = intake(site, "send-requests", "--dry-run", "--only", "Bauamt", now=MONDAY, env=env)
    assert result.exit_code == 0, result.output
    assert "Subject: Was gibt es Neues im Bauamt? [Themen 2027-01 #" in result.stdout
    assert "Guten Tag Frau Muster," in result.stdout  # the body still comes from the package


def test_custom_labels_appear_in_the_template_block(site: Path) -> None:
    env = {"INTAKE_TEMPLATES__LABEL_WHAT": '["Thema", "Was"]'}
    result = intake(site, "send-requests", "--dry-run", "--only", "Bauamt", now=MONDAY, env=env)
    assert result.exit_code == 0, result.output
    assert "--- Thema ---\nThema:\nWann:" in result.stdout


def test_a_broken_override_template_is_a_one_line_error(site: Path) -> None:
    overrides = site / "vorlagen"
    overrides.mkdir()
    (overrides / "request.txt.j2").write_text("Hallo {{ unbekannt }}\n{% if %}", encoding="utf-8")
    env = {"INTAKE_TEMPLATES__DIRECTORY": str(overrides)}
    result = intake(site, "send-requests", "--dry-run", now=MONDAY, env=env)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("intake: mail template 'request': ")
    assert "request.txt.j2" in line
    result = intake(site, "send-requests", "--dry-run", now=MONDAY,
                    env={"INTAKE_TEMPLATES__DIRECTORY": str(site / "fehlt")})
    assert result.exit_code == 1
    assert "[templates] directory" in result.stderr


def test_implicit_tls_port_with_auth_and_verified_certificate(site: Path,
                                                              mailstack: MailStack) -> None:
    env = {**authenticated_smtp(mailstack, mailstack.smtps_port, "ssl"),
           "INTAKE_SMTP__HOST": "localhost"}
    result = intake(site, "send-requests", "--only", "Bauamt", now=MONDAY, env=env)
    assert result.exit_code == 0, result.output
    assert len(mailstack.wait_for_messages("contact1@musterhausen.test")) == 1
    # without the CA the certificate is not trusted: verification is on by default
    result = intake(site, "check", env={**env, "INTAKE_SMTP__CA_FILE": "",
                                        "TEST_IMAP_PW": "secret"})
    assert result.exit_code == 1
    assert f"SMTP localhost:{mailstack.smtps_port}: TLS certificate not trusted" in result.stderr


def test_a_bot_back_on_a_weekend_catches_up_on_the_next_working_day(
        site: Path, mailstack: MailStack) -> None:
    from bot.usecases import run_monthly_requests, run_reminders_and_followups

    # asking since December (not a first start, which waits for a regular request time)
    assert intake(site, "send-requests", now="2026-12-01T08:00:00+01:00").exit_code == 0
    # down on Monday 4 January; started again on Saturday 9 January: nothing may go out
    saturday = App(config_path=site / "intake.toml", config_explicit=True,
                   now_override="2027-01-09T10:00:00+01:00")
    run_monthly_requests(saturday)
    run_reminders_and_followups(saturday)
    assert len(db_rows(site, Request)) == 3
    # Monday: the 15-minute working-day job opens the round and sends
    monday = App(config_path=site / "intake.toml", config_explicit=True,
                 now_override="2027-01-11T07:15:00+01:00")
    run_reminders_and_followups(monday)
    assert len(db_rows(site, Request)) == 6
    mailstack.wait_queue_empty()
    january = mailstack.wait_for_messages("contact1@musterhausen.test", count=2)[1]
    text = body_text(parse(january))
    assert "Montag, 25. Januar 2027" in text  # ten working days from the actual sending
    # and the next tick does nothing more
    run_reminders_and_followups(monday)
    assert len(db_rows(site, OutboxMessage)) == 6
    for app in (saturday, monday):
        app.close()


def test_a_department_added_mid_month_is_asked_with_its_own_deadline(
        site: Path, mailstack: MailStack) -> None:
    assert intake(site, "send-requests", now=MONDAY).exit_code == 0
    changed = CONTACTS.replace("contact3@musterhausen.test", "contact4@musterhausen.test")
    changed += "  - department: Stadtbibliothek\n    email: contact5@musterhausen.test\n"
    (site / "contacts.yaml").write_text(changed, encoding="utf-8")
    result = intake(site, "send-requests", now="2027-01-20T09:00:00+01:00")
    assert result.exit_code == 0, result.output
    # the library is new; the Kita only changed its contact and was asked already
    assert "1 request(s) queued, 3 already had theirs" in result.stdout
    mailstack.wait_queue_empty()
    text = body_text(parse(mailstack.wait_for_messages("contact5@musterhausen.test")[0]))
    assert "Mittwoch, 3. Februar 2027" in text  # not the round's 18 January
    assert mailstack.wait_for_messages("contact4@musterhausen.test", count=0) == []


# --- one department's problem does not stop the round ----------------------------------------

UMLAUT = "jürgen.groß@musterhausen.test"
#: "Kulturamt" sorts between the Kita and the Wirtschaftsförderung: a department after it
#: must be asked, too
WITH_UMLAUT = CONTACTS + f"""\
  - department: Kulturamt
    name: Jürgen Groß
    email: {UMLAUT}
"""


def postfix_log_after(stack: MailStack, offset: int, text: str) -> str:
    """The Postfix log from `offset` on, once it contains `text` (Postfix logs shortly after
    it acts; a missing line fails after ten seconds)."""
    deadline = time.monotonic() + 10
    while True:
        with stack.postfix_log.open("rb") as log:
            log.seek(offset)
            part = log.read().decode("utf-8", "replace")
        if text in part or time.monotonic() > deadline:
            return part
        time.sleep(0.05)


def test_an_address_with_umlauts_is_sent_with_smtputf8(site: Path, mailstack: MailStack) -> None:
    (site / "contacts.yaml").write_text(WITH_UMLAUT, encoding="utf-8")
    result = intake(site, "contacts", "check")
    assert result.exit_code == 0, result.output
    result = intake(site, "send-requests", "--dry-run", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert f"--- would send to {UMLAUT} (Kulturamt)" in result.stdout
    assert "4 request(s) would be sent" in result.stdout

    mailstack.add_user(UMLAUT)
    offset = mailstack.postfix_log.stat().st_size
    result = intake(site, "send-requests", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert "4 request(s) queued" in result.stdout
    assert "outbox: 4 sent, 0 waiting for retry, 0 failed" in result.stdout
    # the department after it was asked as well
    assert len(mailstack.wait_for_messages("contact2@musterhausen.test")) == 1
    (row,) = [r for r in db_rows(site, OutboxMessage) if r.to_address == UMLAUT]
    head = row.raw.split(b"\r\n\r\n", 1)[0]
    assert f"\r\nTo: Jürgen Groß <{UMLAUT}>\r\n".encode() in head  # RFC 6532: raw UTF-8
    # Postfix took the UTF-8 envelope (Dovecot 2.3's LMTP, behind it on the test stack,
    # cannot store such a mailbox; Postfix logs the recipient either way)
    mailstack.wait_queue_empty()
    assert f"to=<{UMLAUT}>" in postfix_log_after(mailstack, offset, f"to=<{UMLAUT}>")


class WithoutSmtpUtf8(smtplib.SMTP):
    """The real Postfix, as a server that does not offer SMTPUTF8 would answer EHLO."""

    def ehlo(self, name: str = "") -> tuple[int, bytes]:
        reply = super().ehlo(name)
        self.esmtp_features.pop("smtputf8", None)
        return reply


def test_without_smtputf8_that_one_mail_fails_for_good_by_name(site: Path,
                                                               mailstack: MailStack) -> None:
    from bot.rounds import send_requests

    (site / "contacts.yaml").write_text(WITH_UMLAUT, encoding="utf-8")
    app = App(config_path=site / "intake.toml", config_explicit=True, now_override=MONDAY)
    assert len(send_requests(app).queued) == 4
    smtp = app.settings.smtp

    def factory(settings: object, context: object) -> smtplib.SMTP:
        return WithoutSmtpUtf8(smtp.host, smtp.port, timeout=smtp.timeout)

    report = deliver_due(app.sessions, lambda: SmtpTransport(smtp, None, factory=factory),
                         "bot@musterhausen.test", app.now())
    app.close()
    assert (report.sent, report.retrying, report.failed) == (3, 0, 1)
    (row,) = [r for r in db_rows(site, OutboxMessage) if r.status == "failed"]
    assert row.to_address == UMLAUT
    assert row.last_error.startswith(f"{UMLAUT}: the address has non-ASCII characters and "
                                     f"SMTP 127.0.0.1:{mailstack.smtp_port} does not offer "
                                     f"SMTPUTF8")
    result = intake(site, "outbox", now=MONDAY)
    assert f"last error: {UMLAUT}: the address has non-ASCII characters" in result.stdout
    assert len(mailstack.wait_for_messages("contact2@musterhausen.test")) == 1


def test_a_department_whose_mail_cannot_be_made_is_named_and_the_rest_are_asked(
        site: Path, mailstack: MailStack) -> None:
    overrides = site / "vorlagen"
    overrides.mkdir()
    (overrides / "request.txt.j2").write_text(
        '{% if department == "Kita Sonnenschein" %}{{ nicht_da }}{% endif %}'
        "Guten Tag,\n\n{{ template_block }}\n", encoding="utf-8")
    env = {"INTAKE_TEMPLATES__DIRECTORY": str(overrides)}
    result = intake(site, "send-requests", "--dry-run", now=MONDAY, env=env)
    assert result.exit_code == 1, result.output
    assert "2 request(s) would be sent" in result.stdout
    problem = ("intake: Kita Sonnenschein (contact3@musterhausen.test) not asked: mail "
               "template 'request': template request.txt.j2: missing context variable "
               "'nicht_da'")
    assert result.stderr.strip().splitlines()[-1].startswith(problem)

    result = intake(site, "send-requests", now=MONDAY, env=env)
    assert result.exit_code == 1
    assert "2 request(s) queued" in result.stdout
    assert "outbox: 2 sent, 0 waiting for retry, 0 failed" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("intake: ") and "not asked" in line] \
        == [lines[-1]]
    assert lines[-1].startswith(problem)
    # Wirtschaftsförderung comes after the Kita, and was asked
    assert len(mailstack.wait_for_messages("contact2@musterhausen.test")) == 1
    # once the template is fixed, the next run asks the Kita
    result = intake(site, "send-requests", now="2027-01-04T09:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert "1 request(s) queued, 2 already had theirs" in result.stdout
    assert len(mailstack.wait_for_messages("contact3@musterhausen.test")) == 1


# --- a contacts file that would deactivate most departments --------------------------------

def test_a_sync_that_deactivates_most_departments_needs_yes(site: Path,
                                                           mailstack: MailStack) -> None:
    assert intake(site, "contacts", "sync", now=MONDAY).exit_code == 0
    only_bauamt = CONTACTS.split("  - department: Wirtschaftsförderung")[0]
    (site / "contacts.yaml").write_text(only_bauamt, encoding="utf-8")
    refused = ("this file would deactivate 2 of 3 active departments (Kita Sonnenschein, "
               "Wirtschaftsförderung); nothing was changed.")
    confirm = "run `intake send-requests --yes` (or `intake contacts sync --yes` first)"
    # a dry run's hint keeps it a dry run
    dry = "run `intake send-requests --dry-run --yes` (or `intake contacts sync --yes` first)"
    for args, hint in ((["contacts", "sync"], "run `intake contacts sync --yes`"),
                       (["send-requests"], confirm), (["send-requests", "--dry-run"], dry)):
        result = intake(site, *args, now=MONDAY)
        assert result.exit_code == 1, args
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"intake: {site / 'contacts.yaml'}: {refused}")
        assert line.endswith(f"If the change is intended, {hint}")
    assert db_rows(site, Request) == []
    assert all(d.active for d in db_rows(site, Department))

    result = intake(site, "send-requests", "--yes", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert "1 request(s) queued" in result.stdout
    assert sorted(d.name for d in db_rows(site, Department) if d.active) == ["Bauamt"]


def test_a_sync_that_deactivates_half_or_less_just_runs(site: Path) -> None:
    assert intake(site, "contacts", "sync", now=MONDAY).exit_code == 0
    without_kita = CONTACTS.split("  - department: Kita Sonnenschein")[0]
    (site / "contacts.yaml").write_text(without_kita, encoding="utf-8")
    result = intake(site, "contacts", "sync", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "added 0, updated 0, deactivated 1, reactivated 0"


# --- which month a round asks for ----------------------------------------------------------

def test_a_month_that_is_over_needs_force(site: Path) -> None:
    result = intake(site, "send-requests", "--dry-run", "--month", "2026-12", now=MONDAY)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "intake: --month 2026-12: that month is over, and its requests would ask for a past "
        "month; add --force to open its round anyway")
    result = intake(site, "send-requests", "--dry-run", "--month", "2026-12", "--force",
                    now=MONDAY)
    assert result.exit_code == 0, result.output
    assert "3 request(s) would be sent" in result.stdout


def test_asked_on_the_last_days_of_a_month_the_round_says_when_the_next_follows(
        site: Path) -> None:
    result = intake(site, "send-requests", "--dry-run", now="2026-12-30T10:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert "round 2026-12 (reply by 2027-01-14)" in result.stdout
    assert ("note: the round for 2027-01 starts on 2027-01-04 08:00 CET, before this round's "
            "reply deadline; `intake send-requests --month 2027-01` would ask for that month "
            "now") in result.stdout
    result = intake(site, "send-requests", "--dry-run", now=MONDAY)
    assert "note:" not in result.stdout


# --- what the admin sees -------------------------------------------------------------------

def _leaf_commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_not_built_yet_says_so_in_its_help() -> None:
    stubs = 0
    for name, command in _leaf_commands(cli):
        assert command.callback is not None
        if "_not_implemented(" not in inspect.getsource(command.callback):
            continue
        stubs += 1
        result = CliRunner().invoke(cli, [*name.split(), "--help"])
        assert result.exit_code == 0, name
        assert "(not available yet)" in " ".join(result.output.split()), name
        parent = CliRunner().invoke(cli, [*name.split()[:-1], "--help"])
        listed = [line for line in parent.output.splitlines()
                  if line.strip().startswith(name.split()[-1] + " ")]
        assert listed and "(not available yet)" in listed[0], (name, parent.output)


def test_outbox_shows_every_row_in_one_format(site: Path, mailstack: MailStack) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@musterhausen.test"  # refused by the server
    (site / "contacts.yaml").write_text(
        CONTACTS.replace("contact3@musterhausen.test", nobody), encoding="utf-8")
    assert intake(site, "send-requests", now=MONDAY).exit_code == 0
    result = intake(site, "outbox", now="2027-01-04T09:00:00+01:00")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["STATUS", "TIME", "KIND", "TRIES", "TO", "SUBJECT"]
    rows = [line for line in lines[1:-1] if not line.startswith(" ")]
    assert len(rows) == 3
    for line in rows:
        status, day, clock, zone, kind, tries = line.split()[:6]
        assert status in ("sent", "failed") and kind == "request"
        assert (day, clock, zone) == ("2027-01-04", "08:00", "CET")
        assert tries == "1/15"
    (failed,) = [i for i, line in enumerate(lines) if line.startswith("failed ")]
    assert lines[failed + 1].lstrip().startswith(f"last error: recipient refused: {nobody}: 550")
    assert lines[-1] == "1 failed, 2 sent"


def test_log_lines_name_the_program_not_its_modules(site: Path, mailstack: MailStack) -> None:
    result = intake(site, "send-requests", now=MONDAY)
    assert result.exit_code == 0, result.output
    logged = [line for line in result.stderr.splitlines() if " INFO " in line]
    assert any(line.endswith("INFO intake: outbox: sent request to contact1@musterhausen.test")
               for line in logged), result.stderr
    assert all(" INFO intake: " in line for line in logged), logged
    assert "bot." not in result.stderr


def test_round_progress_every_n_departments_or_every_few_seconds(
        capsys: pytest.CaptureFixture[str]) -> None:
    clock = iter([0.0, 1.0, 2.0, 7.5, 8.0, 9.0, 20.0])
    progress = RoundProgress("queued", clock=lambda: next(clock))
    progress.EVERY = 2
    for done in range(1, 7):
        progress(done, 6)
    # 2 and 4 (every second one), 3 (5.5 s after the last line), never the last one
    assert capsys.readouterr().err.splitlines() == [
        "requests: 2/6 queued", "requests: 3/6 queued", "requests: 4/6 queued"]


def test_a_round_of_many_departments_shows_its_progress(tmp_path: Path, mailstack: MailStack,
                                                        sqlite_url: str) -> None:
    many = "contacts:\n" + "".join(
        f"  - department: Amt {n:04d}\n    email: amt{n:04d}@musterhausen.test\n"
        for n in range(1, 502))
    site = make_site(tmp_path, mailstack, sqlite_url, many)
    result = intake(site, "send-requests", "--dry-run", now=MONDAY)
    assert result.exit_code == 0, result.output
    assert "requests: 500/501 prepared" in result.stderr.splitlines()
    assert "501 request(s) would be sent" in result.stdout


def test_a_round_is_queued_in_chunks_the_first_small() -> None:
    from bot.rounds import CHUNK, FIRST_CHUNK, _chunks

    assert list(_chunks(0)) == []
    assert list(_chunks(FIRST_CHUNK - 3)) == [(0, FIRST_CHUNK - 3)]
    bounds = list(_chunks(FIRST_CHUNK + 2 * CHUNK + 5))
    assert bounds == [(0, FIRST_CHUNK), (FIRST_CHUNK, FIRST_CHUNK + CHUNK),
                      (FIRST_CHUNK + CHUNK, FIRST_CHUNK + 2 * CHUNK),
                      (FIRST_CHUNK + 2 * CHUNK, FIRST_CHUNK + 2 * CHUNK + 5)]
