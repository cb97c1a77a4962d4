"""HTML bodies to clean text lines.

Outlook/Word HTML (MsoNormal paragraphs, Word lists with conditional bullets, layout tables),
Gmail/Thunderbird/Apple HTML (divs, <br>, blockquote quoting) all become plain lines:

- paragraphs, divs and <br> break lines; empty paragraphs give blank lines;
- table rows become one line, cells joined by " | " (a row with a single filled cell keeps
  the cell's own line breaks, so layout tables do not glue a whole message into one line);
- list items become "- item" lines (Word's fake bullets likewise);
- blockquote content is prefixed with "> " per level (at most `MAX_QUOTE_DEPTH` levels);
- <hr> becomes an underscore line, as Outlook writes it in its plain-text version;
- <head>, <style>, <script>, comments and conditional comments are dropped.

The document is parsed by beautifulsoup4 with the lxml tree builder (linear on hostile
input, unlike `html.parser`, which is quadratic on unterminated tags) and walked
iteratively into a small renderer. The input is capped (`MAX_HTML_CHARS`), so is the output
(`MAX_TEXT_CHARS`: nothing more is added once it is reached), and nothing is kept but the
output lines.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import Comment, NavigableString, PageElement, Tag

#: HTML beyond this many characters is ignored (a 5 MB one-line body must stay cheap).
MAX_HTML_CHARS = 1_000_000
#: Rendered text is capped as well (entity-dense input can only shrink, but be safe).
MAX_TEXT_CHARS = 1_000_000
#: Deeper blockquote nesting than this gets no more "> " (a line's prefix stays short).
MAX_QUOTE_DEPTH = 20

_SKIP_CONTENT = frozenset({"head", "style", "script", "title", "xml", "template", "noscript"})
_BLOCK = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "pre",
        "address",
        "section",
        "article",
        "header",
        "footer",
        "center",
        "form",
        "fieldset",
        "table",
        "caption",
        "tbody",
        "thead",
        "tfoot",
        "main",
        "nav",
        "aside",
        "figure",
        "figcaption",
        "body",
        "html",
    }
)
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "wbr", "area", "base"})
_WS = re.compile(r"[ \t\r\n\f\v]+")
_SPACES = re.compile(r" {2,}")
_CID = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_WORD_BULLET_NUMBER = re.compile(r"^\(?[0-9a-zA-Z]{1,3}[.)]$")


@dataclass
class _Sink:
    lines: list[str] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)


@dataclass
class _Table:
    sink_index: int  # index of the sink the rows are written to
    row: list[list[str]] | None = None
    cell_open: bool = False


class _Renderer:
    def __init__(self) -> None:
        self.sinks: list[_Sink] = [_Sink()]
        self.tables: list[_Table] = []
        self.skip_depth = 0  # inside head/style/script
        self.skip_tag: list[str] = []
        self.quote_depth = 0
        self.pre_depth = 0
        self.list_depth = 0
        self.in_word_bullet = False
        self.word_bullet: list[str] = []
        self.hidden_stack: list[str] = []
        self.size = 0  # characters in output lines, newlines included
        self.pending = 0  # characters written but not yet flushed into lines

    # -- line handling -------------------------------------------------------------------
    def _prefix(self) -> str:
        return "> " * min(self.quote_depth, MAX_QUOTE_DEPTH)

    def _emit(self, sink: _Sink, line: str) -> None:
        """Add an output line, unless the output is full (MAX_TEXT_CHARS)."""
        room = MAX_TEXT_CHARS - self.size - 1
        if room < 0:
            return
        if len(line) > room:
            line = line[:room]
        sink.lines.append(line)
        self.size += len(line) + 1

    def _flush(self, force: bool = False) -> None:
        sink = self.sinks[-1]
        if not sink.pieces and not force:
            return
        raw = "".join(sink.pieces)
        sink.pieces = []
        self.pending -= len(raw)
        if not force and not raw.strip(" "):
            return  # only source-formatting whitespace between blocks
        text = raw.replace("\xa0", " ")
        if self.pre_depth:
            parts = [p.rstrip() for p in text.split("\n")]
        else:
            parts = [_SPACES.sub(" ", text).strip()]
        prefix = self._prefix()
        for part in parts:
            self._emit(sink, (prefix + part).rstrip() if prefix else part)

    def _write(self, text: str) -> None:
        if self.size + self.pending >= MAX_TEXT_CHARS:
            return
        self.sinks[-1].pieces.append(text)
        self.pending += len(text)

    # -- tables --------------------------------------------------------------------------
    def _close_cell(self) -> None:
        table = self.tables[-1]
        if not table.cell_open:
            return
        self._flush()
        cell = self.sinks.pop()
        table.cell_open = False
        if table.row is None:
            table.row = []
        table.row.append(cell.lines)

    def _close_row(self) -> None:
        table = self.tables[-1]
        self._close_cell()
        row = table.row
        table.row = None
        if row is None:
            return
        target = self.sinks[table.sink_index]
        filled = [cell for cell in row if any(line.strip() for line in cell)]
        if len(filled) <= 1:
            # A layout row: keep the cell's own lines (already counted in `size`).
            for cell in filled:
                target.lines.extend(cell)
            return
        # The row becomes one line instead of the cells' lines counted so far.
        self.size -= sum(len(line) + 1 for cell in row for line in cell)
        cells = [" ".join(line.strip() for line in cell if line.strip()) for cell in row]
        while cells and not cells[-1]:
            cells.pop()
        self._emit(target, self._prefix() + " | ".join(cells))

    def _open_table(self) -> None:
        self._flush()
        self.tables.append(_Table(sink_index=len(self.sinks) - 1))

    def _close_table(self) -> None:
        if not self.tables:
            return
        self._close_row()
        self.tables.pop()

    # -- parser callbacks ----------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_depth:
            if tag == self.skip_tag[-1]:
                self.skip_depth += 1
            return
        if tag in _SKIP_CONTENT:
            self.skip_depth = 1
            self.skip_tag.append(tag)
            return
        if self.hidden_stack and tag not in _VOID:
            self.hidden_stack.append(tag)
            return
        style = ""
        for name, value in attrs:
            if name == "style" and value:
                style = value.replace(" ", "").lower()
        if "display:none" in style and tag not in _VOID:
            self.hidden_stack.append(tag)
            return
        if tag == "br":
            self._flush(force=True)
        elif tag == "hr":
            self._flush()
            self._emit(self.sinks[-1], self._prefix() + "_" * 32)
        elif tag == "table":
            self._open_table()
        elif tag == "tr":
            if self.tables:
                self._close_row()
                self.tables[-1].row = []
            else:
                self._flush()
        elif tag in ("td", "th"):
            if self.tables:
                table = self.tables[-1]
                if table.row is None:
                    table.row = []
                self._close_cell()
                self.sinks.append(_Sink())
                table.cell_open = True
            else:
                self._write(" ")
        elif tag == "li":
            self._flush()
            self._write("- ")
        elif tag == "blockquote":
            self._flush()
            self.quote_depth += 1
        elif tag == "pre":
            self._flush()
            self.pre_depth += 1
        elif tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if self.skip_depth:
            if tag == self.skip_tag[-1]:
                self.skip_depth -= 1
                if not self.skip_depth:
                    self.skip_tag.pop()
            return
        if self.hidden_stack:
            if tag in self.hidden_stack:
                while self.hidden_stack and self.hidden_stack.pop() != tag:
                    pass
            return
        if tag == "table":
            self._close_table()
        elif tag == "tr":
            if self.tables:
                self._close_row()
        elif tag in ("td", "th"):
            if self.tables:
                self._close_cell()
        elif tag == "blockquote":
            self._flush()
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag == "pre":
            self._flush()
            self.pre_depth = max(0, self.pre_depth - 1)
        elif tag in _BLOCK or tag == "li":
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.skip_depth or self.hidden_stack:
            return
        if self.in_word_bullet:
            self.word_bullet.append(data)
            return
        if self.pre_depth:
            self._write(data)
        else:
            self._write(_WS.sub(" ", data))

    def unknown_decl(self, data: str) -> None:
        # Word's downlevel-revealed conditionals: <![if !supportLists]>·<![endif]>
        text = data.strip().lower()
        if text.startswith("if") and "supportlists" in text:
            self.in_word_bullet = True
            self.word_bullet = []
        elif text.startswith("endif") and self.in_word_bullet:
            self.in_word_bullet = False
            bullet = "".join(self.word_bullet).replace("\xa0", " ").strip()
            if _WORD_BULLET_NUMBER.match(bullet):
                self._write(bullet + " ")
            elif bullet:
                self._write("- ")

    def result(self) -> str:
        while self.tables:
            self._close_table()
        while len(self.sinks) > 1:
            self._flush()
            cell = self.sinks.pop()
            self.sinks[-1].lines.extend(cell.lines)
        self._flush()
        return _tidy(self.sinks[0].lines)


def _tidy(lines: list[str]) -> str:
    """Drop leading/trailing blank lines and squeeze runs of blank lines to one."""
    out: list[str] = []
    blank = False
    for line in lines:
        if not line.strip(" >"):
            if out and not blank:
                out.append(line.rstrip())
            blank = True
            continue
        blank = False
        out.append(line)
    while out and not out[-1].strip(" >"):
        out.pop()
    return "\n".join(out)


_DOWNLEVEL = re.compile(r"^\[(if [^\]>]*|endif)\]$", re.IGNORECASE)


def _walk(html: str, renderer: _Renderer) -> None:
    """Drive the renderer over the document tree, iteratively (deep nesting is no problem).

    beautifulsoup4 with the lxml tree builder: lxml's C parser is linear on hostile input
    where the standard library's html.parser is quadratic ("<a<a<a...": 100 KB take 17 s).
    """
    with warnings.catch_warnings():
        # mail HTML is often XHTML or looks like a file name; neither matters here
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "lxml")
    stack: list[tuple[PageElement, bool]] = [(soup, False)]
    while stack:
        node, closing = stack.pop()
        if isinstance(node, Tag):
            name = node.name.lower()
            if closing:
                renderer.handle_endtag(name)
                continue
            if node is not soup:
                attrs: list[tuple[str, str | None]] = [
                    (k.lower(), v if isinstance(v, str) else " ".join(v))
                    for k, v in node.attrs.items()]
                renderer.handle_starttag(name, attrs)
                if name in _VOID:
                    continue
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif isinstance(node, Comment):
            # Word's downlevel-revealed conditionals (<![if !supportLists]>) arrive as
            # comments "[if !supportLists]" / "[endif]"; every other comment is dropped
            if _DOWNLEVEL.match(node.strip()):
                renderer.unknown_decl(node.strip()[1:-1])
        elif isinstance(node, NavigableString) and type(node) is NavigableString:
            renderer.handle_data(str(node))


def html_to_text(html: str) -> str:
    """Render an HTML body to clean text lines (see module docstring)."""
    renderer = _Renderer()
    _walk(html[:MAX_HTML_CHARS], renderer)
    return renderer.result()


def cid_references(html: str) -> frozenset[str]:
    """Content-IDs the HTML refers to with cid: URLs (inline images), lower-cased."""
    return frozenset(m.group(1).strip("<>").lower() for m in _CID.finditer(html[:MAX_HTML_CHARS]))
