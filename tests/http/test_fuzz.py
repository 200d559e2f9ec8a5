"""Schemathesis against the document the service serves: what it calls valid is answered, what
it calls invalid is a documented 4xx problem (never a 500), and every answer — status, media
type, headers, body — is one the document declares for that operation.

The service runs with API tokens and an ADMIN_TOKEN, so its document declares security, and
each call carries the token that declaration names (a wrong declaration is a 401); every
operation is also called without it, which must then be refused (`ignored_auth`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestServer
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import CheckContext, CheckFunction, not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis.specs.openapi.schemas import OpenApiSchema

from service.analytics.timezones import non_whole_hour_offset
from service.app import create_app
from service.http.openapi import DOCUMENT
from service.identifiers import canonical_zone
from simulator.app import SIM_STATE, SimulatorConfig, create_simulator_app
from tests.conftest import SIM_KEY, Sim, make_settings
from tests.redis_server import RedisServer

API_TOKEN = "fuzz-api-token-0123456789"
ADMIN_TOKEN = "fuzz-admin-token-0123456789"
MAX_RANGE_DAYS = 31  # a month: a cold answer is a few upstream pages, so the run stays quick
EXAMPLES = {"/api/export": 15}  # a PDF render takes a while: fewer of them
EXAMPLES_DEFAULT = 50
# Zones whose offsets are whole hours in every year from 2000 to 2099, in spellings the code
# folds (case, alias, spaces): what a repaired body's tz is drawn from.
ZONES = ["UTC", "Europe/Helsinki", "america/new_york", "Europe/Kiev", "Asia/Tokyo", " GMT "]


class LiveService:
    """The simulator (no rate limit) and the service on real ports, served by a thread with
    its own event loop, so that Schemathesis' blocking client can call them from a test."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-service", daemon=True)

    def __enter__(self) -> LiveService:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or not self.url:
            raise RuntimeError("the service did not start") from self._error
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = create_simulator_app(SimulatorConfig(api_keys=(SIM_KEY,)))
        async with TestServer(app) as sim_server:
            sim = Sim(sim_server, app[SIM_STATE], str(sim_server.make_url("")).rstrip("/"))
            settings = make_settings(
                sim,
                self.redis_url,
                API_TOKEN=API_TOKEN,
                ADMIN_TOKEN=ADMIN_TOKEN,
                MAX_RANGE_DAYS=str(MAX_RANGE_DAYS),
                UPSTREAM_MAX_WAIT_SECONDS="2",  # past it a cold answer is a 503 "still fetching"
            )
            async with TestServer(create_app(settings)) as server:
                self.url = str(server.make_url("")).rstrip("/")
                self._ready.set()
                await self._stop.wait()


@pytest.fixture(scope="module")
def live(redis_server: RedisServer) -> Iterator[LiveService]:
    redis_server.flush()
    with LiveService(redis_server.url) as service:
        yield service


@pytest.fixture(scope="module")
def schema(live: LiveService) -> OpenApiSchema:
    """The document as the service serves it (no token needed to read it)."""
    config = schemathesis.Config.from_dict(
        {
            # "Still fetching" is an answer, not a failure: `answered` below checks that a 503
            # is that one, with its Retry-After.
            "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
            # Each operation gets the token of the scheme its security names.
            "auth": {
                "openapi": {
                    "bearer": {"bearer": API_TOKEN},
                    "admin": {"bearer": ADMIN_TOKEN},
                    "basic": {"username": "ops", "password": ADMIN_TOKEN},
                }
            },
        }
    )
    loaded = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json", config=config)
    assert isinstance(loaded, OpenApiSchema)
    return loaded


def _breaks_the_tz_rule(body: dict[str, Any]) -> bool:
    """Whether the tz rule the document states in words (a known zone, whole-hour offsets
    over the range) rejects this body."""
    name = canonical_zone(body.get("tz", "UTC"))
    if name is None:
        return True
    start, end = date.fromisoformat(body["start"]), date.fromisoformat(body["end"])
    return non_whole_hour_offset(name, start, end) is not None


def answered(ctx: CheckContext, response: Response, case: Case) -> None:
    """Positive data acceptance, exactly: a schema-valid request is answered (200, or 304 for
    its ETag), or "still fetching" with Retry-After, or — only when its tz breaks the rule the
    document states in words — a 400 naming `tz`."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    asked = case.body if isinstance(case.body, dict) else case.query  # a POST's body, a GET's
    if status == 400 and isinstance(asked, dict) and "tz" in asked:
        assert response.json()["field"] == "tz", response.text
        assert _breaks_the_tz_rule(asked), response.text
    elif status == 503:
        assert response.json()["type"].endswith("/still-fetching"), response.text
    else:
        assert status in (200, 304), f"{status}: {response.text}"


CONFORMANCE: list[CheckFunction] = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
POSITIVE = [*CONFORMANCE, openapi_checks.ignored_auth, answered]
NEGATIVE = [*CONFORMANCE, openapi_checks.negative_data_rejection]


def repair(body: Any, data: st.DataObject | None) -> None:
    """Bring a schema-valid body within the rules JSON Schema cannot state and the document
    states in words: start <= end, at most MAX_RANGE_DAYS days; and (half the time, when
    drawing) a zone the tz rule accepts. test_validation.py pins the 400s of these rules."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("start"), str) and isinstance(body.get("end"), str):
        start, end = sorted(date.fromisoformat(body[k]) for k in ("start", "end"))
        end = min(end, start + timedelta(days=MAX_RANGE_DAYS - 1))
        body["start"], body["end"] = start.isoformat(), end.isoformat()
    if data is not None and "tz" in body and data.draw(st.booleans(), label="repair tz"):
        body["tz"] = data.draw(st.sampled_from(ZONES), label="tz")


def _bearer(operation: APIOperation) -> dict[str, str]:
    """The Authorization header the operation's declared security asks for."""
    schemes = {name for need in operation.definition.raw.get("security", []) for name in need}
    return {"Authorization": f"Bearer {ADMIN_TOKEN if 'admin' in schemes else API_TOKEN}"}


OPERATIONS = [(path, method) for path, item in DOCUMENT["paths"].items() for method in item]
# What a client sends: a body (the POSTs) or query parameters (the answers' GETs).
INPUTS = [
    (path, method)
    for path, method in OPERATIONS
    if method == "post" or DOCUMENT["paths"][path][method].get("parameters")
]


def fuzz(live: LiveService, operation: APIOperation, mode: GenerationMode) -> Counter[int]:
    """Run Hypothesis-generated cases of one mode; the statuses seen, counted."""
    session, seen = requests.Session(), Counter[int]()
    checks = POSITIVE if mode.is_positive else NEGATIVE
    # Negative cases keep the token, so that what is broken is the request itself (the
    # coverage cases send one without it).
    fixed = None if mode.is_positive else _bearer(operation)

    @hypothesis.settings(
        max_examples=EXAMPLES.get(operation.path, EXAMPLES_DEFAULT),
        deadline=None,
        derandomize=True,  # the same cases every run
        database=None,
    )
    @hypothesis.given(
        case=operation.as_strategy(generation_mode=mode, headers=fixed), data=st.data()
    )
    def run(case: Case, data: st.DataObject) -> None:
        if mode.is_positive:
            repair(case.body, data)
            repair(case.query, data)
            assert case.meta is not None and case.meta.generation.mode.is_positive, case.body
        response = case.call(base_url=live.url, session=session)
        seen[response.status_code] += 1
        case.validate_response(response, checks=checks)

    run()
    return seen


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_coverage_cases_are_answered_as_documented(
    live: LiveService, schema: OpenApiSchema, path: str, method: str
) -> None:
    """Schemathesis' coverage cases (each optional field, enum value and example; each wrong
    type, broken pattern, missing field, stray field, media type and method) are answered as
    the document says."""
    operation = schema[path][method]
    session = requests.Session()
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=list(GenerationMode),
        generation_config=schema.config.generation_for(operation=operation),
    )
    for case in cases:
        assert case.meta is not None
        positive = case.meta.generation.mode.is_positive
        if positive:
            repair(case.body, None)
            repair(case.query, None)
        response = case.call(base_url=live.url, session=session, headers=_bearer(operation))
        case.validate_response(response, checks=POSITIVE if positive else NEGATIVE)


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_schema_valid_requests_are_answered_as_documented(
    live: LiveService, schema: OpenApiSchema, path: str, method: str
) -> None:
    """Generated schema-valid requests are accepted, and every answer matches the document."""
    seen = fuzz(live, schema[path][method], GenerationMode.POSITIVE)
    assert seen[200] > 0, seen  # the answers themselves were checked, not only refusals


@pytest.mark.parametrize(("path", "method"), INPUTS)
def test_schema_invalid_requests_are_a_4xx_problem(
    live: LiveService, schema: OpenApiSchema, path: str, method: str
) -> None:
    """Generated schema-invalid bodies and query parameters get a documented 4xx
    problem+json, never a 500."""
    seen = fuzz(live, schema[path][method], GenerationMode.NEGATIVE)
    assert seen[400] > 0, seen
