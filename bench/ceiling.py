"""The ceiling: a bare aiohttp handler answering a constant body (`python -m bench.ceiling`)."""

from __future__ import annotations

import argparse

from aiohttp import web


def create(body: bytes, gzip: bool) -> web.Application:
    headers = {"Content-Encoding": "gzip"} if gzip else {}

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, headers=headers, content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/analytics/overview", handler)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    with open(args.body_file, "rb") as f:
        body = f.read()
    web.run_app(
        create(body, args.gzip), host="127.0.0.1", port=args.port, print=None, access_log=None
    )


if __name__ == "__main__":
    main()
