"""Configuration: one TOML file, every key overridable by INTAKE_<SECTION>__<KEY>.

Each setting is declared exactly once below, with its default and its help text
(`Field(description=...)`). `intake init` writes the commented example file from
these declarations, and a test checks that the written file documents every key.

Keys that identify the town hall (its addresses, names and servers) have no default:
an example value that silently became the real one would send mail in the name of the
example town. They are declared with `required(...)`; the example goes into the file
`intake init` writes, and a configuration without them is refused, naming each one.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import textwrap
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
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
from pydantic.fields import FieldInfo
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.calendar import parse_hhmm
from bot.errors import UserError
from mailtemplates import check_label, template_block
from parsers.model import DEFAULT_BLOCK_END, DEFAULT_BLOCK_START, DEFAULT_LABELS

ENV_PREFIX = "INTAKE_"
DEFAULT_CONFIG_NAME = "intake.toml"

Security = Literal["ssl", "starttls", "none"]

#: what an environment variable name may look like (POSIX shells accept nothing else)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: names written the usual way (upper case); only those are repeated in messages, since a
#: lower-case "name" may well be a password typed into the wrong key
_ENV_NAME_USUAL = re.compile(r"[A-Z_][A-Z0-9_]*")


class SettingError(ValueError):
    """A model-level problem that belongs to one key: messages then name that key's line
    (or environment variable) instead of just the section."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def required(description: str, example: str) -> Any:
    """A key without a default; `intake init` writes `example` for it."""
    return Field("", description=f"{description} (required)", examples=[example],
                 json_schema_extra={"required": True})


def _flag(info: FieldInfo, name: str) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get(name))


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSource(Section):
    """Base of sections that need a password: never in the file itself.

    Subclasses declare `password_env` and `password_file` (so they appear in their order).
    """

    #: the section's name in the file, for messages
    section: ClassVar[str] = ""

    @field_validator("password_env", check_fields=False)
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not _ENV_NAME.fullmatch(value):
            # Never repeat the value: it is most likely the password itself.
            raise ValueError("must be the NAME of an environment variable, not the password "
                             "itself")
        return value

    @field_validator("password_file", check_fields=False)
    @classmethod
    def _empty_file_is_none(cls, value: str | None) -> str | None:
        return value or None

    def password(self, environ: dict[str, str] | None = None) -> str:
        """Resolve the secret at the moment it is needed (never logged, never stored).

        Messages never contain the password, nor a value that may be one: the file's
        content, or a password_env that does not look like a variable's name.
        """
        env_name: str | None = getattr(self, "password_env", None)
        file_name: str | None = getattr(self, "password_file", None)
        where = f"[{self.section}]"
        if file_name:
            try:
                value = Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UserError(f"{where} password_file: cannot read the file it names "
                                f"({exc.strerror}); it must name a file that holds the "
                                f"password") from None
            except UnicodeDecodeError:
                raise UserError(f"{where} password_file: the file is not UTF-8 text") from None
            if not value:
                raise UserError(f"{where} password_file: the file is empty")
            return value
        if env_name:
            from_env = (os.environ if environ is None else environ).get(env_name)
            if from_env:
                return from_env
            shown = env_name if _ENV_NAME_USUAL.fullmatch(env_name) else "named there"
            if "password_env" in self.model_fields_set:
                raise UserError(f"{where} environment variable {shown} (password_env) is not "
                                f"set; export it before starting intake")
            raise UserError(f"{where} environment variable {shown} (the default password_env) "
                            f"is not set; export it, or set password_env or password_file in "
                            f"{where}")
        raise UserError(f"{where} no password: set password_env (the name of an environment "
                        f"variable holding it) or password_file")


_DATABASE_EXAMPLES = "sqlite:///intake.db or postgresql+psycopg://USER@HOST/DB"


class DatabaseSettings(Section):
    url: str = Field(
        "sqlite:///intake.db",
        description="SQLAlchemy database URL: sqlite:///FILE (relative to this file) or "
        "postgresql+psycopg://USER@HOST/DB (password via the URL only in trusted setups; "
        "prefer PGPASSWORD or .pgpass for PostgreSQL)",
    )

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        # The URL may hold a password: messages name the scheme only, never the URL.
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(f"not a database URL; write {_DATABASE_EXAMPLES}") from None
        driver = url.drivername
        if driver in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
            return value
        if url.get_backend_name() in ("postgresql", "postgres"):
            raise ValueError(f"write postgresql+psycopg:// (intake-bot uses the psycopg 3 "
                             f"driver), not {driver}://")
        raise ValueError(f"{driver}:// is not supported; intake-bot works with SQLite and "
                         f"PostgreSQL: {_DATABASE_EXAMPLES}")


def _address(value: str) -> str:
    """An e-mail address, checked without DNS (like the contacts file's)."""
    if not value:
        return value  # unset: reported as a missing required key
    try:
        return validate_email(value, check_deliverability=False,
                              test_environment=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid address: {exc}") from None


Address = Annotated[str, AfterValidator(_address)]


class MailSettings(Section):
    from_address: Address = required(
        "the address the bot sends from and is replied to", "themen@musterhausen.de"
    )
    from_name: str = required("display name on outgoing mail",
                              "Social-Media-Team Stadt Musterhausen")
    organisation: str = required("the organisation's name as used in mail texts",
                                 "Stadt Musterhausen")
    max_attachment_mb: int = Field(
        20, ge=1, le=200, description="attachments larger than this are listed but not stored"
    )


class ImapSettings(SecretSource):
    section: ClassVar[str] = "imap"

    host: str = required("IMAP server name", "imap.musterhausen.de")
    port: int = Field(993, ge=1, le=65535, description="IMAP port (993 for ssl, 143 otherwise)")
    security: Security = Field(
        "ssl", description="ssl | starttls | none (none is accepted for loopback hosts only)"
    )
    username: str = required("IMAP login name", "themen@musterhausen.de")
    password_env: str | None = Field(
        "INTAKE_IMAP_PASSWORD",
        description="name of the environment variable holding the password (the name, not "
        "the password)",
    )
    password_file: str | None = Field(
        None,
        description="or: a file whose content is the password (e.g. a Docker secret; "
        "relative to this file); takes precedence over password_env",
        examples=["/run/secrets/imap_password"],
        json_schema_extra={"path": True},
    )
    ca_file: str | None = Field(
        None,
        description="PEM file of extra trusted certificates (an internal CA); certificates are "
        "always verified",
        examples=["/etc/ssl/certs/rathaus-ca.pem"],
        json_schema_extra={"path": True},
    )
    folder: str = Field("INBOX", description="the folder replies arrive in")
    processed_folder: str = Field(
        "Intake/Processed", description="processed mail is moved here (created if missing)"
    )
    failed_folder: str = Field(
        "Intake/Failed",
        description="mail that could not be processed or was too large is moved here "
        "(created if missing; `intake inbound list` says why)",
    )
    timeout: int = Field(30, ge=1, description="network timeout in seconds")
    auth: Literal["password", "xoauth2"] = Field(
        "password",
        description="password | xoauth2 (Microsoft 365 / Exchange Online: an app registration's "
        "client-credentials token; password_env/password_file then hold the client secret)",
    )
    oauth_tenant_id: str = Field(
        "", description="xoauth2: the Entra ID (Azure AD) tenant id",
        examples=["00000000-0000-0000-0000-000000000000"],
    )
    oauth_client_id: str = Field(
        "", description="xoauth2: the app registration's application (client) id",
        examples=["00000000-0000-0000-0000-000000000000"],
    )

    @model_validator(mode="after")
    def _oauth_complete(self) -> ImapSettings:
        if self.auth == "xoauth2" and not (self.oauth_tenant_id and self.oauth_client_id):
            raise SettingError("auth", "auth = \"xoauth2\" needs oauth_tenant_id and "
                                       "oauth_client_id")
        return self

    @model_validator(mode="after")
    def _none_only_on_loopback(self) -> ImapSettings:
        _check_loopback(self.security, self.host)
        return self


class SmtpSettings(SecretSource):
    section: ClassVar[str] = "smtp"

    host: str = required("SMTP server name", "smtp.musterhausen.de")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 starttls, 465 ssl)")
    security: Security = Field(
        "starttls", description="ssl | starttls | none (none is accepted for loopback hosts only)"
    )
    username: str | None = Field(
        None,
        description="login name; left out or empty: send without AUTH (a relay that trusts "
        "the host)",
        examples=["themen@musterhausen.de"],
        # most servers want a login: the file `intake init` writes has the line active
        json_schema_extra={"suggested": True},
    )
    password_env: str | None = Field(
        "INTAKE_SMTP_PASSWORD",
        description="name of the environment variable holding the password (the name, not "
        "the password); used only with a username",
    )
    password_file: str | None = Field(
        None,
        description="or: a file whose content is the password (relative to this file); takes "
        "precedence over password_env",
        examples=["/run/secrets/smtp_password"],
        json_schema_extra={"path": True},
    )
    ca_file: str | None = Field(
        None,
        description="PEM file of extra trusted certificates; certificates are always verified",
        examples=["/etc/ssl/certs/rathaus-ca.pem"],
        json_schema_extra={"path": True},
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
    email: Address = required("where the weekly digest goes", "presse@musterhausen.de")
    name: str = required("the officer's name, used in the digest", "Julia Beispiel")


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
    quiet_working_days: int = Field(
        2, ge=0, le=20,
        description="at least this many working days between any two mails the bot sends one "
        "person (requests, reminders and follow-ups counted together; a request is never held "
        "back by it)",
    )
    followup_min_days_before: int = Field(
        3, ge=0, le=60,
        description="no follow-up for a topic that starts sooner than this many days from now "
        "(too late to matter: the officer sees it as incomplete instead)",
    )
    receipts: bool = Field(
        False,
        description="send a short thank-you listing what was understood after each reply "
        "(off: a follow-up already thanks, and a complete answer needs no further mail)",
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


class DigestSettings(Section):
    max_topics: int = Field(
        15, ge=1, le=200,
        description="at most this many topics per list in the officer's weekly digest; the "
        "rest are counted (`intake topics list` shows them all)",
    )
    upcoming_weeks: int = Field(
        6, ge=1, le=26, description="the digest's 'upcoming' list looks this many weeks ahead"
    )
    attach_calendar: bool = Field(
        True, description="attach the upcoming weeks as a calendar file (.ics) to the digest"
    )


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


class InboundSettings(Section):
    max_message_mb: int = Field(
        25, ge=1, le=500,
        description="a received mail larger than this is not fetched; its headers are kept "
        "and a known sender gets a polite note to send it smaller",
    )
    authserv_id: str = Field(
        "",
        description="the authserv-id your own mail server writes into Authentication-Results "
        "(e.g. its host name); when set, mail whose DMARC/SPF/DKIM failed there is set aside "
        "instead of becoming topics",
        examples=["mx.musterhausen.de"],
    )


class RetentionSettings(Section):
    raw_mail_days: int = Field(
        90, ge=0,
        description="days after which `intake purge` deletes received mails' bytes and parse "
        "results and the bytes of sent mails (date, sender, subject and status stay as a "
        "register); 0 keeps them",
    )
    attachments_days: int = Field(
        365, ge=0,
        description="days after which `intake purge` deletes the files that came with replies "
        "(photos: pictures of people); 0 keeps them",
    )
    topics_days: int = Field(
        730, ge=0,
        description="days after a topic's event (without a date: after it arrived) when "
        "`intake purge` deletes it with its history, questions and files; 0 keeps them",
    )


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="log level (-v / -q on the command line shift it)"
    )
    file: str | None = Field(
        None,
        description="also log to this file (relative to this file; every command appends to "
        "it, error messages included); unset: stderr only",
        examples=["intake.log"],
        json_schema_extra={"path": True},
    )


class Settings(Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    officer: OfficerSettings = Field(default_factory=OfficerSettings)
    contacts: ContactsSettings = Field(default_factory=ContactsSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    templates: TemplatesSettings = Field(default_factory=TemplatesSettings)
    inbound: InboundSettings = Field(default_factory=InboundSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    #: where the settings came from (for messages and relative paths); not a setting
    source: str = Field("<defaults>", exclude=True)
    base_dir: str = Field(".", exclude=True)
    #: "section.key" -> "FILE:LINE" or "environment variable NAME", for later messages
    origins: dict[str, str] = Field(default_factory=dict, exclude=True)

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    def origin(self, section: str, key: str) -> str:
        """Where a key's value came from, as messages name it (the file if unknown)."""
        return self.origins.get(f"{section}.{key}", self.source)

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


#: what to say when the configuration file is not where it was looked for
NOT_FOUND = ("configuration file not found (point to yours with --config FILE or "
             "INTAKE_CONFIG; create a new one with `intake init`)")

SECTION_HELP: dict[str, str] = {
    "database": "Where intake-bot keeps contacts, requests, mails and topics.",
    "mail": "How the bot's outgoing mail looks.",
    "imap": "The mailbox the colleagues' replies arrive in.",
    "smtp": "The server the bot sends through.",
    "officer": "The social-media officer who gets the weekly digest.",
    "contacts": "The contacts file (one contact per department, with deputies).",
    "schedule": "When the bot asks, reminds, asks back and reports.",
    "digest": "The officer's weekly digest: how many topics, how far ahead.",
    "templates": "Mail texts and the labels of the fill-in template.",
    "inbound": "Received mail: size limit, and whose authentication results to trust.",
    "retention": "How long mails, files and topics are kept; `intake purge` deletes the rest.",
    "logging": "Logging.",
}

SECTIONS: dict[str, type[Section]] = {
    name: info.annotation
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
}

#: (section, key, example) of every key without a default
REQUIRED_KEYS: tuple[tuple[str, str, str], ...] = tuple(
    (section, key, str(info.examples[0]) if info.examples else "")
    for section, model in SECTIONS.items()
    for key, info in model.model_fields.items()
    if _flag(info, "required")
)

#: the domain of the example town in the files `intake init` writes
EXAMPLE_DOMAIN = "musterhausen.de"


def is_example_address(address: str) -> bool:
    """Whether an address is the example town's (never to be mailed)."""
    return address.rpartition("@")[2].casefold() == EXAMPLE_DOMAIN


def example_values(settings: Settings) -> list[tuple[str, str, str]]:
    """(section, key, value) of each required key that still holds the example value the
    file `intake init` writes: the example town's addresses must never get real mail."""
    found = []
    for section, key, example in REQUIRED_KEYS:
        value = getattr(getattr(settings, section), key, None)
        if example and str(value or "").casefold() == example.casefold():
            found.append((section, key, example))
    return found


#: keys naming a file: resolved relative to the configuration file when loading
PATH_KEYS: tuple[tuple[str, str], ...] = tuple(
    (section, key)
    for section, model in SECTIONS.items()
    for key, info in model.model_fields.items()
    if _flag(info, "path")
)


def _is_loopback(host: str) -> bool:
    name = host.strip().lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def _check_loopback(security: str, host: str) -> None:
    if security == "none" and host and not _is_loopback(host):
        raise SettingError(
            "security",
            f"security = \"none\" sends passwords and mail unencrypted; it is only allowed for "
            f"a loopback host, not {host!r} (use ssl or starttls)",
        )


def _env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


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


def _line_of(text: str, section: str | None, key: str | None) -> int | None:
    """Best-effort line number of a key in a TOML file (tomllib keeps no positions).

    section None: a key above the first section header.
    """
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


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def load_settings(path: Path | None, environ: dict[str, str] | None = None,
                  required: bool = False, complete: bool = True) -> Settings:
    """Load and validate settings; raise UserError with one line per problem.

    path None or a missing default file: built-in defaults plus environment overrides
    (required=True turns a missing file into an error). complete=False accepts a
    configuration without the required keys (they are then ""): for commands that only
    read local files, such as `intake parse`.
    """
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    text = ""
    source = "<defaults>"
    base_dir = Path.cwd()
    found = False
    if path is not None:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            if required:
                raise UserError(f"{path}: {NOT_FOUND}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: cannot read configuration ({exc})") from None
        else:
            found = True
            base_dir = path.resolve().parent
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise UserError(f"{path}: not valid TOML: {exc}; text values need quotes "
                                f"(from_address = \"themen@musterhausen.de\")") from None
    problems: list[str] = []
    origins: dict[str, str] = {}
    for section, values in data.items():
        if section not in SECTIONS:
            if not isinstance(values, dict):
                line = _line_of(text, None, section)
                where = f"{source}:{line}" if line else source
                homes = [name for name, model in SECTIONS.items() if section in model.model_fields]
                hint = f" such as [{homes[0]}]" if homes else ""
                problems.append(f"{where}: {section} is outside any section; put it below its "
                                f"section header{hint}")
                continue
            line = _line_of(text, section, None)
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: unknown section [{section}] "
                            f"(known: {', '.join(SECTIONS)})")
        elif not isinstance(values, dict):
            problems.append(f"{source}: {section} must be a section [{section}]")
        else:
            if "password" in values:
                line = _line_of(text, section, "password")
                where = f"{source}:{line}" if line else source
                problems.append(f"{where}: [{section}] password: secrets are never written in "
                                f"the file; use password_env or password_file")
            for key in values:
                line = _line_of(text, section, key)
                origins[f"{section}.{key}"] = f"{source}:{line}" if line else source
    overrides, env_errors = _env_overrides(environ)
    problems.extend(env_errors)
    if problems:
        raise UserError("\n".join(problems))
    merged: dict[str, Any] = {k: dict(v) for k, v in data.items()}
    for section, values in overrides.items():
        merged.setdefault(section, {}).update(values)
        for key in values:
            origins[f"{section}.{key}"] = f"environment variable {_env_name(section, key)}"
    for section, key in PATH_KEYS:
        value = merged.get(section, {}).get(key)
        if isinstance(value, str) and value:
            resolved = Path(value).expanduser()
            merged[section][key] = str(resolved if resolved.is_absolute() else base_dir / resolved)
    missing = [(section, key, example) for section, key, example in REQUIRED_KEYS
               if complete and _blank(merged.get(section, {}).get(key))]
    if missing and path is not None and not found and not overrides:
        # nothing configured at all: the one thing to say is where the file should be
        raise UserError(f"{path}: {NOT_FOUND}")
    lines: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate({**merged, "source": source,
                                            "base_dir": str(base_dir), "origins": origins})
    except ValidationError as exc:
        lines = _describe(exc, source, text, overrides)
    for section, key, example in missing:
        where = origins.get(f"{section}.{key}", source)
        hint = "" if found else f"; or set {_env_name(section, key)}"
        lines.append(f"{where}: [{section}] {key} is required "
                     f"(e.g. {_toml_value(example)}){hint}")
    if lines or settings is None:
        raise UserError("\n".join(lines))
    return settings


def _describe(exc: ValidationError, source: str, text: str,
              overrides: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        section = loc[0] if loc else ""
        key = loc[1] if len(loc) > 1 else None
        message = err["msg"].removeprefix("Value error, ")
        cause = (err.get("ctx") or {}).get("error")
        if key is None and isinstance(cause, SettingError):
            key = cause.key
        if err["type"] == "extra_forbidden":
            model = SECTIONS.get(section)
            known = ", ".join(model.model_fields) if model else ""
            message = f"unknown key (known: {known})"
        section_overrides = overrides.get(section, {})
        if key is not None and key in section_overrides:
            where = f"environment variable {_env_name(section, key)}"
        else:
            line = _line_of(text, section, key) if text else None
            where = f"{source}:{line}" if line else source
            if key is None and section_overrides:
                # a problem of the whole section, with a part of it from the environment
                names = ", ".join(_env_name(section, k) for k in section_overrides)
                where = f"{where} (with {names})"
        name = f"[{section}] {key}" if key else f"[{section}]"
        # "[imap] password_env must be ..." reads better than "...: must be ..."
        joiner = " " if message.startswith(("must ", "is ")) else ": "
        lines.append(f"{where}: {name}{joiner}{message}")
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
        "# Keys marked (required) have no default: replace the example values with your own.",
        "",
    ]
    for section, model in SECTIONS.items():
        out.append(f"# {SECTION_HELP[section]}")
        out.append(f"[{section}]")
        for key, info in model.model_fields.items():
            out.extend(textwrap.wrap(str(info.description), 88, initial_indent="# ",
                                     subsequent_indent="# "))
            example = info.examples[0] if info.examples else ""
            default = info.get_default(call_default_factory=True)
            if _flag(info, "required") or _flag(info, "suggested"):
                out.append(f"{key} = {_toml_value(example)}")
            elif default is None:
                out.append(f"# {key} = {_toml_value(example)}")
            else:
                out.append(f"{key} = {_toml_value(default)}")
        out.append("")
    return "\n".join(out)
