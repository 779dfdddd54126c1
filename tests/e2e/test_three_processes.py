"""The three services as separate processes, talking only over RabbitMQ."""

from __future__ import annotations

import httpx

from tests.conftest import auth, eventually


async def test_a_partner_registered_over_http_appears_in_the_activities_replica_within_a_second(processes):
    notifications = processes("notifications")
    activities = processes("activities")
    partners = processes("partners")

    async with httpx.AsyncClient(timeout=5) as client:
        for service in (partners, activities, notifications):
            ready = await client.get(service.url + "/readyz")
            assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}

        created = await client.post(partners.url + "/partners", headers=auth(),
                                    json={"name": "Komunitas Seni Braga", "type": "ormas_komunitas",
                                          "region": "32.73"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]

        async def known():
            response = await client.get(f"{activities.url}/replica/partners/{partner_id}", headers=auth("viewer"))
            return response.status_code == 200

        await eventually(known, timeout=1.0)
