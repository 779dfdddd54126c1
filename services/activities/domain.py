"""The ``Activity`` aggregate and the election ``Targets``: the rules of outreach, no I/O.

(Over 400 lines: the two aggregates, their events and their plain-data forms read best together.)

Life cycle (CONTRACT §4)::

    planned ──schedule──▶ scheduled ──hold──▶ held ──report──▶ reported ──amend──▶ reported
       │                   │  ▲ ◀──reopen (held by mistake)──┘
       └──cancel──▶ cancelled ◀──cancel──┘     (schedule again = reschedule)

Every method checks its rule, changes state, bumps ``version`` by one and records exactly one
past-tense event; a call that changes nothing records nothing. A broken rule raises
:class:`TransitionRefused` (the current state forbids it: a ``Conflict``, 409, naming
``current_status``) or :class:`~services.activities.fields.InvalidActivity` (a field is wrong:
``Invalid``, 422), each worded for the operator who reads it. The words (segments, formats, ...)
are ``shared.vocabulary``'s; what each field accepts is in ``fields.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from services.activities.elections import ELECTIONS, Election
from services.activities.fields import (
    DETAILS, TARGET_FIELDS, ActivityError, InvalidActivity, Location, Outcome, PartnerRef, Speaker, clean,
    clean_location, detail_errors, election_of, location_errors, outcome_errors, refuse, target_values, text,
    time_errors,
)
from services.activities.fields import place as placed
from shared.errors import Conflict
from shared.stamp import stamp
from shared.vocabulary import Format, Kind, Method, Segment, Stage, Topic


class Status(StrEnum):
    planned = "planned"
    scheduled = "scheduled"
    held = "held"
    reported = "reported"
    cancelled = "cancelled"


class TransitionRefused(ActivityError, Conflict):
    """The activity's current state forbids the change (409, naming ``current_status``)."""

    def __init__(self, message: str, status: Status) -> None:
        super().__init__(message, current_status=status.value)
        self.status = status


# --- events (past tense, recorded by the aggregate) ----------------------------------------------


@dataclass(frozen=True)
class ActivityPlanned:
    pass


@dataclass(frozen=True)
class ActivityUpdated:
    changed_fields: tuple[str, ...]
    # What each changed field was right before (audit, subscribers): (field, before) pairs.
    before: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ActivityScheduled:
    pass


@dataclass(frozen=True)
class ActivityRescheduled:
    previous_starts_at: datetime | None
    previous_ends_at: datetime | None


@dataclass(frozen=True)
class ActivityHeld:
    pass


@dataclass(frozen=True)
class ActivityReported:
    pass


@dataclass(frozen=True)
class ActivityCancelled:
    reason: str


@dataclass(frozen=True)
class OutcomeAmended:
    """A reported outcome was corrected: each changed field as (field, before, after), and why."""

    amended: tuple[tuple[str, Any, Any], ...]
    reason: str


@dataclass(frozen=True)
class ActivityReopened:
    """An activity marked held by mistake is scheduled again."""

    reason: str


@dataclass(frozen=True)
class ReportFellOverdue:
    """Held ``REPORT_DUE_DAYS`` days ago (the region's days) and still without a report."""


@dataclass(frozen=True)
class TargetsSet:
    changed_fields: tuple[str, ...]


# --- the aggregate ---------------------------------------------------------------------------

EDITABLE_STATUSES = frozenset({Status.planned, Status.scheduled})
# What a correction of a reported outcome may change (POST /activities/{id}/amend).
AMENDABLE = ("attendance_total", "attendance_by_segment", "women", "disabled", "reach", "notes",
             "documentation_urls")
# H+3: a held activity's report is overdue from the third local day after it was held.
REPORT_DUE_DAYS = 3


@dataclass
class Activity:
    id: str
    region: str
    title: str
    kind: Kind
    election: str
    method: Method
    format: Format
    segments: list[Segment]
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    stage: Stage | None = None
    topics: list[Topic] = field(default_factory=list)
    partners: list[PartnerRef] = field(default_factory=list)
    speakers: list[Speaker] = field(default_factory=list)
    location: Location | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    planned_reach: int | None = None
    programme: str | None = None  # a named programme the activity belongs to, e.g. GERDU PEMILU
    status: Status = Status.planned
    outcome: Outcome | None = None
    scheduled_at: datetime | None = None
    held_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    # When the missing report was announced overdue (bookkeeping: kept, never shown or published).
    overdue_announced_at: datetime | None = None
    version: int = 1
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    # -- creation and edits ---------------------------------------------------------------

    @classmethod
    def plan(cls, *, id: str, region: str, now: datetime, calendar: Mapping[str, Election] | None = None,
             **details: Any) -> Activity:
        """A new activity, ``planned``; ``starts_at`` may already be known. ``election`` must be in the
        ``calendar`` (the stored one; the shipped one when not given)."""
        unknown = set(details) - set(DETAILS)
        if unknown:
            raise InvalidActivity({name: "not a field of an activity" for name in sorted(unknown)})
        values = clean(details)
        values["location"], unresolved = placed(region, values["location"])  # a kecamatan by name → its code
        refuse(detail_errors(region, values, calendar), unresolved)
        activity = cls(id=id, region=region, created_at=now, updated_at=now, **values)
        activity.events.append(ActivityPlanned())
        return activity

    def edit(self, changes: dict[str, Any], now: datetime,
             calendar: Mapping[str, Election] | None = None) -> tuple[str, ...]:
        """Change details while ``planned`` or ``scheduled``; returns the fields that changed."""
        self._require(EDITABLE_STATUSES, "edited", "only planned or scheduled activities can be edited")
        unknown = set(changes) - set(DETAILS)
        if unknown:
            raise InvalidActivity({name: "cannot be edited" for name in sorted(unknown)})
        if self.status is Status.scheduled and {"starts_at", "ends_at"} & set(changes):
            moved = "starts_at" if "starts_at" in changes else "ends_at"
            raise InvalidActivity({moved: f"activity {self.id} is scheduled; move it with "
                                          f"POST /activities/{self.id}/schedule"})
        merged = clean({**self.details(), **changes})
        merged["location"], unresolved = placed(self.region, merged["location"])
        refuse(detail_errors(self.region, merged, calendar), unresolved)
        changed = tuple(name for name in DETAILS if merged[name] != getattr(self, name))
        if not changed:
            return ()
        before = tuple((name, getattr(self, name)) for name in changed)
        for name in changed:
            setattr(self, name, merged[name])
        self._record(ActivityUpdated(changed, before), now)
        return changed

    def details(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DETAILS}

    # -- the life cycle -----------------------------------------------------------------------

    def schedule(self, starts_at: datetime, ends_at: datetime, location: Location | None, now: datetime,
                 election: Election | None = None, zone: ZoneInfo | None = None) -> bool:
        """Give a planned activity its date (``scheduled``), or move a scheduled one (rescheduled).

        A date in the past is fine: offices often record an activity after it took place.
        Without a ``stage``, the stage is the one of the ``election`` whose window holds the local
        date (``zone``); a stage that was the old date's follows the date when it moves.
        Returns False when a scheduled activity is asked to stay exactly where it is.
        """
        self._require(EDITABLE_STATUSES, "scheduled")
        refuse(time_errors(starts_at, ends_at))
        place = self.location if location is None else clean_location(location)
        if place is not None:
            place, unresolved = placed(self.region, place)
            refuse(location_errors(self.region, place), unresolved)
        if (self.status is Status.scheduled and (starts_at, ends_at, place)
                == (self.starts_at, self.ends_at, self.location)):
            return False
        previous = (self.starts_at, self.ends_at)
        was = self.status
        if election is not None:
            old = election.stage_on(self.starts_at.astimezone(zone).date()) if self.starts_at else None
            if self.stage is None or self.stage == old:
                self.stage = election.stage_on(starts_at.astimezone(zone).date()) or self.stage
        self.starts_at, self.ends_at, self.location = starts_at, ends_at, place
        if was is Status.planned:
            self.status = Status.scheduled
            self.scheduled_at = now
            self._record(ActivityScheduled(), now)
        else:
            self._record(ActivityRescheduled(*previous), now)
        return True

    def hold(self, now: datetime) -> None:
        """It took place. Refused before ``starts_at``."""
        if self.status is Status.planned:
            raise TransitionRefused(
                f"activity {self.id} is 'planned'; schedule it (POST /activities/{self.id}/schedule) "
                "before marking it held", self.status)
        self._require({Status.scheduled}, "marked held")
        assert self.starts_at is not None  # every scheduled activity has its date
        if now < self.starts_at:
            raise TransitionRefused(
                f"activity {self.id} starts at {self.starts_at.isoformat()}; it cannot be marked held "
                "before it starts", self.status)
        self.status = Status.held
        self.held_at = now
        self._record(ActivityHeld(), now)

    def report(
        self,
        *,
        attendance_total: int,
        now: datetime,
        attendance_by_segment: dict[str, int] | None = None,
        women: int = 0,
        disabled: int = 0,
        reach: int | None = None,
        documentation_urls: list[str] | tuple[str, ...] = (),
        notes: str | None = None,
    ) -> None:
        """Record what a held activity reached (``reported``)."""
        if self.status in EDITABLE_STATUSES:
            raise TransitionRefused(
                f"activity {self.id} is '{self.status}'; mark it held (POST /activities/{self.id}/hold) "
                "before reporting its outcome", self.status)
        self._require({Status.held}, "reported")
        by_segment = {str(k): v for k, v in (attendance_by_segment or {}).items()}
        outcome = Outcome(
            attendance_total=attendance_total,
            attendance_by_segment=by_segment,
            women=women,
            disabled=disabled,
            reach=attendance_total if reach is None else reach,
            documentation_urls=tuple(documentation_urls),
            notes=text(notes, multiline=True),
            reported_at=now,
        )
        refuse(outcome_errors(outcome))
        self.outcome = outcome
        self.status = Status.reported
        self._record(ActivityReported(), now)

    def cancel(self, reason: str, now: datetime) -> None:
        self._require(EDITABLE_STATUSES, "cancelled")
        reason = text(reason, multiline=True) or ""
        if not reason:
            raise InvalidActivity({"reason": "say why the activity is cancelled"})
        self.status = Status.cancelled
        self.cancelled_at = now
        self.cancel_reason = reason
        self._record(ActivityCancelled(reason), now)

    # -- corrections ----------------------------------------------------------------------------

    def amend(self, corrections: dict[str, Any], reason: str | None, now: datetime) -> tuple[str, ...]:
        """Correct a reported outcome; returns the fields that changed (none: nothing recorded).

        The outcome's rules hold for the corrected outcome as a whole. ``reach`` stays as reported
        unless corrected itself (it may differ from attendance, e.g. a radio talkshow's listeners).
        """
        self._require({Status.reported}, "amended", "only a reported activity's outcome is corrected; a held "
                      f"one is reported with POST /activities/{self.id}/report")
        assert self.outcome is not None  # every reported activity has its outcome
        errors: dict[str, str] = {}
        unknown = set(corrections) - set(AMENDABLE)
        errors.update({name: "not an outcome field that can be corrected" for name in sorted(unknown)})
        reason = text(reason, multiline=True)
        if not reason:
            errors["reason"] = "say why the outcome is corrected"
        if not corrections:
            errors["outcome"] = f"name at least one field to correct: {', '.join(AMENDABLE)}"
        refuse(errors)
        values = dict(corrections)
        if "attendance_by_segment" in values:
            values["attendance_by_segment"] = {str(k): v for k, v in (values["attendance_by_segment"] or {}).items()}
        if "documentation_urls" in values:
            values["documentation_urls"] = tuple(values["documentation_urls"] or ())
        if "notes" in values:
            values["notes"] = text(values["notes"], multiline=True)
        corrected = replace(self.outcome, **values)
        refuse(outcome_errors(corrected))
        amended = tuple((name, getattr(self.outcome, name), getattr(corrected, name)) for name in AMENDABLE
                        if getattr(corrected, name) != getattr(self.outcome, name))
        if not amended:
            return ()
        self.outcome = corrected
        self._record(OutcomeAmended(amended, reason or ""), now)
        return tuple(name for name, _, _ in amended)

    def reopen(self, reason: str | None, now: datetime) -> None:
        """A ``held`` marked by mistake: back to ``scheduled`` (its date and place kept)."""
        self._require({Status.held}, "reopened", "only a held activity goes back to scheduled"
                      + (f"; a reported outcome is corrected with POST /activities/{self.id}/amend"
                         if self.status is Status.reported else ""))
        reason = text(reason, multiline=True)
        if not reason:
            raise InvalidActivity({"reason": "say why the activity was not held after all"})
        self.status = Status.scheduled
        self.held_at = None
        self.overdue_announced_at = None  # a new hold is a new fact, announced again if unreported
        self._record(ActivityReopened(reason), now)

    # -- facts that come with time ------------------------------------------------------------

    def report_due_on(self, zone: ZoneInfo) -> date | None:
        """The local day a held activity's report falls overdue: H+3, H being the later of the day
        it ended and the day it was marked held (one marked held late gets its three days too)."""
        if self.status is not Status.held or self.held_at is None:
            return None
        days = [moment.astimezone(zone).date() for moment in (self.ends_at or self.starts_at, self.held_at) if moment]
        return max(days) + timedelta(days=REPORT_DUE_DAYS)

    def report_overdue(self, now: datetime, zone: ZoneInfo) -> bool:
        """Overdue and not announced yet."""
        due = self.report_due_on(zone)
        return due is not None and self.overdue_announced_at is None and now.astimezone(zone).date() >= due

    def announce_overdue(self, now: datetime, zone: ZoneInfo) -> bool:
        """Record that the report fell overdue, once per hold; False when there is nothing to say."""
        if not self.report_overdue(now, zone):
            return False
        self.overdue_announced_at = now
        self._record(ReportFellOverdue(), now)
        return True

    # -- what the office should know ----------------------------------------------------------

    def quiet_period_warning(self, zone: ZoneInfo, election: Election | None = None) -> str | None:
        """A sentence (Bahasa Indonesia) when the activity falls inside its election's *masa tenang*."""
        election = election or ELECTIONS.get(self.election)
        quiet = election.quiet_period if election else None
        if quiet is None or self.starts_at is None or self.status is Status.cancelled:
            return None
        first = self.starts_at.astimezone(zone).date()
        last = (self.ends_at or self.starts_at).astimezone(zone).date()
        if last < quiet.starts_on or first > quiet.ends_on:
            return None
        return (f"{first.isoformat()} berada dalam masa tenang {self.election} ({quiet.starts_on.isoformat()} "
                f"s.d. {quiet.ends_on.isoformat()}): tidak boleh ada kampanye, dan sosialisasi tidak boleh "
                "menguntungkan peserta mana pun")

    def stage_warning(self, zone: ZoneInfo, election: Election | None = None) -> str | None:
        """A sentence (Bahasa Indonesia) when the given ``stage`` contradicts the date: the election's
        window for that stage does not hold it (or the election has no such stage)."""
        election = election or ELECTIONS.get(self.election)
        if (election is None or not election.stages or self.stage is None or self.starts_at is None
                or self.status is Status.cancelled):
            return None
        day = self.starts_at.astimezone(zone).date()
        window = election.window(self.stage.value)
        if window is not None and window.holds(day):
            return None
        actual = election.stage_on(day)
        on_day = f"tahapan {actual.value}" if actual else "di luar semua tahapan"
        if window is None:
            return (f"tahapan {self.stage.value} tidak ada dalam jadwal {self.election}; tanggal "
                    f"{day.isoformat()} termasuk {on_day}")
        return (f"tahapan {self.stage.value} {self.election} berlangsung {window.starts_on.isoformat()} s.d. "
                f"{window.ends_on.isoformat()}, sedangkan tanggal kegiatan {day.isoformat()} termasuk {on_day}")

    # -- internals --------------------------------------------------------------------------

    def _require(self, allowed: set[Status] | frozenset[Status], verb: str, hint: str = "") -> None:
        if self.status not in allowed:
            message = f"activity {self.id} is '{self.status}'; it cannot be {verb}"
            raise TransitionRefused(f"{message} ({hint})" if hint else message, self.status)

    def _record(self, event: object, now: datetime) -> None:
        self.version += 1
        self.updated_at = now
        self.events.append(event)


# --- targets ---------------------------------------------------------------------------------


@dataclass
class Targets:
    """What a region aims for in one election; one per election (its id is the election id)."""

    election: str
    region: str
    participation_target_pct: float
    voting_day: date | None  # a standing programme has none
    created_at: datetime
    updated_at: datetime
    segment_targets: dict[str, int] = field(default_factory=dict)
    district_targets: dict[str, int] = field(default_factory=dict)
    reach_target: int | None = None
    source: str | None = None
    version: int = 1
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.election

    @classmethod
    def set_for(cls, *, election: str, region: str, now: datetime, known: Election | None = None,
                **values: Any) -> Targets:
        """``known``: the election as the calendar has it (the shipped one when not given)."""
        catalogue = known or election_of(election)
        values = target_values(region, catalogue, values)
        targets = cls(election=election, region=region, created_at=now, updated_at=now, **values)
        targets.events.append(TargetsSet(TARGET_FIELDS))
        return targets

    def change(self, now: datetime, known: Election | None = None, **values: Any) -> tuple[str, ...]:
        """Replace the targets (PUT semantics); returns what changed, recording an event if anything did."""
        values = target_values(self.region, known or election_of(self.election), values)
        changed = tuple(name for name in TARGET_FIELDS if values[name] != getattr(self, name))
        if changed:
            for name in changed:
                setattr(self, name, values[name])
            self.version += 1
            self.updated_at = now
            self.events.append(TargetsSet(changed))
        return changed


# --- the aggregates as plain data ----------------------------------------------------------------
# Datetimes stay datetimes: the store keeps these (store.py), the API shows them (views.py) and
# events carry them (events.py), each adding only what is its own; ``jsonable`` makes them text.


def jsonable(value: Any) -> Any:
    """Dates and times as RFC 3339 text with their offset (``+00:00``), as answers and events carry them."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def snapshot(activity: Activity) -> dict[str, Any]:
    outcome = None
    if activity.outcome is not None:
        outcome = {**asdict(activity.outcome), "documentation_urls": list(activity.outcome.documentation_urls)}
    return {
        **stamp(activity),
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
        "programme": activity.programme,
        "status": activity.status.value,
        "outcome": outcome,
        "scheduled_at": activity.scheduled_at,
        "held_at": activity.held_at,
        "cancelled_at": activity.cancelled_at,
        "cancel_reason": activity.cancel_reason,
    }


def targets_snapshot(targets: Targets) -> dict[str, Any]:
    return {
        **stamp(targets),
        "election": targets.election,
        "region": targets.region,
        "participation_target_pct": targets.participation_target_pct,
        "voting_day": targets.voting_day.isoformat() if targets.voting_day else None,
        "segment_targets": dict(targets.segment_targets),
        "district_targets": dict(targets.district_targets),
        "reach_target": targets.reach_target,
        "source": targets.source,
    }
