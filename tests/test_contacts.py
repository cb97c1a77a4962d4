"""The contacts file: every problem at once, as FILE:LINE: message; Excel CSV just works."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.contacts import ContactEntry, check_contacts, load_contacts
from bot.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures" / "contacts"


def problems(name: str) -> list[str]:
    report = check_contacts(FIXTURES / name)
    return [f"{line}: {message}" for line, message in sorted(report.problems)]


def test_bad_address_on_line_3_and_missing_department_in_entry_of_line_6() -> None:
    found = problems("bad_address_line3_missing_department_line6.yaml")
    assert len(found) == 2, found
    assert found[0].startswith("3: email 'erika.muster@@musterhausen.de' is not a valid address")
    assert found[1] == "6: entry has no department"


def test_load_raises_one_line_per_problem_naming_file_and_line() -> None:
    path = FIXTURES / "bad_address_line3_missing_department_line6.yaml"
    with pytest.raises(UserError) as info:
        load_contacts(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}:3", f"{path}:6"]


def test_duplicates_and_one_address_in_two_departments() -> None:
    found = problems("duplicate_and_cross_department.yaml")
    assert any(p.startswith("4: duplicate address max.vertreter@musterhausen.de") for p in found)
    assert any(p.startswith("6: address max.vertreter@musterhausen.de is also listed for "
                            "department 'Bauamt'") for p in found)
    assert any(p.startswith("9: department 'stadtbibliothek' already has a contact (line 7)")
               for p in found)
    assert len(found) == 3, found


def test_unknown_keys_bad_flags_and_line_breaks() -> None:
    found = problems("unknown_keys_and_bad_values.yaml")
    assert "3: unknown key 'emial' (known: department, email, name, salutation, deputies, " \
           "active)" in found
    assert "7: active must be true or false, not 'vielleicht'" in found
    assert any(p.startswith("10: name contains a line break") for p in found)
    assert len(found) == 3, found


def test_yaml_syntax_error_names_the_line() -> None:
    found = problems("yaml_syntax_error.yaml")
    assert len(found) == 1
    assert found[0].startswith("4: YAML syntax error")


def test_excel_csv_with_semicolons_and_bom_just_works() -> None:
    report = check_contacts(FIXTURES / "excel_semicolon_utf8_bom.csv")
    assert report.problems == []
    assert report.entries == [
        ContactEntry(department="Bauamt", email="erika.muster@musterhausen.de", line=2,
                     name="Erika Muster", salutation="Frau Muster",
                     deputies=("max.vertreter@musterhausen.de", "b.vertreter@musterhausen.de"),
                     active=True),
        ContactEntry(department="Wirtschaftsförderung; Stadtmarketing",
                     email="jonas.beispiel@musterhausen.de", line=3, name="Jönas Beispiel",
                     salutation="Herr Beispiel"),
        ContactEntry(department="Kita Sonnenschein", email="kita.sonnenschein@musterhausen.de",
                     line=4, active=False),
    ]


def test_comma_csv_with_quoted_comma() -> None:
    report = check_contacts(FIXTURES / "comma_separated.csv")
    assert report.problems == []
    assert [e.name for e in report.entries] == ["Erika Muster", "Demir, Aylin"]


def test_windows1252_csv_is_a_clear_error() -> None:
    found = problems("windows1252_encoding.csv")
    assert len(found) == 1
    assert found[0].startswith("2: not UTF-8 (byte 0xf6")
    assert "CSV UTF-8" in found[0]


def test_tab_separated_csv_is_a_clear_error() -> None:
    assert problems("tab_separated.csv") == [
        "1: unexpected separator (tab); separate columns with ';' (Excel) or ','"]


def test_csv_problems_are_all_reported_with_lines() -> None:
    found = problems("csv_problems.csv")
    assert found[0].startswith("1: unknown column 'nmae'")
    assert "3: entry has no department" in found
    assert any(p.startswith("4: email 'kein-at-zeichen' is not a valid address") for p in found)
    assert len(found) == 3, found


def test_yaml_values_stay_text_and_booleans_are_booleans(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("contacts:\n  - department: 2027\n    email: A@Musterhausen.de\n"
                    "    active: no\n    deputies: b@musterhausen.de c@musterhausen.de\n",
                    encoding="utf-8")
    (entry,) = load_contacts(path)
    assert entry.department == "2027"
    assert entry.email == "a@musterhausen.de"
    assert entry.active is False
    assert entry.deputies == ("b@musterhausen.de", "c@musterhausen.de")


@pytest.mark.parametrize("content, message", [
    ("", "1: the file is empty; it needs a top-level 'contacts:' list"),
    ("kontakte: []\n", "1: unknown top-level key 'kontakte'; expected only 'contacts:'"),
    ("contacts: Bauamt\n", "1: 'contacts:' must be a list of entries, each starting with "
                           "'- department:'"),
    ("contacts:\n  - Bauamt\n", "2: each entry must be a mapping like '- department: ...' "
                                "with 'email: ...' below it"),
], ids=["empty", "wrong-top-level-key", "not-a-list", "entry-not-a-mapping"])
def test_structure_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text(content, encoding="utf-8")
    report = check_contacts(path)
    assert message in [f"{line}: {m}" for line, m in report.problems]


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="contacts file not found"):
        check_contacts(tmp_path / "nope.yaml")
    other = tmp_path / "contacts.xlsx"
    other.write_bytes(b"PK")
    with pytest.raises(UserError, match="use .yaml, .yml or .csv"):
        check_contacts(other)


def test_the_shipped_example_is_valid() -> None:
    path = Path(__file__).resolve().parents[1] / "bot" / "examples" / "contacts.yaml"
    entries = load_contacts(path)
    assert len(entries) == 5
    assert sum(e.active for e in entries) == 4
