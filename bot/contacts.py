"""The contacts file: YAML or CSV, validated with every problem reported as FILE:LINE.

The admin edits this file by hand or in Excel, so reading it is forgiving where that is
safe (Excel's ";" separator, a UTF-8 byte-order mark or Excel's Windows-1252, German column
names, "ja"/"nein", extra columns such as Telefon) and strict where a mistake would misroute
mail or silently drop people (bad or duplicate addresses, one address in two departments,
misspelled keys, an unclosed quote, a file without anybody in it: a sync would deactivate
every department).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from email_validator import EmailNotValidError, validate_email

from bot.errors import UserError

KEYS = ("department", "email", "name", "salutation", "deputies", "active")
REQUIRED = ("department", "email")

#: column names Excel users tend to write (YAML keys too); mapped onto the canonical keys
CSV_ALIASES = {
    "abteilung": "department",
    "fachbereich": "department",
    "amt": "department",
    "e-mail": "email",
    "mail": "email",
    "e_mail": "email",
    "emailadresse": "email",
    "e-mail-adresse": "email",
    "anrede": "salutation",
    "vertreter": "deputies",
    "vertretung": "deputies",
    "stellvertreter": "deputies",
    "aktiv": "active",
}

_TRUE = {"true", "yes", "ja", "1", "x", "y", "j", "wahr"}
_FALSE = {"false", "no", "nein", "0", "n", "falsch"}
#: control characters, NEL (U+0085) and the Unicode line and paragraph separators included:
#: many programs break lines at those too
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SMTPUTF8_NOTE = ("has characters beyond ASCII before the @: mail to it goes out only if "
                  "the SMTP server supports SMTPUTF8")


@dataclass(frozen=True)
class ContactEntry:
    """One validated contact: the department's primary address plus deputies."""

    department: str
    email: str
    line: int
    name: str | None = None
    salutation: str | None = None
    deputies: tuple[str, ...] = ()
    active: bool = True

    @property
    def needs_smtputf8(self) -> bool:
        """The primary address has a non-ASCII local part (jürgen.groß@...): sending to it
        needs the SMTPUTF8 extension (a non-ASCII domain does not; it has an ASCII form)."""
        return needs_smtputf8(self.email)


def needs_smtputf8(address: str) -> bool:
    return not address.rpartition("@")[0].isascii()


def summary(entries: Iterable[ContactEntry]) -> str:
    """The counts `intake check` and `intake contacts check` print, in the units of
    `intake contacts sync`: departments, and contacts (every address: primary + deputies)."""
    items = list(entries)
    active = sum(1 for e in items if e.active)
    deputies = sum(len(e.deputies) for e in items)
    return (f"{len(items)} departments ({active} active), {len(items) + deputies} contacts "
            f"({deputies} of them deputies)")


@dataclass
class ContactsReport:
    path: Path
    entries: list[ContactEntry] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    #: worth knowing, not wrong: read as Windows-1252, ignored columns, SMTPUTF8 addresses
    notes: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        self.problems.append((line, message))

    def note(self, line: int, message: str) -> None:
        self.notes.append((line, message))

    def lines(self) -> list[str]:
        return [f"{self.path}:{line}: {message}" for line, message in sorted(self.problems)]

    def note_lines(self) -> list[str]:
        return [f"{self.path}:{line}: note: {message}" for line, message in sorted(self.notes)]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Raw:
    """An entry as read, before validation; `lines` maps each key to its line number."""

    line: int
    values: dict[str, Any]
    lines: dict[str, int]


def load_contacts(path: Path) -> list[ContactEntry]:
    """Read and validate; raise UserError listing every problem as FILE:LINE: message."""
    report = check_contacts(path)
    if not report.ok:
        raise UserError("\n".join(report.lines()))
    return report.entries


def check_contacts(path: Path) -> ContactsReport:
    report = ContactsReport(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: contacts file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read contacts file ({exc.strerror})") from None
    if path.suffix.lower() in (".csv", ".txt"):
        raws = _read_csv(data, report)
    elif path.suffix.lower() in (".yaml", ".yml"):
        raws = _read_yaml(data, report)
    else:
        raise UserError(f"{path}: unknown contacts file type; use .yaml, .yml or .csv")
    if not raws and report.ok:
        report.add(1, "the file lists no contacts; add one entry per department (a sync "
                      "with an empty file would deactivate every department)")
    _validate(raws, report)
    return report


def _decode(data: bytes, report: ContactsReport) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:200]:
        report.add(1, "the file is UTF-16 (Excel's 'Unicode Text'); save it as "
                      "'CSV UTF-8 (Trennzeichen-getrennt)' instead")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_line = data[: exc.start].count(b"\n") + 1
    # Excel's plain "CSV (Trennzeichen-getrennt)" is Windows-1252 on German Windows;
    # valid UTF-8 that is not meant as such practically never occurs, so the order is safe.
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report.add(line, f"neither UTF-8 nor Windows-1252 (byte 0x{data[exc.start]:02x}); "
                         f"save it as 'CSV UTF-8 (Trennzeichen-getrennt)' or UTF-8 text")
        return None
    report.note(first_line, "not UTF-8, read as Windows-1252 (Excel's 'CSV "
                            "(Trennzeichen-getrennt)'); check the umlauts in this line")
    return text


def _canonical(name: str) -> str:
    lowered = name.strip().lower()
    return CSV_ALIASES.get(lowered, lowered)


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one edit (nmae -> name)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _misspelled(name: str) -> str | None:
    """The key `name` is probably a typo of (one or two letters off), or None: an extra
    column such as Telefon or Bemerkung is just not ours."""
    lowered = name.strip().lower()
    allowed = 1 if len(lowered) <= 4 else 2
    best = min(KEYS + tuple(CSV_ALIASES), key=lambda known: _distance(lowered, known))
    return best if _distance(lowered, best) <= allowed else None


def _unknown_key(name: str) -> str:
    guess = _misspelled(name)
    hint = f"; did you mean {guess!r}?" if guess else ""
    return f"unknown {{what}} {name.strip()!r} (known: {', '.join(KEYS)}){hint}"


def _ignored(what: str, names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names)
    verb = "are" if len(names) > 1 else "is"
    return f"{what}{'s' if len(names) > 1 else ''} {shown} {verb} not used and ignored"


# --- YAML --------------------------------------------------------------------------------

#: deeper nesting than this is no contacts file (it needs three levels: the top mapping,
#: the list, an entry, and a deputies list)
MAX_YAML_DEPTH = 10
#: libyaml's loader where PyYAML was built with it (the wheels are): reading a file of a
#: thousand departments takes a tenth of the pure-Python loader's time, same nodes and marks
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(data: bytes, report: ContactsReport) -> list[_Raw]:
    text = _decode(data, report)
    if text is None:
        return []
    tabs = False
    for number, text_line in enumerate(text.splitlines(), start=1):
        indent = text_line[: len(text_line) - len(text_line.lstrip(" \t"))]
        if "\t" in indent and text_line.strip() and not text_line.lstrip().startswith("#"):
            report.add(number, "use spaces, not tabs, for indentation")
            tabs = True
    if tabs:
        return []
    try:
        # Anchors and aliases (&a, *a) let a few hundred bytes expand to gigabytes
        # ("billion laughs"); a contacts file has no use for them.
        depth = 0
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                report.add(mark.line + 1 if mark else 1,
                           "YAML anchors and aliases (&name, *name) are not allowed in the "
                           "contacts file; write each entry out in full")
                return []
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    # libyaml builds nested nodes by recursion in C: a file nested tens of
                    # thousands deep would crash the process, so it never gets there
                    mark = event.start_mark
                    report.add(mark.line + 1 if mark else 1,
                               "YAML nested too deeply; a contacts file needs two levels")
                    return []
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        report.add(line, f"YAML syntax error: {exc.problem or exc.context}; check indentation "
                         f"and that values with ':' are quoted")
        return []
    except yaml.YAMLError as exc:
        report.add(1, f"YAML error: {exc}")
        return []
    except RecursionError:
        report.add(1, "YAML nested too deeply; a contacts file needs two levels")
        return []
    if root is None:
        report.add(1, "the file is empty; it needs a top-level 'contacts:' list")
        return []
    if not isinstance(root, yaml.MappingNode):
        report.add(root.start_mark.line + 1, "expected a top-level 'contacts:' list")
        return []
    contacts_node = None
    contacts_line = 1
    for key_node, value_node in root.value:
        if key_node.value == "contacts":
            contacts_node = value_node
            contacts_line = key_node.start_mark.line + 1
        else:
            report.add(key_node.start_mark.line + 1,
                       f"unknown top-level key {key_node.value!r}; expected only 'contacts:'")
    if contacts_node is None:
        report.add(1, "no top-level 'contacts:' list")
        return []
    empty = (isinstance(contacts_node, yaml.ScalarNode)
             and contacts_node.value in ("", "~", "null")) or (
        isinstance(contacts_node, yaml.SequenceNode) and not contacts_node.value)
    if empty:
        report.add(contacts_line, "'contacts:' lists nobody; add one entry per department "
                                  "(a sync with an empty list would deactivate every "
                                  "department)")
        return []
    if not isinstance(contacts_node, yaml.SequenceNode):
        report.add(contacts_node.start_mark.line + 1,
                   "'contacts:' must be a list of entries, each starting with '- department:'")
        return []
    raws: list[_Raw] = []
    #: ignored keys -> the line they first appear on
    ignored: dict[str, int] = {}
    for item in contacts_node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            report.add(line, "each entry must be a mapping like '- department: ...' "
                             "with 'email: ...' below it")
            continue
        values: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in item.value:
            written = str(key_node.value)
            key_line = key_node.start_mark.line + 1
            key = _canonical(written)
            if key not in KEYS:
                if _misspelled(written):
                    report.add(key_line, _unknown_key(written).format(what="key"))
                else:
                    ignored.setdefault(written, key_line)
                continue
            if key in values:
                report.add(key_line, f"key {written!r} appears twice in this entry")
                continue
            lines[key] = value_node.start_mark.line + 1
            values[key] = _yaml_value(value_node)
        raws.append(_Raw(line, values, lines))
    if ignored:
        report.note(min(ignored.values()), _ignored("key", list(ignored)))
    return raws


def _yaml_value(node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return [_yaml_value(n) for n in node.value]
    if isinstance(node, yaml.MappingNode):
        return {str(k.value): _yaml_value(v) for k, v in node.value}
    # Booleans and null as YAML resolves them; everything else stays text, so that a
    # department named "2024" or a number-like value is not silently turned into an int.
    if node.tag == "tag:yaml.org,2002:bool":
        return str(node.value).lower() in ("true", "yes", "on", "y")
    if node.tag == "tag:yaml.org,2002:null":
        return None
    return str(node.value)


# --- CSV ---------------------------------------------------------------------------------

def _read_csv(data: bytes, report: ContactsReport) -> list[_Raw]:
    text = _decode(data, report)
    if text is None:
        return []
    if not text.strip():
        report.add(1, "the file is empty; it needs a header row (department;email;...) and "
                      "one line per department")
        return []
    first = text.split("\n", 1)[0]
    if not first.strip():
        report.add(1, "the first line must be the header row (department;email;name;...)")
        return []
    counts = {sep: first.count(sep) for sep in (";", ",", "\t")}
    sep = max(counts, key=lambda s: counts[s])
    if counts[sep] == 0 or sep == "\t":
        shown = "tab" if sep == "\t" else "none"
        report.add(1, f"unexpected separator ({shown}); separate columns with ';' (Excel) or ','")
        return []
    # strict: an unclosed quote is an error instead of swallowing the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        report.add(1, f"cannot read the header row: {exc}")
        return []
    columns: list[str | None] = []
    ignored: list[str] = []
    for col in header:
        name = _canonical(col)
        if not name:
            columns.append(None)
        elif name not in KEYS:
            if _misspelled(col):
                report.add(1, _unknown_key(col).format(what="column"))
            else:
                ignored.append(col.strip())
            columns.append(None)
        elif name in columns:
            report.add(1, f"column {col.strip()!r} appears twice")
            columns.append(None)
        else:
            columns.append(name)
    if ignored:
        report.note(1, _ignored("column", ignored))
    unnamed = {i for i, col in enumerate(header) if not col.strip()}
    raws: list[_Raw] = []
    line = 1
    try:
        for row in reader:
            line_start = line + 1
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(columns):
                extra = [c for c in row[len(columns):] if c.strip()]
                if extra:
                    report.add(line_start, f"more cells ({len(row)}) than header columns "
                                           f"({len(columns)}); is a value containing '{sep}' "
                                           f"missing its quotes?")
            for index in sorted(unnamed):
                if index < len(row) and row[index].strip():
                    report.add(line_start, f"a value in column {index + 1}, which has no name "
                                           f"in the header row; name the column or move the "
                                           f"value")
            values: dict[str, Any] = {}
            for column, cell in zip(columns, row, strict=False):
                if column is not None and cell.strip():
                    values[column] = cell.strip()
            if "deputies" in values:
                values["deputies"] = [d for d in re.split(r"[\s|,;]+", values["deputies"]) if d]
            raws.append(_Raw(line_start, values, dict.fromkeys(values, line_start)))
    except csv.Error as exc:
        if "end of data" in str(exc):
            report.add(line + 1, "a quote (\") opened on this line is never closed; close it "
                                 "or remove it")
        else:
            report.add(line + 1, f"CSV error: {exc}; check the quotes on this line")
    return raws


# --- validation ----------------------------------------------------------------------------

def _check_address(value: Any, line: int, what: str, report: ContactsReport) -> str | None:
    if not isinstance(value, str) or not value.strip():
        report.add(line, f"{what} must be an e-mail address")
        return None
    try:
        # No DNS look-ups (check_deliverability=False); test_environment admits the
        # reserved .test domain so demo and test set-ups can use it.
        result = validate_email(value.strip(), check_deliverability=False,
                                test_environment=True)
    except EmailNotValidError as exc:
        report.add(line, f"{what} {value.strip()!r} is not a valid address: {exc}")
        return None
    address = result.normalized.lower()
    if result.smtputf8:
        report.note(line, f"{what} {address} {_SMTPUTF8_NOTE}")
    return address


def _check_text(raw: _Raw, key: str, report: ContactsReport) -> str | None:
    value = raw.values.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        report.add(raw.lines.get(key, raw.line), f"{key} must be text")
        return None
    if _CONTROL.search(value):
        report.add(raw.lines.get(key, raw.line), f"{key} contains a line break or control "
                                                 f"character; write it on one line")
        return None
    return " ".join(value.split()) or None


def _flag_value(value: Any) -> Any:
    """"ja", "nein", "1", "x" ... as YAML and CSV both accept them; others unchanged."""
    if isinstance(value, str):
        flag = value.strip().lower()
        if flag in _TRUE:
            return True
        if flag in _FALSE:
            return False
    return value


def _validate(raws: list[_Raw], report: ContactsReport) -> None:
    #: address -> (line, department) of its first appearance
    seen: dict[str, tuple[int, str]] = {}
    departments: dict[str, int] = {}
    for raw in raws:
        ok = True
        for key in REQUIRED:
            value = raw.values.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                report.add(raw.line, f"entry has no {key}")
                ok = False
        department = _check_text(raw, "department", report)
        name = _check_text(raw, "name", report)
        salutation = _check_text(raw, "salutation", report)
        email = None
        if raw.values.get("email") is not None:
            email = _check_address(raw.values["email"], raw.lines.get("email", raw.line),
                                   "email", report)
            ok = ok and email is not None
        deputies_value = raw.values.get("deputies", [])
        if isinstance(deputies_value, str):
            deputies_value = [d for d in re.split(r"[\s|,;]+", deputies_value) if d]
        deputies: list[str] = []
        if not isinstance(deputies_value, list):
            report.add(raw.lines.get("deputies", raw.line), "deputies must be a list of addresses")
            ok = False
        else:
            for dep in deputies_value:
                address = _check_address(dep, raw.lines.get("deputies", raw.line),
                                         "deputy", report)
                if address is None:
                    ok = False
                else:
                    deputies.append(address)
        active = _flag_value(raw.values.get("active", True))
        if not isinstance(active, bool):
            report.add(raw.lines.get("active", raw.line),
                       f"active must be true or false (ja/nein), not {active!r}")
            ok = False
        if department:
            key = department.casefold()
            if key in departments:
                report.add(raw.line, f"department {department!r} already has a contact "
                                     f"(line {departments[key]}); list further people as "
                                     f"deputies of that entry")
                ok = False
            else:
                departments[key] = raw.line
        for address, line in [(email, raw.lines.get("email", raw.line))] + [
            (d, raw.lines.get("deputies", raw.line)) for d in deputies
        ]:
            if address is None or department is None:
                continue
            if address in seen:
                first_line, first_department = seen[address]
                if first_department.casefold() == department.casefold():
                    report.add(line, f"duplicate address {address} (already on line {first_line})")
                else:
                    report.add(line, f"address {address} is also listed for department "
                                     f"{first_department!r} (line {first_line}); an address "
                                     f"may belong to one department only")
                ok = False
            else:
                seen[address] = (line, department)
        if ok and department and email:
            report.entries.append(ContactEntry(
                department=department, email=email, line=raw.line, name=name,
                salutation=salutation, deputies=tuple(deputies), active=active,
            ))
