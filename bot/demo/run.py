"""`intake demo`: a week at the town hall of Musterhausen, played in seconds.

The production code runs end to end; only the mail servers and the clock differ. The
requests go out through the outbox over SMTP; the colleagues' replies arrive by SMTP in the
bot's IMAP inbox; the daemon's own poller, waiting under IDLE, stores, parses and files
them; the follow-up policy asks back; the officer's digest and the year's plan are built
from what was understood. The clock is `App.now_override`, moved from step to step:
requests on the first working day of next month, replies the next working day, follow-ups
two working days later, the digest on the following digest morning (Monday).

The mail servers run in this process (bot.demo.servers) and stop when the demo ends, on
Ctrl-C too; with `keep` they stay up, and the bot keeps listening, until Ctrl-C.
"""

from __future__ import annotations

import email
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import calendar
from bot.app import App
from bot.config import Settings, SmtpSettings, load_settings
from bot.demo import replies
from bot.demo.replies import BOT, Dates, Person, Received, Reply
from bot.demo.servers import HOST, WILDCARDS, DemoServers, Endpoints
from bot.errors import UserError, one_line
from bot.imap import Mailbox, PasswordLogin
from bot.smtp import SmtpTransport
from db import migrate
from db.models import (
    Absence,
    Attachment,
    Department,
    FollowUp,
    InboundMessage,
    Request,
    Topic,
    TopicChange,
)

#: every demo account's password, also what a person types into a mail program (--keep);
#: not a word the demo's log lines contain, as the log masks passwords wherever they appear
PASSWORD = "geheim"
TIMEZONE = "Europe/Berlin"
STATE = "NW"
#: marks a directory as the demo's own, so that a second run may start it afresh
MARKER = ".intake-demo"
#: what the demo writes; a rerun removes exactly these
WRITTEN = ("intake.toml", "contacts.yaml", "imap-password", "intake.db", "intake.db-journal",
           "intake.db-wal", "intake.db-shm", "digest.html", "themenplan.ics", "themenplan.csv",
           "themenplan.html", "mails", MARKER)
OUTPUTS = (("digest.html", "the officer's weekly digest (also in the officer's mailbox)"),
           ("themenplan.html", "the year's plan, a page for the intranet"),
           ("themenplan.ics", "the year's plan as a calendar (Outlook: open or import it)"),
           ("themenplan.csv", "the year's plan as a spreadsheet (German Excel opens it)"))
#: ports a person can type into a mail program (--keep); a taken one falls back to a free one
KEEP_PORTS = (1143, 1025)
#: how long the demo waits for the bot to pick up one mail (it takes a fraction of a second)
PICKUP_SECONDS = 30.0
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

Echo = Callable[[str], None]
Build = Callable[[Received, datetime, Dates], Reply]


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while the demo ran."""


@dataclass
class Arrival:
    """One played mail and what the bot made of it."""

    person: Person
    what: str
    message_id: str
    outcome: str = ""
    status: str = ""
    kind: str | None = None
    #: answers the bot's follow-up question (not a first reply)
    answer: bool = False


@dataclass
class DemoResult:
    directory: Path
    arrivals: list[Arrival] = field(default_factory=list)
    followups: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    #: why there is no digest and no plan (the telling part is missing), or None
    no_telling: str | None = None
    seconds: float = 0.0


# --- the work directory ----------------------------------------------------------------

def prepare_directory(directory: Path) -> None:
    """A new or empty directory, or one an earlier demo wrote (its files are replaced)."""
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory}: is a file; give a directory for the demo")
    if directory.is_dir() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise UserError(f"{directory}: not empty, and not an earlier demo's directory; "
                            f"give a new or empty one (e.g. `intake demo ./intake-demo`)")
        for name in WRITTEN:
            path = directory / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{directory}: cannot create ({exc.strerror})") from None


def write_site(directory: Path, ends: Endpoints) -> Path:
    """The configuration, the contacts file and the password file; returns the config."""
    config = directory / "intake.toml"
    config.write_text(f"""\
# The demo's configuration, written by `intake demo`. Its mail servers run only while the
# demo does (`intake demo --keep` leaves them up); `intake init` writes a configuration
# with every key and its explanation.

[database]
url = "sqlite:///intake.db"

[mail]
from_address = "{BOT}"
from_name = "{replies.BOT_NAME}"
organisation = "{replies.ORGANISATION}"

[imap]
host = "{ends.host}"
port = {ends.imap_port}
security = "none"              # allowed on loopback only
username = "{BOT}"
password_file = "imap-password"

[smtp]
host = "{ends.host}"
port = {ends.smtp_port}
security = "none"
username = ""                  # the demo's SMTP server takes mail without a login

[officer]
email = "{replies.OFFICER}"
name = "{replies.OFFICER_NAME}"

[contacts]
file = "contacts.yaml"

[schedule]
timezone = "{TIMEZONE}"
state = "{STATE}"
""", encoding="utf-8")
    (directory / "contacts.yaml").write_text(replies.contacts_yaml(), encoding="utf-8")
    secret = directory / "imap-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    secret.chmod(0o600)
    (directory / MARKER).write_text("written by `intake demo`; a second run replaces the "
                                    "demo's files in this directory\n", encoding="utf-8")
    return config


class DemoApp(App):
    """The application with the demo's own settings only: INTAKE_* variables in the shell
    (a production database URL, say) never reach the demo, nor its mail a real server."""

    def _load(self, complete: bool) -> Settings:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        return load_settings(self.config_path, environ, required=True, complete=complete)


# --- the demo ----------------------------------------------------------------------------

class Demo:
    def __init__(self, directory: Path, *, keep: bool, start: datetime | None, echo: Echo,
                 stop: threading.Event | None = None, listen: str = HOST) -> None:
        self.directory = directory.absolute()
        self.keep = keep
        self.listen = listen
        self.echo = echo
        self.tz = ZoneInfo(TIMEZONE)
        self.start = start or datetime.now(UTC)
        self.stop = stop or threading.Event()
        self.result = DemoResult(self.directory)
        self.servers: DemoServers | None = None
        self._app: App | None = None
        self._poller: threading.Thread | None = None
        self._poller_stop = threading.Event()

    @property
    def app(self) -> App:
        assert self._app is not None
        return self._app

    # the clock and the story -------------------------------------------------------------

    def at(self, day: date, hhmm: str) -> datetime:
        return calendar.local_moment(day, hhmm, self.tz)

    def set_clock(self, moment: datetime) -> None:
        # the poller's thread reads it at each step it takes (App.now)
        self.app.now_override = moment.isoformat()

    def say(self, moment: datetime | None, text: str) -> None:
        if moment is None:
            stamp = " " * 16
        else:
            local = moment.astimezone(self.tz)
            stamp = f"{_DAYS[local.weekday()]} {local:%d.%m. %H:%M}"
        self.echo(f"{stamp}  {text}")

    def check(self) -> None:
        if self.stop.is_set():
            raise Interrupted()

    # the run -----------------------------------------------------------------------------

    def run(self) -> DemoResult:
        wall = time.monotonic()
        prepare_directory(self.directory)
        accounts = [BOT, replies.OFFICER] + [p.email for p in replies.DEPARTMENTS]
        self.servers = DemoServers(accounts, PASSWORD, *(KEEP_PORTS if self.keep else (0, 0)),
                                   listen=self.listen)
        try:
            ends = self.servers.start()
            config = write_site(self.directory, ends)
            self.echo(f"intake demo: a week at the town hall of Musterhausen, played in "
                      f"seconds (work directory {self.directory})")
            where = "on loopback" if self.listen not in WILDCARDS else "on every interface"
            self.echo(f"  mail servers {where}: IMAP {ends.host}:{ends.imap_port} (pymap), "
                      f"SMTP {ends.host}:{ends.smtp_port} (aiosmtpd)")
            self._app = DemoApp(config_path=config, config_explicit=True)
            migrate.upgrade(self.app.engine)
            self.play()
            self.result.files = [self.directory / name for name, _ in OUTPUTS
                                 if (self.directory / name).exists()]
            self.result.seconds = time.monotonic() - wall
            with self.app.sessions() as session:
                for line in summary_lines(session, self.result, self.tz):
                    self.echo(line)
            if self.keep:
                self.stay(ends)
            return self.result
        finally:
            self.shutdown()

    def play(self) -> None:
        month = calendar.next_month(calendar.month_of(self.start, self.tz))
        sending = calendar.request_time_for(month, self.tz, STATE, "08:00")
        next_day = calendar.add_working_days(calendar.local_date(sending, self.tz), 1, STATE)
        asking_day = calendar.add_working_days(next_day, 2, STATE)
        dates = Dates.from_day(next_day)

        # the month's requests, through the outbox; then the bot listens
        self.set_clock(sending)
        self.send_requests(sending, month)
        self.start_poller()

        # an absence notice comes back at once
        self.reply(replies.BUERGERBUERO, "an out-of-office notice",
                   sending + timedelta(minutes=1), replies.out_of_office, dates)

        # the next working day, the replies come in
        plays: list[tuple[Person, str, str, Build]] = [
            (replies.BAUAMT, "08:47", "an Outlook reply with signature and photo",
             replies.outlook_with_photo),
            (replies.STANDESAMT, "09:15", "\u201ekeine Themen diesen Monat\u201c",
             replies.no_topics),
            (replies.KITA, "10:32", "a reply typed into the quoted template",
             replies.typed_into_quote),
            (replies.KULTURAMT, "11:58", "a quick iPhone reply without date and place",
             replies.iphone_incomplete),
            (replies.BIBLIOTHEK, "14:21", "a Thunderbird reply with two topics",
             replies.thunderbird_two_topics),
        ]
        for person, hhmm, what, build in plays:
            self.reply(person, what, self.at(next_day, hhmm), build, dates)
        stranger_at = self.at(next_day, "16:40")
        self.arrive(replies.STRANGER, "a mail from someone not in the contacts file",
                    stranger_at, replies.stranger(stranger_at, dates).raw)

        # two working days later the bot asks back, once per person, bundled, and gets an
        # answer the same afternoon; the officer's digest comes on the first digest morning
        # after the replies, which may fall before the question (replies on a Friday) or
        # after the answer: the steps run in the order of the clock, as in `intake run`
        schedule = self.app.settings.schedule
        digest_at = calendar.next_digest_time(stranger_at, self.tz, schedule.digest_weekday,
                                              schedule.digest_time, STATE)
        answer_at = self.at(asking_day, "14:05")
        steps: list[tuple[datetime, Callable[[datetime], None]]] = [
            (self.at(asking_day, "10:00"), self.ask_back),
            (answer_at, lambda moment: self.reply(
                replies.KULTURAMT, "the answer to the question", moment,
                replies.iphone_answer, dates, latest=True)),
            (digest_at, self.digest),
        ]
        for moment, step in sorted(steps, key=lambda s: s[0]):
            self.set_clock(moment)
            step(moment)
        self.stop_poller()  # nothing more arrives; the year's plan reads the database
        self.plan(max(answer_at, digest_at))

    # the steps ---------------------------------------------------------------------------

    def send_requests(self, moment: datetime, month: str) -> None:
        from bot.rounds import send_requests
        from bot.usecases import deliver_outbox

        result = send_requests(self.app, month)
        report = deliver_outbox(self.app)
        if report.connection_error or report.failed or result.failed:
            raise UserError(f"demo: the requests could not be sent: "
                            f"{report.connection_error or 'see `intake outbox`'}")
        self.say(moment, f"the requests for {month}: {report.sent} sent by the outbox, one to "
                         f"each department")
        self.check()

    def start_poller(self) -> None:
        from bot.listening.service import build_poller

        poller = build_poller(self.app)
        self._poller_stop = threading.Event()
        self._poller = threading.Thread(target=poller.run, args=(self._poller_stop,),
                                        name="intake-demo-poller", daemon=True)
        self._poller.start()
        self.say(None, "the bot listens to its inbox (IMAP IDLE, the poller of `intake run`)")

    def stop_poller(self) -> None:
        if self._poller is not None:
            self._poller_stop.set()
            self._poller.join(timeout=15)
            self._poller = None

    def mailbox_of(self, person: Person) -> list[Received]:
        """What the person's mail program shows in the inbox, oldest first."""
        assert self.servers is not None
        mailbox = Mailbox.open(self.servers.imap_settings(person.email),
                               PasswordLogin(PASSWORD))
        try:
            mailbox.select("INBOX")
            raws = mailbox.fetch(mailbox.uids())
        finally:
            mailbox.close()
        return [received(raws[uid], self.tz) for uid in sorted(raws)]

    def reply(self, person: Person, what: str, moment: datetime, build: Build, dates: Dates,
              latest: bool = False) -> None:
        """The person answers the first mail in their inbox (the request), or the latest
        (the follow-up question)."""
        inbox = self.mailbox_of(person)
        if not inbox:
            raise UserError(f"demo: {person.email} received nothing to answer")
        self.arrive(person, what, moment,
                    build(inbox[-1] if latest else inbox[0], moment, dates).raw, answer=latest)

    def arrive(self, person: Person, what: str, moment: datetime, raw: bytes,
               answer: bool = False) -> None:
        """Send one mail to the bot as the person's mail program would, wait for the bot to
        pick it up, and say what it understood."""
        assert self.servers is not None and self.servers.endpoints is not None
        self.check()
        self.set_clock(moment)
        self.save(person, moment, raw)
        ends = self.servers.endpoints
        smtp = SmtpSettings(host=ends.host, port=ends.smtp_port, security="none",
                            username=None, timeout=10)
        with SmtpTransport(smtp, None) as transport:
            transport.send(person.email, [BOT], raw)
        parsed = email.message_from_bytes(raw, policy=default_policy)
        arrival = Arrival(person, what, str(parsed["Message-ID"]).strip(), answer=answer)
        self.wait_for(arrival)
        self.result.arrivals.append(arrival)
        who = f"{person.name} ({person.department})" if person.department else person.name
        self.say(moment, f"{who}: {what}")
        self.say(None, f"  -> {arrival.outcome}")

    def save(self, person: Person, moment: datetime, raw: bytes) -> None:
        """Keep each played mail as a file, for `intake parse` or a mail program."""
        folder = self.directory / "mails"
        folder.mkdir(exist_ok=True)
        slug = (person.department or "stranger").lower().replace(" ", "-")
        for umlaut, plain in (("ü", "ue"), ("ö", "oe"), ("ä", "ae")):
            slug = slug.replace(umlaut, plain)
        (folder / f"{moment.astimezone(self.tz):%m%d-%H%M}-{slug}.eml").write_bytes(raw)

    def wait_for(self, arrival: Arrival) -> None:
        deadline = time.monotonic() + PICKUP_SECONDS
        while True:
            self.check()
            with self.app.sessions() as session:
                row = session.scalar(select(InboundMessage).where(
                    InboundMessage.message_id == arrival.message_id))
                if row is not None and row.status != "new":
                    arrival.status, arrival.kind = row.status, row.kind
                    arrival.outcome = outcome(session, row, self.tz)
                    return
            if self._poller is None or not self._poller.is_alive():
                raise UserError("demo: the bot's poller stopped; run with -v to see why")
            if time.monotonic() > deadline:
                raise UserError(f"demo: the bot did not pick up {arrival.message_id} within "
                                f"{PICKUP_SECONDS:.0f} s; run with -v to see why")
            time.sleep(0.05)

    def ask_back(self, moment: datetime) -> None:
        """What `intake followups` (and the daemon's job) does: reminders that are due,
        then the bundled questions, then the outbox."""
        from bot.listening.askback import ask_back
        from bot.rounds import queue_reminders
        from bot.usecases import deliver_outbox

        reminders = queue_reminders(self.app)
        asked = ask_back(self.app)
        deliver_outbox(self.app)
        labels = self.app.settings.labels()
        for question in asked.queued:
            with self.app.sessions() as session:
                fields = {f for fu in session.scalars(
                    select(FollowUp).join(Topic).where(Topic.what.in_(question.topics)))
                    for f in fu.fields}
            asks = " and ".join(labels[f][0] for f in labels if f in fields)
            self.result.followups.append(f"{question.department} for {asks}")
            self.say(moment, f"a follow-up to {question.to_address} ({question.department}) "
                             f"asks for {asks} of " + ", ".join(_short(t)
                                                                 for t in question.topics))
        for mail in reminders:
            self.say(moment, f"a {mail.kind} to {mail.to_address} ({mail.department})")
        if not asked.queued:
            self.say(moment, "follow-ups: nothing to ask back")
        self.check()

    def digest(self, moment: datetime) -> None:
        """The officer's weekly digest, as the daemon's job (or `intake digest --send`)
        sends it; its HTML is also written to digest.html."""
        try:
            from bot.telling import digest
        except ImportError:
            self.result.no_telling = ("the officer's digest and the year's plan are not part "
                                      "of this version yet")
            self.say(moment, f"the weekly digest: {self.result.no_telling}")
            return
        from bot.usecases import deliver_outbox

        week = calendar.iso_week_label(calendar.local_date(moment, self.tz))
        sent = digest.send(self.app, week, moment)
        built = sent.built or digest.preview(self.app, week, moment)
        (self.directory / "digest.html").write_text(built.rendered.html, encoding="utf-8")
        report = deliver_outbox(self.app)
        mailed = (f"mailed to {self.app.settings.officer.email}" if report.sent
                  else "not mailed (see `intake outbox`)")
        self.say(moment, f"the weekly digest: \u201e{built.rendered.subject}\u201c, {mailed}")
        self.check()

    def plan(self, moment: datetime) -> None:
        """The year's plan, as `intake topics export --format ics|csv|html` writes it."""
        if self.result.no_telling:
            return
        from bot.telling.export import year_plan

        year = calendar.local_date(moment, self.tz).year
        for fmt in ("ics", "csv", "html"):
            plan = year_plan(self.app, fmt, year, moment)
            (self.directory / f"themenplan.{fmt}").write_bytes(plan.data)
        self.say(None, f"the year's plan {year}: a calendar, a spreadsheet and an intranet page")
        self.check()

    # keep and shutdown -------------------------------------------------------------------

    def stay(self, ends: Endpoints) -> None:
        """--keep: servers and bot stay until Ctrl-C, for a person with a mail program."""
        self.start_poller()
        for line in keep_lines(ends, self.directory, self.app.now(),
                               everywhere=self.listen in WILDCARDS):
            self.echo(line)
        while not self.stop.wait(0.5):
            pass
        self.echo("stopping the mail servers")

    def shutdown(self) -> None:
        self.stop_poller()
        if self.servers is not None:
            self.servers.stop()
            self.servers = None
        if self._app is not None:
            self._app.close()


# --- reading mail and the database ----------------------------------------------------

def received(raw: bytes, tz: ZoneInfo) -> Received:
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    name, address = parseaddr(str(msg["From"]))
    body = msg.get_body(("plain",))
    text = str(body.get_content()) if body is not None else ""
    return Received(message_id=str(msg["Message-ID"]).strip(), subject=str(msg["Subject"]),
                    date=parsedate_to_datetime(str(msg["Date"])).astimezone(tz),
                    sender_name=name or address, sender=address,
                    text=text.replace("\r\n", "\n"))


def _short(text: str | None, size: int = 60) -> str:
    text = one_line(text or "?")
    return f"\u201e{text if len(text) <= size else text[:size - 1] + '…'}\u201c"


def describe(session: Session, topic: Topic) -> str:
    when = (f"{topic.when_start:%d.%m.%Y}" if topic.when_start
            else "no date yet" if not topic.when_text else one_line(topic.when_text))
    photos = session.scalar(select(func.count(Attachment.id)).where(
        Attachment.topic_id == topic.id)) or 0
    state = "complete" if topic.status == "complete" else (
        "missing " + ", ".join(topic.missing))
    return f"{_short(topic.what)} {when}, {state}" + (", with photo" if photos else "")


def outcome(session: Session, row: InboundMessage, tz: ZoneInfo) -> str:
    """What the bot made of one mail, in one line."""
    if row.kind == "auto_reply":
        away = session.scalar(select(Absence.until).where(Absence.inbound_id == row.id))
        until = f"; away until {away:%d.%m.%Y}, no mail to her until then" if away else ""
        return f"recognised as automatic, never answered{until}"
    if row.kind == "no_topics":
        return "understood as nothing this month; the request counts as answered"
    if row.status == "quarantined":
        return f"set aside for the officer to look at: {one_line(row.error)}"
    own = list(session.scalars(select(Topic).where(Topic.inbound_id == row.id)
                               .order_by(Topic.position)))
    if own:
        noun = "topic" if len(own) == 1 else "topics"
        return f"{len(own)} {noun}: " + "; ".join(describe(session, t) for t in own)
    changed = list(session.scalars(select(Topic).where(Topic.id.in_(
        select(TopicChange.topic_id).where(TopicChange.inbound_id == row.id)))))
    if changed:
        return "added to " + "; ".join(describe(session, t) for t in changed)
    return f"{row.status}: {one_line(row.error or row.kind)}"


# --- what the person reads at the end -----------------------------------------------------

def summary_lines(session: Session, result: DemoResult, tz: ZoneInfo) -> list[str]:
    arrivals = result.arrivals
    with_topics = [a for a in arrivals if a.kind == "topics" and a.status == "processed"]
    counts = [
        f"{sum(not a.answer for a in with_topics)} with topics",
        f"{sum(a.answer for a in with_topics)} answer to a question",
        f"{sum(a.kind == 'no_topics' for a in arrivals)} \u201ekeine Themen\u201c",
        f"{sum(a.kind == 'auto_reply' for a in arrivals)} out-of-office",
        f"{sum(a.status == 'quarantined' for a in arrivals)} from a stranger",
    ]
    topics = list(session.scalars(select(Topic).where(Topic.status != "withdrawn")))
    complete = sum(t.status == "complete" for t in topics)
    departments = len({t.department_id for t in topics})
    silent = []
    for request, department in session.execute(
            select(Request, Department.name).join(Department, Request.department_id
                                                  == Department.id)
            .where(Request.status.not_in(("answered", "no_topics")))):
        away = session.scalar(select(func.max(Absence.until)).where(
            Absence.contact_id == request.contact_id))
        silent.append(department + (f" (away until {away:%d.%m.%Y})" if away else ""))
    lines = ["", "What happened",
             f"  arrived     {len(arrivals)} mails for the bot: " + ", ".join(counts),
             f"  understood  {len(topics)} topics from {departments} departments, "
             f"{complete} complete, {len(topics) - complete} incomplete",
             "  asked back  " + (f"{len(result.followups)} bundled question(s): "
                                 + "; ".join(result.followups) + "; answered the same "
                                 "afternoon" if result.followups else "nothing"),
             "  no answer   " + (", ".join(silent) or "-")]
    if result.no_telling:
        lines.append(f"  the officer {result.no_telling}")
    else:
        lines += ["  the officer gets the weekly digest and the year's plan:", ""]
        width = max(len(str(p)) for p in result.files) if result.files else 0
        explained = dict(OUTPUTS)
        lines += [f"  {p!s:{width}}  {explained[p.name]}" for p in result.files]
    lines += ["", f"  The played mails are in {result.directory / 'mails'} (`intake parse` "
                  f"reads them);",
              f"  look around with `intake --config {result.directory / 'intake.toml'} "
              f"topics list` (or inbound list, outbox).",
              f"Done in {result.seconds:.1f} s."]
    return lines


def keep_lines(ends: Endpoints, directory: Path, now: datetime,
               everywhere: bool = False) -> list[str]:
    accounts = [f"{BOT} (the bot)", f"{replies.OFFICER} (the officer)"] + [
        f"{p.email} ({p.department})" for p in replies.DEPARTMENTS]
    config = directory / "intake.toml"
    # on every interface (a container's published ports): the name the person's own
    # machine knows this one by, localhost when the ports are published there
    host = "localhost (or this machine's name)" if everywhere else ends.host
    return [
        "",
        "The mail servers stay up until Ctrl-C; point a mail program (Thunderbird) at them:",
        f"  incoming  IMAP {host} port {ends.imap_port}, no encryption, normal password",
        f"  outgoing  SMTP {host} port {ends.smtp_port}, no encryption, no authentication",
        f"  accounts  (password \u201e{PASSWORD}\u201c for each)",
        *(f"            {a}" for a in accounts),
        "The bot keeps listening: answer a request as one of the colleagues, then see",
        f"  intake --config {config} topics list",
        f"  intake --config {config} --now {now.isoformat(timespec='minutes')} followups",
        "(its clock stays where the demo left it; --now keeps a command there too).",
    ]
