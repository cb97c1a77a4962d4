"""IMAP access: the one module that imports imapclient.

`connect` logs in (password or XOAUTH2); `Mailbox` is the small set of operations the
poller needs (list, sizes, fetch without setting \\Seen, move, wait with IDLE). Library
errors, imapclient's AbortError included, become ConnectionProblem with a one-line message
that says what to do; the poller reconnects on it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from bot.config import ImapSettings
from bot.errors import ConnectionProblem, one_line
from bot.logs import register_secret
from bot.smtp import tls_context

#: construction seam (the IMAPClient class itself); tests use the real one on loopback
ImapFactory = Callable[..., IMAPClient]


class Credentials(Protocol):
    """How to log in: a password, or an OAuth access token for XOAUTH2 (Microsoft 365)."""

    def login(self, client: IMAPClient, username: str) -> None: ...


@dataclass(frozen=True)
class PasswordLogin:
    password: str | None

    def login(self, client: IMAPClient, username: str) -> None:
        client.login(username, self.password or "")


@dataclass(frozen=True)
class OAuthLogin:
    """XOAUTH2 with a token from `token()` (asked anew at every connect, so a provider that
    caches and refreshes before expiry hands out a valid one)."""

    token: Callable[[], str]

    def login(self, client: IMAPClient, username: str) -> None:
        token = self.token()
        register_secret(token)
        client.oauth2_login(username, token)


def connect(settings: ImapSettings, password: str | Credentials | None,
            factory: ImapFactory = IMAPClient) -> IMAPClient:
    """Connect, secure and log in; raise ConnectionProblem with a one-line reason."""
    credentials = password if isinstance(password, PasswordLogin | OAuthLogin) else None
    if credentials is None:
        assert password is None or isinstance(password, str)
        register_secret(password)
        credentials = PasswordLogin(password)
    try:
        return _connect(settings, credentials, factory)
    except ConnectionProblem:
        raise
    except Exception as exc:
        problem = _translate(settings, exc)
        if problem is None:
            raise
        raise problem from None


def _connect(settings: ImapSettings, credentials: Credentials,
             factory: ImapFactory) -> IMAPClient:
    client: IMAPClient | None = None
    try:
        context = tls_context(settings.ca_file)
        client = factory(settings.host, port=settings.port, ssl=settings.security == "ssl",
                         ssl_context=context, timeout=settings.timeout)
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            # imapclient turns imaplib's debugging on and filters its lines in logging;
            # imaplib formats them first, every fetched mail's repr() among them (half
            # the time the fetching thread spent)
            client._imap.debug = 0
        if settings.security == "starttls":
            client.starttls(context)
        credentials.login(client, settings.username)
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
    if isinstance(exc, IMAPClient.AbortError):
        return ConnectionProblem(f"{server}: connection dropped ({one_line(exc)})")
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


def check_login(settings: ImapSettings, password: str | Credentials | None) -> str:
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


def append_message(settings: ImapSettings, password: str | Credentials | None, raw: bytes,
                   folder: str = "INBOX", factory: ImapFactory = IMAPClient) -> None:
    """Put one message into a folder of the account `settings` names, as a delivery agent
    does (the demo's SMTP server delivers each mail this way); ConnectionProblem on failure."""
    client = connect(settings, password, factory)
    try:
        client.append(folder, raw)
    except (OSError, IMAPClientError, IMAPClient.AbortError) as exc:
        raise ConnectionProblem(f"IMAP {settings.host}:{settings.port}: append to {folder!r} "
                                f"as {settings.username}: {one_line(exc)}") from None
    finally:
        with contextlib.suppress(OSError, IMAPClientError, IMAPClient.AbortError):
            client.logout()
        _close_quietly(client)


log = logging.getLogger("intake.imap")

#: the longest a single IDLE command may run; servers drop IDLE after 30 minutes (RFC 2177)
IDLE_MAX_SECONDS = 25 * 60


@dataclass(frozen=True)
class FolderInfo:
    uidvalidity: int
    exists: int


class Mailbox:
    """The poller's view of one logged-in IMAP connection.

    Every method translates library and socket errors into ConnectionProblem, so the caller
    has one exception to catch: reconnect and carry on.
    """

    def __init__(self, client: IMAPClient, settings: ImapSettings) -> None:
        self.client = client
        self.settings = settings
        self._server = f"IMAP {settings.host}:{settings.port}"
        self._delimiter: str | None = None

    @classmethod
    def open(cls, settings: ImapSettings, credentials: Credentials,
             factory: ImapFactory = IMAPClient) -> Mailbox:
        return cls(connect(settings, credentials, factory), settings)

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except ConnectionProblem:
            raise
        except (OSError, IMAPClientError, IMAPClient.AbortError) as exc:
            raise ConnectionProblem(f"{self._server}: {what}: {type(exc).__name__}: "
                                    f"{one_line(exc)}") from None

    def server_folder(self, name: str) -> str:
        """A configured folder name ("Intake/Processed") in the server's own hierarchy
        delimiter (Dovecot often uses ".", Exchange "/")."""
        if self._delimiter is None:
            with self._errors("list folders"):
                folders = self.client.list_folders(directory="", pattern="INBOX")
            delimiter = folders[0][1] if folders else b"/"
            if isinstance(delimiter, bytes):
                delimiter = delimiter.decode("ascii", "replace")
            self._delimiter = delimiter or "/"
        return name.replace("/", self._delimiter) if self._delimiter != "/" else name

    def ensure_folder(self, name: str) -> str:
        """Create the folder (and its parents) when missing; return its server name."""
        folder = self.server_folder(name)
        with self._errors(f"folder {folder!r}"):
            if not self.client.folder_exists(folder):
                try:
                    self.client.create_folder(folder)
                except IMAPClientError:
                    # a concurrent poller created it a moment ago
                    if not self.client.folder_exists(folder):
                        raise
                with contextlib.suppress(IMAPClientError):
                    self.client.subscribe_folder(folder)
        return folder

    def select(self, folder: str) -> FolderInfo:
        with self._errors(f"select {folder!r}"):
            info = self.client.select_folder(folder)
        return FolderInfo(uidvalidity=int(info.get(b"UIDVALIDITY", 0)),
                          exists=int(info.get(b"EXISTS", 0)))

    def uids(self) -> list[int]:
        """Every message in the selected folder that is not marked deleted, oldest first."""
        with self._errors("search"):
            self._announced()  # what came before this search is in its result
            return sorted(int(uid) for uid in self.client.search(["NOT", "DELETED"]))

    def _announced(self) -> bool:
        """Whether the server announced new mail (EXISTS) since the last call. Mail that
        arrives while a command runs is announced in that command's reply, which imapclient
        keeps in imaplib's store of untagged responses; IDLE does not announce it again, so
        `wait` looks here first (else the mail would wait for the next poll)."""
        return self.client._imap.untagged_responses.pop("EXISTS", None) is not None

    def sizes(self, uids: Iterable[int]) -> dict[int, int]:
        wanted = list(uids)
        if not wanted:
            return {}
        with self._errors("fetch sizes"):
            data = self.client.fetch(wanted, ["RFC822.SIZE"])
        return {int(uid): int(item.get(b"RFC822.SIZE", 0)) for uid, item in data.items()}

    def fetch(self, uids: Iterable[int]) -> dict[int, bytes]:
        """Whole messages; BODY.PEEK leaves \\Seen unset so a person can still see them as new."""
        wanted = list(uids)
        if not wanted:
            return {}
        with self._errors("fetch"):
            data = self.client.fetch(wanted, ["BODY.PEEK[]"])
        return {int(uid): bytes(item[b"BODY[]"]) for uid, item in data.items()
                if item.get(b"BODY[]") is not None}

    def fetch_header(self, uid: int) -> bytes:
        with self._errors("fetch header"):
            data = self.client.fetch([uid], ["BODY.PEEK[HEADER]"])
        item = data.get(uid) or {}
        return bytes(item.get(b"BODY[HEADER]") or b"")

    def move(self, uids: Iterable[int], folder: str) -> None:
        """Move messages; COPY + \\Deleted + EXPUNGE where the server has no MOVE."""
        wanted = list(uids)
        if not wanted:
            return
        with self._errors(f"move to {folder!r}"):
            for attempt in range(3):
                try:
                    self._move(wanted, folder)
                    return
                except IMAPClientError as exc:
                    if "EXPUNGEISSUED" not in str(exc) or attempt == 2:
                        raise
                # Another session (a second poller) moved some of them a moment ago, and the
                # server refuses the whole command: learn of its expunges, move the rest.
                self.client.noop()
                here = set(self.client.search(["NOT", "DELETED"]))
                wanted = [uid for uid in wanted if uid in here]
                if not wanted:
                    return

    def _move(self, wanted: list[int], folder: str) -> None:
        if self.client.has_capability("MOVE"):
            self.client.move(wanted, folder)
        else:
            self.client.copy(wanted, folder)
            self.client.add_flags(wanted, [b"\\Deleted"])
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge(wanted)
            else:
                self.client.expunge()

    @property
    def can_idle(self) -> bool:
        with self._errors("capabilities"):
            return bool(self.client.has_capability("IDLE"))

    def wait(self, seconds: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait up to `seconds` for new mail in the selected folder, with IDLE where the
        server offers it (re-issued well before the server's 30-minute limit), else by
        sleeping and asking with NOOP. True when the server reported something."""
        deadline = time.monotonic() + seconds
        if not self.can_idle:
            while time.monotonic() < deadline and not stop():
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            with self._errors("noop"):
                self.client.noop()
            return True
        while not stop():
            # Dovecot's IDLE does not report mail that was delivered before IDLE began (not
            # even after its check interval); NOOP makes it look, and it announces that mail.
            with self._errors("noop"):
                self.client.noop()
            if self._announced():  # just now, while the pass ran, or as IDLE ended
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            chunk = min(left, IDLE_MAX_SECONDS)
            with self._errors("idle"):
                self.client.idle()
                try:
                    started = time.monotonic()
                    while time.monotonic() - started < chunk and not stop():
                        asked = time.monotonic()
                        responses = self.client.idle_check(timeout=min(1.0, chunk))
                        if any(_is_news(r) for r in responses):
                            return True
                        if not responses and time.monotonic() - asked < min(1.0, chunk) / 2:
                            # Readable yet nothing came: imapclient returns a closed connection
                            # (a restarted server) this way, at once and again and again.
                            # Ending IDLE raises on a dead connection; a live one idles anew.
                            break
                finally:
                    self.client.idle_done()
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError, IMAPClientError, IMAPClient.AbortError):
            self.client.logout()
        _close_quietly(self.client)


def _is_news(response: object) -> bool:
    """EXISTS or RECENT in an IDLE response: something arrived."""
    if isinstance(response, tuple) and len(response) >= 2:
        return response[1] in (b"EXISTS", b"RECENT")
    return False
