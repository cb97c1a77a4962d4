"""Word lists for reading free text: what makes a noun an event, a person's role or an
organisation. Plain Python data, shipped with the package (no files, no downloads).

German compounds carry their meaning at the end: "Jubiläumsfeier", "Sponsorenlauf",
"Stadtteilkonferenz", "Schülervertretung", "Behindertenbeauftragte". So most entries are
word endings, matched against the end of a capitalised word; a few are whole words.
"""

from __future__ import annotations

#: Endings of nouns that name an event or an occasion worth a post.
EVENT_ENDINGS: tuple[str, ...] = (
    "fest", "feier", "feiern", "festival", "festakt", "markt", "märkte", "lauf", "turnier",
    "konzert", "lesung", "lesenacht", "ausstellung", "führung", "führungen", "empfang", "eröffnung",
    "wiedereröffnung", "einweihung", "übergabe", "spatenstich", "richtfest", "aktionstag",
    "tag", "woche", "wochen", "abend", "nachmittag", "vormittag", "frühstück", "forum",
    "sprechstunde", "workshop", "kurs", "seminar", "vortrag", "vortragsreihe", "wettbewerb",
    "aktion", "kampagne", "basar", "börse", "café", "cafe", "party", "gottesdienst",
    "ehrung", "verleihung", "jubiläum", "versammlung", "tagung", "konferenz", "messe",
    "kino", "wanderung", "rundgang", "besichtigung", "exkursion", "flohmarkt", "kirmes",
    "umzug", "parade", "putz", "sammlung", "olympiade", "meisterschaft", "cup", "premiere",
    "aufführung", "karneval", "fasching", "umtrunk", "ferienprogramm", "ferienspiele",
    "zeltlager", "camp", "karussell", "sprechtag", "infotag", "infoabend", "begehung",
    "radtour", "tour", "treffen", "stammtisch", "werkstatt", "sitzung", "gala", "ball",
    "spiel", "spiele", "reise", "besuch", "programm", "projekt", "projektwoche",
    "beratung", "schulung", "training", "kurse", "nacht", "rallye", "challenge",
    # nominalised customs: "Maibaumaufstellen", "Adventssingen", "Anradeln", "Osterfeuer"
    "aufstellen", "singen", "schießen", "radeln", "feuer",
)  # fmt: skip
#: Endings that look like events but are not ("Vortag", "Alltag", "Betrag").
NOT_EVENTS: frozenset[str] = frozenset(
    {"vortag", "alltag", "betrag", "beitrag", "vertrag", "auftrag", "antrag", "dienstag",
     "montag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag", "feiertag",
     "wochentag", "geburtstag", "nachtrag", "ertrag", "anlauf", "verlauf", "ablauf",
     "umlauf", "zulauf", "kreislauf", "tagesordnung", "programm", "projekt", "spiel",
     "besuch", "nacht", "woche", "abend", "tag", "wochen", "mittag", "vormittag", "nachmittag",
     "aktion", "reise", "kurs", "kurse", "training", "beratung", "treffen", "fest", "feuer",
     "singen", "radeln", "schießen", "aufstellen"}
)  # fmt: skip
#: Whole words that are events only as such, not as endings ("Tag der offenen Tür" is read
#: by its own rule; "Fest" alone is fine when nothing better is there).
EVENT_WORDS: frozenset[str] = frozenset({"fest", "feier", "markt", "konzert", "lesung"})
#: English events (several words).
EN_EVENTS: tuple[str, ...] = (
    "open day", "open house", "open evening", "reception", "concert", "festival", "fair",
    "market", "workshop", "exhibition", "ceremony", "conference", "meeting", "tournament",
    "run", "tour", "celebration", "party", "screening", "lecture", "talk", "day",
)  # fmt: skip

#: Endings of words for a person's role ("Bürgermeisterin", "Schulleiter",
#: "Behindertenbeauftragte", "Klimaschutzmanagerin").
ROLE_ENDINGS: tuple[str, ...] = (
    "bürgermeister", "bürgermeisterin", "landrat", "landrätin", "ortsvorsteher",
    "ortsvorsteherin", "dezernent", "dezernentin", "beigeordnete", "beigeordneter",
    "stadträtin", "leiter", "leiterin", "beauftragte", "beauftragter", "manager",
    "managerin", "direktor", "direktorin", "präsident", "präsidentin", "vorsitzende",
    "vorsitzender", "kantor", "kantorin", "pfarrer", "pfarrerin", "pastor", "pastorin",
    "förster", "försterin", "rektor", "rektorin", "intendant", "intendantin", "kurator",
    "kuratorin", "schirmherr", "schirmherrin", "minister", "ministerin", "abgeordnete",
    "abgeordneter", "geschäftsführer", "geschäftsführerin", "wehrführer", "koordinator",
    "koordinatorin", "sprecher", "sprecherin", "referent", "referentin",
)  # fmt: skip
#: English roles (whole words).
EN_ROLES: tuple[str, ...] = ("mayor", "principal", "head teacher", "chair", "director")

#: Endings of organisation names ("Förderverein", "Stadtjugendring", "Klimabeirat",
#: "Schülervertretung", "Lebenshilfe", "Tiefbauamt", "Stadtwerke").
ORG_ENDINGS: tuple[str, ...] = (
    "verein", "vereine", "verband", "vereinigung", "gemeinschaft",
    "initiative", "jugendring", "beirat", "rat", "vertretung", "feuerwehr",
    "polizei", "hilfe", "amt", "ämter", "behörde", "agentur", "stiftung",
    "kantorei", "chor", "chöre", "orchester", "kapelle", "ensemble", "band", "werke", "werken",
    "genossenschaft", "gesellschaft", "gruppe", "club", "klub", "bund", "netzwerk",
    "komitee", "kommission", "ausschuss", "treff", "management", "marketing", "büro", "stelle",
    "dienst", "ortsgruppe", "kirchengemeinde", "gemeinde", "museum", "bibliothek", "archiv",
    "association", "society", "club", "council", "committee", "office", "team", "choir",
    "orchestra",
)  # fmt: skip
#: Words that end like organisations but are none ("Anrat", "Vorrat", "Sand").
NOT_ORGS: frozenset[str] = frozenset(
    {"rat", "vorrat", "heirat", "unrat", "zierrat", "hausrat", "gerät", "band", "hilfe",
     "stelle", "dienst", "gruppe", "team", "büro", "gemeinde", "bund", "rund", "amt",
     "hausaufgabenhilfe", "baustelle", "haltestelle", "feuerstelle", "gesellschaft",
     "werke", "werken", "club", "office"}
)  # fmt: skip
#: Organisations known by their abbreviation.
ORG_ACRONYMS: frozenset[str] = frozenset(
    {"ADFC", "NABU", "BUND", "DRK", "THW", "VHS", "DLRG", "AWO", "ASB", "IHK", "HWK", "ADAC",
     "VdK", "GEW", "DGB", "LBV", "CVJM", "KJG", "BDKJ", "DPSG", "MGV", "TSV", "TV", "SV",
     "SC", "FC", "VfB", "VfL", "DJK", "KAB", "KFD", "SoVD", "UNICEF"}
)  # fmt: skip
#: Well-known companies and bodies that colleagues name without a telling ending.
ORG_NAMES: frozenset[str] = frozenset(
    {"Telekom", "Polizei", "Caritas", "Diakonie", "Tafel", "Sparkasse", "Volksbank",
     "Stadtwerke", "Landfrauen", "Pfadfinder", "Malteser", "Johanniter", "Volkshochschule",
     "Musikschule", "Kreisvolkshochschule", "Jugendmusikschule"}
)  # fmt: skip
