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


def known_signatures(session: Session, contact_id: int, before_id: int) -> tuple[str, ...]:
    """The signature a contact's replies before `before_id` share, or nothing."""
    return known_signatures_of(session, [contact_id], before_id)[contact_id]


def known_signatures_of(session: Session, contact_ids: Iterable[int],
                        before_id: int) -> dict[int, tuple[str, ...]]:
    """Each contact's learned signature (two queries for all of them: a batch's worth).

    A contact is one address, so its replies are one sender's; the queries follow the
    indexed contact column. Only processed people's mails count: an auto-reply or a
    quarantined mail says nothing about how the person signs."""
    wanted = sorted(set(contact_ids))
    texts: dict[int, list[str]] = {c: [] for c in wanted}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        latest = select(InboundMessage.id, func.row_number().over(
            partition_by=InboundMessage.contact_id, order_by=InboundMessage.id.desc())
            .label("n")).where(
            InboundMessage.contact_id.in_(chunk), InboundMessage.id < before_id,
            InboundMessage.status == "processed", InboundMessage.automatic.is_(False),
        ).subquery()
        ids = select(latest.c.id).where(latest.c.n <= HISTORY)
        for contact_id, parsed in session.execute(
                select(InboundMessage.contact_id, InboundMessage.parsed)
                .where(InboundMessage.id.in_(ids)).order_by(InboundMessage.id.desc())):
            if isinstance(parsed, dict) and contact_id is not None:
                text = str(parsed.get("reply_text") or "")
                if parsed.get(CUT_KEY):
                    text = f"{text}\n\n{parsed[CUT_KEY]}"
                texts[contact_id].append(text)
    found: dict[int, tuple[str, ...]] = {}
    for contact_id, replies in texts.items():
        learned = learn_signature(replies)
        found[contact_id] = (learned,) if learned else ()
    return found


def appears_in(signature: str, text: str) -> bool:
    """Whether a learned signature's first line is in this text at all (spaces and case
    normalised): only then is a mail parsed again without it."""
    first = " ".join(signature.splitlines()[0].split()).casefold() if signature else ""
    return bool(first) and first in " ".join(text.split()).casefold()
