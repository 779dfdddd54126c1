"""The notifications service's subscriptions, in one place.

One queue takes partner, activity and target events, so a partner registered before an
activity names it is known when the invitation goes out (RabbitMQ keeps a queue's order).
Messages are handled one at a time, in the order they arrive: the channel prefetches several
(and the client runs each in its own task), so a FIFO lock restores the queue's order.
"""

from __future__ import annotations

import asyncio

from faststream.middlewares import AckPolicy
from faststream.rabbit.annotations import RabbitMessage

from services.notifications.handlers import Rules
from shared.events import AnyEvent
from shared.runtime import Infrastructure


def register(infra: Infrastructure, rules: Rules) -> None:
    events = infra.queue("events", ["partner.*", "activity.*", "targets.*"])
    in_order = asyncio.Lock()  # asyncio's locks wake waiters first come, first served

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
        ack_policy=AckPolicy.MANUAL,
        title=events.name,
        description="Partner, activity and target events: the read models, the schedule and the event rules.",
    )
    async def on_event(message: RabbitMessage) -> None:
        async with in_order:
            await events.deliver(message, handle, infra.broker)
