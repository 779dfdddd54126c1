"""What a change costs the store, on the real store: an aggregate changed under its lock is read once
(an activity not at all, when this process wrote it last).

Each store round trip costs ~1–3 ms on the embedded FerretDB and about 0.3 ms of our CPU
(issue 15), so the count is what a client waits for. Counted with a PyMongo ``CommandListener``,
as ``bench/costs.py`` counts them, only for the commands the request itself sends (not the
relay's, which runs in tasks of its own).
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from services.activities.store import ElectionStore
from services.partners.store import PartnerStore

from tests.bus import declare_exchanges
from tests.conftest import auth, eventually, make_settings, running
from tests.integration.test_activities_helpers import plan, post
from tests.store_commands import commands_of_every_task, commands_of_this_task


async def test_scheduling_an_activity_writes_it_once_without_reading_back_what_this_process_wrote(
        servers, run_id, monkeypatch):
    # The services' clients are made after the listener is registered (build), so it hears them.
    monkeypatch.setattr(ElectionStore, "FRESH_SECONDS", 600.0)  # however slow the machine
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    await declare_exchanges(settings)  # the consumers' services declare it in production
    async with running("activities", settings) as (_, client):
        activity = await plan(client)
        starts = datetime.now(UTC) + timedelta(days=30)
        with commands_of_this_task() as sent:
            answer = await post(client, activity["id"], "schedule",
                                {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()})
        assert answer.status_code == 200, answer.text
        # One process writes its activities: it knows the one it planned (shared.outbox.Remembered).
        assert sent[("find", "activities")] == 0, f"the activity this process wrote is read back: {dict(sent)}"
        assert sent[("update", "activities")] == 1, dict(sent)
        assert sent[("find", "elections")] == 0, f"the calendar read by the plan is still fresh: {dict(sent)}"
        # Nobody was invited to a planned activity: no confirmations to read; the coverage revision
        # is set after the request, not by it (issue 15: the replace, nothing else).
        sent.pop(("buildInfo", ""), None)  # which server it is: asked once per process
        assert sum(sent.values()) == 1, f"only the activity's replace: {dict(sent)}"
        assert answer.json().get("confirmations", {"items": []})["items"] == []
        stale = await post(client, activity["id"], "hold", {}, **{"If-Match": '"1"'})
        assert stale.status_code == 412, "If-Match is still checked against the version read"


async def test_a_scheduled_activity_is_written_once_its_event_published_included(servers, run_id, monkeypatch):
    """The relay removed each published event with a write of its own (on FerretDB a read and a
    rewrite of the activity); with one process it leaves with the activity's next write (issue 15)."""
    monkeypatch.setattr(ElectionStore, "FRESH_SECONDS", 600.0)
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    await declare_exchanges(settings)
    async with running("activities", settings) as (app, client):
        activity = await plan(client)
        log = app.state.infra.event_log.collection
        starts = datetime.now(UTC) + timedelta(days=30)
        with commands_of_every_task() as sent:
            answer = await post(client, activity["id"], "schedule",
                                {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()})
            assert answer.status_code == 200, answer.text
            await eventually(lambda: log.find_one({"type": "sinergi.activity.scheduled", "subject": activity["id"]}))
            await asyncio.sleep(0.3)  # the relay's last step after logging
        assert sent[("update", "activities")] == 1, f"the activity is written more than once: {dict(sent)}"
        edited = await client.patch(f"/activities/{activity['id']}", headers=auth(), json={"title": "Forum warga RW 07"})
        assert edited.status_code == 200, edited.text
        stored = await app.state.infra.db["activities"].find_one({"_id": activity["id"]})
        assert [e["type"] for e in stored["_outbox"]] in ([], ["sinergi.activity.updated"]), \
            "the published scheduled event was written back"


async def test_changing_a_partner_this_process_registered_writes_it_once_without_reading_it(servers, run_id):
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    await declare_exchanges(settings)
    async with running("partners", settings) as (_, client):
        made = await client.post("/partners", headers=auth(), json={"name": f"KIM Ronde {run_id}", "type": "kim"})
        assert made.status_code == 201, made.text
        with commands_of_this_task() as sent:
            changed = await client.patch(f"/partners/{made.json()['id']}", headers=auth(), json={"notes": "sekali"})
        assert changed.status_code == 200, changed.text
        assert sent[("find", "partners")] == 0, f"the partner this process registered is read back: {dict(sent)}"
        assert sent[("update", "partners")] == 1, dict(sent)
        assert changed.json()["version"] == 2 and changed.json()["notes"] == "sekali"


async def test_a_registration_compares_with_the_partners_in_memory_and_still_finds_a_duplicate(servers, run_id,
                                                                                              monkeypatch):
    # The duplicate check read every partner of the region per registration: a scan on FerretDB.
    monkeypatch.setattr(PartnerStore, "CANDIDATES_FRESH_SECONDS", 600.0)  # however slow the machine
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    await declare_exchanges(settings)
    async with running("partners", settings) as (_, client):
        first = await client.post("/partners", headers=auth(), json={
            "name": f"KIM Satu {run_id}", "type": "kim", "contacts": [{"name": "Lalu", "phone": "0819-0700-1122"}]})
        assert first.status_code == 201, first.text
        with commands_of_this_task() as sent:
            second = await client.post("/partners", headers=auth(), json={"name": f"KIM Dua {run_id}", "type": "kim"})
        assert second.status_code == 201, second.text
        assert sent[("find", "partners")] == 0, f"no partner read to register one: {dict(sent)}"
        same_phone = await client.post("/partners", headers=auth(), json={
            "name": f"Forum Tiga {run_id}", "type": "kim", "contacts": [{"name": "Lalu", "phone": "+6281907001122"}]})
        assert same_phone.status_code == 409, "the partner registered a moment ago is compared with"
        assert same_phone.json()["possible_duplicates"] == [{"id": first.json()["id"], "name": f"KIM Satu {run_id}"}]
