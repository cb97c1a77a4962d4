"""XOAUTH2/OAUTHBEARER logins against the real loopback Dovecot, and the token provider.

The Dovecot part proves what the mail adapters rely on: a valid bearer token logs in over
IMAP and SMTP submission, an expired, foreign or badly signed one is refused (the Dovecot
log names the reason, so each case fails for the reason it claims), and passwords keep
working beside tokens. The provider part drives MsalTokenProvider with a fake msal app:
the real msal needs Microsoft's servers, and what is tested here is the caching and error
seam around it.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from bot.errors import ConnectionProblem, UserError
from bot.logs import RedactingFilter
from bot.oauth import (
    DEFAULT_SCOPE,
    MsalTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    xoauth2_string,
)
from tests.mailstack import MailStack

BOT = "bot@musterhausen.test"
OFFICER = "officer@musterhausen.test"
SECRET = "Kl13nt-Geheimnis~oauth-test"
NOW = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _only_this_tests_secrets() -> Iterator[None]:
    """Other tests log in with the mail stack's password "secret"; once registered, every
    "secret" in a log line would be masked, which these tests check word for word."""
    import bot.logs

    saved = set(bot.logs._SECRETS)
    bot.logs._SECRETS.clear()
    yield
    bot.logs._SECRETS.clear()
    bot.logs._SECRETS.update(saved)


# --------------------------------------------------------------------------- Dovecot


def assert_refused_imap(stack: MailStack, user: str, token: str, reason: str) -> None:
    since = stack.dovecot_log_size()
    with stack.imap(security="ssl") as client:
        with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
            client.oauth2_login(user, token)
        client.logout()
    stack.wait_for_dovecot_log(reason, since=since)


@pytest.mark.mailstack
def test_xoauth2_login_with_a_valid_token_reads_the_mailbox(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = OFFICER, BOT, "Mit Token gelesen"
    message.set_content("Guten Tag,\nbitte per XOAUTH2 abholen.\n")
    stack.send(message, OFFICER, [BOT])
    stack.wait_for_messages(BOT, count=1)
    since = stack.dovecot_log_size()

    with stack.imap(security="ssl") as client:
        assert b"AUTH=XOAUTH2" in client.capabilities()
        client.oauth2_login(BOT, stack.oauth_token(BOT))
        client.select_folder("INBOX", readonly=True)
        [uid] = client.search("ALL")
        envelope = client.fetch([uid], ["ENVELOPE"])[uid][b"ENVELOPE"]
        assert envelope.subject == b"Mit Token gelesen"
        client.logout()
    stack.wait_for_dovecot_log(f"Login: user=<{BOT}>, method=XOAUTH2", since=since)


@pytest.mark.mailstack
def test_oauthbearer_login_and_case_of_the_address(mailstack: MailStack) -> None:
    since = mailstack.dovecot_log_size()
    with mailstack.imap() as client:
        client.oauthbearer_login(BOT, mailstack.oauth_token(BOT))
        client.logout()
    mailstack.wait_for_dovecot_log(f"Login: user=<{BOT}>, method=OAUTHBEARER", since=since)
    # Dovecot lower-cases both the login name and the token's subject (username_format).
    since = mailstack.dovecot_log_size()
    with mailstack.imap() as client:
        client.oauth2_login("Bot@Musterhausen.test", mailstack.oauth_token(BOT.upper()))
        client.logout()
    assert f"Login: user=<{BOT}>, method=XOAUTH2" in mailstack.wait_for_dovecot_log(
        "method=XOAUTH2", since=since)


@pytest.mark.mailstack
@pytest.mark.parametrize(
    "case, reason",
    [
        ("expired", "Token has expired"),
        ("wrong key", "Incorrect JWT signature"),
        ("unknown key id", "HS256 key 'other' not found"),
        ("other user", f"Username '{BOT}' did not match '{OFFICER}'"),
        ("inactive", "Provided token is not valid"),
        ("not yet valid", "Token is not valid yet"),
        ("a password", "Not a JWT token"),
    ],
)
def test_xoauth2_refuses_a_bad_token(mailstack: MailStack, case: str, reason: str) -> None:
    stack = mailstack
    token = {
        "expired": lambda: stack.oauth_token(BOT, expires_in=-60),
        "wrong key": lambda: stack.oauth_token(BOT, key=b"k" * 32),
        "unknown key id": lambda: stack.oauth_token(BOT, kid="other"),
        "other user": lambda: stack.oauth_token(OFFICER),
        "inactive": lambda: stack.oauth_token(BOT, active=False),
        "not yet valid": lambda: stack.oauth_token(BOT, nbf=int(NOW.timestamp()) * 2),
        "a password": lambda: "secret",
    }[case]()
    assert_refused_imap(stack, BOT, token, reason)


@pytest.mark.mailstack
def test_passwords_and_tokens_do_not_stand_in_for_each_other(mailstack: MailStack) -> None:
    token = mailstack.oauth_token(BOT)
    with mailstack.imap() as client:
        with pytest.raises(IMAPClient.Error, match="AUTHENTICATIONFAILED"):
            client.login(BOT, token)  # a token is no password
        client.logout()
    with mailstack.imap() as client:
        client.login(BOT, "secret")  # and passwords still work beside tokens
        client.logout()


@pytest.mark.mailstack
def test_smtp_submission_with_xoauth2(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = BOT, OFFICER, "Per Token gesendet"
    message.set_content("Guten Tag,\nüber Submission mit XOAUTH2.\n")
    token = stack.oauth_token(BOT)
    with smtplib.SMTP(stack.host, stack.submission_port, timeout=10) as smtp:
        smtp.starttls(context=stack.ssl_context())
        smtp.ehlo()
        assert "XOAUTH2" in smtp.esmtp_features["auth"].split()
        code, _reply = smtp.auth("XOAUTH2", lambda challenge=None: xoauth2_string(BOT, token))
        assert code == 235
        assert smtp.send_message(message) == {}
    [raw] = stack.wait_for_messages(OFFICER, count=1)
    assert b"Subject: Per Token gesendet" in raw

    expired = stack.oauth_token(BOT, expires_in=-60)
    with smtplib.SMTP(stack.host, stack.submission_port, timeout=10) as smtp:
        smtp.starttls(context=stack.ssl_context())
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.auth("XOAUTH2", lambda challenge=None: xoauth2_string(BOT, expired))
    assert refused.value.smtp_code == 535


@pytest.mark.mailstack
def test_provider_token_logs_in_to_imap(mailstack: MailStack) -> None:
    app = FakeApp([{"access_token": mailstack.oauth_token(BOT), "expires_in": 3599}])
    provider = MsalTokenProvider("tenant", "client", SECRET, app_factory=FakeFactory(app))
    with mailstack.imap(security="starttls") as client:
        client.oauth2_login(BOT, provider.token(NOW))
        client.logout()
    assert app.scopes == [[DEFAULT_SCOPE]]


# --------------------------------------------------------------------------- provider


class FakeApp:
    """Answers acquire_token_for_client like msal: a dict per call, or an exception."""

    def __init__(self, answers: list[Mapping[str, Any] | Exception]) -> None:
        self.answers = list(answers)
        self.scopes: list[list[str]] = []

    def acquire_token_for_client(self, scopes: list[str]) -> Mapping[str, Any]:
        self.scopes.append(scopes)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeFactory:
    def __init__(self, *apps: FakeApp | Exception) -> None:
        self.apps = list(apps)
        self.calls: list[tuple[str, str, str, str]] = []

    def __call__(self, tenant_id: str, client_id: str, secret: str, authority: str) -> FakeApp:
        self.calls.append((tenant_id, client_id, secret, authority))
        app = self.apps.pop(0)
        if isinstance(app, Exception):
            raise app
        return app


def _token(n: int) -> dict[str, Any]:
    return {"access_token": f"token-{n}", "token_type": "Bearer", "expires_in": 3600}


def test_no_app_and_no_network_until_the_first_token() -> None:
    factory = FakeFactory(FakeApp([_token(1)]))
    provider = MsalTokenProvider(" tenant-id ", "client-id", SECRET, app_factory=factory)
    assert factory.calls == []
    assert provider.token(NOW) == "token-1"
    assert factory.calls == [
        ("tenant-id", "client-id", SECRET, "https://login.microsoftonline.com/tenant-id")
    ]


def test_token_is_cached_and_refreshed_five_minutes_before_expiry() -> None:
    app = FakeApp([_token(1), _token(2), _token(3)])
    factory = FakeFactory(app)
    provider = MsalTokenProvider("t", "c", SECRET, app_factory=factory)
    refresh_at = NOW + timedelta(seconds=3600) - timedelta(minutes=5)

    assert provider.token(NOW) == "token-1"
    assert provider.token(NOW + timedelta(minutes=30)) == "token-1"
    assert provider.token(refresh_at - timedelta(seconds=1)) == "token-1"
    assert len(app.scopes) == 1
    assert provider.token(refresh_at) == "token-2"
    assert provider.token(refresh_at + timedelta(minutes=54)) == "token-2"
    assert provider.token(refresh_at + timedelta(minutes=55)) == "token-3"
    assert len(factory.calls) == 1  # one app for the provider's lifetime


def test_a_token_without_a_lifetime_is_not_cached() -> None:
    app = FakeApp([{"access_token": "a"}, {"access_token": "b", "expires_in": "120"}, _token(3)])
    provider = MsalTokenProvider("t", "c", SECRET, app_factory=FakeFactory(app))
    assert provider.token(NOW) == "a"
    assert provider.token(NOW) == "b"  # lives 2 min, shorter than the margin: not cached
    assert provider.token(NOW) == "token-3"


def test_refused_token_is_one_line_without_the_secret() -> None:
    description = (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
        f"request is the client secret value ({SECRET}), not the client secret ID.\r\n"
        "Trace ID: 0b1c\r\nCorrelation ID: 9f8e\r\nTimestamp: 2025-03-03 08:00:00Z"
    )
    app = FakeApp([{"error": "invalid_client", "error_description": description}, _token(1)])
    provider = MsalTokenProvider("contoso", "client-id", SECRET, app_factory=FakeFactory(app))
    with pytest.raises(ConnectionProblem) as excinfo:
        provider.token(NOW)
    message = str(excinfo.value)
    assert message == (
        "OAuth https://login.microsoftonline.com/contoso (client client-id): token refused: "
        "invalid_client: AADSTS7000215: Invalid client secret provided. Ensure the secret "
        "being sent in the request is the client secret value (***), not the client secret "
        "ID.; check tenant, client id and secret"
    )
    assert excinfo.value.transient
    assert provider.token(NOW) == "token-1"  # a failure is not cached


def test_unreachable_authority_is_one_line_and_retried_with_a_new_app() -> None:
    unreachable = ValueError(
        "Unable to get authority configuration for https://login.example.test/contoso.\n"
        "Authority would typically be in a format of https://login.microsoftonline.com/id"
    )
    factory = FakeFactory(unreachable, FakeApp([_token(1)]))
    provider = MsalTokenProvider(
        "contoso", "c", SECRET, authority_host="https://login.example.test/", app_factory=factory
    )
    with pytest.raises(ConnectionProblem) as excinfo:
        provider.token(NOW)
    message = str(excinfo.value)
    assert "\n" not in message and SECRET not in message
    assert message.startswith(
        "OAuth https://login.example.test/contoso (client c): no token: ValueError: "
        "Unable to get authority configuration for https://login.example.test/contoso."
    )
    assert provider.token(NOW) == "token-1"
    assert len(factory.calls) == 2


def test_an_error_while_asking_for_a_token_is_a_connection_problem() -> None:
    app = FakeApp([ConnectionError(f"reset while sending client_secret={SECRET}"), _token(1)])
    provider = MsalTokenProvider("t", "c", SECRET, app_factory=FakeFactory(app))
    with pytest.raises(ConnectionProblem, match=r"no token: ConnectionError: reset while "
                       r"sending client_secret=\*\*\*$"):
        provider.token(NOW)
    assert provider.token(NOW) == "token-1"


def test_the_secret_is_masked_in_logs_and_repr(caplog: pytest.LogCaptureFixture) -> None:
    provider = MsalTokenProvider("t", "c", SECRET, app_factory=FakeFactory())
    assert SECRET not in repr(provider)
    logger = logging.getLogger("intake.test_oauth")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("secret is %s", SECRET)
    finally:
        logger.filters.clear()
    assert caplog.messages == ["secret is ***"]


def test_empty_settings_are_refused_at_construction() -> None:
    for args in (("", "c", SECRET), ("t", " ", SECRET), ("t", "c", "")):
        with pytest.raises(UserError, match=r"^OAuth: the (tenant id|client id|client secret) "
                           r"is empty$"):
            MsalTokenProvider(*args, app_factory=FakeFactory())


def test_static_provider_and_xoauth2_string() -> None:
    provider: TokenProvider = StaticTokenProvider("statisches-token-123")
    assert provider.token(NOW) == "statisches-token-123"
    with pytest.raises(ValueError):
        StaticTokenProvider("zwei Wörter")
    assert xoauth2_string(BOT, "abc") == f"user={BOT}\x01auth=Bearer abc\x01\x01"
    with pytest.raises(ValueError):
        xoauth2_string(BOT, "a\x01b")
