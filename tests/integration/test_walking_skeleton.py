"""A partner registered over HTTP travels as an event to the other two services."""

from __future__ import annotations

import jsonschema

from tests.bus import tap
from tests.cloudevents import CLOUDEVENT_SCHEMA
from tests.conftest import auth, eventually, running
from tests.notifications_support import subscribed


async def test_a_registered_partner_reaches_the_activities_replica_and_a_staff_inbox(settings):
    async with (
        tap(settings) as published,
        running("notifications", settings) as (notifications_app, notifications),
        running("activities", settings) as (activities_app, activities),
        running("partners", settings) as (_, partners),
    ):
        # A service subscribes once it reached the broker, after it started: an event published before
        # its queue is bound goes to sinergi.unrouted, not to it (in production `sinergi up` declares the
        # queues first). Declaring the quorum queues and their retry rungs took over a second in CI.
        for app in (notifications_app, activities_app):
            await eventually(lambda: subscribed(app), timeout=30.0)  # noqa: B023 - awaited at once
        staff = await notifications.post("/recipients", json={"name": "Staf Sosdiklih", "kind": "staff"},
                                         headers=auth("admin"))
        assert staff.status_code == 201, staff.text

        created = await partners.post("/partners", headers=auth(),
                                      json={"name": "KIM Sekarbela", "type": "kim", "region": "32.73"})
        assert created.status_code == 201, created.text
        partner = created.json()
        assert created.headers["etag"] == '"1"'

        async def in_replica():
            response = await activities.get(f"/replica/partners/{partner['id']}", headers=auth("viewer"))
            return response.status_code == 200 and response.json()

        known = await eventually(in_replica, timeout=1.0)
        assert known["name"] == "KIM Sekarbela" and known["status"] == "active" and known["version"] == 1

        async def in_inbox():
            response = await notifications.get(f"/inbox/{staff.json()['id']}", headers=auth("admin"))
            return response.json()["items"]

        inbox = await eventually(in_inbox, timeout=2.0)
        assert "KIM Sekarbela" in inbox[0]["subject"]

        await eventually(lambda: _async(len(published) >= 1))
        event = published[0]
        jsonschema.validate(event, CLOUDEVENT_SCHEMA, format_checker=jsonschema.FormatChecker())
        assert event["type"] == "sinergi.partner.registered"
        assert event["source"] == "/sinergi/32.73/partners"
        assert event["subject"] == partner["id"] and event["aggregateversion"] == 1
        assert event["region"] == "32.73" and event["datacontenttype"] == "application/json"
        assert event["data"]["name"] == "KIM Sekarbela"
        assert event["correlationid"] == created.headers["x-request-id"]


async def test_a_request_id_becomes_the_events_correlation_id(settings):
    async with tap(settings) as published, running("partners", settings) as (_, partners):
        response = await partners.post("/partners", headers={**auth(), "X-Request-ID": "req-42"},
                                       json={"name": "Diskominfo Kota Bandung", "type": "opd_diskominfo",
                                             "region": "32.73"})
        assert response.headers["x-request-id"] == "req-42"
        await eventually(lambda: _async(published))
        assert published[0]["correlationid"] == "req-42"


async def test_a_retried_post_with_the_same_idempotency_key_creates_nothing_twice(settings):
    async with tap(settings) as published, running("partners", settings) as (_, partners):
        body = {"name": "Radio Komunitas Cibiru", "type": "media", "region": "32.73"}
        first = await partners.post("/partners", json=body, headers={**auth(), "Idempotency-Key": "k-1"})
        again = await partners.post("/partners", json=body, headers={**auth(), "Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        other = await partners.post("/partners", json={**body, "name": "Other"},
                                    headers={**auth(), "Idempotency-Key": "k-1"})
        assert other.status_code == 422
        await eventually(lambda: _async(published))
        assert len([e for e in published if e["type"] == "sinergi.partner.registered"]) == 1


async def _async(value):
    return value
