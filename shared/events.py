"""The wire contract of every Sinergi event (CONTRACT §6).

One CloudEvents 1.0 envelope in structured mode; the ``data`` is the aggregate's snapshot
after the change. Each event type has a model here so the AsyncAPI document and the JSON
Schemas are generated from code. Consumers parse only the fields they need and ignore the
rest, so adding a field never breaks a subscriber.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from ulid import ULID

from shared.regions import REGION_CODE, digits

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "sinergi."


class EventType(StrEnum):
    PARTNER_REGISTERED = "sinergi.partner.registered"
    PARTNER_UPDATED = "sinergi.partner.updated"
    PARTNER_SUSPENDED = "sinergi.partner.suspended"
    PARTNER_REACTIVATED = "sinergi.partner.reactivated"
    PARTNER_ARCHIVED = "sinergi.partner.archived"
    PARTNER_AGREEMENT_SIGNED = "sinergi.partner.agreement_signed"
    PARTNER_AGREEMENT_EXPIRING = "sinergi.partner.agreement_expiring"
    PARTNER_AGREEMENT_LAPSED = "sinergi.partner.agreement_lapsed"
    PARTNER_STATUS_CORRECTED = "sinergi.partner.status_corrected"
    ACTIVITY_PLANNED = "sinergi.activity.planned"
    ACTIVITY_UPDATED = "sinergi.activity.updated"
    ACTIVITY_SCHEDULED = "sinergi.activity.scheduled"
    ACTIVITY_RESCHEDULED = "sinergi.activity.rescheduled"
    ACTIVITY_HELD = "sinergi.activity.held"
    ACTIVITY_REPORTED = "sinergi.activity.reported"
    ACTIVITY_CANCELLED = "sinergi.activity.cancelled"
    ACTIVITY_AMENDED = "sinergi.activity.amended"
    ACTIVITY_REOPENED = "sinergi.activity.reopened"
    ACTIVITY_REPORT_OVERDUE = "sinergi.activity.report_overdue"
    TARGETS_SET = "sinergi.targets.set"
    ELECTION_UPDATED = "sinergi.election.updated"
    NOTIFICATION_SENT = "sinergi.notification.sent"
    NOTIFICATION_FAILED = "sinergi.notification.failed"
    INVITATION_ANSWERED = "sinergi.invitation.answered"


def routing_key(region: str, event_type: str) -> str:
    """``32.73`` + ``sinergi.activity.scheduled`` → ``3273.activity.scheduled``."""
    return f"{digits(region)}.{event_type.removeprefix(TYPE_PREFIX)}"


def new_event_id() -> str:
    return str(ULID())


D = TypeVar("D")


class CloudEvent(BaseModel, Generic[D]):
    """A CloudEvents 1.0 structured-mode document with Sinergi's extension attributes."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    specversion: str = Field("1.0", pattern=r"^1\.0$")
    id: str = Field(default_factory=new_event_id, min_length=1)
    source: str = Field(min_length=1, description="/sinergi/<region>/<service>")
    type: str = Field(min_length=1)
    subject: str = Field(min_length=1, description="the aggregate id")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    data: D
    region: str = Field(pattern=REGION_CODE)
    aggregateversion: int = Field(ge=1)
    correlationid: str | None = None
    causationid: str | None = None
    actor: str | None = Field(None, description="who made the change: the verified token's sub; "
                                                "absent when no request made it (timers, consumers)")
    actorname: str | None = Field(None, description="the display name claim of that token, when it has one")
    batchid: str | None = Field(None, description="the batch the change belongs to (one import, one demo load): "
                                                  "the events of one batch share it; absent outside a batch")
    batchlabel: str | None = Field(None, description="what the batch is, for people (an import's file name)")

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a UTC offset")
        return value

    @property
    def routing_key(self) -> str:
        return routing_key(self.region, self.type)

    def to_wire(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


AnyEvent = CloudEvent[dict[str, Any]]


# --- Snapshots carried in ``data`` ---------------------------------------------------------
# Producers fill them from their aggregates; the schemas document what subscribers may rely on.


class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    version: int
    created_at: datetime
    updated_at: datetime


class PartnerSnapshot(_Snapshot):
    name: str
    type: str
    region: str
    district: str | None = Field(None, description="the kecamatan's Kemendagri code, e.g. 32.73.02 (free text "
                                                   "before 2026-12, until `sinergi districts migrate`)")
    district_name: str | None = Field(None, description="the kecamatan's name in the Kemendagri gazetteer, e.g. Coblong")
    village: str | None = Field(None, description="the desa/kelurahan's Kemendagri code, e.g. 32.73.02.1004")
    village_name: str | None = Field(None, description="the desa/kelurahan's name in the Kemendagri gazetteer, e.g. Dago")
    categories: list[str] = []
    segments: list[str] = []
    contacts: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    agreements: list[dict[str, Any]] = []
    status: str
    notes: str | None = None
    status_history: list[dict[str, Any]] = Field(
        [], description="each status change: status, previous, reason, at, by (who made it)"
    )
    changed_fields: list[str] | None = Field(
        None, description="on sinergi.partner.updated: the fields this change touched"
    )
    agreement_id: str | None = Field(
        None, description="on sinergi.partner.agreement_signed, _expiring and _lapsed: the agreement's id"
    )
    changes: dict[str, dict[str, Any]] | None = Field(
        None, description="on sinergi.partner.updated: each changed field as {before, after}")


class ActivitySnapshot(_Snapshot):
    title: str
    kind: str
    election: str
    region: str
    status: str
    segments: list[str] = []
    partners: list[dict[str, Any]] = []
    location: dict[str, Any] | None = Field(
        None, description="district and village (Kemendagri codes) with district_name and village_name (the "
                          "gazetteer's names), venue, online_url")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    outcome: dict[str, Any] | None = None
    programme: str | None = Field(None, description="the named programme the activity belongs to, e.g. GERDU PEMILU")
    amended: dict[str, dict[str, Any]] | None = Field(
        None, description="on sinergi.activity.amended: each corrected outcome field as {before, after}")
    reason: str | None = Field(
        None, description="on sinergi.activity.amended and .reopened: why the correction was made")
    changes: dict[str, dict[str, Any]] | None = Field(
        None, description="on sinergi.activity.updated: each changed field as {before, after}")


class DistrictTarget(BaseModel):
    model_config = ConfigDict(extra="allow")

    district: str = Field(description="the kecamatan's Kemendagri code, e.g. 32.73.02")
    activities: int = Field(ge=0, description="held activities wanted there")
    district_name: str | None = Field(None, description="the kecamatan's name in the Kemendagri gazetteer")


class TargetsSnapshot(_Snapshot):
    election: str
    region: str
    voting_day: str | None = None
    segment_targets: dict[str, int] = {}
    # A list, not a map keyed by code: a key with a dot can be neither stored (MongoDB) nor taken
    # by a consumer (shared.consumer.parse parks it), and a map here dead-lettered every targets event.
    district_targets: list[DistrictTarget] = Field(
        [], description="held activities wanted per kecamatan, one entry per kecamatan")


class ElectionSnapshot(_Snapshot):
    region: str = Field(description="the region whose calendar this is")
    name: str
    kind: str = Field(description="pemilu, pilkada, pemungutan_suara_ulang, pemungutan_suara_lanjutan, "
                                  "pemungutan_suara_susulan, berkelanjutan (a standing programme)")
    voting_day: str | None = Field(None, description="local date; none for a standing programme")
    participation_target_pct: float | None = None
    stages: list[dict[str, Any]] = Field(
        [], description="the stage windows: {stage (the vocabulary's word), from, to (local dates, included)}")
    turnout: dict[str, Any] | None = Field(
        None, description="the region's actual turnout: turnout_pct, districts [{district, turnout_pct}], source")
    changed_fields: list[str] = Field([], description="what this change touched (turnout: the turnout recorded)")


class NotificationCause(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="the event type, or job:<kind> for a timed rule, that made the notification")
    id: str = Field(description="that event's id, or the job's")


class NotificationSnapshot(_Snapshot):
    notification_id: str | None = Field(None, description="the notification this delivery carries")
    recipient_id: str
    rule: str
    subject: str
    channel: str
    region: str | None = None
    cause: NotificationCause | None = None
    delivery: dict[str, Any]


class InvitationAnswerSnapshot(_Snapshot):
    """A partner contact's answer to an invitation: ``id`` is the invitation (activity and contact),
    ``version`` counts the answers (a changed mind is a later version)."""

    activity_id: str
    partner_id: str | None = None
    contact_name: str | None = None
    contact_email: str | None = Field(None, description="the address the invitation went to")
    answer: str = Field(description="hadir, tidak_hadir or diwakilkan")
    name: str = Field(description="who comes: the contact, or whoever represents them (diwakilkan)")
    note: str | None = None


class PartnerEvent(CloudEvent[PartnerSnapshot]):
    pass


class ActivityEvent(CloudEvent[ActivitySnapshot]):
    pass


class TargetsEvent(CloudEvent[TargetsSnapshot]):
    pass


class NotificationEvent(CloudEvent[NotificationSnapshot]):
    pass


class InvitationEvent(CloudEvent[InvitationAnswerSnapshot]):
    pass


class ElectionEvent(CloudEvent[ElectionSnapshot]):
    pass


# Each event type, the model of its document and when it is emitted (for AsyncAPI and docs).
CATALOGUE: dict[EventType, tuple[type[CloudEvent[Any]], str]] = {
    EventType.PARTNER_REGISTERED: (PartnerEvent, "a partner is registered"),
    EventType.PARTNER_UPDATED: (PartnerEvent, "a partner's details change; data.changed_fields names them"),
    EventType.PARTNER_SUSPENDED: (PartnerEvent, "a partner is suspended"),
    EventType.PARTNER_REACTIVATED: (PartnerEvent, "a suspended partner is reactivated"),
    EventType.PARTNER_ARCHIVED: (PartnerEvent, "a partner is archived"),
    EventType.PARTNER_AGREEMENT_SIGNED: (PartnerEvent, "an MoU or PKS is added to a partner"),
    EventType.PARTNER_AGREEMENT_EXPIRING: (
        PartnerEvent, "an agreement's valid_until is 30 days away (once per agreement); data.agreement_id names it"),
    EventType.PARTNER_AGREEMENT_LAPSED: (
        PartnerEvent, "an agreement's valid_until has passed (once per agreement, at once if recorded lapsed); "
        "data.agreement_id names it"),
    EventType.PARTNER_STATUS_CORRECTED: (
        PartnerEvent, "a mistaken status change is corrected; the last status_history entry has the reason"),
    EventType.ACTIVITY_PLANNED: (ActivityEvent, "an activity is planned"),
    EventType.ACTIVITY_UPDATED: (ActivityEvent, "a planned or scheduled activity is edited"),
    EventType.ACTIVITY_SCHEDULED: (ActivityEvent, "an activity gets its date"),
    EventType.ACTIVITY_RESCHEDULED: (ActivityEvent, "a scheduled activity moves"),
    EventType.ACTIVITY_HELD: (ActivityEvent, "an activity took place"),
    EventType.ACTIVITY_REPORTED: (ActivityEvent, "an activity's outcome is reported"),
    EventType.ACTIVITY_CANCELLED: (ActivityEvent, "an activity is cancelled"),
    EventType.ACTIVITY_AMENDED: (
        ActivityEvent, "a reported activity's outcome is corrected; data.amended has each changed field's before "
        "and after, data.reason why"),
    EventType.ACTIVITY_REOPENED: (
        ActivityEvent, "an activity marked held by mistake goes back to scheduled; data.reason says why"),
    EventType.ACTIVITY_REPORT_OVERDUE: (
        ActivityEvent, "an activity held 3 days ago (the region's days) still has no report (once per activity)"),
    EventType.TARGETS_SET: (TargetsEvent, "an election's targets are set or changed"),
    EventType.ELECTION_UPDATED: (
        ElectionEvent, "an election of the calendar is created or changed (voting day, stages, targets) or its "
        "turnout recorded; data.changed_fields names what changed"),
    EventType.NOTIFICATION_SENT: (NotificationEvent, "a delivery succeeded"),
    EventType.NOTIFICATION_FAILED: (NotificationEvent, "a delivery was given up (dead)"),
    EventType.INVITATION_ANSWERED: (
        InvitationEvent, "a partner contact answered an invitation on its signed page (hadir, tidak hadir, "
        "diwakilkan); again when they change their answer"),
}


# Which service publishes the events of each aggregate (the part of the type after ``sinergi.``).
# The AsyncAPI documents and each service's broker permissions (topic permissions on
# ``sinergi.events``) are generated from it: a new aggregate needs its producer here.
PRODUCERS: dict[str, str] = {
    "partner": "partners",
    "activity": "activities",
    "targets": "activities",
    "election": "activities",
    "notification": "notifications",
    "invitation": "notifications",
}


def producer(event_type: str) -> str:
    """The service that publishes ``event_type`` (``sinergi.activity.held`` → ``activities``)."""
    aggregate = event_type.removeprefix(TYPE_PREFIX).split(".", 1)[0]
    try:
        return PRODUCERS[aggregate]
    except KeyError:
        raise KeyError(f"no producer for {event_type}: add {aggregate!r} to shared.events.PRODUCERS") from None


def published_by(service: str) -> list[EventType]:
    """The event types ``service`` publishes, in catalogue order."""
    return [event_type for event_type in CATALOGUE if producer(event_type) == service]


def make_event(
    event_type: EventType, *, region: str, service: str, subject: str, version: int, data: dict[str, Any]
) -> AnyEvent:
    """An event about one aggregate, carrying the correlation and causation of the work in hand."""
    from shared.logging import actor_id, actor_name, batch, causation_id, correlation_id

    return AnyEvent(
        source=f"/sinergi/{region}/{service}",
        type=event_type.value,
        subject=subject,
        data=data,
        region=region,
        aggregateversion=version,
        correlationid=correlation_id.get(),
        causationid=causation_id.get(),
        actor=actor_id.get(),
        actorname=actor_name.get(),
        batchid=(batch.get() or (None, None))[0],
        batchlabel=(batch.get() or (None, None))[1],
    )
