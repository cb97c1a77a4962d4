"""Pure parts of listening: who may answer for which request, and what the municipality's own
server said about the sender (Authentication-Results)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.listening.match import KnownContact, KnownRequest, match
from bot.listening.parsing import authors
from parsers.authres import verdict

BAU = KnownContact(1, "erika@musterhausen.de", 10, "Bauamt", True)
BAU_DEPUTY = KnownContact(2, "max@musterhausen.de", 10, "Bauamt", True)
KITA = KnownContact(3, "kita@musterhausen.de", 20, "Kita", True)
GONE = KnownContact(4, "alt@musterhausen.de", 10, "Bauamt", False)
REQ_BAU = KnownRequest(100, 10, "Bauamt", "K7Q2", 500, "request")
REQ_KITA = KnownRequest(200, 20, "Kita", "ABCD", 600, "request")


class Directory:
    def __init__(self) -> None:
        self.contacts = {c.email: c for c in (BAU, BAU_DEPUTY, KITA, GONE)}
        self.by_id = {"<req-bau@bot>": REQ_BAU, "<rem-bau@bot>": REQ_BAU,
                      "<req-kita@bot>": REQ_KITA}
        self.by_tag = {"K7Q2": REQ_BAU, "ABCD": REQ_KITA}
        self.open = {10: REQ_BAU, 20: REQ_KITA}

    def contact(self, email: str) -> KnownContact | None:
        return self.contacts.get(email)

    def request_by_message_ids(self, message_ids: Sequence[str]) -> KnownRequest | None:
        return next((self.by_id[i] for i in message_ids if i in self.by_id), None)

    def request_by_tag(self, code: str) -> KnownRequest | None:
        return self.by_tag.get(code)

    def open_request(self, department_id: int) -> KnownRequest | None:
        return self.open.get(department_id)


def decide(sender: str | None, ids: Sequence[str] = (), tag: str | None = None,
           auth: Sequence[str] = ()):  # type: ignore[no-untyped-def]
    return match(sender=sender, thread_ids=ids, tag_code=tag, auth_failures=auth,
                 directory=Directory())


@pytest.mark.parametrize(("sender", "ids", "tag", "expected", "how"), [
    ("erika@musterhausen.de", ["<rem-bau@bot>"], None, REQ_BAU, "thread"),
    ("erika@musterhausen.de", [], "k7q2", REQ_BAU, "tag"),
    ("erika@musterhausen.de", [], None, REQ_BAU, "sender"),
    ("ERIKA@Musterhausen.DE", [], None, REQ_BAU, "sender"),
    ("max@musterhausen.de", ["<req-bau@bot>"], "K7Q2", REQ_BAU, "thread"),
    # a thread unknown to the bot (a colleague's own thread) falls back to the tag
    ("kita@musterhausen.de", ["<other@client>"], "ABCD", REQ_KITA, "tag"),
])
def test_accepted(sender: str, ids: list[str], tag: str | None, expected: KnownRequest,
                  how: str) -> None:
    found = decide(sender, ids, tag)
    assert found.accepted and found.quarantine is None
    assert found.request == expected and found.matched_by == how


@pytest.mark.parametrize(("sender", "ids", "tag", "auth", "reason"), [
    ("fremd@example.org", ["<req-bau@bot>"], "K7Q2", (), "kein bekannter Kontakt"),
    (None, [], None, (), "ohne Absender ist kein bekannter Kontakt"),
    ("kita@musterhausen.de", ["<req-bau@bot>"], None, (), "antwortet auf die Anfrage an Bauamt"),
    ("kita@musterhausen.de", [], "K7Q2", (), "antwortet auf die Anfrage an Bauamt"),
    ("erika@musterhausen.de", [], None, ("dmarc=fail",), "nicht bestätigt (dmarc=fail)"),
    ("alt@musterhausen.de", [], None, (), "nicht mehr als Kontakt eingetragen"),
])
def test_quarantined(sender: str | None, ids: list[str], tag: str | None, auth: tuple[str, ...],
                     reason: str) -> None:
    found = decide(sender, ids, tag, auth)
    assert not found.accepted
    assert found.quarantine is not None and reason in found.quarantine


def _mail(*headers: str) -> bytes:
    return ("\r\n".join((*headers, "From: a@b.de", "Subject: x", "", "body")) + "\r\n").encode()


@pytest.mark.parametrize(("headers", "checked", "failed"), [
    (["Authentication-Results: mx.stadt.de; dmarc=fail header.from=stadt.de"], True,
     ("dmarc=fail",)),
    (["Authentication-Results: mx.stadt.de; dmarc=pass; spf=fail"], True, ()),
    (["Authentication-Results: mx.stadt.de; spf=fail smtp.mailfrom=x; dkim=fail"], True,
     ("spf=fail", "dkim=fail")),
    # one mechanism vouches for the sender
    (["Authentication-Results: mx.stadt.de; spf=fail; dkim=pass header.d=stadt.de"], True, ()),
    (["Authentication-Results: mx.stadt.de; spf=softfail"], True, ()),
    # a comment never counts, nor another server's header, nor one further down
    (["Authentication-Results: mx.stadt.de; spf=pass (dmarc=fail in comment)"], True, ()),
    (["Authentication-Results: evil.example; dmarc=pass",
      "Authentication-Results: MX.STADT.DE; dmarc=fail"], True, ("dmarc=fail",)),
    (["Authentication-Results: mx.stadt.de; dmarc=pass",
      "Authentication-Results: mx.stadt.de; dmarc=fail"], True, ()),
    ([], False, ()),
    # only a result's leading "method=result" counts, not a property's value the sender
    # chose, quoted or not
    (["Authentication-Results: mx.stadt.de; spf=fail smtp.mailfrom=spf=pass@evil.example"],
     True, ("spf=fail",)),
    (['Authentication-Results: mx.stadt.de; spf=fail smtp.mailfrom="x;dkim=pass"@evil.example'],
     True, ("spf=fail",)),
    # folded over lines, a result after a property
    (["Authentication-Results: mx.stadt.de;\r\n  spf=pass smtp.mailfrom=a@stadt.de;\r\n"
      "  dmarc=fail header.from=stadt.de"], True, ("dmarc=fail",)),
    # below a line the email package skips: still found
    ([":kaputt", "Authentication-Results: mx.stadt.de; dmarc=fail"], True, ("dmarc=fail",)),
])
def test_authentication_results(headers: list[str], checked: bool,
                                failed: tuple[str, ...]) -> None:
    result = verdict(_mail(*headers), "mx.stadt.de")
    assert (result.checked, result.failed) == (checked, failed)
    assert result.ok == (not failed)


def test_no_authserv_id_configured_checks_nothing() -> None:
    mail = _mail("Authentication-Results: mx.stadt.de; dmarc=fail")
    assert verdict(mail, "") == verdict(mail, "").__class__(checked=False)


@pytest.mark.parametrize(("raw", "expected"), [
    (b"From: Erika <erika@musterhausen.de>\r\nSubject: x\r\n\r\nFrom: b@example.org\r\n",
     ["erika@musterhausen.de"]),
    # several authors, folded, in two fields; a raw UTF-8 address (RFC 6532)
    ("from: a@x.de,\r\n\t\"Köhler, Jörg\" <jörg.köhler@musterhausen.de>\r\nTo: t@x.de\r\n"
     "FROM: c@y.de\r\n\r\nText\r\n".encode(), ["a@x.de", "jörg.köhler@musterhausen.de",
                                              "c@y.de"]),
    # an mbox line first; the block ends at the first line that is no field
    (b"From bot@x.de Mon Jan  4 09:00:00 2027\nFrom: e@x.de\nkein Feld\nFrom: f@x.de\n\n",
     ["e@x.de"]),
    (b"Subject: ohne Absender\n\nFrom: g@x.de\n", []),
])
def test_authors_are_every_address_of_the_from_fields(raw: bytes,
                                                      expected: list[str]) -> None:
    assert authors(raw) == expected
