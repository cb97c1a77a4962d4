"""The bot's German mail templates and their pure renderer.

Pure: a template name and a context mapping in, a :class:`RenderedMail` (subject, plain text,
HTML) out. Nothing of the project is imported here.

Usage::

    renderer = TemplateRenderer(override_dir=None)
    mail = renderer.render("request", context)     # raises TemplateError on any problem
    block = template_block(DEFAULT_TEMPLATE_LABELS)  # the fill-in block for the context

Rendering rules
---------------
Each template ``NAME`` is three files in ``mailtemplates/templates/``: ``NAME.subject.j2``,
``NAME.txt.j2`` and ``NAME.html.j2`` (Jinja2, ``StrictUndefined``: every variable a template
uses must be in the context, or :class:`TemplateError` names it). Only ``.html.j2`` files are
autoescaped. The subject is reduced to one line (control characters dropped, whitespace runs
collapsed to one space), so no context value can inject a header. The text part has trailing
spaces removed, at most one blank line in a row, and ends with one newline.

Files starting with ``_`` are shared parts (``_layout.html.j2``, ``_greeting.*``,
``_signature.*``, ``_officer.*``, ``_macros.html.j2``, ``_digest_macros.*``); they are not
templates of their own.

Changing the wording
--------------------
All fixed wording lives in the template files. An admin changes it without touching the package
by naming an override directory in the configuration: a file there with the name of a packaged
file (e.g. ``request.txt.j2`` or ``_signature.html.j2``) replaces that one file; everything
else still comes from the package. Copy the packaged file as a starting point. Three new files
``NAME.*.j2`` there add a template ``NAME``.

Contexts
--------
Values are plain ``str``/``int``/``list``/``dict``; dates and numbers come preformatted in
German by the caller. The names below are the contract; each template needs exactly the
variables listed for it (``contact_name`` and ``month_label``, ``"Januar 2027"``, are accepted
by the mails to contacts and used by none of the packaged templates, so overrides may use them).

Common to the mails to contacts (request, reminder, followup, receipt):

- ``contact_salutation``: e.g. ``"Frau Muster"``, greeting "Guten Tag Frau Muster,"; may be
  ``""``, greeting "Guten Tag,".
- ``department``: the department's name, e.g. ``"Bauamt"`` (subject and text).
- ``sender_name``: who signs, e.g. ``"Julia Beispiel"`` or a team name.
- ``organisation``: e.g. ``"Stadt Musterhausen"`` (signature; left out where ``sender_name``
  already contains it).
- ``subject_tag``: e.g. ``"[Themen 2027-01 #K7Q2]"``, at the end of every subject.

``request``: common plus

- ``deadline``: ``"Freitag, 15. Januar 2027"``;
- ``template_block``: the string from :func:`template_block`;
- ``officer_name``, ``officer_email``: whom to ask about the topics (the social-media
  officer); either may be ``""``.

It asks for the topics of the coming months (the subject tag names the round's month).
Subject "Ihre Themen für die kommenden Monate – Bauamt [Themen 2027-01 #K7Q2]".

``reminder``: as ``request``, plus ``original_date`` (``"4. Januar 2027"``, when the request
went out). Subject "Erinnerung: Ihre Themen für die kommenden Monate – ...".

``followup``: common plus

- ``questions``: list of ``{"topic_what": str (may be ""), "missing_labels": list[str]}``,
  e.g. ``{"topic_what": "Sommerfest", "missing_labels": ["Wann", "Wo"]}``; one mini block per
  entry, in list order, holding only the missing labels (so the reply parses; blocks come back
  in the same order);
- ``reply_hint``: one line the caller adds before the thanks (``""`` for none);
- optional ``block_start`` / ``block_end``: the block markers if configured differently
  (default ``"--- Thema ---"`` / ``"--- Ende ---"``).

Subject "Kurze Rückfrage zu Ihren Themen – Bauamt [tag]".

``receipt``: common plus ``topics``: list of ``{"what": str, "when_text": str}`` (either may be
``""``; an empty list thanks for the answer without listing topics, e.g. after "keine Themen").
Subject "Danke für Ihre Rückmeldung – Bauamt [tag]".

``oversized``: common plus ``original_subject`` (may be ``""``), ``size_label`` (``"38 MB"``)
and ``limit_label`` (``"25 MB"``): the polite notice to a contact whose mail was too large to
fetch. ``subject_tag`` may be ``""`` here (a mail outside any request).

``digest`` (to the social-media officer; no contact variables). Sections in this order, each
left out when empty; when sections 1-5 are all empty, the mail is one friendly sentence.
The officer's wording (reasons, follow-up states, set-aside kinds) lives in
``_digest_macros.txt.j2``; override it to change the words.

- ``week_label``: ``"KW 3/2027"``; ``officer_name``: ``"Julia Beispiel"`` (may be ``""``);
- ``organisation``: in the header and footer;
- ``labels``: the configured labels by field, ``{"what": "Was", "when": "Wann", "where": "Wo",
  "who": "Wer", "how_many": "Wie viele", "quote": "Zitat", "images": "Bilder"}``;
- a *topic* is a dict ``{"id": int, "ref": "T-12", "department", "contact_name",
  "contact_email", "what", "when_text", "where", "who", "how_many_text", "quote": str,
  "attachments": list[str] (file names), "has_photos": bool, "missing_labels": list[str],
  "status": str, "followup": str, "followup_since": str, "is_new": bool}``; empty strings
  leave a line out; non-empty ``missing_labels`` mark it "fehlt: Wann, Wo"; ``status`` is
  shown unless it is "", "new", "complete" or "incomplete" (cancelled, canceled, postponed,
  published, planned, rejected, done are shown in German, anything else as given);
  ``followup`` is ``"spent"`` (nobody asks again: the officer should), ``"running"`` (since
  ``followup_since``, ``"12. Januar"``), ``"pending"`` or ``""``;
- 1. ``new_topics``: list of topics, best first (the caller ranks and caps);
  ``new_count``: all new topics (more than listed: "… und N weitere neue Themen" with
  ``intake topics list``); ``since_label``: ``"Montag, 11. Januar"`` (read when nothing is
  new); ``ranking``: the top topics' reasons for the one line saying why they are on top,
  ``[{"ref", "what", "reasons": [{"code", "days"}]}]``, codes soon (``days`` ahead),
  running, complete, photo, quote, quiet_department;
- 2. ``upcoming_topics``: topics of the coming weeks in date order (``is_new``: shown above,
  one line here); ``upcoming_count``, ``upcoming_weeks`` (6), ``upcoming_command`` (the
  ``intake topics list --from ... --to ...`` line for the rest; read when some are left out);
- 3. ``incomplete_topics``: topics (what is missing, where the follow-up stands);
  ``incomplete_count``;
- 4. ``round_label`` (``"Januar 2027"`` or ``""``), ``round_deadline`` (``""`` for none),
  ``departments_without_answer``: ``[{"department", "contact": "Name, address",
  "asked_on": "4. Januar" or "", "reminders": int}]``; ``bouncing``: ``[{"department",
  "email", "since", "reason"}]``;
- 5. ``set_aside``: mail that needs a human, ``[{"id": int, "status": quarantined |
  unrecognized | failed | oversized, "sender", "subject", "reason", "received":
  "12.01. 09:14"}]``; ``set_aside_more``: how many more wait (``intake inbound list``);
- 6. ``balance_label`` (``"1. Quartal 2027"``), ``balance``: bars ``[{"department",
  "count": int, "percent": 0-100}]`` (drawn with table cells), ``[]`` for none;
- ``contacts``: the month's first digest only, else ``[]``: ``[{"department", "active":
  bool, "contact": "Name, address" or "", "deputies": list[str], "last_answer":
  "12. Januar 2027" or "", "topics_this_year": int, "bouncing": list[str]}]``;
  ``contacts_year``: ``"2027"`` (read with contacts);
- ``calendar_file``: the attached calendar's file name (``""``: none attached),
  ``calendar_count``: its number of events.

Subject "Themen-Übersicht KW 3/2027: 3 neue Themen, 1 unvollständig" (a quiet week:
"Themen-Übersicht KW 3/2027: eine ruhige Woche").

Pages (not mails)
-----------------
Single files rendered by the telling code with the same rules (HTML autoescaped, every
variable required, overridable the same way): ``plan.html.j2``, the year's plan for the
intranet (``title``, ``organisation``, ``officer_name``, ``officer_email``, ``year``,
``updated_label``, ``count``, ``labels``, ``months``: twelve ``{"key": "2027-01", "label":
"Januar 2027", "short": "Januar", "topics": [topic + "day": "12." ]}``, ``undated``:
topics), and ``agenda.md.j2`` / ``agenda.html.j2``, the editorial meeting's agenda
(``month_label``, ``organisation``, ``updated_label``, ``labels``, ``departments``:
``[{"department", "topics"}]``, ``topic_count``, ``incomplete``: topics, ``rounds_label``
(``""`` before two rounds), ``silent``: ``[{"department", "email", "answers": [{"round",
"answer": "" | "no_topics"}]}]``; the Markdown one passes colleagues' text through an ``md``
filter the caller provides). A topic there has ``when_short`` (``"Fr 12.02., 10:00 Uhr"``)
besides the digest's keys.
"""

from mailtemplates.block import (
    DEFAULT_BLOCK_END,
    DEFAULT_BLOCK_START,
    DEFAULT_HINTS,
    DEFAULT_TEMPLATE_LABELS,
    QUOTE_HEADER_WORDS,
    check_label,
    template_block,
)
from mailtemplates.renderer import RenderedMail, TemplateError, TemplateRenderer

__all__ = [
    "DEFAULT_BLOCK_END",
    "DEFAULT_BLOCK_START",
    "DEFAULT_HINTS",
    "DEFAULT_TEMPLATE_LABELS",
    "QUOTE_HEADER_WORDS",
    "RenderedMail",
    "TemplateError",
    "TemplateRenderer",
    "check_label",
    "template_block",
]
