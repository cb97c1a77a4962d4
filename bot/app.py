"""The application context the commands share: settings, clock, database."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import DEFAULT_CONFIG_NAME, Settings, load_settings
from bot.contacts import ContactEntry, load_contacts
from bot.errors import UserError, one_line
from bot.logs import setup_logging
from db import migrate
from db.engine import make_engine, session_factory

log = logging.getLogger(__name__)


def parse_now(value: str, tz: ZoneInfo) -> datetime:
    """Parse --now: ISO-8601; without an offset it is local time in the configured zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 time like 2027-01-04T08:00") from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


@dataclass
class App:
    config_path: Path | None
    config_explicit: bool = False
    now_override: str | None = None
    verbosity: int = 0
    #: the command line sets it: loading the settings then sets up logging from [logging]
    #: (tests that build an App leave their own log handlers alone)
    configure_logging: bool = False
    _engine: Engine | None = field(default=None, init=False)

    @cached_property
    def settings(self) -> Settings:
        """The complete settings: every required key present."""
        return self._load(complete=True)

    @cached_property
    def lenient_settings(self) -> Settings:
        """Settings for commands that only read local files (`intake parse`): the keys
        that identify the town hall may be missing (they are "" then)."""
        if "settings" in self.__dict__:
            return self.settings
        return self._load(complete=False)

    def _load(self, complete: bool) -> Settings:
        path = self.config_path or Path(DEFAULT_CONFIG_NAME)
        settings = load_settings(path, required=self.config_explicit, complete=complete)
        if self.configure_logging:
            self._set_up_logging(settings)
        return settings

    def _set_up_logging(self, settings: Settings) -> None:
        file = settings.logging.file  # already resolved against the config file's directory
        try:
            setup_logging(settings.logging.level, self.verbosity, file)
        except OSError as exc:
            raise UserError(f"{settings.origin('logging', 'file')}: [logging] file: cannot "
                            f"open {file} ({exc.strerror}); create the directory or change "
                            f"the setting") from None

    @property
    def tz(self) -> ZoneInfo:
        # whichever settings the command loaded: the time zone is never a required key
        loaded = self.__dict__.get("settings") or self.__dict__.get("lenient_settings")
        return ZoneInfo((loaded or self.settings).schedule.timezone)

    def now(self) -> datetime:
        """The one place that reads the clock (or --now)."""
        if self.now_override:
            try:
                return parse_now(self.now_override, self.tz)
            except ValueError as exc:
                raise UserError(f"--now / INTAKE_NOW: {exc}") from None
        return datetime.now(UTC)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = make_engine(self._database_url())
            except Exception as exc:  # bad URL, missing driver
                raise UserError(f"{self.settings.source}: [database] url: {exc}") from None
        return self._engine

    def _database_url(self) -> str:
        """The configured URL; a relative SQLite path is relative to the config file."""
        url = make_url(self.settings.database.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = self.settings.resolve_path(url.database)
            return url.set(database=str(path)).render_as_string(hide_password=False)
        return self.settings.database.url

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def contacts(self) -> list[ContactEntry]:
        return load_contacts(self.settings.resolve_path(self.settings.contacts.file))

    def database_unreachable(self, exc: OperationalError) -> str:
        """One line for a database that cannot be opened; for a SQLite file, the likely
        cause named (a directory that is missing or not writable)."""
        line = f"database {self.safe_db_url()}: {one_line(exc.orig)}"
        url = make_url(self._database_url())
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return line
        folder = Path(str(url.database)).expanduser().absolute().parent
        if not folder.is_dir():
            return f"{line}; the directory {folder} does not exist (create it, or correct the URL)"
        if not os.access(folder, os.W_OK):
            return f"{line}; the directory {folder} is not writable for this user"
        return line

    def require_schema(self) -> None:
        """Refuse to work on a database that is not migrated (clear message, no traceback)."""
        try:
            current = migrate.current_revision(self.engine)
        except OperationalError as exc:
            raise UserError(self.database_unreachable(exc)) from None
        head = migrate.head_revision(self.engine)
        if current != head:
            raise UserError(
                f"database {self.safe_db_url()} is at schema {current or 'none'}, "
                f"expected {head}: run `intake db upgrade`"
            )

    def safe_db_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
