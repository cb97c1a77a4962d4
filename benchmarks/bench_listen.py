"""Benchmark (run by hand): the listening flow on a real Dovecot mailbox, side by side with a
bare imapclient + stdlib loop over the very same messages.

    .venv/bin/python -m benchmarks.bench_listen                  # 2,000 replies, a few minutes
    .venv/bin/python -m benchmarks.bench_listen --count 10000    # the full run
    .venv/bin/python -m benchmarks.bench_listen --no-pg --latency 0 --no-profile

Starts its own Postfix + Dovecot on loopback (root; see tests/mailstack.py), APPENDs N
synthetic replies (benchmarks/gen_corpus.py: mixed clients, 10 % with 0.2-1 MB images,
auto-replies, bounces) into a corpus folder, and for each measurement copies them into
INBOX on the server. Each measurement runs in a subprocess of its own, so its peak RSS is
its own:

- bare: log in, SELECT, SEARCH, FETCH BODY.PEEK[] in batches of 100 UIDs, then
  `email.message_from_bytes(raw, policy=policy.default)` and `walk()` for each message;
- bot: one `Poller.once()` pass as `intake poll --once` runs it (store raw, commit, parse,
  match, topics and attachments, a transaction per batch of mails, move to the processed
  folder), on SQLite and on PostgreSQL (a fresh schema, dropped afterwards). Its CPU time
  counts this process and, apart, the parser's helper processes, with their peak RSS.

IMAP round trips are counted by a subclass of IMAPClient handed to the Mailbox adapter's
construction seam (every tagged command; the CAPABILITY of the greeting is not counted).
Then the reply-to-topic latency under IDLE: a continuous `intake poll` process, replies
submitted over SMTP one after the other, the time until each one's topic row is visible
(median of --latency N). Last, a cProfile of one bot pass on SQLite (top 15).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import email
import io
import json
import os
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from email import policy
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

# Only the stdlib and imapclient at the top: the bare worker's peak RSS is then its own, and
# the bot's imports show up in the bot's figure (and in the baseline worker's).
from imapclient import IMAPClient

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from benchmarks.gen_corpus import DEFAULT_SEED, PEOPLE, message  # noqa: E402

if TYPE_CHECKING:
    from tests.mailstack import MailStack

BOT = "bot@musterhausen.test"
PASSWORD = "secret"
CORPUS = "Bench/Corpus"
NOW = "2027-01-12T10:00:00+01:00"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LATENCY_SENDER = "contact1@musterhausen.test"


class CountingIMAPClient(IMAPClient):  # type: ignore[misc]  # imapclient ships no types
    """IMAPClient that counts its tagged commands (one round trip each) by name."""

    commands: ClassVar[Counter[str]] = Counter()

    def _create_IMAP4(self) -> Any:
        imap = super()._create_IMAP4()
        send, new_tag = imap.send, imap._new_tag
        state: dict[str, bytes | None] = {"tag": None}

        def counted_tag() -> Any:
            tag = new_tag()
            state["tag"] = tag if isinstance(tag, bytes) else str(tag).encode()
            return tag

        def counted_send(data: bytes) -> Any:
            tag = state["tag"]
            if tag is not None and data.startswith(tag + b" "):
                words = data.split(b" ", 3)
                name = words[1].decode("ascii", "replace").strip().upper()
                if name == "UID" and len(words) > 2:
                    name += " " + words[2].decode("ascii", "replace").strip().upper()
                CountingIMAPClient.commands[name] += 1
                state["tag"] = None
            return send(data)

        imap._new_tag = counted_tag
        imap.send = counted_send
        return imap


# --- the site: config, contacts, database ---------------------------------------------------

def write_site(site: Path, stack: MailStack, url: str) -> Path:
    site.mkdir(parents=True, exist_ok=True)
    lines = ["contacts:"]
    for first, last, dept in PEOPLE:
        lines += [f"  - department: {dept}", f"    email: {first.lower()}.{last.lower()}"
                  f"@musterhausen.de"]
    lines += ["  - department: Pressestelle", f"    email: {LATENCY_SENDER}"]
    (site / "contacts.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (site / "intake.toml").write_text(f"""
[database]
url = "{url}"
[mail]
from_address = "{BOT}"
from_name = "Social-Media-Team"
organisation = "Stadt Musterhausen"
[smtp]
host = "127.0.0.1"
port = {stack.smtp_port}
security = "none"
username = ""
[imap]
host = "127.0.0.1"
port = {stack.imaps_port}
security = "ssl"
username = "{BOT}"
password_env = "BENCH_IMAP_PW"
ca_file = "{stack.cafile}"
[officer]
email = "officer@musterhausen.test"
name = "Julia Beispiel"
[schedule]
state = "NW"
poll_seconds = 600
""", encoding="utf-8")
    from bot.usecases import sync_contacts_file
    from db import migrate

    app = app_for(site)
    try:
        migrate.upgrade(app.engine)
        sync_contacts_file(app, confirmed=True)
    finally:
        app.close()
    return site


def app_for(site: Path) -> Any:
    from bot.app import App

    os.environ["BENCH_IMAP_PW"] = PASSWORD
    return App(config_path=site / "intake.toml", config_explicit=True, now_override=NOW)


class PgSchema:
    """A fresh schema on the test server; its URL points search_path at it."""

    def __init__(self, base: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy import text as sql
        from sqlalchemy.engine import make_url

        self.name = f"bench_listen_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(base)
        with self.admin.begin() as conn:
            conn.execute(sql(f'CREATE SCHEMA "{self.name}"'))
        self.url = make_url(base).update_query_dict(
            {"options": f"-csearch_path={self.name}"}).render_as_string(hide_password=False)

    def drop(self) -> None:
        from sqlalchemy import text

        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


# --- the mailbox -----------------------------------------------------------------------------

def fill_corpus(stack: MailStack, count: int, seed: int) -> tuple[int, Counter[str]]:
    """APPEND the corpus once; returns its size in bytes and the mix by size class."""
    client = stack.imap(BOT, security="ssl")
    total = 0
    mix: Counter[str] = Counter()
    try:
        if not client.folder_exists(CORPUS):
            client.create_folder(CORPUS)
        for i in range(count):
            raw = message(i, seed).replace(b"\n", b"\r\n")
            total += len(raw)
            mix["with images" if len(raw) > 100_000 else "small"] += 1
            client.append(CORPUS, raw)
    finally:
        client.logout()
    return total, mix


def refill_inbox(stack: MailStack) -> int:
    """Empty INBOX and the bot's folders, then copy the corpus into INBOX (server side)."""
    client = stack.imap(BOT, security="ssl")
    try:
        for flags, _delim, folder in client.list_folders():
            if folder == "INBOX" or (folder.startswith("Intake")
                                     and b"\\Noselect" not in flags):
                client.select_folder(folder)
                uids = client.search(["ALL"])
                if uids:
                    client.delete_messages(uids)
                    client.expunge()
        client.select_folder(CORPUS, readonly=True)
        uids = client.search(["ALL"])
        client.copy(uids, "INBOX")
        return len(uids)
    finally:
        client.logout()


# --- workers (each in a subprocess of its own) -----------------------------------------------

def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def worker_bare(stack_info: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    """The bare loop; `quiet`: with imaplib's debug lines off, as the bot runs imapclient
    (imapclient turns them on, and imaplib then formats every fetched mail's repr())."""
    import ssl

    context = ssl.create_default_context(cafile=stack_info["cafile"])
    c0 = cpu_seconds(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    client = CountingIMAPClient("127.0.0.1", port=stack_info["imaps_port"], ssl=True,
                                ssl_context=context)
    if quiet:
        client._imap.debug = 0
    client.login(BOT, PASSWORD)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["ALL"]))
    parts = 0
    done = 0
    fetch_s = 0.0
    for start in range(0, len(uids), 100):
        f0 = time.perf_counter()
        data = client.fetch(uids[start:start + 100], ["BODY.PEEK[]"])
        fetch_s += time.perf_counter() - f0
        for uid in uids[start:start + 100]:
            msg = email.message_from_bytes(bytes(data[uid][b"BODY[]"]), policy=policy.default)
            for _part in msg.walk():
                parts += 1
            done += 1
        del data
    client.logout()
    seconds = time.perf_counter() - t0
    return {"messages": done, "seconds": seconds, "fetch_seconds": fetch_s, "parts": parts,
            "cpu_s": cpu_seconds(resource.RUSAGE_SELF) - c0,
            "commands": dict(CountingIMAPClient.commands)}


def _bot_poller(site: Path) -> tuple[Any, Any]:
    from bot.imap import Mailbox
    from bot.listening.service import build_poller, credentials

    app = app_for(site)
    login = credentials(app)
    poller = dataclasses.replace(
        build_poller(app),
        open_mailbox=lambda: Mailbox.open(app.settings.imap, login,
                                          factory=CountingIMAPClient))
    return app, poller


class ChildPeaks:
    """The peak RSS (VmHWM) of each child process (the parser's helpers), read every 50 ms
    while they live: their own figure, which this process's VmHWM does not include."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.05):
            for task in Path(f"/proc/{me}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    for pid in (task / "children").read_text().split():
                        status = Path(f"/proc/{pid}/status").read_text()
                        kb = next(int(line.split()[1]) for line in status.splitlines()
                                  if line.startswith("VmHWM:"))
                        self.peaks[int(pid)] = max(self.peaks.get(int(pid), 0), kb / 1024)

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        return sorted(self.peaks.values(), reverse=True)


def worker_bot(site: Path, profile: bool) -> dict[str, Any]:
    app, poller = _bot_poller(site)
    profiler = cProfile.Profile() if profile else None
    children = ChildPeaks()
    c0 = cpu_seconds(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    report = poller.once()
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds(resource.RUSAGE_SELF) - c0
    app.close()
    out: dict[str, Any] = {
        "messages": report.stored + report.duplicates + report.oversized,
        "stored": report.stored, "moved": report.moved, "seconds": seconds,
        "statuses": report.processing.by_status, "topics": report.processing.topics,
        "cpu_s": cpu, "helpers_cpu_s": cpu_seconds(resource.RUSAGE_CHILDREN),
        "helpers_rss_mb": children.stop(),
        "commands": dict(CountingIMAPClient.commands)}
    if profiler is not None:
        out["breakdown"] = breakdown(pstats.Stats(profiler))
        buffers = []
        for key in ("tottime", "cumulative"):
            buffer = io.StringIO()
            pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(key).print_stats(15)
            buffers.append(buffer.getvalue())
        out["profile"] = buffers
    return out


#: the steps of a pass, as (path suffix, function): their cumulative time under the profiler
STEPS = [
    ("bot/listening/fetch.py", "poll_once", "the whole pass"),
    ("bot/imap.py", "fetch", "  IMAP FETCH BODY.PEEK[] (batches)"),
    ("bot/listening/fetch.py", "_store_batch", "  store raw rows, a commit per fetched batch"),
    ("bot/listening/process.py", "_process", "  process the rows, a transaction per batch"),
    ("bot/listening/parsing.py", "_collect", "    wait for the helpers' parse results"),
    ("parsers/__init__.py", "parse_message", "    parse_message in this process"),
    ("db/inbound.py", "claim_rows", "    claim the batch's rows"),
    ("bot/listening/process.py", "prefetch", "    look-ups, once per batch"),
    ("bot/listening/match.py", "match", "    match"),
    ("bot/listening/topics.py", "store_topics", "    store topics"),
    ("bot/listening/topics.py", "store_attachments", "    store attachments (blobs)"),
    ("sqlalchemy/orm/session.py", "commit", "    commits (all, incl. their flush)"),
    ("bot/imap.py", "move", "  IMAP MOVE to the processed folder"),
]


def breakdown(stats: pstats.Stats) -> list[tuple[str, float]]:
    table = stats.stats  # type: ignore[attr-defined]  # (file, line, name) -> (cc, nc, tt, ct, ..)
    out = []
    for suffix, name, label in STEPS:
        total = sum(row[3] for (path, _line, func), row in table.items()
                    if func == name and path.endswith(suffix))
        out.append((label, total))
    return out


#: the servers' processes by name (the test stack's Dovecot, the PostgreSQL server)
SERVERS = {"dovecot": {"dovecot", "imap", "imap-login", "auth", "config", "log", "anvil",
                       "stats", "indexer", "indexer-worker"},
           "postgres": {"postgres"}}


def server_cpu() -> dict[str, float]:
    """CPU seconds the servers' processes used so far: each live process's own and that of
    the children it has reaped (an IMAP session, a database connection that ended). Every
    process of these names on the machine counts: nothing else should use the servers
    while the benchmark runs."""
    tick = os.sysconf("SC_CLK_TCK")
    out = dict.fromkeys(SERVERS, 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            text = stat.read_text()
            comm = text[text.index("(") + 1:text.rindex(")")]
            times = text[text.rindex(")") + 2:].split()[11:15]  # utime stime cutime cstime
            for name, comms in SERVERS.items():
                if comm in comms:
                    out[name] += sum(int(t) for t in times) / tick
    return out


def run_measured(kind: str, args: list[str]) -> dict[str, Any]:
    """`run_worker`, with the servers' CPU seconds meanwhile (`servers_cpu_s`)."""
    before = server_cpu()
    result = run_worker(kind, args)
    time.sleep(0.5)  # the sessions' processes end and are reaped
    after = server_cpu()
    result["servers_cpu_s"] = {name: after[name] - before[name] for name in SERVERS}
    return result


def run_worker(kind: str, args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_listen", "--worker", kind,
                           *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "BENCH_IMAP_PW": PASSWORD})
    if proc.returncode != 0:
        raise SystemExit(f"worker {kind} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def peak_rss_mb() -> float:
    """This process's peak resident set. Linux folds the parent's peak into a child's
    `getrusage().ru_maxrss` across fork and exec (the benchmark's parent holds the stack and
    the corpus generator), so read the high-water mark of this process image itself."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_main(kind: str, site: Path, stack_info: str) -> None:
    if kind in ("bare", "bare-quiet"):
        result = worker_bare(json.loads(stack_info), quiet=kind == "bare-quiet")
    elif kind == "baseline":
        import bot.cli
        import bot.listening.service  # noqa: F401

        result = {}
    else:
        result = worker_bot(site, profile=kind == "profile")
    result["maxrss_mb"] = peak_rss_mb()
    print(json.dumps(result))


# --- latency under IDLE ----------------------------------------------------------------------

def latency_reply(n: int) -> bytes:
    return (f"From: Kontakt Eins <{LATENCY_SENDER}>\r\nTo: {BOT}\r\n"
            f"Subject: AW: Ihre Themen im Februar 2027\r\n"
            f"Date: Tue, 12 Jan 2027 09:00:00 +0100\r\n"
            f"Message-ID: <latency-{n}-{uuid.uuid4().hex}@musterhausen.test>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"Guten Tag,\r\n\r\n--- Thema ---\r\nWas: Latenzprobe {n}\r\n"
            f"Wann: 12.03.2027, 10 Uhr\r\nWo: Rathaus\r\nWer: Pressestelle\r\n"
            f"Wie viele: ca. 40\r\n--- Ende ---\r\n\r\nViele Grüße\r\n").encode()


def measure_latency(stack: MailStack, site: Path,
                    rounds: int) -> tuple[list[float], list[float]]:
    """(submit -> topic row, submit -> file in the bot's Maildir) per sample, in seconds."""
    from sqlalchemy import create_engine, text

    url = (site / "intake.toml").read_text(encoding="utf-8").split('url = "', 1)[1].split('"')[0]
    engine = create_engine(url)
    maildir = stack.maildir(BOT)
    log = site / "poll.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config",
                                 str(site / "intake.toml"), "--now", NOW, "poll"],
                                cwd=REPO, env={**os.environ, "BENCH_IMAP_PW": PASSWORD},
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        def first_pass() -> bool:
            with engine.connect() as conn:
                return bool(conn.scalar(text(
                    "SELECT COUNT(*) FROM mailbox_state WHERE last_poll_at IS NOT NULL")))
        wait(first_pass, 60, proc)
        time.sleep(1.0)  # let the first pass end and IDLE begin
        to_topic: list[float] = []
        to_maildir: list[float] = []
        for n in range(rounds):
            what = f"Latenzprobe {n}"
            before = inbox_files(maildir)
            delivered: list[float] = []
            t0 = time.perf_counter()
            stack.send(latency_reply(n), LATENCY_SENDER, [BOT])

            def arrived(what: str = what, before: set[str] = before,
                        delivered: list[float] = delivered, t0: float = t0) -> bool:
                # Postfix -> LMTP -> Dovecot wrote the file (the poller moves it soon after)
                if not delivered and inbox_files(maildir) - before:
                    delivered.append(time.perf_counter() - t0)
                with engine.connect() as conn:
                    return bool(conn.scalar(text("SELECT COUNT(*) FROM topics WHERE what = :w"),
                                            {"w": what}))
            wait(arrived, 60, proc, interval=0.002)
            to_topic.append(time.perf_counter() - t0)
            if delivered:
                to_maildir.append(delivered[0])
            time.sleep(0.3)  # back in IDLE before the next one
        return to_topic, to_maildir
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        engine.dispose()


def measure_bare_idle(stack: MailStack, rounds: int) -> list[float]:
    """SMTP submit -> EXISTS seen by a bare IMAPClient in IDLE (Dovecot's own share)."""
    client = stack.imap(BOT, security="ssl")
    found: list[float] = []
    try:
        client.select_folder("INBOX")
        for n in range(rounds):
            client.idle()
            time.sleep(0.3)
            t0 = time.perf_counter()
            stack.send(latency_reply(1000 + n), LATENCY_SENDER, [BOT])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                answers = client.idle_check(timeout=1)
                if any(isinstance(a, tuple) and len(a) > 1 and a[1] == b"EXISTS"
                       for a in answers):
                    found.append(time.perf_counter() - t0)
                    break
            client.idle_done()
    finally:
        client.logout()
    return found


def inbox_files(maildir: Path) -> set[str]:
    names: set[str] = set()
    for sub in ("new", "cur"):
        with contextlib.suppress(FileNotFoundError):
            names.update(os.listdir(maildir / sub))
    return names


def wait(check: Any, timeout: float, proc: subprocess.Popen[bytes],
         interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the poller did not deliver in time (see its poll.log)")
        time.sleep(interval)


# --- the run ---------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--pg", default=os.environ.get("INTAKE_TEST_PG_URL", PG_DEFAULT),
                        help="PostgreSQL server URL (a fresh schema is created and dropped)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--latency", type=int, default=20, help="IDLE latency samples (0: none)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--profile-pg", action="store_true",
                        help="profile the pass on PostgreSQL (--pg) instead of SQLite")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (Maildirs, databases, poll.log)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--site", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stack", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.site, args.stack)
        return

    from tests.mailstack import MailStack

    work = Path(tempfile.mkdtemp(prefix="intake-bench-listen-"))
    stack = MailStack.start(work)
    schemas: list[PgSchema] = []
    try:
        run(stack, work, args, schemas)
    finally:
        for schema in schemas:
            schema.drop()
        stack.stop()
        if not args.keep:  # the full run leaves gigabytes of Maildir and database behind
            shutil.rmtree(work, ignore_errors=True)


def run(stack: MailStack, work: Path, args: argparse.Namespace,
        schemas: list[PgSchema]) -> None:
    stack_info = json.dumps({"cafile": str(stack.cafile), "imaps_port": stack.imaps_port})
    t0 = time.perf_counter()
    size, mix = fill_corpus(stack, args.count, args.seed)
    print(f"corpus: {args.count} messages, {size / 1e6:.0f} MB ({mix['small']} small, "
          f"{mix['with images']} with images), APPENDed in {time.perf_counter() - t0:.0f} s")

    databases = [] if args.no_sqlite else [("sqlite",
                                             f"sqlite:///{work / 'sqlite' / 'intake.db'}")]
    if not args.no_pg:
        schemas.append(PgSchema(args.pg))
        databases.append(("postgresql", schemas[-1].url))
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for name, url in databases:
        (work / name).mkdir(exist_ok=True)
        site = write_site(work / name, stack, url)
        refill_inbox(stack)
        bare = run_measured("bare", ["--stack", stack_info])
        bare["quiet"] = run_measured("bare-quiet", ["--stack", stack_info])
        bot = run_measured("bot", ["--site", str(site)])
        assert bot["messages"] == args.count == bare["messages"] == \
            bare["quiet"]["messages"], (bot, bare)
        rows.append((name, bare, bot))
        print(f"{name}: bot {bot['seconds']:.1f} s, bare {bare['seconds']:.1f} s; "
              f"statuses {bot['statuses']}, {bot['topics']} topics")

    baseline = run_worker("baseline", [])
    print(f"peak RSS of a worker that only imports the bot: {baseline['maxrss_mb']:.0f} MB")
    print()
    print(f"{'':40}" + "".join(f"{name:>14}" for name, _, _ in rows))
    Row = dict[str, Any]
    line: list[tuple[str, Callable[[Row, Row], str]]] = [
        ("bare: msgs/s", lambda b, _: f"{args.count / b['seconds']:.0f}"),
        ("bare: of which FETCH (s)", lambda b, _: f"{b['fetch_seconds']:.1f}"),
        ("bare: peak RSS (MB)", lambda b, _: f"{b['maxrss_mb']:.0f}"),
        ("bare: IMAP round trips", lambda b, _: str(sum(b["commands"].values()))),
        ("bare: CPU (s)", lambda b, _: f"{b['cpu_s']:.1f}"),
        ("bare: CPU (s), Dovecot", lambda b, _: f"{b['servers_cpu_s']['dovecot']:.1f}"),
        ("bare, imaplib's debug lines off: msgs/s",
         lambda b, _: f"{args.count / b['quiet']['seconds']:.0f}"),
        ("  its CPU (s)", lambda b, _: f"{b['quiet']['cpu_s']:.1f}"),
        ("bot: msgs/s", lambda _, o: f"{args.count / o['seconds']:.0f}"),
        ("bot: CPU (s), this process", lambda _, o: f"{o['cpu_s']:.1f}"),
        ("bot: CPU (s), parser helpers", lambda _, o: f"{o['helpers_cpu_s']:.1f}"),
        ("bot: CPU (s), Dovecot", lambda _, o: f"{o['servers_cpu_s']['dovecot']:.1f}"),
        ("bot: CPU (s), PostgreSQL server", lambda _, o: f"{o['servers_cpu_s']['postgres']:.1f}"),
        ("bot: peak RSS (MB)", lambda _, o: f"{o['maxrss_mb']:.0f}"),
        ("bot: helpers' peak RSS (MB, each)",
         lambda _, o: "/".join(f"{m:.0f}" for m in o["helpers_rss_mb"]) or "-"),
        ("bot: IMAP round trips", lambda _, o: str(sum(o["commands"].values()))),
        ("ratio bot/bare (time)", lambda b, o: f"{o['seconds'] / b['seconds']:.2f}x"),
        ("speed bot/bare", lambda b, o: f"{b['seconds'] / o['seconds']:.2f}x"),
        ("speed bot/bare, its debug lines off",
         lambda b, o: f"{b['quiet']['seconds'] / o['seconds']:.2f}x"),
    ]
    for label, cell in line:
        print(f"{label:40}" + "".join(f"{cell(b, o):>14}" for _, b, o in rows))
    for name, bare, bot in rows:
        print(f"IMAP commands {name}: bot {sort_counts(bot['commands'])}; "
              f"bare {sort_counts(bare['commands'])}")

    if args.latency:
        site = write_site(work / "latency", stack, f"sqlite:///{work / 'latency' / 'i.db'}")
        samples, delivery = measure_latency(stack, site, args.latency)
        print(f"\nreply -> topic under IDLE (SQLite, SMTP submit to committed topic row), "
              f"{len(samples)} samples: median {statistics.median(samples) * 1000:.0f} ms, "
              f"min {min(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms")
        if delivery:
            print(f"  SMTP submit -> file in the bot's Maildir (Postfix + LMTP): "
                  f"median {statistics.median(delivery) * 1000:.0f} ms ({len(delivery)} seen)")
        bare_idle = measure_bare_idle(stack, args.latency)
        if bare_idle:
            print(f"  SMTP submit -> EXISTS in a bare IMAPClient IDLE (same stack): "
                  f"median {statistics.median(bare_idle) * 1000:.0f} ms")

    if not args.no_profile:
        (work / "profile").mkdir(exist_ok=True)
        url, name = f"sqlite:///{work / 'profile' / 'p.db'}", "SQLite"
        if args.profile_pg:
            schemas.append(PgSchema(args.pg))
            url, name = schemas[-1].url, "PostgreSQL"
        site = write_site(work / "profile", stack, url)
        refill_inbox(stack)
        profiled = run_worker("profile", ["--site", str(site)])
        print(f"\ncProfile of one bot pass on {name} ({profiled['seconds']:.1f} s under the "
              f"profiler):")
        whole = profiled["breakdown"][0][1] or 1.0
        for label, seconds in profiled["breakdown"]:
            print(f"  {label:52} {seconds:7.1f} s  {seconds / whole:6.1%}")
        for block in profiled["profile"]:
            print(trim_profile(block))


def sort_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda x: -x[1]))


def trim_profile(block: str) -> str:
    lines = block.splitlines()
    start = next((i for i, ln in enumerate(lines) if "Ordered by" in ln), 0)
    return "\n".join(ln for ln in lines[start:] if ln.strip())


if __name__ == "__main__":
    main()
