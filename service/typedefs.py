"""Every object kept on the application, each under one typed key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web

from .analytics import Analytics
from .exports.pool import RenderPool
from .settings import Settings
from .store import Store
from .voiceflow import VoiceflowClient

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", VoiceflowClient)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
ANALYTICS = web.AppKey("analytics", Analytics)
SOURCE = web.AppKey("source", str)  # "voiceflow" or "demo"
EXPORTS = web.AppKey("exports", RenderPool)
