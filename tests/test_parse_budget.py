"""Hostile mail costs bounded time and memory: every message gets the same budget, the
result says in `warnings` what was cut, and the text that matters is still there.

The hostile mails are built here (nothing multi-megabyte is committed). Speed is measured
in benchmarks/bench_hostile.py, not here; memory only as a generous bound in a subprocess.
"""

from __future__ import annotations

import base64
import email.header
import email.quoprimime
import json
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from parsers import ParseOptions, ParseResult, parse_message
from parsers import mime as mime_module
from parsers.encoded_words import decode_encoded_words
from parsers.mime import MAX_HEADER_CHARS, MAX_TEXT_CHARS, decode_message

MB = 1024 * 1024
HEAD = b"From: a@musterhausen.de\r\nMIME-Version: 1.0\r\nDate: Tue, 12 Jan 2027 10:00:00 +0100\r\n"
TEMPLATE = "Was: Sommerfest\nWann: 3.7.2027\nWo: Marktplatz\nWer: Bauamt\nWie viele: 80\n"
OPTIONS = ParseOptions(today=date(2027, 1, 12))


def _plain(text: str = TEMPLATE, charset: str = "utf-8") -> bytes:
    return f"Content-Type: text/plain; charset={charset}\r\n\r\n{text}\r\n".encode()


def _mixed(*parts: bytes, params: bytes = b"") -> bytes:
    return (
        b"Content-Type: multipart/mixed" + params + b'; boundary="B"\r\n\r\n'
        + b"".join(b"--B\r\n" + part for part in parts)
        + b"--B--\r\n"
    )


def _assert_template_intact(result: ParseResult) -> None:
    assert result.kind == "topics", result.warnings
    (topic,) = result.topics
    assert (topic.what, topic.where, topic.who) == ("Sommerfest", "Marktplatz", "Bauamt")
    assert topic.how_many is not None
    assert topic.how_many.min == 80


def _junk_base64(size: int) -> bytes:
    """Base64 letters mixed with characters outside the alphabet, in 76-character lines."""
    line = b"QUJD!*ZGVm-+/a" * 5 + b"QUJDRA\r\n"
    return line * (size // len(line) + 1)


# -- headers ------------------------------------------------------------------------------


def test_five_megabyte_subject_of_encoded_words_is_cut_and_read() -> None:
    word = b"=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_dem_Bauamt?="
    subject = b"\r\n ".join([word] * (5 * MB // (len(word) + 3)))
    result = parse_message(HEAD + b"Subject: " + subject + b"\r\n" + _plain(), OPTIONS)
    assert result.subject.startswith("Grüße aus dem BauamtGrüße aus dem Bauamt")
    assert len(result.subject) <= MAX_HEADER_CHARS
    assert "Betreff gekürzt (5,0 MB)." in result.warnings
    _assert_template_intact(result)


def test_five_megabyte_sender_name_is_cut() -> None:
    name = b"=?iso-8859-1?q?J=FCrgen?= " * (5 * MB // 26)
    raw = b"From: " + name + b"<j@x.de>\r\nSubject: x\r\n" + _plain()
    result = parse_message(raw, OPTIONS)
    assert "Kopfzeile From gekürzt (5,0 MB)." in result.warnings
    _assert_template_intact(result)


def test_five_megabyte_attachment_name_is_cut() -> None:
    attachment = (
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="'
        + b"=?utf-8?q?B=C3=BCro?=" * (5 * MB // 20) + b'.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"%PDF-1.4")
    )
    result = parse_message(HEAD + b"Subject: x\r\n" + _mixed(_plain(), attachment), OPTIONS)
    (pdf,) = result.attachments
    assert pdf.filename.startswith("BüroBüro")
    assert len(pdf.filename) <= mime_module.MAX_FILENAME_CHARS
    assert "Kopfzeile Content-Disposition gekürzt (5,3 MB)." in result.warnings
    _assert_template_intact(result)


def test_content_type_with_two_megabytes_of_parameters() -> None:
    # the boundary parameter comes after the junk and is cut away: the boundary is guessed
    params = b';a="b;c"' * (2 * MB // 8)
    result = parse_message(HEAD + b"Subject: x\r\n" + _mixed(_plain(), params=params), OPTIONS)
    assert "Kopfzeile Content-Type gekürzt (2,0 MB)." in result.warnings
    _assert_template_intact(result)


def test_a_million_header_fields_keep_the_body() -> None:
    fields = b"".join(b"X-Junk-%d: y\r\n" % (i % 100) for i in range(1_000_000))
    raw = HEAD + b"Subject: Themen\r\n" + fields + _plain()
    result = parse_message(raw, OPTIONS)
    assert any(w.startswith("Mehr als 10.000 Kopfzeilen (") for w in result.warnings)
    assert result.subject == "Themen"
    _assert_template_intact(result)


def test_header_list_is_capped_in_count_and_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mime_module, "MAX_HEADERS_TOTAL_CHARS", 10_000)
    fields = b"".join(b"X-Long-%d: %s\r\n" % (i, b"y" * 1000) for i in range(50))
    msg = decode_message(HEAD + b"Subject: x\r\n" + fields + _plain(), OPTIONS)
    assert 5 < len(msg.headers) < 15
    assert "Kopfzeilen länger als 10 KB; der Rest wurde übergangen." in msg.warnings


# -- RFC 2047 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "=?utf-8?q?Gr=C3=BC=C3=9Fe?=",
        "AW: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus dem =?iso-8859-1?q?B=FCro?=",
        "=?utf-8?b?R3LDvMOfZQ==?= =?utf-8?b?IGF1cyBkZW0=?=\t=?utf-8?q?_Bauamt?=",
        "=?UTF-8?B?w4Q=?=",
        "=?iso-8859-15?q?=A4_f=FCr_alle?=",
        "=?windows-1252?q?=84Fest=93?=",
        "kein Wort",
        "=?utf-8?q?a?==?utf-8?q?b?=",
        "=?iso-8859-1?q?Gr=FC=DFe aus?= Berlin",
    ],
)
def test_encoded_words_decode_as_the_standard_library_does(value: str) -> None:
    expected = str(email.header.make_header(email.header.decode_header(value)))
    assert decode_encoded_words(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # a character split across two words (the bytes are joined before decoding)
        ("=?utf-8?b?R3LD?= =?utf-8?b?vMOfZQ?=", "Grüße"),
        ("=?utf-8?q?Gr=C3?= =?utf-8?q?=BC=C3=9Fe?=", "Grüße"),
        # base64 without padding, the language of RFC 2231, raw 8-bit text around a word
        ("=?utf-8?b?R3LDvMOfZQ?=", "Grüße"),
        ("=?utf-8*de?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        ("J\udcc3\udcb6rg =?utf-8?q?M=C3=BCller?=", "Jörg Müller"),
        # an unknown charset falls back to UTF-8 / Windows-1252
        ("=?x-unknown-42?q?B=FCro?=", "Büro"),
        # what is not an encoded word stays as it is
        ("=?utf-8?q?offen", "=?utf-8?q?offen"),
        ("a =? b ?= c", "a =? b ?= c"),
    ],
)
def test_encoded_words_leniently(value: str, expected: str) -> None:
    assert decode_encoded_words(value) == expected


@pytest.mark.parametrize(
    "unit", ["=?", "=?utf-8?q?abc ", "=?utf-8?b?QUJD\t", "=?" + "x" * 100 + "?q?"]
)
def test_unterminated_encoded_words_are_left_alone(unit: str) -> None:
    # a megabyte of them: each possible start looks a bounded distance ahead
    value = unit * (MB // len(unit))
    assert decode_encoded_words(value) == value


# -- bodies -------------------------------------------------------------------------------


def test_junk_base64_html_part_is_cut_and_its_beginning_read() -> None:
    html = b"<p>" + TEMPLATE.replace("\n", "<br>").encode() + b"</p>"
    html += (b"<p>" + b"Noch mehr Text. " * 60 + b"</p>\r\n") * (6 * MB // 969)
    part = (
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(html)
    )
    result = parse_message(HEAD + b"Subject: x\r\n" + _mixed(part), OPTIONS)
    assert any(w.startswith("HTML gekürzt (") for w in result.warnings)
    _assert_template_intact(result)


def test_junk_base64_html_alternative_leaves_the_plain_text() -> None:
    junk_html = (
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + _junk_base64(24 * MB)
    )
    body = _mixed(_plain(), junk_html).replace(b"multipart/mixed", b"multipart/alternative")
    result = parse_message(HEAD + b"Subject: x\r\n" + body, OPTIONS)
    assert any(w.startswith("HTML gekürzt (") for w in result.warnings)
    _assert_template_intact(result)


def test_five_parts_of_invalid_utf8() -> None:
    junk = b"Gr\xfc\xdfe \xff\xfe " * (8 * MB // 10)
    parts = [_plain()] + [b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + junk] * 5
    result = parse_message(HEAD + b"Subject: x\r\n" + _mixed(*parts), OPTIONS)
    assert "Text gekürzt (36 MB)." in result.warnings
    _assert_template_intact(result)


def test_text_budget_cuts_at_a_character_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mime_module, "MAX_TEXT_BYTES", 1001)
    korean = "회의는 3월에 열립니다. " * 200  # 3 bytes per Hangul syllable
    for cte, body in [
        (b"8bit", korean.encode()),
        (b"base64", base64.encodebytes(korean.encode())),
        (b"quoted-printable", email.quoprimime.body_encode(korean).encode()),
    ]:
        raw = (
            HEAD + b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n" + body
        )
        msg = decode_message(raw, OPTIONS)
        assert korean.startswith(msg.text), cte
        assert 900 < len(msg.text.encode()) <= 1001
        assert any(w.startswith("Text gekürzt (") for w in msg.warnings)


def test_text_budget_is_shared_by_all_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mime_module, "MAX_TEXT_BYTES", 25_000)
    parts = [_plain(f"Teil {n}\n" + "x" * 10_000) for n in range(5)]
    msg = decode_message(HEAD + b"Subject: x\r\n" + _mixed(*parts), OPTIONS)
    assert msg.text.startswith("Teil 0\n")
    assert "Teil 2\n" in msg.text
    assert "Teil 3" not in msg.text
    assert len(msg.text) < 26_000
    assert any(w.startswith("Text gekürzt (") for w in msg.warnings)


def test_long_text_is_cut_to_the_text_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mime_module, "MAX_TEXT_CHARS", 5_000)
    msg = decode_message(HEAD + b"Subject: x\r\n" + _plain(TEMPLATE + "y" * 10_000), OPTIONS)
    assert len(msg.text) == 5_000
    assert msg.text.startswith(TEMPLATE)
    assert any(w.startswith("Text gekürzt (") for w in msg.warnings)
    assert MAX_TEXT_CHARS > 5_000  # the module's own limit is untouched


def test_forty_megabyte_line_is_read() -> None:
    line = b"Gr\xc3\xbc\xc3\x9fe " * (40 * MB // 8)
    result = parse_message(HEAD + b"Subject: x\r\n" + _plain(TEMPLATE) + line, OPTIONS)
    assert any(w.startswith("Text gekürzt (") for w in result.warnings)
    _assert_template_intact(result)


# -- structure ----------------------------------------------------------------------------


def test_two_hundred_thousand_parts() -> None:
    tiny = b"Content-Type: application/octet-stream\r\n\r\nx\r\n"
    raw = HEAD + b"Subject: x\r\n" + _mixed(_plain(), *[tiny] * 200_000)
    result = parse_message(raw, OPTIONS)
    assert any("MIME-Grenzen" in w for w in result.warnings)
    assert any("MIME-Teile" in w for w in result.warnings)
    _assert_template_intact(result)


@pytest.mark.parametrize(
    ("limit", "line", "what"),
    [
        ("MAX_LINES", b"x\r\n", "Zeilen"),
        ("MAX_FIELD_LINES", b"a: b\r\n", "Kopfzeilen"),
        ("MAX_DELIMITER_LINES", b"--x\r\n", "MIME-Grenzen"),
        ("MAX_MESSAGE_BYTES", b"y" * 70 + b"\r\n", "MB gelesen"),
    ],
)
def test_the_message_is_read_up_to_each_limit(
    limit: str, line: bytes, what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mime_module, limit, 1000 if limit != "MAX_MESSAGE_BYTES" else MB)
    raw = HEAD + b"Subject: x\r\n" + _plain(TEMPLATE) + line * 30_000
    result = parse_message(raw, OPTIONS)
    assert any(w.startswith("Nachricht gekürzt (") and what in w for w in result.warnings)
    _assert_template_intact(result)


# -- attachments --------------------------------------------------------------------------


def _attachment(payload: bytes, name: bytes = b"foto.jpg", ctype: bytes = b"image/jpeg") -> bytes:
    return (
        b"Content-Type: " + ctype + b"\r\nContent-Disposition: attachment; filename=\""
        + name + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + payload + b"\r\n"
    )


def test_attachment_over_the_limit_is_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    real = mime_module.decoded_payload

    def watching(part: object, limit: int) -> tuple[bytes, bool]:
        decoded.append(part.get_content_type())  # type: ignore[attr-defined]
        return real(part, limit)  # type: ignore[arg-type]

    monkeypatch.setattr(mime_module, "decoded_payload", watching)
    raw = HEAD + b"Subject: x\r\n" + _mixed(_plain(), _attachment(_junk_base64(24 * MB)))
    result = parse_message(raw, ParseOptions(today=date(2027, 1, 12), max_attachment_bytes=MB))
    (photo,) = result.attachments
    assert photo.truncated
    assert photo.content == b""
    assert 16 * MB < photo.size < 19 * MB  # estimated from the encoded length
    assert decoded == ["text/plain"]
    assert any(w.startswith("Anhang foto.jpg zu groß (1") for w in result.warnings)
    _assert_template_intact(result)


def test_attachment_within_the_limit_keeps_every_byte() -> None:
    data = bytes(range(256)) * 100 + b"Ende"
    for payload in (base64.encodebytes(data), base64.b64encode(data).rstrip(b"=")):
        raw = HEAD + b"Subject: x\r\n" + _mixed(_plain(), _attachment(payload, b"a.bin"))
        (attachment,) = parse_message(raw, OPTIONS).attachments
        assert attachment.content == data
        assert attachment.size == len(data)


def test_too_large_winmail_dat_is_not_unpacked() -> None:
    part = _attachment(_junk_base64(2 * MB), b"winmail.dat", b"application/ms-tnef")
    raw = HEAD + b"Subject: x\r\n" + _mixed(_plain(), part)
    result = parse_message(raw, ParseOptions(today=date(2027, 1, 12), max_attachment_bytes=MB))
    assert result.attachments == ()
    assert any(w.startswith("winmail.dat zu groß (") for w in result.warnings)
    _assert_template_intact(result)


# -- memory -------------------------------------------------------------------------------

_MEMORY_PROBE = textwrap.dedent(
    """
    import base64, json, resource, sys
    from datetime import date
    from parsers import ParseOptions, parse_message

    MB = 1024 * 1024
    line = b"QUJD!*ZGVm-+/a" * 5 + b"QUJDRA\\r\\n"
    junk = line * (24 * MB // len(line))
    head = (b"From: a@b.de\\r\\nSubject: x\\r\\nMIME-Version: 1.0\\r\\n"
            b'Content-Type: multipart/mixed; boundary="B"\\r\\n\\r\\n--B\\r\\n'
            b"Content-Type: text/plain\\r\\n\\r\\nWas: Fest\\r\\n--B\\r\\n")
    kinds = {
        "attachment": b'Content-Type: image/jpeg\\r\\nContent-Disposition: attachment; '
                      b'filename="x.jpg"\\r\\nContent-Transfer-Encoding: base64\\r\\n\\r\\n',
        "html": b"Content-Type: text/html\\r\\nContent-Transfer-Encoding: base64\\r\\n\\r\\n",
    }
    raw = head + kinds[sys.argv[1]] + junk + b"--B--\\r\\n"
    del junk
    result = parse_message(raw, ParseOptions(today=date(2027, 1, 12)))

    def peak_mb():
        # VmHWM is this process's own peak; ru_maxrss may carry the parent's (fork)
        try:
            with open("/proc/self/status") as status:
                for row in status:
                    if row.startswith("VmHWM:"):
                        return int(row.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(json.dumps({"peak_mb": peak_mb(), "kind": result.kind, "text": result.reply_text}))
    """
)


@pytest.mark.parametrize("where", ["attachment", "html"])
def test_24_megabytes_of_junk_base64_stay_within_memory_bounds(where: str) -> None:
    done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, where], capture_output=True,
                          check=True, text=True, cwd=Path(__file__).resolve().parents[1])
    report = json.loads(done.stdout)
    assert report["text"] == "Was: Fest"
    assert report["peak_mb"] < 400, report


def _limits_scanned_whole(raw: bytes) -> tuple[bytes, list[str]]:
    """The line limits as four scans of the whole mail (the bound taken out): what
    `_within_limits` must keep doing."""
    budget = mime_module._Budget()
    pos = mime_module._nth_field_line(raw, mime_module.MAX_HEADER_FIELDS)
    blank = mime_module._BLANK_LINE.search(raw)
    if not (pos < 0 or blank is None or pos > blank.start()):
        assert blank is not None
        kept = b"".join(m.group(0) for m in
                        mime_module._CONTENT_FIELD.finditer(raw, pos, blank.start()))
        budget.warnings.append(
            f"Mehr als {mime_module._number(mime_module.MAX_HEADER_FIELDS)} Kopfzeilen "
            f"({mime_module._size_text(blank.start() - pos)}); der Rest wurde übergangen.")
        raw = raw[:pos] + kept + raw[blank.start():]
    for separator, limit, what in ((b"\n", mime_module.MAX_LINES, "Zeilen"),
                                   (b"", mime_module.MAX_FIELD_LINES, "Kopfzeilen"),
                                   (b"\n--", mime_module.MAX_DELIMITER_LINES, "MIME-Grenzen")):
        pos = (mime_module._nth(raw, separator, limit) if separator
               else mime_module._nth_field_line(raw, limit))
        if pos >= 0:
            budget.warnings.append(
                f"Nachricht gekürzt ({mime_module._size_text(len(raw))}): mehr als "
                f"{mime_module._number(limit)} {what}; der Rest wurde übergangen.")
            raw = raw[: pos + 1]
    return raw, budget.warnings


@pytest.mark.parametrize("fields", [9_998, 9_999, 10_000, 10_001])
@pytest.mark.parametrize("delimiters", [0, 9_999, 10_000, 10_001])
def test_line_limits_are_the_same_with_one_count_of_line_breaks(
        monkeypatch: pytest.MonkeyPatch, fields: int, delimiters: int) -> None:
    monkeypatch.setattr(mime_module, "MAX_LINES", 30_000)
    monkeypatch.setattr(mime_module, "MAX_FIELD_LINES", 20_000)
    head = b"".join(b"X-F%d: v\n" % n for n in range(fields))
    body = b"--b\nText\n" * delimiters + b"A" * 76 + b"\n"
    raw = b"From: a@b.de\n" + head + b"Content-Type: text/plain\n\n" + body
    expected_raw, expected_warnings = _limits_scanned_whole(raw)
    assert b"Content-Type: text/plain\n\n" in expected_raw  # kept when fields are dropped
    budget = mime_module._Budget()
    assert mime_module._within_limits(raw, budget) == expected_raw
    assert budget.warnings == expected_warnings
    # field lines after the first, delimiter lines, line breaks: each at or over its limit
    assert bool(expected_warnings) == (fields + 1 >= 10_000 or delimiters >= 10_000
                                       or fields + 2 * delimiters + 4 >= 30_000)
