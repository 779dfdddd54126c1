"""Deliveries on the real broker and store, to a real SMTP server and a real HTTP receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect

from services.notifications.store import Claims
from shared.events import EventType
from tests.bus import tap
from tests.conftest import auth, running
from tests.notifications_support import (  # noqa: F401 - smtp and hooks are fixtures
    activity,
    add_recipient,
    deliveries,
    event,
    fast,
    hooks,
    inbox,
    partner,
    publish,
    smtp,
    soon,
    subscribed,
    ticks,
    value,
)


@pytest.fixture
def service_settings(settings, smtp, monkeypatch):
    fast(monkeypatch)
    return settings.model_copy(update={"smtp_url": smtp.url})


async def test_scheduling_an_activity_reaches_staff_inboxes_partner_contacts_and_signed_webhooks(
        service_settings, smtp, hooks):
    async with (
        tap(service_settings, "*.notification.*") as published,
        running("notifications", service_settings) as (app, client),
    ):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina (Sosdiklih)", email="rina@kpu-bandung.go.id")
        budi = await add_recipient(client, name="Budi", email="budi@kpu-bandung.go.id", language="en",
                                subscriptions=["activity.*"])
        bored = await add_recipient(client, name="Only partners", subscriptions=["partner.registered"])
        system = await add_recipient(client, name="Dashboard Provinsi", kind="system",
                                  webhook_url=hooks.url("/sinergi"))
        assert system["webhook_secret"] and len(system["webhook_secret"]) >= 32

        kim = partner("P-KIM", "KIM Dago", contacts=[
            {"name": "Ibu Sari", "role": "ketua", "phone": "+6281234567", "email": "sari@kimdago.id"},
            {"name": "Pak Dedi", "role": "sekretaris", "phone": None, "email": "dedi@kimdago.id"},
            {"name": "Tanpa Surel", "role": "anggota", "phone": "+628111", "email": None}])
        radio = partner("P-RADIO", "Radio Komunitas Cibiru", type="media",
                        contacts=[{"name": "Mas Yoga", "role": "penyiar", "email": "yoga@radiocibiru.id"}])
        starts = datetime(2030, 11, 6, 2, 0, tzinfo=UTC)  # Rabu 6 November 2030, 09.00 WIB
        forum = activity("A-FORUM", starts.isoformat(), ends_at=(starts + timedelta(hours=2)).isoformat(),
                         partners=[{"partner_id": "P-KIM", "role": "penyelenggara"},
                                   {"partner_id": "P-RADIO", "role": "media"}])
        await publish(service_settings, event(EventType.PARTNER_REGISTERED, kim),
                      event(EventType.PARTNER_REGISTERED, radio),
                      event(EventType.ACTIVITY_PLANNED, {**forum, "status": "planned", "starts_at": None}),
                      event(EventType.ACTIVITY_SCHEDULED, forum, version=2))

        # Each subscribed staff inbox, in the recipient's language.
        rina_inbox = await soon(lambda: _scheduled(client, rina["id"]))
        assert rina_inbox["subject"] == "Kegiatan dijadwalkan: 'Forum Warga Coblong', Rabu 6 November 2030 pukul 09.00 WIB"
        assert "Tempat    : Balai RW 05" in rina_inbox["body"]
        assert "KIM Dago (penyelenggara)" in rina_inbox["body"]
        budi_inbox = await soon(lambda: _scheduled(client, budi["id"]))
        assert budi_inbox["subject"] == "Scheduled: 'Forum Warga Coblong', Wednesday 6 November 2030 at 09:00 WIB"
        assert [n["rule"] for n in await inbox(client, bored["id"])] == ["partner.registered"] * 2

        # Invitations to every partner contact with an e-mail address, and the staff e-mails
        # (Rina: two partners registered and the activity; Budi: the activity only).
        await soon(lambda: value(len(smtp.messages) == 7))
        assert len(smtp.to("rina@kpu-bandung.go.id")) == 3 and len(smtp.to("budi@kpu-bandung.go.id")) == 1
        invitation = smtp.to("sari@kimdago.id")[0]
        assert invitation["Subject"] == "Undangan: Forum Warga Coblong, Rabu 6 November 2030 pukul 09.00 WIB"
        text = invitation.get_content()
        assert text.startswith("Yth. Ibu Sari,")
        assert "KPU Kota Bandung mengundang KIM Dago sebagai penyelenggara" in text
        assert "Waktu     : Rabu 6 November 2030, pukul 09.00–11.00 WIB" in text
        assert "mengundang Radio Komunitas Cibiru sebagai mitra media" in smtp.to("yoga@radiocibiru.id")[0].get_content()
        assert len(smtp.to("dedi@kimdago.id")) == 1
        [staff_mail] = [m for m in smtp.to("rina@kpu-bandung.go.id") if m["X-Sinergi-Rule"] == "activity.scheduled"]
        assert staff_mail["Subject"] == rina_inbox["subject"]
        assert staff_mail["X-Sinergi-Delivery"] == rina_inbox["delivery"]["email"]["id"]

        # The system's webhook: signed with its secret, with a delivery id to dedupe on.
        hook = await soon(lambda: value([h for h in hooks.to("/sinergi")
                                                if h.json["rule"] == "activity.scheduled"]))
        assert hook[0].signed_with(system["webhook_secret"])
        assert not hook[0].signed_with("another secret of enough length")
        body = hook[0].json
        assert hook[0].headers["x-sinergi-delivery"] == body["id"]
        assert hook[0].headers["content-type"] == "application/json"
        assert body["data"]["activity"]["id"] == "A-FORUM" and body["recipient_id"] == system["id"]
        assert body["subject"].startswith("Kegiatan dijadwalkan: 'Forum Warga Coblong'")

        # Each delivery's outcome is on the notification and on the bus.
        async def delivered():
            found = await _scheduled(client, rina["id"])
            return found and found["delivery"]["email"]["status"] == "sent" and found
        assert (await soon(delivered))["delivery"]["inbox"]["status"] == "sent"
        # 7 e-mails and 3 webhooks (two partners registered, the activity).
        await soon(lambda: value(len([e for e in published if e["type"] == "sinergi.notification.sent"]) == 10))
        sent = [e for e in published if e["data"]["rule"] == "activity.scheduled"]
        assert sorted(e["data"]["channel"] for e in sent) == ["email"] * 5 + ["webhook"]
        assert all(e["subject"] == e["data"]["id"] and e["data"]["delivery"]["status"] == "sent" for e in sent)


async def _scheduled(client, recipient_id):
    items = await inbox(client, recipient_id)
    return next((n for n in items if n["rule"] == "activity.scheduled"), None)


async def test_the_same_event_twice_makes_one_notification_and_one_email(service_settings, smtp):
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Rina", email="rina@kpu-bandung.go.id")
        registered = event(EventType.PARTNER_REGISTERED, partner("P-1", "Komunitas Seni Braga"))
        await publish(service_settings, registered, registered)
        again = registered.model_copy(update={"id": "another-id-same-version"})
        await publish(service_settings, again)
        stats = app.state.infra.queues[0].stats
        await soon(lambda: value(stats["processed"] + stats["duplicates"] == 3))
        await soon(lambda: value(smtp.messages))
        assert len(await inbox(client, staff["id"])) == 1
        assert app.state.infra.queues[0].stats["duplicates"] == 1
        await soon(lambda: value(
            app.state.scheduler.ticks > 3 and not app.state.scheduler._inflight))
        assert len(smtp.messages) == 1


async def test_an_email_whose_claim_lost_its_answer_goes_out_at_the_next_look(settings, smtp, monkeypatch):
    """The store applied the insert of an attempt's claim and the connection went before its
    answer (the store stopped mid-write). The e-mail goes out at the next look, once. It waited the
    whole lease (120 s by default) as if another process held the claim, then ended dead, not sent,
    as an e-mail that may have gone out."""
    fast(monkeypatch, SINERGI_NOTIFY_LEASE_SECONDS="120")
    take = Claims.take
    cut: list[str] = []

    async def answer_lost(self, claim_id, owner, at):
        taken = await take(self, claim_id, owner, at)
        if claim_id.startswith("delivery:") and not cut:
            cut.append(claim_id)
            raise AutoReconnect("connection closed")
        return taken

    monkeypatch.setattr(Claims, "take", answer_lost)
    async with running("notifications", settings.model_copy(update={"smtp_url": smtp.url})) as (app, client):
        await soon(lambda: subscribed(app))
        await add_recipient(client, name="Rina", email="rina@kpu-bandung.go.id")
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
        [sent] = await soon(lambda: deliveries(client, status="sent", channel="email"))
        assert cut == [f"delivery:{sent['id']}@1"]
        assert [m["X-Sinergi-Delivery"] for m in smtp.messages] == [sent["id"]]


async def test_a_delivery_stored_again_after_it_was_sent_is_not_sent_again_by_the_process_that_sent_it(
        service_settings, smtp):
    """The claim of an attempt, taken when it was sent, is what keeps an e-mail from going out twice
    should its delivery be stored again after it moved to the log (a rerun of its cause racing the
    move, on a store without transactions). The two-process steady stream saw an e-mail twice when
    the process that had sent it took its own claim for a free one."""
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        await add_recipient(client, name="Rina", email="rina@kpu-bandung.go.id")
        await publish(service_settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
        [sent] = await soon(lambda: deliveries(client, status="sent", channel="email"))
        store = app.state.deliveries
        logged = await soon(lambda: store.log.find_one({"_id": sent["id"]}))
        again = {**logged, "status": "pending", "attempts": 0, "version": 1, "history": [], "sent_at": None,
                 "next_attempt_at": datetime.now(UTC)}
        assert await store.add_new([again], check_log=False) == {sent["id"]}
        app.state.scheduler.hand([again])
        await ticks(app, 4)
        assert [m["X-Sinergi-Delivery"] for m in smtp.messages] == [sent["id"]], "the e-mail went out twice"


async def test_inbox_newest_first_unread_filter_mark_read_and_pages(service_settings):
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Rina")
        base = datetime(2030, 1, 1, tzinfo=UTC)
        await publish(service_settings, *[event(EventType.PARTNER_REGISTERED, partner(
            f"P-{i}", f"Mitra {i}", updated_at=(base + timedelta(minutes=i)).isoformat())) for i in (0, 3, 1, 4, 2)])
        items = await soon(lambda: _async_items(client, staff["id"], 5))
        assert [n["subject"] for n in items] == [f"Mitra baru: Mitra {i}" for i in (4, 3, 2, 1, 0)]
        assert all(n["read_at"] is None for n in items)

        read = await client.post(f"/inbox/{staff['id']}/{items[0]['id']}/read", headers=auth("admin"))
        assert read.status_code == 200 and read.json()["read_at"] is not None
        again = await client.post(f"/inbox/{staff['id']}/{items[0]['id']}/read", headers=auth("admin"))
        assert again.json()["read_at"] == read.json()["read_at"]
        unread = await inbox(client, staff["id"], unread="true")
        assert [n["id"] for n in unread] == [n["id"] for n in items[1:]]

        first = await client.get(f"/inbox/{staff['id']}", params={"limit": 2}, headers=auth("admin"))
        second = await client.get(f"/inbox/{staff['id']}", params={"limit": 2, "cursor": first.json()["next_cursor"]},
                                  headers=auth("admin"))
        assert [n["id"] for n in first.json()["items"] + second.json()["items"]] == [n["id"] for n in items[:4]]

        missing = await client.post(f"/inbox/{staff['id']}/nope/read", headers=auth("admin"))
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert (await client.get("/inbox/no-such-recipient", headers=auth("admin"))).status_code == 404
        assert (await client.get(f"/inbox/{staff['id']}")).status_code == 401


async def _async_items(client, recipient_id, n):
    items = await inbox(client, recipient_id)
    return items if len(items) == n else None


async def test_a_webhook_that_fails_twice_gets_the_message_on_the_third_attempt(service_settings, hooks):
    hooks.fail_first["/flaky"] = 2
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        system = await add_recipient(client, name="Flaky", kind="system", webhook_url=hooks.url("/flaky"))
        await publish(service_settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
        await soon(lambda: value(len(hooks.to("/flaky")) == 3))
        attempts = hooks.to("/flaky")
        assert [h.status for h in attempts] == [503, 503, 200]
        assert len({h.headers["x-sinergi-delivery"] for h in attempts}) == 1
        assert len({h.body for h in attempts}) == 1
        assert [h.headers["x-sinergi-attempt"] for h in attempts] == ["1", "2", "3"]
        assert all(h.signed_with(system["webhook_secret"]) for h in attempts)
        gaps = [(b.at - a.at).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
        assert all(gap >= 0.05 for gap in gaps)  # backoff 0.1 s, jitter down to half

        delivery_id = attempts[0].headers["x-sinergi-delivery"]

        async def sent():
            found = await client.get(f"/deliveries/{delivery_id}", headers=auth("operator"))
            return found.json()["status"] == "sent" and found.json()
        done = await soon(sent)
        assert done["attempts"] == 3
        assert [h["outcome"] for h in done["history"]] == ["failed", "failed", "sent"]
        assert "HTTP 503" in done["history"][0]["error"]


async def test_a_webhook_that_always_fails_ends_dead_and_can_be_retried_by_hand(service_settings, hooks):
    hooks.always_fail.add("/down")
    async with (
        tap(service_settings, "*.notification.*") as published,
        running("notifications", service_settings) as (app, client),
    ):
        await soon(lambda: subscribed(app))
        await add_recipient(client, name="Down", kind="system", webhook_url=hooks.url("/down"))
        await publish(service_settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))

        [delivery] = await soon(lambda: deliveries(client, status="dead"))
        assert delivery["attempts"] == 3 and "HTTP 503" in delivery["last_error"]
        assert len(hooks.to("/down")) == 3
        failed = await soon(lambda: value([e for e in published if e["type"] == "sinergi.notification.failed"]))
        assert failed[0]["data"]["delivery"] == {"status": "dead", "attempts": 3, "last_error": delivery["last_error"]}

        assert (await client.post(f"/deliveries/{delivery['id']}/retry", headers=auth("operator"))).status_code == 403
        hooks.always_fail.clear()
        retried = await client.post(f"/deliveries/{delivery['id']}/retry", headers=auth("admin"))
        assert retried.status_code == 200, retried.text

        async def sent():
            found = await client.get(f"/deliveries/{delivery['id']}", headers=auth("operator"))
            return found.json()["status"] == "sent" and found.json()
        assert (await soon(sent))["attempts"] == 4
        assert [h.status for h in hooks.to("/down")] == [503, 503, 503, 200]
        again = await client.post(f"/deliveries/{delivery['id']}/retry", headers=auth("admin"))
        assert again.status_code == 409
        # The fact every other refusal names so (it was status_now here).
        assert again.json()["current_status"] == "sent" and "status_now" not in again.json()
        assert (await client.post("/deliveries/nope/retry", headers=auth("admin"))).status_code == 404
        await soon(lambda: value([e for e in published if e["type"] == "sinergi.notification.sent"]))


async def test_a_refused_email_address_is_retried_then_dead_and_listed(service_settings, smtp):
    smtp.refuse.add("gone@kpu-bandung.go.id")
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Gone", email="gone@kpu-bandung.go.id")
        await publish(service_settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))

        [delivery] = await soon(lambda: deliveries(client, status="dead", channel="email"))
        assert "refused gone@kpu-bandung.go.id" in delivery["last_error"]

        async def shown_dead():  # the notification's copy is a second write, a moment after the delivery's
            [note] = await inbox(client, staff["id"])
            return note["delivery"]["email"]["status"] == "dead" and note
        note = await soon(shown_dead)
        assert note["delivery"]["inbox"]["status"] == "sent"


async def test_a_delivery_queued_before_its_recipient_was_fixed_goes_to_the_recipient_as_fixed(service_settings,
                                                                                               smtp):
    """Each attempt reads the recipient as it is then: an e-mail that failed to an old address goes,
    once the admin fixed the recipient and retried it, to the new address under the new name."""
    smtp.refuse.add("budi@kpu-bandung.go.id")
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        budi = await add_recipient(client, name="Budi", email="budi@kpu-bandung.go.id")
        await publish(service_settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))

        [delivery] = await soon(lambda: deliveries(client, status="dead"))
        fixed = await client.patch(f"/recipients/{budi['id']}", headers=auth("admin"),
                                   json={"name": "Budi Santoso", "email": "budi.santoso@kpu-bandung.go.id"})
        assert fixed.status_code == 200, fixed.text
        assert (await client.post(f"/deliveries/{delivery['id']}/retry", headers=auth("admin"))).status_code == 200

        [mail] = await soon(lambda: value(smtp.to("budi.santoso@kpu-bandung.go.id")))
        assert mail["To"].addresses[0].display_name == "Budi Santoso"

        async def sent():
            found = (await client.get(f"/deliveries/{delivery['id']}", headers=auth("operator"))).json()
            return found["status"] == "sent" and found
        done = await soon(sent)
        assert (done["to"], done["to_name"]) == ("budi.santoso@kpu-bandung.go.id", "Budi Santoso")
        assert [h["to"] for h in done["history"]] == ["budi@kpu-bandung.go.id"] * 3 + ["budi.santoso@kpu-bandung.go.id"]


async def test_a_name_an_older_version_stored_with_a_line_break_no_longer_stops_its_emails(service_settings, smtp,
                                                                                           mongo):
    """Names with a line break were accepted before they were refused, and a header with one is
    refused by the mail library: every e-mail to such a recipient failed. The name is put on one
    line, and nothing of it becomes a header of its own."""
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", email="rina@kpu-bandung.go.id")
        # As an older version stored it.
        await mongo[service_settings.database_name("notifications")]["recipients"].update_one(
            {"_id": rina["id"]}, {"$set": {"name": "Rina\r\nBcc: lurker@evil.example"}})
        await publish(service_settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))

        [mail] = await soon(lambda: value(smtp.to("rina@kpu-bandung.go.id")))
        [to] = mail["To"].addresses
        assert (to.display_name, to.addr_spec) == ("Rina Bcc: lurker@evil.example", "rina@kpu-bandung.go.id")
        assert mail["Bcc"] is None and len(smtp.messages) == 1
