"""Configuration: TOML, environment overrides, one-line errors, documented settings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import SECTIONS, load_settings, render_example_config
from bot.errors import UserError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "intake.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_setting_is_documented_in_the_init_file() -> None:
    text = render_example_config()
    lines = text.splitlines()
    for section, model in SECTIONS.items():
        assert f"[{section}]" in lines, section
        start = lines.index(f"[{section}]")
        block = lines[start:]
        for key, info in model.model_fields.items():
            assert info.description, f"[{section}] {key} has no help text"
            matches = [i for i, line in enumerate(block)
                       if line.startswith((f"{key} = ", f"# {key} = "))]
            assert matches, f"[{section}] {key} missing from the example file"
            # the line above the key is (the end of) its comment
            assert block[matches[0] - 1].startswith("# "), f"[{section}] {key} not commented"


def test_the_init_file_loads_and_equals_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, render_example_config())
    assert tomllib.loads(path.read_text(encoding="utf-8"))
    settings = load_settings(path, environ={})
    defaults = load_settings(None, environ={})
    assert settings.model_dump() == defaults.model_dump()


def test_environment_overrides_every_kind_of_value(tmp_path: Path) -> None:
    path = write(tmp_path, '[imap]\nhost = "imap.example.org"\nport = 993\n')
    settings = load_settings(path, environ={
        "INTAKE_IMAP__HOST": "127.0.0.1",
        "INTAKE_IMAP__PORT": "10143",
        "INTAKE_IMAP__SECURITY": "none",
        "INTAKE_SMTP__USERNAME": "",
        "INTAKE_TEMPLATES__LABEL_WHAT": '["Thema", "Was"]',
        "INTAKE_CONFIG": "ignored.toml",
        "INTAKE_IMAP_PASSWORD": "not a setting, a secret",
    })
    assert settings.imap.host == "127.0.0.1"
    assert settings.imap.port == 10143
    assert settings.imap.security == "none"
    assert settings.smtp.username is None
    assert settings.templates.label_what == ["Thema", "Was"]


@pytest.mark.parametrize("text, env, expected", [
    ('[imap]\nhost = "x"\n\nport = "abc"\n', {},
     "intake.toml:4: [imap] port: Input should be a valid integer"),
    ("[imap]\nprot = 993\n", {}, "intake.toml:2: [imap] prot: unknown key (known: host, port"),
    ("[imapp]\nport = 993\n", {}, "intake.toml:1: unknown section [imapp]"),
    ('[smtp]\npassword = "geheim"\n', {},
     "intake.toml:2: [smtp] password: secrets are never written in the file; use password_env "
     "or password_file"),
    ('[smtp]\nhost = "mail.example.org"\nsecurity = "none"\n', {},
     "[smtp]: security = \"none\" sends passwords and mail unencrypted; it is only allowed for a "
     "loopback host"),
    ('[schedule]\ntimezone = "Europe/Berln"\n', {},
     "intake.toml:2: [schedule] timezone: unknown time zone 'Europe/Berln'"),
    ("[schedule]\nrequest_time = \"8 Uhr\"\n", {},
     "intake.toml:2: [schedule] request_time: '8 Uhr' is not a time of day as HH:MM"),
    ('[templates]\nlabel_when = ["Datum"]\n', {},
     "intake.toml:2: [templates] label_when: template label 'Datum' starts with 'Datum', which "
     "mail quote parsers take for the header of a quoted message"),
    ('[templates]\nlabel_what = ["Was:"]\n', {},
     "intake.toml:2: [templates] label_what: 'Was:' is not a valid label"),
    ('[templates]\nlabel_where = ["Wann"]\n', {},
     "[templates]: template label 'Wann' appears twice"),
    ('[mail]\nfrom_address = "themen(at)musterhausen.de"\n', {},
     "intake.toml:2: [mail] from_address: 'themen(at)musterhausen.de' is not a valid address"),
    ('[imap]\nhost = "127.attacker.example"\nsecurity = "none"\n', {},
     "only allowed for a loopback host, not '127.attacker.example'"),
    ("", {"INTAKE_IMAP__PORTT": "1"},
     "environment variable INTAKE_IMAP__PORTT: no such setting [imap] portt"),
    ("", {"INTAKE_IMAP__PORT": "x"},
     "environment variable INTAKE_IMAP__PORT: [imap] port: Input should be a valid integer"),
    ("[imap\n", {}, "intake.toml: not valid TOML"),
], ids=["bad-type", "unknown-key", "unknown-section", "password-in-file", "plain-smtp-remote",
        "bad-timezone", "bad-time", "quote-header-label", "colon-label", "label-twice",
        "bad-from-address", "fake-loopback", "unknown-env", "bad-env", "bad-toml"])
def test_errors_are_one_line_naming_file_and_key(tmp_path: Path, text: str, env: dict[str, str],
                                                 expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_settings(path, environ=env)
    message = str(info.value)
    assert expected.replace("intake.toml", str(path)) in message, message
    assert "Traceback" not in message


def test_missing_config_file_is_an_error_only_when_required(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "intake.toml", environ={}).imap.port == 993
    with pytest.raises(UserError, match="configuration file not found .*intake init"):
        load_settings(tmp_path / "intake.toml", environ={}, required=True)


def test_secrets_come_from_env_or_file_only(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n", encoding="utf-8")
    path = write(tmp_path, f'[imap]\npassword_file = "{secret}"\n[smtp]\n'
                           f'password_env = "MY_SMTP_PW"\n')
    settings = load_settings(path, environ={})
    assert settings.imap.password() == "s3cret"
    assert settings.smtp.password({"MY_SMTP_PW": "pw2"}) == "pw2"
    with pytest.raises(UserError, match="environment variable MY_SMTP_PW .* is not set"):
        settings.smtp.password({})


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    import logging

    from bot.logs import RedactingFilter, register_secret

    register_secret("pw-Geheim-42")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "login with %s failed",
                               ("pw-Geheim-42",), None)
    try:
        raise RuntimeError("server said: pw-Geheim-42 is wrong")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "pw-Geheim-42" not in text
    assert "login with *** failed" in text and "server said: ***" in text


def test_both_secret_sources_set_explicitly_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[imap]\npassword_env = "A"\npassword_file = "/x"\n')
    with pytest.raises(UserError, match="set either password_env or password_file, not both"):
        load_settings(path, environ={})
