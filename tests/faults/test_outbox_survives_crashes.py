"""No accepted write loses its event: not to a crash, not to a broker outage.

Both run on the session's private RabbitMQ node and store (``tests/faults/conftest.py``).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.bus import declare_exchanges, tap
from tests.conftest import auth, eventually
from tests.faults.conftest import START_TIMEOUT

pytestmark = pytest.mark.faults


async def test_an_event_stored_but_not_published_when_the_service_was_killed_is_published_after_restart(
    processes, settings
):
    await declare_exchanges(settings)
    # The broker is unreachable for partners, so the write is stored and its event waits in the outbox.
    activities, partners = await asyncio.gather(
        asyncio.to_thread(processes, "activities"),
        asyncio.to_thread(processes, "partners", wait_ready=False, SINERGI_RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/"))

    async with tap(settings, "*.partner.*") as published, httpx.AsyncClient(timeout=10) as client:
        created = await client.post(partners.url + "/partners", headers=auth(),
                                    json={"name": "KIM Sukajadi", "type": "kim", "region": "32.73"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]
        partners.kill()  # SIGKILL: the event was never published
        assert published == []

        partners.env["SINERGI_RABBITMQ_URL"] = settings.rabbitmq_url
        partners.start(START_TIMEOUT)

        async def known():
            response = await client.get(f"{activities.url}/replica/partners/{partner_id}", headers=auth("viewer"))
            return response.status_code == 200

        await eventually(known, timeout=30, interval=0.2)
        await asyncio.sleep(1.0)  # time for any duplicate to show (two outbox sweeps)
        assert [e["subject"] for e in published] == [partner_id], "published exactly once after the restart"


async def test_partners_registered_and_changed_while_rabbitmq_is_down_are_all_delivered_in_order_once_it_is_back(
    processes, settings, private_rabbit
):
    await declare_exchanges(settings)
    activities, partners = await asyncio.gather(asyncio.to_thread(processes, "activities"),
                                                asyncio.to_thread(processes, "partners"))
    latest: dict[str, int] = {}  # partner id → the version its last accepted write answered

    async with tap(settings, "*.partner.*", durable=True) as published, httpx.AsyncClient(timeout=10) as client:
        await asyncio.to_thread(private_rabbit.stop)
        try:
            # Ten seconds of writes while the broker is away: each second a new partner, and a
            # change to each of the two before it, so every partner has several versions.
            began = time.monotonic()
            n = 0
            while time.monotonic() - began < 10.0:
                response = await client.post(partners.url + "/partners", headers=auth(),
                                             json={"name": f"Komunitas {n}", "type": "ormas_komunitas",
                                                   "region": "32.73"})
                assert response.status_code == 201, response.text
                latest[response.json()["id"]] = response.json()["version"]
                for partner_id in list(latest)[-3:-1]:
                    response = await client.patch(f"{partners.url}/partners/{partner_id}", headers=auth(),
                                                  json={"notes": f"catatan {n}"})
                    assert response.status_code == 200, response.text
                    latest[partner_id] = response.json()["version"]
                n += 1
                await asyncio.sleep(max(0.0, began + n - time.monotonic()))  # one round a second
        finally:
            await asyncio.to_thread(private_rabbit.start)
        assert len(latest) >= 5 and max(latest.values()) >= 3, latest

        async def replica_current():
            for partner_id, version in latest.items():
                response = await client.get(f"{activities.url}/replica/partners/{partner_id}",
                                            headers=auth("viewer"))
                if response.status_code != 200 or response.json()["version"] != version:
                    return False
            return True

        await eventually(replica_current, timeout=60, interval=0.5)

        async def all_published():
            return {(e["subject"], e["aggregateversion"]) for e in published} >= {
                (partner_id, v) for partner_id, last in latest.items() for v in range(1, last + 1)}

        await eventually(all_published, timeout=15)

    by_partner: dict[str, list[int]] = {}
    seen: set[str] = set()
    for event in published:
        if event["id"] not in seen:  # a re-publish after the outage is a duplicate, not a reordering
            seen.add(event["id"])
            by_partner.setdefault(event["subject"], []).append(event["aggregateversion"])
    assert set(by_partner) == set(latest)
    for partner_id, versions in by_partner.items():
        assert versions == list(range(1, latest[partner_id] + 1)), f"{partner_id}: published in order {versions}"
