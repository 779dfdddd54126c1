"""From a snapshot (and what the read models know) to the triggers it fires. No I/O.

Template contexts hold parsed dates and labels-ready values; webhook ``data`` holds ids and
ISO dates a receiving system can use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from services.notifications.domain import (
    Contact,
    Trigger,
    coverage_gaps,
    local_instant,
    parse_datetime,
    parse_day,
    regions_of_activity,
    regions_of_partner,
    stamp,
    superseded,
    weekly_summary,
)

PartnerLookup = Callable[[str], dict[str, Any] | None]


def activity_context(activity: dict[str, Any], partner: PartnerLookup) -> dict[str, Any]:
    location = activity.get("location") or {}
    partners = []
    for link in activity.get("partners") or []:
        known = partner(link.get("partner_id", "")) or {}
        partners.append({"name": known.get("name") or link.get("partner_id"), "role": link.get("role")})
    return {
        "a": {
            "id": activity.get("id"),
            "title": activity.get("title") or "",
            "kind": activity.get("kind"),
            "format": activity.get("format"),
            "segments": activity.get("segments") or [],
            "election": activity.get("election"),
            "online_url": location.get("online_url"),
            "status": activity.get("status"),
        },
        "starts": parse_datetime(activity.get("starts_at")),
        "ends": parse_datetime(activity.get("ends_at")),
        "place": location.get("venue") or location.get("village") or location.get("district"),
        "partners": partners,
        "rescheduled": False,
        "days": None,
        "reason": None,
        "contact": None,
        "overdue_days": None,
    }


def activity_data(activity: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "version", "title", "kind", "election", "region", "status", "segments", "format", "starts_at",
            "ends_at", "location", "partners")
    return {"activity": {k: _json(activity.get(k)) for k in keys}}


def partner_data(partner: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "version", "name", "type", "region", "district", "status", "segments")
    return {"partner": {k: _json(partner.get(k)) for k in keys}}


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def invitees(activity: dict[str, Any], partner: PartnerLookup) -> tuple[list[Contact], list[str]]:
    """E-mail contacts of the activity's active partners (one per address), and partner ids not known yet."""
    contacts: dict[str, Contact] = {}
    missing: list[str] = []
    for link in activity.get("partners") or []:
        partner_id = link.get("partner_id") or ""
        known = partner(partner_id)
        if known is None:
            missing.append(partner_id)
            continue
        if known.get("status") not in (None, "active"):
            continue
        for person in known.get("contacts") or []:
            email = (person.get("email") or "").strip()
            if email and email.lower() not in contacts:
                contacts[email.lower()] = Contact(person.get("name") or known.get("name", ""), email, partner_id,
                                                  known.get("name", ""), link.get("role"))
    return list(contacts.values()), missing


def activity_event_triggers(
    event_type: str,
    event_id: str,
    event_time: datetime,
    activity: dict[str, Any],
    previous: dict[str, Any] | None,
    partner: PartnerLookup,
    now: datetime,
) -> tuple[list[Trigger], list[str]]:
    """Triggers of one activity event, and partner ids that must be known before invitations go out."""
    kind = event_type.removeprefix("sinergi.activity.")
    context = activity_context(activity, partner)
    starts = context["starts"]
    upcoming = starts is not None and starts > now
    base = {"cause": event_id, "cause_type": event_type, "occurred_at": event_time,
            "regions": regions_of_activity(activity), "data": activity_data(activity)}
    if kind in {"scheduled", "rescheduled"} and starts is not None:
        context["rescheduled"] = kind == "rescheduled"
        contacts, missing = invitees(activity, partner) if upcoming else ([], [])
        return [Trigger("activity.scheduled", "activity.scheduled", context=context, contacts=contacts,
                        contact_template="activity.invitation", **base)], missing
    if kind == "cancelled":
        context["reason"] = activity.get("cancel_reason") or activity.get("cancellation_reason") or activity.get("reason")
        was_scheduled = previous is not None and previous.get("status") == "scheduled"
        contacts, missing = invitees(activity, partner) if upcoming and was_scheduled else ([], [])
        return [Trigger("activity.cancelled", "activity.cancelled", context=context, contacts=contacts,
                        contact_template="activity.cancelled", **base)], missing
    return [], []


def partner_registered(event_id: str, event_time: datetime, partner: dict[str, Any]) -> Trigger:
    context = {"p": {"name": partner.get("name", ""), "type": partner.get("type"), "region": partner.get("region"),
                     "district": partner.get("district"), "segments": partner.get("segments") or [],
                     "contacts": [{"name": c.get("name", ""), "role": c.get("role"), "phone": c.get("phone"),
                                   "email": c.get("email")} for c in partner.get("contacts") or []]}}
    return Trigger("partner.registered", "partner.registered", event_id, "sinergi.partner.registered", event_time,
                   regions_of_partner(partner), context, data=partner_data(partner))


# --- Scheduled jobs --------------------------------------------------------------------------


def _job_base(job: dict[str, Any], kind: str) -> dict[str, Any]:
    due = job["due_at"]
    return {"cause": job["_id"], "cause_type": f"job:{kind}", "occurred_at": due}


def reminder(job: dict[str, Any], activity: dict[str, Any] | None, partner: PartnerLookup, zone: tzinfo,
             now: datetime, offsets: list[int]) -> Trigger | None:
    """H-n: only while the activity is still scheduled at the date the job was made for, and
    not when it fires so late that a nearer reminder says the same (H-3 sent on the eve of it)."""
    if activity is None or activity.get("status") != "scheduled":
        return None
    starts = parse_datetime(activity.get("starts_at"))
    if starts is None or starts <= now or job["occurrence"] != stamp(starts):
        return None
    days = (starts.astimezone(zone).date() - now.astimezone(zone).date()).days
    offset = job.get("data", {}).get("days", days)
    if any(days <= nearer < offset for nearer in offsets):
        return None
    context = activity_context(activity, partner)
    context["days"] = days
    return Trigger("activity.reminder", "activity.reminder", regions=regions_of_activity(activity), context=context,
                   data={**activity_data(activity), "days_before": job.get("data", {}).get("days")},
                   **_job_base(job, "reminder"))


def report_overdue(job: dict[str, Any], activity: dict[str, Any] | None, partner: PartnerLookup,
                   overdue_days: int) -> Trigger | None:
    if activity is None or activity.get("status") != "held":
        return None
    context = activity_context(activity, partner)
    context["overdue_days"] = overdue_days
    return Trigger("activity.report_overdue", "activity.report_overdue", regions=regions_of_activity(activity),
                   context=context, data=activity_data(activity), **_job_base(job, "overdue"))


def agreement_expiring(job: dict[str, Any], partner: dict[str, Any] | None, zone: tzinfo, now: datetime) -> Trigger | None:
    """Only while the agreement is still there, with the same end date, and not renewed."""
    if partner is None or partner.get("status") == "archived":
        return None
    agreements = partner.get("agreements") or []
    agreement = next((a for a in agreements if a.get("id") == job.get("data", {}).get("agreement_id")), None)
    if agreement is None or superseded(agreement, agreements, zone):
        return None
    until = parse_day(agreement.get("valid_until"), zone)
    if until is None or until.isoformat() != job["occurrence"]:
        return None
    days_left = (until - now.astimezone(zone).date()).days
    if days_left < 0:
        return None
    context = {"p": {"name": partner.get("name", "")}, "until": until, "days_left": days_left,
               "ag": {k: agreement.get(k) for k in ("doc_type", "number", "title", "scope")}}
    data = {**partner_data(partner), "agreement": {k: _json(v) for k, v in agreement.items()}, "days_left": days_left}
    return Trigger("partner.agreement_expiring", "partner.agreement_expiring", regions=regions_of_partner(partner),
                   context=context, data=data, **_job_base(job, "agreement"))


def coverage_gap(job: dict[str, Any], targets: dict[str, Any] | None, activities: list[dict[str, Any]],
                 zone: tzinfo, now: datetime) -> Trigger | None:
    if targets is None:
        return None
    voting = parse_day(targets.get("voting_day"), zone)
    if voting is None or voting.isoformat() != job["occurrence"]:
        return None
    gaps = coverage_gaps(targets, activities)
    if not gaps:
        return None
    election = targets.get("election") or targets.get("id")
    days_left = (voting - now.astimezone(zone).date()).days
    context = {"gaps": gaps, "targets": targets.get("segment_targets") or {}, "election": election,
               "voting_day": voting, "days_left": days_left}
    data = {"election": election, "voting_day": voting.isoformat(), "gaps": gaps, "days_left": days_left}
    return Trigger("coverage.gap", "coverage.gap", regions=(), context=context, data=data,
                   **_job_base(job, "coverage"))


def digest(job: dict[str, Any], activities: list[dict[str, Any]], zone: tzinfo, digest_day: date) -> Trigger:
    """Last week: the seven local days before the digest's day."""
    start = local_instant(digest_day - timedelta(days=7), datetime.min.time(), zone)
    end = local_instant(digest_day, datetime.min.time(), zone)
    summary = weekly_summary(activities, start, end)

    def view(a: dict[str, Any]) -> dict[str, Any]:
        return {"title": a.get("title", ""), "status": a.get("status"), "starts_at": parse_datetime(a.get("starts_at"))}

    context = {"s": {**summary, **{k: [view(a) for a in summary[k]] for k in ("activities", "open_reports", "upcoming")}},
               "week_start": digest_day - timedelta(days=7), "week_end": digest_day - timedelta(days=1)}
    data = {"week_start": (digest_day - timedelta(days=7)).isoformat(), "week_end": (digest_day - timedelta(days=1)).isoformat(),
            **{k: summary[k] for k in ("held", "reported", "cancelled", "attendance", "reach")},
            "activities": [a.get("id") for a in summary["activities"]],
            "open_reports": [a.get("id") for a in summary["open_reports"]]}
    return Trigger("digest.weekly", "digest.weekly", regions=(), context=context, data=data, **_job_base(job, "digest"))
