"""What a simulated project contains: environments, entities, their activity, its intents.

Everything is derived from the project ID through blake2b, never Python's salted `hash()`, so
every process and every run builds the same catalogue.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

Fields = tuple[tuple[str, str], ...]  # a row's identity fields, in the API's field order

_SEPARATOR = "\x1f"  # cannot occur in IDs or names, so ("a", "bc") and ("ab", "c") differ

MODEL_CREDITS = {  # (llm-input, llm-output) credits per call: big models cost more per call
    "gpt-4o": (30.0, 11.0),
    "gpt-4o-mini": (4.0, 1.5),
    "claude-3-5-sonnet": (34.0, 13.0),
}
# Rates are expected events per hour at a weekday afternoon peak, before the project's scale.
INTERACTION_RATES = {
    "production": {"chat": 90.0, "dialog-management": 40.0, "canvas-prototype": 1.5},
    "development": {"chat": 5.0, "dialog-management": 3.0, "canvas-prototype": 10.0},
}
UNIQUE_USER_RATES = {"production": 32.0, "development": 1.1}
LLM_STEP_RATES = (7.0, 5.0, 3.5, 2.5, 1.5)  # production; development reruns steps 0 and 2
DEV_LLM_STEP_RATES = (1.2, 0.6)
FUNCTION_NAMES = (
    "lookup_order",
    "check_inventory",
    "format_address",
    "create_ticket",
    "calculate_shipping",
    "verify_email",
)
API_TOOL_NAMES = (
    "Get Order",
    "Create Ticket",
    "Lookup Customer",
    "Check Stock",
    "Book Appointment",
)
INTEGRATION_NAMES = ("zendesk", "hubspot", "salesforce", "shopify", "google-sheets", "intercom")
INTENT_NAMES = (
    "order_status",
    "refund",
    "cancel_subscription",
    "talk_to_agent",
    "pricing",
    "shipping_info",
    "reset_password",
    "billing_question",
    "product_info",
    "store_hours",
    "update_address",
    "track_package",
)


def digest_int(*parts: str) -> int:
    """A stable 64-bit integer for parts (a seed or a sort key)."""
    data = _SEPARATOR.join(parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def hex_id(*parts: str) -> str:
    """A stable 24-hex ID, shaped like the Mongo ObjectIDs Voiceflow uses."""
    return hashlib.blake2b(_SEPARATOR.join(parts).encode(), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class Source:
    """Something that happens a random number of times an hour, e.g. one LLM step in one env."""

    rate: float
    rows: tuple[tuple[int, float], ...]  # (template index, count per event) of rows it feeds
    success: float | None  # chance an event succeeds; None: the metric has no successCount


@dataclass(frozen=True, slots=True)
class MetricPlan:
    templates: tuple[Fields, ...]
    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    scale: float  # busyness of this project relative to the rates above
    peak_hour: float  # UTC hour of the afternoon peak
    plans: dict[str, MetricPlan]
    intents: tuple[tuple[str, float], ...]  # (name, share of matched turns)


class _PlanBuilder:
    def __init__(self) -> None:
        self._templates: list[Fields] = []
        self._sources: list[Source] = []

    def add(
        self, rate: float, rows: Sequence[tuple[Fields, float]], success: float | None = None
    ) -> None:
        indexed = []
        for fields, unit in rows:
            indexed.append((len(self._templates), unit))
            self._templates.append(fields)
        self._sources.append(Source(rate, tuple(indexed), success))

    def build(self) -> MetricPlan:
        return MetricPlan(tuple(self._templates), tuple(self._sources))


def _pick(rng: random.Random, pool: Sequence[str], k: int) -> list[str]:
    # Sorting by drawn keys instead of rng.sample: only random() is promised stable across
    # Python versions, and the catalogue must not change with the interpreter.
    keys = [rng.random() for _ in pool]
    return [name for _, name in sorted(zip(keys, pool, strict=True))][:k]


def _interactions(envs: dict[str, str]) -> MetricPlan:
    plan = _PlanBuilder()
    for env, rates in INTERACTION_RATES.items():
        for kind, rate in rates.items():
            plan.add(rate, [((("environmentID", envs[env]), ("type", kind)), 1.0)])
    return plan.build()


def _unique_users(envs: dict[str, str]) -> MetricPlan:
    plan = _PlanBuilder()
    for env, rate in UNIQUE_USER_RATES.items():
        plan.add(rate, [((("environmentID", envs[env]),), 1.0)])
    return plan.build()


def _credit_usage(project_id: str, envs: dict[str, str], rng: random.Random) -> MetricPlan:
    diagrams = [hex_id(project_id, "diagram", str(i)) for i in range(3)]
    models = list(MODEL_CREDITS)
    steps = []
    for i in range(len(LLM_STEP_RATES)):
        # Step 3 is usage no canvas node owns (the agent's own prompt), which the API reports
        # with an empty nodeID.
        node = "" if i == 3 else hex_id(project_id, "node", str(i))
        steps.append((diagrams[i % len(diagrams)], node, models[int(rng.random() * len(models))]))
    plan = _PlanBuilder()
    runs = [("production", i, rate) for i, rate in enumerate(LLM_STEP_RATES)]
    runs += [("development", i, rate) for i, rate in zip((0, 2), DEV_LLM_STEP_RATES, strict=True)]
    for env, i, rate in runs:
        diagram, node, model = steps[i]
        base: Fields = (
            ("environmentID", envs[env]),
            ("diagramID", diagram),
            ("nodeID", node),
            ("model", model),
        )
        credits_in, credits_out = MODEL_CREDITS[model]
        plan.add(
            rate,
            [
                ((*base, ("type", "llm-input")), credits_in),
                ((*base, ("type", "llm-output")), credits_out),
            ],
        )
    return plan.build()


def _entities(
    envs: dict[str, str],
    entities: Sequence[Fields],
    rates: Sequence[float],
    dev_rates: Sequence[float],
    rng: random.Random,
    *,
    success: bool,
) -> MetricPlan:
    """A plan where each entity is one row per env; development uses the first few entities."""
    plan = _PlanBuilder()
    runs = [("production", e, r) for e, r in zip(entities, rates, strict=False)]
    runs += [("development", e, r) for e, r in zip(entities, dev_rates, strict=False)]
    for env, fields, rate in runs:
        chance = 0.88 + 0.11 * rng.random() if success else None
        plan.add(rate, [((("environmentID", envs[env]), *fields), 1.0)], chance)
    return plan.build()


@lru_cache(maxsize=1024)
def profile(project_id: str) -> Profile:
    """The catalogue of one project."""
    rng = random.Random(digest_int(project_id, "profile"))
    envs = {env: hex_id(project_id, "environment", env) for env in ("production", "development")}
    functions = [
        (("functionID", hex_id(project_id, "function", n)), ("name", n))
        for n in _pick(rng, FUNCTION_NAMES, 3)
    ]
    tools = [
        (("apiToolID", hex_id(project_id, "api-tool", n)), ("name", n))
        for n in _pick(rng, API_TOOL_NAMES, 3)
    ]
    documents = [(("documentID", hex_id(project_id, "document", str(i))),) for i in range(8)]
    integrations = [(("integrationToolName", n),) for n in _pick(rng, INTEGRATION_NAMES, 2)]
    plans = {
        "interactions": _interactions(envs),
        "unique_users": _unique_users(envs),
        "credit_usage": _credit_usage(project_id, envs, rng),
        "function_usage": _entities(
            envs, functions, (3.0, 1.6, 0.7), (0.5, 0.2), rng, success=True
        ),
        "api_calls": _entities(envs, tools, (2.2, 1.0, 0.5), (0.3,), rng, success=True),
        "kb_documents": _entities(
            envs,
            documents,
            [2.5 * 0.7**i for i in range(8)],
            (0.25, 0.25, 0.25),
            rng,
            success=False,
        ),
        "integrations": _entities(envs, integrations, (1.4, 0.6), (0.2,), rng, success=True),
    }
    # Intent popularity falls off like Zipf's law, as it does in real support traffic.
    names = _pick(rng, INTENT_NAMES, 10)
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(names))]
    intents = tuple((n, w / sum(weights)) for n, w in zip(names, weights, strict=True))
    return Profile(
        scale=0.8 + 0.5 * rng.random(),
        peak_hour=13.0 + 3.0 * rng.random(),
        plans=plans,
        intents=intents,
    )
