"""Rendering the templates that are not mails: the intranet page of the year's plan and the
editorial meeting's agenda. They live beside the mail templates in
`mailtemplates/templates/` and are overridden the same way ([templates] directory); the
mail renderer knows only subject/text/HTML triples, so they get an environment of their
own with the same rules (HTML autoescaped, every variable required)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from bot.app import App
from bot.errors import UserError


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(".html.j2")


def _html_lines(value: object) -> Markup:
    text = value if isinstance(value, str) else str(value)
    return Markup("<br>\n").join(escape(line) for line in text.splitlines())


class PageRenderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(override_dir))
        loaders.append(jinja2.PackageLoader("mailtemplates", "templates"))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders),
                                      undefined=jinja2.StrictUndefined, autoescape=_autoescape,
                                      trim_blocks=True, lstrip_blocks=True)
        self.env.filters["html_lines"] = _html_lines

    def render(self, file: str, context: Mapping[str, Any]) -> str:
        """Render one template file; any problem is one line naming the file."""
        try:
            return self.env.get_template(file).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise UserError(f"template file {exc.name or file}, line {exc.lineno}: "
                            f"{exc.message}") from None
        except jinja2.TemplateNotFound as exc:
            raise UserError(f"template file {exc.name or file} not found") from None
        except jinja2.TemplateError as exc:
            raise UserError(f"template {file}: {exc.message}") from None


def page_renderer(app: App) -> PageRenderer:
    directory = app.settings.templates.directory
    if not directory:
        return PageRenderer()
    path = app.settings.resolve_path(directory)
    if not path.is_dir():
        raise UserError(f"{app.settings.source}: [templates] directory: template override "
                        f"directory {path} does not exist or is not a directory; create it "
                        f"or remove the setting")
    return PageRenderer(path)
