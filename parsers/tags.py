"""The bot's subject tag, "[Themen 2027-01 #K7Q2]": its format and the code that finds it.

This module is the single source of the format. The tag lets a reply find its request when a
mail client drops In-Reply-To and References, so `find_tag` reads what clients and people
make of a subject:

- reply and forward prefixes ("AW: WG: Re:") and text around the tag;
- the word changed or translated ("[Topics 2027-01 #K7Q2]") or missing ("[2027-01 #K7Q2]");
- extra or missing spaces ("[ Themen 2027-01 # K7Q2 ]"), "2027/01", "2027-1";
- a lower-case code ("#k7q2") and lost brackets ("Themen 2027-01 #k7q2");
- a lost "#" only inside brackets ("[Themen 2027-01 K7Q2]"): without both, a month followed
  by a word is too common to be taken for a tag;
- full-width or compatibility characters (NFKC), as some clients and gateways produce them.

The subject must already be RFC 2047 decoded (`parsers.mime` does that). A code must consist
of `TAG_ALPHABET` letters only, so "Rechnung 2027-01 #1034" is no tag (no 0, 1, O, I or L).
The first tag in the text wins: in "AW: [Themen 2027-02 #ABCD] WG: [Themen 2027-01 #K7Q2]"
the newer request is the one that was answered.
"""

from __future__ import annotations

import re
import unicodedata

from parsers.model import SubjectTag

__all__ = ["TAG_ALPHABET", "SubjectTag", "find_quoted_tag", "find_tag", "format_tag"]

#: Unambiguous characters for subject tag codes (no 0/O, 1/I/L).
TAG_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
#: The word the bot puts before the month.
DEFAULT_WORD = "Themen"
#: Codes the bot hands out are 4 to 6 characters long; a little room on both sides.
_CODE_MIN, _CODE_MAX = 3, 8

_MONTH = r"(?<!\d)(?P<year>\d{4})\s*[-/.]\s*(?P<month>\d{1,2})(?!\d)"
_CODE = rf"(?P<code>[A-Za-z0-9]{{{_CODE_MIN},{_CODE_MAX}}})(?![A-Za-z0-9])"
#: "2027-01 #K7Q2" anywhere (the word in front does not matter) ...
_HASHED = re.compile(rf"{_MONTH}\s*#\s*{_CODE}")
#: ... or "[Themen 2027-01 K7Q2]" with the brackets but without the "#".
_BRACKETED = re.compile(
    rf"\[\s*(?:[^\W\d_][^\W\d_-]{{0,29}}\s+)?{_MONTH}(?:\s*#\s*|\s+){_CODE}\s*\]", re.IGNORECASE
)
_ALPHABET = frozenset(TAG_ALPHABET)
_VALID_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

#: A subject line inside a quoted original ("Betreff: AW: [Themen 2027-01 #K7Q2] ..."), as
#: Outlook, Notes, GroupWise, Gmail and Apple Mail write it; HTML mails rendered to text may
#: add bold markers, quoting adds ">".
_QUOTED_SUBJECT = re.compile(
    r"^[ \t>]*(?:[*_][ \t]*)?(?:betreff|subject|thema|objet|sujet|asunto|oggetto|onderwerp)"
    r"[ \t]*(?:[*_][ \t]*)?:[*_]?(?P<rest>[^\n]*)(?=\n(?P<next>[^\n]*))?",
    re.IGNORECASE | re.MULTILINE,
)
#: The next line continues a wrapped subject unless it starts another header key.
_HEADER_KEY = re.compile(r"^[ \t>]*(?:[*_][ \t]*)?[^\W\d_][\w -]{0,30}:")
#: Quoted text is searched only this far (a tag sits in the first quote header).
_MAX_QUOTE_SEARCH = 200_000


def format_tag(month: str, code: str, word: str = DEFAULT_WORD) -> str:
    """'[Themen 2027-01 #K7Q2]'; raises ValueError for a tag `find_tag` could not read back."""
    if not _VALID_MONTH.fullmatch(month):
        raise ValueError(f"month must look like 2027-01, not {month!r}")
    if not (_CODE_MIN <= len(code) <= _CODE_MAX) or not set(code) <= _ALPHABET:
        raise ValueError(f"code {code!r} must be {_CODE_MIN}-{_CODE_MAX} of {TAG_ALPHABET}")
    if not word or any(not c.isalpha() for c in word):
        raise ValueError(f"word {word!r} must be letters only")
    return f"[{word} {month} #{code}]"


def _tag_from(match: re.Match[str]) -> SubjectTag | None:
    year, month = int(match.group("year")), int(match.group("month"))
    code = match.group("code").upper()
    if not (2000 <= year <= 2099 and 1 <= month <= 12) or not set(code) <= _ALPHABET:
        return None
    return SubjectTag(month=f"{year:04d}-{month:02d}", code=code)


def find_tag(text: str) -> SubjectTag | None:
    """The first subject tag in `text` (a decoded subject or any line), else None."""
    if not text:
        return None
    normal = unicodedata.normalize("NFKC", text)
    matches = [m for rx in (_HASHED, _BRACKETED) for m in rx.finditer(normal)]
    for match in sorted(matches, key=lambda m: m.start()):
        tag = _tag_from(match)
        if tag is not None:
            return tag
    return None


def find_quoted_tag(text: str) -> SubjectTag | None:
    """The tag in the first quoted subject line that has one ("Betreff: ... [Themen ...]").

    A wrapped subject ("Betreff: Ihre Themen für Januar 2027 – Bauamt [Themen" + next line
    "2027-01 #K7Q2]") is read together with its next line.
    """
    for match in _QUOTED_SUBJECT.finditer(text[:_MAX_QUOTE_SEARCH]):
        tag = find_tag(match.group("rest"))
        if tag is not None:
            return tag
        following = match.group("next")
        if following and not _HEADER_KEY.match(following):
            tag = find_tag(match.group("rest") + " " + following.lstrip(" \t>"))
            if tag is not None:
                return tag
    return None
