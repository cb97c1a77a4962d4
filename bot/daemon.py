"""`intake run`: the scheduler that asks, listens, reminds and reports until it is stopped.

The jobs are thin: each calls one use case in `bot.usecases` and nothing else. Durable
state lives in the bot's own tables (rounds, outbox, inbound mail), and the use cases are
idempotent by database constraints, so a missed tick or a restart can neither lose nor
duplicate work. That is why the daemon needs no persistent job store: on start it simply
runs the monthly request job and the digest job once (catch-up), and a second start finds
nothing to do.

Listening is not a job: the mailbox poller runs in a thread of its own beside the scheduler,
since waiting with IDLE keeps one connection open for minutes (`bot.listening.poller`).

The triggers are pure (`get_next_fire_time(previous, now)` with the `now` APScheduler
passes) and built on `bot.calendar`, so they can be tested with explicit datetimes.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import calendar, usecases
from bot.app import App
from bot.errors import UserError, database_problem, one_line

#: every line says "intake: ...": the admin knows the program, not its modules
log = logging.getLogger("intake")

OUTBOX_SECONDS = 30
REMINDER_MINUTES = 15

_ONE_MICROSECOND = timedelta(microseconds=1)


# --- triggers (pure) -----------------------------------------------------------------------

class MonthlyRequestTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """Fires at `request_time` local on the first working day of every month."""

    def __init__(self, tz: ZoneInfo, state: str, request_time: str) -> None:
        calendar.parse_hhmm(request_time)  # fail at construction, not at the first tick
        self.tz = tz
        self.state = state
        self.request_time = request_time

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime,
                           ) -> datetime:
        # After a fire: the next moment strictly after it (APScheduler coalesces any it
        # missed). First call: the first moment at or after `now`.
        after = previous_fire_time if previous_fire_time is not None else now - _ONE_MICROSECOND
        return calendar.next_request_time(after, self.tz, self.state, self.request_time)

    def __str__(self) -> str:
        return f"first working day of the month at {self.request_time} ({self.state})"

    def __repr__(self) -> str:
        return (f"<MonthlyRequestTrigger tz={self.tz.key!r} state={self.state!r} "
                f"request_time={self.request_time!r}>")


class WeeklyDigestTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """Fires at `hhmm` local on `weekday` every week; on a holiday, on the next working day
    (see `bot.calendar.digest_time_for`)."""

    def __init__(self, tz: ZoneInfo, weekday: str | int, hhmm: str, state: str) -> None:
        calendar.parse_hhmm(hhmm)
        calendar.weekday_index(weekday)
        self.tz = tz
        self.weekday = weekday
        self.hhmm = hhmm
        self.state = state

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime,
                           ) -> datetime:
        after = previous_fire_time if previous_fire_time is not None else now - _ONE_MICROSECOND
        return calendar.next_digest_time(after, self.tz, self.weekday, self.hhmm, self.state)

    def __str__(self) -> str:
        return f"weekly on {self.weekday} at {self.hhmm}, next working day on holidays"

    def __repr__(self) -> str:
        return (f"<WeeklyDigestTrigger tz={self.tz.key!r} weekday={self.weekday!r} "
                f"hhmm={self.hhmm!r} state={self.state!r}>")


class WorkingDayIntervalTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """Fires every `minutes` minutes (on the UTC grid: :00, :15, :30, :45 for 15) while the
    local day is a working day; silent on weekends and public holidays."""

    def __init__(self, minutes: int, tz: ZoneInfo, state: str) -> None:
        if not 1 <= minutes <= 24 * 60:
            raise ValueError(f"minutes must be 1 to 1440, not {minutes}")
        self.step = minutes * 60
        self.tz = tz
        self.state = state

    def _at_or_after(self, moment: datetime) -> datetime:
        """The first grid point at or after `moment` that lies on a local working day."""
        candidate = moment
        for _ in range(100):  # a handful of days off in a row at most
            grid = math.ceil(candidate.timestamp() / self.step) * self.step
            point = datetime.fromtimestamp(grid, UTC).astimezone(self.tz)
            if calendar.is_working_day(point.date(), self.state):
                return point
            # jump to local midnight of the next day and look again
            candidate = calendar.local_moment(point.date() + timedelta(days=1), "00:00", self.tz)
        raise ValueError(f"no working day found after {moment} in {self.state}")

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime,
                           ) -> datetime:
        if previous_fire_time is not None:
            return self._at_or_after(previous_fire_time + timedelta(seconds=self.step))
        return self._at_or_after(now)

    def __str__(self) -> str:
        return f"every {self.step // 60} min on working days ({self.state})"

    def __repr__(self) -> str:
        return (f"<WorkingDayIntervalTrigger minutes={self.step // 60} tz={self.tz.key!r} "
                f"state={self.state!r}>")


# --- jobs ----------------------------------------------------------------------------------

class UseCaseJob:
    """A scheduler job: call one use case with the app, never let an exception out.

    An exception is logged with its message (a user error in one line, a bug with its
    traceback) and the scheduler keeps running; the next tick tries again.
    """

    def __init__(self, app: App, function: Callable[[App], object], description: str) -> None:
        self.app = app
        self.function = function
        self.description = description

    def __call__(self) -> None:
        try:
            self.function(self.app)
        except UserError as exc:
            # the admin can fix it (login refused, bad contacts file): no traceback
            log.error("%s failed: %s", self.description, one_line(exc))
        except Exception as exc:
            problem = database_problem(exc)
            if problem is not None:  # the database is away: one line, the next tick retries
                log.warning("%s: database not reachable (%s); the next run tries again",
                            self.description, problem)
                return
            log.exception("%s failed: %s: %s", self.description,
                          type(exc).__name__, one_line(exc))

    def __repr__(self) -> str:
        return f"<UseCaseJob {getattr(self.function, '__name__', self.function)}>"


#: job id -> (use case, description); referenced directly, so a renamed use case fails at
#: import time instead of silently never running
JOBS: dict[str, tuple[Callable[[App], object], str]] = {
    "monthly-requests": (usecases.run_monthly_requests, "the monthly requests"),
    "outbox": (usecases.outbox_tick, "the outbox delivery"),
    "reminders-followups": (usecases.run_reminders_and_followups,
                            "the reminders and follow-ups"),
    "weekly-digest": (usecases.run_weekly_digest, "the weekly digest"),
}


def build_triggers(app: App) -> dict[str, BaseTrigger]:
    """Each job's trigger, from the [schedule] settings."""
    s = app.settings.schedule
    tz = app.tz
    return {
        "monthly-requests": MonthlyRequestTrigger(tz, s.state, s.request_time),
        "outbox": IntervalTrigger(seconds=OUTBOX_SECONDS, timezone=tz),
        "reminders-followups": WorkingDayIntervalTrigger(REMINDER_MINUTES, tz, s.state),
        "weekly-digest": WeeklyDigestTrigger(tz, s.digest_weekday, s.digest_time, s.state),
    }


def build_scheduler(app: App, jobs: dict[str, UseCaseJob]) -> BackgroundScheduler:
    """A scheduler in the configured time zone with every job added (not started)."""
    tz = app.tz
    scheduler = BackgroundScheduler(
        timezone=tz,
        # one thread per job: a slow IMAP server must not hold up the outbox; max_instances=1
        # keeps each job from overlapping itself
        executors={"default": ThreadPoolExecutor(max_workers=len(jobs))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    # the edge of the system: the real clock decides when outbox and mailbox start
    started = datetime.now(tz)
    for job_id, trigger in build_triggers(app).items():
        extra: dict[str, Any] = {}
        if job_id == "outbox":
            extra["next_run_time"] = started  # deliver right away
        scheduler.add_job(jobs[job_id], trigger=trigger, id=job_id,
                          name=JOBS[job_id][1], **extra)
    return scheduler


# --- the daemon ----------------------------------------------------------------------------

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT set `stop`; returns a function that restores the old handlers.

    Only the main thread may install handlers; elsewhere (tests, embedding) `stop` is the
    only way to end the daemon.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received; stopping after the running jobs (send it again "
                 "to stop at once)", signal.Signals(signum).name)
        stop.set()

    for sig in _SIGNALS:
        previous[sig] = signal.signal(sig, on_signal)

    def restore() -> None:
        while previous:
            sig, handler = previous.popitem()
            signal.signal(sig, handler)

    return restore


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z") if moment else "none"


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def spelled_out(moment: datetime, tz: ZoneInfo) -> str:
    """'Monday, 4 January 2027 at 08:00' (local time; no locale needed)."""
    local = moment.astimezone(tz)
    return (f"{_WEEKDAYS[local.weekday()]}, {local.day} {_MONTHS[local.month - 1]} "
            f"{local.year} at {local:%H:%M}")


def _announce_first_round(app: App) -> None:
    """On a database that never had a round, say in one line when the first one goes out:
    nobody is asked at once on the first start (see calendar.first_request_time)."""
    from bot.usecases import first_round_time

    try:
        moment = first_round_time(app)
    except Exception as exc:  # the catch-up below reports what is wrong, with its context
        log.debug("first round unknown: %s", one_line(exc))
        return
    if moment is None:
        return
    if moment.astimezone(UTC) <= app.now().astimezone(UTC):
        log.info("first start: the first request round (%s) goes out now",
                 calendar.month_of(moment, app.tz))
    else:
        log.info("first start: the first request round will go out on %s",
                 spelled_out(moment, app.tz))


def _start_listener(app: App, stop: threading.Event) -> threading.Thread | None:
    """The mailbox poller in its own thread: IDLE holds a connection open for minutes,
    which a scheduler job must not. It reconnects by itself; it ends when `stop` is set."""
    from bot.listening.service import build_poller

    try:
        poller = build_poller(app)
    except UserError as exc:
        log.error("the mailbox is not read: %s (fix it and restart; `intake check` tests "
                  "the login)", one_line(exc))
        return None
    thread = threading.Thread(target=poller.run, args=(stop,), name="intake-poller",
                              daemon=True)
    thread.start()
    log.info("reading the mailbox %s on %s", app.settings.imap.folder,
             app.settings.imap.host)
    return thread


def _catch_up_now(scheduler: BackgroundScheduler, app: App) -> None:
    """A worker that just took over leading runs the catch-up through the scheduler (so
    each job still never overlaps itself)."""
    for job_id in ("monthly-requests", "weekly-digest"):
        scheduler.modify_job(job_id, next_run_time=datetime.now(app.tz))


def run_daemon(app: App, stop_event: threading.Event | None = None) -> None:
    """Run the scheduler until SIGTERM/SIGINT (main thread only) or until `stop_event` is set.

    On start: check the schema, run the monthly request job and the digest job once
    (catch-up after downtime; idempotent), then schedule every job. On stop: no new jobs
    start, running ones finish (`shutdown(wait=True)`), then this returns.
    """
    from bot.leader import Leadership, leader_only

    stop = stop_event if stop_event is not None else threading.Event()
    app.require_schema()
    # several workers may share a PostgreSQL database: all deliver and read mail, one leads
    leadership = Leadership(app.engine)
    jobs = leader_only({job_id: UseCaseJob(app, function, description)
                        for job_id, (function, description) in JOBS.items()}, leadership)
    restore = _install_signal_handlers(stop)
    try:
        leadership.try_acquire()
        # the signal handlers only set `stop`, so a signal during the catch-up lets the
        # running use case finish and the scheduler is then never started
        _announce_first_round(app)
        if leadership.shared:
            log.info(leadership.describe())
        log.info("catching up (monthly requests, weekly digest)")
        jobs["monthly-requests"]()
        jobs["weekly-digest"]()
        if stop.is_set():
            log.info("stopped before the scheduler started")
            return
        scheduler = build_scheduler(app, jobs)
        scheduler.start()
        leadership.watch(stop, on_elected=lambda: _catch_up_now(scheduler, app))
        listener = _start_listener(app, stop)
        try:
            requests_job = scheduler.get_job("monthly-requests")
            digest_job = scheduler.get_job("weekly-digest")
            log.info("scheduler started (next requests: %s, next digest: %s)",
                     _when(requests_job.next_run_time if requests_job else None),
                     _when(digest_job.next_run_time if digest_job else None))
            # a timeout keeps the wait responsive to signals on every platform
            while not stop.wait(timeout=1.0):
                pass
        finally:
            # from here on a second SIGINT/SIGTERM has its default effect: stop at once
            restore()
            log.info("stopping; waiting for running jobs to finish")
            stop.set()
            if listener is not None:
                listener.join()
            scheduler.shutdown(wait=True)
            log.info("stopped")
    finally:
        restore()
        leadership.release()
