"""Kegiatan: a list, a week and a month calendar, plan and edit, and the life cycle as buttons
(schedule, hold, report with the outcome form, cancel), with the service's warnings (quiet period,
a partner not active) shown on the activity.

Times are typed and shown in the instance's zone; the service gets them with their offset.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.backend import Refused
from services.console.web import Visit, csrf_checked, form_int, form_text, render, visit
from shared.vocabulary import Format, Kind, Method, PartnerRole, Segment, label

router = APIRouter(dependencies=[Depends(csrf_checked)])
Signed = Annotated[Visit, Depends(visit)]
STATUSES = ("planned", "scheduled", "held", "reported", "cancelled")


async def _choices(v: Visit, activity: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        elections = (await v.calls.get("activities", "/elections"))["items"]
    except Refused:
        elections = []
    try:
        known = (await v.calls.get("activities", "/replica/partners", status="active", limit=500))["items"]
    except Refused:
        known = []
    partner_choices = [(p["id"], p.get("name") or p["id"]) for p in known]
    return {"partner_options": _partner_options(partner_choices, activity),
            "roles": [(r.value, label(r.value, "role", v.language)) for r in PartnerRole],
            "kinds": [(k.value, label(k.value, "kind", v.language)) for k in Kind],
            "methods": [(m.value, label(m.value, "method", v.language)) for m in Method],
            "formats": [(f.value, label(f.value, "format", v.language)) for f in Format],
            "segment_choices": [(s.value, label(s.value, "segment", v.language)) for s in Segment],
            "elections": [(e["id"], e["name"]) for e in reversed(elections)],
            "statuses": [(s, label(s, "activity_status", v.language)) for s in STATUSES]}


def _local_input(request: Request, value: str) -> str | None:
    """``2026-05-01T09:00`` typed in the instance's zone → ISO 8601 with its offset; else as typed."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # the service names it
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=request.app.state.settings.zone)
    return moment.isoformat()


def _for_input(request: Request, value: str | None) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(request.app.state.settings.zone)
    return moment.strftime("%Y-%m-%dT%H:%M")


@router.get("/kegiatan")
async def activity_list(request: Request, v: Signed, view: str = "list", status: str = "", day: str = "",
                        cursor: str = "") -> Response:
    zone = request.app.state.settings.zone
    today = datetime.now(zone).date()
    try:
        anchor = date.fromisoformat(day) if day else today
    except ValueError:
        anchor = today
    params: dict[str, Any] = {"status": status, "cursor": cursor, "limit": 50}
    days: list[date] = []
    if view in ("week", "month"):
        if view == "week":
            first = anchor - timedelta(days=anchor.weekday())
            last = first + timedelta(days=7)
        else:
            first = anchor.replace(day=1)
            last = (first + timedelta(days=32)).replace(day=1)
        days = [first + timedelta(days=i) for i in range((last - first).days)]
        params.update({"from": datetime.combine(first, datetime.min.time(), zone).isoformat(),
                       "to": datetime.combine(last, datetime.min.time(), zone).isoformat(), "limit": 200})
    error = None
    try:
        page = await v.calls.get("activities", "/activities", **params)
    except Refused as exc:
        page, error = {"items": [], "next_cursor": None}, exc.detail
    by_day: dict[date, list[dict[str, Any]]] = {d: [] for d in days}
    for item in page["items"]:
        if item.get("starts_at") and days:
            local = datetime.fromisoformat(item["starts_at"].replace("Z", "+00:00")).astimezone(zone).date()
            by_day.setdefault(local, []).append(item)
    step = timedelta(days=7) if view == "week" else timedelta(days=31)
    return render(request, "activities/list.html", page=page, view=view, status=status, by_day=by_day,
                  anchor=anchor, before=(anchor - step).isoformat(), after=(anchor + step).isoformat(),
                  error=error, statuses=[(s, label(s, "activity_status", v.language)) for s in STATUSES])


def _body(request: Request, form: Any) -> dict[str, Any]:
    location = {k: form_text(form, f"location.{k}") or None for k in ("district", "venue")}
    body: dict[str, Any] = {
        "title": form_text(form, "title"), "kind": form_text(form, "kind"), "election": form_text(form, "election"),
        "method": form_text(form, "method"), "format": form_text(form, "format"),
        "segments": [s for s in form.getlist("segments") if s],
        "description": form_text(form, "description") or None,
        "planned_reach": form_int(form, "planned_reach"),
        "starts_at": _local_input(request, form_text(form, "starts_at")),
        "ends_at": _local_input(request, form_text(form, "ends_at")),
        "location": location if any(location.values()) else None,
        **{name: _rows(form, name) for name in ROWS},
    }
    return {k: v for k, v in body.items() if v is not None}


# The activity's partners and speakers as rows of the form, named as the API names them
# (``partners[0].role``), so the service's field errors land beside them.
ROWS = {"partners": ("partner_id", "role"), "speakers": ("name", "affiliation")}


def _rows(form: Any, name: str) -> list[dict[str, Any]] | None:
    """The form's rows of ``name`` in order, blank ones left out; ``None`` when the form has none."""
    prefix = f"{name}["
    numbers = sorted({int(k[len(prefix):k.index("]")]) for k in form if k.startswith(prefix) and "]" in k})
    if not numbers:
        return None
    rows = [{f: form_text(form, f"{name}[{i}].{f}") or None for f in ROWS[name]} for i in numbers]
    return [row for row in rows if any(row.values())]


def _partner_options(active: list[tuple[str, str]], activity: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The active partners, and those already on the activity whatever their status now."""
    options = list(active)
    known = {value for value, _ in options}
    for p in (activity or {}).get("partners") or []:
        if p["partner_id"] not in known:
            options.append((p["partner_id"], p.get("name") or p["partner_id"]))
    return options


def _row_values(activity: dict[str, Any]) -> dict[str, Any]:
    return {f"{name}[{i}].{f}": row.get(f) for name, fields in ROWS.items()
            for i, row in enumerate(activity.get(name) or []) for f in fields}


def _values(form: Any) -> dict[str, Any]:
    return {k: (form.getlist(k) if k == "segments" else form_text(form, k)) for k in form}


@router.get("/kegiatan/baru")
async def new_activity(request: Request, v: Signed) -> Response:
    return render(request, "activities/form.html", values={"kind": "sosialisasi", "method": "langsung"}, errors={},
                  **await _choices(v))


@router.post("/kegiatan/baru")
async def plan(request: Request, v: Signed) -> Response:
    form = await request.form()
    try:
        made = await v.calls.send("activities", "POST", "/activities", _body(request, form))
    except Refused as exc:
        return render(request, "activities/form.html", exc.status, values=_values(form), errors=exc.errors,
                      error=exc.detail, **await _choices(v))
    return RedirectResponse(f"/kegiatan/{made['id']}", status_code=303)


@router.get("/kegiatan/{activity_id}")
async def activity_detail(request: Request, v: Signed, activity_id: str) -> Response:
    activity = await v.calls.get("activities", f"/activities/{activity_id}")
    return _detail(request, v, activity, 200)


def _detail(request: Request, v: Visit, activity: dict[str, Any], status_code: int, **context: Any) -> Response:
    values = {"starts_at": _for_input(request, activity.get("starts_at")),
              "ends_at": _for_input(request, activity.get("ends_at")), **context.pop("values", {})}
    return render(request, "activities/detail.html", status_code, activity=activity, values=values,
                  errors=context.pop("errors", {}),
                  segment_choices=[(s, label(s, "segment", v.language)) for s in activity["segments"]], **context)


@router.get("/kegiatan/{activity_id}/ubah")
async def edit_form(request: Request, v: Signed, activity_id: str) -> Response:
    activity = await v.calls.get("activities", f"/activities/{activity_id}")
    values = {**activity, "starts_at": _for_input(request, activity.get("starts_at")),
              "ends_at": _for_input(request, activity.get("ends_at")),
              **{f"location.{k}": (activity.get("location") or {}).get(k) for k in ("district", "venue")},
              **_row_values(activity)}
    return render(request, "activities/form.html", activity=activity, values=values, errors={},
                  **await _choices(v, activity))


@router.post("/kegiatan/{activity_id}/ubah")
async def edit(request: Request, v: Signed, activity_id: str) -> Response:
    form = await request.form()
    version = int(form_text(form, "version") or 0) or None
    body = _body(request, form)
    if "location" in body:
        # The form edits the kecamatan and the venue; the village and an online link stay as they are.
        kept = (await v.calls.get("activities", f"/activities/{activity_id}")).get("location") or {}
        body["location"] = {**{k: kept.get(k) for k in ("district", "village", "venue", "online_url")},
                            **body["location"]}
    try:
        await v.calls.send("activities", "PATCH", f"/activities/{activity_id}", body, version)
    except Refused as exc:
        current = await v.calls.get("activities", f"/activities/{activity_id}")
        return render(request, "activities/form.html", exc.status, activity=current, values=_values(form),
                      errors=exc.errors, error=exc.detail, conflict=exc.status == 412,
                      **await _choices(v, current))
    return RedirectResponse(f"/kegiatan/{activity_id}", status_code=303)


def _step_body(request: Request, step: str, form: Any) -> dict[str, Any] | None:
    if step == "schedule":
        venue = form_text(form, "location.venue")
        return {"starts_at": _local_input(request, form_text(form, "starts_at")),
                "ends_at": _local_input(request, form_text(form, "ends_at")),
                **({"location": {"venue": venue}} if venue else {})}
    if step == "report":
        by_segment = {k.removeprefix("attendance_by_segment."): form_int(form, k) for k in form
                      if k.startswith("attendance_by_segment.") and form_text(form, k)}
        body = {"attendance_total": form_int(form, "attendance_total"), "women": form_int(form, "women") or 0,
                "disabled": form_int(form, "disabled") or 0, "reach": form_int(form, "reach"),
                "attendance_by_segment": by_segment, "notes": form_text(form, "notes") or None}
        return {k: v for k, v in body.items() if v is not None}
    if step == "cancel":
        return {"reason": form_text(form, "reason")}
    return None


@router.post("/kegiatan/{activity_id}/{step}")
async def life_cycle(request: Request, v: Signed, activity_id: str, step: str) -> Response:
    if step not in ("schedule", "hold", "report", "cancel"):
        return RedirectResponse(f"/kegiatan/{activity_id}", status_code=303)
    form = await request.form()
    version = int(form_text(form, "version") or 0) or None
    try:
        await v.calls.send("activities", "POST", f"/activities/{activity_id}/{step}", _step_body(request, step, form),
                           version)
    except Refused as exc:
        current = await v.calls.get("activities", f"/activities/{activity_id}")
        return _detail(request, v, current, exc.status, values=_values(form), errors=exc.errors, error=exc.detail,
                       failed_step=step)
    return RedirectResponse(f"/kegiatan/{activity_id}", status_code=303)
