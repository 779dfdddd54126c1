"""The notifications service as real processes: killed with SIGKILL, restarted, run twice side by side."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from services.notifications.notifier import INTERRUPTED_EMAIL
from shared.events import EventType
from tests.conftest import auth
from tests.notifications_support import (  # noqa: F401 - smtp and hooks are fixtures
    FAST,
    LOCAL_RECEIVERS,
    activity,
    add_recipient,
    event,
    hooks,
    inbox,
    partner,
    publish,
    smtp,
    soon,
    value,
)

WIB = ZoneInfo("Asia/Jakarta")


def _env(smtp, **extra):
    return {**FAST, "SINERGI_SMTP_URL": smtp.url, **extra}


async def _delivery(client, url, delivery_id):
    response = await client.get(f"{url}/deliveries/{delivery_id}", headers=auth("operator"))
    return response.json() if response.status_code == 200 else None


async def test_sigkill_mid_batch_and_restart_sends_no_second_email_and_loses_nothing(processes, settings, smtp):
    smtp.delay = 0.2  # 12 e-mails, four at a time: the batch takes a second or so
    service = processes("notifications", **_env(smtp))
    async with httpx.AsyncClient(base_url=service.url) as client:
        staff = [await add_recipient(client, name=f"Staf {i}", email=f"staf{i}@kpu-bandung.go.id") for i in range(12)]
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1", "Komunitas Seni Braga")))
        await soon(lambda: value(len(smtp.messages) >= 3))
        service.kill()
        killed_at = len(smtp.messages)
        service.start()

        async def settled():
            found = await client.get("/deliveries", params={"limit": 500}, headers=auth("operator"))
            items = found.json()["items"]
            return len(items) == 12 and all(d["status"] in {"sent", "dead"} for d in items) and items
        deliveries = await soon(settled)

    received = Counter(str(m["To"]).split("<")[-1].rstrip(">") for m in smtp.messages)
    assert killed_at < 12, "the kill came after the batch; nothing was tested"
    assert max(received.values()) == 1, f"an e-mail went out twice: {received.most_common(3)}"
    assert len(Counter(m["Message-ID"] for m in smtp.messages)) == len(smtp.messages)
    # Nothing lost: each e-mail arrived, or is dead because the kill caught it mid-send (never
    # silently dropped, never re-sent blindly), and at most as many as were being handed over
    # (SINERGI_NOTIFY_SMTP_CONCURRENCY, 4). One the server took just before the kill is both.
    interrupted = {d["to"] for d in deliveries if d["status"] == "dead"}
    assert all(d["last_error"] == INTERRUPTED_EMAIL for d in deliveries if d["status"] == "dead")
    assert len(interrupted) <= 4
    assert {d["to"] for d in deliveries if d["status"] == "sent"} <= set(received)
    assert set(received) | interrupted == {p["email"] for p in staff}
    async with httpx.AsyncClient(base_url=service.url) as client:
        for person in staff:
            assert len(await inbox(client, person["id"])) == 1


async def test_a_kill_mid_send_leaves_the_email_for_an_admin_and_sends_the_webhook_again(processes, settings, smtp,
                                                                                          hooks):
    """E-mail is at most once after a crash (the outcome is unknown, so it is not re-sent);
    a webhook is at least once (sent again with the same delivery id for the receiver to dedupe)."""
    smtp.hold_once.add("rina@kpu-bandung.go.id")
    hooks.hang_once.add("/dashboard")
    service = processes("notifications", **_env(smtp, **LOCAL_RECEIVERS))
    async with httpx.AsyncClient(base_url=service.url) as client:
        rina = await add_recipient(client, name="Rina", email="rina@kpu-bandung.go.id")
        system = await add_recipient(client, name="Dashboard", kind="system", webhook_url=hooks.url("/dashboard"))
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
        # Both handed over, neither answered yet.
        await soon(lambda: value(smtp.started and hooks.hung))
        service.kill()
        service.start()

        [note] = await inbox(client, rina["id"])
        email_id = note["delivery"]["email"]["id"]

        async def dead():
            found = await _delivery(client, service.url, email_id)
            return found and found["status"] == "dead" and found
        found = await soon(dead)
        assert found["last_error"] == INTERRUPTED_EMAIL and found["attempts"] == 1

        [hook] = await soon(lambda: value(hooks.to("/dashboard")))
        [hung] = hooks.hung
        assert hook.headers["x-sinergi-delivery"] == hung.headers["x-sinergi-delivery"]
        assert hook.body == hung.body and hook.signed_with(system["webhook_secret"])
        webhook = await soon(lambda: _sent(client, service.url, hook.headers["x-sinergi-delivery"]))
        assert webhook["attempts"] == 1 and "stopped before recording" in webhook["history"][0]["resumed"]
        assert len(smtp.started) == 1 and smtp.messages == []  # not re-sent by itself

        retried = await client.post(f"/deliveries/{email_id}/retry", headers=auth("admin"))
        assert retried.status_code == 200, retried.text
        await soon(lambda: value(len(smtp.messages) == 1))
        assert smtp.messages[0]["X-Sinergi-Delivery"] == email_id
        assert (await soon(lambda: _sent(client, service.url, email_id)))["attempts"] == 2


async def _sent(client, url, delivery_id):
    found = await _delivery(client, url, delivery_id)
    return found and found["status"] == "sent" and found


async def test_two_processes_side_by_side_send_each_reminder_exactly_once(processes, settings, smtp, hooks,
                                                                          tmp_path):
    # Both processes follow one clock file; the test moves their time to just before 08:00 WIB
    # on 5 November 2024, the H-1 of the activities below, once both are running.
    due = datetime(2024, 11, 5, 8, 0, tzinfo=WIB)
    clock = tmp_path / "clock-offset"

    def set_clock(moment):
        clock.write_text(str((moment - datetime.now(UTC)).total_seconds()))

    set_clock(due - timedelta(hours=1))
    # A lease longer than any attempt on a busy machine: no claim is taken over from a live process.
    env = _env(smtp, SINERGI_NOTIFY_CLOCK_FILE=str(clock), SINERGI_NOTIFY_LEASE_SECONDS="60", **LOCAL_RECEIVERS)
    first, second = processes("notifications", **env), processes("notifications", **env)
    async with httpx.AsyncClient(base_url=first.url) as client:
        staff = [await add_recipient(client, name=f"Staf {i}", email=f"staf{i}@kpu-bandung.go.id",
                                     subscriptions=["activity.reminder"]) for i in range(2)]
        await add_recipient(client, name="Dashboard", kind="system", webhook_url=hooks.url("/dashboard"),
                            subscriptions=["activity.reminder"])
        activities = [activity(f"A-{i}", datetime(2024, 11, 6, 8 + i % 8, 0, tzinfo=WIB).isoformat(),
                               title=f"Kegiatan {i}") for i in range(6)]
        await publish(settings, *(event(EventType.ACTIVITY_SCHEDULED, a, version=2) for a in activities))

        async def scheduled():
            found = await client.get("/jobs", params={"kind": "reminder", "limit": 100}, headers=auth("viewer"))
            return len(found.json()["items"]) == 6
        await soon(scheduled)
        set_clock(due - timedelta(seconds=0.5))
        await soon(lambda: value(len(smtp.messages) == 12 and len(hooks.hits) == 6))
        for person in staff:
            assert len(await inbox(client, person["id"])) == 6
        for process in (first, second):
            process.stop()  # graceful: whatever was under way finishes first

    per_message = Counter(m["X-Sinergi-Delivery"] for m in smtp.messages)
    assert set(per_message.values()) == {1}
    assert Counter(str(m["To"]) for m in smtp.messages) == {f"Staf {i} <staf{i}@kpu-bandung.go.id>": 6
                                                            for i in range(2)}
    assert len({h.headers["x-sinergi-delivery"] for h in hooks.hits}) == 6
    assert all("dijadwalkan besok, Rabu 6 November 2024" in m["Subject"] for m in smtp.messages)
    logs = "".join(path.read_text() for path in {first.log, second.log})  # they may share one file
    assert logs.count('"outcome": "sent"') == 18


async def test_an_email_waiting_to_record_its_outcome_does_not_hold_back_the_next(processes, settings, smtp, mongo):
    """A process killed while it wrote a notification leaves its write lease in the store until the
    lease runs out (``WriteLeases.SECONDS``). An e-mail of that notification, handed over by another
    process, waits for the lease to record its outcome; the other staff's e-mails go out meanwhile.
    Before, the waiting e-mail kept its send slot, and with every slot held so no e-mail went out."""
    smtp.delay = 1.5
    # Two processes with one e-mail slot each: two e-mails handed over at once are one in each.
    service = processes("notifications", **_env(smtp, SINERGI_PROCESSES="2", SINERGI_NOTIFY_SMTP_CONCURRENCY="1",
                                                SINERGI_NOTIFY_LEASE_SECONDS="60"))
    async with httpx.AsyncClient(base_url=service.url) as client:
        staff = {f"staf{i}@kpu-bandung.go.id": await add_recipient(client, name=f"Staf {i}",
                                                                  email=f"staf{i}@kpu-bandung.go.id")
                 for i in range(4)}
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
        first_two = await soon(lambda: value(len(smtp.started) >= 2 and smtp.started[:2]))
        handed_over_at = time.monotonic()
        leases = mongo[settings.database_name("notifications")]["write_leases"]
        waiting = []
        for message in first_two:
            recipient = staff[str(message["To"]).split("<")[-1].rstrip(">")]
            [note] = await inbox(client, recipient["id"])
            # The lease a killed process left on this notification, running out 8 s from now.
            await leases.insert_one({"_id": f"inbox_{recipient['id']}:{note['id']}", "token": "killed",
                                     "until": time.time() + 8})
            waiting.append(recipient)

        await soon(lambda: value(len(smtp.messages) == 4))
        assert time.monotonic() - handed_over_at < 6.5, "the other e-mails waited for the first ones' outcome"

        async def shown_sent():
            shown = [note for recipient in waiting for note in await inbox(client, recipient["id"])]
            return all(note["delivery"]["email"]["status"] == "sent" for note in shown)
        await soon(shown_sent)  # and their outcomes are recorded once the leases have run out
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in smtp.messages) == sorted(staff)


async def test_the_log_shows_where_each_attempt_went_as_the_recipient_was_then(processes, settings, smtp):
    """An e-mail refused at the old address, then (after the admin fixed the recipient and retried
    it) sent to the new one: the operator reading the log sees which address each attempt used."""
    smtp.refuse.add("budi@kpu-bandung.go.id")
    service = processes("notifications", **_env(smtp))
    async with httpx.AsyncClient(base_url=service.url) as client:
        budi = await add_recipient(client, name="Budi", email="budi@kpu-bandung.go.id")
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))

        async def dead():
            found = await client.get(f"{service.url}/deliveries", params={"status": "dead"}, headers=auth("operator"))
            return found.json()["items"]
        [delivery] = await soon(dead)
        await client.patch(f"/recipients/{budi['id']}", json={"email": "budi.santoso@kpu-bandung.go.id"},
                           headers=auth("admin", ["*"]))
        await client.post(f"/deliveries/{delivery['id']}/retry", headers=auth("admin", ["*"]))
        await soon(lambda: value(smtp.to("budi.santoso@kpu-bandung.go.id")))

    def attempts():
        lines = [json.loads(line) for line in service.log.read_text().splitlines() if line.startswith("{")]
        found = [(e["attempt"], e.get("to"), e["outcome"]) for e in lines if e.get("event") == "delivery attempt"]
        return found if len(found) == 4 else None
    logged = await soon(lambda: value(attempts()))
    old, new = "budi@kpu-bandung.go.id", "budi.santoso@kpu-bandung.go.id"
    assert logged == [(1, old, "failed"), (2, old, "failed"), (3, old, "dead"), (4, new, "sent")]
