"""The OpenAPI document's building blocks of answers: problems, the headers that go with them,
and the answers every operation of a kind shares (`openapi` puts the operations together)."""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def problem(description: str, headers: Doc | None = None) -> Doc:
    answer: Doc = {
        "description": description,
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def header(description: str, schema: Doc) -> Doc:
    return {"description": description, "required": True, "schema": schema}


RETRY = {
    "Retry-After": header(
        "Seconds to wait before asking again (the body's `retry_after`).",
        {"type": "integer", "minimum": 1},
    )
}
CHALLENGE = {"WWW-Authenticate": header("The scheme to use.", {"const": "Bearer"})}
CACHE_HEADERS = {
    "X-Cache": header(
        "HIT (fresh), STALE (served while refreshing, or because Voiceflow failed) or MISS.",
        {"enum": ["HIT", "MISS", "STALE"]},
    ),
    "Age": header("Seconds since the data was fetched.", {"type": "integer", "minimum": 0}),
    "ETag": header("Weak validator of the data.", {"type": "string", "pattern": '^W/".+"$'}),
    "Cache-Control": header(
        "private, max-age=<seconds still fresh>",
        {"type": "string", "pattern": "^private, max-age=[0-9]+$"},
    ),
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "ETags the client holds (comma-separated, weak or strong): 304 when one is "
    "the current answer's.",
    "schema": {"type": "string"},
}
BODY_ERRORS = {
    "400": problem("Invalid body: the `field` member names the field, `detail` the rule."),
    "413": problem("Body over MAX_BODY_BYTES."),
    "415": problem("Content-Type is not application/json."),
}
UPSTREAM_ERRORS = {
    "502": problem(
        "Voiceflow rejected the configured key or the query (a configuration problem that "
        "retrying will not fix), or answered something its API does not allow (type "
        ".../upstream-bad-answer; `detail` names the problem, and nothing of it was kept)."
    ),
    "503": problem(
        "Voiceflow is rate limiting, failing or busy and nothing cached can be served, or the "
        "answer is still being fetched (type .../still-fetching, with `progress`): retry after "
        "Retry-After.",
        RETRY,
    ),
    "504": problem("Voiceflow timed out and nothing cached can be served.", RETRY),
}


def token_errors(tokens: bool, scoped: str) -> Doc:
    """The answers to a missing, unknown or too narrow API token, when tokens are set."""
    if not tokens:
        return {}
    return {
        "401": problem("The bearer token is missing or is none of the API tokens.", CHALLENGE),
        "403": problem(scoped),
    }


def admin_errors(admin: bool) -> Doc:
    if admin:
        return {"401": problem("The bearer token is missing or is not ADMIN_TOKEN.", CHALLENGE)}
    return {"403": problem("ADMIN_TOKEN is not set: admin calls are refused.")}
