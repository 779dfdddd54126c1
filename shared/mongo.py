"""One MongoDB client per process, PyMongo's async API (Motor reached end of life)."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, DeleteOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from shared.errors import Unavailable
from shared.settings import Settings

T = TypeVar("T")


def connect(settings: Settings, service: str) -> AsyncMongoClient:
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        appname=f"sinergi-{service}",
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        # Reads and writes after a dropped connection are retried once by the driver.
        retryWrites=True,
        retryReads=True,
    )


async def ping(client: AsyncMongoClient) -> bool:
    await client.admin.command("ping")
    return True


DUPLICATE_KEY = 11000  # the server's code for an insert whose ``_id`` (or unique key) is taken


# What FerretDB answers a statement in flight when it shuts down: the statement itself cancelled,
# or, for an update (a read then a write in one transaction), the transaction rolled back under it
# (seen in the steady-stream fault test, which then sent a ``scheduled`` event round the retry
# ladder and let the activity's ``cancelled`` overtake it).
_STOPPING = ("context canceled", "transaction has already been committed or rolled back", "sql: database is closed")


def stopping(exc: BaseException) -> bool:
    """The store cut a statement off because it is shutting down: the statement's transaction was
    rolled back, and the store is going away, as when unreachable."""
    return isinstance(exc, OperationFailure) and any(sign in str(exc) for sign in _STOPPING)


def busy(exc: BaseException) -> bool:
    """FerretDB on SQLite answers ``database is locked (SQLITE_BUSY)`` when writers collide; the
    refused statement was rolled back whole, so trying it again a moment later is safe."""
    return isinstance(exc, OperationFailure) and "database is locked" in str(exc)


async def when_free(write: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """Run a write, again after a short pause while the store reports it busy (the refused try
    wrote nothing); :class:`~shared.errors.Unavailable` if it stays busy."""
    for attempt in range(1, attempts + 1):
        try:
            return await write()
        except OperationFailure as exc:
            if not busy(exc) or attempt == attempts:
                if busy(exc):
                    raise Unavailable("the store is busy with other writes; nothing was changed, "
                                      "try again in a moment") from exc
                raise
            await asyncio.sleep(0.05 * 2 ** attempt)
    raise AssertionError("unreachable")


# --- writes conditioned on a document's version -------------------------------------------------
#
# On MongoDB a write filtered on ``{_id, version}`` is atomic and found through the ``_id`` index:
# it is the guard against a lost update between processes, and it is what runs there.
#
# FerretDB 1.24 on SQLite takes only a filter of ``_id`` alone to its database; any other filter
# it evaluates in Go over every document of the collection, so the same write costs time in
# proportion to the collection (150 ms at 3,000 documents of 1.5 KB, against 1.5 ms by ``_id``).
# Nor is it atomic there: FerretDB runs an update as a read, then a write by ``_id``. So on FerretDB
# the check is ours, the same read-then-write but with both steps by ``_id``, and what guards a
# write is the per-aggregate lock every caller holds in its process (shared/outbox.py); between
# processes the window is a round trip instead of FerretDB's own, and it was never closed there.

_filters_in_go: weakref.WeakKeyDictionary[AsyncMongoClient, bool] = weakref.WeakKeyDictionary()


async def filters_only_by_id(collection: AsyncCollection) -> bool:
    """Whether the server behind ``collection`` is FerretDB, which indexes a filter only on ``_id``."""
    client = collection.database.client
    if client not in _filters_in_go:
        info = await client.admin.command("buildInfo")
        _filters_in_go[client] = "ferretdbVersion" in info or "ferretdb" in info
    return _filters_in_go[client]


# FerretDB evaluates a filter other than ``_id`` alone, ``{_id: {$in: [...]}}`` included, in Go
# over every document of the collection: twenty documents by ``$in`` took 257 ms in a collection
# of 3,000 documents of 2 KB, twenty reads by ``_id`` at once 29 ms, and a bulk of deletes by
# ``_id`` 1 ms. So a set of documents known by id is read and deleted by ``_id`` one by one there.
BY_ID_AT_ONCE = 32


async def find_by_ids(collection: AsyncCollection, ids: Iterable[str],
                      projection: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The stored documents among ``ids`` (those missing are left out)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    if not await filters_only_by_id(collection):
        return await collection.find({"_id": {"$in": wanted}}, projection).to_list()
    found: list[dict[str, Any] | None] = []
    for start in range(0, len(wanted), BY_ID_AT_ONCE):
        found += await asyncio.gather(*(collection.find_one({"_id": doc_id}, projection)
                                        for doc_id in wanted[start:start + BY_ID_AT_ONCE]))
    return [doc for doc in found if doc is not None]


async def delete_by_ids(collection: AsyncCollection, ids: Iterable[str]) -> int:
    """Delete the documents with these ``_id``s in one bulk of deletes by ``_id``; how many were there."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return 0
    return (await collection.bulk_write([DeleteOne({"_id": doc_id}) for doc_id in wanted], ordered=False)).deleted_count


async def replace_at_version(collection: AsyncCollection, doc_id: str, version: int,
                             replacement: dict[str, Any]) -> bool:
    """Replace the document if it is still at ``version``; ``False`` (nothing written) if not."""
    if await filters_only_by_id(collection):
        if not await _at_version(collection, doc_id, version):
            return False
        return (await collection.replace_one({"_id": doc_id}, replacement)).matched_count == 1
    return (await collection.replace_one({"_id": doc_id, "version": version}, replacement)).matched_count == 1


async def update_at_version(collection: AsyncCollection, doc_id: str, version: int, update: dict[str, Any]) -> bool:
    """Apply ``update`` to the document if it is still at ``version``; ``False`` (nothing written) if not."""
    if await filters_only_by_id(collection):
        if not await _at_version(collection, doc_id, version):
            return False
        return (await collection.update_one({"_id": doc_id}, update)).matched_count == 1
    return (await collection.update_one({"_id": doc_id, "version": version}, update)).matched_count == 1


async def _at_version(collection: AsyncCollection, doc_id: str, version: int) -> bool:
    current = await collection.find_one({"_id": doc_id}, {"version": 1})
    return current is not None and current.get("version") == version


# A writer that read the document under a lock every writer of it holds (in this process; with
# several processes, the aggregate's write lease or the queue's single active consumer) knows the
# version it read is still the stored one, so on FerretDB it need not read it again: the write goes
# by ``_id`` alone, a round trip less (issue 15). On MongoDB the version stays in the filter, atomic
# and free. What this gives up on FerretDB: a write by a writer that does *not* hold that lock
# between the read and this write goes unnoticed (docs/reliability.md, "Known limits").

async def _where_read(collection: AsyncCollection, doc_id: str, version: int) -> dict[str, Any]:
    return {"_id": doc_id} if await filters_only_by_id(collection) else {"_id": doc_id, "version": version}


async def replace_read_under_lock(collection: AsyncCollection, doc_id: str, version: int,
                                  replacement: dict[str, Any]) -> bool:
    """Replace a document read at ``version`` under the lock still held; ``False`` if it is gone (or,
    on MongoDB, no longer at ``version``)."""
    where = await _where_read(collection, doc_id, version)
    return (await collection.replace_one(where, replacement)).matched_count == 1


async def update_read_under_lock(collection: AsyncCollection, doc_id: str, version: int,
                                 update: dict[str, Any]) -> bool:
    """:func:`replace_read_under_lock` for an update."""
    where = await _where_read(collection, doc_id, version)
    return (await collection.update_one(where, update)).matched_count == 1


class WhenBack:
    """Writes that failed because the store went away, tried again in the background until the
    store answers (or ``seconds`` pass, after which what they undo undoes itself): a claim or lease
    its live holder could not let go would otherwise keep others waiting until it runs out."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, write: Callable[[], Awaitable[Any]], seconds: float, name: str) -> None:
        async def again() -> None:
            delay, until = 0.1, time.monotonic() + seconds
            while time.monotonic() < until:
                await asyncio.sleep(delay)
                try:
                    await write()
                    return
                except PyMongoError:
                    delay = min(delay * 2, 1.0)

        task = asyncio.get_running_loop().create_task(again(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def take_over(collection: AsyncCollection, key: str, token: str, seconds: float) -> bool:
    """Free the claim ``key`` left by a holder (``token``) that died, if this caller is the one
    process to do it in this window of ``seconds``: it first inserts ``<key>#<token>@<window>``,
    which only one can. A taker cut off between that insert and the delete (killed, or the store
    went away) leaves its marker behind; the next window's taker goes on from there. With one
    marker per claim, such a marker kept the claim from everyone for good."""
    marker = f"{key}#{token}@{int(time.time() // seconds)}"
    try:
        await collection.insert_one({"_id": marker, "at": time.time()})
    except DuplicateKeyError:
        return False  # another process is taking it over
    await collection.delete_one({"_id": key, "token": token})
    await collection.delete_one({"_id": marker})
    return True
