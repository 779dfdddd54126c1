"""The benchmarks' HTTP clients: aiohttp's (the default) or httpx's, behind one ``send``.

On this 2-core machine the client shares the CPU with the services it measures: httpx's pool of
50 connections cost ~3.1 ms of CPU a request, aiohttp's ~0.3 ms (bench/load.py, 2026-12-07).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx

Answer = tuple[int, Any]  # the status and the JSON answer, if any
# (method, path, JSON body or None, query or None) → (status, JSON answer or None); raises OSError or
# the client's own error on a transport failure.
Send = Callable[[str, str, Any, dict[str, str] | None], Awaitable[Answer]]


class Clients:
    """One HTTP client library's session per service, ``clients`` connections each."""

    def __init__(self, kind: str, urls: dict[str, str], headers: dict[str, str], clients: int) -> None:
        self.kind = kind
        if kind == "aiohttp":
            self.sessions: dict[str, Any] = {
                name: aiohttp.ClientSession(base_url=url, headers=headers, timeout=aiohttp.ClientTimeout(30),
                                            connector=aiohttp.TCPConnector(limit=clients))
                for name, url in urls.items()}
            self.errors: tuple[type[Exception], ...] = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
        else:
            self.sessions = {name: httpx.AsyncClient(base_url=url, headers=headers, timeout=30,
                                                     limits=httpx.Limits(max_connections=clients))
                             for name, url in urls.items()}
            self.errors = (httpx.HTTPError, OSError)

    def send(self, service: str) -> Send:
        session = self.sessions[service]

        async def send(method: str, path: str, body: Any = None,
                       query: dict[str, str] | None = None) -> tuple[int, Any]:
            if self.kind == "aiohttp":
                async with session.request(method, path, json=body, params=query) as response:
                    raw = await response.read()
                    return response.status, json.loads(raw) if raw else None
            response = await session.request(method, path, json=body, params=query)
            return response.status_code, response.json() if response.content else None

        return send

    async def close(self) -> None:
        for session in self.sessions.values():
            await (session.close() if self.kind == "aiohttp" else session.aclose())
