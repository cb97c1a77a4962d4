"""The monthly editorial meeting's agenda: the month's topics by department, what is still
incomplete, and the departments that sent nothing for two rounds. Markdown (to paste into
a wiki or a meeting invitation) or a printable HTML page."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from bot import calendar
from bot.app import App
from bot.german import month_label
from bot.telling import select
from bot.telling.pages import page_renderer
from bot.telling.views import followup_state, full_date, labels, topic_context

#: departments that sent no topics in this many rounds in a row are named
SILENT_ROUNDS = 2
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|!~])")


def markdown_text(value: object) -> str:
    """A colleague's text inside Markdown: one line, markup characters escaped (a `<b>` or
    a `*` shows as typed, no HTML gets through a Markdown viewer)."""
    text = " ".join(str(value or "").split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def default_month(now: datetime, app: App) -> str:
    """The meeting plans the coming month."""
    return calendar.next_month(calendar.month_of(now, app.tz))


def parse_month(value: str) -> str:
    """A --month value as 'YYYY-MM'; ValueError says what is wrong."""
    year, month = calendar.parse_month(value.strip())
    return calendar.month_key(year, month)


def build_context(app: App, month: str, now: datetime) -> dict[str, Any]:
    tz = app.tz
    words = labels(app.settings)
    year, number = calendar.parse_month(month)
    first = date(year, number, 1)
    last = date(year + number // 12, number % 12 + 1, 1) - timedelta(days=1)
    today = calendar.local_date(now, tz)
    asked_until = min(month, calendar.month_of(now, tz))
    with app.sessions() as session:
        topics = select.dated_between(session, first, last)
        undated = [t for t in select.incomplete_from(session, today) if t.when_start is None]
        rounds, silent = select.silent_for_rounds(session, asked_until, SILENT_ROUNDS)
    by_department: dict[str, list[dict[str, Any]]] = {}
    for t in topics:
        by_department.setdefault(t.department, []).append(topic_context(t, words, tz))
    incomplete = [t for t in topics if t.status == "incomplete"] + undated
    round_names = [month_label(r.month) for r in rounds]
    return {
        "month_label": month_label(month),
        "organisation": app.settings.mail.organisation or app.settings.mail.from_name,
        "updated_label": full_date(today),
        "labels": words,
        "departments": [{"department": name, "topics": by_department[name]}
                        for name in sorted(by_department, key=str.casefold)],
        "topic_count": len(topics),
        "incomplete": [{**topic_context(t, words, tz), "followup": followup_state(t)}
                       for t in incomplete],
        # fewer rounds than that: nobody can have been silent for them yet
        "rounds_label": " und ".join(round_names) if len(rounds) >= SILENT_ROUNDS else "",
        "silent": [{"department": s.department, "email": s.contact_email,
                    "answers": [{"round": name, "answer": answer}
                                for name, answer in zip(round_names, s.answers, strict=True)]}
                   for s in silent],
    }


def render(app: App, month: str, fmt: str, now: datetime) -> str:
    context = build_context(app, month, now)
    renderer = page_renderer(app)
    if fmt == "md":
        renderer.env.filters["md"] = markdown_text
        return renderer.render("agenda.md.j2", context).rstrip("\n") + "\n"
    return renderer.render("agenda.html.j2", context)
