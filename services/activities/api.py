"""HTTP edge of activity tracking (CONTRACT §4): parse, call a use case, answer."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt

from services.activities.domain import Activity, Status
from services.activities.elections import ELECTIONS
from services.activities.figures import Figures, Period
from services.activities.handlers import Activities, TargetBook
from services.activities.store import ActivityFilter, PartnerReplica
from services.activities.views import ActivityViews, targets_view
from shared.auth import Operator, Viewer
from shared.errors import NotFound
from shared.idempotency import resource_id
from shared.pagination import Cursor, Limit
from shared.vocabulary import Format, Kind, Method, PartnerRole, Segment, Stage, Topic
from shared.web import expected_version, with_etag

router = APIRouter()

# --- bodies --------------------------------------------------------------------------------

Text = Annotated[str, Field(max_length=5000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerRefIn(Strict):
    partner_id: str = Field(min_length=1, max_length=64)
    role: PartnerRole


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
    kind: Kind | None = None
    election: str | None = Field(None, max_length=40, description="an id from GET /elections")
    stage: Stage | None = None
    topics: list[Topic] | None = Field(None, max_length=20)
    method: Method | None = None
    format: Format | None = None
    segments: list[Segment] | None = Field(None, max_length=20)
    partners: list[PartnerRefIn] | None = Field(None, max_length=50)
    speakers: list[SpeakerIn] | None = Field(None, max_length=50)
    location: LocationIn | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    planned_reach: NonNegativeInt | None = None


class ActivityIn(ActivityFields):
    title: str = Field(min_length=1, max_length=200)
    kind: Kind
    election: str = Field(max_length=40, description="an id from GET /elections")
    method: Method
    format: Format
    segments: list[Segment] = Field(min_length=1, max_length=20)


class ScheduleIn(Strict):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    location: LocationIn | None = None


class ReportIn(Strict):
    attendance_total: NonNegativeInt
    attendance_by_segment: dict[Segment, NonNegativeInt] = {}
    women: NonNegativeInt = 0
    disabled: NonNegativeInt = 0
    reach: NonNegativeInt | None = Field(None, description="people reached; defaults to attendance_total")
    documentation_urls: list[Annotated[str, Field(max_length=2000)]] = Field([], max_length=50)
    notes: Text | None = None


class CancelIn(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class TargetsIn(Strict):
    participation_target_pct: float | None = Field(None, gt=0, le=100,
                                                   description="defaults to the national target")
    voting_day: date | None = Field(None, description="defaults to the catalogue's voting day")
    segment_targets: dict[Segment, NonNegativeInt] = Field({}, description="held activities wanted per segment")
    district_targets: dict[str, NonNegativeInt] = Field({}, description="held activities wanted per kecamatan code")
    reach_target: NonNegativeInt | None = None
    source: str | None = Field(None, max_length=500, description="where the figures come from")


class GroupBy(StrEnum):
    segment = "segment"
    format = "format"
    partner = "partner"
    district = "district"
    month = "month"


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
    status: Status
    outcome: dict[str, Any] | None
    scheduled_at: datetime | None
    held_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    warnings: list[ActivityWarning]


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
    voting_day: date
    segment_targets: dict[str, int]
    district_targets: dict[str, int]
    reach_target: int | None
    source: str | None


# --- wiring --------------------------------------------------------------------------------


def _activities(request: Request) -> Activities:
    return request.app.state.activities


def _views(request: Request) -> ActivityViews:
    return request.app.state.views


def _targets(request: Request) -> TargetBook:
    return request.app.state.targets


def _figures(request: Request) -> Figures:
    return request.app.state.figures


def _replica(request: Request) -> PartnerReplica:
    return request.app.state.replica


ActivitiesDep = Annotated[Activities, Depends(_activities)]
ViewsDep = Annotated[ActivityViews, Depends(_views)]
ReplicaDep = Annotated[PartnerReplica, Depends(_replica)]
TargetsDep = Annotated[TargetBook, Depends(_targets)]
FiguresDep = Annotated[Figures, Depends(_figures)]
From = Annotated[str | None, Query(alias="from", description="2024-10-01 (local day) or a date-time with offset")]
To = Annotated[str | None, Query(alias="to", description="2024-10-31 (included) or a date-time (excluded)")]
ElectionId = Annotated[str, Query(description="an id from GET /elections")]


def _period(request: Request, start: From = None, end: To = None) -> Period:
    """``from`` and ``to``, in the region's days (``SINERGI_TIMEZONE``)."""
    return Period.parse(start, end, request.app.state.settings.zone)


During = Annotated[Period, Depends(_period)]


def _answer(view: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return with_etag(view, view["version"], status_code, headers)


async def _show(views: ActivityViews, activity: Activity, status_code: int = 200,
                headers: dict[str, str] | None = None) -> JSONResponse:
    return _answer(await views.present(activity), status_code, headers)


# --- activities ----------------------------------------------------------------------------


@router.post("/activities", status_code=201, response_model=ActivityOut, tags=["activities"],
             summary="Plan an activity (status planned)")
async def plan(body: ActivityIn, request: Request, _: Operator, activities: ActivitiesDep,
               views: ViewsDep) -> JSONResponse:
    activity_id = resource_id(request)
    activity = await activities.plan(activity_id, body.model_dump(exclude_unset=True))
    return await _show(views, activity, 201, {"Location": f"/activities/{activity_id}"})


@router.get("/activities", response_model=ActivityPage, tags=["activities"], summary="List activities")
async def list_activities(
    _: Viewer,
    views: ViewsDep,
    wanted: Annotated[ActivityFilter, Depends()],
    period: During,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    items, next_cursor = await views.search(wanted, period.start, period.end, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/activities/{activity_id}", response_model=ActivityOut, tags=["activities"], summary="Read an activity")
async def read(activity_id: str, _: Viewer, views: ViewsDep) -> JSONResponse:
    return _answer(await views.get(activity_id))


@router.patch("/activities/{activity_id}", response_model=ActivityOut, tags=["activities"],
              summary="Edit a planned or scheduled activity (If-Match honoured)")
async def edit(activity_id: str, body: ActivityFields, request: Request, _: Operator,
               activities: ActivitiesDep, views: ViewsDep) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    return await _show(views, await activities.edit(activity_id, changes, expected_version(request)))


@router.post("/activities/{activity_id}/schedule", response_model=ActivityOut, tags=["life cycle"],
             summary="Schedule (planned → scheduled) or reschedule (scheduled → scheduled)")
async def schedule(activity_id: str, body: ScheduleIn, request: Request, _: Operator,
                   activities: ActivitiesDep, views: ViewsDep) -> JSONResponse:
    location = body.location.model_dump() if body.location is not None else None
    return await _show(views, await activities.schedule(activity_id, body.starts_at, body.ends_at, location,
                                                         expected_version(request)))


@router.post("/activities/{activity_id}/hold", response_model=ActivityOut, tags=["life cycle"],
             summary="It took place (scheduled → held); refused before starts_at")
async def hold(activity_id: str, request: Request, _: Operator, activities: ActivitiesDep,
               views: ViewsDep) -> JSONResponse:
    return await _show(views, await activities.hold(activity_id, expected_version(request)))


@router.post("/activities/{activity_id}/report", response_model=ActivityOut, tags=["life cycle"],
             summary="Report the outcome (held → reported)")
async def report(activity_id: str, body: ReportIn, request: Request, _: Operator,
                 activities: ActivitiesDep, views: ViewsDep) -> JSONResponse:
    outcome = body.model_dump()
    outcome["attendance_by_segment"] = {k.value: v for k, v in body.attendance_by_segment.items()}
    return await _show(views, await activities.report(activity_id, outcome, expected_version(request)))


@router.post("/activities/{activity_id}/cancel", response_model=ActivityOut, tags=["life cycle"],
             summary="Cancel a planned or scheduled activity")
async def cancel(activity_id: str, body: CancelIn, request: Request, _: Operator,
                 activities: ActivitiesDep, views: ViewsDep) -> JSONResponse:
    return await _show(views, await activities.cancel(activity_id, body.reason, expected_version(request)))


# --- targets, figures, reports -----------------------------------------------------------------


@router.put("/targets/{election}", response_model=TargetsOut, tags=["targets"],
            summary="Set an election's targets (201 when first set; If-Match honoured)")
async def put_targets(election: str, body: TargetsIn, request: Request, _: Operator,
                      targets: TargetsDep) -> JSONResponse:
    values = body.model_dump()
    values["segment_targets"] = {k.value: v for k, v in body.segment_targets.items()}
    found, created = await targets.put(election, values, expected_version(request))
    return _answer(targets_view(found), 201 if created else 200)


@router.get("/targets/{election}", response_model=TargetsOut, tags=["targets"], summary="An election's targets")
async def get_targets(election: str, _: Viewer, targets: TargetsDep) -> JSONResponse:
    found = await targets.get(election)
    if found is None:
        raise NotFound(f"no targets are set for {election} yet; PUT /targets/{election} sets them")
    return _answer(targets_view(found))


@router.get("/stats/coverage", tags=["figures"],
            summary="Activities by status, attendance and reach per group, against targets, with gaps")
async def coverage(
    _: Viewer,
    figures: FiguresDep,
    election: ElectionId,
    period: During,
    group_by: GroupBy = GroupBy.segment,
) -> dict[str, Any]:
    return await figures.coverage(election, group_by.value, period)


@router.get("/reports/activities", tags=["figures"], response_class=Response,
            summary="The period report (laporan kegiatan sosialisasi) as XLSX or CSV")
async def activity_report(
    _: Viewer,
    figures: FiguresDep,
    election: ElectionId,
    period: During,
    format: ReportFormat = ReportFormat.xlsx,
) -> Response:
    content, media_type, filename = await figures.report(election, period, format.value)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- reference data and the replica -----------------------------------------------------------


@router.get("/elections", tags=["reference"], summary="The election catalogue: voting days and stage windows")
async def elections(_: Viewer) -> dict[str, Any]:
    return {"items": [e.describe() for e in ELECTIONS.values()], "next_cursor": None}


@router.get("/elections/{election_id}", tags=["reference"], summary="One election of the catalogue")
async def election(election_id: str, _: Viewer) -> dict[str, Any]:
    found = ELECTIONS.get(election_id)
    if found is None:
        raise NotFound(f"unknown election {election_id!r}; one of {', '.join(ELECTIONS)}")
    return found.describe()


@router.get("/replica/partners", tags=["replica"], summary="This service's copy of the partner registry")
async def known_partners(_: Viewer, replica: ReplicaDep, status: str | None = None, limit: Limit = 50,
                         cursor: Cursor = None) -> dict[str, Any]:
    found, next_cursor = await replica.page(status, limit, cursor)
    return {"items": [p.describe() for p in found], "next_cursor": next_cursor}


@router.get("/replica/partners/{partner_id}", tags=["replica"], summary="This service's copy of a partner")
async def known_partner(partner_id: str, _: Viewer, replica: ReplicaDep) -> dict[str, Any]:
    partner = await replica.get(partner_id)
    if partner is None:
        raise NotFound(f"partner {partner_id} is not known to the activities service (yet)")
    return partner.describe()

