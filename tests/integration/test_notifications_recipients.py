"""Managing recipients over HTTP (admin only): validation, secrets shown once, versions, removal; metrics."""

from __future__ import annotations

from shared.events import EventType
from tests.conftest import auth, running
from tests.notifications_support import add_recipient, event, fast, partner, publish, soon, subscribed

ADMIN = auth("admin")


async def test_recipients_are_managed_by_admins_and_a_webhook_secret_is_shown_only_once(settings, monkeypatch):
    fast(monkeypatch)
    async with running("notifications", settings) as (_, client):
        created = await client.post("/recipients", headers={**ADMIN, "Idempotency-Key": "rcp-1"}, json={
            "name": "Dashboard Provinsi Jawa Barat", "kind": "system", "webhook_url": "https://dashboard.example/hook",
            "subscriptions": ["sinergi.activity.scheduled", "activity.reminder"], "regions": ["32.73"]})
        assert created.status_code == 201, created.text
        system = created.json()
        assert created.headers["etag"] == '"1"' and created.headers["location"] == f"/recipients/{system['id']}"
        assert system["subscriptions"] == ["activity.scheduled", "activity.reminder"]
        assert system["channels"] == ["inbox", "webhook"] and system["language"] == "id"
        secret = system["webhook_secret"]
        assert len(secret) >= 32 and system["webhook_secret_set"] is True
        again = await client.post("/recipients", headers={**ADMIN, "Idempotency-Key": "rcp-1"}, json={
            "name": "Dashboard Provinsi Jawa Barat", "kind": "system", "webhook_url": "https://dashboard.example/hook",
            "subscriptions": ["sinergi.activity.scheduled", "activity.reminder"], "regions": ["32.73"]})
        assert again.json()["id"] == system["id"]

        read = (await client.get(f"/recipients/{system['id']}", headers=ADMIN)).json()
        assert read["webhook_secret"] is None and read["webhook_secret_set"] is True
        listed = (await client.get("/recipients", params={"kind": "system"}, headers=ADMIN)).json()
        assert [r["id"] for r in listed["items"]] == [system["id"]] and listed["next_cursor"] is None
        assert all(r["webhook_secret"] is None for r in listed["items"])

        staff = (await client.post("/recipients", headers=ADMIN, json={
            "name": "Rina", "kind": "staff", "email": "rina@kpu-bandung.go.id", "language": "en"})).json()
        assert staff["webhook_secret"] is None and staff["webhook_secret_set"] is False
        assert staff["channels"] == ["inbox", "email"] and staff["subscriptions"] == []

        stale = await client.patch(f"/recipients/{system['id']}", headers={**ADMIN, "If-Match": '"7"'},
                                   json={"name": "x"})
        assert stale.status_code == 412
        rotated = await client.patch(f"/recipients/{system['id']}", headers={**ADMIN, "If-Match": '"1"'},
                                     json={"rotate_webhook_secret": True, "language": "en"})
        assert rotated.status_code == 200 and rotated.headers["etag"] == '"2"'
        assert rotated.json()["webhook_secret"] not in (None, secret) and rotated.json()["language"] == "en"
        renamed = await client.patch(f"/recipients/{system['id']}", headers=ADMIN, json={"name": "Dashboard Jabar"})
        assert renamed.json()["webhook_secret"] is None and renamed.json()["version"] == 3
        unhooked = await client.patch(f"/recipients/{system['id']}", headers=ADMIN, json={"webhook_url": None})
        assert unhooked.json()["webhook_secret_set"] is False and unhooked.json()["channels"] == ["inbox"]
        for field in ("name", "language"):  # null is not "leave it": it would leave nothing to send to
            nulled = await client.patch(f"/recipients/{system['id']}", headers=ADMIN, json={field: None})
            assert nulled.status_code == 422 and nulled.json()["errors"][0]["field"] == field, nulled.text
        assert (await client.get(f"/recipients/{system['id']}", headers=ADMIN)).json()["name"] == "Dashboard Jabar"

        removed = await client.delete(f"/recipients/{staff['id']}", headers=ADMIN)
        assert removed.status_code == 204
        assert (await client.get(f"/recipients/{staff['id']}", headers=ADMIN)).status_code == 404
        assert (await client.get(f"/inbox/{staff['id']}", headers=ADMIN)).status_code == 404


async def test_recipients_refuse_bad_input_and_anyone_but_an_admin(settings, monkeypatch):
    fast(monkeypatch)
    async with running("notifications", settings) as (_, client):
        cases = {
            "email": {"name": "x", "kind": "staff", "email": "not-an-address"},
            "subscriptions[0]": {"name": "x", "kind": "staff", "subscriptions": ["activity.held"]},
            "regions[0]": {"name": "x", "kind": "staff", "regions": ["Bandung"]},
            "kind": {"name": "x", "kind": "partner"},
            "language": {"name": "x", "kind": "staff", "language": "jv"},
            "webhook_url": {"name": "x", "kind": "system", "webhook_url": "ftp://x"},
            "webhook_secret": {"name": "x", "kind": "system", "webhook_url": "https://x.example", "webhook_secret": "short"},
            "colour": {"name": "x", "kind": "staff", "colour": "red"},
        }
        for field, body in cases.items():
            response = await client.post("/recipients", headers=ADMIN, json=body)
            assert response.status_code == 422, (field, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert any(e["field"].startswith(field) for e in response.json()["errors"]), (field, response.json())

        body = {"name": "x", "kind": "staff"}
        assert (await client.post("/recipients", json=body)).status_code == 401
        assert (await client.post("/recipients", json=body, headers=auth("operator"))).status_code == 403
        assert (await client.post("/recipients", json=body, headers=auth("admin", ["33.16"]))).status_code == 403
        assert (await client.get("/recipients", headers=auth("viewer"))).status_code == 403
        assert (await client.get("/deliveries", headers=auth("viewer"))).status_code == 403
        assert (await client.get("/deliveries", headers=auth("operator"))).json() == {"items": [], "next_cursor": None}
        jobs = (await client.get("/jobs", params={"kind": "digest"}, headers=auth("viewer"))).json()["items"]
        assert [j["kind"] for j in jobs] == ["digest"] and jobs[0]["due_local"].endswith("T07:00:00+07:00")


async def test_metrics_count_notifications_and_deliveries(settings, monkeypatch):
    fast(monkeypatch)
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        await add_recipient(client, name="Rina")
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))

        async def counted():
            text = (await client.get("/metrics")).text
            return 'sinergi_notifications_total{rule="partner.registered"} 1.0' in text
        await soon(counted)


async def test_a_name_with_a_line_break_or_another_control_character_is_refused_naming_the_field(settings,
                                                                                                 monkeypatch):
    """A recipient's name goes into the To header of its e-mails, where a line break made every
    e-mail to it fail; it is refused where the admin can fix it."""
    fast(monkeypatch)
    async with running("notifications", settings) as (_, client):
        rina = await add_recipient(client, name="Rina", email="rina@kpu-bandung.go.id")
        for name in ("Rina\r\nBcc: lurker@evil.example", "Rina\nSosdiklih", "Rina\tSosdiklih", "Rina\x1b[31m",
                     "Rina\x85", "Rina\u2028Bcc: lurker@evil.example"):
            for response in (await client.post("/recipients", headers=ADMIN, json={"name": name, "kind": "staff"}),
                             await client.patch(f"/recipients/{rina['id']}", headers=ADMIN, json={"name": name})):
                assert response.status_code == 422, (name, response.text)
                assert [e["field"] for e in response.json()["errors"]] == ["name"], response.json()
                assert "control characters" in response.json()["errors"][0]["message"]
        assert (await client.get(f"/recipients/{rina['id']}", headers=ADMIN)).json()["name"] == "Rina"
        assert (await client.post("/recipients", headers=ADMIN,
                                  json={"name": "Ibu Siti Nurhaliza, S.Sos. (Divisi Sosdiklih)", "kind": "staff"}
                                  )).status_code == 201
