"""What notifications knows of partners, activities, elections and their targets: typed read models.

They are built only from the other services' events and parsed once, where an event or a stored
snapshot comes in (``handlers.py``, ``store.Snapshots``); the rules, the schedule and the texts
read fields, never dictionaries. Parsing is lenient on purpose: a consumer reads only what it
needs (STYLE 3), so a field missing or ``null`` takes its default, a date that cannot be read is
no date, and whatever else a snapshot carries is ignored, except where a webhook passes it on
(``Agreement``, ``Location``, ``PartnerLink`` keep every key).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.regions import is_region_code


def _moment(value: Any) -> datetime | None:
    """An instant from a datetime or an ISO string (naive ones are UTC); anything else is none."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _day(value: Any) -> date | datetime | None:
    """``2025-01-31`` as a date; a datetime (or its ISO string) as an instant, whose local date
    depends on the zone it is read in (:func:`local_date`)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return _moment(value)


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


Moment = Annotated[datetime | None, BeforeValidator(_moment)]
Day = Annotated[date | datetime | None, BeforeValidator(_day)]
Number = Annotated[float | None, BeforeValidator(_number)]


def local_date(value: date | datetime | None, zone: tzinfo) -> date | None:
    """The date of a :data:`Day` on the wall clocks of ``zone``."""
    if isinstance(value, datetime):
        return value.astimezone(zone).date()
    return value


def named(code: str | None, name: str | None = None) -> str:
    """A kecamatan or desa as people read it: its name beside its code ("Coblong (32.73.02)"); the
    code alone while the event named none (before the gazetteer), or a name typed without a code."""
    if code and name and name != code:
        return f"{name} ({code})"
    return code or name or ""


class _Read(BaseModel):
    """Lenient: ``null`` is the default (an empty list, no location), unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None or k not in cls.model_fields}
        return data


class _Passed(_Read):
    """A part a webhook passes on as it came: every key is kept."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Snapshot(_Read):
    id: str
    version: int = 0
    status: str | None = None
    updated_at: Moment = None
    # The status the newest event replaced (kept by the store), so a redelivery can tell what it changed.
    previous_status: str | None = Field(None, alias="_previous_status")


# --- partners ----------------------------------------------------------------------------------


class Person(_Read):
    name: str = ""
    role: str | None = None
    phone: str | None = None
    email: str | None = None


class Agreement(_Passed):
    id: str | None = None
    doc_type: str | None = None
    number: str | None = None
    title: str | None = None
    scope: str | None = None
    valid_until: Day = None

    def until(self, zone: tzinfo) -> date | None:
        return local_date(self.valid_until, zone)


class Partner(Snapshot):
    name: str = ""
    type: str | None = None
    region: str | None = None
    district: str | None = None
    district_name: str | None = None  # the gazetteer's names beside the codes (issue 12 point 2)
    village: str | None = None
    village_name: str | None = None
    segments: list[str] = []
    contacts: list[Person] = []
    agreements: list[Agreement] = []

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(c for c in (self.region, self.district) if c and is_region_code(c))


# --- activities --------------------------------------------------------------------------------


class Location(_Passed):
    district: str | None = None
    district_name: str | None = None
    village: str | None = None
    village_name: str | None = None
    venue: str | None = None
    online_url: str | None = None


class PartnerLink(_Passed):
    partner_id: str = ""
    role: str | None = None


class Outcome(_Read):
    attendance_total: Number = None
    reach: Number = None


class Activity(Snapshot):
    title: str = ""
    kind: str | None = None
    format: str | None = None
    election: str | None = None
    region: str | None = None
    segments: list[str] = []
    starts_at: Moment = None
    ends_at: Moment = None
    location: Location | None = None
    partners: list[PartnerLink] = []
    outcome: Outcome | None = None
    # The activities service says ``cancel_reason``; older producers used the other two.
    cancel_reason: str | None = None
    cancellation_reason: str | None = None
    reason: str | None = None

    @property
    def regions(self) -> tuple[str, ...]:
        where = self.location or Location()
        codes = (self.region, where.village, where.district)
        return tuple(c for c in codes if c and is_region_code(c))

    @property
    def partner_ids(self) -> list[str]:
        return [link.partner_id for link in self.partners if link.partner_id]

    @property
    def reach(self) -> int:
        """What it reached: the reported reach, else the attendance."""
        outcome = self.outcome or Outcome()
        return int(outcome.reach or outcome.attendance_total or 0)

    @property
    def attendance(self) -> int:
        return int((self.outcome or Outcome()).attendance_total or 0)


# --- elections and their targets ---------------------------------------------------------------


def _district_targets(value: Any) -> Any:
    """A list of ``{district, activities}``; a map keyed by code (what producers sent before
    issue 12, which no store could keep) is read as the same list."""
    if isinstance(value, dict):
        return [{"district": code, "activities": n} for code, n in value.items()]
    return value if isinstance(value, list) else []


class DistrictTarget(_Read):
    district: str = ""
    activities: Number = None
    district_name: str | None = None


class Targets(Snapshot):
    election: str | None = None
    voting_day: Day = None
    segment_targets: dict[str, Any] = {}
    district_targets: Annotated[list[DistrictTarget], BeforeValidator(_district_targets)] = []

    def voting_date(self, zone: tzinfo) -> date | None:
        return local_date(self.voting_day, zone)

    @property
    def of_election(self) -> str:
        return self.election or self.id

    @property
    def targeted_segments(self) -> list[str]:
        """Segments with a target above zero."""
        return sorted(s for s, n in self.segment_targets.items() if isinstance(n, int | float) and n > 0)

    @property
    def district_names(self) -> dict[str, str]:
        """The gazetteer's name of each targeted kecamatan the event named, by code."""
        return {t.district: t.district_name for t in self.district_targets if t.district and t.district_name}

    @property
    def targeted_districts(self) -> dict[str, int]:
        """Kecamatan codes with a target above zero, and their targets."""
        return {t.district: int(t.activities) for t in sorted(self.district_targets, key=lambda t: t.district)
                if t.district and t.activities and t.activities > 0}


class Election(Snapshot):
    """An election of the activities service's calendar (``sinergi.election.updated``); a standing
    programme (``berkelanjutan``) has no voting day."""

    name: str = ""
    kind: str | None = None
    region: str | None = None
    voting_day: Day = None

    def voting_date(self, zone: tzinfo) -> date | None:
        return local_date(self.voting_day, zone)


def voting_date(targets: Targets, election: Election | None, zone: tzinfo) -> date | None:
    """The election's voting day as the calendar has it now; the targets' copy (set with the
    targets, and not changed when the calendar is) only while the election is not known here."""
    return election.voting_date(zone) if election is not None else targets.voting_date(zone)
