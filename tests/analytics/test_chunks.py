"""Which chunk of a run of missing days is fetched first."""

from __future__ import annotations

from datetime import date, timedelta

from service.analytics.chunks import newest_chunk

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
