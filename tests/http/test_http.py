"""The HTTP surface: access control, CORS, health, the OpenAPI document, upstream failures."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jsonschema
import orjson
import pytest
from openapi_spec_validator import validate

from service.app import create_app
from service.config.settings import Settings
from service.http.openapi import DOCUMENT
from tests.conftest import SIM_KEY, Sim, body

TOKEN = "s3cret-token-0123456789"


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_api_token_guards_api_not_health(make_client: Any) -> None:
    """With API_TOKEN set, /api/* needs the bearer token; health stays open."""
    client = await make_client(API_TOKEN=TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        resp = await client.post("/api/analytics/overview", json=body(), headers=headers)
        assert resp.status == 401
        assert resp.content_type == "application/problem+json"
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert TOKEN not in await resp.text()
    resp = await client.post(
        "/api/analytics/overview", json=body(), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status == 200
    assert (await client.get("/health")).status == 200
    assert (await client.get("/health/ready")).status == 200


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_cors_for_configured_origins_only(make_client: Any) -> None:
    """Preflight and answers carry CORS headers for a listed origin, none for others."""
    client = await make_client(CORS_ORIGINS="https://dash.example.com", API_TOKEN=TOKEN)
    pre = await client.options(
        "/api/analytics/overview",
        headers={
            "Origin": "https://dash.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert pre.status == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
    resp = await client.post(
        "/api/analytics/overview",
        json=body(),
        headers={"Origin": "https://dash.example.com", "Authorization": f"Bearer {TOKEN}"},
    )
    assert resp.headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
    assert "X-Cache" in resp.headers["Access-Control-Expose-Headers"]
    other = await client.post(
        "/api/analytics/overview",
        json=body(),
        headers={"Origin": "https://evil.example.com", "Authorization": f"Bearer {TOKEN}"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_no_cors_by_default(client: Any) -> None:
    """With no CORS_ORIGINS, no origin is allowed."""
    resp = await client.post(
        "/api/analytics/overview", json=body(), headers={"Origin": "https://dash.example.com"}
    )
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_health_and_ready(client: Any, store_kind: str) -> None:
    """/health names the store (a Redis Cluster is Redis); /health/ready is 200 with every
    check ok."""
    health = await (await client.get("/health")).json()
    assert health["store"] == store_kind.replace("cluster", "redis")
    assert health["source"] == "voiceflow" and health["degraded"] is False
    resp = await client.get("/health/ready")
    assert resp.status == 200
    assert (await resp.json())["failing"] == []


async def test_ready_is_degraded_when_redis_is_unreachable(sim: Sim, aiohttp_client: Any) -> None:
    """A Redis nobody listens on: it still serves, and /health/ready says it is degraded."""
    settings = Settings.from_env(
        {
            "VOICEFLOW_API_KEY": SIM_KEY,
            "VOICEFLOW_ANALYTICS_URL": sim.url,
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "UPSTREAM_RATE_PER_SECOND": "1000",  # the fallback share of it is plenty
        }
    )
    client = await aiohttp_client(create_app(settings))
    resp = await client.post("/api/analytics/overview", json=body())
    assert resp.status == 200
    resp = await client.get("/health/ready")
    assert resp.status == 200
    ready = await resp.json()
    assert ready["status"] == "degraded" and ready["checks"]["store"]["status"] == "degraded"
    health = await (await client.get("/health")).json()
    assert health["degraded"] is True


def test_openapi_document_is_valid() -> None:
    """The served document is valid OpenAPI 3.1."""
    validate(DOCUMENT)


def _schema(name: str) -> dict[str, Any]:
    return {**DOCUMENT["components"]["schemas"][name], "components": DOCUMENT["components"]}


def check(instance: Any, name: str) -> None:
    """Validate against a component schema, resolving its $refs within the document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        instance
    )


async def test_answers_match_the_document(client: Any) -> None:
    """Real answers validate against the schemas the document declares."""
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert await resp.json() == DOCUMENT
    check(
        await (
            await client.post("/api/analytics/overview", json=body(tz="Europe/Helsinki"))
        ).json(),
        "Overview",
    )
    check(await (await client.post("/api/analytics/compare", json=body())).json(), "Compare")
    check(await (await client.get("/health")).json(), "Health")
    check(await (await client.get("/health/ready")).json(), "Ready")
    check(await (await client.post("/api/analytics/overview", json=body(tz="x"))).json(), "Problem")
    check(body(tz="UTC", environment_id=None), "AnalyticsRequest")


def test_every_route_is_documented() -> None:
    """Each route the app serves has a path in the document, and vice versa."""
    app = create_app(Settings.from_env({}))
    served = {r.resource.canonical for r in app.router.routes() if r.method != "HEAD"}
    assert served == set(DOCUMENT["paths"])


@pytest.mark.parametrize(("fault", "status"), [(401, 502), (503, 503), (429, 503)])
async def test_upstream_failure_is_a_problem_without_secrets(
    make_client: Any, sim: Sim, fault: int, status: int
) -> None:
    """Upstream 401/5xx/429 with nothing cached: a problem+json naming the cause, no key."""
    client = await make_client(
        UPSTREAM_MAX_RETRIES="1", UPSTREAM_DEADLINE_SECONDS="1", UPSTREAM_MAX_WAIT_SECONDS="1"
    )
    sim.state.fail_next(100, fault)
    resp = await client.post("/api/analytics/overview", json=body())
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    text = await resp.text()
    assert SIM_KEY not in text and "Traceback" not in text
    if status == 503:
        assert int(resp.headers["Retry-After"]) >= 1


async def test_upstream_timeout_is_504(make_client: Any, sim: Sim) -> None:
    """Upstream that never answers within the deadline: 504 problem+json."""
    client = await make_client(
        UPSTREAM_TIMEOUT_SECONDS="0.2", UPSTREAM_DEADLINE_SECONDS="0.5", UPSTREAM_MAX_RETRIES="1"
    )
    sim.state.config.hang_s = 3
    sim.state.hang_next(100)
    resp = await client.post("/api/analytics/overview", json=body())
    assert resp.status == 504
    assert resp.content_type == "application/problem+json"
    assert int(resp.headers["Retry-After"]) >= 1


async def test_demo_mode_serves_the_bundled_simulator(aiohttp_client: Any) -> None:
    """No key and no Redis: demo answers from the bundled simulator; /health says so."""
    client = await aiohttp_client(create_app(Settings.from_env({})))
    resp = await client.post("/api/analytics/overview", json=body())
    assert resp.status == 200
    assert resp.headers["X-Cache"] == "MISS"
    data = await resp.json()
    assert data["meta"]["source"] == "demo" and data["totals"]["interactions"] > 0
    again = await client.post("/api/analytics/overview", json=body())
    assert again.headers["X-Cache"] == "HIT"
    health = await (await client.get("/health")).json()
    assert health["store"] == "memory" and health["source"] == "demo"
    assert any("simulator" in note for note in health["embedded"])


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_body_in_several_packets(client: Any) -> None:
    """A body that arrives in pieces (chunked, or split writes) is read whole."""

    async def pieces() -> Any:
        text = orjson.dumps(body())
        for i in range(0, len(text), 7):
            yield text[i : i + 7]
            await asyncio.sleep(0.01)

    resp = await client.post(
        "/api/analytics/overview", data=pieces(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize(
    "dates",
    [("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31"), ("0999-06-01", "0999-06-02")],
)
async def test_dates_far_out_are_a_400(client: Any, sim: Sim, dates: tuple[str, str]) -> None:
    """Dates outside 2000-2099 are refused with a 400 naming the field, never a 500."""
    for path in ("/api/analytics/overview", "/api/analytics/compare"):
        resp = await client.post(
            path, json=body(start=dates[0], end=dates[1], tz="Pacific/Kiritimati")
        )
        assert resp.status == 400 and (await resp.json())["field"] == "start"
    assert sim.requests() == 0


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_skipped_local_date_is_an_empty_day(client: Any) -> None:
    """Pacific/Apia skipped 2011-12-30: that day exists in no zone data, and answers empty."""
    resp = await client.post(
        "/api/analytics/overview",
        json=body(start="2011-12-30", end="2011-12-30", tz="Pacific/Apia"),
    )
    assert resp.status == 200
    assert (await resp.json())["totals"]["interactions"] == 0


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_the_document_states_the_date_bounds_the_code_keeps(client: Any) -> None:
    """A date the served schema accepts is one the service accepts, and the other way."""
    schema = DOCUMENT["components"]["schemas"]["AnalyticsRequest"]
    checker = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for start, end in (
        ("1999-12-31", "2000-01-02"),
        ("2000-01-01", "2000-01-02"),
        ("2099-12-30", "2099-12-31"),
        ("2099-12-31", "2100-01-01"),
    ):
        payload = body(start=start, end=end)
        resp = await client.post("/api/analytics/overview", json=payload)
        assert checker.is_valid(payload) == (resp.status != 400), (start, end, resp.status)


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_token_past_its_cold_answers_is_told_to_come_back_at_once(
    make_client: Any, sim: Sim
) -> None:
    """UPSTREAM_COLD_PER_TOKEN=1: while one cold answer is fetched for the token, a second
    cold ask is a 503 at once, with Retry-After, and starts nothing upstream."""
    client = await make_client(UPSTREAM_COLD_PER_TOKEN="1", UPSTREAM_MAX_WAIT_SECONDS="0.2")
    sim.state.config.hang_s = 2
    sim.state.hang_next(1)
    first = await client.post("/api/analytics/overview", json=body())
    assert first.status == 503  # waited 0.2 s; its fetch goes on
    another = "62912f08e83f76001b218691"
    started = time.monotonic()
    other = await client.post("/api/analytics/overview", json=body(project=another))
    assert other.status == 503 and time.monotonic() - started < 0.2
    problem = await other.json()
    assert problem["type"].endswith("upstream-rate-limited")
    assert "being fetched" in problem["detail"]
    assert int(other.headers["Retry-After"]) >= 1
    await asyncio.sleep(0.1)
    assert not [e for e in sim.state.stats()["log"] if e["projectID"] == another]  # none began
