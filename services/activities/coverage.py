"""Coverage figures: the facts each activity document carries, the one aggregation that adds them up
(run by ``store.py``), and the arithmetic on the result. No I/O.

FerretDB 1.24 (our store where no MongoDB is installed) shapes how this works; each point
was checked against it:

- ``$group`` fills only its **first** accumulator (the others come back 0), so a pipeline
  can sum one thing only;
- ``$unwind`` keeps only ``_id`` and the unwound field, dropping every other field;
- ``$project`` does not evaluate expressions (``"$format"`` comes back as the literal text).

So each activity document carries its own contribution to every figure, ``_cov``: a list of
``{k, v}`` facts with ``k = "<dimension>|<key>|<metric>"`` (``n:<status>`` counts the activity,
``attendance``, ``women``, ``disabled``, ``reach`` are its reported outcome). It is written in
the same document write as the activity, so it is never out of step. One pipeline —
``$match`` (election, period) → ``$project`` → ``$unwind`` → ``$group`` by ``k`` with a single
``$sum`` — adds them up for every dimension at once; the result has one row per
(dimension, key, metric), a few hundred rows at most, whatever the number of activities.

What the figures mean (docs/activities.md):

- an activity counts once in each group it belongs to: its format, district, month (of
  ``starts_at`` in the region's time zone), each targeted segment, each partner; segments and
  partners overlap, so their groups may add up to more than the total;
- ``attendance``, ``women``, ``disabled``, ``reach`` come from reported outcomes; in a segment
  group ``attendance`` is the reported attendance *of that segment* (``attendance_by_segment``),
  which may come from activities that did not target it;
- totals are the sum over formats (every activity has exactly one format).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from services.activities.domain import Activity, Status

FIELD = "_cov"
# The dimensions each document's stored facts cover; stage and programme groups (and two-way
# matrices) are added up from the activities themselves (:func:`grouped`), so activities stored
# before those dimensions existed count in them too.
DIMENSIONS = ("segment", "format", "partner", "district", "month")
GROUPINGS = ("segment", "district", "format", "stage", "programme", "partner", "month")
METRICS = ("attendance", "women", "disabled", "reach")
NONE_KEY = ""  # an activity without a district or a date


@dataclass
class Tally:
    by_status: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Status})
    attendance: int = 0
    women: int = 0
    disabled: int = 0
    reach: int = 0

    @property
    def activities(self) -> int:
        return sum(self.by_status.values())

    @property
    def held(self) -> int:
        """Activities that took place: held or reported."""
        return self.by_status[Status.held] + self.by_status[Status.reported]

    def add(self, other: Tally) -> None:
        for status, count in other.by_status.items():
            self.by_status[status] += count
        for metric in METRICS:
            setattr(self, metric, getattr(self, metric) + getattr(other, metric))

    def take(self, contribution: Contribution) -> None:
        for metric, value in contribution.items():
            if metric.startswith("n:"):
                self.by_status[metric[2:]] += value
            else:
                setattr(self, metric, getattr(self, metric) + value)

    def figures(self) -> dict[str, Any]:
        return {
            "activities": self.activities,
            "by_status": dict(self.by_status),
            "held": self.held,
            **{metric: getattr(self, metric) for metric in METRICS},
        }


Cube = dict[str, dict[str | None, Tally]]


Contribution = dict[str, int]  # metric (n:<status>, attendance, ...) → value


def memberships(activity: Activity, zone: ZoneInfo) -> dict[str, dict[str | None, Contribution]]:
    """What the activity adds to each group of each dimension (``None``: no district, date, stage,
    programme). A segment it did not target but reported attendance of gets that attendance only."""
    status = f"n:{activity.status.value}"
    outcome = activity.outcome
    measured = {} if outcome is None else {
        "attendance": outcome.attendance_total, "women": outcome.women,
        "disabled": outcome.disabled, "reach": outcome.reach,
    }
    whole = {status: 1, **measured}
    month = activity.starts_at.astimezone(zone).strftime("%Y-%m") if activity.starts_at else None
    segments: dict[str | None, Contribution] = {
        s.value: {status: 1, **{m: measured.get(m, 0) for m in ("women", "disabled", "reach")}}
        for s in activity.segments}
    if outcome is not None:
        for segment, count in outcome.attendance_by_segment.items():
            segments.setdefault(segment, {})["attendance"] = count
    return {
        "segment": segments,
        "format": {activity.format.value: whole},
        "district": {(activity.location.district if activity.location else None): whole},
        "month": {month: whole},
        "stage": {(activity.stage.value if activity.stage else None): whole},
        "programme": {activity.programme: whole},
        "partner": {pid: whole for pid in dict.fromkeys(p.partner_id for p in activity.partners)},
    }


def facts(activity: Activity, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The activity's contribution to every coverage figure of :data:`DIMENSIONS` (stored as ``_cov``)."""
    found = memberships(activity, zone)
    return [{"k": f"{dimension}|{key or NONE_KEY}|{metric}", "v": value}
            for dimension in ("format", "district", "month", "partner", "segment")
            for key, contribution in found[dimension].items()
            for metric, value in contribution.items() if value]


def grouped(activities: list[Activity], zone: ZoneInfo, dimensions: tuple[str, ...]) -> dict[tuple, Tally]:
    """Figures per group of one dimension, or per cell of two (``("segment", "district")``: the matrix).

    In a cell with ``segment`` the segment's figures count (its attendance, as in a segment group);
    otherwise the activity's own.
    """
    cells: dict[tuple, Tally] = {}
    for activity in activities:
        found = memberships(activity, zone)
        if len(dimensions) == 1:
            pairs = [((k,), c) for k, c in found[dimensions[0]].items()]
        else:
            first, second = dimensions
            pairs = [((k1, k2), c1 if first == "segment" or second != "segment" else c2)
                     for k1, c1 in found[first].items() for k2, c2 in found[second].items()]
        for key, contribution in pairs:
            cells.setdefault(key, Tally()).take(contribution)
    return cells


def pipeline(match: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"$match": match},
        {"$project": {FIELD: 1}},
        {"$unwind": f"${FIELD}"},
        {"$group": {"_id": f"${FIELD}.k", "v": {"$sum": f"${FIELD}.v"}}},
    ]


def fold_facts(fact_lists: list[list[dict[str, Any]]]) -> Cube:
    """The same figures, added up here from facts already read (the period report does this)."""
    sums: dict[str, int] = {}
    for facts_of_one in fact_lists:
        for fact in facts_of_one:
            sums[fact["k"]] = sums.get(fact["k"], 0) + fact["v"]
    return fold([{"_id": k, "v": v} for k, v in sums.items()])


def fold(rows: list[dict[str, Any]]) -> Cube:
    cube: Cube = {dimension: {} for dimension in DIMENSIONS}
    for row in rows:
        dimension, rest = row["_id"].split("|", 1)
        raw_key, metric = rest.rsplit("|", 1)
        key = raw_key or None
        group = cube.setdefault(dimension, {}).setdefault(key, Tally())
        if metric.startswith("n:"):
            group.by_status[metric[2:]] = group.by_status.get(metric[2:], 0) + int(row["v"])
        else:
            setattr(group, metric, getattr(group, metric) + int(row["v"]))
    return cube


def total(cube: Cube) -> Tally:
    overall = Tally()
    for group in cube["format"].values():
        overall.add(group)
    return overall


def missing(wanted: dict[str, int], cube: Cube, dimension: str) -> list[str]:
    """Keys with a target above zero where no activity has taken place (held or reported)."""
    empty = Tally()
    return sorted(k for k, n in wanted.items() if n > 0 and cube[dimension].get(k, empty).held == 0)
