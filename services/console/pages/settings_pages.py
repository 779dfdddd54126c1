"""Pengaturan (admins only): users (add with a password or invite by e-mail, disable, enable,
invite again), recipients and their subscriptions, an election's targets, deliveries (filter, retry)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.account_input import AccountRefused
from services.console.accounts import EmailTaken, Role
from services.console.backend import Refused
from services.console.texts import say
from services.console.web import Visit, admin, csrf_checked, form_int, form_text, render
from shared.vocabulary import Segment, label

router = APIRouter(dependencies=[Depends(csrf_checked)])
Admin = Annotated[Visit, Depends(admin)]


def _link(request: Request):  # noqa: ANN202 - a small closure
    base = request.app.state.console_settings.public_url.rstrip("/")
    return lambda token: f"{base}/undangan?token={token}"


async def _users_page(request: Request, status_code: int = 200, **context: object) -> Response:
    users = await request.app.state.accounts.users.all()
    return render(request, "settings/users.html", status_code, users=users, role_choices=[(r.value, r.value) for r in Role],
                  values=context.pop("values", {}), errors=context.pop("errors", {}), **context)


@router.get("/pengaturan")
async def users(request: Request, v: Admin) -> Response:
    return await _users_page(request)


@router.post("/pengaturan/pengguna")
async def add_user(request: Request, v: Admin) -> Response:
    form = await request.form()
    values = {k: form_text(form, k) for k in ("email", "name", "role", "regions")}
    regions = [r.strip() for r in values["regions"].split(",") if r.strip()] or None
    accounts = request.app.state.accounts
    password = str(form.get("password") or "")
    try:
        if password:
            await accounts.add(v.user, values["email"], values["name"], values["role"], regions, password)
            note = values["email"]
        else:
            user, _ = await accounts.invite(v.user, values["email"], values["name"], values["role"], regions,
                                            request.app.state.mailer, _link(request))
            note = user.email
    except AccountRefused as exc:
        return await _users_page(request, 422, values=values, errors=exc.shown(v.language))  # type: ignore[arg-type]
    except EmailTaken:
        return await _users_page(request, 409, values=values, errors={"email": say("email_taken", v.language)})
    except OSError as exc:  # the SMTP server: the user exists, the e-mail did not go
        return await _users_page(request, 502, error=f"{values['email']}: {exc}")
    return await _users_page(request, 201, notice=note, invited=not password)


@router.post("/pengaturan/pengguna/{user_id}/{action}")
async def user_action(request: Request, v: Admin, user_id: str, action: str) -> Response:
    accounts = request.app.state.accounts
    if action == "disable" and user_id != v.user.id:
        await accounts.disable(user_id)
    elif action == "enable":
        await accounts.enable(user_id)
    elif action == "invite":
        user = await accounts.users.require(user_id)
        try:
            await accounts.reinvite(v.user, user, request.app.state.mailer, _link(request))
        except OSError as exc:
            return await _users_page(request, 502, error=str(exc))
    return RedirectResponse("/pengaturan", status_code=303)


@router.get("/pengaturan/penerima")
async def recipients(request: Request, v: Admin, cursor: str = "") -> Response:
    page = await v.calls.get("notifications", "/recipients", limit=50, cursor=cursor)
    return render(request, "settings/recipients.html", page=page)


@router.get("/pengaturan/pengiriman")
async def deliveries(request: Request, v: Admin, status: str = "", cursor: str = "") -> Response:
    error = None
    try:
        page = await v.calls.get("notifications", "/deliveries", status=status, limit=50, cursor=cursor)
    except Refused as exc:
        page, error = {"items": [], "next_cursor": None}, exc.detail
    return render(request, "settings/deliveries.html", page=page, status=status, error=error,
                  statuses=["pending", "sending", "sent", "failed", "dead"])


@router.post("/pengaturan/pengiriman/{delivery_id}/retry")
async def retry(v: Admin, delivery_id: str) -> Response:
    await v.calls.send("notifications", "POST", f"/deliveries/{delivery_id}/retry")
    return RedirectResponse("/pengaturan/pengiriman", status_code=303)


@router.get("/pengaturan/target")
async def targets(request: Request, v: Admin, election: str = "") -> Response:
    return await _targets_page(request, v, election)


async def _targets_page(request: Request, v: Visit, election: str, status_code: int = 200,
                        **context: object) -> Response:
    calendar = (await v.calls.get("activities", "/elections"))["items"]
    chosen = election or (calendar[-1]["id"] if calendar else "")
    try:
        current = await v.calls.get("activities", f"/targets/{chosen}") if chosen else None
    except Refused as exc:
        if exc.status != 404:
            raise
        current = None
    values: dict[str, object] = {}
    if current:
        values = {"participation_target_pct": current.get("participation_target_pct"),
                  "reach_target": current.get("reach_target"), "source": current.get("source"),
                  "district_targets": ", ".join(f"{k}={n}" for k, n in (current.get("district_targets") or {}).items()),
                  **{f"segment_targets.{k}": n for k, n in (current.get("segment_targets") or {}).items()}}
    values.update(context.pop("values", {}))  # type: ignore[arg-type]
    return render(request, "settings/targets.html", status_code, elections=[(e["id"], e["name"]) for e in calendar],
                  election=chosen, current=current, values=values, errors=context.pop("errors", {}),
                  segment_choices=[(s.value, label(s.value, "segment", v.language)) for s in Segment], **context)


@router.post("/pengaturan/target")
async def set_targets(request: Request, v: Admin) -> Response:
    form = await request.form()
    election = form_text(form, "election")
    version = int(form_text(form, "version") or 0) or None
    districts: dict[str, object] = {}
    for part in form_text(form, "district_targets").split(","):
        code, _, count = part.partition("=")
        if code.strip():
            districts[code.strip()] = int(count) if count.strip().isdigit() else count.strip()
    body = {"participation_target_pct": form_text(form, "participation_target_pct") or None,
            "reach_target": form_int(form, "reach_target"), "source": form_text(form, "source") or None,
            "district_targets": districts,
            "segment_targets": {k.removeprefix("segment_targets."): form_int(form, k) for k in form
                                if k.startswith("segment_targets.") and form_text(form, k)}}
    try:
        await v.calls.send("activities", "PUT", f"/targets/{election}", body, version)
    except Refused as exc:
        return await _targets_page(request, v, election, exc.status, values={k: form_text(form, k) for k in form},
                                   errors=exc.errors, error=exc.detail, conflict=exc.status == 412)
    return RedirectResponse(f"/pengaturan/target?election={election}", status_code=303)
