"""The read side the API answers with: activities as a client sees them, targets, display words.

An activity's answer is its snapshot plus what this service knows around it, which is presentation
and never part of an event (events.py): each partner's ``name`` and ``status`` from the partner
replica, and ``warnings`` — what the office should look at, refusing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.activities.domain import Activity, Targets, jsonable, snapshot, targets_snapshot
from services.activities.elections import Calendar, Election, ShippedCalendar
from services.activities.store import ActivityFilter, ActivityStore, KnownPartner, PartnerReplica, query
from services.activities.fields import DISTRICT_CODE, named, places
from services.activities.invitations import Confirmations, confirmations_view
from shared.errors import NotFound
from shared.gazetteer import Unresolved, refusal

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")


def view(activity: Activity, known: dict[str, KnownPartner], zone: ZoneInfo,
         election: Election | None = None) -> dict[str, Any]:
    """The activity as the API answers it, with partner names and warnings.

    ``warnings`` flags an activity inside its election's quiet period, a ``stage`` its date
    contradicts (both in Bahasa Indonesia, from the ``election`` as the calendar has it), and a
    partner no longer active (or unknown) in the replica.
    """
    data = jsonable(snapshot(activity))
    warnings: list[dict[str, Any]] = []
    quiet = activity.quiet_period_warning(zone, election)
    if quiet:
        warnings.append({"code": "masa_tenang", "message": quiet})
    wrong_stage = activity.stage_warning(zone, election)
    if wrong_stage:
        warnings.append({"code": "tahapan_tidak_sesuai", "message": wrong_stage})
    partners = []
    for ref in activity.partners:
        partner = known.get(ref.partner_id)
        status = partner.status if partner else "unknown"
        partners.append({"partner_id": ref.partner_id, "role": ref.role.value,
                         "name": partner.name if partner else None, "status": status})
        if partner is None or not partner.active:
            name = f"{partner.name} " if partner else ""
            warnings.append({"code": "partner_not_active", "partner_id": ref.partner_id,
                             "message": f"partner {name}({ref.partner_id}) is '{status}' in the partner registry"})
    data["partners"] = partners
    data["warnings"] = warnings
    data["location"] = named(activity.region, activity.location)
    return data


def targets_view(targets: Targets) -> dict[str, Any]:
    """The targets, and the name of each targeted kecamatan (``district_names``, code → name)."""
    names = places(targets.region)
    return {**jsonable(targets_snapshot(targets)),
            "district_names": {code: names.name_of(code) for code in targets.district_targets}}


def month_label(key: str | None) -> str:
    """``2024-10`` → ``Oktober 2024``; no month → ``Belum dijadwalkan``."""
    if not key:
        return "Belum dijadwalkan"
    year, month = key.split("-")
    return f"{MONTHS[int(month) - 1]} {year}"


@dataclass
class ActivityViews:
    """Reads of activities, answered as :func:`view` shows them."""

    store: ActivityStore
    replica: PartnerReplica
    zone: ZoneInfo
    calendar: Calendar = field(default_factory=ShippedCalendar)
    confirmations: Confirmations | None = None  # the contacts' answers to invitations (invitations.py)

    def __post_init__(self) -> None:
        # The gazetteer is read at start, so a missing one stops the service with the command that
        # installs it (the calendar is the region's; a bare ShippedCalendar names none).
        region = getattr(self.calendar, "region", None)
        if region:
            places(region)

    async def get(self, activity_id: str) -> dict[str, Any]:
        activity = await self.store.get(activity_id)
        if activity is None:
            raise NotFound(f"no activity with id {activity_id}")
        return await self.present(activity)

    async def search(self, wanted: ActivityFilter, starts_from: datetime | None, starts_before: datetime | None,
                     limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        found, next_cursor = await self.store.page(query(self._placed(wanted), starts_from, starts_before), limit,
                                                   cursor)
        known = await self.replica.many({p.partner_id for a in found for p in a.partners})
        calendar = await self.calendar.all() if found else {}
        return [view(a, known, self.zone, calendar.get(a.election)) for a in found], next_cursor

    def _placed(self, wanted: ActivityFilter) -> ActivityFilter:
        """``?district=`` by name or code, as a body names it; a name not placed is a 422 with suggestions."""
        region = getattr(self.calendar, "region", None)
        if not wanted.district or not region or DISTRICT_CODE.match(wanted.district):
            return wanted
        try:
            return wanted.model_copy(update={"district": places(region).district(wanted.district)})
        except Unresolved as exc:
            raise refusal({"district": exc}) from None

    async def present(self, activity: Activity, invited: bool = True) -> dict[str, Any]:
        """The activity's view; ``invited=False`` when no contact can have been invited to it yet (it
        was planned, never scheduled, when the request began): its confirmations are then none, not read."""
        known = await self.replica.many({p.partner_id for p in activity.partners})
        shown = view(activity, known, self.zone, await self.calendar.get(activity.election))
        if self.confirmations is not None:
            answers = (await self.confirmations.of([activity.id]))[activity.id] if invited else []
            shown["confirmations"] = confirmations_view(answers)
        return shown
