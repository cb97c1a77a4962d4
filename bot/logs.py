"""Logging set-up: one format, secrets masked wherever they would appear."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

_SECRETS: set[str] = set()
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register_secret(value: str | None) -> None:
    """Remember a secret so that no log line can ever contain it."""
    if value and len(value) >= 3:
        _SECRETS.add(value)


_ROTATING: dict[str, str] = {}


def replace_secret(slot: str, value: str | None) -> None:
    """Like register_secret for a value that is renewed (an access token): the previous
    value of the same slot is forgotten, so the set stays small however long the bot runs."""
    old = _ROTATING.pop(slot, None)
    if old is not None:
        _SECRETS.discard(old)
    if value and len(value) >= 3:
        _ROTATING[slot] = value
        _SECRETS.add(value)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            if mask(message) != message:
                record.msg, record.args = mask(message), None
            if record.exc_info:  # a traceback's text could quote a secret as well;
                # formatters use a present exc_text instead of formatting exc_info again
                record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        return True


def mask(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


class _OwnFileHandler(logging.FileHandler):
    """The configured log file (a subclass, so that set-up finds and closes its own)."""


def setup_logging(level_name: str, verbosity: int, log_file: str | Path | None = None) -> None:
    """Log to stderr, and to `log_file` if given (appending; OSError if it cannot be opened,
    in which case the previous set-up stays)."""
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
    base = levels.index(getattr(logging, level_name, logging.INFO))
    level = levels[max(0, min(len(levels) - 1, base - verbosity))]
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(_OwnFileHandler(log_file, encoding="utf-8"))
    fmt = logging.Formatter(_FORMAT)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if isinstance(handler, _OwnFileHandler):
            handler.close()
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # imaplib/smtplib debug output would show the login exchange; keep libraries quiet
    for noisy in ("imapclient", "sqlalchemy", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def log_to_file_only(level: int, message: str, name: str = "intake") -> None:
    """Write a line to the configured log file but not to stderr.

    For the messages the command line prints itself (a user error, say): the file should
    have them too, the terminal should not show them twice.
    """
    record = logging.getLogger(name).makeRecord(name, level, "", 0, message, (), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _OwnFileHandler) and level >= handler.level:
            handler.handle(record)
