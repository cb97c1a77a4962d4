"""Every mail the bot writes, from template to bytes: requests, reminders, follow-ups,
receipts, notices and the digest all pass through here, so identity headers, encoding and
the loop-safety headers are the same everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property

from bot.app import App
from bot.errors import UserError
from bot.mailer import build_mail, new_message_id
from mailtemplates import RenderedMail, TemplateError, TemplateRenderer


class Composer:
    def __init__(self, app: App) -> None:
        self.app = app

    @cached_property
    def templates(self) -> TemplateRenderer:
        directory = self.app.settings.templates.directory
        try:
            return TemplateRenderer(self.app.settings.resolve_path(directory)
                                    if directory else None)
        except TemplateError as exc:
            raise UserError(f"{self.app.settings.source}: [templates] directory: "
                            f"{exc}") from None

    def render(self, name: str, context: dict[str, object]) -> RenderedMail:
        """Render, turning a broken override template into a one-line message."""
        try:
            return self.templates.render(name, context)
        except TemplateError as exc:
            raise UserError(f"mail template {name!r}: {exc}") from None

    def contact_context(self, *, salutation: str | None, name: str | None, department: str,
                        subject_tag: str) -> dict[str, object]:
        return {"contact_salutation": salutation or "", "contact_name": name or "",
                "department": department, **self.sender_context(),
                "subject_tag": subject_tag}

    def sender_context(self) -> dict[str, object]:
        """Who signs, and whom to ask about the topics (the social-media officer)."""
        settings = self.app.settings
        return {"sender_name": settings.mail.from_name,
                "organisation": settings.mail.organisation,
                "officer_name": settings.officer.name, "officer_email": settings.officer.email}

    @property
    def domain(self) -> str:
        return self.app.settings.mail.from_address.rpartition("@")[2] or "localhost"

    def message_id(self, kind: str, hint: str = "") -> str:
        return new_message_id(kind, self.domain, hint)

    def build(self, rendered: RenderedMail, *, to_address: str, to_name: str | None,
              message_id: str, now: datetime, suppress_oof: bool = False,
              in_reply_to: str | None = None, references: Sequence[str] = (),
              attachments: Sequence[tuple[str, str, bytes]] = ()) -> bytes:
        mail = self.app.settings.mail
        return build_mail(
            rendered=rendered, from_address=mail.from_address, from_name=mail.from_name,
            to_address=to_address, to_name=to_name, message_id=message_id,
            date=now.astimezone(self.app.tz), suppress_oof=suppress_oof,
            in_reply_to=in_reply_to,
            references=tuple(references) or ((in_reply_to,) if in_reply_to else ()),
            attachments=attachments)
