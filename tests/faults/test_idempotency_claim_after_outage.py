"""A POST's idempotency claim that could not be forgotten because the store went away is forgotten
the moment the store is back. Before, it stayed "running" and every retry of the key was refused
409 for 30 s (CI: the two-process steady stream accepted no write in the 5 s after the store came
back, its writers all retrying such keys)."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymongo import AsyncMongoClient
from ulid import ULID

from shared.idempotency import IdempotencyKeys, _forget

pytestmark = pytest.mark.faults


async def test_a_claim_left_running_by_a_store_outage_is_forgotten_once_the_store_is_back(private_store):
    database = f"claims_{ULID()}".lower()
    client = AsyncMongoClient(private_store.url, tz_aware=True, serverSelectionTimeoutMS=1000)
    keys = IdempotencyKeys(client[database])
    try:
        await keys.collection.insert_one({"_id": "claim-1", "state": "running", "at": time.time()})
        await asyncio.to_thread(private_store.stop)
        await _forget(keys, "claim-1")  # the request failed with the store: its claim must go
        await asyncio.to_thread(private_store.start)

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and await keys.collection.find_one({"_id": "claim-1"}):
            await asyncio.sleep(0.2)
        assert await keys.collection.find_one({"_id": "claim-1"}) is None, (
            "the claim stayed 'running': every retry of its key is refused 409 until it is abandoned")
    finally:
        if not private_store.running():
            private_store.start()
        await client.drop_database(database)
        await client.close()
