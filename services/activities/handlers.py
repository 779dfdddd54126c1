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
from zoneinfo import ZoneInfo

from services.activities.domain import Activity, Location, Status, Targets, election_of
from services.activities.elections import Calendar, Election, ShippedCalendar
from services.activities.fields import partner_ref, utc
from services.activities.store import ActivityStore, Claims, ElectionStore, PartnerReplica, TargetStore
from shared.clock import Clock, now_ms
from shared.errors import Invalid, NotFound, VersionMismatch
from shared.unit_of_work import UnitOfWork


@dataclass
class Activities:
    store: ActivityStore
    replica: PartnerReplica
    region: str
    clock: Clock = field(default=now_ms)
    calendar: Calendar = field(default_factory=ShippedCalendar)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))
    claims: Claims | None = None  # facts announced once across processes (see announce_overdue)

    def __post_init__(self) -> None:
        self.uow = UnitOfWork(self.store, kind="activity")

    async def plan(self, activity_id: str, details: dict[str, Any]) -> Activity:
        await self._check_partners(details.get("partners") or [], already=set())
        activity = Activity.plan(id=activity_id, region=self.region, now=self.clock(),
                                 calendar=await self.calendar.all(), **_times(details))
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
            activity.edit(changes, self.clock(), await self.calendar.all())

        return await self.uow.change(activity_id, expected, edit)

    async def schedule(self, activity_id: str, starts_at: datetime, ends_at: datetime,
                       location: dict[str, Any] | None, expected: int | None) -> Activity:
        return (await self.scheduling(activity_id, starts_at, ends_at, location, expected))[0]

    async def scheduling(self, activity_id: str, starts_at: datetime, ends_at: datetime,
                         location: dict[str, Any] | None, expected: int | None) -> tuple[Activity, bool]:
        """:meth:`schedule`, and whether the activity was scheduled before (its contacts may have been
        invited, on ``sinergi.activity.scheduled``, and answered): False for a planned one."""
        place = Location(**location) if location is not None else None
        before: list[bool] = []  # as the last try (after a lost race, the one stored) found it

        async def schedule(activity: Activity) -> None:
            before.append(activity.status is not Status.planned)
            election = await self.calendar.get(activity.election)  # its stages fill a missing stage
            activity.schedule(utc(starts_at), utc(ends_at), place, self.clock(), election, self.zone)

        return await self.uow.change(activity_id, expected, schedule), before[-1]

    async def hold(self, activity_id: str, expected: int | None) -> Activity:
        return await self.uow.change(activity_id, expected, lambda a: a.hold(self.clock()))

    async def report(self, activity_id: str, outcome: dict[str, Any], expected: int | None) -> Activity:
        return await self.uow.change(activity_id, expected, lambda a: a.report(now=self.clock(), **outcome))

    async def cancel(self, activity_id: str, reason: str, expected: int | None) -> Activity:
        return await self.uow.change(activity_id, expected, lambda a: a.cancel(reason, self.clock()))

    async def amend(self, activity_id: str, corrections: dict[str, Any], reason: str | None,
                    expected: int | None) -> Activity:
        """Correct a reported outcome (``sinergi.activity.amended``, before and after each field)."""
        return await self.uow.change(activity_id, expected, lambda a: a.amend(corrections, reason, self.clock()))

    async def reopen(self, activity_id: str, reason: str | None, expected: int | None) -> Activity:
        """A ``held`` marked by mistake goes back to ``scheduled``."""
        return await self.uow.change(activity_id, expected, lambda a: a.reopen(reason, self.clock()))

    async def announce_overdue(self) -> int:
        """Announce every held activity whose report fell overdue (H+3, the region's days), once per
        hold: the activity remembers it (a second look in this process finds nothing to say), and
        the fact is claimed by an insert first, so two processes looking at once cannot both
        announce it. Returns how many were announced."""
        now = self.clock()
        announced = 0
        for activity in await self.store.held():
            if not activity.report_overdue(now, self.zone):
                continue
            assert activity.held_at is not None  # every held activity was marked held at some time
            fact = f"report_overdue:{activity.id}:{activity.held_at.isoformat()}"
            claim = await self.claims.take(fact) if self.claims is not None else None
            if self.claims is not None and claim is None:
                continue
            said: list[bool] = []  # what the last try (after a lost race, the one stored) said
            try:
                await self.uow.change(activity.id, None,
                                      lambda a: said.append(a.announce_overdue(now, self.zone)))
            except NotFound:
                continue
            except Exception:
                if self.claims is not None and claim is not None:
                    await self.claims.give_back(claim)
                raise
            announced += bool(said and said[-1])
        return announced

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
    calendar: Calendar = field(default_factory=ShippedCalendar)

    def __post_init__(self) -> None:
        self.uow = UnitOfWork(self.store, kind="targets")

    async def election(self, election: str) -> Election:
        """The election as the calendar has it now; 422 naming ``election`` when it has none."""
        found = await self.calendar.get(election)
        return found if found is not None else election_of(election, await self.calendar.all())

    async def get(self, election: str) -> Targets | None:
        await self.election(election)
        loaded = await self.store.load(election)
        return loaded.aggregate if loaded else None

    async def put(self, election: str, values: dict[str, Any], expected: int | None) -> tuple[Targets, bool]:
        """Set the election's targets; returns them and whether they were created."""
        known = await self.election(election)
        if await self.store.load(election) is None:
            if expected not in (None, 0):
                raise VersionMismatch(
                    f"targets {election} are not set yet (version 0), not at version {expected}; nothing was "
                    "changed", current_version=0)
            targets = Targets.set_for(election=election, region=self.region, now=self.clock(), known=known, **values)
            if await self.uow.add(targets):
                return targets, True
            # Set by another request meanwhile: this one is a change to what it set.
        return await self.uow.change(election, expected, lambda t: t.change(self.clock(), known, **values)), False


@dataclass
class ElectionBook:
    """The election calendar's commands: an admin sets an election, an operator records its turnout."""

    store: ElectionStore
    region: str
    zone: ZoneInfo
    clock: Clock = field(default=now_ms)

    def __post_init__(self) -> None:
        self.uow = UnitOfWork(self.store, kind="election")

    async def put(self, election_id: str, values: dict[str, Any], expected: int | None) -> tuple[Election, bool]:
        """Create or replace an election; returns it and whether it was created (201)."""
        if await self.store.load(election_id) is None:
            if expected not in (None, 0):
                raise VersionMismatch(
                    f"election {election_id} does not exist yet (version 0), not at version {expected}; nothing "
                    "was changed", current_version=0)
            election = Election.define(election_id, self.clock(), values)
            if await self.uow.add(election):
                return election, True
            # Created by another request meanwhile: this one is a change to it.
        return await self.uow.change(election_id, expected, lambda e: e.change(self.clock(), values)), False

    async def record_turnout(self, election_id: str, turnout_pct: float, districts: list[dict[str, Any]],
                             source: str | None, expected: int | None) -> Election:
        now = self.clock()
        today = now.astimezone(self.zone).date()
        return await self.uow.change(election_id, expected, lambda e: e.record_turnout(
            now, today, self.region, turnout_pct, districts, source))
