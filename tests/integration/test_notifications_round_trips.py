"""What an event costs the notifications service's store, on the real store (issue 15).

Counted with a PyMongo ``CommandListener`` over the whole test process while the service handles
the events, as ``bench/costs.py`` counts a consumer's commands.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.events import EventType
from tests.conftest import auth, running
from tests.store_commands import commands_of_every_task
from tests.notifications_support import (  # noqa: F401 - smtp is a fixture
    activity,
    add_recipient,
    event,
    fast,
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


async def _jobs(client, subject: str) -> list[dict]:
    answer = await client.get("/jobs", params={"subject": subject}, headers=auth("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def test_a_planned_activity_scheduled_names_its_reminders_without_looking_for_older_ones_and_cancelling_removes_them(
        service_settings):
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Rina", subscriptions=["activity.scheduled", "activity.cancelled"])
        starts = datetime.now(UTC) + timedelta(days=30)
        forum = activity("A-COUNTED", starts.isoformat(), ends_at=(starts + timedelta(hours=2)).isoformat())
        await publish(service_settings, event(EventType.ACTIVITY_PLANNED, {**forum, "status": "planned",
                                                                           "starts_at": None, "ends_at": None}))
        await soon(lambda: app.state.infra.db["activities"].find_one({"_id": "A-COUNTED"}))

        with commands_of_every_task() as sent:
            await publish(service_settings, event(EventType.ACTIVITY_SCHEDULED, forum, version=2))
            await soon(lambda: _has(client, staff["id"], "activity.scheduled"))
            reminders = await soon(lambda: _jobs(client, "A-COUNTED"))
        assert {j["kind"] for j in reminders} == {"reminder"}
        assert sent[("find", "job_names")] == 0, f"a planned activity had no jobs to look for: {dict(sent)}"
        # One process alone writes the read model: the planned snapshot it stored is not read back.
        assert sent[("find", "activities")] == 0, f"the read model was read back: {dict(sent)}"

        # The reminders are still named: cancelling the activity removes them.
        cancelled = {**forum, "status": "cancelled", "cancel_reason": "hujan"}
        await publish(service_settings, event(EventType.ACTIVITY_CANCELLED, cancelled, version=3))
        await soon(lambda: _has(client, staff["id"], "activity.cancelled"))
        await soon(lambda: _none(client, "A-COUNTED"))


async def _has(client, recipient_id: str, rule: str) -> bool:
    return any(n["rule"] == rule for n in await inbox(client, recipient_id))


async def _none(client, subject: str) -> bool:
    return not await _jobs(client, subject)


def _processed(app) -> int:
    return sum(queue.stats["processed"] for queue in app.state.infra.queues)


async def test_the_first_snapshot_of_an_activity_is_stored_without_looking_for_one_and_a_second_is_not_stored(
        service_settings):
    async with running("notifications", service_settings) as (app, _):
        await soon(lambda: subscribed(app))
        starts = datetime.now(UTC) + timedelta(days=30)
        forum = {**activity("A-FIRST", starts.isoformat()), "status": "planned", "starts_at": None, "ends_at": None}
        with commands_of_every_task() as sent:
            await publish(service_settings, event(EventType.ACTIVITY_PLANNED, forum))
            await soon(lambda: value(_processed(app) == 1))
        assert sent[("insert", "activities")] == 1
        assert sent[("find", "activities")] == 0, f"a first version was looked for before its insert: {dict(sent)}"

        # The same version again under another event id (a replay): the stored one stays as it was.
        await publish(service_settings, event(EventType.ACTIVITY_PLANNED, {**forum, "title": "Bukan ini"}))
        await soon(lambda: value(_processed(app) == 2))
        stored = await app.state.infra.db["activities"].find_one({"_id": "A-FIRST"})
        assert stored["version"] == 1 and stored["title"] == forum["title"]


async def test_a_read_model_removed_by_hand_is_written_again_by_the_next_event(service_settings):
    # The process remembers what it wrote last instead of reading it back; a document that is no
    # longer there (an operator cleaned the collection) is read, found missing and stored afresh.
    async with running("notifications", service_settings) as (app, _):
        await soon(lambda: subscribed(app))
        models = app.state.infra.db["activities"]
        starts = datetime.now(UTC) + timedelta(days=30)
        forum = activity("A-REMOVED", starts.isoformat(), ends_at=(starts + timedelta(hours=2)).isoformat())
        await publish(service_settings, event(EventType.ACTIVITY_PLANNED, {**forum, "status": "planned",
                                                                           "starts_at": None, "ends_at": None}))
        await soon(lambda: models.find_one({"_id": "A-REMOVED"}))
        await models.delete_one({"_id": "A-REMOVED"})

        await publish(service_settings, event(EventType.ACTIVITY_SCHEDULED, forum, version=2))

        async def stored_again():
            found = await models.find_one({"_id": "A-REMOVED"})
            return found and found["version"] == 2

        assert await soon(stored_again)


async def test_one_process_reads_its_jobs_only_when_one_comes_due(service_settings):
    """Reading the jobs is a whole scan of them on FerretDB (~80 ms at 1,000): on every tick it held
    the store under the pipeline's slowest events (issue 15). One process added every job itself and
    knows when the next is due (a reminder due a second after its event still fires on time:
    ``test_a_reminder_due_a_second_after_its_event_fires_then_not_at_the_next_poll``)."""
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        await add_recipient(client, name="Rina", subscriptions=["activity.scheduled"])
        starts = datetime.now(UTC) + timedelta(days=30)
        forum = activity("A-LATER", starts.isoformat(), ends_at=(starts + timedelta(hours=2)).isoformat())
        await publish(service_settings, event(EventType.ACTIVITY_SCHEDULED, forum, version=2))
        await soon(lambda: _jobs(client, "A-LATER"))  # its reminders, weeks away
        await ticks(app)
        with commands_of_every_task() as sent:
            await ticks(app, 5)
        assert sent[("find", "jobs")] == 0, f"the jobs were read with none due: {dict(sent)}"


async def test_emails_outcomes_and_read_marks_reach_their_notifications_without_reading_the_whole_inbox(
        service_settings, smtp):
    """On FerretDB a filter beyond ``_id`` alone is evaluated over every notification of the inbox
    (100 ms at 1,500), and each e-mail's outcome was written onto its notification through one, as
    was each notification "mark all read" marked: in the two-process steady stream the staff's
    e-mails fell further behind as their inbox grew, and minutes behind (issue 15)."""
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Rina", email="rina@kpu-bandung.go.id")
        whole = f"inbox_{staff['id']}"
        with commands_of_every_task() as sent:
            for n in range(4):
                await publish(service_settings, event(EventType.PARTNER_REGISTERED, partner(f"P-{n}", f"KIM {n}")))
            await soon(lambda: value(len(smtp.messages) == 4))
            await ticks(app, 3)
        assert sent.scans[whole] == 0, f"the inbox was read whole: {dict(sent.scans)}"

        async def shown_sent() -> bool:
            notes = await inbox(client, staff["id"])
            return len(notes) == 4 and all(n["delivery"]["email"]["status"] == "sent" for n in notes)
        await soon(shown_sent)

        with commands_of_every_task() as sent:
            answer = await client.post(f"/inbox/{staff['id']}/read-all", headers=auth("admin"))
        assert answer.status_code == 200 and answer.json()["marked"] == 4, answer.text
        # Not one read of the inbox per notification; with one process, none at all: the unread ones
        # and the count left are known from the inbox's index (inbox_index.py), read by the page above.
        assert sent.scans[whole] == 0, f"marking four read read the inbox {sent.scans[whole]} times"


async def test_partners_registered_a_few_ms_apart_are_copied_in_shared_writes(service_settings):
    """Each partner a staff member registered one after another was copied into the read model by an
    insert of its own, a store round trip per registration beside the next request (issue 15). A
    partner's first version now waits a little for others to share its write; each is still stored.
    The events then finish together, and each read the recipients (a store round trip each) when
    none was kept: they share one read."""
    async with running("notifications", service_settings) as (app, client):
        await soon(lambda: subscribed(app))
        await add_recipient(client, name="Rina", subscriptions=["partner.registered"])  # none kept now
        partners = [partner(f"P-APART-{n}", name=f"KIM Ronde {n}") for n in range(10)]
        with commands_of_every_task() as sent:
            await publish(service_settings, *(event(EventType.PARTNER_REGISTERED, p) for p in partners), apart=0.01)
            await soon(lambda: value(_processed(app) == len(partners)))
        writes = sent[("insert", "partners")]
        assert writes <= len(partners) // 2, f"{len(partners)} partners 10 ms apart took {writes} inserts"
        reads = sent[("find", "recipients")]
        assert reads <= 2, f"{len(partners)} events read the recipients {reads} times"
        stored = await app.state.infra.db["partners"].find({}, {"name": 1, "version": 1}).to_list()
        assert sorted((d["_id"], d["name"], d["version"]) for d in stored) == sorted(
            (p["id"], p["name"], 1) for p in partners)
