"""Full-day activity of a project: pure functions of (project, metric, UTC day), cached.

Days are the cache unit because a dashboard asks for whole days; an hour is read out of its
day. A day's numbers never depend on the clock, so caching them is always safe; the clock is
applied by the caller (future hours dropped, the current hour scaled).
"""

from __future__ import annotations

import math
import random
from functools import lru_cache

from simulator.catalog import Profile, digest_int, profile

# (sort key, hour of day, template index, count, successCount or -1 when the metric has none)
DayRow = tuple[int, int, int, int, int]

NIGHT_FLOOR = 0.06  # share of the peak rate still seen at night (other time zones, bots)
PEAK_WIDTH_HOURS = 4.0
WEEKEND_FACTOR = 0.5
INTENT_MATCH_SHARE = 0.55  # share of interactions that match an intent at all
# Bounds memory: a project-year of every metric is ~2.6k entries and ~20 MB.
DAY_CACHE_SIZE = 8192


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0.0:
        return 0
    if mean < 30.0:  # Knuth's product method: exact, and cheap for small means
        limit, k, p = math.exp(-mean), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    # A normal approximation is plenty for synthetic dashboards and costs O(1). Box-Muller from
    # random() keeps the numbers identical across Python versions.
    u1, u2 = rng.random(), rng.random()
    z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
    return max(0, round(mean + math.sqrt(mean) * z))


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 40:
        return sum(1 for _ in range(n) if rng.random() < p)
    mean, sd = n * p, math.sqrt(n * p * (1.0 - p))
    return min(
        n, max(0, round(mean + sd * (rng.random() + rng.random() + rng.random() - 1.5) * 2.0))
    )


@lru_cache(maxsize=4096)
def hour_weights(project_id: str, day: int) -> tuple[float, ...]:
    """Activity of each UTC hour of `day` (days since 1970-01-01) relative to the peak rates.

    Shared by all metrics of the project, so a busy day is busy everywhere.
    """
    prof: Profile = profile(project_id)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    rng = random.Random(digest_int(project_id, "day", str(day)))
    factor = prof.scale * (WEEKEND_FACTOR if weekday >= 5 else 1.0) * rng.uniform(0.85, 1.15)
    weights = []
    for hour in range(24):
        distance = abs(hour + 0.5 - prof.peak_hour)
        distance = min(distance, 24.0 - distance)
        bump = math.exp(-((distance / PEAK_WIDTH_HOURS) ** 2))
        weights.append(factor * (NIGHT_FLOOR + (1.0 - NIGHT_FLOOR) * bump))
    return tuple(weights)


@lru_cache(maxsize=DAY_CACHE_SIZE)
def day_rows(project_id: str, name: str, day: int) -> tuple[DayRow, ...]:
    """Every row of list metric `name` for one full UTC day, in hour order."""
    plan = profile(project_id).plans[name]
    weights = hour_weights(project_id, day)
    rng = random.Random(digest_int(project_id, name, str(day)))
    rows: list[DayRow] = []
    for hour, weight in enumerate(weights):
        for source in plan.sources:
            events = _poisson(rng, source.rate * weight)
            if events == 0:
                continue  # the API never reports a count of 0
            succeeded = -1 if source.success is None else _binomial(rng, events, source.success)
            for template, unit in source.rows:
                count = (
                    events if unit == 1.0 else max(1, round(events * unit * rng.uniform(0.7, 1.3)))
                )
                # Hashing the row's identity gives an order unrelated to time that is still
                # stable, so pages of one query never overlap.
                key = digest_int(project_id, name, str(day), str(hour), str(template))
                rows.append((key, hour, template, count, succeeded))
    return tuple(rows)


@lru_cache(maxsize=DAY_CACHE_SIZE)
def day_intents(project_id: str, day: int) -> tuple[tuple[int, ...], ...]:
    """Per UTC hour of `day`, the count of each intent, in `profile(...).intents` order."""
    shares = profile(project_id).intents
    turns = [0] * 24
    for _key, hour, _template, count, _success in day_rows(project_id, "interactions", day):
        turns[hour] += count
    rng = random.Random(digest_int(project_id, "top_intents", str(day)))
    return tuple(
        tuple(_poisson(rng, total * INTENT_MATCH_SHARE * share) for _, share in shares)
        for total in turns
    )
