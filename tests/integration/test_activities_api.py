"""The activities API on the real store and broker: life cycle, rules, events, targets.

(Over 400 lines: one test per rule of the contract's activities section, CONTRACT §4, read in its order.)
"""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.bus import tap
from tests.conftest import auth, eventually, make_settings, running
from tests.integration.test_activities_helpers import activity_body, events_of, iso, plan, post, soon

PAST = datetime(2024, 10, 12, 2, 0, tzinfo=UTC)  # 09:00 WIB, during the Pilkada 2024 campaign


def past(hours: float = 0.0) -> str:
    return iso(PAST + timedelta(hours=hours))


@pytest.fixture(scope="module")
async def service(servers, run_id):
    """One activities service for the tests of this module that do not count what is stored."""
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    async with running("activities", settings) as (_, client):
        yield settings, client


SNAPSHOT_FIELDS = {
    "id", "version", "created_at", "updated_at", "title", "description", "kind", "election", "region", "stage",
    "topics", "method", "format", "segments", "partners", "speakers", "location", "starts_at", "ends_at",
    "planned_reach", "status", "outcome", "scheduled_at", "held_at", "cancelled_at", "cancel_reason",
}


def on_the_wire(answer: dict) -> dict:
    """What an event carries of an answer: the activity itself, without this service's presentation
    (partner names and statuses from its replica, warnings, the contacts' answers to invitations)."""
    data = {k: v for k, v in answer.items() if k not in ("warnings", "confirmations")}
    data["partners"] = [{"partner_id": p["partner_id"], "role": p["role"]} for p in answer["partners"]]
    return data


async def test_an_activity_lives_its_whole_life_and_each_transition_publishes_exactly_one_event(service):
    settings, client = service
    async with tap(settings, "*.activity.*") as published:
        created = await plan(client)
        activity_id = created["id"]
        assert created["status"] == "planned" and created["version"] == 1
        assert SNAPSHOT_FIELDS | {"warnings"} <= set(created)

        edited = await client.patch(f"/activities/{activity_id}", json={"planned_reach": 120}, headers=auth())
        assert edited.status_code == 200 and edited.headers["etag"] == '"2"'
        scheduled = await post(client, activity_id, "schedule", {"starts_at": past(), "ends_at": past(3)})
        assert scheduled.status_code == 200, scheduled.text
        assert scheduled.json()["status"] == "scheduled" and scheduled.headers["etag"] == '"3"'
        moved = await post(client, activity_id, "schedule", {"starts_at": past(1), "ends_at": past(4),
                                                              "location": {"district": "32.73.01",
                                                                           "venue": "Aula Kecamatan Sukasari"}})
        assert moved.json()["status"] == "scheduled" and moved.json()["location"]["district"] == "32.73.01"
        held = await post(client, activity_id, "hold")
        assert held.status_code == 200 and held.json()["status"] == "held"
        reported = await post(client, activity_id, "report", {
            "attendance_total": 95, "attendance_by_segment": {"pemilih_pemula": 40, "perempuan": 51},
            "women": 51, "disabled": 3, "documentation_urls": ["https://kota-bandung.kpu.go.id/berita/forum-warga"],
            "notes": "Peserta aktif bertanya soal surat suara sah."})
        assert reported.status_code == 200, reported.text
        final = reported.json()
        assert final["status"] == "reported" and final["version"] == 6
        assert final["outcome"]["reach"] == 95 and final["outcome"]["women"] == 51

        events = await events_of(published, activity_id, 6)
        await asyncio.sleep(0.5)  # room for a duplicate to show
        events = [e for e in published if e["subject"] == activity_id]
        assert [e["type"] for e in events] == [
            "sinergi.activity.planned", "sinergi.activity.updated", "sinergi.activity.scheduled",
            "sinergi.activity.rescheduled", "sinergi.activity.held", "sinergi.activity.reported"]
        versions = [e["aggregateversion"] for e in events]
        assert versions == sorted(set(versions)) == [1, 2, 3, 4, 5, 6]
        for event in events:
            assert event["source"] == "/sinergi/32.73/activities" and event["region"] == "32.73"
            assert event["_amqp"]["routing_key"] == "3273." + event["type"].removeprefix("sinergi.")
            assert SNAPSHOT_FIELDS <= set(event["data"]) and "warnings" not in event["data"]
            assert event["data"]["version"] == event["aggregateversion"]
        assert events[1]["data"]["changed_fields"] == ["planned_reach"]
        assert events[3]["data"]["previous_starts_at"] == PAST.isoformat()
        assert events[-1]["data"] == on_the_wire(final), "the event carries the activity the client saw"

        read = await client.get(f"/activities/{activity_id}", headers=auth("viewer"))
        assert read.json() == final and read.headers["etag"] == '"6"'


async def test_cancelling_works_from_planned_and_scheduled_only(service):
    settings, client = service
    async with tap(settings, "*.activity.*") as published:
        planned = await plan(client)
        cancelled = await post(client, planned["id"], "cancel", {"reason": "Narasumber berhalangan hadir"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["cancel_reason"] == "Narasumber berhalangan hadir"

        scheduled = await plan(client)
        await post(client, scheduled["id"], "schedule", {"starts_at": past(), "ends_at": past(2)})
        assert (await post(client, scheduled["id"], "cancel", {"reason": "Hujan deras"})).status_code == 200

        reported = await plan(client)
        await post(client, reported["id"], "schedule", {"starts_at": past(), "ends_at": past(2)})
        await post(client, reported["id"], "hold")
        await post(client, reported["id"], "report", {"attendance_total": 10})
        refused = await post(client, reported["id"], "cancel", {"reason": "Terlambat"})
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["detail"] == f"activity {reported['id']} is 'reported'; it cannot be cancelled"
        assert problem["current_status"] == "reported" and problem["status"] == 409

        await events_of(published, reported["id"], 4)
        await asyncio.sleep(0.3)
        assert [e["type"] for e in published if e["subject"] == reported["id"]][-1] == "sinergi.activity.reported"
        assert [e["type"] for e in published if e["subject"] == planned["id"]] == [
            "sinergi.activity.planned", "sinergi.activity.cancelled"]


FORBIDDEN = {
    "planned": [("hold", None), ("report", {"attendance_total": 5})],
    "scheduled": [("report", {"attendance_total": 5})],
    "held": [("schedule", {"starts_at": past(), "ends_at": past(1)}), ("hold", None), ("cancel", {"reason": "x"}),
             ("edit", {"title": "Judul baru"})],
    "reported": [("schedule", {"starts_at": past(), "ends_at": past(1)}), ("hold", None),
                 ("report", {"attendance_total": 5}), ("cancel", {"reason": "x"}), ("edit", {"title": "Judul baru"})],
    "cancelled": [("schedule", {"starts_at": past(), "ends_at": past(1)}), ("hold", None),
                  ("report", {"attendance_total": 5}), ("cancel", {"reason": "lagi"}),
                  ("edit", {"title": "Judul baru"})],
}


@pytest.mark.parametrize("status", list(FORBIDDEN))
async def test_every_forbidden_transition_is_409_naming_the_current_status_and_changes_nothing(service, status):
    _, client = service
    activity = await plan(client)
    steps = {"planned": [], "scheduled": ["schedule"], "held": ["schedule", "hold"],
             "reported": ["schedule", "hold", "report"], "cancelled": ["cancel"]}[status]
    bodies = {"schedule": {"starts_at": past(), "ends_at": past(2)}, "hold": None,
              "report": {"attendance_total": 30}, "cancel": {"reason": "Ditunda"}}
    for step in steps:
        assert (await post(client, activity["id"], step, bodies[step])).status_code == 200
    before = (await client.get(f"/activities/{activity['id']}", headers=auth("viewer"))).json()
    for verb, body in FORBIDDEN[status]:
        if verb == "edit":
            response = await client.patch(f"/activities/{activity['id']}", json=body, headers=auth())
        else:
            response = await post(client, activity["id"], verb, body)
        assert response.status_code == 409, (verb, response.text)
        assert f"activity {activity['id']} is '{status}'" in response.json()["detail"]
        assert response.json()["current_status"] == status
    after = (await client.get(f"/activities/{activity['id']}", headers=auth("viewer"))).json()
    assert after == before


async def test_hold_is_refused_before_the_activity_starts(service):
    _, client = service
    activity = await plan(client)
    starts_at, ends_at = soon(days=2)
    await post(client, activity["id"], "schedule", {"starts_at": starts_at, "ends_at": ends_at})
    refused = await post(client, activity["id"], "hold")
    assert refused.status_code == 409
    assert "cannot be marked held before it starts" in refused.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    (activity_body(election="pemilu-2029"), "election"),
    (activity_body(method="langsung", format="radio"), "format"),
    (activity_body(method="tidak_langsung", format="goes_to_school"), "format"),
    (activity_body(starts_at="2024-10-12T10:00:00+07:00", ends_at="2024-10-12T09:00:00+07:00"), "ends_at"),
    (activity_body(starts_at="2024-10-12T10:00:00"), "starts_at"),
    (activity_body(segments=["pelaut"]), "segments[0]"),
    (activity_body(segments=[]), "segments"),
    (activity_body(kind="kampanye"), "kind"),
    (activity_body(title=""), "title"),
    (activity_body(location={"district": "33.16.01"}), "location.district"),
    (activity_body(partners=[{"partner_id": "01JXXXXXXXXXXXXXXXXXXXXXXX", "role": "mitra"}]), "partners[0].partner_id"),
    (activity_body(partners=[{"partner_id": "p", "role": "sponsor"}]), "partners[0].role"),
    (activity_body(planned_reach=-3), "planned_reach"),
    ({**activity_body(), "budget": 5_000_000}, "budget"),
])
async def test_each_invalid_field_is_a_422_naming_the_field(service, body, field):
    _, client = service
    response = await client.post("/activities", json=body, headers=auth())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


async def test_a_report_is_checked_before_it_is_accepted(service):
    _, client = service
    activity = await plan(client)
    await post(client, activity["id"], "schedule", {"starts_at": past(), "ends_at": past(2)})
    await post(client, activity["id"], "hold")
    for outcome, field in [
        ({"attendance_total": 40, "attendance_by_segment": {"perempuan": 41}}, "attendance_by_segment.perempuan"),
        ({"attendance_total": 40, "women": 41}, "women"),
        ({"attendance_total": 40, "disabled": 50}, "disabled"),
        ({"attendance_total": 40, "documentation_urls": ["bukan tautan"]}, "documentation_urls[0]"),
        ({"attendance_total": 40, "attendance_by_segment": {"pelaut": 3}}, "attendance_by_segment.pelaut.[key]"),
        ({"attendance_total": -1}, "attendance_total"),
    ]:
        response = await post(client, activity["id"], "report", outcome)
        assert response.status_code == 422, response.text
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert (await client.get(f"/activities/{activity['id']}", headers=auth())).json()["status"] == "held"


async def test_other_bodies_are_checked_too(service):
    _, client = service
    activity = await plan(client)
    no_reason = await post(client, activity["id"], "cancel", {"reason": ""})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    backwards = await post(client, activity["id"], "schedule", {"starts_at": past(2), "ends_at": past()})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "ends_at"
    media = await client.patch(f"/activities/{activity['id']}", json={"format": "media_sosial"}, headers=auth())
    assert media.status_code == 422 and media.json()["errors"][0]["field"] == "format"
    both = await client.patch(f"/activities/{activity['id']}", json={"format": "media_sosial",
                                                                     "method": "tidak_langsung"}, headers=auth())
    assert both.status_code == 200 and both.json()["format"] == "media_sosial"
    assert (await client.get("/activities/nope", headers=auth())).status_code == 404
    assert (await post(client, "nope", "hold")).status_code == 404


async def test_a_write_with_a_stale_if_match_is_412_and_changes_nothing(service):
    settings, client = service
    async with tap(settings, "*.activity.*") as published:
        activity = await plan(client)
        await client.patch(f"/activities/{activity['id']}", json={"title": "Forum warga Dago"}, headers=auth())
        stale = await client.patch(f"/activities/{activity['id']}", json={"title": "Lama"},
                                   headers={**auth(), "If-Match": '"1"'})
        assert stale.status_code == 412 and stale.json()["current_version"] == 2
        stale_hold = await post(client, activity["id"], "cancel", {"reason": "x"}, **{"If-Match": '"1"'})
        assert stale_hold.status_code == 412
        fresh = await post(client, activity["id"], "cancel", {"reason": "Ditunda"}, **{"If-Match": '"2"'})
        assert fresh.status_code == 200 and fresh.headers["etag"] == '"3"'
        await events_of(published, activity["id"], 3)
        await asyncio.sleep(0.3)
        assert len([e for e in published if e["subject"] == activity["id"]]) == 3


async def test_a_retried_create_with_the_same_idempotency_key_creates_one_activity(settings):
    async with tap(settings, "*.activity.*") as published, running("activities", settings) as (_, client):
        headers = {**auth(), "Idempotency-Key": "demo-forum-warga-1"}
        first = await client.post("/activities", json=activity_body(), headers=headers)
        again = await client.post("/activities", json=activity_body(), headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json()["id"] == again.json()["id"]
        listed = await client.get("/activities", headers=auth("viewer"))
        assert len(listed.json()["items"]) == 1
        await eventually(lambda: _value(len(published) == 1))
        await asyncio.sleep(0.3)
        assert len(published) == 1


async def test_activities_are_listed_with_filters_and_pages(settings):
    async with running("activities", settings) as (_, client):
        radio = await plan(client, title="Talkshow Radio PRFM: pemilih muda", method="tidak_langsung", format="radio",
                           segments=["pemilih_muda", "warga_internet"], location=None)
        school = await plan(client, title="KPU goes to school SMAN 2 Bandung", format="goes_to_school",
                            segments=["pemilih_pemula", "pelajar"], location={"district": "32.73.07"})
        forum = await plan(client, location={"district": "32.73.02"})
        await post(client, school["id"], "schedule", {"starts_at": past(), "ends_at": past(2)})
        await post(client, forum["id"], "schedule", {"starts_at": past(24 * 20), "ends_at": past(24 * 20 + 2)})
        await plan(client, election="pemilu-2024", title="Simulasi pemungutan suara", format="simulasi_pemungutan")

        async def ids(**params):
            response = await client.get("/activities", params=params, headers=auth("viewer"))
            assert response.status_code == 200, response.text
            return [a["id"] for a in response.json()["items"]]

        assert await ids(format="radio") == [radio["id"]]
        assert await ids(segment="pemilih_pemula", election="pilkada-2024") == [school["id"], forum["id"]]
        assert await ids(status="scheduled") == [school["id"], forum["id"]]
        assert await ids(district="32.73.07") == [school["id"]]
        assert await ids(**{"from": "2024-10-12", "to": "2024-10-12"}) == [school["id"]]
        assert await ids(**{"from": "2024-10-13"}) == [forum["id"]]
        assert len(await ids(election="pilkada-2024")) == 3
        bad = await client.get("/activities", params={"from": "12/10/2024"}, headers=auth("viewer"))
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"

        seen, cursor = [], None
        while True:
            page = (await client.get("/activities", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                                     headers=auth("viewer"))).json()
            seen += [a["id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 4


async def test_an_activity_inside_the_quiet_period_carries_a_warning(service):
    settings, client = service
    async with tap(settings, "*.activity.*") as published:
        activity = await plan(client, stage=None)  # scheduling fills the stage from the date
        quiet = await post(client, activity["id"], "schedule", {"starts_at": "2024-11-25T09:00:00+07:00",
                                                                 "ends_at": "2024-11-25T11:00:00+07:00"})
        assert quiet.status_code == 200
        assert quiet.json()["stage"] == "masa_tenang"
        warnings = quiet.json()["warnings"]
        assert [w["code"] for w in warnings] == ["masa_tenang"]
        assert "quiet period of pilkada-2024 (2024-11-24 to 2024-11-26)" in warnings[0]["message"]
        events = await events_of(published, activity["id"], 2)
        assert events[1]["data"] == on_the_wire(quiet.json()), "warnings are the API's, not the event's"
        calm = await post(client, activity["id"], "schedule", {"starts_at": "2024-11-20T09:00:00+07:00",
                                                                "ends_at": "2024-11-20T11:00:00+07:00"})
        assert calm.json()["warnings"] == []
        assert calm.json()["stage"] == "kampanye", "a stage filled from the date follows the date"


async def test_reads_need_a_viewer_and_writes_an_operator(service):
    _, client = service
    assert (await client.get("/activities")).status_code == 401
    assert (await client.post("/activities", json=activity_body(), headers=auth("viewer"))).status_code == 403
    assert (await client.get("/activities", headers=auth("viewer", ["33.16"]))).status_code == 403
    assert (await client.get("/elections", headers=auth("viewer"))).json()["items"][3]["id"] == "pilkada-2024"


async def test_targets_are_set_read_and_published_when_they_change(settings):
    async with tap(settings, "*.targets.*") as published, running("activities", settings) as (_, client):
        assert (await client.get("/targets/pilkada-2024", headers=auth("viewer"))).status_code == 404
        body = {"participation_target_pct": 79.5, "segment_targets": {"pemilih_pemula": 10, "disabilitas": 4},
                "district_targets": {"32.73.02": 3, "32.73.25": 2}, "reach_target": 25000,
                "source": "Rapat pleno KPU Kota Bandung, Juli 2024"}
        created = await client.put("/targets/pilkada-2024", json=body, headers=auth())
        assert created.status_code == 201, created.text
        targets = created.json()
        assert targets["voting_day"] == "2024-11-27" and targets["version"] == 1 and targets["id"] == "pilkada-2024"
        same = await client.put("/targets/pilkada-2024", json=body, headers=auth())
        assert same.status_code == 200 and same.json()["version"] == 1
        stale = await client.put("/targets/pilkada-2024", json={**body, "reach_target": 30000},
                                 headers={**auth(), "If-Match": '"7"'})
        assert stale.status_code == 412
        changed = await client.put("/targets/pilkada-2024", json={**body, "reach_target": 30000},
                                   headers={**auth(), "If-Match": '"1"'})
        assert changed.status_code == 200 and changed.json()["version"] == 2
        read = await client.get("/targets/pilkada-2024", headers=auth("viewer"))
        assert read.json() == changed.json() and read.headers["etag"] == '"2"'

        await eventually(lambda: _value(len(published) == 2))
        await asyncio.sleep(0.3)
        assert [e["type"] for e in published] == ["sinergi.targets.set"] * 2
        assert [e["aggregateversion"] for e in published] == [1, 2]
        data = published[1]["data"]
        assert data["reach_target"] == 30000 and data["voting_day"] == "2024-11-27"
        assert data["segment_targets"] == {"pemilih_pemula": 10, "disabilitas": 4}
        assert {"id", "version", "created_at", "updated_at", "election", "region",
                "participation_target_pct"} <= set(data)
        assert published[1]["_amqp"]["routing_key"] == "3273.targets.set"

        unknown = await client.put("/targets/pilkada-2029", json=body, headers=auth())
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "election"
        wrong = await client.put("/targets/pilkada-2024", json={"segment_targets": {"pelaut": 3}}, headers=auth())
        assert wrong.status_code == 422


async def _value(value):
    return value


async def test_coverage_follows_every_write_at_once(settings):
    async with running("activities", settings) as (_, client):
        async def totals(**params):
            response = await client.get("/stats/coverage", headers=auth("viewer"),
                                        params={"election": "pilkada-2024", "group_by": "format", **params})
            assert response.status_code == 200, response.text
            return response.json()["totals"]

        assert (await totals())["activities"] == 0
        activity = await plan(client, format="talkshow", method="langsung")
        assert (await totals())["by_status"]["planned"] == 1
        await post(client, activity["id"], "schedule", {"starts_at": past(), "ends_at": past(2)})
        await post(client, activity["id"], "hold")
        assert (await totals())["held"] == 1
        await post(client, activity["id"], "report", {"attendance_total": 30, "women": 12, "disabled": 1,
                                                      "reach": 2500})
        after = await totals()
        assert (after["by_status"]["reported"], after["attendance"], after["women"], after["disabled"],
                after["reach"]) == (1, 30, 12, 1, 2500)
        assert (await totals(**{"from": "2025-01-01", "to": "2025-01-31"}))["activities"] == 0
        assert (await totals(election="pemilu-2024"))["activities"] == 0


async def test_the_csv_report_has_one_row_per_activity_in_date_order(service):
    _, client = service
    # pemilu-2019: an election no other test of this module writes to
    first = await plan(client, election="pemilu-2019", title="Sosialisasi DPT, Pemilu 2019")
    second = await plan(client, election="pemilu-2019", title="Simulasi, Pemilu 2019", format="simulasi_pemungutan")
    third = await plan(client, election="pemilu-2019", title='Talkshow "Pemilu Damai", edisi 2', format="radio",
                       method="tidak_langsung", location=None)
    await post(client, second["id"], "schedule", {"starts_at": "2019-03-02T09:00:00+07:00",
                                                  "ends_at": "2019-03-02T12:00:00+07:00"})
    await post(client, second["id"], "hold")
    await post(client, second["id"], "report", {"attendance_total": 150, "women": 70,
                                                "attendance_by_segment": {"pemilih_pemula": 60}})
    await post(client, first["id"], "schedule", {"starts_at": "2019-03-09T09:00:00+07:00",
                                                 "ends_at": "2019-03-09T11:00:00+07:00"})
    response = await client.get("/reports/activities", params={"election": "pemilu-2019", "format": "csv"},
                                headers=auth("viewer"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf"), "a BOM, so spreadsheet programs read UTF-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["ID"] for r in rows] == [second["id"], first["id"], third["id"]], "dated first, in date order"
    assert [r["Status"] for r in rows] == ["Dilaporkan", "Dijadwalkan", "Direncanakan"]
    assert rows[0]["Tanggal"] == "2019-03-02" and rows[0]["Mulai"] == "2019-03-02 09:00"
    assert (rows[0]["Peserta"], rows[0]["Perempuan"], rows[0]["Peserta per segmen"]) == ("150", "70",
                                                                                         "Pemilih pemula: 60")
    assert rows[2]["Judul kegiatan"] == 'Talkshow "Pemilu Damai", edisi 2' and rows[2]["Peserta"] == ""
    assert rows[1]["Kecamatan"] == "32.73.02" and rows[1]["Bentuk kegiatan"] == "Forum warga"


# Dates at the ends of what Python's datetime holds: shifting them to UTC or to the region's day
# overflowed, and the request ended without an answer (issue 11, point 8).
EXTREME_PERIODS = [
    ("/activities", {"from": "0001-01-01"}, "from"),
    ("/activities", {"to": "9999-12-31"}, "to"),
    ("/activities", {"from": "9999-12-31T23:00:00-12:00"}, "from"),
    ("/stats/coverage", {"election": "pilkada-2024", "from": "0001-01-01T00:00:00+07:00"}, "from"),
    ("/stats/coverage", {"election": "pilkada-2024", "to": "9999-12-31"}, "to"),
    ("/reports/activities", {"election": "pilkada-2024", "from": "0001-01-01", "format": "csv"}, "from"),
    ("/reports/activities", {"election": "pilkada-2024", "to": "0001-01-01T00:00:00+00:00"}, "to"),
    ("/reports/activities", {"election": "pilkada-2024", "from": "9999-12-31T20:00:00+00:00"}, "from"),
]


@pytest.mark.parametrize(("path", "params", "field"), EXTREME_PERIODS)
async def test_a_period_at_the_ends_of_the_calendar_is_a_422_naming_the_parameter(service, path, params, field):
    _, client = service
    response = await client.get(path, params=params, headers=auth("viewer"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_a_time_at_the_ends_of_the_calendar_in_a_body_is_a_422_naming_the_field(service):
    _, client = service
    ancient = await client.post("/activities", headers=auth(), json=activity_body(
        starts_at="0001-01-01T05:00:00+07:00", ends_at="0001-01-01T07:00:00+07:00"))
    assert ancient.status_code == 422, ancient.text
    assert "starts_at" in [e["field"] for e in ancient.json()["errors"]]
    activity = await plan(client)
    too_late = await post(client, activity["id"], "schedule", {"starts_at": "9999-12-31T20:00:00-05:00",
                                                                "ends_at": "9999-12-31T22:00:00-05:00"})
    assert too_late.status_code == 422, too_late.text
    assert {"starts_at", "ends_at"} == {e["field"] for e in too_late.json()["errors"]}


async def test_a_period_far_from_today_but_within_the_calendar_is_answered(service):
    _, client = service
    for params in ({"from": "1900-01-01", "to": "2999-12-31"}, {"from": "0002-01-01", "to": "9998-12-30"}):
        listed = await client.get("/activities", params=params, headers=auth("viewer"))
        assert listed.status_code == 200, listed.text
        report = await client.get("/reports/activities", params={"election": "pemilu-2019", "format": "csv", **params},
                                  headers=auth("viewer"))
        assert report.status_code == 200, report.text
