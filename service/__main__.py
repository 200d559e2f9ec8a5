"""`python -m service`: read settings from the environment and serve."""

from __future__ import annotations

import logging
import os
import sys

from aiohttp import web

from service import logs
from service.app import create_app
from service.config.settings import Settings, SettingsError

SHUTDOWN_SECONDS = 10.0  # in-flight requests get this long after SIGTERM (platforms allow 30)


def main() -> None:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"vf-analytics-cache: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(settings.log_level, settings.log_format)
    log = logging.getLogger("service")
    log.info("starting with %s", settings.describe())
    log.info("serving on http://%s:%d", settings.host, settings.port)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )


if __name__ == "__main__":
    main()
