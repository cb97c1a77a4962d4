"""Automatic mail: out-of-office/auto-replies and bounces (delivery status notifications).

Two stages, because body conventions are weaker evidence than headers:

- `kind_from_headers`: headers, the subject, the sender and the MIME structure decide
  (RFC 3834 `Auto-Submitted`, `X-Autoreply`, `Precedence`, Exchange OOF markers,
  `multipart/report; report-type=delivery-status`, mailer-daemon senders, well-known
  subjects). Used before anything else.
- `kind_from_body`: typical out-of-office/bounce sentences at the start of a short reply.
  Only used when no topics were found, so a colleague who mentions the holiday in a real
  answer is never taken for an auto-reply.

`X-Auto-Response-Suppress` alone does not make a mail automatic: Outlook adds it to ordinary
mail it sends.

`is_automatic` answers a different question: may the bot answer this mail at all? A person's
mail forwarded by a rule (`Auto-Submitted: auto-forwarded`, Exchange's inbox-rule loop
header) or delivered through a mailing list keeps the kind of its content (topics etc.), but
is automatic: RFC 3834 section 2 asks responders to leave such mail alone, and a follow-up
question would go to a rule or a list instead of a person.
"""

from __future__ import annotations

import re
from typing import Literal

from parsers.mime import MimeMessage

AutoKind = Literal["auto_reply", "bounce"]

_REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|antw|antwort|wg|fw|fwd|sv|vs|tr|r)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE
)

_BOUNCE_SUBJECT = re.compile(
    r"^\s*("
    r"unzustellbar|nicht zustellbar|unzustellbare|undeliverable|undelivered mail"
    r"|undelivered message|undeliverable mail|delivery status notification \((failure|fehler)\)"
    r"|delivery status notification$|mail delivery failed|mail delivery failure"
    r"|delivery failure|delivery has failed|failure notice|returned mail|mail returned"
    r"|non[- ]?delivery|ndr:|zustellung fehlgeschlagen|fehler bei der zustellung"
    r"|benachrichtigung zum übermittlungsstatus \(fehler\)|warning: could not send"
    r"|message not delivered|message delivery failure|delivery notification: delivery has failed"
    r"|mail system error|returned mail: see transcript"
    r")",
    re.IGNORECASE,
)
_DELAY_SUBJECT = re.compile(
    r"^\s*(delivery status notification \((delay|verzögerung)\)|warning: message .* delayed"
    r"|zustellung verzögert|delayed mail|delivery delayed)",
    re.IGNORECASE,
)
_AUTO_SUBJECT = re.compile(
    r"^\s*("
    r"automatische antwort|automatic reply|auto(matic)?[- ]?reply|autoreply|auto-response"
    r"|auto response|autoresponse|abwesenheitsnotiz|abwesenheitsmeldung|abwesenheit"
    r"|out of (the )?office|ooo:|ooo |abwesend|urlaubsabwesenheit|urlaubsvertretung"
    r"|auto:|automatische benachrichtigung|ich bin (ab|bis|vom|derzeit|zurzeit|nicht)"
    r"|i am out of|i'm out of|away from (the )?office|on vacation|im urlaub"
    r"|gelesen:|read:|lesebestätigung|read receipt|return receipt"
    r")",
    re.IGNORECASE,
)
# Anywhere in the subject (Notes: "Antw: Thema (Abwesenheit)", GroupWise: "... (Abwesend)").
_AUTO_SUBJECT_ANYWHERE = re.compile(
    r"(\bout of (the )?office\b|abwesenheitsnotiz|automatische antwort|\(abwesend\)"
    r"|\(abwesenheit\)|ist außer haus|is out of the office|nicht im büro)",
    re.IGNORECASE,
)
_DAEMON_LOCAL = re.compile(
    r"^(mailer-daemon|mailer_daemon|maildaemon|postmaster|post_master|mail-daemon|mdaemon|"
    r"mail\.delivery\.subsystem|bounce|bounces|mailerdaemon)$",
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(
    r"^(mail delivery (subsystem|system|service)|mailer[- ]daemon|postmaster"
    r"|e-?mail-?zustellsystem|microsoft outlook|mail administrator)",
    re.IGNORECASE,
)
_EXCHANGE_OOF_HEADERS = (
    "x-ms-exchange-organization-autoreply",
    "x-ms-exchange-generated-message-source-autoreply",
)

_BODY_AUTO = re.compile(
    r"("
    r"ich bin (vom|von|bis|ab|derzeit|zurzeit|momentan|aktuell|zur zeit|leider)\b.{0,80}"
    r"(nicht im (büro|hause|haus|dienst)|abwesend|nicht erreichbar|im urlaub|außer haus)"
    r"|ich befinde mich (bis|vom|ab|derzeit|zurzeit|momentan|im)\b.{0,80}"
    r"(urlaub|abwesend|nicht im büro|außer haus|elternzeit|dienstreise|fortbildung)"
    r"|(bin|werde) ich (nicht|leider nicht) (im büro|erreichbar|zu erreichen)"
    r"|ihre (e-?mail|nachricht) wird (nicht )?(automatisch )?weitergeleitet"
    r"|ihre (e-?mail|nachricht) wird nach meiner rückkehr bearbeitet"
    r"|dies ist eine automatische (antwort|benachrichtigung|nachricht)"
    r"|diese nachricht wurde automatisch"
    r"|i am (currently )?out of (the )?office|i'?m (currently )?out of (the )?office"
    r"|i will be out of (the )?office|i am away from"
    r"|this is an automatic (reply|response|message)|this is an auto-?reply"
    r"|i am on (vacation|holiday|leave) until"
    r"|(i am|i'?m) (currently )?(away )?on (annual |parental |sick )?(leave|holiday|vacation)"
    r")",
    re.IGNORECASE | re.DOTALL,
)
_BODY_BOUNCE = re.compile(
    r"("
    r"this is the mail system at host|i'?m sorry to have to inform you that your message"
    r"|could not be delivered to one or more recipients|delivery to the following recipient"
    r"|the following (message|address(es)?) (to|had|could)|message could not be delivered"
    r"|diese nachricht wurde nicht zugestellt|ihre nachricht konnte nicht zugestellt werden"
    r"|die nachricht konnte nicht zugestellt werden|konnte nicht an (folgende|die folgenden)"
    r"|zustellung an folgende empfänger (ist )?fehlgeschlagen|unzustellbar"
    r"|a message that you sent could not be delivered|your message wasn'?t delivered"
    r"|delivery has failed to these recipients|permanent fatal errors"
    r"|could not be delivered to:?\s*<[^<>\s]+@"
    r")",
    re.IGNORECASE,
)
#: Senders that never take answers; with a returned original attached and bounce wording,
#: their mail is a provider's own failure notice (au one net: "メールエラー通知").
_NOREPLY_LOCAL = re.compile(r"^(no-?reply|do-?not-?reply|donotreply)$", re.IGNORECASE)
_RETURNED_ORIGINAL = ("message/rfc822", "text/rfc822-headers", "message/global")


def strip_reply_prefixes(subject: str) -> str:
    """Remove reply/forward prefixes: "AW: WG: Re: x" becomes "x"."""
    return _REPLY_PREFIX.sub("", subject)


def _is_bounce(msg: MimeMessage) -> bool:
    if msg.content_type == "multipart/report":
        if msg.report_type in ("delivery-status", "global-delivery-status"):
            return True
        if msg.report_type is not None:
            return False  # disposition notifications (read receipts), feedback reports
        if "message/delivery-status" in msg.part_types:
            return True
        # No report-type: the report decides nothing; subject and sender below still may.
    if msg.has_header("x-failed-recipients"):
        return True
    if msg.content_type in ("message/delivery-status", "message/global-delivery-status"):
        return True
    subject = msg.subject
    local, _, _domain = (msg.from_address or "").partition("@")
    daemon_sender = bool(_DAEMON_LOCAL.match(local)) or bool(
        msg.from_name and _DAEMON_NAME.match(msg.from_name)
    )
    if _BOUNCE_SUBJECT.match(subject):
        return True
    if (
        _NOREPLY_LOCAL.match(local)
        and any(t in msg.part_types for t in _RETURNED_ORIGINAL)
        and _BODY_BOUNCE.search(msg.text[:1500])
    ):
        return True
    if daemon_sender and (
        "message/delivery-status" in msg.part_types or not _AUTO_SUBJECT.match(subject)
    ):
        return True
    return "message/delivery-status" in msg.part_types and (msg.header("return-path") in ("<>", ""))


_COMMENT = re.compile(r"\([^()]*\)")


def _auto_submitted(msg: MimeMessage) -> str | None:
    """The RFC 3834 keyword ("auto-replied", "auto-forwarded", ...), None when absent or "no"."""
    raw = _COMMENT.sub(" ", msg.header("auto-submitted") or "")  # "no (manually sent)"
    words = raw.split(";", 1)[0].split()
    value = words[0].lower() if words else ""
    return value if value and value != "no" else None


def _is_auto(msg: MimeMessage) -> bool:
    auto_submitted = _auto_submitted(msg)
    if auto_submitted is not None and auto_submitted != "auto-forwarded":
        # a rule forwarded a person's mail: its content decides the kind
        return True
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply"):
        flag = msg.header(name)
        if flag is not None and flag.strip().lower() not in ("no", "false", "0"):
            return True
    precedence = (msg.header("precedence") or "").strip().lower()
    if precedence in ("auto_reply", "bulk", "junk"):
        return True
    if any(msg.has_header(name) for name in _EXCHANGE_OOF_HEADERS):
        return True
    if (msg.header("x-ms-exchange-message-is-ooo") or "").strip().lower() == "true":
        return True
    if msg.content_type == "multipart/report" and msg.report_type == "disposition-notification":
        return True  # read receipts: automatic, no topics
    subject = strip_reply_prefixes(msg.subject)
    if _AUTO_SUBJECT.match(subject) or _AUTO_SUBJECT.match(msg.subject):
        return True
    return bool(_AUTO_SUBJECT_ANYWHERE.search(msg.subject))


#: RFC 2369/2919 list headers: the mail came through a mailing list.
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post")
#: Exchange sets this on mail an inbox rule generated or forwarded (and on its OOF replies).
_RULE_HEADER = "x-ms-exchange-inbox-rules-loop"


def is_automatic(msg: MimeMessage, kind: str) -> bool:
    """True when the bot must not answer: any auto_reply or bounce, and any mail that headers
    mark as machine-sent (Auto-Submitted other than "no", X-Autoreply and friends, Precedence
    bulk/junk/list/auto_reply, Exchange OOF and inbox-rule markers, mailing-list headers, a
    null Return-Path). X-Auto-Response-Suppress alone does not count (Outlook sends it with
    ordinary mail)."""
    if kind in ("auto_reply", "bounce"):
        return True
    if _auto_submitted(msg) is not None or _is_auto(msg):
        return True
    precedence = (msg.header("precedence") or "").strip().lower()
    if precedence in ("list", "bulk", "junk", "auto_reply"):
        return True
    if msg.has_header(_RULE_HEADER) or any(msg.has_header(name) for name in _LIST_HEADERS):
        return True
    return (msg.header("return-path") or "").strip() == "<>"


def kind_from_headers(msg: MimeMessage) -> AutoKind | None:
    """'bounce' or 'auto_reply' when headers/subject/structure say so, else None."""
    if _is_bounce(msg):
        return "bounce"
    if _DELAY_SUBJECT.match(msg.subject):
        return "auto_reply"  # a delay warning is automatic but not a failed delivery
    if _is_auto(msg):
        return "auto_reply"
    return None


def kind_from_body(reply_text: str) -> AutoKind | None:
    """Out-of-office or bounce wording at the start of a (short) reply, else None."""
    head = reply_text[:1500]
    if _BODY_BOUNCE.search(head):
        return "bounce"
    if len(reply_text) < 3000 and _BODY_AUTO.search(head):
        return "auto_reply"
    return None


# ---------------------------------------------------------------------------------------
# "Nothing this time": the sender has no topics
# ---------------------------------------------------------------------------------------

#: Phrases that say there is nothing this time, German and English, formal and colloquial.
NO_TOPICS = re.compile(
    r"""(?ix)
    \bkeine\s+(?:neuen\s+|weiteren\s+|aktuellen\s+|relevanten\s+|passenden\s+)?
        (?:themen|meldungen|beitr(?:ä|ae)ge|veranstaltungen|neuigkeiten|news|termine)\b
  | \b(?:nichts|nix)\s+(?:zu\s+melden|neues|zu\s+berichten|anstehendes?|geplant|mitzuteilen
        |vorhanden|dabei|los|f(?:ü|ue)r\s+(?:sie|euch|dich|den\s+newsletter|social\s+media))\b
  | \b(?:diesen|dieses|im|in\s+diesem|this)\s+(?:monat|mal|quartal|month|time)\s+
        (?:leider\s+|gibt\s+es\s+|haben\s+wir\s+|kommt\s+)?(?:leider\s+)?(?:nichts|nix|keine|nothing)\b
  | \bdiesmal\s+(?:leider\s+|wieder\s+|auch\s+)?(?:nichts|nix|nüscht|nischt|fehlanzeige)\b
  | \b(?:nichts|nix)\s+(?:von\s+uns|bei\s+uns|diesmal|dieses\s+mal)\b
  | \b(?:derzeit|aktuell|momentan|zurzeit|zur\s+zeit|gerade)\s+(?:leider\s+)?
        (?:nichts|nix|keine\s+themen)\b
  | \bleider\s+(?:nichts|nix)\b
  | \bfehlanzeige\b
  | \bsteht\s+(?:bei\s+uns\s+|diesmal\s+|derzeit\s+|aktuell\s+|momentan\s+|gerade\s+
        |zurzeit\s+|leider\s+|also\s+)*nichts\s+an\b
  | \bist\s+es\s+(?:bei\s+uns\s+)?(?:gerade|momentan|derzeit|aktuell|diesmal|zurzeit)\s+ruhig\b
  | \b(?:bei\s+uns|hier)\s+ist\s+(?:es\s+)?(?:gerade|momentan|derzeit|aktuell|diesmal|zurzeit)\s+
        (?:nichts\s+los|ruhig)\b
  | \bno\s+(?:new\s+)?(?:topics|news|items|events|updates)\b
  | \bnothing\s+(?:to\s+report|this\s+(?:month|time)|new|planned|to\s+share|from\s+(?:us|our))\b
  | \bnothing\s+(?:(?:on|from)\s+(?:our|my)\s+(?:side|end)|for\s+now|at\s+the\s+moment
        |right\s+now)\b
  | \bvon\s+unserer\s+seite\s+(?:diesmal\s+|leider\s+|aktuell\s+)*(?:nichts|nix)\b
  | \b(?:don'?t|do\s+not|won'?t)\s+have\s+any(?:thing)?\s*(?:events?|topics?|news|updates?
        |plans?|activities)?\s*(?:planned|scheduled|to\s+report|to\s+share|this\s+(?:month|time)
        |for\s+the\s+(?:coming|next))
  | \b(?:haben|hätten|haetten)\s+wir\s+(?:diesmal\s+|leider\s+|aktuell\s+|derzeit\s+)*
        (?:nichts|nix|keine\s+themen)\b
  | \bgibt\s+es\s+(?:diesmal\s+|leider\s+|aktuell\s+|derzeit\s+)*(?:nichts|nix|keine\s+themen)\b
  | \bnichts\s+(?:diesen|dieses|im|in\s+diesem)\s+monat\b
  | \bvon\s+(?:uns|mir)\s+(?:diesmal\s+|leider\s+|aktuell\s+|erstmal\s+|erst\s+mal\s+)*
        (?:nichts|nix)\b(?!\s+(?:dagegen|gegen|einzuwenden))
  | :\s*(?:nichts|nix)\s*[.!]*\s*$
  | \bdiesmal\s+(?:muss\s+ich\s+|m(?:ü|ue)ssen\s+wir\s+)?(?:passe|passen)\b
  | \b(?:passe\s+ich|passen\s+wir)\s+(?:diesmal|dieses\s+mal|leider)\b
  | \bflaute\b
    """
)
#: A qualification after the phrase ("keine Themen außer dem Sommerfest", "nix Großes, nur:").
NO_TOPICS_EXCEPT = re.compile(
    r"(?i)\b(?:au(?:ß|ss)er|bis\s+auf|abgesehen\s+von|ausgenommen|except|other\s+than"
    r"|apart\s+from|nur|lediglich|only)\b"
)
#: A field answered with nothing but "there is nothing" ("Was: Fehlanzeige", "Was: nix").
NOTHING_ANSWER = re.compile(
    r"(?ix)^\s*(?:fehlanzeige|nichts|nix|keine[sn]?(?:\s+themen)?|kein\s+thema|keine\s+meldung"
    r"|nothing|none|n/?a|-+|–|—|entf(?:ä|ae)llt|entf\.?|k\.?\s*a\.?)\s*[.!]?\s*$"
)


def says_nothing(sentence: str) -> bool:
    """The sentence says there is nothing this time, without an exception after the phrase."""
    m = NO_TOPICS.search(sentence)
    return m is not None and NO_TOPICS_EXCEPT.search(sentence, m.end()) is None
