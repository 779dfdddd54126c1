"""The activities service's subscriptions, in one place: which queue takes which events."""

from __future__ import annotations

from services.activities.invitations import Confirmations
from services.activities.store import PartnerReplica
from shared.consumer import idempotent
from shared.events import AnyEvent
from shared.logging import get_logger
from shared.runtime import Infrastructure

log = get_logger(__name__)


def register(infra: Infrastructure, replica: PartnerReplica, confirmations: Confirmations | None = None) -> None:
    partner_events = infra.queue("partner-replica", ["partner.*"])

    @idempotent  # a version older than or equal to the copy's changes nothing
    async def apply_partner_event(event: AnyEvent) -> None:
        changed = await replica.apply(event.subject, event.aggregateversion, event.data)
        log.info("partner replica", partner_id=event.subject, version=event.aggregateversion, applied=changed)

    partner_events.subscribe(
        infra.broker, apply_partner_event,
        description="Keeps this service's copy of the partner registry (all sinergi.partner.* events).")

    if confirmations is None:
        return
    answers = infra.queue("invitations", ["invitation.answered"])

    @idempotent  # likewise, by the answer's version
    async def keep_answer(event: AnyEvent) -> None:
        changed = await confirmations.apply(event.subject, event.aggregateversion, event.data)
        log.info("invitation answer", invitation_id=event.subject, activity_id=event.data.get("activity_id"),
                 answer=event.data.get("answer"), applied=changed)

    answers.subscribe(
        infra.broker, keep_answer,
        description="Partner contacts' answers to invitations (sinergi.invitation.answered), kept as the "
                    "activity's confirmations.")
