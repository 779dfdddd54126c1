"""RFC 9457 problem details: the only shape an error takes on the wire (CONTRACT §2).

Use cases raise the service's own refusals (:mod:`shared.errors`); :func:`install` puts the one
mapping from them to problem details on each app. The edge itself (authentication, headers,
pagination) raises :class:`Problem` directly. Nothing else ever reaches a client: an unexpected
exception becomes a 500 problem with the request id, and the traceback stays in the log.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import errors
from shared.language import Language, negotiate, refusal, say, say_all
from shared.logging import get_logger

log = get_logger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "/problems/"


class Problem(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status or self.status
        self.slug = slug or self.slug
        self.title = title or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidField(Problem):
    """422 naming one or more fields: ``InvalidField({"contacts[0].email": "not an e-mail"})``."""

    status, slug, title = 422, "validation", "Invalid input"

    def __init__(self, errors: dict[str, str] | list[dict[str, str]], detail: str | None = None,
                 **extensions: Any) -> None:
        items = [{"field": f, "message": m} for f, m in errors.items()] if isinstance(errors, dict) else errors
        self.joined = detail is None  # the detail only lists the errors: shown again in the reader's language
        super().__init__(detail or joined(items), errors=items, **extensions)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body = super().body(instance)
        if self.joined:
            body["detail"] = joined(body["errors"])
        return body


def joined(items: list[dict[str, str]]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in items)


class PreconditionFailed(Problem):
    status, slug, title = 412, "stale-version", "Precondition failed"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="sinergi"'})


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Forbidden"


class Unavailable(Problem):
    status, slug, title = 503, "unavailable", "Service unavailable"


class TooLarge(Problem):
    status, slug, title = 413, "too-large", "Request too large"


# The one mapping from a use case's refusal to its problem type.
FROM_SERVICE: dict[type[errors.ServiceError], type[Problem]] = {
    errors.NotFound: NotFound,
    errors.Conflict: Conflict,
    errors.VersionMismatch: PreconditionFailed,
    errors.TooLarge: TooLarge,
    errors.Unavailable: Unavailable,
}


def from_service(exc: errors.ServiceError) -> Problem:
    """The problem details a client sees for a use case's refusal."""
    if isinstance(exc, errors.Invalid):
        own_detail = exc.detail if exc.detail != joined(exc.errors) else None
        return InvalidField(exc.errors, own_detail, **exc.facts)
    kind = next((problem for error, problem in FROM_SERVICE.items() if isinstance(exc, error)), Problem)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.Unavailable) else None
    return kind(exc.detail, headers=headers, **exc.facts)


def language(request: Request) -> Language:
    """The language the request asks to read (Bahasa Indonesia unless ``Accept-Language`` says ``en``)."""
    return negotiate(request.headers.get("accept-language"))


def in_language(problem: Problem, language: Language) -> Problem:
    """The problem with what a person reads (title, detail, each field's message) in ``language``."""
    problem.title = say(problem.title, language)
    if problem.errors is not None:
        problem.errors = say_all(problem.errors, language)
    if not getattr(problem, "joined", False):
        problem.detail = say(problem.detail, language)
    return problem


def render(problem: Problem, request: Request) -> JSONResponse:
    reader = language(request)
    problem = in_language(problem, reader)
    headers = {**problem.headers, "Content-Language": reader, "Vary": "Accept-Language"}
    request_id = getattr(request.state, "request_id", None)
    body = problem.body(instance=request.url.path)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=problem.status, media_type=MEDIA_TYPE, headers=headers)


# A route's second opinion on a body whose shape is wrong: shared.web.also_check puts it on the endpoint.
async def _second_opinion(request: Request, body: Any, refused: list[dict[str, str]]) -> list[dict[str, str]]:
    route = request.scope.get("route")
    check = getattr(getattr(route, "endpoint", None), "also_check", None)
    if check is None or not isinstance(body, dict):
        return []
    fields = {item["field"] for item in refused}
    try:
        more = await check(body, request, fields)
    except Exception:  # the second opinion must never hide the first
        log.exception("body check failed", path=request.url.path)
        return []
    return [{"field": f, "message": m} for f, m in more.items() if f not in fields]


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "contacts", 0, "email")`` → ``contacts[0].email``; query and header names as they are."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def _validation_message(error: dict[str, Any], reader: Language) -> str:
    """A validator's own sentence stays the catalogue's key (:func:`render` shows it in the reader's
    language); pydantic's own words have no key, so they are put in the reader's language here."""
    context = error.get("ctx") or {}
    if error.get("type") == "value_error" and "error" in context:
        return str(context["error"])
    return refusal(error, reader)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return render(exc, request)

    @app.exception_handler(errors.ServiceError)
    async def _refused(request: Request, exc: errors.ServiceError) -> JSONResponse:
        return render(from_service(exc), request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": "body" if e.get("type") == "json_invalid" else field_name(e.get("loc", ())),
             "message": _validation_message(e, language(request))}
            for e in exc.errors()
        ]
        errors += await _second_opinion(request, exc.body, errors)
        return render(InvalidField(errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {400: "bad-request", 404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(
            exc.status_code, "http-error")
        title = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 413: "Request too large"}.get(
            exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such path: {request.method} {request.url.path}"
        elif exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's words for a body it could not decode: invalid UTF-8, or JSON nested too deep.
            detail = "the body could not be read as JSON (it must be UTF-8 and not nested too deeply)"
        return render(Problem(detail, status=exc.status_code, slug=slug, title=title, headers=exc.headers), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return render(unexpected(exc, request.url.path, request.method), request)


def unexpected(exc: Exception, path: str, method: str = "GET") -> Problem:
    """What a client sees of an exception nothing foresaw: 503 while the store is unreachable, else
    a 500 naming no internals; the traceback goes to the log.

    "Nothing was changed" is said only when it is known: no server was reachable (the command was
    never sent), the store cut the statement off as it stopped (rolled back), or the request reads.
    A connection that broke during a write may have broken after the store applied it."""
    from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

    from shared.mongo import stopping

    if isinstance(exc, ServerSelectionTimeoutError) or stopping(exc) or (
            isinstance(exc, AutoReconnect) and method in {"GET", "HEAD", "OPTIONS"}):
        log.warning("database unreachable", error=repr(exc))
        return Unavailable("the database is unreachable; nothing was changed, try again shortly",
                           headers={"Retry-After": "5"})
    if isinstance(exc, AutoReconnect):
        log.warning("database connection broke during a write", error=repr(exc), method=method)
        return Unavailable("the connection to the database broke during this request, so the change may have "
                           "been saved; read it to check, or send it again with the same Idempotency-Key",
                           headers={"Retry-After": "5"})
    log.exception("unhandled error", path=path)
    return Problem("an unexpected error occurred; it has been logged with this request's id",
                   status=500, slug="internal", title="Internal error")
