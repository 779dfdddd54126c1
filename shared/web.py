"""What every service's HTTP side shares: the app, its middleware and its operational routes.

``create_app`` gives a FastAPI app with problem+json errors, request ids bound as the
correlation id (``X-Request-ID`` in and out), a body size limit (413), Prometheus metrics,
and ``/healthz``, ``/readyz``, ``/metrics`` — none of which need a token (CONTRACT §1) —
plus ``POST /events/replay`` (admin; ``shared.replay``) for subscribers that were away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from shared import problems
from shared.idempotency import IdempotencyMiddleware
from shared.logging import bound, get_logger
from shared.settings import Settings

log = get_logger(__name__)

Check = Callable[[], Awaitable[bool]]

BODY_LIMIT = 1 << 20  # 1 MiB for JSON bodies
UPLOAD_LIMIT = 16 << 20  # spreadsheets on */import


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
    _install_metrics(app)
    # Outermost last: request id → body limit → idempotency (which buffers the body) → routes.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestContext)
    _operational_routes(app)
    from shared.replay import router as replay_router

    app.include_router(replay_router)
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


class BodyLimit:
    """Refuses bodies over the limit with 413 before anything reads them whole, and JSON
    text carrying NUL characters (valid JSON, but never meaningful in a name or a note,
    and truncated by C-string consumers downstream) with 400.

    Starlette's and FastAPI's own limiters answer in plain text or ``{"detail"}``; every
    Sinergi error is problem+json, so the limit is enforced here.
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
        received = 0
        is_json = b"json" in headers.get(b"content-type", b"")
        tail = b""

        async def limited_receive() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                # FastAPI passes an HTTPException raised while reading the body through
                # to the problem handler; anything else would become a 400 without words.
                if received > limit:
                    raise HTTPException(413, f"the request body is larger than {limit // 1024} KiB")
                if is_json and (b"\\u0000" in tail + chunk or b"\0" in chunk):
                    raise HTTPException(400, "text must not contain NUL (\\u0000) characters")
                tail = chunk[-5:]
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    problem = problems.Problem(
        f"the request body is larger than {limit // 1024} KiB", status=413, slug="too-large", title="Request too large"
    )
    response = JSONResponse(problem.body(scope["path"]), status_code=413, media_type=problems.MEDIA_TYPE)
    await response(scope, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}


def _install_metrics(app: FastAPI) -> None:
    registry = app.state.registry
    app.state.http_requests = Counter(
        "sinergi_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    app.state.http_latency = Histogram(
        "sinergi_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
    app.add_middleware(Measure)


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
            state = scope["app"].state
            template = getattr(scope.get("route"), "path", "unmatched")
            state.http_requests.labels(scope["method"], template, str(status)).inc()
            state.http_latency.labels(scope["method"], template).observe(time.perf_counter() - started)


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
