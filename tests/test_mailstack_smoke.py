"""The loopback mail stack itself: SMTP in, IMAP out, TLS verified, sealed to the world."""

from __future__ import annotations

import email
import email.policy
import shutil
import smtplib
import socket
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.mailstack import (
    INSTALL_HINT,
    PORT_ENV,
    MailStack,
    MailStackError,
    default_users,
    pick_ports,
)
from tests.plugin_mailstack import _failure_message

pytestmark = pytest.mark.mailstack

BOT = "bot@musterhausen.test"
OFFICER = "officer@musterhausen.test"
CONTACT = "contact7@musterhausen.test"
BODY = (
    "Guten Tag,\n\n"
    "im März öffnet das Bürgerbüro länger; das Straßenfest ist am Samstag.\n"
    "Grüße aus dem Ordnungsamt\n"
)


def _message(subject: str, sender: str = CONTACT, to: str = BOT) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(BODY)
    return msg


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _assert_is(msg: EmailMessage, subject: str, sender: str = CONTACT, to: str = BOT) -> None:
    assert msg["Subject"] == subject
    assert msg["From"] == sender
    assert msg["To"] == to
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "im März öffnet das Bürgerbüro länger; das Straßenfest" in text
    assert "Grüße aus dem Ordnungsamt" in text


def _read_all(client: IMAPClient, folder: str = "INBOX") -> list[bytes]:
    client.select_folder(folder, readonly=True)
    uids = sorted(client.search("ALL"))
    fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    return [bytes(fetched[uid][b"BODY[]"]) for uid in uids]


def test_stack_starts_with_standard_users_and_distinct_ports(mailstack: MailStack) -> None:
    assert mailstack.host == "127.0.0.1"
    assert set(default_users()) <= set(mailstack.users)
    assert {BOT, OFFICER, "contact1@musterhausen.test", "contact20@musterhausen.test"} <= set(
        mailstack.users
    )
    ports = [
        mailstack.smtp_port,
        mailstack.submission_port,
        mailstack.imap_port,
        mailstack.imaps_port,
    ]
    assert len(set(ports)) == 4
    assert all(1024 < port < 65536 for port in ports)
    assert mailstack.cafile.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert mailstack.dovecot_running and mailstack.postfix_running


def test_smtp_to_plain_imap(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    with smtplib.SMTP(stack.host, stack.smtp_port, timeout=10) as smtp:
        refused = smtp.send_message(_message("Themen für März"))
    assert refused == {}

    [raw] = stack.wait_for_messages(BOT, "secret", count=1)
    _assert_is(_parse(raw), "Themen für März")

    with IMAPClient(stack.host, port=stack.imap_port, ssl=False, timeout=10) as client:
        client.login(BOT, "secret")
        [again] = _read_all(client)
        assert again == raw
        client.logout()


def test_imaps_verifies_the_generated_certificate(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    stack.send(_message("Implizites TLS"), CONTACT, [BOT])
    stack.wait_for_messages(BOT, count=1)

    context = ssl.create_default_context(cafile=str(stack.cafile))
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    for host in ("localhost", "127.0.0.1"):  # both are in the certificate's SAN
        with IMAPClient(host, port=stack.imaps_port, ssl=True, ssl_context=context) as client:
            client.login(BOT, "secret")
            [raw] = _read_all(client)
            _assert_is(_parse(raw), "Implizites TLS")
            client.logout()


def test_imaps_refuses_a_client_that_does_not_trust_the_certificate(mailstack: MailStack) -> None:
    untrusting = ssl.create_default_context()  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient("localhost", port=mailstack.imaps_port, ssl=True, ssl_context=untrusting)


def test_starttls_on_the_plain_imap_port(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    stack.send(_message("STARTTLS bitte"), CONTACT, [BOT])
    stack.wait_for_messages(BOT, count=1)

    with IMAPClient("localhost", port=stack.imap_port, ssl=False, timeout=10) as client:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(stack.ssl_context())
        client.login(BOT, "secret")
        [raw] = _read_all(client)
        _assert_is(_parse(raw), "STARTTLS bitte")
        client.logout()


def test_submission_needs_starttls_and_auth(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    with smtplib.SMTP(stack.host, stack.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")  # no AUTH before TLS
        with pytest.raises(smtplib.SMTPSenderRefused) as plain:
            smtp.sendmail(OFFICER, [BOT], b"Subject: ohne Anmeldung\r\n\r\nx\r\n")
        assert plain.value.smtp_code == 530
        assert b"STARTTLS" in plain.value.smtp_error
        smtp.starttls(context=stack.ssl_context())
        smtp.ehlo()
        assert smtp.has_extn("auth")
        smtp.login(OFFICER, "secret")
        refused = smtp.send_message(_message("Über Submission", sender=OFFICER))
    assert refused == {}

    [raw] = stack.wait_for_messages(BOT, count=1)
    _assert_is(_parse(raw), "Über Submission", sender=OFFICER)


def test_submission_refuses_a_wrong_password(mailstack: MailStack) -> None:
    with smtplib.SMTP(mailstack.host, mailstack.submission_port, timeout=10) as smtp:
        smtp.starttls(context=mailstack.ssl_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as excinfo:
            smtp.login(OFFICER, "falsch")
    assert excinfo.value.smtp_code == 535


def test_unknown_domain_and_unknown_user_are_refused(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    with smtplib.SMTP(stack.host, stack.smtp_port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as outside:
            smtp.send_message(_message("Nach draußen", to="someone@example.com"))
        smtp.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused) as unknown:
            smtp.send_message(_message("Unbekannt", to="nobody@musterhausen.test"))
    code, reply = outside.value.recipients["someone@example.com"]
    assert code == 554 and b"Relay access denied" in reply
    code, reply = unknown.value.recipients["nobody@musterhausen.test"]
    assert code == 550 and b"User unknown" in reply

    # Authenticated users cannot send out either: the stack is sealed.
    with smtplib.SMTP(stack.host, stack.submission_port, timeout=10) as smtp:
        smtp.starttls(context=stack.ssl_context())
        smtp.login(OFFICER, "secret")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.send_message(_message("Nach draußen", sender=OFFICER, to="x@example.org"))
    assert stack.queue_files() == []


def test_stop_and_start_postfix(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    stack.stop_postfix()
    assert not stack.postfix_running
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(stack.host, stack.smtp_port, timeout=5)
    stack.start_postfix()
    assert stack.postfix_running
    stack.send(_message("Wieder da"), CONTACT, [BOT])
    [raw] = stack.wait_for_messages(BOT, count=1)
    _assert_is(_parse(raw), "Wieder da")


def test_add_user_is_accepted_by_smtp_and_imap(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    new = "Bauamt@musterhausen.test"
    stack.add_user(new, "geheim")
    assert stack.users["bauamt@musterhausen.test"] == "geheim"
    stack.send(_message("Willkommen", to=new), CONTACT, [new])
    [raw] = stack.wait_for_messages(new, "geheim", count=1)
    _assert_is(_parse(raw), "Willkommen", to=new)
    with pytest.raises(MailStackError):
        stack.add_user("jemand@example.com")


def test_reset_empties_mailboxes_and_removes_created_folders(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    stack.send(_message("Wird gelöscht"), CONTACT, [BOT, OFFICER])
    stack.wait_for_messages(OFFICER, count=1)
    with stack.imap(BOT, security="starttls") as client:
        client.create_folder("Verarbeitet/2024")
        client.logout()
    stack.wait_for_messages(BOT, count=1)

    stack.reset()

    for address in (BOT, OFFICER):
        with stack.imap(address) as client:
            assert _read_all(client) == []
            names = {name for _flags, _sep, name in client.list_folders()}
            assert names == {"INBOX", "Drafts", "Sent", "Trash", "Junk"}
            client.logout()


def test_second_stack_with_own_domains_and_users_stops_without_leftovers() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="intake-mailstack-test-"))
    users = {"poststelle@rathaus.test": "pw1", "bot@bot.rathaus.test": "pw2"}
    try:
        with MailStack.start(
            workdir, domains=("rathaus.test", "bot.rathaus.test"), users=users
        ) as s:
            assert s.users == users
            to = "bot@bot.rathaus.test"
            s.send(_message("Zweiter Stack", to=to), CONTACT, [to])
            [raw] = s.wait_for_messages(to, count=1)
            _assert_is(_parse(raw), "Zweiter Stack", to=to)
            pids = s.pids
            assert len(pids) >= 4  # two masters and some children
    finally:
        shutil.rmtree(workdir)
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        # Gone, or a zombie waiting to be reaped by init: either way it has exited.
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert not s.dovecot_running and not s.postfix_running


def test_imap_refuses_a_wrong_password(mailstack: MailStack) -> None:
    with mailstack.imap() as client:
        with pytest.raises(IMAPClient.Error, match="AUTHENTICATIONFAILED"):
            client.login(BOT, "falsch")
        client.logout()


def test_pinned_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MailStackError, match=f"INTAKE_TEST_IMAP_PORT={port} is in use"):
            pick_ports({PORT_ENV["imap"]: str(port)})
    ports, all_random = pick_ports({PORT_ENV["smtp"]: str(port)})
    assert ports.smtp == port and not all_random
    assert len(set(ports.as_dict().values())) == len(PORT_ENV)


def test_start_refuses_a_directory_the_servers_cannot_reach() -> None:
    private = Path(tempfile.mkdtemp(prefix="intake-mailstack-private-"))  # mode 0700
    try:
        with pytest.raises(MailStackError, match="not searchable by other users"):
            MailStack.start(private / "inner")
        assert not (private / "inner" / "mailstack").exists()
    finally:
        shutil.rmtree(private)


def test_start_failure_message_in_ci_and_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    error = MailStackError("dovecot exited with 89")
    monkeypatch.setenv("CI", "true")
    in_ci = _failure_message(error, Path("/tmp/x"))
    assert "failure, not a skip" in in_ci and "dovecot exited with 89" in in_ci
    monkeypatch.delenv("CI")
    local = _failure_message(error, Path("/tmp/x"))
    assert INSTALL_HINT in local and "dovecot exited with 89" in local
