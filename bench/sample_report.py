"""`python -m bench.sample_report` (or `make sample-report`): the sample report under docs/.

A 30-day PDF of the bundled demo data, exported through the running service exactly as a
client would get it, then rasterized page by page with pdftoppm so anyone can see it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

import aiohttp

from bench.env import PROJECT, serve
from service.app import create_app
from service.config.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"
ASK = {
    "project_id": PROJECT,
    "start": "2025-06-01",
    "end": "2025-06-30",
    "tz": "Europe/Helsinki",
    "format": "pdf",
    "page_size": "A4",
}
DPI = 90  # an A4 page is 744 x 1052 px: readable on screen, small in the repository


async def export() -> bytes:
    """Demo mode: no Voiceflow key and no Redis, the embedded defaults of a first run."""
    app = create_app(Settings.from_env({}))
    async with (
        serve(app) as url,
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/export", json=ASK) as resp,
    ):
        if resp.status != 200:
            raise SystemExit(f"export failed: {resp.status} {await resp.text()}")
        return await resp.read()


def main() -> None:
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm is not installed: `make system-deps` installs poppler-utils")
    pdf = asyncio.run(export())
    for old in DOCS.glob("sample-report-*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.pdf"
        path.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", str(DPI), "-png", str(path), str(DOCS / "sample-report")],
            check=True,
        )
    for page in sorted(DOCS.glob("sample-report-*.png")):
        print(page.relative_to(DOCS.parent))


if __name__ == "__main__":
    main()
