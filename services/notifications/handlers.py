"""Use cases: those driven by events and by due jobs (keep the read models and the schedule, fire
the rules), and an admin's changes to recipients (:class:`RecipientCommands`).

An event newer than the read model changes it, re-derives that aggregate's jobs (so reminders
follow their dates: rescheduling moves them, cancelling or reporting removes them) and fires
its rules. A redelivered event (the same version) re-runs its effects idempotently; an event
older than what is known changes neither, and fires its rules only when the newer state still
holds what it announced (``rules.still_holds``): otherwise it would announce a state that no
longer holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from services.notifications import rules
from services.notifications.clock import Clock
from services.notifications.config import NotifySettings
from services.notifications.domain import (
    JOB_KINDS_OF,
    Job,
    JobKind,
    activity_jobs,
    digest_job,
    no_jobs_yet,
    partner_jobs,
    targets_jobs,
)
from services.notifications.egress import Egress, TargetRefused
from services.notifications.notifier import Notifier
from services.notifications.readmodels import Activity, Election, Partner, Snapshot, Targets
from services.notifications.recipient import Recipient
from services.notifications.rules import Change
from services.notifications.store import Applied, Claims, Inboxes, Jobs, Recipients, Snapshots, SummaryBook
from services.notifications.invitations import InvitationSettings, Signer
from services.notifications.summaries import DONE_KEPT, Summaries, SummarySettings
from shared.clock import now_ms
from shared.consumer import NotYet, PoisonMessage
from shared.errors import Conflict, Invalid
from shared.events import AnyEvent
from shared.locks import KeyedLocks
from shared.logging import get_logger
from shared.settings import Settings
from shared.unit_of_work import UnitOfWork

log = get_logger(__name__)

S = TypeVar("S", bound=Snapshot)


def cause(event: AnyEvent) -> str:
    """What a notification is about: the aggregate at a version. Stable across redeliveries, and
    across a re-publication of the same change under a new event id."""
    return f"{event.subject}@{event.aggregateversion}"


def _extra(event: AnyEvent) -> dict[str, Any]:
    """What an event adds to its aggregate's snapshot that a rule reads (the agreement it is about)."""
    return {key: event.data[key] for key in ("agreement_id",) if key in event.data}


class PartnerNotKnownYet(NotYet):
    """An activity names a partner whose events have not arrived: retried by the consumer."""


@dataclass
class Applying(Generic[S]):
    snapshot: S
    change: Change
    rerun: bool  # the same version again: effects are re-run, idempotently


@dataclass
class ReadModels:
    partners: Snapshots[Partner]
    activities: Snapshots[Activity]
    targets: Snapshots[Targets]
    elections: Snapshots[Election]


class Handlers:
    """What the service does when another service's event arrives, and when a job comes due."""

    def __init__(self, models: ReadModels, jobs: Jobs, notifier: Notifier, clock: Clock, config: NotifySettings,
                 settings: Settings, expect: Callable[[datetime], None]) -> None:
        self.models = models
        self.jobs = jobs
        self.notifier = notifier
        self.expect = expect  # tells the scheduler when a job it has not seen comes due
        self.clock = clock
        self.config = config
        self.zone = settings.zone
        self._coverage = KeyedLocks()  # per election: its coverage check, from its targets and its calendar entry
        # The service's own database, where the jobs are: summaries keep their open groups there.
        self.signer = Signer(settings, InvitationSettings())  # the invitations' answer links
        self.summaries = Summaries(SummaryBook(jobs.database, DONE_KEPT), jobs, Claims(jobs.database["claims"]),
                                   SummarySettings(), expect)
        # Each kind of job and the rule it runs.
        self._job_rules: dict[JobKind, Callable[[Job, datetime], Awaitable[rules.Trigger | None]]] = {
            JobKind.reminder: self._reminder,
            JobKind.overdue: self._announced_now,
            JobKind.realert: self._realert,
            JobKind.agreement: self._agreement_expiring,
            JobKind.coverage: self._coverage_gap,
            JobKind.digest: self._digest,
        }

    # --- events ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def _applying(self, model: Snapshots[S], event: AnyEvent, aggregate: str,
                        jobs_of: Callable[[S, NotifySettings, tzinfo, datetime], list[Job]] | None,
                        ) -> AsyncIterator[Applying[S] | None]:
        """Apply the event's snapshot to its read model and re-derive the aggregate's jobs, holding
        the aggregate's lock for what the caller does next; ``None`` for a stale event."""
        data = {**event.data, "id": event.subject}
        try:
            snapshot = model.model.model_validate({**data, "version": event.aggregateversion})
        except ValidationError as exc:
            raise PoisonMessage(f"{event.type} {event.subject}: not a {aggregate} snapshot this service can read: "
                                f"{exc}") from exc
        async with model.lock(event.subject):
            applied, previous = await model.apply(event.subject, event.aggregateversion, data)
            now = self.clock.now()
            if applied is Applied.STALE:
                # Overtaken (two processes of the producer published out of order): the read model and
                # the jobs keep the newer state, but the event's own effect is still due when the newer
                # state did not supersede it (an ``updated`` does not undo a ``scheduled``). The cause
                # and instant are the event's own, so it is the notification an in-order delivery makes.
                if previous is None or not rules.still_holds(event.type, snapshot, previous):
                    log.info("stale event: its aggregate is newer here; no effects", version=event.aggregateversion,
                             known_version=previous.version if previous else None, subject=event.subject)
                    yield None
                    return
                log.info("older event whose effect still holds: its rules fire", version=event.aggregateversion,
                         known_version=previous.version, subject=event.subject)
                yield Applying(snapshot, Change(event.type, cause(event), snapshot.updated_at or event.time, None, now,
                                                self.zone, _extra(event)), rerun=True)
                return
            if jobs_of is not None:
                none_yet = applied is Applied.NEWER and no_jobs_yet(aggregate, previous)
                await self._sync(event.subject, aggregate, jobs_of(snapshot, self.config, self.zone, now), now,
                                 none_yet)
            # What the event replaced: on a redelivery, the read model remembers it.
            replaced = None if previous is None else (
                previous.previous_status if applied is Applied.SAME else previous.status)
            # When the change happened, as the aggregate says (a re-published event may carry a later time).
            change = Change(event.type, cause(event), snapshot.updated_at or event.time, replaced, now, self.zone,
                            _extra(event))
            yield Applying(snapshot, change, applied is Applied.SAME)

    async def on_partner(self, event: AnyEvent) -> None:
        async with self._applying(self.models.partners, event, "partner", partner_jobs) as found:
            fire = rules.PARTNER_EVENT_RULES.get(event.type)
            if found and fire:
                for trigger in fire(found.change, found.snapshot):
                    trigger.correlation_id = event.correlationid
                    await self._notify(trigger, rerun=found.rerun, event=event)

    async def on_activity(self, event: AnyEvent) -> None:
        missing: list[str] = []
        async with self._applying(self.models.activities, event, "activity", activity_jobs) as found:
            fire = rules.ACTIVITY_EVENT_RULES.get(event.type)
            if found is None or fire is None:
                return
            partners = await self._partners_of(found.snapshot)
            triggers, missing = fire(found.change, found.snapshot, partners.get)
            for trigger in triggers:
                if trigger.contact_template == "activity.invitation":
                    # Each contact's own signed link to answer (answer_page.py); the template shows it.
                    trigger.context["answer_links"] = {c.address: self.signer.link(found.snapshot, c,
                                                                                                found.change.now)
                                                       for c in trigger.contacts}
                trigger.correlation_id = event.correlationid
                await self._notify(trigger, rerun=found.rerun, event=event)
        if missing:
            raise PartnerNotKnownYet(f"partners {', '.join(missing)} of activity {event.subject} are not known yet; "
                                     "their contacts get the invitation once their events arrive")

    async def _sync(self, subject: str, aggregate: str, desired: list[Job], now: datetime,
                    none_yet: bool = False) -> None:
        added = await self.jobs.sync(subject, JOB_KINDS_OF[aggregate], desired, now, none_yet)
        if added:
            # Due already (a reminder for tomorrow's activity) or before the scheduler's next look.
            self.expect(min(job.due_at for job in added))

    async def on_targets(self, event: AnyEvent) -> None:
        async with self._applying(self.models.targets, event, "targets", None) as found:
            if found:
                await self._reschedule_coverage(event.subject)

    async def on_election(self, event: AnyEvent) -> None:
        """The calendar changed: the coverage check follows the election's voting day."""
        async with self._applying(self.models.elections, event, "election", None) as found:
            if found:
                await self._reschedule_coverage(event.subject)

    async def _reschedule_coverage(self, election_id: str) -> None:
        """Re-derive an election's coverage check from its targets and its calendar entry (the targets'
        id is the election's). Each comes by its own events, which another process may be handling at
        the same time: after the sync, both are read again, and a newer one is synced again, so the
        last sync to finish used what is newest."""
        async with self._coverage(election_id):
            for _ in range(5):
                targets = await self.models.targets.get(election_id)
                election = await self.models.elections.get(election_id)
                now = self.clock.now()
                desired = targets_jobs(targets, self.config, self.zone, now, election) if targets else []
                await self._sync(election_id, "targets", desired, now)
                again = (await self.models.targets.get(election_id), await self.models.elections.get(election_id))
                if [m.version if m else None for m in again] == [m.version if m else None
                                                                  for m in (targets, election)]:
                    return

    async def _notify(self, trigger: rules.Trigger, rerun: bool, event: AnyEvent | None = None) -> None:
        """Notify, the elections the texts mention named as the calendar names them now; a burst of
        one cause (an event of a batch, or of one actor's window) is held for the staff's summary
        instead, while the partners' contacts it invites are notified now, each on their own."""
        held = event is not None and await self.summaries.hold(trigger, event, self.clock.now())
        if held and not trigger.contacts:
            return
        about = [trigger.context.get("election"), (trigger.context.get("a") or {}).get("election")]
        known = await self.models.elections.recent([e for e in about if isinstance(e, str)])
        trigger.context["election_names"] = {e.id: e.name for e in known if e.name}
        await self.notifier.notify(trigger, rerun=rerun, staff=not held)

    async def _partners_of(self, activity: Activity | None) -> dict[str, Partner]:
        if activity is None:
            return {}
        return {p.id: p for p in await self.models.partners.many(activity.partner_ids)}

    # --- due jobs ---------------------------------------------------------------------------------

    async def run_job(self, job: Job, rerun: bool) -> None:
        """Run one due job (the scheduler holds its claim); its rule checks its conditions afresh."""
        now = self.clock.now()
        if job.kind == JobKind.summary:
            trigger, lines = await self.summaries.flush(job)
            if trigger is not None:
                await self._notify(trigger, rerun=True)
            await self.summaries.close(job, lines, now)
            return
        trigger = await self._job_rules[job.kind](job, now)
        if trigger is None:
            log.info("job no longer applies", job=job.id)
        else:
            await self._notify(trigger, rerun=rerun)
        if job.kind == JobKind.digest and self.config.enabled("digest.weekly"):
            await self.jobs.ensure(digest_job(self.config, self.zone, max(now, job.due_at)), now)

    async def _reminder(self, job: Job, now: datetime) -> rules.Trigger | None:
        activity = await self.models.activities.get(job.subject)
        partners = await self._partners_of(activity)
        return rules.reminder(job, activity, partners.get, self.zone, now, self.config.reminder_days)

    async def _announced_now(self, job: Job, now: datetime) -> rules.Trigger | None:
        """A job of a kind the producers' events replaced (an overdue report is announced by the
        activities service): one stored before that does nothing, lest the alert come twice."""
        return None

    async def _realert(self, job: Job, now: datetime) -> rules.Trigger | None:
        """A lapsed agreement or an overdue report, alerted again while it lasts; then the next
        week's alert is derived (one missed while the service was down is sent once, now)."""
        if job.key.startswith("partner:"):
            partner = await self.models.partners.get(job.subject)
            trigger = rules.agreement_still_lapsed(job, partner, self.zone, now)
            if partner is not None:
                async with self.models.partners.lock(job.subject):
                    await self._sync(job.subject, "partner", partner_jobs(partner, self.config, self.zone, now), now)
            return trigger
        activity = await self.models.activities.get(job.subject)
        partners = await self._partners_of(activity)
        trigger = rules.report_still_overdue(job, activity, partners.get, self.zone, now)
        if activity is not None:
            async with self.models.activities.lock(job.subject):
                await self._sync(job.subject, "activity", activity_jobs(activity, self.config, self.zone, now), now)
        return trigger

    async def _agreement_expiring(self, job: Job, now: datetime) -> rules.Trigger | None:
        return rules.agreement_expiring(job, await self.models.partners.get(job.subject), self.zone, now)

    async def _coverage_gap(self, job: Job, now: datetime) -> rules.Trigger | None:
        targets = await self.models.targets.get(job.subject)
        of = targets.of_election if targets else job.subject
        activities = await self.models.activities.all(election=of)
        return rules.coverage_gap(job, targets, await self.models.elections.get(of), activities, self.zone, now)

    async def _digest(self, job: Job, now: datetime) -> rules.Trigger | None:
        return rules.digest(job, await self.models.activities.all(), self.zone, date.fromisoformat(job.occurrence),
                            await self.models.partners.all())

    async def ensure_digest(self) -> None:
        if self.config.enabled("digest.weekly"):
            now = self.clock.now()
            if not await self.jobs.any_of(JobKind.digest):
                await self.jobs.ensure(digest_job(self.config, self.zone, now), now)


class RecipientCommands:
    """An admin adds, changes and removes recipients: each a change of one recipient through the
    unit of work (its lock, If-Match, a retry when the store is busy or another process wrote first).

    ``forget`` drops the delivery runner's cached copy, so this process's next attempt goes to the
    recipient as changed.
    """

    def __init__(self, recipients: Recipients, inboxes: Inboxes, egress: Egress, forget: Callable[[str], None]) -> None:
        self.recipients = recipients
        self.inboxes = inboxes
        self.egress = egress
        self.forget = forget
        self.unit: UnitOfWork[Recipient] = UnitOfWork(recipients, kind="recipient")

    async def add(self, recipient_id: str, values: Mapping[str, Any]) -> Recipient:
        """A new recipient and its inbox; a retried request (the same id) gets the stored one."""
        await self._admit(values.get("webhook_url"))
        await self._user_free(recipient_id, values.get("user_id"))
        recipient = Recipient.add(recipient_id, values, now_ms())
        if not await self.unit.add(recipient):
            stored = await self.recipients.load(recipient_id)
            recipient = stored.aggregate if stored else recipient
        await self.inboxes.create(recipient.id)
        return recipient

    async def change(self, recipient_id: str, expected: int | None, changes: Mapping[str, Any],
                     rotate_secret: bool) -> tuple[Recipient, bool]:
        """The recipient as changed, and whether its webhook secret is new (shown in this answer only)."""
        renewed = False

        async def apply(recipient: Recipient) -> None:
            nonlocal renewed
            # After If-Match is checked, under the lock: a new webhook target takes a DNS lookup.
            if "webhook_url" in changes:
                await self._admit(changes["webhook_url"])
            if changes.get("user_id"):
                await self._user_free(recipient_id, changes["user_id"])
            renewed = recipient.change(changes, rotate_secret, now_ms())

        recipient = await self.unit.change(recipient_id, expected, apply)
        self.forget(recipient_id)
        return recipient, renewed

    async def remove(self, recipient_id: str, expected: int | None) -> None:
        """Remove the recipient, then its inbox (deliveries still pending for it end dead)."""
        await self.unit.change(recipient_id, expected, lambda recipient: recipient.remove())
        self.forget(recipient_id)
        await self.inboxes.drop(recipient_id)

    async def _user_free(self, recipient_id: str, user_id: str | None) -> None:
        """A console user is one recipient (their inbox is ``/inbox/me``): 409 naming the other."""
        if user_id:
            other = await self.recipients.of_user(user_id)
            if other is not None and other["_id"] != recipient_id:
                raise Conflict(f"user {user_id} is already recipient {other['_id']}", existing_id=other["_id"])

    async def _admit(self, url: str | None) -> None:
        """A webhook goes only to a public address (or one the deployment allows): 422 otherwise."""
        if url:
            try:
                await self.egress.admit(url)
            except TargetRefused as exc:
                raise Invalid({"webhook_url": str(exc)}) from exc
