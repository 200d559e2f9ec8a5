"""Several web processes on one host: `WEB_CONCURRENCY=N` (with REDIS_URL) makes
`python -m service` this small parent of N workers.

Each worker is `python -m service` again, started with `VFAC_WORKER=<index>/<N>` in its
environment: exactly the single web process, with its own signal handling, logging, export
processes and drain, except that it binds PORT with `SO_REUSEPORT`, so the kernel spreads
new connections over the N listening sockets. Subprocesses rather than multiprocessing:
nothing (settings with secrets, sockets) is pickled or inherited, each worker reads the
same environment the parent did, the parent holds no event loop, and `ps` shows plain
commands. A worker is started in its own process group, so a terminal's Ctrl-C reaches the
parent only, which passes one SIGTERM on.

The parent: restarts a worker that dies (at once when it had run for a while; after a
doubling delay when it keeps dying young, so a crash loop does not spin); on SIGTERM or
SIGINT sends each worker SIGTERM, waits for the drain, SIGKILLs a worker that hangs past it,
and exits 0 when every worker drained (1 otherwise). A worker whose parent is gone (it was
SIGKILLed) drains and exits by itself (`orphan_watch`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.config.worker import WORKER_ENV, Worker

if TYPE_CHECKING:  # the parent never imports aiohttp: it stays small
    from aiohttp import web

log = logging.getLogger("service.workers")

POLL_SECONDS = 0.1  # how soon a death is noticed; the parent does nothing else
STABLE_SECONDS = 10.0  # a worker that lived this long was not crash looping: restart at once
FIRST_DELAY_SECONDS = 0.5  # then 1, 2, 4 ... while each replacement dies young
MAX_DELAY_SECONDS = 30.0
CLEANUP_SECONDS = 5.0  # past the drain, a worker closes its core and export processes
ORPHAN_CHECK_SECONDS = 1.0


def restart_delay(young_deaths: int) -> float:
    """Seconds before a worker's replacement starts, after this many deaths in a row each
    within STABLE_SECONDS of its start (0: it had run for a while)."""
    if young_deaths == 0:
        return 0.0
    return min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2.0 ** (young_deaths - 1))


@dataclass
class _Slot:
    worker: Worker
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    young_deaths: int = 0
    due: float = 0.0  # when a replacement may start (monotonic)


class Parent:
    def __init__(self, count: int, drain_seconds: float, environ: Mapping[str, str]) -> None:
        self.slots = [_Slot(Worker(i, count)) for i in range(count)]
        self.drain_seconds = drain_seconds
        self.environ = dict(environ)
        self.stopping: int | None = None  # the signal that asked the parent to stop

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit code (0: every worker drained)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        log.info("parent %d: %d workers on one port", os.getpid(), len(self.slots))
        while self.stopping is None:
            now = time.monotonic()
            for slot in self.slots:
                if slot.proc is not None and slot.proc.poll() is not None:
                    self._died(slot, now)
                if slot.proc is None and now >= slot.due:
                    self._start(slot)
            time.sleep(POLL_SECONDS)
        return self._drain(signal.Signals(self.stopping).name)

    def _stop(self, signum: int, _frame: object) -> None:
        self.stopping = signum

    def _start(self, slot: _Slot) -> None:
        env = {**self.environ, WORKER_ENV: slot.worker.marker}
        command = [sys.executable, "-m", "service"]
        slot.started = time.monotonic()
        try:
            slot.proc = subprocess.Popen(command, env=env, process_group=0)
        except OSError as exc:  # out of processes or memory: try again later, as after a crash
            slot.young_deaths += 1
            slot.due = slot.started + restart_delay(slot.young_deaths)
            log.error(
                "worker %s could not start (%s); next try in %.1f s",
                slot.worker.marker,
                exc,
                slot.due - slot.started,
            )
            return
        log.info("worker %s started: pid %d", slot.worker.marker, slot.proc.pid)

    def _died(self, slot: _Slot, now: float) -> None:
        assert slot.proc is not None
        pid, code, lived = slot.proc.pid, slot.proc.returncode, now - slot.started
        slot.young_deaths = slot.young_deaths + 1 if lived < STABLE_SECONDS else 0
        delay = restart_delay(slot.young_deaths)
        slot.proc, slot.due = None, now + delay
        log.error(
            "worker %s (pid %d) exited with %s after %.1f s; restarting it in %.1f s",
            *(slot.worker.marker, pid, _how(code), lived, delay),
        )

    def _drain(self, why: str) -> int:
        live = [s for s in self.slots if s.proc is not None and s.proc.poll() is None]
        log.info(
            "parent got %s: draining %d workers (up to %.0f s)", why, len(live), self.drain_seconds
        )
        for slot in live:
            assert slot.proc is not None
            slot.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.drain_seconds + CLEANUP_SECONDS
        clean = True
        for slot in live:
            assert slot.proc is not None
            try:
                code = slot.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "worker %s (pid %d) hung past the drain: SIGKILL",
                    slot.worker.marker,
                    slot.proc.pid,
                )
                with suppress(ProcessLookupError):  # it may have exited just now
                    os.killpg(slot.proc.pid, signal.SIGKILL)  # its export processes with it
                code = slot.proc.wait()
            # -SIGTERM: it was signalled before it had set up its handlers, so it held nothing
            clean = clean and code in (0, -signal.SIGTERM)
        log.info("parent %d: every worker stopped", os.getpid())
        return 0 if clean else 1


def _how(code: int) -> str:
    if code >= 0:
        return f"code {code}"
    try:
        return signal.Signals(-code).name
    except ValueError:  # a signal with no name (a real-time one)
        return f"signal {-code}"


def supervise(count: int, drain_seconds: float) -> int:
    return Parent(count, drain_seconds, os.environ).run()


@asynccontextmanager
async def orphan_watch(app: web.Application) -> AsyncIterator[None]:
    """In a worker: once its parent is gone (SIGKILLed: it could pass nothing on), drain and
    exit as on SIGTERM rather than serve on unsupervised."""
    parent = os.getppid()

    async def watch() -> None:
        while True:  # no event tells a child of its parent's death: ask now and then
            await asyncio.sleep(ORPHAN_CHECK_SECONDS)
            if os.getppid() != parent:
                break
        log.warning("parent %d is gone: this worker drains and exits", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    task = asyncio.create_task(watch())
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
