"""Second opinions on a body whose shape is wrong (``shared.web.also_check``): what the use case
would refuse of the fields that did parse, so one 422 names every problem (issue 12, point 9).

Each check validates only the fields pydantic accepted and runs the same rules the domain runs;
rules that compare with a field that was refused are left out (they would judge a value the
person has not given yet).
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import AwareDatetime, ValidationError

from services.activities.fields import (
    Location, Outcome, clean, clean_location, detail_errors, location_errors, outcome_errors, refuse, time_errors,
)
from services.activities.schemas import ActivityFields, LocationIn, ReportIn, Strict
from shared.clock import now_ms
from shared.web import refusals

M = TypeVar("M", bound=Strict)


def _root(name: str) -> str:
    """``location.district`` and ``documentation_urls[0]`` belong to ``location`` and ``documentation_urls``."""
    return name.split(".")[0].split("[")[0]


def _kept(found: dict[str, str], wrong: set[str]) -> dict[str, str]:
    return {name: message for name, message in found.items() if _root(name) not in wrong}


def _rest(model: type[M], raw: dict[str, Any], wrong: set[str], **defaults: Any) -> M | None:
    """The body without the fields whose shape was wrong, as ``model`` reads it (``None``: it cannot)."""
    try:
        return model.model_validate({**defaults, **{k: v for k, v in raw.items() if k not in wrong}})
    except ValidationError:
        return None


async def plan_check(raw: dict[str, Any], request: Request, refused: set[str]) -> dict[str, str]:
    """What planning would refuse of the fields whose shape is right, when others' is not."""
    wrong = {_root(name) for name in refused}
    if (shaped := _rest(ActivityFields, raw, wrong)) is None:
        return {}
    calendar = await request.app.state.activities.calendar.all()
    values = clean(shaped.model_dump(exclude_unset=True))
    region = request.app.state.settings.region
    return _kept(refusals(lambda: refuse(detail_errors(region, values, calendar))), wrong)


class _ScheduleParts(Strict):
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    location: LocationIn | None = None


async def schedule_check(raw: dict[str, Any], request: Request, refused: set[str]) -> dict[str, str]:
    """The times' order and the place, as scheduling checks them."""
    wrong = {_root(name) for name in refused}
    if (parts := _rest(_ScheduleParts, raw, wrong)) is None:
        return {}
    found: dict[str, str] = {}
    if parts.starts_at is not None and parts.ends_at is not None:
        found.update(time_errors(parts.starts_at, parts.ends_at))
    if parts.location is not None and (place := clean_location(Location(**parts.location.model_dump()))):
        found.update(location_errors(request.app.state.settings.region, place))
    return _kept(found, wrong)


async def report_check(raw: dict[str, Any], request: Request, refused: set[str]) -> dict[str, str]:
    """The outcome's rules; without a total that parsed, none that compares a count with it."""
    wrong = {_root(name) for name in refused}
    if (shaped := _rest(ReportIn, raw, wrong, attendance_total=0)) is None:
        return {}
    counts = [shaped.women, shaped.disabled, *shaped.attendance_by_segment.values()]
    total = shaped.attendance_total if "attendance_total" not in wrong and "attendance_total" in raw \
        else max(counts, default=0)
    outcome = Outcome(
        attendance_total=total,
        attendance_by_segment={segment.value: count for segment, count in shaped.attendance_by_segment.items()},
        women=shaped.women, disabled=shaped.disabled, reach=total if shaped.reach is None else shaped.reach,
        documentation_urls=tuple(shaped.documentation_urls), notes=shaped.notes, reported_at=now_ms(),
    )
    return _kept(outcome_errors(outcome), wrong)
