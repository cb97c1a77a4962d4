"""IMAP access: the one module that imports imapclient.

For now the login check of `intake check`; the poller of the listening issue builds on
`connect`. Library errors become ConnectionProblem with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from bot.config import ImapSettings
from bot.errors import ConnectionProblem
from bot.logs import register_secret
from bot.smtp import tls_context

#: construction seam (the IMAPClient class itself); tests use the real one on loopback
ImapFactory = Callable[..., IMAPClient]


def connect(settings: ImapSettings, password: str | None,
            factory: ImapFactory = IMAPClient) -> IMAPClient:
    """Connect, secure and log in; raise ConnectionProblem with a one-line reason."""
    register_secret(password)
    try:
        return _connect(settings, password, factory)
    except ConnectionProblem:
        raise
    except Exception as exc:
        problem = _translate(settings, exc)
        if problem is None:
            raise
        raise problem from None


def _connect(settings: ImapSettings, password: str | None, factory: ImapFactory) -> IMAPClient:
    client: IMAPClient | None = None
    try:
        context = tls_context(settings.ca_file)
        client = factory(settings.host, port=settings.port, ssl=settings.security == "ssl",
                         ssl_context=context, timeout=settings.timeout)
        if settings.security == "starttls":
            client.starttls(context)
        client.login(settings.username, password or "")
    except BaseException:
        if client is not None:
            _close_quietly(client)
        raise
    return client


def _close_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClientError):
        client.shutdown()


def _translate(settings: ImapSettings, exc: BaseException) -> ConnectionProblem | None:
    server = f"IMAP {settings.host}:{settings.port}"
    if isinstance(exc, LoginError):
        return ConnectionProblem(f"{server}: login as {settings.username} refused; check the "
                                 f"password")
    if isinstance(exc, ssl.SSLCertVerificationError | ssl.CertificateError):
        return ConnectionProblem(f"{server}: TLS certificate not trusted "
                                 f"({getattr(exc, 'verify_message', exc)}); set [imap] ca_file "
                                 f"for an internal CA")
    if isinstance(exc, ssl.SSLError):
        return ConnectionProblem(f"{server}: TLS failed ({exc.reason}); check [imap] security "
                                 f"and port")
    if isinstance(exc, socket.gaierror):
        return ConnectionProblem(f"{server}: unknown host {settings.host}")
    if isinstance(exc, OSError | IMAPClientError):
        return ConnectionProblem(f"{server}: cannot connect ({exc.__class__.__name__}: "
                                 f"{exc})")
    return None


def check_login(settings: ImapSettings, password: str | None) -> str:
    """Log in, look at the folder, log out; return a one-line success report."""
    client = connect(settings, password)
    try:
        info = client.select_folder(settings.folder, readonly=True)
        count = info.get(b"EXISTS", 0)
    except (OSError, IMAPClientError) as exc:
        raise ConnectionProblem(f"IMAP {settings.host}: folder {settings.folder!r}: "
                                f"{exc}") from None
    finally:
        with contextlib.suppress(OSError, IMAPClientError):
            client.logout()
    return (f"IMAP {settings.host}:{settings.port} ({settings.security}): logged in as "
            f"{settings.username}, {settings.folder} has {count} message(s)")
