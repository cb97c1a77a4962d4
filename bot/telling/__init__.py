"""Telling: what the bot shows the social-media officer and the colleagues.

Read in flow order:

1. `select`  - queries: the topics, rounds, addresses and mail a digest, the year's plan,
   the agenda and the contacts overview show, as plain frozen values (no ORM objects leave);
2. `rank`    - pure: which topics come first (date, completeness, photo, quote, department
   balance), and the balance bars;
3. `digest`  - the weekly digest: select -> rank -> render -> compose -> outbox, once per
   ISO week;
4. `export`  - the year's plan as ICS, CSV (German Excel) and a static intranet page;
5. `agenda`  - the editorial meeting's agenda (Markdown or HTML);
6. `contacts` - the contacts overview (in the month's first digest and `intake contacts list`).

Everything the officer or a colleague reads is rendered from templates in
`mailtemplates/templates/` (overridable like the mails); `pages` renders the ones that are
not mails.
"""
