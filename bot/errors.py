"""Errors the command line turns into one-line messages (exit status 1), never tracebacks."""

import re

_WS = re.compile(r"\s+")


def one_line(value: object) -> str:
    """Text on one line: control characters dropped, whitespace runs collapsed.

    For header values (no line break can inject a header) and for messages from drivers
    and servers (psycopg adds hints on further lines). None gives "".
    """
    if value is None:
        return ""
    text = str(value)
    if text.isprintable() and "  " not in text and text == text.strip():
        return text  # nearly every header value is one clean line already
    cleaned = "".join(ch if ch.isprintable() or ch == " " else " " for ch in text)
    return _WS.sub(" ", cleaned).strip()


#: PostgreSQL's codes for a server that is going away or not accepting connections yet
_SERVER_AWAY = ("57P01", "57P02", "57P03")
#: SQLite's for a database another process holds, or a file that cannot be reached
_SQLITE_AWAY = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def database_problem(exc: BaseException) -> str | None:
    """The driver's own words in one line when `exc` says the database cannot be reached
    right now (the server is down or restarting, the connection was dropped, SQLite is
    locked): nobody's mistake and nothing to show a traceback for; trying again later is
    the cure. None for anything else (a missing table is a bug or a missed `db upgrade`)."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    state = getattr(orig, "sqlstate", "")
    away = (exc.connection_invalidated
            # psycopg: no code at all when the connection failed or broke
            or (hasattr(orig, "sqlstate") and (state is None or str(state).startswith("08")
                                               or state in _SERVER_AWAY))
            or getattr(orig, "sqlite_errorname", "") in _SQLITE_AWAY)
    return one_line(orig if orig is not None else exc)[:300] if away else None


class UserError(Exception):
    """A problem the admin can fix: bad configuration, bad contacts file, refused login.

    The message is complete and printable as is; it may span several lines, one per problem.
    """


class DeliveryError(Exception):
    """Sending one mail failed. `transient` decides: retry later, or mark failed for a human."""

    transient: bool = True

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientDeliveryError(DeliveryError):
    """4xx answers, refused connections, time-outs: the outbox retries with backoff."""

    transient = True


class PermanentDeliveryError(DeliveryError):
    """5xx answers for this mail: marked failed with the server's text (`intake outbox`)."""

    transient = False


class ConnectionProblem(TransientDeliveryError):
    """The server as a whole is unusable (unreachable, TLS, login): nothing of the batch is
    sent; every row stays queued. Also raised by `intake check` as a user-facing message."""
