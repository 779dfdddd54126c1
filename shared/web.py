"""What every service's HTTP side shares: the app, its middleware and its operational routes.

``create_app`` gives a FastAPI app with problem+json errors, request ids bound as the
correlation id (``X-Request-ID`` in and out), body limits (size 413, time 408, NUL 400, lone
surrogates 422), Prometheus metrics with bounded labels, and ``/healthz``, ``/readyz``,
``/metrics`` — none of which need a token (CONTRACT §1) — plus ``POST /events/replay`` (admin;
``shared.replay``) for subscribers that were away and ``GET /audit`` (admin; ``shared.audit``). Its OpenAPI document is completed by
:mod:`shared.openapi`. What each control stops: docs/security.md.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import Message, Receive, Scope, Send
from ulid import ULID

from shared import errors, problems
from shared.asgi import HttpMiddleware
from shared.batch_header import BatchHeader
from shared.body_limits import BodyLimit, BodyRefused
from shared.idempotency import IdempotencyMiddleware
from shared.language import Language, negotiate
from shared.logging import bound, get_logger
from shared.openapi import document
from shared.settings import Settings

log = get_logger(__name__)

Check = Callable[[], Awaitable[bool]]

# The methods /metrics names; any other is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def create_app(
    settings: Settings,
    service: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    description: str = "",
    event_log: bool = True,
) -> FastAPI:
    """``event_log=False`` for an app that publishes no events (the console): no audit, replay or
    dead-letter routes."""
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
    # authenticates, then buffers the body) → a client's batch (X-Sinergi-Batch) → routes. Metrics
    # sit outside the guard so that a refusal made by a middleware is counted with the status the
    # client saw.
    app.add_middleware(BatchHeader)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimit)
    app.add_middleware(Guard)
    app.add_middleware(Measure)
    app.add_middleware(RequestContext)
    _operational_routes(app)
    if event_log:
        from shared.audit import router as audit_router
        from shared.replay import router as replay_router

        app.include_router(replay_router)
        app.include_router(audit_router)
    document(app)
    return app


class RequestContext(HttpMiddleware):
    """Binds ``X-Request-ID`` (or a new id) as the correlation id of everything the request does."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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


async def _body_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyRefused)
    return problems.render(exc.problem, request)


class Guard(HttpMiddleware):
    """Whatever escapes the routes' exception handlers and the middleware becomes a problem+json
    answer with the request id, never a dropped connection or Starlette's plain-text 500: a
    refusal a middleware raises (a body refused while the idempotency middleware read it, a key
    used for another request), the store away (503), a bug (500, logged). Starlette hands an
    unexpected exception to the outermost layer only, after every middleware has seen it; this is
    that layer, inside the request id and the metrics so both see the answer."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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
    return problems.unexpected(exc, scope["path"], scope.get("method", "GET"))


async def _send_problem(scope: Scope, send: Send, problem: problems.Problem) -> None:
    accept = dict(scope.get("headers") or []).get(b"accept-language", b"").decode("latin-1")
    problem = problems.in_language(problem, negotiate(accept))
    body = problem.body(scope["path"])
    request_id = (scope.get("state") or {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    headers = [(b"content-type", problems.MEDIA_TYPE.encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def _install_metrics(app: FastAPI) -> None:
    registry = app.state.registry
    app.state.http_requests = Counter(
        "sinergi_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    app.state.http_latency = Histogram(
        "sinergi_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )


class Measure(HttpMiddleware):
    """Counts requests and their latency by route template."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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


def wired(name: str) -> Any:
    """A route's dependency on what the service's main.py put on ``app.state`` under ``name``, so a
    route names only what it uses: ``Annotated[Registry, wired("registry_service")]``."""

    async def get(request: Request) -> Any:  # async: a plain def would hop to the thread pool
        return getattr(request.app.state, name)

    return Depends(get)


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


async def _language(request: Request) -> Language:
    # async: FastAPI would run problems.language, a plain def, in its thread pool
    return problems.language(request)


# The language the caller reads: Bahasa Indonesia unless Accept-Language asks for English.
Reader = Annotated[Language, Depends(_language)]


# What the use case would refuse of a body besides its shape: field → message.
BodyCheck = Callable[[dict[str, Any], Request, set[str]], Awaitable[dict[str, str]]]


def also_check(check: BodyCheck) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@also_check(check)`` on an endpoint: when its body fails validation, the 422 also lists what
    ``check(raw body, request, fields already refused)`` finds, so one answer names every problem
    instead of one batch now and the use case's batch after the fix (issue 12, point 9)."""
    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        endpoint.also_check = check  # type: ignore[attr-defined]
        return endpoint
    return mark


def refusals(check: Callable[[], Any]) -> dict[str, str]:
    """The fields ``check`` refuses (it raises :class:`shared.errors.Invalid`), none when it passes."""
    try:
        check()
    except errors.Invalid as exc:
        return {item["field"]: item["message"] for item in exc.errors}
    return {}

