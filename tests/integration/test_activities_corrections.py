"""Corrections (a reported outcome amended, a mistaken held reopened) and the report that falls
overdue at H+3 (issue 12, points 6 and 8), on the real store and broker. The overdue timer's
job is run by hand, with the service's clock set by the test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.bus import tap
from tests.conftest import auth, eventually, running
from tests.integration.test_activities_helpers import events_of, plan, post

START, END = "2024-10-12T09:00:00+07:00", "2024-10-12T11:00:00+07:00"  # Saturday morning in Dago


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)


async def held(client, **overrides) -> dict:
    activity = await plan(client, **overrides)
    assert (await post(client, activity["id"], "schedule", {"starts_at": START, "ends_at": END})).status_code == 200
    answer = await post(client, activity["id"], "hold")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_reported_outcome_is_corrected_with_a_reason_and_published_with_before_and_after(settings):
    async with tap(settings, "*.activity.*") as published, running("activities", settings) as (_, client):
        activity = await held(client)
        activity_id = activity["id"]
        early = await post(client, activity_id, "amend", {"reason": "salah hitung", "attendance_total": 90})
        assert early.status_code == 409 and early.json()["current_status"] == "held"
        reported = await post(client, activity_id, "report", {"attendance_total": 80, "women": 40,
                                                              "attendance_by_segment": {"perempuan": 40}})
        assert reported.status_code == 200 and reported.json()["version"] == 4

        too_many = await post(client, activity_id, "amend", {"reason": "x", "women": 90, "disabled": 81})
        assert too_many.status_code == 422
        assert {e["field"] for e in too_many.json()["errors"]} == {"women", "disabled"}
        no_reason = await post(client, activity_id, "amend", {"attendance_total": 95})
        assert no_reason.status_code == 422 and "reason" in no_reason.text
        nothing = await post(client, activity_id, "amend", {"reason": "cek"})
        assert nothing.status_code == 422 and nothing.json()["errors"][0]["field"] == "outcome"
        stale = await post(client, activity_id, "amend", {"reason": "x", "attendance_total": 95}, **{"If-Match": '"3"'})
        assert stale.status_code == 412

        amended = await post(client, activity_id, "amend", {
            "reason": "daftar hadir sesi kedua terlewat", "attendance_total": 95, "women": 48,
            "attendance_by_segment": {"perempuan": 48}, "notes": "Dua sesi."}, **{"If-Match": '"4"'})
        assert amended.status_code == 200, amended.text
        body = amended.json()
        assert body["version"] == 5 and amended.headers["etag"] == '"5"'
        assert {k: body["outcome"][k] for k in ("attendance_total", "women", "reach", "notes")} == {
            "attendance_total": 95, "women": 48, "reach": 80, "notes": "Dua sesi."}  # reach as reported
        again = await post(client, activity_id, "amend", {"reason": "kirim ulang", "attendance_total": 95})
        assert again.status_code == 200 and again.json()["version"] == 5  # nothing changed, nothing stored
        reopen = await post(client, activity_id, "reopen", {"reason": "belum terlaksana"})
        assert reopen.status_code == 409 and reopen.json()["current_status"] == "reported"
        assert "/amend" in reopen.json()["detail"]

        coverage = (await client.get("/stats/coverage", headers=auth("viewer"),
                                     params={"election": "pilkada-2024", "group_by": "segment"})).json()
        assert coverage["totals"]["attendance"] == 95 and coverage["totals"]["women"] == 48

        events = await events_of(published, activity_id, 5)
        await asyncio.sleep(0.3)  # room for an event of the unchanged amendment, were there one
        assert [e["type"] for e in published if e["subject"] == activity_id][-1] == "sinergi.activity.amended"
        assert len([e for e in published if e["subject"] == activity_id]) == 5
        event = events[-1]
        assert event["aggregateversion"] == 5 and event["data"]["reason"] == "daftar hadir sesi kedua terlewat"
        assert event["data"]["amended"] == {
            "attendance_total": {"before": 80, "after": 95},
            "attendance_by_segment": {"before": {"perempuan": 40}, "after": {"perempuan": 48}},
            "women": {"before": 40, "after": 48},
            "notes": {"before": None, "after": "Dua sesi."},
        }
        assert event["data"]["outcome"]["attendance_total"] == 95
        assert "amended" not in events[-2]["data"] and "reason" not in events[-2]["data"]


async def test_a_mistaken_held_is_reopened_with_a_reason_published_and_can_be_held_again(settings):
    async with tap(settings, "*.activity.*") as published, running("activities", settings) as (_, client):
        activity = await held(client)
        activity_id = activity["id"]
        blank = await post(client, activity_id, "reopen", {"reason": "  "})
        assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "reason"
        reopened = await post(client, activity_id, "reopen", {"reason": "salah tandai; acara diundur"})
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["status"] == "scheduled" and reopened.json()["held_at"] is None
        assert reopened.json()["starts_at"] == at(START).isoformat() and reopened.json()["version"] == 4
        twice = await post(client, activity_id, "reopen", {"reason": "lagi"})
        assert twice.status_code == 409 and twice.json()["current_status"] == "scheduled"

        events = await events_of(published, activity_id, 4)
        assert events[-1]["type"] == "sinergi.activity.reopened" and events[-1]["aggregateversion"] == 4
        assert events[-1]["data"]["reason"] == "salah tandai; acara diundur"
        assert events[-1]["data"]["status"] == "scheduled"
        assert (await post(client, activity_id, "hold")).json()["status"] == "held"


async def test_a_held_activity_without_a_report_is_announced_overdue_once_at_h_plus_3_in_the_regions_days(settings):
    # Two processes of one service are told so (SINERGI_PROCESSES, docs/operations.md): they then
    # take write leases, and neither trusts what it wrote last to be what the store holds.
    settings = settings.model_copy(update={"processes": 2})
    async with (tap(settings, "*.activity.*") as published, running("activities", settings) as (one, client),
                running("activities", settings) as (other, _)):
        first, second = one.state.activities, other.state.activities  # as two processes of the service
        first.clock = lambda: at("2024-10-12T12:00:00+07:00")
        late = await held(client, title="Forum warga Dago: laporan belum masuk")
        on_time = await held(client, title="Goes to school SMAN 1: dilaporkan")
        assert (await post(client, on_time["id"], "report", {"attendance_total": 120})).status_code == 200
        await plan(client, title="Belum dijadwalkan")

        for process in (first, second):
            process.clock = lambda: at("2024-10-14T23:59:00+07:00")  # H+2, last minute
        assert await first.announce_overdue() == 0
        for process in (first, second):
            process.clock = lambda: at("2024-10-15T00:00:00+07:00")  # H+3 begins in WIB (17:00 UTC the day before)
        looks = await asyncio.gather(first.announce_overdue(), second.announce_overdue(), first.announce_overdue())
        assert sum(looks) == 1
        assert await second.announce_overdue() == 0

        async def announced() -> list[dict] | None:
            return [e for e in published if e["type"] == "sinergi.activity.report_overdue"] or None

        await eventually(announced)
        await asyncio.sleep(0.5)  # room for a duplicate to show up, were there one
        # One fact, one event: the two relays may both publish it (at least once, as every event;
        # subscribers skip a repeated id), never two events for it.
        overdue = list({e["id"]: e for e in published if e["type"] == "sinergi.activity.report_overdue"}.values())
        assert [e["subject"] for e in overdue] == [late["id"]]
        assert overdue[0]["aggregateversion"] == 4 and overdue[0]["data"]["status"] == "held"
        read = (await client.get(f"/activities/{late['id']}", headers=auth("viewer"))).json()
        assert read["version"] == 4 and "overdue_announced_at" not in read  # bookkeeping, not shown

        reported = await post(client, late["id"], "report", {"attendance_total": 35})
        assert reported.status_code == 200 and reported.json()["version"] == 5
