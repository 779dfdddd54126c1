"""The shapes of the activities API: request bodies (checked by pydantic before a use case sees them)
and answers (documentation of what the endpoints return). No behaviour."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt

from services.activities.domain import Status
from services.activities.elections import ElectionKind
from shared.vocabulary import Format, Kind, Method, PartnerRole, Segment, Stage, Topic
from shared.vocabulary_in import FormatIn, KindIn, MethodIn, RoleIn, SegmentIn, StageIn, TopicIn

# --- bodies --------------------------------------------------------------------------------

Text = Annotated[str, Field(max_length=5000)]



class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerRefIn(Strict):
    partner_id: str = Field(min_length=1, max_length=64)
    role: RoleIn


class SpeakerIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    affiliation: str | None = Field(None, max_length=300)


class LocationIn(Strict):
    district: str | None = Field(None, max_length=20, description="kecamatan code, e.g. 32.73.02")
    village: str | None = Field(None, max_length=20, description="desa/kelurahan code, e.g. 32.73.02.1004")
    venue: str | None = Field(None, max_length=300)
    online_url: str | None = Field(None, max_length=2000)


class ActivityFields(Strict):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: Text | None = None
    kind: KindIn | None = None
    election: str | None = Field(None, max_length=40, description="an id from GET /elections")
    stage: StageIn | None = None
    topics: list[TopicIn] | None = Field(None, max_length=20)
    method: MethodIn | None = None
    format: FormatIn | None = None
    segments: list[SegmentIn] | None = Field(None, max_length=20)
    partners: list[PartnerRefIn] | None = Field(None, max_length=50)
    speakers: list[SpeakerIn] | None = Field(None, max_length=50)
    location: LocationIn | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    planned_reach: NonNegativeInt | None = None
    programme: str | None = Field(None, max_length=200, description="a named programme, e.g. GERDU PEMILU "
                                  "(trimmed; at most 120 characters)")


class ActivityIn(ActivityFields):
    title: str = Field(min_length=1, max_length=200)
    kind: KindIn
    election: str = Field(max_length=40, description="an id from GET /elections")
    method: MethodIn
    format: FormatIn
    segments: list[SegmentIn] = Field(min_length=1, max_length=20)


class ScheduleIn(Strict):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    location: LocationIn | None = None


class ReportIn(Strict):
    attendance_total: NonNegativeInt
    attendance_by_segment: dict[SegmentIn, NonNegativeInt] = {}
    women: NonNegativeInt = 0
    disabled: NonNegativeInt = 0
    reach: NonNegativeInt | None = Field(None, description="people reached; defaults to attendance_total")
    documentation_urls: list[Annotated[str, Field(max_length=2000)]] = Field([], max_length=50)
    notes: Text | None = None


class CancelIn(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class AmendIn(Strict):
    """A correction of a reported outcome: the reason, and only the fields to correct (those left
    out stay as reported)."""

    reason: str = Field(min_length=1, max_length=1000, description="why the outcome is corrected")
    attendance_total: NonNegativeInt = 0
    attendance_by_segment: dict[SegmentIn, NonNegativeInt] = {}
    women: NonNegativeInt = 0
    disabled: NonNegativeInt = 0
    reach: NonNegativeInt = 0
    documentation_urls: list[Annotated[str, Field(max_length=2000)]] = Field([], max_length=50)
    notes: Text | None = None

    def corrections(self) -> dict[str, Any]:
        """The outcome fields the client sent (segments as their words)."""
        sent = self.model_dump(exclude_unset=True, exclude={"reason"})
        if "attendance_by_segment" in sent:
            sent["attendance_by_segment"] = {k.value: v for k, v in self.attendance_by_segment.items()}
        return sent


class ReopenIn(Strict):
    reason: str = Field(min_length=1, max_length=1000, description="why it was not held after all")


class TargetsIn(Strict):
    participation_target_pct: float | None = Field(None, gt=0, le=100,
                                                   description="defaults to the national target")
    voting_day: date | None = Field(None, description="defaults to the catalogue's voting day")
    segment_targets: dict[SegmentIn, NonNegativeInt] = Field({}, description="held activities wanted per segment")
    district_targets: dict[str, NonNegativeInt] = Field({}, description="held activities wanted per kecamatan code")
    reach_target: NonNegativeInt | None = None
    source: str | None = Field(None, max_length=500, description="where the figures come from")


class StageWindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    stage: StageIn
    starts_on: date = Field(alias="from", description="first day (local date)")
    ends_on: date = Field(alias="to", description="last day, included")


class ElectionIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: ElectionKind
    voting_day: date | None = Field(None, description="required except for a standing programme (berkelanjutan)")
    stages: list[StageWindowIn] = Field([], max_length=30)
    participation_target_pct: float | None = Field(None, gt=0, le=100)
    types: list[Annotated[str, Field(max_length=40)]] = Field([], max_length=20,
                                                              description="e.g. pilgub, pilbup, pilwalkot")
    source: str | None = Field(None, max_length=500, description="the regulation the dates come from")


class DistrictTurnoutIn(Strict):
    district: str = Field(max_length=100, description="kecamatan code or name, e.g. 32.73.02 or Coblong")
    turnout_pct: float = Field(ge=0, le=100)


class TurnoutIn(Strict):
    turnout_pct: float = Field(ge=0, le=100, description="the region's actual turnout")
    districts: list[DistrictTurnoutIn] = Field([], max_length=500, description="per kecamatan, when known")
    source: str | None = Field(None, max_length=500, description="e.g. the KPU recapitulation (D.Hasil)")


class ReportFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


# --- answers (documentation of the shapes) --------------------------------------------------------


class PartnerOnActivity(BaseModel):
    partner_id: str
    role: PartnerRole
    name: str | None
    status: str = Field(description="in this service's copy of the registry: active, suspended, archived, unknown")


class ActivityWarning(BaseModel):
    code: str = Field(description="masa_tenang | partner_not_active")
    message: str
    partner_id: str | None = None


class ActivityOut(BaseModel):
    id: str
    version: int
    created_at: datetime
    updated_at: datetime
    region: str
    title: str
    description: str | None
    kind: Kind
    election: str
    stage: Stage | None
    topics: list[Topic]
    method: Method
    format: Format
    segments: list[Segment]
    partners: list[PartnerOnActivity]
    speakers: list[dict[str, Any]]
    location: dict[str, Any] | None
    starts_at: datetime | None
    ends_at: datetime | None
    planned_reach: int | None
    programme: str | None
    status: Status
    outcome: dict[str, Any] | None
    scheduled_at: datetime | None
    held_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    warnings: list[ActivityWarning]
    confirmations: dict[str, Any] | None = Field(
        None, description="partner contacts' answers to the invitation: `counts` per answer (hadir, tidak_hadir, "
                          "diwakilkan) and `items`, the newest answer of each contact (sinergi.invitation.answered)")


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None


class TargetsOut(BaseModel):
    id: str
    version: int
    created_at: datetime
    updated_at: datetime
    election: str
    region: str
    participation_target_pct: float
    voting_day: date | None
    segment_targets: dict[str, int]
    district_targets: dict[str, int]
    reach_target: int | None
    source: str | None
