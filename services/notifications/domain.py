"""The notification rules, free of I/O: who hears about what, and when.

- *Triggers* say that a rule fired for a cause (an event, or a due scheduled job); the
  notifier turns one trigger into one notification per interested recipient.
- *Jobs* are the dated work a snapshot implies (an activity's H-3 and H-1 reminders, its
  overdue-report alert, an agreement's expiry alerts, an election's coverage check, the
  weekly digest). A job's id is its key plus its occurrence (``activity:X:reminder:1@<starts_at>``),
  so moving the activity makes a new occurrence and the old one is dropped.
- Notification ids are derived from (rule, cause, audience) and the cause's instant, so the
  same cause handled twice yields the same id and is stored once.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol

from ulid import ULID

from shared.regions import is_region_code, within

RULES = (
    "activity.scheduled",
    "activity.reminder",
    "activity.report_overdue",
    "activity.cancelled",
    "partner.registered",
    "partner.agreement_expiring",
    "coverage.gap",
    "digest.weekly",
)

# Subscribing to an event type means subscribing to the rule that event fires.
EVENT_TYPE_RULES = {
    "sinergi.activity.scheduled": "activity.scheduled",
    "sinergi.activity.rescheduled": "activity.scheduled",
    "sinergi.activity.cancelled": "activity.cancelled",
    "sinergi.partner.registered": "partner.registered",
}

CHANNELS = ("inbox", "email", "webhook")
LANGUAGES = ("id", "en")

ZONE_ABBREVIATIONS = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}


class Timing(Protocol):
    """The part of the settings the schedule depends on."""

    reminder_days: list[int]
    reminder_time: time
    overdue_days: int
    agreement_days: list[int]
    coverage_days: int
    digest_weekday: int
    digest_time: time


# --- Subscriptions and regions ---------------------------------------------------------------


def normalize_subscription(value: str) -> str:
    """A rule name, ``activity.*``, ``*`` or an event type that fires a rule; else ValueError."""
    value = value.strip()
    if value.startswith("sinergi."):
        if value not in EVENT_TYPE_RULES:
            raise ValueError(f"no rule notifies on {value}; the rules are {', '.join(RULES)}")
        return EVENT_TYPE_RULES[value]
    if value == "*" or value in RULES:
        return value
    if value.endswith(".*") and any(rule.startswith(value[:-1]) for rule in RULES):
        return value
    raise ValueError(f"{value!r} is not a rule; the rules are {', '.join(RULES)} (or a prefix such as activity.*)")


def subscribed(subscriptions: Sequence[str], rule: str) -> bool:
    """No subscriptions means every rule."""
    return not subscriptions or any(fnmatch.fnmatchcase(rule, pattern) for pattern in subscriptions)


def covers(recipient_regions: Sequence[str], about: Sequence[str]) -> bool:
    """No regions on either side means the whole instance."""
    if not recipient_regions or not about:
        return True
    return any(within(code, mine) for code in about for mine in recipient_regions)


def wants(recipient: dict[str, Any], rule: str, regions: Sequence[str]) -> bool:
    return subscribed(recipient.get("subscriptions") or [], rule) and covers(recipient.get("regions") or [], regions)


def channels_of(recipient: dict[str, Any]) -> list[str]:
    """The inbox always; e-mail and webhook when the recipient has an address for them."""
    found = ["inbox"]
    if recipient.get("email"):
        found.append("email")
    if recipient.get("webhook_url"):
        found.append("webhook")
    return found


def regions_of_activity(activity: dict[str, Any]) -> tuple[str, ...]:
    location = activity.get("location") or {}
    codes = [activity.get("region"), location.get("village"), location.get("district")]
    return tuple(c for c in codes if isinstance(c, str) and is_region_code(c))


def regions_of_partner(partner: dict[str, Any]) -> tuple[str, ...]:
    codes = [partner.get("region"), partner.get("district")]
    return tuple(c for c in codes if isinstance(c, str) and is_region_code(c))


# --- Triggers and ids ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """A partner's contact person: reached by e-mail only, never a recipient with an inbox."""

    name: str
    email: str
    partner_id: str
    partner_name: str
    role: str | None = None

    @property
    def audience(self) -> str:
        return "contact:" + self.email.strip().lower()


@dataclass
class Trigger:
    rule: str
    template: str
    cause: str  # an event id or a job id
    cause_type: str  # the event type, or "job:<kind>"
    occurred_at: datetime
    regions: tuple[str, ...]
    context: dict[str, Any]
    # What a webhook receives besides the texts: ids and dates of what it is about.
    data: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None
    contacts: list[Contact] = field(default_factory=list)
    contact_template: str | None = None


def notification_id(rule: str, cause: str, audience: str, at: datetime) -> str:
    """A ULID whose time is the cause's instant and whose randomness is a hash of the rest."""
    digest = hashlib.sha256(f"{rule}\0{cause}\0{audience}".encode()).digest()[:10]
    millis = min(max(int(at.timestamp() * 1000), 0), (1 << 48) - 1)
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest))


def delivery_id(notification: str, channel: str) -> str:
    return f"{notification}.{channel}"


def summary(delivery: dict[str, Any]) -> dict[str, Any]:
    """What a notification shows of one of its deliveries, as of the delivery's ``version``."""
    return {"id": delivery["_id"], "status": delivery["status"], "attempts": delivery["attempts"],
            "last_error": delivery["last_error"], "version": delivery["version"]}


def behind(shown: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """Whether a notification showing ``shown`` (a summary, or nothing) should show ``wanted``
    instead: only a later version of the delivery replaces what it shows (a summary written
    before summaries carried a version counts as older than any)."""
    return shown is None or shown.get("version", 0) < wanted["version"]


def backoff(failures: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with equal jitter: ``jitter`` in [0, 1) picks within [d/2, d)."""
    delay = min(cap, base * 2 ** max(failures - 1, 0))
    return delay * (0.5 + jitter / 2)


# --- Dates -----------------------------------------------------------------------------------


def parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def parse_day(value: Any, zone: tzinfo) -> date | None:
    """A date from ``2025-01-31`` or from a datetime (its local date in ``zone``)."""
    if isinstance(value, datetime):
        return value.astimezone(zone).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        if len(value) == 10:
            try:
                return date.fromisoformat(value)
            except ValueError:
                return None
        moment = parse_datetime(value)
        return moment.astimezone(zone).date() if moment else None
    return None


def local_instant(day: date, at: time, zone: tzinfo) -> datetime:
    """``day`` at ``at`` on the wall clocks of ``zone``, as a UTC instant."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Jobs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    key: str
    occurrence: str
    kind: str  # reminder | overdue | agreement | coverage | digest
    subject: str
    due_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.key}@{self.occurrence}"


JOB_KINDS_OF = {"activity": ("reminder", "overdue"), "partner": ("agreement",), "targets": ("coverage",)}


def activity_jobs(activity: dict[str, Any], timing: Timing, zone: tzinfo, now: datetime) -> list[Job]:
    """Reminders while scheduled (future ones only); the overdue-report alert while held."""
    activity_id = activity["id"]
    status = activity.get("status")
    starts = parse_datetime(activity.get("starts_at"))
    jobs: list[Job] = []
    if status == "scheduled" and starts and starts > now:
        day = starts.astimezone(zone).date()
        for days in timing.reminder_days:
            due = local_instant(day - timedelta(days=days), timing.reminder_time, zone)
            if now < due < starts:
                jobs.append(Job(f"activity:{activity_id}:reminder:{days}", stamp(starts), "reminder", activity_id,
                                due, {"days": days}))
    if status == "held":
        ended = parse_datetime(activity.get("ends_at")) or starts
        today = now.astimezone(zone).date()
        # Three days after it ended, or after it was marked held when that came later.
        base = max(ended.astimezone(zone).date(), today) if ended else today
        due = local_instant(base + timedelta(days=timing.overdue_days), timing.reminder_time, zone)
        jobs.append(Job(f"activity:{activity_id}:overdue", stamp(ended) if ended else "held", "overdue",
                        activity_id, due))
    return jobs


def superseded(agreement: dict[str, Any], agreements: Iterable[dict[str, Any]], zone: tzinfo) -> bool:
    """Renewed: another agreement of the same kind runs until later."""
    until = parse_day(agreement.get("valid_until"), zone)
    for other in agreements:
        if other is agreement or other.get("doc_type") != agreement.get("doc_type"):
            continue
        other_until = parse_day(other.get("valid_until"), zone)
        if until and other_until and other_until > until:
            return True
    return False


def partner_jobs(partner: dict[str, Any], timing: Timing, zone: tzinfo, now: datetime) -> list[Job]:
    """Expiry alerts of each agreement still current; of the alerts already due, only the latest."""
    if partner.get("status") == "archived":
        return []
    agreements = partner.get("agreements") or []
    today = now.astimezone(zone).date()
    jobs: list[Job] = []
    for agreement in agreements:
        until = parse_day(agreement.get("valid_until"), zone)
        if until is None or until < today or not agreement.get("id") or superseded(agreement, agreements, zone):
            continue
        dues = {days: local_instant(until - timedelta(days=days), timing.reminder_time, zone)
                for days in timing.agreement_days}
        passed = [days for days, due in dues.items() if due <= now]
        chosen = [days for days, due in dues.items() if due > now] + ([min(passed)] if passed else [])
        for days in chosen:
            jobs.append(Job(f"partner:{partner['id']}:agreement:{agreement['id']}:{days}", until.isoformat(),
                            "agreement", partner["id"], dues[days], {"agreement_id": agreement["id"], "days": days}))
    return jobs


def targets_jobs(targets: dict[str, Any], timing: Timing, zone: tzinfo, now: datetime) -> list[Job]:
    """The coverage check, ``coverage_days`` before voting day (at once if that has passed)."""
    voting = parse_day(targets.get("voting_day"), zone)
    segments = targeted_segments(targets)
    if voting is None or not segments or voting < now.astimezone(zone).date():
        return []
    due = local_instant(voting - timedelta(days=timing.coverage_days), timing.reminder_time, zone)
    return [Job(f"targets:{targets['id']}:coverage", voting.isoformat(), "coverage", targets["id"], due)]


def digest_job(timing: Timing, zone: tzinfo, after: datetime) -> Job:
    """The next weekly digest strictly after ``after``."""
    local = after.astimezone(zone)
    day = local.date() + timedelta(days=(timing.digest_weekday - local.weekday()) % 7)
    due = local_instant(day, timing.digest_time, zone)
    if due <= after:
        day += timedelta(days=7)
        due = local_instant(day, timing.digest_time, zone)
    return Job("digest.weekly", day.isoformat(), "digest", "digest", due)


# --- What the jobs report --------------------------------------------------------------------


def targeted_segments(targets: dict[str, Any]) -> list[str]:
    return sorted(s for s, n in (targets.get("segment_targets") or {}).items() if isinstance(n, int | float) and n > 0)


def coverage_gaps(targets: dict[str, Any], activities: Iterable[dict[str, Any]]) -> list[str]:
    """Targeted segments no held (or reported) activity of the election has reached."""
    election = targets.get("election") or targets.get("id")
    covered = {
        segment
        for activity in activities
        if activity.get("election") == election and activity.get("status") in {"held", "reported"}
        for segment in activity.get("segments") or []
    }
    return [segment for segment in targeted_segments(targets) if segment not in covered]


def reach_of(activity: dict[str, Any]) -> int:
    outcome = activity.get("outcome") or {}
    value = outcome.get("reach") or outcome.get("attendance_total") or 0
    return int(value) if isinstance(value, int | float) else 0


def weekly_summary(activities: Iterable[dict[str, Any]], start: datetime, end: datetime) -> dict[str, Any]:
    """Last week's activities (by start), their attendance and reach; the reports still open."""
    week: list[dict[str, Any]] = []
    upcoming: list[dict[str, Any]] = []
    open_reports: list[dict[str, Any]] = []
    for activity in activities:
        starts = parse_datetime(activity.get("starts_at"))
        if activity.get("status") == "held":
            open_reports.append(activity)
        if starts is None:
            continue
        if start <= starts < end:
            week.append(activity)
        elif end <= starts < end + timedelta(days=7) and activity.get("status") == "scheduled":
            upcoming.append(activity)

    def by_start(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda a: parse_datetime(a.get("starts_at")) or start)

    took_place = [a for a in week if a.get("status") in {"held", "reported"}]
    return {
        "activities": by_start(week),
        "held": len(took_place),
        "reported": sum(1 for a in week if a.get("status") == "reported"),
        "cancelled": sum(1 for a in week if a.get("status") == "cancelled"),
        "attendance": sum(int((a.get("outcome") or {}).get("attendance_total") or 0) for a in took_place),
        "reach": sum(reach_of(a) for a in took_place),
        "open_reports": by_start(open_reports),
        "upcoming": by_start(upcoming),
    }
