"""The demo's town hall: six departments, and the mails their people write back, each as a
different person with a different mail program would: Outlook with a corporate signature
and a photo, Thunderbird, a webmail reply typed into the quoted template, a hurried iPhone
reply that leaves out date and place, an Exchange out-of-office notice, a short "keine
Themen", and a stranger who found the address.

Every reply is built from the mail it answers as the colleague's mailbox received it (its
Message-ID, subject and text, quoted the way that client quotes), and every date in it is
counted from the day it is written, so the demo reads right in any month.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from html import escape

from bot.demo.photo import groundbreaking_photo
from bot.german import MONTHS, WEEKDAYS

DOMAIN = "musterhausen.test"
BOT = f"themen@{DOMAIN}"
BOT_NAME = "Social-Media-Team"
ORGANISATION = "Stadt Musterhausen"
OFFICER = f"presse@{DOMAIN}"
OFFICER_NAME = "Julia Beispiel"


@dataclass(frozen=True)
class Person:
    department: str
    name: str
    email: str
    salutation: str
    #: what the demo's summary calls the way this person answers
    style: str


BAUAMT = Person("Bauamt", "Erika Muster", f"erika.muster@{DOMAIN}", "Frau Muster",
                "Outlook, HTML with signature and photo")
BIBLIOTHEK = Person("Stadtbibliothek", "Jörg Überall", f"joerg.ueberall@{DOMAIN}",
                    "Herr Überall", "Thunderbird, two topics")
KITA = Person("Kita Sonnenschein", "Ayşe Öztürk", f"ayse.oeztuerk@{DOMAIN}", "Frau Öztürk",
              "webmail, typed into the quoted template")
KULTURAMT = Person("Kulturamt", "Thomas Kern", f"thomas.kern@{DOMAIN}", "Herr Kern",
                   "iPhone, without date and place")
BUERGERBUERO = Person("Bürgerbüro", "Sabine Hoffmann", f"sabine.hoffmann@{DOMAIN}",
                      "Frau Hoffmann", "out-of-office notice")
STANDESAMT = Person("Standesamt", "Michael Braun", f"michael.braun@{DOMAIN}", "Herr Braun",
                    "Outlook for Android, \u201ekeine Themen\u201c")
DEPARTMENTS = (BAUAMT, BIBLIOTHEK, KITA, KULTURAMT, BUERGERBUERO, STANDESAMT)
STRANGER = Person("", "Klaus Mustermann", "k.mustermann@heimatverein-musterhausen.test", "",
                  "a stranger (not in the contacts file)")


def contacts_yaml() -> str:
    lines = ["# The demo's six departments (written by `intake demo`; the format is the one",
             "# `intake init` explains).", "contacts:"]
    for p in DEPARTMENTS:
        lines += [f"  - department: {p.department}", f"    name: {p.name}",
                  f"    email: {p.email}", f"    salutation: {p.salutation}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Received:
    """A mail as the colleague's mailbox shows it: what a reply refers to and quotes."""

    message_id: str
    subject: str
    date: datetime
    sender_name: str
    sender: str
    text: str


@dataclass(frozen=True)
class Reply:
    person: Person
    raw: bytes


# --- dates as people write them -------------------------------------------------------

def _on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def numeric(day: date) -> str:
    return f"{day:%d.%m.%Y}"


def spoken(day: date) -> str:
    """'Freitag, 12. März'."""
    return f"{WEEKDAYS[day.weekday()]}, {day.day}. {MONTHS[day.month - 1]}"


@dataclass(frozen=True)
class Dates:
    """The events the colleagues report, counted from the day they write."""

    groundbreaking: date
    reading_night: date
    book_sale: date
    summer_party: date
    exhibition: date
    back_on: date
    flea_market: date

    @classmethod
    def from_day(cls, day: date) -> Dates:
        return cls(
            groundbreaking=_on_or_after(day + timedelta(days=30), 3),  # a Thursday
            reading_night=_on_or_after(day + timedelta(days=17), 4),   # a Friday
            book_sale=_on_or_after(day + timedelta(days=38), 5),       # a Saturday
            summer_party=_on_or_after(day + timedelta(days=24), 5),
            exhibition=_on_or_after(day + timedelta(days=45), 4),
            back_on=_on_or_after(day + timedelta(days=8), 4),
            flea_market=_on_or_after(day + timedelta(days=20), 6),     # a Sunday
        )


# --- building blocks -------------------------------------------------------------------

def _id(seed: str, size: int = 24) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:size].upper()


#: the signature separator: dash, dash, space
SIGNATURE_DASHES = "-- "


def _quote(text: str, prefix: str = "> ") -> str:
    return "\n".join((prefix + line).rstrip() if line else prefix.rstrip()
                     for line in text.strip("\n").splitlines())


def _base(person: Person, to: Received, when: datetime, message_id: str,
          subject_prefix: str) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((person.name, person.email))
    msg["To"] = formataddr((to.sender_name, to.sender))
    msg["Subject"] = f"{subject_prefix} {to.subject}"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    msg["In-Reply-To"] = to.message_id
    msg["References"] = to.message_id
    return msg


def _outlook_header(to: Received, person: Person) -> str:
    sent = to.date
    return (f"Von: {to.sender_name} <{to.sender}>\n"
            f"Gesendet: {WEEKDAYS[sent.weekday()]}, {sent.day}. {MONTHS[sent.month - 1]} "
            f"{sent.year} {sent:%H:%M}\n"
            f"An: {person.name.split()[-1]}, {person.name.split()[0]} <{person.email}>\n"
            f"Betreff: {to.subject}")


# --- the replies -----------------------------------------------------------------------

def outlook_with_photo(to: Received, when: datetime, d: Dates) -> Reply:
    """Bauamt: Outlook, HTML and text, the block filled in above the quoted request, the
    corporate signature with its disclaimer, and a photo from the building site."""
    p = BAUAMT
    local = _id(to.message_id)
    msg = _base(p, to, when, f"<FR2P281MB{local}@FR2P281MB2339.DEUP281.PROD.OUTLOOK.COM>",
                "AW:")
    msg["Thread-Topic"] = to.subject
    msg["Thread-Index"] = "AQHa" + _id(to.message_id + "ti", 20).lower() + "=="
    msg["Accept-Language"] = "de-DE, en-US"
    msg["Content-Language"] = "de-DE"
    msg["X-MS-Has-Attach"] = "yes"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    fields = [
        ("Was", "Spatenstich für die neue Grundschule Am Lindenhof"),
        ("Wann", f"{numeric(d.groundbreaking)}, 10:00 Uhr"),
        ("Wo", "Baufeld Am Lindenhof (Zufahrt über die Birkenstraße)"),
        ("Wer", "Bürgermeisterin Weber, Bauamtsleiterin Muster, Schulleitung und "
                "die Klasse 3b"),
        ("Wie viele", "ca. 80 Gäste"),
        ("Zitat", "„Hier entsteht Platz für 300 Kinder – ein großer Tag für Musterhausen.“"),
        ("Bilder", "Foto vom Baufeld anbei, gern verwenden"),
    ]
    signature = ["Mit freundlichen Grüßen", "", "Erika Muster", "Leiterin Bauamt",
                 "", "Stadt Musterhausen | Bauamt", "Rathausplatz 1 | 12345 Musterhausen",
                 "Tel. 01234 567-610 | Fax 01234 567-699", f"{p.email} | www.musterhausen.test",
                 "", "Diese E-Mail kann vertrauliche Informationen enthalten. Wenn Sie nicht "
                 "der richtige Adressat sind, informieren Sie bitte sofort den Absender und "
                 "vernichten Sie diese E-Mail."]
    text = ("Hallo zusammen,\n\ngern, hier unser Termin – das Foto ist von letzter Woche, die "
            "Bagger rollen also schon:\n\n--- Thema ---\n"
            + "\n".join(f"{k}: {v}" for k, v in fields) + "\n--- Ende ---\n\n"
            + "\n".join(signature) + "\n\n" + _outlook_header(to, p) + "\n\n" + to.text)
    msg.set_content(text, charset="windows-1252", cte="quoted-printable")
    rows = "".join(f'<p class="MsoNormal"><b>{escape(k)}:</b> {escape(v)}</p>\n'
                   for k, v in fields)
    sig = "".join(f'<p class="MsoNormal"><span style="font-size:9.0pt;color:#5A5A5A">'
                  f"{escape(line) or '&nbsp;'}</span></p>\n" for line in signature[2:])
    quoted = "".join(f'<p class="MsoNormal">{escape(line) or "&nbsp;"}</p>\n'
                     for line in to.text.splitlines())
    header = "<br>\n".join(f"<b>{escape(k)}:</b>{escape(v)}" for k, v in (
        line.split(":", 1) for line in _outlook_header(to, p).splitlines()))
    html = f"""\
<html xmlns:o="urn:schemas-microsoft-com:office:office"
xmlns:w="urn:schemas-microsoft-com:office:word">
<head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!-- p.MsoNormal {{margin:0cm;font-size:11.0pt;
font-family:"Calibri",sans-serif;}} --></style>
</head>
<body lang="DE" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
<p class="MsoNormal">Hallo zusammen,</p>
<p class="MsoNormal">&nbsp;</p>
<p class="MsoNormal">gern, hier unser Termin – das Foto ist von letzter Woche, die Bagger
rollen also schon:</p>
<p class="MsoNormal">&nbsp;</p>
<p class="MsoNormal">--- Thema ---</p>
{rows}<p class="MsoNormal">--- Ende ---</p>
<p class="MsoNormal">&nbsp;</p>
<p class="MsoNormal">Mit freundlichen Grüßen</p>
<p class="MsoNormal">&nbsp;</p>
{sig}<p class="MsoNormal">&nbsp;</p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal">{header}</p>
</div>
<p class="MsoNormal">&nbsp;</p>
{quoted}</div>
</body>
</html>
"""
    msg.add_alternative(html, subtype="html", charset="windows-1252", cte="quoted-printable")
    msg.add_attachment(groundbreaking_photo(), maintype="image", subtype="jpeg",
                       filename=f"IMG_{d.groundbreaking:%Y%m%d}_Baufeld.jpg")
    return Reply(p, msg.as_bytes())


def thunderbird_two_topics(to: Received, when: datetime, d: Dates) -> Reply:
    """Stadtbibliothek: Thunderbird, plain text with format=flowed, the block copied for a
    second topic, the quote below an "Am ... schrieb" line."""
    p = BIBLIOTHEK
    msg = _base(p, to, when, f"<{_id(to.message_id, 8).lower()}-3f1c-4e2a-9b7d-"
                             f"{_id(to.message_id + 'tb', 12).lower()}@{DOMAIN}>", "Re:")
    msg["User-Agent"] = "Mozilla Thunderbird"
    msg["Content-Language"] = "de-DE"
    msg["Organization"] = "Stadtbibliothek Musterhausen"
    body = f"""\
Guten Tag,

gleich zwei Sachen von uns, ich habe den Block einfach kopiert:

--- Thema ---
Was: Lesenacht für Kinder von 8 bis 11 Jahren – mit Taschenlampen durch \
die Bibliothek
Wann: {spoken(d.reading_night)}, 18 Uhr
Wo: Stadtbibliothek, Kinderbereich im 1. OG
Wer: Team der Stadtbibliothek, Vorlesepatinnen
Wie viele: 25 Kinder (ausgebucht)
Zitat: Wer einmal nachts in der Bibliothek war, kommt wieder.
--- Ende ---

--- Thema ---
Was: Großer Bücherflohmarkt
Wann: {numeric(d.book_sale)}, 10 bis 16 Uhr
Wo: Rathausplatz, bei Regen im Foyer
Wer: Förderverein der Stadtbibliothek
Wie viele: erfahrungsgemäß 300 bis 400 Besucher
--- Ende ---

Viele Grüße
Jörg Überall

{SIGNATURE_DASHES}
Jörg Überall
Stadtbibliothek Musterhausen
Am Markt 3, 12345 Musterhausen
Tel. 01234 567-480

Am {to.date:%d.%m.%y um %H:%M} schrieb {to.sender_name}:
{_quote(to.text)}
"""
    # format=flowed: a long line is sent as soft-broken lines ending in a space
    flowed = body.replace("mit Taschenlampen durch die Bibliothek",
                          "mit \nTaschenlampen durch die Bibliothek")
    msg.set_content(flowed, charset="utf-8", cte="8bit")
    msg.set_param("format", "flowed")
    return Reply(p, msg.as_bytes())


def typed_into_quote(to: Received, when: datetime, d: Dates) -> Reply:
    """Kita Sonnenschein: a webmail reply that fills in the template inside the quoted
    request (one line above it says so)."""
    p = KITA
    msg = _base(p, to, when, f"<{_id(to.message_id, 32).lower()}@webmail.{DOMAIN}>", "Re:")
    msg["User-Agent"] = "Roundcube Webmail/1.6.9"
    answers = {
        "Was:": "Was: Familienfest der Kita Sonnenschein mit Kinderflohmarkt",
        "Wann:": f"Wann: Samstag, {numeric(d.summer_party)}, 14 bis 17 Uhr",
        "Wo:": "Wo: Garten der Kita, Gartenstraße 4",
        "Wer:": "Wer: Kinder, Eltern und das Kita-Team, Förderverein mit Kuchenbuffet",
        "Wie viele:": "Wie viele: etwa 150",
        "Zitat:": "Zitat: Unsere Kinder haben das Programm selbst mitgeplant!",
    }
    quoted: list[str] = []
    for line in to.text.splitlines():
        quoted.append(answers.get(line.strip(), line))
    body = (f"Hallo,\n\nich habe es Ihnen direkt unten eingetragen.\n\nLiebe Grüße\n"
            f"Ayşe Öztürk\nKita Sonnenschein\n\n"
            f"Am {to.date:%d.%m.%Y %H:%M}, schrieb {to.sender_name}:\n"
            + _quote("\n".join(quoted)) + "\n")
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return Reply(p, msg.as_bytes())


def iphone_incomplete(to: Received, when: datetime, d: Dates) -> Reply:
    """Kulturamt: a quick iPhone reply; date and place are not settled yet."""
    p = KULTURAMT
    msg = _base(p, to, when, f"<{_id(to.message_id, 8)}-4B5C-4D6E-8F70-"
                             f"{_id(to.message_id + 'ip', 12)}@{DOMAIN}>", "Re:")
    msg["X-Mailer"] = "iPhone Mail (21E236)"
    msg["Mime-Version"] = "1.0 (1.0)"
    body = f"""\
Hallo,

bei uns kommt die Ausstellung, Termin und Raum kläre ich gerade noch:

Was: Ausstellung „Musterhausen in alten Bildern“ mit Fotos aus 100 Jahren
Wer: Heimatverein und Kulturamt, Eröffnung durch die Bürgermeisterin
Wie viele: ca. 60 zur Eröffnung

Gruß
Thomas Kern

Von meinem iPhone gesendet

> Am {to.date:%d.%m.%Y} um {to.date:%H:%M} schrieb {to.sender_name} <{to.sender}>:
>
{_quote(to.text)}
"""
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return Reply(p, msg.as_bytes())


def iphone_answer(to: Received, when: datetime, d: Dates) -> Reply:
    """Kulturamt again: the answer to the bot's question, typed into its block."""
    p = KULTURAMT
    msg = _base(p, to, when, f"<{_id(to.message_id, 8)}-77AA-4C1E-9F0B-"
                             f"{_id(to.message_id + 'ip2', 12)}@{DOMAIN}>", "Re:")
    msg["X-Mailer"] = "iPhone Mail (21E236)"
    msg["Mime-Version"] = "1.0 (1.0)"
    answers = {"Wann:": f"Wann: {spoken(d.exhibition)}, 19 Uhr (Vernissage)",
               "Wo:": "Wo: Foyer im Rathaus"}
    block: list[str] = []
    inside = False
    for line in to.text.splitlines():
        if line.startswith("--- Thema"):
            inside = True
        if inside:
            block.append(answers.get(line.strip(), line))
        if line.startswith("--- Ende"):
            break
    body = ("Jetzt steht es fest:\n\n" + "\n".join(block) + "\n\nGruß\nThomas Kern\n\n"
            "Von meinem iPhone gesendet\n\n"
            f"> Am {to.date:%d.%m.%Y} um {to.date:%H:%M} schrieb {to.sender_name} "
            f"<{to.sender}>:\n>\n{_quote(to.text)}\n")
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return Reply(p, msg.as_bytes())


def out_of_office(to: Received, when: datetime, d: Dates) -> Reply:
    """Bürgerbüro: Exchange answers for her while she is away."""
    p = BUERGERBUERO
    msg = _base(p, to, when, f"<BE1P281MB{_id(to.message_id)}@BE1P281MB0001.DEUP281.PROD."
                             f"OUTLOOK.COM>", "Automatische Antwort:")
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-MS-Exchange-Generated-Message-Source"] = "Mailbox Rules Agent"
    msg["Content-Language"] = "de-DE"
    body = f"""\
Sehr geehrte Damen und Herren,

vielen Dank für Ihre Nachricht. Ich bin bis einschließlich {numeric(d.back_on)} nicht im \
Haus und habe keinen Zugriff auf meine E-Mails. Ihre Nachricht wird nicht weitergeleitet.

In dringenden Fällen wenden Sie sich bitte an buergerbuero@{DOMAIN} oder Tel. 01234 567-100.

Mit freundlichen Grüßen
Sabine Hoffmann
Bürgerbüro der Stadt Musterhausen
"""
    msg.set_content(body, charset="iso-8859-1", cte="quoted-printable")
    return Reply(p, msg.as_bytes())


def no_topics(to: Received, when: datetime, d: Dates) -> Reply:
    """Standesamt: nothing this month, said in one line from the phone."""
    p = STANDESAMT
    msg = _base(p, to, when, f"<AM6PR{_id(to.message_id, 16)}@AM6PR07MB.eurprd07.prod."
                             f"outlook.com>", "AW:")
    body = (f"Hallo,\nkeine Themen diesen Monat von uns. Melde mich, wenn sich was "
            f"ergibt!\nGruß M. Braun\n\nVon Outlook für Android gesendet\n"
            f"________________________________\n{_outlook_header(to, p)}\n\n{to.text}\n")
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return Reply(p, msg.as_bytes())


def stranger(when: datetime, d: Dates) -> Reply:
    """Someone outside the contacts file writes to the bot's address."""
    p = STRANGER
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((p.name, p.email))
    msg["To"] = BOT
    msg["Subject"] = "Flohmarkt Heimatverein"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{_id(str(when), 20).lower()}@heimatverein-musterhausen.test>"
    msg.set_content(f"""\
Sehr geehrte Damen und Herren,

ich habe Ihre Adresse von einer Bekannten aus dem Rathaus. Könnten Sie unseren Flohmarkt \
bekannt machen?

Was: Flohmarkt des Heimatvereins
Wann: {numeric(d.flea_market)}, 8 bis 14 Uhr
Wo: Parkplatz an der Stadthalle

Mit freundlichen Grüßen
Klaus Mustermann
Heimatverein Musterhausen e. V.
""", charset="utf-8", cte="quoted-printable")
    return Reply(p, msg.as_bytes())
