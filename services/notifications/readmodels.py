"""Read models of partners, activities and election targets, built only from their events."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.locks import KeyedLocks
from shared.mongo import replace_at_version


class Applied(StrEnum):
    NEWER = "newer"  # the event moved the model forward: its effects are new
    SAME = "same"  # this version was applied before (a redelivery): effects are re-run idempotently
    STALE = "stale"  # an older version than the model holds: no effects


class Snapshots:
    """The newest snapshot of each aggregate seen, applied in ``aggregateversion`` order."""

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection
        self._locks = KeyedLocks()

    def lock(self, aggregate_id: str) -> asyncio.Lock:
        """Serialises the handling of one aggregate's events inside the process."""
        return self._locks(aggregate_id)

    async def apply(self, aggregate_id: str, version: int, snapshot: dict[str, Any]) -> tuple[Applied, dict[str, Any] | None]:
        """Store ``snapshot`` unless a newer one is known; returns the outcome and the previous one.

        The stored document remembers the status it replaced (``_previous_status``), so a
        redelivered event can still tell what it changed.
        """
        doc = {**snapshot, "_id": aggregate_id, "id": aggregate_id, "version": version}
        while True:
            previous = await self.get(aggregate_id)
            if previous is None:
                try:
                    await self.collection.insert_one({**doc, "_previous_status": None})
                    return Applied.NEWER, None
                except DuplicateKeyError:
                    continue
            if previous["version"] > version:
                return Applied.STALE, previous
            if previous["version"] == version:
                return Applied.SAME, previous
            if await replace_at_version(self.collection, aggregate_id, previous["version"],
                                        {**doc, "_previous_status": previous.get("status")}):
                return Applied.NEWER, previous

    async def get(self, aggregate_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": aggregate_id})

    async def find(self, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return await self.collection.find(query or {}).to_list()
