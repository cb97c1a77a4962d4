"""Access tokens for XOAUTH2 logins (IMAP and SMTP) at Microsoft 365 / Exchange Online.

Exchange Online refuses basic auth (a password) for IMAP and SMTP; an app registered in
Entra ID logs in with a token it gets by the client-credentials flow instead. The mail
adapters ask a TokenProvider for a token right before each login; the provider decides
whether its cached token is still good for that moment. Time is an input (``now``):
nothing here reads the clock.

``msal`` is imported only where the Microsoft flow is built: it pulls in requests and
cryptography, which password-only set-ups never need.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.errors import ConnectionProblem, UserError, one_line
from bot.logs import mask, register_secret

DEFAULT_SCOPE = "https://outlook.office365.com/.default"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
# Ask for a new token this long before the old one runs out, so that a login (or a
# reconnect in the middle of an IMAP IDLE) never presents a token that expires on the way.
REFRESH_MARGIN = timedelta(minutes=5)
HTTP_TIMEOUT = 30.0  # seconds, for each request to the authority


class TokenProvider(Protocol):
    def token(self, now: datetime) -> str:
        """A bearer token valid at ``now`` (and a while after it).

        Raises ConnectionProblem with a one-line message when no token can be had."""
        ...


class StaticTokenProvider:
    """Always the same token: for tests, or for set-ups where another tool fetches it."""

    def __init__(self, token: str) -> None:
        if not token or any(ch.isspace() for ch in token):
            raise ValueError("an access token is one non-empty word")
        register_secret(token)
        self._token = token

    def token(self, now: datetime) -> str:
        return self._token


class ClientApp(Protocol):
    """The part of msal.ConfidentialClientApplication this module uses."""

    def acquire_token_for_client(self, scopes: list[str]) -> Mapping[str, Any]: ...


# (tenant_id, client_id, client_secret, authority) -> app; the real one may do network calls
AppFactory = Callable[[str, str, str, str], ClientApp]


def msal_app(tenant_id: str, client_id: str, client_secret: str, authority: str) -> ClientApp:
    """The real msal app. Building it fetches the authority's OpenID configuration."""
    import msal  # here, not at the top: see the module docstring

    app: ClientApp = msal.ConfidentialClientApplication(
        client_id,
        client_credential=client_secret,
        authority=authority,
        # requests waits forever by default; a hanging login would stall the daemon
        timeout=HTTP_TIMEOUT,
    )
    return app


class MsalTokenProvider:
    """Client-credentials tokens from Microsoft Entra ID, cached until shortly before expiry.

    No network at construction: the msal app (whose construction validates the authority
    over the network) is built at the first token() call, and again after it failed.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        scope: str = DEFAULT_SCOPE,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        *,
        refresh_margin: timedelta = REFRESH_MARGIN,
        app_factory: AppFactory = msal_app,
    ) -> None:
        # Empty values come from an incomplete configuration: a message, not a traceback.
        for what, value in (("tenant id", tenant_id), ("client id", client_id)):
            if not value or not value.strip():
                raise UserError(f"OAuth: the {what} is empty")
        if not client_secret:
            raise UserError("OAuth: the client secret is empty")
        register_secret(client_secret)
        self.tenant_id = tenant_id.strip()
        self.client_id = client_id.strip()
        self.scope = scope
        self.authority = f"{authority_host.rstrip('/')}/{self.tenant_id}"
        self.refresh_margin = refresh_margin
        self._secret = client_secret
        self._app_factory = app_factory
        self._app: ClientApp | None = None
        self._token: str | None = None
        self._refresh_at: datetime | None = None
        # The daemon's scheduler threads and the mailbox watcher may log in at once;
        # one of them fetches, the others wait for its token.
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the secret, never the token
        return f"MsalTokenProvider(authority={self.authority!r}, client_id={self.client_id!r})"

    def token(self, now: datetime) -> str:
        with self._lock:
            if self._token is not None and self._refresh_at is not None and now < self._refresh_at:
                return self._token
            token, expires_in = self._acquire()
            self._token = token
            self._refresh_at = now + timedelta(seconds=expires_in) - self.refresh_margin
            return token

    def _acquire(self) -> tuple[str, int]:
        where = f"OAuth {self.authority} (client {self.client_id})"
        try:
            if self._app is None:
                self._app = self._app_factory(
                    self.tenant_id, self.client_id, self._secret, self.authority
                )
            result = self._app.acquire_token_for_client(scopes=[self.scope])
        except Exception as exc:  # msal raises ValueError, requests errors and more
            raise ConnectionProblem(
                mask(f"{where}: no token: {type(exc).__name__}: {one_line(exc)}")
            ) from None
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            error = one_line(result.get("error")) or "no access_token in the answer"
            description = one_line(result.get("error_description"))
            # Entra's descriptions end in "Trace ID: ... Timestamp: ..."; the first
            # sentence with its AADSTS code is what the admin needs.
            description = description.split(" Trace ID:")[0]
            text = f"{where}: token refused: {error}"
            if description:
                text += f": {description}"
            raise ConnectionProblem(mask(text) + "; check tenant, client id and secret")
        return token, _expires_in(result.get("expires_in"))


def _expires_in(value: object) -> int:
    # Entra sends an int, some proxies a string. Without a usable value the token is not
    # cached: the next login asks msal again (which answers from its own cache while the
    # token lasts), rather than presenting a token whose end nobody knows.
    try:
        return max(int(str(value)), 0)
    except ValueError:
        return 0


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64), as Microsoft and Google define it.

    imapclient's oauth2_login() builds it by itself; smtplib needs it for
    ``smtp.auth("XOAUTH2", lambda challenge=None: xoauth2_string(user, token))``.
    """
    if "\x01" in user or "\x01" in token:
        raise ValueError("user and token must not contain \\x01")
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
