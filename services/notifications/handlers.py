"""Use cases driven by events and by due jobs: keep the read models and the schedule, fire rules.

An event newer than the read model changes it, re-derives that aggregate's jobs (so reminders
follow their dates: rescheduling moves them, cancelling or reporting removes them) and fires
its rules. A redelivered event (the same version) re-runs its effects idempotently; an event
older than what is known does nothing, since it would announce a state that no longer holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from services.notifications import rules
from services.notifications.clock import Clock
from services.notifications.config import NotifySettings
from services.notifications.domain import (
    JOB_KINDS_OF,
    Job,
    activity_jobs,
    digest_job,
    parse_datetime,
    partner_jobs,
    targets_jobs,
)
from services.notifications.notifier import Notifier
from services.notifications.readmodels import Applied, Snapshots
from services.notifications.store import Jobs
from shared.consumer import NotYet
from shared.events import AnyEvent, EventType
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)


def cause(event: AnyEvent) -> str:
    """What a notification is about: the aggregate at a version. Stable across redeliveries, and
    across a re-publication of the same change under a new event id."""
    return f"{event.subject}@{event.aggregateversion}"


def occurred(event: AnyEvent) -> datetime:
    """When the change happened, as the aggregate says (a re-published event may carry a later time)."""
    return parse_datetime(event.data.get("updated_at")) or event.time


class PartnerNotKnownYet(NotYet):
    """An activity names a partner whose events have not arrived: retried by the consumer."""


JobsOf = Callable[[dict[str, Any], NotifySettings, tzinfo, datetime], list[Job]]


@dataclass
class Applying:
    snapshot: dict[str, Any]
    previous: dict[str, Any] | None
    rerun: bool  # the same version again: effects are re-run, idempotently
    now: datetime


@dataclass
class ReadModels:
    partners: Snapshots
    activities: Snapshots
    targets: Snapshots


class Rules:
    def __init__(self, models: ReadModels, jobs: Jobs, notifier: Notifier, clock: Clock, config: NotifySettings,
                 settings: Settings) -> None:
        self.models = models
        self.jobs = jobs
        self.notifier = notifier
        self.clock = clock
        self.config = config
        self.zone = settings.zone

    # --- events ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def _applying(self, model: Snapshots, event: AnyEvent, kind: str,
                        jobs_of: JobsOf) -> AsyncIterator[Applying | None]:
        """Apply the event's snapshot to its read model and re-derive the aggregate's jobs, holding
        the aggregate's lock for what the caller does next; ``None`` for a stale event."""
        snapshot = {**event.data, "id": event.subject}
        async with model.lock(event.subject):
            applied, previous = await model.apply(event.subject, event.aggregateversion, snapshot)
            if applied is Applied.STALE:
                log.info("stale event: its aggregate is newer here; no effects", version=event.aggregateversion,
                         known_version=previous["version"] if previous else None, subject=event.subject)
                yield None
                return
            now = self.clock.now()
            added = await self.jobs.sync(event.subject, JOB_KINDS_OF[kind], jobs_of(snapshot, self.config, self.zone, now),
                                         now)
            if any(job.due_at <= now for job in added):
                self.notifier.wake()  # due already (a reminder for tomorrow's activity): run it now
            yield Applying(snapshot, previous, applied is Applied.SAME, now)

    async def on_partner(self, event: AnyEvent) -> None:
        async with self._applying(self.models.partners, event, "partner", partner_jobs) as found:
            if found and event.type == EventType.PARTNER_REGISTERED:
                trigger = rules.partner_registered(cause(event), occurred(event), found.snapshot)
                trigger.correlation_id = event.correlationid
                await self.notifier.notify(trigger, rerun=found.rerun)

    async def on_activity(self, event: AnyEvent) -> None:
        missing: list[str] = []
        async with self._applying(self.models.activities, event, "activity", activity_jobs) as found:
            if found is None:
                return
            previous = found.previous
            if found.rerun and previous is not None:
                # A redelivery: the state it replaced is remembered by the read model.
                previous = {"status": previous.get("_previous_status")}
            partners = {p["_id"]: p for p in await self._partners_of(found.snapshot)}
            triggers, missing = rules.activity_event_triggers(event.type, cause(event), occurred(event),
                                                              found.snapshot, previous, partners.get, found.now)
            for trigger in triggers:
                trigger.correlation_id = event.correlationid
                await self.notifier.notify(trigger, rerun=found.rerun)
        if missing:
            raise PartnerNotKnownYet(f"partners {', '.join(missing)} of activity {event.subject} are not known yet; "
                                     "their contacts get the invitation once their events arrive")

    async def on_targets(self, event: AnyEvent) -> None:
        async with self._applying(self.models.targets, event, "targets", targets_jobs):
            pass

    async def _partners_of(self, activity: dict[str, Any]) -> list[dict[str, Any]]:
        ids = [p.get("partner_id") for p in activity.get("partners") or [] if p.get("partner_id")]
        return await self.models.partners.find({"_id": {"$in": ids}}) if ids else []

    # --- due jobs ---------------------------------------------------------------------------------

    async def run_job(self, job: dict[str, Any], rerun: bool) -> None:
        """Run one due job (the scheduler holds its claim); its conditions are checked afresh."""
        now = self.clock.now()
        kind = job["kind"]
        trigger = None
        if kind in {"reminder", "overdue"}:
            activity = await self.models.activities.get(job["subject"])
            partners = {p["_id"]: p for p in await self._partners_of(activity)} if activity else {}
            if kind == "reminder":
                trigger = rules.reminder(job, activity, partners.get, self.zone, now, self.config.reminder_days)
            else:
                trigger = rules.report_overdue(job, activity, partners.get, self.config.overdue_days)
        elif kind == "agreement":
            trigger = rules.agreement_expiring(job, await self.models.partners.get(job["subject"]), self.zone, now)
        elif kind == "coverage":
            targets = await self.models.targets.get(job["subject"])
            election = (targets or {}).get("election") or job["subject"]
            trigger = rules.coverage_gap(job, targets, await self.models.activities.find({"election": election}),
                                         self.zone, now)
        elif kind == "digest":
            trigger = rules.digest(job, await self.models.activities.find(), self.zone, date.fromisoformat(job["occurrence"]))
        if trigger is None:
            log.info("job no longer applies", job=job["_id"])
        else:
            await self.notifier.notify(trigger, rerun=rerun)
        if kind == "digest" and self.config.enabled("digest.weekly"):
            await self.jobs.ensure(digest_job(self.config, self.zone, max(now, job["due_at"])), now)

    async def ensure_digest(self) -> None:
        if self.config.enabled("digest.weekly"):
            now = self.clock.now()
            existing = await self.jobs.collection.find_one({"kind": "digest"}, {"_id": 1})
            if existing is None:
                await self.jobs.ensure(digest_job(self.config, self.zone, now), now)
