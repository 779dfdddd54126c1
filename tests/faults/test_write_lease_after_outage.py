"""A write lease held when the store stopped is let go as soon as the store is back (issue 15,
several processes per service). Before, the holder's release failed with the store and the lease
ran out on its own, 30 s later: every process waited that long for the aggregate (CI: the
two-process steady stream accepted no write in the 5 s after the store came back)."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from ulid import ULID

from shared.outbox import WriteLeases

pytestmark = pytest.mark.faults


async def test_a_lease_held_when_the_store_stopped_is_let_go_once_it_is_back(private_store):
    database = f"lease_{ULID()}".lower()
    holder_client = AsyncMongoClient(private_store.url, tz_aware=True, serverSelectionTimeoutMS=1000)
    other_client = AsyncMongoClient(private_store.url, tz_aware=True, serverSelectionTimeoutMS=5000)
    holder = WriteLeases(holder_client[database]["write_leases"])  # one process of a service
    other = WriteLeases(other_client[database]["write_leases"])  # and another
    try:
        with pytest.raises(PyMongoError):
            async with holder.hold("activities:A1"):
                await asyncio.to_thread(private_store.stop)
                await holder_client[database]["activities"].insert_one({"_id": "A1"})  # fails: store away
        await asyncio.to_thread(private_store.start)

        began = time.monotonic()
        async with asyncio.timeout(10):
            async with other.hold("activities:A1"):
                waited = time.monotonic() - began
        assert waited < 10, f"the other process waited {waited:.1f} s for a lease nobody holds"
    finally:
        if not private_store.running():
            private_store.start()
        await holder_client.drop_database(database)
        await holder_client.close()
        await other_client.close()
