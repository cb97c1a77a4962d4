"""The systemd unit an admin installs (docs/deploy/intake.service), read the way systemd
reads it: it must start the daemon of the real command line, as an unprivileged user, with
the passwords in a separate file and the writable places limited to the bot's own."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

from bot.cli import cli

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "docs" / "deploy" / "intake.service"

#: names whose value is a secret when set inline (Environment=INTAKE_IMAP_PASSWORD=...)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PGPASS", re.IGNORECASE)


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists in file order: systemd allows a key
    more than once (Environment=, ReadWritePaths=), which configparser would refuse."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):  # a continued line
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        header = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), [])
            continue
        assert current is not None, f"{UNIT.name}: {line!r} is outside any section"
        key, sep, value = line.partition("=")
        assert sep, f"{UNIT.name}: {line!r} is not KEY=VALUE"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [value for k, value in section if k == key]


def one(section: list[tuple[str, str]], key: str) -> str:
    found = values(section, key)
    assert len(found) == 1, f"{key}= should be set exactly once, found {found}"
    return found[0]


def service() -> list[tuple[str, str]]:
    sections = parse_unit(UNIT.read_text(encoding="utf-8"))
    assert set(sections) == {"Unit", "Service", "Install"}, set(sections)
    assert values(sections["Install"], "WantedBy") == ["multi-user.target"]
    return sections["Service"]


def test_the_unit_starts_the_daemon_of_the_real_command_line() -> None:
    s = service()
    assert one(s, "Type") == "simple"
    argv = shlex.split(one(s, "ExecStart"))
    executable, args = argv[0], argv[1:]
    assert executable.startswith("/") and Path(executable).name == "intake", executable
    assert Path(executable).parent.name == "bin" and Path(executable).parent.parent.name == ".venv"
    # the global option comes before the command, as click wants it, and names a TOML file
    assert args[0] == "--config" and args[1].endswith(".toml") and args[1].startswith("/")
    assert args[2:] == ["run"], args
    # the command line the unit runs understands it: --config is the global option, and
    # `run` a command that takes nothing more
    ctx = cli.make_context("intake", args[:2], resilient_parsing=True)
    assert ctx.params["config_path"] == Path(args[1])
    name, command, rest = cli.resolve_command(ctx, args[2:])
    assert name == "run" and isinstance(command, click.Command) and rest == []
    command.make_context("run", rest, parent=ctx)
    # graceful: the daemon handles SIGTERM; only its main process gets it
    assert one(s, "KillSignal") == "SIGTERM"
    assert one(s, "KillMode") == "mixed"
    assert one(s, "Restart") == "on-failure"


def test_the_unit_runs_as_an_unprivileged_user() -> None:
    s = service()
    user = one(s, "User")
    assert user and user not in {"root", "0"}, user
    assert one(s, "Group") not in {"root", "0"}
    assert one(s, "NoNewPrivileges") == "yes"
    assert one(s, "CapabilityBoundingSet") == ""
    assert "AmbientCapabilities" not in dict(s)


def test_secrets_are_never_in_the_unit_itself() -> None:
    s = service()
    env_files = values(s, "EnvironmentFile")
    assert env_files == ["/etc/intake/intake.env"], env_files
    for line in values(s, "Environment"):
        for assignment in shlex.split(line):
            name = assignment.partition("=")[0]
            assert not SECRET_NAME.search(name), f"Environment= sets {name} inline"
    # nor hidden elsewhere, e.g. on the command line
    text = UNIT.read_text(encoding="utf-8")
    active = [line for line in text.splitlines() if line and not line.lstrip().startswith("#")]
    for line in active:
        key = line.partition("=")[0]
        if key not in {"EnvironmentFile"}:
            assert not re.search(r"(PASSWORD|SECRET)\w*=\S", line, re.IGNORECASE), line


def test_only_the_bots_own_directories_are_writable() -> None:
    s = service()
    assert one(s, "ProtectSystem") == "strict"
    assert one(s, "PrivateTmp") == "yes"
    assert one(s, "ProtectHome") == "yes"
    writable = " ".join(values(s, "ReadWritePaths")).split()
    assert writable, "ProtectSystem=strict without ReadWritePaths= leaves nowhere to write"
    for path in writable:
        assert path.startswith("/var/"), f"{path} should not be writable"
    # the working directory (the SQLite database's home) is one of them, and systemd
    # creates it for the user
    workdir = one(s, "WorkingDirectory")
    assert workdir in writable
    assert f"/var/lib/{one(s, 'StateDirectory')}" == workdir
    # the configuration and the code stay read-only
    config = shlex.split(one(s, "ExecStart"))[2]
    assert not any(config.startswith(path.rstrip("/") + "/") for path in writable)


def test_the_readme_shows_the_unit_as_it_is() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## A systemd unit\n", 1)[1].split("\n## ", 1)[0]
    excerpt = re.search(r"```ini\n(.*?)```", section, re.S)
    assert excerpt is not None, "the README's systemd section shows no unit"
    shown = parse_unit(excerpt.group(1))["Service"]
    actual = service()
    for key, value in shown:
        assert value in values(actual, key), f"README shows {key}={value}; the unit differs"
