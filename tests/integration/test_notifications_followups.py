"""Notifications follow-ups (issues 14, 12, 13): chat channels in the delivery filters, partner
contacts reached by phone only, kecamatan names beside their codes. Real broker, store and SMTP;
chat providers are the local servers of tests/providers.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.events import EventType
from tests.conftest import auth, running
from tests.notifications_support import (  # noqa: F401 - smtp is a fixture
    activity,
    add_recipient,
    deliveries,
    event,
    fast,
    partner,
    publish,
    smtp,
    soon,
    subscribed,
    value,
)
from tests.providers import Providers

WIB = ZoneInfo("Asia/Jakarta")


@pytest.fixture
def providers():
    with Providers() as found:
        yield found


def chat_settings(settings, smtp, providers, monkeypatch):
    fast(monkeypatch, **providers.settings())
    return settings.model_copy(update={"smtp_url": smtp.url})


async def test_an_operator_lists_and_an_admin_retries_deliveries_by_chat_channel(
        settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    providers.unreachable.add("+6281398765432")
    providers.chats.add("111")  # the bot knows that chat only: 222 is dead
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        both = await add_recipient(client, name="Dedi", email="dedi@kpu.example", whatsapp="081398765432",
                                   telegram_chat_id="222")
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))
        await soon(lambda: value(len(smtp.to("dedi@kpu.example")) == 1))

        whatsapp = await soon(lambda: deliveries(client, recipient_id=both["id"], channel="whatsapp", status="dead"))
        telegram = await soon(lambda: deliveries(client, recipient_id=both["id"], channel="telegram", status="dead"))
        assert [d["channel"] for d in whatsapp] == ["whatsapp"] and [d["channel"] for d in telegram] == ["telegram"]
        # The filter still refuses what is no channel.
        refused = await client.get("/deliveries", params={"channel": "sms"}, headers=auth("operator"))
        assert refused.status_code == 422

        counted = await client.post("/deliveries/retry", headers=auth("admin"),
                                    json={"channel": "whatsapp", "recipient_id": both["id"], "dry_run": True})
        assert counted.status_code == 200, counted.text
        assert counted.json()["matched"] == 1
        retried = await client.post("/deliveries/retry", headers=auth("admin"),
                                    json={"channel": "telegram", "recipient_id": both["id"]})
        assert retried.status_code == 200 and retried.json()["ids"] == [telegram[0]["id"]]
        # The retry was an attempt: the bot still does not know the chat, so it is dead again.
        await soon(lambda: _attempted_twice(client, both["id"], "telegram"))


async def _attempted_twice(client, recipient_id, channel):
    found = await deliveries(client, recipient_id=recipient_id, channel=channel)
    return found and found[0]["attempts"] == 2 and found[0]["status"] == "dead"


async def test_a_partner_contact_with_a_phone_and_no_email_is_invited_on_whatsapp(
        settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        kim = partner(f"P-{unique}", "KIM Dago", contacts=[
            {"name": "Pak Ujang", "role": "ketua", "phone": "0813-2000-2222", "email": None},
            {"name": "Ibu Sari", "phone": "0813-2000-1111", "email": "sari@kimdago.id"},
            {"name": "Ibu Sari di HP", "phone": "+62 813 2000 1111", "email": None}])
        starts = datetime.now(WIB) + timedelta(days=20)
        forum = activity(f"A-{unique}", starts.isoformat(), ends_at=(starts + timedelta(hours=2)).isoformat(),
                         partners=[{"partner_id": kim["id"], "role": "penyelenggara"}])
        await publish(service, event(EventType.PARTNER_REGISTERED, kim),
                      event(EventType.ACTIVITY_SCHEDULED, forum, version=2))

        await soon(lambda: value(len(smtp.to("sari@kimdago.id")) == 1))
        calls = await soon(lambda: value(len(providers.of("whatsapp", 200)) == 2 and providers.of("whatsapp", 200)))
        by_number = {c.body["to"]: c.body["template"]["components"][0]["parameters"] for c in calls}
        # Ujang's own invitation, with his own link to answer; Sari's number once, with her e-mail's.
        assert sorted(by_number) == ["+6281320001111", "+6281320002222"]
        subject, text = (p["text"] for p in by_number["+6281320002222"])
        assert subject.startswith("Undangan") and "Pak Ujang" in text and "/invitations/" in text
        ujang = [d for d in await deliveries(client, channel="whatsapp") if d["to"] == "+6281320002222"]
        assert len(ujang) == 1 and ujang[0]["recipient_id"] is None
        await soon(lambda: value(len(providers.of("whatsapp")) == 2))


async def test_a_registered_partners_email_names_its_kecamatan_beside_the_code(settings, smtp, monkeypatch, unique):
    fast(monkeypatch)
    service = settings.model_copy(update={"smtp_url": smtp.url})
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        await add_recipient(client, name="Rina", email="rina@kpu.example", subscriptions=["partner.registered"])
        kim = partner(f"P-{unique}", "KIM Dago", district="32.73.02", district_name="Coblong",
                      village="32.73.02.1004", village_name="Dago")
        await publish(service, event(EventType.PARTNER_REGISTERED, kim))

        [mail] = await soon(lambda: value(len(smtp.to("rina@kpu.example")) == 1 and smtp.to("rina@kpu.example")))
        text = mail.get_content()
        assert "kecamatan Coblong (32.73.02), desa/kelurahan Dago (32.73.02.1004)" in text


async def test_a_batch_of_schedulings_is_one_summary_for_staff_and_each_contact_is_invited_at_once(
        settings, smtp, monkeypatch, unique):
    fast(monkeypatch, SINERGI_NOTIFY_SUMMARY_BATCH_SECONDS="1")
    service = settings.model_copy(update={"smtp_url": smtp.url})
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", email="rina@kpu.example", subscriptions=["activity.scheduled"])
        kim = partner(f"P-{unique}", "KIM Dago", contacts=[{"name": "Ibu Sari", "email": "sari@kimdago.id"}])
        starts = datetime.now(WIB) + timedelta(days=20)
        batch = [event(EventType.ACTIVITY_SCHEDULED,
                       activity(f"A-{unique}-{i}", (starts + timedelta(days=i)).isoformat(), title=f"Forum {i}",
                                partners=[{"partner_id": kim["id"], "role": "penyelenggara"}]),
                       version=2).model_copy(update={"batchid": f"b-{unique}", "batchlabel": "rencana.xlsx"})
                 for i in range(3)]
        await publish(service, event(EventType.PARTNER_REGISTERED, kim), *batch)

        invitations = await soon(lambda: value(len(smtp.to("sari@kimdago.id")) == 3 and smtp.to("sari@kimdago.id")))
        assert sorted(m["Subject"].split(":")[1].split(",")[0].strip() for m in invitations) == [
            "Forum 0", "Forum 1", "Forum 2"]
        [summary] = await soon(lambda: value(len(smtp.to("rina@kpu.example")) == 1 and smtp.to("rina@kpu.example")))
        assert "3" in summary["Subject"] and "rencana.xlsx" in summary["Subject"]
        await soon(lambda: value(app.state.scheduler.ticks > 3))
        assert len(smtp.to("rina@kpu.example")) == 1 and len(smtp.to("sari@kimdago.id")) == 3
