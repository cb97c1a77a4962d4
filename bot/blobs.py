"""Attachment bytes: read from the received mail they came in, copied out only when needed.

A photo that comes with a reply is already stored once, as part of the mail's raw bytes
(`inbound_raw`), which are kept until retention purges them. Storing the decoded file a
second time in `blobs` would double what a reply with photos writes (on PostgreSQL, most of
what the server does while mail is processed). So a file's row in `blobs` names the mail it
came in (`inbound_id`) and has no bytes of its own (`data` NULL) for as long as that mail's
bytes are kept; its bytes are the attachment of that mail whose sha256 is the row's key.

Before a mail's bytes are purged, `keep_files_of` copies into `blobs` the files whose bytes
are only there (those no attachment refers to are deleted by the purge before). A file that
cannot be found in the mail again (a parser that decodes a damaged part differently than the
one that stored it) keeps the mail's bytes: the purge reports it instead of losing the file.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Blob, InboundRaw
from parsers import ParseOptions, parse_message

log = logging.getLogger("intake.blobs")

#: no size limit when a stored file is looked for again (it was stored, so it was allowed)
_UNLIMITED = ParseOptions(max_attachment_bytes=2**62, keep_attachment_content=True,
                          fallback_today=date(2000, 1, 1))


def blob_content(session: Session, sha256: str) -> bytes | None:
    """A stored file's bytes (None: no such file, or its mail no longer has it)."""
    blob = session.get(Blob, sha256)
    if blob is None:
        return None
    if blob.data is not None:
        return blob.data
    raw = _raw(session, blob.inbound_id)
    return find_files(raw, {sha256}).get(sha256) if raw else None


def keep_files_of(session: Session, inbound_ids: Sequence[int]) -> set[int]:
    """Copy into `blobs` the files whose bytes live only in these mails (at most 500: one IN
    list), so that the mails' bytes can go. Returns the mails whose bytes must stay (a file
    was not found in them again); the caller leaves those out of the purge.

    Every such file is copied, not only those an attachment refers to at this moment: one
    that looks unused may be about to be used by a mail a worker is processing now."""
    keep: set[int] = set()
    waiting: dict[int, dict[str, Blob]] = {}
    for blob in session.scalars(select(Blob).where(
            Blob.data.is_(None), Blob.inbound_id.in_(inbound_ids))):
        assert blob.inbound_id is not None
        waiting.setdefault(blob.inbound_id, {})[blob.sha256] = blob
    for inbound_id in sorted(waiting):
        # taken out of `waiting`: a purge of many photos holds one mail's at a time
        blobs = waiting.pop(inbound_id)
        raw = _raw(session, inbound_id)
        wanted = set(blobs)
        found = find_files(raw, wanted) if raw else {}
        for sha256, content in found.items():
            blobs[sha256].data = content
        lost = wanted - found.keys()
        session.flush()
        for blob in blobs.values():
            session.expunge(blob)
        del blobs, found
        if lost:
            keep.add(inbound_id)
            log.warning("purge: %d file(s) of received mail %s not found in its bytes "
                        "again; its bytes are kept", len(lost), inbound_id)
    return keep


def _raw(session: Session, inbound_id: int | None) -> bytes | None:
    if inbound_id is None:
        return None
    return session.scalar(select(InboundRaw.raw).where(InboundRaw.inbound_id == inbound_id))


def find_files(raw: bytes, wanted: set[str]) -> dict[str, bytes]:
    """The files of a mail whose sha256 is wanted: as the parser decodes attachments (the
    way they were stored), else any MIME part's decoded payload (a part the parser of the
    day no longer counts as an attachment)."""
    found: dict[str, bytes] = {}
    try:
        for attachment in parse_message(raw, _UNLIMITED).attachments:
            _take(attachment.content, wanted, found)
    except Exception:  # the stdlib walk below still gets its chance
        log.debug("blobs: parsing a stored mail again failed", exc_info=True)
    if wanted - found.keys():
        try:
            message = email.message_from_bytes(raw, policy=email.policy.compat32)
            for part in message.walk():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    _take(payload, wanted, found)
        except Exception:  # what is not found keeps its mail's bytes (keep_files_of)
            log.debug("blobs: walking a stored mail failed", exc_info=True)
    return found


def _take(content: bytes, wanted: set[str], found: dict[str, bytes]) -> None:
    if content:
        digest = hashlib.sha256(content).hexdigest()
        if digest in wanted:
            found[digest] = content
