"""The seed guide's web tier, as the hit-path baseline: Flask + redis-py + json, whole-range keys.

Served by gunicorn (`bench.baseline_web:app`). A hit is GET, json.loads, then jsonify — the
decode and re-encode our service skips. A miss asks ORIGIN_URL's overview endpoint for the
same JSON (the benchmark warms the key once, so only hits are measured).
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import redis
from flask import Flask, Response, jsonify, request

app = Flask(__name__)
r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
ORIGIN = os.environ.get("ORIGIN_URL", "http://127.0.0.1:8080")


def get_cached_or_fetch(key: str, fetch: Any, ttl: int = 300) -> Any:
    cached = r.get(key)
    if cached:
        return json.loads(cached)
    data = fetch()
    r.setex(key, ttl, json.dumps(data))
    return data


@app.post("/api/analytics/overview")
def overview() -> Response:
    body = request.get_json()
    key = f"overview:{body['project_id']}:{body['start']}:{body['end']}:{body.get('tz', 'UTC')}"

    def fetch() -> Any:
        req = urllib.request.Request(
            f"{ORIGIN}/api/analytics/overview",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    return jsonify(get_cached_or_fetch(key, fetch))
