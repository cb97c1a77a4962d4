"""The reply parser: raw mail bytes in, a `ParseResult` out (pure, see parse-contract.md).

    from parsers import parse_message, ParseOptions
    result = parse_message(raw_bytes, ParseOptions(today=date(2026, 3, 3)))

Pipeline: MIME decoding (`parsers.mime`) -> automatic mail by headers (`parsers.kinds`) ->
reply extraction (`parsers.reply`) -> topics (`parsers.template`) -> no-topics phrases ->
automatic mail by body wording -> `unrecognized`. Never raises for bad input: the worst
case is `kind="unrecognized"` with a warning.
"""

from __future__ import annotations

from datetime import date

from parsers.kinds import kind_from_body, kind_from_headers
from parsers.mime import MimeMessage, decode_message
from parsers.model import (
    DEFAULT_LABELS,
    Attachment,
    HowMany,
    Kind,
    ParseOptions,
    ParseResult,
    Topic,
    When,
)
from parsers.reply import extract_reply
from parsers.template import extract_topics, is_no_topics

__all__ = [
    "DEFAULT_LABELS",
    "Attachment",
    "HowMany",
    "Kind",
    "ParseOptions",
    "ParseResult",
    "Topic",
    "When",
    "extract_reply",
    "parse_message",
]

#: Used only when neither options.today, the Date header nor options.fallback_today is there.
_LAST_RESORT_TODAY = date(2000, 1, 1)


def _reference_date(options: ParseOptions, msg: MimeMessage | None) -> tuple[date, bool]:
    if options.today is not None:
        return options.today, True
    if msg is not None and msg.date is not None:
        return msg.date, True
    if options.fallback_today is not None:
        return options.fallback_today, True
    return _LAST_RESORT_TODAY, False


def _protected_labels(options: ParseOptions) -> tuple[str, ...]:
    labels: list[str] = [options.block_start]
    for field, variants in options.labels.items():
        if field in ("what", "when", "where", "who", "how_many", "quote", "images"):
            labels.extend(variants)
    return tuple(label for label in labels if label)


def _unrecognized(reason: str, reply_text: str = "") -> ParseResult:
    return ParseResult(kind="unrecognized", reply_text=reply_text, warnings=(reason,))


def parse_message(raw: bytes, options: ParseOptions | None = None) -> ParseResult:
    """Parse one raw RFC 5322 message into a `ParseResult` (never raises for bad mail)."""
    options = options or ParseOptions()
    if not isinstance(raw, bytes | bytearray | memoryview):
        return _unrecognized("Eingabe ist keine Byte-Folge.")
    raw = bytes(raw)
    try:
        msg = decode_message(raw, options)
    except (RecursionError, MemoryError) as exc:
        return _unrecognized(f"Nachricht nicht lesbar ({type(exc).__name__}).")
    except Exception as exc:
        return _unrecognized(f"Nachricht nicht lesbar: {type(exc).__name__}: {exc}"[:300])
    try:
        return _classify(msg, options)
    except RecursionError:
        return _result(msg, "unrecognized", "", (), ("Auswertung abgebrochen (RecursionError).",))
    except Exception as exc:
        warning = f"Auswertung fehlgeschlagen: {type(exc).__name__}: {exc}"[:300]
        return _result(msg, "unrecognized", msg.text[:10_000], (), (warning,))


def _result(
    msg: MimeMessage,
    kind: Kind,
    reply_text: str,
    topics: tuple[Topic, ...],
    extra_warnings: tuple[str, ...] = (),
) -> ParseResult:
    return ParseResult(
        kind=kind,
        reply_text=reply_text,
        topics=topics,
        attachments=msg.attachments,
        message_id=msg.message_id,
        in_reply_to=msg.in_reply_to,
        references=msg.references,
        subject=msg.subject,
        from_address=msg.from_address,
        from_name=msg.from_name,
        date=msg.date,
        warnings=msg.warnings + extra_warnings,
    )


def _classify(msg: MimeMessage, options: ParseOptions) -> ParseResult:
    warnings: list[str] = []
    reply_text = extract_reply(msg.text, _protected_labels(options))

    auto = kind_from_headers(msg)
    if auto is not None:
        return _result(msg, auto, reply_text, ())

    today, known = _reference_date(options, msg)
    if not known:
        warnings.append(
            "Kein Bezugsdatum (weder --today noch Date-Kopfzeile); 2000-01-01 angenommen."
        )

    names = tuple(a.filename for a in msg.attachments)
    topics = tuple(extract_topics(msg.text, reply_text, names, options, today))
    if topics:
        return _result(msg, "topics", reply_text, topics, tuple(warnings))
    if is_no_topics(reply_text, options):
        return _result(msg, "no_topics", reply_text, (), tuple(warnings))
    body_kind = kind_from_body(reply_text or msg.text)
    if body_kind is not None:
        return _result(msg, body_kind, reply_text, (), tuple(warnings))
    return _result(msg, "unrecognized", reply_text, (), tuple(warnings))
