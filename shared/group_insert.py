"""Inserts that concurrent callers make into one collection, written together (a group commit).

A consumer handles several messages at once (its prefetch) and each records that it processed its
event; the relay's workers each log the events they published. One ``insert_many`` for what has
come in meanwhile costs the store one round trip instead of one each (FerretDB serialises writes to
a database anyway). Nothing waits for a batch to fill: the first document is written at once, and
what arrives while that write is in flight goes in the next one, so a quiet service writes as
before and a busy one writes less often. Each caller still learns its own document's fate: stored,
already there (a duplicate ``_id``), or the error, before it goes on (a consumer acks only then).

A caller that need not learn it at once (a consumer recording an event whose effect is done, before
it acks; a copy of another service's aggregate stored for the first time) can let the first document
wait ``linger`` seconds for others: events that come a few milliseconds apart, each alone in flight,
then share a write too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, OperationFailure

from shared.mongo import DUPLICATE_KEY

# How long a document whose writer need not learn its fate at once waits for others (``linger``):
# events a few ms apart (a staff member's requests one after another, a paced stream) each came
# alone otherwise, a store round trip each (issue 15).
LINGER = 0.05


class GroupInsert:
    """``await insert(doc)`` → ``True`` once stored, ``False`` if its ``_id`` was there already."""

    def __init__(self, collection: AsyncCollection, most: int = 500, name: str | None = None,
                 linger: float = 0.0) -> None:
        self.collection = collection
        self.most = most  # documents in one insert_many
        self.linger = linger
        # Its writer task's name: the relay's is ``outbox-…``, as bench/costs.py tells the relay's
        # store commands from a request's by it.
        self.name = name or f"group-insert-{collection.name}"
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._unsettled: dict[Any, asyncio.Future[bool]] = {}  # by ``_id``: waiting or being written

    async def insert(self, document: dict[str, Any]) -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((document, done))
        key = document["_id"]
        self._unsettled[key] = done
        done.add_done_callback(lambda _: self._settle(key, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name=self.name)
        return await done

    async def settled(self, ids: Iterable[Any] | None = None) -> None:
        """Wait until the documents of these ``_id``s (of any, for ``None``) that wait or are being
        written are stored or refused: a read after it finds what this process inserted before it,
        lingering or not."""
        unsettled = self._unsettled
        futures = list(unsettled.values()) if ids is None else [unsettled[i] for i in ids if i in unsettled]
        if futures:
            await asyncio.wait(futures)  # not cancelled with the reader: their inserters wait for them

    def _settle(self, key: Any, done: asyncio.Future[bool]) -> None:
        if self._unsettled.get(key) is done:
            del self._unsettled[key]

    async def insert_new(self, documents: list[dict[str, Any]]) -> set[str]:
        """Insert those not stored yet (keyed by ``_id``); the ids inserted. They go in one batch."""
        stored = await asyncio.gather(*(self.insert(document) for document in documents))
        return {document["_id"] for document, new in zip(documents, stored, strict=True) if new}

    async def _write_all(self) -> None:
        batch: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        try:
            if self.linger:
                await asyncio.sleep(self.linger)
            while self._waiting:
                batch, self._waiting = self._waiting[: self.most], self._waiting[self.most:]
                await self._write(batch)
        except asyncio.CancelledError:  # stopped with the service: nobody waits forever
            for _, done in [*batch, *self._waiting]:
                done.cancel()
            self._waiting = []
            raise

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        refused: dict[int, dict[str, Any]] = {}
        try:
            await self.collection.insert_many([document for document, _ in batch], ordered=False)
        except BulkWriteError as exc:
            refused = {error["index"]: error for error in exc.details.get("writeErrors", [])}
        except Exception as exc:  # the store busy or away: every caller sees it, as on its own insert
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for index, (_, done) in enumerate(batch):
            if done.done():  # its caller was cancelled meanwhile
                continue
            error = refused.get(index)
            if error is None:
                done.set_result(True)
            elif error.get("code") == DUPLICATE_KEY:
                done.set_result(False)
            else:
                done.set_exception(OperationFailure(error.get("errmsg", "insert refused"), error.get("code")))
