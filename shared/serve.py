"""Run one service as its own process: ``python -m services.<name>`` (each ``__main__`` passes
its own ``build``), with the connection bounds of docs/security.md ("HTTP edge").

``PORTS`` is the one table of the event services and their default ports (each has a broker user
and queues); ``APPS`` adds the web console, which talks to them only over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import importlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from shared import problems
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)

PORTS = {"partners": 8101, "activities": 8102, "notifications": 8103}
# Every deployable that serves HTTP: the services and the console (services/console, issue 13).
APPS = {**PORTS, "console": 8100}

# The request line and headers together (h11's own default, stated): more → 400, connection closed.
HEADER_BYTES = 16 << 10


def serve(service: str, build: Callable[[Settings], FastAPI]) -> None:
    settings = _settings(service)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port or APPS[service],
        "timeout_keep_alive": settings.http_keep_alive_seconds,  # a float works
        "h11_max_incomplete_event_size": HEADER_BYTES,
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
    if settings.processes > 1:
        # SINERGI_PROCESSES workers behind the one port (docs/operations.md, "Scaling"). uvicorn
        # starts each worker from import strings (the config crosses a spawn), so each builds its own
        # app and takes its bounds from its own settings (``worker_app``).
        os.environ[WORKER_SERVICE] = service
        uvicorn.run("shared.serve:worker_app", factory=True, workers=settings.processes,
                    http="shared.serve:BoundedH11Protocol", **options)
    else:
        uvicorn.run(frozen_after_start(build(settings)), http=bounded_protocol(settings), **options)


def frozen_after_start(app: FastAPI) -> FastAPI:
    """The app, whose process keeps what is alive once it has started (modules, pydantic's
    validators, the app itself: all of it lives as long as the process) out of the garbage
    collector's full passes, which walked all of it each time and paused a service 50–120 ms under
    load (bench/pipeline.py, docs/performance.md). Only for a process that runs one app: an app
    started in a test's process would pin the tests' objects too."""
    started = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        async with started(app) as state:
            gc.collect()  # what startup left behind goes first; only the living is frozen
            gc.freeze()
            yield state

    app.router.lifespan_context = lifespan
    return app


WORKER_SERVICE = "SINERGI_SERVE_SERVICE"


def worker_app() -> FastAPI:
    """One worker's app (``SINERGI_PROCESSES`` over 1). A worker dies with its supervisor, as a single
    process would: left behind, it would hold the port and the queues' consumers of a 'stopped' service."""
    service = os.environ[WORKER_SERVICE]
    _die_with_parent()
    settings = _settings(service)
    BoundedH11Protocol.header_seconds = settings.http_header_seconds
    BoundedH11Protocol.body_seconds = settings.http_body_seconds
    BoundedH11Protocol.max_connections = settings.http_max_connections
    return frozen_after_start(importlib.import_module(f"services.{service}.main").build(settings))


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)


def _settings(service: str) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            name = f"SINERGI_{field.upper()}" if field != "settings" else "configuration"
            print(f"sinergi-{service}: {name}: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        raise SystemExit(2) from None


def bounded_protocol(settings: Settings) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with this process's bounds on slow clients and connections."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {
        "header_seconds": settings.http_header_seconds,
        "body_seconds": settings.http_body_seconds,
        "max_connections": settings.http_max_connections,
    })


class BoundedH11Protocol(H11Protocol):
    """Closes a connection whose request line and headers have not all arrived in time, or whose
    client is still sending a body ``body_seconds`` after it was answered without it, and answers
    503 (problem+json) over ``max_connections`` open connections or requests in progress.

    uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a
    request's headers take: any byte received disarms its timer, so a client sending a byte every
    few seconds held a connection for as long as it liked (issue 11: 45 s and more). An ASGI
    middleware cannot help, since the app is called only once the headers are complete; so the
    timer is here, armed when a connection opens or a next request begins, disarmed when its
    headers are complete. The body's time is bounded in the app (``shared.body_limits.BodyLimit``, 408).
    A body answered before it was read (413) is read to its end and dropped, as uvicorn does, so
    that the client, still sending, can read the answer (closing at once made it a connection
    reset); for at most ``body_seconds``, or an endless upload would hold the connection.
    uvicorn's own ``limit_concurrency`` answers in plain text, hence the wrapper around the app.
    """

    header_seconds: float = 10.0
    body_seconds: float = 60.0
    max_connections: int = 200

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_due: asyncio.TimerHandle | None = None
        self._rest_of_body_due: asyncio.TimerHandle | None = None
        self.app = self._within_capacity(self.app)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvicorn's workers get their listening socket from the supervisor with ``proto`` 0, so asyncio
        # leaves Nagle on and every kept-alive request after the first waits ~40 ms for a delayed ACK
        # (uvicorn #3149): set TCP_NODELAY on every accepted TCP connection ourselves.
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        if self._headers_due is None and self.conn.their_state is h11.IDLE:
            self._await_headers()  # the first bytes of a next request on a kept-alive connection
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the headers are in (or the connection is done)
            self._headers_due = _cancelled(self._headers_due)
        if self.conn.their_state is not h11.SEND_BODY:
            self._rest_of_body_due = _cancelled(self._rest_of_body_due)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self._rest_of_body_due = self.loop.call_later(self.body_seconds, self._too_slow, "body")

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_due = _cancelled(self._headers_due)
        self._rest_of_body_due = _cancelled(self._rest_of_body_due)
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._headers_due = self.loop.call_later(self.header_seconds, self._too_slow, "headers")

    def _too_slow(self, part: str) -> None:
        waiting = h11.IDLE if part == "headers" else h11.SEND_BODY
        if self.conn.their_state is not waiting or self.transport.is_closing():
            return
        log.warning(f"closed a connection whose request {part} did not arrive in time",
                    client=":".join(str(p) for p in self.client or ()),
                    seconds=self.header_seconds if part == "headers" else self.body_seconds)
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:
            pass  # h11 is past the point of saying so; closing is what matters
        self.transport.close()

    def _within_capacity(self, app: ASGIApp) -> ASGIApp:
        async def within_capacity(scope: Scope, receive: Receive, send: Send) -> None:
            # Both counts include this request's own connection and task.
            if len(self.connections) > self.max_connections or len(self.tasks) > self.max_connections:
                await _too_busy(scope, send, self.max_connections)
                return
            await app(scope, receive, send)

        return within_capacity


def _cancelled(timer: asyncio.TimerHandle | None) -> None:
    if timer is not None:
        timer.cancel()


async def _too_busy(scope: Scope, send: Send, limit: int) -> None:
    problem = problems.Unavailable(f"this process is serving its limit of {limit} connections; "
                                   "try again in a moment")
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", problems.MEDIA_TYPE.encode()), (b"retry-after", b"1"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": json.dumps(problem.body(scope["path"])).encode()})
