"""`intake health` on the real stack: the outbox tick and the mailbox pass, both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import usecases
from bot.app import App
from bot.daemon import JOBS
from bot.health import worker_name
from db.heartbeats import last_beat
from tests.mailstack import MailStack
from tests.test_asking import intake, make_site

START = "2027-01-05T10:00:00+01:00"
ENV = {"TEST_IMAP_PW": "secret"}


@pytest.fixture
def site(tmp_path: Path, clean_mailboxes: MailStack, db_url: str) -> Path:
    return make_site(tmp_path, clean_mailboxes, db_url)


def test_health_needs_an_outbox_tick_and_a_mailbox_pass_both_recent(site: Path) -> None:
    result = intake(site, "health", now=START)
    assert result.exit_code == 1
    assert result.stdout.strip() == (
        f"unhealthy: no outbox tick recorded for this worker ({worker_name()}); is `intake "
        f"run` running here?; the mailbox INBOX was never read")

    # the daemon's outbox job: an (empty) delivery that reached no server still counts,
    # as nothing was due
    assert JOBS["outbox"][0] is usecases.outbox_tick
    app = App(config_path=site / "intake.toml", config_explicit=True, now_override=START)
    usecases.outbox_tick(app)
    with app.sessions() as session:
        assert last_beat(session, "outbox", worker_name()) is not None
    app.close()
    assert intake(site, "poll", "--once", now=START, env=ENV).exit_code == 0

    result = intake(site, "health", now="2027-01-05T10:01:30+01:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ("healthy: last outbox tick 90 s ago, last mailbox pass "
                                     "90 s ago (INBOX)")
    # three minutes on: the outbox stopped ticking (limit 120 s), the poll is still fine
    result = intake(site, "health", now="2027-01-05T10:03:00+01:00")
    assert result.exit_code == 1
    assert result.stdout.strip() == (f"unhealthy: last outbox tick 3 min ago (limit 120 s; "
                                     f"worker {worker_name()}); last mailbox pass 3 min ago "
                                     f"(INBOX)")
    result = intake(site, "health", "--max-age", "3600", now="2027-01-05T10:30:00+01:00")
    assert result.exit_code == 0, result.output
    result = intake(site, "health", now="2027-01-05T10:30:00+01:00")
    assert result.exit_code == 1
    assert "last mailbox pass 30 min ago (limit 360 s; folder INBOX)" in result.stdout


def test_a_tick_that_cannot_reach_the_server_is_no_heartbeat(
        site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_SMTP__PORT", "1")  # nothing listens there
    assert intake(site, "send-requests", now=START).exit_code == 1  # queued, not sent
    app = App(config_path=site / "intake.toml", config_explicit=True,
              now_override="2027-01-05T12:00:00+01:00")
    usecases.outbox_tick(app)
    with app.sessions() as session:
        assert last_beat(session, "outbox", worker_name()) is None
    app.close()


def test_an_unmigrated_database_is_unhealthy_in_one_line(site: Path) -> None:
    result = intake(site, "health", now=START, env={
        "INTAKE_DATABASE__URL": f"sqlite:///{site / 'other.db'}"})
    assert result.exit_code == 1
    assert result.stdout.startswith("unhealthy: database sqlite:///")
    assert "is at schema none, expected " in result.stdout
    assert result.stdout.strip().endswith(": run `intake db upgrade`")
