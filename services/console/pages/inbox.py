"""Notifikasi: the signed-in person's own inbox (``/inbox/me`` of notifications, by their token),
an unread badge that htmx refreshes by itself, mark read, mark all read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.backend import Refused
from services.console.web import Visit, csrf_checked, render, visit

router = APIRouter(dependencies=[Depends(csrf_checked)])
Signed = Annotated[Visit, Depends(visit)]


@router.get("/notifikasi")
async def inbox(request: Request, v: Signed, unread: bool = False, cursor: str = "") -> Response:
    error = None
    try:
        page = await v.calls.get("notifications", "/inbox/me", unread="true" if unread else None, cursor=cursor,
                                 limit=30)
    except Refused as exc:
        page, error = {"items": [], "next_cursor": None, "unread": 0}, exc.detail
    return render(request, "inbox.html", page=page, only_unread=unread, error=error)


@router.get("/notifikasi/jumlah")
async def unread_badge(v: Signed) -> Response:
    """The badge's text, polled by htmx every few seconds: the count, or nothing when all are read."""
    try:
        count = (await v.calls.get("notifications", "/inbox/me", unread="true", limit=1))["unread"]
    except Refused:
        return HTMLResponse("")
    return HTMLResponse(f'{count}<span class="sr"> belum dibaca</span>' if count else "")


@router.post("/notifikasi/baca-semua")
async def read_all(v: Signed) -> Response:
    await v.calls.send("notifications", "POST", "/inbox/me/read-all")
    return RedirectResponse("/notifikasi", status_code=303)


@router.post("/notifikasi/{notification_id}/baca")
async def read_one(v: Signed, notification_id: str) -> Response:
    await v.calls.send("notifications", "POST", f"/inbox/me/{notification_id}/read")
    return RedirectResponse("/notifikasi", status_code=303)
