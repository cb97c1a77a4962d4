"""Configuration: one TOML file, every key overridable by INTAKE_<SECTION>__<KEY>.

Each setting is declared exactly once below, with its default and its help text
(`Field(description=...)`). `intake init` writes the commented example file from
these declarations, and a test checks that the written file documents every key.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import textwrap
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.calendar import parse_hhmm
from bot.errors import UserError
from mailtemplates import check_label, template_block
from parsers.model import DEFAULT_BLOCK_END, DEFAULT_BLOCK_START, DEFAULT_LABELS

ENV_PREFIX = "INTAKE_"
DEFAULT_CONFIG_NAME = "intake.toml"

Security = Literal["ssl", "starttls", "none"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSource(Section):
    """Base of sections that need a password: never in the file itself.

    Subclasses declare `password_env` and `password_file` (so they appear in their order).
    """

    @model_validator(mode="after")
    def _one_secret_source(self) -> SecretSource:
        explicit = self.model_fields_set
        if "password_env" in explicit and "password_file" in explicit and getattr(
            self, "password_env", None
        ) and getattr(self, "password_file", None):
            raise ValueError("set either password_env or password_file, not both")
        return self

    def password(self, environ: dict[str, str] | None = None) -> str | None:
        """Resolve the secret at the moment it is needed (never logged, never stored)."""
        env_name: str | None = getattr(self, "password_env", None)
        file_name: str | None = getattr(self, "password_file", None)
        if file_name:
            try:
                return Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UserError(
                    f"{file_name}: cannot read password_file ({exc.strerror})"
                ) from None
        if env_name:
            value = (os.environ if environ is None else environ).get(env_name)
            if value is None:
                raise UserError(
                    f"environment variable {env_name} (password_env) is not set; "
                    f"export it before starting intake"
                )
            return value
        return None


class DatabaseSettings(Section):
    url: str = Field(
        "sqlite:///intake.db",
        description="SQLAlchemy database URL: sqlite:///FILE (relative to this file) or "
        "postgresql+psycopg://USER@HOST/DB (password via the URL only in trusted setups; "
        "prefer PGPASSWORD or .pgpass for PostgreSQL)",
    )


def _address(value: str) -> str:
    """An e-mail address, checked without DNS (like the contacts file's)."""
    try:
        return validate_email(value, check_deliverability=False,
                              test_environment=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid address: {exc}") from None


Address = Annotated[str, AfterValidator(_address)]


class MailSettings(Section):
    from_address: Address = Field(
        "themen@musterhausen.de", description="the address the bot sends from and is replied to"
    )
    from_name: str = Field(
        "Social-Media-Team Stadt Musterhausen", description="display name on outgoing mail"
    )
    organisation: str = Field(
        "Stadt Musterhausen", description="the organisation's name as used in mail texts"
    )
    max_attachment_mb: int = Field(
        20, ge=1, le=200, description="attachments larger than this are listed but not stored"
    )


class ImapSettings(SecretSource):
    host: str = Field("imap.musterhausen.de", description="IMAP server name")
    port: int = Field(993, ge=1, le=65535, description="IMAP port (993 for ssl, 143 otherwise)")
    security: Security = Field(
        "ssl", description="ssl | starttls | none (none is accepted for loopback hosts only)"
    )
    username: str = Field("themen@musterhausen.de", description="IMAP login name")
    password_env: str | None = Field(
        "INTAKE_IMAP_PASSWORD", description="name of the environment variable holding the password"
    )
    password_file: str | None = Field(
        None,
        description="or: a file whose content is the password (e.g. a Docker secret); "
        "takes precedence over password_env",
        examples=["/run/secrets/imap_password"],
    )
    ca_file: str | None = Field(
        None,
        description="PEM file of extra trusted certificates (an internal CA); certificates are "
        "always verified",
        examples=["/etc/ssl/certs/rathaus-ca.pem"],
    )
    folder: str = Field("INBOX", description="the folder replies arrive in")
    processed_folder: str = Field(
        "Intake/Processed", description="processed mail is moved here (created if missing)"
    )
    timeout: int = Field(30, ge=1, description="network timeout in seconds")

    @model_validator(mode="after")
    def _none_only_on_loopback(self) -> ImapSettings:
        _check_loopback(self.security, self.host)
        return self


class SmtpSettings(SecretSource):
    host: str = Field("smtp.musterhausen.de", description="SMTP server name")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 starttls, 465 ssl)")
    security: Security = Field(
        "starttls", description="ssl | starttls | none (none is accepted for loopback hosts only)"
    )
    username: str | None = Field(
        "themen@musterhausen.de",
        description="login name; leave empty to send without AUTH (a relay that trusts the host)",
    )
    password_env: str | None = Field(
        "INTAKE_SMTP_PASSWORD", description="name of the environment variable holding the password"
    )
    password_file: str | None = Field(
        None,
        description="or: a file whose content is the password; takes precedence over password_env",
        examples=["/run/secrets/smtp_password"],
    )
    ca_file: str | None = Field(
        None,
        description="PEM file of extra trusted certificates; certificates are always verified",
        examples=["/etc/ssl/certs/rathaus-ca.pem"],
    )
    timeout: int = Field(30, ge=1, description="network timeout in seconds")

    @field_validator("username")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _none_only_on_loopback(self) -> SmtpSettings:
        _check_loopback(self.security, self.host)
        return self


class OfficerSettings(Section):
    email: Address = Field("presse@musterhausen.de", description="where the weekly digest goes")
    name: str = Field("Julia Beispiel", description="the officer's name, used in the digest")


class ContactsSettings(Section):
    file: str = Field(
        "contacts.yaml",
        description="the contacts file, YAML or CSV; a relative path is relative to this file",
    )


class ScheduleSettings(Section):
    timezone: str = Field("Europe/Berlin", description="time zone for every schedule")
    state: str = Field(
        "NW",
        description="German state for public holidays (BW, BY, BE, BB, HB, HH, HE, MV, NI, NW, "
        "RP, SL, SN, ST, SH, TH); no mail goes out on those days or on weekends",
    )
    request_time: str = Field(
        "08:00", description="requests go out at this time on the first working day of the month"
    )
    reply_working_days: int = Field(
        10, ge=1, le=40, description="reply deadline, in working days after the request"
    )
    reminders: int = Field(
        1, ge=0, le=3, description="reminders to a contact who has not answered (0 = none)"
    )
    reminder_after_working_days: int = Field(
        5, ge=1, le=30, description="working days after the request before the reminder"
    )
    max_followups: int = Field(
        2, ge=0, le=5, description="follow-up questions per topic at most (missing details)"
    )
    followup_after_hours: int = Field(
        2, ge=0, le=168, description="wait this long after a reply before asking back"
    )
    digest_weekday: Literal["mon", "tue", "wed", "thu", "fri"] = Field(
        "mon", description="weekday of the officer's digest"
    )
    digest_time: str = Field("07:30", description="time of the officer's digest")
    poll_seconds: int = Field(
        120, ge=10, description="IMAP polling interval when the server offers no IDLE"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Berlin)") from None
        return value

    @field_validator("request_time", "digest_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("state")
    @classmethod
    def _german_state(cls, value: str) -> str:
        states = {"BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN",
                  "ST", "SH", "TH"}
        if value.upper() not in states:
            raise ValueError(f"{value!r} is not a German state code ({', '.join(sorted(states))})")
        return value.upper()


class TemplatesSettings(Section):
    directory: str | None = Field(
        None,
        description="a directory with your own versions of any mail template file "
        "(same file names as in the package); unset: the built-in German texts",
        examples=["templates"],
    )
    label_what: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LABELS["what"]),
        description="labels for 'what'; the first one is printed in the template, "
        "all are understood in replies (matching ignores case, '?', '-' and bold)",
    )
    label_when: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LABELS["when"]), description="labels for 'when'"
    )
    label_where: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LABELS["where"]), description="labels for 'where'"
    )
    label_who: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LABELS["who"]), description="labels for 'who'"
    )
    label_how_many: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LABELS["how_many"]),
        description="labels for 'how many'",
    )
    label_quote: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LABELS["quote"]), description="labels for a quote"
    )
    label_images: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LABELS["images"]),
        description="labels for pictures",
    )
    block_start: str = Field(DEFAULT_BLOCK_START, description="the line that opens a topic block")
    block_end: str = Field(DEFAULT_BLOCK_END, description="the line that closes a topic block")

    @field_validator(
        "label_what", "label_when", "label_where", "label_who", "label_how_many", "label_quote",
        "label_images",
    )
    @classmethod
    def _labels_safe(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one label")
        for label in value:
            if not label.strip() or ":" in label or "\n" in label:
                raise ValueError(f"{label!r} is not a valid label: one line of text without ':'")
        # the first label is printed in the template: the same rules as for the mail itself
        check_label(value[0])
        return value

    @model_validator(mode="after")
    def _block_renders(self) -> TemplatesSettings:
        labels = [(name.removeprefix("label_"), getattr(self, name)[0])
                  for name in type(self).model_fields if name.startswith("label_")]
        template_block(labels, self.block_start, self.block_end)
        return self


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="log level (-v / -q on the command line shift it)"
    )
    file: str | None = Field(
        None, description="also log to this file; unset: stderr only", examples=["intake.log"]
    )


class Settings(Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    officer: OfficerSettings = Field(default_factory=OfficerSettings)
    contacts: ContactsSettings = Field(default_factory=ContactsSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    templates: TemplatesSettings = Field(default_factory=TemplatesSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    #: where the settings came from (for messages and relative paths); not a setting
    source: str = Field("<defaults>", exclude=True)
    base_dir: str = Field(".", exclude=True)

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    def labels(self) -> dict[str, tuple[str, ...]]:
        t = self.templates
        return {
            "what": tuple(t.label_what),
            "when": tuple(t.label_when),
            "where": tuple(t.label_where),
            "who": tuple(t.label_who),
            "how_many": tuple(t.label_how_many),
            "quote": tuple(t.label_quote),
            "images": tuple(t.label_images),
        }


SECTION_HELP: dict[str, str] = {
    "database": "Where intake-bot keeps contacts, requests, mails and topics.",
    "mail": "How the bot's outgoing mail looks.",
    "imap": "The mailbox the colleagues' replies arrive in.",
    "smtp": "The server the bot sends through.",
    "officer": "The social-media officer who gets the weekly digest.",
    "contacts": "The contacts file (one contact per department, with deputies).",
    "schedule": "When the bot asks, reminds, asks back and reports.",
    "templates": "Mail texts and the labels of the fill-in template.",
    "logging": "Logging.",
}

SECTIONS: dict[str, type[Section]] = {
    name: info.annotation  # type: ignore[misc]
    for name, info in Settings.model_fields.items()
    if name not in ("source", "base_dir")
}

def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_loopback(security: str, host: str) -> None:
    if security == "none" and not _is_loopback(host):
        raise ValueError(
            f"security = \"none\" sends passwords and mail unencrypted; it is only allowed for "
            f"a loopback host, not {host!r} (use ssl or starttls)"
        )


def _env_overrides(environ: dict[str, str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Collect INTAKE_<SECTION>__<KEY> variables; unknown names are errors (typos)."""
    overrides: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        model = SECTIONS.get(section)
        if model is None or key not in model.model_fields:
            errors.append(f"environment variable {name}: no such setting [{section}] {key}")
            continue
        value: Any = raw
        if raw.startswith("["):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                errors.append(f"environment variable {name}: lists are written as JSON, "
                              f'e.g. ["Was", "Thema"]')
                continue
        overrides.setdefault(section, {})[key] = value
    return overrides, errors


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """Best-effort line number of a key in a TOML file (tomllib keeps no positions)."""
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
            continue
        if key and current == section and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return None


def load_settings(path: Path | None, environ: dict[str, str] | None = None,
                  required: bool = False) -> Settings:
    """Load and validate settings; raise UserError with one line per problem.

    path None or a missing default file: built-in defaults plus environment overrides
    (required=True turns a missing file into an error).
    """
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    text = ""
    source = "<defaults>"
    base_dir = Path.cwd()
    if path is not None:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            if required:
                raise UserError(
                    f"{path}: configuration file not found (create one with `intake init`)"
                ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: cannot read configuration ({exc})") from None
        else:
            base_dir = path.resolve().parent
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise UserError(f"{path}: not valid TOML: {exc}") from None
    problems: list[str] = []
    for section, values in data.items():
        if section not in SECTIONS:
            line = _line_of(text, section, None)
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: unknown section [{section}] "
                            f"(known: {', '.join(SECTIONS)})")
        elif not isinstance(values, dict):
            problems.append(f"{source}: {section} must be a section [{section}]")
        elif "password" in values:
            line = _line_of(text, section, "password")
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: [{section}] password: secrets are never written in the "
                            f"file; use password_env or password_file")
    overrides, env_errors = _env_overrides(environ)
    problems.extend(env_errors)
    if problems:
        raise UserError("\n".join(problems))
    merged: dict[str, Any] = {k: dict(v) for k, v in data.items()}
    for section, values in overrides.items():
        merged.setdefault(section, {}).update(values)
    try:
        return Settings.model_validate({**merged, "source": source, "base_dir": str(base_dir)})
    except ValidationError as exc:
        raise UserError("\n".join(_describe(exc, source, text, overrides))) from None


def _describe(exc: ValidationError, source: str, text: str,
              overrides: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        section = loc[0] if loc else ""
        key = loc[1] if len(loc) > 1 else None
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = SECTIONS.get(section)
            known = ", ".join(model.model_fields) if model else ""
            message = f"unknown key (known: {known})"
        if key is not None and key in overrides.get(section, {}):
            where = f"environment variable {ENV_PREFIX}{section.upper()}__{key.upper()}"
        else:
            line = _line_of(text, section, key) if text else None
            where = f"{source}:{line}" if line else source
        name = f"[{section}] {key}" if key else f"[{section}]"
        lines.append(f"{where}: {name}: {message}")
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def render_example_config() -> str:
    """The fully commented intake.toml that `intake init` writes."""
    out = [
        "# intake-bot configuration.",
        "#",
        "# Every key can be overridden by an environment variable INTAKE_<SECTION>__<KEY>,",
        "# e.g. INTAKE_IMAP__HOST=imap.example.org. Passwords are never written here:",
        "# password_env names the environment variable holding one, password_file a file.",
        "# Lines starting with '#' are comments; a commented-out key uses its default.",
        "",
    ]
    for section, model in SECTIONS.items():
        out.append(f"# {SECTION_HELP[section]}")
        out.append(f"[{section}]")
        for key, info in model.model_fields.items():
            out.extend(textwrap.wrap(str(info.description), 88, initial_indent="# ",
                                     subsequent_indent="# "))
            default = info.get_default(call_default_factory=True)
            if default is None:
                example = info.examples[0] if info.examples else ""
                out.append(f"# {key} = {_toml_value(example)}")
            else:
                out.append(f"{key} = {_toml_value(default)}")
        out.append("")
    return "\n".join(out)
