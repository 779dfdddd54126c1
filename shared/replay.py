"""Replays for a subscriber that was away: ``POST /events/replay`` on every service (admin).

Every service keeps the events it published in its ``event_log`` (``shared.outbox.EventLog``,
``SINERGI_EVENT_LOG_DAYS``). A subscriber whose queue missed a period (it did not exist yet,
it was purged, its system was restored from a backup) asks an administrator to re-publish
that period's events to its queue: the very documents that were published, oldest first,
optionally only those whose routing key matches a binding. The subscriber skips ids it
already has (CONTRACT §6: at least once, idempotent on ``id``).

The events go through the service's own exchange ``<service>.direct`` (:func:`shared.bus.service_exchange`),
the queue bound there under its own name first: the default exchange would need a broker
permission that reaches every queue of the vhost. The service's broker user may bind the queues
of subscribers and the consumer queues that take its events anyway, and no other service's
(``sinergi_cli.ops.topology.service_permissions``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aio_pika
from aiormq.exceptions import AMQPConnectionError, ChannelAccessRefused, ChannelNotFoundEntity, DeliveryError, PublishError
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from shared import problems
from shared.auth import Admin
from shared.bus import PUBLISH_TIMEOUT, REPLAY_HEADER, service_exchange, topic_matches
from shared.events import CONTENT_TYPE
from shared.clock import Instant
from shared.logging import get_logger

log = get_logger(__name__)

router = APIRouter(tags=["operations"])

__all__ = ["REPLAY_HEADER", "router"]  # REPLAY_HEADER: its home is shared.bus; kept importable from here


class ReplayRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    # The characters AMQP allows in a queue name (pamqp refuses any other before it is sent).
    queue: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:@#,/+ -]+$",
                       description="the subscriber's queue; it must exist")
    from_: Instant = Field(alias="from", description="start of the period (RFC 3339 with offset), inclusive")
    to: Instant | None = Field(None, description="end of the period, exclusive; default now")
    binding: str | None = Field(None, max_length=255,
                                description="only events whose routing key matches this topic pattern, e.g. *.activity.*")


class ReplayResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    queue: str
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    replayed: int = Field(description="events re-published to the queue")


@router.post(
    "/events/replay",
    summary="Re-publish this service's events of a period to a subscriber's queue (admin)",
    response_model=ReplayResult,
    response_model_by_alias=True,
)
async def replay_events(body: ReplayRequest, request: Request, principal: Admin) -> ReplayResult:
    infra = getattr(request.app.state, "infra", None)
    if infra is None:
        raise problems.Unavailable("this service keeps no event log")
    end = body.to or datetime.now(UTC)
    if body.from_ >= end:
        raise problems.InvalidField({"from": "must be before 'to'"})
    entries = await infra.event_log.between(body.from_, end)
    if body.binding:
        entries = [e for e in entries if topic_matches(body.binding, e["routing_key"])]
    replayed = await _replay(infra.settings, infra.service, body.queue, entries)
    log.info("events replayed", queue=body.queue, count=replayed, by=principal.sub,
             start=body.from_.isoformat(), end=end.isoformat())
    return ReplayResult(queue=body.queue, from_=body.from_, to=end, replayed=replayed)


async def _replay(settings: Any, service: str, queue: str, entries: list[dict[str, Any]]) -> int:
    """Bind ``queue`` to the service's exchange under its own name, then publish each entry there,
    persistent, mandatory and confirmed. On a connection of its own: a refusal closes the channel it
    happens on, and the service's own channels carry its events and its consumers."""
    try:
        connection = await aio_pika.connect(settings.rabbitmq_url, timeout=PUBLISH_TIMEOUT)
    except (AMQPConnectionError, OSError, TimeoutError) as exc:
        raise problems.Unavailable(f"the broker does not answer ({exc}); try again later") from exc
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        declared = service_exchange(settings, service)
        exchange = await channel.declare_exchange(declared.name, aio_pika.ExchangeType.DIRECT, durable=True)
        try:
            target = await channel.declare_queue(queue, passive=True)
            await target.bind(exchange, routing_key=queue)
        except ChannelNotFoundEntity as exc:
            raise problems.NotFound(f"no queue named {queue!r} on this service's vhost; "
                                    "the subscriber declares it first") from exc
        except ChannelAccessRefused as exc:
            raise problems.InvalidField({"queue": f"this service may not put events into {queue!r}: it is another "
                                                  "service's queue that does not take this service's events"}) from exc
        replayed = 0
        for entry in entries:
            message = aio_pika.Message(
                entry["body"].encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT, content_type=CONTENT_TYPE,
                message_id=entry["_id"], type=entry["type"], correlation_id=entry.get("correlationid"),
                headers={REPLAY_HEADER: entry["routing_key"]})
            try:
                await exchange.publish(message, routing_key=queue, mandatory=True, timeout=PUBLISH_TIMEOUT)
            except (DeliveryError, PublishError) as exc:  # returned: the queue was deleted meanwhile
                raise problems.NotFound(f"the queue {queue!r} is gone; the subscriber declares it again") from exc
            replayed += 1
    return replayed
