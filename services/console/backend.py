"""The three services over HTTP, on behalf of the person signed in.

Each call carries a token minted for that person (``sub`` = user id, ``name`` = display name,
their role and regions, valid ``token_seconds``), so the services check their rights and record
them as the actor of every change, and the request id as ``X-Request-ID``, so the console's log
line and the services' share one correlation id. A refusal comes back as :class:`Refused`, with
the service's field errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from services.console.accounts import User
from shared.auth import mint
from shared.logging import correlation_id


@dataclass
class Refused(Exception):
    """A service said no: its status, its detail, and the fields at fault (problem+json ``errors``)."""

    status: int
    detail: str
    errors: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail

    @classmethod
    def of(cls, response: httpx.Response) -> Refused:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        errors = {str(e.get("field", "")): str(e.get("message", "")) for e in body.get("errors") or []
                  if isinstance(e, dict)}
        known = {"type", "title", "status", "detail", "instance", "errors", "request_id"}
        facts = {k: v for k, v in body.items() if k not in known}
        return cls(response.status_code, str(body.get("detail") or response.reason_phrase), errors, facts)


class Unreachable(Refused):
    pass


class Services:
    """One pooled HTTP client per service; :meth:`as_user` gives the calls of one person."""

    def __init__(self, urls: dict[str, str], secret: str, region: str, token_seconds: int,
                 timeout: float = 10.0, transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> None:
        self.secret = secret
        self.region = region
        # Counts the changes made through this console, so what it keeps of the figures is read
        # afresh after someone here changed something (pages/home.py).
        self.changes = 0
        self.token_ttl = timedelta(seconds=token_seconds)
        transports = transports or {}
        self.clients = {name: httpx.AsyncClient(base_url=url, timeout=timeout, transport=transports.get(name))
                        for name, url in urls.items()}

    def as_user(self, user: User, language: str = "id") -> Calls:
        return Calls(self, user, language)

    def token(self, user: User) -> str:
        return mint(self.secret, sub=user.id, role=user.role.value, regions=user.regions or [self.region],
                    ttl=self.token_ttl, name=user.name)

    def answering(self, name: str, timeout: float = 2.0):  # noqa: ANN201 - a readiness check
        """A check for ``/readyz``: the service answers its ``/healthz``."""

        async def check() -> bool:
            try:
                return (await self.clients[name].get("/healthz", timeout=timeout)).status_code == 200
            except httpx.HTTPError:
                return False

        return check

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


@dataclass
class Calls:
    services: Services
    user: User
    language: str = "id"  # the services word their refusals and warnings in it (Accept-Language)

    async def call(self, service: str, method: str, path: str, *, version: int | None = None,
                   **options: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.services.token(self.user)}", "Accept-Language": self.language,
                   **options.pop("headers", {})}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        if (request_id := correlation_id.get()) is not None:
            headers["X-Request-ID"] = request_id
        try:
            response = await self.services.clients[service].request(method, path, headers=headers, **options)
        except httpx.HTTPError as exc:
            raise Unreachable(503, f"{service} does not answer ({type(exc).__name__}); try again in a moment") from exc
        if response.status_code >= 400:
            raise Refused.of(response)
        if method != "GET":
            self.services.changes += 1
        return response

    async def get(self, service: str, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "", [])}
        return (await self.call(service, "GET", path, params=clean)).json()

    async def send(self, service: str, method: str, path: str, body: Any = None, version: int | None = None) -> Any:
        response = await self.call(service, method, path, json=body, version=version)
        return response.json() if response.content else None
