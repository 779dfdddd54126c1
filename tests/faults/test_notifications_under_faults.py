"""Two faults the steady stream (test_steady_stream.py) found in the notifications service, each as
its smallest case, on the session's private servers. Both are fixed (docs/reliability.md, "Bugs
the fault tests found"); the cases stay to keep them fixed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.store import Inboxes
from shared.events import EventType
from tests.conftest import eventually, running
from tests.notifications_support import SmtpSink, activity, add_recipient, event, fast, inbox, publish, subscribed, value

pytestmark = pytest.mark.faults


def _queue(app):
    (queue,) = app.state.infra.queues
    return queue


async def test_an_activity_event_retried_after_a_store_outage_still_notifies_though_a_later_one_overtook_it(
    settings, private_store, monkeypatch
):
    fast(monkeypatch)
    # The retry comes back 8 s later: long after the store is back and the next event handled.
    patient = settings.model_copy(update={"retry_delays": [8.0, 30.0]})
    starts = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat()
    async with running("notifications", patient) as (app, client):
        await eventually(lambda: subscribed(app), timeout=30)
        staff = await add_recipient(client, name="Piket Sosdiklih")
        queue = _queue(app)
        await publish(settings, event(EventType.ACTIVITY_PLANNED, activity("A-1", starts, status="planned"), 1))
        await eventually(lambda: value(queue.stats["processed"] >= 1), timeout=15)

        await asyncio.to_thread(private_store.stop)
        try:
            await publish(settings, event(EventType.ACTIVITY_SCHEDULED, activity("A-1", starts), 2))
            # The consumer meets the outage and retries the event.
            await eventually(lambda: value(queue.stats["retried"] >= 1), timeout=20, interval=0.2)
        finally:
            await asyncio.to_thread(private_store.start)
        await publish(settings, event(EventType.ACTIVITY_HELD, activity("A-1", starts, status="held"), 3))
        await eventually(lambda: value(queue.stats["processed"] >= 3), timeout=30, interval=0.2)

        causes = {(n["rule"], n["cause"]["id"]) for n in await inbox(client, staff["id"])}
    assert ("activity.scheduled", "A-1@2") in causes, f"the staff inbox holds only {causes}"


async def test_an_email_sent_just_before_a_crash_shows_as_sent_on_its_notification(settings, monkeypatch):
    fast(monkeypatch)
    crash = {"armed": True}
    set_delivery = Inboxes.set_delivery

    async def dies_after_the_delivery_was_stored(self, *args, **kwargs):
        if crash["armed"]:
            crash["armed"] = False
            raise RuntimeError("the process dies here: the delivery is stored as sent, its notification not yet")
        return await set_delivery(self, *args, **kwargs)

    with SmtpSink() as smtp:
        mailing = settings.model_copy(update={"smtp_url": smtp.url})
        monkeypatch.setattr(Inboxes, "set_delivery", dies_after_the_delivery_was_stored)
        async with running("notifications", mailing) as (app, client):
            await eventually(lambda: subscribed(app), timeout=30)
            staff = await add_recipient(client, name="Piket Sosdiklih", email="piket@kpu-bandung.example")
            starts = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0).isoformat()
            await publish(settings, event(EventType.ACTIVITY_SCHEDULED, activity("A-2", starts), 2))
            await eventually(lambda: value(len(smtp.messages) == 1 and not crash["armed"]), timeout=20)
        # Started again, as after the crash.
        async with running("notifications", mailing) as (app, client):

            async def email_status() -> str:
                (notification,) = await inbox(client, staff["id"])
                return notification["delivery"]["email"]["status"]

            try:
                await eventually(lambda: _is(email_status(), "sent"), timeout=15, interval=0.5)
            except AssertionError:
                pass
            status = await email_status()
    assert len(smtp.messages) == 1
    assert status == "sent", f"the e-mail went out, its notification says {status!r}"


async def _is(found, wanted) -> bool:
    return await found == wanted
