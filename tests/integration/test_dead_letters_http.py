"""Dead letters over HTTP (issue 13, the console's "Antrean gagal"): `GET /events/dead-letters` lists a
service's DLQs with their depth and first messages without removing any, and
`POST /events/dead-letters/replay` puts the chosen ones back on their queue, where they are processed;
on the real broker and store."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika

from shared.consumer import H_ATTEMPT, H_ERROR, H_ERROR_TYPE, H_FAILED_AT, H_QUEUE
from shared.events import EventType, make_event
from tests.conftest import auth, eventually, running
from tests.integration.test_ops_dlq import _depth, _ok, _park

ADMIN = auth("admin")


async def _park_undecodable(settings, queue, message_id: str) -> None:  # noqa: ANN001
    """A body no consumer can read, parked as the consumer parks a poison message."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"\x00 not an event", message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             headers={H_ATTEMPT: 1, H_ERROR: "the body is not a CloudEvent",
                                      H_ERROR_TYPE: "PoisonMessage", H_QUEUE: queue.name,
                                      H_FAILED_AT: datetime.now(UTC).isoformat()}),
            routing_key=queue.dlq_name, mandatory=True)


async def test_dead_letters_are_listed_without_loss_and_a_chosen_one_replayed_and_processed(settings, unique):
    async with running("activities", settings) as (app, activities):
        await eventually(lambda: _ok(activities.get("/readyz")), timeout=10.0)
        queue = next(q for q in app.state.infra.queues if q.name.endswith("activities.partner-replica"))
        partner_id = f"p-dl-{unique}"
        now = datetime.now(UTC).isoformat()
        event = make_event(EventType.PARTNER_REGISTERED, region="32.73", service="partners", subject=partner_id,
                           version=1, data={"id": partner_id, "version": 1, "name": "Karang Taruna Cicadas",
                                            "type": "ormas_komunitas", "region": "32.73", "status": "active",
                                            "created_at": now, "updated_at": now})
        await _park_undecodable(settings, queue, f"junk-{unique}")
        await _park(settings, queue, event)

        assert (await activities.get("/events/dead-letters", headers=auth("operator"))).status_code == 403
        listed = await activities.get("/events/dead-letters", headers=ADMIN)
        assert listed.status_code == 200, listed.text
        mine = next(q for q in listed.json()["queues"] if q["queue"] == queue.name)
        assert mine["dlq"] == queue.dlq_name and mine["depth"] == 2
        junk, real = mine["messages"]
        assert junk["event_id"] == f"junk-{unique}" and junk["type"] == "(not a CloudEvent)"
        assert junk["error_type"] == "PoisonMessage" and junk["error"] == "the body is not a CloudEvent"
        assert real["event_id"] == event.id and real["type"] == "sinergi.partner.registered"
        assert real["subject"] == partner_id and real["error"] == "the partner replica was unreachable"
        assert real["attempts"] == 3 and real["failed_at"]
        assert await _depth(settings, queue.dlq_name) == 2  # looking removed nothing
        again = (await activities.get("/events/dead-letters?peek=1", headers=ADMIN)).json()
        assert [m["event_id"] for q in again["queues"] if q["queue"] == queue.name for m in q["messages"]] == [junk["event_id"]]

        body = {"queue": queue.dlq_name, "event_ids": [event.id]}
        assert (await activities.post("/events/dead-letters/replay", headers=auth("operator"), json=body)).status_code == 403
        elsewhere = await activities.post("/events/dead-letters/replay", headers=ADMIN, json={"queue": "nowhere"})
        assert elsewhere.status_code == 422
        replayed = await activities.post("/events/dead-letters/replay", headers=ADMIN, json=body)
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["replayed"] == 1 and replayed.json()["items"][0]["event_id"] == event.id

        async def in_replica():
            response = await activities.get(f"/replica/partners/{partner_id}", headers=auth("viewer"))
            return response.status_code == 200 and response.json()

        known = await eventually(in_replica, timeout=10.0)
        assert known["name"] == "Karang Taruna Cicadas"
        assert await _depth(settings, queue.dlq_name) == 1  # the undecodable one stays parked
        left = (await activities.get("/events/dead-letters", headers=ADMIN)).json()
        assert [m["event_id"] for q in left["queues"] if q["queue"] == queue.name for m in q["messages"]] == [junk["event_id"]]
