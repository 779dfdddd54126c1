"""Pengaturan → Antrean gagal (admins only): per service, its dead-letter queues with their depth and
first messages (``GET /events/dead-letters``), and each message — or a whole queue — put back on its
queue (``POST /events/dead-letters/replay``) or discarded with a reason (``.../discard``, recorded by
the service). Both ask first on a page of their own, so the confirmation works without JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.backend import Refused
from services.console.web import Visit, admin, csrf_checked, form_text, render

router = APIRouter(dependencies=[Depends(csrf_checked)])
Admin = Annotated[Visit, Depends(admin)]

SERVICES = ("partners", "activities", "notifications")
ACTIONS = ("replay", "discard")
PEEK = 20


@router.get("/pengaturan/antrean")
async def dead_letters(request: Request, v: Admin, done: str = "", count: int = 0) -> Response:
    parts = []
    for service in SERVICES:
        try:
            queues = (await v.calls.get(service, "/events/dead-letters", peek=PEEK))["queues"]
            parts.append({"service": service, "queues": queues, "error": None})
        except Refused as exc:
            parts.append({"service": service, "queues": [], "error": exc.detail})
    return render(request, "settings/dead_letters.html", parts=parts, done=done if done in ACTIONS else "",
                  count=count)


@router.post("/pengaturan/antrean/{service}/{action}")
async def act(request: Request, v: Admin, service: str, action: str) -> Response:
    if service not in SERVICES or action not in ACTIONS:
        return render(request, "error.html", 404, heading="404", key="not_found")
    form = await request.form()
    queue, event_id, reason = form_text(form, "queue"), form_text(form, "event_id"), form_text(form, "reason")
    asked = {"service": service, "action": action, "queue": queue, "event_id": event_id, "reason": reason,
             "type": form_text(form, "type"), "subject": form_text(form, "subject")}
    if form_text(form, "confirm") != "1":
        return render(request, "settings/dead_letters_confirm.html", **asked, errors={})
    body: dict[str, object] = {"queue": queue}
    if event_id:
        body["event_ids"] = [event_id]
    if action == "discard":
        body["reason"] = reason
    try:
        answer = await v.calls.send(service, "POST", f"/events/dead-letters/{action}", body)
    except Refused as exc:
        return render(request, "settings/dead_letters_confirm.html", exc.status, **asked, errors=exc.errors,
                      error=None if exc.errors else exc.detail)
    count = answer.get("replayed" if action == "replay" else "discarded", 0)
    return RedirectResponse(f"/pengaturan/antrean?done={action}&count={count}", status_code=303)
