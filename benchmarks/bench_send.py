"""Benchmark (run by hand): queue and send monthly requests for N contacts through the real
Postfix on loopback, side by side with a bare smtplib loop over one connection.

    .venv/bin/python -m benchmarks.bench_send [--contacts 2000] [--db URL]

Prints the time to queue (render + outbox rows), the time to deliver (outbox -> SMTP), the
end-to-end mails/s, the bare smtplib mails/s for the very same bytes, and their ratio.
Needs root (it starts its own Postfix + Dovecot, see tests/mailstack.py).
"""

from __future__ import annotations

import argparse
import smtplib
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from bot.app import App
from bot.rounds import send_requests
from bot.usecases import deliver_outbox
from db import migrate
from db.models import OutboxMessage
from tests.mailstack import MailStack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="intake-bench-send-"))
    stack = MailStack.start(work)
    try:
        run(stack, work, args.contacts, args.db or f"sqlite:///{work / 'bench.db'}")
    finally:
        stack.stop()


def run(stack: MailStack, work: Path, count: int, db_url: str) -> None:
    # unique addresses via the recipient delimiter: contactN+K lands in contactN's mailbox
    lines = ["contacts:"]
    for k in range(count):
        lines += [f"  - department: Abteilung {k:04d}",
                  f"    email: contact{k % 20 + 1}+{k}@musterhausen.test",
                  f"    salutation: Frau Nummer{k}"]
    (work / "contacts.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (work / "intake.toml").write_text(f"""
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
    app = App(config_path=work / "intake.toml", config_explicit=True,
              now_override="2027-01-04T08:00:00+01:00")
    migrate.upgrade(app.engine)

    t0 = time.perf_counter()
    result = send_requests(app)
    t1 = time.perf_counter()
    report = deliver_outbox(app)
    t2 = time.perf_counter()
    assert len(result.queued) == count and report.sent == count, (len(result.queued), report)
    stack.wait_queue_empty(timeout=600)

    with app.sessions() as session:
        mails = [(row.to_address, row.raw) for row in session.scalars(select(OutboxMessage))]
    t3 = time.perf_counter()
    with smtplib.SMTP(stack.host, stack.smtp_port) as smtp:
        for to, raw in mails:
            smtp.sendmail("bot@musterhausen.test", [to], raw)
    t4 = time.perf_counter()
    stack.wait_queue_empty(timeout=600)
    app.close()

    queue_s, send_s, bare_s = t1 - t0, t2 - t1, t4 - t3
    print(f"contacts:                  {count}")
    print(f"database:                  {db_url.split('://')[0]}")
    print(f"queue (render + rows):     {queue_s:7.2f} s  {count / queue_s:8.1f} mails/s")
    print(f"deliver (outbox -> SMTP):  {send_s:7.2f} s  {count / send_s:8.1f} mails/s")
    print(f"intake end to end:         {queue_s + send_s:7.2f} s  "
          f"{count / (queue_s + send_s):8.1f} mails/s")
    print(f"bare smtplib, 1 connection:{bare_s:7.2f} s  {count / bare_s:8.1f} mails/s")
    print(f"ratio end to end / bare:   {(queue_s + send_s) / bare_s:7.2f}x")
    print(f"ratio deliver / bare:      {send_s / bare_s:7.2f}x")


if __name__ == "__main__":
    main()
