"""Signatures known beforehand: learned from a sender's earlier mails, or marked in the HTML.

- `learn_signature(previous_reply_texts)`: the trailing lines that several earlier replies of
  one sender share are that sender's signature (pure; the bot keeps the texts, the parser
  takes the result as `ParseOptions.known_signatures`).
- `html_signature_blocks(html)`: the text of the blocks that mail clients mark as the
  signature (Gmail's `div.gmail_signature`, Thunderbird's `div.moz-signature`, Outlook on the
  web's `div#Signature`). Gmail can leave the "-- " line out of its plain part; the HTML
  still says where the signature is.
- `cut_known_signatures(lines, signatures)`: removes a known signature's block from lines.

A known signature is removed as a block only: at least two of its lines in a row (a changed
line inside is tolerated), or, for a one-line signature, the whole line at the end. A single
line that a signature shares with the answer ("Kulturamt" as the answer to "Wer:") stays.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import Tag

from parsers.html import MAX_HTML_CHARS, html_to_text
from parsers.labels import vocabulary
from parsers.markers import MAX_LINE_CHARS, is_signature_line
from parsers.model import DEFAULT_LABELS

#: Only the last this many non-empty lines of a reply are compared when learning.
LEARN_WINDOW = 15
#: A learned signature has at most this many lines (a longer common tail is a shared text).
MAX_SIGNATURE_LINES = 25
_SIGNATURE_MARKERS = ("gmail_signature", "moz-signature", "signature")
_SIGNATURE_CLASS = re.compile(r"\b(?:gmail_signature|moz-signature)\b")
_SIGNATURE_ID = re.compile(r"^(?:x_)?Signature$")
_DASHES = re.compile(r"^--\s?$")
_LABELLED = re.compile(r"^\W*([^:?]{1,40}?)\s*[:?]")


def _norm(line: str) -> str:
    return " ".join(line[:MAX_LINE_CHARS].split()).strip(" *_>").casefold()


def _content_lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def _answers_a_field(line: str, labels: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether a line is a labelled answer ("Wo: Stadtbibliothek", "Ort: Rathaus")."""
    found = _LABELLED.match(line)
    if found is None:
        return False
    vocab = vocabulary(labels)
    label = found.group(1)
    return vocab.field_of(label) is not None or (
        " " not in label.strip() and vocab.typo(label.strip()) is not None)


def learn_signature(previous_reply_texts: Sequence[str],
                    labels: Mapping[str, tuple[str, ...]] = DEFAULT_LABELS) -> str | None:
    """The trailing lines shared by at least two of a sender's earlier replies, or None.

    With two or three texts, the tail must be common to at least two of them; with more, to
    at least half of them (so one odd mail from the phone does not hide the signature). The
    tail is the longest run of trailing lines (compared without case and extra blanks) that
    enough texts end with; it needs two lines, or one line of at least 20 characters, and it
    must not be the whole text of a mail (identical mails are no signature). It starts after
    the last labelled answer in the tail: someone whose mails end alike with "Wo:
    Stadtbibliothek" every month answered the question each time (`labels`: the configured
    field labels; their synonyms count too).
    """
    texts = [_content_lines(t)[-LEARN_WINDOW:] for t in previous_reply_texts if t and t.strip()]
    if len(texts) < 2:
        return None
    quorum = max(2, math.ceil(len(texts) / 2))
    best: list[str] | None = None
    for length in range(1, min(MAX_SIGNATURE_LINES, LEARN_WINDOW) + 1):
        counts: dict[tuple[str, ...], list[list[str]]] = {}
        for lines in texts:
            if len(lines) <= length:
                continue  # the whole mail would be "signature"
            key = tuple(_norm(x) for x in lines[-length:])
            counts.setdefault(key, []).append(lines[-length:])
        shared = [group for group in counts.values() if len(group) >= quorum]
        if not shared:
            break
        best = max(shared, key=len)[0]
    if best is None:
        return None
    answers = [k for k, line in enumerate(best) if _answers_a_field(line, labels)]
    if answers:
        best = best[answers[-1] + 1:]
    if not best:
        return None
    if len(best) == 1 and len(best[0]) < 20:
        return None
    return "\n".join(best)


def html_signature_blocks(html: str) -> tuple[str, ...]:
    """The text of the signature blocks the sending client marked in its HTML, if any."""
    head = html[:MAX_HTML_CHARS]
    if not any(marker in head for marker in _SIGNATURE_MARKERS):
        return ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(head, "lxml")
    blocks: list[str] = []
    for tag in soup.find_all(True):
        if not isinstance(tag, Tag) or tag.name in ("html", "body"):
            continue
        classes = tag.get("class")
        class_text = " ".join(classes) if isinstance(classes, list) else str(classes or "")
        ident = tag.get("id")
        if not (
            _SIGNATURE_CLASS.search(class_text)
            or (isinstance(ident, str) and _SIGNATURE_ID.match(ident))
        ):
            continue
        if tag.find_parent("blockquote") is not None:
            continue  # the quoted mail's signature: the quote goes anyway
        lines = [x for x in _content_lines(html_to_text(str(tag))) if not _DASHES.match(x)]
        if lines:
            blocks.append("\n".join(lines))
        if len(blocks) >= 5:
            break
    return tuple(blocks)


def _match_block(normed: list[tuple[int, str]], signature: list[str]) -> tuple[int, int] | None:
    """(first, last) positions in `normed` of the last block matching `signature`.

    The block's lines follow the signature's lines in order; one line of the signature may
    differ (a new phone number) when the lines on both sides of it match.
    """
    if len(signature) == 1:
        # A one-line signature counts only as the last content line.
        if normed and normed[-1][1] == signature[0]:
            return len(normed) - 1, len(normed) - 1
        return None
    positions: dict[str, list[int]] = {}
    for index, line in enumerate(signature):
        positions.setdefault(line, []).append(index)

    def index_after(line: str, previous: int) -> int | None:
        return next((i for i in positions.get(line, ()) if i > previous), None)

    need = max(2, math.ceil(len(signature) * 0.6))
    found: tuple[int, int] | None = None
    pos = 0
    while pos < len(normed):
        sig_index = index_after(normed[pos][1], -1)
        if sig_index is None:
            pos += 1
            continue
        first = last = pos
        matches = 1
        nxt = pos + 1
        while nxt < len(normed):
            step = index_after(normed[nxt][1], sig_index)
            if step is not None:
                sig_index, last, matches = step, nxt, matches + 1
                nxt += 1
                continue
            if nxt + 1 < len(normed):
                # one changed line: the signature's next line but one follows it
                skip = index_after(normed[nxt + 1][1], sig_index + 1)
                if skip == sig_index + 2:
                    nxt += 1
                    continue
            break
        if matches >= need:
            found = (first, last)
        pos = last + 1
    return found


def cut_known_signatures(lines: list[str], signatures: Sequence[str]) -> list[str]:
    """`lines` without the block of each known signature found in them.

    Signature lines that follow the block directly and look like signature lines (a changed
    last line, a legal notice) go with it.
    """
    for signature in signatures:
        wanted = [_norm(x) for x in _content_lines(signature)]
        wanted = [x for x in wanted if x]
        if not wanted:
            continue
        normed = [(k, _norm(line)) for k, line in enumerate(lines) if line.strip()]
        span = _match_block(normed, wanted)
        if span is None:
            continue
        start = normed[span[0]][0]
        end = normed[span[1]][0] + 1
        # A changed last line of the signature ("Fax" moved, new phone) goes too, when it
        # directly follows the block and looks like a signature line.
        if span[1] + 1 < len(normed):
            nxt_index, _ = normed[span[1] + 1]
            if nxt_index == end and is_signature_line(lines[nxt_index]) and (
                span[1] + 2 >= len(normed)
            ):
                end = nxt_index + 1
        lines = lines[:start] + lines[end:]
    return lines
