"""The same-work ceiling of bench/pipeline.py (issue 15 point 2): by hand, without our framework,
the store commands and the publish one scheduled event costs us, so that ours / this ceiling shows
our overhead rather than how many store commands an event takes.

No HTTP, no FastStream, no unit of work, no outbox: each command of ``SAME_WORK`` (or of a count
``bench/costs.py --write`` wrote) is sent with PyMongo, the publish with aio-pika (confirms,
persistent), in the order the services send them: the request's, the relay's reads, the publish,
the relay's writes; then the consumer's, then the ack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import UTC, datetime

import aio_pika
from pymongo import AsyncMongoClient

RABBITMQ = os.environ.get("SINERGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


# The store commands of one scheduled activity and its event at 9a53922 (bench/costs.py, issue 15):
# "<service>.<sender>:<command>:<collection>" → count. activities.task is the schedule request,
# activities.relay the outbox relay (its reads before the publish, its writes after the confirm),
# notifications.* the consumer (before its ack). 23 commands, and one publish.
SAME_WORK = {
    "activities.task:find:activities": 2, "activities.task:find:elections": 2,
    "activities.task:update:activities": 1, "activities.task:update:revisions": 1,
    "activities.relay:find:activities": 2, "activities.relay:insert:event_log": 1,
    "activities.relay:update:activities": 1,
    "notifications.task:find:processed_events": 1, "notifications.task:find:activities": 2,
    "notifications.task:update:activities": 1, "notifications.task:find:recipients": 1,
    "notifications.task:find:elections": 1, "notifications.task:find:job_names": 1,
    "notifications.task:insert:job_names": 2, "notifications.task:find:jobs_by_subject": 1,
    "notifications.task:insert:jobs": 1, "notifications.task:insert:processed_events": 1,
    "notifications.task:insert:inbox": 1,
}
PAD = "x" * 1500  # an activity's document is about 2 KB


def same_work_steps(counts: dict[str, float]) -> dict[str, list[tuple[str, str]]]:
    """(command, collection) lists for the request, the relay before and after its publish, and the consumer."""
    steps: dict[str, list[tuple[str, str]]] = {"request": [], "relay": [], "relay after": [], "consumer": []}
    for key, count in sorted(counts.items()):
        sender, command, *rest = key.split(":")
        if command not in ("find", "insert", "update", "delete") or not rest:
            continue  # buildInfo and the like: once per process, not per event
        collection = "inbox" if rest[0].startswith("inbox_") else rest[0]
        if sender.startswith("notifications."):
            phase = "consumer"
        elif sender.endswith(".relay"):
            phase = "relay" if command == "find" else "relay after"
        else:
            phase = "request"
        steps[phase] += [(command, collection)] * round(count)
    return steps


async def same_work(args: argparse.Namespace, prefix: str, counts: dict[str, float],
                    mongodb: str) -> tuple[float, list[float], int]:
    """The store commands and the publish of one event, by hand: (events/s, latencies, commands per event).

    Each find is by ``_id`` (the aggregate's, found; the others' may find nothing), each update by
    ``_id`` (upsert), each insert a new ``_id``; the aggregate is a ~2 KB document stored beforehand
    (ours plans its activities before the clock starts too). Concurrency as for ours."""
    steps = same_work_steps(counts)
    mongo: AsyncMongoClient = AsyncMongoClient(mongodb, tz_aware=True)
    db = mongo[f"{prefix}_same"]
    await db["activities"].insert_many([{"_id": f"a{i}", "version": 1, "pad": PAD} for i in range(args.n)])
    connection = await aio_pika.connect_robust(RABBITMQ)
    latencies: list[float] = []
    done = asyncio.Event()
    serial = iter(range(10**9))

    async def run(phase: str, key: str) -> None:
        for command, collection in steps[phase]:
            target = db[collection]
            if command == "find":
                await target.find_one({"_id": key})
            elif command == "update":
                await target.update_one({"_id": key}, {"$set": {"at": datetime.now(UTC), "pad": PAD}}, upsert=True)
            elif command == "insert":
                await target.insert_one({"_id": f"{key}-{next(serial)}", "at": datetime.now(UTC)})
            else:
                await target.delete_one({"_id": key})

    try:
        publisher = await connection.channel(publisher_confirms=True)
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=32)
        queue = await consumer.declare_queue(f"{prefix}.same", durable=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            body = json.loads(message.body)
            await run("consumer", body["id"])
            await message.ack()
            latencies.append(time.time() - body["sent"])
            if len(latencies) >= args.n:
                done.set()

        await queue.consume(on_message)
        sem = asyncio.Semaphore(args.concurrency)

        async def event(i: int) -> None:
            async with sem:
                sent = time.time()
                key = f"a{i}"
                await run("request", key)
                await run("relay", key)
                body = {"id": key, "sent": sent, "data": {"title": f"Forum warga {i}", "pad": PAD}}
                await publisher.default_exchange.publish(
                    aio_pika.Message(json.dumps(body).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                     content_type="application/json"), routing_key=queue.name)
                await run("relay after", key)

        t0 = time.time()
        await asyncio.gather(*(event(i) for i in range(args.n)))
        await asyncio.wait_for(done.wait(), args.timeout)
        rate = args.n / (time.time() - t0)
        await queue.delete(if_unused=False, if_empty=False)
        return rate, latencies, sum(len(v) for v in steps.values())
    finally:
        await connection.close()
        await mongo.drop_database(f"{prefix}_same")
        await mongo.close()
