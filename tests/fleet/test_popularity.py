"""Decaying popularity: bumps halve each half-life, the set stays bounded, a lost base resets.

Each test runs over Redis (the Lua scripts) and the in-process store (their twins);
tests/store/test_scripts.py checks the two agree call by call.
"""

from __future__ import annotations

import pytest

from service.fleet.popularity import Popularity
from service.store.base import Store
from service.store.keys import Keys


async def test_popularity_decays_and_is_bounded(store: Store) -> None:
    """A bump halves each half-life; the set keeps only the most popular; rescaling is exact
    (the Lua script and the in-memory twin alike)."""
    clock = [1_000_000.0]
    pop = Popularity(store, Keys("demo"), half_life=60, clock=lambda: clock[0])
    for _ in range(4):
        pop.bump("overview", "a")
    pop.bump("overview", "b")
    await pop.flush()
    top = dict(await pop.top(10))
    assert top == {"overview|a": pytest.approx(4), "overview|b": pytest.approx(1)}
    clock[0] += 120  # two half-lives
    assert dict(await pop.top(10))["overview|a"] == pytest.approx(1)
    clock[0] += 60 * 100  # past the rescale point: old scores shrink, new ones count fully
    pop.bump("overview", "b")
    await pop.flush()
    top = dict(await pop.top(10))
    assert top["overview|b"] == pytest.approx(1, rel=1e-6)
    assert top["overview|a"] < 1e-20
    keep = pop.spec.keep
    for i in range(keep + 50):
        pop.bump("overview", f"k{i}")
    await pop.flush()
    assert len(await pop.top(keep + 100)) == keep
    assert await pop.top(0) == []


async def test_scores_without_their_base_start_over(store: Store) -> None:
    """If the base time is lost, old scores are dropped rather than misread."""
    pop = Popularity(store, Keys("demo"), half_life=60, clock=lambda: 1_000_000.0)
    pop.bump("overview", "old")
    await pop.flush()
    await store.delete(pop.spec.base)
    pop.bump("overview", "new")
    await pop.flush()
    assert [name for name, _ in await pop.top(10)] == ["overview|new"]
