"""The partners' wire events, each built on purpose from the domain event it announces.

``data`` is a :class:`shared.events.PartnerSnapshot` of the partner right after the change
(CONTRACT §6), filled field by field from the aggregate, never from the API view; plus what
the event itself adds: ``changed_fields`` on ``updated``, ``agreement_id`` on
``agreement_signed``, ``agreement_expiring`` and ``agreement_lapsed``; ``status_history`` always (declared in the schema since 2026-12, sent
since the start: docs/CHANGELOG.md).
"""

from __future__ import annotations

from typing import Any

from services.partners import domain
from services.partners.domain import Agreement, Partner, PartnerEvent, StatusChange
from shared.events import AnyEvent, EventType, PartnerSnapshot, make_event
from shared.gazetteer import installed

SERVICE = "partners"

EVENT_TYPES: dict[type[PartnerEvent], EventType] = {
    domain.PartnerRegistered: EventType.PARTNER_REGISTERED,
    domain.PartnerUpdated: EventType.PARTNER_UPDATED,
    domain.PartnerSuspended: EventType.PARTNER_SUSPENDED,
    domain.PartnerReactivated: EventType.PARTNER_REACTIVATED,
    domain.PartnerArchived: EventType.PARTNER_ARCHIVED,
    domain.AgreementSigned: EventType.PARTNER_AGREEMENT_SIGNED,
    domain.AgreementExpiring: EventType.PARTNER_AGREEMENT_EXPIRING,
    domain.AgreementLapsed: EventType.PARTNER_AGREEMENT_LAPSED,
    domain.PartnerStatusCorrected: EventType.PARTNER_STATUS_CORRECTED,
}


def wire(event: PartnerEvent) -> AnyEvent:
    """The CloudEvent announcing ``event``, stamped with the version the partner reached."""
    partner = event.partner
    extra: dict[str, Any] = {}
    if isinstance(event, domain.PartnerUpdated):
        extra["changed_fields"] = list(event.changed_fields)
        if event.before is not None:
            was = snapshot(event.before).model_dump(mode="json")
            now = snapshot(partner).model_dump(mode="json")
            extra["changes"] = {name: {"before": was.get(name), "after": now.get(name)}
                                for name in event.changed_fields}
    if isinstance(event, domain.AgreementSigned) and event.agreement is not None:
        extra["agreement_id"] = event.agreement.id
    data = snapshot(partner, **extra)
    # Unset members stay out: ``changed_fields`` appears on ``updated`` events only.
    return make_event(EVENT_TYPES[type(event)], region=partner.region, service=SERVICE, subject=partner.id,
                      version=partner.version, data=data.model_dump(exclude_unset=True))


def snapshot(partner: Partner, **extra: Any) -> PartnerSnapshot:
    return PartnerSnapshot(
        id=partner.id,
        version=partner.version,
        created_at=partner.created_at,
        updated_at=partner.updated_at,
        name=partner.name,
        type=partner.type.value,
        region=partner.region,
        district=partner.district,
        # the name beside the code, so a subscriber (notifications' e-mails) can show it
        district_name=installed(partner.region).name_of(partner.district),
        village=partner.village,
        village_name=installed(partner.region).name_of(partner.village),
        categories=list(partner.categories),
        segments=[segment.value for segment in partner.segments],
        contacts=[{"name": c.name, "role": c.role, "phone": c.phone, "email": c.email} for c in partner.contacts],
        channels=[{"kind": c.kind.value, "handle_or_url": c.handle_or_url, "audience_size": c.audience_size}
                  for c in partner.channels],
        agreements=[_agreement(a) for a in partner.agreements],
        status=partner.status.value,
        notes=partner.notes,
        status_history=[_status_change(h) for h in partner.status_history],
        **extra,
    )


def _agreement(agreement: Agreement) -> dict[str, Any]:
    # Which facts were announced is the registry's bookkeeping, not part of the agreement.
    return {"id": agreement.id, "doc_type": agreement.doc_type.value, "number": agreement.number,
            "valid_from": agreement.valid_from.isoformat(), "valid_until": agreement.valid_until.isoformat(),
            "title": agreement.title, "scope": agreement.scope}


def _status_change(change: StatusChange) -> dict[str, Any]:
    return {"status": change.status.value, "previous": change.previous.value if change.previous else None,
            "reason": change.reason, "at": change.at, "by": change.by}
