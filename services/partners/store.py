"""The partners repository on MongoDB: one document per partner, its outbox inside it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.partners.domain import Partner, PartnerRegistered, PartnerType, Status
from shared.events import AnyEvent, EventType, make_event
from shared.outbox import AggregateCollection

SERVICE = "partners"


class DuplicateName(Exception):
    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class PartnerStore:
    def __init__(self, partners: AggregateCollection, names: Any) -> None:
        self.partners = partners
        # One claim document per (region, name): an insert keyed by _id is atomic on
        # MongoDB and FerretDB alike, unlike a unique index on a field.
        self.names = names

    async def get(self, partner_id: str) -> Partner | None:
        doc = await self.partners.get(partner_id)
        return _from_doc(doc) if doc else None

    async def add(self, partner: Partner) -> None:
        """Store a new partner and its events; ``DuplicateName`` if the name is taken in its region."""
        name_id = f"{partner.region}:{partner.name_key}"
        try:
            await self.names.insert_one({"_id": name_id, "partner_id": partner.id})
        except DuplicateKeyError:
            claim = await self.names.find_one({"_id": name_id})
            holder = claim["partner_id"] if claim else None
            if holder != partner.id and holder and await self.partners.get(holder) is not None:
                raise DuplicateName(holder) from None
            # The claim is ours already (a retried request) or was left by a write that never
            # happened (a crash between the two inserts): take it.
            await self.names.replace_one({"_id": name_id}, {"_id": name_id, "partner_id": partner.id})
        await self.partners.insert(_to_doc(partner), [_wire(partner, e) for e in partner.events])
        partner.events.clear()


def _to_doc(partner: Partner) -> dict[str, Any]:
    doc = {f.name: getattr(partner, f.name) for f in fields(partner) if f.name not in {"id", "events"}}
    doc["type"] = partner.type.value
    doc["status"] = partner.status.value
    return {"_id": partner.id, **doc}


def _from_doc(doc: dict[str, Any]) -> Partner:
    known = {f.name for f in fields(Partner)} - {"id", "events"}
    values = {k: v for k, v in doc.items() if k in known}
    values["type"] = PartnerType(values["type"])
    values["status"] = Status(values["status"])
    return Partner(id=doc["_id"], **values)


def snapshot(partner: Partner) -> dict[str, Any]:
    """The partner as the API and events show it."""
    data = {f.name: getattr(partner, f.name) for f in fields(partner) if f.name != "events"}
    return {**data, "type": partner.type.value, "status": partner.status.value}


def _wire(partner: Partner, event: object) -> AnyEvent:
    kind = {PartnerRegistered: EventType.PARTNER_REGISTERED}[type(event)]
    return make_event(
        kind,
        region=partner.region,
        service=SERVICE,
        subject=partner.id,
        version=partner.version,
        data=snapshot(partner),
    )
