"""`python -m service`: read settings from the environment and serve. With WEB_CONCURRENCY
above 1 and a shared store (REDIS_URL or DATABASE_URL), it is the parent of that many web
processes (`service/workers.py`)."""

from __future__ import annotations

import logging
import os
import sys

from service import logs, workers
from service.config.settings import Settings, SettingsError
from service.config.worker import ALONE, Worker
from service.store.files import CacheDirInUse

SHUTDOWN_SECONDS = 10.0  # in-flight requests get this long after SIGTERM (platforms allow 30)
log = logging.getLogger("service")


def main() -> None:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"vf-analytics-cache: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(settings.log_level, settings.log_format)
    worker = Worker.from_env(os.environ)  # set when a parent started this process
    if worker is None:
        log.info("starting with %s", settings.describe())
    if worker is None and settings.web_concurrency > 1:
        if settings.shared_store:
            raise SystemExit(workers.supervise(settings.web_concurrency, SHUTDOWN_SECONDS))
        log.warning(
            "WEB_CONCURRENCY=%d ignored: serving from this one process, with no shared store. "
            "The %s is for one process: %d processes would each keep their own cache, single "
            "flight and upstream budget (%d times the rate). Set REDIS_URL or DATABASE_URL to "
            "run several.",
            settings.web_concurrency,
            settings.store_name,
            *(settings.web_concurrency,) * 2,
        )
    try:
        serve(settings, worker)
    except CacheDirInUse as exc:
        print(f"vf-analytics-cache: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(settings: Settings, worker: Worker | None) -> None:
    # Imported here: a parent of workers never serves, and stays small without them.
    from aiohttp import web

    from service.app import create_app

    app = create_app(settings, worker or ALONE)
    if worker is not None:
        app.cleanup_ctx.append(workers.orphan_watch)
    where = "" if worker is None else f" as worker {worker.marker} (pid {os.getpid()})"
    log.info("serving on http://%s:%d%s", settings.host, settings.port, where)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        shutdown_timeout=SHUTDOWN_SECONDS,
        reuse_port=True if worker else None,  # None: aiohttp's default, as with no workers
    )


if __name__ == "__main__":
    main()
