"""Two processes of one service writing one aggregate on the embedded store (issue 15 point 3).

FerretDB runs a version-conditioned write as a read then a write, so two processes that both read
version n can both write version n+1: one change is lost. Each "process" here is a client and an
:class:`AggregateCollection` of its own (its own in-process locks); with :class:`WriteLeases`
(what ``SINERGI_PROCESSES`` over 1 turns on) every change is kept."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from shared.outbox import AggregateCollection, StaleVersion, WriteLeases
from tests.integration.test_outbox import _event


async def _add_one(partners: AggregateCollection, aggregate_id: str) -> None:
    while True:
        async with partners.lock(aggregate_id):
            doc = await partners.get(aggregate_id)
            version = doc["version"]
            try:
                await partners.replace({"_id": aggregate_id, "version": version + 1, "count": doc["count"] + 1},
                                       version, [_event(aggregate_id, version + 1, f"n{version + 1}")],
                                       pending=doc["_outbox"])
                return
            except StaleVersion:
                continue


async def test_changes_from_two_processes_are_all_kept_with_leases(settings, servers):
    clients = [AsyncMongoClient(servers.mongodb_url, tz_aware=True) for _ in range(2)]
    try:
        db = [client[settings.database_name("t")] for client in clients]
        processes = [AggregateCollection(d["partners"], leases=WriteLeases(d["write_leases"])) for d in db]
        await processes[0].insert({"_id": "p1", "version": 1, "count": 0}, [])
        await asyncio.gather(*(_add_one(processes[n % 2], "p1") for n in range(40)))
        stored = await processes[0].get("p1")
        assert (stored["count"], stored["version"]) == (40, 41), "a change was lost between the processes"
        assert sorted(e["id"] for e in stored["_outbox"]) == sorted({e["id"] for e in stored["_outbox"]})
        assert len(stored["_outbox"]) == 40, "every change's event is in the outbox"
        assert await db[0]["write_leases"].count_documents({}) == 0, "every lease was let go"
    finally:
        for client in clients:
            await client.close()


async def test_a_lease_left_by_a_dead_process_is_taken_over(settings, mongo):
    leases = WriteLeases(mongo[settings.database_name("t")]["write_leases"])
    await leases.collection.insert_one({"_id": "partners:p1", "token": "dead", "until": time.time() - 1})
    async with asyncio.timeout(5):
        async with leases.hold("partners:p1"):
            held = await leases.collection.find_one({"_id": "partners:p1"})
            assert held["token"] != "dead"
    assert await leases.collection.count_documents({}) == 0


class _AnswerLost:
    """The leases' collection, where the store applies the first insert and the connection goes
    before its answer (a store stopped mid-write: the insert may or may not have been applied)."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.cut = False

    async def insert_one(self, document: dict[str, Any]) -> Any:
        result = await self.collection.insert_one(document)
        if not self.cut:
            self.cut = True
            raise AutoReconnect("connection closed")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)


async def test_a_lease_whose_insert_lost_its_answer_is_let_go_once_the_store_answers(settings, mongo):
    collection = mongo[settings.database_name("t")]["write_leases"]
    cut = WriteLeases(_AnswerLost(collection))
    with pytest.raises(AutoReconnect):
        async with cut.hold("deliveries:d1"):
            pytest.fail("the write went on without knowing whether it held the lease")
    other = WriteLeases(collection)  # another process, or this one's next write of the aggregate
    try:
        async with asyncio.timeout(5):  # not the lease's 30 s
            async with other.hold("deliveries:d1"):
                pass
    except TimeoutError:
        raise AssertionError("the lease whose answer was lost kept the aggregate from every writer") from None
