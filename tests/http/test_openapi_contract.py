"""The document and the code agree on the rules it can state: the id's spelling, the date
bounds, and which calls need which token in each deployment."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from service.analytics.query import parse_query
from service.errors import ValidationError
from service.http.openapi import DOCUMENT, document
from tests.conftest import PROJECT, body

API, ADMIN = "contract-api-token-0123456789", "contract-admin-token-0123456789"
CONFIGS = [(tokens, admin) for tokens in (False, True) for admin in (False, True)]


def schema_accepts(instance: Any, name: str = "AnalyticsRequest") -> bool:
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return validator.is_valid(instance)


def code_accepts(instance: Any) -> bool:
    try:
        parse_query(instance, 366)
    except ValidationError:
        return False
    return True


IDS = ["a", "A_b-9", "62912f08e83f76001b218690", "a" * 64, "a" * 65, "", "a:b", "a|b", "a b"]
IDS += ["é", "a.b", "a/b"]
DATES = ["2000-01-01", "1999-12-31", "2099-12-31", "2100-01-01", "2024-02-29", "2025-02-29"]
DATES += [
    "2025-13-01",
    "2025-00-10",
    "2025-1-01",
    "20250101",
    "2025-01-01T00:00",
    "\u0662\u0660\u0662\u0665-\u0660\u0661-\u0660\u0661",
]


@pytest.mark.parametrize("project_id", IDS)
def test_the_project_id_rule_is_the_codes(project_id: str) -> None:
    """A project id the document allows is one the code takes, and the other way round."""
    instance = body(project_id, start="2025-01-01", end="2025-01-01")
    assert schema_accepts(instance) == code_accepts(instance)
    env = body(PROJECT, start="2025-01-01", end="2025-01-01", environment_id=project_id)
    assert schema_accepts(env) == code_accepts(env)


@pytest.mark.parametrize("day", DATES)
def test_the_date_rule_is_the_codes(day: str) -> None:
    """A date the document allows (bounds included) is one the code takes, and vice versa."""
    for instance in (body(start=day, end=day), {"project_id": PROJECT, "start": day}):
        name = "AnalyticsRequest" if "end" in instance else "InvalidateRequest"
        assert schema_accepts(body(start=day, end=day)) == code_accepts(body(start=day, end=day))
        assert schema_accepts(instance, name) == code_accepts(body(start=day, end=day))


@pytest.mark.parametrize(("tokens", "admin"), CONFIGS)
def test_each_deployments_document_is_valid(tokens: bool, admin: bool) -> None:
    """The document of each combination of tokens is valid OpenAPI 3.1."""
    validate(document(tokens=tokens, admin=admin))


def _request(path: str) -> dict[str, Any]:
    one_day = body(start="2025-01-01", end="2025-01-01")
    return {
        "/api/analytics/overview": one_day,
        "/api/analytics/compare": one_day,
        "/api/export": {**one_day, "format": "csv"},
        "/api/admin/invalidate": {"project_id": PROJECT},
    }.get(path, {})


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize(("tokens", "admin"), CONFIGS)
async def test_security_is_declared_as_enforced(
    make_client: Any, tokens: bool, admin: bool
) -> None:
    """Each deployment serves its own document; a call without a token is refused exactly
    where that document declares security, with a status it documents."""
    env = ({"API_TOKEN": API} if tokens else {}) | ({"ADMIN_TOKEN": ADMIN} if admin else {})
    client = await make_client(**env)
    served = await (await client.get("/api/openapi.json")).json()
    assert served == document(tokens=tokens, admin=admin)
    for path, item in served["paths"].items():
        for method, op in item.items():
            if method == "get":
                resp = await client.get(path)
            else:
                resp = await client.post(path, json=_request(path))
            refused = resp.status in (401, 403)
            assert refused == bool(op["security"]), (path, resp.status)
            assert str(resp.status) in op["responses"], (path, resp.status)
