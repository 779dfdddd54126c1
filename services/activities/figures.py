"""The figures side: periods, coverage against targets (cached while nothing changed), the period report.

Read-only: what the coverage facts (coverage.py) add up to for an election and a period, shown
against the election's targets, and the *laporan kegiatan* built from the same facts (report.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from services.activities import coverage, report
from services.activities.domain import Targets
from services.activities.elections import Election
from services.activities.fields import FIRST_YEAR, LAST_YEAR, places
from services.activities.handlers import TargetBook
from services.activities.invitations import Confirmations, counts
from services.activities.store import ActivityFilter, ActivityStore, PartnerReplica, query
from services.activities.views import month_label
from shared.clock import Clock, now_ms
from shared.errors import Invalid
from shared.gazetteer import Places
from shared.vocabulary import label

# Answered from the stored facts by the database; the other groupings from the activities (coverage.grouped).
STORED = set(coverage.DIMENSIONS)

# Cached coverage figures: dropped when any activity changes, and after this long regardless
# (a write whose revision bump was lost to a crash is then seen within a minute).
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 64
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
            raise Invalid({"to": "must be after from"})
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
    whole_day = len(value) == 10
    try:
        moment = datetime.combine(date.fromisoformat(value), time(), zone) if whole_day \
            else datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(
            {name: "a date (2024-10-01) or a date-time with offset (2024-10-01T08:00:00+07:00)"}) from None
    if moment.tzinfo is None:
        raise Invalid({name: "give the date-time a UTC offset, e.g. 2024-10-01T08:00:00+07:00"})
    # Python's first and last years cannot be shifted by a day or an offset (an OverflowError
    # used to end the request without an answer).
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise Invalid({name: f"{value} is out of range: give a date between the years {FIRST_YEAR} and {LAST_YEAR}"})
    if whole_day and next_day:
        moment = datetime.combine(moment.date() + timedelta(days=1), time(), zone)
    return moment.astimezone(UTC)


@dataclass
class Figures:
    store: ActivityStore
    targets: TargetBook
    replica: PartnerReplica
    region: str
    region_name: str
    zone: ZoneInfo
    clock: Clock = field(default=now_ms)
    # The region's kecamatan names (main.py: read from Settings.gazetteer_dir at start).
    places: Places | None = None
    # The contacts' answers to invitations, counted in the period report (invitations.py).
    confirmations: Confirmations | None = None

    # (election, from, to) → the revision it was read at (revision.current()), when, the figures
    _cache: dict[tuple[str, datetime | None, datetime | None],
                 tuple[tuple[str | None, int], float, coverage.Cube]] = field(default_factory=dict, repr=False)

    async def cube(self, election: str, period: Period) -> coverage.Cube:
        """The figures of an election and period: the database's, or the same figures cached while
        no activity has changed since (checked against the store's revision token)."""
        key = (election, period.start, period.end)
        # Read before the scan: a write during it invalidates. With this process's own writes in it.
        token = await self.store.revision.current()
        cached = self._cache.get(key)
        if cached and cached[0] == token and monotonic() - cached[1] < CACHE_SECONDS:
            return cached[2]
        cube = await self.store.coverage(query(ActivityFilter(election=election), period.start, period.end))
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (token, monotonic(), cube)
        return cube

    async def coverage(self, election_id: str, group_by: tuple[str, ...], period: Period) -> dict[str, Any]:
        election = await self.targets.election(election_id)
        targets = await self.targets.get(election_id)
        if len(group_by) == 1 and group_by[0] in STORED:
            cube = await self.cube(election_id, period)
            cells = {(k,): tally for k, tally in cube[group_by[0]].items()}
        else:
            found, cube = await self.store.all_with_figures(
                query(ActivityFilter(election=election_id), period.start, period.end))
            cells = coverage.grouped(found, self.zone, group_by)
        names = {}
        if "partner" in group_by:
            names = await self.partner_names({key[group_by.index("partner")] for key in cells})
        return coverage_view(self.region, election, targets, group_by, cube, cells, names, period, self.today(),
                             self.gazetteer)

    async def confirmation_counts(self, activity_ids: list[str]) -> dict[str, dict[str, int]]:
        """How many invited contacts answered hadir, tidak hadir and diwakilkan, per activity with any answer."""
        if self.confirmations is None or not activity_ids:
            return {}
        answers = await self.confirmations.of(activity_ids)
        return {activity_id: counts(found) for activity_id, found in answers.items() if found}

    @property
    def gazetteer(self) -> Places:
        return self.places or places(self.region)

    async def partner_names(self, ids: set[str | None]) -> dict[str, str]:
        known = await self.replica.many({k for k in ids if k})
        return {pid: p.name for pid, p in known.items()}

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    async def report(self, election_id: str, period: Period, fmt: str) -> tuple[bytes, str, str]:
        """The period report: (content, media type, file name)."""
        election = await self.targets.election(election_id)
        targets = await self.targets.get(election_id)
        match = query(ActivityFilter(election=election_id), period.start, period.end)
        found, cube = await self.store.all_with_figures(match)
        known = await self.replica.many({p.partner_id for a in found for p in a.partners})
        names = {pid: p.name for pid, p in known.items()}
        table = report.rows(found, names, self.zone, await self.confirmation_counts([a.id for a in found]))
        span = period.text(self.zone).replace(" s.d. ", "_").replace(" ", "-")
        name = f"laporan-kegiatan-{election_id}-{span}"
        if fmt == "csv":
            return await asyncio.to_thread(report.to_csv, table), "text/csv; charset=utf-8", f"{name}.csv"
        context = report.ReportContext(self.region, self.region_name, election, period.text(self.zone),
                                       self.today(), targets)
        return await asyncio.to_thread(report.to_xlsx, context, table, cube), XLSX, f"{name}.xlsx"


def coverage_view(
    region: str,
    election: Election,
    targets: Targets | None,
    group_by: tuple[str, ...],
    cube: coverage.Cube,
    cells: dict[tuple, coverage.Tally],
    partner_names: dict[str, str],
    period: Period,
    today: date,
    gazetteer: Places | None = None,
) -> dict[str, Any]:
    """One ``group_by``: ``groups`` of ``{key, label, ...figures}``, with ``target`` and ``progress_pct``
    for segments and districts. Two (the matrix): one row per cell that has anything, ``key`` and
    ``label`` then lists in the order of ``group_by`` (targets are per segment and per kecamatan,
    not per cell, so cells carry none). A row with a kecamatan carries its ``name`` from the
    gazetteer (the matrix: the name of its kecamatan)."""
    gazetteer = gazetteer or places(region)
    totals = coverage.total(cube)
    voting_day = targets.voting_day if targets else election.voting_day
    days_left = (voting_day - today).days if voting_day else None
    single = group_by[0] if len(group_by) == 1 else None
    wanted = {"segment": targets.segment_targets, "district": targets.district_targets}.get(single or "", {}) \
        if targets else {}
    cells = dict(cells)
    for key in wanted:  # a targeted key with nothing yet is a row too
        cells.setdefault((key,), coverage.Tally())
    turnout = turnout_view(election, targets, gazetteer)
    by_district = {d["district"]: d["turnout_pct"] for d in (turnout or {}).get("districts", [])}
    groups = []
    for key in sorted(cells, key=lambda ks: tuple((k is None, k or "") for k in ks)):
        tally = cells[key]
        labels = [_group_label(dim, k, partner_names) for dim, k in zip(group_by, key, strict=True)]
        row: dict[str, Any] = {"key": key[0] if single else list(key), "label": labels[0] if single else labels,
                               **tally.figures()}
        if single in ("segment", "district"):
            target = wanted.get(key[0]) if key[0] else None
            row["target"] = target
            row["progress_pct"] = _pct(tally.held, target)
        if "district" in group_by:
            row["name"] = gazetteer.name_of(key[group_by.index("district")])
        if single == "district" and turnout is not None:
            row["turnout_pct"] = by_district.get(key[0])
        groups.append(row)
    return {
        "election": election.id,
        "region": region,
        "group_by": ",".join(group_by),
        "period": period.describe(),
        "as_of": today.isoformat(),
        "voting_day": voting_day.isoformat() if voting_day else None,
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
        "turnout": turnout,
        "groups": groups,
        "gaps": gaps(targets, cube, days_left, gazetteer),
    }


def turnout_view(election: Election, targets: Targets | None,
                 gazetteer: Places | None = None) -> dict[str, Any] | None:
    """The region's recorded turnout against the participation target (``gap_pct``: turnout − target)."""
    if election.turnout is None:
        return None
    target = targets.participation_target_pct if targets else election.participation_target_pct
    recorded = election.turnout

    def gap(pct: float) -> float | None:
        return None if target is None else round(pct - target, 2)

    return {"turnout_pct": recorded.turnout_pct, "participation_target_pct": target,
            "gap_pct": gap(recorded.turnout_pct), "target_met": None if target is None else recorded.turnout_pct >= target,
            "source": recorded.source,
            "districts": [{"district": d, "district_name": gazetteer.name_of(d) if gazetteer else None,
                           "turnout_pct": p, "gap_pct": gap(p)} for d, p in recorded.districts]}


def gaps(targets: Targets | None, cube: coverage.Cube, days_left: int | None,
         gazetteer: Places | None = None) -> dict[str, Any]:
    """Targeted segments and districts where no activity has taken place yet; ``district_names``
    (code → name) beside the kecamatan codes."""
    districts = coverage.missing(targets.district_targets, cube, "district") if targets else []
    return {
        "segments": coverage.missing(targets.segment_targets, cube, "segment") if targets else [],
        "districts": districts,
        "district_names": {d: gazetteer.name_of(d) for d in districts} if gazetteer else {},
        "days_to_voting_day": days_left,
    }


def _group_label(group_by: str, key: str | None, partner_names: dict[str, str]) -> str:
    if group_by == "month":
        return month_label(key)
    if key is None:
        return {"district": "Tanpa kecamatan", "stage": "Tanpa tahapan", "programme": "Tanpa program"}.get(
            group_by, "-")
    if group_by == "partner":
        return partner_names.get(key, key)
    return label(key, group_by) if group_by in ("segment", "format", "stage") else key


def _pct(value: int, target: int | None) -> float | None:
    return round(value * 100 / target, 1) if target else None
