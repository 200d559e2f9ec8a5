"""The render pool: export builders run in a few worker processes, a bounded number at once.

Processes, not threads: pandas and reportlab hold the GIL for most of their work. With two
renders in threads of the web process, its event loop stalled for 74-219 ms and cached
overviews' p99 rose from about 8 ms to 77-109 ms (bench/exports.py); with worker processes
at a lower CPU priority, the loop only waits on a pipe (stalls about 10 ms, p99 about 13 ms).

A request that cannot get a slot in time is told to retry (503 + Retry-After) instead of
queueing without limit. A slot is held until its render ends, even if the client hangs up,
so the bound holds.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

from service import metrics
from service.errors import ServiceUnavailable
from service.exports import jobs

log = logging.getLogger(__name__)

T = TypeVar("T")

SLOT_WAIT_SECONDS = 5.0  # a queued export waits this long for a renderer; a person is watching
WORKER_NICENESS = 10  # the OS weighs a worker at about a tenth of the web process
RETRY_AFTER_SECONDS = 5.0  # renders take well under a second: the queue has drained by then
RENDER_TIMEOUT_SECONDS = 60.0  # a 366-day PDF renders in about a second; this is a hang


class RenderPool:
    """Export renders in `workers` worker processes; more requests than that wait briefly."""

    def __init__(
        self,
        workers: int,
        *,
        wait: float = SLOT_WAIT_SECONDS,
        timeout: float = RENDER_TIMEOUT_SECONDS,
    ) -> None:
        self.workers = workers
        self.wait = wait
        self.timeout = timeout
        self.slots = asyncio.Semaphore(workers)
        self.running = 0  # renders submitted and not yet finished
        # Started by the first render, not here: most processes (and tests) never export.
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._renders: set[asyncio.Task[Any]] = set()

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        """`job(*args)` in a worker once a slot is free; 503 if none frees in time."""
        try:
            async with asyncio.timeout(self.wait):
                await self.slots.acquire()
        except TimeoutError:
            raise ServiceUnavailable(
                "every export renderer is busy; retry shortly", retry_after=RETRY_AFTER_SECONDS
            ) from None
        self.running += 1
        render = asyncio.create_task(self._render(job, args))
        self._renders.add(render)
        render.add_done_callback(self._finished)
        return await asyncio.shield(render)  # a cancelled request leaves the render to finish

    async def _render(self, job: Callable[..., T], args: tuple[Any, ...]) -> T:
        executor = None
        kind = job.__name__.removesuffix("_file")  # csv_file, pdf_file: the format
        started, outcome = time.perf_counter(), "error"
        try:
            # In a thread: starting the pool and its workers takes a while.
            executor, future = await asyncio.to_thread(self._submit, job, args)
            async with asyncio.timeout(self.timeout):
                done = await asyncio.wrap_future(future)
            outcome = "ok"
            metrics.EXPORT_DURATION.labels(kind).observe(time.perf_counter() - started)
            return done
        except TimeoutError:
            outcome = "timeout"
            future.cancel()
            if executor is not None:
                self._retire(executor)
            raise ServiceUnavailable(
                f"the export took over {self.timeout:.0f} s to render",
                retry_after=RETRY_AFTER_SECONDS,
            ) from None
        except BrokenProcessPool:
            if executor is not None and executor is self._executor:  # the first to notice
                log.error("an export worker died; new workers start with the next render")
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise ServiceUnavailable(
                "the export renderer stopped; retry", retry_after=RETRY_AFTER_SECONDS
            ) from None
        finally:
            metrics.EXPORT_RENDERS.labels(kind, outcome).inc()
            self.running -= 1
            self.slots.release()

    def _submit(
        self, job: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[ProcessPoolExecutor, Future[T]]:
        with self._lock:
            if self._executor is None:
                self._executor = _new_executor(self.workers)
            executor = self._executor
            try:
                return executor, executor.submit(job, *args)
            except BrokenProcessPool:
                # A worker died while idle: the pool refuses work. Start a new one, once.
                log.error("an idle export worker died; starting new workers")
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = _new_executor(self.workers)
                return self._executor, self._executor.submit(job, *args)

    def _retire(self, executor: ProcessPoolExecutor) -> None:
        """A render hung: its worker cannot be stopped but by killing it, and left alone it
        would hold a worker while its slot is handed out again. So the pool's processes are
        killed (renders still running on them answer 503, retry) and the next render starts
        new ones."""
        log.error("an export render hung past %.0f s; restarting the export workers", self.timeout)
        with self._lock:
            if executor is self._executor:
                self._executor = None
        # No public way to stop a running task: the executor's own process table.
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def _finished(self, render: asyncio.Task[Any]) -> None:
        self._renders.discard(render)
        if not render.cancelled():
            render.exception()  # seen: if its request was cancelled, nobody else reads it

    async def close(self) -> None:
        await asyncio.gather(*self._renders, return_exceptions=True)
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)


def _new_executor(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=_context(), initializer=_lower_priority)


def _lower_priority() -> None:
    """In each worker: when CPUs are short, the OS runs the web process first, so a render
    waits a little instead of the requests behind it."""
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)


def _context() -> BaseContext:
    """forkserver: workers fork from a server that imported pandas and reportlab once, so a
    new worker starts in milliseconds, and this multi-threaded process itself never forks."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([jobs.__name__, *jobs.HEAVY_MODULES])
    return context
