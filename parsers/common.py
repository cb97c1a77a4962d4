"""Small text helpers shared by the value and template parsers (pure, no project imports)."""

from __future__ import annotations

import re

#: Answers that say "does not apply". They count as answered (the field is not missing), but
#: nothing is parsed out of them ("-" is not a range, "k. A." is no count).
_NOT_APPLICABLE = re.compile(
    r"""(?ix)^\s*(?:
        [-–—/.]+ | \./\.
      | entf[äa]ll?t | entfaellt | f[äa]llt\s+weg | faellt\s+weg
      | k\.?\s*a\.? | keine\s+angaben? | ohne\s+angabe
      | nicht\s+(?:relevant|zutreffend|bekannt|vorhanden|n[öo]tig|noetig|erforderlich)
      | trifft\s+nicht\s+zu | irrelevant | entf\.?
      | n\.?\s*/\s*a\.? | n\.\s*a\. | none | not\s+applicable | nothing | no
      | keine[sn]? | kein | nein | nix | nichts | niemand
    )\s*[.!]?\s*$""",
)


def is_not_applicable(text: str) -> bool:
    """True for "entfällt", "-", "k. A.", "nicht relevant", "n/a" and similar answers."""
    return bool(_NOT_APPLICABLE.match(text))


_WS = re.compile(r"[ \t\u00a0\u2007\u202f]+")


def clean_inline(text: str) -> str:
    """Collapse runs of spaces (incl. no-break spaces) and strip the ends of every line."""
    lines = [_WS.sub(" ", line).strip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue  # one blank line is enough
        out.append(line)
    return "\n".join(out)


def shorten(text: str, limit: int = 200) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters (with "…")."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"
