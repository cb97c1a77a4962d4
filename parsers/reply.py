"""Reply extraction: the new text of a reply, without quoted originals and signatures.

Known weakness of the usual libraries: they cut at any line that starts with a date or with
"Von:"/"An:", so "12.03.2026 Eröffnung" or "Von: 10 Uhr bis 12 Uhr" end the reply. Here a
quote header must be a real header:

- an Outlook/OWA/Notes header *block*: a "Von:/From:/An:/Gesendet:" line followed closely by
  enough other header keys (at least three kinds among from, to, date, subject, cc);
- a complete attribution line ("Am ... schrieb X:", "On ... wrote:", "X/ORG/DE wrote on
  ...:", localized: "пише:", "napisał(a):", "写道："), possibly wrapped over up to three
  lines (or torn apart by blank lines around a "mailto:" address), ending with a colon and
  carrying a date, time or address (a bare "X schrieb:" counts only when ">"-quoted lines
  follow); also Zoho's "---- On ... wrote ----" and old Gmail's "2013/7/20 X <x@y>";
- an explicit separator ("-----Ursprüngliche Nachricht-----", "----- Weitergeleitet von",
  GroupWise's ">>> X 03.03.2026 10:00 >>>", "Anfang der weitergeleiteten Nachricht:").

A header followed by ">"-quoted lines only introduces a quote: text between quoted blocks is
kept (interleaved answers), except a quoted line the client wrapped without repeating the
">" (a long quoted line stopping mid-sentence, a lower-case continuation, the quote going
on right after). A header followed by unquoted text (Outlook's top-posting) ends the reply.
Then signatures come off: a "-- " line, mobile footers ("Von meinem iPhone gesendet", not
"Sent from my desk, is much easier ..."), legal disclaimers, mailing-list footers, a closing
formula ("Mit freundlichen Grüßen", "Pozdrawiam", "Mvh") with the name block after it, when
it is near the end, and a last "-Name" or "/Name" line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from parsers.markers import (
    IMAGE_PLACEHOLDER,
    contact_kinds,
    is_closing,
    is_image_placeholder,
    is_legal_line,
    is_name_line,
    is_org_line,
    is_promo_line,
    is_signature_line,
)
from parsers.signatures import cut_known_signatures

#: How many lines after a closing formula may follow for it to count as a signature start
#: when nothing else is known about them ...
MAX_SIGNATURE_LINES = 12
#: ... and how many when all of them are signature lines (town-hall signatures with
#: address, phone, fax, web, logo and a data-protection notice run to 25 lines and more).
MAX_LONG_SIGNATURE_LINES = 40
_MAX_LINES = 50_000
#: Header, separator, footer and disclaimer lines are short: only this much of a line is
#: looked at when deciding whether it is one (keeps every line check linear).
_MAX_CHECK_CHARS = 300

_SEPARATOR = re.compile(
    r"^\s*[-_=*]{2,}\s*("
    r"urspr(ü|ue)ngliche nachricht|original message|original-nachricht|originalnachricht"
    r"|weitergeleitete nachricht|forwarded message|message d'origine|mensaje original"
    r"|oorspronkelijk bericht|oorspronkelijk e-mailbericht|alkuperäinen viesti"
    r"|oprindelig meddelelse|oprindelig besked|opprinnelig melding|ursprungligt meddelande"
    r"|messaggio originale|wiadomo(ś|s)(ć|c) oryginalna|p(ů|u)vodn(í|i) zpr(á|a)va"
    r"|исходное сообщение|пересылаемое сообщение|mensagem original"
    r")\s*[-_=*]*\s*$",
    re.IGNORECASE,
)
_FORWARD_LINE = re.compile(
    r"^\s*(-{3,}\s*(weitergeleitet von|forwarded by)\b.*"
    r"|(anfang der weitergeleiteten nachricht|begin forwarded message)\s*:\s*)$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_SIG_DASHES = re.compile(r"^--\s?$")
_RULE = re.compile(r"^\s*[-_=*~#]{3,}\s*$")

# Header keys of quote header blocks, by kind.
_KEY_KINDS: dict[str, str] = {}
for _kind, _words in {
    "from": "von|from|de|van|od|från|fra|da|от|absender",
    "date": "gesendet|sent|datum|date|message du|envoyé|enviado|verzonden|wysłano|skickat|sendt"
    "|inviato|data|отправлено|дата|odesláno",
    "to": "an|to|à|para|aan|do|till|til|a|кому|komu|empfänger",
    "subject": "betreff|subject|thema|sujet|objet|asunto|onderwerp|temat|ämne|emne|oggetto|тема"
    "|předmět|assunto",
    "cc": "cc|kopie|bcc|blindkopie|antwort an|reply-to|copie à|copie|kopia|kopi",
}.items():
    for _word in _words.split("|"):
        _KEY_KINDS[_word] = _kind
# Matched against `_normalise(line)`: no leading blanks, single spaces only.
_KEY_LINE = re.compile(
    r"[*_]? ?(" + "|".join(sorted(map(re.escape, _KEY_KINDS), key=len, reverse=True)) + r")"
    r" ?[*_]? ?:",
    re.IGNORECASE,
)
_INLINE_KEY = re.compile(
    r"\s(an|to|datum|date|gesendet|sent|betreff|subject|kopie|cc)\s*:", re.IGNORECASE
)

_VERBS = (
    r"schrieb|schrieben|geschrieben|wrote|writes|a écrit|escribió|escribio|schreef|skrev"
    r"|kirjoitti|napisał"
    r"|napisała|napsal|napsala|ha scritto|scrisse|escreveu|написал|написала|написал\(а\)"
    r"|írta|yazdı|пише|написав|написала|napisał\(a\)"
)
# CJK verbs have no word boundary before them ("张三写道："), so they stand apart.
_CJK_VERBS = r"写道|寫道|書きました|작성"
_ATTRIBUTION_START = re.compile(
    r"^\s*(am|on|le|el|op|den|il|em|w dniu|dne|den|på|el día|в|на)\s", re.IGNORECASE
)
_ATTRIBUTION = re.compile(
    r"(\b(" + _VERBS + r")\b|" + _CJK_VERBS + r").{0,120}[:：]\s*$", re.IGNORECASE
)
_ATTR_EVIDENCE = re.compile(
    r"(\d{1,4}[./-]\d{1,2}|\d{1,2}:\d{2}|@|\b(19|20)\d{2}\b|/[A-Z]{2,}"
    r"|\b(jan|feb|mär|mar|apr|mai|may|jun|jul|aug|sep|okt|oct|nov|dez|dec)[a-z]*\.?\s)",
    re.IGNORECASE,
)
# Gmail in other locales: "2026年3月3日(火) 10:00 Max <max@example.org>:"
# Old Gmail: "2016-03-03 17:21 GMT+01:00 Some One <some.one@example.org>:"
_ISO_ATTRIBUTION = re.compile(
    r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s+\d{1,2}:\d{2}\b.*(GMT[+-]\d|<[^<>\s]+@[^<>\s]+>|:$)"
)
_ADDRESS_COLON = re.compile(r"<[^<>\s@]+@[^<>\s]+>\s*:\s*$")
# Old Gmail without time or colon: "2013/7/20 sam via Discourse Meta <info@discourse.org>"
_DATE_NAME_ADDRESS = re.compile(
    r"^\d{4}([-/.])\d{1,2}\1\d{1,2}\s+[^\s<>:][^<>]{0,80}<[^<>\s@]+@[^<>\s]+>\s*:?\s*$"
)
# Zoho: "---- On Wed, 24 Feb 2021 14:02:50 +0530 john@example.com wrote ----"
_DASHED = re.compile(r"^-{2,}\s*(.+?)\s*-{2,}$")
_SENTENCE_END = re.compile(r"[.!?]$")

_MOBILE = re.compile(
    r"^\s*("
    r"von meinem [^\n]{1,60} gesendet\.?"
    r"|gesendet (von|mit) (meinem|der|outlook|mail|yahoo|aol|gmx|web\.de|t-online|samsung"
    r"|huawei|blackberry|ipad|iphone)[^\n]{0,60}"
    r"|diese nachricht wurde von meinem [^\n]{1,60} gesendet\.?"
    r"|sent (from|with|via) (my|outlook|mail|yahoo|aol|blackberry|samsung|gmail)[^\n]{0,60}"
    r"|sent from \w+ for (ios|android|windows)[^\n]{0,30}"
    r"|get outlook for (ios|android)[^\n]{0,30}"
    r"|holen sie sich outlook für (ios|android)[^\n]{0,30}"
    r"|envoyé (de mon|à partir de|depuis) [^\n]{1,40}|enviado desde mi [^\n]{1,40}"
    r"|verzonden (vanaf|met) mijn [^\n]{1,40}"
    r"|skickat från min [^\n]{1,40}|sendt fra min [^\n]{1,40}|inviato da [^\n]{1,40}"
    r"|wysłane z [^\n]{1,40}|отправлено с [^\n]{1,40}"
    r")\s*$",
    re.IGNORECASE,
)
# Matched against `_normalise(line)`, like `_KEY_LINE`.
_DISCLAIMER = re.compile(
    r"[*_]? ?("
    r"diese (e-?mail|nachricht|mail)\b.{0,80}\b(enthält|enthaelt|kann|könnte|ist)\b.{0,60}"
    r"(vertraulich|rechtlich|geschützt|informationen)"
    r"|der inhalt dieser (e-?mail|nachricht)\b.{0,40}vertraulich"
    r"|(wichtiger )?hinweis:.{0,60}(vertraulich|e-?mail)"
    r"|vertraulichkeitshinweis|haftungsausschluss|disclaimer\s*:"
    r"|wenn sie nicht der (richtige|beabsichtigte) (adressat|empfänger)"
    r"|sollten sie (diese|die) (e-?mail|nachricht) irrtümlich"
    r"|this (e-?mail|message|communication)\b.{0,80}\b(may contain|contains|is|and any)\b.{0,60}"
    r"(confidential|privileged|intended)"
    r"|the information (contained )?in this (e-?mail|message)\b.{0,40}(confidential|intended)"
    r"|confidentiality notice|if you are not the intended recipient"
    r"|bitte denken sie an die umwelt|please consider the environment"
    r"|datenschutzhinweis|hinweis zum datenschutz|hinweise zum datenschutz"
    r"|informationen zum datenschutz|datenschutzerklärung:|datenschutz:"
    r"|informationen zur verarbeitung (ihrer )?personenbezogenen"
    r"|die stadt [\w -]{1,40} verarbeitet (ihre )?personenbezogene"
    r"|(wir|die \w+) verarbeite[nt] (ihre )?personenbezogene"
    r")",
    re.IGNORECASE,
)
# "Thank you for your reply." is a sentence, not a closing, unless a name block follows.
_THANKS_SENTENCE = re.compile(
    r"^\s*(thanks?|thank you|many thanks|(vielen |herzlichen |besten )?dank|danke)"
    r"\s+(for|für|to|zu|that|dass)\b",
    re.IGNORECASE,
)
# A sign-off by a dash or slash and a name: "-Abhishek Kona", "/John", "//Jef", "—Ryan".
_DASH_SIGNOFF = re.compile(r"^\s*(-|–|—|/{1,2})[A-ZÄÖÜ][\w.'-]*( [A-ZÄÖÜ][\w.'-]*){0,2}\s*$")
# A mailing-list footer under a (possibly short) underscore rule.
_LIST_RULE = re.compile(r"^\s*_{2,}\s*$")
_LIST_FOOTER = re.compile(r"mailing list|/listinfo/|list-?info|unsubscribe", re.IGNORECASE)
# A "Sent from my ..." line that goes on as a sentence ("Sent from my desk, is much easier").
_FOOTER_SENTENCE = re.compile(
    r",\s*(is|was|are|were|it|it's|which|that|much|so|because|ist|war|weil|das)\b",
    re.IGNORECASE,
)


_ATTRIBUTION_NO_COLON = re.compile(r"\b(" + _VERBS + r")\s*$", re.IGNORECASE)


_BLANKS = re.compile(r"\s+")


def _normalise(line: str) -> str:
    """A line for the short-line checks: stripped, capped, whitespace runs made one space."""
    return _BLANKS.sub(" ", line.strip()[:_MAX_CHECK_CHARS])


def _is_groupwise(line: str) -> bool:
    """GroupWise's quote header ">>> Max Muster 03.03.2026 10:00 >>>"."""
    text = line.strip()
    if len(text) > _MAX_CHECK_CHARS or len(text) < 8:
        return False
    if not (text.startswith(">>>") and text.endswith(">>>")):
        return False
    middle = text[3:-3]
    return middle[0].isspace() and any(c.isdigit() for c in middle)


def _without_trailing_url(line: str) -> str:
    """The line without a trailing "<https://...>" link (Outlook's "Get Outlook for iOS<...>")."""
    text = line.rstrip()
    if not text.endswith(">"):
        return line
    # the link is "<http(s)://" up to the final ">", without another ">" inside
    start = text.rfind(">", 0, len(text) - 1) + 1
    segment = text[start:-1]
    positions = [k for k in (segment.find("<http://"), segment.find("<https://")) if k >= 0]
    if not positions:
        return line
    return text[: start + min(positions)].rstrip()


def _is_mobile_footer(line: str) -> bool:
    text = _without_trailing_url(line)
    if len(text) > _MAX_CHECK_CHARS:
        return False
    return bool(_MOBILE.match(text)) and not _FOOTER_SENTENCE.search(text)


def _is_wrapped_quote(lines: Sequence[str], i: int) -> bool:
    """A quoted line the sender's client wrapped without repeating the ">".

    "> ... Nullam pharetra d" / "ignissim odio?" / ">": the previous line is quoted, long
    (near the wrap width) and stops mid-sentence, this line goes on in lower case, and the
    quote resumes right after it. An interleaved answer after a quoted question or label
    ("> Wann:" / "am 12. März") does not fit: the quoted line ends with ":" or "?".
    """
    if i == 0 or i + 1 >= len(lines) or not _is_quoted(lines[i - 1]):
        return False
    if not _is_quoted(lines[i + 1]):
        return False
    text = lines[i].strip()
    if not text or not text[0].islower():
        return False
    prev = lines[i - 1].rstrip()
    if prev.endswith((".", "!", "?", ":", ";")):
        return False
    first_word = text.split()[0]
    return len(prev) + 1 + len(first_word) > 72


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _key_kind(line: str) -> str | None:
    match = _KEY_LINE.match(_normalise(line))
    if not match:
        return None
    return _KEY_KINDS.get(match.group(1).lower())


def _header_block_end(lines: Sequence[str], i: int) -> int:
    """If a quote header block starts at line i, the index after it; else -1."""
    first = _key_kind(lines[i])
    if first not in ("from", "to", "date"):
        return -1
    # One-line layouts: "Von: X An: Y Datum: Z Betreff: W" (HCL Notes, pasted headers).
    if first == "from" and len(_INLINE_KEY.findall(lines[i])) >= 2:
        return i + 1
    kinds = {first}
    end = i + 1
    j = i + 1
    limit = min(len(lines), i + 12)
    while j < limit:
        line = lines[j]
        if not line.strip():
            if len(kinds) >= 3:
                break
            j += 1
            continue
        kind = _key_kind(line)
        if kind:
            kinds.add(kind)
            end = j + 1
        elif j - end > 1:
            break  # two unrelated lines: the block (if any) is over
        j += 1
    if len(kinds) >= 3 and kinds & {"from", "to"} and kinds & {"date", "subject"}:
        # Take wrapped continuation lines (long "An:" lists) up to the next blank line.
        while end < len(lines) and lines[end].strip() and end - i < 15:
            if _key_kind(lines[end]) is None and len(lines[end]) > 200:
                break
            end += 1
        return end
    return -1


def _strip_markup(line: str) -> str:
    return line.strip().strip("*_").strip()


def _attribution_end(lines: Sequence[str], i: int) -> tuple[int, bool]:
    """If an attribution ("Am ... schrieb X:") starts at line i: (index after it, strong).

    `strong` is False for a bare "X schrieb:" without date, time or address.
    """
    line = _strip_markup(lines[i])
    if not line or len(line) > 300:
        return -1, False
    dashed = _DASHED.match(line)
    if dashed:
        line = dashed.group(1)
    candidates = [(line, i + 1)]
    if not line.endswith(":") and (
        _ATTRIBUTION_START.match(line) or _ATTR_EVIDENCE.search(line) or "<" in line
    ):
        candidates.extend(_wrapped_attribution(lines, i, line))
    for text, end in candidates:
        if len(text) > 350:
            continue
        if _ATTRIBUTION.search(text):
            strong = bool(_ATTR_EVIDENCE.search(text)) or bool(_ATTRIBUTION_START.match(text))
            return end, strong
        if (
            _ATTRIBUTION_START.match(text)
            and _ATTRIBUTION_NO_COLON.search(text)
            and _ATTR_EVIDENCE.search(text)
        ):
            return end, True  # "On Wed, 14 Nov 2018 08:14 John <john@example.org> wrote"
        if _ADDRESS_COLON.search(text) and _ATTR_EVIDENCE.search(_ADDRESS_COLON.sub("", text)):
            return end, True
    if _ISO_ATTRIBUTION.match(line) or _DATE_NAME_ADDRESS.match(line):
        return i + 1, True
    return -1, False


def _wrapped_attribution(lines: Sequence[str], i: int, line: str) -> list[tuple[str, int]]:
    """Joined continuations of an attribution line wrapped by the client: (text, end) pairs.

    "On Tue, 3 Mar 2026 at 10:00, Max <" / "max@example.org> wrote:". An attribution that
    starts with "On/Am <date>" may also be torn apart by blank lines, as clients that turn
    the address into a "mailto:" link do ("On Thu, 31 Mar 2016 at 11:16 Some One", "",
    "<", "mailto:Some One <some.one@foo.bar>", "> wrote:"); then every piece must be short,
    none may end a sentence, and the pieces after the first must carry the address.
    """
    deep = (
        bool(_ATTRIBUTION_START.match(line))
        and bool(_ATTR_EVIDENCE.search(line))
        and not _SENTENCE_END.search(line)
    )
    out: list[tuple[str, int]] = []
    joined = line
    rest = ""
    gap = False
    for k in range(i + 1, min(i + (7 if deep else 3), len(lines))):
        nxt = _strip_markup(lines[k])
        if not nxt:
            if not deep:
                break
            gap = True
            continue
        if _is_quoted(lines[k]) and not (len(nxt) < 40 and nxt.endswith(":")):
            break
        if k > i + 2 and not gap:
            break
        if gap and (len(nxt) > 80 or _SENTENCE_END.search(nxt)):
            break
        joined = joined + " " + nxt
        rest = rest + " " + nxt
        if not gap or "@" in rest:
            out.append((joined, k + 1))
        if nxt.endswith(":"):
            break
    return out


def _next_content(lines: Sequence[str], j: int) -> int:
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j


def _quote_start(lines: Sequence[str], i: int) -> tuple[int, bool]:
    """If a quote header/separator starts at line i: (index after it, strong); else (-1, _)."""
    line = lines[i]
    stripped = line.strip()
    if not stripped:
        return -1, False
    if _is_groupwise(line):
        return i + 1, True
    if _is_quoted(line):
        return -1, False
    short = len(stripped) <= _MAX_CHECK_CHARS
    if short and (_SEPARATOR.match(stripped) or _FORWARD_LINE.match(stripped)):
        end = i + 1
        nxt = _next_content(lines, end)
        if nxt < len(lines):
            block_end = _header_block_end(lines, nxt)
            if block_end > 0:
                end = block_end
        return end, True
    if short and _UNDERSCORES.match(stripped):
        nxt = _next_content(lines, i + 1)
        if nxt < len(lines) and nxt - i <= 3:
            block_end = _header_block_end(lines, nxt)
            if block_end > 0:
                return block_end, True
        return -1, False
    block_end = _header_block_end(lines, i)
    if block_end > 0:
        return block_end, True
    return _attribution_end(lines, i)


def _cut_quotes(lines: list[str]) -> list[str]:
    kept: list[str] = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        end, strong = _quote_start(lines, i)
        if end > 0:
            nxt = _next_content(lines, end)
            followed_by_quote = nxt < n and _is_quoted(lines[nxt]) and not _is_groupwise(line)
            if followed_by_quote:
                i = end  # the header only introduces a ">" quote: interleaved text survives
                continue
            if strong:
                if any(x.strip() for x in kept):
                    break
                # Nothing written above the header: the sender typed into (or forwarded)
                # the original; its text is all there is.
                i = end
                continue
        if _is_quoted(line) or _is_wrapped_quote(lines, i):
            i += 1
            continue
        if _is_mobile_footer(line) or _SIG_DASHES.match(line):
            break
        kept.append(line)
        i += 1
    return kept


def quote_start_line(lines: Sequence[str]) -> int | None:
    """The index of the line where the quoted original starts (a quote header, separator or
    attribution, or the first ">" line), or None."""
    for i in range(min(len(lines), _MAX_LINES)):
        if _is_quoted(lines[i]):
            return i
        end, strong = _quote_start(lines, i)
        if end > 0 and strong:
            return i
    return None


def _cut_disclaimer(lines: list[str]) -> list[str]:
    for k, line in enumerate(lines):
        # A disclaimer starts a paragraph; the reply cannot be all disclaimer text.
        if _DISCLAIMER.match(_normalise(line)) and any(x.strip() for x in lines[:k]):
            return lines[:k]
    return lines


def _cut_footer_rule(lines: list[str], protected: Sequence[str]) -> list[str]:
    """A long underscore line near the end starts a footer (mailing lists, signatures)."""
    content_idx = [k for k, line in enumerate(lines) if line.strip()]
    # At most 8 content lines may follow the rule: only the last 9 content lines qualify.
    for pos in range(max(1, len(content_idx) - 9), len(content_idx)):
        k = content_idx[pos]
        if len(lines[k]) > _MAX_CHECK_CHARS or not _LIST_RULE.match(lines[k]):
            continue
        after = [lines[j].strip() for j in content_idx[pos + 1 :]]
        if not _UNDERSCORES.match(lines[k]) and not any(
            _LIST_FOOTER.search(x) for x in after[:3]
        ):
            continue  # a short rule ("__") only before a mailing-list footer
        if len(after) > 8 or any(_starts_with_label(x, protected) for x in after):
            continue
        return lines[:k]
    return lines


def _signature_tail(after: list[str]) -> bool:
    """Whether the lines after a closing formula can be its name and signature block.

    Up to MAX_SIGNATURE_LINES lines: anything but prose (lines over 120 characters), legal
    notices and banners excepted. Longer tails (a full town-hall signature with a notice)
    only when every line is a signature line and contact data or a notice shows it is one.
    """
    if len(after) <= MAX_SIGNATURE_LINES:
        return all(len(x) <= 120 or is_legal_line(x) or is_promo_line(x) for x in after)
    if len(after) > MAX_LONG_SIGNATURE_LINES or not all(is_signature_line(x) for x in after):
        return False
    return len(contact_kinds(after)) >= 2 or any(is_legal_line(x) for x in after)


def _cut_closing(lines: list[str], protected: Sequence[str]) -> list[str]:
    content_idx = [k for k, line in enumerate(lines) if line.strip()]
    if len(content_idx) < 2:
        return lines
    window = content_idx[-(MAX_LONG_SIGNATURE_LINES + 1) :]
    for pos, k in enumerate(window):
        stripped = _strip_markup(lines[k])
        if not is_closing(stripped):
            continue
        if k == content_idx[0]:
            continue  # nothing before it: this is the whole reply ("Danke!")
        if k == content_idx[-1] and _THANKS_SENTENCE.match(stripped):
            continue  # "Thank you for your reply." at the very end: a sentence, no sign-off
        after = [lines[j].strip() for j in window[pos + 1 :]]
        if any(_starts_with_label(x.lower(), protected) for x in after):
            continue
        if not _signature_tail(after):
            continue
        return lines[:k]
    return lines


def _paragraph_starts(lines: list[str], content_idx: list[int]) -> list[int]:
    """Positions in `content_idx` of lines that start a paragraph (after a blank line)."""
    return [
        pos for pos, k in enumerate(content_idx) if pos == 0 or content_idx[pos - 1] != k - 1
    ]


def _cut_contact_block(lines: list[str], protected: Sequence[str]) -> list[str]:
    """A trailing signature without closing formula: a name or office, then contact data.

    "Marek Kowalski / Abteilungsleiter Jugendarbeit / Stadt Musterhausen - Jugendamt /
    Schillerstraße 14 / 12345 Musterhausen / Telefon ..." after the last answer: the block
    starts a paragraph with a name or an organisation, every line of it (and of the
    paragraphs after it) is a signature line, and it carries two kinds of contact data
    (phone, e-mail, web, address) or contact data and a legal notice. A venue's address
    alone ("Bürgerhaus Nord / Lindenstraße 5 / 12345 Musterhausen") is one kind: it stays.
    """
    content_idx = [k for k, line in enumerate(lines) if line.strip()]
    if len(content_idx) < 3:
        return lines
    starts = _paragraph_starts(lines, content_idx)
    cut: int | None = None
    for pos in reversed(starts):
        if pos == 0:
            break  # the block would be the whole reply
        tail = [lines[k].strip() for k in content_idx[pos:]]
        if len(tail) > MAX_LONG_SIGNATURE_LINES:
            break
        if any(_starts_with_label(x.lower(), protected) for x in tail):
            break
        if not all(is_signature_line(x) for x in tail):
            break
        first = tail[0]
        if not (is_name_line(first) or is_org_line(first)):
            continue
        kinds = contact_kinds(tail)
        if len(kinds) >= 2 or (kinds and any(is_legal_line(x) for x in tail)):
            cut = content_idx[pos]
    return lines if cut is None else lines[:cut]


def _cut_dash_signoff(lines: list[str]) -> list[str]:
    """A last line "-Name" or "/Name" after a blank line is the sender's sign-off."""
    content_idx = [k for k, line in enumerate(lines) if line.strip()]
    if len(content_idx) < 2:
        return lines
    last, before = content_idx[-1], content_idx[-2]
    if last - before < 2 or not _DASH_SIGNOFF.match(lines[last]):
        return lines
    if lines[before].lstrip().startswith(("-", "–", "—", "/", "•", "*")):
        return lines  # the end of a list, not a sign-off
    if lines[before].rstrip().endswith(":"):
        return lines  # what the colon announces
    return lines[:last]


def _starts_with_label(line: str, labels: Sequence[str]) -> bool:
    text = line.lstrip("-*•> \t").lower()
    for label in labels:
        lab = label.lower()
        if text.startswith(lab):
            rest = text[len(lab) :].lstrip()
            if not rest or rest[0] in ":?-" or lab.startswith("---"):
                return True
    return False


def _tidy(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if "[" in line and IMAGE_PLACEHOLDER.search(line):
            # Outlook's "[cid:image001.png@...]" and Gmail's "[image: x]" stand for inline
            # images (logos, photos); the images themselves are attachments or not
            if is_image_placeholder(line):
                continue
            line = IMAGE_PLACEHOLDER.sub("", line)
        line = line.rstrip()
        if not line.strip():
            if out and out[-1]:
                out.append("")
            continue
        out.append(line)
    while out and (not out[-1].strip() or _RULE.match(out[-1]) or _SIG_DASHES.match(out[-1])):
        out.pop()
    return "\n".join(out)


def extract_reply(
    text: str, protected_labels: Sequence[str] = (), known_signatures: Sequence[str] = ()
) -> str:
    """The new text of a reply: quoted originals, signatures and disclaimers removed.

    `protected_labels` are template labels (and the block start marker): a closing formula
    followed by such a label is not taken for the start of a signature. `known_signatures`
    are signatures known beforehand (learned from the sender's earlier mails, or marked in
    the HTML part); their blocks are removed wherever they stand after the quotes are cut.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:_MAX_LINES]
    lines = [
        line.replace("\u200b", "").replace("\ufeff", "").replace("\u1427", "") for line in lines
    ]
    kept = _cut_quotes(lines)
    if known_signatures:
        kept = cut_known_signatures(kept, known_signatures)
    kept = _cut_disclaimer(kept)
    kept = _cut_footer_rule(kept, protected_labels)
    kept = _cut_closing(kept, protected_labels)
    kept = _cut_contact_block(kept, protected_labels)
    kept = _cut_dash_signoff(kept)
    return _tidy(kept)
