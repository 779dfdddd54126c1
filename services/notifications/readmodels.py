"""Read models of partners (and, later, activities) built only from their events."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


class Snapshots:
    """The newest snapshot of each aggregate seen, applied in ``aggregateversion`` order."""

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def apply(self, aggregate_id: str, version: int, snapshot: dict[str, Any]) -> bool:
        doc = {**snapshot, "_id": aggregate_id, "version": version}
        try:
            await self.collection.insert_one(doc)
            return True
        except DuplicateKeyError:
            result = await self.collection.replace_one({"_id": aggregate_id, "version": {"$lt": version}}, doc)
            return result.modified_count == 1

    async def get(self, aggregate_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": aggregate_id})
