"""The partners repository on MongoDB: one document per partner, its outbox inside it.

Names are unique per region through claim documents in ``partner_names`` keyed by
``<region>:<name key>``: an insert keyed by ``_id`` is atomic on MongoDB and FerretDB alike.
A partner document also carries ``name_key`` and ``district_key`` (lower-cased) for
filters; they never leave the store.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.partners.domain import (
    Agreement,
    AgreementSigned,
    Channel,
    ChannelKind,
    Contact,
    DocType,
    Partner,
    PartnerArchived,
    PartnerEvent,
    PartnerReactivated,
    PartnerRegistered,
    PartnerSuspended,
    PartnerType,
    PartnerUpdated,
    Segment,
    Status,
    StatusChange,
    fold,
)
from shared.events import AnyEvent, EventType, make_event
# ``_entry`` is the outbox entry AggregateCollection.insert writes; add_many needs it until
# AggregateCollection offers a bulk insert of its own.
from shared.outbox import OUTBOX, PENDING, AggregateCollection, _entry
from shared.pagination import page

SERVICE = "partners"
HIDDEN = {OUTBOX: 0, PENDING: 0, "name_key": 0, "district_key": 0}

EVENT_TYPES: dict[type[PartnerEvent], EventType] = {
    PartnerRegistered: EventType.PARTNER_REGISTERED,
    PartnerUpdated: EventType.PARTNER_UPDATED,
    PartnerSuspended: EventType.PARTNER_SUSPENDED,
    PartnerReactivated: EventType.PARTNER_REACTIVATED,
    PartnerArchived: EventType.PARTNER_ARCHIVED,
    AgreementSigned: EventType.PARTNER_AGREEMENT_SIGNED,
}


class DuplicateName(Exception):
    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class AlreadyStored(Exception):
    """A partner with this id is stored already: the request that creates it ran before."""


@dataclass
class Loaded:
    """A partner as read for a change: the version and name it had, and its unpublished events."""

    partner: Partner
    version: int
    name_key: str
    pending: list[dict[str, Any]]


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    segment: str | None = None
    category: str | None = None
    status: str | None = None
    district: str | None = None
    q: str | None = None


class PartnerStore:
    def __init__(self, partners: AggregateCollection, names: AsyncCollection, region: str) -> None:
        self.partners = partners
        self.names = names
        self.region = region

    async def ensure_indexes(self) -> None:
        """Indexes for the list filters. FerretDB on SQLite uses only ``_id`` and scans for the
        rest; on MongoDB these serve each filter (see bench/partners_api.py)."""
        coll = self.partners.collection
        for keys in (
            [("region", 1), ("segments", 1)],
            [("region", 1), ("type", 1)],
            [("region", 1), ("categories", 1)],
            [("region", 1), ("status", 1)],
            [("region", 1), ("district_key", 1)],
            [("region", 1), ("name_key", 1)],
        ):
            await coll.create_index(keys)

    def lock(self, partner_id: str) -> Any:
        return self.partners.lock(partner_id)

    async def get(self, partner_id: str) -> Partner | None:
        doc = await self._by_id(partner_id, HIDDEN)
        return _from_doc(doc) if doc else None

    async def load(self, partner_id: str) -> Loaded | None:
        doc = await self._by_id(partner_id)
        if doc is None:
            return None
        partner = _from_doc(doc)
        return Loaded(partner, partner.version, partner.name_key, list(doc.get(OUTBOX, [])))

    async def holders(self, keys: list[str]) -> dict[str, str]:
        """Name key → id of the partner holding that name, for the keys that are taken."""
        claims = self.names.find({"_id": {"$in": [self._claim_id(k) for k in keys]}})
        return {claim["_id"].split(":", 1)[1]: claim["partner_id"] async for claim in claims}

    async def _by_id(self, partner_id: str, projection: dict[str, int] | None = None) -> dict[str, Any] | None:
        # By ``_id`` alone, the one filter FerretDB looks up in an index (shared/mongo.py); the
        # region is checked here.
        doc = await self.partners.collection.find_one({"_id": partner_id}, projection)
        return doc if doc is not None and doc.get("region") == self.region else None

    async def get_many(self, partner_ids: list[str]) -> dict[str, Partner]:
        found = self.partners.collection.find({"_id": {"$in": partner_ids}, "region": self.region}, HIDDEN)
        return {doc["_id"]: _from_doc(doc) async for doc in found}

    async def add(self, partner: Partner) -> None:
        """Store a new partner and its events; ``DuplicateName`` if the name is taken in its
        region, ``AlreadyStored`` if a partner with its id exists (a retried request)."""
        await self._claim(partner.name_key, partner.id)
        try:
            await self.partners.insert(_to_doc(partner), [_wire(e) for e in partner.events])
        except DuplicateKeyError:
            raise AlreadyStored(partner.id) from None
        partner.events.clear()

    async def add_many(self, partners: list[Partner]) -> dict[str, DuplicateName]:
        """Store many new partners in two writes (their name claims, then them); returns the
        ones refused because their name is taken, by id. FerretDB serialises every write to a
        database, so an import of a thousand rows costs two writes, not two thousand. Their
        events wait in the outbox until :meth:`announce` (or the relay's sweep)."""
        refused: dict[str, DuplicateName] = {}
        if not partners:
            return refused
        claims = [{"_id": self._claim_id(p.name_key), "partner_id": p.id} for p in partners]
        taken: set[str] = set()
        try:
            await self.names.insert_many(claims, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            taken = {claims[e["index"]]["_id"] for e in errors}
        ready = []
        for partner in partners:
            if self._claim_id(partner.name_key) in taken:
                try:
                    await self._claim(partner.name_key, partner.id)
                except DuplicateName as exc:
                    refused[partner.id] = exc
                    continue
            ready.append(partner)
        if ready:
            docs = []
            for partner in ready:
                outbox = [_entry(_wire(e)) for e in partner.events]
                docs.append({**_to_doc(partner), OUTBOX: outbox, PENDING: bool(outbox)})
            await self.partners.collection.insert_many(docs)
            for partner in ready:
                partner.events.clear()
        return refused

    def announce(self, partner_ids: list[str]) -> None:
        """Have the relay publish these partners' pending events now (not at its next sweep).

        An import announces its new partners once all are stored, so the relay's writes do
        not queue behind, and slow down, the import's own writes (FerretDB serialises them)."""
        if self.partners.relay is not None:
            for partner_id in partner_ids:
                self.partners.relay.notify(self.partners, partner_id)

    async def save(self, loaded: Loaded) -> None:
        """Write a changed partner if it is still at the version read (else ``StaleVersion``)."""
        partner = loaded.partner
        renamed = partner.name_key != loaded.name_key
        if renamed:
            await self._claim(partner.name_key, partner.id)
        try:
            await self.partners.replace(_to_doc(partner), loaded.version, [_wire(e) for e in partner.events],
                                        pending=loaded.pending)
        except BaseException:
            if renamed:
                await self._release(partner.name_key, partner.id)
            raise
        if renamed:
            await self._release(loaded.name_key, partner.id)
        partner.events.clear()

    async def find(self, filters: Filters, limit: int, cursor: str | None) -> tuple[list[Partner], str | None]:
        docs, next_cursor = await page(self.partners.collection, self._query(filters), limit, cursor,
                                       projection=HIDDEN)
        return [_from_doc(doc) for doc in docs], next_cursor

    async def every(self, filters: Filters) -> AsyncIterator[Partner]:
        """All partners matching ``filters`` in registration order, from one query: on FerretDB
        every filtered query reads the whole collection, so pages would read it once each."""
        async for doc in self.partners.collection.find(self._query(filters), HIDDEN).sort("_id", 1):
            yield _from_doc(doc)

    def _query(self, filters: Filters) -> dict[str, Any]:
        query: dict[str, Any] = {"region": self.region}
        for name in ("type", "status"):
            if getattr(filters, name):
                query[name] = getattr(filters, name)
        if filters.segment:
            query["segments"] = filters.segment
        if filters.category:
            query["categories"] = fold(filters.category)
        if filters.district:
            query["district_key"] = fold(filters.district)
        if filters.q and fold(filters.q):
            # Literal text: ``q=.*`` looks for a dot and a star, it does not match everything.
            query["name_key"] = {"$regex": re.escape(fold(filters.q))}
        return query

    def _claim_id(self, key: str) -> str:
        return f"{self.region}:{key}"

    async def _claim(self, key: str, partner_id: str) -> None:
        claim_id = self._claim_id(key)
        try:
            await self.names.insert_one({"_id": claim_id, "partner_id": partner_id})
            return
        except DuplicateKeyError:
            pass
        claim = await self.names.find_one({"_id": claim_id})
        holder = claim["partner_id"] if claim else None
        if holder and holder != partner_id:
            other = await self.partners.collection.find_one({"_id": holder}, {"name_key": 1})
            if other is not None and other.get("name_key") == key:
                raise DuplicateName(holder)
        # The claim is ours already (a retried request), or was left by a write that never
        # happened or a rename that moved on (a crash between the two writes): take it.
        await self.names.replace_one({"_id": claim_id}, {"_id": claim_id, "partner_id": partner_id}, upsert=True)

    async def _release(self, key: str, partner_id: str) -> None:
        await self.names.delete_one({"_id": self._claim_id(key), "partner_id": partner_id})


# --- documents ↔ aggregates ----------------------------------------------------------------


def snapshot(partner: Partner) -> dict[str, Any]:
    """The partner as the API and events show it (CONTRACT §3); dates as ISO strings."""
    return {
        "id": partner.id,
        "version": partner.version,
        "created_at": partner.created_at,
        "updated_at": partner.updated_at,
        "name": partner.name,
        "type": partner.type.value,
        "region": partner.region,
        "district": partner.district,
        "categories": list(partner.categories),
        "segments": [s.value for s in partner.segments],
        "contacts": [asdict(c) for c in partner.contacts],
        "channels": [{**asdict(c), "kind": c.kind.value} for c in partner.channels],
        "agreements": [_agreement_doc(a) for a in partner.agreements],
        "status": partner.status.value,
        "notes": partner.notes,
        "status_history": [
            {**asdict(h), "status": h.status.value, "previous": h.previous.value if h.previous else None}
            for h in partner.status_history
        ],
    }


def _agreement_doc(agreement: Agreement) -> dict[str, Any]:
    return {**asdict(agreement), "doc_type": agreement.doc_type.value,
            "valid_from": agreement.valid_from.isoformat(), "valid_until": agreement.valid_until.isoformat()}


def _to_doc(partner: Partner) -> dict[str, Any]:
    doc = snapshot(partner)
    doc["_id"] = doc.pop("id")
    doc["name_key"] = partner.name_key
    doc["district_key"] = fold(partner.district) if partner.district else None
    return doc


def _from_doc(doc: dict[str, Any]) -> Partner:
    return Partner(
        id=doc["_id"],
        version=doc["version"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        name=doc["name"],
        type=PartnerType(doc["type"]),
        region=doc["region"],
        district=doc.get("district"),
        categories=list(doc.get("categories") or []),
        segments=[Segment(s) for s in doc.get("segments") or []],
        contacts=[Contact(**c) for c in doc.get("contacts") or []],
        channels=[Channel(**{**c, "kind": ChannelKind(c["kind"])}) for c in doc.get("channels") or []],
        agreements=[
            Agreement(**{**a, "doc_type": DocType(a["doc_type"]), "valid_from": date.fromisoformat(a["valid_from"]),
                         "valid_until": date.fromisoformat(a["valid_until"])})
            for a in doc.get("agreements") or []
        ],
        status=Status(doc["status"]),
        notes=doc.get("notes"),
        status_history=[
            StatusChange(**{**h, "status": Status(h["status"]),
                            "previous": Status(h["previous"]) if h.get("previous") else None})
            for h in doc.get("status_history") or []
        ],
    )


def _wire(event: PartnerEvent) -> AnyEvent:
    partner = event.partner
    data = snapshot(partner)
    if isinstance(event, PartnerUpdated):
        data["changed_fields"] = list(event.changed_fields)
    if isinstance(event, AgreementSigned) and event.agreement is not None:
        data["agreement_id"] = event.agreement.id
    return make_event(EVENT_TYPES[type(event)], region=partner.region, service=SERVICE, subject=partner.id,
                      version=partner.version, data=data)
