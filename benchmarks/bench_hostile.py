"""Hostile mail: seconds and peak memory of `parsers.parse_message` per case.

    .venv/bin/python benchmarks/bench_hostile.py                 # every case
    .venv/bin/python benchmarks/bench_hostile.py subject_2047    # only the named cases

Each mail is built here and written to a temporary file; a fresh interpreter reads it and
parses it, as `intake parse` does. Printed: the parse time, the peak RSS after reading the
file (interpreter, libraries and the mail itself) and after parsing. Target: a few seconds
and about 250 MB at most per case. Not a test: run it by hand.
"""

from __future__ import annotations

import base64
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

MB = 1024 * 1024
#: A case still running after this long is stopped (and reported as such).
TIMEOUT_S = 300
HEAD = b"From: a@musterhausen.de\r\nMIME-Version: 1.0\r\nDate: Tue, 12 Jan 2027 10:00:00 +0100\r\n"
BODY = "Hallo,\n\nWas: Sommerfest\nWann: 3.7.2027\nWo: Marktplatz\nWer: Bauamt\nWie viele: 80\n"


def _plain(text: str = BODY) -> bytes:
    return b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode() + b"\r\n"


def _mixed(*parts: bytes) -> bytes:
    return (
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        + b"".join(b"--B\r\n" + part for part in parts)
        + b"--B--\r\n"
    )


def _junk_base64(size: int) -> bytes:
    """Base64 alphabet with junk mixed in, in 76-character lines (what a broken sender or
    an attacker produces)."""
    rnd = random.Random(7)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/!*=- "
    line = bytes(rnd.choice(alphabet) for _ in range(76 * 64))
    block = b"\r\n".join(line[i : i + 76] for i in range(0, len(line), 76)) + b"\r\n"
    return block * (size // len(block) + 1)


def subject_2047() -> bytes:
    word = b"=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_dem_Bauamt?="
    subject = b"\r\n ".join([word] * (5 * MB // (len(word) + 3)))
    return HEAD + b"Subject: " + subject + b"\r\n" + _plain()


def subject_2047_one_line() -> bytes:
    word = b"=?utf-8?b?R3LDvMOfZQ==?= "
    return HEAD + b"Subject: " + word * (5 * MB // len(word)) + b"\r\n" + _plain()


def from_2047() -> bytes:
    word = b"=?iso-8859-1?q?J=FCrgen?= "
    name = word * (5 * MB // len(word))
    rest = HEAD.split(b"\r\n", 1)[1]
    return b"From: " + name + b"<j@x.de>\r\nSubject: x\r\n" + rest + _plain()


def many_headers() -> bytes:
    lines = b"".join(b"X-Junk-%d: %s\r\n" % (i, b"y" * 40) for i in range(200_000))
    return HEAD + b"Subject: x\r\n" + lines + _plain()


def attachment_junk_base64() -> bytes:
    attachment = (
        b'Content-Type: image/jpeg\r\nContent-Disposition: attachment; filename="x.jpg"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + _junk_base64(24 * MB)
    )
    return HEAD + b"Subject: x\r\n" + _mixed(_plain(), attachment)


def attachment_junk_one_line() -> bytes:
    attachment = (
        b'Content-Type: image/jpeg\r\nContent-Disposition: attachment; filename="x.jpg"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b"QUJD!*=" * (24 * MB // 7) + b"\r\n"
    )
    return HEAD + b"Subject: x\r\n" + _mixed(_plain(), attachment)


def three_photos_15mb() -> bytes:
    photos = [
        b"Content-Type: image/jpeg\r\nContent-Disposition: attachment; "
        b'filename="foto%d.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n' % n
        + base64.encodebytes(random.Random(n).randbytes(15 * MB))
        for n in range(3)
    ]
    return HEAD + b"Subject: x\r\n" + _mixed(_plain(), *photos)


def header_bomb() -> bytes:
    fields = b"".join(b"a%d: b\r\n" % (i % 10) for i in range(1_000_000))
    return HEAD + b"Subject: x\r\n" + fields + _plain()


def html_junk_base64() -> bytes:
    html = (
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + _junk_base64(24 * MB)
    )
    return HEAD + b"Subject: x\r\n" + _mixed(html)


def invalid_utf8_parts() -> bytes:
    junk = b"Gr\xfc\xdfe \xff\xfe " * (8 * MB // 10)
    part = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + junk + b"\r\n"
    return HEAD + b"Subject: x\r\n" + _mixed(_plain(), *[part] * 5)


def big_plain_text() -> bytes:
    text = BODY + ("Lorem ipsum dolor sit amet, " * 2) + "\n"
    filler = ("Noch eine Zeile mit Text und Umlauten: äöü ß.\n" * (24 * MB // 48))
    return HEAD + b"Subject: x\r\n" + _plain(text + filler)


def big_html_text() -> bytes:
    html = ("<p>" + BODY.replace("\n", "<br>") + "</p>" + "<div>mehr äöü</div>\n" * (24 * MB // 22))
    return HEAD + b"Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()


def long_filename() -> bytes:
    attachment = (
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="'
        + b"=?utf-8?q?B=C3=BCro?=" * (5 * MB // 20) + b'.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"%PDF-1.4")
    )
    return HEAD + b"Subject: x\r\n" + _mixed(_plain(), attachment)


def many_params() -> bytes:
    attachment = (
        b"Content-Type: application/pdf" + b';a="b;c"' * (2 * MB // 8) + b"\r\n"
        b"Content-Disposition: attachment\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"%PDF-1.4")
    )
    return HEAD + b"Subject: x\r\n" + _mixed(_plain(), attachment)


def many_parts() -> bytes:
    tiny = b"Content-Type: application/octet-stream\r\n\r\nx\r\n"
    return HEAD + b"Subject: x\r\n" + _mixed(_plain(), *[tiny] * 200_000)


def many_text_parts() -> bytes:
    part = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"Zeile\r\n" * 2000
    return HEAD + b"Subject: x\r\n" + _mixed(_plain(), *[part] * 400)


CASES: dict[str, Callable[[], bytes]] = {
    f.__name__: f
    for f in (
        subject_2047,
        subject_2047_one_line,
        from_2047,
        many_headers,
        attachment_junk_base64,
        attachment_junk_one_line,
        html_junk_base64,
        invalid_utf8_parts,
        big_plain_text,
        big_html_text,
        long_filename,
        many_params,
        many_parts,
        many_text_parts,
        header_bomb,
        three_photos_15mb,
    )
}


def run_case(name: str, path: str) -> None:
    """Parse the mail in `path` (as `intake parse` would, after reading the file)."""
    from datetime import date

    from parsers import ParseOptions, parse_message

    raw = Path(path).read_bytes()
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    result = parse_message(raw, ParseOptions(today=date(2027, 1, 12)))
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    warnings = " | ".join(result.warnings)[:150]
    print(f"{name:<26} {len(raw) / MB:6.1f} MB {seconds:7.2f} s {before_mb:6.0f} {peak_mb:6.0f} MB"
          f"  {result.kind:<12} {warnings}", flush=True)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        run_case(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--build":
        Path(sys.argv[3]).write_bytes(CASES[sys.argv[2]]())
        return 0
    names = sys.argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    print(f"{'case':<26} {'input':>9} {'time':>9} {'peak RSS: read, parsed':>14}  kind  warnings")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = Path(tmp) / f"{name}.eml"
            # built and parsed in processes of their own: a child inherits the peak RSS of
            # the process it was forked from
            subprocess.run([sys.executable, __file__, "--build", name, str(path)], check=True)
            started = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, __file__, "--case", name, str(path)],
                                      check=False, timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"{name:<26} stopped after {TIMEOUT_S} s", flush=True)
                continue
            finally:
                path.unlink()
            if done.returncode:
                print(f"{name:<26} failed (exit {done.returncode}) after "
                      f"{time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
