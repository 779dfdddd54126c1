"""The use cases with in-memory fakes of our own store and replica: races, versions, partner checks."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo.errors import OperationFailure

from services.activities.domain import Activity
from services.activities.handlers import Activities
from services.activities.store import ActivityStore, KnownPartner
from services.activities.views import ActivityViews
from shared.errors import Conflict, Invalid, Unavailable, VersionMismatch
from shared.outbox import StaleVersion
from shared.unit_of_work import AlreadyStored, Loaded

NOW = datetime(2024, 10, 1, 2, tzinfo=UTC)


class FakeStore:
    """Our repository in a dict; ``races`` makes the next saves fail as if another process wrote first."""

    def __init__(self) -> None:
        self.rows: dict[str, Activity] = {}
        self.saved: list[tuple[str, int, list[str]]] = []
        self.races = 0
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, activity_id: str) -> asyncio.Lock:
        return self._locks.setdefault(activity_id, asyncio.Lock())

    async def load(self, activity_id: str) -> Loaded[Activity] | None:
        found = self.rows.get(activity_id)
        return Loaded(copy.deepcopy(found), found.version, []) if found else None

    async def get(self, activity_id: str) -> Activity | None:
        return copy.deepcopy(self.rows.get(activity_id))

    async def add(self, activity: Activity) -> None:
        if activity.id in self.rows:
            raise AlreadyStored(activity.id)
        self.saved.append((activity.id, activity.version, [type(e).__name__ for e in activity.events]))
        activity.events.clear()
        self.rows[activity.id] = copy.deepcopy(activity)

    async def save(self, loaded: Loaded[Activity]) -> None:
        activity = loaded.aggregate
        if self.races:
            self.races -= 1
            other = self.rows[activity.id]  # another process edits it meanwhile
            other.edit({"planned_reach": (other.planned_reach or 0) + 1}, NOW)
            other.events.clear()
            raise StaleVersion(activity.id)
        assert self.rows[activity.id].version == loaded.version
        self.saved.append((activity.id, activity.version, [type(e).__name__ for e in activity.events]))
        activity.events.clear()
        self.rows[activity.id] = copy.deepcopy(activity)


class FakeReplica:
    def __init__(self, *partners: KnownPartner) -> None:
        self.partners = {p.id: p for p in partners}

    async def many(self, ids: set[str]) -> dict[str, KnownPartner]:
        return {i: self.partners[i] for i in ids if i in self.partners}


def partner(partner_id: str, status: str = "active") -> KnownPartner:
    return KnownPartner(id=partner_id, name=f"Mitra {partner_id}", status=status, version=1, type="kim",
                        segments=[], district=None)


def service(*partners: KnownPartner) -> tuple[Activities, FakeStore]:
    store = FakeStore()
    return Activities(store, FakeReplica(*partners), "32.73", clock=lambda: NOW), store


def shown(activities: Activities, activity: Activity) -> Any:
    return ActivityViews(activities.store, activities.replica, ZoneInfo("Asia/Jakarta")).present(activity)


BODY = {"title": "Forum warga", "kind": "sosialisasi", "election": "pilkada-2024", "method": "langsung",
        "format": "forum_warga", "segments": ["umum"]}


async def test_a_save_that_lost_a_race_is_applied_again_to_the_newer_activity():
    activities, store = service()
    await activities.plan("A1", BODY)
    store.races = 1
    edited = await activities.edit("A1", {"title": "Forum warga Dago"}, expected=None)
    assert edited.version == 3 and edited.title == "Forum warga Dago" and edited.planned_reach == 1
    assert store.saved[-1] == ("A1", 3, ["ActivityUpdated"])


async def test_with_if_match_a_lost_race_is_412_and_nothing_is_saved():
    activities, store = service()
    await activities.plan("A1", BODY)
    store.races = 1
    with pytest.raises(VersionMismatch) as stale:
        await activities.edit("A1", {"title": "Forum warga Dago"}, expected=1)
    assert store.rows["A1"].title == "Forum warga" and stale.value.facts == {"current_version": 2}


async def test_endless_races_end_in_a_409_rather_than_a_loop():
    activities, store = service()
    await activities.plan("A1", BODY)
    store.races = 10
    with pytest.raises(Conflict, match="kept changing"):
        await activities.edit("A1", {"title": "Forum warga Dago"}, expected=None)


async def test_a_change_that_changes_nothing_saves_nothing():
    activities, store = service()
    await activities.plan("A1", BODY)
    same = await activities.edit("A1", {"title": "Forum warga"}, expected=1)
    assert same.version == 1 and len(store.saved) == 1


async def test_a_retried_plan_answers_the_activity_it_created_and_stores_nothing_twice():
    activities, store = service()
    first = await activities.plan("A1", BODY)
    again = await activities.plan("A1", {**BODY, "title": "Sent twice"})
    assert (again.id, again.title, again.version) == (first.id, "Forum warga", 1) and len(store.saved) == 1


async def test_partners_already_on_the_activity_may_stay_when_no_longer_active():
    activities, store = service(partner("P1"), partner("P2", "suspended"))
    await activities.plan("A1", {**BODY, "partners": [{"partner_id": "P1", "role": "mitra"}]})
    activities.replica.partners["P1"] = partner("P1", "suspended")
    kept = await shown(activities, await activities.edit("A1", {"partners": [{"partner_id": "P1", "role": "mitra"},
                                                                            {"partner_id": "P1", "role": "tempat"}]},
                                                         expected=None))
    assert [p["status"] for p in kept["partners"]] == ["suspended", "suspended"]
    assert kept["warnings"][0]["code"] == "partner_not_active"
    with pytest.raises(Invalid) as refused:
        await activities.edit("A1", {"partners": [{"partner_id": "P2", "role": "media"}]}, expected=None)
    assert refused.value.errors == [{"field": "partners[0].partner_id", "message": refused.value.errors[0]["message"]}]
    assert "P2" in refused.value.detail and "'suspended'" in refused.value.detail


async def test_every_problem_in_a_partner_list_is_named_at_once():
    activities, _ = service(partner("P1"), partner("P3", "archived"))
    with pytest.raises(Invalid) as refused:
        await activities.plan("A1", {**BODY, "partners": [{"partner_id": "P1", "role": "mitra"},
                                                          {"partner_id": "P2", "role": "mitra"},
                                                          {"partner_id": "P3", "role": "media"}]})
    assert [e["field"] for e in refused.value.errors] == ["partners[1].partner_id", "partners[2].partner_id"]


LOCKED = "[collection.go:177 sqlite.(*collection).UpdateAll.func1] database is locked (5) (SQLITE_BUSY)"


async def test_a_save_the_store_refused_as_busy_is_tried_again_in_place():
    activities, store = service()
    await activities.plan("A1", BODY)
    save, refusals = store.save, []

    async def busy_twice(loaded):
        if len(refusals) < 2:
            refusals.append(loaded.version)
            raise OperationFailure(LOCKED, 1)
        await save(loaded)

    store.save = busy_twice
    edited = await activities.edit("A1", {"title": "Baru"}, expected=None)
    assert refusals == [1, 1] and edited.version == 2
    assert store.saved[-1] == ("A1", 2, ["ActivityUpdated"]), "the event survives the refused tries"


async def test_a_store_that_stays_busy_is_unavailable_and_nothing_is_changed():
    activities, store = service()
    await activities.plan("A1", BODY)

    async def locked(loaded):
        raise OperationFailure(LOCKED, 1)

    store.save = locked
    with pytest.raises(Unavailable) as unavailable:
        await activities.edit("A1", {"title": "Baru"}, expected=None)
    assert unavailable.value.retry_after == 1 and store.rows["A1"].title == "Forum warga"


class BusyAggregates:
    """Stands in for shared.outbox.AggregateCollection: keeps documents and the events written with
    them, and refuses the first ``busy`` writes the way FerretDB does when writers collide."""

    def __init__(self, busy: int) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.written: list[list[str]] = []
        self.busy = busy
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, aggregate_id: str) -> asyncio.Lock:
        return self._locks.setdefault(aggregate_id, asyncio.Lock())

    async def get(self, aggregate_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.docs.get(aggregate_id))

    async def insert(self, document: dict[str, Any], events: list[Any]) -> None:
        self._write(document, events)

    async def replace(self, document: dict[str, Any], expected: int, events: list[Any], pending: Any = None,
                      read_under_lock: bool = False) -> None:
        assert self.docs[document["_id"]]["version"] == expected
        self._write(document, events)

    @property
    def collection(self) -> FerretCollection:
        # The store writes a change through the collection itself, by _id as on FerretDB, the
        # version read under the aggregate's lock (services/activities/store.py replace_read_under_lock).
        return FerretCollection(self)

    def announce(self, aggregate_ids: list[str]) -> None:
        pass

    def _write(self, document: dict[str, Any], events: list[Any]) -> None:
        if self.busy:
            self.busy -= 1
            raise OperationFailure(LOCKED, 1)
        self.docs[document["_id"]] = copy.deepcopy(document)
        self.written.append([event.type for event in events])


class FerretCollection:
    """The part of a PyMongo collection on FerretDB the store's ``replace_read_under_lock`` uses."""

    def __init__(self, aggregates: BusyAggregates) -> None:
        self.aggregates = aggregates
        self.database = SimpleNamespace(client=self)  # the client too (shared.mongo keeps it weakly)
        self.admin = self

    async def command(self, name: str) -> dict[str, Any]:
        return {"version": "7.0.42", "ferretdbVersion": "v1.24.0"}  # buildInfo: filters by _id only

    async def replace_one(self, where: dict[str, Any], document: dict[str, Any]) -> SimpleNamespace:
        assert set(where) == {"_id"}, "by _id alone on FerretDB"
        self.aggregates._write(document, [SimpleNamespace(type=e["type"]) for e in document["_outbox"]])
        return SimpleNamespace(matched_count=1)


class Revision:
    bumps = 0

    async def bump(self) -> None:
        self.bumps += 1


async def test_the_store_writes_the_events_again_when_a_busy_store_refused_the_first_try():
    aggregates, revision = BusyAggregates(busy=1), Revision()
    store = ActivityStore(aggregates, revision, ZoneInfo("Asia/Jakarta"))
    activities = Activities(store, FakeReplica(), "32.73", clock=lambda: NOW)
    await activities.plan("A1", BODY)
    aggregates.busy = 2
    await activities.edit("A1", {"title": "Forum warga Dago"}, expected=None)
    assert aggregates.written == [["sinergi.activity.planned"], ["sinergi.activity.updated"]]
    assert aggregates.docs["A1"]["version"] == 2 and revision.bumps == 2
