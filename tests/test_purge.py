"""`intake purge`: what is past its retention goes (a dry run counts the same and deletes
nothing); what is still needed stays, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from bot.blobs import blob_content
from db.models import (
    Attachment,
    Blob,
    FollowUp,
    InboundMessage,
    OutboxMessage,
    Topic,
    TopicChange,
)
from tests.test_telling import MONDAY, Seeder, app_for, intake, seed, write_site

RETENTION = "[retention]\nraw_mail_days = 30\nattachments_days = 100\ntopics_days = 365\n"


def _blob(s: Seeder, name: str, size: int) -> str:
    digest = f"{name:0<64}"[:64]
    s.session.add(Blob(sha256=digest, size=size, data=b"x" * size, created_at=s.now))
    return digest


def _file(s: Seeder, topic: Topic, digest: str, age_days: int) -> None:
    s.session.add(Attachment(inbound_id=topic.inbound_id, topic_id=topic.id,
                             filename="foto.jpg", content_type="image/jpeg", size=10,
                             sha256=digest, created_at=s.now - timedelta(days=age_days)))


def _sent(s: Seeder, n: int, status: str, age_days: int) -> None:
    at = s.now - timedelta(days=age_days)
    s.session.add(OutboxMessage(
        kind="request", dedupe_key=f"request:{n}", message_id=f"<out{n}@test>",
        to_address="bauamt@musterhausen.test", subject="Ihre Themen", raw=b"x" * 1000,
        status=status, attempts=1, next_attempt_at=at, created_at=at,
        sent_at=at if status == "sent" else None))


def a_town_hall_with_history(s: Seeder) -> None:
    s.department("Bauamt", "bauamt@musterhausen.test", "Erika Muster")
    year = timedelta(days=365)
    # events over a year ago: go, with their history, questions and files
    old = s.topic("Bauamt", "Spatenstich Kita Nord", start=date(2025, 6, 1),
                  created_at=MONDAY - 2 * year)
    s.session.add(TopicChange(topic_id=old.id, inbound_id=old.inbound_id, field="where",
                              old_value=None, new_value={"text": "Kita Nord"},
                              changed_at=s.now - year))
    s.session.add(FollowUp(topic_id=old.id, contact_id=s.contacts["Bauamt"].id,
                           fields=["who"], created_at=s.now - year))
    s.topic("Bauamt", "Sommerfest", created_at=MONDAY - timedelta(days=400))  # no date
    # announced long ago, the event is recent or still to come: stays
    recent = s.topic("Bauamt", "Brückenfest", start=date(2026, 6, 1), end=date(2026, 6, 2),
                     created_at=MONDAY - timedelta(days=420))
    coming = s.topic("Bauamt", "Stadtjubiläum", start=date(2027, 9, 1),
                     created_at=MONDAY - timedelta(days=500))
    shared = _blob(s, "shared", 300)  # the same photo sent for an old and a coming topic
    _file(s, old, shared, 400)
    _file(s, old, _blob(s, "oldonly", 500), 400)
    _file(s, coming, shared, 20)
    _file(s, recent, _blob(s, "stale", 700), 200)  # the file is past its 100 days
    s.inbound(status="processed", received_at=MONDAY - timedelta(days=60))
    s.inbound(status="new", received_at=MONDAY - timedelta(days=60))  # not processed yet
    s.inbound(status="quarantined", received_at=MONDAY - timedelta(days=10))
    _sent(s, 1, "sent", 60)
    _sent(s, 2, "failed", 60)  # may still be retried
    _sent(s, 3, "sent", 5)


def snapshot(site: Path) -> dict[str, object]:
    app = app_for(site)
    try:
        with app.sessions() as session:
            return {
                "topics": sorted(session.scalars(select(Topic.what))),
                "changes": len(session.scalars(select(TopicChange.id)).all()),
                "followups": len(session.scalars(select(FollowUp.id)).all()),
                "files": sorted((a.topic_id, a.sha256[:6] if a.sha256 else None)
                                for a in session.scalars(select(Attachment))),
                "blobs": sorted(b[:6] for b in session.scalars(select(Blob.sha256))),
                "raw": sorted((r.status, len(r.raw), r.parsed is None, r.purged_at is not None)
                              for r in session.scalars(select(InboundMessage))),
                "sent": sorted((o.message_id, len(o.raw), o.purged_at is not None)
                               for o in session.scalars(select(OutboxMessage))),
            }
    finally:
        app.close()


def test_purge_deletes_what_is_past_its_retention_and_a_dry_run_nothing(
        tmp_path: Path, db_url: str) -> None:
    site = write_site(tmp_path, db_url, extra=RETENTION)
    seed(site, a_town_hall_with_history)
    before = snapshot(site)

    dry = intake(site, "purge", "--dry-run", now=MONDAY)
    assert dry.exit_code == 0, dry.output
    assert snapshot(site) == before
    lines = dry.output.splitlines()
    # the two old topics' mails and one more received mail, one sent mail
    assert lines[0].startswith("raw mail (older than 30 days, before 2026-12-19): 5 received "
                               "and 1 sent mail(s)"), lines[0]
    assert lines[1].startswith("attachments (older than 100 days, before 2026-10-10): 3 "
                               "file(s); 2 stored content(s) no longer used"), lines[1]
    assert lines[2] == ("topics (event older than 365 days, before 2026-01-18): 2 topic(s) "
                        "with 1 history entries and 1 follow-up question(s)")
    assert "intake would delete the above (dry run: nothing was deleted)" in lines

    done = intake(site, "purge", now=MONDAY)
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[:3] == lines[:3]  # the dry run counted exactly this
    after = snapshot(site)
    assert after["topics"] == ["Brückenfest", "Stadtjubiläum"]
    assert after["changes"] == 0 and after["followups"] == 0
    assert [sha for _, sha in after["files"]] == ["shared"]  # type: ignore[attr-defined]
    assert after["blobs"] == ["shared"]
    raw = after["raw"]
    assert [(size > 0, purged) for status, size, _, purged in raw  # type: ignore[attr-defined]
            if status == "new"] == [(True, False)]
    assert sum(purged for *_, purged in raw) == 5  # type: ignore[attr-defined]
    assert all(size == 0 and no_parse for _, size, no_parse, purged in raw  # type: ignore[attr-defined]
               if purged)
    assert after["sent"] == [("<out1@test>", 0, True), ("<out2@test>", 1000, False),
                             ("<out3@test>", 1000, False)]

    again = intake(site, "purge", now=MONDAY)
    assert again.exit_code == 0 and "nothing is past its retention" in again.output


def test_a_purged_mail_says_so_and_a_failed_one_waits_for_its_replay(
        tmp_path: Path, db_url: str) -> None:
    site = write_site(tmp_path, db_url, extra=RETENTION)

    def fill(s: Seeder) -> None:
        s.inbound(status="quarantined", sender="fremd@example.org", subject="Angebot",
                  error="kein bekannter Kontakt", received_at=MONDAY - timedelta(days=40))
        s.inbound(status="failed", error="kaputt", received_at=MONDAY - timedelta(days=40))

    seed(site, fill)
    assert intake(site, "purge", now=MONDAY).exit_code == 0
    shown = intake(site, "inbound", "show", "1", now=MONDAY)
    assert shown.exit_code == 0, shown.output
    assert "raw mail:    deleted 2027-01-18 by `intake purge`" in shown.output
    assert "From: fremd@example.org" in shown.output and "Subject: Angebot" in shown.output
    replay = intake(site, "inbound", "replay", "1", now=MONDAY)
    assert replay.exit_code != 0
    assert "past its retention" in replay.output
    # the failed mail kept its bytes: it waits for a fix, then for its replay
    failed = snapshot(site)["raw"]
    assert ("failed", len(b"Message-ID: <m2@test>\r\n\r\nx"), True, False) in failed  # type: ignore[operator]
    every = intake(site, "inbound", "replay", "--failed", now=MONDAY)
    assert every.exit_code == 0 and "replayed: nothing" not in every.output


def _mail_with(photo: bytes) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"] = "bauamt@musterhausen.test", "themen@musterhausen.test"
    mail["Subject"], mail["Message-ID"] = "Re: Ihre Themen", "<foto@test>"
    mail.set_content("Was: Stadtjubiläum\nBilder: anbei\n")
    mail.add_attachment(photo, maintype="image", subtype="jpeg", filename="jubilaeum.jpg")
    return mail.as_bytes()


def test_files_in_a_mail_are_copied_out_before_its_bytes_go(tmp_path: Path,
                                                             db_url: str) -> None:
    """A file's bytes live in the mail it came in until that mail's bytes are purged; a
    file that cannot be found there again keeps the mail's bytes instead of being lost."""
    site = write_site(tmp_path, db_url, extra=RETENTION)
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
    arrived = MONDAY - timedelta(days=60)  # past the mail's 30 days, not the files' 100

    def fill(s: Seeder) -> None:
        s.department("Bauamt", "bauamt@musterhausen.test", "Erika Muster")
        for what, raw, digest in (
                ("Stadtjubiläum", _mail_with(photo), hashlib.sha256(photo).hexdigest()),
                ("Brückenfest", _mail_with(b"anders"), "f" * 64)):  # not in its mail
            topic = s.topic("Bauamt", what, start=date(2027, 9, 1), created_at=arrived)
            mail = s.session.get(InboundMessage, topic.inbound_id)
            assert mail is not None
            mail.raw = raw
            s.session.add(Blob(sha256=digest, size=len(photo), data=None, inbound_id=mail.id,
                               created_at=arrived))
            _file(s, topic, digest, 60)
        # a content in a mail that no file refers to any more: goes, and frees nothing
        s.session.add(Blob(sha256="e" * 64, size=999, data=None, inbound_id=mail.id,
                           created_at=arrived))

    seed(site, fill)
    done = intake(site, "purge", now=MONDAY)
    assert done.exit_code == 0, done.output
    assert "1 file(s) of received mail 2 not found in its bytes again" in done.output
    lines = [line for line in done.output.splitlines() if " WARNING " not in line]
    assert lines[0].startswith("raw mail (older than 30 days, before 2026-12-19): 1 received")
    assert lines[1] == ("  1 received mail(s) past retention keep their bytes: a file they "
                        "hold could not be read from them again (see the log)")
    assert lines[2].startswith("attachments (older than 100 days, before 2026-10-10): 0 "
                               "file(s); 1 stored content(s) no longer used, 0.0 MB"), lines[2]

    app = app_for(site)
    try:
        with app.sessions() as session:
            blobs = {b.sha256: b for b in session.scalars(select(Blob))}
            found = blobs.pop(hashlib.sha256(photo).hexdigest())
            assert found.data == photo and blob_content(session, found.sha256) == photo
            (lost,) = blobs.values()
            assert lost.sha256 == "f" * 64 and lost.data is None
            kept = session.get(InboundMessage, lost.inbound_id)
            assert kept is not None and kept.purged_at is None and kept.raw
            purged = session.get(InboundMessage, found.inbound_id)
            assert purged is not None and purged.purged_at is not None and purged.raw == b""
    finally:
        app.close()


def test_retention_zero_keeps_everything(tmp_path: Path, db_url: str) -> None:
    site = write_site(tmp_path, db_url, extra="[retention]\nraw_mail_days = 0\n"
                                               "attachments_days = 0\ntopics_days = 0\n")
    seed(site, a_town_hall_with_history)
    before = snapshot(site)
    result = intake(site, "purge", now=MONDAY + timedelta(days=3650))
    assert result.exit_code == 0, result.output
    assert "kept (retention 0: forever)" in result.output
    after = snapshot(site)
    # only contents no file refers to at all could go: here every content is referred to
    assert after == before


def test_the_defaults_are_documented_and_sensible(tmp_path: Path, db_url: str) -> None:
    site = write_site(tmp_path, db_url)
    app = app_for(site)
    try:
        retention = app.settings.retention
        assert (retention.raw_mail_days, retention.attachments_days,
                retention.topics_days) == (90, 365, 730)
    finally:
        app.close()
