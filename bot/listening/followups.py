"""Asking back: which incomplete topics get a question now, bundled per person. Pure.

`decide` is a function of the stored state and `now` only. Its bounds, all configurable:

- at most `max_followups` questions per topic; then the topic goes to the officer;
- at least `quiet_working_days` working days between any two mails to one person (requests,
  reminders and follow-ups counted together, so nobody is flooded);
- only on working days (no weekends, no public holidays);
- none for a topic whose date has passed or starts within `min_days_before` days (too late
  to matter; the officer sees it as incomplete);
- none while the person is away (out-of-office), none to a bouncing or inactive address
  (those go to the officer at once);
- not before `after_hours` after the answer came in (a colleague who sends the rest in a
  second mail a moment later is not asked).

All open questions to one person go out as one mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class TopicState:
    id: int
    contact_id: int
    what: str | None
    missing: tuple[str, ...]
    start: date | None
    end: date | None
    #: when the latest mail about this topic arrived (the answer or the last correction)
    updated_at: datetime
    followups_sent: int = 0
    escalated: bool = False


@dataclass(frozen=True)
class PersonState:
    contact_id: int
    active: bool = True
    bounced: bool = False
    #: last day away (inclusive), from an out-of-office
    absent_until: date | None = None
    #: the last mail the bot sent this person, of any kind
    last_mail_at: datetime | None = None


@dataclass(frozen=True)
class Bounds:
    max_followups: int = 2
    quiet_working_days: int = 2
    min_days_before: int = 3
    after_hours: int = 2


@dataclass(frozen=True)
class Question:
    topic_id: int
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Ask:
    """One bundled mail to one person."""

    contact_id: int
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Decision:
    asks: tuple[Ask, ...] = ()
    #: topic id -> why nothing is asked now (it may be later)
    held: dict[int, str] = field(default_factory=dict)
    #: topic id -> why it goes to the officer as incomplete (no question will follow)
    escalate: dict[int, str] = field(default_factory=dict)


def working_days_since(then: date, today: date, is_working_day: Callable[[date], bool]) -> int:
    """Working days after `then` up to and including `today` (0 on the same day)."""
    count = 0
    day = then + timedelta(days=1)
    while day <= today:
        if is_working_day(day):
            count += 1
        day += timedelta(days=1)
    return count


def decide(topics: Iterable[TopicState], people: Sequence[PersonState], *, now: datetime,
           today: date, bounds: Bounds, is_working_day: Callable[[date], bool],
           local_date: Callable[[datetime], date]) -> Decision:
    """`today` is `now`'s local date; `local_date` turns stored times into local dates."""
    by_person = {p.contact_id: p for p in people}
    held: dict[int, str] = {}
    escalate: dict[int, str] = {}
    wanted: dict[int, list[Question]] = {}
    working_today = is_working_day(today)

    for topic in sorted(topics, key=lambda t: t.id):
        if topic.escalated or not topic.missing:
            continue
        person = by_person.get(topic.contact_id)
        if person is None or not person.active:
            escalate[topic.id] = "Kontakt nicht mehr aktiv"
            continue
        if person.bounced:
            escalate[topic.id] = "Adresse unzustellbar"
            continue
        last_day = topic.end or topic.start
        if last_day is not None and last_day < today:
            escalate[topic.id] = "Termin ist vorbei"
            continue
        if topic.start is not None and (topic.start - today).days < bounds.min_days_before:
            escalate[topic.id] = "zu kurzfristig für eine Rückfrage"
            continue
        if topic.followups_sent >= bounds.max_followups:
            escalate[topic.id] = f"{topic.followups_sent} Rückfrage(n) ohne vollständige Antwort"
            continue
        if person.absent_until is not None and person.absent_until >= today:
            held[topic.id] = f"abwesend bis {person.absent_until.isoformat()}"
            continue
        if not working_today:
            held[topic.id] = "kein Arbeitstag"
            continue
        if now - topic.updated_at < timedelta(hours=bounds.after_hours):
            held[topic.id] = "Antwort ist noch ganz frisch"
            continue
        if person.last_mail_at is not None and working_days_since(
                local_date(person.last_mail_at), today, is_working_day) < bounds.quiet_working_days:
            held[topic.id] = "Ruhezeit nach der letzten Mail"
            continue
        wanted.setdefault(topic.contact_id, []).append(Question(topic.id, topic.missing))

    asks = tuple(Ask(contact_id, tuple(questions))
                 for contact_id, questions in sorted(wanted.items()))
    return Decision(asks=asks, held=held, escalate=escalate)


@dataclass(frozen=True)
class Asked:
    """One topic a follow-up asked about, in the order of the question's blocks."""

    topic_id: int
    fields: tuple[str, ...]
    what: str | None = None


def assign(answers: Sequence[tuple[str | None, frozenset[str]]],
           asked: Sequence[Asked]) -> list[tuple[int, int]]:
    """Which parsed answer block belongs to which asked topic: [(answer index, topic id)].

    `answers`: per parsed block, its `what` and the fields it filled. Rules, in order:
    a block whose `what` names an asked topic goes to it; with as many blocks as asked
    topics, the order decides (the question's blocks come back in the same order); else a
    block goes to the first open topic that was asked for every field the block fills,
    and failing that to the first open topic. Each topic takes one block at most.
    """
    pairs: list[tuple[int, int]] = []
    open_topics = list(asked)

    def take(index: int, topic: Asked) -> None:
        pairs.append((index, topic.topic_id))
        open_topics.remove(topic)

    rest: list[int] = []
    for index, (what, _filled) in enumerate(answers):
        named = [t for t in open_topics if what and t.what
                 and what.casefold().strip() == t.what.casefold().strip()]
        if named:
            take(index, named[0])
        else:
            rest.append(index)
    if len(rest) == len(open_topics):
        for index, topic in zip(rest, list(open_topics), strict=True):
            take(index, topic)
        return sorted(pairs)
    for index in rest:
        if not open_topics:
            break
        filled = answers[index][1] - {"what"}
        fitting = [t for t in open_topics if filled and filled <= set(t.fields)]
        take(index, fitting[0] if fitting else open_topics[0])
    return sorted(pairs)
