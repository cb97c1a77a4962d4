"""Configuration: TOML, environment overrides, one-line errors, documented settings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import REQUIRED_KEYS, SECTIONS, load_settings, render_example_config
from bot.errors import UserError

#: the keys without a default, as the admin fills them in
TOWN_HALL = """
[mail]
from_address = "themen@stadt.test"
from_name = "Presseteam Stadt Beispielhausen"
organisation = "Stadt Beispielhausen"
[imap]
host = "imap.stadt.test"
username = "themen@stadt.test"
[smtp]
host = "smtp.stadt.test"
[officer]
email = "presse@stadt.test"
name = "Kim Muster"
"""


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


def test_the_init_file_loads_with_defaults_and_the_examples_of_required_keys(
        tmp_path: Path) -> None:
    path = write(tmp_path, render_example_config())
    assert tomllib.loads(path.read_text(encoding="utf-8"))
    settings = load_settings(path, environ={}).model_dump()
    defaults = load_settings(None, environ={}, complete=False).model_dump()
    required = {(section, key): example for section, key, example in REQUIRED_KEYS}
    for section, model in SECTIONS.items():
        for key, info in model.model_fields.items():
            value = settings[section][key]
            if (section, key) in required:
                assert value == required[section, key], (section, key)
                assert defaults[section][key] == "", (section, key)  # no default
            elif (section, key) == ("smtp", "username"):
                assert value == info.examples[0]  # written active: most servers want AUTH
                assert defaults[section][key] is None
            else:
                assert value == defaults[section][key], (section, key)


def test_example_values_are_not_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(UserError) as info:
        load_settings(path, environ={})
    assert str(info.value).splitlines() == [
        f'{path}: [mail] from_address is required (e.g. "themen@musterhausen.de")',
        f'{path}: [mail] from_name is required (e.g. "Social-Media-Team Stadt Musterhausen")',
        f'{path}: [mail] organisation is required (e.g. "Stadt Musterhausen")',
        f'{path}: [imap] host is required (e.g. "imap.musterhausen.de")',
        f'{path}: [imap] username is required (e.g. "themen@musterhausen.de")',
        f'{path}: [smtp] host is required (e.g. "smtp.musterhausen.de")',
        f'{path}: [officer] email is required (e.g. "presse@musterhausen.de")',
        f'{path}: [officer] name is required (e.g. "Julia Beispiel")',
    ]


def test_required_keys_reported_together_with_other_errors_and_from_the_environment(
        tmp_path: Path) -> None:
    text = TOWN_HALL.replace('name = "Kim Muster"\n', "").replace(
        'host = "smtp.stadt.test"', 'host = ""\nport = "x"')
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_settings(path, environ={"INTAKE_MAIL__FROM_NAME": " "})
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{path}:11: [smtp] port: Input should be a valid integer")
    assert lines[1:] == [
        "environment variable INTAKE_MAIL__FROM_NAME: [mail] from_name is required "
        '(e.g. "Social-Media-Team Stadt Musterhausen")',
        f'{path}:10: [smtp] host is required (e.g. "smtp.musterhausen.de")',
        f'{path}: [officer] name is required (e.g. "Julia Beispiel")',
    ]


def test_a_complete_configuration_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, TOWN_HALL), environ={})
    assert settings.mail.from_address == "themen@stadt.test"
    assert settings.officer.name == "Kim Muster"
    assert settings.imap.port == 993 and settings.smtp.port == 587


def test_only_environment_variables_can_configure_everything(tmp_path: Path) -> None:
    env = {f"INTAKE_{section.upper()}__{key.upper()}": example.replace("musterhausen.de",
                                                                       "stadt.test")
           for section, key, example in REQUIRED_KEYS}
    settings = load_settings(tmp_path / "intake.toml", environ=env)
    assert settings.smtp.host == "smtp.stadt.test"
    del env["INTAKE_OFFICER__NAME"]
    with pytest.raises(UserError) as info:
        load_settings(tmp_path / "intake.toml", environ=env)
    assert str(info.value) == (f'{tmp_path / "intake.toml"}: [officer] name is required '
                               f'(e.g. "Julia Beispiel"); or set INTAKE_OFFICER__NAME')


def test_smtp_without_username_means_no_auth(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, TOWN_HALL), environ={})
    assert settings.smtp.username is None
    text = TOWN_HALL.replace('host = "smtp.stadt.test"',
                             'host = "smtp.stadt.test"\nusername = "bot@stadt.test"')
    assert load_settings(write(tmp_path, text), environ={}).smtp.username == "bot@stadt.test"


def test_a_missing_password_is_a_clear_message_at_login_time(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, TOWN_HALL), environ={})
    with pytest.raises(UserError) as info:
        settings.imap.password({})
    assert str(info.value) == (
        "[imap] environment variable INTAKE_IMAP_PASSWORD (the default password_env) is not "
        "set; export it, or set password_env or password_file in [imap]")
    assert settings.imap.password({"INTAKE_IMAP_PASSWORD": "pw"}) == "pw"
    text = TOWN_HALL.replace('host = "smtp.stadt.test"', 'host = "smtp.stadt.test"\n'
                             'username = "bot@stadt.test"\npassword_env = ""')
    settings = load_settings(write(tmp_path, text), environ={})
    with pytest.raises(UserError, match=r"^\[smtp\] no password: set password_env \(the name "
                                        r"of an environment variable holding it\) or "
                                        r"password_file$"):
        settings.smtp.password({"INTAKE_SMTP_PASSWORD": "unused"})


def test_environment_overrides_every_kind_of_value(tmp_path: Path) -> None:
    path = write(tmp_path, TOWN_HALL.replace('host = "imap.stadt.test"',
                                             'host = "imap.example.org"\nport = 993'))
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
     "intake.toml:3: [smtp] security: security = \"none\" sends passwords and mail unencrypted; "
     "it is only allowed for a loopback host"),
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
    ('[mail]\nfrom_address = themen@musterhausen.de\n', {}, "text values need quotes"),
], ids=["bad-type", "unknown-key", "unknown-section", "password-in-file", "plain-smtp-remote",
        "bad-timezone", "bad-time", "quote-header-label", "colon-label", "label-twice",
        "bad-from-address", "fake-loopback", "unknown-env", "bad-env", "bad-toml",
        "unquoted-text"])
def test_errors_are_one_line_naming_file_and_key(tmp_path: Path, text: str, env: dict[str, str],
                                                 expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_settings(path, environ=env)
    message = str(info.value)
    assert expected.replace("intake.toml", str(path)) in message, message
    assert "Traceback" not in message


def test_missing_config_file_is_an_error_only_when_required(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "intake.toml", environ={}, complete=False).imap.port == 993
    with pytest.raises(UserError, match="configuration file not found .*intake init"):
        load_settings(tmp_path / "intake.toml", environ={}, required=True)
    # without the keys that identify the town hall, the missing file is the one thing to say
    with pytest.raises(UserError) as info:
        load_settings(tmp_path / "intake.toml", environ={})
    assert str(info.value) == (
        f"{tmp_path / 'intake.toml'}: configuration file not found (point to yours with "
        f"--config FILE or INTAKE_CONFIG; create a new one with `intake init`)")


def test_secrets_come_from_env_or_file_only(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n", encoding="utf-8")
    path = write(tmp_path, f'[imap]\npassword_file = "{secret}"\n[smtp]\n'
                           f'password_env = "MY_SMTP_PW"\n')
    settings = load_settings(path, environ={}, complete=False)
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


def test_a_password_file_takes_precedence_over_password_env(tmp_path: Path) -> None:
    """As in docker-compose.yml: the file `intake init` wrote names a variable, the
    container's environment adds a secret file; the file is used."""
    secret = tmp_path / "imap_password"
    secret.write_text("aus-der-datei\n", encoding="utf-8")
    path = write(tmp_path, TOWN_HALL)
    settings = load_settings(path, environ={"INTAKE_IMAP__PASSWORD_FILE": str(secret),
                                            "INTAKE_IMAP_PASSWORD": "aus-der-variablen"})
    assert settings.imap.password_env and settings.imap.password_file
    assert settings.imap.password({"INTAKE_IMAP_PASSWORD": "aus-der-variablen"}) == (
        "aus-der-datei")


@pytest.mark.parametrize("value", ["Geheim123!", "mein passwort", "pa$$word", "1abc", "a-b"])
def test_a_password_typed_into_password_env_is_refused_without_echo(tmp_path: Path,
                                                                    value: str) -> None:
    path = write(tmp_path, TOWN_HALL.replace('username = "themen@stadt.test"',
                                             f'username = "themen@stadt.test"\n'
                                             f'password_env = "{value}"'))
    with pytest.raises(UserError) as info:
        load_settings(path, environ={})
    assert str(info.value) == (f"{path}:9: [imap] password_env must be the NAME of an "
                               f"environment variable, not the password itself")
    with pytest.raises(UserError) as info:
        load_settings(path, environ={"INTAKE_SMTP__PASSWORD_ENV": value})
    assert value not in str(info.value)
    assert ("environment variable INTAKE_SMTP__PASSWORD_ENV: [smtp] password_env must be the "
            "NAME of an environment variable") in str(info.value)


def test_secret_like_values_never_appear_in_password_messages(tmp_path: Path) -> None:
    # a valid name that is not written like one may still be a password: not repeated
    path = write(tmp_path, TOWN_HALL.replace('username = "themen@stadt.test"',
                                             'username = "themen@stadt.test"\n'
                                             'password_env = "Sommer2027"'))
    settings = load_settings(path, environ={})
    with pytest.raises(UserError) as info:
        settings.imap.password({})
    assert "Sommer2027" not in str(info.value)
    assert str(info.value).startswith("[imap] environment variable named there (password_env) "
                                      "is not set")
    # a password typed into password_file: neither the value nor the path it makes is shown
    path = write(tmp_path, TOWN_HALL.replace('username = "themen@stadt.test"',
                                             'username = "themen@stadt.test"\n'
                                             'password_file = "Geheim-42"'))
    settings = load_settings(path, environ={})
    with pytest.raises(UserError) as info:
        settings.imap.password({})
    assert "Geheim-42" not in str(info.value)
    assert str(info.value) == ("[imap] password_file: cannot read the file it names (No such "
                               "file or directory); it must name a file that holds the password")
    for content, message in [(b"\n", "[imap] password_file: the file is empty"),
                             (b"Gro\xdf\n", "[imap] password_file: the file is not UTF-8 text")]:
        (tmp_path / "Geheim-42").write_bytes(content)
        with pytest.raises(UserError) as info:
            settings.imap.password({})
        assert str(info.value) == message


def test_password_file_and_ca_file_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "imap.pw").write_text("s3cret\n", encoding="utf-8")
    path = tmp_path / "etc" / "intake.toml"
    path.write_text(TOWN_HALL.replace('username = "themen@stadt.test"',
                                      'username = "themen@stadt.test"\npassword_file = "imap.pw"\n'
                                      'ca_file = "ca.pem"'), encoding="utf-8")
    settings = load_settings(path, environ={"INTAKE_LOGGING__FILE": "log/intake.log"})
    assert settings.imap.password() == "s3cret"
    assert settings.imap.ca_file == str(tmp_path / "etc" / "ca.pem")
    assert settings.logging.file == str(tmp_path / "etc" / "log" / "intake.log")
    assert settings.origin("logging", "file") == "environment variable INTAKE_LOGGING__FILE"
    assert settings.origin("imap", "ca_file") == f"{path}:10"


@pytest.mark.parametrize("env, expected", [
    ({"INTAKE_IMAP__PORT": "x"},
     "environment variable INTAKE_IMAP__PORT: [imap] port: Input should be a valid integer"),
    ({"INTAKE_SMTP__SECURITY": "none"},
     "environment variable INTAKE_SMTP__SECURITY: [smtp] security: security = \"none\" sends "
     "passwords and mail unencrypted; it is only allowed for a loopback host, not "
     "'smtp.stadt.test'"),
    ({"INTAKE_MAIL__FROM_ADDRESS": "themen(at)stadt.test"},
     "environment variable INTAKE_MAIL__FROM_ADDRESS: [mail] from_address: "
     "'themen(at)stadt.test' is not a valid address"),
    ({"INTAKE_TEMPLATES__LABEL_WHERE": '["Wann"]'},
     "(with INTAKE_TEMPLATES__LABEL_WHERE): [templates]: template label 'Wann' appears twice"),
], ids=["field", "loopback-rule", "address", "section-rule"])
def test_a_value_from_the_environment_is_reported_as_that_variable(
        tmp_path: Path, env: dict[str, str], expected: str) -> None:
    text = TOWN_HALL.replace('host = "imap.stadt.test"', 'host = "imap.stadt.test"\nport = 993')
    text = text.replace('host = "smtp.stadt.test"', 'host = "smtp.stadt.test"\n'
                        'security = "starttls"')
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_settings(path, environ=env)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert expected in message, message
    if "(with" not in expected:
        assert message.startswith("environment variable "), message


@pytest.mark.parametrize("url, expected", [
    ("mysql://intake:Geheim@db/intake",
     "mysql:// is not supported; intake-bot works with SQLite and PostgreSQL: "
     "sqlite:///intake.db or postgresql+psycopg://USER@HOST/DB"),
    ("postgresql://intake:Geheim@db/intake",
     "write postgresql+psycopg:// (intake-bot uses the psycopg 3 driver), not postgresql://"),
    ("postgres://intake:Geheim@db/intake",
     "write postgresql+psycopg:// (intake-bot uses the psycopg 3 driver), not postgres://"),
    ("postgresql+psycopg2://intake:Geheim@db/intake",
     "write postgresql+psycopg:// (intake-bot uses the psycopg 3 driver), not "
     "postgresql+psycopg2://"),
    ("intake.db Geheim", "not a database URL; write sqlite:///intake.db or "
                         "postgresql+psycopg://USER@HOST/DB"),
])
def test_unsupported_database_urls_are_one_line_without_the_password(
        tmp_path: Path, url: str, expected: str) -> None:
    path = write(tmp_path, f'[database]\nurl = "{url}"\n' + TOWN_HALL)
    with pytest.raises(UserError) as info:
        load_settings(path, environ={})
    assert str(info.value) == f"{path}:2: [database] url: {expected}"
    assert "Geheim" not in str(info.value)


@pytest.mark.parametrize("url", ["sqlite:///intake.db", "sqlite://",
                                 "postgresql+psycopg://intake@db/intake"])
def test_supported_database_urls(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[database]\nurl = "{url}"\n' + TOWN_HALL)
    assert load_settings(path, environ={}).database.url == url


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "LocalHost", "127.0.0.1", "::1",
                                  "localhost."])
def test_plain_connections_to_loopback_in_any_spelling(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, TOWN_HALL)
    settings = load_settings(path, environ={"INTAKE_SMTP__HOST": host,
                                            "INTAKE_SMTP__SECURITY": "none"})
    assert settings.smtp.security == "none"


def test_a_key_above_every_section_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, 'host = "imap.stadt.test"\n' + TOWN_HALL)
    with pytest.raises(UserError) as info:
        load_settings(path, environ={})
    assert str(info.value) == (f"{path}:1: host is outside any section; put it below its "
                               f"section header such as [imap]")
