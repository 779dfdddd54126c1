"""``updated`` events say what each changed field was and became (issue 12 point 7): a subscriber, or
an auditor, need not keep the previous version to know what an edit did."""

from __future__ import annotations

from tests.bus import tap
from tests.conftest import auth, eventually, running
from tests.integration.test_activities_helpers import activity_body


async def _one(events: list, kind: str) -> list:
    found = [e for e in events if e["type"] == kind]
    return found or False  # type: ignore[return-value]


async def test_a_partner_edit_publishes_each_field_before_and_after(settings):
    async with tap(settings, "*.partner.updated") as published, running("partners", settings) as (_, client):
        created = await client.post("/partners", headers=auth(), json={"name": "KIM Sekarbela", "type": "kim",
                                                                       "notes": "lama"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]
        changed = await client.patch(f"/partners/{partner_id}", headers=auth(),
                                     json={"name": "KIM Sekarbela Mataram", "notes": "baru", "segments": ["umum"]})
        assert changed.status_code == 200, changed.text
        [event] = await eventually(lambda: _one(published, "sinergi.partner.updated"), timeout=10)
        assert event["data"]["changes"] == {
            "name": {"before": "KIM Sekarbela", "after": "KIM Sekarbela Mataram"},
            "segments": {"before": [], "after": ["umum"]},
            "notes": {"before": "lama", "after": "baru"},
        }


async def test_an_activity_edit_publishes_each_field_before_and_after(settings):
    async with tap(settings, "*.activity.updated") as published, running("activities", settings) as (_, client):
        planned = await client.post("/activities", headers=auth(), json=activity_body(planned_reach=80))
        assert planned.status_code == 201, planned.text
        edited = await client.patch(f"/activities/{planned.json()['id']}", headers=auth(),
                                    json={"planned_reach": 120, "title": "Forum warga RW 05"})
        assert edited.status_code == 200, edited.text
        [event] = await eventually(lambda: _one(published, "sinergi.activity.updated"), timeout=10)
        assert event["data"]["changes"]["planned_reach"] == {"before": 80, "after": 120}
        assert event["data"]["changes"]["title"]["after"] == "Forum warga RW 05"
        assert set(event["data"]["changes"]) == set(event["data"]["changed_fields"])
