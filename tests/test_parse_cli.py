"""`intake parse` exactly as parse-contract.md describes its command-line face."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import cli as cli_module
from bot.cli import MAX_MAIL_BYTES, cli

PARSE = Path(__file__).parent / "fixtures" / "parse"
TOPIC_KEYS = {"what", "when", "where", "who", "how_many", "quote", "attachments", "missing"}


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["parse", *args], catch_exceptions=False)


def test_one_json_object_per_file_in_input_order() -> None:
    files = [PARSE / "followup_answer_when_only.eml", PARSE / "no_topics_keine_themen.eml",
             PARSE / "bounce_postfix_undelivered_mail.eml"]
    result = run("--today", "2027-01-13", *map(str, files))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    objects = [json.loads(line) for line in lines]
    assert [o["file"] for o in objects] == [str(f) for f in files]
    assert [set(o) for o in objects] == [{"file", "kind", "reply_text", "topics"}] * 3
    assert [o["kind"] for o in objects][1:] == ["no_topics", "bounce"]
    assert objects[2]["topics"] == []
    for topic in objects[0]["topics"]:
        assert set(topic) == TOPIC_KEYS


def test_asked_fills_the_single_asked_field() -> None:
    result = run("--today", "2027-01-13", "--asked", "when",
                 str(PARSE / "followup_answer_when_only.eml"))
    assert result.exit_code == 0, result.output
    (topic,) = json.loads(result.stdout)["topics"]
    assert topic["when"]["start"] == "2027-02-13"
    assert topic["when"]["time"] == "10:00"
    assert topic["missing"] == []


def test_known_signature_files_are_cut_from_reply_text(tmp_path: Path) -> None:
    mail = tmp_path / "antwort.eml"
    mail.write_bytes(
        "From: Kinderbibliothek <kibi@musterhausen.de>\nSubject: AW: Themen\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "Am 12.02.2027 ab 18 Uhr gibt es einen Spieleabend für Familien.\n\n"
        "Ihr Team der Kinderbibliothek\nWir lesen vor, Sie hören zu\n".encode()
    )
    short = tmp_path / "kurz.txt"
    short.write_text("Lea Brandt · 0160 9876543\n", encoding="utf-8")
    full = tmp_path / "signatur.txt"
    full.write_text("Ihr Team der Kinderbibliothek\nWir lesen vor, Sie hören zu\n",
                    encoding="utf-8")
    plain = json.loads(run("--today", "2027-01-12", str(mail)).stdout)
    assert "Wir lesen vor" in plain["reply_text"]
    result = run("--today", "2027-01-12", "--known-signature", str(short),
                 "--known-signature", str(full), str(mail))
    assert result.exit_code == 0, result.output
    cut = json.loads(result.stdout)
    assert cut["reply_text"] == "Am 12.02.2027 ab 18 Uhr gibt es einen Spieleabend für Familien."


def test_unreadable_signature_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run("--known-signature", str(tmp_path / "fehlt.txt"),
                 str(PARSE / "no_topics_keine_themen.eml"))
    assert result.exit_code == 2
    assert "fehlt.txt: cannot read" in result.stderr
    assert result.stdout == ""


def test_unreadable_file_exits_2_naming_it_and_still_prints_the_others(tmp_path: Path) -> None:
    missing = tmp_path / "fehlt.eml"
    result = run(str(PARSE / "no_topics_keine_themen.eml"), str(missing))
    assert result.exit_code == 2
    assert f"{missing}: cannot read" in result.stderr
    assert json.loads(result.stdout)["kind"] == "no_topics"


def test_garbage_is_a_result_not_an_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(bytes(range(256)) * 40)
    result = run(str(garbage))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["kind"] == "unrecognized"


def test_usage_errors_exit_2() -> None:
    assert run().exit_code == 2
    bad_date = run("--today", "13.01.2027", str(PARSE / "no_topics_keine_themen.eml"))
    assert bad_date.exit_code == 2
    assert "YYYY-MM-DD" in bad_date.stderr
    bad_field = run("--asked", "wann", str(PARSE / "no_topics_keine_themen.eml"))
    assert bad_field.exit_code == 2
    assert "unknown field(s) wann" in bad_field.stderr


def test_the_console_script_prints_utf8_json_lines() -> None:
    out = subprocess.run([sys.executable, "-m", "bot", "parse", "--today", "2027-01-13",
                          str(PARSE / "followup_answer_when_only.eml")],
                         capture_output=True, check=True)
    assert out.stdout.count(b"\n") == 1
    assert json.loads(out.stdout.decode("utf-8"))["kind"] == "topics"


# -- where the mail comes from ------------------------------------------------------------

MAIL = (PARSE / "no_topics_keine_themen.eml").read_bytes()


def run_guarded(*args: str) -> subprocess.CompletedProcess[str]:
    """`intake parse ARGS` in a subprocess with its memory capped: a command that reads
    without end fails (MemoryError, or the time-out of last resort) instead of taking the
    machine with it."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    try:
        return subprocess.run([sys.executable, "-m", "bot", "parse", *args], capture_output=True,
                              text=True, timeout=120, preexec_fn=cap_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"intake parse {' '.join(args)} still reading after 120 s")


def test_dash_reads_the_mail_from_standard_input() -> None:
    result = CliRunner().invoke(cli, ["parse", "-"], input=MAIL, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    assert parsed["file"] == "-"
    assert parsed["kind"] == "no_topics"


def test_standard_input_beside_files() -> None:
    other = str(PARSE / "bounce_postfix_undelivered_mail.eml")
    result = CliRunner().invoke(cli, ["parse", other, "-"], input=MAIL, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["kind"] for line in result.stdout.splitlines()] == [
        "bounce", "no_topics"]


def test_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "endlos.eml"
    link.symlink_to("/dev/zero")
    done = run_guarded(str(link), str(PARSE / "no_topics_keine_themen.eml"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"intake parse: {link}: not a regular file (a character device); not read")
    assert json.loads(done.stdout)["kind"] == "no_topics"


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.eml"
    os.mkfifo(fifo)
    done = run_guarded(str(fifo))
    assert done.returncode == 2
    assert done.stderr.strip() == f"intake parse: {fifo}: not a regular file (a FIFO); not read"
    assert done.stdout == ""


def test_directory_is_refused(tmp_path: Path) -> None:
    result = run("--today", "2027-01-13", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"intake parse: {tmp_path}: not a regular file (a directory); not read")


def test_symlink_to_a_mail_is_read(tmp_path: Path) -> None:
    link = tmp_path / "link.eml"
    link.symlink_to(PARSE / "no_topics_keine_themen.eml")
    result = run(str(link))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "no_topics"


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    huge = tmp_path / "riesig.eml"
    with huge.open("wb") as fh:
        fh.truncate(MAX_MAIL_BYTES + 1)  # sparse: costs no disk space
    done = run_guarded(str(huge))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"intake parse: {huge}: larger than 100 MB; not read (a mail is never this big)")
    assert done.stdout == ""


def test_file_at_the_size_limit_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cli_module, "MAX_MAIL_BYTES", len(MAIL))
    exact = tmp_path / "genau.eml"
    exact.write_bytes(MAIL)
    result = run(str(exact))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "no_topics"


def test_standard_input_over_the_size_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "MAX_MAIL_BYTES", 1000)
    result = CliRunner().invoke(cli, ["parse", "-"], input=b"x" * 1001, catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "intake parse: -: more than 1000 bytes on standard input; not read "
        "(a mail is never this big)")
    assert result.stdout == ""


def test_help_names_standard_input_and_the_limit() -> None:
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "FILE.eml may be - for standard input" in text
    assert "100 MB" in text
