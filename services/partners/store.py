"""The partners repository on MongoDB: one document per partner, its outbox inside it.

It implements :class:`shared.unit_of_work.Repository` for ``Partner`` (``lock``, ``load``,
``add``, ``save``), so every change to a stored partner goes through the unit of work.
Names are unique per region through claim documents in ``partner_names`` keyed by
``<region>:<name key>``: an insert keyed by ``_id`` is atomic on MongoDB and FerretDB alike;
a taken name is :class:`~services.partners.domain.NameTaken`. A partner document also
carries ``name_key`` and ``district_key`` (lower-cased) for filters; they never leave the store.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import bson
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.partners.domain import (
    Agreement,
    Channel,
    Contact,
    NameTaken,
    Partner,
    Status,
    StatusChange,
    fold,
)
from services.partners.domain.duplicates import Candidate, Directory
from services.partners.events import wire
from services.partners.listing import Listing
from shared.mongo import DUPLICATE_KEY, when_free
from shared.outbox import OUTBOX, PENDING, AggregateCollection
from shared.pagination import page
from shared.stamp import read_stamp, stored_stamp
from shared.unit_of_work import AlreadyStored, Loaded
from shared.vocabulary import ChannelKind, DocType, PartnerType, Segment
from shared.vocabulary_in import PartnerTypeIn, SegmentIn

HIDDEN = {OUTBOX: 0, PENDING: 0, "name_key": 0, "district_key": 0}
LISTED = {OUTBOX: 0, PENDING: 0}  # what the listing keeps: the filters' keys too
# Whole-collection reads in one batch: FerretDB re-reads far more per getMore than per document.
FULL_BATCH = 10_000


@dataclass
class LoadedPartner(Loaded[Partner]):
    """A partner as read for a change, with the name key it had (a rename moves its claim)."""

    name_key: str


class Filters(BaseModel):
    """Which partners a list or an export wants: the query parameters of ``GET /partners``."""

    model_config = ConfigDict(frozen=True)

    # a label or an office's word reads as its code, as in a body (?type=KIM)
    type: PartnerTypeIn | None = None
    segment: SegmentIn | None = None
    category: str | None = Field(None, max_length=60)
    status: Status | None = None
    district: str | None = Field(None, max_length=100, description="kecamatan code or name")
    q: str | None = Field(None, max_length=200, description="part of the name, taken literally")


class PartnerStore:
    # With several processes, how long this process answers the duplicate check's candidates (every
    # registration, every import) from its last read of the region instead of reading every partner
    # again: that read is a scan on FerretDB, ~0.5 ms of store CPU per partner (issue 15: 105 ms a
    # registration at 190 partners), and indexing them is ours (below). This process's own writes
    # update the copy at once; another process's registration is seen within this time
    # (docs/reliability.md). With one process nothing else writes a partner: the copy is kept until
    # a write's outcome is unsure.
    CANDIDATES_FRESH_SECONDS = 2.0

    def __init__(self, partners: AggregateCollection, names: AsyncCollection, region: str) -> None:
        self.partners = partners
        self.names = names
        self.region = region
        self._candidates: tuple[float, Directory] | None = None
        self._writes = 0  # a read that began before a write is not kept
        # One process (the aggregates remembered, no leases): every write of a partner passes here,
        # so the copies below are kept until a write's outcome is unsure.
        self._one_process = partners.known is not None
        # Lists are then answered from a copy (listing.py).
        self._listing = Listing() if self._one_process else None

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

    # --- the Repository of the unit of work ----------------------------------------------------

    def lock(self, partner_id: str) -> Any:
        return self.partners.lock(partner_id)

    async def load(self, partner_id: str) -> LoadedPartner | None:
        doc = await self.partners.get(partner_id)  # one process: what it wrote last, without a read
        if doc is None or doc.get("region") != self.region:
            return None
        partner = _from_doc(doc)
        return LoadedPartner(partner, partner.version, list(doc.get(OUTBOX, [])), partner.name_key)

    async def add(self, partner: Partner) -> None:
        """Store a new partner and its events; ``NameTaken`` if the name is taken in its
        region, ``AlreadyStored`` if a partner with its id exists (a retried request)."""
        await self._claim(partner)
        try:
            await self.partners.insert(_to_doc(partner), [wire(e) for e in partner.events])
        except DuplicateKeyError:
            raise AlreadyStored(partner.id) from None
        except BaseException:
            self._unsure()
            raise
        self._written([partner])
        partner.events.clear()

    async def save(self, loaded: Loaded[Partner]) -> None:
        """Write a changed partner if it is still at the version read (else ``StaleVersion``);
        a rename claims the new name first (``NameTaken``) and releases the old one after."""
        partner = loaded.aggregate
        old_key = loaded.name_key if isinstance(loaded, LoadedPartner) else partner.name_key
        renamed = partner.name_key != old_key
        if renamed:
            await self._claim(partner)
        try:
            # Read under the partner's lock, still held (the unit of work): the version is not read again.
            await self.partners.replace(_to_doc(partner), loaded.version, [wire(e) for e in partner.events],
                                        pending=loaded.pending, read_under_lock=True)
        except BaseException:
            self._unsure()
            if renamed:
                await self._release(partner.name_key, partner.id)
            raise
        self._written([partner])  # before the release's await: a cancelled request still wrote it
        if renamed:
            await self._release(old_key, partner.id)
        partner.events.clear()

    # --- what the use cases read and import ---------------------------------------------------

    async def get(self, partner_id: str) -> Partner | None:
        if (listing := self._listed) is not None:
            doc = await listing.one(self._region_read, partner_id)
        else:
            doc = await self._by_id(partner_id, HIDDEN)
        return _from_doc(doc) if doc else None

    async def holders(self, keys: list[str]) -> dict[str, str]:
        """Name key → id of the partner holding that name, for the keys that are taken."""
        claims = self.names.find({"_id": {"$in": [self._claim_id(k) for k in keys]}})
        return {claim["_id"].split(":", 1)[1]: claim["partner_id"] async for claim in claims}

    async def get_many(self, partner_ids: list[str]) -> dict[str, Partner]:
        found = self.partners.collection.find({"_id": {"$in": partner_ids}, "region": self.region}, HIDDEN)
        return {doc["_id"]: _from_doc(doc) async for doc in found}

    async def add_many(self, partners: list[Partner]) -> dict[str, NameTaken]:
        """Store many new partners in two writes (their name claims, then them); returns the
        ones refused because their name is taken, by id. FerretDB serialises every write to a
        database, so an import of a thousand rows costs two writes, not two thousand. Their
        events wait in the outbox until :meth:`announce` (or the relay's sweep)."""
        refused: dict[str, NameTaken] = {}
        if not partners:
            return refused
        claims = [{"_id": self._claim_id(p.name_key), "partner_id": p.id} for p in partners]
        taken: set[str] = set()
        try:
            # A write refused as busy wrote nothing (shared/mongo.py), so it is tried again whole.
            await when_free(lambda: self.names.insert_many(claims, ordered=False))
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            taken = {claims[e["index"]]["_id"] for e in errors}
        ready = []
        for partner in partners:
            if self._claim_id(partner.name_key) in taken:
                try:
                    await self._claim(partner)
                except NameTaken as exc:
                    refused[partner.id] = exc
                    continue
            ready.append(partner)
        try:
            await when_free(lambda: self.partners.insert_many(
                (_to_doc(partner), [wire(e) for e in partner.events]) for partner in ready))
        except BaseException:
            self._unsure()
            raise
        self._written(ready)
        for partner in ready:
            partner.events.clear()
        return refused

    async def directory(self) -> Directory:
        """The region's partners as the duplicate check compares them, indexed: one scan of names and
        contacts, kept (with several processes for ``CANDIDATES_FRESH_SECONDS``) and updated by this
        process's writes meanwhile. Callers only read it (an import adds its rows to a
        :meth:`Directory.layer`)."""
        kept = self._candidates
        if kept is not None and (self._one_process
                                 or time.monotonic() - kept[0] < self.CANDIDATES_FRESH_SECONDS):
            return kept[1]
        began, writes = time.monotonic(), self._writes
        if (listing := self._listed) is not None:  # the lists' copy, read once for both
            read = [_candidate(doc["_id"], doc["name"], doc.get("contacts") or [])
                    for doc in await listing.every(self._region_read, {})]
        else:
            found = self.partners.collection.find({"region": self.region}, {"name": 1, "contacts": 1},
                                                  batch_size=FULL_BATCH)
            read = [_candidate(doc["_id"], doc["name"], doc.get("contacts") or []) async for doc in found]
        # Indexing is pure Python, ~0.3 ms a partner: in a worker thread, so other requests
        # (/healthz) are answered meanwhile (docs/performance.md).
        directory = await asyncio.to_thread(Directory.of, read)
        if writes == self._writes:
            self._candidates = (began, directory)
        return directory

    def _written(self, partners: list[Partner]) -> None:
        self._writes += 1
        if self._candidates is not None:
            for partner in partners:
                self._candidates[1].add(Directory.of_partner(partner))
        if self._listing is not None:
            options = self.partners.collection.codec_options
            # Through BSON, as the store would answer (datetimes to the millisecond, in UTC).
            self._listing.written([bson.decode(bson.encode(_to_doc(p), codec_options=options), options)
                                   for p in partners])

    def _unsure(self) -> None:
        """A write failed after it may have reached the store: the copies may miss it."""
        self._writes += 1  # a read that began before it is not kept either
        self._candidates = None
        if self._listing is not None:
            self._listing.unsure()

    def announce(self, partner_ids: list[str]) -> None:
        """Have the relay publish these partners' pending events now (not at its next sweep).

        An import announces its new partners once all are stored, so the relay's writes do not
        queue behind, and slow down, the import's own writes (FerretDB serialises them)."""
        self.partners.announce(partner_ids)

    async def find(self, filters: Filters, limit: int, cursor: str | None) -> tuple[list[Partner], str | None]:
        if (listing := self._listed) is not None:
            docs, next_cursor = await listing.page(self._region_read, self._query(filters), limit, cursor)
        else:
            docs, next_cursor = await page(self.partners.collection, self._query(filters), limit, cursor,
                                           projection=HIDDEN)
        return [_from_doc(doc) for doc in docs], next_cursor

    async def every(self, filters: Filters) -> AsyncIterator[Partner]:
        """All partners matching ``filters`` in registration order, from one query: on FerretDB
        every filtered query reads the whole collection, so pages would read it once each."""
        if (listing := self._listed) is not None:
            for doc in await listing.every(self._region_read, self._query(filters)):
                yield _from_doc(doc)
            return
        async for doc in self.partners.collection.find(self._query(filters), HIDDEN).sort("_id", 1):
            yield _from_doc(doc)

    @property
    def _listed(self) -> Listing | None:
        """The copy lists are answered from, if this process keeps one (listing.py)."""
        return self._listing if self._listing is not None and not self._listing.off else None

    def _region_read(self) -> AsyncIterator[dict[str, Any]]:
        return self.partners.collection.find({"region": self.region}, LISTED, batch_size=FULL_BATCH)

    # --- inside ---------------------------------------------------------------------------------

    async def _by_id(self, partner_id: str, projection: dict[str, int] | None = None) -> dict[str, Any] | None:
        # By ``_id`` alone, the one filter FerretDB looks up in an index (shared/mongo.py); the
        # region is checked here.
        doc = await self.partners.collection.find_one({"_id": partner_id}, projection)
        return doc if doc is not None and doc.get("region") == self.region else None

    def _query(self, filters: Filters) -> dict[str, Any]:
        query: dict[str, Any] = {"region": self.region}
        for name in ("type", "status"):
            if getattr(filters, name):
                query[name] = str(getattr(filters, name))
        if filters.segment:
            query["segments"] = str(filters.segment)
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

    async def _claim(self, partner: Partner) -> None:
        key, claim_id = partner.name_key, self._claim_id(partner.name_key)
        try:
            await self.names.insert_one({"_id": claim_id, "partner_id": partner.id})
            return
        except DuplicateKeyError:
            pass
        claim = await self.names.find_one({"_id": claim_id})
        holder = claim["partner_id"] if claim else None
        if holder and holder != partner.id:
            other = await self.partners.collection.find_one({"_id": holder}, {"name_key": 1})
            if other is not None and other.get("name_key") == key:
                raise NameTaken(partner.name, partner.region, holder)
        # The claim is ours already (a retried request), or was left by a write that never
        # happened or a rename that moved on (a crash between the two writes): take it.
        await self.names.replace_one({"_id": claim_id}, {"_id": claim_id, "partner_id": partner.id}, upsert=True)

    async def _release(self, key: str, partner_id: str) -> None:
        await self.names.delete_one({"_id": self._claim_id(key), "partner_id": partner_id})


# --- documents ↔ aggregates ----------------------------------------------------------------


def _candidate(partner_id: str, name: str, contacts: list[dict[str, Any]]) -> Candidate:
    return Candidate(partner_id, name, tuple(c["phone"] for c in contacts if c.get("phone")),
                     tuple(c["email"] for c in contacts if c.get("email")))


def _to_doc(partner: Partner) -> dict[str, Any]:
    return {
        **stored_stamp(partner),
        "name": partner.name,
        "type": partner.type.value,
        "region": partner.region,
        "district": partner.district,
        "village": partner.village,
        "categories": list(partner.categories),
        "segments": [s.value for s in partner.segments],
        "contacts": [{"name": c.name, "role": c.role, "phone": c.phone, "email": c.email} for c in partner.contacts],
        "channels": [{"kind": c.kind.value, "handle_or_url": c.handle_or_url, "audience_size": c.audience_size}
                     for c in partner.channels],
        "agreements": [{"id": a.id, "doc_type": a.doc_type.value, "number": a.number,
                        "valid_from": a.valid_from.isoformat(), "valid_until": a.valid_until.isoformat(),
                        "title": a.title, "scope": a.scope, "expiring_announced": a.expiring_announced,
                        "lapsed_announced": a.lapsed_announced} for a in partner.agreements],
        "status": partner.status.value,
        "notes": partner.notes,
        "status_history": [{"status": h.status.value, "previous": h.previous.value if h.previous else None,
                            "reason": h.reason, "at": h.at, "by": h.by} for h in partner.status_history],
        "name_key": partner.name_key,
        "district_key": fold(partner.district) if partner.district else None,
    }


def _from_doc(doc: dict[str, Any]) -> Partner:
    return Partner(
        **read_stamp(doc),
        name=doc["name"],
        type=PartnerType(doc["type"]),
        region=doc["region"],
        district=doc.get("district"),
        village=doc.get("village"),
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
