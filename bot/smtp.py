"""SMTP delivery: the one module that imports smtplib.

Library exceptions are translated here into the small tree in bot.errors (transient versus
permanent), so the outbox can decide about retries without knowing smtplib.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from types import TracebackType

from bot.config import SmtpSettings
from bot.contacts import needs_smtputf8
from bot.errors import ConnectionProblem, PermanentDeliveryError, TransientDeliveryError
from bot.logs import register_secret
from bot.mailer import wire_address

#: every line says "intake: ...": the admin knows the program, not its modules
log = logging.getLogger("intake")

#: construction seam: tests and `intake check` use the real classes; nothing monkeypatches
SmtpFactory = Callable[[SmtpSettings, ssl.SSLContext], smtplib.SMTP]


#: (ca_file, its modification time) -> context: loading the system trust store costs more
#: than sending a mail, and the outbox opens several connections every tick. A changed
#: ca_file is loaded afresh.
_contexts: dict[tuple[str | None, float | None], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """System trust store plus an optional extra CA; verification is never switched off."""
    try:
        key = (ca_file, os.stat(ca_file).st_mtime if ca_file else None)
    except OSError as exc:
        raise ConnectionProblem(f"{ca_file}: cannot load ca_file ({exc})") from None
    with _contexts_lock:
        cached = _contexts.get(key)
        if cached is not None:
            return cached
        context = ssl.create_default_context()
        if ca_file:
            try:
                context.load_verify_locations(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConnectionProblem(f"{ca_file}: cannot load ca_file ({exc})") from None
        _contexts[key] = context
        return context


def _connect(settings: SmtpSettings, context: ssl.SSLContext) -> smtplib.SMTP:
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                context=context)
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _text(resp: bytes | str) -> str:
    return (resp.decode("utf-8", "replace") if isinstance(resp, bytes) else resp).strip()


class SmtpTransport:
    """One connection for a batch: `with SmtpTransport(...) as t: t.send(...)`."""

    def __init__(self, settings: SmtpSettings, password: str | None,
                 factory: SmtpFactory = _connect) -> None:
        self.settings = settings
        self._password = password
        register_secret(password)
        self._factory = factory
        self._smtp: smtplib.SMTP | None = None

    @property
    def server(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def open(self) -> None:
        """Connect, secure and log in; ConnectionProblem with a one-line reason."""
        self._translated_open()

    def _open(self) -> None:
        s = self.settings
        smtp: smtplib.SMTP | None = None
        try:
            context = tls_context(s.ca_file)
            smtp = self._factory(s, context)
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ConnectionProblem(f"SMTP {self.server}: the server offers no STARTTLS; "
                                            f"check [smtp] security and port")
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, self._password or "")
        except BaseException:
            if smtp is not None:
                smtp.close()
            self._smtp = None
            raise
        self._smtp = smtp

    def _translated_open(self) -> None:
        s = self.settings
        try:
            self._open()
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectionProblem(f"SMTP {self.server}: login as {s.username} refused "
                                    f"({exc.smtp_code} {_text(exc.smtp_error)}); check the "
                                    f"password", code=exc.smtp_code) from None
        except (ssl.SSLCertVerificationError, ssl.CertificateError) as exc:
            raise ConnectionProblem(f"SMTP {self.server}: TLS certificate not trusted "
                                    f"({getattr(exc, 'verify_message', exc)}); set [smtp] ca_file "
                                    f"for an internal CA") from None
        except ssl.SSLError as exc:
            raise ConnectionProblem(f"SMTP {self.server}: TLS failed ({exc.reason}); check "
                                    f"[smtp] security and port") from None
        except smtplib.SMTPNotSupportedError as exc:
            text = str(exc)
            if "AUTH" in text:
                hint = ("the server offers no login: for a relay that trusts this host (an "
                        "Exchange anonymous relay, say) leave [smtp] username empty")
            elif "STARTTLS" in text:
                hint = ("the server offers no STARTTLS on this port: check [smtp] security "
                        "and port (465 is ssl, 587 starttls)")
            else:
                hint = text
            raise ConnectionProblem(f"SMTP {self.server}: {hint}") from None
        except smtplib.SMTPResponseException as exc:
            raise ConnectionProblem(f"SMTP {self.server}: {exc.smtp_code} "
                                    f"{_text(exc.smtp_error)}", code=exc.smtp_code) from None
        except socket.gaierror:
            raise ConnectionProblem(f"SMTP {self.server}: unknown host {s.host}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectionProblem(f"SMTP {self.server}: cannot connect "
                                    f"({exc.__class__.__name__}: {exc})") from None

    def __enter__(self) -> SmtpTransport:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (OSError, smtplib.SMTPException):
            self._smtp.close()
        self._smtp = None

    def _drop(self) -> None:
        """Forget a broken connection, closing its socket."""
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def send(self, sender: str, recipients: list[str], raw: bytes) -> None:
        """Hand one mail to the server; raises TransientDeliveryError or
        PermanentDeliveryError. Returns only once the server accepted it."""
        if self._smtp is None:
            self.open()
        assert self._smtp is not None
        try:
            sender, recipients = wire_address(sender), [wire_address(r) for r in recipients]
        except ValueError as exc:
            raise PermanentDeliveryError(str(exc)) from None
        options: list[str] = []
        odd = ", ".join(a for a in (sender, *recipients) if needs_smtputf8(a))
        if odd:
            if not self._smtp.has_extn("smtputf8"):
                # no retry can help: the address has no ASCII form and this server cannot
                # carry it (a server that offers SMTPUTF8, or an ASCII address, can)
                raise PermanentDeliveryError(
                    f"{odd}: the address has non-ASCII characters and SMTP {self.server} "
                    f"does not offer SMTPUTF8; give the contact an ASCII address (or use a "
                    f"server with SMTPUTF8), then run `intake outbox --retry-failed`")
            options.append("SMTPUTF8")
        try:
            if self._smtp.has_extn("pipelining"):
                refused = _pipelined(self._smtp, sender, recipients, raw, options)
            else:
                refused = self._smtp.sendmail(sender, recipients, raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {code} {_text(msg)}"
                               for rcpt, (code, msg) in exc.recipients.items())
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused: {detail}",
                                             code=max(codes)) from None
            raise TransientDeliveryError(f"recipient deferred: {detail}", code=min(codes)) from None
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise ConnectionProblem(f"SMTP {self.server}: connection lost ({exc})") from None
        except smtplib.SMTPResponseException as exc:
            message = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            if exc.smtp_code >= 500:
                raise PermanentDeliveryError(message, code=exc.smtp_code) from None
            raise TransientDeliveryError(message, code=exc.smtp_code) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise ConnectionProblem(f"SMTP {self.server}: {exc.__class__.__name__}: "
                                    f"{exc}") from None
        if refused:  # some recipients refused, others accepted: we send one per mail
            detail = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in refused.items())
            log.warning("partly refused: %s", detail)


def _dot_stuffed(raw: bytes) -> bytes:
    """The DATA section as smtplib's `data()` sends bytes: leading dots doubled, ended by
    CRLF "." CRLF."""
    body = _LEADING_DOT.sub(b"..", raw)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


_LEADING_DOT = re.compile(rb"(?m)^\.")


#: a mail up to this size goes out with CHUNKING in one write, commands and bytes; a larger
#: one waits for MAIL and RCPT to be accepted before its bytes are sent (a refusal for its
#: size comes at MAIL FROM)
CHUNK_WITH_COMMANDS = 256 * 1024


def _pipelined(smtp: smtplib.SMTP, sender: str, recipients: list[str], raw: bytes,
               options: list[str]) -> dict[str, tuple[int, bytes]]:
    """`smtp.sendmail` with PIPELINING (RFC 2920): one round trip per mail where the server
    also offers CHUNKING (RFC 3030: MAIL, RCPT and `BDAT <size> LAST` with the mail's bytes
    in one write; Postfix, Exchange and Microsoft 365 offer both), else two (MAIL, RCPT and
    DATA in one write, then the content), instead of smtplib's four. A local Postfix takes
    about a fifth more mail per second with two, and spends less CPU on it.

    Raises what `sendmail` raises for the same answers (SMTPSenderRefused,
    SMTPRecipientsRefused, SMTPDataError), with RSET after a refusal so that the
    connection stays usable; a 421 closes it, as smtplib does.
    """
    chunked = smtp.has_extn("chunking") and len(raw) < CHUNK_WITH_COMMANDS
    if chunked and not raw.endswith(b"\r\n"):
        raw += b"\r\n"  # as DATA ends it: the same bytes arrive either way
    if smtp.has_extn("size"):
        options = [*options, f"SIZE={len(raw)}"]
    encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
    tail = "".join(f" {option}" for option in options)
    last = f"BDAT {len(raw)} LAST\r\n" if chunked else "DATA\r\n"
    commands = [f"MAIL FROM:<{sender}>{tail}\r\n",
                *(f"RCPT TO:<{rcpt}>\r\n" for rcpt in recipients), last]
    # a chunk's bytes are counted, not ended by a dot: they go as they are, and a server
    # that refused MAIL or every RCPT still reads them before it answers BDAT
    smtp.send("".join(commands).encode(encoding) + (raw if chunked else b""))
    mail = smtp.getreply()
    answers = [smtp.getreply() for _ in recipients]
    data = smtp.getreply()
    closing = any(code == 421 for code, _ in (mail, *answers, data))
    refused = {rcpt: answer for rcpt, answer in zip(recipients, answers, strict=True)
               if answer[0] not in (250, 251)}
    problem: smtplib.SMTPException
    if mail[0] != 250 or len(refused) == len(recipients):
        problem = (smtplib.SMTPSenderRefused(mail[0], mail[1], sender) if mail[0] != 250
                   else smtplib.SMTPRecipientsRefused(refused))
        if data[0] == 354 and not chunked:
            # a server that took DATA without a recipient: an empty mail it must then refuse
            smtp.send(b".\r\n")
            smtp.getreply()
    elif not chunked and data[0] != 354:
        problem = smtplib.SMTPDataError(*data)
    else:
        if not chunked:  # the content, now that DATA was taken
            smtp.send(_dot_stuffed(raw))
            data = smtp.getreply()
        if data[0] == 250:
            return refused
        closing = closing or data[0] == 421
        problem = smtplib.SMTPDataError(*data)
    if closing:
        smtp.close()
    else:
        try:
            smtp.rset()
        except (OSError, smtplib.SMTPException):
            smtp.close()  # the next mail finds it closed and says so
    raise problem
