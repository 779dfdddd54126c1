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
from faststream.rabbit import RabbitQueue
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
    queue = settings.queue_name("activities", "partner-replica")  # shards keep their records under it
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url)
    try:
        found = await client[settings.database_name("activities")]["processed_events"].find(
            {"_id": {"$in": [f"{queue}:{i}" for i in ids]}}).to_list()
    finally:
        await client.close()
    return {d["_id"].rpartition(":")[2]: (d["by"], d["at"]) if with_shard else d["at"] for d in found}


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


async def test_an_event_without_the_hash_header_is_not_lost(shard_settings: Settings):
    """Published by a relay of an older version (or by hand), an event without ``x-sinergi-aggregate``
    is hashed as "no header", to one fixed shard, and handled there."""
    settings = shard_settings
    async with running("activities", settings) as (_, client):
        # The shards are declared and fed once the service has connected to the broker (in the background).
        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, timeout=60, interval=0.3)
        body = _event(f"p-bare-{secrets.token_hex(3)}", 1)
        connection = await aio_pika.connect_robust(settings.rabbitmq_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange(settings.exchange_name)
            await exchange.publish(aio_pika.Message(body.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                   routing_key="3273.partner.registered", mandatory=True)
        event_id = json.loads(body)["id"]

        async def handled() -> bool:
            return event_id in await _processed(settings, [event_id])

        await eventually(handled, timeout=30, interval=0.3)


async def test_an_event_the_shards_exchange_cannot_route_goes_to_the_unrouted_queue(shard_settings: Settings):
    """Another queue taking the event, RabbitMQ returns nothing to the publisher when the shards'
    exchange routes it nowhere (no shard bound yet): its alternate exchange keeps it instead."""
    from shared.bus import events_exchange, shard_exchange, unrouted_queue

    settings = shard_settings
    broker = make_broker(settings, "activities")
    await broker.connect()
    try:
        await declare_exchanges(broker, settings)
        events = await broker.declare_exchange(events_exchange(settings))
        shards = await broker.declare_exchange(shard_exchange(settings, QUEUE_OF(settings)))
        await shards.bind(events, routing_key="3273.partner.*")  # and no shard bound to it
        other = await broker.declare_queue(RabbitQueue(f"{settings.bus_prefix}other.subscriber", auto_delete=True))
        await other.bind(events, routing_key="3273.partner.*")
        body = _event(f"p-nowhere-{secrets.token_hex(3)}", 1)
        await publish_stored(broker, body, json.loads(body)["id"], "sinergi.partner.registered", None,
                             exchange=settings.exchange_name, routing_key="3273.partner.registered")
        unrouted = await broker.declare_queue(unrouted_queue(settings))

        async def kept() -> bool:
            message = await unrouted.get(no_ack=True, fail=False)
            return message is not None and json.loads(message.body)["id"] == json.loads(body)["id"]

        await eventually(kept, timeout=10, interval=0.2)
    finally:
        await broker.stop()


def QUEUE_OF(settings: Settings) -> str:  # noqa: N802 - reads as the constant it stands for
    return settings.queue_name("activities", "partner-replica")


class ManagedRabbit(PrivateRabbit):
    """A private node with the management API as well, for ``sinergi broker migrate``."""

    management_port: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.management_port = free_port()
        (self.home / "enabled_plugins").write_text("[rabbitmq_management,rabbitmq_consistent_hash_exchange].\n")
        (self.home / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
                                                 f"management.tcp.ip = 127.0.0.1\n"
                                                 f"management.tcp.port = {self.management_port}\n")

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}"


@pytest.fixture(scope="module")
def managed_rabbit(tmp_path_factory: pytest.TempPathFactory, run_id: str) -> Iterator[ManagedRabbit]:
    scripts = rabbitmq_scripts()
    if scripts is None:
        pytest.skip("rabbitmq-server is not installed on this machine")
    broker = ManagedRabbit(tmp_path_factory.mktemp("managed-rabbitmq"), scripts, f"sinergi-managed-{run_id}@localhost")
    with watchdog(broker.pidfile, str(broker.home)):
        broker.start()
        try:
            yield broker
        finally:
            try:
                broker.stop()
            except (AssertionError, subprocess.TimeoutExpired):
                broker.kill()


async def test_broker_migrate_from_one_shard_to_four_keeps_the_queued_messages(
        managed_rabbit: ManagedRabbit, private_servers: Servers, run_id: str):
    from sinergi_cli.broker import Management
    from sinergi_cli.ops import migrate, topology

    vhost = f"shards-{secrets.token_hex(3)}"
    url = f"amqp://guest:guest@127.0.0.1:{managed_rabbit.port}/{vhost}"
    one = make_settings(Servers(url, private_servers.mongodb_url, "managed"), f"{run_id}m{secrets.token_hex(2)}")
    four = one.model_copy(update={"shards": SHARDS})
    queue = QUEUE_OF(one)
    with Management(managed_rabbit.management_url) as management:
        await asyncio.to_thread(eventually_sync, management.answers)
        management.add_vhost(vhost)
        management.set_permissions("guest", vhost, ".*", ".*", ".*")
        await asyncio.to_thread(migrate.migrate, management, vhost, topology.definitions(one, vhost), url)
        # Events wait in the one queue while the services are stopped; one published by an older
        # relay, without the hash header.
        partners = [f"p-{n}-{secrets.token_hex(3)}" for n in range(8)]
        published = await _publish_as_partners(one, [(p, v) for v in range(1, 4) for p in partners])
        bare = _event(partners[0], 4)
        connection = await aio_pika.connect_robust(url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(one.exchange_name)
            await exchange.publish(aio_pika.Message(bare.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                   routing_key="3273.partner.updated")
        published.append((partners[0], 4, json.loads(bare)["id"]))

        moved = await asyncio.to_thread(migrate.migrate, management, vhost, topology.definitions(four, vhost), url)

        names = {q["name"] for q in management.queues_of(vhost)}
        assert queue not in names and f"{queue}.dlq" not in names, sorted(names)
        assert {f"{queue}.shard-{i}" for i in range(SHARDS)} <= names
        assert not [n for n in names if n.endswith((".resharding", ".migrating"))]
        assert moved.get(queue) == len(published), moved
    # Every message is in the shards now, each partner's all in one shard, in the order published.
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        for i in range(SHARDS):
            shard = await channel.get_queue(f"{queue}.shard-{i}")
            while (message := await shard.get(no_ack=True, fail=False)) is not None:
                event = json.loads(message.body)
                assert message.headers.get(AGGREGATE_HEADER) == event["subject"]
                found[event["subject"]].append((f"shard-{i}", event["aggregateversion"]))
    assert sum(len(v) for v in found.values()) == len(published)
    for subject, where in found.items():
        assert len({shard for shard, _ in where}) == 1, f"{subject} spread over {where}"
        assert [v for _, v in where] == sorted(v for _, v in where), f"{subject} out of order: {where}"


def eventually_sync(probe, timeout: float = 60.0) -> None:  # noqa: ANN001
    import time

    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError("the management API did not answer")
        time.sleep(0.3)
