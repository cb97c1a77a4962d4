"""winmail.dat (application/ms-tnef): the files and the body inside.

Outlook with "Rich Text" format sends attachments and sometimes the whole body wrapped in a
TNEF blob. The contract lists the inner files, never winmail.dat itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from parsers.charsets import decode_bytes

# tnefparse logs every unknown attribute at DEBUG/WARNING; keep it quiet unless asked.
logging.getLogger("tnefparse").setLevel(logging.ERROR)


@dataclass(frozen=True)
class TnefFile:
    name: str  # as stored (not yet sanitised)
    data: bytes


@dataclass(frozen=True)
class TnefContent:
    files: tuple[TnefFile, ...]
    body_text: str | None
    body_html: str | None


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return decode_bytes(value.rstrip(b"\x00"))
    if isinstance(value, str):
        return value.rstrip("\x00")
    return None


def unpack_tnef(data: bytes) -> TnefContent | None:
    """Decode a TNEF blob; None when it is not TNEF or too broken to read."""
    try:
        from tnefparse.tnef import TNEF

        tnef = TNEF(data, do_checksum=False)
    except Exception:
        return None
    files: list[TnefFile] = []
    for attachment in getattr(tnef, "attachments", []):
        try:
            name = attachment.long_filename()
        except Exception:
            name = ""
        name = _as_text(name) or ""
        payload = attachment.data if isinstance(attachment.data, bytes) else b""
        files.append(TnefFile(name=name, data=payload))
    body_text = _as_text(getattr(tnef, "body", None))
    body_html = _as_text(getattr(tnef, "htmlbody", None))
    return TnefContent(files=tuple(files), body_text=body_text, body_html=body_html)
