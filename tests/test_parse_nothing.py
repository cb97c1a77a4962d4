"""'Nothing this time': phrases (parsers.kinds) and templates answered with nothing."""

from __future__ import annotations

import pytest

from parsers.kinds import says_nothing
from parsers.template import is_no_topics

REQUEST = "--- Thema ---\nWas:\nWann:\nWo:\nWer:\nWie viele:\nZitat:\n--- Ende ---"


@pytest.mark.parametrize(
    "sentence",
    ["Hi, diesmal nix von uns", "Aktuell steht bei uns nichts an.", "Fehlanzeige.",
     "Bei uns ist es gerade ruhig, wir melden uns wieder.", "Diesmal leider nichts.",
     "Nothing to report from our side this month, sorry!", "No news from us this time.",
     "We don't have any events planned for the coming months.", "Von uns kommt diesmal nichts.",
     "Bei uns ist momentan nichts los.", "Nix los bei uns diesmal.", "Nix Neues von uns.",
     "Nein, danke – von uns nichts.", "Für Februar/März: nix.", "Diesmal passe ich.",
     "Bei uns ist zurzeit Flaute, sorry!"],
)
def test_nothing_phrases(sentence: str) -> None:
    assert says_nothing(sentence)


@pytest.mark.parametrize(
    "sentence",
    ["diesmal nix Großes, nur: am 15.2. öffnet die Bücherei.",
     "Keine Themen außer dem Sommerfest.", "Die Lesung ist eher ruhig gehalten.",
     "Am Abend wird es ruhig im Park.", "Wir haben nichts dagegen, das zu teilen.",
     "Von mir aus gerne.", "Das passt diesmal gut.", "Wir haben von uns nichts dagegen."],
)
def test_not_nothing(sentence: str) -> None:
    assert not says_nothing(sentence)


def test_template_answered_with_fehlanzeige_is_nothing() -> None:
    quoted = REQUEST.replace("Was:", "Was: Fehlanzeige")
    assert is_no_topics("", None, "Von: Bot\nGesendet: Mo\nAn: x\nBetreff: y\n\n" + quoted)
    assert is_no_topics(REQUEST.replace("Was:", "Was: entfällt").replace("Wo:", "Wo: -"))


def test_template_with_a_real_answer_is_not_nothing() -> None:
    text = REQUEST.replace("Was:", "Was: Sommerfest").replace("Wie viele:", "Wie viele: -")
    assert not is_no_topics(text)
    assert not is_no_topics(REQUEST.replace("Wie viele:", "Wie viele: -"))


def test_filled_template_of_an_earlier_month_in_the_quote_does_not_hide_the_phrase() -> None:
    old = REQUEST.replace("Was:", "Was: Osterfeuer").replace("Wann:", "Wann: 3.4.")
    assert is_no_topics("Diesen Monat keine Themen.", None, "Diesen Monat keine Themen.\n\n" + old)


def test_nothing_then_a_dated_event_in_a_postscript_is_no_nothing_answer() -> None:
    assert not is_no_topics(
        "Diesmal keine Themen.\n\nP.S.: Am 8. Mai ist übrigens Tag der Städtebauförderung."
    )
    assert is_no_topics("Diesmal nichts, das Sommerfest am 3.7. hatte ich ja schon gemeldet.")
    assert is_no_topics("Keine Themen. Am 12.3. bin ich im Urlaub.")
