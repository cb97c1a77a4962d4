"""Reply-text accuracy side by side: this parser, talon and mail-parser-reply.

    python -m pip install -e '.[bench]'            # talon, mail-parser-reply (not runtime deps)
    python benchmarks/compare_reply.py              # tables
    python benchmarks/compare_reply.py -v           # plus every case one of them fails

Every library gets the same decoded body text (this parser's MIME layer: charsets, transfer
encodings, HTML rendered to text), so only the reply extraction is compared:

- ours: `parsers.parse_message(...).reply_text` (quotes, signatures, notices removed);
- talon: `quotations.extract_from_plain` followed by its rule-based signature cut
  (`talon.signature.bruteforce.extract_signature`; the machine-learning variant needs a
  trained model and `talon.init()`);
- mail-parser-reply: `EmailReplyParser(languages=["de", "en"]).parse_reply`.

Cases: the project's fixtures with reply-text expectations (tests/fixtures/parse; a case
passes when all its reply_text checks pass) and the public corpus (tests/corpus; the checks
of tests/test_parse_corpus.reply_checks, per source).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parsers import ParseOptions, parse_message  # noqa: E402
from parsers.mime import decode_message  # noqa: E402
from tests.test_parse_corpus import CORPUS, TODAY, manifest, reply_checks, wrap  # noqa: E402
from tests.test_parse_fixtures import FIXTURES, fixture_names, norm, options_for  # noqa: E402

Extractor = Callable[[str], str]


def _talon() -> Extractor | None:
    try:
        from talon import quotations
        from talon.signature.bruteforce import extract_signature
    except ImportError:
        return None

    def extract(text: str) -> str:
        reply = quotations.extract_from_plain(text)
        body, _signature = extract_signature(reply)
        return str(body)

    return extract


def _mail_parser_reply() -> Extractor | None:
    try:
        from mailparser_reply import EmailReplyParser
    except ImportError:
        return None
    parser = EmailReplyParser(languages=["de", "en"])

    def extract(text: str) -> str:
        return str(parser.parse_reply(text) or "")

    return extract


def _fixture_checks(expected: dict[str, object], reply: str) -> list[bool]:
    got = norm(reply)
    checks: list[bool] = []
    if isinstance(expected.get("reply_text"), str):
        checks.append(got == norm(str(expected["reply_text"])))
    for piece in expected.get("reply_text_contains", []) or []:  # type: ignore[attr-defined]
        checks.append(norm(str(piece)) in got)
    for piece in expected.get("reply_text_not_contains", []) or []:  # type: ignore[attr-defined]
        checks.append(norm(str(piece)) not in got)
    return checks


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    others = {"talon": _talon(), "mail-parser-reply": _mail_parser_reply()}
    missing = [name for name, fn in others.items() if fn is None]
    if missing:
        print(f"not installed: {', '.join(missing)} (pip install -e '.[bench]'); "
              "their columns are left out")
    columns = ["ours", *[name for name, fn in others.items() if fn is not None]]

    rows: dict[str, dict[str, list[int]]] = {}

    def count(group: str, column: str, ok: bool) -> None:
        cell = rows.setdefault(group, {}).setdefault(column, [0, 0])
        cell[0] += ok
        cell[1] += 1

    for name in fixture_names():
        doc = json.loads((FIXTURES / f"{name}.expected.json").read_text("utf-8"))
        expected = doc["expected"]
        raw = (FIXTURES / f"{name}.eml").read_bytes()
        options = options_for(doc)
        text = decode_message(raw, options).text
        replies = {"ours": parse_message(raw, options).reply_text}
        for other, fn in others.items():
            if fn is not None:
                replies[other] = fn(text)
        if not _fixture_checks(expected, replies["ours"]):
            continue
        for column, reply in replies.items():
            ok = all(_fixture_checks(expected, reply))
            count("fixtures (German, this project)", column, ok)
            if verbose and not ok:
                print(f"FAIL {column}: fixture {name}")

    options = ParseOptions(today=TODAY)
    for entry in manifest():
        raw = wrap(entry, (CORPUS / entry.file).read_bytes())
        ours = parse_message(raw, options).reply_text
        if not reply_checks(entry, ours):
            continue
        text = decode_message(raw, options).text
        replies = {"ours": ours}
        for other, fn in others.items():
            if fn is not None:
                try:
                    replies[other] = fn(text)
                except Exception as exc:  # a library failing on a mail counts as wrong
                    replies[other] = f"<{type(exc).__name__}>"
        for column, reply in replies.items():
            ok = all(passed for _, passed in reply_checks(entry, reply))
            count(f"corpus: {entry.source}", column, ok)
            if verbose and not ok:
                print(f"FAIL {column}: {entry.file}")

    print(f"\n{'cases':<42}" + "".join(f"{c:>20}" for c in columns))
    for group, cells in rows.items():
        line = f"{group:<42}"
        for column in columns:
            ok, total = cells.get(column, [0, 0])
            line += f"{f'{ok}/{total} {ok / total:.0%}' if total else '-':>20}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
