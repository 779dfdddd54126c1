"""No accepted write loses its event: not to a crash, not to a broker outage."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest

from tests.bus import declare_exchanges, tap
from tests.conftest import auth, eventually

pytestmark = pytest.mark.faults


async def test_an_event_stored_but_not_published_when_the_service_was_killed_is_published_after_restart(
    processes, settings
):
    await declare_exchanges(settings)
    activities = processes("activities")
    # The broker is unreachable, so the write is stored and its event waits in the outbox.
    partners = processes("partners", wait_ready=False, SINERGI_RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/")

    async with tap(settings, "*.partner.*") as published, httpx.AsyncClient(timeout=10) as client:
        created = await client.post(partners.url + "/partners", headers=auth(),
                                    json={"name": "KIM Sukajadi", "type": "kim", "region": "32.73"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]
        partners.kill()  # SIGKILL: the event was never published
        assert published == []

        partners.env["SINERGI_RABBITMQ_URL"] = settings.rabbitmq_url
        partners.start()

        async def known():
            response = await client.get(f"{activities.url}/replica/partners/{partner_id}", headers=auth("viewer"))
            return response.status_code == 200

        await eventually(known, timeout=5)
        await asyncio.sleep(1.0)  # time for any duplicate to show
        assert [e["subject"] for e in published] == [partner_id], "published exactly once after the restart"


async def test_partners_registered_while_rabbitmq_is_down_are_all_delivered_once_it_is_back(
    processes, settings, servers
):
    if not servers.rabbitmq_is_local:
        pytest.skip("stopping RabbitMQ needs the local broker (rabbitmqctl); this run uses " + servers.origin)
    await declare_exchanges(settings)
    activities = processes("activities")
    partners = processes("partners")

    async with tap(settings, "*.partner.*", durable=True) as published, httpx.AsyncClient(timeout=10) as client:
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
        ids: list[str] = []
        try:
            for n in range(10):
                response = await client.post(partners.url + "/partners", headers=auth(),
                                             json={"name": f"Komunitas {n}", "type": "ormas_komunitas",
                                                   "region": "32.73"})
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
                await asyncio.sleep(1.0)  # ten seconds of writes while the broker is away
        finally:
            subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)

        async def all_known():
            for partner_id in ids:
                response = await client.get(f"{activities.url}/replica/partners/{partner_id}",
                                            headers=auth("viewer"))
                if response.status_code != 200:
                    return False
            return True

        await eventually(all_known, timeout=30, interval=0.5)
        await eventually(lambda: _async(len({e["subject"] for e in published}) == len(ids)), timeout=15)
    by_partner: dict[str, list[int]] = {}
    for event in published:
        by_partner.setdefault(event["subject"], []).append(event["aggregateversion"])
    assert set(by_partner) == set(ids)
    assert all(versions == sorted(versions) for versions in by_partner.values())


async def _async(value):
    return value
