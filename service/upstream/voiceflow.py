"""Client of Voiceflow's analytics API (`POST /v2/query/usage`), exactly as documented.

It knows the wire protocol only: auth header, body shape, pagination, errors, retries.
Caching and planning live elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from service import metrics
from service.config.settings import Secret
from service.errors import (
    UpstreamAuthError,
    UpstreamBadAnswer,
    UpstreamBadRequest,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.fleet import tally
from service.fleet.budget import Budget
from service.fleet.priority import current
from service.upstream import answers, wire
from service.upstream.wire import iso_z, message, parse_retry_after

log = logging.getLogger(__name__)

QUERY_PATH = "/v2/query/usage"
PAGE_LIMIT = 500  # the documented maximum: the fewest requests per query
BACKOFF_BASE = 0.25  # seconds; doubled per retry, with full jitter
BACKOFF_CAP = 4.0

Row = dict[str, Any]


class VoiceflowClient:
    """One per process, sharing one aiohttp session (connection pool)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: Secret,
        *,
        timeout: float,
        deadline: float,
        max_retries: int,
        max_pages: int,
        budget: Budget | None = None,
        concurrency: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + QUERY_PATH
        self._key = api_key
        self._timeout = timeout
        self._deadline = deadline
        self._max_retries = max_retries
        self._max_pages = max_pages
        self._budget = budget
        self._slots = asyncio.Semaphore(concurrency)  # upstream requests in flight, per process
        self._sleep = sleep
        # The last project Voiceflow answered 200 for: one the key surely reads, so readiness
        # asks about it (upstream/keycheck.py). A 401/403 is not kept here: a workspace key may
        # legitimately not read some project, and one project says nothing of the key.
        self.readable_project: str | None = None
        parts = api_key.reveal().split(".")
        # A project (Dialog Manager) key, VF.DM.<project>.<secret>, reads only its project.
        self.key_project = parts[2] if len(parts) > 3 and parts[1] == "DM" else None

    async def rows(self, project_id: str, name: str, start: datetime, end: datetime) -> list[Row]:
        """Every row of list metric `name` with start <= period <= end, all pages."""
        rows: list[Row] = []
        async for items, _cursor in self.pages(project_id, name, start, end):
            rows.extend(items)
        return rows

    async def pages(
        self,
        project_id: str,
        name: str,
        start: datetime,
        end: datetime,
        *,
        cursor: Any = None,
        pages_done: int = 0,
    ) -> AsyncIterator[tuple[list[Row], Any]]:
        """Each page of list metric `name` over [start, end] with the cursor after it (None
        after the last), from `cursor` on: a fetch checkpointed after `pages_done` pages
        resumes where it stopped, in this process or another."""
        base = {
            "projectID": project_id,
            "startTime": iso_z(start),
            "endTime": iso_z(end),
            "limit": PAGE_LIMIT,
        }
        checked = answers.ListAnswers(name, project_id, start, end, PAGE_LIMIT, cursor)
        for page in range(pages_done, self._max_pages):
            what = f"{name} page {page + 1}"
            filt = base if cursor is None else {**base, "cursor": cursor}
            items, cursor = checked.page(await self._query(name, what, filt, project_id), what)
            yield items, cursor
            if cursor is None:
                return
        raise UpstreamBadAnswer(
            f"Voiceflow's cursor for {name} of project {project_id} did not end within "
            f"{self._max_pages} pages (UPSTREAM_MAX_PAGES); refusing to return a partial answer"
        )

    async def top_intents(
        self, project_id: str, start: datetime, end: datetime, limit: int = PAGE_LIMIT
    ) -> list[Row]:
        """The top intents over [start, end], count descending (one request, no pages)."""
        filt = {
            "projectID": project_id,
            "startTime": iso_z(start),
            "endTime": iso_z(end),
            "limit": limit,
        }
        result = await self._query("top_intents", "top_intents", filt, project_id)
        return answers.intents(result, limit)

    async def _query(
        self, name: str, what: str, filt: dict[str, Any], project_id: str
    ) -> dict[str, Any]:
        """One page (`what`, as errors name it): its `result` object. Retries 5xx/timeouts
        with backoff and waits out 429s; a 200 the contract does not allow is not retried.

        Waiting for the budget has no limit here: a fetch goes on whether or not anyone still
        waits for it (the requester bounds its own wait). The deadline bounds the page's own
        time from its first token on: its attempts, backoffs and Retry-After waits."""
        body = orjson.dumps({"data": {"name": name, "filter": filt}})
        headers = {
            "authorization": self._key.reveal(),
            "content-type": "application/json",
            "accept": "application/json",
        }
        failures = 0
        deadline: float | None = None
        while True:
            if self._budget is not None:
                await self._budget.acquire()
            deadline = deadline or time.monotonic() + self._deadline
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout(f"Voiceflow did not answer {name} within the deadline")
            try:
                status, retry_after, payload = await self._post(name, body, headers, remaining)
            except (TimeoutError, aiohttp.ServerTimeoutError):
                status, retry_after, payload = 0, None, None
                error: type[UpstreamTimeout | UpstreamUnavailable] = UpstreamTimeout
                reason = "timed out"
            except aiohttp.ClientError as exc:
                status, retry_after, payload = 0, None, None
                error, reason = UpstreamUnavailable, f"connection failed ({type(exc).__name__})"
            else:
                if self._budget is not None:
                    await self._budget.observe(status)  # a probing budget learns from it
                if status == 200:
                    self.readable_project = project_id
                    return _result(payload, what)
                error, reason = UpstreamUnavailable, f"answered {status}"

            if status in (401, 403):
                raise UpstreamAuthError(
                    f"Voiceflow answered {status} for project {project_id}: the configured "
                    "VOICEFLOW_API_KEY is wrong or cannot read this project"
                )
            if status == 429:
                wait = retry_after if retry_after is not None else 1.0
                if self._budget is not None:
                    # Every process pauses; acquire() waits it out. Not a failure of this page:
                    # its deadline starts again with its next token.
                    await self._budget.pause(wait)
                    deadline = None
                    continue
                if time.monotonic() + wait > deadline:
                    raise UpstreamRateLimited(
                        f"Voiceflow is rate limiting this API key for {wait:.0f} s",
                        retry_after=wait,
                    )
                log.warning("voiceflow 429 on %s; waiting %.1f s as Retry-After says", name, wait)
                await self._sleep(wait)
                continue
            if 400 <= status < 500:
                raise UpstreamBadRequest(
                    f"Voiceflow answered {status} to {name}: {message(payload)}"
                )
            failures += 1
            if failures > self._max_retries:
                raise error(f"Voiceflow {reason} on {name} after {failures} attempts")
            pause = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1)))
            log.warning(
                "voiceflow %s on %s (attempt %d); retrying in %.2f s", reason, name, failures, pause
            )
            await self._sleep(min(pause, max(0.0, deadline - time.monotonic())))

    async def _post(
        self, name: str, body: bytes, headers: dict[str, str], remaining: float
    ) -> tuple[int, float | None, Any]:
        """One request, counted: in the tallies, the metrics and the log (with the request
        id of whoever caused it: the logging context is the caller's)."""
        async with self._slots:
            tally.count()
            started = time.perf_counter()
            outcome, rows = "error", 0
            try:
                status, retry_after, payload = await self._send(body, headers, remaining)
                outcome, rows = wire.outcome(status), wire.rows(payload) if status == 200 else 0
                return status, retry_after, payload
            except (TimeoutError, aiohttp.ServerTimeoutError):
                outcome = "timeout"
                raise
            finally:
                seconds = time.perf_counter() - started
                metrics.UPSTREAM_REQUESTS.labels(name, current().label(), outcome).inc()
                metrics.UPSTREAM_DURATION.labels(name).observe(seconds)
                if rows:
                    metrics.UPSTREAM_ROWS.labels(name).inc(rows)
                log.info(
                    "voiceflow %s: %s in %.0f ms, %d rows",
                    name,
                    outcome,
                    seconds * 1000,
                    rows,
                    extra={"upstream": name, "outcome": outcome, "rows": rows},
                )

    async def _send(
        self, body: bytes, headers: dict[str, str], remaining: float
    ) -> tuple[int, float | None, Any]:
        timeout = aiohttp.ClientTimeout(total=min(self._timeout, remaining))
        async with self._session.post(
            self._url, data=body, headers=headers, timeout=timeout
        ) as resp:
            raw = await resp.read()
            try:
                payload = orjson.loads(raw) if raw else MALFORMED
            except orjson.JSONDecodeError:
                payload = MALFORMED
            return resp.status, parse_retry_after(resp.headers.get("Retry-After")), payload


MALFORMED = object()  # a body that is not JSON (a cut transfer fails in read(), retried)


def _result(payload: Any, what: str) -> dict[str, Any]:
    """The `result` object of a 200. A whole body that is not JSON is not retried: it came
    complete (a cut transfer fails in read() and is retried as a broken connection), so it is
    what something on the way answers every time — a proxy's page, a wrong URL."""
    if payload is MALFORMED:
        raise UpstreamBadAnswer(f"Voiceflow answered {what} with malformed JSON")
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict):
        shown = "no result" if result is None else "a result that is not an object"
        raise UpstreamBadAnswer(f"Voiceflow answered {what} with {shown}")
    return result
