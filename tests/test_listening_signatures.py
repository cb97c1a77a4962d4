"""Signatures learned per sender: after two replies that end alike, the third reply's
signature is no longer part of its text, while a line that appeared once stays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.listening.process import ListenSettings, process_pending
from db import migrate
from db.engine import make_engine, session_factory
from db.inbound import store_raw
from db.models import Contact, Department, InboundMessage
from parsers import ParseOptions

NOW = datetime(2027, 1, 5, 9, tzinfo=UTC)
MOTTO = ("Stadtwerke Musterhausen – Energie für unsere Stadt\n"
         "Kundenzentrum am Markt, Mo-Fr 8-16 Uhr")


def mail(n: int, body: str) -> bytes:
    return (f"From: Petra Lang <petra.lang@musterhausen.de>\r\nTo: themen@musterhausen.de\r\n"
            f"Subject: Themen\r\nMessage-ID: <sw-{n}@musterhausen.de>\r\n"
            f"Date: Mon, 4 Jan 2027 10:0{n}:00 +0100\r\nContent-Type: text/plain; "
            f"charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}").encode()


def petra_of_the_stadtwerke(db_url: str) -> tuple[Engine, sessionmaker[Session]]:
    """A migrated database with one department and its contact, Petra Lang."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        department = Department(name="Stadtwerke", active=True, created_at=NOW)
        session.add(department)
        session.flush()
        session.add(Contact(department_id=department.id, email="petra.lang@musterhausen.de",
                            role="primary", active=True, created_at=NOW, updated_at=NOW))
    return engine, sessions


def receive_one_by_one(sessions: sessionmaker[Session], bodies: list[str]) -> list[str]:
    """Petra's mails stored and processed one after the other, as months pass; their texts
    as stored."""
    settings = ListenSettings(options=ParseOptions())
    for n, body in enumerate(bodies, 1):
        with sessions.begin() as session:
            store_raw(session, raw=mail(n, body), message_id=f"<sw-{n}@musterhausen.de>",
                      folder="INBOX", uidvalidity=1, uid=n, size=len(body), now=NOW,
                      from_address="Petra Lang <petra.lang@musterhausen.de>")
        process_pending(sessions, settings, lambda: NOW)
    with sessions() as session:
        return [r.parsed["reply_text"] for r in session.scalars(
            select(InboundMessage).order_by(InboundMessage.id))]


def test_a_senders_repeated_tail_is_learned_and_cut(tmp_path: Path, db_url: str) -> None:
    engine, sessions = petra_of_the_stadtwerke(db_url)
    bodies = [
        f"Was: Tag der offenen Tür im Wasserwerk\nWann: 6.3.2027\nWo: Wasserwerk Süd\n"
        f"Wer: Werkleitung\nWie viele: 300\n\n{MOTTO}\n",
        f"Was: Baumpflanzung am Solarpark\nWann: 20.3.2027\nWo: Solarpark Ost\n"
        f"Wer: Azubis\nWie viele: 25\n\n{MOTTO}\n",
        f"Was: Energiesparwoche\nWann: KW 14\nWo: Kundenzentrum\nWer: Beratungsteam\n"
        f"Wie viele: offen für alle\nNur diesmal: Anmeldung per Telefon.\n\n{MOTTO}\n",
    ]
    texts = receive_one_by_one(sessions, bodies)
    engine.dispose()
    assert "Energie für unsere Stadt" in texts[0]  # once is no signature
    assert "Energie für unsere Stadt" in texts[1]
    assert "Energie für unsere Stadt" not in texts[2]  # learned from the two before
    assert "Kundenzentrum am Markt" not in texts[2]
    assert "Nur diesmal: Anmeldung per Telefon." in texts[2]


def test_a_batchs_senders_are_looked_up_together(db_url: str) -> None:
    """One statement for every sender of a batch: each gets the tail of its own last
    replies, counting only processed mail written by the person, before the batch."""
    from bot.listening.signatures import known_signatures_of

    engine = make_engine(db_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    tail = {1: "Bauamt Musterhausen\nMarkt 1, Zimmer 204", 2: "Ihr Team der Stadtbücherei"
            "\nÖffnungszeiten: Di-Fr 10-18 Uhr"}
    with sessions.begin() as session:
        department = Department(name="Bauamt", active=True, created_at=NOW)
        session.add(department)
        session.flush()
        people = [Contact(department_id=department.id, email=f"p{n}@musterhausen.de",
                          role="primary", active=True, created_at=NOW, updated_at=NOW)
                  for n in (1, 2, 3)]
        session.add_all(people)
        session.flush()
        rows = [  # (person, status, automatic, reply text)
            (1, "processed", False, f"Was: Richtfest\n\n{tail[1]}"),
            (2, "processed", False, f"Lesung am 3.3.\n\n{tail[2]}"),
            (1, "processed", False, f"Was: Baustellenfest\n\n{tail[1]}"),
            (2, "auto_reply", True, f"Ich bin nicht im Haus.\n\n{tail[2]}"),
            (3, "processed", False, "Keine Themen.\n\nGruß aus dem Ordnungsamt"),
            (2, "processed", False, f"Bücherflohmarkt im Mai\n\n{tail[2]}"),
            (2, "processed", False, f"Neu: Lesecafé\n\n{tail[2]}"),  # the batch's own
        ]
        for n, (person, status, automatic, text) in enumerate(rows, 1):
            session.add(InboundMessage(
                message_id=f"<s{n}@test>", folder="INBOX", uidvalidity=1, uid=n,
                sha256=f"{n:064d}", raw=b"x", size=1, received_at=NOW, status=status,
                automatic=automatic, contact_id=people[person - 1].id,
                parsed={"reply_text": text}))
    with sessions() as session:
        last = max(session.scalars(select(InboundMessage.id)))
        found = known_signatures_of(session, [p.id for p in people], before_id=last)
    engine.dispose()
    assert found[people[0].id] == (tail[1],)
    # the out-of-office does not count: two replies of the person share the tail
    assert found[people[1].id] == (tail[2],)
    assert found[people[2].id] == ()  # one mail is no signature


def test_the_signature_stays_learned_mail_after_mail(tmp_path: Path, db_url: str) -> None:
    """Once cut, a signature is still counted in the mails it was cut from: the twelfth
    monthly reply loses it as the third did."""
    engine, sessions = petra_of_the_stadtwerke(db_url)
    texts = receive_one_by_one(sessions, [
        f"Was: Führung Nr. {n} im Wasserwerk\nWann: {n}.3.2027\n\n{MOTTO}\n"
        for n in range(1, 13)])
    engine.dispose()
    kept = ["Energie für unsere Stadt" in text for text in texts]
    assert kept == [True, True] + [False] * 10
