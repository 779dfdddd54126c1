"""A plain ASGI middleware that sees HTTP requests only (lifespan and other scopes pass through).

Plain, not Starlette's ``BaseHTTPMiddleware``: that one reads the body in another task and wraps
errors raised while reading it (413, NUL) in an exception group.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
