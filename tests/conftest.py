"""Shared fixtures: real PostgreSQL and SQLite databases, the CLI runner.

PostgreSQL is expected at 127.0.0.1:5432 (user postgres, trust auth, database `test`);
override with INTAKE_TEST_PG_URL. Every test that needs it gets a fresh schema, dropped
afterwards. When PostgreSQL is unreachable the tests fail loudly (never skip): in CI it is
part of the machine, and locally the message says how to start it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

pytest_plugins = ["tests.plugin_mailstack"]

PG_URL = os.environ.get(
    "INTAKE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = create_engine(PG_URL, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any driver error: report, do not skip
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} ({exc}). Start it (Debian: "
            f"pg_ctlcluster 15 main start) or point INTAKE_TEST_PG_URL at a server.",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """A database URL whose search_path is a brand-new schema."""
    schema = f"intake_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with pg_admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'intake.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))
