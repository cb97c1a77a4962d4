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
    cleaned = "".join(ch if ch.isprintable() or ch == " " else " " for ch in text)
    return _WS.sub(" ", cleaned).strip()


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
