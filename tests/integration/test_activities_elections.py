"""The editable election calendar on the real store and broker (issue 12, point 3; turnout, point 5):
an admin sets elections, activities and targets follow the stored calendar, the stage comes from
the date, a contradicting stage is a warning, turnout is recorded after voting day."""

from __future__ import annotations

import secrets

import pytest

from tests.bus import tap
from tests.conftest import auth, make_settings, running
from tests.integration.test_activities_helpers import events_of, plan, post

PSU = {
    "name": "Pemungutan Suara Ulang Pilwalkot Bandung 2025",
    "kind": "pemungutan_suara_ulang",
    "voting_day": "2025-08-06",
    "participation_target_pct": 75,
    "stages": [
        {"stage": "pemutakhiran_data_pemilih", "from": "2025-06-01", "to": "2025-06-30"},
        {"stage": "kampanye", "from": "2025-07-01", "to": "2025-08-02"},
        {"stage": "masa_tenang", "from": "2025-08-03", "to": "2025-08-05"},
        {"stage": "pemungutan_penghitungan", "from": "2025-08-06", "to": "2025-08-06"},
    ],
    "source": "Keputusan KPU Kota Bandung (contoh)",
}


@pytest.fixture(scope="module")
def settings(servers, run_id):
    return make_settings(servers, f"{run_id}{secrets.token_hex(4)}")


async def test_an_admin_sets_an_election_it_is_listed_and_published_and_others_are_refused(settings):
    psu_id = f"psu-{secrets.token_hex(3)}"
    async with tap(settings, "*.election.*") as published, running("activities", settings) as (_, client):
        refused = await client.put(f"/elections/{psu_id}", json=PSU, headers=auth("operator"))
        assert refused.status_code == 403
        created = await client.put(f"/elections/{psu_id}", json=PSU, headers=auth("admin"))
        assert created.status_code == 201, created.text
        assert created.headers["ETag"] == '"1"'
        assert created.json()["stages"][1] == {"stage": "kampanye", "from": "2025-07-01", "to": "2025-08-02",
                                               "starts_on": "2025-07-01", "ends_on": "2025-08-02"}
        listed = (await client.get("/elections", headers=auth("viewer"))).json()["items"]
        ids = [e["id"] for e in listed]
        assert ids[:4] == ["pemilu-2019", "pilkada-2020", "pemilu-2024", "pilkada-2024"]
        assert psu_id in ids and ids[-1] == "berkelanjutan", "standing programmes (no voting day) come last"
        (event,) = await events_of(published, psu_id, 1)
        assert event["type"] == "sinergi.election.updated"
        assert event["data"]["voting_day"] == "2025-08-06" and event["data"]["kind"] == "pemungutan_suara_ulang"

        same = await client.put(f"/elections/{psu_id}", json=PSU, headers=auth("admin"))
        assert same.status_code == 200 and same.json()["version"] == 1, "the same values change nothing"
        moved = {**PSU, "voting_day": "2025-08-13"}
        stale = await client.put(f"/elections/{psu_id}", json=moved, headers={**auth("admin"), "If-Match": '"7"'})
        assert stale.status_code == 412 and stale.json()["current_version"] == 1
        changed = await client.put(f"/elections/{psu_id}", json=moved, headers={**auth("admin"), "If-Match": '"1"'})
        assert changed.status_code == 200 and changed.json()["version"] == 2
        events = await events_of(published, psu_id, 2)
        assert [e["data"]["voting_day"] for e in events] == ["2025-08-06", "2025-08-13"]
        assert events[1]["data"]["changed_fields"] == ["voting_day"]

        bad = await client.put(f"/elections/{psu_id}-x", headers=auth("admin"), json={
            **PSU, "stages": [{"stage": "kampanye", "from": "2025-07-10", "to": "2025-07-01"}]})
        assert bad.status_code == 422
        assert [e["field"] for e in bad.json()["errors"]] == ["stages[0].to"]
        standing = await client.put(f"/elections/{psu_id}-y", headers=auth("admin"),
                                    json={"name": "Program", "kind": "berkelanjutan", "voting_day": "2025-01-01"})
        assert standing.status_code == 422 and standing.json()["errors"][0]["field"] == "voting_day"


async def test_activities_and_targets_follow_the_stored_calendar_and_the_stage_comes_from_the_date(settings):
    psu_id = f"psu-{secrets.token_hex(3)}"
    async with running("activities", settings) as (_, client):
        unknown = await client.post("/activities", headers=auth(), json={
            "title": "Forum PSU", "kind": "sosialisasi", "election": psu_id, "method": "langsung",
            "format": "forum_warga", "segments": ["umum"]})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "election"
        assert (await client.put(f"/targets/{psu_id}", json={}, headers=auth())).status_code == 422

        assert (await client.put(f"/elections/{psu_id}", json=PSU, headers=auth("admin"))).status_code == 201
        activity = await plan(client, election=psu_id, stage=None)
        scheduled = await post(client, activity["id"], "schedule", {"starts_at": "2025-07-12T09:00:00+07:00",
                                                                     "ends_at": "2025-07-12T11:00:00+07:00"})
        assert scheduled.status_code == 200, scheduled.text
        assert scheduled.json()["stage"] == "kampanye" and scheduled.json()["warnings"] == []
        assert (await client.put(f"/targets/{psu_id}", json={}, headers=auth())).json()["voting_day"] == "2025-08-06"

        wrong = await plan(client, election=psu_id, stage="pemutakhiran_data_pemilih")
        answer = await post(client, wrong["id"], "schedule", {"starts_at": "2025-08-04T09:00:00+07:00",
                                                               "ends_at": "2025-08-04T10:00:00+07:00"})
        assert answer.json()["stage"] == "pemutakhiran_data_pemilih", "a stage given is kept"
        codes = {w["code"]: w["message"] for w in answer.json()["warnings"]}
        assert set(codes) == {"masa_tenang", "tahapan_tidak_sesuai"}
        assert codes["tahapan_tidak_sesuai"] == (
            f"stage pemutakhiran_data_pemilih of {psu_id} runs 2025-06-01 to 2025-06-30, while the activity's "
            "date 2025-08-04 falls in stage masa_tenang")

        between = await plan(client, election="berkelanjutan", stage=None, programme="Desa Peduli Pemilu")
        held = await post(client, between["id"], "schedule", {"starts_at": "2026-03-10T09:00:00+07:00",
                                                               "ends_at": "2026-03-10T11:00:00+07:00"})
        assert held.json()["stage"] is None and held.json()["warnings"] == []
        standing_targets = await client.put("/targets/berkelanjutan", json={"participation_target_pct": 80},
                                            headers=auth())
        assert standing_targets.status_code == 201 and standing_targets.json()["voting_day"] is None
        figures = await client.get("/stats/coverage", params={"election": "berkelanjutan"}, headers=auth("viewer"))
        assert figures.status_code == 200 and figures.json()["days_to_voting_day"] is None


async def test_turnout_is_recorded_after_voting_day_and_coverage_shows_it_against_the_target(settings):
    future = f"psu-{secrets.token_hex(3)}"
    async with tap(settings, "*.election.*") as published, running("activities", settings) as (_, client):
        await client.put(f"/elections/{future}", headers=auth("admin"),
                         json={**PSU, "voting_day": "2099-01-01", "stages": []})
        early = await client.put(f"/elections/{future}/turnout", json={"turnout_pct": 70}, headers=auth())
        assert early.status_code == 409 and "2099-01-01" in early.json()["detail"]

        body = {"turnout_pct": 68.4, "source": "D.Hasil Kota Bandung",
                "districts": [{"district": "32.73.02", "turnout_pct": 74.1}, {"district": "32.73.25", "turnout_pct": 61.0}]}
        assert (await client.put("/elections/pilkada-2024/turnout", json=body, headers=auth("viewer"))).status_code == 403
        outside = await client.put("/elections/pilkada-2024/turnout", headers=auth(),
                                   json={**body, "districts": [{"district": "33.16.01", "turnout_pct": 50}]})
        assert outside.status_code == 422 and outside.json()["errors"][0]["field"] == "districts[0].district"
        recorded = await client.put("/elections/pilkada-2024/turnout", json=body, headers=auth())
        assert recorded.status_code == 200, recorded.text
        version = recorded.json()["version"]
        assert recorded.json()["turnout"]["turnout_pct"] == 68.4
        (event,) = await events_of(published, "pilkada-2024", 1)
        assert event["data"]["changed_fields"] == ["turnout"]

        await client.put("/targets/pilkada-2024", json={"participation_target_pct": 82}, headers=auth())
        coverage = (await client.get("/stats/coverage", params={"election": "pilkada-2024", "group_by": "district"},
                                     headers=auth("viewer"))).json()
        assert coverage["turnout"]["turnout_pct"] == 68.4
        assert coverage["turnout"]["participation_target_pct"] == 82.0
        assert coverage["turnout"]["gap_pct"] == -13.6 and coverage["turnout"]["target_met"] is False
        assert coverage["turnout"]["districts"][0] == {"district": "32.73.02", "district_name": "Coblong",
                                                       "turnout_pct": 74.1, "gap_pct": -7.9}
        again = await client.put("/elections/pilkada-2024/turnout", json=body, headers=auth())
        assert again.json()["version"] == version, "the same turnout again changes nothing"
