"""The dev runner's chat sink takes the service's WhatsApp and Telegram messages and lists them."""

from __future__ import annotations

import threading

import httpx

from shared.events import EventType
from sinergi_cli.chatsink import Sink, serve
from tests.conftest import free_port, running
from tests.notifications_support import add_recipient, event, fast, partner, publish, soon, subscribed, value


async def test_the_chat_sink_keeps_each_message_and_lists_it(settings, monkeypatch, tmp_path, unique):
    port = free_port()
    server = serve(Sink(tmp_path / "chat"), "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = f"http://127.0.0.1:{port}"
    fast(monkeypatch, SINERGI_NOTIFY_TELEGRAM_BOT_TOKEN="dev", SINERGI_NOTIFY_TELEGRAM_API_URL=sink,
         SINERGI_NOTIFY_WHATSAPP_TOKEN="dev", SINERGI_NOTIFY_WHATSAPP_PHONE_NUMBER_ID="1",
         SINERGI_NOTIFY_WHATSAPP_API_URL=sink)
    try:
        async with running("notifications", settings) as (app, client):
            await soon(lambda: subscribed(app))
            await add_recipient(client, name="Rina", telegram_chat_id="4242", whatsapp="081234567890")
            await publish(settings, event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}", "KIM Dago")))

            async def both():
                async with httpx.AsyncClient() as http:
                    listed = (await http.get(f"{sink}/messages.json")).json()
                return len(listed) == 2 and listed

            listed = await soon(both)
            assert {(m["provider"], m["to"]) for m in listed} == {("telegram", "4242"), ("whatsapp", "+6281234567890")}
            assert all("KIM Dago" in m["text"] for m in listed)
            async with httpx.AsyncClient() as http:
                page = (await http.get(sink)).text
            assert "Chat messages (2)" in page and "+6281234567890" in page
            assert await value(len(list((tmp_path / "chat").glob("*.json"))) == 2)
    finally:
        server.shutdown()
        server.server_close()
