"""`sinergi dlq ...`: inspect, replay and discard (with a reason, recorded) dead-lettered messages.

A consumer parks a message it could not process in ``<queue>.dlq`` with the reason in its
``x-sinergi-*`` headers (``shared.consumer``). The queues are read from the code's topology,
so every service's dead-letter queue is looked at, and nothing else. Both verbs speak AMQP
with ``SINERGI_RABBITMQ_URL`` (an administrator's URL, or the service's own user for its queues).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Dead-letter queues: list parked messages, replay them, discard them with a reason.", no_args_is_help=True)
console = Console(stderr=True)

from shared.replay import H_REPLAYED_AT, H_REPLAYS  # noqa: E402 - one home for what a replay writes

RegionFile = Annotated[
    Path | None, typer.Option("--region-file", "-r", help="a deploy/regions/<code>.env file (environment wins)")
]
Url = Annotated[str | None, typer.Option(help="AMQP URL with the vhost [default: SINERGI_RABBITMQ_URL]")]


@dataclass
class Parked:
    """One message in a dead-letter queue, as its headers and body describe it."""

    type: str
    subject: str
    error: str
    error_type: str
    attempts: int
    failed_at: str
    routing_key: str


@dataclass
class DeadLetters:
    queue: str  # the consumer queue
    dlq: str
    count: int
    messages: list[Parked] = field(default_factory=list)


def _parked(message: Any) -> Parked:
    from shared.consumer import H_ATTEMPT, H_ERROR, H_ERROR_TYPE, H_FAILED_AT, H_ROUTING_KEY

    headers = dict(message.headers or {})
    try:
        body = json.loads(message.body)
        kind, subject = str(body.get("type", "?")), str(body.get("subject", "?"))
    except (ValueError, AttributeError):
        kind, subject = "(not a CloudEvent)", "-"
    return Parked(
        type=kind, subject=subject, error=_text(headers.get(H_ERROR, "")), error_type=_text(headers.get(H_ERROR_TYPE, "")),
        attempts=int(headers.get(H_ATTEMPT, 0) or 0), failed_at=_text(headers.get(H_FAILED_AT, "")),
        routing_key=_text(headers.get(H_ROUTING_KEY, message.routing_key or "")),
    )


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def consumer_queues(settings: Any) -> list[str]:
    """Every consumer queue of every service, from the code."""
    from sinergi_cli.ops.topology import topology

    return [queue.name for part in topology(settings).values() for queue in part.queues]


async def list_parked(url: str, queues: list[str], peek: int = 20) -> list[DeadLetters]:
    """Count each queue's parked messages and describe up to ``peek`` of them; nothing is removed."""
    import aio_pika

    found: list[DeadLetters] = []
    connection = await aio_pika.connect(url)
    async with connection:
        for queue in queues:
            dlq = f"{queue}.dlq"
            # One channel per queue: closing it returns the peeked (unacknowledged) messages.
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(dlq, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                found.append(DeadLetters(queue, dlq, -1))  # not declared yet: the service never ran
                continue
            entry = DeadLetters(queue, dlq, declared.declaration_result.message_count or 0)
            for _ in range(min(peek, entry.count)):
                message = await declared.get(no_ack=False, fail=False)
                if message is None:
                    break
                entry.messages.append(_parked(message))
            await channel.close()
            found.append(entry)
    return found


async def replay(url: str, queue: str, limit: int | None = None, progress: Progress | None = None) -> int:
    """Move the messages parked in ``<queue>.dlq`` back to ``queue``, where they are processed again
    with a fresh retry ladder. Each is published with confirms before it leaves the DLQ, so a crash
    in between duplicates it (consumers are idempotent on the event id) and never loses it."""
    import aio_pika

    from shared.consumer import H_ATTEMPT

    dlq = f"{queue}.dlq"
    moved = 0
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        declared = await channel.declare_queue(dlq, passive=True)
        await channel.declare_queue(queue, passive=True)
        # Only what is parked now: a message that fails again is parked again, not looped over.
        total = declared.declaration_result.message_count or 0
        if limit is not None:
            total = min(total, limit)
        task = progress.add_task(f"replaying {dlq}", total=total) if progress else None
        while moved < total:
            message = await declared.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = dict(message.headers or {})
            headers[H_ATTEMPT] = 0
            headers[H_REPLAYS] = int(headers.get(H_REPLAYS, 0) or 0) + 1
            headers[H_REPLAYED_AT] = datetime.now(UTC).isoformat()
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body, headers=headers, content_type=message.content_type,
                    message_id=message.message_id, type=message.type, correlation_id=message.correlation_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=queue, mandatory=True,
            )
            await message.ack()
            moved += 1
            if progress is not None and task is not None:
                progress.advance(task)
    return moved


def _settings(region_file: Path | None, url: str | None) -> tuple[Any, str]:
    from sinergi_cli.regions import Region

    try:
        region = Region.load(region_file)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    return region.settings, url or region.settings.rabbitmq_url


@app.command("list")
def list_verb(
    region_file: RegionFile = None,
    url: Url = None,
    peek: Annotated[int, typer.Option(help="describe at most this many messages per queue")] = 20,
) -> None:
    """List every dead-letter queue with its count, and the parked messages' type, subject, error and attempts.

    Looking does not remove anything: the messages stay parked until `sinergi dlq replay`.
    """
    settings, amqp = _settings(region_file, url)
    try:
        found = asyncio.run(list_parked(amqp, consumer_queues(settings), peek))
    except Exception as exc:  # noqa: BLE001 - shown to the operator as it is
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    from sinergi_cli.local import table_console

    out = table_console()
    summary = Table("queue", "parked", "replay with", title="Dead-letter queues")
    for entry in found:
        count = "not declared" if entry.count < 0 else str(entry.count)
        summary.add_row(entry.dlq, count, f"sinergi dlq replay {entry.queue}" if entry.count > 0 else "")
    out.print(summary)
    for entry in found:
        if not entry.messages:
            continue
        table = Table("type", "subject", "error", "attempts", "failed at", "routing key",
                      title=f"{entry.dlq}: {entry.count} parked" + (f" (first {len(entry.messages)})"
                                                                   if len(entry.messages) < entry.count else ""))
        for m in entry.messages:
            error = f"{m.error_type}: {m.error}" if m.error_type else m.error
            table.add_row(m.type, m.subject, error[:120], str(m.attempts), m.failed_at, m.routing_key)
        out.print(table)


@app.command("replay")
def replay_verb(
    queue: Annotated[str, typer.Argument(help="the consumer queue (or its .dlq), as `sinergi dlq list` shows it")],
    region_file: RegionFile = None,
    url: Url = None,
    limit: Annotated[int | None, typer.Option(help="move at most this many")] = None,
) -> None:
    """Move the messages parked in QUEUE.dlq back to QUEUE, where its service processes them again.

    Fix the cause first (see `sinergi dlq list`): a message that fails again goes through
    the retry ladder and is parked again.
    """
    settings, amqp = _settings(region_file, url)
    queue = queue.removesuffix(".dlq")
    known = consumer_queues(settings)
    if queue not in known:
        console.print(f"[red]error:[/red] {queue} is not a consumer queue of this instance; one of: {', '.join(known)}")
        raise typer.Exit(1)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        try:
            moved = asyncio.run(replay(amqp, queue, limit, progress))
        except Exception as exc:  # noqa: BLE001 - shown to the operator as it is
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
    console.print(f"moved {moved} message(s) from {queue}.dlq back to {queue}")


def owner_of(settings: Any, queue: str) -> str | None:
    """The service whose consumer queue ``queue`` is (its database keeps the discard records)."""
    from sinergi_cli.ops.topology import topology

    for service, part in topology(settings).items():
        if any(q.name == queue for q in part.queues):
            return service
    return None


async def discard(settings: Any, url: str, queue: str, reason: str, by: str, event_ids: set[str] | None,
                  limit: int | None) -> list[dict[str, Any]]:
    """Record each message in its service's ``discarded_letters``, then remove it from ``QUEUE.dlq``
    (``shared.replay.discard_parked``, as the admin API does)."""
    from pymongo import AsyncMongoClient

    from shared.replay import DISCARDED, discard_parked, insert_record

    service = owner_of(settings, queue)
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    try:
        collection = client[settings.database_name(service)][DISCARDED]
        return await discard_parked(url, queue, reason, by, lambda entry: insert_record(collection, entry),
                                    event_ids, limit)
    finally:
        await client.close()


@app.command("discard")
def discard_verb(
    queue: Annotated[str, typer.Argument(help="the consumer queue (or its .dlq), as `sinergi dlq list` shows it")],
    reason: Annotated[str, typer.Option("--reason", help="why these messages are never to be processed (recorded)")],
    region_file: RegionFile = None,
    url: Url = None,
    event_id: Annotated[list[str] | None, typer.Option("--event-id", help="only this event (repeatable)")] = None,
    limit: Annotated[int | None, typer.Option(help="discard at most this many")] = None,
) -> None:
    """Discard the messages parked in QUEUE.dlq (or only --event-id ones), with a reason.

    Each is recorded first in its service's `discarded_letters` (the message, the reason, who,
    when; `GET /events/dead-letters/discarded` lists them), then removed. Only for messages that
    must never be processed: after fixing a cause, `sinergi dlq replay` instead.
    """
    import getpass

    settings, amqp = _settings(region_file, url)
    queue = queue.removesuffix(".dlq")
    known = consumer_queues(settings)
    if queue not in known:
        console.print(f"[red]error:[/red] {queue} is not a consumer queue of this instance; one of: {', '.join(known)}")
        raise typer.Exit(1)
    if len(reason.strip()) < 3:
        console.print("[red]error:[/red] --reason says why, in a few words: it is recorded with each message")
        raise typer.Exit(1)
    try:
        done = asyncio.run(discard(settings, amqp, queue, reason.strip(), f"cli:{getpass.getuser()}",
                                   set(event_id) if event_id else None, limit))
    except Exception as exc:  # noqa: BLE001 - shown to the operator as it is
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    for entry in done:
        console.print(f"discarded {entry['type']} {entry['subject']} ({entry['event_id']})")
    console.print(f"discarded {len(done)} message(s) from {queue}.dlq: {reason.strip()}")
