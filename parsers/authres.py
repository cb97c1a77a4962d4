"""Authentication-Results (RFC 8601): did the municipality's own mail server vouch for the
sender? Pure: header bytes in, verdict out.

Only the topmost header whose authserv-id is the configured one counts: headers further down
were added before the mail reached that server, and anyone can forge those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers.fields import header_fields

_FIELD = "authentication-results"
#: a result's method and outcome, at the start of its part (RFC 8601: "method=result"
#: first, then properties such as "smtp.mailfrom=...", whose values the sender chooses)
_RESULT = re.compile(r"\s*(dmarc|dkim|spf)\s*=\s*([a-z]+)\b", re.IGNORECASE)
#: a quoted string (a property's value may be one, ";" and "=" included); one left open
#: is not taken as one, so it cannot hide the results after it
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
#: a header field longer than this is not an authentication result anyone wrote honestly
_MAX_FIELD = 8192


@dataclass(frozen=True)
class AuthVerdict:
    checked: bool  # a header of the trusted server was there
    failed: tuple[str, ...] = ()  # e.g. ("dmarc=fail",)

    @property
    def ok(self) -> bool:
        return not self.failed


def _strip_comments(value: str) -> str:
    # RFC 8601 allows (comments); "(dmarc=fail)" inside one must not count
    out: list[str] = []
    depth = 0
    for ch in value:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def verdict(raw: bytes, authserv_id: str) -> AuthVerdict:
    """The verdict of the topmost Authentication-Results from `authserv_id`.

    A mail fails when DMARC failed, or, without a DMARC result, when SPF or DKIM failed and
    neither passed. Softfail, neutral and none do not fail a mail (forwarders break SPF).
    """
    if not authserv_id:
        return AuthVerdict(checked=False)
    wanted = authserv_id.strip().casefold()
    # the whole block, however long: a trusted field further down must not go unread
    for value in header_fields(raw, [_FIELD], limit=None)[_FIELD]:
        text = _strip_comments(value[:_MAX_FIELD])
        server = text.split(";", 1)[0].strip().split()
        if not server or server[0].casefold() != wanted:
            continue
        results: dict[str, set[str]] = {}
        for part in _QUOTED.sub('""', text).split(";")[1:]:
            found = _RESULT.match(part)
            if found:
                results.setdefault(found.group(1).lower(), set()).add(found.group(2).lower())
        failed: list[str] = []
        dmarc = results.get("dmarc", set())
        if "fail" in dmarc:
            failed.append("dmarc=fail")
        elif "pass" not in dmarc:
            for method in ("spf", "dkim"):
                outcomes = results.get(method, set())
                if "fail" in outcomes and "pass" not in outcomes:
                    failed.append(f"{method}=fail")
            if failed and any("pass" in results.get(m, set()) for m in ("spf", "dkim")):
                failed = []  # one mechanism vouches for the sender: that is what DMARC asks
        return AuthVerdict(checked=True, failed=tuple(failed))
    return AuthVerdict(checked=False)
