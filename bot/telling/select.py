"""What the digest, the year's plan, the agenda and the contacts overview show.

Query functions: they take a Session, never commit, and return frozen values, so the pure
ranking and the rendering below them never touch the database (or trip over a lazy load).
Withdrawn topics are never shown. Moments are aware datetimes (UTC in the database);
calendar days are `date`s in the configured time zone, converted by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from db.models import (
    Attachment,
    Contact,
    Department,
    FollowUp,
    InboundMessage,
    Request,
    RequestRound,
    Topic,
)

#: the officer finds a topic by this: "T-123" (`intake topics list` shows the number)
REF_PREFIX = "T-"
#: inbound statuses that wait for a human, in the order the digest lists them
SET_ASIDE_STATUSES = ("quarantined", "unrecognized", "failed", "oversized")
#: a database takes this many bound parameters per IN (...) comfortably (SQLite: 32766)
_CHUNK = 900


def topic_ref(topic_id: int) -> str:
    return f"{REF_PREFIX}{topic_id}"


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str
    content_type: str

    @property
    def is_image(self) -> bool:
        return self.content_type.lower().startswith("image/")


@dataclass(frozen=True)
class TopicView:
    id: int
    department_id: int
    department: str
    contact_name: str | None
    contact_email: str | None
    status: str
    what: str | None
    when_text: str | None
    when_start: date | None
    when_end: date | None
    when_time: str | None
    where: str | None
    who: str | None
    how_many_text: str | None
    quote: str | None
    missing: tuple[str, ...]
    attachments: tuple[AttachmentInfo, ...]
    created_at: datetime
    updated_at: datetime
    #: the follow-up budget is spent: nobody asks again, the officer has to
    escalated_at: datetime | None
    followups_sent: int
    #: the oldest follow-up question still without an answer
    followup_open_since: datetime | None

    @property
    def ref(self) -> str:
        return topic_ref(self.id)

    @property
    def last_day(self) -> date | None:
        return self.when_end or self.when_start

    @property
    def has_photo(self) -> bool:
        return any(a.is_image for a in self.attachments)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


#: the topic columns a TopicView takes, in its field order after department and contact
_TOPIC_COLUMNS = (Topic.status, Topic.what, Topic.when_text, Topic.when_start, Topic.when_end,
                  Topic.when_time, Topic.where, Topic.who, Topic.how_many_text, Topic.quote,
                  Topic.missing)


def topics(session: Session, *conditions: ColumnElement[bool]) -> list[TopicView]:
    """The topics matching all `conditions` (withdrawn ones never), in date order (undated
    last), with their attachments and follow-up state."""
    # plain columns, not ORM entities: a year of topics loads several times faster
    stmt = (select(Topic.id, Topic.department_id, Department.name, Contact.name, Contact.email,
                   *_TOPIC_COLUMNS, Topic.created_at, Topic.updated_at, Topic.escalated_at)
            .join(Department, Topic.department_id == Department.id)
            .outerjoin(Contact, Topic.contact_id == Contact.id)
            .where(Topic.status != "withdrawn", *conditions)
            .order_by(Topic.when_start.is_(None), Topic.when_start, Topic.when_time, Topic.id))
    rows = session.execute(stmt).all()
    ids = [row[0] for row in rows]
    attachments: dict[int, list[AttachmentInfo]] = {}
    sent: dict[int, int] = {}
    open_since: dict[int, datetime] = {}
    for chunk in _chunks(ids):
        for topic_id, filename, content_type in session.execute(
                select(Attachment.topic_id, Attachment.filename, Attachment.content_type)
                .where(Attachment.topic_id.in_(chunk)).order_by(Attachment.id)):
            if topic_id is not None:
                attachments.setdefault(topic_id, []).append(
                    AttachmentInfo(filename, content_type))
        for topic_id, count, oldest_open in session.execute(
                select(FollowUp.topic_id, func.count(FollowUp.id),
                       func.min(case((FollowUp.answered_at.is_(None), FollowUp.created_at))))
                .where(FollowUp.topic_id.in_(chunk)).group_by(FollowUp.topic_id)):
            sent[topic_id] = int(count)
            if oldest_open is not None:
                open_since[topic_id] = oldest_open
    return [TopicView(
        id=row[0], department_id=row[1], department=row[2], contact_name=row[3],
        contact_email=row[4], status=row[5], what=row[6], when_text=row[7], when_start=row[8],
        when_end=row[9], when_time=row[10], where=row[11], who=row[12], how_many_text=row[13],
        quote=row[14], missing=tuple(row[15] or ()),
        attachments=tuple(attachments.get(row[0], ())), created_at=row[16],
        updated_at=row[17], escalated_at=row[18], followups_sent=sent.get(row[0], 0),
        followup_open_since=open_since.get(row[0]),
    ) for row in rows]


def _last_day() -> ColumnElement[date]:
    return func.coalesce(Topic.when_end, Topic.when_start)


def received_between(session: Session, since: datetime, until: datetime) -> list[TopicView]:
    """Topics that arrived after `since`, up to and including `until`."""
    return topics(session, Topic.created_at > since, Topic.created_at <= until)


def dated_between(session: Session, first: date, last: date) -> list[TopicView]:
    """Topics on at least one day from `first` to `last` (a range counts where it overlaps)."""
    return topics(session, Topic.when_start.is_not(None), Topic.when_start <= last,
                  _last_day() >= first)


def incomplete_from(session: Session, today: date) -> list[TopicView]:
    """Incomplete topics that are not over yet (undated ones included)."""
    return topics(session, Topic.status == "incomplete",
                  (Topic.when_start.is_(None)) | (_last_day() >= today))


def of_year(session: Session, first: date, last: date, received_from: datetime,
            received_until: datetime) -> tuple[list[TopicView], list[TopicView]]:
    """(dated topics on a day of the year, undated topics received in it)."""
    dated = dated_between(session, first, last)
    undated = topics(session, Topic.when_start.is_(None), Topic.created_at >= received_from,
                     Topic.created_at < received_until)
    return dated, undated


@dataclass(frozen=True)
class DepartmentInfo:
    id: int
    name: str
    active: bool


def departments(session: Session, active_only: bool = True) -> list[DepartmentInfo]:
    stmt = select(Department.id, Department.name, Department.active).order_by(Department.name)
    if active_only:
        stmt = stmt.where(Department.active.is_(True))
    return [DepartmentInfo(*row) for row in session.execute(stmt)]


def received_per_department(session: Session, since: datetime, until: datetime
                            ) -> dict[str, int]:
    """Topics received per department name in [since, until) (departments with none left
    out)."""
    rows = session.execute(
        select(Department.name, func.count(Topic.id))
        .join(Department, Topic.department_id == Department.id)
        .where(Topic.status != "withdrawn", Topic.created_at >= since, Topic.created_at < until)
        .group_by(Department.name))
    return {name: int(count) for name, count in rows}


def has_history(session: Session) -> bool:
    """Whether the bot has begun: a round was opened or a topic arrived."""
    return (session.scalar(select(RequestRound.id).limit(1)) is not None
            or session.scalar(select(Topic.id).limit(1)) is not None)


# --- rounds: who has not answered ------------------------------------------------------------

@dataclass(frozen=True)
class RoundInfo:
    id: int
    month: str
    deadline: date | None


def latest_round(session: Session, month: str) -> RoundInfo | None:
    """The newest round up to and including `month` ("YYYY-MM")."""
    row = session.execute(select(RequestRound.id, RequestRound.month, RequestRound.deadline)
                          .where(RequestRound.month <= month)
                          .order_by(RequestRound.month.desc()).limit(1)).first()
    return RoundInfo(*row) if row else None


def latest_rounds(session: Session, month: str, count: int) -> list[RoundInfo]:
    rows = session.execute(select(RequestRound.id, RequestRound.month, RequestRound.deadline)
                           .where(RequestRound.month <= month)
                           .order_by(RequestRound.month.desc()).limit(count))
    return [RoundInfo(*row) for row in rows]


@dataclass(frozen=True)
class Unanswered:
    department: str
    contact_name: str | None
    contact_email: str
    sent_at: datetime | None
    reminders_sent: int


def unanswered(session: Session, round_id: int) -> list[Unanswered]:
    """Active departments whose request of this round has no answer (neither topics nor
    "keine Themen")."""
    rows = session.execute(
        select(Department.name, Contact.name, Contact.email, Request.sent_at,
               Request.reminders_sent)
        .join(Department, Request.department_id == Department.id)
        .join(Contact, Request.contact_id == Contact.id)
        .where(Request.round_id == round_id, Request.status.in_(("queued", "sent")),
               Department.active.is_(True))
        .order_by(Department.name))
    return [Unanswered(*row) for row in rows]


@dataclass(frozen=True)
class Silent:
    """A department that sent no topics in any of the last rounds."""

    department: str
    contact_email: str
    #: per round, oldest first: "" (no answer) or "no_topics" (answered "keine Themen")
    answers: tuple[str, ...]


def silent_for_rounds(session: Session, month: str, rounds: int = 2) -> tuple[
        list[RoundInfo], list[Silent]]:
    """Departments asked in each of the last `rounds` rounds up to `month` that sent no
    topics in any of them; ([] , []) while there are fewer rounds."""
    found = latest_rounds(session, month, rounds)
    if len(found) < rounds:
        return found, []
    found.reverse()
    ids = [r.id for r in found]
    per_department: dict[str, dict[int, tuple[str, str]]] = {}
    for name, email, round_id, status in session.execute(
            select(Department.name, Contact.email, Request.round_id, Request.status)
            .join(Department, Request.department_id == Department.id)
            .join(Contact, Request.contact_id == Contact.id)
            .where(Request.round_id.in_(ids), Department.active.is_(True))):
        per_department.setdefault(name, {})[round_id] = (email, status)
    silent = []
    for name in sorted(per_department):
        answers = per_department[name]
        if len(answers) == rounds and all(s != "answered" for _, s in answers.values()):
            email = answers[ids[-1]][0]
            silent.append(Silent(name, email, tuple(
                "no_topics" if answers[i][1] == "no_topics" else "" for i in ids)))
    return found, silent


# --- addresses and mail that need a human --------------------------------------------------

@dataclass(frozen=True)
class Bounce:
    department: str
    email: str
    name: str | None
    since: datetime
    reason: str | None


def bouncing(session: Session) -> list[Bounce]:
    rows = session.execute(
        select(Department.name, Contact.email, Contact.name, Contact.bounced_at,
               Contact.bounce_reason)
        .join(Department, Contact.department_id == Department.id)
        .where(Contact.bounced_at.is_not(None), Contact.active.is_(True))
        .order_by(Department.name, Contact.email))
    return [Bounce(department, email, name, since, reason)
            for department, email, name, since, reason in rows if since is not None]


@dataclass(frozen=True)
class SetAside:
    id: int
    status: str
    sender: str | None
    subject: str | None
    reason: str | None
    received_at: datetime


def set_aside(session: Session, since: datetime, limit: int) -> tuple[list[SetAside], int]:
    """Mail set aside since `since` (newest first, at most `limit`), and how many more wait
    for a human in total (older ones and those over the limit)."""
    waiting = InboundMessage.status.in_(SET_ASIDE_STATUSES)
    rows = session.execute(
        select(InboundMessage.id, InboundMessage.status, InboundMessage.from_address,
               InboundMessage.subject, InboundMessage.error, InboundMessage.received_at)
        .where(waiting, InboundMessage.received_at > since)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(limit))
    shown = [SetAside(*row) for row in rows]
    total = session.scalar(select(func.count(InboundMessage.id)).where(waiting)) or 0
    return shown, int(total) - len(shown)


# --- the contacts overview -----------------------------------------------------------------

@dataclass(frozen=True)
class ContactLine:
    email: str
    name: str | None
    role: str
    bounced_at: datetime | None


@dataclass(frozen=True)
class DepartmentOverview:
    department: str
    active: bool
    contacts: tuple[ContactLine, ...]  # primary first, then deputies
    last_answer: datetime | None
    topics_this_year: int

    @property
    def primary(self) -> ContactLine | None:
        return next((c for c in self.contacts if c.role == "primary"), None)

    @property
    def deputies(self) -> tuple[ContactLine, ...]:
        return tuple(c for c in self.contacts if c.role != "primary")

    @property
    def bouncing(self) -> tuple[ContactLine, ...]:
        return tuple(c for c in self.contacts if c.bounced_at is not None)


def contacts_overview(session: Session, year_from: datetime, year_until: datetime
                      ) -> list[DepartmentOverview]:
    """Every department (active first) with its active contacts, its last answer (a
    request answered or a topic received) and the topics received in [year_from,
    year_until)."""
    people: dict[int, list[ContactLine]] = {}
    for department_id, email, name, role, bounced_at in session.execute(
            select(Contact.department_id, Contact.email, Contact.name, Contact.role,
                   Contact.bounced_at)
            .where(Contact.active.is_(True))
            .order_by(Contact.role != "primary", Contact.email)):
        people.setdefault(department_id, []).append(ContactLine(email, name, role, bounced_at))
    answered = dict(session.execute(
        select(Request.department_id, func.max(Request.answered_at))
        .group_by(Request.department_id)).all())
    received = dict(session.execute(
        select(Topic.department_id, func.max(Topic.created_at))
        .group_by(Topic.department_id)).all())
    this_year = dict(session.execute(
        select(Topic.department_id, func.count(Topic.id))
        .where(Topic.status != "withdrawn", Topic.created_at >= year_from,
               Topic.created_at < year_until)
        .group_by(Topic.department_id)).all())
    out = []
    for dept in session.execute(select(Department.id, Department.name, Department.active)
                                .order_by(Department.active.desc(), Department.name)):
        moments = [m for m in (answered.get(dept.id), received.get(dept.id)) if m is not None]
        out.append(DepartmentOverview(
            department=dept.name, active=bool(dept.active),
            contacts=tuple(people.get(dept.id, ())), last_answer=max(moments, default=None),
            topics_this_year=int(this_year.get(dept.id, 0))))
    return out
