"""The committed openapi.json is the document the default deployment serves, and a build
input a client generator can use: every operation named, every answer with a body typed."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest

from service.http.openapi import DOCUMENT, document
from service.http.openapi_file import PATH, render
from tests.processes import ROOT


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_the_committed_file_is_the_served_document(make_client: Any) -> None:
    """openapi.json is byte for byte what `make openapi` writes, and what a deployment with
    no API token and no ADMIN_TOKEN serves."""
    assert PATH.read_bytes() == render(), "openapi.json is out of date: run `make openapi`"
    client = await make_client()
    served = await client.get("/api/openapi.json")
    assert await served.json() == orjson.loads(PATH.read_bytes())


def test_the_check_command_fails_on_a_stale_file() -> None:
    """`python -m service.http.openapi_file --check` is 0 when in step (CI can call it)."""
    done = subprocess.run(
        [sys.executable, "-m", "service.http.openapi_file", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("tokens", "admin"), [(False, False), (True, True)])
def test_every_operation_has_a_unique_operation_id(tokens: bool, admin: bool) -> None:
    """Generators name functions and types after operationId: each is there, and unique."""
    ids = [op.get("operationId") for _, _, op in operations(document(tokens=tokens, admin=admin))]
    assert None not in ids
    assert len(set(ids)) == len(ids)
    assert {"getOverview", "postOverview", "getCompare", "postCompare"} <= set(ids)


def test_every_answer_with_a_body_is_typed() -> None:
    """Each response but a 304 declares its media types, each with a schema; JSON ones refer
    to a component or state a type (problems are the Problem component)."""
    for path, method, op in operations(DOCUMENT):
        for status, answer in op["responses"].items():
            where = f"{method.upper()} {path} {status}"
            if status == "304":
                assert "content" not in answer, where
                continue
            assert answer.get("content"), where
            for media, content in answer["content"].items():
                schema = content["schema"]
                assert "$ref" in schema or "type" in schema, where
                if media == "application/problem+json":
                    assert schema == {"$ref": "#/components/schemas/Problem"}, where


def test_gets_and_posts_ask_the_same_question() -> None:
    """The GETs' query parameters are the POST body's fields, with the same rules."""
    request = DOCUMENT["components"]["schemas"]["AnalyticsRequest"]
    for path in ("/api/analytics/overview", "/api/analytics/compare"):
        get = DOCUMENT["paths"][path]["get"]
        query = {p["name"]: p for p in get["parameters"] if p["in"] == "query"}
        assert set(query) == set(request["properties"])
        assert {n for n, p in query.items() if p["required"]} == set(request["required"])
        for name in ("project_id", "start", "end", "tz"):
            rule = {k: v for k, v in request["properties"][name].items() if k != "description"}
            assert query[name]["schema"] == rule, name
