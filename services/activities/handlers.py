"""Use cases of activity tracking: load, call the domain, save; and the figures built on them.

Writes to one activity run under ``store.lock(id)`` (FerretDB updates are read-then-write)
and save with the version they read; a write that lost a race across processes is retried
from a fresh read, or answered 412 when the client pinned a version with ``If-Match``.
Domain errors become problem details here: :class:`TransitionRefused` → 409 naming the
current status, :class:`InvalidActivity` → 422 naming the fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.errors import DuplicateKeyError

from services.activities import coverage, report
from services.activities.domain import (
    Activity, InvalidActivity, Location, PartnerRef, Targets, TransitionRefused, election_of,
)
from services.activities.elections import Election
from services.activities.labels import label, month_label
from services.activities.replica import KnownPartner, PartnerReplica
from services.activities.store import (
    ActivityStore, StoreBusy, TargetStore, query, snapshot, targets_snapshot,
)
from shared.outbox import StaleVersion
from shared.problems import Conflict, InvalidField, NotFound, PreconditionFailed, Unavailable

Clock = Callable[[], datetime]
SAVE_ATTEMPTS = 3
# Cached coverage figures: dropped when any activity changes, and after this long regardless
# (a write whose revision bump was lost to a crash is then seen within a minute).
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 64


def utc_ms(value: datetime) -> datetime:
    """UTC, to the millisecond: what BSON stores, so a value reads back exactly as written."""
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


def system_clock() -> datetime:
    return utc_ms(datetime.now(UTC))


def _busy() -> Unavailable:
    return Unavailable("the store is busy with other writes; nothing was changed, try again in a moment",
                       headers={"Retry-After": "1"})


def _domain_errors(exc: Exception) -> Exception:
    if isinstance(exc, TransitionRefused):
        return Conflict(str(exc), current_status=exc.status.value)
    if isinstance(exc, InvalidActivity):
        return InvalidField(exc.errors)
    return exc


# --- what a client sees --------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def view(activity: Activity, known: dict[str, KnownPartner], zone: ZoneInfo) -> dict[str, Any]:
    """The activity as the API answers and events carry it, with names and warnings.

    ``warnings`` flags what the office should look at without refusing anything: an activity
    inside its election's quiet period, a partner no longer active (or unknown) in the replica.
    """
    data = jsonable(snapshot(activity))
    warnings: list[dict[str, Any]] = []
    quiet = activity.quiet_period_warning(zone)
    if quiet:
        warnings.append({"code": "masa_tenang", "message": quiet})
    partners = []
    for ref in activity.partners:
        partner = known.get(ref.partner_id)
        status = partner.status if partner else "unknown"
        partners.append({"partner_id": ref.partner_id, "role": ref.role.value,
                         "name": partner.name if partner else None, "status": status})
        if partner is None or not partner.active:
            name = f"{partner.name} " if partner else ""
            warnings.append({"code": "partner_not_active", "partner_id": ref.partner_id,
                             "message": f"partner {name}({ref.partner_id}) is '{status}' in the partner registry"})
    data["partners"] = partners
    data["warnings"] = warnings
    return data


# --- activities ------------------------------------------------------------------------------


@dataclass
class Activities:
    store: ActivityStore
    replica: PartnerReplica
    region: str
    zone: ZoneInfo
    clock: Clock = field(default=system_clock)

    async def plan(self, activity_id: str, details: dict[str, Any]) -> dict[str, Any]:
        await self._check_partners(details.get("partners") or [], already=set())
        try:
            activity = Activity.plan(id=activity_id, region=self.region, now=self.clock(), **_times(details))
        except (TransitionRefused, InvalidActivity) as exc:
            raise _domain_errors(exc) from exc
        data = await self.present(activity)
        try:
            await self.store.add(activity, data)
        except StoreBusy:
            raise _busy() from None
        except DuplicateKeyError:
            # The id comes with the Idempotency-Key: a retry of a request that created it already.
            return await self.get(activity_id)
        return data

    async def get(self, activity_id: str) -> dict[str, Any]:
        activity = await self.store.get(activity_id)
        if activity is None:
            raise NotFound(f"no activity with id {activity_id}")
        return await self.present(activity)

    async def search(self, filters: dict[str, Any], limit: int,
                     cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        found, next_cursor = await self.store.page(query(**filters), limit, cursor)
        known = await self.replica.many({p.partner_id for a in found for p in a.partners})
        return [view(a, known, self.zone) for a in found], next_cursor

    async def edit(self, activity_id: str, changes: dict[str, Any], expected: int | None) -> dict[str, Any]:
        changes = _times(changes)

        async def check(activity: Activity) -> None:
            if "partners" in changes:
                await self._check_partners(changes["partners"] or [], {p.partner_id for p in activity.partners})

        return await self._change(activity_id, expected, lambda a, now: a.edit(changes, now), check)

    async def schedule(self, activity_id: str, starts_at: datetime, ends_at: datetime,
                       location: dict[str, Any] | None, expected: int | None) -> dict[str, Any]:
        place = Location(**location) if location is not None else None
        return await self._change(
            activity_id, expected, lambda a, now: a.schedule(utc_ms(starts_at), utc_ms(ends_at), place, now))

    async def hold(self, activity_id: str, expected: int | None) -> dict[str, Any]:
        return await self._change(activity_id, expected, lambda a, now: a.hold(now))

    async def report(self, activity_id: str, outcome: dict[str, Any], expected: int | None) -> dict[str, Any]:
        return await self._change(activity_id, expected, lambda a, now: a.report(now=now, **outcome))

    async def cancel(self, activity_id: str, reason: str, expected: int | None) -> dict[str, Any]:
        return await self._change(activity_id, expected, lambda a, now: a.cancel(reason, now))

    async def present(self, activity: Activity) -> dict[str, Any]:
        known = await self.replica.many({p.partner_id for p in activity.partners})
        return view(activity, known, self.zone)

    async def _change(
        self,
        activity_id: str,
        expected: int | None,
        change: Callable[[Activity, datetime], object],
        check: Callable[[Activity], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        for _ in range(SAVE_ATTEMPTS):
            async with self.store.lock(activity_id):
                loaded = await self.store.load(activity_id)
                if loaded is None:
                    raise NotFound(f"no activity with id {activity_id}")
                activity, pending = loaded
                _require_version("activity", activity_id, activity.version, expected)
                if check is not None:
                    await check(activity)
                read_version = activity.version
                try:
                    change(activity, self.clock())
                except (TransitionRefused, InvalidActivity) as exc:
                    raise _domain_errors(exc) from exc
                data = await self.present(activity)
                if activity.version == read_version:
                    return data  # nothing changed: nothing stored, no event
                try:
                    await self.store.save(activity, read_version, pending, data)
                except StoreBusy:
                    raise _busy() from None
                except StaleVersion:
                    if expected is not None:
                        raise PreconditionFailed(f"activity {activity_id} changed while this request ran; nothing "
                                                 "was changed: read it again and retry") from None
                    continue  # another process wrote first: apply the change to its result
                return data
        raise Conflict(f"activity {activity_id} is being changed by other requests right now; try again")

    async def _check_partners(self, partners: list[Any], already: set[str]) -> None:
        """Partners newly named must be known and active here (those already on it may stay)."""
        refs = [p if isinstance(p, PartnerRef) else PartnerRef(p["partner_id"], p["role"]) for p in partners]
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
            raise InvalidField(errors)


def _times(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in ("starts_at", "ends_at"):
        if isinstance(out.get(name), datetime) and out[name].tzinfo is not None:
            out[name] = utc_ms(out[name])
    return out


def _require_version(kind: str, aggregate_id: str, current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"{kind} {aggregate_id} is at version {current}, not {expected} (If-Match); nothing was changed: "
            "read it again and retry", current_version=current)


# --- targets -----------------------------------------------------------------------------------


@dataclass
class TargetBook:
    store: TargetStore
    region: str
    clock: Clock = field(default=system_clock)

    async def get(self, election: str) -> Targets | None:
        _election(election)
        loaded = await self.store.load(election)
        return loaded[0] if loaded else None

    async def put(self, election: str, values: dict[str, Any], expected: int | None) -> tuple[dict[str, Any], bool]:
        """Set the election's targets; returns the targets and whether they were created."""
        _election(election)
        for _ in range(SAVE_ATTEMPTS):
            async with self.store.lock(election):
                loaded = await self.store.load(election)
                if loaded is None:
                    if expected not in (None, 0):
                        _require_version("targets", election, 0, expected)
                    targets = self._new(election, values)
                    try:
                        await self.store.add(targets)
                    except StoreBusy:
                        raise _busy() from None
                    except DuplicateKeyError:
                        continue
                    return jsonable(targets_snapshot(targets)), True
                targets, pending = loaded
                _require_version("targets", election, targets.version, expected)
                read_version = targets.version
                try:
                    targets.change(self.clock(), **values)
                except InvalidActivity as exc:
                    raise InvalidField(exc.errors) from exc
                if targets.version != read_version:
                    try:
                        await self.store.save(targets, read_version, pending)
                    except StoreBusy:
                        raise _busy() from None
                    except StaleVersion:
                        continue
                return jsonable(targets_snapshot(targets)), False
        raise Conflict(f"the targets of {election} are being changed by other requests right now; try again")

    def _new(self, election: str, values: dict[str, Any]) -> Targets:
        try:
            return Targets.set_for(election=election, region=self.region, now=self.clock(), **values)
        except InvalidActivity as exc:
            raise InvalidField(exc.errors) from exc


def _election(election_id: str) -> Election:
    try:
        return election_of(election_id)
    except InvalidActivity as exc:
        raise InvalidField(exc.errors) from exc


# --- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """``[start, end)`` on ``starts_at``; either side may be open."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None, zone: ZoneInfo) -> Period:
        """Dates are whole local days, ``to`` included; date-times are instants, ``to`` excluded."""
        begin = _instant("from", start, zone, next_day=False)
        until = _instant("to", end, zone, next_day=True)
        if begin and until and until <= begin:
            raise InvalidField({"to": "must be after from"})
        return cls(begin, until)

    def describe(self) -> dict[str, str | None]:
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}

    def text(self, zone: ZoneInfo) -> str:
        """``2024-10-01 s.d. 2024-10-31`` in local dates, as a report heading says it."""
        first = self.start.astimezone(zone).date().isoformat() if self.start else "awal"
        last = (self.end - timedelta(microseconds=1)).astimezone(zone).date().isoformat() if self.end else "akhir"
        return "seluruh periode" if not (self.start or self.end) else f"{first} s.d. {last}"


def _instant(name: str, value: str | None, zone: ZoneInfo, next_day: bool) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + (timedelta(days=1) if next_day else timedelta())
            return datetime.combine(day, time(), zone).astimezone(UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(
            {name: "a date (2024-10-01) or a date-time with offset (2024-10-01T08:00:00+07:00)"}) from None
    if moment.tzinfo is None:
        raise InvalidField({name: "give the date-time a UTC offset, e.g. 2024-10-01T08:00:00+07:00"})
    return moment.astimezone(UTC)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Figures:
    store: ActivityStore
    targets: TargetBook
    replica: PartnerReplica
    region: str
    region_name: str
    zone: ZoneInfo
    clock: Clock = field(default=system_clock)

    _cache: dict[tuple[str, datetime | None, datetime | None], tuple[str | None, float, coverage.Cube]] = field(
        default_factory=dict, repr=False)

    async def cube(self, election: str, period: Period) -> coverage.Cube:
        """The figures of an election and period: the database's, or the same figures cached while
        no activity has changed since (checked against the store's revision token)."""
        key = (election, period.start, period.end)
        token = await self.store.revision.current()  # read before the scan: a write during it invalidates
        cached = self._cache.get(key)
        if cached and cached[0] == token and monotonic() - cached[1] < CACHE_SECONDS:
            return cached[2]
        cube = await self.store.coverage(query(election=election, starts_from=period.start, starts_before=period.end))
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (token, monotonic(), cube)
        return cube

    async def coverage(self, election_id: str, group_by: str, period: Period) -> dict[str, Any]:
        election = _election(election_id)
        targets = await self.targets.get(election_id)
        cube = await self.cube(election_id, period)
        names = await self.partner_names(cube["partner"]) if group_by == "partner" else {}
        return coverage_view(self.region, election, targets, group_by, cube, names, period, self.today())

    async def partner_names(self, groups: dict[str | None, coverage.Tally]) -> dict[str, str]:
        known = await self.replica.many({k for k in groups if k})
        return {pid: p.name for pid, p in known.items()}

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    async def report(self, election_id: str, period: Period, fmt: str) -> tuple[bytes, str, str]:
        """The period report: (content, media type, file name)."""
        election = _election(election_id)
        targets = await self.targets.get(election_id)
        match = query(election=election_id, starts_from=period.start, starts_before=period.end)
        found, cube = await self.store.all_with_figures(match)
        known = await self.replica.many({p.partner_id for a in found for p in a.partners})
        names = {pid: p.name for pid, p in known.items()}
        table = report.rows(found, names, self.zone)
        span = period.text(self.zone).replace(" s.d. ", "_").replace(" ", "-")
        name = f"laporan-kegiatan-{election_id}-{span}"
        if fmt == "csv":
            return await asyncio.to_thread(report.to_csv, table), "text/csv; charset=utf-8", f"{name}.csv"
        context = report.ReportContext(self.region, self.region_name, election, period.text(self.zone),
                                       self.today(), self.zone, targets)
        return await asyncio.to_thread(report.to_xlsx, context, table, cube), XLSX, f"{name}.xlsx"


def coverage_view(
    region: str,
    election: Election,
    targets: Targets | None,
    group_by: str,
    cube: coverage.Cube,
    partner_names: dict[str, str],
    period: Period,
    today: date,
) -> dict[str, Any]:
    totals = coverage.total(cube)
    voting_day = targets.voting_day if targets else election.voting_day
    days_left = (voting_day - today).days
    wanted = {"segment": targets.segment_targets, "district": targets.district_targets}.get(group_by, {}) \
        if targets else {}
    groups_by_key = dict(cube[group_by])
    for key in wanted:  # a targeted key with nothing yet is a row too
        groups_by_key.setdefault(key, coverage.Tally())
    groups = []
    for key in sorted(groups_by_key, key=lambda k: (k is None, k or "")):
        tally = groups_by_key[key]
        row: dict[str, Any] = {"key": key, "label": _group_label(group_by, key, partner_names), **tally.figures()}
        if group_by in ("segment", "district"):
            target = wanted.get(key) if key else None
            row["target"] = target
            row["progress_pct"] = _pct(tally.held, target)
        groups.append(row)
    return {
        "election": election.id,
        "region": region,
        "group_by": group_by,
        "period": period.describe(),
        "as_of": today.isoformat(),
        "voting_day": voting_day.isoformat(),
        "days_to_voting_day": days_left,
        "totals": totals.figures(),
        "targets": None if targets is None else {
            "version": targets.version,
            "participation_target_pct": targets.participation_target_pct,
            "reach_target": targets.reach_target,
            "reach_pct": _pct(totals.reach, targets.reach_target),
            "segment_targets": dict(targets.segment_targets),
            "district_targets": dict(targets.district_targets),
            "source": targets.source,
        },
        "groups": groups,
        "gaps": gaps(targets, cube, days_left),
    }


def gaps(targets: Targets | None, cube: coverage.Cube, days_left: int) -> dict[str, Any]:
    """Targeted segments and districts where no activity has taken place yet."""
    return {
        "segments": coverage.missing(targets.segment_targets, cube, "segment") if targets else [],
        "districts": coverage.missing(targets.district_targets, cube, "district") if targets else [],
        "days_to_voting_day": days_left,
    }


def _group_label(group_by: str, key: str | None, partner_names: dict[str, str]) -> str:
    if group_by == "month":
        return month_label(key)
    if key is None:
        return "Tanpa kecamatan" if group_by == "district" else "-"
    if group_by == "partner":
        return partner_names.get(key, key)
    return label(key) if group_by in ("segment", "format") else key


def _pct(value: int, target: int | None) -> float | None:
    return round(value * 100 / target, 1) if target else None
