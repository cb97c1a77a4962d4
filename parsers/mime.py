"""The MIME layer: raw bytes to decoded headers, one body text and the real attachments.

Speed matters (the bot parses every incoming mail and replays whole mailboxes), so the
message is parsed with `policy.compat32` (no header objects built on access) and headers
are decoded by hand; attachment payloads are only decoded when their bytes are wanted.
Robustness matters more: nothing raises on malformed input, and every message gets the
same budget (its size and line counts, header lengths, part count, nesting depth, decoded
text, HTML), so hostile mail costs seconds and megabytes at most; problems and whatever
was cut become `warnings`.
"""

from __future__ import annotations

import email.parser
import email.utils
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import Message
from email.policy import Compat32

from parsers import delimiters
from parsers.charsets import decode_bytes, decode_text
from parsers.encoded_words import decode_encoded_words
from parsers.html import MAX_HTML_CHARS, cid_references, html_to_text
from parsers.model import Attachment, ParseOptions
from parsers.photos import InlineImage, signature_images
from parsers.signatures import html_signature_blocks
from parsers.tnef import unpack_tnef
from parsers.transfer import decoded_payload, encoded_length, estimated_size

delimiters.install()

#: Deeper MIME nesting than this is not walked (real clients nest 3-5 levels).
MAX_DEPTH = 40
#: At most this many MIME parts are looked at.
MAX_PARTS = 500
#: The body text is cut to this many characters (a reply is never this long) ...
MAX_TEXT_CHARS = 2_000_000
#: ... and at most this many bytes are decoded from all text and HTML parts together.
MAX_TEXT_BYTES = 4 * 1024 * 1024
#: Header values are cut to this many characters as they are parsed: the standard library
#: reads parameters in quadratic time (a 2 MB Content-Type took half a minute), and
#: nothing a reply needs is longer (References keep their first, oldest entries).
MAX_HEADER_CHARS = 16 * 1024
#: At most this many headers, and this many characters of them, are kept per message.
MAX_HEADERS = 500
MAX_HEADERS_TOTAL_CHARS = 1024 * 1024
#: The message is read up to this many bytes (the standard library's parser needs three to
#: five times a message's size; a mail server's own limit is usually lower) ...
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: ... lines longer than this are folded (the parser would hold a long line three times,
#: at four bytes per character: a 40 MB line took 240 MB; RFC 5322 allows 998 bytes) ...
MAX_LINE_BYTES = 1024 * 1024
#: ... the message is read up to its MAX_LINES-th line (a million lines of base64 are 78 MB;
#: the standard library's parser holds 60 bytes and more per line) ...
MAX_LINES = 1_000_000
#: ... up to its MAX_FIELD_LINES-th line that looks like a header field ("Name: ...":
#: the parser spends microseconds and 80 bytes on each; base64 has none, text a few) ...
MAX_FIELD_LINES = 100_000
#: (the message's own header block keeps its first MAX_HEADER_FIELDS fields and its
#: Content-* fields, so that its body is still read) ...
MAX_HEADER_FIELDS = 10_000
#: ... and up to its MAX_DELIMITER_LINES-th line starting with "--" (each can open a MIME
#: part, and a part costs far more than a line).
MAX_DELIMITER_LINES = 20 * MAX_PARTS
#: Sanitised file names are cut to this many characters (extension kept) ...
MAX_FILENAME_CHARS = 120
#: ... and to this many bytes in UTF-8 (file systems count bytes: 255 on most).
MAX_FILENAME_BYTES = 200

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MSGID = re.compile(r"<[^<>\s]+>")
_PLAIN_STUB = re.compile(r"html|unterst(ü|ue)tzt|support", re.IGNORECASE)
_BOUNDARY_LINE = re.compile(r"^--([^\s]{1,200})\s*$", re.MULTILINE)
_FIELD_LINE = re.compile(rb"\n[!-9;-~]{1,76}:")
_CONTENT_FIELD = re.compile(rb"\n(?:content-|mime-version)[^\n]*(?:\n[ \t][^\n]*)*", re.I)
_BLANK_LINE = re.compile(rb"\n\r?\n")
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
    #: the text of the blocks the HTML part marks as the signature (parsers.signatures)
    signature_blocks: tuple[str, ...] = ()
    #: the rendered HTML part when `text` is the plain part and the HTML holds a data table:
    #: clients flatten a table's rows and columns in their plain alternative, so a topic
    #: per row can only be read from the HTML (the caller decides which reads better)
    html_table_text: str | None = None

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
    value = decode_encoded_words(value.replace("\r", "").replace("\n", ""))
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
    # a parameter cut off (or mistyped) keeps its opening quote
    name = name.strip().strip('"').replace("\\", "/").rsplit("/", 1)[-1]
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


def _char_start(data: bytes) -> bytes:
    """`data` without a UTF-8 sequence cut off at its end (when the decoding stopped at a
    byte limit), so the cut does not leave mojibake behind."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # the lead byte: does its sequence fit?
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if length <= back else data[:-back]
    return data


def _part_text(part: Message, budget: _Budget) -> str:
    label = "HTML" if part.get_content_subtype() == "html" else "Text"
    if budget.text_bytes <= 0:
        budget.cut(label, estimated_size(part))
        return ""
    payload, complete = decoded_payload(part, budget.text_bytes)
    budget.text_bytes -= len(payload)
    if not complete:
        budget.cut(label, estimated_size(part))
        payload = _char_start(payload)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = _normalise_newlines(decode_bytes(payload, charset))
    if part.get_content_subtype() == "plain":
        fmt = str(part.get_param("format") or "").lower()
        if fmt == "flowed":
            delsp = str(part.get_param("delsp") or "").lower() == "yes"
            text = unflow(text, delsp)
    return _CONTROL_CHARS.sub("", text)


def _has_data_table(html: str) -> bool:
    """The HTML holds a table with at least two rows of two or more cells."""
    lower = html.lower()
    if len(html) > MAX_HTML_CHARS or "<td" not in lower:
        return False
    rows = sum(1 for row in lower.split("<tr")[1:] if row.split("</tr", 1)[0].count("<td") >= 2)
    return rows >= 2


def _is_plain_usable(plain: str) -> bool:
    stripped = plain.strip()
    if not stripped:
        return False
    return not (len(stripped) < 300 and _PLAIN_STUB.search(stripped))


# -- budgets ------------------------------------------------------------------------------


def _number(n: int) -> str:
    """12345 -> "12.345" (German thousands separator)."""
    return f"{n:,}".replace(",", ".")


def _size_text(size: int) -> str:
    """A size for a warning, as people read it: "5 MB", "1,5 MB", "800 KB"."""
    mb = size / (1024 * 1024)
    if mb >= 9.95:
        return f"{mb:.0f} MB"
    if mb >= 0.995:
        return f"{mb:.1f} MB".replace(".", ",")
    return f"{max(1, round(size / 1024))} KB"


class _HeaderCapping(Compat32):
    """compat32, with every header value cut to MAX_HEADER_CHARS as it is parsed (the cut
    ones are noted in `cut_headers`, a list given to each instance)."""

    cut_headers: list[tuple[str, int]] | None = None

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        if len(value) > MAX_HEADER_CHARS:
            if self.cut_headers is not None:
                self.cut_headers.append((name.strip(), len(value)))
            value = value[:MAX_HEADER_CHARS]
        return name, value


_HEADER_CAPPING = _HeaderCapping()


@dataclass
class _Budget:
    """What is left to spend on one message, and what was cut (becomes `warnings`)."""

    warnings: list[str] = field(default_factory=list)
    text_bytes: int = field(default_factory=lambda: MAX_TEXT_BYTES)
    cut_headers: list[tuple[str, int]] = field(default_factory=list)
    #: "Text"/"HTML" -> the decoded size of the parts that were cut or skipped
    cut_text: dict[str, int] = field(default_factory=dict)

    def cut(self, label: str, size: int) -> None:
        self.cut_text[label] = self.cut_text.get(label, 0) + size

    def header_warnings(self) -> None:
        """One warning per cut header name (the subject by its German name), at most five."""
        sizes: dict[str, tuple[str, int]] = {}
        for name, size in self.cut_headers:
            _, before = sizes.get(name.lower(), (name, 0))
            sizes[name.lower()] = (name, max(size, before))
        shown = list(sizes.items())[:5]
        for key, (name, size) in shown:
            what = "Betreff" if key == "subject" else f"Kopfzeile {name}"
            self.warnings.append(f"{what} gekürzt ({_size_text(size)}).")
        if len(sizes) > len(shown):
            self.warnings.append(f"{len(sizes) - len(shown)} weitere Kopfzeilen gekürzt.")

    def text_warnings(self) -> None:
        for label, size in self.cut_text.items():
            self.warnings.append(f"{label} gekürzt ({_size_text(size)}).")


# -- the walk -----------------------------------------------------------------------------


@dataclass
class _Leaf:
    part: Message
    ctype: str
    disposition: str | None
    filename: str | None
    content_id: str | None


def _nth(raw: bytes, separator: bytes, n: int) -> int:
    """The index of the n-th occurrence of `separator` in `raw`, or -1."""
    if len(raw) < n * len(separator) or raw.count(separator) < n:
        return -1
    pos = -1
    for _ in range(n):
        pos = raw.find(separator, pos + 1)
    return pos


def _nth_field_line(raw: bytes, n: int, end: int | None = None) -> int:
    """The index of the newline before the n-th line that looks like a header field (before
    `end`), or -1. Walks the matches one by one, but only lines with a colon early on match
    (none in base64, few in text), and it stops at the n-th."""
    end = len(raw) if end is None else end
    if end < 2 * n or raw.count(b":", 0, end) < n:  # "x:" at least
        return -1  # the common case, found at the speed of memchr
    for count, match in enumerate(_FIELD_LINE.finditer(raw, 0, end), start=1):
        if count >= n:
            return match.start()
    return -1


def _drop_excess_fields(raw: bytes, budget: _Budget) -> bytes:
    """A top-level header block with more than MAX_HEADER_FIELDS fields loses the excess
    (but not its Content-* and MIME-Version fields), so the body is still read."""
    blank = _BLANK_LINE.search(raw)
    if blank is None:
        return raw
    # only the header block is searched (a field line found in it ends before the blank
    # line): a photo's megabyte of body need not be counted through
    pos = _nth_field_line(raw, MAX_HEADER_FIELDS, blank.start())
    if pos < 0:
        return raw
    kept = b"".join(m.group(0) for m in _CONTENT_FIELD.finditer(raw, pos, blank.start()))
    budget.warnings.append(
        f"Mehr als {_number(MAX_HEADER_FIELDS)} Kopfzeilen ({_size_text(blank.start() - pos)}); "
        f"der Rest wurde übergangen."
    )
    return raw[:pos] + kept + raw[blank.start() :]


def _within_limits(raw: bytes, budget: _Budget) -> bytes:
    """`raw` within MAX_MESSAGE_BYTES, MAX_LINES, MAX_HEADER_FIELDS, MAX_FIELD_LINES and
    MAX_DELIMITER_LINES (see there)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        budget.warnings.append(
            f"Nachricht gekürzt ({_size_text(len(raw))}): nur die ersten "
            f"{_size_text(MAX_MESSAGE_BYTES)} gelesen."
        )
        raw = raw[:MAX_MESSAGE_BYTES]
    # Each line these limits count begins with a line break (a field line, a delimiter),
    # so a mail with fewer line breaks than a limit cannot reach it: one count at memchr's
    # speed rules out most limits for a photo mail, which would otherwise be scanned whole
    # for each of them. Cutting only lowers the count, so it stays a bound.
    breaks = raw.count(b"\n")
    if breaks >= MAX_HEADER_FIELDS:
        raw = _drop_excess_fields(raw, budget)
    limits = (
        (b"\n", MAX_LINES, "Zeilen"),
        (b"", MAX_FIELD_LINES, "Kopfzeilen"),
        (b"\n--", MAX_DELIMITER_LINES, "MIME-Grenzen"),
    )
    for separator, limit, what in limits:
        if breaks < limit:
            continue
        pos = _nth(raw, separator, limit) if separator else _nth_field_line(raw, limit)
        if pos >= 0:
            budget.warnings.append(
                f"Nachricht gekürzt ({_size_text(len(raw))}): mehr als {_number(limit)} "
                f"{what}; der Rest wurde übergangen."
            )
            raw = raw[: pos + 1]
    return raw


def _parse_bytes(raw: bytes, budget: _Budget, headers_only: bool = False) -> Message:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    stripped = raw.lstrip(b"\r\n")
    if stripped is not raw and re.match(rb"[!-9;-~]+:", stripped):
        raw = stripped
    # clone() accepts the subclass's own attribute; typeshed lists only compat32's
    policy = _HEADER_CAPPING.clone(cut_headers=budget.cut_headers)  # type: ignore[call-arg]
    if headers_only:
        return email.parser.BytesParser(policy=policy).parsebytes(raw, headersonly=True)
    if len(raw) >= _RUN_MIN_MESSAGE:
        shortened, runs = _set_runs_aside(raw)
        if runs:
            msg = _feed(shortened, policy)
            if _put_runs_back(msg, runs):
                return msg
    return _feed(raw, policy)


def _feed(raw: bytes, policy: Compat32) -> Message:
    parser = email.parser.BytesFeedParser(policy=policy)
    for piece in _slices(raw):
        parser.feed(piece)
    return parser.close()


#: A run of at least this many lines made of base64's alphabet only (an attached photo)
#: goes past the standard library's parser, which spends a few microseconds on every line
#: and holds it as a string of its own: a megabyte of photo is 13,500 lines, and the
#: parser's work on them was most of the work on a reply with photos. Such a run cannot
#: hold a MIME delimiter or a header field, so it is taken out before parsing and put
#: back, unchanged, into the part (or preamble, or epilogue) it landed in: the parsed
#: message is the same as the standard library's.
_RUN_MIN_LINES = 32
_RUN_MIN_MESSAGE = _RUN_MIN_LINES * 40
#: (possessive: a line's letters can never give way to its line break, so trying fewer is
#: wasted work)
_BASE64_RUN = re.compile(rb"^(?:[A-Za-z0-9+/=]{40,998}+\r?\n){%d,}+" % _RUN_MIN_LINES, re.M)
#: what stands for a run while the parser reads the message: no header field, no
#: delimiter, and nothing that a mail's own bytes can hold (a run's number follows it)
_RUN_MARK = "\x00intake-run\x00"
_RUN_MARK_BYTES = _RUN_MARK.encode("ascii")
_RUN_NUMBER = re.compile(re.escape(_RUN_MARK) + r"(\d+)\x00")


def _set_runs_aside(raw: bytes) -> tuple[bytes, list[bytes]]:
    """`raw` with each base64 run replaced by a mark, and the runs (without the last line
    break, which stays: it may belong to the delimiter that follows)."""
    if _RUN_MARK_BYTES in raw:
        return raw, []
    runs: list[bytes] = []
    pieces: list[bytes] = []
    last = 0
    for match in _BASE64_RUN.finditer(raw):
        start, end = match.span()
        end -= 2 if raw[end - 2 : end] == b"\r\n" else 1
        pieces += (raw[last:start], b"%s%d\x00" % (_RUN_MARK_BYTES, len(runs)))
        runs.append(raw[start:end])
        last = end
    if not runs:
        return raw, []
    pieces.append(raw[last:])
    return b"".join(pieces), runs


def _put_runs_back(msg: Message, runs: list[bytes]) -> bool:
    """Put each run back where its mark landed; False if one is not found exactly once."""
    texts = [run.decode("ascii") for run in runs]
    placed = 0

    def restore(value: str) -> str:
        if _RUN_MARK not in value:
            return value

        def back(match: re.Match[str]) -> str:
            nonlocal placed
            placed += 1
            return texts[int(match.group(1))]

        return _RUN_NUMBER.sub(back, value)

    stack: list[Message] = [msg]
    while stack:
        part = stack.pop()
        for attr in ("preamble", "epilogue"):
            value = getattr(part, attr, None)
            if isinstance(value, str):
                setattr(part, attr, restore(value))
        # the payload as parsed (get_payload() would re-decode 8-bit text)
        payload = part._payload  # type: ignore[attr-defined]
        if isinstance(payload, str):
            part.set_payload(restore(payload))
        elif isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
    return placed == len(runs)


def _slices(raw: bytes) -> Iterator[bytes]:
    """`raw` in slices of MAX_LINE_BYTES for the parser (given all at once, it would keep a
    copy at four bytes per character), with a folding line break ("\\r\\n ") where a line
    grows longer than MAX_LINE_BYTES: after a ">" or a space where one is near. In a
    header that is folding; in base64 and HTML it is whitespace; plain text gets a line
    break in a line of more than a megabyte."""
    run = 0  # bytes since the last line break
    for start in range(0, len(raw), MAX_LINE_BYTES):
        piece = raw[start : start + MAX_LINE_BYTES]
        newline = piece.rfind(b"\n")
        if newline >= 0:
            run = len(piece) - newline - 1
        elif run >= MAX_LINE_BYTES:
            near = piece.find(b">", 0, 4096)
            if near < 0:
                near = piece.find(b" ", 0, 4096)
            yield piece[: near + 1]
            yield b"\r\n "
            piece = piece[near + 1 :]
            run = len(piece)
        else:
            run += len(piece)
        yield piece


def _reparse_broken_multipart(part: Message, budget: _Budget) -> Message | None:
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
        reparsed = _parse_bytes(head.encode() + body, budget)
    except Exception:
        return None
    return reparsed if reparsed.is_multipart() else None


def _walk(msg: Message, budget: _Budget) -> tuple[list[_Leaf], set[str]]:
    warnings = budget.warnings
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
            fixed = _reparse_broken_multipart(part, budget) if reparsed < 3 else None
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


def _inline_image(index: int, leaf: _Leaf, cids: frozenset[str]) -> InlineImage | None:
    """An image part shown inline or referenced from the HTML: photo or logo, to be decided."""
    if not leaf.ctype.startswith("image/"):
        return None
    referenced = bool(leaf.content_id and leaf.content_id in cids)
    if leaf.disposition == "attachment" and not referenced:
        return None
    payload = leaf.part.get_payload()
    return InlineImage(
        index=index,
        filename=leaf.filename or "",
        content_type=leaf.ctype,
        size=estimated_size(leaf.part),
        content_id=leaf.content_id,
        disposition=leaf.disposition,
        referenced=referenced,
        payload=payload if isinstance(payload, str) else "",
    )


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
    """Parse raw message bytes (never raises for malformed mail; see `warnings`).

    Every message gets the same budget (MAX_LINES, MAX_HEADER_CHARS, MAX_PARTS,
    MAX_TEXT_BYTES, MAX_HTML_CHARS, the attachment size limit): hostile mail costs
    seconds and megabytes at most, and `warnings` says what was cut.
    """
    budget = _Budget()
    warnings = budget.warnings
    raw = _within_limits(raw, budget)
    try:
        msg = _parse_bytes(raw, budget)
    except RecursionError:
        # Thousands of nested multiparts overflow the stdlib parser's recursion: keep the
        # headers (kind detection, matching) and give up on the body.
        msg = _parse_bytes(raw, budget, headers_only=True)
        msg.set_payload("")
        warnings.append("MIME-Struktur zu tief verschachtelt; nur die Kopfzeilen gelesen.")
    if msg.defects:
        names = sorted({type(d).__name__ for d in msg.defects})
        warnings.append("MIME-Fehler: " + ", ".join(names[:5]))

    headers: list[tuple[str, str]] = []
    header_chars = 0
    for name, value in msg.raw_items():
        if len(headers) >= MAX_HEADERS:
            warnings.append(f"Mehr als {MAX_HEADERS} Kopfzeilen; der Rest wurde übergangen.")
            break
        value_str = value if isinstance(value, str) else str(value)
        header_chars += len(value_str)
        if header_chars > MAX_HEADERS_TOTAL_CHARS:
            warnings.append(
                f"Kopfzeilen länger als {_size_text(MAX_HEADERS_TOTAL_CHARS)}; "
                f"der Rest wurde übergangen."
            )
            break
        headers.append((name.strip().lower(), decode_header_value(value_str)))

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

    leaves, types = _walk(msg, budget)

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
            plain_parts.append(_part_text(leaf.part, budget))
        else:
            html_parts.append(_part_text(leaf.part, budget))

    plain = "\n".join(plain_parts)
    html = "\n".join(html_parts)
    cids = cid_references(html) if html else frozenset()

    attachments: list[Attachment] = []
    tnef_text: str | None = None
    tnef_html: str | None = None
    for leaf in tnef_leaves:
        size = estimated_size(leaf.part)
        if size > options.max_attachment_bytes:
            warnings.append(f"winmail.dat zu groß ({_size_text(size)}); nicht entpackt.")
            continue
        payload, _ = decoded_payload(leaf.part, options.max_attachment_bytes)
        content = unpack_tnef(payload)
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

    logos = signature_images(
        [image for i, leaf in enumerate(leaves) if (image := _inline_image(i, leaf, cids))
         and i not in body_leaves],
        plain=plain,
        html=html,
    )
    for i, leaf in enumerate(leaves):
        if i in body_leaves or leaf.ctype in _NOT_ATTACHMENTS:
            continue
        if i in logos:
            continue  # a signature logo, an icon, a spacer (parsers.photos)
        # estimated from the encoded length: an attachment too large to keep is never
        # decoded. One whose encoded text is within the limit is kept for sure (decoding
        # never lengthens), and its size is then what it decodes to: no estimate needed.
        keep = options.keep_attachment_content
        surely = keep and encoded_length(leaf.part) <= options.max_attachment_bytes
        size = 0 if surely else estimated_size(leaf.part)
        name = sanitize_filename(leaf.filename, len(attachments) + 1, _ext_for(leaf.ctype))
        want_bytes = surely or (keep and size <= options.max_attachment_bytes)
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
            data, _ = decoded_payload(leaf.part, options.max_attachment_bytes)
            size = len(data)
        _add_attachment(attachments, options, name, leaf.ctype, data, size)
        if size > options.max_attachment_bytes:
            warnings.append(
                f"Anhang {attachments[-1].filename} zu groß ({_size_text(size)}); "
                f"nur Name und Größe übernommen."
            )

    text = ""
    from_html = False
    if _is_plain_usable(plain):
        text = plain
    elif html.strip():
        text = html_to_text(html)
        from_html = True
        if len(html) > MAX_HTML_CHARS and "HTML" not in budget.cut_text:
            budget.cut("HTML", len(html))
    elif tnef_text and tnef_text.strip():
        text = _normalise_newlines(tnef_text)
    elif tnef_html and tnef_html.strip():
        text = html_to_text(tnef_html)
        from_html = True
    else:
        text = plain
    if len(text) > MAX_TEXT_CHARS:
        if "Text" not in budget.cut_text:
            budget.cut("Text", len(text))
        text = text[:MAX_TEXT_CHARS]
    budget.header_warnings()
    budget.text_warnings()

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
        signature_blocks=html_signature_blocks(html) if html else (),
        html_table_text=html_to_text(html) if not from_html and _has_data_table(html) else None,
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
