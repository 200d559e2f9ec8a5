"""Runtime state of one simulator app: counters, request log, fault queues, rate buckets."""

from __future__ import annotations

import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator import garbage
from simulator.config import SimulatorConfig
from simulator.data import METRICS
from simulator.errors import RateLimited

LOG_SIZE = 10_000  # enough for a benchmark run, bounded so a long-lived simulator stays small
INJECTED_STATUSES = (500, 502, 503)  # what error_rate draws from: the 5xx a proxy/backend emits


@dataclass(frozen=True, slots=True)
class Fault:
    """What fault injection decided for one request: answer `status` now, or hang first."""

    status: int | None = None
    hang: bool = False


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class SimulatorState:
    """Kept on the app under SIM_STATE; tests drive it directly or through /_sim/*."""

    def __init__(
        self, config: SimulatorConfig, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._monotonic = monotonic  # the rate budget runs on real time, not the data clock
        self.reset()

    def reset(self) -> None:
        """Zero counters and log, empty fault queues, refill every bucket, reseed the RNG."""
        self._rng = random.Random(self.config.seed)
        self._fail_queue: deque[int] = deque()
        self._hangs = 0
        self._garbage: list[tuple[str, str | None]] = []  # (kind, metric name or any)
        self._buckets: dict[str, _Bucket] = {}
        self._requests = 0
        self._answered: Counter[int] = Counter()
        self._by_name: Counter[str] = Counter()
        self._rate_limited = 0
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next n requests on the API path answer `status` (before auth)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        if not 400 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP error status")
        self._fail_queue.extend([status] * n)

    def hang_next(self, n: int) -> None:
        """The next n requests wait config.hang_s seconds, then are answered normally."""
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        self._hangs += n

    def garbage_next(self, n: int, kind: str, name: str | None = None) -> None:
        """The next n valid queries (of metric `name`, or of any metric the kind applies to)
        are answered with garbage of `kind` (simulator/garbage.py) instead of their answer."""
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        if kind not in garbage.KINDS:
            raise ValueError(f"kind must be one of: {', '.join(garbage.KINDS)}")
        if name is not None and name not in METRICS:
            raise ValueError(f"name must be one of: {', '.join(METRICS)}")
        if name is not None and not garbage.applies(kind, name):
            raise ValueError(f"{kind} does not apply to {name}")
        self._garbage.extend([(kind, name)] * n)

    def clear_faults(self) -> None:
        """Drop every queued fault (statuses, hangs, garbage); counters and log stay."""
        self._fail_queue.clear()
        self._hangs = 0
        self._garbage.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self._requests,
            "answered": dict(self._answered),
            "by_name": dict(self._by_name),
            "rate_limited": self._rate_limited,
            "log": list(self._log),
        }

    # The API handler's side.

    def received(self) -> None:
        self._requests += 1

    def draw_fault(self) -> Fault | None:
        """Queued faults first, then the random error/timeout rates."""
        if self._fail_queue:
            return Fault(status=self._fail_queue.popleft())
        if self._hangs:
            self._hangs -= 1
            return Fault(hang=True)
        # Draw only for rates in use, so turning one on does not reshuffle the other's sequence.
        if self.config.error_rate and self._rng.random() < self.config.error_rate:
            return Fault(status=INJECTED_STATUSES[self._rng.randrange(len(INJECTED_STATUSES))])
        if self.config.timeout_rate and self._rng.random() < self.config.timeout_rate:
            return Fault(hang=True)
        return None

    def draw_garbage(self, name: str) -> str | None:
        """The garbage kind this query of `name` is answered with, if one is queued for it."""
        for i, (kind, wanted) in enumerate(self._garbage):
            if (wanted is None or wanted == name) and garbage.applies(kind, name):
                del self._garbage[i]
                return kind
        return None

    def spend(self, api_key: str) -> dict[str, str]:
        """Take one token of the key's budget: its X-RateLimit headers, or RateLimited."""
        rate, burst = self.config.rate_per_second, self.config.burst
        if rate is None:
            return {}
        now = self._monotonic()
        bucket = self._buckets.setdefault(api_key, _Bucket(float(burst), now))
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        headers = {
            "X-RateLimit-Limit": str(burst),
            "X-RateLimit-Remaining": str(math.floor(bucket.tokens)),
            # [chosen] seconds until the bucket is full again
            "X-RateLimit-Reset": str(math.ceil((burst - bucket.tokens) / rate)),
        }
        if not allowed:
            wait = max(1, math.ceil((1.0 - bucket.tokens) / rate))
            raise RateLimited({**headers, "Retry-After": str(wait)})
        return headers

    def record(self, fields: dict[str, Any], status: int, garbage_kind: str | None = None) -> None:
        """Count one answered request; `fields` are its log_fields (the log adds its status,
        the wall-clock time it was answered and, for a garbage answer, its kind)."""
        self._answered[status] += 1
        if status == 200 and isinstance(fields.get("name"), str):
            self._by_name[fields["name"]] += 1
        if status == 429:
            self._rate_limited += 1
        entry = {**fields, "status": status, "at": round(time.time(), 3)}
        if garbage_kind is not None:
            entry["garbage"] = garbage_kind
        self._log.append(entry)


SIM_STATE = web.AppKey("sim_state", SimulatorState)
