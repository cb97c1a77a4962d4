"""Matching a received mail to a contact and a request, or setting it aside. Pure.

Order: the thread (In-Reply-To/References against the bot's own Message-IDs: requests,
reminders, follow-ups), then the subject tag, then the sender's open request. Only the
department's contact or one of its deputies may answer for it; anything else is quarantined:
stored, no topic, never answered, listed for the officer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class KnownContact:
    id: int
    email: str
    department_id: int
    department: str
    active: bool


@dataclass(frozen=True)
class KnownRequest:
    id: int
    department_id: int
    department: str
    tag: str
    #: the outbox mail that the reply's thread pointed at (request, reminder or follow-up)
    outbox_id: int | None = None
    outbox_kind: str | None = None


class Directory(Protocol):
    """Lookups the matcher needs; `bot.listening.process` answers them from the database."""

    def contact(self, email: str) -> KnownContact | None: ...
    def request_by_message_ids(self, message_ids: Sequence[str]) -> KnownRequest | None: ...
    def request_by_tag(self, code: str) -> KnownRequest | None: ...
    def open_request(self, department_id: int) -> KnownRequest | None: ...


@dataclass(frozen=True)
class Match:
    contact: KnownContact | None
    request: KnownRequest | None
    matched_by: str  # thread | tag | sender | none
    #: why the mail is set aside (German: the officer reads it); None when accepted
    quarantine: str | None = None

    @property
    def accepted(self) -> bool:
        return self.quarantine is None and self.contact is not None


def match(*, sender: str | None, thread_ids: Sequence[str], tag_code: str | None,
          auth_failures: Sequence[str], directory: Directory,
          authors: Sequence[str] = ()) -> Match:
    """Decide who answers for which request. `auth_failures`: what the municipality's own
    server reported as failed (DMARC/SPF/DKIM) for this mail; `authors`: every address its
    From fields name (a From with a contact's address and a stranger's is nobody's reply)."""
    contact = directory.contact(sender.lower()) if sender else None
    by_thread = directory.request_by_message_ids(thread_ids) if thread_ids else None
    by_tag = directory.request_by_tag(tag_code.upper()) if tag_code else None
    request, how = (by_thread, "thread") if by_thread else (by_tag, "tag") if by_tag else (
        None, "none")

    several = sorted({a.lower() for a in authors})
    if len(several) > 1:
        shown = ", ".join(several[:3]) + (" …" if len(several) > 3 else "")
        return Match(contact, request, how,
                     f"mehrere Absender im From-Feld ({shown}): nicht eindeutig, wer antwortet")
    if auth_failures:
        return Match(contact, request, how,
                     f"Absender nicht bestätigt ({', '.join(auth_failures)}): möglicherweise "
                     f"gefälscht")
    if contact is None:
        who = sender or "ohne Absender"
        return Match(None, request, how, f"Absender {who} ist kein bekannter Kontakt")
    if not contact.active:
        return Match(contact, request, how,
                     f"{contact.email} ist nicht mehr als Kontakt eingetragen "
                     f"({contact.department})")
    for candidate, kind in ((by_thread, "thread"), (by_tag, "tag")):
        if candidate is not None and candidate.department_id != contact.department_id:
            return Match(contact, candidate, kind,
                         f"{contact.email} ({contact.department}) antwortet auf die Anfrage an "
                         f"{candidate.department}")
    if request is None:
        request = directory.open_request(contact.department_id)
        how = "sender" if request is not None else "none"
    return Match(contact, request, how)
