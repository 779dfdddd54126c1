"""Use cases of activity tracking (commands): check what the domain cannot see, let it decide, store.

Each change is one call to the unit of work (shared/unit_of_work.py), which owns the per-aggregate
lock, the ``If-Match`` check, the retries after a lost race or a busy store, and the outbox. What
is refused is said in the service's words (``shared.errors``; the domain's ``TransitionRefused`` is a
``Conflict``, ``InvalidActivity`` an ``Invalid``); the HTTP edge turns them into problem details.
The commands return the aggregate; how it is shown is the read side's (views.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.activities.domain import Activity, Location, Targets, election_of
from services.activities.fields import partner_ref, utc
from services.activities.store import ActivityStore, PartnerReplica, TargetStore
from shared.clock import Clock, now_ms
from shared.errors import Invalid, NotFound, VersionMismatch
from shared.unit_of_work import UnitOfWork


@dataclass
class Activities:
    store: ActivityStore
    replica: PartnerReplica
    region: str
    clock: Clock = field(default=now_ms)

    def __post_init__(self) -> None:
        self.uow = UnitOfWork(self.store, kind="activity")

    async def plan(self, activity_id: str, details: dict[str, Any]) -> Activity:
        await self._check_partners(details.get("partners") or [], already=set())
        activity = Activity.plan(id=activity_id, region=self.region, now=self.clock(), **_times(details))
        if await self.uow.add(activity):
            return activity
        # The id comes with the Idempotency-Key: a retry of a request that created it already.
        loaded = await self.store.load(activity_id)
        if loaded is None:
            raise NotFound(f"no activity with id {activity_id}")
        return loaded.aggregate

    async def edit(self, activity_id: str, changes: dict[str, Any], expected: int | None) -> Activity:
        changes = _times(changes)

        async def edit(activity: Activity) -> None:
            if "partners" in changes:
                await self._check_partners(changes["partners"] or [], {p.partner_id for p in activity.partners})
            activity.edit(changes, self.clock())

        return await self.uow.change(activity_id, expected, edit)

    async def schedule(self, activity_id: str, starts_at: datetime, ends_at: datetime,
                       location: dict[str, Any] | None, expected: int | None) -> Activity:
        place = Location(**location) if location is not None else None
        return await self.uow.change(
            activity_id, expected, lambda a: a.schedule(utc(starts_at), utc(ends_at), place, self.clock()))

    async def hold(self, activity_id: str, expected: int | None) -> Activity:
        return await self.uow.change(activity_id, expected, lambda a: a.hold(self.clock()))

    async def report(self, activity_id: str, outcome: dict[str, Any], expected: int | None) -> Activity:
        return await self.uow.change(activity_id, expected, lambda a: a.report(now=self.clock(), **outcome))

    async def cancel(self, activity_id: str, reason: str, expected: int | None) -> Activity:
        return await self.uow.change(activity_id, expected, lambda a: a.cancel(reason, self.clock()))

    async def _check_partners(self, partners: list[Any], already: set[str]) -> None:
        """Partners newly named must be known and active here (those already on it may stay)."""
        refs = [partner_ref(p) for p in partners]
        known = await self.replica.many({r.partner_id for r in refs} - already)
        errors: dict[str, str] = {}
        for i, ref in enumerate(refs):
            if ref.partner_id in already:
                continue
            partner = known.get(ref.partner_id)
            if partner is None:
                errors[f"partners[{i}].partner_id"] = (
                    f"partner {ref.partner_id} is not known to the activities service; register it with the "
                    "partners service (its event reaches this service within a second)")
            elif not partner.active:
                errors[f"partners[{i}].partner_id"] = (
                    f"partner {ref.partner_id} ({partner.name}) is '{partner.status}'; only active partners "
                    "can be added to an activity")
        if errors:
            raise Invalid(errors)


def _times(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, **{name: utc(values[name]) for name in ("starts_at", "ends_at") if name in values}}


@dataclass
class TargetBook:
    """An election's targets: one aggregate per election, its id the election's."""

    store: TargetStore
    region: str
    clock: Clock = field(default=now_ms)

    def __post_init__(self) -> None:
        self.uow = UnitOfWork(self.store, kind="targets")

    async def get(self, election: str) -> Targets | None:
        election_of(election)
        loaded = await self.store.load(election)
        return loaded.aggregate if loaded else None

    async def put(self, election: str, values: dict[str, Any], expected: int | None) -> tuple[Targets, bool]:
        """Set the election's targets; returns them and whether they were created."""
        election_of(election)
        if await self.store.load(election) is None:
            if expected not in (None, 0):
                raise VersionMismatch(
                    f"targets {election} are not set yet (version 0), not at version {expected}; nothing was "
                    "changed", current_version=0)
            targets = Targets.set_for(election=election, region=self.region, now=self.clock(), **values)
            if await self.uow.add(targets):
                return targets, True
            # Set by another request meanwhile: this one is a change to what it set.
        return await self.uow.change(election, expected, lambda t: t.change(self.clock(), **values)), False
