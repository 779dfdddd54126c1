"""Operating deliveries (issue 14 point 6): bulk retry by filter with a dry-run count, and dead
letters discarded with a reason, recorded; on the real broker, store and SMTP server."""

from __future__ import annotations

import asyncio

import pytest

from shared.events import EventType, make_event
from tests.conftest import auth, running
from tests.integration.test_ops_dlq import _depth, _park, cli_env
from tests.notifications_support import (  # noqa: F401 - smtp is a fixture
    add_recipient,
    deliveries,
    event,
    fast,
    partner,
    publish,
    smtp,
    soon,
    subscribed,
)
from tests.ops_support import sinergi

ADMIN = auth("admin")


@pytest.fixture
def service_settings(settings, smtp, monkeypatch):
    fast(monkeypatch)
    return settings.model_copy(update={"smtp_url": smtp.url})


async def test_dead_deliveries_are_counted_by_a_dry_run_then_retried_to_the_recipient_as_fixed(
        service_settings, smtp, unique):
    smtp.refuse.add("rina@old.example")
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", email="rina@old.example",
                                   subscriptions=["partner.registered"])
        await add_recipient(client, name="Budi", email="budi@kpu.example", subscriptions=["partner.registered"])
        await publish(service_settings, *[event(EventType.PARTNER_REGISTERED, partner(f"P-{i}-{unique}", f"Mitra {i}"))
                                          for i in range(3)])

        async def rinas_dead():
            dead = await deliveries(client, status="dead", recipient_id=rina["id"])
            return len(dead) == 3 and dead

        await soon(rinas_dead)
        await soon(lambda: _sent_to(smtp, "budi@kpu.example", 3))

        async def retry(**body):
            answer = await client.post("/deliveries/retry", headers=ADMIN, json=body)
            assert answer.status_code == 200, answer.text
            return answer.json()

        assert (await retry(dry_run=True))["matched"] == 3
        assert (await retry(dry_run=True, recipient_id=rina["id"], channel="email", status="dead"))["matched"] == 3
        assert (await retry(dry_run=True, channel="webhook"))["matched"] == 0
        assert (await retry(dry_run=True, until="2000-01-01T00:00:00+07:00"))["matched"] == 0
        assert (await retry(dry_run=True, since="2000-01-01T00:00:00+07:00"))["matched"] == 3
        assert await deliveries(client, status="pending") == []  # a dry run changes nothing
        refused = await client.post("/deliveries/retry", headers=auth("operator"), json={"dry_run": True})
        assert refused.status_code == 403

        fixed = await client.patch(f"/recipients/{rina['id']}", headers=ADMIN, json={"email": "rina@new.example"})
        assert fixed.status_code == 200
        done = await retry(recipient_id=rina["id"])
        assert done["matched"] == 3 and done["retried"] == 3 and done["skipped"] == []

        await soon(lambda: _sent_to(smtp, "rina@new.example", 3))
        for did in done["ids"]:
            async def logged(did=did):
                found = await client.get(f"/deliveries/{did}", headers=auth("operator"))
                return found.json()["status"] == "sent" and found.json()

            shown = await soon(logged)
            targets = [a["to"] for a in shown["history"]]  # each attempt's own target
            assert set(targets[:-1]) == {"rina@old.example"} and targets[-1] == "rina@new.example"
        assert (await retry(dry_run=True))["matched"] == 0


async def _sent_to(smtp, address, n):
    return len(smtp.to(address)) >= n


async def test_dead_letters_are_discarded_with_a_reason_by_the_api_and_the_cli_and_recorded(settings, unique):
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        queue = app.state.infra.queues[0]
        parked = [make_event(EventType.PARTNER_REGISTERED, region="32.73", service="partners",
                             subject=f"p-test-{unique}-{i}", version=1, data={"id": f"p-test-{unique}-{i}"})
                  for i in range(3)]
        for found in parked:
            await _park(settings, queue, found)
        assert await _depth(settings, queue.dlq_name) == 3

        body = {"queue": queue.dlq_name, "reason": "test events sent to production by mistake",
                "event_ids": [parked[0].id]}
        assert (await client.post("/events/dead-letters/discard", headers=auth("operator"), json=body)).status_code == 403
        no_reason = await client.post("/events/dead-letters/discard", headers=ADMIN, json={"queue": queue.name})
        assert no_reason.status_code == 422
        answer = await client.post("/events/dead-letters/discard", headers=ADMIN, json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["discarded"] == 1 and answer.json()["items"][0]["event_id"] == parked[0].id
        assert await _depth(settings, queue.dlq_name) == 2  # the others stay parked

        cli = await asyncio.to_thread(sinergi, "dlq", "discard", queue.name, "--reason", "sisa uji coba",
                                      env=cli_env(settings))
        assert cli.returncode == 0, cli.stderr
        assert f"discarded 2 message(s) from {queue.dlq_name}" in cli.stderr
        assert await _depth(settings, queue.dlq_name) == 0

        records = (await client.get("/events/dead-letters/discarded", headers=ADMIN)).json()["items"]
        assert sorted((r["event_id"], r["reason"]) for r in records) == sorted(
            [(parked[0].id, "test events sent to production by mistake"),
             (parked[1].id, "sisa uji coba"), (parked[2].id, "sisa uji coba")])
        by_api = next(r for r in records if r["event_id"] == parked[0].id)
        assert by_api["by"] == "tester" and by_api["type"] == "sinergi.partner.registered"
        assert by_api["error"] == "the partner replica was unreachable"
        assert all(r["by"].startswith("cli:") for r in records if r["event_id"] != parked[0].id)
