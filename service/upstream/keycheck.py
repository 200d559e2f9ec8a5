"""Does Voiceflow accept the configured key? Asked by one process of the fleet per interval.

Readiness must not hang on user traffic: a pod out of rotation gets none, so a rejection
remembered from traffic would keep it out after the key is fixed. Nor does one project's
401 say much: a workspace key may legitimately not read some project. So readiness reads
the fleet's last check from the store and, when it is older than the interval, starts the
next one in the background: one small request (top_intents, limit 1, the last hour) for a
project the key should read. The lease on it is held for the whole interval, never released
early, so by the store's clock one process of the fleet asks per interval, and every process
reports what it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import orjson

from service.config.secret import Secret
from service.errors import UpstreamAuthError, UpstreamError
from service.fleet.priority import background
from service.store.base import Store
from service.store.keys import KEY_CHECK_TTL_SECONDS, READABLE_PROJECT_TTL_SECONDS, Keys
from service.upstream.voiceflow import VoiceflowClient

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 10.0  # slower than this is "degraded": a probe is told, not kept guessing
FIRST_WAIT_SECONDS = 1.0  # with no result yet, a probe waits this long for the first one
WINDOW = timedelta(hours=1)  # a short window: the cheapest question Voiceflow can answer


@dataclass(frozen=True, slots=True)
class KeyCheckResult:
    status: str  # "ok", "fail" (the key is rejected) or "degraded" (Voiceflow is failing)
    detail: str  # never the key itself
    checked_at: float | None  # Unix time of the answer; None: not checked yet
    project: str | None = None  # the project asked about

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: bytes) -> KeyCheckResult | None:
        try:
            return cls(**orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError):
            return None  # another version's format: as if never checked


class KeyCheck:
    """One per process; `result()` is what readiness reports."""

    def __init__(
        self,
        store: Store,
        keys: Keys,
        client: VoiceflowClient,
        api_key: Secret,
        *,
        interval: float,
        projects: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._client = client
        self._interval = interval
        self._projects = projects  # the warmer's configured projects: a last resort
        self._clock = clock
        self._timeout = min(interval, CHECK_TIMEOUT_SECONDS)  # done before the next is due
        key_id = hashlib.blake2b(api_key.reveal().encode(), digest_size=10).hexdigest()
        # Per key: while a new key rolls out, pods with the old one do not speak for it.
        self._result_key = keys.key_check(key_id)
        self._project_key = keys.readable_project(key_id)
        self._lease = Keys.lease(self._result_key)
        self._token = secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None
        self._not_before = 0.0  # monotonic: another process holds the lease until then
        self._published: str | None = None  # the readable project this process last stored

    async def result(self) -> KeyCheckResult:
        """The fleet's last check; starts the next in the background when it is due. Waits
        on Voiceflow only for the very first check, and at most FIRST_WAIT_SECONDS."""
        await self._publish_readable()
        last = await self._read()
        if last is None or last.checked_at is None or self._due(last.checked_at):
            task = await self._start()
            if task is not None and last is None:
                await asyncio.wait({task}, timeout=FIRST_WAIT_SECONDS)
                last = await self._read()
        if last is None:
            return KeyCheckResult("ok", "not checked yet: the first check is under way", None)
        return last

    async def close(self) -> None:
        """Stop a check under way; its lease goes, so another process need not wait it out."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):  # it expires anyway
            await self._store.release([self._lease], self._token)

    def _due(self, checked_at: float) -> bool:
        return self._clock() - checked_at >= self._interval

    async def _read(self) -> KeyCheckResult | None:
        raw = await self._store.get(self._result_key)
        return None if raw is None else KeyCheckResult.loads(raw)

    async def _publish_readable(self) -> None:
        """Tell the fleet which project this process last read: any process may check next."""
        project = self._client.readable_project
        if project is not None and project != self._published:
            await self._store.set(self._project_key, project.encode(), READABLE_PROJECT_TTL_SECONDS)
            self._published = project

    async def _start(self) -> asyncio.Task[None] | None:
        """The check under way in this process, or a new one if this process wins the lease."""
        if self._task is not None and not self._task.done():
            return self._task
        if time.monotonic() < self._not_before:
            return None
        token = secrets.token_hex(8)
        [left] = await self._store.acquire([self._lease], token, self._interval)
        if left > 0:  # checked (or being checked) elsewhere; try again once that lease lapses
            self._not_before = time.monotonic() + left
            return None
        self._token = token
        self._task = asyncio.create_task(self._run(), name="voiceflow-key-check")
        return self._task

    async def _run(self) -> None:
        try:
            result = await self._ask()
            await self._store.set(self._result_key, result.dumps(), KEY_CHECK_TTL_SECONDS)
        except Exception:  # a background task: nobody else would hear of it
            log.exception("voiceflow key check failed")
            return
        if result.status != "ok":
            log.warning("voiceflow key check: %s: %s", result.status, result.detail)

    async def _ask(self) -> KeyCheckResult:
        project = await self._project()
        if project is None:
            return KeyCheckResult(
                "ok",
                "not checked: no project known to be readable (not a Dialog Manager key, no "
                "answer from Voiceflow yet, no project in the warmer's config)",
                self._clock(),
            )
        end = datetime.now(UTC)
        try:
            with background():  # behind users' misses, within the fleet's budget
                async with asyncio.timeout(self._timeout):
                    await self._client.top_intents(project, end - WINDOW, end, limit=1)
        except UpstreamAuthError:
            status, detail = "fail", "Voiceflow rejected VOICEFLOW_API_KEY (401/403)"
        except TimeoutError:
            status = "degraded"
            detail = f"Voiceflow did not answer within {self._timeout:g} s (slow, or rate limited)"
        except UpstreamError as exc:  # its outage, not our key: no reason to leave rotation
            status, detail = "degraded", f"Voiceflow is failing: {exc.detail}"
        else:
            status, detail = "ok", "Voiceflow accepted VOICEFLOW_API_KEY"
        return KeyCheckResult(status, f"{detail} for project {project}", self._clock(), project)

    async def _project(self) -> str | None:
        """A project the key should read: a Dialog Manager key's own; else the last one read
        by this process, then by the fleet; else the warmer's first configured project."""
        if self._client.key_project is not None:
            return self._client.key_project
        if self._client.readable_project is not None:
            return self._client.readable_project
        stored = await self._store.get(self._project_key)
        if stored is not None:
            return stored.decode()
        return self._projects[0] if self._projects else None
