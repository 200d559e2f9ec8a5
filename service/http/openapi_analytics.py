"""The OpenAPI operations of the answers: overview and compare, each asked by a POST with a
JSON body or by a GET with the same fields as query parameters (the cacheable spelling: same
answers, problems and cache entry; see `cacheable`)."""

from __future__ import annotations

from service.http.openapi_responses import (
    BODY_ERRORS,
    CACHE_HEADERS,
    IF_NONE_MATCH,
    UPSTREAM_ERRORS,
    Doc,
    header,
    problem,
    ref,
    token_errors,
)
from service.http.openapi_schemas import ID, SCHEMAS

_SCOPED = "The token may not read this project."


def _query_parameters() -> list[Doc]:
    """The request body's fields as query parameters, with the body's rules."""
    request = SCHEMAS["AnalyticsRequest"]
    out = []
    for name, field in request["properties"].items():
        schema = {k: v for k, v in field.items() if k != "description"}
        description = field["description"]
        if name == "environment_id":  # a query parameter cannot be null: absent says "all"
            schema = ID
            description = description.replace("null: all", "absent: all")
        out.append(
            {
                "name": name,
                "in": "query",
                "required": name in request["required"],
                "description": description,
                "schema": schema,
            }
        )
    return out


QUERY_PARAMETERS = _query_parameters()


def shared_cache_headers(tokens: bool) -> Doc:
    """The cache headers of a GET answer, for the deployment's tokens."""
    scope = "private" if tokens else "public"
    vary = "Authorization, (Origin, )?Accept-Encoding" if tokens else "(Origin, )?Accept-Encoding"
    return {
        **CACHE_HEADERS,
        "Cache-Control": header(
            f"{scope}, max-age=<the answer's fresh lifetime, CACHE_TTL_SECONDS>, "
            "stale-while-revalidate=<its stale window, CACHE_STALE_SECONDS>, "
            "stale-if-error=<the same>: fresh while Age < max-age; past it, the service "
            "itself serves it as STALE for the stale window. "
            + ("private: a token is needed to read it." if tokens else "public: no token is set."),
            {
                "type": "string",
                "pattern": f"^{scope}, max-age=[0-9]+, stale-while-revalidate=[0-9]+, "
                "stale-if-error=[0-9]+$",
            },
        ),
        "Vary": header(
            "Accept-Encoding; Authorization first when tokens are set; Origin when "
            "CORS_ORIGINS is.",
            {"type": "string", "pattern": f"^{vary}$"},
        ),
    }


def _answers(schema: str, headers: Doc) -> Doc:
    return {
        "200": {
            "description": "The answer.",
            "headers": headers,
            "content": {"application/json": {"schema": ref(schema)}},
        },
        "304": {"description": "If-None-Match matched the current ETag.", "headers": headers},
    }


def analytics_op(name: str, summary: str, schema: str, tokens: bool) -> Doc:
    """`GET` and `POST /api/analytics/<name>`; their operationIds are get<Name>, post<Name>."""
    security: list[Doc] = [{"bearer": []}] if tokens else []
    title = name.capitalize()
    return {
        "get": {
            "operationId": f"get{title}",
            "summary": summary + " Cacheable: browsers, CDNs and Next.js's fetch cache may "
            "keep it as its Cache-Control says.",
            "security": security,
            "parameters": [*QUERY_PARAMETERS, IF_NONE_MATCH],
            "responses": {
                **_answers(schema, shared_cache_headers(tokens)),
                "400": problem(
                    "Invalid query: the `field` member names the parameter (an unknown one, "
                    "or one given twice, included), `detail` the rule."
                ),
                **token_errors(tokens, _SCOPED),
                **UPSTREAM_ERRORS,
            },
        },
        "post": {
            "operationId": f"post{title}",
            "summary": summary + " The same answer as the GET, which caches can keep.",
            "security": security,
            "parameters": [IF_NONE_MATCH],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("AnalyticsRequest")}},
            },
            "responses": {
                **_answers(schema, CACHE_HEADERS),
                **BODY_ERRORS,
                **token_errors(tokens, _SCOPED),
                **UPSTREAM_ERRORS,
            },
        },
    }
