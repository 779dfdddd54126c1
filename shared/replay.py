"""Replays for a subscriber that was away: ``POST /events/replay`` on every service (admin); and
the service's dead letters: discarded with a reason, recorded (``POST /events/dead-letters/discard``),
listed (``GET /events/dead-letters``) and put back on their queue (``POST /events/dead-letters/replay``).

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

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import aio_pika
from aiormq.exceptions import AMQPConnectionError, ChannelAccessRefused, ChannelNotFoundEntity, DeliveryError, PublishError
from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from shared import problems
from shared.auth import Admin
from shared.bus import PUBLISH_TIMEOUT, REPLAY_HEADER, service_exchange, topic_matches
from shared.events import CONTENT_TYPE
from shared.clock import Instant
from shared.logging import get_logger
from shared.pagination import Cursor, Limit, decode_cursor, encode_cursor

log = get_logger(__name__)

router = APIRouter(tags=["operations"])

__all__ = ["REPLAY_HEADER", "router"]  # REPLAY_HEADER: its home is shared.bus; kept importable from here

# Written on a dead letter put back on its queue (``sinergi dlq replay``, ``POST /events/dead-letters/replay``).
H_REPLAYS = "x-sinergi-replays"
H_REPLAYED_AT = "x-sinergi-replayed-at"


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


# --- Dead letters discarded, with a reason (issue 14 point 6) -----------------------------------
# A parked message that must never be processed (a test event sent to production, a partner
# deleted by hand) is discarded by an admin with a reason: each one is first recorded in the
# service's ``discarded_letters`` collection (the message as it was parked, the reason, who, when),
# then removed from ``<queue>.dlq``. A crash between the two leaves it recorded and still parked;
# discarding again records nothing new (the record's ``_id`` is the message and when it was parked).

DISCARDED = "discarded_letters"


class DiscardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = Field(min_length=1, max_length=255, description="the consumer queue (or its .dlq) of this service")
    reason: str = Field(min_length=3, max_length=1000, description="why these messages are never to be processed")
    event_ids: list[str] | None = Field(None, max_length=1000, description="only these events; default every one")
    limit: int | None = Field(None, ge=1, le=100_000, description="discard at most this many")


def _headers(message: Any) -> dict[str, Any]:
    return {k: (v.decode(errors="replace") if isinstance(v, bytes) else v) for k, v in dict(message.headers or {}).items()}


def parked_letter(message: Any) -> dict[str, Any]:
    """A parked message as an operator reads it: the event, and why and when its consumer gave up
    (the ``x-sinergi-*`` headers ``shared.consumer`` writes); a body that is no CloudEvent says so."""
    from shared.consumer import H_ATTEMPT, H_ERROR, H_ERROR_TYPE, H_FAILED_AT, H_ROUTING_KEY

    headers = _headers(message)
    try:
        parsed = json.loads(message.body)
        kind, subject = str(parsed.get("type", "?")), str(parsed.get("subject", "?"))
    except (ValueError, AttributeError):
        kind, subject = "(not a CloudEvent)", "-"
    try:
        attempts = int(headers.get(H_ATTEMPT, 0) or 0)
    except (TypeError, ValueError):
        attempts = 0
    return {"event_id": message.message_id or "", "type": kind, "subject": subject,
            "error": str(headers.get(H_ERROR, "")), "error_type": str(headers.get(H_ERROR_TYPE, "")),
            "attempts": attempts, "failed_at": str(headers.get(H_FAILED_AT, "")),
            "routing_key": str(headers.get(H_ROUTING_KEY, message.routing_key or "")),
            "replays": int(headers.get(H_REPLAYS, 0) or 0)}


def discarded_record(message: Any, dlq: str, reason: str, by: str, at: datetime) -> dict[str, Any]:
    """What is kept of a discarded message: enough to re-publish it by hand should the reason prove wrong."""
    headers = _headers(message)
    letter = {k: v for k, v in parked_letter(message).items() if k not in {"attempts", "replays"}}
    return {"_id": f"{dlq}/{letter['event_id']}/{letter['failed_at']}", "queue": dlq.removesuffix(".dlq"), **letter,
            "body": message.body.decode(errors="replace"), "headers": {k: str(v) for k, v in headers.items()},
            "reason": reason, "by": by, "discarded_at": at}


async def discard_parked(url: str, queue: str, reason: str, by: str,
                         record: Callable[[dict[str, Any]], Awaitable[None]],
                         event_ids: set[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Record then remove the messages parked in ``<queue>.dlq`` (only ``event_ids`` when given, at most
    ``limit``); the others stay parked, in their order. Returns the records."""
    dlq = f"{queue.removesuffix('.dlq')}.dlq"
    done: list[dict[str, Any]] = []
    try:
        connection = await aio_pika.connect(url, timeout=PUBLISH_TIMEOUT)
    except (AMQPConnectionError, OSError, TimeoutError) as exc:
        raise problems.Unavailable(f"the broker does not answer ({exc}); try again later") from exc
    async with connection:
        # One channel: the messages looked at and kept go back to the queue when it closes.
        channel = await connection.channel()
        try:
            parked = await channel.declare_queue(dlq, passive=True)
        except ChannelNotFoundEntity as exc:
            raise problems.NotFound(f"no dead-letter queue {dlq!r}: its service has not run yet") from exc
        async for message in _taken(parked, event_ids, lambda: limit is not None and len(done) >= limit):
            entry = discarded_record(message, dlq, reason, by, datetime.now(UTC))
            await record(entry)
            await message.ack()
            done.append(entry)
        await channel.close()
    return done


async def insert_record(collection: Any, entry: dict[str, Any]) -> None:
    """Insert a discard record; one already there (a discard repeated after a crash) stays as it was."""
    from pymongo.errors import DuplicateKeyError

    try:
        await collection.insert_one(entry)
    except DuplicateKeyError:
        pass


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in entry.items() if k not in {"_id", "body", "headers"}}, "id": entry["_id"]}


@router.post("/events/dead-letters/discard",
             summary="Discard messages parked in one of this service's dead-letter queues, with a reason (admin)")
async def discard_dead_letters(body: DiscardRequest, request: Request, principal: Admin) -> dict[str, Any]:
    infra = getattr(request.app.state, "infra", None)
    if infra is None:
        raise problems.Unavailable("this service has no consumer queues")
    queue = _own_queue(infra, body.queue)
    collection = infra.db[DISCARDED]
    done = await discard_parked(infra.settings.rabbitmq_url, queue, body.reason, principal.sub,
                                lambda entry: insert_record(collection, entry),
                                set(body.event_ids) if body.event_ids is not None else None, body.limit)
    log.warning("dead letters discarded", queue=queue, count=len(done), by=principal.sub, reason=body.reason)
    return {"queue": queue, "discarded": len(done), "items": [jsonable_encoder(_shown(e)) for e in done]}


@router.get("/events/dead-letters/discarded", summary="Dead letters discarded, newest first, with why and by whom (admin)")
async def list_discarded(request: Request, _: Admin, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    infra = getattr(request.app.state, "infra", None)
    if infra is None:
        return {"items": [], "next_cursor": None}
    collection = infra.db[DISCARDED]
    query: dict[str, Any] = {}
    if cursor:
        query = {"discarded_at": {"$lt": datetime.fromisoformat(decode_cursor(cursor))}}
    docs = await collection.find(query).sort("discarded_at", -1).limit(limit + 1).to_list()
    more = len(docs) > limit
    docs = docs[:limit]
    next_cursor = encode_cursor(docs[-1]["discarded_at"].isoformat()) if more and docs else None
    return {"items": [jsonable_encoder(_shown(d)) for d in docs], "next_cursor": next_cursor}


# --- Dead letters listed and put back on their queue (issue 13: the console's "Antrean gagal") -------
# Read as `discard` reads them: basic.get without an ack on a channel of their own, which is closed
# afterwards, so every message looked at goes back to its DLQ; nothing is lost by looking.

PEEK_MAX = 100


class ReplayLettersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = Field(min_length=1, max_length=255, description="the consumer queue (or its .dlq) of this service")
    event_ids: list[str] | None = Field(None, max_length=1000, description="only these events; default every one")
    limit: int | None = Field(None, ge=1, le=100_000, description="put back at most this many")


def _own_queue(infra: Any, queue: str) -> str:
    queue = queue.removesuffix(".dlq")
    own = [q.name for q in infra.queues]
    if queue not in own:
        raise problems.InvalidField({"queue": f"not a consumer queue of this service; one of: {', '.join(own)}"})
    return queue


async def _connect(url: str) -> Any:
    try:
        return await aio_pika.connect(url, timeout=PUBLISH_TIMEOUT)
    except (AMQPConnectionError, OSError, TimeoutError) as exc:
        raise problems.Unavailable(f"the broker does not answer ({exc}); try again later") from exc


async def peek_parked(url: str, queues: list[str], peek: int) -> list[dict[str, Any]]:
    """Each queue's DLQ with its depth (``None``: not declared yet) and its first ``peek`` messages."""
    found: list[dict[str, Any]] = []
    async with await _connect(url) as connection:
        for queue in queues:
            dlq = f"{queue}.dlq"
            # One channel per queue: a passive declare of a missing queue closes it; closing it
            # gives the peeked (unacknowledged) messages back, in their order.
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(dlq, passive=True)
            except ChannelNotFoundEntity:
                found.append({"queue": queue, "dlq": dlq, "depth": None, "messages": []})
                continue
            depth = declared.declaration_result.message_count or 0
            messages = []
            for _ in range(min(peek, depth)):
                message = await declared.get(no_ack=False, fail=False)
                if message is None:
                    break
                messages.append(parked_letter(message))
            await channel.close()
            found.append({"queue": queue, "dlq": dlq, "depth": depth, "messages": messages})
    return found


async def replay_parked(url: str, exchange_name: str, queue: str, event_ids: set[str] | None = None,
                        limit: int | None = None) -> list[dict[str, Any]]:
    """Put the messages parked in ``<queue>.dlq`` (only ``event_ids`` when given, at most ``limit``) back on
    ``queue`` through the service's exchange, where it is bound under its own name, with a fresh retry
    ladder. Each is confirmed on the queue before it leaves the DLQ: a crash between the two repeats it
    (consumers are idempotent on the event id), never loses it. Only what is parked now: one that fails
    again is parked again, not looped over."""
    from shared.consumer import H_ATTEMPT

    dlq = f"{queue}.dlq"
    done: list[dict[str, Any]] = []
    async with await _connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            parked = await channel.declare_queue(dlq, passive=True)
        except ChannelNotFoundEntity as exc:
            raise problems.NotFound(f"no dead-letter queue {dlq!r}: its service has not run yet") from exc
        exchange = await channel.get_exchange(exchange_name, ensure=False)
        async for message in _taken(parked, event_ids, lambda: limit is not None and len(done) >= limit):
            headers = dict(message.headers or {})
            headers[H_ATTEMPT] = 0
            headers[H_REPLAYS] = int(headers.get(H_REPLAYS, 0) or 0) + 1
            headers[H_REPLAYED_AT] = datetime.now(UTC).isoformat()
            try:
                await exchange.publish(
                    aio_pika.Message(message.body, headers=headers, content_type=message.content_type,
                                     message_id=message.message_id, type=message.type,
                                     correlation_id=message.correlation_id,
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue, mandatory=True, timeout=PUBLISH_TIMEOUT)
            except (DeliveryError, PublishError) as exc:  # returned: the queue is not bound (yet)
                raise problems.Unavailable(f"{queue!r} did not take the message back; try again later") from exc
            await message.ack()
            done.append(parked_letter(message))
        await channel.close()
    return done


@router.get("/events/dead-letters",
            summary="This service's dead-letter queues with their depth and first messages, read without removing them (admin)")
async def list_dead_letters(request: Request, _: Admin,
                            peek: Annotated[int, Query(ge=0, le=PEEK_MAX, description="messages shown per queue")] = 20
                            ) -> dict[str, Any]:
    infra = getattr(request.app.state, "infra", None)
    if infra is None:
        return {"queues": []}
    return {"queues": await peek_parked(infra.settings.rabbitmq_url, [q.name for q in infra.queues], peek)}


@router.post("/events/dead-letters/replay",
             summary="Put messages parked in one of this service's dead-letter queues back on their queue (admin)")
async def replay_dead_letters(body: ReplayLettersRequest, request: Request, principal: Admin) -> dict[str, Any]:
    infra = getattr(request.app.state, "infra", None)
    if infra is None:
        raise problems.Unavailable("this service has no consumer queues")
    queue = _own_queue(infra, body.queue)
    done = await replay_parked(infra.settings.rabbitmq_url, service_exchange(infra.settings, infra.service).name,
                               queue, set(body.event_ids) if body.event_ids is not None else None, body.limit)
    log.warning("dead letters replayed", queue=queue, count=len(done), by=principal.sub)
    return {"queue": queue, "replayed": len(done), "items": done}

async def _taken(parked: Any, event_ids: Any, enough: Any) -> AsyncIterator[Any]:
    """The messages parked in ``parked`` when it was declared, taken one by one without acknowledging
    them, those of ``event_ids`` only (the others are left unacknowledged: back in the queue when the
    channel closes), until ``enough()``; the one place discard and replay read a dead-letter queue."""
    for _ in range(parked.declaration_result.message_count or 0):
        if enough():
            return
        message = await parked.get(no_ack=False, fail=False)
        if message is None:
            return
        if event_ids is None or message.message_id in event_ids:
            yield message
