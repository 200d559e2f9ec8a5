"""The committed `openapi.json`: the document the default deployment serves (no API tokens,
no ADMIN_TOKEN), kept at the repository's root as the TypeScript client's build input.

    python -m service.http.openapi_file          # write it again (`make openapi`)
    python -m service.http.openapi_file --check  # exit 1 when it differs from the code's

A deployment with tokens serves the same operations and schemas, with security and 401/403
answers added (`openapi.document`); the client's types are the same for both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from service.http.openapi import DOCUMENT

PATH = Path(__file__).resolve().parents[2] / "openapi.json"


def render() -> bytes:
    """The file's bytes: the document in the order it is built, indented, one final newline."""
    return orjson.dumps(DOCUMENT, option=orjson.OPT_INDENT_2) + b"\n"


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        if PATH.exists() and PATH.read_bytes() == render():
            return 0
        print(f"{PATH} differs from the served document: run `make openapi`", file=sys.stderr)
        return 1
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    PATH.write_bytes(render())
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
