"""Beranda: days to voting day of the current election, progress against the participation and
reach targets, segment and kecamatan coverage as bars, gaps, this week's activities, reports
overdue, unread notifications. Each part is read from its service; a part that fails says so and
the rest still shows."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.backend import Refused
from services.console.web import Visit, visit, render

router = APIRouter()
Signed = Annotated[Visit, Depends(visit)]
OVERDUE_DAYS = 3  # the report is due by H+3 (activities' report_overdue rule)


def current_election(elections: list[dict[str, Any]], today: date) -> dict[str, Any] | None:
    """The next election to vote in, else the most recent one."""
    dated = [e for e in elections if e.get("voting_day")]
    coming = sorted((e for e in dated if e["voting_day"] >= today.isoformat()), key=lambda e: e["voting_day"])
    past = sorted((e for e in dated if e["voting_day"] < today.isoformat()), key=lambda e: e["voting_day"])
    return coming[0] if coming else past[-1] if past else None


async def _quietly(call: Any) -> Any:
    try:
        return await call
    except Refused as exc:
        return exc


@router.get("/")
async def home(request: Request, v: Signed) -> Response:
    zone = request.app.state.settings.zone
    now = datetime.now(zone)
    monday = datetime.combine(now.date() - timedelta(days=now.weekday()), datetime.min.time(), zone)
    elections, week, held, inbox = await asyncio.gather(
        _quietly(v.calls.get("activities", "/elections")),
        _quietly(v.calls.get("activities", "/activities", **{"from": monday.isoformat(),
                                                              "to": (monday + timedelta(days=7)).isoformat(),
                                                              "limit": 50})),
        _quietly(v.calls.get("activities", "/activities", status="held", limit=100)),
        _quietly(v.calls.get("notifications", "/inbox/me", unread="true", limit=5)),
    )
    election = None if isinstance(elections, Refused) else current_election(elections["items"], now.date())
    coverage = districts = None
    if election:
        coverage, districts = await asyncio.gather(
            _quietly(v.calls.get("activities", "/stats/coverage", election=election["id"])),
            _quietly(v.calls.get("activities", "/stats/coverage", election=election["id"], group_by="district")))
    overdue = [] if isinstance(held, Refused) else [
        a for a in held["items"]
        if a.get("ends_at") and datetime.fromisoformat(a["ends_at"].replace("Z", "+00:00"))
        < now - timedelta(days=OVERDUE_DAYS)]
    return render(request, "home.html", election=election, coverage=_ok(coverage), districts=_ok(districts),
                  week=_ok(week), overdue=overdue, inbox=_ok(inbox), failed=_failures(elections, week, held, inbox))


def _ok(value: Any) -> Any:
    return None if isinstance(value, Refused) or value is None else value


def _failures(*values: Any) -> list[str]:
    return [v.detail for v in values if isinstance(v, Refused)]
