"""A write lease held when the store stopped is let go as soon as the store is back (issue 15,
several processes per service). Before, the holder's release failed with the store and the lease
ran out on its own, 30 s later: every process waited that long for the aggregate (CI: the
two-process steady stream accepted no write in the 5 s after the store came back)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect, PyMongoError
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


class _StopsTheStoreOnDelete:
    """A process's lease collection whose first delete finds the store stopped (really stopped):
    a takeover cut off between its marker and its delete, as a kill or an outage would leave it."""

    def __init__(self, collection, store) -> None:
        self._collection, self._store = collection, store

    def __getattr__(self, name):
        return getattr(self._collection, name)

    async def delete_one(self, *args, **kwargs):
        if self._store.running():
            await asyncio.to_thread(self._store.stop)
        return await self._collection.delete_one(*args, **kwargs)


async def test_a_lease_whose_takeover_was_cut_off_is_taken_over_again(private_store):
    """Before, the cut-off taker's marker stayed, and no process could ever take the lease over:
    the aggregate (in the two-process steady stream, an e-mail) waited for good."""
    database = f"lease_{ULID()}".lower()
    taker_client = AsyncMongoClient(private_store.url, tz_aware=True, serverSelectionTimeoutMS=1000)
    other_client = AsyncMongoClient(private_store.url, tz_aware=True, serverSelectionTimeoutMS=5000)
    taker = WriteLeases(_StopsTheStoreOnDelete(taker_client[database]["write_leases"], private_store))
    other = WriteLeases(other_client[database]["write_leases"])
    taker.SECONDS = other.SECONDS = 2.0
    try:
        # Left by a process killed while it held the lease, long run out.
        await other.collection.insert_one({"_id": "deliveries:D1", "token": "killed", "until": time.time() - 60})
        with pytest.raises(PyMongoError):
            async with taker.hold("deliveries:D1"):
                pass
        await asyncio.to_thread(private_store.start)
        with contextlib.suppress(AutoReconnect):  # the other process's pooled connection died with the store
            await other_client.admin.command("ping")

        began = time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15), other.hold("deliveries:D1"):
                pass
        waited = time.monotonic() - began
        assert waited < 15, "no process could take over a lease whose first takeover was cut off"
    finally:
        if not private_store.running():
            private_store.start()
        await other_client.drop_database(database)
        await taker_client.close()
        await other_client.close()
