"""Events of one aggregate published out of order by two processes (issue 15 point 3): an older
event still has its own effect when the newer state did not supersede it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.events import EventType
from tests.notifications_support import activity, add_recipient, event, fast, inbox, publish, soon, subscribed, ticks
from tests.conftest import running


async def test_a_scheduled_overtaken_by_an_update_still_notifies(settings, monkeypatch, unique):
    fast(monkeypatch)
    starts = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    aid = f"A-{unique}"
    scheduled = activity(aid, starts.isoformat(), title="Forum Warga Coblong")
    updated = {**scheduled, "title": "Forum Warga Coblong (Aula RW 05)"}
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", subscriptions=["activity.scheduled"])
        # v3 (an edit) arrives before v2 (the scheduling) it came after.
        await publish(settings, event(EventType.ACTIVITY_UPDATED, updated, version=3),
                      event(EventType.ACTIVITY_SCHEDULED, scheduled, version=2))

        async def notified():
            return [n for n in await inbox(client, rina["id"]) if n["rule"] == "activity.scheduled"]

        found = await soon(notified)
        assert len(found) == 1 and found[0]["cause"]["id"] == f"{aid}@2"
        # The read model kept the newer state: the reminder jobs follow v3, and no second notice.
        await publish(settings, event(EventType.ACTIVITY_SCHEDULED, scheduled, version=2))
        await ticks(app, 3)
        assert len(await notified()) == 1


async def test_a_scheduled_overtaken_by_a_cancellation_stays_silent(settings, monkeypatch, unique):
    fast(monkeypatch)
    starts = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    aid = f"A-{unique}"
    scheduled = activity(aid, starts.isoformat())
    cancelled = {**scheduled, "status": "cancelled", "cancel_reason": "hujan"}
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", subscriptions=["activity.*"])
        await publish(settings, event(EventType.ACTIVITY_CANCELLED, cancelled, version=3),
                      event(EventType.ACTIVITY_SCHEDULED, scheduled, version=2))
        await soon(lambda: _rules(client, rina["id"], "activity.cancelled"))
        await ticks(app, 3)
        assert await _rules(client, rina["id"], "activity.scheduled") == []


async def _rules(client, recipient_id, rule):
    return [n for n in await inbox(client, recipient_id) if n["rule"] == rule]
