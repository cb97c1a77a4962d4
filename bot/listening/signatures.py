"""Signatures learned per sender: the lines that end several of a sender's earlier replies.

The parser stays pure: it takes known signatures as an option; this module asks the
database for the sender's last replies (their reply text as the parser kept it, so only what
the general rules did not already cut) and hands what they share to the parser. Text that
appears in only one mail is never removed (`parsers.signatures.learn_signature` needs at
least two).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, union_all
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

    One statement for the batch: per contact, newest first with a LIMIT along the index on
    the contact column (the database reads a handful of rows; a window over all of a
    contact's rows read every one of them), the contacts' parts joined by UNION ALL. A
    statement per contact cost a round trip each, and a wait for the interpreter each time
    the fetching thread held it."""
    wanted = sorted(set(contact_ids))
    texts: dict[int, list[tuple[int, str]]] = {contact_id: [] for contact_id in wanted}
    for start in range(0, len(wanted), _PER_STATEMENT):
        parts = [select(InboundMessage.contact_id, InboundMessage.id, InboundMessage.parsed)
                 .where(InboundMessage.contact_id == contact_id, InboundMessage.id < before_id,
                        # an expression, not the column: SQLite would otherwise walk the
                        # status index (nearly every row is "processed") instead of the
                        # contact's
                        func.coalesce(InboundMessage.status, "") == "processed",
                        InboundMessage.automatic.is_(False))
                 .order_by(InboundMessage.id.desc()).limit(HISTORY)
                 # named: an anonymous subquery draws its name from os.urandom, each time
                 .subquery(f"contact{n}")
                 for n, contact_id in enumerate(wanted[start:start + _PER_STATEMENT])]
        for contact_id, row_id, parsed in session.execute(
                union_all(*(select(part) for part in parts))):
            if isinstance(parsed, dict):
                text = str(parsed.get("reply_text") or "")
                if parsed.get(CUT_KEY):
                    text = f"{text}\n\n{parsed[CUT_KEY]}"
                texts[contact_id].append((row_id, text))
    found: dict[int, tuple[str, ...]] = {}
    for contact_id, rows in texts.items():
        learned = learn_signature([text for _id, text in sorted(rows, reverse=True)])
        found[contact_id] = (learned,) if learned else ()
    return found


#: contacts per statement (SQLite allows 500 parts in a compound statement)
_PER_STATEMENT = 100


def appears_in(signature: str, text: str) -> bool:
    """Whether a learned signature's first line is in this text at all (spaces and case
    normalised): only then is a mail parsed again without it."""
    first = " ".join(signature.splitlines()[0].split()).casefold() if signature else ""
    return bool(first) and first in " ".join(text.split()).casefold()
