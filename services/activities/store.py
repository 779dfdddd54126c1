"""The activities repository on MongoDB: one document per activity (and per election's targets).

A document holds the aggregate, its unpublished events (``_outbox``, written in the same
write by :class:`shared.outbox.AggregateCollection`) and its coverage facts (``_cov``, see
``coverage.py``), so state, events and figures never disagree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure, PyMongoError
from ulid import ULID

from services.activities import coverage
from services.activities.domain import (
    Activity, ActivityCancelled, ActivityHeld, ActivityPlanned, ActivityReported, ActivityRescheduled,
    ActivityScheduled, ActivityUpdated, Format, Kind, Location, Method, Outcome, PartnerRef, PartnerRole,
    Segment, Speaker, Stage, Status, Targets, TargetsSet, Topic,
)
from shared.events import AnyEvent, EventType, make_event
from shared.logging import get_logger
from shared.mongo import busy
from shared.outbox import OUTBOX, PENDING, AggregateCollection
from shared.pagination import page

SERVICE = "activities"
INTERNAL = {OUTBOX: 0, PENDING: 0, coverage.FIELD: 0}
# Whole-collection reads in one batch: FerretDB re-reads far more per getMore than per document.
FULL_BATCH = 10_000
log = get_logger(__name__)

EVENT_TYPES: dict[type, EventType] = {
    ActivityPlanned: EventType.ACTIVITY_PLANNED,
    ActivityUpdated: EventType.ACTIVITY_UPDATED,
    ActivityScheduled: EventType.ACTIVITY_SCHEDULED,
    ActivityRescheduled: EventType.ACTIVITY_RESCHEDULED,
    ActivityHeld: EventType.ACTIVITY_HELD,
    ActivityReported: EventType.ACTIVITY_REPORTED,
    ActivityCancelled: EventType.ACTIVITY_CANCELLED,
}


class StoreBusy(Exception):
    """The store refused a write because other writers held it ("database is locked"); nothing was written."""


async def when_free(write: Callable[[], Awaitable[None]], attempts: int = 5) -> None:
    """Run a write, again after a short pause while the store reports it busy (the failed try wrote
    nothing: SQLite rolls the whole statement back); ``StoreBusy`` if it stays busy."""
    for attempt in range(1, attempts + 1):
        try:
            await write()
            return
        except OperationFailure as exc:
            if not busy(exc):
                raise
            if attempt == attempts:
                raise StoreBusy(str(exc)) from exc
            await asyncio.sleep(0.05 * 2 ** attempt)


class Revision:
    """A token that changes with every write to the activities: what cached figures are checked against.

    A new random token rather than a counter: FerretDB runs ``$inc`` as read-then-write, so two
    processes could both write the same next number; two tokens never collide.
    """

    ID = "activities"

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def current(self) -> str | None:
        doc = await self.collection.find_one({"_id": self.ID})
        return doc["token"] if doc else None

    async def bump(self, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            try:
                await self.collection.update_one({"_id": self.ID}, {"$set": {"token": str(ULID())}}, upsert=True)
                return
            except PyMongoError as exc:
                if attempt == attempts or not busy(exc):
                    # The write itself is stored; cached figures then expire on their own (CACHE_SECONDS).
                    log.warning("could not mark cached coverage figures stale", error=repr(exc))
                    return
                await asyncio.sleep(0.05 * attempt)


class ActivityStore:
    def __init__(self, activities: AggregateCollection, revision: Revision, zone: ZoneInfo) -> None:
        self.activities = activities
        self.revision = revision
        self.zone = zone

    def lock(self, activity_id: str):  # noqa: ANN201 - an asyncio.Lock
        return self.activities.lock(activity_id)

    async def load(self, activity_id: str) -> tuple[Activity, list[dict[str, Any]]] | None:
        """The activity and its outbox as read (to hand back to :meth:`save`)."""
        doc = await self.activities.get(activity_id)
        return (from_document(doc), doc.get(OUTBOX, [])) if doc else None

    async def get(self, activity_id: str) -> Activity | None:
        doc = await self.activities.collection.find_one({"_id": activity_id}, INTERNAL)
        return from_document(doc) if doc else None

    async def add(self, activity: Activity, data: dict[str, Any]) -> None:
        """Insert a new activity with its events; ``DuplicateKeyError`` if the id exists."""
        doc, events = document(activity, self.zone), self._drain(activity, data)
        await when_free(lambda: self.activities.insert(doc, events))
        await self.revision.bump()

    async def save(self, activity: Activity, expected_version: int, pending: list[dict[str, Any]],
                   data: dict[str, Any]) -> None:
        """Replace the activity if still at ``expected_version`` (else ``StaleVersion``)."""
        doc, events = document(activity, self.zone), self._drain(activity, data)
        await when_free(lambda: self.activities.replace(doc, expected_version, events, pending=pending))
        await self.revision.bump()

    def _drain(self, activity: Activity, data: dict[str, Any]) -> list[AnyEvent]:
        events = [_wire(activity, event, data) for event in activity.events]
        activity.events.clear()
        return events

    async def page(self, query: dict[str, Any], limit: int, cursor: str | None) -> tuple[list[Activity], str | None]:
        docs, next_cursor = await page(self.activities.collection, query, limit, cursor, projection=INTERNAL)
        return [from_document(doc) for doc in docs], next_cursor

    async def all_with_figures(self, query: dict[str, Any]) -> tuple[list[Activity], coverage.Cube]:
        """Every matching activity in date order (undated ones last), and their coverage figures.

        One scan: on FerretDB a scan decodes every document whatever the projection, so the
        facts come along at no extra cost and are added up here.
        """
        projection = {OUTBOX: 0, PENDING: 0}
        docs = await self.activities.collection.find(query, projection, batch_size=FULL_BATCH).to_list(length=None)
        cube = coverage.fold_facts([doc.pop(coverage.FIELD, []) for doc in docs])
        found = sorted((from_document(doc) for doc in docs),
                       key=lambda a: (a.starts_at is None, a.starts_at or a.created_at, a.id))
        return found, cube

    async def coverage(self, query: dict[str, Any]) -> coverage.Cube:
        return await coverage.tally(self.activities.collection, query)


def query(
    *,
    election: str | None = None,
    status: str | None = None,
    segment: str | None = None,
    format: str | None = None,
    partner_id: str | None = None,
    district: str | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
) -> dict[str, Any]:
    """A filter on stored activities; the period is on ``starts_at``, ``[from, before)``."""
    found: dict[str, Any] = {}
    for name, value in (("election", election), ("status", status), ("segments", segment), ("format", format),
                        ("partners.partner_id", partner_id), ("location.district", district)):
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
    return doc


def snapshot(activity: Activity) -> dict[str, Any]:
    """The activity as plain data (datetimes as datetimes): what is stored and what is shown."""
    outcome = None
    if activity.outcome is not None:
        outcome = {**asdict(activity.outcome), "documentation_urls": list(activity.outcome.documentation_urls)}
    return {
        "id": activity.id,
        "version": activity.version,
        "created_at": activity.created_at,
        "updated_at": activity.updated_at,
        "region": activity.region,
        "title": activity.title,
        "description": activity.description,
        "kind": activity.kind.value,
        "election": activity.election,
        "stage": activity.stage.value if activity.stage else None,
        "topics": [t.value for t in activity.topics],
        "method": activity.method.value,
        "format": activity.format.value,
        "segments": [s.value for s in activity.segments],
        "partners": [{"partner_id": p.partner_id, "role": p.role.value} for p in activity.partners],
        "speakers": [asdict(s) for s in activity.speakers],
        "location": asdict(activity.location) if activity.location else None,
        "starts_at": activity.starts_at,
        "ends_at": activity.ends_at,
        "planned_reach": activity.planned_reach,
        "status": activity.status.value,
        "outcome": outcome,
        "scheduled_at": activity.scheduled_at,
        "held_at": activity.held_at,
        "cancelled_at": activity.cancelled_at,
        "cancel_reason": activity.cancel_reason,
    }


def from_document(doc: dict[str, Any]) -> Activity:
    outcome = doc.get("outcome")
    location = doc.get("location")
    return Activity(
        id=doc["_id"],
        version=doc["version"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
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
        status=Status(doc["status"]),
        outcome=Outcome(**{**outcome, "documentation_urls": tuple(outcome.get("documentation_urls", []))})
        if outcome else None,
        scheduled_at=doc.get("scheduled_at"),
        held_at=doc.get("held_at"),
        cancelled_at=doc.get("cancelled_at"),
        cancel_reason=doc.get("cancel_reason"),
    )


def _wire(activity: Activity, event: object, data: dict[str, Any]) -> AnyEvent:
    extra: dict[str, Any] = {}
    if isinstance(event, ActivityUpdated):
        extra["changed_fields"] = list(event.changed_fields)
    elif isinstance(event, ActivityRescheduled):
        extra["previous_starts_at"] = _iso(event.previous_starts_at)
        extra["previous_ends_at"] = _iso(event.previous_ends_at)
    return make_event(EVENT_TYPES[type(event)], region=activity.region, service=SERVICE, subject=activity.id,
                      version=activity.version, data={**data, **extra})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- targets ---------------------------------------------------------------------------------


class TargetStore:
    def __init__(self, targets: AggregateCollection) -> None:
        self.targets = targets

    def lock(self, election: str):  # noqa: ANN201 - an asyncio.Lock
        return self.targets.lock(election)

    async def load(self, election: str) -> tuple[Targets, list[dict[str, Any]]] | None:
        doc = await self.targets.get(election)
        return (targets_from_document(doc), doc.get(OUTBOX, [])) if doc else None

    async def add(self, targets: Targets) -> None:
        doc, events = targets_document(targets), self._drain(targets)
        await when_free(lambda: self.targets.insert(doc, events))

    async def save(self, targets: Targets, expected_version: int, pending: list[dict[str, Any]]) -> None:
        doc, events = targets_document(targets), self._drain(targets)
        await when_free(lambda: self.targets.replace(doc, expected_version, events, pending=pending))

    def _drain(self, targets: Targets) -> list[AnyEvent]:
        events = []
        for event in targets.events:
            assert isinstance(event, TargetsSet)
            data = {**targets_snapshot(targets), "changed_fields": list(event.changed_fields)}
            events.append(make_event(EventType.TARGETS_SET, region=targets.region, service=SERVICE,
                                     subject=targets.id, version=targets.version, data=data))
        targets.events.clear()
        return events


def targets_snapshot(targets: Targets) -> dict[str, Any]:
    return {
        "id": targets.id,
        "version": targets.version,
        "created_at": targets.created_at,
        "updated_at": targets.updated_at,
        "election": targets.election,
        "region": targets.region,
        "participation_target_pct": targets.participation_target_pct,
        "voting_day": targets.voting_day.isoformat(),
        "segment_targets": dict(targets.segment_targets),
        "district_targets": dict(targets.district_targets),
        "reach_target": targets.reach_target,
        "source": targets.source,
    }


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
        voting_day=date.fromisoformat(doc["voting_day"]),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        segment_targets=doc.get("segment_targets", {}),
        district_targets={t["district"]: t["activities"] for t in doc.get("district_targets", [])},
        reach_target=doc.get("reach_target"),
        source=doc.get("source"),
        version=doc["version"],
    )
