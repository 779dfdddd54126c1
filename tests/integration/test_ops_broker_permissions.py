"""A region's broker definitions, generated from the code, applied to the real RabbitMQ.

Each service runs under its own broker user and does its whole job (declares and binds its
queues, publishes its events, consumes, parks a poison message); it is refused when it
touches another service's queue or publishes another service's events, or writes to the default
exchange (which reaches every queue); the read-only subscriber binds its own queue and cannot
publish.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused

from shared.bus import declare_exchanges, make_broker, service_exchange
from shared.consumer import H_ATTEMPT, EventQueue, ProcessedEvents
from shared.events import CATALOGUE, EventType, make_event, producer
from shared.serve import PORTS
from sinergi_cli.ops import topology
from sinergi_cli.regions import amqp_url
from tests.conftest import auth, eventually, make_settings, running
from tests.ops_support import local_management, scratch


@asynccontextmanager
async def channel(url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(url)
    try:
        yield await connection.channel(publisher_confirms=True)
    finally:
        await connection.close()


@pytest.fixture
def region(servers, run_id, unique):
    """A vhost with the generated definitions; yields (settings, vhost, url of each user, guest url)."""
    with scratch(local_management(servers)) as made:
        vhost = made.vhost(f"{run_id}{unique}-perm")
        settings = make_settings(servers, f"{run_id}{unique}", bus_prefix="")
        users = [topology.service_user(vhost, s) for s in PORTS] + [topology.subscriber_user(vhost)]
        passwords = {user: f"pw-{unique}-{user}" for user in users}
        made.users.extend(users)
        made.management.import_definitions(topology.definitions(settings, vhost, passwords))
        urls = {user: amqp_url(servers.rabbitmq_url, user, passwords[user], vhost) for user in users}
        admin = amqp_url(servers.rabbitmq_url, *_credentials(servers.rabbitmq_url), vhost)
        yield settings, vhost, urls, admin


def _credentials(url: str) -> tuple[str, str]:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(url)
    return unquote(parsed.username or "guest"), unquote(parsed.password or "guest")


async def test_each_service_does_its_job_with_its_own_broker_user(region):
    settings, vhost, urls, admin = region
    own = {s: settings.model_copy(update={"rabbitmq_url": urls[topology.service_user(vhost, s)]})
           for s in PORTS}
    async with AsyncExitStack() as stack:
        apps = {s: await stack.enter_async_context(running(s, own[s])) for s in
                ("notifications", "activities", "partners")}
        for service, (_, client) in apps.items():
            await eventually(lambda c=client: _ready(c), timeout=10.0)
        notifications, activities, partners = (apps[s][1] for s in ("notifications", "activities", "partners"))

        staff = await notifications.post("/recipients", json={"name": "Staf Sosdiklih", "kind": "staff"},
                                         headers=auth("admin"))
        assert staff.status_code == 201, staff.text
        created = await partners.post("/partners", headers=auth(),
                                      json={"name": "KIM Cibeunying", "type": "kim", "region": "32.73"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]

        async def in_replica():
            response = await activities.get(f"/replica/partners/{partner_id}", headers=auth("viewer"))
            return response.status_code == 200

        async def in_inbox():
            response = await notifications.get(f"/inbox/{staff.json()['id']}", headers=auth("admin"))
            return response.json().get("items")

        await eventually(in_replica, timeout=5.0)
        await eventually(in_inbox, timeout=5.0)

        # A poison message is parked by each consumer, through the default exchange its user may write.
        async with channel(admin) as ch:
            exchange = await ch.get_exchange(settings.exchange_name)
            await exchange.publish(aio_pika.Message(b"not an event"), routing_key="3273.partner.registered")

        async def parked() -> bool:
            async with channel(admin) as ch:
                counts = []
                for service in ("activities", "notifications"):
                    # Every queue that takes partner events (activities' invitations queue takes none).
                    for queue in [q for q in apps[service][0].state.infra.queues
                                  if any(".partner." in k for k in q.binding_keys)]:
                        declared = await ch.declare_queue(queue.dlq_name, passive=True)
                        counts.append(declared.declaration_result.message_count)
                return all(counts)

        await eventually(parked, timeout=5.0)

        # An administrator replays partner events, through the partners service and its own user, to
        # a subscriber's queue and to the activities queue that takes them; not to a dead-letter queue.
        subscriber = topology.subscriber_user(vhost)
        async with channel(urls[subscriber]) as ch:
            await ch.declare_queue(f"{subscriber}.replay", durable=True)
        since = {"from": "2000-01-01T00:00:00+00:00", "binding": "*.partner.registered"}
        for queue in (f"{subscriber}.replay", "activities.partner-replica"):
            replayed = await partners.post("/events/replay", headers=auth("admin"), json={"queue": queue, **since})
            assert replayed.status_code == 200 and replayed.json()["replayed"] == 1, replayed.text
        async with channel(urls[subscriber]) as ch:
            got = await eventually(lambda: _get(ch, f"{subscriber}.replay"), timeout=5.0)
            assert json.loads(got.body)["subject"] == partner_id
        refused = await partners.post("/events/replay", headers=auth("admin"),
                                      json={"queue": "activities.partner-replica.dlq", **since})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "queue", refused.text


async def _get(ch, queue: str):  # noqa: ANN001, ANN202
    message = await (await ch.declare_queue(queue, passive=True)).get(fail=False)
    if message is not None:
        await message.ack()
    return message


async def test_a_failed_event_is_retried_then_parked_under_the_services_own_user(region, mongo, unique):
    settings, vhost, urls, admin = region
    own = settings.model_copy(update={"rabbitmq_url": urls[topology.service_user(vhost, "notifications")]})
    # A queue of the notifications service (its name is within its permissions), binding what its
    # real queue binds, with a handler that fails twice and then succeeds.
    keys = topology.service_topology(settings, "notifications").queues[0].binding_keys
    queue = EventQueue.of(own, "notifications", f"retried-{unique}", [k.split(".", 1)[1] for k in keys])
    queue.processed = ProcessedEvents(mongo[own.database_name("notifications")])
    tries: dict[str, int] = {}

    async def handle(event) -> None:  # noqa: ANN001
        tries[event.subject] = tries.get(event.subject, 0) + 1
        if event.subject == "always" or tries[event.subject] <= 2:
            raise RuntimeError(f"try {tries[event.subject]} of {event.subject} fails")

    broker = make_broker(own, "notifications")
    queue.subscribe(broker, handle)
    await broker.connect()
    await declare_exchanges(broker, own)
    await queue.open(broker)
    await broker.start()
    try:
        now = datetime.now(UTC).isoformat()
        async with channel(admin) as ch:
            exchange = await ch.get_exchange(settings.exchange_name)
            for subject in ("twice", "always"):
                event = make_event(EventType.PARTNER_REGISTERED, region="32.73", service="partners", subject=subject,
                                   version=1, data={"id": subject, "name": subject, "created_at": now,
                                                    "updated_at": now})
                await exchange.publish(aio_pika.Message(event.to_wire()), routing_key=event.routing_key)
        await eventually(lambda: _is(tries.get("twice") == 3 and queue.stats["processed"] == 1), timeout=10.0)
        async with channel(admin) as ch:
            parked = await eventually(lambda: _get(ch, queue.dlq_name), timeout=10.0)
        assert json.loads(parked.body)["subject"] == "always"
        assert parked.headers[H_ATTEMPT] == 1 + len(settings.retry_delays)
    finally:
        await broker.stop()


async def _is(value):  # noqa: ANN001, ANN202
    return value


async def _ready(client) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_a_service_user_is_refused_on_another_services_queue_and_events(region):
    settings, vhost, urls, _ = region
    found = topology.topology(settings)
    for service in PORTS:
        url = urls[topology.service_user(vhost, service)]
        others = [q.name for other, part in found.items() if other != service for q in part.queues]
        for queue in others[:2]:
            with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
                async with channel(url) as ch:
                    await (await ch.declare_queue(queue, passive=True)).get(fail=False)
            with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
                async with channel(url) as ch:
                    await ch.declare_queue(queue, durable=True, arguments={"x-queue-type": "classic"})
        foreign = next(t.removeprefix("sinergi.") for t in CATALOGUE if producer(t) != service)
        with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
            async with channel(url) as ch:
                exchange = await ch.get_exchange(settings.exchange_name, ensure=False)
                await exchange.publish(aio_pika.Message(b"{}"), routing_key=f"3273.{foreign}")


async def test_the_subscriber_binds_its_own_queue_and_cannot_publish(region):
    settings, vhost, urls, admin = region
    subscriber = topology.subscriber_user(vhost)
    url = urls[subscriber]
    async with channel(url) as ch:
        queue = await ch.declare_queue(f"{subscriber}.dashboard", durable=True)
        await queue.bind(settings.exchange_name, "*.activity.*")
        async with channel(admin) as admin_ch:
            exchange = await admin_ch.get_exchange(settings.exchange_name)
            await exchange.publish(aio_pika.Message(b'{"type": "sinergi.activity.held"}'),
                                   routing_key="3273.activity.held")
        message = await eventually(lambda: queue.get(fail=False), timeout=5.0)
        await message.ack()
        assert message.routing_key == "3273.activity.held"

    for target in (settings.exchange_name, ""):
        with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
            async with channel(url) as ch:
                exchange = await ch.get_exchange(target, ensure=False) if target else ch.default_exchange
                await exchange.publish(aio_pika.Message(b"{}"), routing_key=f"{subscriber}.dashboard")
    with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
        async with channel(url) as ch:
            # Another's queue: it may not read it (a passive declare alone is not checked).
            await (await ch.declare_queue("activities.partner-replica", passive=True)).get(fail=False)


async def test_a_service_user_cannot_put_a_message_into_another_services_queue(region):
    """Not through its own exchange (it may not bind another service's retry or dead-letter queue
    there), nor through the default exchange, which reaches every queue by name."""
    settings, vhost, urls, admin = region
    found = topology.topology(settings)  # the definitions declared every queue
    for service in PORTS:
        url = urls[topology.service_user(vhost, service)]
        others = [name for other, part in found.items() if other != service for q in part.queues
                  for name in (q.name, q.dlq_name, q.retry_queue_name(q.retry_delays[0]))]
        targets = [name for name in others if name not in topology.replay_targets(settings, service, found)]
        assert targets
        for queue in targets:
            with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
                async with channel(url) as ch:
                    mine = await ch.declare_exchange(service_exchange(settings, service).name,
                                                     aio_pika.ExchangeType.DIRECT, durable=True)
                    await (await ch.declare_queue(queue, passive=True)).bind(mine, routing_key=queue)


async def test_a_service_user_may_not_publish_to_the_default_exchange(region):
    settings, vhost, urls, admin = region
    found = topology.topology(settings)
    for service in PORTS:
        url = urls[topology.service_user(vhost, service)]
        other = next(q for o, part in found.items() if o != service for q in part.queues)
        for queue in (other.name, other.dlq_name):
            with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
                async with channel(url) as ch:
                    await ch.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=queue)


def test_the_committed_definitions_are_what_the_code_generates():
    from sinergi_cli.broker import example_definitions

    for path, text in example_definitions().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.name} differs from the code: run `sinergi broker definitions --examples` and commit it")


async def test_a_committed_definitions_file_imports_with_rabbitmqctl_then_passwords_are_set(servers, run_id, unique):
    """The operator's path without the CLI: import_definitions, then change_password per user."""
    import os
    import subprocess
    import tempfile

    from tests.ops_support import ROOT

    with scratch(local_management(servers)) as made:
        vhost = f"{run_id}{unique}-file"
        text = (ROOT / "deploy" / "rabbitmq" / "33.16.json").read_text().replace("sinergi-3316", vhost)
        made.vhosts.append(vhost)
        made.users.extend(user["name"] for user in json.loads(text)["users"])
        env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
        # rabbitmqctl runs as the rabbitmq user: the file must be readable by it.
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir="/tmp", delete=False) as file:
            file.write(text)
        os.chmod(file.name, 0o644)
        try:
            imported = subprocess.run(["rabbitmqctl", "import_definitions", file.name], env=env,
                                      capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(file.name)
        assert imported.returncode == 0, imported.stderr
        queues = {q["name"] for q in made.management.queues(vhost)}
        assert {"activities.partner-replica", "activities.partner-replica.dlq"} <= queues

        user = f"{vhost}-activities"
        url = amqp_url(servers.rabbitmq_url, user, "s3cret-" + unique, vhost)
        with pytest.raises(Exception, match="ACCESS_REFUSED|authentication|Authentication"):
            await aio_pika.connect(url)  # no password until the operator sets one
        changed = subprocess.run(["rabbitmqctl", "change_password", user, "s3cret-" + unique], env=env,
                                 capture_output=True, text=True, timeout=60)
        assert changed.returncode == 0, changed.stderr
        async with channel(url) as ch:
            await (await ch.declare_queue("activities.partner-replica", passive=True)).get(fail=False)
