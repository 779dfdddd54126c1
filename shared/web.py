"""What every service's HTTP side shares: the app, its middleware and its operational routes.

``create_app`` gives a FastAPI app with problem+json errors, request ids bound as the
correlation id (``X-Request-ID`` in and out), body limits (size 413, time 408, NUL 400, lone
surrogates 422), Prometheus metrics with bounded labels, and ``/healthz``, ``/readyz``,
``/metrics`` — none of which need a token (CONTRACT §1) — plus ``POST /events/replay`` (admin;
``shared.replay``) for subscribers that were away. Its OpenAPI document is completed by
:mod:`shared.openapi`. What each control stops: docs/security.md.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from shared import errors, problems
from shared.idempotency import IdempotencyMiddleware
from shared.logging import bound, get_logger
from shared.openapi import document
from shared.settings import Settings

log = get_logger(__name__)

Check = Callable[[], Awaitable[bool]]

BODY_LIMIT = 1 << 20  # 1 MiB for JSON bodies
UPLOAD_LIMIT = 16 << 20  # spreadsheets on */import
# The methods /metrics names; any other is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def create_app(
    settings: Settings,
    service: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    description: str = "",
) -> FastAPI:
    app = FastAPI(
        title=f"Sinergi {service}",
        version="1",
        description=description,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.readiness = {}
    app.state.registry = CollectorRegistry()
    problems.install(app)
    app.add_exception_handler(BodyRefused, _body_refused)
    _install_metrics(app)
    # Outermost last: request id → metrics → guard → body limits → idempotency (which
    # authenticates, then buffers the body) → routes. Metrics sit outside the guard so that
    # a refusal made by a middleware is counted with the status the client saw.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimit)
    app.add_middleware(Guard)
    app.add_middleware(Measure)
    app.add_middleware(RequestContext)
    _operational_routes(app)
    from shared.replay import router as replay_router

    app.include_router(replay_router)
    document(app)
    return app


class RequestContext:
    """Binds ``X-Request-ID`` (or a new id) as the correlation id of everything the request does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1").strip()
        request_id = given[:128] if given and given.isprintable() else str(ULID())
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with bound(request_id, None, method=scope["method"], path=scope["path"]):
            await self.app(scope, receive, send_with_id)


class BodyRefused(HTTPException):
    """A body refused while it is read (too large, too slow, NUL, lone surrogate).

    An ``HTTPException`` because FastAPI lets only those through when they are raised while it
    reads a body (anything else it reports as an unreadable body); it carries the problem the
    client gets, rendered by the handler :func:`create_app` installs, or by :class:`Guard`
    when a middleware was the reader (the idempotency middleware buffers bodies).
    """

    def __init__(self, problem: problems.Problem) -> None:
        super().__init__(problem.status, problem.detail, headers=problem.headers)
        self.problem = problem


async def _body_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyRefused)
    return problems.render(exc.problem, request)


# The client's body was not read to its end: close rather than drain what it still sends.
CLOSE = {"Connection": "close"}
# JSON escapes of NUL or of a UTF-16 surrogate (U+D800-U+DFFF): only with one of them can a
# body's strings hold either, and only then is the body parsed here (an escaped backslash
# before "u0000" is text, so the parse decides).
ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


class BodyLimit:
    """Bounds what a request body may be, before anything reads it whole.

    - larger than the limit → 413 (as declared, or as streamed);
    - not all there within ``http_body_seconds`` of the headers → 408, connection closed;
    - JSON text with a NUL character → 400 (valid JSON, never meaningful in a name or a
      note, and truncated by C-string consumers downstream);
    - JSON text with a lone surrogate (``"\\ud800"``) → 422 naming the field: valid JSON
      syntax, but not Unicode text, and no store or e-mail can encode it.

    Starlette's and FastAPI's own limiters answer in plain text or ``{"detail"}``; every
    Sinergi error is problem+json, so the limits are enforced here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = UPLOAD_LIMIT if scope["path"].endswith("/import") else BODY_LIMIT
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, limit)
            return
        settings = getattr(scope["app"].state, "settings", None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (settings.http_body_seconds if settings else 60.0)
        received = 0
        is_json = b"json" in headers.get(b"content-type", b"")
        chunks: list[bytes] = []
        complete = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body: a disconnect listener may wait as long as it likes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise BodyRefused(problems.Problem(
                    f"the request body did not arrive within {_seconds(settings)} s", status=408,
                    slug="request-timeout", title="Request timeout", headers=CLOSE)) from None
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                raise BodyRefused(problems.TooLarge(
                    f"the request body is larger than {limit // 1024} KiB", headers=CLOSE))
            if is_json:
                chunks.append(chunk)
            if not message.get("more_body"):
                complete = True
                if is_json:
                    check_json_text(b"".join(chunks))
            return message

        await self.app(scope, limited_receive, send)


def _seconds(settings: Settings | None) -> str:
    return f"{settings.http_body_seconds:g}" if settings else "60"


def check_json_text(body: bytes) -> None:
    """Refuses JSON text whose strings hold NUL (400) or a lone surrogate (422, naming the field)."""
    if b"\0" in body:  # raw, it is not JSON anyway; said as FastAPI would not
        raise BodyRefused(problems.Problem(NO_NUL))
    if not ESCAPE.search(body):
        return
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON after all (or nested too deeply): FastAPI names what is wrong with it
    if (at := _first_string(value, lambda text: "\0" in text)) is not None:
        raise BodyRefused(problems.Problem(f"{problems.field_name(at)}: {NO_NUL}"))
    if (at := _first_string(value, _has_lone_surrogate)) is not None:
        raise BodyRefused(problems.InvalidField({problems.field_name(at): NO_SURROGATE}))


NO_NUL = "text must not contain NUL (\\u0000) characters"
NO_SURROGATE = "text must be Unicode characters; a lone surrogate (\\ud800-\\udfff without its pair) is not one"


def _has_lone_surrogate(text: str) -> bool:
    # json.loads joins an escaped pair into one character; what is left in the range is alone.
    return any("\ud800" <= c <= "\udfff" for c in text)


def _first_string(value: Any, wrong: Callable[[str], bool]) -> tuple[Any, ...] | None:
    """Where in a parsed JSON value the first string (value or key) is ``wrong``, as a field path.

    A loop, not recursion: json.loads parses deeper than a recursive walk could follow.
    """
    pending: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while pending:
        item, at = pending.pop()
        if isinstance(item, str):
            if wrong(item):
                return at
        elif isinstance(item, list):
            pending.extend((child, (*at, i)) for i, child in reversed(list(enumerate(item))))
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                pending.append((child, (*at, key)))
                if wrong(key):  # the key itself, shown with the offending character escaped
                    pending.append((key, (*at, key.encode("utf-8", "backslashreplace").decode())))
    return None


class Guard:
    """Whatever escapes the middleware (a body refused while the idempotency middleware read it,
    a store error there, a bug) becomes a problem+json answer, never a dropped connection or
    Starlette's plain-text 500. Exceptions raised in routes are answered inside, by the handlers
    :func:`shared.problems.install` registers; this is the net under the middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:
            if started:  # half an answer has gone out: nothing honest is left to send
                log.exception("the request failed after its answer had begun")
                raise
            await _send_problem(scope, send, _problem_for(exc, scope))


def _problem_for(exc: Exception, scope: Scope) -> problems.Problem:
    if isinstance(exc, BodyRefused):
        return exc.problem
    if isinstance(exc, problems.Problem):
        return exc
    if isinstance(exc, errors.ServiceError):
        return problems.from_service(exc)
    if isinstance(exc, HTTPException):
        return problems.Problem(str(exc.detail), status=exc.status_code, headers=exc.headers)
    log.exception("unhandled error in the middleware", path=scope["path"])
    return problems.Problem("an unexpected error occurred; it has been logged with this request's id",
                            status=500, slug="internal", title="Internal error")


async def _send_problem(scope: Scope, send: Send, problem: problems.Problem) -> None:
    body = problem.body(scope["path"])
    request_id = (scope.get("state") or {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    headers = [(b"content-type", problems.MEDIA_TYPE.encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    problem = problems.TooLarge(f"the request body is larger than {limit // 1024} KiB", headers=CLOSE)
    await _send_problem(scope, send, problem)


def _install_metrics(app: FastAPI) -> None:
    registry = app.state.registry
    app.state.http_requests = Counter(
        "sinergi_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    app.state.http_latency = Histogram(
        "sinergi_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )


class Measure:
    """Counts requests and their latency by route template.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` reads the body in another task
    and would wrap errors raised while reading it (413, NUL) in an exception group.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # Labels from a bounded set only, or every made-up method or path a client sends
            # would add series for good (issue 11: 29 KB -> 650 KB of /metrics in 300 requests).
            state = scope["app"].state
            method = scope["method"] if scope["method"] in METHODS else "other"
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            state.http_requests.labels(method, template, str(status)).inc()
            state.http_latency.labels(method, template).observe(time.perf_counter() - started)


def _operational_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": app.state.service}

    @app.get("/readyz", tags=["operations"], summary="Broker and database reachable (503 otherwise)")
    async def readyz() -> JSONResponse:
        checks: dict[str, Check] = app.state.readiness
        results = await asyncio.gather(*(_check(c) for c in checks.values()))
        report = dict(zip(checks, results, strict=True))
        ok = bool(report) and all(report.values())
        body = {"status": "ready" if ok else "unavailable", "checks": {k: "ok" if v else "down" for k, v in report.items()}}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        text = generate_latest(app.state.registry)
        infra = getattr(app.state, "infra", None)
        if infra is not None:  # the relay's and the consumers' counters
            text += generate_latest(infra.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)


async def _check(check: Check) -> bool:
    try:
        return bool(await asyncio.wait_for(check(), timeout=2.0))
    except Exception:
        return False


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request) -> int | None:
    """The version an ``If-Match`` header asks for; ``None`` when absent or ``*``."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise problems.InvalidField({"If-Match": 'expected an ETag such as "3"'})
    return int(value)


def with_etag(body: Any, version: int, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"ETag": etag(version), **(headers or {})})
