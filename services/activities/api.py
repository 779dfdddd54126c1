"""HTTP edge of activity tracking (CONTRACT §4): parse, call a use case, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.activities.checks import plan_check, report_check, schedule_check
from services.activities.coverage import GROUPINGS
from services.activities.domain import Activity
from services.activities.elections import in_order
from services.activities.figures import Figures, Period
from services.activities.handlers import Activities, ElectionBook, TargetBook
from services.activities.schemas import (
    ActivityFields, ActivityIn, ActivityOut, ActivityPage, AmendIn, CancelIn, ElectionIn, ReopenIn, ReportFormat,
    ReportIn, ScheduleIn, TargetsIn, TargetsOut, TurnoutIn,
)
from services.activities.store import ActivityFilter, ElectionStore, PartnerReplica
from services.activities.views import ActivityViews, targets_view
from shared.auth import Admin, Operator, Viewer
from shared.errors import Invalid, NotFound
from shared.idempotency import resource_id
from shared.pagination import Cursor, Limit
from shared.language import say_all
from shared.web import Reader, also_check, expected_version, wired, with_etag

router = APIRouter()

# --- wiring --------------------------------------------------------------------------------


def only(*names: str) -> Any:
    """A dependency refusing a query parameter the endpoint does not know (422 naming it): a
    mistyped or unsupported filter must not silently answer everything."""

    async def check(request: Request) -> None:  # async: no thread-pool hop (issue 15)
        unknown = sorted(set(request.query_params) - set(names))
        if unknown:
            raise Invalid({name: f"unknown query parameter; this endpoint takes {', '.join(names)}"
                           for name in unknown})

    return Depends(check)


ActivitiesDep = Annotated[Activities, wired("activities")]
ViewsDep = Annotated[ActivityViews, wired("views")]
From = Annotated[str | None, Query(alias="from", description="2024-10-01 (local day) or a date-time with offset")]
To = Annotated[str | None, Query(alias="to", description="2024-10-31 (included) or a date-time (excluded)")]
ElectionId = Annotated[str, Query(description="an id from GET /elections")]


async def _period(request: Request, start: From = None, end: To = None) -> Period:
    """``from`` and ``to``, in the region's days (``SINERGI_TIMEZONE``)."""
    return Period.parse(start, end, request.app.state.settings.zone)


During = Annotated[Period, Depends(_period)]


def _answer(view: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return with_etag(view, view["version"], status_code, headers)


def _worded(view: dict[str, Any], reader: Reader) -> dict[str, Any]:
    """The view with its warnings in the reader's language."""
    return {**view, "warnings": say_all(view.get("warnings") or [], reader)}


async def _show(views: ActivityViews, reader: Reader, activity: Activity, status_code: int = 200,
                headers: dict[str, str] | None = None, invited: bool = True) -> JSONResponse:
    return _answer(_worded(await views.present(activity, invited), reader), status_code, headers)


# --- activities ----------------------------------------------------------------------------


@router.post("/activities", status_code=201, response_model=ActivityOut, tags=["activities"],
             summary="Plan an activity (status planned)")
@also_check(plan_check)
async def plan(body: ActivityIn, request: Request, _: Operator, activities: ActivitiesDep,
               views: ViewsDep, reader: Reader) -> JSONResponse:
    activity_id = resource_id(request)
    activity = await activities.plan(activity_id, body.model_dump(exclude_unset=True))
    # A new activity: nobody has been invited to it yet, so it has no confirmations to read.
    return await _show(views, reader, activity, 201, {"Location": f"/activities/{activity_id}"}, invited=False)


@router.get("/activities", response_model=ActivityPage, tags=["activities"], summary="List activities",
            dependencies=[only("status", "election", "segment", "format", "partner_id", "district", "stage",
                               "programme", "from", "to", "limit", "cursor")])
async def list_activities(
    _: Viewer,
    views: ViewsDep,
    wanted: Annotated[ActivityFilter, Query()],
    period: During,
    reader: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    items, next_cursor = await views.search(wanted, period.start, period.end, limit, cursor)
    return {"items": [_worded(item, reader) for item in items], "next_cursor": next_cursor}


@router.get("/activities/{activity_id}", response_model=ActivityOut, tags=["activities"], summary="Read an activity")
async def read(activity_id: str, _: Viewer, views: ViewsDep, reader: Reader) -> JSONResponse:
    return _answer(_worded(await views.get(activity_id), reader))


@router.patch("/activities/{activity_id}", response_model=ActivityOut, tags=["activities"],
              summary="Edit a planned or scheduled activity (If-Match honoured)")
async def edit(activity_id: str, body: ActivityFields, request: Request, _: Operator,
               activities: ActivitiesDep, views: ViewsDep, reader: Reader) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    return await _show(views, reader, await activities.edit(activity_id, changes, expected_version(request)))


@router.post("/activities/{activity_id}/schedule", response_model=ActivityOut, tags=["life cycle"],
             summary="Schedule (planned → scheduled) or reschedule (scheduled → scheduled)")
@also_check(schedule_check)
async def schedule(activity_id: str, body: ScheduleIn, request: Request, _: Operator,
                   activities: ActivitiesDep, views: ViewsDep, reader: Reader) -> JSONResponse:
    location = body.location.model_dump() if body.location is not None else None
    scheduled, invited = await activities.scheduling(activity_id, body.starts_at, body.ends_at, location,
                                                     expected_version(request))
    return await _show(views, reader, scheduled, invited=invited)


@router.post("/activities/{activity_id}/hold", response_model=ActivityOut, tags=["life cycle"],
             summary="It took place (scheduled → held); refused before starts_at")
async def hold(activity_id: str, request: Request, _: Operator, activities: ActivitiesDep,
               views: ViewsDep, reader: Reader) -> JSONResponse:
    return await _show(views, reader, await activities.hold(activity_id, expected_version(request)))


@router.post("/activities/{activity_id}/report", response_model=ActivityOut, tags=["life cycle"],
             summary="Report the outcome (held → reported)")
@also_check(report_check)
async def report(activity_id: str, body: ReportIn, request: Request, _: Operator,
                 activities: ActivitiesDep, views: ViewsDep, reader: Reader) -> JSONResponse:
    outcome = body.model_dump()
    outcome["attendance_by_segment"] = {k.value: v for k, v in body.attendance_by_segment.items()}
    return await _show(views, reader, await activities.report(activity_id, outcome, expected_version(request)))


@router.post("/activities/{activity_id}/cancel", response_model=ActivityOut, tags=["life cycle"],
             summary="Cancel a planned or scheduled activity")
async def cancel(activity_id: str, body: CancelIn, request: Request, _: Operator,
                 activities: ActivitiesDep, views: ViewsDep, reader: Reader) -> JSONResponse:
    return await _show(views, reader, await activities.cancel(activity_id, body.reason, expected_version(request)))


@router.post("/activities/{activity_id}/amend", response_model=ActivityOut, tags=["corrections"],
             summary="Correct a reported outcome, with a reason (sinergi.activity.amended: before and after)")
async def amend(activity_id: str, body: AmendIn, request: Request, _: Operator, activities: ActivitiesDep,
                views: ViewsDep, reader: Reader) -> JSONResponse:
    amended = await activities.amend(activity_id, body.corrections(), body.reason, expected_version(request))
    return await _show(views, reader, amended)


@router.post("/activities/{activity_id}/reopen", response_model=ActivityOut, tags=["corrections"],
             summary="A held activity that was not held after all goes back to scheduled, with a reason")
async def reopen(activity_id: str, body: ReopenIn, request: Request, _: Operator, activities: ActivitiesDep,
                 views: ViewsDep, reader: Reader) -> JSONResponse:
    return await _show(views, reader, await activities.reopen(activity_id, body.reason, expected_version(request)))


# --- targets, figures, reports -----------------------------------------------------------------

TargetsDep = Annotated[TargetBook, wired("targets")]
FiguresDep = Annotated[Figures, wired("figures")]


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
            summary="Activities by status, attendance and reach per group (or per cell of two), against targets",
            dependencies=[only("election", "group_by", "from", "to")])
async def coverage(
    _: Viewer,
    figures: FiguresDep,
    election: ElectionId,
    period: During,
    group_by: Annotated[str, Query(max_length=40, description=f"one or two of {', '.join(GROUPINGS)}, "
                                   "comma-separated; segment,district is the matrix")] = "segment",
) -> dict[str, Any]:
    return await figures.coverage(election, _groupings(group_by), period)


def _groupings(group_by: str) -> tuple[str, ...]:
    wanted = tuple(part.strip() for part in group_by.split(","))
    if not 1 <= len(wanted) <= 2 or len(set(wanted)) != len(wanted) or not set(wanted) <= set(GROUPINGS):
        raise Invalid({"group_by": f"one or two different ones of {', '.join(GROUPINGS)}, e.g. segment,district"})
    return wanted


@router.get("/reports/activities", tags=["figures"], response_class=Response,
            summary="The period report (laporan kegiatan sosialisasi) as XLSX or CSV",
            dependencies=[only("election", "from", "to", "format")])
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

CalendarDep = Annotated[ElectionStore, wired("calendar")]
ElectionBookDep = Annotated[ElectionBook, wired("elections")]
ReplicaDep = Annotated[PartnerReplica, wired("replica")]


@router.get("/elections", tags=["elections"], summary="The election calendar: voting days and stage windows")
async def elections(_: Viewer, calendar: CalendarDep) -> dict[str, Any]:
    return {"items": [e.describe() for e in in_order(await calendar.all())], "next_cursor": None}


@router.get("/elections/{election_id}", tags=["elections"], summary="One election of the calendar")
async def election(election_id: str, _: Viewer, calendar: CalendarDep) -> JSONResponse:
    found = await calendar.get(election_id)
    if found is None:
        raise NotFound(f"unknown election {election_id!r}; one of {', '.join(await calendar.all())}")
    return _answer(found.describe())


@router.put("/elections/{election_id}", tags=["elections"],
            summary="Create or replace an election of the calendar (admin; 201 when created; If-Match honoured)")
async def put_election(election_id: str, body: ElectionIn, request: Request, _: Admin,
                       book: ElectionBookDep) -> JSONResponse:
    values = body.model_dump(exclude={"stages"})
    values["stages"] = [{"stage": w.stage.value, "from": w.starts_on, "to": w.ends_on} for w in body.stages]
    values["kind"] = body.kind.value
    found, created = await book.put(election_id, values, expected_version(request))
    return _answer(found.describe(), 201 if created else 200)


@router.put("/elections/{election_id}/turnout", tags=["elections"],
            summary="Record the region's actual turnout after voting day, per kecamatan when known")
async def put_turnout(election_id: str, body: TurnoutIn, request: Request, _: Operator,
                      book: ElectionBookDep) -> JSONResponse:
    found = await book.record_turnout(election_id, body.turnout_pct, [d.model_dump() for d in body.districts],
                                      body.source, expected_version(request))
    return _answer(found.describe())


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

