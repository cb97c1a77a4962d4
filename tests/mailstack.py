"""A real mail stack on loopback for tests and benchmarks: Postfix + Dovecot.

Route: ``smtplib`` -> Postfix (``smtp_port``, plain; ``submission_port``, STARTTLS +
AUTH via Dovecot SASL) -> LMTP -> Dovecot (Maildir) -> IMAP (``imap_port``, plain and
STARTTLS; ``imaps_port``, implicit TLS). Everything (config, self-signed certificate,
users, Maildirs, queue, logs, pid files) lives in one directory; nothing under /etc is
read or changed, and the stack is sealed: it accepts only recipients of its own domains
and refuses every other domain at RCPT time. Logins on IMAP and submission take a
password (PLAIN, LOGIN) or, as Microsoft 365 wants, a bearer token (XOAUTH2, OAUTHBEARER)
from oauth_token(): a JWT signed with the stack's own key that Dovecot checks locally.

Usable without pytest::

    with MailStack.start(Path(tempfile.mkdtemp())) as stack:
        ...

The recipe and its gotchas: /work/shared/spec/mailstack.md. Must run as root (Dovecot
and Postfix drop privileges themselves). When Dovecot or Postfix is missing the harness
installs them with apt-get.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import email.message
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import jwt
from imapclient import IMAPClient

DEFAULT_DOMAIN = "musterhausen.test"
DEFAULT_PASSWORD = "secret"
HOST = "127.0.0.1"
TEMPLATE_DIR = Path(__file__).resolve().with_name("mailstack_templates")

APT_PACKAGES = ("dovecot-imapd", "dovecot-lmtpd", "postfix")
INSTALL_HINT = (
    "Install them with: apt-get update && DEBIAN_FRONTEND=noninteractive "
    "apt-get install -y --no-install-recommends " + " ".join(APT_PACKAGES) + " (as root)."
)

# Environment variables that pin a port instead of picking a free one.
PORT_ENV = {
    "smtp": "INTAKE_TEST_SMTP_PORT",
    "submission": "INTAKE_TEST_SUBMISSION_PORT",
    "smtps": "INTAKE_TEST_SMTPS_PORT",
    "imap": "INTAKE_TEST_IMAP_PORT",
    "imaps": "INTAKE_TEST_IMAPS_PORT",
    "lmtp": "INTAKE_TEST_LMTP_PORT",
}
# Below Linux's ephemeral range (32768-60999) and above the usual service ports.
_PORT_RANGE = (20000, 30000)

# The key id of the stack's token-signing key (dovecot-oauth2.conf.ext.in); the key
# itself is random per stack (MailStack.oauth_key).
OAUTH_KID = "mailstack"
OAUTH_ALG = "HS256"

# Folders Dovecot creates for every user (see dovecot.conf.in); reset() keeps them.
DEFAULT_FOLDERS = frozenset({"INBOX", "Drafts", "Sent", "Trash", "Junk"})

_PLACEHOLDER = re.compile(r"@[A-Z_]+@")
_POSTFIX_BIN = "/usr/sbin/postfix"
_DOVECOT_BIN = "/usr/sbin/dovecot"
_DOVECOT_LMTP = "/usr/lib/dovecot/lmtp"
_SUBDIRS = (
    "etc",
    "run",
    "state",
    "log",
    "tls",
    "mail",
    "postfix/etc",
    "postfix/data",
    "postfix/queue",
)


class MailStackError(RuntimeError):
    """The stack could not be installed, started, changed or stopped."""


def default_users(domain: str = DEFAULT_DOMAIN, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    """The standard test users: the bot, the officer and contact1..contact20."""
    names = ["bot", "officer", *(f"contact{i}" for i in range(1, 21))]
    return {f"{name}@{domain}": password for name in names}


# --------------------------------------------------------------------------- install


def _find_binary(name: str, fallback: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return fallback if os.access(fallback, os.X_OK) else None


def missing_components() -> list[str]:
    """Names of the parts of the stack not installed on this machine."""
    missing = []
    if _find_binary("dovecot", _DOVECOT_BIN) is None:
        missing.append("dovecot")
    if not os.access(_DOVECOT_LMTP, os.X_OK):
        missing.append("dovecot-lmtpd")
    if _find_binary("postfix", _POSTFIX_BIN) is None:
        missing.append("postfix")
    return missing


def ensure_installed(timeout: float = 900.0) -> None:
    """Install Dovecot and Postfix with apt-get when they are missing (needs root)."""
    missing = missing_components()
    if not missing:
        return
    if os.geteuid() != 0:
        raise MailStackError(f"missing {', '.join(missing)} and not root. {INSTALL_HINT}")
    if shutil.which("apt-get") is None:
        raise MailStackError(f"missing {', '.join(missing)} and no apt-get. {INSTALL_HINT}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    commands = [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES],
    ]
    for command in commands:
        try:
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise MailStackError(f"{' '.join(command)} timed out after {timeout:.0f} s") from exc
        if result.returncode != 0:
            raise MailStackError(
                f"{' '.join(command)} failed with exit code {result.returncode}:\n"
                f"{_tail_text(result.stdout + result.stderr)}\n{INSTALL_HINT}"
            )
    still_missing = missing_components()
    if still_missing:
        raise MailStackError(f"still missing after apt-get: {', '.join(still_missing)}")


# --------------------------------------------------------------------------- ports


@dataclass(frozen=True)
class Ports:
    smtp: int
    submission: int
    smtps: int
    imap: int
    imaps: int
    lmtp: int

    def as_dict(self) -> dict[str, int]:
        return {
            "smtp": self.smtp,
            "submission": self.submission,
            "smtps": self.smtps,
            "imap": self.imap,
            "imaps": self.imaps,
            "lmtp": self.lmtp,
        }


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on host:port and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_ports(env: Mapping[str, str] | None = None) -> tuple[Ports, bool]:
    """Free ports for every listener; env vars in PORT_ENV pin single ports.

    Returns the ports and whether all of them were picked at random (then a start-up
    that lost a race for a port may simply retry with new ones).
    """
    env = os.environ if env is None else env
    chosen: dict[str, int] = {}
    for name, var in PORT_ENV.items():
        value = env.get(var, "").strip()
        if not value:
            continue
        if not value.isdigit() or not 1024 <= int(value) <= 65535:
            raise MailStackError(f"{var}={value!r} is not an unprivileged port number")
        port = int(value)
        if port in chosen.values():
            raise MailStackError(f"{var}={port} is already used for another listener")
        if not port_is_free(port):
            raise MailStackError(f"{var}={port} is in use; choose another port")
        chosen[name] = port
    all_random = not chosen
    rng = random.SystemRandom()
    for name in PORT_ENV:
        if name in chosen:
            continue
        for _ in range(200):
            port = rng.randrange(*_PORT_RANGE)
            if port not in chosen.values() and port_is_free(port):
                chosen[name] = port
                break
        else:
            raise MailStackError(f"no free port found in {_PORT_RANGE} for {name}")
    return Ports(**chosen), all_random


# --------------------------------------------------------------------------- processes


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, starttime) of a process, or None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


@dataclass(frozen=True)
class _Proc:
    """A process identified by PID and start time, so a reused PID is never signalled."""

    pid: int
    starttime: int

    @classmethod
    def of(cls, pid: int) -> _Proc | None:
        stat = _proc_stat(pid)
        return None if stat is None else cls(pid, stat[2])

    def alive(self) -> bool:
        stat = _proc_stat(self.pid)
        # A zombie has exited; whoever its parent is will reap it.
        return stat is not None and stat[2] == self.starttime and stat[0] != "Z"

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


def _descendants(root: int) -> list[_Proc]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    found: list[_Proc] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        proc = _Proc.of(pid)
        if proc is not None:
            found.append(proc)
        todo.extend(children.get(pid, []))
    return found


def _wait_gone(procs: Iterable[_Proc], timeout: float) -> list[_Proc]:
    """Wait until all procs have exited; return those still alive after timeout."""
    pending = list(procs)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [proc for proc in pending if proc.alive()]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return pending


def _stop_tree(master: _Proc, timeout: float = 10.0) -> None:
    """SIGTERM a master daemon, then its remaining children; SIGKILL what stays."""
    if not master.alive():
        return
    children = _descendants(master.pid)
    master.signal(signal.SIGTERM)
    # Postfix's master is gone at once. Dovecot's waits about a second for its log
    # process, and its imap processes may outlive it for seconds (gotcha 5): give the
    # master a moment to pass the signal on, then terminate the children ourselves.
    _wait_gone([master], 0.03)
    children += [p for p in _descendants(master.pid) if p not in children]
    for proc in children:
        proc.signal(signal.SIGTERM)
    leftover = _wait_gone([master, *children], timeout)
    for proc in leftover:
        proc.signal(signal.SIGKILL)
    still = _wait_gone(leftover, 2.0)
    if still:
        raise MailStackError(f"processes did not exit: {[p.pid for p in still]}")


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _tail_text(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return _tail_text(path.read_text(errors="replace"), lines)
    except FileNotFoundError:
        return "(no log file)"


# --------------------------------------------------------------------------- the stack


class MailStack:
    """A running Postfix + Dovecot pair in one directory. Create it with MailStack.start()."""

    host: str = HOST

    def __init__(
        self,
        root: Path,
        domains: tuple[str, ...],
        users: dict[str, str],
        ports: Ports,
        mail_fsync: str,
    ) -> None:
        self.root = root
        self.domains = domains
        self.users = users
        self.ports = ports
        self.mail_fsync = mail_fsync
        self.smtp_port = ports.smtp
        self.submission_port = ports.submission
        self.smtps_port = ports.smtps  # implicit TLS + AUTH (as port 465)
        self.imap_port = ports.imap
        self.imaps_port = ports.imaps
        self.lmtp_port = ports.lmtp
        self.cafile = root / "tls" / "cert.pem"
        self.keyfile = root / "tls" / "key.pem"
        self.dovecot_conf = root / "etc" / "dovecot.conf"
        self.oauth_conf = root / "etc" / "dovecot-oauth2.conf.ext"
        self.oauth_key_dir = root / "etc" / "oauth2-keys"
        # HS256 key Dovecot validates XOAUTH2/OAUTHBEARER tokens with (see oauth_token)
        self.oauth_key = secrets.token_bytes(32)
        self.users_file = root / "etc" / "users"
        self.postfix_dir = root / "postfix" / "etc"
        self.recipients_file = self.postfix_dir / "recipients"
        self.queue_dir = root / "postfix" / "queue"
        self.mail_dir = root / "mail"
        self.log_dir = root / "log"
        self.dovecot_log = self.log_dir / "dovecot.log"
        self.postfix_log = self.log_dir / "postfix.log"
        self.dovecot_pid_file = root / "run" / "dovecot" / "master.pid"
        self.postfix_pid_file = self.queue_dir / "pid" / "master.pid"
        self._dovecot: _Proc | None = None
        self._postfix: _Proc | None = None
        self._command_output = ""

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        tmpdir: Path,
        domains: Iterable[str] = (DEFAULT_DOMAIN,),
        users: Mapping[str, str] | None = None,
        *,
        mail_fsync: str = "never",
        timeout: float = 20.0,
    ) -> MailStack:
        """Render the configuration into ``tmpdir/mailstack``, start both servers, wait
        until every port greets. ``users`` maps address -> password; default:
        default_users() of the first domain. Raises MailStackError with the log tails."""
        domain_tuple = tuple(d.strip().lower() for d in domains)
        if not domain_tuple or not all(domain_tuple):
            raise MailStackError("at least one domain is needed")
        user_map = (
            default_users(domain_tuple[0])
            if users is None
            else {a.lower(): p for a, p in users.items()}
        )
        for address, password in user_map.items():
            _check_user(address, password, domain_tuple)
        if os.geteuid() != 0:
            raise MailStackError("the mail stack must be started as root")
        ensure_installed()
        tmpdir = Path(tmpdir).resolve()
        tmpdir.mkdir(parents=True, exist_ok=True)
        # mkdtemp() makes 0700 directories; the servers' users only need to pass through.
        tmpdir.chmod(tmpdir.stat().st_mode | 0o011)
        _check_traversable(tmpdir)
        attempts = 3
        for attempt in range(1, attempts + 1):
            ports, all_random = pick_ports()
            root = tmpdir / "mailstack"
            if root.exists():
                shutil.rmtree(root)
            stack = cls(root, domain_tuple, dict(user_map), ports, mail_fsync)
            try:
                stack._prepare()
                stack.start_dovecot(timeout=timeout)
                stack.start_postfix(timeout=timeout)
            except MailStackError as exc:
                with contextlib.suppress(MailStackError):
                    stack.stop()
                lost_race = "in use" in str(exc)
                if all_random and lost_race and attempt < attempts:
                    continue  # another process took a port between check and bind
                raise
            atexit.register(stack.stop)
            return stack
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop Postfix and Dovecot (by their pid files, then their children) and wait."""
        atexit.unregister(self.stop)
        errors = []
        for stopper in (self.stop_postfix, self.stop_dovecot):
            try:
                stopper()
            except MailStackError as exc:
                errors.append(str(exc))
        if errors:
            raise MailStackError("; ".join(errors))

    def __enter__(self) -> MailStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start_dovecot(self, timeout: float = 20.0) -> None:
        if self.dovecot_running:
            return
        dovecot = _find_binary("dovecot", _DOVECOT_BIN) or "dovecot"
        self._run([dovecot, "-c", str(self.dovecot_conf)])
        self._dovecot = self._proc_from_pid_file(self.dovecot_pid_file, "Dovecot", timeout)
        deadline = time.monotonic() + timeout
        for name, port in (("imap", self.imap_port), ("lmtp", self.lmtp_port)):
            self._wait_greeting(name, port, b"* OK" if name == "imap" else b"220", deadline)
        self._wait_greeting("imaps", self.imaps_port, b"* OK", deadline, tls=True)

    def stop_dovecot(self) -> None:
        proc = self._dovecot or self._proc_from_pid_file_now(self.dovecot_pid_file)
        self._dovecot = None
        if proc is not None:
            _stop_tree(proc)

    def start_postfix(self, timeout: float = 20.0) -> None:
        """Start Postfix (again); SMTP and submission ports greet when this returns."""
        if self.postfix_running:
            return
        self._run([self._postfix_bin(), "-c", str(self.postfix_dir), "start"])
        self._postfix = self._proc_from_pid_file(self.postfix_pid_file, "Postfix", timeout)
        deadline = time.monotonic() + timeout
        self._wait_greeting("smtp", self.smtp_port, b"220", deadline)
        self._wait_greeting("submission", self.submission_port, b"220", deadline)
        self._wait_greeting("smtps", self.smtps_port, b"220", deadline, tls=True)

    def stop_postfix(self) -> None:
        """Stop Postfix: SMTP connections are refused until start_postfix()."""
        proc = self._postfix or self._proc_from_pid_file_now(self.postfix_pid_file)
        self._postfix = None
        if proc is not None:
            _stop_tree(proc)

    @property
    def dovecot_running(self) -> bool:
        return self._dovecot is not None and self._dovecot.alive()

    @property
    def postfix_running(self) -> bool:
        return self._postfix is not None and self._postfix.alive()

    @property
    def pids(self) -> list[int]:
        """PIDs of the running masters and all their children (for leak checks)."""
        result = []
        for proc in (self._dovecot, self._postfix):
            if proc is not None and proc.alive():
                result.append(proc.pid)
                result.extend(p.pid for p in _descendants(proc.pid))
        return result

    # ------------------------------------------------------------------ users

    def add_user(self, address: str, password: str = DEFAULT_PASSWORD) -> None:
        """Add (or change the password of) a mailbox; Postfix accepts it on return."""
        address = address.lower()
        _check_user(address, password, self.domains)
        self.users[address] = password
        self._write_users()
        if self._postfix is not None and self._postfix.alive():
            # What `postfix reload` does, minus its second-long integrity check: SIGHUP
            # makes the master re-read its config and replace its smtpd processes.
            self._postfix.signal(signal.SIGHUP)
            self._wait_recipient_accepted(address)

    # ------------------------------------------------------------------ tokens

    def oauth_token(
        self,
        user: str,
        *,
        expires_in: int = 3600,
        now: float | None = None,
        key: bytes | None = None,
        kid: str = OAUTH_KID,
        **claims: Any,
    ) -> str:
        """An access token Dovecot accepts for XOAUTH2/OAUTHBEARER logins as ``user``.

        A JWT signed with the stack's key the way Dovecot 2.3 checks it locally: header
        typ=JWT, alg=HS256, kid; claims sub (= the mailbox, lower-cased by Dovecot), iat,
        nbf, exp (= now + expires_in; negative: already expired) and active=true.
        ``claims`` add to or replace these (``active=False``, another ``sub``, ``iss``);
        ``key``/``kid`` sign with another key. ``now`` defaults to the clock because
        Dovecot compares with its own clock.
        """
        issued = int(time.time() if now is None else now)
        body: dict[str, Any] = {
            "sub": user,
            "iat": issued,
            "nbf": issued,
            "exp": issued + expires_in,
            "active": True,
            **claims,
        }
        signing_key = self.oauth_key if key is None else key
        return jwt.encode(body, signing_key, algorithm=OAUTH_ALG, headers={"kid": kid})

    # ------------------------------------------------------------------ clients

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly the stack's certificate."""
        context = ssl.create_default_context(cafile=str(self.cafile))
        context.check_hostname = True
        return context

    def imap(
        self,
        address: str | None = None,
        password: str | None = None,
        *,
        security: Literal["plain", "starttls", "ssl"] = "plain",
        host: str | None = None,
        timeout: float = 10.0,
    ) -> IMAPClient:
        """A connected IMAPClient; logged in when address is given.

        security: "plain" (imap_port), "starttls" (imap_port + STARTTLS) or "ssl"
        (imaps_port, implicit TLS). The certificate is verified in both TLS modes.
        """
        host = host or self.host
        if security == "ssl":
            client = IMAPClient(
                host,
                port=self.imaps_port,
                ssl=True,
                ssl_context=self.ssl_context(),
                timeout=timeout,
            )
        elif security in ("plain", "starttls"):
            client = IMAPClient(host, port=self.imap_port, ssl=False, timeout=timeout)
            if security == "starttls":
                client.starttls(self.ssl_context())
        else:
            raise ValueError(f"unknown security {security!r}")
        if address is not None:
            try:
                client.login(address, self._password(address, password))
            except BaseException:
                client.shutdown()  # no half-open socket left for a ResourceWarning
                raise
        return client

    def smtp(self, *, timeout: float = 10.0) -> smtplib.SMTP:
        """A connected SMTP client on the plain (unauthenticated) port."""
        return smtplib.SMTP(self.host, self.smtp_port, timeout=timeout)

    def send(
        self,
        message: email.message.Message | bytes,
        from_addr: str,
        to_addrs: Iterable[str],
    ) -> None:
        """Submit one message on the plain SMTP port."""
        recipients = list(to_addrs)
        with self.smtp() as client:
            if isinstance(message, bytes):
                client.sendmail(from_addr, recipients, message)
            else:
                client.send_message(message, from_addr, recipients)

    def wait_for_messages(
        self,
        address: str,
        password: str | None = None,
        count: int = 1,
        folder: str = "INBOX",
        timeout: float = 10.0,
    ) -> list[bytes]:
        """Poll until ``folder`` holds at least ``count`` messages; return all of them as
        raw bytes in UID order (fetched with BODY.PEEK[], so \\Seen stays unset)."""
        deadline = time.monotonic() + timeout
        seen = 0
        client = self.imap(address, password)
        try:
            while True:
                if client.folder_exists(folder):
                    client.select_folder(folder, readonly=True)
                    uids = sorted(client.search("ALL"))
                    seen = len(uids)
                    if seen >= count:
                        fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
                        return [bytes(fetched[uid][b"BODY[]"]) for uid in uids]
                    client.unselect_folder()
                if time.monotonic() >= deadline:
                    raise MailStackError(
                        f"{address} {folder}: {seen} of {count} messages after {timeout} s; "
                        f"Postfix log tail:\n{_tail(self.postfix_log, 15)}"
                    )
                time.sleep(0.05)
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    # ------------------------------------------------------------------ state

    def queue_files(self) -> list[Path]:
        """Messages in Postfix's queue (maildrop, incoming, active, deferred, hold)."""
        found: list[Path] = []
        for name in ("maildrop", "incoming", "active", "deferred", "hold"):
            directory = self.queue_dir / name
            if directory.is_dir():
                found.extend(p for p in directory.rglob("*") if p.is_file())
        return found

    def wait_queue_empty(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.queue_files():
            if time.monotonic() >= deadline:
                raise MailStackError(
                    f"Postfix queue not empty after {timeout} s; log tail:\n"
                    f"{_tail(self.postfix_log, 15)}"
                )
            time.sleep(0.05)

    def maildir(self, address: str) -> Path:
        local, _, domain = address.lower().partition("@")
        return self.mail_dir / domain / local / "Maildir"

    def reset(self) -> None:
        """Back to a clean state between tests: both servers running, queue emptied,
        every message and every user-created folder deleted (via IMAP, so Dovecot's
        indexes stay consistent). Users added with add_user() are kept."""
        self.start_dovecot()
        self.start_postfix()
        self._run([self._postfix_sbin("postsuper"), "-c", str(self.postfix_dir), "-d", "ALL"])
        for address in sorted(self.users):
            if self.maildir(address).is_dir():
                self._clear_mailbox(address)

    def dovecot_log_size(self) -> int:
        """Where the Dovecot log ends now: pass it to wait_for_dovecot_log(since=...)."""
        try:
            return self.dovecot_log.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for_dovecot_log(self, text: str, since: int = 0, timeout: float = 10.0) -> str:
        """Wait until the Dovecot log, from byte ``since`` on, contains ``text``; return
        that part. Dovecot's log process writes shortly after the event it logs."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.dovecot_log.open("rb") as log:
                    log.seek(since)
                    part = log.read().decode(errors="replace")
            except FileNotFoundError:
                part = ""
            if text in part:
                return part
            if time.monotonic() >= deadline:
                raise MailStackError(
                    f"{text!r} not in the Dovecot log after {timeout} s; new lines:\n"
                    f"{_tail_text(part, 15)}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of both logs and of the last start command, for error messages."""
        return (
            f"--- {self.dovecot_log}\n{_tail(self.dovecot_log, lines)}\n"
            f"--- {self.postfix_log}\n{_tail(self.postfix_log, lines)}\n"
            f"--- last command output\n{_tail_text(self._command_output, lines)}"
        )

    def __repr__(self) -> str:
        return f"MailStack(root={self.root}, ports={self.ports.as_dict()})"

    # ------------------------------------------------------------------ internals

    def _password(self, address: str, password: str | None) -> str:
        if password is not None:
            return password
        try:
            return self.users[address.lower()]
        except KeyError:
            raise MailStackError(f"unknown user {address}; pass its password") from None

    def _clear_mailbox(self, address: str) -> None:
        client = self.imap(address)
        try:
            listed = client.list_folders()
            # Children before parents, so a parent is empty when it is deleted.
            for flags, _sep, folder in sorted(listed, key=lambda f: (-f[2].count("/"), f[2])):
                if folder not in DEFAULT_FOLDERS:
                    try:
                        client.delete_folder(folder)
                    except IMAPClient.Error:
                        # A parent implied by its child ("A" of "A/B") is gone with it.
                        if client.folder_exists(folder) and b"\\NonExistent" not in flags:
                            raise
                    continue
                client.select_folder(folder)
                uids = client.search("ALL")
                if uids:
                    client.delete_messages(uids)
                    client.expunge()
                client.unselect_folder()
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def _prepare(self) -> None:
        mail_pw = pwd.getpwnam("mail")
        self.root.mkdir(mode=0o755)
        for sub in _SUBDIRS:
            (self.root / sub).mkdir(mode=0o755, parents=True)
        self.root.chmod(0o755)
        os.chown(self.mail_dir, mail_pw.pw_uid, mail_pw.pw_gid)
        postfix_pw = pwd.getpwnam("postfix")
        os.chown(self.root / "postfix" / "data", postfix_pw.pw_uid, postfix_pw.pw_gid)
        self._make_certificate()
        values = {
            "DIR": str(self.root),
            "MAIL_UID": str(mail_pw.pw_uid),
            "FSYNC": self.mail_fsync,
            "FIRST_DOMAIN": self.domains[0],
            "DOMAINS": ", ".join(self.domains),
            "SMTP_PORT": str(self.smtp_port),
            "SUBM_PORT": str(self.submission_port),
            "SMTPS_PORT": str(self.smtps_port),
            "IMAP_PORT": str(self.imap_port),
            "IMAPS_PORT": str(self.imaps_port),
            "LMTP_PORT": str(self.lmtp_port),
        }
        self._render("dovecot.conf.in", self.dovecot_conf, values)
        self._render("dovecot-oauth2.conf.ext.in", self.oauth_conf, values)
        self._write_oauth_key()
        self._render("postfix-main.cf.in", self.postfix_dir / "main.cf", values)
        self._render("postfix-master.cf.in", self.postfix_dir / "master.cf", values)
        self._write_users()

    @staticmethod
    def _render(template: str, target: Path, values: Mapping[str, str]) -> None:
        text = (TEMPLATE_DIR / template).read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        left = sorted(set(_PLACEHOLDER.findall(text)))
        if left:
            raise MailStackError(f"{template}: placeholders without a value: {left}")
        target.write_text(text)

    def _write_users(self) -> None:
        # Dovecot re-reads a changed passwd-file by itself; Postfix needs a reload.
        users = "".join(f"{a}:{{PLAIN}}{p}::::::\n" for a, p in sorted(self.users.items()))
        recipients = "".join(f"{a} OK\n" for a in sorted(self.users))
        _write_atomic(self.users_file, users, 0o644)  # read by user dovecot (auth)
        _write_atomic(self.recipients_file, recipients, 0o644)

    def _write_oauth_key(self) -> None:
        # Dovecot's lookup key is <azp or "default">/<alg>/<kid>; the file holds the
        # base64 of the raw key. Read by the auth process (user dovecot).
        directory = self.oauth_key_dir / "default" / OAUTH_ALG
        directory.mkdir(mode=0o755, parents=True)
        for path in (self.oauth_key_dir, self.oauth_key_dir / "default", directory):
            path.chmod(0o755)
        _write_atomic(directory / OAUTH_KID, base64.b64encode(self.oauth_key).decode(), 0o644)

    def _make_certificate(self) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise MailStackError("openssl is missing: apt-get install -y openssl")
        self._run(
            [
                openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-days", "30", "-subj", "/CN=localhost",
                "-keyout", str(self.keyfile), "-out", str(self.cafile),
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
                "-addext", "extendedKeyUsage=serverAuth",
            ]
        )  # fmt: skip
        self.keyfile.chmod(0o600)
        self.cafile.chmod(0o644)

    def _run(self, command: list[str], timeout: float = 60.0) -> str:
        # Output goes to a file, not a pipe: the daemons started by dovecot/postfix
        # inherit it, and a pipe would stay open (and block us) as long as they run.
        with tempfile.TemporaryFile() as out:
            try:
                result = subprocess.run(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    timeout=timeout, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise MailStackError(f"{' '.join(command)} timed out after {timeout} s") from exc
            except OSError as exc:
                raise MailStackError(f"{' '.join(command)}: {exc}") from exc
            out.seek(0)
            output = out.read().decode(errors="replace")
        self._command_output = output
        if result.returncode != 0:
            raise MailStackError(
                f"{' '.join(command)} exited with {result.returncode}:\n{self.log_tail()}"
            )
        return output

    def _postfix_bin(self) -> str:
        return _find_binary("postfix", _POSTFIX_BIN) or "postfix"

    @staticmethod
    def _postfix_sbin(name: str) -> str:
        return _find_binary(name, f"/usr/sbin/{name}") or name

    def _proc_from_pid_file(self, path: Path, what: str, timeout: float) -> _Proc:
        deadline = time.monotonic() + timeout
        while True:
            proc = self._proc_from_pid_file_now(path)
            if proc is not None and proc.alive():
                return proc
            if time.monotonic() >= deadline:
                raise MailStackError(
                    f"{what} wrote no live PID to {path} within {timeout} s:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    @staticmethod
    def _proc_from_pid_file_now(path: Path) -> _Proc | None:
        pid = _read_pid(path)
        return None if pid is None else _Proc.of(pid)

    def _wait_greeting(
        self, name: str, port: int, expected: bytes, deadline: float, *, tls: bool = False
    ) -> None:
        last_error = "no answer"
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, port), timeout=2.0) as raw:
                    if tls:
                        with self.ssl_context().wrap_socket(raw, server_hostname=self.host) as s:
                            greeting = s.recv(256)
                    else:
                        greeting = raw.recv(256)
                if greeting.startswith(expected):
                    return
                last_error = f"unexpected greeting {greeting[:80]!r}"
            except ssl.SSLCertVerificationError as exc:
                raise MailStackError(
                    f"{name} port {port}: certificate not accepted: {exc}\n{self.log_tail()}"
                ) from exc
            except OSError as exc:  # not listening yet, or closed during start-up
                last_error = str(exc)
            time.sleep(0.05)
        raise MailStackError(
            f"{name} port {port} did not greet in time ({last_error})\n{self.log_tail()}"
        )

    def _wait_recipient_accepted(self, address: str, timeout: float = 10.0) -> None:
        # After `postfix reload` new smtpd processes read the new table; poll until one does.
        deadline = time.monotonic() + timeout
        while True:
            with self.smtp() as client:
                client.ehlo()
                # an internationalised address needs SMTPUTF8 (smtplib then speaks UTF-8)
                client.mail("", [] if address.isascii() else ["SMTPUTF8"])
                code, reply = client.rcpt(address)
                client.rset()
            if code == 250:
                return
            if time.monotonic() >= deadline:
                raise MailStackError(f"Postfix still refuses {address}: {code} {reply!r}")
            time.sleep(0.1)


def _check_user(address: str, password: str, domains: tuple[str, ...]) -> None:
    local, at, domain = address.partition("@")
    if not at or not local or domain not in domains:
        raise MailStackError(f"{address!r} is not an address in {', '.join(domains)}")
    bad = set(":\n\r ") & set(address + password)
    if bad or not password:
        raise MailStackError(f"address/password for {address!r} must be non-empty without {bad}")


def _check_traversable(path: Path) -> None:
    # Dovecot (user mail) and Postfix (user postfix) must reach their files below path.
    for parent in (path, *path.parents):
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise MailStackError(
                f"{parent} is not searchable by other users (mode "
                f"{oct(parent.stat().st_mode & 0o777)}); start the stack in a directory like "
                "tempfile.mkdtemp() under /tmp, not pytest's tmp_path"
            )


def _write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
