"""This service's own copy of the partner registry, built only from partner events.

Each partner is one document keyed by its id, holding the newest snapshot seen. An event
is applied only when its ``aggregateversion`` is newer than the stored one, so replays,
duplicates and out-of-order deliveries leave the copy correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.pagination import page

ACTIVE = "active"


@dataclass(frozen=True)
class KnownPartner:
    id: str
    name: str
    status: str
    version: int
    type: str | None
    segments: list[str]
    district: str | None

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "version": self.version,
                "type": self.type, "segments": self.segments, "district": self.district}


class PartnerReplica:
    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def apply(self, partner_id: str, version: int, snapshot: dict[str, Any]) -> bool:
        """Store the snapshot if it is newer than what we hold; True when it changed the copy."""
        doc = {
            "_id": partner_id,
            "version": version,
            "name": snapshot.get("name", ""),
            "type": snapshot.get("type"),
            "status": snapshot.get("status", ACTIVE),
            "segments": list(snapshot.get("segments") or []),
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
        return _known(doc) if doc else None

    async def many(self, partner_ids: list[str] | set[str]) -> dict[str, KnownPartner]:
        """The known ones among ``partner_ids`` (a lookup by ``_id``, the indexed field)."""
        ids = list(dict.fromkeys(partner_ids))
        if not ids:
            return {}
        found = await self.collection.find({"_id": {"$in": ids}}).to_list(length=None)
        return {doc["_id"]: _known(doc) for doc in found}

    async def page(self, status: str | None, limit: int, cursor: str | None) -> tuple[list[KnownPartner], str | None]:
        docs, next_cursor = await page(self.collection, {"status": status} if status else {}, limit, cursor)
        return [_known(doc) for doc in docs], next_cursor


def _known(doc: dict[str, Any]) -> KnownPartner:
    return KnownPartner(
        id=doc["_id"], name=doc.get("name", ""), status=doc.get("status", ACTIVE), version=doc["version"],
        type=doc.get("type"), segments=list(doc.get("segments") or []), district=doc.get("district"),
    )
