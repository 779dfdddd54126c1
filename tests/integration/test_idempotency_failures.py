"""A POST that failed after its write was stored, retried under its Idempotency-Key, on the real store.

The store can apply a write and lose the connection before answering (the steady stream's store
restart did): the service answers 503, and the client retries. The retry must reach the resource the
first attempt made, not make a second (CI: the two-process steady stream had one activity twice).
"""

from __future__ import annotations

import contextlib
from contextlib import asynccontextmanager

import httpx
from fastapi import Request
from pymongo.errors import AutoReconnect, DuplicateKeyError, ServerSelectionTimeoutError

from shared.idempotency import IdempotencyKeys, resource_id
from shared.web import create_app
from tests.conftest import auth


@asynccontextmanager
async def _nothing(app):
    yield


async def test_a_create_stored_before_it_failed_is_not_made_again_by_its_retry(settings, mongo):
    db = mongo[settings.database_name("idem")]
    app = create_app(settings, "probe", _nothing)
    app.state.idempotency = IdempotencyKeys(db)
    tried: list[str] = []

    @app.post("/things", status_code=201)
    async def make(request: Request) -> dict[str, str]:
        thing_id = resource_id(request)
        tried.append(thing_id)
        with contextlib.suppress(DuplicateKeyError):  # a retry of a create that was stored: that one
            await db["things"].insert_one({"_id": thing_id})
        if len(tried) == 1:  # the store applied the insert, and the connection went before its answer
            raise AutoReconnect("connection closed")
        return {"id": thing_id}

    headers = {**auth(), "Idempotency-Key": "sekali-saja"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        failed = await client.post("/things", json={"title": "Sosialisasi keliling"}, headers=headers)
        assert failed.status_code == 503, failed.text
        retried = await client.post("/things", json={"title": "Sosialisasi keliling"}, headers=headers)
        assert retried.status_code == 201, "a retry after a failure runs again at once (no 409 to wait out)"
        assert retried.json()["id"] == tried[0], "the retry made a second resource"
        assert await db["things"].count_documents({}) == 1
        again = await client.post("/things", json={"title": "Sosialisasi keliling"}, headers=headers)
        assert again.headers.get("idempotent-replayed") == "true" and again.json() == retried.json()


async def test_a_503_says_nothing_was_changed_only_when_that_is_known(settings, mongo):
    """The store applied the write and the connection broke before its answer: the client must not
    be told that nothing was changed (it then wrote the record again by hand, under a new key)."""
    db = mongo[settings.database_name("idem")]
    app = create_app(settings, "probe", _nothing)
    app.state.idempotency = IdempotencyKeys(db)

    @app.post("/things", status_code=201)
    async def make(request: Request) -> dict[str, str]:
        await db["things"].insert_one({"_id": resource_id(request)})
        raise AutoReconnect("connection closed")

    @app.post("/unreachable", status_code=201)
    async def unreachable() -> dict[str, str]:
        raise ServerSelectionTimeoutError("no server")  # nothing was sent to the store

    @app.get("/things")
    async def read() -> dict[str, str]:
        raise AutoReconnect("connection closed")

    headers = {**auth(), "Accept-Language": "id"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        cut = await client.post("/things", json={}, headers={**headers, "Idempotency-Key": "terputus"})
        assert cut.status_code == 503 and cut.headers["retry-after"] == "5"
        assert await db["things"].count_documents({}) == 1  # it was saved
        assert "tidak ada yang diubah" not in cut.json()["detail"]
        assert "mungkin sudah tersimpan" in cut.json()["detail"]
        assert "Idempotency-Key yang sama" in cut.json()["detail"]
        for refused in (await client.post("/unreachable", json={}, headers=headers),
                        await client.get("/things", headers=headers)):
            assert refused.status_code == 503
            assert refused.json()["detail"].startswith("basis data tidak dapat dihubungi; tidak ada yang diubah")
