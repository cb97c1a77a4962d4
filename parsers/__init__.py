"""The reply parser: raw mail bytes in, a `ParseResult` out (pure, see parse-contract.md).

    from parsers import parse_message, ParseOptions
    result = parse_message(raw_bytes, ParseOptions(today=date(2026, 3, 3)))

Pipeline: MIME decoding (`parsers.mime`) -> automatic mail by headers (`parsers.kinds`) ->
reply extraction (`parsers.reply`) -> topics (`parsers.template`) -> no-topics phrases ->
automatic mail by body wording -> `unrecognized`. Never raises for bad input: the worst
case is `kind="unrecognized"` with a warning.

Then the facts for matching, outside the contract's JSON: the subject tag (`parsers.tags`:
the subject, else the returned original's subject for a bounce, else the first quoted
"Betreff:" line), `automatic` (`parsers.kinds.is_automatic`), for a bounce the failed
recipients, permanence and the returned Message-ID (`parsers.dsn`), for an auto-reply the
last day away (`parsers.absence`) and, when In-Reply-To is missing, the last References entry
as `in_reply_to` (the request it answers).
"""

from __future__ import annotations

import dataclasses
from datetime import date

from parsers.absence import absent_until
from parsers.dsn import read_bounce
from parsers.kinds import is_automatic, kind_from_body, kind_from_headers
from parsers.mime import MimeMessage, decode_message
from parsers.model import (
    DEFAULT_LABELS,
    Attachment,
    HowMany,
    Kind,
    ParseOptions,
    ParseResult,
    SubjectTag,
    Topic,
    When,
)
from parsers.reply import extract_reply
from parsers.tags import find_quoted_tag, find_tag
from parsers.template import extract_topics, is_no_topics

__all__ = [
    "DEFAULT_LABELS",
    "Attachment",
    "HowMany",
    "Kind",
    "ParseOptions",
    "ParseResult",
    "SubjectTag",
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
        result = _classify(msg, options)
    except RecursionError:
        return _result(msg, "unrecognized", "", (), ("Auswertung abgebrochen (RecursionError).",))
    except Exception as exc:
        warning = f"Auswertung fehlgeschlagen: {type(exc).__name__}: {exc}"[:300]
        return _result(msg, "unrecognized", msg.text[:10_000], (), (warning,))
    try:
        return _with_facts(result, raw, msg, options)
    except Exception as exc:  # RecursionError included
        # The kind and topics stand; unsure whether a machine sent it, the bot must not answer.
        warning = f"Auswertung fehlgeschlagen (Zuordnung): {type(exc).__name__}: {exc}"[:300]
        return dataclasses.replace(result, automatic=True, warnings=(*result.warnings, warning))


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


def _with_facts(
    result: ParseResult, raw: bytes, msg: MimeMessage, options: ParseOptions
) -> ParseResult:
    """The result with what matching and the automatic-mail handling need."""
    tag = find_tag(msg.subject)
    if result.kind == "bounce":
        bounce = read_bounce(raw, msg)
        if tag is None and bounce.returned_subject:
            tag = find_tag(bounce.returned_subject)
        result = dataclasses.replace(
            result,
            bounced_recipients=bounce.recipients,
            returned_message_id=bounce.returned_message_id,
            bounce_permanent=bounce.permanent,
        )
    if result.kind == "auto_reply":
        sent = msg.date or _reference_date(options, msg)[0]
        answered = result.in_reply_to or (result.references[-1] if result.references else None)
        result = dataclasses.replace(
            result,
            absent_until=absent_until(result.reply_text or msg.text, sent, msg.subject),
            in_reply_to=answered,
        )
    return dataclasses.replace(
        result,
        subject_tag=tag if tag is not None else find_quoted_tag(msg.text),
        automatic=is_automatic(msg, result.kind),
    )


def _answered(topics: tuple[Topic, ...]) -> int:
    return sum(
        value is not None
        for t in topics
        for value in (t.what, t.when, t.where, t.who, t.how_many, t.quote)
    )


def _reads_better(alt: tuple[Topic, ...], topics: tuple[Topic, ...]) -> bool:
    """The HTML table's reading wins with more topics and answers, or the same topics
    answered more completely (a flattened table reads as one topic with stray values)."""
    if len(alt) > len(topics):
        return _answered(alt) > _answered(topics)
    return len(alt) == len(topics) and _answered(alt) > _answered(topics)


def _classify(msg: MimeMessage, options: ParseOptions) -> ParseResult:
    warnings: list[str] = []
    signatures = (*options.known_signatures, *msg.signature_blocks)
    reply_text = extract_reply(msg.text, _protected_labels(options), signatures)

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
    if msg.html_table_text:
        alt_reply = extract_reply(msg.html_table_text, _protected_labels(options), signatures)
        alt = tuple(extract_topics(msg.html_table_text, alt_reply, names, options, today))
        if _reads_better(alt, topics):
            reply_text, topics = alt_reply, alt
    if topics:
        return _result(msg, "topics", reply_text, topics, tuple(warnings))
    if is_no_topics(reply_text, options, msg.text):
        return _result(msg, "no_topics", reply_text, (), tuple(warnings))
    body_kind = kind_from_body(reply_text or msg.text)
    if body_kind is not None:
        return _result(msg, body_kind, reply_text, (), tuple(warnings))
    return _result(msg, "unrecognized", reply_text, (), tuple(warnings))
