"""What a sync FastAPI dependency costs against an async one: the thread-pool hop (issue 15).

Manual, not part of the test suite; in-process, no servers::

    .venv/bin/python bench/dependencies.py [--requests 3000]

One app, two routes with the dependencies a typical write route of ours has (the role check, two
``wired`` services, the reader's language): one route with them as plain ``def`` (FastAPI runs each
in its thread pool), one with them as ``async def`` (what shared/auth.py, shared/web.py and the
services' api.py use since issue 15). Requests go through httpx's ASGI transport one after another;
printed: the median of 5 runs of wall and CPU time per request for each, and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request


def sync_role(request: Request) -> str:
    return request.headers.get("x-role", "viewer")


def sync_wired(request: Request) -> object:
    return request.app.state.thing


def sync_wired_too(request: Request) -> object:
    return request.app.state.thing


def sync_language(request: Request) -> str:
    return request.headers.get("accept-language", "id")


async def async_role(request: Request) -> str:
    return request.headers.get("x-role", "viewer")


async def async_wired(request: Request) -> object:
    return request.app.state.thing


async def async_wired_too(request: Request) -> object:
    return request.app.state.thing


async def async_language(request: Request) -> str:
    return request.headers.get("accept-language", "id")


app = FastAPI()
app.state.thing = object()


@app.post("/sync")
async def with_sync(role: Annotated[str, Depends(sync_role)], a: Annotated[object, Depends(sync_wired)],
                    b: Annotated[object, Depends(sync_wired_too)],
                    language: Annotated[str, Depends(sync_language)]) -> dict[str, str]:
    return {"role": role, "language": language}


@app.post("/async")
async def with_async(role: Annotated[str, Depends(async_role)], a: Annotated[object, Depends(async_wired)],
                     b: Annotated[object, Depends(async_wired_too)],
                     language: Annotated[str, Depends(async_language)]) -> dict[str, str]:
    return {"role": role, "language": language}


async def run(path: str, requests: int) -> tuple[float, float]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for _ in range(50):
            await client.post(path)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            await client.post(path)
        return ((time.perf_counter() - wall) * 1000 / requests, (time.process_time() - cpu) * 1000 / requests)


async def main(requests: int) -> None:
    figures: dict[str, list[tuple[float, float]]] = {"/sync": [], "/async": []}
    for _ in range(5):
        for path in figures:
            figures[path].append(await run(path, requests))
    for path, found in figures.items():
        print(f"{path:7} wall {statistics.median(w for w, _ in found):.3f} ms, "
              f"CPU {statistics.median(c for _, c in found):.3f} ms a request")
    saved = [statistics.median(x[i] for x in figures["/sync"]) - statistics.median(x[i] for x in figures["/async"])
             for i in (0, 1)]
    print(f"four async dependencies instead of sync: {saved[0]:.3f} ms wall, {saved[1]:.3f} ms CPU less a request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    asyncio.run(main(parser.parse_args().requests))
