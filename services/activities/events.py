"""Domain events → the wire events other systems read, mapped on purpose (CONTRACT §6).

Each event's ``data`` is the aggregate after the change, as the public models of
``shared.events`` describe it (:class:`ActivitySnapshot`, :class:`TargetsSnapshot`: the aggregate's
own fields), plus what the domain event itself says (``changed_fields``, ``previous_starts_at``, ``amended`` with
``reason``).
Presentation never goes on the wire: no partner names or statuses from this service's replica,
no ``warnings`` — those belong to the API's answers (views.py). Place names do: the kecamatan's and
desa/kelurahan's names from the Kemendagri gazetteer ride beside their codes (``district_name``,
``village_name``), so a subscriber's e-mail can say "Coblong" without a gazetteer of its own.
"""

from __future__ import annotations

import dataclasses

from typing import Any

from services.activities.domain import (
    Activity, ActivityCancelled, ActivityHeld, ActivityPlanned, ActivityReopened, ActivityReported,
    ActivityRescheduled, ActivityScheduled, ActivityUpdated, OutcomeAmended, ReportFellOverdue, Targets, TargetsSet,
    jsonable, snapshot, targets_snapshot,
)
from services.activities.elections import Election, ElectionUpdated
from services.activities.fields import named, places
from shared.events import ActivitySnapshot, AnyEvent, ElectionSnapshot, EventType, TargetsSnapshot, make_event

SERVICE = "activities"

EVENT_TYPES: dict[type, EventType] = {
    ActivityPlanned: EventType.ACTIVITY_PLANNED,
    ActivityUpdated: EventType.ACTIVITY_UPDATED,
    ActivityScheduled: EventType.ACTIVITY_SCHEDULED,
    ActivityRescheduled: EventType.ACTIVITY_RESCHEDULED,
    ActivityHeld: EventType.ACTIVITY_HELD,
    ActivityReported: EventType.ACTIVITY_REPORTED,
    ActivityCancelled: EventType.ACTIVITY_CANCELLED,
    OutcomeAmended: EventType.ACTIVITY_AMENDED,
    ActivityReopened: EventType.ACTIVITY_REOPENED,
    ReportFellOverdue: EventType.ACTIVITY_REPORT_OVERDUE,
}

EVENT_ONLY = {"amended", "reason", "changes"}


def activity_event(activity: Activity, event: object) -> AnyEvent:
    """The wire event of one domain event the activity recorded."""
    said: dict[str, Any] = {}
    if isinstance(event, ActivityUpdated):
        said["changed_fields"] = list(event.changed_fields)
        now = snapshot(activity)
        was = snapshot(dataclasses.replace(activity, **dict(event.before)))
        said["changes"] = {name: {"before": was.get(name), "after": now.get(name)} for name in event.changed_fields}
    elif isinstance(event, ActivityRescheduled):
        said["previous_starts_at"] = event.previous_starts_at
        said["previous_ends_at"] = event.previous_ends_at
    elif isinstance(event, OutcomeAmended):
        said["amended"] = {name: {"before": before, "after": after} for name, before, after in event.amended}
        said["reason"] = event.reason
    elif isinstance(event, ActivityReopened):
        said["reason"] = event.reason
    data = ActivitySnapshot.model_validate({**snapshot(activity), **said, "location": named(activity.region, activity.location)})
    # ``amended`` and ``reason`` ride only on the events they belong to, not as nulls on every other.
    return make_event(EVENT_TYPES[type(event)], region=activity.region, service=SERVICE, subject=activity.id,
                      version=activity.version, data=jsonable(data.model_dump(exclude=EVENT_ONLY - set(said))))


def targets_event(targets: Targets, event: TargetsSet) -> AnyEvent:
    data = TargetsSnapshot.model_validate({
        **targets_snapshot(targets),
        "district_targets": [{"district": d, "activities": n, "district_name": places(targets.region).name_of(d)}
                             for d, n in targets.district_targets.items()],
        "changed_fields": list(event.changed_fields),
    })
    return make_event(EventType.TARGETS_SET, region=targets.region, service=SERVICE, subject=targets.id,
                      version=targets.version, data=jsonable(data.model_dump()))



def election_event(election: Election, event: ElectionUpdated, region: str) -> AnyEvent:
    """``sinergi.election.updated``: the election as ``GET /elections`` shows it, and what changed
    (subscribers that keep reminders tied to a voting day follow ``voting_day`` from here)."""
    data = ElectionSnapshot.model_validate({**election.describe(), "region": region,
                                            "changed_fields": list(event.changed_fields)})
    return make_event(EventType.ELECTION_UPDATED, region=region, service=SERVICE, subject=election.id,
                      version=election.version, data=jsonable(data.model_dump()))
