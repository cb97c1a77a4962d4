"""The contacts file: every problem at once, as FILE:LINE: message; Excel CSV just works."""

from __future__ import annotations

import subprocess
import sys
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
           "active); did you mean 'email'?" in found
    assert "7: active must be true or false (ja/nein), not 'vielleicht'" in found
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


def test_windows1252_csv_as_german_excel_saves_it_is_read_with_a_note() -> None:
    report = check_contacts(FIXTURES / "windows1252_encoding.csv")
    assert report.problems == []
    assert [(e.department, e.name) for e in report.entries] == [("Bauamt", "Jörg Müller")]
    assert report.note_lines() == [
        f"{FIXTURES / 'windows1252_encoding.csv'}:2: note: not UTF-8, read as Windows-1252 "
        f"(Excel's 'CSV (Trennzeichen-getrennt)'); check the umlauts in this line"]


def test_utf16_is_refused_with_the_format_to_choose() -> None:
    assert problems("utf16_unicode_text.csv") == [
        "1: the file is UTF-16 (Excel's 'Unicode Text'); save it as 'CSV UTF-8 "
        "(Trennzeichen-getrennt)' instead"]


def test_bytes_that_are_neither_utf8_nor_windows1252_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "kontakte.csv"
    path.write_bytes(b"department;email\nBauamt;a@musterhausen.de\nKita\x81;k@musterhausen.de\n")
    report = check_contacts(path)
    assert [line for line, _ in report.problems] == [3]
    assert report.problems[0][1].startswith("neither UTF-8 nor Windows-1252 (byte 0x81)")


def test_tab_separated_csv_is_a_clear_error() -> None:
    assert problems("tab_separated.csv") == [
        "1: unexpected separator (tab); separate columns with ';' (Excel) or ','"]


def test_csv_problems_are_all_reported_with_lines() -> None:
    found = problems("csv_problems.csv")
    assert found[0] == ("1: unknown column 'nmae' (known: department, email, name, salutation, "
                        "deputies, active); did you mean 'name'?")
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


@pytest.mark.parametrize("name, content, message", [
    ("contacts.csv", "Abteilung;E-Mail;Name\n",
     "1: the file lists no contacts; add one entry per department (a sync with an empty file "
     "would deactivate every department)"),
    ("contacts.csv", "department;email\n;\n\n",
     "1: the file lists no contacts; add one entry per department"),
    ("contacts.csv", "", "1: the file is empty; it needs a header row"),
    ("contacts.csv", "\n  \n", "1: the file is empty; it needs a header row"),
    ("contacts.yaml", "# Kontakte folgen\ncontacts:\n",
     "2: 'contacts:' lists nobody; add one entry per department (a sync with an empty list "
     "would deactivate every department)"),
    ("contacts.yaml", "contacts: []\n", "1: 'contacts:' lists nobody"),
    ("contacts.yaml", "", "1: the file is empty; it needs a top-level 'contacts:' list"),
    ("contacts.yaml", "# nur ein Kommentar\n", "1: the file is empty"),
], ids=["csv-header-only", "csv-empty-rows", "csv-empty-file", "csv-blank-lines",
        "yaml-contacts-null", "yaml-contacts-empty-list", "yaml-empty-file", "yaml-comment-only"])
def test_a_file_without_contacts_is_refused(tmp_path: Path, name: str, content: str,
                                            message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    report = check_contacts(path)
    assert not report.ok
    assert report.entries == []
    found = [f"{line}: {m}" for line, m in report.problems]
    assert len(found) == 1 and found[0].startswith(message), found
    with pytest.raises(UserError):
        load_contacts(path)


def test_header_only_fixture_is_refused() -> None:
    assert [p[:41] for p in problems("header_only.csv")] == [
        "1: the file lists no contacts; add one en"]
    assert problems("empty_contacts_list.yaml")[0].startswith("2: 'contacts:' lists nobody")


def test_extra_columns_are_ignored_with_one_note() -> None:
    report = check_contacts(FIXTURES / "extra_columns_telefon_bemerkung.csv")
    assert report.problems == []
    assert [(e.department, e.email, e.name) for e in report.entries] == [
        ("Bauamt", "erika.muster@musterhausen.de", "Erika Muster"),
        ("Kita", "kita@musterhausen.de", None)]
    assert report.notes == [(1, "columns 'Telefon', 'Bemerkung' are not used and ignored")]


def test_extra_yaml_keys_are_ignored_with_one_note_and_german_keys_understood(
        tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text("contacts:\n  - Abteilung: Bauamt\n    E-Mail: a@musterhausen.de\n"
                    "    telefon: 123\n    aktiv: nein\n"
                    "  - department: Kita\n    email: k@musterhausen.de\n    telefon: 456\n",
                    encoding="utf-8")
    report = check_contacts(path)
    assert report.problems == []
    assert [(e.department, e.active) for e in report.entries] == [("Bauamt", False),
                                                                 ("Kita", True)]
    assert report.notes == [(4, "key 'telefon' is not used and ignored")]


def test_values_under_unnamed_columns_are_reported_with_their_line() -> None:
    assert problems("unnamed_trailing_column_lines2_and_4.csv") == [
        "2: a value in column 4, which has no name in the header row; name the column or "
        "move the value",
        "4: more cells (5) than header columns (4); is a value containing ';' missing its "
        "quotes?",
    ]


def test_an_unclosed_quote_is_reported_with_its_line() -> None:
    found = problems("unclosed_quote_line3.csv")
    assert found == ["3: a quote (\") opened on this line is never closed; close it or remove it"]


@pytest.mark.parametrize("flag, active", [
    ("ja", True), ("Nein", False), ("true", True), ("false", False), ("yes", True),
    ("no", False), ("1", True), ("0", False), ('"ja"', True), ("x", True),
])
def test_yaml_active_accepts_what_csv_accepts(tmp_path: Path, flag: str, active: bool) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text(f"contacts:\n  - department: Bauamt\n    email: a@musterhausen.de\n"
                    f"    active: {flag}\n", encoding="utf-8")
    (entry,) = load_contacts(path)
    assert entry.active is active


def test_tabs_in_yaml_indentation_name_the_line() -> None:
    assert problems("tab_indentation_line3.yaml") == ["3: use spaces, not tabs, for indentation"]


def test_yaml_anchors_and_aliases_are_refused_before_any_expansion() -> None:
    assert problems("yaml_anchor_line1_alias_expansion.yaml") == [
        "1: YAML anchors and aliases (&name, *name) are not allowed in the contacts file; "
        "write each entry out in full"]


def test_an_alias_alone_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text("contacts:\n  - department: Bauamt\n    email: a@musterhausen.de\n"
                    "  - department: Kita\n    email: k@musterhausen.de\n"
                    "    deputies: *x\n", encoding="utf-8")
    found = [line for line, _ in check_contacts(path).problems]
    assert found == [6]


def test_non_ascii_local_parts_are_valid_with_a_smtputf8_note() -> None:
    path = FIXTURES / "active_ja_nein_and_smtputf8.yaml"
    report = check_contacts(path)
    assert report.problems == []
    assert [(e.department, e.active, e.needs_smtputf8) for e in report.entries] == [
        ("Bauamt", True, True), ("Kita", False, False), ("Bibliothek", False, False),
        ("Feuerwehr", True, False)]
    assert report.entries[0].email == "jürgen.groß@musterhausen.de"
    assert report.notes == [
        (3, "email jürgen.groß@musterhausen.de has characters beyond ASCII before the @: "
            "mail to it goes out only if the SMTP server supports SMTPUTF8"),
        (14, "deputy zoë.brand@musterhausen.de has characters beyond ASCII before the @: "
             "mail to it goes out only if the SMTP server supports SMTPUTF8"),
    ]


def test_a_non_ascii_domain_needs_no_smtputf8() -> None:
    entry = ContactEntry(department="Bauamt", email="a@müller.de", line=1)
    assert not entry.needs_smtputf8


def test_a_file_nested_thousands_deep_is_refused_not_a_crash(tmp_path: Path) -> None:
    """libyaml composes nodes by recursion in C: 100,000 nested lists in 200 KB killed the
    process (SIGSEGV) before the nesting was counted; run apart, so a crash fails the test
    rather than the whole run."""
    path = tmp_path / "contacts.yaml"
    path.write_text("contacts: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "contacts", "check", str(path)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, (result.returncode, result.stderr[-500:])
    assert f"{path}:1: YAML nested too deeply" in result.stdout + result.stderr
