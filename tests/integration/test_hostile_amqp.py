"""Hostile AMQP messages on every consumer queue: malformed, undecodable, wrongly typed, oversized, of
another region → parked in ``<queue>.dlq`` at once with the reason in its headers, nothing stored,
and the consumer keeps going (a good event after them is processed, without waiting)."""

from __future__ import annotations

import json
import re
import time

import aio_pika
import pytest

from tests.conftest import auth, eventually, running
from tests.integration.test_activities_helpers import activity_body, new_partner_id
from tests.notifications_support import event, partner, publish, subscribed
from shared.bus import topic_matches
from shared.consumer import H_ATTEMPT, H_ERROR, H_ERROR_TYPE, H_ROUTING_KEY
from shared.events import EventType
from shared.replay import REPLAY_HEADER

SERVICES_WITH_QUEUES = ["activities", "notifications"]  # partners consumes nothing


def _valid_shape() -> dict:
    return json.loads(event(EventType.PARTNER_REGISTERED, partner("p-shape")).to_wire())


def malformed_bodies() -> dict[str, bytes]:
    shaped = _valid_shape()
    wrong_types = {**shaped, "id": "01HOSTILE0000000000000001", "specversion": 1, "source": ["x"], "time": "yesterday"}
    no_data = {k: v for k, v in shaped.items() if k != "data"} | {"id": "01HOSTILE0000000000000004"}
    return {
        "empty": b"",
        "not JSON": b"nama=KIM Sekarbela",
        "invalid UTF-8": b'{"specversion": "1.0", "id": "\xff\xfe"}',
        "JSON null": b"null",
        "JSON list": b"[1, 2, 3]",
        "JSON but not a CloudEvent": b'{"hello": "world"}',
        "wrong types": json.dumps(wrong_types).encode(),
        "no data": json.dumps(no_data).encode(),
        "deeply nested": b"[" * 50_000 + b"]" * 50_000,
        "oversized garbage (5 MiB)": b'{"specversion": "' + b"x" * (5 << 20) + b'"}',
    }


def wrongly_shaped_data() -> dict[str, bytes]:
    shaped = _valid_shape()
    wrong = {**shaped, "id": "01HOSTILE0000000000000002", "data": {"id": 5, "name": {"$gt": ""}, "status": ["active"]}}
    return {"data of the wrong shape, with a $ key": json.dumps(wrong).encode()}


def oversized_event() -> dict[str, bytes]:
    shaped = _valid_shape()
    big = {**shaped, "id": "01HOSTILE0000000000000005", "data": {**shaped["data"], "name": "x" * (5 << 20)}}
    return {"well-formed event of 5 MiB": json.dumps(big).encode()}


async def _depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    return (await channel.declare_queue(name, passive=True)).declaration_result.message_count


async def _counts(db) -> dict[str, int]:  # noqa: ANN001
    names = sorted(n for n in await db.list_collection_names() if not n.startswith("system."))
    return {name: await db[name].count_documents({}) for name in names}


async def _hostile(service: str, settings, bodies: dict[str, bytes], timeout: float = 60.0) -> None:  # noqa: ANN001
    async with running(service, settings) as (app, _client):
        await eventually(lambda: subscribed(app), timeout=30.0)
        queues = app.state.infra.queues
        assert queues, f"{service} declares no consumer queue"
        db = app.state.infra.db
        before = await _counts(db)
        connection = await aio_pika.connect(settings.rabbitmq_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            for queue in queues:
                for name, body in bodies.items():
                    await channel.default_exchange.publish(
                        aio_pika.Message(body, content_type="application/cloudevents+json", message_id=name,
                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue.name, mandatory=True,
                    )

            async def all_parked() -> bool:
                depths = [await _depth(channel, q.dlq_name) for q in queues]
                print("depths", depths, [q.stats for q in queues])  # noqa: T201 - shown on failure
                # the consumer counts a parked message just after the broker has it: wait for both
                counted = all(q.stats["dead"] >= len(bodies) for q in queues)
                return all(d >= len(bodies) for d in depths) and counted and depths

            depths = await eventually(all_parked, timeout=timeout, interval=0.2)
            assert depths == [len(bodies)] * len(queues), depths  # each once: parked, not retried
            for queue in queues:
                assert queue.stats["dead"] == len(bodies), queue.stats
                assert queue.stats["retried"] == 0, f"a hostile message was retried as if transient: {queue.stats}"
                assert queue.stats["processed"] == 0, queue.stats
            assert await _counts(db) == before, "a hostile message changed the data"

            # the consumer is still alive: a good event after them is processed on every queue that
            # hears it (activities.invitations hears invitation answers, not partners)
            good = event(EventType.PARTNER_REGISTERED, partner("p-after-hostile"))
            hearing = [q for q in queues if any(topic_matches(key, good.routing_key) for key in q.binding_keys)]
            assert hearing, f"no queue of {service} hears {good.routing_key}"
            await publish(settings, good)

            async def processed() -> bool:
                return all(q.stats["processed"] >= 1 for q in hearing)

            await eventually(processed, timeout=60.0, interval=0.2)
            for queue in queues:
                assert await _depth(channel, queue.name) == 0
                assert await _depth(channel, queue.dlq_name) == len(bodies)  # nothing more parked
                parked = await channel.declare_queue(queue.dlq_name, passive=True)
                sample = await parked.get(no_ack=False, timeout=10)
                assert sample is not None and sample.headers  # the failure is recorded in the headers
                await sample.nack(requeue=True)


@pytest.mark.parametrize("service", SERVICES_WITH_QUEUES)
async def test_malformed_messages_are_dead_lettered_and_the_consumer_keeps_going(service, settings):
    await _hostile(service, settings, malformed_bodies())


@pytest.mark.parametrize("service", SERVICES_WITH_QUEUES)
async def test_an_event_whose_data_breaks_its_schema_is_parked_at_once(service, settings):
    await _hostile(service, settings, wrongly_shaped_data(), timeout=20.0)


@pytest.mark.parametrize("service", SERVICES_WITH_QUEUES)
async def test_an_oversized_well_formed_event_is_parked(service, settings):
    await _hostile(service, settings, oversized_event(), timeout=20.0)


# --- messages FastStream could not decode, and retry headers not of ours ------------------------

CLOUDEVENT = "application/cloudevents+json"
STRAIGHT_INTO_THE_QUEUE = True  # through the default exchange, as a retry queue or a DLQ replay puts it back


def undecodable() -> dict[str, tuple[aio_pika.Message, str, bool]]:
    """Each kind: the message, what the reason in its DLQ headers names, and whether it goes straight
    into the queue (else through ``sinergi.events`` on ``3273.partner.registered``)."""
    def good_body(name: str) -> bytes:
        return event(EventType.PARTNER_REGISTERED, partner(new_partner_id(), name)).to_wire()

    return {
        "not JSON under application/json": (
            aio_pika.Message(b"nama=KIM Sekarbela", content_type="application/json"),
            "not a Sinergi CloudEvent", False),
        "not JSON under application/json; charset": (
            aio_pika.Message(b"{nama", content_type="application/json; charset=utf-8"),
            "not a Sinergi CloudEvent", False),
        "invalid UTF-8 under text/plain": (
            aio_pika.Message(b'{"id": "\xff\xfe"}', content_type="text/plain"), "not a Sinergi CloudEvent", False),
        "retry header -10": (
            aio_pika.Message(good_body("KIM Minus"), content_type=CLOUDEVENT, headers={H_ATTEMPT: -10}),
            H_ATTEMPT, False),
        "retry header not a number": (
            aio_pika.Message(good_body("KIM Sepuluh"), content_type=CLOUDEVENT, headers={H_ATTEMPT: "ten"}),
            H_ATTEMPT, STRAIGHT_INTO_THE_QUEUE),
    }


def foreign(blora: str) -> dict[str, tuple[aio_pika.Message, str, bool]]:
    """Events of another region: claimed in the event, or in the routing key it came with."""
    claimed = event(EventType.PARTNER_REGISTERED, partner(blora, "KIM Blora", region="33.16"), region="33.16")
    retried = event(EventType.PARTNER_REGISTERED, partner(new_partner_id(), "KIM Salah Kunci"))
    replayed = event(EventType.PARTNER_REGISTERED, partner(new_partner_id(), "KIM Ulang"))
    return {
        "region 33.16 on 3273.partner.registered": (
            aio_pika.Message(claimed.to_wire(), content_type=CLOUDEVENT), "region 33.16", False),
        "back from a retry with another region's routing key": (
            aio_pika.Message(retried.to_wire(), content_type=CLOUDEVENT,
                             headers={H_ROUTING_KEY: "3316.partner.registered"}),
            "3316.partner.registered", STRAIGHT_INTO_THE_QUEUE),
        "an events replay of another region's routing key": (
            aio_pika.Message(replayed.to_wire(), content_type=CLOUDEVENT,
                             headers={REPLAY_HEADER: "3316.partner.registered"}),
            "3316.partner.registered", STRAIGHT_INTO_THE_QUEUE),
    }


async def _send(settings, message: aio_pika.Message, straight_into: str | None) -> None:  # noqa: ANN001
    """Publish as an outside client would: to ``sinergi.events``, or straight into a queue."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        if straight_into:
            exchange, key = channel.default_exchange, straight_into
        else:
            exchange, key = await channel.get_exchange(settings.exchange_name), "3273.partner.registered"
        message.delivery_mode = aio_pika.DeliveryMode.PERSISTENT
        await exchange.publish(message, routing_key=key, mandatory=True)


async def _parked(settings, queue, count: int) -> dict[str, aio_pika.abc.AbstractIncomingMessage] | None:  # noqa: ANN001
    """The messages parked in the queue's DLQ by message id, once the consumer counted ``count``."""
    if queue.stats["dead"] < count:
        return None
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.declare_queue(queue.dlq_name, passive=True)
        found = {}
        while (message := await dlq.get(no_ack=True, fail=False)) is not None:
            found[message.message_id] = message
        return found


async def _dead_in_metrics(client, queue) -> float:  # noqa: ANN001
    for line in (await client.get("/metrics")).text.splitlines():
        if found := re.fullmatch(r"sinergi_events_consumed_total\{(.*)\} ([0-9.e+]+)", line):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))
            if labels == {"queue": queue.name, "outcome": "dead"}:
                return float(found.group(2))
    return 0.0


async def _parked_and_the_next_flows(app, client, settings, kinds: dict) -> str:  # noqa: ANN001
    """Send each kind, then a good event right behind them: the good one is handled within two
    seconds, each kind is parked once with its reason and counted, and only the good one took effect.
    Returns the good partner's id."""
    [queue] = [q for q in app.state.infra.queues
               if any(topic_matches(key, f"{settings.region_digits}.partner.registered") for key in q.binding_keys)]
    for name, (message, _reason, straight) in kinds.items():
        message.message_id = name
        await _send(settings, message, queue.name if straight else None)
    good = new_partner_id()
    sent = time.monotonic()
    await publish(settings, event(EventType.PARTNER_REGISTERED, partner(good, "KIM Sesudahnya")))

    async def good_one_handled() -> bool:
        return queue.stats["processed"] >= 1

    await eventually(good_one_handled, timeout=2.0, interval=0.02)
    assert time.monotonic() - sent < 2.0
    parked = await eventually(lambda: _parked(settings, queue, len(kinds)), timeout=5.0)
    assert sorted(parked) == sorted(kinds)
    for name, (_message, reason, _straight) in kinds.items():
        assert parked[name].headers[H_ERROR_TYPE] == "PoisonMessage", (name, parked[name].headers)
        assert reason in parked[name].headers[H_ERROR], (name, parked[name].headers[H_ERROR])
    assert queue.stats["processed"] == 1 and queue.stats["retried"] == 0, queue.stats
    assert await _dead_in_metrics(client, queue) == len(kinds)
    return good


@pytest.mark.parametrize("service", SERVICES_WITH_QUEUES)
async def test_a_message_that_cannot_be_decoded_is_parked_at_once_and_the_next_waits_for_nothing(service, settings):
    """FastStream's decoder failed on these before our code ran: the message was neither acked nor
    parked, and each good event behind it waited ~10 s for its turn (with a prefetch of them, for ever)."""
    async with running(service, settings) as (app, client):
        await eventually(lambda: subscribed(app), timeout=30.0)
        await _parked_and_the_next_flows(app, client, settings, undecodable())


@pytest.mark.parametrize("service", SERVICES_WITH_QUEUES)
async def test_an_event_of_a_region_this_instance_does_not_serve_is_parked(service, settings):
    async with running(service, settings) as (app, client):
        await eventually(lambda: subscribed(app), timeout=30.0)
        await _parked_and_the_next_flows(app, client, settings, foreign(new_partner_id()))


async def test_a_partner_of_another_region_cannot_be_named_in_an_activity(settings):
    """A partner.registered of 33.16 on routing key 3273.partner.registered landed in the 32.73 replica
    and could then be named in a 32.73 activity."""
    blora = new_partner_id()
    async with running("activities", settings) as (app, client):
        await eventually(lambda: subscribed(app), timeout=30.0)
        good = await _parked_and_the_next_flows(app, client, settings, foreign(blora))
        assert (await client.get(f"/replica/partners/{blora}", headers=auth("viewer"))).status_code == 404
        refused = await client.post("/activities", headers=auth(),
                                    json=activity_body(partners=[{"partner_id": blora, "role": "mitra"}]))
        assert refused.status_code == 422 and blora in refused.text, refused.text
        taken = await client.post("/activities", headers=auth(),
                                  json=activity_body(partners=[{"partner_id": good, "role": "mitra"}]))
        assert taken.status_code == 201, taken.text
