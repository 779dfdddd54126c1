"""Who hears about what, and when; free of I/O.

(Over 400 lines: the rules' shared vocabulary — subscriptions, triggers, ids, deliveries, jobs and
what the jobs report — which every other module of the service reads; split, each part would import the rest.)

A *rule* is one of the named notification rules of CONTRACT §5 (``activity.reminder``...): what
makes each one fire is in ``rules.py``; here is what they share.

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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Protocol

from ulid import ULID

from services.notifications.readmodels import Activity, Agreement, Election, Partner, Snapshot, Targets, voting_date
from shared.errors import Conflict
from shared.regions import within

RULES = (
    "activity.scheduled",
    "activity.reminder",
    "activity.report_overdue",
    "activity.cancelled",
    "partner.registered",
    "partner.agreement_expiring",
    "partner.agreement_lapsed",
    "coverage.gap",
    "digest.weekly",
)

# Subscribing to an event type means subscribing to the rule that event fires.
EVENT_TYPE_RULES = {
    "sinergi.activity.scheduled": "activity.scheduled",
    "sinergi.activity.rescheduled": "activity.scheduled",
    "sinergi.activity.cancelled": "activity.cancelled",
    "sinergi.partner.registered": "partner.registered",
    "sinergi.partner.agreement_expiring": "partner.agreement_expiring",
    "sinergi.partner.agreement_lapsed": "partner.agreement_lapsed",
    "sinergi.activity.report_overdue": "activity.report_overdue",
}

# The partners service announces an agreement's expiry this many days ahead (its EXPIRY_NOTICE):
# notifications reminds only at nearer offsets of its own (agreement_days).
ANNOUNCED_EXPIRY_DAYS = 30
REALERT_DAYS = 7  # a lapsed agreement or an overdue report is alerted again every week


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


# Control characters (line breaks, tabs, NUL, C1) and the Unicode line and paragraph separators:
# none belongs in a name, which ends up in an e-mail header.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def channels_of(recipient: dict[str, Any]) -> list[str]:
    """The inbox always; e-mail, webhook, WhatsApp and Telegram when the recipient has an address for them."""
    found = ["inbox"]
    for channel, address in (("email", "email"), ("webhook", "webhook_url"), ("whatsapp", "whatsapp"),
                             ("telegram", "telegram_chat_id")):
        if recipient.get(address):
            found.append(channel)
    return found


# --- Triggers and ids ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """A partner's contact person: reached by e-mail and on WhatsApp (when they have a phone and the
    instance a provider), never a recipient with an inbox. One with a phone and no e-mail is a
    contact all the same (issue 14 follow-up)."""

    name: str
    email: str | None
    partner_id: str
    partner_name: str
    role: str | None = None
    phone: str | None = None

    @property
    def address(self) -> str:
        """What the contact is known by: their e-mail address, else their phone number (E.164)."""
        return (self.email or "").strip().lower() or (self.phone or "").strip()

    @property
    def audience(self) -> str:
        # An e-mail contact's stays what it was, so notification ids made before do not change.
        return "contact:" + self.address


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


class NotRetryable(Conflict):
    """Only a failed or dead delivery can be retried by hand; ``current_status`` says what it is."""


@dataclass(frozen=True)
class RetryAsked:
    delivery_id: str


@dataclass
class Delivery:
    """A delivery as an admin's retry changes it (through the unit of work): its document as stored,
    and the events it recorded (a retry publishes none)."""

    doc: dict[str, Any]
    events: list[Any] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.doc["_id"])

    @property
    def version(self) -> int:
        return int(self.doc["version"])

    def retry(self, now: datetime, at: datetime) -> None:
        """One more attempt, due ``now``; one more allowed if the delivery had used them all."""
        status = self.doc["status"]
        if status not in {"failed", "dead"}:
            raise NotRetryable(f"delivery {self.id} is '{status}'; only failed or dead deliveries can be retried",
                               current_status=status)
        self.doc.update(status="pending", next_attempt_at=now,
                        attempt_limit=max(self.doc["attempt_limit"], self.doc["attempts"] + 1),
                        version=self.version + 1, updated_at=at)
        self.events.append(RetryAsked(self.id))


def backoff(failures: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with equal jitter: ``jitter`` in [0, 1) picks within [d/2, d)."""
    delay = min(cap, base * 2 ** max(failures - 1, 0))
    return delay * (0.5 + jitter / 2)


# --- Dates -----------------------------------------------------------------------------------


def local_instant(day: date, at: time, zone: tzinfo) -> datetime:
    """``day`` at ``at`` on the wall clocks of ``zone``, as a UTC instant."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Jobs ------------------------------------------------------------------------------------


class JobKind(StrEnum):
    reminder = "reminder"
    overdue = "overdue"
    agreement = "agreement"
    coverage = "coverage"
    digest = "digest"
    summary = "summary"  # the flush of a summary's group (summaries.py)
    realert = "realert"  # a lapsed agreement or an overdue report, alerted again each week while it lasts


@dataclass(frozen=True)
class Job:
    key: str
    occurrence: str
    kind: JobKind
    subject: str
    due_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.key}@{self.occurrence}"


# The kinds of job each followed aggregate's snapshot implies (re-derived on each of its events).
# An election's coverage check (kept under "targets") follows both its targets and its calendar
# entry (the voting day): either one's event re-derives it, under the election's id.
JOB_KINDS_OF = {"activity": (JobKind.reminder, JobKind.overdue, JobKind.realert),
                "partner": (JobKind.agreement, JobKind.realert),
                "targets": (JobKind.coverage,)}


def no_jobs_yet(aggregate: str, previous: Snapshot | None) -> bool:
    """Whether nothing can have named a job of the aggregate yet, so its job names need no read
    (issue 15): no event of it was applied here (its read model is written before its jobs, and the
    scheduler re-derives them from the read model), or an activity was planned until now (no job is
    derived for a planned activity, and no status leads back to planned)."""
    return previous is None or (aggregate == "activity" and getattr(previous, "status", None) == "planned")


def activity_jobs(activity: Activity, timing: Timing, zone: tzinfo, now: datetime) -> list[Job]:
    """Reminders while scheduled (future ones only); the weekly overdue-report alert while held."""
    starts = activity.starts_at
    jobs: list[Job] = []
    if activity.status == "scheduled" and starts and starts > now:
        day = starts.astimezone(zone).date()
        for days in timing.reminder_days:
            due = local_instant(day - timedelta(days=days), timing.reminder_time, zone)
            if now < due < starts:
                jobs.append(Job(f"activity:{activity.id}:reminder:{days}", stamp(starts), JobKind.reminder,
                                activity.id, due, {"days": days}))
    if activity.status == "held":
        # The first overdue alert is the activities service's event (sinergi.activity.report_overdue,
        # at H+3); while the report stays missing, it is alerted again each week after.
        overdue_day = report_overdue_day(activity, timing, zone)
        if overdue_day is not None:
            due = next_weekly(overdue_day, timing.reminder_time, zone, now)
            jobs.append(Job(f"activity:{activity.id}:overdue-weekly", due.astimezone(zone).date().isoformat(),
                            JobKind.realert, activity.id, due))
    return jobs


def report_overdue_day(activity: Activity, timing: Timing, zone: tzinfo) -> date | None:
    """The local day a held activity's report falls overdue: ``overdue_days`` after it ended."""
    ended = activity.ends_at or activity.starts_at
    return ended.astimezone(zone).date() + timedelta(days=timing.overdue_days) if ended else None


def next_weekly(first: date, at: time, zone: tzinfo, now: datetime) -> datetime:
    """The first of ``first`` + 7, + 14... at ``at`` local that is still to come."""
    day = first + timedelta(days=REALERT_DAYS)
    today = now.astimezone(zone).date()
    if day < today:  # straight to this week's, without walking the weeks one by one
        day += timedelta(days=(today - day).days // REALERT_DAYS * REALERT_DAYS)
    while local_instant(day, at, zone) <= now:
        day += timedelta(days=REALERT_DAYS)
    return local_instant(day, at, zone)


def lapsed(agreement: Agreement, partner: Partner, zone: tzinfo, today: date) -> bool:
    """Its last valid day has passed and no agreement of its kind runs on: renewing ends it."""
    until = agreement.until(zone)
    return (partner.status != "archived" and until is not None and until < today
            and not superseded(agreement, partner.agreements, zone))


def superseded(agreement: Agreement, agreements: Iterable[Agreement], zone: tzinfo) -> bool:
    """Renewed: another agreement of the same kind runs until later."""
    until = agreement.until(zone)
    for other in agreements:
        if other is agreement or other.doc_type != agreement.doc_type:
            continue
        other_until = other.until(zone)
        if until and other_until and other_until > until:
            return True
    return False


def partner_jobs(partner: Partner, timing: Timing, zone: tzinfo, now: datetime) -> list[Job]:
    """Expiry reminders of each agreement still current (of those already due, only the latest),
    and the weekly alert of each lapsed one."""
    if partner.status == "archived":
        return []
    today = now.astimezone(zone).date()
    jobs: list[Job] = []
    for agreement in partner.agreements:
        until = agreement.until(zone)
        if until is not None and agreement.id and lapsed(agreement, partner, zone, today):
            # Announced by the partners service when it lapsed; alerted again each week until renewed.
            due = next_weekly(until + timedelta(days=1), timing.reminder_time, zone, now)
            jobs.append(Job(f"partner:{partner.id}:lapsed:{agreement.id}", due.astimezone(zone).date().isoformat(),
                            JobKind.realert, partner.id, due, {"agreement_id": agreement.id}))
            continue
        if until is None or until < today or not agreement.id or superseded(agreement, partner.agreements, zone):
            continue
        # The partners service announces the expiry ANNOUNCED_EXPIRY_DAYS ahead: nearer reminders only.
        dues = {days: local_instant(until - timedelta(days=days), timing.reminder_time, zone)
                for days in timing.agreement_days if days < ANNOUNCED_EXPIRY_DAYS}
        passed = [days for days, due in dues.items() if due <= now]
        chosen = [days for days, due in dues.items() if due > now] + ([min(passed)] if passed else [])
        for days in chosen:
            jobs.append(Job(f"partner:{partner.id}:agreement:{agreement.id}:{days}", until.isoformat(),
                            JobKind.agreement, partner.id, dues[days], {"agreement_id": agreement.id, "days": days}))
    return jobs


def targets_jobs(targets: Targets, timing: Timing, zone: tzinfo, now: datetime,
                 election: Election | None = None) -> list[Job]:
    """The coverage check, ``coverage_days`` before voting day (at once if that has passed); the
    voting day is the election's as the calendar has it, when the election is known here."""
    voting = voting_date(targets, election, zone)
    targeted = targets.targeted_segments or targets.targeted_districts
    if voting is None or not targeted or voting < now.astimezone(zone).date():
        return []
    due = local_instant(voting - timedelta(days=timing.coverage_days), timing.reminder_time, zone)
    return [Job(f"targets:{targets.id}:coverage", voting.isoformat(), JobKind.coverage, targets.id, due)]


def digest_job(timing: Timing, zone: tzinfo, after: datetime) -> Job:
    """The next weekly digest strictly after ``after``."""
    local = after.astimezone(zone)
    day = local.date() + timedelta(days=(timing.digest_weekday - local.weekday()) % 7)
    due = local_instant(day, timing.digest_time, zone)
    if due <= after:
        day += timedelta(days=7)
        due = local_instant(day, timing.digest_time, zone)
    return Job("digest.weekly", day.isoformat(), JobKind.digest, "digest", due)


# --- What the jobs report --------------------------------------------------------------------


def _took_place(targets: Targets, activities: Iterable[Activity]) -> list[Activity]:
    return [a for a in activities if a.election == targets.of_election and a.status in {"held", "reported"}]


def coverage_gaps(targets: Targets, activities: Iterable[Activity]) -> list[str]:
    """Targeted segments no held (or reported) activity of the election has reached."""
    covered = {segment for activity in _took_place(targets, activities) for segment in activity.segments}
    return [segment for segment in targets.targeted_segments if segment not in covered]


def district_gaps(targets: Targets, activities: Iterable[Activity]) -> list[str]:
    """Targeted kecamatan (codes) where no held (or reported) activity of the election took place:
    its ``location.district`` is the kecamatan, or its desa/kelurahan lies in it."""
    places = [code for activity in _took_place(targets, activities) if activity.location
              for code in (activity.location.district, activity.location.village) if code]
    return [district for district in targets.targeted_districts
            if not any(within(code, district) for code in places)]


@dataclass(frozen=True)
class WeeklySummary:
    """Last week's activities (by start), their attendance and reach; the reports still open."""

    activities: list[Activity]
    held: int
    reported: int
    cancelled: int
    attendance: int
    reach: int
    open_reports: list[Activity]
    upcoming: list[Activity]


def weekly_summary(activities: Iterable[Activity], start: datetime, end: datetime) -> WeeklySummary:
    week: list[Activity] = []
    upcoming: list[Activity] = []
    open_reports: list[Activity] = []
    for activity in activities:
        starts = activity.starts_at
        if activity.status == "held":
            open_reports.append(activity)
        if starts is None:
            continue
        if start <= starts < end:
            week.append(activity)
        elif end <= starts < end + timedelta(days=7) and activity.status == "scheduled":
            upcoming.append(activity)

    def by_start(items: list[Activity]) -> list[Activity]:
        return sorted(items, key=lambda a: a.starts_at or start)

    took_place = [a for a in week if a.status in {"held", "reported"}]
    return WeeklySummary(
        activities=by_start(week),
        held=len(took_place),
        reported=sum(1 for a in week if a.status == "reported"),
        cancelled=sum(1 for a in week if a.status == "cancelled"),
        attendance=sum(a.attendance for a in took_place),
        reach=sum(a.reach for a in took_place),
        open_reports=by_start(open_reports),
        upcoming=by_start(upcoming),
    )
