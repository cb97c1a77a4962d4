"""Table-driven tests of the reply parser against the project's own .eml fixtures.

Every `tests/fixtures/parse/NAME.eml` has a `NAME.expected.json` next to it (format:
tests/parse_expectations.md). The test parses the bytes with `parsers.parse_message` and
compares only the keys the expectation holds.

Per-field, per-case and per-category accuracy over all fixtures (for reports):

    .venv/bin/python -m tests.test_parse_fixtures          # tables
    .venv/bin/python -m tests.test_parse_fixtures -v       # plus every failed check

A fixture's category is its expectation's "category", else the first word(s) of its name
(`CATEGORY_PREFIXES`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from parsers import ParseOptions, parse_message

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "parse"
TEXT_FIELDS = ("what", "where", "who", "quote")
TOPIC_KEYS = (*TEXT_FIELDS, "when", "how_many", "attachments", "missing")
ALLOWED_TOP = {"kind", "reply_text", "reply_text_contains", "reply_text_not_contains", "topics"}
ALLOWED_DOC = {"today", "asked", "known_signatures", "expected", "note", "category"}
#: Name prefix -> category, for fixtures without a "category" key (longest prefix wins).
CATEGORY_PREFIXES: dict[str, str] = {
    "signature": "signatures",
    "table": "tables",
    "several_topics_html_table": "tables",
    "owa_de_html_only_table": "tables",
    "client": "clients",
    "android": "clients",
    "apple_mail": "clients",
    "gmail": "clients",
    "groupwise": "clients",
    "hcl_notes": "clients",
    "iphone": "clients",
    "outlook": "clients",
    "owa": "clients",
    "thunderbird": "clients",
    "forwarded": "clients",
    "inquote": "typed_into_quote",
    "outlook_de_typed_inside_quoted_original": "typed_into_quote",
    "outlook_html_typed_inside_quote_blue": "typed_into_quote",
    "interleaved": "typed_into_quote",
    "freetext": "free_text",
    "free_text": "free_text",
    "eight_page": "free_text",
    "labels": "labels",
    "label": "labels",
    "answers_on_next_line": "labels",
    "multiline_values": "labels",
    "not_applicable": "labels",
    "several_topics": "labels",
    "bilder": "photos",
    "values": "values",
    "dates": "values",
    "counts": "values",
    "line_starting": "values",
    "nothing": "no_topics",
    "no_topics": "no_topics",
    "topics_plus_sonst": "no_topics",
    "unrecognized": "no_topics",
    "photos": "photos",
    "inline_signature_logo": "photos",
    "attachments": "photos",
    "winmail": "photos",
    "learned": "learned_signatures",
    "followup": "followups",
    "ooo": "automatic",
    "auto_reply": "automatic",
    "bounce": "automatic",
    "normal_reply_with_x_auto": "automatic",
}


@dataclass(frozen=True)
class Check:
    """One compared value: `field` groups checks for the accuracy table."""

    field: str
    ok: bool
    detail: str


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.eml"))


def load_expectation(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.expected.json").read_text("utf-8"))
    return doc


def options_for(doc: dict[str, Any]) -> ParseOptions:
    today = date.fromisoformat(doc["today"]) if doc.get("today") else None
    return ParseOptions(
        today=today,
        asked=tuple(doc.get("asked", ())),
        known_signatures=tuple(doc.get("known_signatures", ())),
    )


def category_of(name: str, doc: dict[str, Any]) -> str:
    """The fixture's category: its "category" key, else the longest matching name prefix."""
    if doc.get("category"):
        return str(doc["category"])
    best = ""
    for prefix in CATEGORY_PREFIXES:
        if name.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return CATEGORY_PREFIXES.get(best, "encodings_and_mime")


def parse_fixture(name: str) -> dict[str, Any]:
    doc = load_expectation(name)
    raw = (FIXTURES / f"{name}.eml").read_bytes()
    result = parse_message(raw, options_for(doc))
    out: dict[str, Any] = result.to_json_dict(f"{name}.eml")
    return out


def norm(text: str) -> str:
    """Whitespace-insensitive form: runs of whitespace (incl. NBSP, line breaks) -> one space."""
    return " ".join(text.split())


def _text_checks(field: str, expected: Any, actual: Any) -> Iterator[Check]:
    if expected is None or isinstance(expected, str):
        ok = (actual is None) if expected is None else (
            isinstance(actual, str) and norm(actual) == norm(expected)
        )
        yield Check(field, ok, f"expected {expected!r}, got {actual!r}")
        return
    # {"contains": [...], "not_contains": [...]}
    have = norm(actual) if isinstance(actual, str) else None
    for piece in expected.get("contains", ()):
        ok = have is not None and norm(piece) in have
        yield Check(field, ok, f"expected to contain {piece!r}, got {actual!r}")
    for piece in expected.get("not_contains", ()):
        ok = have is not None and norm(piece) not in have
        yield Check(field, ok, f"expected not to contain {piece!r}, got {actual!r}")


def _struct_checks(field: str, expected: Any, actual: Any) -> Iterator[Check]:
    """`when` / `how_many`: null, or a dict compared on the keys the expectation names."""
    if expected is None:
        yield Check(field, actual is None, f"expected null, got {actual!r}")
        return
    if not isinstance(actual, dict):
        yield Check(field, False, f"expected {expected!r}, got {actual!r}")
        return
    for key, want in expected.items():
        got = actual.get(key)
        if key == "text" and isinstance(want, str):
            ok = isinstance(got, str) and norm(got) == norm(want)
        else:
            ok = got == want
        yield Check(field, ok, f"{key}: expected {want!r}, got {got!r}")


def topic_checks(index: int, expected: dict[str, Any], actual: dict[str, Any]) -> Iterator[Check]:
    for key in expected:
        if key not in TOPIC_KEYS:
            raise ValueError(f"unknown topic key {key!r} in expectation")
    for key in TOPIC_KEYS:
        if key not in expected:
            continue
        want, got = expected[key], actual.get(key)
        if key in TEXT_FIELDS:
            checks = _text_checks(key, want, got)
        elif key in ("when", "how_many"):
            checks = _struct_checks(key, want, got)
        else:  # attachments, missing: compared as sets (the contract fixes no order)
            got_list = got if isinstance(got, list) else []
            checks = iter([Check(key, sorted(got_list) == sorted(want),
                                 f"expected {sorted(want)!r}, got {got!r}")])
        for check in checks:
            yield Check(check.field, check.ok, f"topics[{index}].{check.detail}")


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[Check]:
    """All checks an expectation implies for one parse result (the contract's JSON object)."""
    unknown = set(expected) - ALLOWED_TOP
    if unknown:
        raise ValueError(f"unknown expectation keys {sorted(unknown)}")
    checks: list[Check] = []
    if "kind" in expected:
        checks.append(Check("kind", actual["kind"] == expected["kind"],
                            f"kind: expected {expected['kind']!r}, got {actual['kind']!r}"))
    reply = norm(actual.get("reply_text") or "")
    if "reply_text" in expected:
        checks.append(Check("reply_text", reply == norm(expected["reply_text"]),
                            f"reply_text: expected {expected['reply_text']!r}, got {reply!r}"))
    for piece in expected.get("reply_text_contains", ()):
        checks.append(Check("reply_text", norm(piece) in reply,
                            f"reply_text should contain {piece!r}; got {reply[:300]!r}"))
    for piece in expected.get("reply_text_not_contains", ()):
        checks.append(Check("reply_text", norm(piece) not in reply,
                            f"reply_text should not contain {piece!r}"))
    if "topics" in expected:
        want_topics: list[dict[str, Any]] = expected["topics"]
        got_topics: list[dict[str, Any]] = actual.get("topics", [])
        checks.append(Check("topic_count", len(got_topics) == len(want_topics),
                            f"topics: expected {len(want_topics)}, got {len(got_topics)}"))
        for i, want in enumerate(want_topics):
            if i < len(got_topics):
                checks.extend(topic_checks(i, want, got_topics[i]))
            else:  # every value of a topic that was not found counts as wrong
                checks.extend(Check(key, False, f"topics[{i}] not found") for key in want)
    return checks


@pytest.mark.parametrize("name", fixture_names())
def test_fixture(name: str) -> None:
    doc = load_expectation(name)
    actual = parse_fixture(name)
    failed = [c.detail for c in compare(doc["expected"], actual) if not c.ok]
    assert not failed, f"{name}:\n  " + "\n  ".join(failed) + (
        "\nactual: " + json.dumps(actual, ensure_ascii=False)[:2000]
    )


def test_every_fixture_has_an_expectation_and_vice_versa() -> None:
    emls = {p.stem for p in FIXTURES.glob("*.eml")}
    expectations = {p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json")}
    assert emls == expectations
    assert len(emls) >= 40


def test_expectations_are_well_formed() -> None:
    for name in fixture_names():
        doc = load_expectation(name)
        assert set(doc) <= ALLOWED_DOC, name
        assert all(isinstance(x, str) for x in doc.get("known_signatures", ())), name
        assert set(doc["expected"]) <= ALLOWED_TOP, name
        if doc.get("today"):
            date.fromisoformat(doc["today"])
        kind = doc["expected"].get("kind")
        assert kind in ("topics", "no_topics", "auto_reply", "bounce", "unrecognized"), name
        if kind != "topics":
            assert doc["expected"].get("topics") in (None, []), name
        for topic in doc["expected"].get("topics", []):
            assert set(topic) <= set(TOPIC_KEYS), (name, topic)


def test_compare_reports_mismatches() -> None:
    """The comparison itself can fail: a wrong value, a missing topic, a bad kind."""
    actual = {
        "kind": "topics", "reply_text": "Hallo\nWas: Fest",
        "topics": [{"what": "Fest", "when": {"text": "1.2.", "start": "2027-02-01",
                                             "end": "2027-02-01", "time": None},
                    "where": None, "who": None, "how_many": None, "quote": None,
                    "attachments": ["a.jpg"], "missing": ["who", "where"]}],
    }
    good = {"kind": "topics", "reply_text_contains": ["Was: Fest"],
            "topics": [{"what": "Fest", "when": {"start": "2027-02-01"},
                        "attachments": ["a.jpg"], "missing": ["where", "who"]}]}
    assert all(c.ok for c in compare(good, actual))
    bad = {"kind": "no_topics", "reply_text_not_contains": ["Fest"],
           "topics": [{"what": "Feier", "when": {"start": "2027-02-02"}}, {"what": "x"}]}
    failed = {c.field for c in compare(bad, actual) if not c.ok}
    assert failed == {"kind", "reply_text", "topic_count", "what", "when"}


# --------------------------------------------------------------------------- accuracy table


def score(verbose: bool = False) -> dict[str, tuple[int, int]]:
    """Per check group: (passed, total) over all fixtures; plus fixtures fully passed."""
    return score_tables(verbose)[0]


def score_tables(
    verbose: bool = False,
) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int, int, int]]]:
    """(per check group: (passed, total) plus "(fixtures fully passed)";
    per category: (cases passed, cases, checks passed, checks))."""
    totals: dict[str, list[int]] = {}
    categories: dict[str, list[int]] = {}
    whole = [0, 0]
    for name in fixture_names():
        doc = load_expectation(name)
        try:
            checks = compare(doc["expected"], parse_fixture(name))
        except Exception as exc:
            checks = [Check("crash", False, f"{type(exc).__name__}: {exc}")]
        for check in checks:
            bucket = totals.setdefault(check.field, [0, 0])
            bucket[0] += check.ok
            bucket[1] += 1
            if verbose and not check.ok:
                print(f"FAIL {name}: {check.detail}")
        passed = all(c.ok for c in checks)
        whole[0] += passed
        whole[1] += 1
        cat = categories.setdefault(category_of(name, doc), [0, 0, 0, 0])
        cat[0] += passed
        cat[1] += 1
        cat[2] += sum(c.ok for c in checks)
        cat[3] += len(checks)
    result = {k: (v[0], v[1]) for k, v in sorted(totals.items())}
    result["(fixtures fully passed)"] = (whole[0], whole[1])
    per_category = {k: (v[0], v[1], v[2], v[3]) for k, v in sorted(categories.items())}
    return result, per_category


def main(argv: list[str]) -> int:
    table, per_category = score_tables(verbose="-v" in argv)
    print(f"{'check':<26} {'passed':>7} {'total':>6} {'accuracy':>9}")
    for field, (ok, total) in table.items():
        print(f"{field:<26} {ok:>7} {total:>6} {ok / total:>9.1%}")
    print(f"\n{'category':<26} {'cases ok':>9} {'cases':>6} {'case acc':>9} {'checks':>13}")
    for cat, (ok, total, cok, ctotal) in per_category.items():
        print(f"{cat:<26} {ok:>9} {total:>6} {ok / total:>9.1%} {cok:>6}/{ctotal:<6}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
