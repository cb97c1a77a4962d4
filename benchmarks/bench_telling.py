"""Benchmark (run by hand): the officer's digest and the year's plan for a busy town hall.

    .venv/bin/python -m benchmarks.bench_telling [--topics 5000] [--departments 40]
        [--db URL] [--pg] [--repeat 3]

Seeds a database (default: a temporary SQLite file; --db any URL, --pg also a fresh schema
on the test PostgreSQL, INTAKE_TEST_PG_URL) with N topics over half a year from D
departments of very different diligence (Zipf-like: a few send most), with attachments,
follow-ups, two request rounds and set-aside mail, then times (best of --repeat):

- digest: select, rank, render the week's digest and its calendar attachment (preview);
- digest --send: the same plus the digest row and the outbox row, one transaction;
- export ics / csv / html: the year's plan;
- agenda (Markdown) and the contacts overview.

Target: each under 1 s for 5,000 topics across 40 departments.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, delete, insert, text
from sqlalchemy.engine import make_url

from bot.app import App
from bot.telling import agenda, contacts, export
from bot.telling import digest as weekly
from db import migrate
from db.models import (
    Attachment,
    Contact,
    Department,
    Digest,
    FollowUp,
    InboundMessage,
    OutboxMessage,
    Request,
    RequestRound,
    Topic,
)

BERLIN = ZoneInfo("Europe/Berlin")
#: a Monday in June, after the digest time: week 2027-W24
NOW = datetime(2027, 6, 14, 9, 0, tzinfo=BERLIN)
WEEK = "2027-W24"
PG_URL = os.environ.get("INTAKE_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WORDS = ["Spatenstich", "Lesenacht", "Stadtfest", "Sprechstunde", "Baumpflanzung",
         "Ferienspiele", "Konzert", "Sanierung", "Einweihung", "Infoabend", "Markt",
         "Ausstellung", "Workshop", "Jubiläum", "Übung", "Sperrung"]


def write_config(work: Path, db_url: str) -> Path:
    (work / "contacts.yaml").write_text(
        "contacts:\n  - department: Bauamt\n    email: a@musterhausen.test\n", encoding="utf-8")
    path = work / "intake.toml"
    path.write_text(f"""
[database]
url = "{db_url}"
[mail]
from_address = "bot@musterhausen.test"
from_name = "Social-Media-Team"
organisation = "Stadt Musterhausen"
[imap]
host = "127.0.0.1"
username = "bot@musterhausen.test"
[smtp]
host = "127.0.0.1"
port = 1
security = "none"
username = ""
[officer]
email = "officer@musterhausen.test"
name = "Julia Beispiel"
""", encoding="utf-8")
    return path


def seed(app: App, topics: int, departments: int, rng: random.Random) -> None:
    """Bulk inserts (Core), as many rows as listening and asking would have written."""
    created = NOW - timedelta(days=200)
    weights = [1 / (rank + 1) for rank in range(departments)]  # a few busy, many quiet
    with app.sessions.begin() as session:
        dept_rows = [{"id": i + 1, "name": f"Fachbereich {i + 1:02d}", "active": True,
                      "created_at": created} for i in range(departments)]
        session.execute(insert(Department), dept_rows)
        contact_rows = []
        for i in range(departments):
            contact_rows.append({"id": i + 1, "department_id": i + 1, "role": "primary",
                                 "email": f"kontakt{i + 1}@musterhausen.test",
                                 "name": f"Kontakt {i + 1}", "active": True,
                                 "created_at": created, "updated_at": created,
                                 "bounced_at": NOW - timedelta(days=3) if i % 13 == 5 else None,
                                 "bounce_reason": "550 5.1.1 unknown" if i % 13 == 5 else None})
            contact_rows.append({"id": departments + i + 1, "department_id": i + 1,
                                 "role": "deputy", "email": f"vertretung{i + 1}@musterhausen.test",
                                 "name": None, "active": True, "created_at": created,
                                 "updated_at": created, "bounced_at": None,
                                 "bounce_reason": None})
        session.execute(insert(Contact), contact_rows)
        inbound_rows, topic_rows, attachment_rows, followup_rows = [], [], [], []
        for n in range(1, topics + 1):
            dept = rng.choices(range(1, departments + 1), weights)[0]
            received = NOW - timedelta(minutes=rng.randint(1, 26 * 7 * 24 * 60))
            raw = f"Message-ID: <b{n}@bench>\r\n\r\n".encode()
            inbound_rows.append({"id": n, "message_id": f"<b{n}@bench>", "folder": "INBOX",
                                 "uidvalidity": 1, "uid": n,
                                 "sha256": hashlib.sha256(raw).hexdigest(), "raw": raw,
                                 "size": len(raw), "received_at": received,
                                 "status": "processed", "automatic": False, "attempts": 1,
                                 "from_address": f"kontakt{dept}@musterhausen.test",
                                 "subject": "AW: Ihre Themen", "contact_id": dept})
            start = None if rng.random() < 0.05 else date(2027, 1, 1) + timedelta(
                days=rng.randint(0, 364))
            missing = rng.sample(["when", "where", "who"], rng.choice([0, 0, 0, 0, 1, 2]))
            if start is None and "when" not in missing:
                missing.append("when")
            topic_rows.append({
                "id": n, "inbound_id": n, "position": 0, "department_id": dept,
                "contact_id": dept, "status": "incomplete" if missing else "complete",
                "what": f"{rng.choice(WORDS)} {n}", "when_text": start and start.isoformat(),
                "when_start": start,
                "when_end": start + timedelta(days=2) if start and n % 17 == 0 else None,
                "when_time": "10:00" if n % 3 == 0 else None,
                "where": None if "where" in missing else f"Ort {n % 50}",
                "who": None if "who" in missing else "Bürgermeisterin",
                "how_many_text": "ca. 50" if n % 4 == 0 else None,
                "quote": "Wir freuen uns auf Sie." if n % 5 < 2 else None, "missing": missing,
                "created_at": received, "updated_at": received,
                "escalated_at": NOW if missing and n % 7 == 0 else None})
            if n % 10 < 3:
                attachment_rows.append({"inbound_id": n, "topic_id": n,
                                        "filename": f"foto{n}.jpg",
                                        "content_type": "image/jpeg", "size": 100000,
                                        "sha256": None, "created_at": received})
            if missing and n % 7 != 0:
                followup_rows.append({"topic_id": n, "contact_id": dept, "fields": missing,
                                      "created_at": received + timedelta(hours=3),
                                      "answered_at": None})
        for table, rows in ((InboundMessage, inbound_rows), (Topic, topic_rows),
                            (Attachment, attachment_rows), (FollowUp, followup_rows)):
            for start in range(0, len(rows), 1000):
                session.execute(insert(table), rows[start:start + 1000])
        for k, month in enumerate(("2027-05", "2027-06")):
            session.execute(insert(RequestRound), [{"id": k + 1, "month": month,
                                                    "opened_at": NOW - timedelta(days=40 - 30 * k),
                                                    "deadline": date(2027, 5 + k, 14)}])
            session.execute(insert(Request), [{
                "round_id": k + 1, "contact_id": i, "department_id": i,
                "tag": f"B{k}{i:03d}", "message_id": f"<r{k}.{i}@bench>",
                "status": rng.choice(["answered", "answered", "sent", "no_topics"]),
                "created_at": NOW - timedelta(days=40 - 30 * k),
                "sent_at": NOW - timedelta(days=40 - 30 * k), "answered_at": None,
                "reminders_sent": 0} for i in range(1, departments + 1)])
        session.execute(insert(InboundMessage), [{
            "id": topics + n, "message_id": f"<q{n}@bench>", "folder": "INBOX", "uidvalidity": 1,
            "uid": topics + n, "sha256": "0" * 64, "raw": b"x", "size": 1,
            "received_at": NOW - timedelta(days=n), "automatic": False, "attempts": 1,
            "status": ("quarantined", "unrecognized", "failed")[n % 3],
            "from_address": f"fremd{n}@example.org", "subject": f"Anfrage {n}",
            "error": "unknown sender"} for n in range(1, 41)])


def best_of(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def run(db_url: str, label: str, topics: int, departments: int, repeat: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="intake-bench-telling-"))
    app = App(config_path=write_config(work, db_url), config_explicit=True,
              now_override=NOW.isoformat())
    try:
        migrate.upgrade(app.engine)
        started = time.perf_counter()
        seed(app, topics, departments, random.Random(20270614))
        print(f"{label}: seeded {topics} topics, {departments} departments in "
              f"{time.perf_counter() - started:.1f} s")

        def send() -> None:
            with app.sessions.begin() as session:  # a fresh week each time
                session.execute(delete(Digest))
                session.execute(delete(OutboxMessage))
            assert weekly.send(app, WEEK, NOW).queued

        built = weekly.preview(app, WEEK, NOW)
        figures = {
            "digest (preview)": best_of(repeat, lambda: weekly.preview(app, WEEK, NOW)),
            "digest --send (queue)": best_of(repeat, send),
            "export ics": best_of(repeat, lambda: export.year_plan(app, "ics", 2027, NOW)),
            "export csv": best_of(repeat, lambda: export.year_plan(app, "csv", 2027, NOW)),
            "export html": best_of(repeat, lambda: export.year_plan(app, "html", 2027, NOW)),
            "agenda md": best_of(repeat, lambda: agenda.render(app, "2027-07", "md", NOW)),
            "contacts list": best_of(repeat, lambda: _contacts(app)),
        }
        ics = export.year_plan(app, "ics", 2027, NOW)
        print(f"{label}: digest has {built.new_count} new topics ({len(built.rendered.html)} "
              f"bytes HTML, {len(built.attachment[2]) if built.attachment else 0} bytes ICS "
              f"attached); the year's ICS {ics.topics} events, {len(ics.data)} bytes")
        for name, seconds in figures.items():
            mark = "" if seconds < 1.0 else "   <-- over 1 s"
            print(f"  {name:24} {seconds * 1000:8.0f} ms{mark}")
    finally:
        app.close()


def _contacts(app: App) -> None:
    with app.sessions() as session:
        contacts.lines(contacts.overview(session, 2027, app.tz), app.tz, 2027)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=5000)
    parser.add_argument("--departments", type=int, default=40)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--pg", action="store_true",
                        help="also on a fresh schema of the test PostgreSQL")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="intake-bench-telling-db-"))
    url = args.db or f"sqlite:///{work / 'bench.db'}"
    run(url, make_url(url).get_backend_name(), args.topics, args.departments, args.repeat)
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            pg = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
            run(pg.render_as_string(hide_password=False), "postgresql", args.topics,
                args.departments, args.repeat)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()

