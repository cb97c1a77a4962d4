"""Loading and rendering the mail templates (see the package docstring for the contexts)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from mailtemplates.block import DEFAULT_BLOCK_END, DEFAULT_BLOCK_START, template_block

#: the three files every template consists of, by RenderedMail field
PARTS: tuple[tuple[str, str], ...] = (
    ("subject", "subject.j2"),
    ("text", "txt.j2"),
    ("html", "html.j2"),
)

_QUOTED = re.compile(r"'([^']*)'")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


class TemplateError(Exception):
    """A template is missing, broken, or needs a context variable the caller did not give.

    The message is one line naming the template file and, for a missing variable, the variable;
    ``template`` and ``variable`` hold the same for callers that want them separately.
    """

    def __init__(self, message: str, template: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.variable = variable


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def _autoescape(template_name: str | None) -> bool:
    # Only the HTML part is escaped; escaping the text part would show "&amp;" to the reader.
    return template_name is not None and template_name.endswith(".html.j2")


def _html_lines(value: object) -> Markup:
    """Escape a multi-line value and keep its lines apart with <br> (Outlook-safe)."""
    # A Markup value (e.g. from an autoescaped join) is already escaped; escape() leaves it be.
    text = value if isinstance(value, str) else str(value)
    return Markup("<br>\n").join(escape(line) for line in text.splitlines())


def _fill_in_block(
    labels: Iterable[str],
    block_start: str = DEFAULT_BLOCK_START,
    block_end: str = DEFAULT_BLOCK_END,
) -> str:
    """A block with just these labels (for follow-up questions), via template_block()."""
    label_list = [str(label) for label in labels]
    return template_block([(label, label) for label in label_list], block_start, block_end, {})


def _clean_subject(value: str) -> str:
    # One line, single spaces, no control characters: nothing a context value contains can
    # start a new header line.
    no_controls = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in value
    )
    return " ".join(no_controls.split())


def _clean_text(value: str) -> str:
    lines = [line.rstrip() for line in value.strip("\n").split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)) + "\n"


class TemplateRenderer:
    """Renders the mail templates shipped in this package, or an admin's replacements.

    A file in ``override_dir`` with the same name as a packaged one (e.g.
    ``request.txt.j2`` or ``_signature.txt.j2``) is used instead of it; all other files still
    come from the package. A new template ``NAME`` can be added there as three files.
    """

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            if not override_dir.is_dir():
                raise TemplateError(
                    f"template override directory {override_dir} does not exist or is not a "
                    "directory; create it or remove the setting",
                    template=str(override_dir),
                )
            loaders.append(jinja2.FileSystemLoader(override_dir))
        loaders.append(jinja2.PackageLoader("mailtemplates", "templates"))
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # each use builds its own renderer, so templates never go stale; no stat()
            # per render (a round renders thousands)
            auto_reload=False,
        )
        self._env.filters["html_lines"] = _html_lines
        self._env.filters["fill_in_block"] = _fill_in_block

    def names(self) -> tuple[str, ...]:
        """The names of all complete templates (all three files present), sorted."""
        files = set(self._env.list_templates())
        names: set[str] = set()
        for file in files:
            if file.startswith("_") or "/" in file:
                continue
            for _, suffix in PARTS:
                if file.endswith("." + suffix):
                    names.add(file[: -len(suffix) - 1])
        complete = (n for n in names if all(f"{n}.{suffix}" in files for _, suffix in PARTS))
        return tuple(sorted(complete))

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedMail:
        """Render the template ``name`` with ``context``; raises TemplateError on any problem."""
        if not name or name.startswith(("_", ".")) or "/" in name or "\\" in name:
            raise TemplateError(f"invalid template name {name!r}", template=name)
        parts: dict[str, str] = {}
        for field, suffix in PARTS:
            parts[field] = self._render_file(f"{name}.{suffix}", context)
        return RenderedMail(
            subject=_clean_subject(parts["subject"]),
            text=_clean_text(parts["text"]),
            html=parts["html"],
        )

    def _render_file(self, file: str, context: Mapping[str, Any]) -> str:
        try:
            template = self._env.get_template(file)
        except jinja2.TemplateNotFound as exc:
            missing = exc.name or file
            raise TemplateError(
                f"template file {missing} not found (known templates: {', '.join(self.names())})",
                template=file,
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template file {exc.name or file}, line {exc.lineno}: {exc.message}",
                template=exc.name or file,
            ) from exc
        try:
            return template.render(context)
        except jinja2.UndefinedError as exc:
            detail = exc.message or "undefined value"
            quoted = _QUOTED.findall(detail)
            variable = quoted[-1] if quoted else None
            raise TemplateError(
                f"template {file}: missing context variable {variable!r} ({detail})"
                if variable
                else f"template {file}: {detail}",
                template=file,
                variable=variable,
            ) from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {file}: {exc.message}", template=file) from exc
        except ValueError as exc:  # a bad label handed to the fill_in_block filter
            raise TemplateError(f"template {file}: {exc}", template=file) from exc
