"""Summaries instead of floods (issue 14 point 3), on the real broker and store: an import of N
partners reaches each staff member as one summary; a burst from one person within a window as the
first notification and one summary; an open batch survives a restart and is summed up once."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from shared.events import EventType
from tests.conftest import auth, running
from tests.notifications_support import add_recipient, event, fast, inbox, partner, publish, soon, subscribed, ticks


def _csv(n: int, unique: str) -> bytes:
    rows = "".join(f"Mitra Impor {unique} {i},kim,pemilih_pemula\n" for i in range(n))
    return ("nama,jenis,segmen\n" + rows).encode()


async def test_an_import_of_many_partners_is_one_summary_per_recipient(settings, monkeypatch, unique):
    fast(monkeypatch, SINERGI_NOTIFY_SUMMARY_BATCH_SECONDS="1")
    async with (
        running("notifications", settings) as (app, notifications),
        running("partners", settings) as (_, partners),
    ):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(notifications, name="Rina", subscriptions=["partner.registered"])
        budi = await add_recipient(notifications, name="Budi", language="en", subscriptions=["partner.*"])
        imported = await partners.post("/partners/import", headers=auth("operator"),
                                       files={"file": ("mitra_12.csv", _csv(12, unique))})
        assert imported.status_code == 200, imported.text
        assert imported.json()["created"] == 12

        async def summed(recipient_id):
            notes = await inbox(notifications, recipient_id)
            return notes if notes and notes[0]["data"].get("summary", {}).get("count") == 12 else None

        [note] = await soon(lambda: summed(rina["id"]))
        assert note["subject"] == "12 mitra baru dari impor mitra_12.csv"
        assert f"- Mitra Impor {unique} 0\n" in note["body"] and f"- Mitra Impor {unique} 11\n" in note["body"]
        assert note["rule"] == "partner.registered" and note["cause"]["type"] == "summary"
        assert len(note["data"]["summary"]["items"]) == 12 and note["data"]["summary"]["label"] == "mitra_12.csv"
        [english] = await soon(lambda: summed(budi["id"]))
        assert english["subject"] == "12 new partners from import mitra_12.csv"
        await ticks(app, 3)
        assert len(await inbox(notifications, rina["id"])) == 1  # nothing else came of the import


async def test_a_burst_from_one_person_is_the_first_notification_then_one_summary(settings, monkeypatch, unique):
    window = 12
    fast(monkeypatch, SINERGI_NOTIFY_SUMMARY_WINDOW_SECONDS=str(window))
    # A window that ends a few seconds from now, so the whole burst is in before its summary is due
    # (in a window that had ended, a slow machine could sum up two events, then the third apart).
    now = datetime.now(UTC).timestamp()
    start = math.floor(now / window) * window
    if start + window - now < 6:
        start += window
    start = datetime.fromtimestamp(start, tz=UTC)
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", subscriptions=["partner.registered"])
        burst = [event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}-{i}", f"Mitra {i}"),
                       at=start + timedelta(seconds=i)).model_copy(update={"actor": "rina", "actorname": "Rina"})
                 for i in range(4)]
        alone = event(EventType.PARTNER_REGISTERED, partner(f"Q-{unique}", "Mitra Lain"))  # no actor: as ever
        await publish(settings, *burst, alone)

        async def three():
            notes = await inbox(client, rina["id"])
            return len(notes) == 3 and notes

        notes = await soon(three, timeout=window + 30)
        subjects = sorted(n["subject"] for n in notes)
        # The first of the burst handled (events of different partners are handled side by side) is
        # notified at once; the summary lists the other three.
        assert subjects[0] == "3 mitra baru lagi oleh Rina" and subjects[2] == "Mitra baru: Mitra Lain"
        lead = subjects[1].removeprefix("Mitra baru: ")
        [summed] = [n for n in notes if n["cause"]["type"] == "summary"]
        assert sorted(i["name"] for i in summed["data"]["summary"]["items"]) == sorted(
            f"Mitra {i}" for i in range(4) if f"Mitra {i}" != lead)
        await publish(settings, *burst)  # redelivered: nothing new
        await ticks(app, 3)
        assert len(await inbox(client, rina["id"])) == 3


async def test_an_open_batch_survives_a_restart_and_is_summed_up_once(settings, monkeypatch, unique):
    fast(monkeypatch, SINERGI_NOTIFY_SUMMARY_BATCH_SECONDS="4")
    batch = [event(EventType.PARTNER_REGISTERED, partner(f"P-{unique}-{i}", f"Mitra {i}")).model_copy(
        update={"batchid": f"b-{unique}", "batchlabel": "mitra_5.xlsx"}) for i in range(5)]
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", subscriptions=["partner.registered"])
        await publish(settings, *batch[:3])

        async def held(n):
            lines = app.state.infra.db["summary_lines"]
            return await lines.count_documents({"done_at": None}) == n

        await soon(lambda: held(3))
    # The service stops with the batch open; the rest of the batch arrives while it is down.
    await publish(settings, *batch[3:])
    async with running("notifications", settings) as (app, client):
        async def summed():
            notes = await inbox(client, rina["id"])
            return notes and notes

        [note] = await soon(summed)
        assert note["subject"] == "5 mitra baru dari impor mitra_5.xlsx"
        assert note["data"]["summary"]["count"] == 5
        await publish(settings, batch[0])  # redelivered after its summary
        await ticks(app, 3)
        assert len(await inbox(client, rina["id"])) == 1
