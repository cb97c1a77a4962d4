"""The database on SQLite and PostgreSQL alike: migrations, constraints, contact sync."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from bot.contacts import ContactEntry
from db import migrate
from db.contacts import active_primary_contacts, contact_by_address, sync_contacts
from db.engine import make_engine, session_factory
from db.models import Base, Contact, Department, InboundMessage, Request, RequestRound, Topic

NOW = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def entry(department: str, email: str, *deputies: str, active: bool = True,
          name: str | None = None) -> ContactEntry:
    return ContactEntry(department=department, email=email, line=1, name=name,
                        deputies=tuple(deputies), active=active)


def test_migrations_create_exactly_the_models(engine) -> None:  # type: ignore[no-untyped-def]
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    assert {"departments", "contacts", "request_rounds", "requests", "outbox", "inbound",
            "topics", "attachments", "followups", "alembic_version"} <= tables


def test_upgrade_twice_is_a_no_op(engine) -> None:  # type: ignore[no-untyped-def]
    before, after = migrate.upgrade(engine)
    assert before == after == migrate.head_revision(engine)


def test_postgresql_stores_large_values_with_lz4(pg_url: str) -> None:
    """pglz spends a second of server CPU per 50 MB of base64 mail and saves nothing."""
    engine = make_engine(pg_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            methods = {row.name: row.method for row in conn.execute(text(
                "SELECT attrelid::regclass::text || '.' || attname AS name, "
                "attcompression AS method FROM pg_attribute WHERE attrelid IN "
                "('inbound'::regclass, 'inbound_raw'::regclass, 'outbox'::regclass, "
                "'blobs'::regclass) AND attname IN ('raw', 'parsed', 'data')"))}
    finally:
        engine.dispose()
    assert methods == {"inbound_raw.raw": "l", "inbound.parsed": "l", "outbox.raw": "l",
                       "blobs.data": "l"}


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_sync_adds_updates_and_deactivates_without_deleting(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    with sessions.begin() as s:
        summary = sync_contacts(s, [
            entry("Bauamt", "erika@musterhausen.de", "max@musterhausen.de", name="Erika"),
            entry("Kita", "kita@musterhausen.de"),
        ], NOW)
    assert sorted(summary.added) == ["erika@musterhausen.de", "kita@musterhausen.de",
                                     "max@musterhausen.de"]
    with sessions.begin() as s:
        assert [c.email for c in active_primary_contacts(s)] == ["erika@musterhausen.de",
                                                                 "kita@musterhausen.de"]
        deputy = contact_by_address(s, "MAX@musterhausen.de")
        assert deputy is not None and deputy.role == "deputy"
    # Kita leaves the file, Erika's name changes, the deputy becomes Kita's... no: is dropped
    later = NOW + timedelta(days=30)
    with sessions.begin() as s:
        summary = sync_contacts(s, [entry("Bauamt", "erika@musterhausen.de", name="Erika M.")],
                                later)
    assert summary.updated == ["erika@musterhausen.de"]
    assert sorted(summary.deactivated) == ["kita@musterhausen.de", "max@musterhausen.de"]
    with sessions.begin() as s:
        everyone = {c.email: c for c in s.scalars(select(Contact))}
        assert len(everyone) == 3  # nothing deleted
        assert everyone["kita@musterhausen.de"].active is False
        assert everyone["kita@musterhausen.de"].deactivated_at == later
        assert s.scalar(select(Department).where(Department.name == "Kita")).active is False
        assert [c.email for c in active_primary_contacts(s)] == ["erika@musterhausen.de"]
    # coming back reactivates the same row
    with sessions.begin() as s:
        summary = sync_contacts(s, [entry("Bauamt", "erika@musterhausen.de", name="Erika M."),
                                    entry("Kita", "kita@musterhausen.de")], later)
    assert summary.reactivated == ["kita@musterhausen.de"]
    with sessions.begin() as s:
        assert len(s.scalars(select(Contact)).all()) == 3


def test_sync_is_idempotent(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    specs = [entry("Bauamt", "erika@musterhausen.de", "max@musterhausen.de")]
    with sessions.begin() as s:
        sync_contacts(s, specs, NOW)
    with sessions.begin() as s:
        summary = sync_contacts(s, specs, NOW)
    assert not summary.changed


def test_one_request_per_round_and_contact_is_a_constraint(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    with sessions.begin() as s:
        sync_contacts(s, [entry("Bauamt", "erika@musterhausen.de")], NOW)
    with sessions.begin() as s:
        contact = s.scalars(select(Contact)).one()
        rnd = RequestRound(month="2027-01", opened_at=NOW)
        s.add(rnd)
        s.flush()
        s.add(Request(round_id=rnd.id, contact_id=contact.id,
                      department_id=contact.department_id, tag="K7Q2",
                      message_id="<a@x>", created_at=NOW))
    with pytest.raises(IntegrityError), sessions.begin() as s:
        contact = s.scalars(select(Contact)).one()
        rnd = s.scalars(select(RequestRound)).one()
        s.add(Request(round_id=rnd.id, contact_id=contact.id,
                      department_id=contact.department_id, tag="ZZZZ",
                      message_id="<b@x>", created_at=NOW))
    with pytest.raises(IntegrityError), sessions.begin() as s:
        s.add(RequestRound(month="2027-01", opened_at=NOW))


def test_foreign_keys_are_enforced(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    with pytest.raises(IntegrityError), sessions.begin() as s:
        s.add(Topic(inbound_id=999, position=0, department_id=999, created_at=NOW,
                    updated_at=NOW))


def test_datetimes_come_back_aware_in_utc(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    berlin_time = datetime(2027, 3, 28, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    with sessions.begin() as s:
        s.add(RequestRound(month="2027-03", opened_at=berlin_time))
    with sessions.begin() as s:
        opened = s.scalars(select(RequestRound)).one().opened_at
    assert opened == berlin_time
    assert opened.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="naive datetime"), sessions.begin() as s:
        s.add(RequestRound(month="2027-04", opened_at=datetime(2027, 4, 1)))


def test_a_stored_mail_keeps_its_bytes_across_the_move_to_their_own_table(
        db_url: str) -> None:
    """0007 moves inbound bytes into inbound_raw, and its downgrade moves them back, on a
    database that already holds mail (a photo's worth of bytes among them)."""
    from alembic import command

    engine = make_engine(db_url)
    photo = bytes(range(256)) * 4096  # 1 MB, overflow pages on SQLite
    try:
        migrate.upgrade(engine, "0006_fast_compression")
        with engine.begin() as conn:
            for n, raw in enumerate((b"From: a@b\r\n\r\nHallo", photo), start=1):
                conn.execute(text(
                    "INSERT INTO inbound (id, message_id, folder, sha256, raw, size, "
                    "received_at, status, automatic, attempts) VALUES (:id, :mid, 'INBOX', "
                    "'x', :raw, :size, :at, 'processed', false, 0)"),
                    {"id": n, "mid": f"<m{n}@x>", "raw": raw, "size": len(raw), "at": NOW})
        migrate.upgrade(engine)
        sessions = session_factory(engine)
        with sessions() as session:
            rows = {row.id: row for row in session.scalars(select(InboundMessage))}
            assert rows[1].raw == b"From: a@b\r\n\r\nHallo" and rows[2].raw == photo
        assert "raw" not in {c["name"] for c in inspect(engine).get_columns("inbound")}
        command.downgrade(migrate.alembic_config(engine), "0006_fast_compression")
        with engine.connect() as conn:
            back = dict(conn.execute(text("SELECT id, raw FROM inbound")).all())
            assert {k: bytes(v) for k, v in back.items()} == {
                1: b"From: a@b\r\n\r\nHallo", 2: photo}
        assert "inbound_raw" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_files_kept_in_their_mail_are_copied_into_blobs_by_the_downgrade(
        db_url: str) -> None:
    """0008 lets a file's bytes stay in the mail it came in; its downgrade copies them into
    `blobs` (the older schema needs them there) and refuses rather than lose one."""
    from email.message import EmailMessage

    from alembic import command

    engine = make_engine(db_url)
    photo = bytes(range(256)) * 4096
    mail = EmailMessage()
    mail["From"], mail["Message-ID"] = "a@b", "<m1@x>"
    mail.set_content("Was: Sommerfest\n")
    mail.add_attachment(photo, maintype="image", subtype="jpeg", filename="fest.jpg")
    digest = hashlib.sha256(photo).hexdigest()
    config = migrate.alembic_config(engine)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO inbound (id, message_id, folder, sha256, size, received_at, "
                "status, automatic, attempts) VALUES (1, '<m1@x>', 'INBOX', 'x', 1, :at, "
                "'processed', false, 0)"), {"at": NOW})
            conn.execute(text("INSERT INTO inbound_raw (inbound_id, raw) VALUES (1, :raw)"),
                         {"raw": mail.as_bytes()})
            conn.execute(text(
                "INSERT INTO blobs (sha256, size, data, inbound_id, created_at) VALUES "
                "(:sha, :size, NULL, 1, :at), ('lost', 1, NULL, 1, :at)"),
                {"sha": digest, "size": len(photo), "at": NOW})
        with pytest.raises(RuntimeError, match="file lost is not in received mail 1"):
            command.downgrade(config, "0007_raw_apart")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM blobs WHERE sha256 = 'lost'"))
        command.downgrade(config, "0007_raw_apart")
        with engine.connect() as conn:
            assert bytes(conn.execute(text("SELECT data FROM blobs")).scalar_one()) == photo
        assert "inbound_id" not in {c["name"] for c in inspect(engine).get_columns("blobs")}
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
    finally:
        engine.dispose()


def test_among_is_an_in_list_with_one_statement_text(engine) -> None:  # type: ignore[no-untyped-def]
    """`among` finds the same rows as IN on both databases, and on PostgreSQL its statement
    text does not depend on how many values it is given."""
    from sqlalchemy.orm import Session

    from db.inlists import among

    with Session(engine) as session, session.begin():
        for n in range(1, 6):
            session.add(RequestRound(month=f"2027-0{n}", opened_at=NOW))
    texts = set()
    with Session(engine) as session:
        for months in (["2027-02"], ["2027-01", "2027-03", "2027-09"], [f"2027-0{n}" for n in
                                                                         range(1, 10)]):
            query = select(RequestRound.month).where(
                among(session, RequestRound.month, months)).order_by(RequestRound.month)
            assert list(session.scalars(query)) == sorted(set(months) & {
                f"2027-0{n}" for n in range(1, 6)})
            texts.add(str(query.compile(session.get_bind(),
                                        compile_kwargs={"render_postcompile": True})))
    assert len(texts) == (1 if engine.dialect.name == "postgresql" else 3)
    # a value longer than the column (month is VARCHAR(7)) is not cut to match a row
    with Session(engine) as session:
        assert list(session.scalars(select(RequestRound.month).where(
            among(session, RequestRound.month, ["2027-01-extra"])))) == []



def test_new_rows_draw_their_ids_ahead_on_postgresql_and_are_inserted_without_returning(
        engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    from db.ids import draw_ids
    from db.models import Attachment
    from tests.test_telling import Seeder

    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_: statements.append(sql))
    sessions = session_factory(engine)
    postgresql = engine.dialect.name == "postgresql"
    with sessions.begin() as session:
        s = Seeder(session)
        s.department("Bauamt", "bauamt@musterhausen.test")
        earlier = s.topic("Bauamt", "Spatenstich")  # inserted the ordinary way
        inbound = s.inbound()
        topics = [Topic(inbound_id=inbound.id, position=n, department_id=earlier.department_id,
                        status="complete", what=f"Thema {n}", missing=[], created_at=NOW,
                        updated_at=NOW) for n in range(3)]
        files = [Attachment(inbound_id=inbound.id, topic=topics[n], filename=f"f{n}.jpg",
                            content_type="image/jpeg", size=1, created_at=NOW)
                 for n in range(2)]
        session.add_all([*topics, *files])
        statements.clear()
        draw_ids(session, topics)
        draw_ids(session, files)
        draw_ids(session, [])
        drawn = [t.id for t in topics]
        if postgresql:  # in order, after what the sequence gave before
            assert drawn == list(range(earlier.id + 1, earlier.id + 4))
            assert all(f.id is not None for f in files)
        else:  # SQLite: the insert gives them
            assert drawn == [None, None, None] and statements == []
        statements.clear()
        session.flush()
        inserts = [sql for sql in statements if sql.startswith("INSERT INTO topics")]
        assert inserts and all(("RETURNING" in sql) is not postgresql for sql in inserts)
        later = s.topic("Bauamt", "Richtfest")  # the ordinary way again: no clash
    with sessions() as session:
        ids = list(session.scalars(select(Topic.id).order_by(Topic.id)))
        assert len(ids) == len(set(ids)) == 5 and ids[-1] == later.id
        owners = list(session.scalars(select(Attachment.topic_id).order_by(Attachment.id)))
        assert owners == [t.id for t in topics[:2]]
