"""The `intake` command as an admin uses it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
COMMANDS = ["init", "check", "contacts", "db", "send-requests", "poll", "followups", "digest",
            "topics", "outbox", "run", "parse", "demo"]


def intake(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    old = Path.cwd()
    if cwd:
        os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), env=env or {}, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_help_lists_every_command() -> None:
    result = intake("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"\n  {command} " in result.output, command


def test_console_script_and_module_entry_points() -> None:
    exe = shutil.which("intake", path=str(Path(sys.executable).parent))
    assert exe, "the intake console script is not installed next to this Python"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "send-requests" in out.stdout
    out = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True,
                         check=True)
    assert "send-requests" in out.stdout


def test_init_writes_both_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = intake("init", str(tmp_path / "neu"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "neu" / "intake.toml").read_text(encoding="utf-8").startswith("# intake")
    contacts = (tmp_path / "neu" / "contacts.yaml").read_text(encoding="utf-8")
    assert "department: Bauamt" in contacts
    before = (tmp_path / "neu" / "intake.toml").stat().st_mtime_ns
    result = intake("init", str(tmp_path / "neu"))
    assert result.exit_code == 1
    assert "already exists; not overwriting" in result.stderr
    assert (tmp_path / "neu" / "intake.toml").stat().st_mtime_ns == before


def test_check_offline_after_init(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    result = intake("check", "--offline", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "intake.toml: configuration OK" in result.stdout
    assert "contacts.yaml: 5 departments (4 active), 7 contacts (2 of them deputies)\n" \
        in result.stdout
    assert "mail templates (built-in): OK" in result.stdout


def test_check_offline_finds_a_broken_override_template(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    (tmp_path / "vorlagen").mkdir()
    (tmp_path / "vorlagen" / "reminder.subject.j2").write_text("{{ vergessen }}",
                                                               encoding="utf-8")
    result = intake("check", "--offline", cwd=tmp_path,
                    env={"INTAKE_TEMPLATES__DIRECTORY": "vorlagen"})
    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines()
                if not line.startswith("intake: warning: ")]
    assert error.startswith("intake: mail template 'reminder': ") and "vergessen" in error


def test_check_without_config_file_says_what_to_do(tmp_path: Path) -> None:
    result = intake("check", "--offline", cwd=tmp_path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "intake: intake.toml: configuration file not found (point to yours with --config FILE "
        "or INTAKE_CONFIG; create a new one with `intake init`)")


def test_check_reports_bad_config_in_one_line(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    config = tmp_path / "intake.toml"
    lines = config.read_text(encoding="utf-8").splitlines()
    number = lines.index("port = 993") + 1
    lines[number - 1] = 'port = "x"'
    config.write_text("\n".join(lines), encoding="utf-8")
    result = intake("check", "--offline", cwd=tmp_path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"intake: intake.toml:{number}: [imap] port: Input should be a valid integer, unable "
        f"to parse string as an integer"]


def test_check_of_an_empty_config_names_every_required_key(tmp_path: Path) -> None:
    (tmp_path / "intake.toml").write_text("", encoding="utf-8")
    result = intake("check", "--offline", cwd=tmp_path)
    assert result.exit_code == 1
    assert "configuration OK" not in result.stdout
    assert result.stderr.splitlines() == [
        'intake: intake.toml: [mail] from_address is required (e.g. "themen@musterhausen.de")',
        'intake: intake.toml: [mail] from_name is required (e.g. "Social-Media-Team Stadt '
        'Musterhausen")',
        'intake: intake.toml: [mail] organisation is required (e.g. "Stadt Musterhausen")',
        'intake: intake.toml: [imap] host is required (e.g. "imap.musterhausen.de")',
        'intake: intake.toml: [imap] username is required (e.g. "themen@musterhausen.de")',
        'intake: intake.toml: [smtp] host is required (e.g. "smtp.musterhausen.de")',
        'intake: intake.toml: [officer] email is required (e.g. "presse@musterhausen.de")',
        'intake: intake.toml: [officer] name is required (e.g. "Julia Beispiel")',
    ]


def test_check_warns_about_a_misspelled_override_template(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    (tmp_path / "vorlagen").mkdir()
    (tmp_path / "vorlagen" / "requst.txt.j2").write_text("Guten Tag", encoding="utf-8")
    (tmp_path / "vorlagen" / "reminder.subject.j2").write_text("Erinnerung {{ subject_tag }}",
                                                               encoding="utf-8")
    # a template of the admin's own (all three parts) and a shared part it includes are used
    for part in ("subject", "txt", "html"):
        (tmp_path / "vorlagen" / f"dank.{part}.j2").write_text('{% include "_fuss.txt.j2" %}',
                                                               encoding="utf-8")
    (tmp_path / "vorlagen" / "_fuss.txt.j2").write_text("Ihr Team", encoding="utf-8")
    result = intake("check", "--offline", cwd=tmp_path,
                    env={"INTAKE_TEMPLATES__DIRECTORY": "vorlagen"})
    assert result.exit_code == 0, result.output
    templates = [line for line in result.stderr.splitlines() if "vorlagen" in line]
    assert templates == [
        f"intake: warning: {tmp_path / 'vorlagen' / 'requst.txt.j2'}: matches no mail "
        f"template file, so it is not used; did you mean request.txt.j2?"]
    assert "mail templates (vorlagen): OK" in result.stdout


def test_check_warns_about_the_example_town_and_send_requests_refuses_to_mail_it(
        tmp_path: Path) -> None:
    """The files `intake init` writes hold the example town's values: a real domain's
    addresses. `check` names each one; a round is not sent to them (a dry run shows it)."""
    assert intake("init", str(tmp_path)).exit_code == 0
    result = intake("check", "--offline", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    warnings = result.stderr.splitlines()
    assert ("intake: warning: intake.toml:86: [officer] email is still the example value of "
            "`intake init` (presse@musterhausen.de); replace it with your town hall's") in warnings
    assert any(line.startswith(f"intake: warning: {tmp_path / 'contacts.yaml'}:14: "
                               "erika.muster@musterhausen.de is an address of the example town")
               for line in warnings)
    assert intake("db", "upgrade", cwd=tmp_path).exit_code == 0
    env = {"INTAKE_NOW": "2027-01-04T08:00:00+01:00"}
    refused = intake("send-requests", cwd=tmp_path, env=env)
    assert refused.exit_code == 1
    assert "still lists the example town's addresses (erika.muster@musterhausen.de" in (
        refused.stderr)
    assert intake("send-requests", "--dry-run", cwd=tmp_path, env=env).exit_code == 0


def test_check_warns_about_a_text_template_replaced_without_its_html_twin(
        tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    (tmp_path / "vorlagen").mkdir()
    (tmp_path / "vorlagen" / "request.txt.j2").write_text("Guten Tag", encoding="utf-8")
    for part in ("txt", "html"):  # both parts of the follow-up: nothing to say
        (tmp_path / "vorlagen" / f"followup.{part}.j2").write_text("Hallo", encoding="utf-8")
    result = intake("check", "--offline", cwd=tmp_path,
                    env={"INTAKE_TEMPLATES__DIRECTORY": "vorlagen"})
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if "vorlagen" in line] == [
        f"intake: warning: {tmp_path / 'vorlagen' / 'request.txt.j2'}: replaces the packaged "
        f"request.txt.j2 but not request.html.j2; Outlook shows the HTML part, which keeps the "
        f"packaged wording: copy request.html.j2 there as well and change it alike"]


def test_logging_file_is_relative_to_the_config_file_and_gets_the_errors(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert intake("init", str(site)).exit_code == 0
    config = site / "intake.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        '# file = "intake.log"', 'file = "intake.log"'), encoding="utf-8")
    (site / "contacts.yaml").write_text("contacts:\n", encoding="utf-8")
    # run from elsewhere: the log file lands next to the config file
    result = intake("--config", str(config), "check", "--offline", cwd=tmp_path)
    assert result.exit_code == 1
    assert not (tmp_path / "intake.log").exists()
    log = (site / "intake.log").read_text(encoding="utf-8")
    assert f"ERROR intake: {site / 'contacts.yaml'}:1: 'contacts:' lists nobody" in log
    # the message is on stderr once, not twice (the log's stderr handler stays out of it)
    assert result.stderr.count("lists nobody") == 1
    result = intake("--config", str(config), "contacts", "sync", cwd=tmp_path)
    assert result.exit_code == 1
    assert len((site / "intake.log").read_text(encoding="utf-8").splitlines()) == 2


def test_a_log_file_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    result = intake("check", "--offline", cwd=tmp_path,
                    env={"INTAKE_LOGGING__FILE": "fehlt/intake.log"})
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"intake: environment variable INTAKE_LOGGING__FILE: [logging] file: cannot open "
        f"{tmp_path / 'fehlt' / 'intake.log'} (No such file or directory); create the "
        f"directory or change the setting"]


def test_check_refuses_an_unsupported_database_url_in_one_line(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    result = intake("check", "--offline", cwd=tmp_path,
                    env={"INTAKE_DATABASE__URL": "mysql://intake:pw@db/intake"})
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "intake: environment variable INTAKE_DATABASE__URL: [database] url: mysql:// is not "
        "supported; intake-bot works with SQLite and PostgreSQL: sqlite:///intake.db or "
        "postgresql+psycopg://USER@HOST/DB"]


def test_contacts_check_reports_line_3_and_line_6() -> None:
    path = FIXTURES / "contacts" / "bad_address_line3_missing_department_line6.yaml"
    result = intake("contacts", "check", str(path))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:3: email ")
    assert lines[1] == f"{path}:6: entry has no department"


def test_contacts_check_ok_csv() -> None:
    path = FIXTURES / "contacts" / "excel_semicolon_utf8_bom.csv"
    result = intake("contacts", "check", str(path))
    assert result.exit_code == 0
    assert result.stdout.strip().endswith(
        "3 departments (2 active), 5 contacts (2 of them deputies), OK")


def test_contacts_check_prints_notes_and_refuses_an_empty_file(tmp_path: Path) -> None:
    path = FIXTURES / "contacts" / "windows1252_encoding.csv"
    result = intake("contacts", "check", str(path))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"{path}:2: note: not UTF-8, read as Windows-1252 (Excel's 'CSV "
        f"(Trennzeichen-getrennt)'); check the umlauts in this line",
        f"{path}: 1 departments (1 active), 1 contacts (0 of them deputies), OK"]
    path = FIXTURES / "contacts" / "header_only.csv"
    result = intake("contacts", "check", str(path))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{path}:1: the file lists no contacts")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_db_upgrade_and_contacts_sync(tmp_path: Path, backend: str,
                                      request: pytest.FixtureRequest) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    env = {}
    if backend == "postgresql":
        env["INTAKE_DATABASE__URL"] = request.getfixturevalue("pg_url")
    result = intake("db", "upgrade", cwd=tmp_path, env=env)
    assert result.exit_code == 0, result.output
    head = _head_revision()
    assert f"schema upgraded from empty to {head}" in result.stdout
    result = intake("db", "upgrade", cwd=tmp_path, env=env)
    assert f"schema already at {head}" in result.stdout
    if backend == "sqlite":
        assert (tmp_path / "intake.db").exists()
    result = intake("contacts", "sync", cwd=tmp_path, env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "added 7, updated 0, deactivated 0, reactivated 0"


def test_commands_on_an_unmigrated_database_say_run_db_upgrade(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    result = intake("contacts", "sync", cwd=tmp_path)
    assert result.exit_code == 1
    assert "run `intake db upgrade`" in result.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    env = {"INTAKE_DATABASE__URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = intake("db", "upgrade", cwd=tmp_path, env=env)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("intake: database postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_bad_now_is_a_usage_error() -> None:
    result = intake("--now", "gestern", "check", "--offline")
    assert result.exit_code == 2
    assert "is not ISO-8601" in result.stderr


def test_output_into_a_closed_pipe_is_no_error() -> None:
    exe = shutil.which("intake", path=str(Path(sys.executable).parent))
    assert exe
    files = [str(p) for p in sorted((FIXTURES / "parse").glob("*.eml"))] * 20
    proc = subprocess.Popen([exe, "parse", *files], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0
    assert first.startswith(b'{"file": ')
    assert b"internal error" not in err and b"Traceback" not in err


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from db import migrate

    head = ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def test_a_sqlite_file_in_a_missing_directory_is_named(tmp_path: Path) -> None:
    assert intake("init", str(tmp_path)).exit_code == 0
    result = intake("db", "upgrade", cwd=tmp_path,
                    env={"INTAKE_DATABASE__URL": "sqlite:///daten/intake.db"})
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(
        f"unable to open database file; the directory {tmp_path / 'daten'} does not exist "
        f"(create it, or correct the URL)")


@pytest.mark.parametrize("text, width, fitted", [
    ("Freitag, 22. Januar, 18 Uhr bis 22 Uhr", 24, "Freitag, 22. Januar…"),
    ("Stadtbibliothek", 20, "Stadtbibliothek"),
    ("Donaudampfschifffahrtsgesellschaft", 20, "Donaudampfschifffah…"),
])
def test_table_cells_are_cut_at_a_word(text: str, width: int, fitted: str) -> None:
    from bot.cli import _fit

    assert _fit(text, width) == fitted and len(fitted) <= width
