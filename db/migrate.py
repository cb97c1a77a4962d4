"""Run the Alembic migrations shipped in db/migrations (used by `intake db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser interpolates "%": escape it (URL-encoded options contain "%3D")
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def ensure_schema(engine: Engine) -> str | None:
    """PostgreSQL with `options=-csearch_path=NAME` in the URL (one schema per town hall on
    a shared server): create that schema if it does not exist yet; return its name then.

    Nothing to do when the search path names an existing schema, or on SQLite.
    """
    if engine.dialect.name != "postgresql":
        return None
    with engine.begin() as connection:
        if connection.execute(text("SELECT current_schema()")).scalar() is not None:
            return None
        path = str(connection.execute(text("SHOW search_path")).scalar() or "")
        names = [name.strip() for name in path.split(",") if name.strip()]
        wanted = next((name for name in names if name != '"$user"'), None)
        if wanted is None:
            return None
        if wanted.startswith('"') and wanted.endswith('"'):
            wanted = wanted[1:-1].replace('""', '"')
        quoted = engine.dialect.identifier_preparer.quote_identifier(wanted)
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    return wanted


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to `revision`; return (revision before, revision after)."""
    config = alembic_config(engine)
    before = current_revision(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
