"""Mitra: search and filters, detail, register, edit (If-Match: a conflicting edit is shown, not
lost), its channels, agreements (MoU/PKS) added, suspend / reactivate / archive with a reason,
import with per-row errors, export.

Form fields are named as the partners API names them (``contacts[0].phone``), so the service's
own field errors land next to the field that caused them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.backend import Refused
from services.console.web import Visit, csrf_checked, form_text, render, visit
from shared.vocabulary import ChannelKind, DocType, PartnerType, Segment, label

router = APIRouter(dependencies=[Depends(csrf_checked)])
Signed = Annotated[Visit, Depends(visit)]
STATUSES = ("active", "suspended", "archived")


def _choices(v: Visit) -> dict[str, Any]:
    return {"types": [(t.value, label(t.value, "partner_type", v.language)) for t in PartnerType],
            "segment_choices": [(s.value, label(s.value, "segment", v.language)) for s in Segment],
            "statuses": [(s, label(s, "partner_status", v.language)) for s in STATUSES],
            "channel_kinds": [(c.value, label(c.value, "channel_kind", v.language)) for c in ChannelKind],
            "doc_types": [(d.value, label(d.value, "doc_type", v.language)) for d in DocType]}


CHANNEL_FIELDS = ("kind", "handle_or_url", "audience_size")


def _channels(form: Any) -> list[dict[str, Any]] | None:
    """The form's channel rows (``channels[i].kind`` ...) in order, blank rows left out; ``None`` when the
    form has none. A number that is not one goes on as typed, so the service names it."""
    rows = sorted({int(k[len("channels["):k.index("]")]) for k in form if k.startswith("channels[") and "]" in k})
    if not rows:
        return None
    found = []
    for i in rows:
        row = {f: form_text(form, f"channels[{i}].{f}") for f in CHANNEL_FIELDS}
        if any(row.values()):
            size = row["audience_size"]
            found.append({**row, "audience_size": (int(size) if size.isdigit() else size) if size else None})
    return found


@router.get("/mitra")
async def partner_list(request: Request, v: Signed, q: str = "", type: str = "", status: str = "",  # noqa: A002
                       segment: str = "", cursor: str = "") -> Response:
    wanted = {"q": q, "type": type, "status": status, "segment": segment}
    error = None
    try:
        page = await v.calls.get("partners", "/partners", limit=25, cursor=cursor, **wanted)
    except Refused as exc:
        page, error = {"items": [], "next_cursor": None}, exc.detail
    return render(request, "partners/list.html", page=page, wanted=wanted, error=error, **_choices(v))


@router.get("/mitra/baru")
async def new_partner(request: Request, v: Signed) -> Response:
    return render(request, "partners/form.html", values={}, errors={}, **_choices(v))


def _body(form: Any, partial: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": form_text(form, "name"),
        "type": form_text(form, "type"),
        "district": form_text(form, "district") or None,
        "segments": [s for s in form.getlist("segments") if s],
        "notes": form_text(form, "notes") or None,
    }
    contact = {k: form_text(form, f"contacts[0].{k}") or None for k in ("name", "role", "phone", "email")}
    if any(contact.values()):
        body["contacts"] = [{**contact, "name": contact["name"] or ""}]
    if (channels := _channels(form)) is not None and (channels or partial):
        body["channels"] = channels
    if partial:
        body = {k: v for k, v in body.items() if v not in ("",)}
    return body


def _values(form: Any) -> dict[str, Any]:
    return {k: (form.getlist(k) if k == "segments" else form_text(form, k)) for k in form}


@router.post("/mitra/baru")
async def register(request: Request, v: Signed) -> Response:
    form = await request.form()
    body = _body(form)
    confirm = form_text(form, "confirm") == "1"
    try:
        made = await v.calls.call("partners", "POST", "/partners", json=body, params={"confirm": "true"} if confirm else {})
    except Refused as exc:
        return render(request, "partners/form.html", 422 if exc.errors else exc.status, values=_values(form),
                      errors=exc.errors, error=exc.detail, duplicates=exc.facts.get("possible_duplicates"),
                      **_choices(v))
    return RedirectResponse(f"/mitra/{made.json()['id']}", status_code=303)


@router.get("/mitra/{partner_id}")
async def partner_detail(request: Request, v: Signed, partner_id: str) -> Response:
    partner = await v.calls.get("partners", f"/partners/{partner_id}")
    return render(request, "partners/detail.html", partner=partner, errors={}, **_choices(v))


@router.get("/mitra/{partner_id}/ubah")
async def edit_form(request: Request, v: Signed, partner_id: str) -> Response:
    partner = await v.calls.get("partners", f"/partners/{partner_id}")
    values = {**partner, **{f"contacts[0].{k}": (partner["contacts"][0].get(k) if partner["contacts"] else "")
                            for k in ("name", "role", "phone", "email")},
              **{f"channels[{i}].{f}": c.get(f) for i, c in enumerate(partner.get("channels") or [])
                 for f in CHANNEL_FIELDS}}
    return render(request, "partners/form.html", partner=partner, values=values, errors={}, **_choices(v))


@router.post("/mitra/{partner_id}/ubah")
async def edit(request: Request, v: Signed, partner_id: str) -> Response:
    form = await request.form()
    version = int(form_text(form, "version") or 0) or None
    body = _body(form, partial=True)
    if "contacts" in body:
        # The form edits the first contact only; the others stay as they are.
        others = (await v.calls.get("partners", f"/partners/{partner_id}"))["contacts"][1:]
        body["contacts"] = body["contacts"] + [{k: c.get(k) for k in ("name", "role", "phone", "email")} for c in others]
    try:
        await v.calls.send("partners", "PATCH", f"/partners/{partner_id}", body, version)
    except Refused as exc:
        current = await v.calls.get("partners", f"/partners/{partner_id}")
        # 412: someone saved first. Their version is shown beside what this person typed, which is kept.
        return render(request, "partners/form.html", exc.status, partner=current, values=_values(form),
                      errors=exc.errors, error=exc.detail, conflict=exc.status == 412, **_choices(v))
    return RedirectResponse(f"/mitra/{partner_id}", status_code=303)


@router.post("/mitra/{partner_id}/perjanjian")
async def add_agreement(request: Request, v: Signed, partner_id: str) -> Response:
    """An MoU or PKS added to the partner (``POST /partners/{id}/agreements`` with If-Match)."""
    form = await request.form()
    version = int(form_text(form, "version") or 0) or None
    body = {k: form_text(form, k) or None for k in ("doc_type", "number", "title", "valid_from", "valid_until", "scope")}
    try:
        await v.calls.send("partners", "POST", f"/partners/{partner_id}/agreements", body, version)
    except Refused as exc:
        partner = await v.calls.get("partners", f"/partners/{partner_id}")
        return render(request, "partners/detail.html", exc.status, partner=partner, errors={},
                      agreement=_values(form), agreement_errors=exc.errors,
                      agreement_error=exc.detail if not exc.errors else None, conflict=exc.status == 412,
                      **_choices(v))
    return RedirectResponse(f"/mitra/{partner_id}", status_code=303)


@router.post("/mitra/{partner_id}/status")
async def change_status(request: Request, v: Signed, partner_id: str) -> Response:
    form = await request.form()
    action, reason = form_text(form, "action"), form_text(form, "reason")
    version = int(form_text(form, "version") or 0) or None
    if action not in ("suspend", "reactivate", "archive"):
        return RedirectResponse(f"/mitra/{partner_id}", status_code=303)
    body = {"reason": reason} if reason or action != "reactivate" else None
    try:
        await v.calls.send("partners", "POST", f"/partners/{partner_id}/{action}", body, version)
    except Refused as exc:
        partner = await v.calls.get("partners", f"/partners/{partner_id}")
        return render(request, "partners/detail.html", exc.status, partner=partner, errors=exc.errors,
                      error=exc.detail, **_choices(v))
    return RedirectResponse(f"/mitra/{partner_id}", status_code=303)


@router.get("/mitra-ekspor")
async def export(v: Signed, request: Request) -> Response:
    response = await v.calls.call("partners", "GET", "/partners/export",
                                  params={"format": "xlsx", "lang": v.language})
    return Response(response.content, media_type=response.headers.get("content-type"),
                    headers={"Content-Disposition": response.headers.get("content-disposition", "attachment")})


@router.get("/mitra-impor")
async def import_form(request: Request, v: Signed) -> Response:
    return render(request, "partners/import.html", report=None, errors={})


@router.post("/mitra-impor")
async def import_file(request: Request, v: Signed) -> Response:
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return render(request, "partners/import.html", 422, report=None, errors={"file": "Field required"})
    content = await upload.read()
    try:
        response = await v.calls.call("partners", "POST", "/partners/import",
                                      files={"file": (upload.filename or "upload", content,
                                                      upload.content_type or "application/octet-stream")})
    except Refused as exc:
        return render(request, "partners/import.html", exc.status, report=None, errors=exc.errors, error=exc.detail)
    return render(request, "partners/import.html", report=response.json(), errors={})
