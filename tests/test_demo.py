"""`intake demo`, as a person runs it: a subprocess that plays the whole week on its own
loopback mail servers, writes the officer's files, and leaves nothing running, whether it
ends, is interrupted with Ctrl-C, or kept up for a mail program (--keep)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from click.testing import CliRunner
from imapclient import IMAPClient

from bot.cli import cli

#: a Wednesday in December: the demo plays January 2027 (requests on Monday the 4th)
NOW = "2026-12-02T12:00"
REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "--now", NOW, "demo", *args],
                          capture_output=True, text=True, timeout=180, env=_env(), cwd=REPO,
                          check=False)


class Running:
    """A demo in a subprocess whose output is read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--now", NOW, "demo", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.proc.stdout.close()

    def wait_for(self, text: str, timeout: float = 120) -> None:
        while not any(text in line for line in self.seen):
            try:
                self.seen.append(self.lines.get(timeout=timeout))
            except queue.Empty:
                self.proc.kill()
                pytest.fail(f"no line with {text!r} within {timeout} s; got {self.seen}")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the exit; (exit status, standard error)."""
        assert self.proc.stderr is not None
        code = self.proc.wait(timeout=timeout)
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.reader.join(timeout=10)
        return code, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            self.proc.stderr.close()
        self.reader.join(timeout=10)  # it closes standard output


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for demo in started:  # a failed assertion must not leave a demo running
        demo.kill()


def ports(output: str) -> tuple[int, int]:
    found = re.search(r"IMAP 127\.0\.0\.1:(\d+) \(pymap\), SMTP 127\.0\.0\.1:(\d+)", output)
    assert found, output
    return int(found.group(1)), int(found.group(2))


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_in(directory: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if str(directory) in line]


def test_the_demo_plays_the_whole_week_and_leaves_nothing_running(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = run_demo(str(directory))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    # the story, in the order of the clock
    for line in [
        "Mon 04.01. 08:00  the requests for 2027-01: 6 sent by the outbox",
        "the bot listens to its inbox (IMAP IDLE",
        "Sabine Hoffmann (Bürgerbüro): an out-of-office notice",
        "-> recognised as automatic, never answered; away until 15.01.2027",
        "Erika Muster (Bauamt): an Outlook reply with signature and photo",
        "-> 1 topic: „Spatenstich für die neue Grundschule Am Lindenhof“ 04.02.2027, "
        "complete, with photo",
        "-> understood as nothing this month; the request counts as answered",
        "-> 1 topic: „Familienfest der Kita Sonnenschein mit Kinderflohmarkt“ 30.01.2027, "
        "complete",
        "missing when, where",
        "-> 2 topics: „Lesenacht für Kinder",
        "-> set aside for the officer to look at: Absender "
        "k.mustermann@heimatverein-musterhausen.test ist kein bekannter Kontakt",
        "Thu 07.01. 10:00  a follow-up to thomas.kern@musterhausen.test (Kulturamt) asks for "
        "Wann and Wo",
        "Thu 07.01. 14:05  Thomas Kern (Kulturamt): the answer to the question",
        "-> added to „Ausstellung „Musterhausen in alten Bildern“ mit Fotos aus 1…“ "
        "19.02.2027, complete",
        "Mon 11.01. 07:30  the weekly digest: „Themen-Übersicht KW 2/2027",
    ]:
        assert line in out, line
    assert re.search(r"the weekly digest: .*5 neue Themen.*, mailed to presse@musterhausen\.test",
                     out)
    positions = [out.index(s) for s in ("the requests for", "out-of-office notice",
                                        "Outlook reply", "a follow-up to", "the answer to",
                                        "the weekly digest", "What happened")]
    assert positions == sorted(positions)
    # the summary
    assert ("arrived     8 mails for the bot: 4 with topics, 1 answer to a question, "
            "1 „keine Themen“, 1 out-of-office, 1 from a stranger") in out
    assert "understood  5 topics from 4 departments, 5 complete, 0 incomplete" in out
    assert "asked back  1 bundled question(s): Kulturamt for Wann and Wo" in out
    assert "no answer   Bürgerbüro (away until 15.01.2027)" in out
    assert re.search(r"Done in \d+\.\d s\.", out)
    # what the officer gets, named with its path
    for name in ("digest.html", "themenplan.html", "themenplan.ics", "themenplan.csv"):
        assert f"{directory / name}  " in out, name
        assert (directory / name).stat().st_size > 0, name
    digest = (directory / "digest.html").read_text(encoding="utf-8")
    assert "Spatenstich für die neue Grundschule Am Lindenhof" in digest
    assert "Bürgerbüro" in digest  # no answer yet
    assert (directory / "themenplan.ics").read_text(encoding="utf-8").count(
        "BEGIN:VEVENT") == 5
    csv = (directory / "themenplan.csv").read_bytes().decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("Nr;Fachbereich") and "Bücherflohmarkt" in csv
    assert "Lesenacht" in (directory / "themenplan.html").read_text(encoding="utf-8")
    # the played mails, and a configuration the other commands read
    assert len(list((directory / "mails").glob("*.eml"))) == 8
    listed = CliRunner().invoke(cli, ["--config", str(directory / "intake.toml"), "topics",
                                      "list", "--status", "complete"], env={})
    assert listed.exit_code == 0, listed.output
    assert "5 topic(s)" in listed.stdout
    # nothing is left: no listener on its ports, no process of its own
    imap, smtp = ports(out)
    assert not listening(imap) and not listening(smtp)
    assert processes_in(directory) == []


def test_ctrl_c_stops_the_servers_and_the_bot(tmp_path: Path,
                                              running: list[Running]) -> None:
    directory = tmp_path / "demo"
    demo = Running(str(directory))
    running.append(demo)
    demo.wait_for("the bot listens to its inbox")  # servers and poller are up
    imap, smtp = ports("".join(demo.seen))
    assert listening(imap) and listening(smtp)
    demo.proc.send_signal(signal.SIGINT)
    code, err = demo.finish()
    assert code == 130
    assert err.strip() == ("intake: demo interrupted; its mail servers are stopped and "
                           "nothing is left running")
    assert "Traceback" not in err
    assert not listening(imap) and not listening(smtp)
    assert processes_in(directory) == []


def test_keep_leaves_the_servers_up_for_a_mail_program_until_ctrl_c(
        tmp_path: Path, running: list[Running]) -> None:
    # an earlier demo's directory is started afresh
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / ".intake-demo").write_text("", encoding="utf-8")
    (directory / "intake.db").write_bytes(b"not a database")
    demo = Running(str(directory), "--keep")
    running.append(demo)
    demo.wait_for("--now keeps a command there too")
    text = "".join(demo.seen)
    found = re.search(r"incoming  IMAP 127\.0\.0\.1 port (\d+), no encryption, normal "
                      r"password\n  outgoing  SMTP 127\.0\.0\.1 port (\d+)", text)
    assert found, text
    imap, smtp = int(found.group(1)), int(found.group(2))
    assert "password „geheim“ for each" in text
    assert "erika.muster@musterhausen.test (Bauamt)" in text

    def inbox(user: str, folder: str = "INBOX") -> list[bytes]:
        client = IMAPClient("127.0.0.1", port=imap, ssl=False, timeout=10)
        try:
            client.login(user, "geheim")
            client.select_folder(folder, readonly=True)
            data = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
            return [item[b"BODY[HEADER.FIELDS (SUBJECT)]"] for item in data.values()]
        finally:
            client.logout()

    # what a person finds: the officer's digest, a colleague's request and question, and
    # the bot's processed mail
    (digest,) = inbox("presse@musterhausen.test")
    assert "Themen-Übersicht KW 2/2027" in str(make_header(decode_header(
        digest.decode("ascii").partition(":")[2].strip())))
    assert len(inbox("thomas.kern@musterhausen.test")) == 2
    assert inbox("themen@musterhausen.test") == []
    assert len(inbox("themen@musterhausen.test", "Intake/Processed")) == 8

    demo.proc.send_signal(signal.SIGINT)
    code, err = demo.finish()
    assert code == 0, err
    assert not listening(imap) and not listening(smtp)
    assert processes_in(directory) == []


def test_a_directory_with_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(cli, ["demo", str(tmp_path)], env={})
    assert result.exit_code == 1
    assert result.stderr == (f"intake: {tmp_path}: not empty, and not an earlier demo's "
                             f"directory; give a new or empty one (e.g. `intake demo "
                             f"./intake-demo`)\n")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def _bound(port: int) -> set[str]:
    """The local addresses TCP sockets listen on at this port (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.mark.parametrize("listen, bound", [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])
def test_the_servers_listen_where_they_are_told(listen: str, bound: str) -> None:
    """In a container the demo listens on every interface (its ports are published); the
    bot still connects by loopback, and a login works either way."""
    from bot.demo.servers import DemoServers

    servers = DemoServers(["erika@musterhausen.test"], "geheim", listen=listen)
    ends = servers.start()
    try:
        assert ends.host == "127.0.0.1"
        assert _bound(ends.imap_port) == {bound} and _bound(ends.smtp_port) == {bound}
        client = IMAPClient(ends.host, port=ends.imap_port, ssl=False, timeout=10)
        client.login("erika@musterhausen.test", "geheim")
        client.logout()
    finally:
        servers.stop()
    assert not listening(ends.imap_port)


def test_an_empty_listening_address_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--listen", " ", str(tmp_path / "demo")])
    assert result.exit_code == 2
    assert "--listen" in result.output and "0.0.0.0" in result.output
    assert not (tmp_path / "demo").exists()
