"""Every object kept on the application, each under one typed key."""

from __future__ import annotations

from aiohttp import web

from service.analytics.service import Analytics
from service.config.settings import Settings
from service.config.worker import Worker
from service.core import Core
from service.exports.pool import RenderPool
from service.http.ops_history import History
from service.store.base import Store

SETTINGS = web.AppKey("settings", Settings)
SOURCE = web.AppKey("source", str)  # "voiceflow" or "demo"
CORE = web.AppKey("core", Core)  # everything below is part of it, kept for short lookups
STORE = web.AppKey("store", Store)
ANALYTICS = web.AppKey("analytics", Analytics)
EXPORTS = web.AppKey("exports", RenderPool)
WORKER = web.AppKey("worker", Worker)  # which of the host's web processes this is
OPS_HISTORY = web.AppKey("ops_history", History)  # this process's last minutes, for GET /ops
