"""What a client told to come back is told: progress summed over the parts of an answer."""

from __future__ import annotations

from service.analytics.progress import combine, retry_after


def summary(needed: int, left: int | None) -> dict[str, int | None]:
    return {
        "metric_days_done": 0,
        "metric_days_needed": needed,
        "pages_fetched": 3,
        "pages_left": left,
    }


def test_parts_are_summed() -> None:
    out = combine([summary(700, 40), summary(700, 60)])
    assert out == {
        "metric_days_done": 0,
        "metric_days_needed": 1400,
        "pages_fetched": 6,
        "pages_left": 100,
    }
    assert retry_after(out, rate=10, fallback=5) == 10


def test_a_part_not_begun_counts_as_much_as_the_largest_under_way() -> None:
    """A compare whose previous period has not started yet: twice the work, not half."""
    out = combine([summary(2562, 250)], unstarted=1)
    assert out is not None
    assert (out["metric_days_needed"], out["pages_left"]) == (5124, 500)
    assert retry_after(out, rate=10, fallback=5) == 50


def test_nothing_told_falls_back() -> None:
    assert combine([]) is None
    assert retry_after(None, rate=10, fallback=5) == 5
    assert combine([summary(10, None)], unstarted=2)["pages_left"] is None  # type: ignore[index]


def test_a_part_that_cannot_tell_its_pages_counts_as_much_as_the_largest() -> None:
    out = combine([summary(2562, 253), summary(366, None)])
    assert out is not None and out["pages_left"] == 506
    # A part with nothing of its own to fetch (a compare waiting on its periods) adds none.
    assert combine([summary(2562, 253), summary(0, None)])["pages_left"] == 253  # type: ignore[index]
