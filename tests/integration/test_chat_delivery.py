"""WhatsApp and Telegram deliveries on the real broker and store, against local servers that speak
each provider's documented requests and answers (tests/providers.py)."""

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
from tests.providers import GATEWAY_TOKEN, PHONE_NUMBER_ID, TELEGRAM_TOKEN, Providers

WIB = ZoneInfo("Asia/Jakarta")


@pytest.fixture
def providers():
    with Providers() as found:
        yield found


def chat_settings(settings, smtp, providers, monkeypatch, **overrides):
    fast(monkeypatch, **providers.settings(**overrides))
    return settings.model_copy(update={"smtp_url": smtp.url})


async def chat(client, recipient_id, channel, status=None):
    found = [d for d in await deliveries(client, recipient_id=recipient_id) if d["channel"] == channel]
    return [d for d in found if status is None or d["status"] == status]


async def full(client, delivery_id):
    answer = await client.get(f"/deliveries/{delivery_id}", headers=auth("operator"))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_staff_member_with_whatsapp_gets_the_template_message(settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", whatsapp="0812-3456-7890", subscriptions=["partner.registered"])
        assert rina["whatsapp"] == "+6281234567890" and rina["channels"] == ["inbox", "whatsapp"]
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))

        sent = (await soon(lambda: chat(client, rina["id"], "whatsapp", "sent")))[0]
        [call] = providers.of("whatsapp")
        assert call.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
        assert call.headers["authorization"].startswith("Bearer ")
        body = call.body
        assert body["messaging_product"] == "whatsapp" and body["type"] == "template" and body["to"] == "+6281234567890"
        assert body["template"]["name"] == "sinergi_notifikasi" and body["template"]["language"] == {"code": "id"}
        subject, text = [p["text"] for p in body["template"]["components"][0]["parameters"]]
        assert "KIM Dago" in subject and "\n" not in text
        assert body["biz_opaque_callback_data"] == sent["id"]
        logged = await full(client, sent["id"])
        assert [(h["outcome"], h["to"], h.get("message_id")) for h in logged["history"]] == [
            ("sent", "+6281234567890", "wamid.TEST0001")]
        # A wrong number is a 422 naming the field.
        wrong = await client.patch(f"/recipients/{rina['id']}", json={"whatsapp": "12345"}, headers=auth("admin"))
        assert wrong.status_code == 422 and "whatsapp" in wrong.text


async def test_a_rate_limit_is_tried_again_and_an_unreachable_number_is_dead_at_once(
        settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    providers.rate_limits = 1
    providers.unreachable.add("+6281398765432")
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        good = await add_recipient(client, name="Good", whatsapp="081234567890")
        bad = await add_recipient(client, name="Bad", whatsapp="081398765432")
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))

        sent = (await soon(lambda: chat(client, good["id"], "whatsapp", "sent")))[0]
        dead = (await soon(lambda: chat(client, bad["id"], "whatsapp", "dead")))[0]
        histories = [(await full(client, found["id"]))["history"] for found in (sent, dead)]
        limited = [[bool(h["error"] and "rate limit" in h["error"]) for h in history] for history in histories]
        # Exactly one of the two sends took the rate limit (whichever went first) and was tried again.
        assert sum(map(sum, limited)) == 1, histories
        assert histories[0][-1]["outcome"] == "sent"
        assert dead["attempts"] == len(histories[1]) == 1 + sum(limited[1])
        assert "131026" in dead["last_error"] and "+6281398765432" in dead["last_error"], "dead at once, not retried"


async def test_telegram_flood_control_retry_after_is_honoured(settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    providers.floods = [2]
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        budi = await add_recipient(client, name="Budi", telegram_chat_id="987654321")
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))

        sent = (await soon(lambda: chat(client, budi["id"], "telegram", "sent")))[0]
        first, second = providers.of("telegram")
        assert first.status == 429 and second.status == 200
        # The retry ladder here is 0.1 s; the provider asked for 2 s.
        assert second.at - first.at >= 2.0
        assert second.body["chat_id"] == "987654321" and "KIM Dago" in second.body["text"]
        assert (await full(client, sent["id"]))["history"][0]["error"].startswith("Telegram answered 429")


async def test_a_chat_the_bot_does_not_know_and_a_wrong_token_are_dead_with_their_reason(
        settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch, whatsapp_token="expired")
    providers.chats.add("111")
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        sari = await add_recipient(client, name="Sari", telegram_chat_id="222", whatsapp="081234567890")
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))

        telegram = (await soon(lambda: chat(client, sari["id"], "telegram", "dead")))[0]
        whatsapp = (await soon(lambda: chat(client, sari["id"], "whatsapp", "dead")))[0]
        assert "chat not found" in telegram["last_error"] and telegram["attempts"] == 1
        assert "190" in whatsapp["last_error"] and "SINERGI_NOTIFY_WHATSAPP_TOKEN" in whatsapp["last_error"]
        assert whatsapp["attempts"] == 1


async def test_a_gateway_gets_the_field_names_and_token_header_it_is_configured_with(
        settings, smtp, providers, monkeypatch, unique):
    providers.gateway_token_header = "X-Api-Key"
    providers.gateway_target_field, providers.gateway_message_field = "phone", "text"
    service = chat_settings(settings, smtp, providers, monkeypatch, whatsapp="gateway",
                            whatsapp_gateway_token_header="X-Api-Key", whatsapp_gateway_target_field="phone",
                            whatsapp_gateway_message_field="text", whatsapp_gateway_format="json")
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", whatsapp="+62 811 2233 4455")
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))

        await soon(lambda: chat(client, rina["id"], "whatsapp", "sent"))
        [call] = providers.of("gateway")
        assert call.headers["x-api-key"] == GATEWAY_TOKEN and call.headers["content-type"] == "application/json"
        assert call.body["phone"] == "6281122334455" and "KIM Dago" in call.body["text"]
        assert call.headers["x-sinergi-delivery"].endswith(".whatsapp")


async def test_quiet_hours_hold_chat_until_morning_while_email_goes_now(settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    async with running("notifications", service) as (app, client):
        app.state.clock.freeze(datetime(2030, 3, 4, 22, 30, tzinfo=WIB))
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", email="rina@kpu.example", whatsapp="081234567890",
                                   preferences={"quiet_hours": {"start": "21:00", "end": "06:00"}})
        assert rina["preferences"] == {"channels": None, "quiet_hours": {"start": "21:00", "end": "06:00"}}
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))

        await soon(lambda: value(len(smtp.to("rina@kpu.example")) == 1))
        held = (await soon(lambda: chat(client, rina["id"], "whatsapp", "pending")))[0]
        assert datetime.fromisoformat(held["next_attempt_at"]) == datetime(2030, 3, 5, 6, 0, tzinfo=WIB)
        app.state.clock.freeze(datetime(2030, 3, 5, 5, 59, tzinfo=WIB))
        await soon(lambda: value(app.state.scheduler.ticks > 2))
        assert providers.of("whatsapp") == []
        app.state.clock.freeze(datetime(2030, 3, 5, 6, 0, tzinfo=WIB))
        await soon(lambda: chat(client, rina["id"], "whatsapp", "sent"))


async def test_the_preferred_order_first_and_the_next_channel_when_it_ends_dead(
        settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    providers.unreachable.add("+6281398765432")
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        order = {"channels": ["whatsapp", "email"]}
        reached = await add_recipient(client, name="Reached", email="reached@kpu.example", whatsapp="081234567890",
                                      preferences=order)
        lost = await add_recipient(client, name="Lost", email="lost@kpu.example", whatsapp="081398765432",
                                   preferences=order)
        email_first = await add_recipient(client, name="Mail first", email="first@kpu.example",
                                          whatsapp="081320001111", preferences={"channels": ["email", "whatsapp"]})
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))

        await soon(lambda: chat(client, reached["id"], "whatsapp", "sent"))
        await soon(lambda: value(len(smtp.to("lost@kpu.example")) == 1))
        await soon(lambda: value(len(smtp.to("first@kpu.example")) == 1))
        assert sorted(d["channel"] for d in await deliveries(client, recipient_id=lost["id"])) == ["email", "whatsapp"]
        assert smtp.to("reached@kpu.example") == []
        # each WhatsApp-first number tried once (two recipients' sends run side by side, in either order)
        assert sorted(c.body["to"] for c in providers.of("whatsapp")) == ["+6281234567890", "+6281398765432"]
        # The e-mail reaches the server before its delivery is recorded as sent.
        fallback = (await soon(lambda: chat(client, lost["id"], "email", "sent")))[0]
        note = (await client.get(f"/inbox/{lost['id']}/{fallback['notification_id']}", headers=auth("admin"))).json()
        assert note["channels"] == ["inbox", "whatsapp", "email"]
        await soon(lambda: _shows(client, lost["id"], fallback["notification_id"]))
        assert [d["channel"] for d in await deliveries(client, recipient_id=email_first["id"])] == ["email"]


async def _shows(client, recipient_id, notification_id):
    note = (await client.get(f"/inbox/{recipient_id}/{notification_id}", headers=auth("admin"))).json()
    return note["delivery"].get("whatsapp", {}).get("status") == "dead" and \
        note["delivery"].get("email", {}).get("status") == "sent"


async def test_a_retry_after_the_number_is_fixed_goes_to_the_new_number_and_the_log_shows_both(
        settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    providers.unreachable.add("+6281398765432")
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        dedi = await add_recipient(client, name="Dedi", whatsapp="081398765432")
        await publish(service, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))
        dead = (await soon(lambda: chat(client, dedi["id"], "whatsapp", "dead")))[0]

        fixed = await client.patch(f"/recipients/{dedi['id']}", json={"whatsapp": "0812 3456 7890"},
                                   headers=auth("admin"))
        assert fixed.status_code == 200, fixed.text
        assert (await client.post(f"/deliveries/{dead['id']}/retry", headers=auth("admin"))).status_code == 200
        await soon(lambda: chat(client, dedi["id"], "whatsapp", "sent"))
        history = (await full(client, dead["id"]))["history"]
        assert [(h["outcome"], h["to"]) for h in history] == [("failed", "+6281398765432"), ("sent", "+6281234567890")]


async def test_a_partner_contact_with_a_phone_gets_the_invitation_on_whatsapp_too(
        settings, smtp, providers, monkeypatch, unique):
    service = chat_settings(settings, smtp, providers, monkeypatch)
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        kim = partner(f"P-{unique}", "KIM Dago", contacts=[
            {"name": "Ibu Sari", "role": "ketua", "phone": "0813-2000-1111", "email": "sari@kimdago.id"}])
        starts = datetime.now(WIB) + timedelta(days=20)
        forum = activity(f"A-{unique}", starts.isoformat(), ends_at=(starts + timedelta(hours=2)).isoformat(),
                         partners=[{"partner_id": kim["id"], "role": "penyelenggara"}])
        await publish(service, event(EventType.PARTNER_REGISTERED, kim),
                      event(EventType.ACTIVITY_SCHEDULED, forum, version=2))

        await soon(lambda: value(len(smtp.to("sari@kimdago.id")) == 1))
        await soon(lambda: value(len(providers.of("whatsapp", 200)) == 1))
        [call] = providers.of("whatsapp")
        assert call.body["to"] == "+6281320001111"
        assert "Undangan" in call.body["template"]["components"][0]["parameters"][0]["text"]


async def test_a_staff_member_changes_their_own_preferences(settings, smtp, providers, monkeypatch, unique):
    from tests.conftest import REGION, token

    service = chat_settings(settings, smtp, providers, monkeypatch)
    me = {"Authorization": f"Bearer {token('viewer', [REGION], sub=f'user-{unique}')}"}
    async with running("notifications", service) as (app, client):
        await soon(lambda: subscribed(app))
        assert (await client.get("/me/preferences", headers=me)).status_code == 404
        rina = await add_recipient(client, name="Rina", email="rina@kpu.example", user_id=f"user-{unique}")
        mine = await client.get("/me/preferences", headers=me)
        assert mine.status_code == 200 and mine.json()["preferences"] == {"channels": None, "quiet_hours": None}
        changed = await client.put("/me/preferences", headers={**me, "If-Match": mine.headers["ETag"]}, json={
            "preferences": {"channels": ["telegram", "email"], "quiet_hours": {"start": "22:00", "end": "05:30"}},
            "telegram_chat_id": "555"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["channels"] == ["inbox", "telegram", "email"]
        stored = (await client.get(f"/recipients/{rina['id']}", headers=auth("admin"))).json()
        assert stored["telegram_chat_id"] == "555" and stored["email"] == "rina@kpu.example"
        assert stored["preferences"]["quiet_hours"] == {"start": "22:00", "end": "05:30"}
        stale = await client.put("/me/preferences", headers={**me, "If-Match": mine.headers["ETag"]},
                                 json={"preferences": {"channels": None}})
        assert stale.status_code == 412
        bad = await client.put("/me/preferences", headers=me, json={"preferences": {"channels": ["sms"]}})
        assert bad.status_code == 422
        assert TELEGRAM_TOKEN  # the bot is configured: the staff member's Telegram is reachable
