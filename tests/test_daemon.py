"""`intake run`: the pure triggers with explicit datetimes, and the daemon itself on a real
App with a real (temporary SQLite) configuration, started and stopped for real."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import bot.usecases
from bot.app import App
from bot.cli import cli
from bot.daemon import (
    JOBS,
    MonthlyRequestTrigger,
    UseCaseJob,
    WeeklyDigestTrigger,
    WorkingDayIntervalTrigger,
    build_scheduler,
    run_daemon,
)
from bot.errors import UserError
from db.models import Department, OutboxMessage, Request, RequestRound

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def same_instant(a: datetime | None, b: datetime) -> bool:
    return a is not None and a.astimezone(UTC) == b.astimezone(UTC)


# --- triggers (pure) -----------------------------------------------------------------------

@pytest.mark.parametrize(("previous", "now", "expected"), [
    # first call: the first request time at or after now
    (None, berlin(2026, 10, 15, 12, 0), berlin(2026, 11, 2, 8, 0)),   # over the October change
    (None, berlin(2027, 1, 4, 8, 0), berlin(2027, 1, 4, 8, 0)),       # exactly now
    (None, berlin(2027, 1, 4, 8, 0, 1), berlin(2027, 2, 1, 8, 0)),
    (None, berlin(2027, 1, 1, 0, 0), berlin(2027, 1, 4, 8, 0)),       # Neujahr, a weekend
    (None, berlin(2026, 4, 20, 9, 0), berlin(2026, 5, 4, 8, 0)),      # Fri 1 May -> Monday
    # after a fire: the next month's, strictly after the previous fire
    (berlin(2026, 11, 2, 8, 0), berlin(2026, 11, 2, 8, 0, 1), berlin(2026, 12, 1, 8, 0)),
    (berlin(2026, 12, 1, 8, 0), berlin(2026, 12, 1, 8, 0, 1), berlin(2027, 1, 4, 8, 0)),
    (berlin(2027, 3, 1, 8, 0), berlin(2027, 3, 1, 8, 0, 1), berlin(2027, 4, 1, 8, 0)),  # DST
    (berlin(2027, 10, 1, 8, 0), berlin(2027, 10, 1, 9, 0), berlin(2027, 11, 2, 8, 0)),  # 1 Nov
    # missed fires (the machine was off): strictly after previous, APScheduler coalesces
    (berlin(2026, 11, 2, 8, 0), berlin(2027, 2, 10, 0, 0), berlin(2026, 12, 1, 8, 0)),
])
def test_monthly_request_trigger(previous: datetime | None, now: datetime,
                                 expected: datetime) -> None:
    trigger = MonthlyRequestTrigger(BERLIN, "NW", "08:00")
    result = trigger.get_next_fire_time(previous, now)
    assert same_instant(result, expected)
    assert (result.hour, result.minute) == (8, 0)  # 08:00 on the wall clock, summer or winter


def test_monthly_request_trigger_state_and_time() -> None:
    trigger = MonthlyRequestTrigger(BERLIN, "NI", "09:15")
    result = trigger.get_next_fire_time(None, berlin(2027, 10, 20, 12, 0))
    assert same_instant(result, berlin(2027, 11, 1, 9, 15))  # 1 Nov is no holiday in NI
    assert "09:15" in str(trigger)


def test_monthly_request_trigger_rejects_bad_time() -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        MonthlyRequestTrigger(BERLIN, "NW", "8 Uhr")


@pytest.mark.parametrize(("weekday", "previous", "now", "expected"), [
    ("mon", None, berlin(2027, 1, 3, 12, 0), berlin(2027, 1, 4, 7, 30)),
    ("mon", None, berlin(2027, 1, 4, 7, 30), berlin(2027, 1, 4, 7, 30)),
    ("mon", berlin(2027, 1, 4, 7, 30), berlin(2027, 1, 4, 7, 30, 1), berlin(2027, 1, 11, 7, 30)),
    # Easter Monday: Tuesday instead (and summer time since Sunday)
    ("mon", None, berlin(2027, 3, 28, 12, 0), berlin(2027, 3, 30, 7, 30)),
    ("mon", berlin(2027, 3, 30, 7, 30), berlin(2027, 3, 30, 8, 0), berlin(2027, 4, 5, 7, 30)),
    # Whit Monday 2027-05-17
    ("mon", berlin(2027, 5, 10, 7, 30), berlin(2027, 5, 10, 8, 0), berlin(2027, 5, 18, 7, 30)),
    # winter time from Sunday 2026-10-25
    ("mon", berlin(2026, 10, 19, 7, 30), berlin(2026, 10, 19, 8, 0),
     berlin(2026, 10, 26, 7, 30)),
    # Friday digest: Christmas Day moves it to Monday, New Year's Day to the next Monday
    ("fri", berlin(2026, 12, 18, 7, 30), berlin(2026, 12, 18, 8, 0),
     berlin(2026, 12, 28, 7, 30)),
    ("fri", berlin(2026, 12, 28, 7, 30), berlin(2026, 12, 28, 8, 0),
     berlin(2027, 1, 4, 7, 30)),
    ("fri", berlin(2027, 1, 4, 7, 30), berlin(2027, 1, 4, 8, 0), berlin(2027, 1, 8, 7, 30)),
    # Good Friday 2027 moves into the next week, on Tuesday after Easter Monday
    ("fri", None, berlin(2027, 3, 26, 9, 0), berlin(2027, 3, 30, 7, 30)),
    ("fri", berlin(2027, 3, 30, 7, 30), berlin(2027, 3, 30, 8, 0), berlin(2027, 4, 2, 7, 30)),
])
def test_weekly_digest_trigger(weekday: str, previous: datetime | None, now: datetime,
                               expected: datetime) -> None:
    trigger = WeeklyDigestTrigger(BERLIN, weekday, "07:30", "NW")
    result = trigger.get_next_fire_time(previous, now)
    assert same_instant(result, expected)
    assert (result.hour, result.minute) == (7, 30)


def test_weekly_digest_trigger_rejects_bad_weekday() -> None:
    with pytest.raises(ValueError, match="not a weekday"):
        WeeklyDigestTrigger(BERLIN, "montag", "07:30", "NW")


@pytest.mark.parametrize(("previous", "now", "expected"), [
    (None, berlin(2027, 1, 4, 10, 7), berlin(2027, 1, 4, 10, 15)),
    (None, berlin(2027, 1, 4, 10, 15), berlin(2027, 1, 4, 10, 15)),
    (berlin(2027, 1, 4, 10, 15), berlin(2027, 1, 4, 10, 15, 1), berlin(2027, 1, 4, 10, 30)),
    (berlin(2027, 1, 8, 23, 45), berlin(2027, 1, 8, 23, 45, 1), berlin(2027, 1, 11, 0, 0)),
    # New Year's Day and the weekend after it
    (berlin(2026, 12, 31, 23, 45), berlin(2026, 12, 31, 23, 46), berlin(2027, 1, 4, 0, 0)),
    # the day of the change to summer time is a Sunday, the next day Easter Monday
    (None, berlin(2027, 3, 28, 12, 0), berlin(2027, 3, 30, 0, 0)),
    # Fronleichnam in NW
    (None, berlin(2027, 5, 27, 9, 0), berlin(2027, 5, 28, 0, 0)),
])
def test_working_day_interval_trigger(previous: datetime | None, now: datetime,
                                      expected: datetime) -> None:
    trigger = WorkingDayIntervalTrigger(15, BERLIN, "NW")
    assert same_instant(trigger.get_next_fire_time(previous, now), expected)


# --- the daemon on a real App --------------------------------------------------------------

class Records(logging.Handler):
    """Collects bot.daemon's records; `started` is set when the scheduler has started."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.started = threading.Event()
        #: (handler to expect, event): once started, send SIGTERM if the daemon's handler
        #: is installed, else set the event (never kill the test run with a default SIGTERM)
        self.sigterm_when_started: tuple[object, threading.Event] | None = None
        self.handler_installed = False

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.getMessage().startswith("scheduler started"):
            self.started.set()
            if self.sigterm_when_started is not None:
                previous, stop = self.sigterm_when_started
                self.handler_installed = signal.getsignal(signal.SIGTERM) is not previous
                if self.handler_installed:
                    os.kill(os.getpid(), signal.SIGTERM)
                else:
                    stop.set()

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@pytest.fixture
def records() -> Iterator[Records]:
    logger = logging.getLogger("intake")
    handler = Records()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`intake init` in a temp dir; mail servers point at a closed loopback port, so no
    job can reach the network; the database is migrated."""
    for key, value in {
        "INTAKE_SMTP__HOST": "127.0.0.1", "INTAKE_SMTP__PORT": "1",
        "INTAKE_SMTP__SECURITY": "none", "INTAKE_SMTP__TIMEOUT": "2",
        "INTAKE_IMAP__HOST": "127.0.0.1", "INTAKE_IMAP__PORT": "1",
        "INTAKE_IMAP__SECURITY": "none", "INTAKE_IMAP__TIMEOUT": "2",
        "INTAKE_SMTP_PASSWORD": "x", "INTAKE_IMAP_PASSWORD": "x",
    }.items():
        monkeypatch.setenv(key, value)
    _invoke("init", str(tmp_path))
    # the example departments, at a domain of our own (the example town's is never mailed)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(contacts.read_text(encoding="utf-8").replace(
        "@musterhausen.de", "@musterhausen.test"), encoding="utf-8")
    path = tmp_path / "intake.toml"
    _invoke("--config", str(path), "db", "upgrade")
    return path


def _app(config: Path) -> App:
    return App(config_path=config, config_explicit=True, now_override="2027-01-04T09:00")


def test_daemon_catches_up_and_stops_on_the_event(config: Path, records: Records) -> None:
    app = _app(config)
    stop = threading.Event()
    errors: list[BaseException] = []
    sigterm_before = signal.getsignal(signal.SIGTERM)

    def target() -> None:
        try:
            run_daemon(app, stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="intake-run-test")
    thread.start()
    try:
        assert records.started.wait(timeout=60), records.messages()
    finally:
        stop.set()
        thread.join(timeout=60)
        app.close()
    assert not thread.is_alive()
    assert errors == []
    messages = records.messages()
    started = next(i for i, m in enumerate(messages) if m.startswith("scheduler started"))
    assert messages.index("catching up (monthly requests, weekly digest)") < started
    # the triggers use the real clock, so the announced times vary; they must be times
    assert "next requests: " in messages[started] and "next digest: " in messages[started]
    assert "next requests: none" not in messages[started]
    # nothing the catch-up ran raised
    catch_up = records.records[:started]
    assert [r.getMessage() for r in catch_up if r.levelno >= logging.ERROR] == []
    assert messages[-1] == "stopped"
    # not the main thread: the signal handlers were left alone
    assert signal.getsignal(signal.SIGTERM) is sigterm_before


def test_daemon_stops_gracefully_on_sigterm(config: Path, records: Records) -> None:
    """Runs in the main thread: SIGTERM (sent once the scheduler has started) stops it,
    and the previous handler is back afterwards."""
    app = _app(config)
    sigterm_before = signal.getsignal(signal.SIGTERM)
    fallback_stop = threading.Event()  # set only if no handler was installed (a failure)
    records.sigterm_when_started = (sigterm_before, fallback_stop)
    try:
        run_daemon(app, fallback_stop)
    finally:
        app.close()
    assert records.handler_installed
    messages = records.messages()
    assert any(m.startswith("SIGTERM received") for m in messages)
    assert messages[-1] == "stopped"
    assert signal.getsignal(signal.SIGTERM) is sigterm_before


def _counts(app: App) -> tuple[int, int, int]:
    with app.sessions() as session:
        return (session.scalar(select(func.count()).select_from(RequestRound)) or 0,
                session.scalar(select(func.count()).select_from(Request)) or 0,
                session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def test_catch_up_on_restart_happens_exactly_once(config: Path, records: Records) -> None:
    """Set up in December, down at 08:00 on 2027-01-04, started at 09:00: the catch-up
    opens January's round; a second start finds nothing to do. (The stop event is set
    before the start, so each run is the catch-up alone.)"""
    _invoke("--config", str(config), "--now", "2026-12-30T10:00", "contacts", "sync")
    app = _app(config)
    try:
        stop = threading.Event()
        stop.set()
        run_daemon(app, stop)
        first = _counts(app)
        run_daemon(app, stop)
        second = _counts(app)
    finally:
        app.close()
    rounds, requests, outbox = first
    assert rounds == 1
    assert requests > 0
    assert outbox >= requests
    assert second == first
    messages = records.messages()
    assert messages[0] == "first start: the first request round (2027-01) goes out now"
    assert messages[1] == "catching up (monthly requests, weekly digest)"
    assert messages[-1] == "stopped before the scheduler started"
    assert "first start" not in " ".join(messages[2:])  # the second start is none
    assert not records.started.is_set()


def _catch_up_at(config: Path, now: str) -> tuple[int, int, int]:
    """Start the daemon at `now` for its catch-up alone; the counts afterwards."""
    app = App(config_path=config, config_explicit=True, now_override=now)
    stop = threading.Event()
    stop.set()
    try:
        run_daemon(app, stop)
        return _counts(app)
    finally:
        app.close()


def _tick(config: Path, now: str, function: str) -> tuple[int, int, int]:
    """One run of a scheduler job at `now`; the counts afterwards."""
    app = App(config_path=config, config_explicit=True, now_override=now)
    try:
        UseCaseJob(app, getattr(bot.usecases, function), function)()
        return _counts(app)
    finally:
        app.close()


def test_a_first_start_on_30_december_asks_nobody_until_january(config: Path,
                                                                 records: Records) -> None:
    assert _catch_up_at(config, "2026-12-30T10:00") == (0, 0, 0)
    assert records.messages()[0] == ("first start: the first request round will go out on "
                                     "Monday, 4 January 2027 at 08:00")
    # neither the working-day job (every 15 minutes) nor a restart starts a round early
    assert _tick(config, "2026-12-31T10:00", "run_reminders_and_followups") == (0, 0, 0)
    assert _catch_up_at(config, "2027-01-04T07:45") == (0, 0, 0)
    assert records.messages().count("first start: the first request round will go out on "
                                    "Monday, 4 January 2027 at 08:00") == 2
    rounds, requests, _ = _tick(config, "2027-01-04T08:00", "run_monthly_requests")
    assert (rounds, requests) == (1, 4)  # the four active departments of `intake init`
    app = _app(config)
    with app.sessions() as session:
        assert session.scalars(select(RequestRound.month)).all() == ["2027-01"]
    app.close()


@pytest.mark.parametrize(("now", "first"), [
    ("2027-01-04T07:00", "Monday, 4 January 2027 at 08:00"),  # the first working day, early
    ("2027-01-04T09:00", "Monday, 1 February 2027 at 08:00"),  # ... after the request time
    ("2027-04-20T09:00", "Monday, 3 May 2027 at 08:00"),       # 1 May is a holiday
])
def test_a_first_start_names_the_first_regular_round(config: Path, records: Records, now: str,
                                                     first: str) -> None:
    assert _catch_up_at(config, now) == (0, 0, 0)
    assert records.messages()[0] == f"first start: the first request round will go out on {first}"


DEPARTMENTS = "contacts:\n" + "".join(
    f"  - department: {name}\n    email: {name.lower()}@musterhausen.test\n"
    for name in ("Bauamt", "Kulturamt", "Schulamt"))


def test_the_daemon_refuses_a_sync_that_deactivates_most_departments(
        config: Path, records: Records) -> None:
    contacts = config.parent / "contacts.yaml"
    contacts.write_text(DEPARTMENTS, encoding="utf-8")
    _invoke("--config", str(config), "--now", "2026-12-30T10:00", "contacts", "sync")
    contacts.write_text(DEPARTMENTS.split("  - department: Kulturamt")[0], encoding="utf-8")
    for now in ("2027-01-04T08:00", "2027-01-04T08:15", "2027-01-04T08:30"):
        assert _tick(config, now, "run_reminders_and_followups") == (0, 0, 0)
    errors = [r.getMessage() for r in records.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors  # said once, not every 15 minutes
    assert errors[0].startswith(f"requests for 2027-01 not sent: {contacts}: this file would "
                                f"deactivate 2 of 3 active departments (Kulturamt, Schulamt); "
                                f"nothing was changed.")
    app = _app(config)
    with app.sessions() as session:
        assert session.scalars(select(Department.active)).all() == [True, True, True]
    app.close()
    # confirmed by hand, the next tick sends the round to the one department left
    _invoke("--config", str(config), "--now", "2027-01-04T08:40", "contacts", "sync", "--yes")
    assert _tick(config, "2027-01-04T08:45", "run_reminders_and_followups")[:2] == (1, 1)


def test_daemon_refuses_an_unmigrated_database(tmp_path: Path, records: Records) -> None:
    _invoke("init", str(tmp_path))
    app = _app(tmp_path / "intake.toml")
    try:
        with pytest.raises(UserError, match="intake db upgrade"):
            run_daemon(app, threading.Event())
    finally:
        app.close()
    assert records.records == []


def test_scheduler_jobs_and_their_settings(config: Path) -> None:
    app = _app(config)
    try:
        jobs = {job_id: UseCaseJob(app, function, description)
                for job_id, (function, description) in JOBS.items()}
        scheduler = build_scheduler(app, jobs)
        scheduler.start(paused=True)  # applies the job defaults; paused: nothing runs
        added = {job.id: job for job in scheduler.get_jobs()}
        scheduler.shutdown(wait=True)
    finally:
        app.close()
    assert set(added) == set(JOBS)
    assert str(scheduler.timezone) == "Europe/Berlin"
    for job in added.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)
    assert isinstance(added["monthly-requests"].trigger, MonthlyRequestTrigger)
    assert isinstance(added["weekly-digest"].trigger, WeeklyDigestTrigger)
    assert isinstance(added["reminders-followups"].trigger, WorkingDayIntervalTrigger)
    assert added["outbox"].trigger.interval.total_seconds() == 30


def test_every_job_is_a_use_case() -> None:
    """The daemon's contract with bot.usecases: each job calls one of its functions."""
    for function, description in JOBS.values():
        assert getattr(bot.usecases, function.__name__) is function
        assert description.startswith("the ")


def test_job_logs_a_user_error_in_one_line(config: Path, records: Records) -> None:
    (config.parent / "contacts.yaml").unlink()  # the use case then raises UserError
    app = _app(config)
    try:
        UseCaseJob(app, bot.usecases.sync_contacts_file, "the contacts sync")()
    finally:
        app.close()
    [record] = [r for r in records.records if r.levelno >= logging.ERROR]
    assert record.getMessage().startswith("the contacts sync failed: ")
    assert "contacts.yaml" in record.getMessage()
    assert record.exc_info is None


def test_job_logs_an_unexpected_error_and_keeps_going(tmp_path: Path, records: Records) -> None:
    _invoke("init", str(tmp_path))  # not migrated: the use case hits a missing table
    app = _app(tmp_path / "intake.toml")
    job = UseCaseJob(app, bot.usecases.sync_contacts_file, "the contacts sync")
    try:
        job()
        job()  # a second run is attempted and logged again: the job is not disabled
    finally:
        app.close()
    errors = [r for r in records.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    assert errors[0].getMessage().startswith("the contacts sync failed: ")
    assert "OperationalError" in errors[0].getMessage()
    assert errors[0].exc_info is not None  # a bug or outage: the traceback is in the log
