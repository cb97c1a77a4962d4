"""Inline images: photos of the topic or logos of a signature?

Apple Mail and iOS put photos inline (`Content-Disposition: inline`, referenced from the
HTML or standing between two text parts); Outlook and OWA put signature logos and social
icons inline too. Size alone cannot tell them apart (a 10 KB JPEG is still a photo, a 50 KB
banner is still a logo), so the decision looks at more:

1. where the image is referenced: in the new text above the closing formula (a photo), or
   in the signature block (`gmail_signature`, `#Signature`, after the closing formula) or
   in the quoted original (a logo). The HTML part is read for `cid:` references; without
   one, the plain part's placeholders ("[cid:image001.png@...]", "[image: IMG_1.jpg]");
2. repetition: the same bytes twice (the logo in the new signature and in a quoted one);
3. the name: "logo", "icon", "banner", social networks, OWA's "Outlook-..." signature
   images are logos; camera names (IMG_1234, DSC_, PXL_, 20270110_153012, iOS "image0")
   are photos;
4. without any of that: tiny images (under `TINY_BYTES`: spacers, icons) are logos, and so
   are small PNG/GIF images named like Outlook's "image001.png"; everything else is a photo.

A part sent as `Content-Disposition: attachment` and not referenced from the HTML is always
an attachment, whatever it looks like.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from parsers.markers import is_closing
from parsers.reply import quote_start_line

#: Images below this size are spacers and icons, never photos.
TINY_BYTES = 2 * 1024
#: Outlook-named PNG/GIF images below this size, referenced nowhere, are signature logos.
SMALL_LOGO_BYTES = 30 * 1024
#: Only this much of the HTML is searched for references (parsers.html reads no more).
MAX_HTML_CHARS = 1_000_000

_LOGO_NAME = re.compile(
    r"(?i)logo|icon|signatur|signature|banner|facebook|instagram|twitter|linkedin|xing"
    r"|youtube|tiktok|mastodon|spacer|pixel|blank\.gif|^outlook-"
)
_CAMERA_NAME = re.compile(
    r"(?i)^(?:img|dsc|dscn|dscf|pxl|pict|photo|foto|bild|wp|whatsapp image|signal-)[_ -]?\d"
    r"|^\d{8}[_-]\d{6}|^image\d{0,2}\.(?:jpe?g|heic|png)$|\.(?:heic|heif)$"
)
_OUTLOOK_NAME = re.compile(r"(?i)^image\d{3}\.(?:png|gif|jpe?g)$")
_CID_REF = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_HTML_QUOTE = re.compile(
    r"(?i)<blockquote|gmail_quote|divRplyFwdMsg|moz-cite-prefix|name=\"quote\""
    r"|border-top:\s*solid\s+#E1E1E1|-----\s*(?:Original|Urspr)|originalMessage"
)
_HTML_SIGNATURE = re.compile(
    r"(?i)gmail_signature|moz-signature|id=\"?(?:x_)?Signature\b|class=\"?signature\b"
)
_TAG = re.compile(r"<[^>]*>")
_PLAIN_REF = re.compile(r"\[(?:cid:(?P<cid>[^\]\s]+)|image:\s*(?P<alt>[^\]\n]*))\]", re.I)


@dataclass(frozen=True)
class InlineImage:
    """An image part that is inline or referenced from the HTML (a photo or a logo)."""

    index: int  # the part's position among the message's parts
    filename: str
    content_type: str
    size: int
    content_id: str | None
    disposition: str | None
    referenced: bool
    payload: str = ""  # the encoded payload, to find the same image twice


def _closing_positions(html: str) -> list[int]:
    """Positions in the HTML where a closing formula stands as text of its own."""
    out: list[int] = []
    for m in re.finditer(r">([^<>]{2,60})<", html):
        text = " ".join(m.group(1).replace("&nbsp;", " ").split())
        if text and is_closing(text):
            out.append(m.start(1))
    return out


def _html_zones(html: str) -> dict[str, str]:
    """cid -> "body", "signature" or "quote", from where the HTML references it."""
    head = html[:MAX_HTML_CHARS]
    refs = [(m.start(), m.group(1).strip("<>").lower()) for m in _CID_REF.finditer(head)]
    if not refs:
        return {}
    quote = _HTML_QUOTE.search(head)
    quote_at = quote.start() if quote else len(head)
    signature = _HTML_SIGNATURE.search(head, 0, quote_at)
    starts = _closing_positions(head[:quote_at])[:1]
    if signature is not None:
        starts.append(signature.start())
    sig_at = min(starts, default=quote_at)
    zones: dict[str, str] = {}
    for pos, cid in refs:
        zone = "quote" if pos >= quote_at else "signature" if pos >= sig_at else "body"
        # the first reference decides (a logo quoted again later stays a logo)
        zones.setdefault(cid, zone)
    return zones


def _plain_zones(plain: str) -> dict[str, str]:
    """Placeholder (cid, or image alt text) -> zone, from the plain part's placeholders."""
    lines = plain.replace("\r\n", "\n").split("\n")
    quote_at = quote_start_line(lines)
    end = len(lines) if quote_at is None else quote_at
    closing = next((k for k in range(end) if is_closing(lines[k])), None)
    zones: dict[str, str] = {}
    for k, line in enumerate(lines):
        if "[" not in line:
            continue
        for m in _PLAIN_REF.finditer(line):
            key = (m.group("cid") or m.group("alt") or "").strip().lower()
            if not key:
                continue
            if k >= end:
                zone = "quote"
            else:
                zone = "signature" if closing is not None and k > closing else "body"
            zones.setdefault(key, zone)
    return zones


def _plain_zone(image: InlineImage, zones: dict[str, str]) -> str | None:
    name = image.filename.lower()
    for key, zone in zones.items():
        if image.content_id and key == image.content_id:
            return zone
        if key.split("@", 1)[0] == name or key == name:
            return zone
    return None


def _is_logo(image: InlineImage, zone: str | None, repeated: bool) -> bool:
    if zone in ("signature", "quote") or repeated or image.size < TINY_BYTES:
        return True
    if _LOGO_NAME.search(image.filename):
        return True
    if zone == "body" or _CAMERA_NAME.search(image.filename):
        return False
    if image.size >= SMALL_LOGO_BYTES:
        return False
    photo_type = image.content_type.endswith(("jpeg", "jpg", "heic", "heif"))
    return bool(_OUTLOOK_NAME.match(image.filename)) or not photo_type


def signature_images(images: Sequence[InlineImage], *, plain: str, html: str) -> set[int]:
    """The indexes of the images that are logos, icons or spacers (see the module docstring)."""
    if not images:
        return set()
    html_zones = _html_zones(html) if html and any(i.content_id for i in images) else {}
    plain_zones = _plain_zones(plain) if plain and "[" in plain else {}
    digests: dict[str, int] = {}
    for image in images:
        if image.payload:
            key = hashlib.sha1(image.payload.encode("utf-8", "replace")).hexdigest()
            digests[key] = digests.get(key, 0) + 1
    logos: set[int] = set()
    for image in images:
        if image.disposition == "attachment" and not image.referenced:
            continue  # sent as an attachment: it is one
        zone = html_zones.get(image.content_id or "") or _plain_zone(image, plain_zones)
        key = hashlib.sha1(image.payload.encode("utf-8", "replace")).hexdigest()
        repeated = bool(image.payload) and digests[key] > 1
        if _is_logo(image, zone, repeated):
            logos.add(image.index)
    return logos
