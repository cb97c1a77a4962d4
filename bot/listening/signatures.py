"""Signatures learned per sender: the lines that end several of a sender's earlier replies.

The parser stays pure: it takes known signatures as an option; this module asks the
database for the sender's last replies (their reply text as the parser kept it, so only what
the general rules did not already cut) and hands what they share to the parser. Text that
appears in only one mail is never removed (`parsers.signatures.learn_signature` needs at
least two).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import InboundMessage
from parsers.signatures import learn_signature

#: how many of a sender's latest replies are compared
HISTORY = 6
#: the key of a stored parse result that holds the learned signature cut from its text
CUT_KEY = "learned_signature_cut"


def known_signatures_of(session: Session, contact_ids: Iterable[int],
                        before_id: int) -> dict[int, tuple[str, ...]]:
    """Each contact's learned signature (a batch's senders at once).

    A contact is one address, so its replies are one sender's. Only processed people's mails
    count: an auto-reply or a quarantined mail says nothing about how the person signs.

    One query per contact, newest first with a LIMIT, along the index on the contact column:
    the database reads a handful of rows. (A window over all of a contact's rows read every
    one of them, and SQLite walks a large mail's whole overflow chain to reach the columns
    stored after its bytes: a year of mail made that quadratic.)"""
    found: dict[int, tuple[str, ...]] = {}
    for contact_id in sorted(set(contact_ids)):
        texts = []
        for parsed in session.scalars(
                select(InboundMessage.parsed).where(
                    InboundMessage.contact_id == contact_id, InboundMessage.id < before_id,
                    # an expression, not the column: SQLite would otherwise walk the status
                    # index (nearly every row is "processed") instead of the contact's
                    func.coalesce(InboundMessage.status, "") == "processed",
                    InboundMessage.automatic.is_(False))
                .order_by(InboundMessage.id.desc()).limit(HISTORY)):
            if isinstance(parsed, dict):
                text = str(parsed.get("reply_text") or "")
                if parsed.get(CUT_KEY):
                    text = f"{text}\n\n{parsed[CUT_KEY]}"
                texts.append(text)
        learned = learn_signature(texts)
        found[contact_id] = (learned,) if learned else ()
    return found


def appears_in(signature: str, text: str) -> bool:
    """Whether a learned signature's first line is in this text at all (spaces and case
    normalised): only then is a mail parsed again without it."""
    first = " ".join(signature.splitlines()[0].split()).casefold() if signature else ""
    return bool(first) and first in " ".join(text.split()).casefold()
