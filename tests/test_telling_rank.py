"""Ranking and department balance: pure functions, `now` given."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.telling.rank import (
    BALANCE_RANGE,
    Candidate,
    balance_bars,
    balance_factors,
    proximity,
    rank,
    score,
)

NOW = date(2027, 1, 18)


def c(id: int, department: str = "Bauamt", days: int | None = 7, *, missing: int = 0,
      photo: bool = False, quote: bool = False, length: int = 0) -> Candidate:
    start = NOW + timedelta(days=days) if days is not None else None
    end = start + timedelta(days=length) if start is not None and length else None
    return Candidate(id=id, department=department, start=start, end=end, missing=missing,
                     has_photo=photo, has_quote=quote)


def order(ranked: list) -> list[int]:  # type: ignore[type-arg]
    return [r.candidate.id for r in ranked]


# --- what a topic offers -------------------------------------------------------------------

def test_proximity_falls_with_distance_and_is_zero_when_over() -> None:
    values = [proximity(NOW + timedelta(days=d), None, NOW) for d in (0, 3, 10, 60, 200)]
    assert values == sorted(values, reverse=True)
    assert values[0] == values[1] == 1.0 and values[2] == pytest.approx(0.5)
    assert proximity(NOW - timedelta(days=1), None, NOW) == 0.0
    # a range that is running counts as today
    assert proximity(NOW - timedelta(days=3), NOW + timedelta(days=2), NOW) == 1.0
    # undated: some worth (it may well be soon), less than anything within six weeks
    assert 0 < proximity(None, None, NOW) < proximity(NOW + timedelta(days=42), None, NOW)


@pytest.mark.parametrize(("better", "worse"), [
    (c(1, days=2), c(2, days=30)),                        # sooner
    # this week's photo-and-quote topic before the one a week later
    (c(1, days=4, photo=True, quote=True), c(2, days=12, photo=True, quote=True)),
    (c(1, missing=0), c(2, missing=2)),                   # complete
    (c(1, photo=True), c(2)),                             # with a photo
    (c(1, quote=True), c(2)),                             # with a quote
    (c(1, days=None, photo=True, quote=True), c(2, days=None)),
])
def test_each_quality_raises_the_score(better: Candidate, worse: Candidate) -> None:
    assert score(better, NOW) > score(worse, NOW)
    assert order(rank([worse, better], NOW, {})) == [1, 2]


def test_the_order_is_stable_for_equal_topics() -> None:
    topics = [c(3), c(1), c(2)]
    assert order(rank(topics, NOW, {})) == [1, 2, 3]
    same_day = [c(5, days=10), c(4, days=3)]
    assert order(rank(same_day, NOW, {})) == [4, 5]


def test_reasons_name_what_scored() -> None:
    (top,) = rank([c(1, days=3, photo=True, quote=True)], NOW, {})
    assert [(r.code, r.days) for r in top.reasons] == [
        ("soon", 3), ("complete", 0), ("photo", 0), ("quote", 0)]
    (far,) = rank([c(2, days=40, missing=1)], NOW, {})
    assert far.reasons == ()
    (running,) = rank([c(3, days=-2, length=5)], NOW, {})
    assert running.reasons[0].code == "running"


# --- balance -------------------------------------------------------------------------------

def test_balance_damps_the_busy_and_lifts_the_quiet() -> None:
    factors = balance_factors({"Bauamt": 8, "Kulturamt": 3}, ["Bauamt", "Kulturamt",
                                                              "Schulamt"])
    assert factors["Bauamt"] < 1.0 < factors["Kulturamt"] < factors["Schulamt"]
    # gently: within bounds however lopsided the weeks were
    lopsided = balance_factors({"Bauamt": 300}, ["Bauamt", "Kulturamt"])
    assert (lopsided["Bauamt"], lopsided["Kulturamt"]) == BALANCE_RANGE
    assert BALANCE_RANGE[0] <= min(factors.values()) <= max(factors.values()) <= \
        BALANCE_RANGE[1]
    # nothing sent recently: nobody is damped or lifted
    assert set(balance_factors({}, ["Bauamt", "Kulturamt"]).values()) == {1.0}
    # an even share: all alike
    even = balance_factors({"Bauamt": 5, "Kulturamt": 5}, [])
    assert even["Bauamt"] == even["Kulturamt"] == 1.0


def test_a_department_that_dominated_recent_weeks_yields_to_a_quiet_one() -> None:
    """Two equal topics; the Bauamt sent 20 topics in the recent weeks, the Kulturamt
    none: the Kulturamt's comes first, and says why."""
    topics = [c(1, "Bauamt"), c(2, "Kulturamt")]
    assert order(rank(topics, NOW, {})) == [1, 2]  # without history: by id
    ranked = rank(topics, NOW, {"Bauamt": 20}, ["Bauamt", "Kulturamt"])
    assert order(ranked) == [2, 1]
    assert "quiet_department" in [r.code for r in ranked[0].reasons]
    assert ranked[0].balance > 1.0 > ranked[1].balance


def test_balance_never_lets_a_weak_topic_beat_a_strong_one() -> None:
    strong = c(1, "Bauamt", days=1, photo=True, quote=True)
    weak = c(2, "Kulturamt", days=None, missing=4)
    ranked = rank([weak, strong], NOW, {"Bauamt": 50}, ["Bauamt", "Kulturamt"])
    assert order(ranked) == [1, 2]


def test_one_busy_department_does_not_crowd_out_the_others() -> None:
    """Twenty good Bauamt topics this week and three plain ones from quiet departments:
    the quiet departments appear within the first eight, not after twenty."""
    busy = [c(i, "Bauamt", days=i % 5 + 1, photo=True) for i in range(1, 21)]
    quiet = [c(101, "Kulturamt", days=20), c(102, "Schulamt", days=25),
             c(103, "Jugendamt", days=30)]
    ranked = rank(busy + quiet, NOW, {"Bauamt": 20},
                  ["Bauamt", "Kulturamt", "Schulamt", "Jugendamt"])
    top = order(ranked)[:8]
    assert {101, 102, 103} <= set(top)
    assert order(ranked)[0] in range(1, 21)  # the best topic still leads
    # everything is ranked, nothing lost
    assert sorted(order(ranked)) == sorted(t.id for t in busy + quiet)


def test_without_balance_the_busy_department_would_fill_the_list() -> None:
    """The same topics scored alone (no history, no diversity): the proof that balance is
    what lifts the quiet ones above."""
    busy = [c(i, "Bauamt", days=i % 5 + 1, photo=True) for i in range(1, 21)]
    quiet = [c(101, "Kulturamt", days=20)]
    by_score = sorted(busy + quiet, key=lambda t: -score(t, NOW))
    assert [t.id for t in by_score].index(101) == 20


def test_rank_scales_to_thousands() -> None:
    topics = [c(i, f"Amt {i % 40}", days=i % 90) for i in range(5000)]
    ranked = rank(topics, NOW, {f"Amt {i}": i for i in range(40)})
    assert len(ranked) == 5000 and len(set(order(ranked))) == 5000


# --- bars ----------------------------------------------------------------------------------

def test_balance_bars_include_the_silent_and_scale_to_the_busiest() -> None:
    bars = balance_bars({"Bauamt": 12, "Kulturamt": 3}, ["Bauamt", "Kulturamt", "Schulamt"])
    assert [(b.department, b.count, b.percent) for b in bars] == [
        ("Bauamt", 12, 100), ("Kulturamt", 3, 25), ("Schulamt", 0, 0)]
    assert [b.percent for b in balance_bars({}, ["Bauamt"])] == [0]
