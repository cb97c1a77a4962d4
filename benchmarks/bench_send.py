"""Benchmark (run by hand): a request round for N contacts through the real Postfix on
loopback, `intake send-requests` end to end, side by side with a bare smtplib loop over one
connection sending the very same bytes.

    .venv/bin/python -m benchmarks.bench_send [--contacts 1000] [--db URL] [--repeat 3]

Each repetition starts from a fresh database (a new SQLite file, or a new PostgreSQL schema
under the given URL) whose contacts were synced beforehand, as `intake contacts sync` does
when the bot is set up; the timed part is what `intake send-requests` does every month: read
and sync the contacts file, open the round, render and queue every request, and deliver the
outbox (several SMTP connections, sending while the round is still being queued). The bare
loop then sends the same bytes over one smtplib connection. The two alternate in order, and
Postfix's queue is empty before each. Prints both per repetition, the CPU time this process
and the mail servers used meanwhile, and the median ratio (above 1.0: intake is faster).
Needs root (it starts its own Postfix + Dovecot, see tests/mailstack.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import smtplib
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from bot.app import App
from bot.rounds import send_requests
from bot.usecases import deliver_outbox, outbox_meanwhile, sync_contacts_file
from db import migrate
from db.models import OutboxMessage
from tests.mailstack import MailStack

NOW = "2027-01-04T08:00:00+01:00"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file); "
                                     "PostgreSQL: a fresh schema per repetition")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="intake-bench-send-"))
    stack = MailStack.start(work)
    ratios: list[float] = []
    try:
        for n in range(args.repeat):
            site = work / f"run{n}"
            site.mkdir()
            with fresh_database(args.db, site) as url:
                ratios.append(run(stack, site, args.contacts, url, bare_first=n % 2 == 1))
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)  # the mailboxes: tens of MB per run
    print(f"median ratio end to end vs bare ({len(ratios)} runs): "
          f"{statistics.median(ratios):.2f}x")


class fresh_database:  # a class used like a function (a context manager)
    """A SQLite file in `site`, or a new schema on the PostgreSQL server (dropped after)."""

    def __init__(self, url: str | None, site: Path) -> None:
        self.url, self.site, self.schema = url, site, f"bench_{uuid.uuid4().hex[:10]}"

    def __enter__(self) -> str:
        if not self.url:
            return f"sqlite:///{self.site / 'bench.db'}"
        engine = create_engine(self.url)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        engine.dispose()
        return make_url(self.url).update_query_dict(
            {"options": f"-csearch_path={self.schema}"}).render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        if self.url:
            engine = create_engine(self.url)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            engine.dispose()


def servers_cpu(stack: MailStack) -> float:
    """CPU seconds Postfix and Dovecot have used so far (their children's included)."""
    ticks = 0
    for pid in stack.pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def write_site(stack: MailStack, site: Path, count: int, db_url: str) -> None:
    # unique addresses via the recipient delimiter: contactN+K lands in contactN's mailbox
    lines = ["contacts:"]
    for k in range(count):
        lines += [f"  - department: Abteilung {k:04d}",
                  f"    email: contact{k % 20 + 1}+{k}@musterhausen.test",
                  f"    salutation: Frau Nummer{k}"]
    (site / "contacts.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (site / "intake.toml").write_text(f"""
[database]
url = "{db_url}"
[mail]
from_address = "bot@musterhausen.test"
from_name = "Social-Media-Team Stadt Musterhausen"
organisation = "Stadt Musterhausen"
[imap]
host = "127.0.0.1"
username = "bot@musterhausen.test"
[officer]
email = "presse@musterhausen.test"
name = "Julia Beispiel"
[smtp]
host = "127.0.0.1"
port = {stack.smtp_port}
security = "none"
username = ""
""", encoding="utf-8")


def run(stack: MailStack, site: Path, count: int, db_url: str, bare_first: bool) -> float:
    write_site(stack, site, count, db_url)
    app = App(config_path=site / "intake.toml", config_explicit=True, now_override=NOW)
    migrate.upgrade(app.engine)
    sync_contacts_file(app)  # `intake contacts sync` at set-up time

    cpu: dict[str, tuple[float, float]] = {}  # (this process, the mail servers), seconds

    def intake() -> tuple[float, float, float]:
        stack.wait_queue_empty(timeout=600)
        own, servers = time.process_time(), servers_cpu(stack)
        t0 = time.perf_counter()
        with outbox_meanwhile(app) as early:  # what `intake send-requests` does
            result = send_requests(app)
            queued = time.perf_counter()
        meanwhile = time.perf_counter()  # the delivery that ran while queuing has ended
        report = deliver_outbox(app, early.report)
        t2 = time.perf_counter()
        cpu["intake"] = (time.process_time() - own, servers_cpu(stack) - servers)
        assert len(result.queued) == count and report.sent == count, (result, report)
        return queued - t0, meanwhile - t0, t2 - t0

    def bare() -> float:
        stack.wait_queue_empty(timeout=600)
        with app.sessions() as session:
            mails = [(row.to_address, row.raw)
                     for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        own, servers = time.process_time(), servers_cpu(stack)
        t0 = time.perf_counter()
        with smtplib.SMTP(stack.host, stack.smtp_port) as smtp:
            for to, raw in mails:
                smtp.sendmail("bot@musterhausen.test", [to], raw)
        elapsed = time.perf_counter() - t0
        cpu["bare"] = (time.process_time() - own, servers_cpu(stack) - servers)
        return elapsed

    if bare_first:
        # the bare loop needs the bytes: queue them once in a throw-away round first
        with outbox_meanwhile(app, enabled=False):
            send_requests(app, "2026-12", force=True)
        bare_s = bare()
        with app.sessions.begin() as session:
            session.execute(OutboxMessage.__table__.delete())
        (queued_s, meanwhile_s, total_s) = intake()
    else:
        (queued_s, meanwhile_s, total_s) = intake()
        bare_s = bare()
    stack.wait_queue_empty(timeout=600)
    app.close()

    ratio = bare_s / total_s
    print(f"{count} contacts, {db_url.split('://')[0].split('+')[0]}, "
          f"{'bare first' if bare_first else 'intake first'}:")
    print(f"  intake send-requests end to end: {total_s:6.2f} s {count / total_s:7.1f} mails/s "
          f"(round queued after {queued_s:.2f} s, delivered meanwhile by {meanwhile_s:.2f} s)")
    print(f"  bare smtplib, one connection:    {bare_s:6.2f} s {count / bare_s:7.1f} mails/s")
    print(f"  ratio end to end vs bare:        {ratio:6.2f}x")
    for name, wall in (("intake", total_s), ("bare", bare_s)):
        own, servers = cpu[name]
        print(f"  CPU during {name + ':':7}  {own:5.2f} s client, {servers:5.2f} s mail "
              f"servers, of {2 * wall:5.2f} s on 2 cores; load {os.getloadavg()[0]:.1f}")
    sys.stdout.flush()
    return ratio


if __name__ == "__main__":
    main()
