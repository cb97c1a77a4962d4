"""MIME delimiters matched without compiling a pattern for every multipart.

The standard library's parser (`email.feedparser`) compiles a regular expression for each
multipart it meets, made of that multipart's boundary and a fixed tail. Boundaries are
unique per mail, so `re`'s cache never helps, and compiling takes 0.15-0.3 ms: a twentieth
of the whole work on a typical reply (two multiparts, text and HTML). The expression asks
for the line to begin with the delimiter, followed by the fixed tail; this module answers
that with `str.startswith` and one tail pattern compiled once, giving the same match object
groups ("end", "ws", "linesep") the parser reads. (Only those: the match starts after the
delimiter, has no "sep" group, and there is no `search` or `fullmatch`; the parser uses
`match` and those three groups.)

`install()` puts a stand-in for the `re` module into `email.feedparser` that does this for
exactly that expression, recognised by its text, and hands every other pattern to `re`
itself. A future parser that builds the expression differently is therefore unaffected: it
gets what `re.compile` gives.
"""

from __future__ import annotations

import email.feedparser
import re
from types import ModuleType
from typing import Any

#: the parser's expression: '(?P<sep>' + re.escape('--' + boundary) + _TAIL_TEXT
_HEAD_TEXT = "(?P<sep>"
_TAIL_TEXT = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_TAIL = re.compile(_TAIL_TEXT[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class Delimiter:
    """A compiled-pattern look-alike for one multipart's delimiter line."""

    __slots__ = ("pattern", "separator")

    def __init__(self, separator: str, pattern: str) -> None:
        self.separator = separator
        self.pattern = pattern

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _TAIL.match(line, len(self.separator))


class _FeedParserRe(ModuleType):
    """`re` as email.feedparser sees it: delimiters answered by `Delimiter`."""

    def __init__(self) -> None:
        super().__init__("re")

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: Any = 0) -> Any:
        if (flags == 0 and isinstance(pattern, str) and pattern.startswith(_HEAD_TEXT)
                and pattern.endswith(_TAIL_TEXT)):
            escaped = pattern[len(_HEAD_TEXT):-len(_TAIL_TEXT)]
            separator = _ESCAPED.sub(r"\1", escaped)
            if re.escape(separator) == escaped:  # nothing else hides in it
                return Delimiter(separator, pattern)
        return re.compile(pattern, flags)


def install() -> None:
    """Let email.feedparser match delimiters this way (idempotent)."""
    if not isinstance(email.feedparser.re, _FeedParserRe):  # type: ignore[attr-defined]
        email.feedparser.re = _FeedParserRe()  # type: ignore[attr-defined]
