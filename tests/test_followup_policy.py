"""The follow-up policy as a pure function: its bounds hold over generated histories,
whatever the sequence of replies, absences and bounces; and answers find their topics."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import is_working_day as german_working_day
from bot.listening.followups import (
    Asked,
    Bounds,
    PersonState,
    TopicState,
    assign,
    decide,
    working_days_since,
)

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # a Monday


def working(day: date) -> bool:
    return german_working_day(day, "NW")


def local(moment: datetime) -> date:
    return moment.date()


DEFAULT_BOUNDS = Bounds()


def run(topics: list[TopicState], people: list[PersonState], now: datetime,
        bounds: Bounds = DEFAULT_BOUNDS):  # type: ignore[no-untyped-def]
    return decide(topics, people, now=now, today=now.date(), bounds=bounds,
                  is_working_day=working, local_date=local)


def topic(id_: int = 1, contact: int = 7, missing: tuple[str, ...] = ("when", "where"),
          start: date | None = date(2027, 5, 1), sent: int = 0,
          updated: datetime = START - timedelta(days=3)) -> TopicState:
    return TopicState(id=id_, contact_id=contact, what=f"Thema {id_}", missing=missing,
                      start=start, end=None, updated_at=updated, followups_sent=sent)


PERSON = PersonState(contact_id=7, last_mail_at=START - timedelta(days=7))


def test_one_bundled_question_per_person_asking_only_what_is_missing() -> None:
    decision = run([topic(1), topic(2, missing=("who",)), topic(3, contact=8)],
                   [PERSON, PersonState(contact_id=8)], START)
    assert [(a.contact_id, [(q.topic_id, q.fields) for q in a.questions])
            for a in decision.asks] == [(7, [(1, ("when", "where")), (2, ("who",))]),
                                        (8, [(3, ("when", "where"))])]
    assert decision.held == {} and decision.escalate == {}


def test_every_bound_and_its_reason() -> None:
    cases = {
        "kein Arbeitstag": (topic(), PERSON, START + timedelta(days=5)),  # Saturday
        "Ruhezeit nach der letzten Mail": (topic(), replace(PERSON, last_mail_at=START), START),
        "Antwort ist noch ganz frisch": (topic(updated=START - timedelta(minutes=30)), PERSON,
                                         START),
        "abwesend bis 2027-03-05": (topic(), replace(PERSON, absent_until=date(2027, 3, 5)),
                                    START),
    }
    for reason, (t, person, now) in cases.items():
        decision = run([t], [person], now)
        assert decision.asks == () and decision.held == {t.id: reason}, reason
    escalations = {
        "2 Rückfrage(n) ohne vollständige Antwort": (topic(sent=2), PERSON),
        "Adresse unzustellbar": (topic(), replace(PERSON, bounced=True)),
        "Kontakt nicht mehr aktiv": (topic(), replace(PERSON, active=False)),
        "Termin ist vorbei": (topic(start=date(2027, 2, 20)), PERSON),
        "zu kurzfristig für eine Rückfrage": (topic(start=date(2027, 3, 2)), PERSON),
    }
    for reason, (t, person) in escalations.items():
        decision = run([t], [person], START)
        assert decision.asks == () and decision.escalate == {t.id: reason}, reason
    # Easter Monday 2027 is a holiday in NW
    assert run([topic()], [PERSON], datetime(2027, 3, 29, 9, tzinfo=UTC)).held == {
        1: "kein Arbeitstag"}


def test_complete_or_escalated_topics_are_left_alone() -> None:
    done = replace(topic(), missing=())
    gone = replace(topic(2), escalated=True)
    decision = run([done, gone], [PERSON], START)
    assert decision.asks == () and decision.held == {} and decision.escalate == {}


events = st.lists(st.tuples(
    st.integers(0, 59),  # day of the event
    st.sampled_from(["answer_all", "answer_one", "nothing", "away", "bounce", "request"]),
    st.integers(0, 3),  # which topic / how many days away
), max_size=25)


@settings(max_examples=150, deadline=None)
@given(events=events,
       max_followups=st.integers(0, 3), quiet=st.integers(0, 4), min_days=st.integers(0, 5),
       starts=st.lists(st.integers(-5, 70), min_size=1, max_size=4))
def test_no_person_ever_gets_more_than_the_bounds_allow(
        events: list[tuple[int, str, int]], max_followups: int, quiet: int, min_days: int,
        starts: list[int]) -> None:
    bounds = Bounds(max_followups=max_followups, quiet_working_days=quiet,
                    min_days_before=min_days, after_hours=2)
    first = START.date()
    topics = {i: topic(i, start=first + timedelta(days=s), missing=("when", "where", "who"),
                       updated=START - timedelta(days=1))
              for i, s in enumerate(starts, 1)}
    person = replace(PERSON, last_mail_at=None)
    asked_per_topic = dict.fromkeys(topics, 0)
    for day in range(60):
        now = START + timedelta(days=day)
        for when, kind, n in events:
            if when != day:
                continue
            if kind == "answer_all" and n + 1 in topics:
                topics[n + 1] = replace(topics[n + 1], missing=(), updated_at=now)
            elif kind == "answer_one" and n + 1 in topics and topics[n + 1].missing:
                topics[n + 1] = replace(topics[n + 1], missing=topics[n + 1].missing[1:],
                                        updated_at=now)
            elif kind == "away":
                person = replace(person, absent_until=now.date() + timedelta(days=n))
            elif kind == "bounce":
                person = replace(person, bounced=True)
            elif kind == "request":  # a request or reminder also counts as mail to them
                person = replace(person, last_mail_at=now)
        decision = run(list(topics.values()), [person], now, bounds)
        for topic_id in decision.escalate:
            topics[topic_id] = replace(topics[topic_id], escalated=True)
        assert len(decision.asks) <= 1
        for ask in decision.asks:
            today = now.date()
            assert working(today)
            assert not person.bounced
            assert person.absent_until is None or person.absent_until < today
            if person.last_mail_at is not None:
                assert working_days_since(person.last_mail_at.date(), today, working) >= quiet
            for question in ask.questions:
                t = topics[question.topic_id]
                assert set(question.fields) == set(t.missing) and question.fields
                assert t.start is None or (t.start - today).days >= min_days
                asked_per_topic[t.id] += 1
                assert asked_per_topic[t.id] <= max_followups
                topics[t.id] = replace(t, followups_sent=t.followups_sent + 1)
            person = replace(person, last_mail_at=now)
    # never more questions in all than the budget allows for every topic together
    assert sum(asked_per_topic.values()) <= max_followups * len(topics)


def test_answers_find_their_topics() -> None:
    asked = [Asked(1, ("when", "where"), "Sommerfest"), Asked(2, ("who",), "Lesenacht")]
    # as many blocks as questions: the order decides
    assert assign([(None, frozenset({"when"})), (None, frozenset({"who"}))], asked) == [
        (0, 1), (1, 2)]
    # one block: the topic that was asked for what it fills
    assert assign([(None, frozenset({"who"}))], asked) == [(0, 2)]
    assert assign([(None, frozenset({"where"}))], asked) == [(0, 1)]
    # a block naming its topic wins, whatever the order
    assert assign([("Lesenacht", frozenset({"who"})), ("Sommerfest", frozenset({"when"}))],
                  asked) == [(0, 2), (1, 1)]
    # more blocks than topics: the extra one is left out
    assert len(assign([(None, frozenset({"when"}))] * 3, asked)) == 2
