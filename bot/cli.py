"""The `intake` command: thin wrappers that parse arguments, call one use case, and turn
domain errors into one-line messages and exit codes (0 ok, 1 user-facing error, 2 usage)."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo

import click
from click.core import ParameterSource

from bot.app import App, parse_now
from bot.config import DEFAULT_CONFIG_NAME, render_example_config
from bot.contacts import check_contacts
from bot.contacts import summary as contacts_summary
from bot.errors import UserError, one_line
from bot.logs import log_to_file_only, setup_logging

if TYPE_CHECKING:
    from bot.outbox import DeliveryReport

log = logging.getLogger("intake")


class IntakeGroup(click.Group):
    """Turns UserError into `intake: message` on stderr with exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            for line in str(exc).splitlines():
                click.echo(f"intake: {line}", err=True)
                log_to_file_only(logging.ERROR, line)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # `intake ... | head`: the reader is gone; stop quietly like other Unix tools
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except Exception as exc:
            # A bug, not a user mistake: say so in one line; -v shows the traceback.
            log.debug("internal error", exc_info=True)
            message = f"internal error: {type(exc).__name__}: {one_line(exc)}"
            click.echo(f"intake: {message} (run with -v for details)", err=True)
            log_to_file_only(logging.ERROR, message)
            ctx.exit(1)
        finally:
            app = ctx.find_object(App)
            if app is not None:
                app.close()


def _not_implemented(feature: str) -> NoReturn:
    click.echo(f"intake: {feature}: not implemented yet", err=True)
    sys.exit(1)


@click.group(cls=IntakeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", type=click.Path(path_type=Path),
              help=f"the TOML configuration file (default ./{DEFAULT_CONFIG_NAME})")
@click.option("--now", envvar="INTAKE_NOW", metavar="ISO-8601",
              help="run as if the clock showed this time (tests, demos, backfills)")
@click.option("-v", "--verbose", count=True, help="more logging (repeatable)")
@click.option("-q", "--quiet", count=True, help="less logging (repeatable)")
@click.version_option(package_name="intake-bot")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, now: str | None, verbose: int,
        quiet: int) -> None:
    """intake-bot: collects upcoming topics from the departments by e-mail."""
    explicit = ctx.get_parameter_source("config_path") in (
        ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    if now is not None:
        try:
            parse_now(now, ZoneInfo("UTC"))  # syntax only; the zone comes from the config
        except ValueError:
            raise click.BadParameter(f"{now!r} is not ISO-8601 (e.g. 2027-01-04T08:00)",
                                     param_hint="--now") from None
    ctx.obj = App(config_path=config_path, config_explicit=explicit, now_override=now,
                  verbosity=verbose - quiet, configure_logging=True)
    setup_logging("INFO", verbose - quiet)


pass_app = click.make_pass_decorator(App)


def _configure_logging(app: App) -> None:
    app.settings  # noqa: B018 (loading the settings sets up logging from [logging])


# --- init -------------------------------------------------------------------------------

@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> None:
    """Write a commented intake.toml and an example contacts.yaml into DIRECTORY."""
    from importlib.resources import files

    targets = {
        directory / DEFAULT_CONFIG_NAME: render_example_config(),
        directory / "contacts.yaml": files("bot").joinpath("examples/contacts.yaml").read_text(
            encoding="utf-8"),
    }
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise UserError(f"{', '.join(existing)}: already exists; not overwriting "
                        f"(move it away or choose another directory)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, text in targets.items():
            with path.open("x", encoding="utf-8") as fh:  # "x": never overwrite, even racing
                fh.write(text)
    except OSError as exc:
        raise UserError(f"{exc.filename}: cannot write ({exc.strerror})") from None
    for path in targets:
        click.echo(f"wrote {path}")
    click.echo("next: edit both files, then run `intake check --offline` and `intake db upgrade`")


# --- check ------------------------------------------------------------------------------

@cli.command()
@click.option("--offline", is_flag=True, help="only validate files; do not contact servers")
@pass_app
def check(app: App, offline: bool) -> None:
    """Validate the configuration and the contacts file; without --offline also log in to
    IMAP and SMTP."""
    app.config_explicit = True  # checking a configuration that is not there is an error
    settings = app.settings  # also sets up logging from [logging]
    click.echo(f"{settings.source}: configuration OK")
    path = settings.resolve_path(settings.contacts.file)
    report = check_contacts(path)
    if not report.ok:
        raise UserError("\n".join(report.lines()))
    for line in report.note_lines():
        click.echo(line)
    click.echo(f"{path}: {contacts_summary(report.entries)}")
    app.engine  # noqa: B018 (validates the database URL without connecting)
    from bot.config import example_values, is_example_address

    for section, key, value in example_values(settings):
        click.echo(f"intake: warning: {settings.origin(section, key)}: [{section}] {key} is "
                   f"still the example value of `intake init` ({value}); replace it with "
                   f"your town hall's", err=True)
    for entry in report.entries:
        if is_example_address(entry.email):
            click.echo(f"intake: warning: {path}:{entry.line}: {entry.email} is an address of "
                       f"the example town; replace the example entries with your departments",
                       err=True)
    if settings.templates.directory:
        from bot.template_overrides import one_sided_overrides, unused_override_files

        directory = settings.resolve_path(settings.templates.directory)
        for warning in [*unused_override_files(directory), *one_sided_overrides(directory)]:
            click.echo(f"intake: warning: {warning}", err=True)
    from bot.rounds import check_templates

    click.echo(check_templates(app))
    if not offline:
        from bot.usecases import check_servers

        ok, problems = check_servers(app)
        for line in ok:
            click.echo(line)
        for line in problems:
            click.echo(f"intake: {line}", err=True)
        if problems:
            sys.exit(1)


# --- contacts ---------------------------------------------------------------------------

@cli.group()
def contacts() -> None:
    """The contacts file."""


@contacts.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@pass_app
def contacts_check(app: App, file: Path | None) -> None:
    """Validate a contacts file (YAML or CSV); print every problem as FILE:LINE: message."""
    path = file or app.settings.resolve_path(app.settings.contacts.file)
    report = check_contacts(path)
    for line in report.lines():
        click.echo(line)
    for line in report.note_lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)
    click.echo(f"{path}: {contacts_summary(report.entries)}, OK")


@contacts.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_app
def contacts_list(app: App, fmt: str) -> None:
    """Every department with its contact and deputies, the last answer, the topics this
    year and the addresses that bounce."""
    from bot.telling import contacts as overview

    app.require_schema()
    year = app.now().astimezone(app.tz).year
    with app.sessions() as session:
        rows = overview.overview(session, year, app.tz)
    if fmt == "json":
        click.echo(json.dumps(overview.as_json(rows, app.tz), ensure_ascii=False, indent=2))
        return
    for line in overview.lines(rows, app.tz, year):
        click.echo(line)


@contacts.command("sync")
@click.option("--yes", "confirmed", is_flag=True,
              help="also when the file deactivates more than half of the departments")
@pass_app
def contacts_sync(app: App, confirmed: bool) -> None:
    """Bring the database in line with the contacts file (removed contacts are deactivated).

    A file that would deactivate more than half of the active departments is refused
    (a wrong or truncated file, usually); --yes confirms such a change."""
    from bot.usecases import sync_contacts_file

    app.require_schema()
    summary = sync_contacts_file(app, confirmed=confirmed)
    click.echo(f"added {len(summary.added)}, updated {len(summary.updated)}, "
               f"deactivated {len(summary.deactivated)}, reactivated {len(summary.reactivated)}")


# --- db ---------------------------------------------------------------------------------

@cli.group()
def db() -> None:
    """The database."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Create or migrate the database schema."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from db import migrate

    _configure_logging(app)
    try:
        created = migrate.ensure_schema(app.engine)
    except OperationalError as exc:  # unreachable, wrong password
        raise UserError(app.database_unreachable(exc)) from None
    except DBAPIError as exc:  # e.g. no CREATE privilege on the database
        raise UserError(f"database {app.safe_db_url()}: cannot create the schema named in "
                        f"the URL's search_path ({one_line(exc.orig)}); create it, or let "
                        f"the user create it") from None
    if created:
        click.echo(f"database {app.safe_db_url()}: PostgreSQL schema {created} created")
    try:
        before, after = migrate.upgrade(app.engine)
    except OperationalError as exc:
        raise UserError(app.database_unreachable(exc)) from None
    if before == after:
        click.echo(f"database {app.safe_db_url()}: schema already at {after}")
    else:
        click.echo(f"database {app.safe_db_url()}: schema upgraded from {before or 'empty'} "
                   f"to {after}")


# --- the flows ---------------------------------------------------------------------------

def _deliver(app: App, before: DeliveryReport | None = None) -> None:
    """Send what the outbox holds now; a server problem is one line and exit 1. `before`:
    what went out while the mail was being queued."""
    from bot.usecases import deliver_outbox

    report = deliver_outbox(app, before)
    if report.connection_error:
        # mail no connection got to claim is counted nowhere in the report: say what waits
        from bot.outbox import summary

        with app.sessions() as session:
            counts = summary(session)
        waiting = counts.get("queued", 0) + counts.get("sending", 0)
        click.echo(f"outbox: {report.sent} sent, {waiting} still queued, {report.failed} "
                   f"failed")
    else:
        click.echo(f"outbox: {report.sent} sent, {report.retrying} waiting for retry, "
                   f"{report.failed} failed")
    if report.connection_error:
        raise UserError(f"{report.connection_error} (the mail stays queued and goes out with "
                        f"`intake outbox` or `intake run`)")


class RoundProgress:
    """'requests: 500/3000 queued' on stderr every EVERY departments or SECONDS seconds, so
    a round of thousands does not look hung; a short round prints nothing."""

    EVERY = 500
    SECONDS = 5.0

    def __init__(self, verb: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.verb = verb
        self.clock = clock
        self.last = clock()

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if done < total and (done % self.EVERY == 0 or now - self.last >= self.SECONDS):
            click.echo(f"requests: {done}/{total} {self.verb}", err=True)
            self.last = now


@cli.command("send-requests")
@click.option("--month", metavar="YYYY-MM", help="the round's month (default: the current one)")
@click.option("--only", "only", metavar="DEPARTMENT", help="only this department")
@click.option("--dry-run", is_flag=True, help="show what would be sent; send nothing")
@click.option("--yes", "confirmed", is_flag=True,
              help="sync the contacts file even if it deactivates more than half of the "
                   "departments")
@click.option("--force", is_flag=True, help="open the round of a month that is over")
@pass_app
def send_requests(app: App, month: str | None, only: str | None, dry_run: bool,
                  confirmed: bool, force: bool) -> None:
    """Open the month's request round and send every active contact its request.

    Without --month it is the current month's round, also on its last days (you asked for
    it; a note says when the next month's round follows). A month that is over needs
    --force. A department that cannot be asked is named at the end (exit status 1); the
    others are asked all the same."""
    from bot.rounds import next_round_note
    from bot.rounds import send_requests as run_round
    from bot.usecases import outbox_meanwhile

    _configure_logging(app)
    app.require_schema()
    progress = RoundProgress("prepared" if dry_run else "queued")
    # the outbox sends each committed chunk of the round while the next is prepared
    with outbox_meanwhile(app, enabled=not dry_run) as early:
        result = run_round(app, month, only, dry_run, confirmed=confirmed, force=force,
                           progress=progress)
    deadline = result.deadline.isoformat() if result.deadline else "-"
    note = next_round_note(app, result)
    try:
        if dry_run:
            for mail in result.queued:
                click.echo(f"--- would send to {mail.to_address} ({mail.department})")
                click.echo(f"Subject: {mail.subject}\n")
                click.echo(mail.text)
            click.echo(f"round {result.month} (reply by {deadline}): {len(result.queued)} "
                       f"request(s) would be sent, {len(result.already)} already asked; "
                       f"nothing was changed")
        else:
            click.echo(f"round {result.month} (reply by {deadline}): {len(result.queued)} "
                       f"request(s) queued, {len(result.already)} already had theirs")
        if note:
            click.echo(note)
        if not dry_run:
            _deliver(app, early.report)
    finally:
        for problem in result.failed:
            click.echo(f"intake: {problem.department} ({problem.address}) not asked: "
                       f"{problem.reason}", err=True)
    if result.failed:
        sys.exit(1)


@cli.command()
@click.option("--once", is_flag=True, help="one pass, then exit")
@pass_app
def poll(app: App, once: bool) -> None:
    """Fetch new mail from IMAP and process it (IDLE where the server offers it)."""
    from bot.errors import ConnectionProblem
    from bot.listening.service import build_poller

    _configure_logging(app)
    app.require_schema()
    poller = build_poller(app)
    if not once:
        import signal
        import threading

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        click.echo("polling the mailbox; stop with Ctrl-C")
        poller.run(stop)
        return
    try:
        report = poller.once()
    except ConnectionProblem as exc:
        raise UserError(str(exc)) from None
    p = report.processing
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(p.by_status.items())) or "nothing new"
    click.echo(f"mailbox: {report.stored} new mail(s) stored, {report.oversized} too large, "
               f"{report.duplicates} already known; processed: {statuses}; "
               f"{p.topics} topic(s)")
    _deliver(app)


@cli.command()
@click.option("--dry-run", is_flag=True, help="show what is due; send nothing")
@pass_app
def followups(app: App, dry_run: bool) -> None:
    """Send the follow-up questions and reminders that are due now.

    --dry-run shows every question it would ask and why, and which were held back by
    which bound."""
    from bot.listening.askback import ask_back
    from bot.rounds import queue_reminders

    _configure_logging(app)
    app.require_schema()
    planned = queue_reminders(app, dry_run=dry_run)
    verb = "would be sent" if dry_run else "queued"
    for mail in planned:
        click.echo(f"{mail.kind} to {mail.to_address} ({mail.department}): {mail.subject}")
    asked = ask_back(app, dry_run=dry_run)
    for question in asked.queued:
        click.echo(f"follow-up to {question.to_address} ({question.department}): "
                   f"{question.subject}")
        for name in question.topics:
            click.echo(f"  asks about: {one_line(name)}")
        if dry_run:
            click.echo(question.text)
    for name, reason in asked.held:
        click.echo(f"held back: {one_line(name)}: {reason}")
    for name, reason in asked.escalated:
        click.echo(f"to the officer as incomplete: {one_line(name)}: {reason}")
    click.echo(f"{len(planned)} reminder(s) {verb}")
    click.echo(f"{len(asked.queued)} follow-up(s) {verb}, {len(asked.held)} held back, "
               f"{len(asked.escalated)} handed to the officer")
    if not dry_run:
        _deliver(app)


@cli.command(short_help="Delete raw mail, attachments and topics past their retention.")
@click.option("--dry-run", is_flag=True, help="show what would be deleted; delete nothing")
@pass_app
def purge(app: App, dry_run: bool) -> None:
    """Delete raw mail, attachments and topics past the retention set in [retention].

    Received mails keep a register line (date, sender, subject, status) after their bytes
    are deleted; topics go with their history, questions and files. Run it with --dry-run
    first: it counts exactly what a run would delete."""
    from bot.purge import purge as run_purge
    from db.session import unit_of_work

    _configure_logging(app)
    app.require_schema()
    retention = app.settings.retention
    with unit_of_work(app.sessions, dry_run=dry_run) as session:
        report = run_purge(session, retention, app.now())
    verb = "would delete" if dry_run else "deleted"

    def since(days: int, before: object) -> str:
        if not days:
            return "kept (retention 0: forever)"
        stamp = before.strftime("%Y-%m-%d") if hasattr(before, "strftime") else before
        return f"older than {days} days, before {stamp}"

    click.echo(f"raw mail ({since(retention.raw_mail_days, report.raw_before)}): "
               f"{report.inbound} received and {report.outbox} sent mail(s), "
               f"{_megabytes(report.raw_bytes)}")
    if report.raw_kept:
        click.echo(f"  {report.raw_kept} received mail(s) past retention keep their bytes: "
                   "a file they hold could not be read from them again (see the log)")
    click.echo(f"attachments ({since(retention.attachments_days, report.attachments_before)}): "
               f"{report.attachments} file(s); {report.blobs} stored content(s) no longer "
               f"used, {_megabytes(report.blob_bytes)}")
    click.echo(f"topics (event {since(retention.topics_days, report.topics_before)}): "
               f"{report.topics} topic(s) with {report.changes} history entries and "
               f"{report.followups} follow-up question(s)")
    if report.nothing:
        click.echo("nothing is past its retention")
    else:
        click.echo(f"intake {verb} the above" + (" (dry run: nothing was deleted)"
                                                  if dry_run else ""))
    log.info("purge%s: %s received, %s sent, %s attachments, %s contents, %s topics",
             " (dry run)" if dry_run else "", report.inbound, report.outbox,
             report.attachments, report.blobs, report.topics)


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


@cli.command(short_help="Build the officer's weekly digest; --send mails it.")
@click.option("--send", is_flag=True, help="mail the digest to the officer")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE.html", help="write the digest's HTML to this file")
@click.option("--week", metavar="YYYY-Www", help="the ISO week (default: the current one)")
@pass_app
def digest(app: App, send: bool, preview: Path | None, week: str | None) -> None:
    """Build the officer's digest for the week and print its text.

    --send mails it to the officer ([officer] email), once per week: a second --send for
    the same week sends nothing. Without --send nothing is written to the outbox."""
    from bot import calendar
    from bot.telling import digest as weekly

    _configure_logging(app)
    app.require_schema()
    now = app.now()
    try:
        label = weekly.parse_week(week) if week else calendar.iso_week_label(
            calendar.local_date(now, app.tz))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from None
    if send and calendar.parse_iso_week(label) > calendar.local_date(now, app.tz):
        raise UserError(f"--week {label} has not begun; its digest can be sent from its "
                        f"Monday on")

    def write_preview(html: str) -> None:
        if preview is None:
            return
        try:
            preview.write_text(html, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{preview}: cannot write ({exc.strerror})") from None
        click.echo(f"wrote {preview}", err=True)

    if not send:
        built = weekly.preview(app, label, now)
        write_preview(built.rendered.html)
        click.echo(f"Subject: {built.rendered.subject}\n")
        click.echo(built.rendered.text, nl=False)
        click.echo(f"(not sent; `intake digest --send` mails it to "
                   f"{app.settings.officer.email})", err=True)
        return
    outcome = weekly.send(app, label, now)
    if outcome.built is None:
        when = (outcome.queued_at.astimezone(app.tz).strftime("%Y-%m-%d %H:%M")
                if outcome.queued_at else "earlier")
        click.echo(f"digest {label}: already queued on {when}; nothing new sent "
                   f"(`intake outbox` shows it)")
        if preview is not None:
            write_preview(weekly.preview(app, label, now).rendered.html)
        return
    write_preview(outcome.built.rendered.html)
    click.echo(f"digest {label} queued for {app.settings.officer.email}: "
               f"{outcome.built.rendered.subject}")
    _deliver(app)


@cli.group()
def topics() -> None:
    """Stored topics."""


@topics.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option("--from", "date_from", metavar="DATE")
@click.option("--to", "date_to", metavar="DATE")
@click.option("--department", metavar="NAME")
@click.option("--status", type=click.Choice(["complete", "incomplete", "withdrawn"],
                                           case_sensitive=False),
              help="only complete topics, those that miss something, or those a later "
                   "mail withdrew")
@pass_app
def topics_list(app: App, fmt: str, date_from: str | None, date_to: str | None,
                department: str | None, status: str | None) -> None:
    """List stored topics."""
    from bot.listening.service import topic_rows

    app.require_schema()
    with app.sessions() as session:
        rows = topic_rows(session, date_from=_date_option(date_from, "--from"),
                          date_to=_date_option(date_to, "--to"), department=department,
                          status=status)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    columns = ("id", "department", "status", "when", "what", "where", "who", "how_many",
               "missing", "followups_sent")

    def cell(row: dict[str, Any], key: str) -> str:
        value = row[key]
        if isinstance(value, dict):
            return str(value.get("text") or "")
        if isinstance(value, list):
            return " ".join(value)
        return "" if value is None else one_line(value)

    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row, c) for c in columns])
        return
    for row in rows:
        click.echo(f"{row['id']:>5}  {row['status']:10}  {_fit(cell(row, 'when'), 24):24}  "
                   f"{_fit(row['department'], 20):20}  {_fit(cell(row, 'what'), 40)}"
                   + (f"  (fehlt: {', '.join(row['missing'])})" if row["missing"] else ""))
    click.echo(f"{len(rows)} topic(s)")


def _fit(text: str, width: int) -> str:
    """`text` in at most `width` characters: cut at a word with "…", not inside one."""
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,;:-–") + "…"


def _date_option(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date as YYYY-MM-DD",
                                 param_hint=name) from None


# --- inbound ----------------------------------------------------------------------------

@cli.group()
def inbound() -> None:
    """Received mail that was set aside: quarantined, failed, unrecognized, bounced."""


@inbound.command("list")
@click.option("--status", type=click.Choice(["quarantined", "failed", "unrecognized",
                                             "bounced"]), help="only this kind")
@pass_app
def inbound_list(app: App, status: str | None) -> None:
    """Received mail that was set aside, with the reason."""
    from bot.listening.service import inbound_lines, set_aside_count

    app.require_schema()
    with app.sessions() as session:
        lines = inbound_lines(session, status)
        total = set_aside_count(session, status)
    tz = app.tz
    for line in lines:
        stamp = line.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{line.id:>6}  {stamp}  {line.status:12}  {one_line(line.from_address)}  "
                   f"{one_line(line.subject)[:60]}")
        if line.reason:
            click.echo(f"        {one_line(line.reason)}")
    if total > len(lines):
        click.echo(f"{len(lines)} of {total} mail(s) shown, the newest; `intake inbound show "
                   f"ID` shows any one of them")
    else:
        click.echo(f"{len(lines)} mail(s)")


@inbound.command("show")
@click.argument("inbound_id", metavar="ID", type=int)
@pass_app
def inbound_show(app: App, inbound_id: int) -> None:
    """One received mail: headers, parse result, why it was set aside."""
    from email.parser import BytesHeaderParser
    from email.policy import default as default_policy

    from bot.listening.service import inbound_row

    app.require_schema()
    with app.sessions() as session:
        row = inbound_row(session, inbound_id)
        headers = BytesHeaderParser(policy=default_policy).parsebytes(row.raw[:256 * 1024])
        click.echo(f"id:          {row.id}")
        click.echo(f"received:    {row.received_at.astimezone(app.tz).isoformat()}")
        click.echo(f"status:      {row.status}" + (f" ({row.kind})" if row.kind else ""))
        click.echo(f"matched by:  {row.matched_by or '-'}")
        if row.error:
            click.echo(f"reason:      {one_line(row.error)}")
        click.echo(f"size:        {row.size} bytes, sha256 {row.sha256}")
        if row.purged_at is not None:
            click.echo(f"raw mail:    deleted {row.purged_at.astimezone(app.tz):%Y-%m-%d} "
                       f"by `intake purge` (past [retention] raw_mail_days); kept:")
            click.echo(f"  From: {one_line(row.from_address) or '-'}")
            click.echo(f"  Subject: {one_line(row.subject)[:300] or '-'}")
            return
        click.echo("headers:")
        for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To",
                     "Auto-Submitted", "Authentication-Results"):
            for value in headers.get_all(name) or []:
                click.echo(f"  {name}: {one_line(value)[:300]}")
        if row.parsed:
            click.echo("parse result:")
            click.echo(json.dumps(row.parsed, ensure_ascii=False, indent=2))


@inbound.command("replay")
@click.argument("inbound_id", metavar="ID", type=int, required=False)
@click.option("--failed", is_flag=True, help="every mail whose processing failed")
@pass_app
def inbound_replay(app: App, inbound_id: int | None, failed: bool) -> None:
    """Process stored mail again after a fix (idempotent)."""
    from bot.listening.service import replay

    if (inbound_id is None) == (not failed):
        raise click.UsageError("give either an ID or --failed")
    _configure_logging(app)
    app.require_schema()
    report = replay(app, [inbound_id] if inbound_id is not None else None, failed)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(report.by_status.items())) or "nothing"
    click.echo(f"replayed: {statuses}")
    if report.failed:
        raise UserError(f"{report.failed} mail(s) failed again; `intake inbound list "
                        f"--status failed` shows why")


@topics.command("export", short_help="The year's plan as a calendar, spreadsheet or page.")
@click.option("--format", "fmt", type=click.Choice(["ics", "csv", "html"]), required=True,
              help="ics: a calendar (Outlook); csv: a spreadsheet German Excel opens; "
                   "html: a static page for the intranet")
@click.option("--year", type=click.IntRange(2000, 2999), metavar="YYYY",
              help="the plan's year (default: the current one)")
@click.argument("out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@pass_app
def topics_export(app: App, fmt: str, year: int | None, out: Path) -> None:
    """Write the year's plan to OUT ('-' for standard output).

    A calendar leaves out the topics without a date (their number is printed); importing
    a newer file into Outlook updates the events instead of adding them twice."""
    from bot.telling.export import year_plan

    app.require_schema()
    now = app.now()
    chosen = year or now.astimezone(app.tz).year
    plan = year_plan(app, fmt, chosen, now)
    if str(out) == "-":
        sys.stdout.buffer.write(plan.data)
        sys.stdout.flush()
    else:
        try:
            out.write_bytes(plan.data)
        except OSError as exc:
            raise UserError(f"{out}: cannot write ({exc.strerror})") from None
    click.echo(f"{out}: {plan.topics} topic(s) of {chosen}", err=True)
    if plan.left_out:
        click.echo(f"{plan.left_out} topic(s) without a date left out of the calendar "
                   f"(`intake topics list` shows them)", err=True)


@cli.command(short_help="The editorial meeting's agenda (Markdown or HTML).")
@click.option("--month", metavar="YYYY-MM", help="the month the meeting plans "
              "(default: the next one)")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md")
@pass_app
def agenda(app: App, month: str | None, fmt: str) -> None:
    """The agenda for the monthly editorial meeting: the month's topics by department,
    what is still incomplete, the departments that sent nothing for two rounds."""
    from bot.telling import agenda as meeting

    app.require_schema()
    now = app.now()
    try:
        chosen = meeting.parse_month(month) if month else meeting.default_month(now, app)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    click.echo(meeting.render(app, chosen, fmt, now), nl=False)


@cli.command()
@click.option("--retry-failed", is_flag=True, help="requeue the mails that failed for good")
@pass_app
def outbox(app: App, retry_failed: bool) -> None:
    """Show queued, failed and sent mail; send what is due.

    TIME is when a mail was sent or failed, or when it is tried next; TRIES counts the
    attempts against the limit after which a mail the server keeps deferring fails."""
    from bot import outbox as box
    from bot.usecases import deliver_outbox

    _configure_logging(app)
    app.require_schema()
    if retry_failed:
        with app.sessions.begin() as session:
            count = box.retry_failed(session, app.now())
        click.echo(f"{count} failed mail(s) queued again")
    # the listing is the point of this command: a delivery problem is reported after it
    problem: str | None = None
    try:
        problem = deliver_outbox(app).connection_error
    except UserError as exc:  # e.g. the SMTP password is not set
        problem = str(exc)
    with app.sessions() as session:
        rows = box.listing(session)
        counts = box.summary(session)
    for line in box.listing_lines(rows, app.tz):
        click.echo(line)
    click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "empty")
    if problem:
        raise UserError(problem)


@cli.command(short_help="Exit 0 when the daemon polls and delivers (for a HEALTHCHECK).")
@click.option("--max-age", type=click.IntRange(1), metavar="SECONDS",
              help="how old the last outbox tick and mailbox pass may be (default: 120 s "
                   "and three poll intervals, at least 300 s)")
@pass_app
def health(app: App, max_age: int | None) -> None:
    """Whether `intake run` on this host is healthy: the database answers, this worker's
    last outbox tick and the last mailbox pass are recent. Prints one line; exit status 0
    when healthy, 1 when not (Docker's HEALTHCHECK runs it)."""
    from datetime import timedelta

    from bot.health import check

    result = check(app, timedelta(seconds=max_age) if max_age else None)
    click.echo(result.line)
    if not result.healthy:
        sys.exit(1)


@cli.command()
@pass_app
def run(app: App) -> None:
    """The daemon: scheduler + poller + outbox until SIGTERM/SIGINT."""
    from bot.daemon import run_daemon

    _configure_logging(app)
    app.require_schema()
    run_daemon(app)


@cli.command(short_help="The whole cycle on loopback mail servers, nothing to set up.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                default="intake-demo")
@click.option("--keep", is_flag=True,
              help="leave the mail servers (and the listening bot) up until Ctrl-C, to try "
                   "them with a mail program")
@click.option("--listen", metavar="ADDRESS", default="127.0.0.1", show_default=True,
              help="the address the demo's mail servers listen on; 0.0.0.0 in a container "
                   "whose ports are published (the demo's password is no secret: never on "
                   "a network others reach)")
@pass_app
def demo(app: App, directory: Path, keep: bool, listen: str) -> None:
    """Play a week of intake-bot in seconds: the month's requests to six sample
    departments, their replies (Outlook, Thunderbird, an out-of-office, "keine Themen", a
    stranger, ...), the follow-up questions and an answer, the officer's digest and the
    year's plan. Everything runs on mail servers started in this process (IMAP and SMTP on
    127.0.0.1) and a SQLite database in DIRECTORY (default ./intake-demo; an earlier demo's
    directory is started afresh). --now moves the week: the demo plays the month after it."""
    from bot.demo import run_demo

    if not listen.strip():
        raise click.BadParameter("give an address, e.g. 0.0.0.0 for every interface",
                                 param_hint="--listen")
    start = None
    if app.now_override:
        start = parse_now(app.now_override, ZoneInfo("Europe/Berlin"))
    sys.exit(run_demo(directory, keep=keep, start=start, verbosity=app.verbosity, listen=listen,
                      echo=click.echo, warn=lambda line: click.echo(f"intake: {line}",
                                                                    err=True)))


# --- parse ------------------------------------------------------------------------------

#: `intake parse` reads no more than this from a file or standard input.
MAX_MAIL_BYTES = 100 * 1024 * 1024

_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


class _NotRead(Exception):
    """Why `intake parse` did not read a file, as the one line it prints."""


def _limit_text() -> str:
    mb = MAX_MAIL_BYTES // (1024 * 1024)
    return f"{mb} MB" if mb * 1024 * 1024 == MAX_MAIL_BYTES else f"{MAX_MAIL_BYTES} bytes"


def _read_mail(file: Path) -> bytes:
    """The bytes of one mail: FILE, or standard input for "-". Only regular files are
    read (a FIFO, a device such as /dev/zero or a directory would block or never end),
    and nothing longer than MAX_MAIL_BYTES."""
    if str(file) == "-":
        data = sys.stdin.buffer.read(MAX_MAIL_BYTES + 1)
        if len(data) > MAX_MAIL_BYTES:
            raise _NotRead(f"more than {_limit_text()} on standard input; not read "
                           f"(a mail is never this big)")
        return data
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the check comes after
        # opening, on the very file that is read
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise _NotRead(f"cannot read ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MAIL_BYTES:
        os.close(fd)
        if stat.S_ISREG(info.st_mode):
            raise _NotRead(f"larger than {_limit_text()}; not read (a mail is never this big)")
        kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "special")
        raise _NotRead(f"not a regular file ({kind}); not read")
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(MAX_MAIL_BYTES + 1)
        except OSError as exc:
            raise _NotRead(f"cannot read ({exc.strerror})") from None
    if len(data) > MAX_MAIL_BYTES:  # it grew while being read
        raise _NotRead(f"larger than {_limit_text()}; not read (a mail is never this big)")
    return data

def _parse_today(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date as YYYY-MM-DD") from None


def _parse_asked(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    if not value:
        return ()
    from parsers.model import FIELDS

    fields = tuple(f.strip() for f in value.split(",") if f.strip())
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise click.BadParameter(f"unknown field(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(FIELDS)}")
    return fields


#: A signature file is a few lines; anything this big is the wrong file.
MAX_SIGNATURE_FILE_BYTES = 64 * 1024


def _read_signatures(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    signatures: list[str] = []
    for name in value:
        path = Path(name)
        try:
            data = path.read_bytes()[: MAX_SIGNATURE_FILE_BYTES + 1]
        except OSError as exc:
            raise click.BadParameter(f"{name}: cannot read ({exc.strerror})") from None
        if len(data) > MAX_SIGNATURE_FILE_BYTES:
            raise click.BadParameter(f"{name}: larger than 64 KB; a signature is a few lines")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        if text.strip():
            signatures.append(text)
    return tuple(signatures)


@cli.command()
@click.option("--today", callback=_parse_today, metavar="YYYY-MM-DD",
              help="reference date for partial and relative dates")
@click.option("--asked", callback=_parse_asked, metavar="FIELD,FIELD",
              help="the follow-up question this mail answers asked for these fields")
@click.option("--known-signature", "known_signatures", multiple=True,
              callback=_read_signatures, metavar="FILE",
              help="a text file with a signature the sender is known to use (repeatable)")
@click.argument("files", nargs=-1, required=True, metavar="FILE.eml...",
                type=click.Path(path_type=Path, allow_dash=True))
@pass_app
def parse(app: App, today: date | None, asked: tuple[str, ...],
          known_signatures: tuple[str, ...], files: tuple[Path, ...]) -> None:
    """Parse reply mails (.eml) and print one JSON object per file (JSON Lines).

    FILE.eml may be - for standard input. Only regular files are read (no FIFOs, devices
    or directories), each of at most 100 MB; a file that is not read is named on stderr,
    the others are still parsed, and the exit status is 2.
    """
    from parsers import parse_message
    from parsers.model import ParseOptions

    settings = app.lenient_settings  # parsing needs no mail servers or addresses
    options = ParseOptions(
        today=today,
        fallback_today=app.now().astimezone(app.tz).date(),
        asked=asked,
        labels=settings.labels(),
        block_start=settings.templates.block_start,
        block_end=settings.templates.block_end,
        max_attachment_bytes=settings.mail.max_attachment_mb * 1024 * 1024,
        keep_attachment_content=False,
        known_signatures=known_signatures,
    )
    unreadable = 0
    for file in files:
        try:
            raw = _read_mail(file)
        except _NotRead as exc:
            click.echo(f"intake parse: {file}: {exc}", err=True)
            unreadable += 1
            continue
        result = parse_message(raw, options)
        click.echo(json.dumps(result.to_json_dict(str(file)), ensure_ascii=False))
    if unreadable:
        sys.exit(2)


def main() -> None:
    cli(prog_name="intake")


if __name__ == "__main__":
    main()
