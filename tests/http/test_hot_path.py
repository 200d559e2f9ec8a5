"""The hit path's shortcuts: remembered request bodies, and the in-process hot answers."""

from __future__ import annotations

import gc

import orjson
import pytest

from service.analytics.answers import HotAnswers, make_answer
from service.analytics.query import _remembered, parse_query_bytes
from service.errors import ValidationError
from tests.conftest import Factory, body


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_hot_answers_are_trusted_for_max_age_only() -> None:
    """An answer read from the store is reused for max_age seconds, then read again."""
    clock = Clock()
    hot = HotAnswers(1.0, clock=clock)
    answer = make_answer({"x": 1}, "demo", 0.0, 300, 300)
    hot.put("k", answer)
    assert hot.get("k") is answer
    clock.now += 0.99
    assert hot.get("k") is answer
    clock.now += 0.02
    assert hot.get("k") is None


def test_hot_answers_are_bounded_and_can_be_off() -> None:
    """The oldest entry leaves when the bound is reached; max_age 0 keeps nothing."""
    hot = HotAnswers(10.0, size=2)
    answer = make_answer({"x": 1}, "demo", 0.0, 300, 300)
    for key in ("a", "b", "c"):
        hot.put(key, answer)
    assert [hot.get(k) is not None for k in ("a", "b", "c")] == [False, True, True]
    off = HotAnswers(0.0)
    off.put("a", answer)
    assert off.get("a") is None


def test_remembered_bodies_give_the_same_query_and_rejections_are_not_remembered() -> None:
    """Equal bodies parse once; an invalid body raises every time."""
    raw = orjson.dumps(body())
    _remembered.cache_clear()
    assert parse_query_bytes(raw, 366) == parse_query_bytes(raw, 366)
    assert _remembered.cache_info().hits == 1
    bad = orjson.dumps(body(tz="Mars/Base"))
    for _ in range(2):
        with pytest.raises(ValidationError):
            parse_query_bytes(bad, 366)
    assert _remembered.cache_info().currsize == 1


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_what_start_up_made_is_left_out_of_full_collections(make_client: Factory) -> None:
    """Start-up's objects are frozen while the app runs (a full collection would walk them
    with the loop stopped), and thawed again when it stops."""
    client = await make_client()
    assert gc.get_freeze_count() > 10_000
    await client.close()
    assert gc.get_freeze_count() == 0
