"""What the process fault tests share: questions, a client load that keeps every answer, a
reference service that says what each answer should be, and the one-line report."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import aiohttp
import orjson

from service.config.settings import Settings

KEY = "VF.WS.fault-test-key-0123456789"
# A request waits at most UPSTREAM_MAX_WAIT_SECONDS for an answer being fetched (the default,
# which these tests keep); each Redis command adds at most 0.5 s, a pool wait 1 s. SLACK is
# for two shared cores busy with other work, not for the service.
MAX_WAIT = Settings.from_env({}).upstream_max_wait
SLACK = 5.0
DEADLINE = MAX_WAIT + SLACK
RETRY_CAP = 1.0  # clients poll at least this often on a 503, so recovery is seen promptly


@dataclass(frozen=True, slots=True)
class Question:
    kind: str  # overview | compare
    project: str
    start: str
    end: str

    @property
    def path(self) -> str:
        return f"/api/analytics/{self.kind}"

    def payload(self) -> dict[str, Any]:
        return {"project_id": self.project, "start": self.start, "end": self.end}


def questions(project: str, first: str, lengths: Iterable[int], starts: int = 1) -> list[Question]:
    """Overview and compare of each length, from `starts` consecutive first days on."""
    day0 = date.fromisoformat(first)
    out = []
    for offset in range(starts):
        begin = day0 + timedelta(days=offset)
        for length in lengths:
            end = begin + timedelta(days=length - 1)
            for kind in ("overview", "compare"):
                out.append(Question(kind, project, begin.isoformat(), end.isoformat()))
    return out


def digest(body: dict[str, Any]) -> bytes:
    """An answer's data, without its meta (times differ between any two computations)."""
    return orjson.dumps({k: v for k, v in body.items() if k != "meta"}, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class Sample:
    started: float  # monotonic
    seconds: float
    status: int | str  # the HTTP status, or the client error's name
    cache: str
    retry_after: str | None
    problem: bool  # a 503's body is application/problem+json
    question: Question
    url: str


async def ask(session: aiohttp.ClientSession, url: str, q: Question) -> tuple[Sample, bytes | None]:
    """One request; its sample, and the answer's digest when it is a 200."""
    started = time.monotonic()
    try:
        async with session.post(url + q.path, json=q.payload()) as resp:
            raw = await resp.read()
            status: int | str = resp.status
            cache, retry = resp.headers.get("X-Cache", ""), resp.headers.get("Retry-After")
            problem = resp.content_type == "application/problem+json"
    except (aiohttp.ClientError, TimeoutError) as exc:
        sample = Sample(
            started, time.monotonic() - started, type(exc).__name__, "", None, False, q, url
        )
        return sample, None
    sample = Sample(started, time.monotonic() - started, status, cache, retry, problem, q, url)
    return sample, digest(orjson.loads(raw)) if status == 200 else None


def session() -> aiohttp.ClientSession:
    # Far past the deadline: a request that hangs shows as one too slow, not a stuck test.
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE + 30))


@dataclass
class Answers:
    """Every 200 seen, per question (a digest per distinct answer)."""

    seen: dict[Question, set[bytes]] = field(default_factory=dict)

    def add(self, q: Question, body: bytes | None) -> None:
        if body is not None:
            self.seen.setdefault(q, set()).add(body)


async def until_answered(
    session: aiohttp.ClientSession, urls: Callable[[], str], q: Question, answers: Answers
) -> list[Sample]:
    """Ask as a patient client does (503: wait Retry-After, capped) until a 200, or until
    an answer no client would ask again for (the caller's checks see its status)."""
    samples = []
    while True:
        sample, body = await ask(session, urls(), q)
        samples.append(sample)
        answers.add(q, body)
        if sample.status == 200 or (isinstance(sample.status, int) and sample.status != 503):
            return samples
        if sample.status == 503 and sample.retry_after is not None:
            await asyncio.sleep(min(float(sample.retry_after), RETRY_CAP))
        else:
            await asyncio.sleep(0.1)  # a refused connection: a load balancer's retry


class Load:
    """Client loops asking warm and cold questions in turn until stopped; all samples kept."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        warm: Sequence[Question],
        cold: Sequence[Question],
        clients: int = 4,
    ) -> None:
        self._session, self._url = session, url
        self._warm, self._cold = warm, cold
        self._clients = clients
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.samples: list[Sample] = []
        self.answers = Answers()

    async def _loop(self, rng: random.Random) -> None:
        while not self._stop.is_set():
            q = rng.choice(self._warm) if rng.random() < 0.6 else rng.choice(self._cold)
            sample, body = await ask(self._session, self._url, q)
            self.samples.append(sample)
            self.answers.add(q, body)
            pause = 0.02
            if sample.status == 503 and sample.retry_after is not None:
                pause = min(float(sample.retry_after), RETRY_CAP)
            await asyncio.sleep(pause)

    async def __aenter__(self) -> Load:
        self._tasks = [
            asyncio.create_task(self._loop(random.Random(i))) for i in range(self._clients)
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def between(self, first: float, last: float) -> list[Sample]:
        return [s for s in self.samples if first <= s.started < last]


def violations(samples: Iterable[Sample], allowed: frozenset[str] = frozenset()) -> list[str]:
    """What breaks the contract: anything but 200, 304 or a 503 problem with Retry-After
    (client errors named in `allowed` aside), or an answer later than the deadline."""
    bad = []
    for s in samples:
        honest = s.status == 503 and s.problem and s.retry_after is not None
        if s.status not in (200, 304) and not honest and s.status not in allowed:
            bad.append(f"{s.status} for {s.question} from {s.url}")
        elif s.seconds > DEADLINE:
            bad.append(f"{s.status} after {s.seconds:.1f} s for {s.question} from {s.url}")
    return bad


def seen_by_client(samples: Sequence[Sample]) -> str:
    """What a client saw, e.g. `200 x412 (HIT 300, MISS 112), 503 x3; slowest 1.20 s`."""
    statuses = Counter(s.status for s in samples)
    caches = Counter(s.cache for s in samples if s.status == 200)
    parts = []
    for status, n in sorted(statuses.items(), key=lambda kv: str(kv[0])):
        text = f"{status} x{n}"
        if status == 200:
            text += " (" + ", ".join(f"{c} {k}" for c, k in sorted(caches.items())) + ")"
        parts.append(text)
    worst = max((s.seconds for s in samples), default=0.0)
    return f"{', '.join(parts)}; slowest {worst:.2f} s"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def seconds_until(
    condition: Callable[[], Awaitable[bool]], since: float, within: float
) -> float:
    """Poll `condition` until it holds: the seconds from `since` (monotonic) it took."""
    while not await condition():
        assert time.monotonic() - since < within, f"not recovered within {within} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - since


async def until(condition: Callable[[], bool], within: float, what: str) -> None:
    """Poll a plain `condition` (a look at a log, the simulator) until it holds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)


async def not_degraded(session: aiohttp.ClientSession, url: str) -> bool:
    """The process is back on Redis (`/health` says `degraded: false`)."""
    try:
        async with session.get(url + "/health") as resp:
            return (await resp.json())["degraded"] is False
    except aiohttp.ClientError:
        return False


async def all_hit(session: aiohttp.ClientSession, url: str, qs: Sequence[Question]) -> bool:
    """Every question answered from the cache (a miss starts its refill meanwhile); none
    answered against the contract."""
    samples = [s for s, _ in await asyncio.gather(*(ask(session, url, q) for q in qs))]
    assert not violations(samples), violations(samples)[:10]
    return all((s.status, s.cache) == (200, "HIT") for s in samples)


async def wrong_answers(
    session: aiohttp.ClientSession, url: str, reference: Reference, answers: Answers
) -> list[str]:
    """Ask every question seen again (a patient client) and compare each answer, and each
    answered during the fault, with the reference: the questions whose data differ."""
    wrong = []
    gate = asyncio.Semaphore(8)

    async def check(q: Question) -> None:
        async with gate:
            last = (await until_answered(session, lambda: url, q, answers))[-1]
            truth = await reference.digest(session, q)
        if last.status != 200:
            wrong.append(f"{q}: {last.status} after the fault")
        elif answers.seen[q] != {truth}:
            wrong.append(f"{q}: {len(answers.seen[q])} distinct answers, not the reference's")

    await asyncio.gather(*(check(q) for q in list(answers.seen)))
    return wrong


class Reference:
    """A service over an in-process store on the same simulator: what a clean cache answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._known: dict[Question, dict[str, Any]] = {}

    async def body(self, session: aiohttp.ClientSession, q: Question) -> dict[str, Any]:
        """The reference's answer (computed once: past days never change)."""
        while q not in self._known:
            async with session.post(self.url + q.path, json=q.payload()) as resp:
                if resp.status == 200:
                    self._known[q] = await resp.json()
                else:
                    assert resp.status == 503, await resp.text()
                    await asyncio.sleep(min(float(resp.headers["Retry-After"]), RETRY_CAP))
        return self._known[q]

    async def digest(self, session: aiohttp.ClientSession, q: Question) -> bytes:
        return digest(await self.body(session, q))


def report(name: str, client_sees: str, recovered: float, extra: str) -> str:
    """Print the fault's line, and append it to $FAULT_REPORT (the README table's source)."""
    line = f"FAULT {name} | {client_sees} | recovered in {recovered:.1f} s | {extra}"
    print(line)
    path = os.environ.get("FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    return line
