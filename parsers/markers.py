"""The words and shapes that mark where a person's new text ends: closing formulas, signature
lines (names, functions, contact data, addresses, legal notices, logo placeholders).

One home for them, so that reply extraction (`parsers.reply`), the template reader
(`parsers.template`) and learned signatures (`parsers.signatures`) agree on what a closing
or a signature line is. Everything here looks at one line at a time and only at its first
`MAX_LINE_CHARS` characters, so every check stays linear on hostile input.
"""

from __future__ import annotations

import re

#: Only this much of a line is looked at (closings, contact lines and notices are short; a
#: legal notice that Outlook did not wrap is long, but its first words decide).
MAX_LINE_CHARS = 300

_GRUSS = r"gr(?:ü|ue|u)(?:ß|ss)(?:e|en)?"
#: A closing formula, alone on its line, maybe followed by up to three words (a name):
#: "Mit freundlichen Grüßen", "Viele Grüße, Nils", "Sportliche Grüße", "LG", "Bis bald!",
#: "Best regards", "Pozdrawiam", "Mvh".
_CLOSING = re.compile(
    r"^\s*(?:"
    # "Mit freundlichen Grüßen", "Mit freundlichem Gruß", "Sportliche Grüße", "Ganz liebe
    # Grüße": one or two inflected words before Gruß/Grüße
    r"(?:mit\s+|mfg\.?\s+)?(?:den\s+|sehr\s+|ganz\s+|viele\s+|beste\s+)?"
    r"(?:[^\W\d_]{3,}(?:e|en|em|er)\s+){1,2}" + _GRUSS +
    r"|" + _GRUSS + r"(?:\s+(?:aus|von|vom|an)\s+[\wäöüß. -]{1,40})?"
    r"|mfg|vg|lg|bg|liebe\s+gr(?:ü|ue)(?:ß|ss)e|ciao|tsch(?:ü|ue)ss"
    r"|(?:best|kind|warm|warmest|many|with\s+kind|with\s+best)?\s?regards|best\s+wishes"
    r"|cheers|sincerely|yours(?:\s+sincerely|\s+truly)?|best"
    r"|thanks(?:\s+again|\s+a\s+lot|\s+and\s+regards)?|thank\s+you|many\s+thanks"
    r"|(?:vielen\s+|herzlichen\s+|besten\s+)?dank(?:\s+im\s+voraus|\s+und\s+grüße|\s+und\s+gruß)?"
    r"|danke(?:\s+schön|\s+sehr)?"
    r"|bis\s+(?:bald|dann|später)|sch(?:ö|oe)nes\s+wochenende"
    # other languages (colleagues abroad, partner towns)
    r"|(?:serdecznie\s+)?pozdrawiam|z\s+powa(?:ż|z)aniem|pozdrowienia"
    r"|(?:med\s+)?venlig(?:e)?\s+hilsen?|(?:med\s+)?vennlig\s+hilsen|(?:med\s+)?vänliga\s+hälsningar"
    r"|hälsningar|kærlig\s+hilsen|hilsen|met\s+vriendelijke\s+groet(?:en)?"
    r"|vriendelijke\s+groet(?:en)?|groeten|(?:bien\s+)?cordialement|bien\s+à\s+vous"
    r"|(?:cordiali\s+|distinti\s+)?saluti|un\s+saludo|saludos|atentamente|с\s+уважением"
    r")\s*[,.!]*\s*(?:[\wäöüßÄÖÜ.'-]+\s*){0,3}$",
    re.IGNORECASE,
)
# "Herzlich" / "Herzlichst" alone or with a name; "Herzlich willkommen ..." is no closing.
_CLOSING_HERZLICH = re.compile(
    r"^\s*herzlich(?:st)?\s*[,.!]?\s*(?:[A-ZÄÖÜ][\wäöüß.'-]*\s*){0,2}$", re.IGNORECASE
)
_WILLKOMMEN = re.compile(r"\bwillkommen\b", re.IGNORECASE)
# Scandinavian abbreviations ("Kh", "Mvh"); case-sensitive: "KH" alone may be a hospital.
_CLOSING_ABBREVIATION = re.compile(r"^\s*(?:Kh|kh|Mvh|mvh|MVH|Vh|vh)\s*[,.!]?\s*$")
#: Words that begin sentences, not closings ("Grüße an alle Beteiligten ..." stays prose
#: when it is long; "Beste Lage ..." is no closing).
_CLOSING_FALSE_FRIENDS = re.compile(r"^\s*(?:beste\s+lage|best\s+practice)", re.IGNORECASE)


def is_closing(line: str) -> bool:
    """A closing formula on its own line ("Mit freundlichen Grüßen", "LG", "Best regards")."""
    text = line.strip().strip("*_").strip()
    if not text or len(text) > 60 or _CLOSING_FALSE_FRIENDS.match(text):
        return False
    if _CLOSING_HERZLICH.match(text) and not _WILLKOMMEN.search(text):
        return True
    if _CLOSING.match(text) or _CLOSING_ABBREVIATION.match(text):
        return True
    # bilingual: "Mit freundlichen Grüßen / Kind regards"
    parts = _BILINGUAL_SPLIT.split(text)
    return len(parts) == 2 and all(_CLOSING.match(part) for part in parts)


_BILINGUAL_SPLIT = re.compile(r"\s+[/|]\s+")


# ---------------------------------------------------------------------------------------
# Signature lines
# ---------------------------------------------------------------------------------------

#: Outlook's "[cid:image001.png@01DA...]" and Gmail's "[image: Logo]" placeholders for
#: inline images in the plain-text part.
IMAGE_PLACEHOLDER = re.compile(r"\[(?:cid:[^\]\s]{1,200}|image:[^\]\n]{0,200})\]", re.IGNORECASE)
_PHONE = re.compile(
    r"(?i)(?:^|[\s|·•,;(])(?:tel(?:efon)?|fon|phone|mobil(?:e|telefon)?|handy|cell|fax|telefax"
    r"|zentrale|durchwahl|notruf|t|m|f|p)\b\.?\s*:?\s*[+(]?\d[\d\s/().–-]{4,}\d"
    r"|(?:^|\s)\+\d{2}[\s\d/().-]{6,}\d|(?:^|\s)0\d{2,5}[\s/-]\d[\d\s-]{3,}\d"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?i)\b(?:www\.[\w-]+|https?://)\S*")
_POSTCODE_CITY = re.compile(r"(?:^|[\s,|·•])(?:D-)?\d{5}\s+[A-ZÄÖÜ][\wäöüß.-]+")
_STREET = re.compile(
    r"(?i)\b[\wäöüß.-]*(?:straße|strasse|str\.|weg|platz|gasse|allee|ring|damm|ufer|markt"
    r"|chaussee|steig|pfad|park)\s+\d{1,4}\s*[a-z]?\b"
)
_ROOM = re.compile(
    r"(?i)\b(?:zimmer|zi\.|raum|büro|buero|room|geb(?:äude)?\.?|etage|stock)\s*[a-z]?\d[\d.]*\b"
)
_HOURS = re.compile(
    r"(?i)\b(?:öffnungszeiten|oeffnungszeiten|sprechzeiten|servicezeiten|office\s+hours"
    r"|erreichbar\s+(?:mo|di|mi|do|fr)|nicht\s+im\s+büro|teilzeit)\b"
)
_ORG = re.compile(
    r"(?i)\b(?:stadt|gemeinde|landkreis|kreis|stadtverwaltung|verwaltung|amt|ämter"
    r"|fachbereich|fachdienst|abteilung|sachgebiet|referat|dezernat|dienststelle|team"
    r"|der\s+(?:ober)?bürgermeister(?:in)?|die\s+(?:ober)?bürgermeisterin|im\s+auftrag|i\.\s?a\."
    r"|in\s+vertretung|i\.\s?v\.|gmbh|e\.\s?v\.|aör|ag|eg|mbh|kg|gbr|city\s+of|department"
    r"|office|international\s+relations|quartiersmanagement)\b"
    r"|(?i:amt|stelle|büro|buero|verwaltung|abteilung|referat|betriebe|werke)\b"
)
_LEGAL = re.compile(
    r"(?i)datenschutz|dsgvo|gdpr|personenbezogen|vertraulich|confidential|intended\s+(?:solely|only"
    r"|recipient)|not\s+the\s+intended|adressat|irrtümlich|irrtuemlich|amtsgericht|handelsregister"
    r"|\bhrb\b|\bvr\s+\d|vereinsregister|registergericht|steuer-?(?:nummer|nr)|ust-?id"
    r"|geschäftsführ|geschaeftsfuehr|vorstand|aufsichtsrat|vorsitzende[rn]?\s+des"
    r"|sitz\s+der\s+gesellschaft|\bsitz:|bankverbindung|\biban\b|\bbic\b|haftung|ausdrucken"
    r"|bevor\s+sie\s+diese|disclaimer|rechtlich|privileged|unauthori[sz]ed|prohibited"
    r"|anstalt\s+des\s+öffentlichen\s+rechts|verarbeitung\s+ihrer|kenntnisnahme|vervielfältigung"
    r"|weitergabe|unverschlüsselt|consider\s+the\s+environment|think\s+before\s+you\s+print"
)
_PROMO = re.compile(
    r"(?i)\b(?:folgen\s+sie\s+uns|follow\s+us|facebook|instagram|twitter|linkedin|xing|youtube"
    r"|mastodon|tiktok|save\s+the\s+date|besuchen\s+sie\s+uns|jetzt\s+anmelden|newsletter"
    r"|abonnieren)\b"
)
#: A person's name, maybe with a title: "Dr. Sabine Roth", "i. A. K. Neumann", "Jule vom Team
#: Stadtteilbüro" is no name but a short line.
_NAME = re.compile(
    r"^(?:(?:i\.\s?a\.|i\.\s?v\.|in\s+vertretung|im\s+auftrag|dr\.|prof\.|dipl\.-[\w]+\.?)\s*)*"
    r"[A-ZÄÖÜ][\wäöüß'-]*\.?(?:\s+(?:von|van|de|zu|vom)?\s*[A-ZÄÖÜ][\wäöüß.'-]+){0,3}"
    r"(?:\s*\([^()]{1,40}\))?$",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[.!?]\s+[A-ZÄÖÜa-zäöü]|[.!?:]$")
_RULE = re.compile(r"^\s*[-_=*~#·•]{3,}\s*$")


def is_image_placeholder(line: str) -> bool:
    """A line that is only an inline-image placeholder ("[cid:image001.png@01DA...]")."""
    text = line.strip()[:MAX_LINE_CHARS]
    return bool(text) and not IMAGE_PLACEHOLDER.sub("", text).strip()


def is_contact_line(line: str) -> bool:
    """Phone, fax, e-mail, web address, street, postcode and city, room or office hours."""
    text = line.strip()[:MAX_LINE_CHARS]
    if not text or len(text) > 160:
        return False
    return bool(
        _PHONE.search(text)
        or _EMAIL.search(text)
        or _URL.search(text)
        or _POSTCODE_CITY.search(text)
        or _STREET.search(text)
        or _ROOM.search(text)
        or _HOURS.search(text)
    )


def is_legal_line(line: str) -> bool:
    """A line of a legal, data-protection or environment notice, or a register entry."""
    return bool(_LEGAL.search(line[:MAX_LINE_CHARS]))


def is_promo_line(line: str) -> bool:
    """Social-media links and banner lines of a signature ("Folgen Sie uns", "Save the date")."""
    text = line.strip()
    return len(text) <= 200 and bool(_PROMO.search(text[:MAX_LINE_CHARS]))


def is_name_line(line: str) -> bool:
    """A person's name (with a title or 'i. A.'), at most four words."""
    text = line.strip().strip("*_").strip()
    return 2 <= len(text) <= 50 and bool(_NAME.match(text))


def is_org_line(line: str) -> bool:
    """A short line naming an office, department or organisation ("Fachbereich 4", "GmbH")."""
    text = line.strip()
    return 0 < len(text) <= 90 and bool(_ORG.search(text)) and not text.endswith(":")


def is_signature_line(line: str) -> bool:
    """Whether a line can belong to a signature block: a name, a function, an organisation,
    contact data, a logo placeholder, a rule, a legal notice or a banner; not prose.

    Short lines without a sentence inside count (functions such as "Sachbearbeiter
    Sportförderung"); long lines only when they are notices or banners.
    """
    text = line.strip()
    if not text:
        return True
    head = text[:MAX_LINE_CHARS]
    if is_image_placeholder(head) or _RULE.match(head):
        return True
    if is_legal_line(head) or is_promo_line(head) or is_contact_line(head):
        return True
    if len(text) <= 70 and not _SENTENCE.search(text.rstrip(" ,;")):
        return True
    return len(text) <= 90 and is_org_line(text)


def contact_kinds(lines: list[str]) -> set[str]:
    """Which kinds of contact data the lines carry: phone, email, web, address."""
    kinds: set[str] = set()
    for line in lines:
        text = line.strip()[:MAX_LINE_CHARS]
        if _PHONE.search(text):
            kinds.add("phone")
        if _EMAIL.search(text):
            kinds.add("email")
        if _URL.search(text):
            kinds.add("web")
        if _POSTCODE_CITY.search(text) or _STREET.search(text) or _ROOM.search(text):
            kinds.add("address")
    return kinds
