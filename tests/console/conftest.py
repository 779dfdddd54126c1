"""The console with the three services in this process (integration), or all four as processes
on ports a browser can open (the browser tests, ``-m browser``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.console.accounts import User
from services.console.config import ConsoleSettings
from services.console.handlers import CONSOLE
from services.console.main import build
from shared.settings import Settings
from tests.conftest import running

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "rahasia-yang-panjang"


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@dataclass
class Console:
    app: Any
    services: dict[str, httpx.AsyncClient]
    transport: httpx.ASGITransport
    service_apps: dict[str, Any] = field(default_factory=dict)

    def browser(self) -> httpx.AsyncClient:
        """A fresh 'browser': its own cookie jar."""
        return httpx.AsyncClient(transport=self.transport, base_url="http://console.test")

    async def user(self, email: str, role: str = "operator", name: str | None = None,
                   password: str = PASSWORD) -> User:
        return await self.app.state.accounts.add(CONSOLE, email, name or email.split("@")[0].title(), role,
                                                 None, password)

    async def signed_in(self, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
        client = self.browser()
        answer = await login(client, email, password)
        assert answer.status_code == 303, answer.text[:500]
        return client


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/masuk")
    return await client.post("/masuk", data={"csrf": csrf_of(page.text), "email": email, "password": password,
                                              "next": "/"})


async def post_form(client: httpx.AsyncClient, page_path: str, action: str, data: dict[str, Any],
                    **options: Any) -> httpx.Response:
    """Open the page, then submit its form as a browser would, with the page's CSRF token."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text[:500]
    return await client.post(action, data={"csrf": csrf_of(page.text), **data}, **options)


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[Console]:
    async with AsyncExitStack() as stack:
        apps, clients = {}, {}
        for name in ("partners", "activities", "notifications"):
            apps[name], clients[name] = await stack.enter_async_context(running(name, settings))
        transports = {name: httpx.ASGITransport(app=app) for name, app in apps.items()}
        app = build(settings, ConsoleSettings(login_failures_per_account=3), transports)
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield Console(app, clients, httpx.ASGITransport(app=app, raise_app_exceptions=False), apps)
