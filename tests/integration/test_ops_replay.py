"""POST /events/replay re-publishes a period of stored events to a subscriber's queue (admin only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aio_pika

from tests.bus import tap
from tests.conftest import auth, eventually, running


async def _drain(settings, queue: str) -> list[dict]:  # noqa: ANN001
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        found = []
        while (message := await declared.get(fail=False)) is not None:
            await message.ack()
            found.append({**json.loads(message.body), "_routing": message.headers.get("x-sinergi-replay")})
        return found


async def test_a_subscriber_that_was_away_gets_the_events_of_a_period_on_its_queue(settings, unique):
    queue = f"{settings.bus_prefix}dashboard-{unique}.events"
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection, tap(settings, "#") as published, running("partners", settings) as (_, partners):
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=False, auto_delete=True)
        start = datetime.now(UTC) - timedelta(seconds=1)
        ids = []
        for name in ("KIM Sukaluyu", "Radio Komunitas Arcamanik"):
            created = await partners.post("/partners", headers=auth(),
                                          json={"name": name, "type": "kim", "region": "32.73"})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        suspended = await partners.post(f"/partners/{ids[0]}/suspend", headers=auth(), json={"reason": "tidak aktif"})
        assert suspended.status_code == 200, suspended.text
        await eventually(lambda: _is(len(published) >= 3), timeout=5.0)

        async def logged() -> bool:
            response = await partners.post("/events/replay", headers=auth("admin"),
                                           json={"queue": queue, "from": start.isoformat(), "binding": "#"})
            return response.status_code == 200 and response.json()["replayed"] >= 3 and response.json()

        result = await eventually(logged, timeout=5.0)  # the log is written right after the broker confirmed
        got = await _drain(settings, queue)
        assert [e["id"] for e in got[-3:]] == [e["id"] for e in published[:3]]
        assert got[-1]["type"] == "sinergi.partner.suspended" and got[-1]["_routing"] == "3273.partner.suspended"
        assert result["queue"] == queue and "from" in result

        only = await partners.post("/events/replay", headers=auth("admin"),
                                   json={"queue": queue, "from": start.isoformat(), "binding": "*.partner.suspended"})
        assert only.json()["replayed"] == 1
        assert [e["type"] for e in await _drain(settings, queue)] == ["sinergi.partner.suspended"]

        later = await partners.post("/events/replay", headers=auth("admin"),
                                    json={"queue": queue, "from": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                                          "to": (datetime.now(UTC) + timedelta(hours=2)).isoformat()})
        assert later.json()["replayed"] == 0


async def test_replay_is_for_admins_and_names_what_is_wrong(settings):
    async with running("partners", settings) as (_, partners):
        body = {"queue": "nowhere", "from": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
        assert (await partners.post("/events/replay", headers=auth("operator"), json=body)).status_code == 403
        assert (await partners.post("/events/replay", json=body)).status_code == 401
        backwards = await partners.post("/events/replay", headers=auth("admin"),
                                        json={**body, "to": (datetime.now(UTC) - timedelta(days=2)).isoformat()})
        assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "from"
        created = await partners.post("/partners", headers=auth(), json={"name": "KIM X", "type": "kim", "region": "32.73"})
        assert created.status_code == 201

        async def missing_queue():
            response = await partners.post("/events/replay", headers=auth("admin"), json=body)
            return response.status_code == 404 and response

        response = await eventually(missing_queue, timeout=5.0)
        assert "nowhere" in response.json()["detail"]
        assert response.headers["content-type"].startswith("application/problem+json")

        # A name AMQP does not allow is the client's mistake (it was a 500 from the AMQP library).
        odd = await partners.post("/events/replay", headers=auth("admin"), json={**body, "queue": "antrian\u00ae!"})
        assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "queue"


async def _is(value):  # noqa: ANN001, ANN202
    return value
