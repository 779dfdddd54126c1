"""The notifications service's subscriptions, in one place.

One queue takes partner, activity, target and election (the calendar's) events. The channel prefetches several messages
and each runs in its own task: one aggregate's events are handled one at a time, in the order
they arrive (``EventQueue.deliver``), different aggregates' side by side. An activity that names
a partner whose event is still in flight on another lane raises ``PartnerNotKnownYet`` and is
retried in place until it is known.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.notifications.handlers import Handlers
from shared.consumer import idempotent
from shared.events import AnyEvent
from shared.runtime import Infrastructure


def aggregate_of(event: AnyEvent) -> str:
    """``sinergi.activity.held`` → ``activity``."""
    return event.type.removeprefix("sinergi.").split(".", 1)[0]


def register(infra: Infrastructure, handlers: Handlers) -> None:
    events = infra.queue("events", ["partner.*", "activity.*", "targets.*", "election.*"])
    # Each followed aggregate's events and the handler that keeps its read model; every event
    # type of an aggregate goes to it, so a new one still updates the read model.
    followed: dict[str, Callable[[AnyEvent], Awaitable[None]]] = {
        "partner": handlers.on_partner,
        "activity": handlers.on_activity,
        "targets": handlers.on_targets,
        "election": handlers.on_election,
    }

    # Idempotent: a read model takes a version once, notifications and jobs have ids derived from the event.
    @idempotent
    async def handle(event: AnyEvent) -> None:
        on = followed.get(aggregate_of(event))
        if on is not None:
            await on(event)

    events.subscribe(
        infra.broker, handle,
        description="Partner, activity, target and election events: the read models, the schedule and the event "
                    "rules.")
