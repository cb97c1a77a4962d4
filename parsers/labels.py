"""Labels as colleagues write them: their own words, typos and the headers of their tables.

The configured labels (`ParseOptions.labels`, the template the bot sends) come first; beside
them the parser knows the words people use for the same fields ("Termin:", "Ort:",
"Ansprechpartner:", "Teilnehmende:", "Venue:") and tolerates one typing slip in the question
words of the template ("Wan:", "Wieviele:", "Wre:", "Wannn:").

Choices (keep in sync with the tests):

- Own words are *weak* labels: a group made only of them needs two fields to count as a topic,
  so a lone "Kontakt: 0123 4567" line is no topic.
- A typo is accepted only for the question words (Was, Wann, Wer, Wie viele, Zitat, Bilder and
  the configured first labels), only before a colon or question mark, only with one edit
  (a letter missing, extra, swapped with its neighbour, or wrong) and only when exactly one
  label is that close ("Wan" is "Wann", not "Was": a missing letter beats a wrong one).
- A time label ("Uhrzeit:", "Beginn:", "Time:") adds to the date of the same topic instead of
  starting a new one.
- Table headers may carry questions and notes ("Wann (Datum, Uhrzeit)", "Wer ist dabei?",
  "Datum/Uhrzeit"); columns such as "Nr.", "Status" or "Bemerkung" belong to no field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

#: Field -> words people write as labels for it (besides the configured labels).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "what": ("Thema", "Anlass", "Veranstaltung", "Titel", "Bezeichnung", "Bez.", "Event",
             "Topic", "What", "Name der Veranstaltung", "Veranstaltungstitel"),
    "when": ("Termin", "Datum", "Zeitraum", "Zeitpunkt", "Datum/Uhrzeit", "Datum und Uhrzeit",
             "Wann genau", "Date", "When", "Termine"),
    "where": ("Ort", "Veranstaltungsort", "Örtlichkeit", "Treffpunkt", "Adresse", "Location",
              "Venue", "Place", "Where", "Wo genau"),
    "who": ("Ansprechpartner", "Ansprechpartnerin", "Ansprechpartner/in", "Ansprechperson",
            "Kontakt", "Kontaktperson", "Verantwortlich", "Verantwortliche", "Veranstalter",
            "Veranstalterin", "Organisator", "Organisation", "Zuständig", "Zuständigkeit",
            "Beteiligte", "Mitwirkende", "Contact", "Organiser", "Organizer", "Host", "Who"),
    "how_many": ("Teilnehmende", "Teilnehmer", "Teilnehmerzahl", "Teilnehmer/innen", "Anzahl",
                 "Anzahl Personen", "Anzahl Teilnehmer", "Anzahl Teilnehmende", "Personenzahl",
                 "Personen", "Besucher", "Besucherzahl", "erwartete Besucher",
                 "erwartete Gäste", "Gäste", "Anz. TN", "TN", "TN-Zahl", "Attendees",
                 "erwartete Personen", "erwartete Teilnehmer", "erwartete Teilnehmende",
                 "Wie viele Leute", "Wieviele Leute", "Wieviel Leute", "Wie viel Leute",
                 "Anzahl Leute",
                 "Participants", "Visitors", "Number of people", "How many"),
    "quote": ("Zitat", "O-Ton", "Statement", "Quote"),
    "images": ("Bilder", "Fotos", "Foto", "Bild", "Images", "Photos", "Pictures"),
}
#: Labels that give a time of day: they complete the date of the topic they are in.
TIME_LABELS: tuple[str, ...] = ("Uhrzeit", "Zeit", "Beginn", "Startzeit", "Time")
#: Question words whose typos are tolerated (besides each field's first configured label).
QUESTION_WORDS: dict[str, str] = {
    "was": "what", "wann": "when", "wer": "who", "wie viele": "how_many", "zitat": "quote",
    "bilder": "images",
}  # fmt: skip
#: Table columns that belong to no field.
IGNORED_HEADERS: frozenset[str] = frozenset(
    {"nr", "nr.", "lfd. nr.", "lfd. nr", "#", "no", "no.", "status", "bemerkung", "bemerkungen",
     "anmerkung", "anmerkungen", "hinweis", "hinweise", "notiz", "kategorie", "link", "links",
     "beschreibung", "anmeldung", "kosten", "eintritt", "preis", "notes", "comment", "comments"}
)  # fmt: skip


def norm_label(text: str) -> str:
    """A label as looked up: lower case, single spaces, without surrounding marks."""
    return " ".join(text.lower().replace("\u00a0", " ").split()).strip(" *_:?.!-–")


@dataclass(frozen=True)
class Vocabulary:
    """Label words per field: the configured ones (strong) and the known synonyms (weak)."""

    strong: dict[str, str]  # normalised label -> field
    weak: dict[str, str]
    time: frozenset[str]
    fuzzy: dict[str, str]  # question word without blanks -> field
    #: words already looked up as typos (the same "Anmeldung:" line comes back often)
    typos: dict[str, str | None] = field(default_factory=dict, compare=False, hash=False)

    def field_of(self, label: str) -> tuple[str, bool] | None:
        """(field, weak) for a label word, or None."""
        key = norm_label(label)
        if key in self.strong:
            return self.strong[key], False
        if key in self.weak:
            return self.weak[key], True
        if key in self.time:
            return "when", True
        return None

    def is_time(self, label: str) -> bool:
        return norm_label(label) in self.time

    def typo(self, word: str) -> str | None:
        """The field of the question word `word` is one slip away from, if exactly one."""
        if word in self.typos:
            return self.typos[word]
        found = self._typo(word)
        if len(self.typos) < 10_000:
            self.typos[word] = found
        return found

    def _typo(self, word: str) -> str | None:
        key = _squash(word)
        if len(key) < 3 or len(key) > 12 or key in self.fuzzy:
            return self.fuzzy.get(key) if len(key) >= 2 else None
        best: list[tuple[int, str]] = []
        for target, fld in self.fuzzy.items():
            cost = _slip(key, target)
            if cost is not None:
                best.append((cost, fld))
        if not best:
            return None
        best.sort()
        winners = {fld for cost, fld in best if cost == best[0][0]}
        return winners.pop() if len(winners) == 1 else None


def _squash(word: str) -> str:
    return re.sub(r"[\s.\-_]+", "", word.lower().replace("ß", "ss"))


def _slip(word: str, target: str) -> int | None:
    """1 for a missing, extra or swapped letter, 2 for a wrong one; None when further off."""
    if word == target:
        return 0
    lw, lt = len(word), len(target)
    if lw == lt:
        diffs = [k for k in range(lw) if word[k] != target[k]]
        if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
            a, b = diffs
            if word[a] == target[b] and word[b] == target[a]:
                return 1  # swapped neighbours ("Wnan", "Wre")
        if len(diffs) == 1 and lw >= 4:
            return 2  # one wrong letter ("Wabn"); too loose for three-letter words
        return None
    if abs(lw - lt) != 1:
        return None
    short, long_ = (word, target) if lw < lt else (target, word)
    for k in range(len(long_)):
        if long_[:k] + long_[k + 1 :] == short:
            return 1  # a letter missing or extra ("Wan", "Wannn", "Wi viele")
    return None


def _variants(labels: Mapping[str, tuple[str, ...]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((fld, tuple(names)) for fld, names in labels.items())


@lru_cache(maxsize=16)
def _vocabulary(labels: tuple[tuple[str, tuple[str, ...]], ...]) -> Vocabulary:
    strong: dict[str, str] = {}
    for fld, names in labels:
        for name in names:
            strong.setdefault(norm_label(name), fld)
    weak: dict[str, str] = {}
    for fld, names in SYNONYMS.items():
        for name in names:
            key = norm_label(name)
            if key not in strong:
                weak.setdefault(key, fld)
    time = frozenset(norm_label(t) for t in TIME_LABELS) - set(strong) - set(weak)
    fuzzy = {_squash(word): fld for word, fld in QUESTION_WORDS.items()}
    for fld, names in labels:
        if names:
            fuzzy.setdefault(_squash(names[0]), fld)
    return Vocabulary(strong, weak, time, fuzzy)


def vocabulary(labels: Mapping[str, tuple[str, ...]]) -> Vocabulary:
    """The vocabulary for the configured labels (cached)."""
    return _vocabulary(_variants(labels))


_PARENS = re.compile(r"\([^()]*\)")


def header_field(cell: str, vocab: Vocabulary) -> str | None:
    """The field a table header cell names: "what", ..., "ignore", or None (no label).

    "Was? (Titel)", "Wann (Datum, Uhrzeit)", "Datum/Uhrzeit", "Wer ist dabei?", "Wie viele
    Personen?", "erwartete Besucher" are labels; "Nr.", "Status", "Bemerkung" are "ignore".
    """
    text = norm_label(_PARENS.sub(" ", cell))
    if not text or len(text) > 60:
        return None
    if text in IGNORED_HEADERS:
        return "ignore"
    for candidate in (text, text.split("/")[0].strip()):
        found = vocab.field_of(candidate)
        if found is not None:
            return found[0]
    words = text.split()
    for size in range(min(3, len(words) - 1), 0, -1):
        found = vocab.field_of(" ".join(words[:size]))
        if found is not None:
            return found[0]
    return None
