"""Logging set-up: one format, secrets masked wherever they would appear."""

from __future__ import annotations

import logging
import sys

_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that no log line can ever contain it."""
    if value and len(value) >= 3:
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


def setup_logging(level_name: str, verbosity: int, log_file: str | None = None) -> None:
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
    base = levels.index(getattr(logging, level_name, logging.INFO))
    level = levels[max(0, min(len(levels) - 1, base - verbosity))]
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # imaplib/smtplib debug output would show the login exchange; keep libraries quiet
    for noisy in ("imapclient", "sqlalchemy", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
