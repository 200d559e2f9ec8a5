"""Where the missing days the fleet wants are cut into segments (analytics/wants.py)."""

from __future__ import annotations

from datetime import date, timedelta

from service.analytics.wants import (
    MERGE_MAX_RATE,
    Wants,
    chunk_for,
    cut_points,
    segments,
    span_days,
)
from service.store.keys import Keys
from service.store.memory import MemoryStore

TODAY = date(2026, 11, 27)


def ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def test_cuts_are_where_ranges_reaching_today_start_and_no_runt_is_left() -> None:
    week, mtd, month, quarter = (
        (ago(6), TODAY),
        (ago(26), TODAY),
        (ago(29), TODAY),
        (ago(89), TODAY),
    )
    previous_month = (ago(59), ago(30))  # a compare's previous period: no cut of its own
    cuts = cut_points([week, mtd, month, quarter, previous_month], TODAY)
    # The week's start is the recent week's cut already; the month's start is 3 days past
    # month to date's, so that segment would be a runt: taken in whole.
    assert cuts == [ago(26), ago(89)]


def test_a_range_ending_yesterday_counts_as_reaching_today() -> None:
    assert cut_points([(ago(40), ago(1))], TODAY) == [ago(40)]
    assert cut_points([(ago(40), ago(2))], TODAY) == []


def test_segments_are_runs_cut_before_each_cut() -> None:
    days = span_days(ago(100), ago(60)) + span_days(ago(50), ago(10))
    assert segments(days, [ago(89), ago(30), ago(55)]) == [
        (ago(100), ago(90)),
        (ago(89), ago(60)),
        (ago(50), ago(31)),
        (ago(30), ago(10)),
    ]
    assert segments([], [ago(3)]) == []


def test_segments_across_asks_are_planned_at_a_tight_budget_only() -> None:
    """A request saved is worth waiting for at the budget's edge; with budget to spare,
    each ask leases its own days and windows run side by side."""
    store, keys = MemoryStore(), Keys("test")
    assert Wants.at(10.0, store, keys) is not None
    assert Wants.at(MERGE_MAX_RATE, store, keys) is not None
    assert Wants.at(MERGE_MAX_RATE + 1, store, keys) is None


def test_a_fetch_takes_the_newest_chunk_of_a_segment_that_holds_days_it_needs() -> None:
    run = span_days(ago(300), ago(2))  # past; at 500 rows a day, chunks of 120 days
    assert chunk_for(run, 500.0, TODAY, {ago(10)}) == (ago(121), ago(2))
    assert chunk_for(run, 500.0, TODAY, {ago(200), ago(290)}) == (ago(241), ago(122))
    assert chunk_for(run, 500.0, TODAY, {ago(290)}) == (ago(300), ago(242))
    assert chunk_for(run, 500.0, TODAY, {ago(400)}) is None
