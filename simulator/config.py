"""Knobs of the simulator. Mutable on purpose: tests turn latency, budget and faults at runtime."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SimulatorConfig:
    api_keys: tuple[str, ...]  # accepted keys: VF.DM.<project>.<secret> or VF.WS.<…>
    # Projects of another workspace: no accepted key may read them (401, as the contract says
    # of "a key without access to projectID"), though a workspace key reads every other one.
    foreign_projects: tuple[str, ...] = ()
    latency_s: float = 0.0  # added to every request that gets past validation
    rate_per_second: float | None = None  # per-API-key token bucket; None = unlimited
    burst: int = 10  # bucket capacity
    error_rate: float = 0.0  # share of requests answered 500/502/503 (seeded RNG)
    timeout_rate: float = 0.0  # share of requests that hang hang_s seconds before answering
    hang_s: float = 30.0
    seed: int = 0
    clock: Callable[[], datetime] = field(default=utc_now)  # "now" of the data; injectable


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Fields the control plane may change, each with its rule; the others (keys, foreign
# projects, seed, clock) are fixed for the life of the app (in-process tests set them directly).
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "latency_s": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "rate_per_second": (lambda v: v is None or (_number(v) and v > 0), "a number > 0 or null"),
    "burst": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an integer >= 1",
    ),
    "error_rate": (lambda v: _number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "timeout_rate": (lambda v: _number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "hang_s": (lambda v: _number(v) and v >= 0, "a number >= 0"),
}
TUNABLE = tuple(_RULES)


def apply_overrides(config: SimulatorConfig, changes: Mapping[str, Any]) -> None:
    """Set `changes` on `config`, all or nothing; ValueError names every bad field."""
    problems = [f"unknown field {key}" for key in changes if key not in _RULES]
    problems += [
        f"{key} must be {_RULES[key][1]}"
        for key, value in changes.items()
        if key in _RULES and not _RULES[key][0](value)
    ]
    if problems:
        raise ValueError("; ".join(problems))
    for key, value in changes.items():
        # JSON has one number type; store floats where the config declares floats.
        setattr(config, key, value if key == "burst" or value is None else float(value))


def tunables(config: SimulatorConfig) -> dict[str, Any]:
    return {key: getattr(config, key) for key in TUNABLE}
