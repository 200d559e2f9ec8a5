"""Which chunk of a run of missing days is fetched first."""

from __future__ import annotations

from datetime import date, timedelta

from service.analytics.chunks import newest_chunk
from service.analytics.wants import cut_blind

TODAY = date(2026, 11, 27)


def run(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_a_run_reaching_today_gives_its_recent_week_first() -> None:
    month = run(date(2026, 10, 29), TODAY)
    assert newest_chunk(month, None, TODAY) == (date(2026, 11, 20), TODAY)
    assert newest_chunk(month, 100.0, TODAY) == (date(2026, 11, 20), TODAY)
    yesterday = run(date(2026, 11, 1), TODAY - timedelta(days=1))
    assert newest_chunk(yesterday, None, TODAY)[0] == date(2026, 11, 19)
    assert newest_chunk(run(date(2026, 11, 24), TODAY), None, TODAY)[0] == date(2026, 11, 24)


def test_a_run_in_the_past_is_one_chunk_up_to_a_month() -> None:
    previous = run(date(2026, 9, 29), date(2026, 10, 28))  # a compare's previous period
    assert newest_chunk(previous, None, TODAY) == (date(2026, 9, 29), date(2026, 10, 28))


def test_a_long_run_in_the_past_is_cut_by_its_density() -> None:
    quarter = run(date(2026, 6, 1), date(2026, 8, 29))
    assert newest_chunk(quarter, None, TODAY) == (date(2026, 7, 29), date(2026, 8, 29))
    # 120 pages of 500 rows at 2,000 rows a day: 30 days.
    assert newest_chunk(quarter, 2000.0, TODAY) == (date(2026, 7, 31), date(2026, 8, 29))
    assert newest_chunk(quarter, 10.0, TODAY) == (date(2026, 6, 1), date(2026, 8, 29))
    # The newest run of several goes first.
    gap = run(date(2026, 6, 1), date(2026, 6, 10)) + run(date(2026, 7, 1), date(2026, 7, 5))
    assert newest_chunk(gap, None, TODAY) == (date(2026, 7, 1), date(2026, 7, 5))


def test_a_cut_leaves_no_runt_for_a_window_of_its_own() -> None:
    """A run is taken whole when a cut would leave at most a quarter of the chunk's days."""
    # 36 days, density unknown: a month and 4 days would cost a window more than 36 at once.
    assert newest_chunk(run(date(2026, 7, 1), date(2026, 8, 5)), None, TODAY)[0] == date(2026, 7, 1)
    # 41 days leave 9, more than a quarter of the month: cut.
    assert newest_chunk(run(date(2026, 7, 1), date(2026, 8, 10)), None, TODAY)[0] == date(
        2026, 7, 10
    )
    # 30 days a chunk at 2,000 rows a day: 37 days are one chunk, 38 are cut.
    assert newest_chunk(run(date(2026, 7, 1), date(2026, 8, 6)), 2000.0, TODAY)[0] == date(
        2026, 7, 1
    )
    assert newest_chunk(run(date(2026, 7, 1), date(2026, 8, 7)), 2000.0, TODAY)[0] == date(
        2026, 7, 9
    )


def test_a_run_is_cut_blind_only_when_long_and_past() -> None:
    """Only a past run too long for one blind chunk waits for its metric's density."""
    assert cut_blind(run(date(2026, 6, 1), date(2026, 8, 29)), TODAY)
    assert not cut_blind(run(date(2026, 7, 1), date(2026, 8, 5)), TODAY)  # whole anyway
    assert not cut_blind(run(date(2026, 8, 1), TODAY), TODAY)  # its recent week goes first
