"""`make up` as a person meets it: the demo staff get their e-mails in the local mail catcher, and
the whole demo load leaves no event parked in any dead-letter queue."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from urllib.parse import quote, unquote, urlparse

import aio_pika
import httpx
from pymongo import AsyncMongoClient
from rich.console import Console

from shared.events import EventType
from sinergi_cli.broker import Management
from sinergi_cli.demo import activities as demo_activities
from sinergi_cli.demo import notifications as demo_notifications
from sinergi_cli.demo import partners as demo_partners
from sinergi_cli.mailcatcher import messages
from tests.bus import tap
from tests.conftest import ROOT, auth, eventually, free_port
from tests.notifications_support import FAST, event, partner, publish, soon, value
from tests.ops_support import management_url


async def test_demo_staff_receive_their_emails_in_the_mail_catcher(processes, settings, tmp_path):
    smtp_port, maildir = free_port(), tmp_path / "mail"
    catcher = subprocess.Popen([sys.executable, "-m", "sinergi_cli.mailcatcher", "--port", str(smtp_port),
                                "--maildir", str(maildir)], cwd=ROOT)
    try:
        service = processes("notifications", **FAST, SINERGI_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}")
        console = Console(file=open(tmp_path / "console.txt", "w"))  # noqa: SIM115
        with httpx.Client(base_url=service.url, headers=auth("admin")) as client:
            demo_notifications.load(console, client)
            demo_notifications.load(console, client)  # twice: nothing doubles
            staff = client.get("/recipients", params={"kind": "staff"}).json()["items"]
        assert len(staff) == len(demo_notifications.DEMO_RECIPIENTS)
        assert {r["language"] for r in staff} == {"id", "en"}

        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1", "Komunitas Seni Braga")))
        caught = await soon(lambda: value(len(messages(maildir)) == 3 and messages(maildir)))
        assert sorted(m["subject"] for m in caught) == ["Mitra baru: Komunitas Seni Braga"] * 2 + [
            "New partner: Komunitas Seni Braga"]
        assert all(m["to"].endswith("@kpu-kotabandung.example>") for m in caught)
    finally:
        catcher.terminate()
        catcher.wait(10)


def _load_demo(partners_url: str, activities_url: str, notifications_url: str, console: Console) -> None:
    """What ``make up`` loads (``sinergi_cli.demo.seed.load``), with the tests' tokens."""
    def client(url: str) -> httpx.Client:
        return httpx.Client(base_url=url, headers=auth("admin"), timeout=60)

    with client(partners_url) as to_partners, client(activities_url) as to_activities, \
            client(notifications_url) as to_notifications:
        demo_notifications.load(console, to_notifications)
        partner_ids = demo_partners.load(console, to_partners)
        demo_activities.load(console, to_activities, partner_ids)


async def _parked(settings, management: Management) -> dict[str, int]:
    """Messages in each dead-letter queue of this instance (counted by the broker itself: the
    management API's figures lag by seconds)."""
    vhost = unquote(urlparse(settings.rabbitmq_url).path.lstrip("/")) or "/"
    names = [q["name"] for q in management.call("GET", f"/queues/{quote(vhost, safe='')}?columns=name")
             if q["name"].startswith(settings.bus_prefix) and q["name"].endswith(".dlq")]
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        return {name: (await channel.declare_queue(name, passive=True)).declaration_result.message_count
                for name in names}


async def test_after_the_demo_load_no_event_is_parked_in_any_dead_letter_queue(processes, settings, servers,
                                                                               tmp_path):
    # Issue 12 point 1: the demo's district targets dead-lettered sinergi.targets.set in
    # notifications.events.dlq, so the coverage alert never learnt the targets.
    async with tap(settings) as published:
        partners = processes("partners")
        activities = processes("activities")
        notifications = processes("notifications", **FAST, SINERGI_SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
        console = Console(file=open(tmp_path / "console.txt", "w"))  # noqa: SIM115
        await asyncio.to_thread(_load_demo, partners.url, activities.url, notifications.url, console)
        assert any(e["type"] == EventType.TARGETS_SET for e in published)

        mongo: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
        management = Management(management_url(servers))
        try:
            async def settled() -> bool:
                """Each published event handled by notifications (partner events by activities too),
                or something parked already (which the assertion below then shows)."""
                if any((await _parked(settings, management)).values()):
                    return True
                handled: dict[str, int] = {}
                for service in ("notifications", "activities"):
                    docs = await mongo[f"{settings.db_prefix}{service}"]["processed_events"].find(
                        {}, {"_id": 1}).to_list()
                    for doc in docs:
                        event_id = doc["_id"].rsplit(":", 1)[-1]
                        handled[event_id] = handled.get(event_id, 0) + 1
                wanted = {e["id"]: 2 if e["type"].startswith("sinergi.partner.") else 1 for e in published
                          if not e["type"].startswith("sinergi.notification.")}
                return all(handled.get(event_id, 0) >= n for event_id, n in wanted.items())

            await eventually(settled, timeout=180, interval=1.0)
            parked = await _parked(settings, management)
        finally:
            management.client.close()
            await mongo.close()
    assert parked and not any(parked.values()), parked


async def test_the_demo_shows_an_invitation_answered_by_a_partner_contact(processes, settings, tmp_path):
    # Issue 14, 'done when': a contact opens the invitation e-mail's link and answers hadir; the
    # activity shows the confirmation.
    from sinergi_cli.demo import invitations as demo_invitations

    smtp_port, http_port, maildir = free_port(), free_port(), tmp_path / "mail"
    catcher = subprocess.Popen([sys.executable, "-m", "sinergi_cli.mailcatcher", "--port", str(smtp_port),
                                "--maildir", str(maildir), "--http-port", str(http_port)], cwd=ROOT)
    try:
        partners = processes("partners")
        activities = processes("activities")
        port = free_port()
        processes("notifications", port=port, **FAST, SINERGI_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
                  SINERGI_NOTIFY_PUBLIC_URL=f"http://127.0.0.1:{port}",
                  SINERGI_NOTIFY_SUMMARY_WINDOW_SECONDS="0")
        console = Console(file=open(tmp_path / "console.txt", "w"))  # noqa: SIM115
        await asyncio.to_thread(_load_demo, partners.url, activities.url, f"http://127.0.0.1:{port}", console)
        link = await asyncio.to_thread(demo_invitations.answer_one, console, f"http://127.0.0.1:{http_port}")
        assert link is not None, (tmp_path / "console.txt").read_text()

        async with httpx.AsyncClient(base_url=activities.url, headers=auth("viewer")) as client:
            async def confirmed() -> list[dict]:
                found = []
                cursor = None
                while True:
                    page = (await client.get("/activities", params={"limit": 100, **({"cursor": cursor} if cursor
                                                                                     else {})})).json()
                    for item in page["items"]:
                        view = (await client.get(f"/activities/{item['id']}")).json()
                        if (view.get("confirmations") or {}).get("counts", {}).get("hadir"):
                            found.append(view)
                    cursor = page["next_cursor"]
                    if cursor is None:
                        return found

            [answered] = await eventually(confirmed, timeout=60, interval=1.0)
        assert answered["confirmations"]["items"][0]["answer"] == "hadir"
    finally:
        catcher.terminate()
        catcher.wait(10)
