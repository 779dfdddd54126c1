"""This service's own copy of the partner registry, built only from partner events.

Each partner is one document keyed by its id, holding the newest snapshot seen. An event
is applied only when its ``aggregateversion`` is newer than the stored one, so replays,
duplicates and out-of-order deliveries leave the copy correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


@dataclass(frozen=True)
class KnownPartner:
    id: str
    name: str
    status: str
    version: int
    segments: list[str]
    district: str | None
    updated_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


class PartnerReplica:
    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def apply(self, partner_id: str, version: int, snapshot: dict[str, Any]) -> bool:
        """Store the snapshot if it is newer than what we hold; True when it changed the copy."""
        doc = {
            "_id": partner_id,
            "version": version,
            "name": snapshot.get("name", ""),
            "status": snapshot.get("status", "active"),
            "segments": snapshot.get("segments", []),
            "district": snapshot.get("district"),
            "updated_at": snapshot.get("updated_at"),
        }
        try:
            await self.collection.insert_one(doc)
            return True
        except DuplicateKeyError:
            result = await self.collection.replace_one({"_id": partner_id, "version": {"$lt": version}}, doc)
            return result.modified_count == 1

    async def get(self, partner_id: str) -> KnownPartner | None:
        doc = await self.collection.find_one({"_id": partner_id})
        if doc is None:
            return None
        return KnownPartner(
            id=doc["_id"], name=doc["name"], status=doc["status"], version=doc["version"],
            segments=doc.get("segments", []), district=doc.get("district"), updated_at=None,
        )
