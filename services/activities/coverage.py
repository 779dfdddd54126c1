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
DIMENSIONS = ("segment", "format", "partner", "district", "month")
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

    def figures(self) -> dict[str, Any]:
        return {
            "activities": self.activities,
            "by_status": dict(self.by_status),
            "held": self.held,
            **{metric: getattr(self, metric) for metric in METRICS},
        }


Cube = dict[str, dict[str | None, Tally]]


def facts(activity: Activity, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The activity's contribution to every coverage figure (stored as ``_cov``)."""
    status = f"n:{activity.status.value}"
    outcome = activity.outcome
    measured = {} if outcome is None else {
        "attendance": outcome.attendance_total, "women": outcome.women,
        "disabled": outcome.disabled, "reach": outcome.reach,
    }
    out: list[dict[str, Any]] = []

    def add(dimension: str, key: str, metric: str, value: int) -> None:
        if value:
            out.append({"k": f"{dimension}|{key}|{metric}", "v": value})

    month = activity.starts_at.astimezone(zone).strftime("%Y-%m") if activity.starts_at else NONE_KEY
    district = (activity.location.district if activity.location else None) or NONE_KEY
    partners = dict.fromkeys(p.partner_id for p in activity.partners)
    single = [("format", activity.format.value), ("district", district), ("month", month)]
    for dimension, key in [*single, *(("partner", pid) for pid in partners)]:
        add(dimension, key, status, 1)
        for metric, value in measured.items():
            add(dimension, key, metric, value)
    for segment in activity.segments:
        add("segment", segment.value, status, 1)
        for metric in ("women", "disabled", "reach"):
            add("segment", segment.value, metric, measured.get(metric, 0))
    if outcome is not None:
        for segment, count in outcome.attendance_by_segment.items():
            add("segment", segment, "attendance", count)
    return out


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
