"""The MIME layer: raw bytes to decoded headers, one body text and the real attachments.

Speed matters (the bot parses every incoming mail and replays whole mailboxes), so the
message is parsed with `policy.compat32` (no header objects built on access) and headers
are decoded by hand; attachment payloads are only decoded when their bytes are wanted.
Robustness matters more: everything here is bounded (part count, nesting depth, text
size) and nothing raises on malformed input; problems become `warnings`.
"""

from __future__ import annotations

import binascii
import email
import email.header
import email.parser
import email.utils
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from email import policy
from email.message import Message

from parsers.charsets import decode_bytes, decode_text
from parsers.html import cid_references, html_to_text
from parsers.model import Attachment, ParseOptions
from parsers.tnef import unpack_tnef

#: Deeper MIME nesting than this is not walked (real clients nest 3-5 levels).
MAX_DEPTH = 40
#: At most this many MIME parts are looked at.
MAX_PARTS = 500
#: Plain text beyond this many characters is cut (a reply is never this long).
MAX_TEXT_CHARS = 2_000_000
#: Inline images below this size are signature logos, not attachments.
INLINE_LOGO_MAX_BYTES = 30 * 1024
#: Sanitised file names are cut to this many characters (extension kept) ...
MAX_FILENAME_CHARS = 120
#: ... and to this many bytes in UTF-8 (file systems count bytes: 255 on most).
MAX_FILENAME_BYTES = 200

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MSGID = re.compile(r"<[^<>\s]+>")
_PLAIN_STUB = re.compile(r"html|unterst(ü|ue)tzt|support", re.IGNORECASE)
_BOUNDARY_LINE = re.compile(r"^--([^\s]{1,200})\s*$", re.MULTILINE)
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]")
_B64_PAD = re.compile(rb"=+")
#: Base64 interrupted by padding more often than this is read as one stream of letters.
MAX_B64_RUNS = 1000
#: Device names Windows reserves, with or without an extension ("CON", "nul.txt").
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{n}" for n in range(1, 10)}
    | {f"LPT{n}" for n in range(1, 10)}
)
#: Unicode categories dropped from file names: control, format (U+202E right-to-left
#: override, U+200B zero-width space, ...) and lone surrogates.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


@dataclass(frozen=True)
class MimeMessage:
    """What the rest of the parser needs from a message, decoded."""

    #: (lower-cased name, decoded value) in message order
    headers: tuple[tuple[str, str], ...]
    subject: str
    from_address: str | None
    from_name: str | None
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: date | None
    #: top-level content type ("multipart/report") and its report-type parameter
    content_type: str
    report_type: str | None
    #: content types of every part seen, e.g. to find message/delivery-status
    part_types: frozenset[str]
    #: the body text: the plain part when usable, else the rendered HTML, else TNEF's body
    text: str
    body_from_html: bool
    attachments: tuple[Attachment, ...]
    warnings: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """The first value of a header (name case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def has_header(self, name: str) -> bool:
        name = name.lower()
        return any(key == name for key, _ in self.headers)


# -- headers ------------------------------------------------------------------------------


def decode_header_value(value: str) -> str:
    """Decode RFC 2047 encoded words and raw 8-bit bytes; unfold; collapse whitespace."""
    value = value.replace("\r", "").replace("\n", "")
    if "=?" in value:
        try:
            chunks = email.header.decode_header(value)
        except Exception:
            chunks = [(value, None)]
        parts: list[str] = []
        for chunk, charset in chunks:
            if isinstance(chunk, bytes):
                parts.append(decode_bytes(chunk, charset))
            else:
                parts.append(decode_text(chunk, charset))
        value = "".join(parts)
    else:
        value = decode_text(value)
    return " ".join(value.split())


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    try:
        return parsed.date()
    except (ValueError, OverflowError):
        return None


def _first_msgid(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSGID.search(value)
    if match:
        return match.group(0)
    token = value.strip().split()
    return token[0] if token else None


def _all_msgids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    found = _MSGID.findall(value)
    return tuple(found) if found else tuple(value.split())


# -- file names ---------------------------------------------------------------------------


def _visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) not in _INVISIBLE_CATEGORIES)


def _split_ext(name: str) -> tuple[str, str]:
    """("stem", ".ext") when the name has a plausible extension, else (name, "")."""
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 10:
        return stem, "." + ext
    return name, ""


def _fit(name: str) -> str:
    """The name cut to MAX_FILENAME_CHARS characters and MAX_FILENAME_BYTES UTF-8 bytes,
    keeping the extension."""
    if len(name) <= MAX_FILENAME_CHARS and len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    stem, ext = _split_ext(name)
    stem = stem[: max(1, MAX_FILENAME_CHARS - len(ext))]
    room = max(1, MAX_FILENAME_BYTES - len(ext.encode("utf-8")))
    stem = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return stem.rstrip(". ") + ext


def sanitize_filename(name: str | None, index: int, default_ext: str = ".bin") -> str:
    """A safe attachment file name on every platform.

    No path, no control or invisible format characters (a right-to-left override can
    make "gpj.exe" look like "exe.jpg"), no leading dots, no trailing dots or spaces
    (Windows drops them), no Windows device name ("CON.txt" becomes "_CON.txt"); at most
    MAX_FILENAME_CHARS characters and MAX_FILENAME_BYTES bytes, the extension kept. An
    empty name becomes "attachment-N.bin".
    """
    # Invisible characters go before decoding (raw control characters would otherwise
    # become spaces when the header value is unfolded) and after it (encoded words can
    # carry them too).
    name = _visible(decode_header_value(_visible(name))) if name else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    for bad in ':*?"<>|':
        name = name.replace(bad, "_")
    name = name.strip().lstrip(".").strip().rstrip(". ")
    if not name:
        return f"attachment-{index}{default_ext}"
    name = _fit(name)
    if name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        name = _fit("_" + name)
    return name


def unique_filename(name: str, taken: set[str]) -> str:
    """`name`, or "stem-2.ext", "stem-3.ext", ... when the name (compared without regard
    to case) is already in `taken` (a set of casefolded names); adds the result to `taken`."""
    candidate = name
    number = 1
    while candidate.casefold() in taken:
        number += 1
        stem, ext = _split_ext(name)
        suffix = f"-{number}{ext}"
        stem = stem[: max(1, MAX_FILENAME_CHARS - len(suffix))]
        room = max(1, MAX_FILENAME_BYTES - len(suffix.encode("utf-8")))
        candidate = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore") + suffix
    taken.add(candidate.casefold())
    return candidate


# -- bodies -------------------------------------------------------------------------------


def unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed to fixed lines: join soft-broken lines of equal quote depth."""
    out: list[str] = []
    # the pieces of the logical line being joined (a list: joining is linear, not quadratic)
    current: list[str] | None = None
    current_depth = -1
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        is_sig = content == "-- "
        flowed = content.endswith(" ") and not is_sig
        if current is not None and depth != current_depth:
            out.append(_with_quote(current_depth, "".join(current)))
            current = None
        if current is None:
            current = []
            current_depth = depth
        if flowed:
            current.append(content[:-1] if delsp else content)
            continue
        current.append(content)
        out.append(_with_quote(current_depth, "".join(current)))
        current = None
    if current is not None:
        out.append(_with_quote(current_depth, "".join(current)))
    return "\n".join(out)


def _with_quote(depth: int, content: str) -> str:
    if depth <= 0:
        return content
    return ">" * depth + (" " + content if content else "")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _b64_decode_run(data: bytes) -> bytes:
    """Decode a run of base64 letters (no padding) of any length: the complete groups and
    then the partial last group, padded as it needs. A single letter left over is the only
    thing lost: it holds 6 bits, less than a byte."""
    rest = len(data) % 4
    if rest == 1:
        data = data[:-1]
    elif rest:
        data += b"=" * (4 - rest)
    return binascii.a2b_base64(data)


def _lenient_base64(text: str) -> bytes:
    """Decode base64 that lost its padding or its tail (truncated mail), carries stray
    characters, or is several encodings glued together ("QUI=QUJD"): every decodable byte
    is kept."""
    data = _B64_JUNK.sub(b"", text.encode("ascii", errors="ignore")).rstrip(b"=")
    if b"=" not in data:
        return _b64_decode_run(data)
    runs = _B64_PAD.split(data)
    if len(runs) > MAX_B64_RUNS:
        # Padding everywhere is noise, not glued encodings: read the letters as one stream.
        return _b64_decode_run(data.replace(b"=", b""))
    return b"".join(_b64_decode_run(run) for run in runs)


def _part_text(part: Message) -> str:
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    raw_payload = part.get_payload(decode=False)
    if cte == "base64" and isinstance(raw_payload, str):
        payload: bytes | object = _lenient_base64(raw_payload)
    else:
        payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = b""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = _normalise_newlines(decode_bytes(payload[: MAX_TEXT_CHARS * 4], charset))
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
    if part.get_content_subtype() == "plain":
        fmt = str(part.get_param("format") or "").lower()
        if fmt == "flowed":
            delsp = str(part.get_param("delsp") or "").lower() == "yes"
            text = unflow(text, delsp)
    return _CONTROL_CHARS.sub("", text)


def _encoded_size(part: Message) -> int:
    """The decoded size of a part's payload, estimated without decoding base64."""
    payload = part.get_payload(decode=False)
    if not isinstance(payload, str):
        return 0
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        raw = payload.encode("ascii", errors="ignore")
        data = _B64_JUNK.sub(b"", raw)
        return len(data) * 3 // 4
    return len(payload)


def _is_plain_usable(plain: str) -> bool:
    stripped = plain.strip()
    if not stripped:
        return False
    return not (len(stripped) < 300 and _PLAIN_STUB.search(stripped))


# -- the walk -----------------------------------------------------------------------------


@dataclass
class _Leaf:
    part: Message
    ctype: str
    disposition: str | None
    filename: str | None
    content_id: str | None


def _parse_bytes(raw: bytes) -> Message:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    stripped = raw.lstrip(b"\r\n")
    if stripped is not raw and re.match(rb"[!-9;-~]+:", stripped):
        raw = stripped
    return email.message_from_bytes(raw, policy=policy.compat32)


def _reparse_broken_multipart(part: Message) -> Message | None:
    """A multipart whose boundary is missing or wrong: guess it from the body's first
    delimiter line and parse again."""
    payload = part.get_payload(decode=False)
    if not isinstance(payload, str):
        return None
    match = _BOUNDARY_LINE.search(payload[:200_000])
    if not match:
        return None
    boundary = match.group(1)
    head = f'Content-Type: {part.get_content_type()}; boundary="{boundary}"\n\n'
    try:
        body = payload.encode("ascii", errors="surrogateescape")
        reparsed = email.message_from_bytes(head.encode() + body, policy=policy.compat32)
    except Exception:
        return None
    return reparsed if reparsed.is_multipart() else None


def _walk(msg: Message, warnings: list[str]) -> tuple[list[_Leaf], set[str]]:
    leaves: list[_Leaf] = []
    types: set[str] = set()
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    reparsed = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            warnings.append(f"Mehr als {MAX_PARTS} MIME-Teile; der Rest wurde übergangen.")
            break
        ctype = part.get_content_type()
        types.add(ctype)
        if ctype == "message/rfc822" or (ctype.startswith("message/") and part.is_multipart()):
            leaves.append(_leaf(part, ctype))
            continue
        if part.is_multipart():
            if depth >= MAX_DEPTH:
                warnings.append(f"MIME-Verschachtelung tiefer als {MAX_DEPTH}; abgeschnitten.")
                continue
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )
            continue
        if part.get_content_maintype() == "multipart":
            fixed = _reparse_broken_multipart(part) if reparsed < 3 else None
            reparsed += 1
            if fixed is not None:
                warnings.append("Multipart ohne gültige Boundary; Grenze erraten.")
                stack.append((fixed, depth + 1))
            else:
                warnings.append("Multipart ohne gültige Boundary; als Text gelesen.")
                leaves.append(_Leaf(part, "text/plain", None, None, None))
            continue
        leaves.append(_leaf(part, ctype))
    return leaves, types


def _leaf(part: Message, ctype: str) -> _Leaf:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    if filename is None:
        name_param = part.get_param("name")
        if isinstance(name_param, str):
            filename = name_param
        elif isinstance(name_param, tuple):
            filename = email.utils.collapse_rfc2231_value(name_param)
    cid_raw = part.get("Content-ID")
    content_id = str(cid_raw).strip().strip("<>").lower() if cid_raw else None
    return _Leaf(part, ctype, disposition, filename, content_id)


def _is_tnef(leaf: _Leaf) -> bool:
    return leaf.ctype in ("application/ms-tnef", "application/vnd.ms-tnef") or (
        (leaf.filename or "").strip().lower() == "winmail.dat"
    )


def _ext_for(ctype: str) -> str:
    return {
        "image/jpeg": ".jpg",
        "image/png": ".png",
        "image/gif": ".gif",
        "application/pdf": ".pdf",
        "message/rfc822": ".eml",
        "text/plain": ".txt",
        "text/html": ".html",
        "text/calendar": ".ics",
    }.get(ctype, ".bin")


def decode_message(raw: bytes, options: ParseOptions) -> MimeMessage:
    """Parse raw message bytes (never raises for malformed mail; see `warnings`)."""
    warnings: list[str] = []
    try:
        msg = _parse_bytes(raw)
    except RecursionError:
        # Thousands of nested multiparts overflow the stdlib parser's recursion: keep the
        # headers (kind detection, matching) and give up on the body.
        msg = email.parser.BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
        msg.set_payload("")
        warnings.append("MIME-Struktur zu tief verschachtelt; nur die Kopfzeilen gelesen.")
    if msg.defects:
        names = sorted({type(d).__name__ for d in msg.defects})
        warnings.append("MIME-Fehler: " + ", ".join(names[:5]))

    headers: list[tuple[str, str]] = []
    for name, value in msg.raw_items():
        if len(headers) >= 500:
            warnings.append("Mehr als 500 Kopfzeilen; der Rest wurde übergangen.")
            break
        value_str = value if isinstance(value, str) else str(value)
        headers.append((name.strip().lower(), decode_header_value(value_str[:10_000])))

    def first_raw(name: str) -> str | None:
        # raw_items, not get(): compat32 turns raw 8-bit values into lossy Header objects.
        name = name.lower()
        for key, value in msg.raw_items():
            if key.lower() == name:
                return decode_text(value) if isinstance(value, str) else str(value)
        return None

    subject = decode_header_value(first_raw("Subject") or "")
    from_name: str | None = None
    from_address: str | None = None
    from_raw = first_raw("From")
    if from_raw:
        raw_name, raw_addr = email.utils.parseaddr(from_raw.replace("\n", " ").replace("\r", ""))
        from_name = decode_header_value(raw_name).strip('"').strip() or None if raw_name else None
        from_address = decode_text(raw_addr).strip().lower() or None if raw_addr else None

    leaves, types = _walk(msg, warnings)

    plain_parts: list[str] = []
    html_parts: list[str] = []
    body_leaves: set[int] = set()
    tnef_leaves: list[_Leaf] = []
    for i, leaf in enumerate(leaves):
        if _is_tnef(leaf):
            tnef_leaves.append(leaf)
            body_leaves.add(i)
            continue
        if leaf.ctype not in ("text/plain", "text/html"):
            continue
        if leaf.disposition == "attachment":
            continue
        if leaf.filename and leaf.disposition != "inline":
            continue
        body_leaves.add(i)
        if leaf.ctype == "text/plain":
            plain_parts.append(_part_text(leaf.part))
        else:
            html_parts.append(_part_text(leaf.part))

    plain = "\n".join(plain_parts)
    html = "\n".join(html_parts)
    cids = cid_references(html) if html else frozenset()

    attachments: list[Attachment] = []
    tnef_text: str | None = None
    tnef_html: str | None = None
    for leaf in tnef_leaves:
        payload = leaf.part.get_payload(decode=True)
        content = unpack_tnef(payload) if isinstance(payload, bytes) else None
        if content is None:
            warnings.append("winmail.dat konnte nicht gelesen werden.")
            continue
        tnef_text = tnef_text or content.body_text
        tnef_html = tnef_html or content.body_html
        for f in content.files:
            _add_attachment(
                attachments,
                options,
                sanitize_filename(f.name, len(attachments) + 1),
                "application/octet-stream",
                f.data,
                len(f.data),
            )

    for i, leaf in enumerate(leaves):
        if i in body_leaves or leaf.ctype in _NOT_ATTACHMENTS:
            continue
        is_image = leaf.ctype.startswith("image/")
        size = _encoded_size(leaf.part)
        if is_image and leaf.disposition != "attachment" and size < INLINE_LOGO_MAX_BYTES:
            continue  # inline signature logo, spacer gif, ...
        referenced = bool(leaf.content_id and leaf.content_id in cids)
        if is_image and referenced and size < INLINE_LOGO_MAX_BYTES:
            continue
        name = sanitize_filename(leaf.filename, len(attachments) + 1, _ext_for(leaf.ctype))
        want_bytes = options.keep_attachment_content and size <= options.max_attachment_bytes
        data = b""
        if leaf.ctype == "message/rfc822" or leaf.part.is_multipart():
            if want_bytes:
                try:
                    inner = leaf.part.get_payload(0)
                    data = inner.as_bytes() if isinstance(inner, Message) else b""
                except Exception:
                    data = b""
                size = len(data) or size
        elif want_bytes:
            try:
                decoded = leaf.part.get_payload(decode=True)
            except (binascii.Error, ValueError):
                decoded = None
            data = decoded if isinstance(decoded, bytes) else b""
            size = len(data)
        _add_attachment(attachments, options, name, leaf.ctype, data, size)

    text = ""
    from_html = False
    if _is_plain_usable(plain):
        text = plain
    elif html.strip():
        text = html_to_text(html)
        from_html = True
    elif tnef_text and tnef_text.strip():
        text = _normalise_newlines(tnef_text)
    elif tnef_html and tnef_html.strip():
        text = html_to_text(tnef_html)
        from_html = True
    else:
        text = plain

    report_type = (
        msg.get_param("report-type") if msg.get_content_type() == "multipart/report" else None
    )
    return MimeMessage(
        headers=tuple(headers),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        message_id=_first_msgid(first_raw("Message-ID")),
        in_reply_to=_first_msgid(first_raw("In-Reply-To")),
        references=_all_msgids(first_raw("References")),
        date=_parse_date(first_raw("Date")),
        content_type=msg.get_content_type(),
        report_type=str(report_type).lower() if isinstance(report_type, str) else None,
        part_types=frozenset(types),
        text=text,
        body_from_html=from_html,
        attachments=tuple(attachments),
        warnings=tuple(warnings),
    )


_NOT_ATTACHMENTS = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "text/rfc822-headers",
        "message/disposition-notification",
        "message/feedback-report",
        "application/pgp-signature",
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-encrypted",
    }
)


def _add_attachment(
    attachments: list[Attachment],
    options: ParseOptions,
    name: str,
    ctype: str,
    data: bytes,
    size: int,
) -> None:
    truncated = size > options.max_attachment_bytes
    content = data if options.keep_attachment_content and not truncated else b""
    taken = {a.filename.casefold() for a in attachments}
    attachments.append(
        Attachment(
            filename=unique_filename(name, taken),
            content_type=ctype,
            size=size,
            content=content,
            truncated=truncated,
        )
    )
