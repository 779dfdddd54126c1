"""The parts of each service's OpenAPI document FastAPI cannot know, added once for every app.

FastAPI documents what a route declares: its parameters, body, answer and, through
``shared.auth.BEARER``, the bearer scheme (Swagger's *Authorize* button). What the shared edge
adds around every route it documents here, by route and method, so no service file repeats it:

- ``Idempotency-Key`` on every authenticated POST (``shared.idempotency``);
- ``If-Match`` where the route reads it (``shared.web.expected_version``);
- the problem+json answers (RFC 9457) an operation can give: 401 and 403 where a token is
  needed, 404 where the path names something, 409 on writes, 412 with ``If-Match``, 400, 408
  and 413 with a body, 422 and 503 everywhere a token is needed (FastAPI's own 422 schema
  describes a body Sinergi never sends, so it is replaced).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; some problems add facts a client can act on "
                   "(`current_status`, `existing_id`, `current_version`...).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "`/problems/<slug>`, e.g. `/problems/conflict`"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what happened and what to do, for a person"},
        "instance": {"type": "string", "description": "the path asked for"},
        "request_id": {"type": "string", "description": "the X-Request-ID the logs know this request by"},
        "errors": {
            "type": "array",
            "description": "every field at fault (422)",
            "items": {"type": "object", "properties": {"field": {"type": "string"},
                                                         "message": {"type": "string"}}},
        },
    },
    "additionalProperties": True,
}

ANSWERS = {
    400: "The body could not be read: not UTF-8, JSON nested too deeply, or text with NUL characters",
    401: "No token, or one that is not valid (forged, expired, unknown role)",
    403: "The token lacks the role this needs, or covers another region",
    404: "Nothing of that id in this instance's region",
    408: "The body did not arrive in time (SINERGI_HTTP_BODY_SECONDS); the connection is closed",
    409: "The current state does not allow it, or a request with this Idempotency-Key is still running",
    412: "If-Match named a version the resource is no longer at; nothing was changed",
    413: "The body is over the size limit (1 MiB, 16 MiB for an import)",
    422: "Input that breaks a rule; `errors` names every field at fault",
    503: ("The store or broker cannot take the request now; try again (Retry-After). The detail says whether "
          "nothing was changed or, the connection having broken mid-write, the change may have been saved"),
}

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any unique string (a UUID): a retry with the same key and body, by the same token "
                   "holder, gets the first answer again and creates nothing twice. Kept 24 hours; "
                   "answers 400, 413 and 422 are not kept, so a corrected request may use the same key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}

IF_MATCH: dict[str, Any] = {
    "name": "If-Match", "in": "header", "required": False,
    "description": 'The ETag the change is based on, e.g. `"3"`: if the resource has moved on, 412 and '
                   "nothing is changed. Without it the change applies to the current version.",
    "schema": {"type": "string"},
}

ACCEPT_LANGUAGE: dict[str, Any] = {
    "name": "Accept-Language", "in": "header", "required": False,
    "description": "The language of what a person reads in the answer (a problem's title, detail and field "
                   "messages, warnings, import row errors): Bahasa Indonesia (`id`) unless `en` is asked for. "
                   "The answer's `Content-Language` says which.",
    "schema": {"type": "string", "examples": ["id", "en"]},
}

WRITES = {"post", "put", "patch", "delete"}


def document(app: FastAPI) -> None:
    """Make ``app.openapi()`` return FastAPI's document completed with the edge's parts."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # FastAPI keeps it in app.openapi_schema
            complete(schema, app)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any], app: FastAPI) -> None:
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    honour_if_match = {
        (route.path_format, method.lower())
        for route in _routes(app)
        if _reads_if_match(getattr(route, "endpoint", None))
        for method in getattr(route, "methods", None) or ()
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _complete_operation(operation, method, path, (path, method) in honour_if_match)


def _complete_operation(operation: dict[str, Any], method: str, path: str, if_match: bool) -> None:
    if "security" not in operation:  # /healthz, /readyz, /metrics: none of this applies
        return
    has_body = "requestBody" in operation
    parameters = operation.setdefault("parameters", [])
    if method == "post":
        parameters.append(IDEMPOTENCY_KEY)
    if if_match:
        parameters.append(IF_MATCH)
    parameters.append(ACCEPT_LANGUAGE)
    statuses = {401, 403, 422, 503}
    if "{" in path:
        statuses.add(404)
    if method in WRITES:
        statuses.add(409)
    if if_match:
        statuses.add(412)
    if has_body:
        statuses |= {400, 408, 413}
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        current = responses.get(str(status))
        if current is None or _is_fastapis_validation_answer(current):
            responses[str(status)] = {
                "description": ANSWERS[status],
                "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }


def _routes(app: FastAPI) -> list[Any]:
    """Every route with its full path, routes of included routers too."""
    try:  # FastAPI 0.16x keeps an included router as one entry of app.routes
        from fastapi.routing import iter_route_contexts
    except ImportError:  # before, app.routes listed the included routes themselves
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def _reads_if_match(function: Any, depth: int = 2) -> bool:
    """Whether a route honours If-Match: it calls ``shared.web.expected_version``, itself or through
    a helper of its own module (notifications' ``_check_version``), so the document follows the
    code without a list to keep. (A route that took If-Match as a declared header parameter would
    be documented by FastAPI itself.)"""
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    if "expected_version" in code.co_names:
        return True
    scope = getattr(function, "__globals__", {})
    return depth > 0 and any(
        _reads_if_match(helper, depth - 1)
        for name in code.co_names
        if (helper := scope.get(name)) is not None and getattr(helper, "__module__", None) == function.__module__
    )


def _is_fastapis_validation_answer(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")
