"""Building the bot's outgoing mails as bytes: identity headers, encoding, no injection."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from mailtemplates import RenderedMail

#: unambiguous characters for subject tags (no 0/O, 1/I/L)
TAG_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_WS = re.compile(r"\s+")


def new_tag(length: int = 4) -> str:
    return "".join(secrets.choice(TAG_ALPHABET) for _ in range(length))


def subject_tag(month: str, tag: str, word: str = "Themen") -> str:
    """'[Themen 2027-01 #K7Q2]': lets a reply match its request when clients drop headers."""
    return f"[{word} {month} #{tag}]"


def new_message_id(kind: str, domain: str, hint: str = "") -> str:
    """A globally unique Message-ID that is stored before sending and never changes."""
    local = f"{kind}{'-' + hint if hint else ''}.{secrets.token_hex(8)}"
    return f"<{local}@{domain}>"


def one_line(value: str | None) -> str:
    """Collapse whitespace and drop control characters: header values can never break lines."""
    if not value:
        return ""
    cleaned = "".join(ch if ch.isprintable() or ch == " " else " " for ch in value)
    return _WS.sub(" ", cleaned).strip()


def build_mail(
    *,
    rendered: RenderedMail,
    from_address: str,
    from_name: str,
    to_address: str,
    to_name: str | None,
    message_id: str,
    date: datetime,
    auto_submitted: bool = True,
    suppress_oof: bool = False,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A multipart/alternative mail (text + HTML) as CRLF bytes, ready for SMTP.

    Names and subjects are encoded per RFC 2047 by the standard library's policy; any line
    break in a name from the contacts file is flattened first, so no header can be injected.
    """
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = one_line(rendered.subject)
    msg["From"] = Address(display_name=one_line(from_name), addr_spec=from_address)
    msg["To"] = Address(display_name=one_line(to_name), addr_spec=to_address)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    if auto_submitted:
        # RFC 3834: automatic mail; well-behaved responders do not answer it
        msg["Auto-Submitted"] = "auto-generated"
    if suppress_oof:
        # Exchange: no out-of-office replies to reminders and follow-ups (the first request
        # still reveals absences, which is useful to know)
        msg["X-Auto-Response-Suppress"] = "OOF"
    for name, value in extra_headers:
        msg[name] = one_line(value)
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()
