"""Building the bot's outgoing mails as bytes: identity headers, encoding, no injection."""

from __future__ import annotations

import binascii
import os
import re
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.encoders import encode_base64
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr

from email_validator import EmailNotValidError, validate_email

from bot.contacts import needs_smtputf8
from bot.errors import one_line
from mailtemplates import RenderedMail
from parsers.tags import TAG_ALPHABET, format_tag

__all__ = ["TAG_ALPHABET", "build_mail", "new_message_id", "new_tag", "subject_tag"]

class _Entropy:
    """Bytes from the system's CSPRNG, read 4 KiB at a time: a round makes thousands of
    tags and Message-IDs, and a system call for each (five per request) costs more than
    the rest of their making while the outbox's connections share the interpreter. A
    forked child starts with an empty buffer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""

    def take(self, n: int) -> bytes:
        with self._lock:
            if len(self._buffer) < n:
                self._buffer = secrets.token_bytes(max(4096, n))
            taken, self._buffer = self._buffer[:n], self._buffer[n:]
        return taken


_entropy = _Entropy()
#: bytes below this map evenly onto the tag alphabet (the rest are drawn again)
_EVEN = 256 - 256 % len(TAG_ALPHABET)


def new_tag(length: int = 4) -> str:
    """A fresh subject tag code; the format and its alphabet live with the code that reads
    tags back (`parsers.tags`), so writing and finding can never disagree."""
    chars: list[str] = []
    while len(chars) < length:
        chars += [TAG_ALPHABET[b % len(TAG_ALPHABET)] for b in _entropy.take(length)
                  if b < _EVEN]
    return "".join(chars[:length])


def subject_tag(month: str, tag: str, word: str = "Themen") -> str:
    """'[Themen 2027-01 #K7Q2]': lets a reply match its request when clients drop headers."""
    return format_tag(month, tag, word)


def new_message_id(kind: str, domain: str, hint: str = "") -> str:
    """A globally unique Message-ID that is stored before sending and never changes."""
    local = f"{kind}{'-' + hint if hint else ''}.{_entropy.take(8).hex()}"
    return f"<{local}@{domain}>"


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
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """A multipart/alternative mail (text + HTML) as CRLF bytes, ready for SMTP.

    Names and subjects are encoded per RFC 2047 (quoted-printable bodies in UTF-8); any
    line break or control character in a name or subject is flattened first, so no header
    can be injected. Assembled here, header fields folded by compat32 (see `_multipart`):
    a round builds thousands of requests.

    `attachments` are (file name, content type, bytes); with any, the mail is
    multipart/mixed around the alternative part.
    """
    headers = [("Subject", _encoded(one_line(rendered.subject))),
               ("From", _address_header(from_name, from_address)),
               ("To", _address_header(to_name, to_address)),
               ("Date", format_datetime(date)),
               ("Message-ID", one_line(message_id))]
    if in_reply_to:
        headers.append(("In-Reply-To", one_line(in_reply_to)))
    if references:
        headers.append(("References", one_line(" ".join(references))))
    if auto_submitted:
        # RFC 3834: automatic mail; well-behaved responders do not answer it
        headers.append(("Auto-Submitted", "auto-generated"))
    if suppress_oof:
        # Exchange: no out-of-office replies to reminders and follow-ups (the first request
        # still reveals absences, which is useful to know)
        headers.append(("X-Auto-Response-Suppress", "OOF"))
    headers += [(name, _encoded(one_line(value), name)) for name, value in extra_headers]
    headers.append(("MIME-Version", "1.0"))
    alternative = _multipart("alternative", [_text_part(rendered.text, "plain"),
                                             _text_part(rendered.html, "html")])
    if attachments:
        alternative = _multipart("mixed", [
            _part(*alternative),
            *(_attachment_part(filename, content_type, data)
              for filename, content_type, data in attachments)])
    content_type, body = alternative
    return _part([*headers, *content_type], body)


def _part(headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    """A MIME entity: its header fields (folded as compat32 folds them), a blank line,
    its body."""
    return b"".join(_WIRE.fold_binary(name, value) for name, value in headers) + b"\r\n" + body


def _multipart(subtype: str, parts: Sequence[bytes]) -> tuple[list[tuple[str, str]], bytes]:
    """The Content-Type field and the body of a multipart entity around `parts`.

    Written here rather than by the email package's generator, which re-read and re-wrote
    every line of every part (a third of the time of building a request). The boundary is
    our own: "=_" never occurs in quoted-printable or base64 text, so no body line can
    contain it (the generator's default would draw one and search every line for it)."""
    boundary = f"=_{_entropy.take(12).hex()}".encode("ascii")
    body = (b"--" + boundary + b"\r\n"
            + (b"\r\n--" + boundary + b"\r\n").join(parts)
            + b"\r\n--" + boundary + b"--\r\n")
    return [("Content-Type", f'multipart/{subtype}; boundary="{boundary.decode()}"')], body


def wire_address(address: str) -> str:
    """The address as it goes on the wire: a domain beyond ASCII (`rathaus-müllheim.de`) in
    its ASCII form (IDNA, `xn--...`), so only a non-ASCII local part needs SMTPUTF8.
    ValueError names the address if its domain has no such form."""
    local, at, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        # the contacts file was checked with email_validator: the same IDNA rules here
        checked = validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"{address}: not a deliverable address ({exc})") from None
    return f"{local}{at}{checked.ascii_domain}"


def _address_header(name: str | None, address: str) -> str:
    """`Name <address>` for From/To: the name RFC 2047-encoded where the address is ASCII.

    An internationalised local part (`jürgen.groß@...`) cannot be encoded that way: the header
    is then raw UTF-8 as RFC 6532 has it, valid only in a mail sent with SMTPUTF8 (bot.smtp
    sends it so, or refuses it by name). The name stays raw UTF-8 there too, quoted where
    it holds specials. compat32 writes a value with surrogate escapes byte for byte.
    """
    display = one_line(name)
    address = wire_address(address)
    if not needs_smtputf8(address):
        return formataddr((display, address), charset="utf-8")
    if display and _SPECIALS.search(display):
        display = '"' + _ESCAPES.sub(r"\\\g<0>", display) + '"'
    text = f"{display} <{address}>" if display else address
    return text.encode("utf-8").decode("ascii", "surrogateescape")


def _encoded(value: str, name: str = "Subject") -> str:
    """A header value beyond ASCII as RFC 2047 encoded words ("Q", UTF-8), folded.

    Written here rather than by `email.header.Header`, whose folding measures the encoded
    length anew for every character it adds (quadratic: two thirds of the time it took to
    build a request went into its subject). Each word holds whole characters and at most 75
    characters (RFC 2047, 2), each line at most 78 with the field's name."""
    if value.isascii():
        return value
    words: list[str] = []
    current: list[str] = []
    size = _EMPTY_WORD
    room = min(_MAX_WORD, _MAX_LINE - len(name) - 2)  # the first line holds "Name: " too
    for char in value:
        code = _Q_SAFE.get(char) or "".join(f"={byte:02X}" for byte in char.encode("utf-8"))
        if current and size + len(code) > room:
            words.append(f"=?utf-8?q?{''.join(current)}?=")
            current, size, room = [], _EMPTY_WORD, _MAX_WORD
        current.append(code)
        size += len(code)
    words.append(f"=?utf-8?q?{''.join(current)}?=")
    return _Folded("\r\n ".join(words))


class _Folded(str):
    """A header value `_encoded` wrote: encoded words, folded; the wire writes it as it is."""


#: RFC 2047 "Q" in a header: these stand for themselves, a space is "_" (as Python writes it)
_Q_SAFE = {c: c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!*+/"}
_Q_SAFE[" "] = "_"
_EMPTY_WORD = len("=?utf-8?q??=")
_MAX_WORD = 75
#: a folded line: the space that starts it, then one encoded word
_MAX_LINE = 78


def _attachment_part(filename: str, content_type: str, data: bytes) -> bytes:
    maintype, _, rest = content_type.partition("/")
    subtype, *params = (p.strip() for p in rest.split(";"))
    part = MIMENonMultipart(maintype, subtype)
    del part["MIME-Version"]  # the mail's own field says it once
    for param in params:
        name, _, value = param.partition("=")
        part.set_param(name.strip(), value.strip())
    part.set_payload(data)
    encode_base64(part)
    # the file name RFC 2231-encoded where it needs to be, as the email package does it
    part.add_header("Content-Disposition", "attachment", filename=one_line(filename))
    return part.as_bytes(policy=_WIRE)


def _text_part(text: str, subtype: str) -> bytes:
    """UTF-8, quoted-printable (readable in the raw), encoded by binascii: the email
    package's own encoder is written in Python and took a third of the time of building
    a request."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    body = binascii.b2a_qp(lines.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return _part([("Content-Type", f'text/{subtype}; charset="utf-8"'),
                  ("Content-Transfer-Encoding", "quoted-printable")], body)


#: as email.utils.formataddr: a display name with these characters is quoted
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ESCAPES = re.compile(r'[\\"]')


class _Wire(policy.Compat32):
    """compat32 on the wire (CRLF, 78 columns), with a short cut for the common header.

    compat32 folds every header through an `email.header.Header` object, which took two
    thirds of the time of building a request; an ASCII value that fits on its line comes
    out of that unchanged, so it is written as it is. Everything else goes the long way."""

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if (isinstance(value, str) and value.isascii()
                and len(name) + len(value) + 2 <= (self.max_line_length or 0)
                and "\n" not in value and "\r" not in value):
            return f"{name}: {value}{self.linesep}"
        if isinstance(value, _Folded):
            # encoded and folded by `_encoded` already (its words hold no line break of
            # their own: CR and LF are encoded like every other control character)
            return f"{name}: {value.replace(chr(13) + chr(10), self.linesep)}{self.linesep}"
        folded: str = super()._fold(name, value, sanitize)  # type: ignore[misc]
        return folded


_WIRE = _Wire(linesep="\r\n", max_line_length=78)
