"""The rules: what makes each one fire, and what its notification says. No I/O.

A rule fires on an event (``activity.scheduled``, ``activity.cancelled``, ``partner.registered``:
the tables :data:`ACTIVITY_EVENT_RULES` and :data:`PARTNER_EVENT_RULES`) or when a job comes due
(the others; each checks the read models afresh, so an event racing the job cannot produce a stale
message). Template contexts hold parsed dates and labels-ready values; webhook ``data`` holds ids
and ISO dates a receiving system can use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from services.notifications.domain import (
    Contact,
    Job,
    Trigger,
    coverage_gaps,
    district_gaps,
    lapsed,
    local_instant,
    stamp,
    superseded,
    weekly_summary,
)
from services.notifications.readmodels import (
    Activity,
    Agreement,
    Election,
    Location,
    Partner,
    Targets,
    named,
    voting_date,
)
from services.notifications.recipient import e164
from shared.events import EventType

PartnerLookup = Callable[[str], Partner | None]

ACTIVITY_DATA = ("id", "version", "title", "kind", "election", "region", "status", "segments", "format", "starts_at",
                 "ends_at", "location", "partners")
PARTNER_DATA = ("id", "version", "name", "type", "region", "district", "district_name", "village", "village_name",
                "status", "segments")


@dataclass(frozen=True)
class Change:
    """An event as the rules see it: what it is about (the cause) and what it replaced."""

    type: str
    cause: str  # the aggregate at a version
    occurred_at: datetime
    previous_status: str | None
    now: datetime
    zone: tzinfo = UTC
    extra: dict[str, Any] = field(default_factory=dict)  # what the event adds to the snapshot (agreement_id)


def activity_context(activity: Activity, partner: PartnerLookup) -> dict[str, Any]:
    where = activity.location or Location()
    partners = []
    for link in activity.partners:
        known = partner(link.partner_id)
        partners.append({"name": (known.name if known else "") or link.partner_id, "role": link.role})
    return {
        "a": {
            "id": activity.id,
            "title": activity.title,
            "kind": activity.kind,
            "format": activity.format,
            "segments": activity.segments,
            "election": activity.election,
            "online_url": where.online_url,
            "status": activity.status,
        },
        # The kecamatan and desa the activity is in, each as "name (code)" (texts.named).
        "district": named(where.district, where.district_name) or None,
        "village": named(where.village, where.village_name) or None,
        "starts": activity.starts_at,
        "ends": activity.ends_at,
        "place": where.venue or named(where.village, where.village_name) or named(where.district, where.district_name),
        "partners": partners,
        "rescheduled": False,
        "days": None,
        "reason": None,
        "contact": None,
        "overdue_days": None,
        "answer_links": {},  # an invitation's signed answer link per contact address (handlers.py)
    }


def _data(snapshot: Activity | Partner, keys: tuple[str, ...]) -> dict[str, Any]:
    dumped = snapshot.model_dump(mode="json")
    return {key: dumped.get(key) for key in keys}


def activity_data(activity: Activity) -> dict[str, Any]:
    return {"activity": _data(activity, ACTIVITY_DATA)}


def partner_data(partner: Partner) -> dict[str, Any]:
    return {"partner": _data(partner, PARTNER_DATA)}


def invitees(activity: Activity, partner: PartnerLookup) -> tuple[list[Contact], list[str]]:
    """Contacts of the activity's active partners with an e-mail address or a phone (one per address:
    the e-mail, else the number), and partner ids not known yet."""
    contacts: dict[str, Contact] = {}
    missing: list[str] = []
    for link in activity.partners:
        known = partner(link.partner_id)
        if known is None:
            missing.append(link.partner_id)
            continue
        if known.status not in (None, "active"):
            continue
        for person in known.contacts:
            email = (person.email or "").strip() or None
            phone = _number(person.phone)
            contact = Contact(person.name or known.name, email, link.partner_id, known.name, link.role, phone=phone)
            if contact.address and contact.address not in contacts:
                contacts[contact.address] = contact
    # A number already reached with an e-mail contact is not invited a second time as its own.
    reached = {c.phone for c in contacts.values() if c.email and c.phone}
    return [c for c in contacts.values() if c.email or c.phone not in reached], missing


def _number(phone: str | None) -> str | None:
    """A contact's phone as E.164 (one address per number however it is written), else as given."""
    if not phone or not phone.strip():
        return None
    try:
        return e164(phone)
    except ValueError:
        return phone.strip()


# --- Rules fired by events ---------------------------------------------------------------------

Fired = tuple[list[Trigger], list[str]]  # the triggers, and partner ids to know before invitations go out


def _activity_base(change: Change, activity: Activity) -> dict[str, Any]:
    return {"cause": change.cause, "cause_type": change.type, "occurred_at": change.occurred_at,
            "regions": activity.regions, "data": activity_data(activity)}


def _still_to_come(activity: Activity, now: datetime) -> bool:
    return activity.starts_at is not None and activity.starts_at > now


def scheduled(change: Change, activity: Activity, partner: PartnerLookup) -> Fired:
    """``activity.scheduled`` (also on a new date); contacts are invited only to what is still to come."""
    if activity.starts_at is None:
        return [], []
    context = activity_context(activity, partner)
    context["rescheduled"] = change.type == EventType.ACTIVITY_RESCHEDULED
    contacts, missing = invitees(activity, partner) if _still_to_come(activity, change.now) else ([], [])
    return [Trigger("activity.scheduled", "activity.scheduled", context=context, contacts=contacts,
                    contact_template="activity.invitation", **_activity_base(change, activity))], missing


def cancelled(change: Change, activity: Activity, partner: PartnerLookup) -> Fired:
    """``activity.cancelled``; the contacts hear of it when they had been invited (scheduled, to come)."""
    context = activity_context(activity, partner)
    context["reason"] = activity.cancel_reason or activity.cancellation_reason or activity.reason
    invited = change.previous_status == "scheduled" and _still_to_come(activity, change.now)
    contacts, missing = invitees(activity, partner) if invited else ([], [])
    return [Trigger("activity.cancelled", "activity.cancelled", context=context, contacts=contacts,
                    contact_template="activity.cancelled", **_activity_base(change, activity))], missing


def _days_since_held(activity: Activity, zone: tzinfo, now: datetime) -> int | None:
    ended = activity.ends_at or activity.starts_at
    return (now.astimezone(zone).date() - ended.astimezone(zone).date()).days if ended else None


def report_fell_overdue(change: Change, activity: Activity, partner: PartnerLookup) -> Fired:
    """``activity.report_overdue`` (the activities service's H+3), while the report is still missing."""
    if activity.status != "held":
        return [], []
    context = activity_context(activity, partner)
    context["overdue_days"] = _days_since_held(activity, change.zone, change.now)
    return [Trigger("activity.report_overdue", "activity.report_overdue", context=context,
                    **_activity_base(change, activity))], []


ACTIVITY_EVENT_RULES: dict[str, Callable[[Change, Activity, PartnerLookup], Fired]] = {
    EventType.ACTIVITY_SCHEDULED: scheduled,
    EventType.ACTIVITY_RESCHEDULED: scheduled,
    EventType.ACTIVITY_CANCELLED: cancelled,
    EventType.ACTIVITY_REPORT_OVERDUE: report_fell_overdue,
}


def partner_registered(change: Change, partner: Partner) -> list[Trigger]:
    return [Trigger("partner.registered", "partner.registered", change.cause, change.type, change.occurred_at,
                    partner.regions, {"p": partner}, data=partner_data(partner))]


def _agreement_named(change: Change, partner: Partner) -> Agreement | None:
    wanted = change.extra.get("agreement_id")
    return next((a for a in partner.agreements if a.id == wanted), None) if wanted else None


def agreement_announced_expiring(change: Change, partner: Partner) -> list[Trigger]:
    """``partner.agreement_expiring`` (the partners service's, 30 days ahead), unless renewed since."""
    agreement = _agreement_named(change, partner)
    if agreement is None or partner.status == "archived" or superseded(agreement, partner.agreements, change.zone):
        return []
    until = agreement.until(change.zone)
    days_left = (until - change.now.astimezone(change.zone).date()).days if until else None
    if until is None or days_left is None or days_left < 0:
        return []
    context = {"p": partner, "until": until, "days_left": days_left, "ag": agreement}
    data = {**partner_data(partner), "agreement": agreement.model_dump(mode="json"), "days_left": days_left}
    return [Trigger("partner.agreement_expiring", "partner.agreement_expiring", change.cause, change.type,
                    change.occurred_at, partner.regions, context, data=data)]


def lapsed_trigger(partner: Partner, agreement: Agreement, zone: tzinfo, now: datetime, again: bool,
                   **base: Any) -> Trigger:
    until = agreement.until(zone)
    days_ago = (now.astimezone(zone).date() - until).days if until else None
    context = {"p": partner, "until": until, "days_ago": days_ago, "ag": agreement, "again": again}
    data = {**partner_data(partner), "agreement": agreement.model_dump(mode="json"), "days_since_lapsed": days_ago,
            "again": again}
    return Trigger("partner.agreement_lapsed", "partner.agreement_lapsed", regions=partner.regions, context=context,
                   data=data, **base)


def agreement_announced_lapsed(change: Change, partner: Partner) -> list[Trigger]:
    """``partner.agreement_lapsed``, unless renewed (or the partner archived) since."""
    agreement = _agreement_named(change, partner)
    today = change.now.astimezone(change.zone).date()
    if agreement is None or not lapsed(agreement, partner, change.zone, today):
        return []
    return [lapsed_trigger(partner, agreement, change.zone, change.now, False, cause=change.cause,
                           cause_type=change.type, occurred_at=change.occurred_at)]


PARTNER_EVENT_RULES: dict[str, Callable[[Change, Partner], list[Trigger]]] = {
    EventType.PARTNER_REGISTERED: partner_registered,
    EventType.PARTNER_AGREEMENT_EXPIRING: agreement_announced_expiring,
    EventType.PARTNER_AGREEMENT_LAPSED: agreement_announced_lapsed,
}


def still_holds(event_type: str, announced: Activity | Partner, newest: Activity | Partner) -> bool:
    """Whether an event overtaken by a newer one of its aggregate still says something true: its
    rule fires then (the scheduling still stands at that date, the cancellation stands, the partner
    is still there); otherwise a newer event announces what replaced it."""
    if event_type in (EventType.ACTIVITY_SCHEDULED, EventType.ACTIVITY_RESCHEDULED):
        return (newest.status == "scheduled" and isinstance(newest, Activity) and isinstance(announced, Activity)
                and newest.starts_at == announced.starts_at)
    if event_type == EventType.ACTIVITY_CANCELLED:
        return newest.status == "cancelled"
    if event_type == EventType.PARTNER_REGISTERED:
        return newest.status != "archived"
    return False


# --- Rules fired by due jobs -------------------------------------------------------------------


def _job_base(job: Job) -> dict[str, Any]:
    return {"cause": job.id, "cause_type": f"job:{job.kind}", "occurred_at": job.due_at}


def reminder(job: Job, activity: Activity | None, partner: PartnerLookup, zone: tzinfo,
             now: datetime, offsets: list[int]) -> Trigger | None:
    """H-n: only while the activity is still scheduled at the date the job was made for, and
    not when it fires so late that a nearer reminder says the same (H-3 sent on the eve of it)."""
    if activity is None or activity.status != "scheduled":
        return None
    starts = activity.starts_at
    if starts is None or starts <= now or job.occurrence != stamp(starts):
        return None
    days = (starts.astimezone(zone).date() - now.astimezone(zone).date()).days
    offset = job.data.get("days", days)
    if any(days <= nearer < offset for nearer in offsets):
        return None
    context = activity_context(activity, partner)
    context["days"] = days
    return Trigger("activity.reminder", "activity.reminder", regions=activity.regions, context=context,
                   data={**activity_data(activity), "days_before": job.data.get("days")}, **_job_base(job))


def report_still_overdue(job: Job, activity: Activity | None, partner: PartnerLookup, zone: tzinfo,
                         now: datetime) -> Trigger | None:
    """The weekly alert of a report still missing (the first was the activities service's event)."""
    if activity is None or activity.status != "held":
        return None
    context = activity_context(activity, partner)
    context["overdue_days"] = _days_since_held(activity, zone, now)
    return Trigger("activity.report_overdue", "activity.report_overdue", regions=activity.regions,
                   context=context, data={**activity_data(activity), "again": True}, **_job_base(job))


def agreement_still_lapsed(job: Job, partner: Partner | None, zone: tzinfo, now: datetime) -> Trigger | None:
    """The weekly alert of an agreement still lapsed (not renewed, the partner not archived)."""
    if partner is None:
        return None
    agreement = next((a for a in partner.agreements if a.id == job.data.get("agreement_id")), None)
    if agreement is None or not lapsed(agreement, partner, zone, now.astimezone(zone).date()):
        return None
    return lapsed_trigger(partner, agreement, zone, now, True, **_job_base(job))


def agreement_expiring(job: Job, partner: Partner | None, zone: tzinfo, now: datetime) -> Trigger | None:
    """Only while the agreement is still there, with the same end date, and not renewed."""
    if partner is None or partner.status == "archived":
        return None
    agreement = next((a for a in partner.agreements if a.id == job.data.get("agreement_id")), None)
    if agreement is None or superseded(agreement, partner.agreements, zone):
        return None
    until = agreement.until(zone)
    if until is None or until.isoformat() != job.occurrence:
        return None
    days_left = (until - now.astimezone(zone).date()).days
    if days_left < 0:
        return None
    context = {"p": partner, "until": until, "days_left": days_left, "ag": agreement}
    data = {**partner_data(partner), "agreement": agreement.model_dump(mode="json"), "days_left": days_left}
    return Trigger("partner.agreement_expiring", "partner.agreement_expiring", regions=partner.regions,
                   context=context, data=data, **_job_base(job))


def coverage_gap(job: Job, targets: Targets | None, election: Election | None, activities: list[Activity],
                 zone: tzinfo, now: datetime) -> Trigger | None:
    """Targeted segments and kecamatan no activity that took place has reached; only while the
    voting day is still the one the job was made for (the calendar may have moved it)."""
    if targets is None:
        return None
    voting = voting_date(targets, election, zone)
    if voting is None or voting.isoformat() != job.occurrence:
        return None
    gaps = coverage_gaps(targets, activities)
    districts = district_gaps(targets, activities)
    if not gaps and not districts:
        return None
    of = targets.of_election
    days_left = (voting - now.astimezone(zone).date()).days
    district_targets = targets.targeted_districts
    context = {"gaps": gaps, "targets": targets.segment_targets, "district_gaps": districts,
               "district_targets": district_targets, "district_names": targets.district_names, "election": of, "voting_day": voting, "days_left": days_left}
    # ``gaps`` stays the segments (as before issue 12); the kecamatan are beside them, by code.
    data = {"election": of, "voting_day": voting.isoformat(), "gaps": gaps, "days_left": days_left,
            "district_gaps": [_district_gap(d, district_targets[d], targets.district_names.get(d))
                              for d in districts]}
    return Trigger("coverage.gap", "coverage.gap", regions=(), context=context, data=data, **_job_base(job))


def _district_gap(code: str, target: int, name: str | None) -> dict[str, Any]:
    """A kecamatan gap as a webhook gets it; its name only when the targets event gave one."""
    return {"district": code, "target": target, **({"district_name": name} if name else {})}


def digest(job: Job, activities: list[Activity], zone: tzinfo, digest_day: date,
           partners: list[Partner] | None = None) -> Trigger:
    """Last week: the seven local days before the digest's day; and what stays open until it is
    dealt with: reports not in (every held activity) and agreements lapsed and not renewed."""
    start = local_instant(digest_day - timedelta(days=7), datetime.min.time(), zone)
    end = local_instant(digest_day, datetime.min.time(), zone)
    week = weekly_summary(activities, start, end)
    still_lapsed = sorted(((p, a) for p in partners or [] for a in p.agreements if lapsed(a, p, zone, digest_day)),
                          key=lambda pair: (pair[1].until(zone) or digest_day, pair[0].name))
    context = {"s": week, "week_start": digest_day - timedelta(days=7), "week_end": digest_day - timedelta(days=1),
               "lapsed": [{"p": p, "ag": a, "until": a.until(zone)} for p, a in still_lapsed]}
    data = {"week_start": (digest_day - timedelta(days=7)).isoformat(),
            "week_end": (digest_day - timedelta(days=1)).isoformat(),
            "held": week.held, "reported": week.reported, "cancelled": week.cancelled,
            "attendance": week.attendance, "reach": week.reach,
            "activities": [a.id for a in week.activities], "open_reports": [a.id for a in week.open_reports],
            "lapsed_agreements": [{"partner_id": p.id, "agreement_id": a.id,
                                   "valid_until": (a.until(zone) or digest_day).isoformat()} for p, a in still_lapsed]}
    return Trigger("digest.weekly", "digest.weekly", regions=(), context=context, data=data, **_job_base(job))
