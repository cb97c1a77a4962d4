"""Bounces: which addresses failed, whether for good, and which mail came back.

Only run for mail already classified as a bounce (`parsers.kinds`). Sources, best first:

1. A delivery-status part (RFC 3464 `message/delivery-status`, RFC 6533
   `message/global-delivery-status`). Every recipient group with `Action: failed` (or no
   Action and no 2.x.x/4.x.x status) counts: its `Original-Recipient` (the address as the bot
   sent it, before aliases and forwards) and, when different, its `Final-Recipient`. When the
   report only says delayed/delivered/relayed/expanded, nothing failed and the text is not
   asked either (a Postfix delay notice lists "<addr>: ... said" lines as well).
2. Exim's `X-Failed-Recipients` header.
3. The text of non-standard bounces: Postfix/qmail "<addr>: host ... said", Exchange
   "Delivery has failed to these recipients or groups" / "Die Zustellung an folgende
   Empfänger oder Gruppen ist fehlgeschlagen" / "did not reach the following recipient(s)",
   Exim "The following address(es) failed", Gmail "Delivery to the following recipient failed
   permanently", Notes "was not delivered to" / "wurde nicht zugestellt an", GroupWise "was
   undeliverable to the following", sendmail "had permanent fatal errors", German "konnte
   nicht an folgende Empfänger zugestellt werden", Office 365 "Your message to X couldn't be
   delivered". Only the text before the returned copy is read; the bounce's own To/Cc/From
   addresses (the bot, the daemon) never count.

`permanent`: a failed recipient with a 5.x.x status or none at all; a failure reported only
with 4.x.x (a server that gave up after retrying) is not permanent, nor is a delay notice.
Without a report, the text's status codes decide (5.x.x or 5xx: permanent; delay wording
without one: a delay, no recipients).

The returned mail's Message-ID comes from the returned `message/rfc822` (or
`text/rfc822-headers`) part, then the report's `X-Original-Message-ID` (Exchange), then a
"Message-ID:" line in the text (inline copies), then the bounce's own In-Reply-To.
"""

from __future__ import annotations

import email
import email.parser
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.message import Message
from itertools import islice

from parsers.charsets import decode_bytes, decode_text
from parsers.mime import MimeMessage, decode_header_value

#: Limits like parsers.mime's: a bounce is small, hostile mail must not make it expensive.
_MAX_PARTS = 200
_MAX_DEPTH = 20
_MAX_TEXT = 100_000
_MAX_RECIPIENTS = 100
#: Only this much of a bounce is parsed again for its parts: the report comes before the
#: returned original, whose photos need not be read a second time.
_MAX_RAW = 2 * 1024 * 1024

_STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
_RETURNED_PARTS = ("message/rfc822", "message/global")
_RETURNED_HEADER_PARTS = (
    "text/rfc822-headers",
    "message/rfc822-headers",
    "text/rfc822-header",
    "message/global-headers",
)

#: An address starts only after a delimiter: a match attempt in the middle of a long word
#: would rescan it (quadratic on hostile text).
_ADDRESS = re.compile(
    r"(?<![^\s<>()\[\]@,;:\"'=])"
    r"[^\s<>()\[\]@,;:\"'=]+@[^\s<>()\[\]@,;:\"'=]+\.[^\s<>()\[\]@,;:\"'=]+"
)
_MSGID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
#: An SMTP reply code ("550 5.1.1", "550-5.7.26", "452 Mailbox full"), not a phone number.
_SMTP_REPLY = re.compile(
    r"(?<![\d./-])([45])[0-5]\d(?=[ -]\d\.\d{1,3}\.\d|[ -]?[^\W\d_]|[ -]?[#<(])"
)
_DAEMON_LOCAL = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailer_daemon)$", re.I)

#: Where the returned copy starts in an inline bounce: nothing after it is the report.
_COPY_MARKER = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*)?("
    r"this is a copy of the message|below this line is a copy of the message"
    r"|returned message|returned mail follows|unsent message follows|original message follows"
    r"|original message headers|urspr(ü|ue)ngliche nachrichtenkopfzeilen"
    r"|the header of the original message|original message|urspr(ü|ue)ngliche nachricht"
    r"|message header follows|copy of the original message"
    r")\b",
    re.IGNORECASE | re.MULTILINE,
)
#: Sentences after which the failed addresses follow on the next lines (or the same line).
_INTRO = re.compile(
    r"("
    r"delivery\s+has\s+failed\s+to\s+these\s+recipients(\s+or\s+(groups|distribution\s+lists))?"
    r"|die\s+zustellung\s+an\s+(die\s+)?folgenden?\s+empf(ä|ae)nger(\s+oder\s+gruppen)?"
    r"\s+ist\s+fehlgeschlagen"
    r"|(did\s+not|could\s+not|couldn'?t)\s+reach\s+the\s+following\s+recipients?(\(s\))?"
    r"|(erreichte|hat)\s+(die\s+)?folgenden?\s+empf(ä|ae)nger\s+nicht(\s+erreicht)?"
    r"|konnte\s+nicht\s+an\s+(die\s+)?folgenden?\s+empf(ä|ae)nger(\s+zugestellt\s+werden)?"
    r"|the\s+following\s+address(\(es\)|es)?\s+failed"
    r"|the\s+following\s+recipients?\s+(failed|could\s+not\s+be\s+(reached|delivered)"
    r"|returned\s+(permanent\s+)?errors|were\s+affected)"
    r"|the\s+following\s+addresses\s+had\s+(permanent\s+)?(fatal|delivery)\s+"
    r"(errors|problems)"
    r"|delivery\s+to\s+the\s+following\s+recipients?\s+(failed|has\s+failed"
    r"|was\s+unsuccessful)(\s+permanently)?"
    r"|(wasn'?t|was\s+not)\s+able\s+to\s+deliver\s+your\s+message\s+to\s+the\s+following"
    r"\s+addresses"
    r"|could\s+not\s+be\s+delivered\s+to\s+(the\s+following|these)\s+recipients?"
    r"|could\s+not\s+be\s+delivered\s+to\s+one\s+or\s+more\s+of\s+its\s+recipients"
    r"|to\s+the\s+following\s+address(es)?\s+could\s+not\s+be\s+delivered"
    r"|deliver(ing)?\s+(the\s+|a\s+|your\s+)?(mail|message)\s+(to|for)\s+the\s+following"
    r"\s+(list\s+of\s+)?(recipients?|addresses)"
    r"|unable\s+to\s+deliver\s+(the\s+|your\s+)?(message|mail)\s+to"
    r"|error\s+delivering\s+(your\s+)?(mail|message)\s+to"
    r"|was\s+not\s+delivered\s+to|wurde\s+nicht\s+zugestellt\s+an"
    r"|konnte\s+nicht\s+zugestellt\s+werden\s+an"
    r"|(was\s+)?undeliverable\s+to\s+the\s+following"
    r"|failed\s+to\s+deliver\s+to\s+the\s+following\s+recipients?"
    r"|your\s+message\s+could\s+not\s+be\s+delivered\s+to"
    r"|failure\s+reasons"
    r")\s*:?",
    re.IGNORECASE,
)
#: One line naming one failed address ("<a@b>: host mx said", "Your message to a@b couldn't
#: be delivered", "could not be delivered to: <a@b>").
_INLINE = (
    re.compile(
        r"^[ \t]*[<\"](?P<a>[^<>\"\s]+@[^<>\"\s]+)[>\"]"
        r"(?:[ \t]*\(expanded from <(?P<b>[^<>\s]+@[^<>\s]+)>\))?[ \t]*:",
        re.MULTILINE,
    ),
    re.compile(
        r"your message to <?(?P<a>[^<>\s]+@[^<>\s]+)>? (couldn'?t|could not|cannot|can'?t"
        r"|wasn'?t|was not) be delivered",
        re.IGNORECASE,
    ),
    re.compile(
        r"ihre nachricht an <?(?P<a>[^<>\s]+@[^<>\s]+)>? (konnte|kann) nicht zugestellt werden",
        re.IGNORECASE,
    ),
    re.compile(r"delivery failed[^:\n]{0,40}:[ \t]*<?(?P<a>[^<>\s]+@[^<>\s]+)", re.IGNORECASE),
    re.compile(
        r"(wasn'?t|was not|could not be|couldn'?t be) delivered to:?[ \t]*<?"
        r"(?P<a>[^<>\s]+@[^<>\s]+)",
        re.IGNORECASE,
    ),
)
#: Weaker hints, asked only when nothing above names an address: the recipient in a
#: transcript ("RCPT TO:<a@b>", "550 5.1.1 <a@b>... User unknown", "Unknown user: a@b").
_WEAK = (
    re.compile(r"rcpt to:[ \t]*<?(?P<a>[^<>\s]+@[^<>\s]+)", re.IGNORECASE),
    re.compile(r"^[^\n]{0,80}?\b5\d\d\b[^\n]{0,80}?<(?P<a>[^<>\s]+@[^<>\s]+)>", re.MULTILINE),
    re.compile(
        r"(unknown user|user unknown|no such user|unknown recipient|invalid recipient"
        r"|recipient unknown|mailbox unavailable)[ \t]*[:-]?[ \t]*<?(?P<a>[^<>\s]+@[^<>\s]+)",
        re.IGNORECASE,
    ),
)
#: Lines in an address block that explain rather than name the failed address.
_EXPLANATION = re.compile(
    r"(said|smtp|mail from|rcpt to|\bhost\b|error|fehler|reason|grund|diagnostic|remote)",
    re.IGNORECASE,
)
_DELAY = re.compile(
    r"(delayed|has not yet been delivered|not been delivered yet|will (continue to |be )?retr"
    r"|still (being )?(retried|trying)|no action is required|verz(ö|oe)gert"
    r"|noch nicht zugestellt|wird (weiter|erneut) versucht)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BounceFacts:
    recipients: tuple[str, ...] = ()
    permanent: bool = True
    returned_message_id: str | None = None
    returned_subject: str | None = None


@dataclass
class _Walked:
    groups: list[dict[str, str]]
    returned: list[tuple[tuple[str, str], ...]]


def read_bounce(raw: bytes, msg: MimeMessage) -> BounceFacts:
    """What a bounce says: failed recipients, permanence, the returned mail's ID and subject."""
    walked = _walk(raw)
    own = _own_addresses(msg)
    text = msg.text[:_MAX_TEXT]
    report_text = text[: m.start()] if (m := _COPY_MARKER.search(text)) else text

    recipient_groups = [g for g in walked.groups if _group_recipients(g)]
    if recipient_groups:
        failed = [g for g in recipient_groups if _is_failed(g)]
        recipients = _unique(a for g in failed for a in _group_recipients(g) if a not in own)
        permanent = any(_is_permanent_status(g.get("status", "")) for g in failed)
    else:
        header = msg.header("x-failed-recipients") or ""
        recipients = _unique(a for a in _addresses(header) if a not in own)
        if not recipients:
            recipients = _unique(a for a in _text_report(report_text) if a not in own)
        if not recipients:
            recipients = _unique(a for a in _text_recipients(report_text) if a not in own)
        permanent, delay = _text_permanence(report_text + "\n" + msg.subject)
        if delay:
            recipients = ()

    returned_id: str | None = None
    returned_subject: str | None = None
    for headers in walked.returned:
        values = dict(reversed(headers))  # the first of a repeated header wins
        returned_id = returned_id or _first_msgid(values.get("message-id"))
        returned_subject = returned_subject or values.get("subject")
    if returned_id is None:
        for group in walked.groups:
            returned_id = returned_id or _first_msgid(
                group.get("x-original-message-id") or group.get("original-message-id")
            )
    if returned_id is None:
        returned_id = _text_msgid(text, msg.message_id)
    if returned_id is None:
        returned_id = msg.in_reply_to
    return BounceFacts(
        recipients=recipients[:_MAX_RECIPIENTS],
        permanent=permanent,
        returned_message_id=returned_id,
        returned_subject=returned_subject,
    )


# -- the MIME walk -------------------------------------------------------------------------


def _walk(raw: bytes) -> _Walked:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        root = email.message_from_bytes(raw[:_MAX_RAW].lstrip(b"\r\n"), policy=policy.compat32)
        return _walk_message(root, nested=True)
    except (RecursionError, MemoryError):
        return _Walked(groups=[], returned=[])


def _walk_message(root: Message, nested: bool) -> _Walked:
    """Report groups and returned headers of one message. With `nested`, a returned message
    that is itself a report is read when the outer one has none (a gateway that wrapped the
    real bounce: its returned original is then the one that counts)."""
    walked = _Walked(groups=[], returned=[])
    inner_reports: list[Message] = []
    stack: list[tuple[Message, int]] = [(root, 0)]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        ctype = part.get_content_type()
        if ctype in _STATUS_PARTS:
            walked.groups.extend(_status_groups(part))
        elif ctype in _RETURNED_PARTS or ctype in _RETURNED_HEADER_PARTS:
            headers = _returned_headers(part)
            if headers:
                walked.returned.append(headers)
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(first, Message) and first.get_content_type() == "multipart/report":
                inner_reports.append(first)
        elif part.is_multipart() and depth < _MAX_DEPTH:
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )
    if nested and not walked.groups and inner_reports:
        inner_walked = _walk_message(inner_reports[0], nested=False)
        if inner_walked.groups:
            walked.groups = inner_walked.groups
            walked.returned = inner_walked.returned + walked.returned
    return walked


def _header_text(value: object) -> str:
    return decode_text(value) if isinstance(value, str) else str(value)


def _part_text(part: Message) -> str:
    """A part's content as text: header blocks as "Name: value" lines, a body decoded."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks: list[str] = []
        for block in payload:
            if not isinstance(block, Message):
                continue
            lines = [f"{k}: {_header_text(v)}" for k, v in block.raw_items()]
            body = block.get_payload()
            if isinstance(body, str) and body.strip():
                lines.append("")
                lines.append(body)
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(data[: _MAX_TEXT * 2], charset)


def _status_groups(part: Message) -> list[dict[str, str]]:
    """The report's field groups (per-message, then one per recipient) as lower-case dicts."""
    return _parse_groups(_part_text(part))


def _parse_groups(text: str) -> list[dict[str, str]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:_MAX_TEXT]
    groups: list[dict[str, str]] = []
    for chunk in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        name: str | None = None
        for line in chunk.split("\n"):
            if line[:1] in (" ", "\t") and name is not None:
                fields[name] += " " + line.strip()  # a folded value
                continue
            key, colon, value = line.partition(":")
            if not colon or not key.strip() or " " in key.strip():
                name = None
                continue
            name = key.strip().lower()
            fields.setdefault(name, value.strip())
        if fields:
            groups.append(fields)
    return groups


def _returned_headers(part: Message) -> tuple[tuple[str, str], ...]:
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = payload[0] if payload and isinstance(payload[0], Message) else None
        if inner is None:
            return ()
        items = inner.raw_items()
    else:
        text = _part_text(part)
        try:
            items = (
                email.parser.Parser(policy=policy.compat32)
                .parsestr(text.lstrip("\r\n")[:_MAX_TEXT], headersonly=True)
                .raw_items()
            )
        except Exception:
            return ()
    headers: list[tuple[str, str]] = []
    for key, value in items:
        if len(headers) >= 200:
            break
        headers.append((key.strip().lower(), decode_header_value(_header_text(value)[:2000])))
    return tuple(headers)


# -- recipients ----------------------------------------------------------------------------


def _address(value: str) -> str | None:
    """'rfc822; <Max@Example.org>' -> 'max@example.org'."""
    if ";" in value:
        value = value.split(";", 1)[1]
    match = _ADDRESS.search(value)
    return match.group(0).rstrip(".").lower() if match else None


def _addresses(text: str) -> list[str]:
    return [m.group(0).rstrip(".").lower() for m in _ADDRESS.finditer(text)]


def _group_recipients(group: dict[str, str]) -> list[str]:
    found: list[str] = []
    for key in ("original-recipient", "final-recipient"):
        address = _address(group.get(key, ""))
        if address and address not in found:
            found.append(address)
    return found


def _is_failed(group: dict[str, str]) -> bool:
    action = group.get("action", "").strip().lower()
    if action:
        return action.startswith("failed")
    status = _STATUS.search(group.get("status", ""))
    return status is None or status.group(1) == "5"


def _is_permanent_status(value: str) -> bool:
    status = _STATUS.search(value)
    return status is None or status.group(1) == "5"


def _own_addresses(msg: MimeMessage) -> frozenset[str]:
    own: set[str] = set()
    if msg.from_address:
        own.add(msg.from_address.lower())
    for name in ("to", "cc", "delivered-to", "x-original-to", "return-path"):
        for key, value in msg.headers:
            if key == name:
                own.update(_addresses(value))
    return frozenset(own)


def _is_daemon(address: str) -> bool:
    return bool(_DAEMON_LOCAL.match(address.split("@", 1)[0]))


def _text_report(text: str) -> list[str]:
    """Failed recipients of a delivery report pasted into the text (Amazon WorkMail)."""
    if "recipient:" not in text.lower():
        return []
    failed = [g for g in _parse_groups(text) if _group_recipients(g) and _is_failed(g)]
    return [address for group in failed for address in _group_recipients(group)]


def _text_recipients(text: str) -> list[str]:
    found: list[tuple[int, str]] = []
    for rx in _INLINE:
        for m in rx.finditer(text):
            for group in ("b", "a"):
                value = m.groupdict().get(group)
                address = _address(value) if value else None
                if address:
                    found.append((m.start(), address))  # the original (b) first
    for m in islice(_INTRO.finditer(text), 20):  # a report has one or two
        found.extend(_block_after(text, m.end()))
    if not found:
        for rx in _WEAK:
            for m in rx.finditer(text):
                address = _address(m.group("a"))
                if address and not _is_daemon(address):
                    found.append((m.start("a"), address))
    found.sort(key=lambda item: item[0])
    return [address for _, address in found]


def _block_after(text: str, pos: int) -> list[tuple[int, str]]:
    """Addresses on the rest of an intro's line and in the address lines after it.

    The first block (up to a blank line) is the list; further blocks count while they start
    with an address line (Exchange puts a blank line between recipients). Lines indented
    deeper than their block's first line explain ("SMTP error from ...: 550 <sender>"), and
    so do lines with server wording before the address.
    """
    found: list[tuple[int, str]] = []
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end < 0 else line_end
    same_line = _ADDRESS.search(text, pos, line_end)
    if same_line is not None:
        found.append((same_line.start(), same_line.group(0).rstrip(".").lower()))
    offset = line_end + 1
    blocks = 0
    block_lines = 0
    base_indent = 0
    for line in text[offset : offset + 4000].split("\n"):
        line_pos = offset
        offset += len(line) + 1
        if not line.strip():
            if block_lines:
                blocks += 1
                block_lines = 0
            continue
        indent = len(line) - len(line.lstrip(" \t>"))
        address = _ADDRESS.search(line)
        is_address_line = address is not None and not _EXPLANATION.search(line[: address.start()])
        if block_lines == 0:
            if blocks >= 20 or (blocks > 0 and not is_address_line):
                break
            base_indent = indent
        block_lines += 1
        if block_lines > 30:
            break
        if is_address_line and address is not None and indent <= base_indent:
            found.append((line_pos + address.start(), address.group(0).rstrip(".").lower()))
    return found


def _text_permanence(text: str) -> tuple[bool, bool]:
    """(permanent, only a delay) from the status codes and wording of a report's text."""
    codes = {m.group(1) for m in _STATUS.finditer(text)}
    codes |= {m.group(1) for m in _SMTP_REPLY.finditer(text)}
    if "5" in codes:
        return True, False
    if _DELAY.search(text):
        return False, True
    return "4" not in codes, False


# -- the returned mail ---------------------------------------------------------------------


def _first_msgid(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSGID.search(value)
    return match.group(0) if match else None


_MSGID_LINE = re.compile(r"^[ \t>]*message-id[ \t]*:[ \t]*(<[^<>\s]+@[^<>\s]+>)", re.I | re.M)


def _text_msgid(text: str, own_id: str | None) -> str | None:
    for m in _MSGID_LINE.finditer(text):
        if m.group(1) != own_id:
            return m.group(1)
    return None


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for address in addresses:
        if address not in seen:
            seen.append(address)
    return tuple(seen)
