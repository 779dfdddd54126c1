"""`sinergi broker migrate`: a region's classic queues become the quorum queues the code declares,
their messages kept in order, on the real RabbitMQ (a scratch vhost of its own)."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import pytest

from shared.serve import PORTS
from sinergi_cli.ops import migrate, topology
from sinergi_cli.regions import amqp_url
from tests.conftest import make_settings
from tests.ops_support import local_management, scratch


def _old_definitions(definitions: dict[str, Any]) -> dict[str, Any]:
    """The definitions as the code before quorum queues declared them: every queue classic, the retry
    queues with their TTL and dead-letter target, the others with no arguments."""
    kept = ("x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key")
    queues = []
    for queue in definitions["queues"]:
        retry = "x-message-ttl" in queue["arguments"]
        arguments = {k: v for k, v in queue["arguments"].items() if retry and k in kept}
        queues.append({**queue, "arguments": {"x-queue-type": "classic", **arguments}})
    return {**definitions, "queues": queues}


async def _publish(url: str, queue: str, count: int, tag: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for n in range(count):
            await channel.default_exchange.publish(
                aio_pika.Message(f'{{"n": {n}}}'.encode(), message_id=f"{tag}-{n}", headers={"x-sinergi-attempt": n},
                                 content_type="application/cloudevents+json",
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=queue)


async def _drain(url: str, queue: str) -> list[tuple[str | None, Any]]:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        source = await channel.get_queue(queue)
        found = []
        while (message := await source.get(no_ack=True, fail=False)) is not None:
            found.append((message.message_id, (message.headers or {}).get("x-sinergi-attempt")))
        return found


@pytest.fixture
def region(servers, run_id, unique):
    """A scratch vhost holding the region's queues as the previous code declared them (classic)."""
    with scratch(local_management(servers)) as made:
        vhost = made.vhost(f"{run_id}{unique}-migrate")
        settings = make_settings(servers, f"{run_id}{unique}", bus_prefix="")
        users = [topology.service_user(vhost, s) for s in PORTS] + [topology.subscriber_user(vhost)]
        made.users.extend(users)
        definitions = topology.definitions(settings, vhost, {user: f"pw-{unique}" for user in users})
        made.management.import_definitions(_old_definitions(definitions))
        admin = amqp_url(servers.rabbitmq_url, made.management.user, made.management.password, vhost)
        yield made.management, vhost, definitions, admin


def _types(management, vhost: str) -> dict[str, str]:  # noqa: ANN001
    return {q["name"]: q["type"] for q in management.queues_of(vhost)}


def test_classic_queues_become_quorum_queues_keeping_their_messages_in_order(region):
    management, vhost, definitions, admin = region
    main, dlq = "notifications.events", "notifications.events.dlq"
    assert _types(management, vhost)[main] == "classic"
    asyncio.run(_publish(admin, main, 30, "ev"))
    asyncio.run(_publish(admin, dlq, 2, "parked"))

    moved = migrate.migrate(management, vhost, definitions, admin)

    types = _types(management, vhost)
    assert {q["name"]: types.get(q["name"]) for q in definitions["queues"]} == {
        q["name"]: q["arguments"]["x-queue-type"] for q in definitions["queues"]}, "every queue as the code declares it"
    assert types[main] == types[dlq] == "quorum"
    assert {types[name] for name in types if ".retry-" in name} == {"quorum"}
    assert not [name for name in types if name.endswith(migrate.HOLDING)], "holding queues are removed"
    assert moved[main] == 30 and moved[dlq] == 2
    declared = {q["name"]: q["arguments"] for q in management.queues_of(vhost)}
    assert declared[main]["x-delivery-limit"] == 20
    assert declared[main]["x-dead-letter-routing-key"] == dlq
    assert asyncio.run(_drain(admin, main)) == [(f"ev-{n}", n) for n in range(30)], "same messages, same order"
    assert asyncio.run(_drain(admin, dlq)) == [("parked-0", 0), ("parked-1", 1)]

    # The bindings came back with the quorum queue: an event published now reaches it.
    async def route() -> list[Any]:
        connection = await aio_pika.connect(admin)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange("sinergi.events")
            await exchange.publish(aio_pika.Message(b"{}", message_id="routed"), routing_key="3273.partner.registered",
                                   mandatory=True)
        return await _drain(admin, main)

    assert asyncio.run(route()) == [("routed", None)]
    assert migrate.migrate(management, vhost, definitions, admin) == {}, "a second run has nothing to move"


def test_an_interrupted_migration_is_finished_by_the_next_run(region):
    management, vhost, definitions, admin = region
    main = "activities.partner-replica"
    asyncio.run(_publish(admin, main, 5, "ev"))
    # Cut off after step 1 for this queue: emptied into its holding queue and deleted.
    management.declare_queue(vhost, main + migrate.HOLDING, {"x-queue-type": "quorum"})
    asyncio.run(migrate.move(admin, main, main + migrate.HOLDING))
    management.delete_queue(vhost, main)

    migrate.migrate(management, vhost, definitions, admin)

    assert _types(management, vhost)[main] == "quorum"
    assert main + migrate.HOLDING not in _types(management, vhost)
    assert asyncio.run(_drain(admin, main)) == [(f"ev-{n}", n) for n in range(5)]


def test_a_queue_still_consumed_is_not_migrated(region):
    management, vhost, definitions, admin = region

    async def consumed_while(check) -> None:  # noqa: ANN001
        connection = await aio_pika.connect(admin)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue("notifications.events")
            async def ignore(message: Any) -> None:
                pass

            await queue.consume(ignore)
            await asyncio.to_thread(check)

    def refused() -> None:
        with pytest.raises(migrate.MigrationRefused, match="stop the region's services"):
            migrate.migrate(management, vhost, definitions, admin)

    asyncio.run(consumed_while(refused))
    assert _types(management, vhost)["notifications.events"] == "classic", "nothing was touched"


def test_queues_get_a_single_active_consumer_when_the_service_runs_several_processes(region, servers, run_id, unique):
    management, vhost, definitions, admin = region
    migrate.migrate(management, vhost, definitions, admin)
    main = "activities.partner-replica"
    asyncio.run(_publish(admin, main, 5, "ev"))
    settings = make_settings(servers, f"{run_id}{unique}", bus_prefix="", processes=2)
    several = topology.definitions(settings, vhost, {u["name"]: f"pw-{unique}" for u in definitions["users"]})

    moved = migrate.migrate(management, vhost, several, admin)

    declared = {q["name"]: q["arguments"] for q in management.queues_of(vhost)}
    assert declared[main]["x-single-active-consumer"] is True
    assert moved[main] == 5
    assert migrate.migrate(management, vhost, several, admin) == {}
