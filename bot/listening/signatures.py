"""Signatures learned per sender: the lines that end several of a sender's earlier replies.

The parser stays pure: it takes known signatures as an option; this module asks the
database for the sender's last replies (their reply text as the parser kept it, so only what
the general rules did not already cut) and hands what they share to the parser. Text that
appears in only one mail is never removed (`parsers.signatures.learn_signature` needs at
least two).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import InboundMessage
from parsers.signatures import learn_signature

#: how many of a sender's latest replies are compared
HISTORY = 6


def known_signatures(session: Session, contact_id: int, before_id: int) -> tuple[str, ...]:
    """The signature a contact's replies before `before_id` share, or nothing.

    A contact is one address, so its replies are one sender's; the query follows the
    indexed contact column. Only processed people's mails count: an auto-reply or a
    quarantined mail says nothing about how the person signs."""
    rows = session.scalars(
        select(InboundMessage.parsed).where(
            InboundMessage.contact_id == contact_id, InboundMessage.id < before_id,
            InboundMessage.status == "processed", InboundMessage.automatic.is_(False))
        .order_by(InboundMessage.id.desc()).limit(HISTORY))
    texts = [str(p.get("reply_text") or "") for p in rows if isinstance(p, dict)]
    learned = learn_signature(texts)
    return (learned,) if learned else ()


def appears_in(signature: str, text: str) -> bool:
    """Whether a learned signature's first line is in this text at all (spaces and case
    normalised): only then is a mail parsed again without it."""
    first = " ".join(signature.splitlines()[0].split()).casefold() if signature else ""
    return bool(first) and first in " ".join(text.split()).casefold()
