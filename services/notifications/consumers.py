"""The notifications service's subscriptions, in one place.

One queue takes partner, activity and target events. The channel prefetches several messages
and each runs in its own task: one aggregate's events are handled one at a time, in the order
they arrive (``EventQueue.deliver``), different aggregates' side by side. An activity that names
a partner whose event is still in flight on another lane raises ``PartnerNotKnownYet`` and is
retried in place until it is known.
"""

from __future__ import annotations

from faststream.middlewares import AckPolicy
from faststream.rabbit.annotations import RabbitMessage

from services.notifications.handlers import Rules
from shared.events import AnyEvent
from shared.runtime import Infrastructure


def register(infra: Infrastructure, rules: Rules) -> None:
    events = infra.queue("events", ["partner.*", "activity.*", "targets.*"])

    async def handle(event: AnyEvent) -> None:
        if event.type.startswith("sinergi.partner."):
            await rules.on_partner(event)
        elif event.type.startswith("sinergi.activity."):
            await rules.on_activity(event)
        elif event.type == "sinergi.targets.set":
            await rules.on_targets(event)

    @infra.broker.subscriber(
        events.queue,
        events.exchange,
        channel=events.channel,
        ack_policy=AckPolicy.MANUAL,
        title=events.name,
        description="Partner, activity and target events: the read models, the schedule and the event rules.",
    )
    async def on_event(message: RabbitMessage) -> None:
        await events.deliver(message, handle, infra.broker)
