"""Beranda: days to voting day of the current election, progress against the participation and
reach targets, segment and kecamatan coverage as bars, gaps, this week's activities, reports
overdue, unread notifications. Each part is read from its service; a part that fails says so and
the rest still shows."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.backend import Refused
from services.console.web import Visit, visit, render

router = APIRouter()
Signed = Annotated[Visit, Depends(visit)]
OVERDUE_DAYS = 3  # the report is due by H+3 (activities' report_overdue rule)
FIGURES_KEPT_SECONDS = 15.0


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
    kept: Kept = request.app.state.home_figures
    elections = await kept.get(("calendar",), lambda: _quietly(v.calls.get("activities", "/elections")))
    election = None if isinstance(elections, Refused) else current_election(elections["items"], now.date())
    # One round: each service answers its parts at once, and the page waits for the slowest only.
    figures, inbox = await asyncio.gather(
        kept.get(("figures", *v.user.regions), lambda: _figures(v, election, now), v.calls.services.changes),
        _quietly(v.calls.get("notifications", "/inbox/me", unread="true", limit=5)),
    )
    week, overdue, coverage, districts, as_of = figures
    return render(request, "home.html", election=election, coverage=_ok(coverage), districts=_ok(districts),
                  week=_ok(week), overdue=(_ok(overdue) or {"items": []})["items"], inbox=_ok(inbox), as_of=as_of,
                  failed=_failures(elections, week, overdue, inbox))


async def _figures(v: Visit, election: dict[str, Any] | None, now: datetime) -> tuple[Any, ...]:
    """The region's figures of the Beranda: the same for everyone who covers the same regions."""
    monday = datetime.combine(now.date() - timedelta(days=now.weekday()), datetime.min.time(), now.tzinfo)

    def coverage(**wanted: str) -> Any:
        if election is None:
            return _nothing()
        return _quietly(v.calls.get("activities", "/stats/coverage", election=election["id"], **wanted))

    found = await asyncio.gather(
        _quietly(v.calls.get("activities", "/activities", **{"from": monday.isoformat(),
                                                              "to": (monday + timedelta(days=7)).isoformat(),
                                                              "limit": 50})),
        # held, and begun more than H+3 ago: the report is overdue
        _quietly(v.calls.get("activities", "/activities", status="held", limit=20,
                             to=(now - timedelta(days=OVERDUE_DAYS)).isoformat())),
        coverage(), coverage(group_by="district"))
    return (*found, now)


async def _nothing() -> None:
    return None


class Kept:
    """What the Beranda reads of the whole region, kept a few seconds (``FIGURES_KEPT_SECONDS``): a
    dozen people opening it at the start of the day make one round of calls, not a dozen, and the
    page says as of when. A failed read is not kept, nor one older than a change made through this
    console (``generation``: someone who has just reported an activity sees it counted)."""

    def __init__(self, seconds: float = FIGURES_KEPT_SECONDS) -> None:
        self.seconds = seconds
        self.kept: dict[tuple[str, ...], tuple[float, Any, int]] = {}
        self.locks: dict[tuple[str, ...], asyncio.Lock] = {}

    async def get(self, key: tuple[str, ...], read: Any, generation: int = 0) -> Any:
        async with self.locks.setdefault(key, asyncio.Lock()):  # one read at a time per key
            found = self.kept.get(key)
            if found and found[0] > time.monotonic() and found[2] == generation:
                return found[1]
            value = await read()
            failed = isinstance(value, Refused) or (isinstance(value, tuple) and any(isinstance(v, Refused)
                                                                                   for v in value))
            if not failed:
                self.kept[key] = (time.monotonic() + self.seconds, value, generation)
            return value


def _ok(value: Any) -> Any:
    return None if isinstance(value, Refused) or value is None else value


def _failures(*values: Any) -> list[str]:
    return [v.detail for v in values if isinstance(v, Refused)]
