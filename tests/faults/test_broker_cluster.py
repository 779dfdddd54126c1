"""A steady stream of writes while the leader of a service's queue, a RabbitMQ node, is killed (issue 15 point 4).

The three services run on a three-node cluster of this session's own (``tests/cluster.py``), each
told every node (``SINERGI_RABBITMQ_NODES``), their queues quorum queues with a member on each node.
While four clients write without pause, the node that leads ``notifications.events`` (also the node
the services connected to first, so their connections drop too) is killed with SIGKILL, left down
for a few seconds and started again. Then the steady-stream test's checks run on the outcome (they
are imported, so they run here on this module's ``stream``): every accepted write stored and
published as answered, every event applied once by each consumer, no notification and no e-mail
twice, nothing dead-lettered.

What it exercises: publishes the dead leader never confirmed are nacked or cut off and resent from
the outbox; the services reconnect to a surviving node and resume their consumers there; messages
redelivered after the dropped consumers are skipped as duplicates.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import httpx
import pytest

from shared.settings import Settings
from tests.cluster import RabbitCluster, rabbit_cluster
from tests.conftest import ServiceProcess, make_settings
from tests.faults.conftest import START_TIMEOUT, PrivateStore, rabbitmq_scripts, service_process
from tests.faults.stream import Stream
from tests.faults.test_steady_stream import (  # noqa: F401 - collected here, on this module's stream
    LADDER,
    NOTIFY,
    StreamRun,
    test_every_accepted_write_is_stored_and_published_exactly_as_answered,
    test_no_notification_and_no_email_was_produced_twice,
    test_nothing_was_dead_lettered,
    test_the_activities_replica_holds_every_partner_at_its_latest_version,
    test_each_staff_notification_shows_how_its_email_went,
    test_the_notifications_service_saw_every_partner_and_activity_event,
)
from tests.notifications_support import SmtpSink
from tests.servers import Servers

pytestmark = pytest.mark.faults

LEADER_DOWN = 6.0  # seconds the killed node stays down while the stream writes on


@dataclass
class ClusterRun(StreamRun):
    cluster: RabbitCluster | None = None
    killed: str = ""
    members: list[str] = field(default_factory=list)

    async def _leader(self, stream: Stream) -> None:
        assert self.cluster is not None
        queue = self.settings.queue_name("notifications", "events")
        self.members = await asyncio.to_thread(self.cluster.members, queue)
        leader = await asyncio.to_thread(self.cluster.leader, queue)
        self.killed = leader.node
        stream.phase = "leader killed"
        await self._timed("SIGKILL of the queue's leader", leader.sigkill)
        await stream.during("leader down", LEADER_DOWN)
        stream.phase = "leader restarting"
        await self._timed("killed node's restart", leader.boot)
        await stream.during("after the leader's restart", 5)

    async def dead_letters(self) -> dict[str, int]:
        counts = await super().dead_letters()
        print(f"\n== cluster: killed {self.killed}, the leader of notifications.events (members {self.members}); "
              f"fault timings (s): {', '.join(f'{k} {v:.1f}' for k, v in self.timings.items())}; "
              f"writes by phase: {self.ledger.by_phase()}")
        return counts


async def test_writes_went_on_while_the_node_was_down_and_a_retried_write_was_never_refused(stream):
    ledger = stream.ledger
    assert not ledger.refused, f"writes refused: {ledger.refused[:5]}"
    assert not ledger.server_errors, f"answers other than 2xx/4xx/503 (CONTRACT §2): {ledger.server_errors[:5]}"
    assert not ledger.gave_up, f"writes still failing after two minutes of retries: {ledger.gave_up[:5]}"
    per_phase = ledger.by_phase()
    assert per_phase.get("leader down", 0) > 0, f"no write was accepted while the node was down: {per_phase}"
    assert per_phase.get("after the leader's restart", 0) > 0, per_phase


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, run_id: str) -> Iterator[RabbitCluster]:
    if rabbitmq_scripts() is None:
        pytest.skip("rabbitmq-server is not installed on this machine: the cluster test runs three nodes of its own")
    with rabbit_cluster(tmp_path_factory.mktemp("cluster"), run_id) as found:
        yield found


@asynccontextmanager
async def quorum_tap(settings: Settings, url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """An outside subscriber's quorum queue bound to every event: it loses nothing when a node dies
    (a classic queue on the killed node would miss what is published while it is down)."""
    connection = await aio_pika.connect_robust(url)
    received: list[dict[str, Any]] = []
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True,
            arguments={"alternate-exchange": f"{settings.bus_prefix}sinergi.unrouted"})
        queue = await channel.declare_queue(f"{settings.bus_prefix}tap.{secrets.token_hex(3)}", durable=True,
                                            arguments={"x-queue-type": "quorum"})
        await queue.bind(exchange, routing_key="#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                received.append(json.loads(message.body))

        await queue.consume(on_message)
        yield received
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def stream(cluster: RabbitCluster, private_store: PrivateStore, run_id: str,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ClusterRun]:
    settings = make_settings(Servers(cluster.urls[0], private_store.url, "private"),
                             f"{run_id}c{secrets.token_hex(2)}")
    nodes = ",".join(urlsplit(url).netloc.rpartition("@")[2] for url in cluster.urls[1:])
    logs = tmp_path_factory.mktemp("cluster-stream")
    started: list[ServiceProcess] = []

    def process(name: str, **env: str) -> ServiceProcess:
        started.append(service_process(settings, name, logs, SINERGI_RABBITMQ_NODES=nodes, **env))
        return started[-1]

    try:
        with SmtpSink() as smtp:
            # The subscriber reads through the last node: the services' first is the one killed.
            async with quorum_tap(settings, cluster.urls[-1]) as published, httpx.AsyncClient(timeout=30) as http:
                services = {"notifications": process("notifications", SINERGI_SMTP_URL=smtp.url, **NOTIFY, **LADDER),
                            "activities": process("activities", **LADDER),
                            "partners": process("partners", **LADDER)}
                await asyncio.gather(*(asyncio.to_thread(proc.start, START_TIMEOUT) for proc in services.values()))
                run = ClusterRun(settings, services, http, published, smtp, cluster.nodes[0], private_store,
                                 cluster=cluster)
                await run.go(secrets.token_hex(2), faults=("leader",))
                yield run
                await run.counters.stop()
    finally:
        for proc in started:
            proc.stop()
