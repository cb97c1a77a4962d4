"""The parser's value types: frozen dataclasses, no behaviour beyond serialisation.

These mirror ../shared/spec/parse-contract.md one to one; `ParseResult.to_json_dict`
produces exactly the contract's output object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

#: `ParseResult` has a field named `date`; annotations after it need another name for the type.
Day = date

Kind = Literal["topics", "no_topics", "auto_reply", "bounce", "unrecognized"]

#: The contract's topic fields, in output order.
FIELDS: tuple[str, ...] = ("what", "when", "where", "who", "how_many", "quote")
#: Fields that count as missing when blank (configurable through ParseOptions).
DEFAULT_REQUIRED: tuple[str, ...] = ("what", "when", "where", "who", "how_many")


@dataclass(frozen=True)
class When:
    text: str
    start: date | None = None
    end: date | None = None
    time: str | None = None  # "HH:MM"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "time": self.time,
        }


@dataclass(frozen=True)
class HowMany:
    text: str
    min: int | None = None
    max: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"text": self.text, "min": self.min, "max": self.max}


@dataclass(frozen=True)
class Topic:
    what: str | None = None
    when: When | None = None
    where: str | None = None
    who: str | None = None
    how_many: HowMany | None = None
    quote: str | None = None
    attachments: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "when": self.when.to_json_dict() if self.when else None,
            "where": self.where,
            "who": self.who,
            "how_many": self.how_many.to_json_dict() if self.how_many else None,
            "quote": self.quote,
            "attachments": list(self.attachments),
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class Attachment:
    """A real attachment (not an inline signature logo)."""

    filename: str  # decoded (RFC 2231/2047) and sanitised
    content_type: str
    size: int
    content: bytes = field(default=b"", repr=False)  # may be empty when over the size limit
    truncated: bool = False  # True when the payload exceeded ParseOptions.max_attachment_bytes


@dataclass(frozen=True)
class SubjectTag:
    """The bot's subject tag "[Themen 2027-01 #K7Q2]": the request's month and code."""

    month: str  # "YYYY-MM"
    code: str  # upper case, from parsers.tags.TAG_ALPHABET


@dataclass(frozen=True)
class ParseResult:
    kind: Kind
    reply_text: str
    topics: tuple[Topic, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    # Header facts the bot needs for matching; not part of the contract's JSON.
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str = ""
    from_address: str | None = None
    from_name: str | None = None
    date: date | None = None
    warnings: tuple[str, ...] = ()
    # Facts for matching and for the automatic-mail handling; not part of the contract's JSON.
    #: the bot's tag from the subject, else from the quoted or returned original's subject
    subject_tag: SubjectTag | None = None
    #: machine-made or machine-sent (RFC 3834 and friends, mailing lists, rule forwards; always
    #: for auto_reply and bounce): the bot never answers such a mail, whatever its kind
    automatic: bool = False
    #: bounce: the addresses that failed (as the bot addressed them where the report says so)
    bounced_recipients: tuple[str, ...] = ()
    #: bounce: the Message-ID of the mail that came back
    returned_message_id: str | None = None
    #: bounce: a permanent failure (5.x.x or no status); False for delays and 4.x.x give-ups
    bounce_permanent: bool = False
    #: auto_reply: the last day the sender is away (inclusive), when the text says so
    absent_until: Day | None = None

    def to_json_dict(self, file: str) -> dict[str, Any]:
        return {
            "file": file,
            "kind": self.kind,
            "reply_text": self.reply_text,
            "topics": [t.to_json_dict() for t in self.topics],
        }


#: Default template labels per field: the first one is what the bot sends, the others are
#: variants colleagues type. Configurable (ParseOptions.labels); matching is case-insensitive
#: and tolerant of "?", "-", "*", bold markers and trailing words ("Wie viele Personen").
DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "what": ("Was", "Thema", "Anlass", "Veranstaltung", "What", "Topic", "Event"),
    "when": ("Wann", "Datum", "Termin", "Zeitpunkt", "When", "Date"),
    "where": ("Wo", "Ort", "Wo genau", "Where", "Location", "Place"),
    "who": ("Wer", "Beteiligte", "Who", "Participants"),
    "how_many": ("Wie viele", "Anzahl", "Teilnehmer", "Teilnehmende", "How many", "Number"),
    "quote": ("Zitat", "Quote"),
    "images": ("Bilder", "Fotos", "Bild", "Foto", "Images", "Photos", "Pictures"),
}
DEFAULT_BLOCK_START = "--- Thema ---"
DEFAULT_BLOCK_END = "--- Ende ---"


@dataclass(frozen=True)
class ParseOptions:
    #: reference date for partial/relative dates; None: the message's Date header, else today
    today: date | None = None
    #: used when neither `today` nor a parseable Date header is there (the CLI passes the
    #: clock's date here, so the parser itself never reads the clock)
    fallback_today: date | None = None
    #: fields a follow-up question asked for (the contract's --asked)
    asked: tuple[str, ...] = ()
    #: field -> label variants; the first variant is the one the bot sends
    labels: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_LABELS))
    block_start: str = DEFAULT_BLOCK_START
    block_end: str = DEFAULT_BLOCK_END
    #: the fields that count as missing when not answered
    required: tuple[str, ...] = DEFAULT_REQUIRED
    #: attachments larger than this keep their name and size but not their bytes
    max_attachment_bytes: int = 20 * 1024 * 1024
    #: whether Attachment.content is filled at all (the CLI does not need the bytes)
    keep_attachment_content: bool = True
    #: signatures the sender is known to use (learned from earlier mails, see
    #: `parsers.signatures.learn_signature`): their lines are cut from the reply text and never
    #: become field values
    known_signatures: tuple[str, ...] = ()
