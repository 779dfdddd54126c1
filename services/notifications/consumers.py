"""The notifications service's subscriptions, in one place.

One queue takes partner, activity and target events, so a partner registered before an
activity names it is known when the invitation goes out (RabbitMQ keeps a queue's order);
it is consumed one message at a time for the same reason.
"""

from __future__ import annotations

from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel
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
        channel=Channel(prefetch_count=1),
        ack_policy=AckPolicy.MANUAL,
        title=events.name,
        description="Partner, activity and target events: the read models, the schedule and the event rules.",
    )
    async def on_event(message: RabbitMessage) -> None:
        await events.deliver(message, handle, infra.broker)
