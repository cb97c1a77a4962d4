"""`intake parse` exactly as parse-contract.md describes its command-line face."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli

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
