"""The notifications service's subscriptions, in one place."""

from __future__ import annotations

from faststream.middlewares import AckPolicy
from faststream.rabbit.annotations import RabbitMessage

from services.notifications.inbox import Inbox
from services.notifications.readmodels import Snapshots
from shared.events import AnyEvent, EventType
from shared.logging import get_logger
from shared.runtime import Infrastructure

log = get_logger(__name__)


def register(infra: Infrastructure, partners: Snapshots, inbox: Inbox) -> None:
    partner_events = infra.queue("partner-events", ["partner.*"])

    async def on_partner(event: AnyEvent) -> None:
        await partners.apply(event.subject, event.aggregateversion, event.data)
        if event.type == EventType.PARTNER_REGISTERED:
            for recipient in await inbox.staff_subscribed_to("partner.registered"):
                await inbox.deliver(
                    recipient["_id"], "partner.registered", event.id,
                    f"Mitra baru: {event.data.get('name')}",
                    f"Mitra {event.data.get('name')} ({event.data.get('type')}) terdaftar di wilayah {event.region}.",
                )

    @infra.broker.subscriber(
        partner_events.queue,
        partner_events.exchange,
        ack_policy=AckPolicy.MANUAL,
        title=partner_events.name,
        description="Partner read model and the partner.* notification rules.",
    )
    async def on_partner_event(message: RabbitMessage) -> None:
        await partner_events.deliver(message, on_partner, infra.broker)
