"""`python -m service`: read settings from the environment and serve."""

from __future__ import annotations

import logging
import os
import sys

from aiohttp import web

from .app import create_app
from .settings import Settings, SettingsError


def main() -> None:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"vf-analytics-cache: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("service").info("starting with %s", settings.describe())
    web.run_app(
        create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
