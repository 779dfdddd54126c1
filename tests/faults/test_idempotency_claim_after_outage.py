"""A POST's idempotency claim that could not be let go because the store went away is let go the
moment the store is back: forgotten after a refusal, reopened after a failure. Before, it stayed
"running" and every retry of the key was refused 409 for 30 s (CI: the two-process steady stream
accepted no write in the 5 s after the store came back, its writers all retrying such keys)."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymongo import AsyncMongoClient
from ulid import ULID

from shared.idempotency import IdempotencyKeys, _forget, _reopen

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("let_go, left", [(_forget, None), (_reopen, "open")])
async def test_a_claim_left_running_by_a_store_outage_is_let_go_once_the_store_is_back(private_store, let_go, left):
    database = f"claims_{ULID()}".lower()
    client = AsyncMongoClient(private_store.url, tz_aware=True, serverSelectionTimeoutMS=1000)
    keys = IdempotencyKeys(client[database])
    try:
        await keys.collection.insert_one({"_id": "claim-1", "state": "running", "at": time.time()})
        await asyncio.to_thread(private_store.stop)
        await let_go(keys, "claim-1")  # the request was refused, or failed, with the store away
        await asyncio.to_thread(private_store.start)

        async def state() -> str | None:
            found = await keys.collection.find_one({"_id": "claim-1"})
            return found and found["state"]

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and await state() != left:
            await asyncio.sleep(0.2)
        assert await state() == left, "the claim stayed 'running': every retry of its key is refused 409 for 30 s"
    finally:
        if not private_store.running():
            private_store.start()
        await client.drop_database(database)
        await client.close()
