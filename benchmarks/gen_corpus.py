"""Deterministic synthetic corpus of German replies for the parser benchmark.

`message(i, seed)` returns the raw bytes of message number i; the same (i, seed) always gives
the same bytes, so a benchmark can rebuild each message instead of holding 10,000 of them
(with 10% carrying 0.2-1 MB images) in memory. The mix:

    Outlook multipart/alternative (QP, windows-1252, Word HTML) 25%
    Gmail multipart/alternative (QP, UTF-8)                       15%
    Thunderbird text/plain format=flowed (8bit UTF-8)             12%
    Apple Mail / iPhone (QP UTF-8, multipart/alternative)         10%
    OWA HTML only (base64 UTF-8)                                  10%
    Open-Xchange text/plain base64 UTF-8                           8%
    HCL Notes / GroupWise text/plain QP ISO-8859-1/-15             5%
    auto-replies (Exchange OOF, body-only Abwesenheitsnotiz)       8%
    bounces (Postfix DSN, Exchange NDR)                            7%

and 10% of the human replies carry one or two 0.2-1 MB JPEG-like attachments.

Write the corpus to a directory (e.g. to try `intake parse` on it):

    .venv/bin/python benchmarks/gen_corpus.py --count 1000 --out /tmp/intake-corpus
"""

from __future__ import annotations

import argparse
import base64
import html
import quopri
import random
from datetime import date, timedelta
from pathlib import Path

DEFAULT_SEED = 20270112
BOT = "Themen-Bot Pressestelle <themen@musterhausen.de>"
REQ_SUBJECT = "[Themen 2027-01 #K7Q2] Ihre Themen im Februar 2027"

PEOPLE = [
    ("Markus", "Brandt", "Feuerwehr"), ("Ayse", "Öztürk", "Kita Sonnenschein"),
    ("Jana", "Lindner", "Stadtbibliothek"), ("Deniz", "Yilmaz", "Wirtschaftsförderung"),
    ("Sabine", "Krüger", "Bauamt"), ("Thomas", "Wagner", "Citymanagement"),
    ("Petra", "Neumann", "Umweltamt"), ("Jörg", "Köhler", "Jugendpflege"),
    ("Heike", "Roth", "Grünflächenamt"), ("Uwe", "Peters", "Tiefbauamt"),
]
EVENTS = [
    "Tag der offenen Tür", "Lesenacht für Grundschulkinder", "Spatenstich für den Neubau",
    "Gründerfrühstück", "Frühjahrsputz „Musterhausen räumt auf“", "Ausstellungseröffnung",
    "Bürgersprechstunde", "Kinderflohmarkt", "Jahreshauptversammlung mit Ehrungen",
    "Pflanzaktion im Stadtpark", "Poetry-Slam für Jugendliche", "Verkaufsoffener Sonntag",
]
PLACES = ["Rathaus, Ratssaal", "Stadtbibliothek", "Feuerwache Nord", "Marktplatz",
          "Bürgerhaus Nordheim", "Jugendzentrum Blaue Fabrik", "Stadtpark, Rosengarten"]
COUNTS = ["ca. 40", "50-60", "über 100", "zweihundert", "120", "rund 250", "entfällt", "25 Kinder"]
WHEN_FORMS = ["{d:%d.%m.%Y}, {h} Uhr", "{wd}, {d.day}. {mon} {d.year}", "KW {kw}",
              "Anfang {mon}", "{d.day}.{d.month}.", "vom {d.day}. bis {e.day}. {mon}"]
MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember"]
WEEKDAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
FILLER = (
    "Die Vorbereitungen laufen, die Abstimmung mit den Beteiligten ist weitgehend erfolgt. "
    "Über einen Hinweis auf Instagram und Facebook würden wir uns sehr freuen. "
)

REQUEST = """Guten Tag,

für die Social-Media-Kanäle der Stadt Musterhausen sammeln wir die Themen für
Februar 2027. Bitte füllen Sie für jedes Thema einen Block aus und antworten Sie
bis zum 20.01.2027 auf diese E-Mail.

--- Thema ---
Was:
Wann:
Wo:
Wer:
Wie viele:
Zitat:
Bilder: (gern direkt anhängen)
--- Ende ---

Haben Sie diesen Monat keine Themen, antworten Sie einfach mit „keine Themen“.

Ihre Pressestelle der Stadt Musterhausen"""


def _qp(text: str, charset: str) -> str:
    return quopri.encodestring(text.encode(charset, "replace")).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _when(r: random.Random) -> str:
    d = date(2027, 2, 1) + timedelta(days=r.randrange(0, 120))
    e = d + timedelta(days=r.randrange(1, 4))
    form = r.choice(WHEN_FORMS)
    return form.format(d=d, e=e, h=r.randrange(8, 20), wd=WEEKDAYS[d.weekday()],
                       mon=MONTHS[d.month - 1], kw=d.isocalendar()[1])


def _topics(r: random.Random, who: str) -> str:
    blocks = []
    for _ in range(r.choice([1, 1, 1, 2, 3])):
        blocks.append(
            "--- Thema ---\n"
            f"Was: {r.choice(EVENTS)}\nWann: {_when(r)}\nWo: {r.choice(PLACES)}\n"
            f"Wer: {who}\nWie viele: {r.choice(COUNTS)}\nZitat:\nBilder:\n--- Ende ---"
        )
    intro = "Hallo,\n\n" + (FILLER * r.randrange(0, 3)) + "\n\n"
    return intro + "\n\n".join(blocks)


def _headers(r: random.Random, i: int, sender: str, subject: str, extra: str = "") -> str:
    d = date(2027, 1, 11) + timedelta(days=r.randrange(0, 9))
    return (
        f"From: {sender}\nTo: {BOT}\nSubject: {subject}\n"
        f"Date: {d:%a, %d %b %Y} {r.randrange(7, 18):02d}:{r.randrange(60):02d}:00 +0100\n"
        f"Message-ID: <bench-{i}-{r.randrange(10**9)}@musterhausen.de>\n"
        "In-Reply-To: <req-2027-01-K7Q2@musterhausen.de>\n"
        "References: <req-2027-01-K7Q2@musterhausen.de>\n" + extra + "MIME-Version: 1.0\n"
    )


def _quote(text: str) -> str:
    return "\n".join("> " + ln if ln else ">" for ln in text.split("\n"))


def _word_html(text: str) -> str:
    paras = "\n".join(
        f"<p class=MsoNormal>{html.escape(ln)}<o:p></o:p></p>" if ln.strip()
        else "<p class=MsoNormal><o:p>&nbsp;</o:p></p>" for ln in text.split("\n")
    )
    return ('<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta name="Generator" '
            'content="Microsoft Word 15 (filtered medium)"><style><!-- p.MsoNormal {margin:0cm;'
            'font-family:"Calibri",sans-serif;} --></style></head><body lang=DE>'
            f'<div class=WordSection1>{paras}</div></body></html>')


def _alternative(boundary: str, plain: str, html_text: str, charset: str) -> str:
    return (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
        f"--{boundary}\nContent-Type: text/plain; charset=\"{charset}\"\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n{_qp(plain, charset)}\n"
        f"--{boundary}\nContent-Type: text/html; charset=\"{charset}\"\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n{_qp(html_text, charset)}\n"
        f"--{boundary}--\n"
    )


def _images(r: random.Random, i: int) -> list[tuple[str, bytes]]:
    out = []
    for k in range(r.choice([1, 1, 2])):
        size = r.randrange(200_000, 1_000_000)
        body = r.randbytes(size).replace(b"\xff", b"\xfe")
        jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + body + b"\xff\xd9"
        out.append((f"Foto_{i}_{k + 1}.jpg", jpeg))
    return out


def _human(r: random.Random, i: int, client: str) -> tuple[str, str]:
    """(headers without Content-Type, body part including its Content-Type)."""
    first, last, dept = r.choice(PEOPLE)
    sender = f'"{last}, {first}" <{first.lower()}.{last.lower()}@musterhausen.de>'
    reply = _topics(r, dept) + f"\n\nViele Grüße\n{first} {last}\n{dept}"
    outlook_quote = (f"\n\nVon: {BOT}\nGesendet: Montag, 11. Januar 2027 08:00\n"
                     f"An: {sender}\nBetreff: {REQ_SUBJECT}\n\n{REQUEST}\n")
    if client == "outlook":
        head = _headers(r, i, sender, f"AW: {REQ_SUBJECT}",
                        "X-Mailer: Microsoft Outlook 16.0\nThread-Topic: " + REQ_SUBJECT + "\n")
        text = reply + outlook_quote
        return head, _alternative(f"_000_bench{i}_", text, _word_html(text), "windows-1252")
    if client == "gmail":
        head = _headers(r, i, sender, f"Re: {REQ_SUBJECT}")
        text = (reply + "\n\nAm Mo., 11. Jan. 2027 um 08:00 Uhr schrieb Themen-Bot Pressestelle <"
                "\nthemen@musterhausen.de>:\n\n" + _quote(REQUEST) + "\n")
        html_text = ('<div dir="ltr">' + html.escape(reply).replace("\n", "<br>")
                     + '</div><div class="gmail_quote"><blockquote class="gmail_quote">'
                     + html.escape(REQUEST).replace("\n", "<br>") + "</blockquote></div>")
        return head, _alternative(f"0000000000{i:08x}", text, html_text, "utf-8")
    if client == "thunderbird":
        head = _headers(r, i, sender, f"Re: {REQ_SUBJECT}", "User-Agent: Mozilla Thunderbird\n")
        text = (reply + "\n\nAm 11.01.27 um 08:00 schrieb Themen-Bot Pressestelle:\n"
                + _quote(REQUEST) + "\n")
        flowed = []
        for line in text.split("\n"):
            while len(line) > 76 and " " in line[:76]:
                cut = line.rindex(" ", 0, 76)
                flowed.append(line[: cut + 1])
                line = line[cut + 1:]
            flowed.append(line)
        return head, ("Content-Type: text/plain; charset=UTF-8; format=flowed\n"
                      "Content-Transfer-Encoding: 8bit\n\n" + "\n".join(flowed) + "\n")
    if client == "apple":
        head = _headers(r, i, sender, f"Re: {REQ_SUBJECT}", "X-Mailer: iPhone Mail (21C66)\n")
        text = (reply + "\n\nVon meinem iPhone gesendet\n\n> Am 11.01.2027 um 08:00 schrieb "
                f"{BOT}:\n>\n" + _quote(REQUEST) + "\n")
        html_text = ('<html><body dir="auto"><div>' + html.escape(reply).replace("\n", "<br>")
                     + '</div><blockquote type="cite">' + html.escape(REQUEST).replace("\n", "<br>")
                     + "</blockquote></body></html>")
        return head, _alternative(f"Apple-Mail-{i:08X}", text, html_text, "utf-8")
    if client == "owa":
        head = _headers(r, i, sender, f"AW: {REQ_SUBJECT}")
        html_text = ('<html><body dir="ltr"><div>' + html.escape(reply).replace("\n", "<br>")
                     + '</div><hr tabindex="-1"><div id="divRplyFwdMsg"><b>Von:</b> '
                     + html.escape(BOT) + "<br><b>Gesendet:</b> Montag, 11. Januar 2027 08:00"
                     "<br><b>Betreff:</b> " + REQ_SUBJECT + "</div><div>"
                     + html.escape(REQUEST).replace("\n", "<br>") + "</div></body></html>")
        return head, ('Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: base64'
                      "\n\n" + _b64(html_text.encode("utf-8")))
    if client == "ox":
        head = _headers(r, i, sender, f"Re: {REQ_SUBJECT}", "X-Mailer: Open-Xchange Mailer\n")
        text = (reply + "\n\n> Themen-Bot Pressestelle <themen@musterhausen.de> hat am 11. Januar "
                "2027 um 08:00 geschrieben:\n" + _quote(REQUEST) + "\n")
        return head, ("Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64"
                      "\n\n" + _b64(text.encode("utf-8")))
    # notes / groupwise
    charset = r.choice(["ISO-8859-1", "ISO-8859-15"])
    head = _headers(r, i, sender, f"Antwort: {REQ_SUBJECT}", "X-Mailer: HCL Notes Release 12.0.2\n")
    text = (reply + f'\n\n\n\nVon:        "Themen-Bot Pressestelle" <themen@musterhausen.de>\n'
            f"Datum:        11.01.2027 08:00\nBetreff:        {REQ_SUBJECT}\n\n\n\n"
            + REQUEST.replace("„", '"').replace("“", '"') + "\n")
    return head, (f"Content-Type: text/plain; charset={charset}\n"
                  "Content-Transfer-Encoding: quoted-printable\n\n" + _qp(text, charset))


def _auto_reply(r: random.Random, i: int) -> str:
    first, last, _ = r.choice(PEOPLE)
    sender = f"{first} {last} <{first.lower()}.{last.lower()}@musterhausen.de>"
    body = ("Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 29.01.2027 nicht im Haus. "
            "In dringenden Fällen wenden Sie sich bitte an das Sekretariat.\n\nMit freundlichen "
            f"Grüßen\n{first} {last}\n")
    if r.random() < 0.6:
        head = _headers(r, i, sender, f"Automatische Antwort: {REQ_SUBJECT}",
                        "Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n")
    else:
        head = _headers(r, i, sender, f"Re: {REQ_SUBJECT}")
        body = "Abwesenheitsnotiz\n\n" + body
    return (head + "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: quoted-printable\n\n" + _qp(body, "utf-8"))


def _bounce(r: random.Random, i: int) -> str:
    rcpt = f"{r.choice(PEOPLE)[1].lower()}.alt@musterhausen.de"
    b = f"bounce-{i}"
    exchange = r.random() < 0.5
    subject = f"Unzustellbar: {REQ_SUBJECT}" if exchange else "Undelivered Mail Returned to Sender"
    sender = ("Microsoft Outlook <MicrosoftExchange329e71ec@musterhausen.de>" if exchange
              else "MAILER-DAEMON@mail.musterhausen.de (Mail Delivery System)")
    note = ("Ihre Nachricht hat folgende Empfänger nicht erreicht:\n\n" + rcpt if exchange else
            f"This is the mail system at host mail.musterhausen.de.\n\n<{rcpt}>: User unknown")
    return (
        f"From: {sender}\nTo: themen@musterhausen.de\nSubject: {subject}\n"
        "Date: Mon, 11 Jan 2027 08:00:02 +0100\n"
        f"Message-ID: <{b}@mail.musterhausen.de>\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"\n\n'
        f"--{b}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: "
        f"quoted-printable\n\n{_qp(note, 'utf-8')}\n"
        f"--{b}\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mail.musterhausen.de"
        f"\n\nFinal-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n\n"
        f"--{b}\nContent-Type: message/rfc822\n\nFrom: {BOT}\nTo: {rcpt}\nSubject: {REQ_SUBJECT}\n"
        "Message-ID: <req-2027-01-K7Q2@musterhausen.de>\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n{_qp(REQUEST, 'utf-8')}\n--{b}--\n"
    )


CLIENTS = [("outlook", 25), ("gmail", 15), ("thunderbird", 12), ("apple", 10), ("owa", 10),
           ("ox", 8), ("notes", 5), ("auto_reply", 8), ("bounce", 7)]


def message(i: int, seed: int = DEFAULT_SEED) -> bytes:
    """The raw bytes of synthetic message number `i` (deterministic in i and seed)."""
    r = random.Random(seed * 1_000_003 + i)
    client = r.choices([c for c, _ in CLIENTS], weights=[w for _, w in CLIENTS])[0]
    if client == "auto_reply":
        return _auto_reply(r, i).encode("utf-8")
    if client == "bounce":
        return _bounce(r, i).encode("utf-8")
    head, part = _human(r, i, client)
    if r.random() >= 0.10:
        return (head + part).encode("utf-8")
    boundary = f"----=_mixed_{i:08d}"
    chunks = [head, f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n',
              f"--{boundary}\n", part, "\n"]
    for name, data in _images(r, i):
        chunks.append(f'--{boundary}\nContent-Type: image/jpeg; name="{name}"\n'
                      f'Content-Disposition: attachment; filename="{name}"\n'
                      f"Content-Transfer-Encoding: base64\n\n{_b64(data)}")
    chunks.append(f"--{boundary}--\n")
    return "".join(chunks).encode("utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", type=Path, required=True, help="directory for NNNNN.eml files")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(args.count):
        raw = message(i, args.seed)
        (args.out / f"{i:05d}.eml").write_bytes(raw)
        total += len(raw)
    print(f"wrote {args.count} messages ({total / 1e6:.1f} MB) to {args.out}")


if __name__ == "__main__":
    main()
