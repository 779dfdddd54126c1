"""The activities service on MongoDB: one document per activity, per election's targets, per known partner.

(Over 400 lines: every collection of the service is here, as the interior walls want — activities,
targets, the election calendar, the partner replica — each section short.)

An activity's document holds the aggregate, its unpublished events (``_outbox``, written in the
same write by :class:`shared.outbox.AggregateCollection`) and its coverage facts (``_cov``, see
``coverage.py``), so state, events and figures never disagree. The partner replica is at the end.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError
from ulid import ULID

from services.activities import coverage
from services.activities.domain import (
    Activity, Location, Outcome, PartnerRef, Speaker, Status, Targets, snapshot, targets_snapshot,
)
from services.activities.elections import ELECTIONS as ELECTION_IDS
from services.activities.elections import Election, StageWindow, Turnout, shipped
from services.activities.events import activity_event, election_event, targets_event
from shared.outbox import StaleVersion
from shared.errors import Unavailable
from shared.events import AnyEvent
from shared.group_insert import LINGER, GroupInsert
from shared.logging import get_logger
from shared.mongo import find_by_ids, replace_read_under_lock, when_free
from shared.outbox import OUTBOX, PENDING, AggregateCollection
from shared.pagination import page
from shared.stamp import read_stamp
from shared.unit_of_work import AlreadyStored, Loaded
from shared.vocabulary import Format, Kind, Method, PartnerRole, Segment, Stage, Topic
from shared.vocabulary_in import FormatIn, SegmentIn, StageIn

A = TypeVar("A", Activity, Targets, Election)
INTERNAL = {OUTBOX: 0, PENDING: 0, coverage.FIELD: 0}
HELD = "held"
# Whole-collection reads in one batch: FerretDB re-reads far more per getMore than per document.
FULL_BATCH = 10_000
log = get_logger(__name__)


class Revision:
    """A token that changes after writes to the activities: what cached figures are checked against.

    A new random token rather than a counter: FerretDB runs ``$inc`` as read-then-write, so two
    processes could both write the same next number; two tokens never collide.

    The token is set off the write's path and at most once per ``SETTLE_SECONDS`` per process, after
    the writes it covers (issue 15: a round trip a write, one per burst now). This process's own
    cached figures are stale at once (``writes``, part of :meth:`current`); another process's within
    ``SETTLE_SECONDS`` of the write (docs/reliability.md, "Known limits").
    """

    ID = "activities"
    SETTLE_SECONDS = 1.0

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection
        self.writes = 0  # this process's writes so far
        self._settling: asyncio.Task[None] | None = None
        self._last_set = -SETTLE_FOREVER

    async def current(self) -> tuple[str | None, int]:
        """The stored token and this process's writes: cached figures are good while both are unchanged."""
        doc = await self.collection.find_one({"_id": self.ID})
        return (doc["token"] if doc else None), self.writes

    async def bump(self) -> None:
        """A write was stored: the token is set soon after it (no round trip here)."""
        self.writes += 1
        if self._settling is None or self._settling.done():
            self._settling = asyncio.get_running_loop().create_task(self._settle(), name="coverage-revision")

    async def _settle(self) -> None:
        while True:
            await asyncio.sleep(max(0.0, self._last_set + self.SETTLE_SECONDS - time.monotonic()))
            covered = self.writes
            await self._set()
            self._last_set = time.monotonic()
            if self.writes == covered:  # no write since the one set covers: done (no await between)
                return

    async def _set(self) -> None:
        try:
            await when_free(lambda: self.collection.update_one({"_id": self.ID}, {"$set": {"token": str(ULID())}},
                                                               upsert=True), attempts=3)
        except (PyMongoError, Unavailable) as exc:
            # The write itself is stored; cached figures then expire on their own (figures.CACHE_SECONDS).
            log.warning("could not mark cached coverage figures stale", error=repr(exc))


SETTLE_FOREVER = 1e9  # "never set": the first write of a process sets the token at once


class AggregateStore(Generic[A]):
    """Loads and saves one kind of aggregate for the unit of work (``shared.unit_of_work.Repository``);
    a subclass says how its aggregate maps to a document and to wire events."""

    def __init__(self, aggregates: AggregateCollection) -> None:
        self.aggregates = aggregates

    def lock(self, aggregate_id: str) -> asyncio.Lock:
        return self.aggregates.lock(aggregate_id)

    async def load(self, aggregate_id: str) -> Loaded[A] | None:
        """The aggregate with the version and the outbox it was read with (handed back to :meth:`save`)."""
        doc = await self.aggregates.get(aggregate_id)
        return Loaded(self.from_document(doc), doc["version"], doc.get(OUTBOX, [])) if doc else None

    async def add(self, aggregate: A) -> None:
        """Insert a new aggregate with its events; :class:`AlreadyStored` if the id exists."""
        try:
            await self.aggregates.insert(self.to_document(aggregate), self.wire(aggregate))
        except DuplicateKeyError:
            raise AlreadyStored(aggregate.id) from None
        await self.written(aggregate)

    async def save(self, loaded: Loaded[A]) -> None:
        """Replace the aggregate if still at the version read (else ``StaleVersion``)."""
        aggregate = loaded.aggregate
        # Read under the aggregate's lock, still held (the unit of work): the version is not read again.
        await self.aggregates.replace(self.to_document(aggregate), loaded.version, self.wire(aggregate),
                                      pending=loaded.pending, read_under_lock=True)
        await self.written(aggregate)

    async def written(self, aggregate: A) -> None:
        # The events leave the aggregate only once a write took them: a write the store refused
        # as busy is tried again (shared.mongo.when_free) and must carry them again.
        aggregate.events.clear()

    def to_document(self, aggregate: A) -> dict[str, Any]:
        raise NotImplementedError

    def from_document(self, doc: dict[str, Any]) -> A:
        raise NotImplementedError

    def wire(self, aggregate: A) -> list[AnyEvent]:
        raise NotImplementedError


class ActivityStore(AggregateStore[Activity]):
    """The activities, and the reads behind the views and the figures.

    Every write also sets a new revision token, which cached coverage figures are checked against.
    """

    def __init__(self, activities: AggregateCollection, revision: Revision, zone: ZoneInfo) -> None:
        super().__init__(activities)
        self.revision = revision
        self.zone = zone

    def to_document(self, activity: Activity) -> dict[str, Any]:
        return document(activity, self.zone)

    def from_document(self, doc: dict[str, Any]) -> Activity:
        return from_document(doc)

    def wire(self, activity: Activity) -> list[AnyEvent]:
        return [activity_event(activity, event) for event in activity.events]

    async def written(self, activity: Activity) -> None:
        await super().written(activity)
        await self.revision.bump()

    async def get(self, activity_id: str) -> Activity | None:
        doc = await self.aggregates.collection.find_one({"_id": activity_id}, INTERNAL)
        return from_document(doc) if doc else None

    async def page(self, query: dict[str, Any], limit: int, cursor: str | None) -> tuple[list[Activity], str | None]:
        docs, next_cursor = await page(self.aggregates.collection, query, limit, cursor, projection=INTERNAL)
        return [from_document(doc) for doc in docs], next_cursor

    async def all_with_figures(self, query: dict[str, Any]) -> tuple[list[Activity], coverage.Cube]:
        """Every matching activity in date order (undated ones last), and their coverage figures.

        One scan: on FerretDB a scan decodes every document whatever the projection, so the
        facts come along at no extra cost and are added up here.
        """
        projection = {OUTBOX: 0, PENDING: 0}
        docs = await self.aggregates.collection.find(query, projection, batch_size=FULL_BATCH).to_list(length=None)
        cube = coverage.fold_facts([doc.pop(coverage.FIELD, []) for doc in docs])
        found = sorted((from_document(doc) for doc in docs),
                       key=lambda a: (a.starts_at is None, a.starts_at or a.created_at, a.id))
        return found, cube

    async def held(self) -> list[Activity]:
        """Every activity marked held and not reported yet (the overdue timer's candidates).

        A filter on ``status`` is a scan on FerretDB (only ``_id`` is looked up): at a region's
        size (a few thousand activities, about a second) that is fine once an hour.
        """
        docs = await self.aggregates.collection.find({"status": HELD}, INTERNAL,
                                                     batch_size=FULL_BATCH).to_list(length=None)
        return [from_document(doc) for doc in docs]

    async def coverage(self, query: dict[str, Any]) -> coverage.Cube:
        """The figures of every key of every dimension, added up by the database (coverage.py)."""
        cursor = await self.aggregates.collection.aggregate(coverage.pipeline(query))
        return coverage.fold(await cursor.to_list(length=None))


class Claims:
    """Facts announced at most once across processes: whoever inserts a fact's ``_id`` first
    announces it. An insert of a unique ``_id`` is atomic on FerretDB, where a version check
    (read, then write) can let two processes both win.

    A claimant that dies between its claim and its write would keep the fact unannounced for good,
    so a claim older than ``lease`` is taken over by a claim of its own (``<fact>#1``, ``#2`` …),
    again by an insert: one taker per expired claim. (A claimant still alive after the lease —
    minutes for one write — would announce twice; that is the trade.)"""

    def __init__(self, collection: AsyncCollection, lease: timedelta = timedelta(minutes=10)) -> None:
        self.collection = collection
        self.lease = lease

    async def take(self, fact: str) -> str | None:
        """The claim taken for ``fact`` (to give back if the write fails), or ``None``: not yours."""
        for attempt in range(100):
            claim = fact if attempt == 0 else f"{fact}#{attempt}"
            try:
                document = {"_id": claim, "at": datetime.now(UTC)}
                await when_free(lambda: self.collection.insert_one(document))  # noqa: B023 - awaited at once
                return claim
            except DuplicateKeyError:
                held = await self.collection.find_one({"_id": claim})
                if held is None or datetime.now(UTC) - held["at"] < self.lease:
                    return None  # someone holds it now (or gave it back a moment ago: next look)
        return None

    async def give_back(self, claim: str) -> None:
        """The claimant could not record it: another look may."""
        await when_free(lambda: self.collection.delete_one({"_id": claim}))


class ActivityFilter(BaseModel):
    """Which stored activities a read wants: the query parameters of ``GET /activities``, each text
    bounded (a filter is matched by a scan on FerretDB; a megabyte of it is nobody's filter)."""

    model_config = ConfigDict(frozen=True)

    status: Status | None = None
    election: str | None = Field(None, max_length=64)
    # a label or an office's word reads as its code, as in a body (?format=Forum%20Warga)
    segment: SegmentIn | None = None
    format: FormatIn | None = None
    partner_id: str | None = Field(None, max_length=64)
    district: str | None = Field(None, max_length=100, description="kecamatan code")
    stage: StageIn | None = None
    programme: str | None = Field(None, max_length=120)


def query(wanted: ActivityFilter, starts_from: datetime | None = None,
          starts_before: datetime | None = None) -> dict[str, Any]:
    """A filter on stored activities; the period is on ``starts_at``, ``[from, before)``."""
    found: dict[str, Any] = {}
    for name, value in (("election", wanted.election), ("status", wanted.status), ("segments", wanted.segment),
                        ("format", wanted.format), ("partners.partner_id", wanted.partner_id),
                        ("location.district", wanted.district), ("stage", wanted.stage),
                        ("programme", " ".join(wanted.programme.split()) if wanted.programme else None)):
        if value is not None:
            found[name] = value
    period: dict[str, Any] = {}
    if starts_from is not None:
        period["$gte"] = starts_from
    if starts_before is not None:
        period["$lt"] = starts_before
    if period:
        found["starts_at"] = period
    return found


# --- documents ---------------------------------------------------------------------------


def document(activity: Activity, zone: ZoneInfo) -> dict[str, Any]:
    """The stored form of an activity, coverage facts included."""
    doc = snapshot(activity)
    doc["_id"] = doc.pop("id")
    doc[coverage.FIELD] = coverage.facts(activity, zone)
    doc["overdue_announced_at"] = activity.overdue_announced_at  # bookkeeping: not in views or events
    return doc


def from_document(doc: dict[str, Any]) -> Activity:
    outcome = doc.get("outcome")
    location = doc.get("location")
    return Activity(
        **read_stamp(doc),
        region=doc["region"],
        title=doc["title"],
        description=doc.get("description"),
        kind=Kind(doc["kind"]),
        election=doc["election"],
        stage=Stage(doc["stage"]) if doc.get("stage") else None,
        topics=[Topic(t) for t in doc.get("topics", [])],
        method=Method(doc["method"]),
        format=Format(doc["format"]),
        segments=[Segment(s) for s in doc.get("segments", [])],
        partners=[PartnerRef(p["partner_id"], PartnerRole(p["role"])) for p in doc.get("partners", [])],
        speakers=[Speaker(**s) for s in doc.get("speakers", [])],
        location=Location(**location) if location else None,
        starts_at=doc.get("starts_at"),
        ends_at=doc.get("ends_at"),
        planned_reach=doc.get("planned_reach"),
        programme=doc.get("programme"),
        status=Status(doc["status"]),
        outcome=Outcome(**{**outcome, "documentation_urls": tuple(outcome.get("documentation_urls", []))})
        if outcome else None,
        scheduled_at=doc.get("scheduled_at"),
        held_at=doc.get("held_at"),
        cancelled_at=doc.get("cancelled_at"),
        cancel_reason=doc.get("cancel_reason"),
        overdue_announced_at=doc.get("overdue_announced_at"),
    )


# --- targets ---------------------------------------------------------------------------------


class TargetStore(AggregateStore[Targets]):
    """An election's targets: one document per election."""

    def to_document(self, targets: Targets) -> dict[str, Any]:
        return targets_document(targets)

    def from_document(self, doc: dict[str, Any]) -> Targets:
        return targets_from_document(doc)

    def wire(self, targets: Targets) -> list[AnyEvent]:
        return [targets_event(targets, event) for event in targets.events]


def targets_document(targets: Targets) -> dict[str, Any]:
    doc = targets_snapshot(targets)
    doc["_id"] = doc.pop("id")
    # District codes contain dots, which field names must not: stored as a list.
    doc["district_targets"] = [{"district": d, "activities": n} for d, n in targets.district_targets.items()]
    return doc


def targets_from_document(doc: dict[str, Any]) -> Targets:
    return Targets(
        election=doc["election"],
        region=doc["region"],
        participation_target_pct=doc["participation_target_pct"],
        voting_day=date.fromisoformat(doc["voting_day"]) if doc.get("voting_day") else None,
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        segment_targets=doc.get("segment_targets", {}),
        district_targets={t["district"]: t["activities"] for t in doc.get("district_targets", [])},
        reach_target=doc.get("reach_target"),
        source=doc.get("source"),
        version=doc["version"],
    )


# --- the election calendar --------------------------------------------------------------------

# The outbox a shipped election that was never stored is "loaded" with: save() inserts it then.
_NEVER_STORED: list[dict[str, Any]] = []


class ElectionStore(AggregateStore[Election]):
    """The calendar: one document per election an admin set or changed; a shipped election
    (elections.toml) without a document is read as shipped, at version 1, and stored on its first change."""

    # How long this process answers calendar reads (``get``, ``all``: every plan, schedule and view)
    # from its last read instead of a store round trip or two. Its own changes refresh it at once;
    # another process's change of the calendar (an admin's rare PUT) is seen within this time.
    FRESH_SECONDS = 2.0

    def __init__(self, elections: AggregateCollection, region: str) -> None:
        super().__init__(elections)
        self.region = region  # the calendar is this region's office's: its events say so
        self._read: tuple[float, dict[str, Election]] | None = None
        self._changes = 0  # a read that began before a change is not kept

    def to_document(self, election: Election) -> dict[str, Any]:
        return election_document(election)

    def from_document(self, doc: dict[str, Any]) -> Election:
        return election_from_document(doc)

    def wire(self, election: Election) -> list[AnyEvent]:
        return [election_event(election, event, self.region) for event in election.events]

    async def load(self, election_id: str) -> Loaded[Election] | None:
        found = await super().load(election_id)
        if found is not None:
            return found
        seed = shipped(election_id)
        return Loaded(seed, seed.version, _NEVER_STORED) if seed else None

    async def save(self, loaded: Loaded[Election]) -> None:
        if loaded.pending is not _NEVER_STORED:
            return await super().save(loaded)
        try:  # the first change of a shipped election: an insert, so two first changes cannot both win
            await self.add(loaded.aggregate)
        except AlreadyStored:
            raise StaleVersion(loaded.aggregate.id) from None

    async def written(self, election: Election) -> None:
        await super().written(election)
        self._changes += 1
        self._read = None

    async def get(self, election_id: str) -> Election | None:
        """The election as the calendar has it (stored, else shipped); ``load`` reads it for a change."""
        found = (await self._calendar()).get(election_id)
        return replace(found, events=[]) if found is not None else None

    async def all(self) -> dict[str, Election]:
        """The whole calendar: the shipped elections, each replaced by its stored version if any."""
        return {key: replace(found, events=[]) for key, found in (await self._calendar()).items()}

    async def _calendar(self) -> dict[str, Election]:
        if self._read is not None and time.monotonic() - self._read[0] < self.FRESH_SECONDS:
            return self._read[1]
        began, changes = time.monotonic(), self._changes
        docs = await self.aggregates.collection.find({}, {OUTBOX: 0, PENDING: 0}).to_list(length=None)
        calendar = {e: found for e in ELECTION_IDS if (found := shipped(e)) is not None}
        calendar.update({doc["_id"]: election_from_document(doc) for doc in docs})
        if changes == self._changes:
            self._read = (began, calendar)
        return calendar


def election_document(election: Election) -> dict[str, Any]:
    turnout = election.turnout
    return {
        "_id": election.id, "version": election.version,
        "created_at": election.created_at, "updated_at": election.updated_at,
        "name": election.name, "kind": election.kind,
        "voting_day": election.voting_day.isoformat() if election.voting_day else None,
        "participation_target_pct": election.participation_target_pct,
        "stages": [{"stage": w.stage, "from": w.starts_on.isoformat(), "to": w.ends_on.isoformat()}
                   for w in election.stages],
        "types": list(election.types), "source": election.source,
        "turnout_pct": election.turnout_pct, "turnout_note": election.turnout_note,
        # Kecamatan codes contain dots, which field names must not: a list.
        "turnout": None if turnout is None else {
            "turnout_pct": turnout.turnout_pct, "source": turnout.source, "recorded_at": turnout.recorded_at,
            "districts": [{"district": d, "turnout_pct": p} for d, p in turnout.districts]},
    }


def election_from_document(doc: dict[str, Any]) -> Election:
    turnout = doc.get("turnout")
    return Election(
        id=doc["_id"], name=doc["name"], kind=doc["kind"],
        voting_day=date.fromisoformat(doc["voting_day"]) if doc.get("voting_day") else None,
        participation_target_pct=doc.get("participation_target_pct"),
        stages=tuple(StageWindow(w["stage"], date.fromisoformat(w["from"]), date.fromisoformat(w["to"]))
                     for w in doc.get("stages", [])),
        types=tuple(doc.get("types", [])), source=doc.get("source"),
        turnout_pct=doc.get("turnout_pct"), turnout_note=doc.get("turnout_note"),
        turnout=None if not turnout else Turnout(
            turnout["turnout_pct"], tuple((d["district"], d["turnout_pct"]) for d in turnout.get("districts", [])),
            turnout.get("source"), turnout.get("recorded_at")),
        created_at=doc.get("created_at"), updated_at=doc.get("updated_at"), version=doc["version"],
    )


# --- the partner replica -----------------------------------------------------------------------
# This service's own copy of the partner registry, built only from partner events. Each partner is
# one document keyed by its id, holding the newest snapshot seen. An event is applied only when its
# ``aggregateversion`` is newer than the stored one, so replays, duplicates and out-of-order
# deliveries leave the copy correct.

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
        # A partner's first version waits for others to share its insert: a staff member registers
        # partners one after another, a few ms apart, and nothing but naming it waits for the copy.
        self._firsts = GroupInsert(collection, linger=LINGER, name="group-insert-partner-replica-first")

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
        if await self._firsts.insert(doc):
            return True
        # Read under the consumer's lock of this partner (one consumer of the queue at a time), so
        # not read again by the write: on FerretDB a filter of ``version`` beside ``_id`` was
        # evaluated over every partner of the copy, on every partner event.
        held = await self.collection.find_one({"_id": partner_id}, {"version": 1})
        if held is None or held.get("version", 0) >= version:
            return False
        return await replace_read_under_lock(self.collection, partner_id, held.get("version", 0), doc)

    # The reads find the partners whose first version this process is inserting once stored: a
    # partner whose event has arrived is nameable.

    async def get(self, partner_id: str) -> KnownPartner | None:
        await self._firsts.settled([partner_id])
        doc = await self.collection.find_one({"_id": partner_id})
        return _known(doc) if doc else None

    async def many(self, partner_ids: list[str] | set[str]) -> dict[str, KnownPartner]:
        """The known ones among ``partner_ids`` (by ``_id``, the indexed field)."""
        ids = list(dict.fromkeys(partner_ids))
        if not ids:
            return {}
        await self._firsts.settled(ids)
        return {doc["_id"]: _known(doc) for doc in await find_by_ids(self.collection, ids)}

    async def page(self, status: str | None, limit: int, cursor: str | None) -> tuple[list[KnownPartner], str | None]:
        await self._firsts.settled()
        docs, next_cursor = await page(self.collection, {"status": status} if status else {}, limit, cursor)
        return [_known(doc) for doc in docs], next_cursor


def _known(doc: dict[str, Any]) -> KnownPartner:
    return KnownPartner(
        id=doc["_id"], name=doc.get("name", ""), status=doc.get("status", ACTIVE), version=doc["version"],
        type=doc.get("type"), segments=list(doc.get("segments") or []), district=doc.get("district"),
    )
