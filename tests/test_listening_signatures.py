"""Signatures learned per sender: after two replies that end alike, the third reply's
signature is no longer part of its text, while a line that appeared once stays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

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


def test_a_senders_repeated_tail_is_learned_and_cut(tmp_path: Path, db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        department = Department(name="Stadtwerke", active=True, created_at=NOW)
        session.add(department)
        session.flush()
        session.add(Contact(department_id=department.id, email="petra.lang@musterhausen.de",
                            role="primary", active=True, created_at=NOW, updated_at=NOW))
    bodies = [
        f"Was: Tag der offenen Tür im Wasserwerk\nWann: 6.3.2027\nWo: Wasserwerk Süd\n"
        f"Wer: Werkleitung\nWie viele: 300\n\n{MOTTO}\n",
        f"Was: Baumpflanzung am Solarpark\nWann: 20.3.2027\nWo: Solarpark Ost\n"
        f"Wer: Azubis\nWie viele: 25\n\n{MOTTO}\n",
        f"Was: Energiesparwoche\nWann: KW 14\nWo: Kundenzentrum\nWer: Beratungsteam\n"
        f"Wie viele: offen für alle\nNur diesmal: Anmeldung per Telefon.\n\n{MOTTO}\n",
    ]
    settings = ListenSettings(options=ParseOptions())
    for n, body in enumerate(bodies, 1):
        with sessions.begin() as session:
            store_raw(session, raw=mail(n, body), message_id=f"<sw-{n}@musterhausen.de>",
                      folder="INBOX", uidvalidity=1, uid=n, size=len(body), now=NOW,
                      from_address="Petra Lang <petra.lang@musterhausen.de>")
        process_pending(sessions, settings, lambda: NOW)
    with sessions() as session:
        texts = [r.parsed["reply_text"] for r in session.scalars(
            select(InboundMessage).order_by(InboundMessage.id))]
    engine.dispose()
    assert "Energie für unsere Stadt" in texts[0]  # once is no signature
    assert "Energie für unsere Stadt" in texts[1]
    assert "Energie für unsere Stadt" not in texts[2]  # learned from the two before
    assert "Kundenzentrum am Markt" not in texts[2]
    assert "Nur diesmal: Anmeldung per Telefon." in texts[2]
