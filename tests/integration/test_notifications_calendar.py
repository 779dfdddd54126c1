"""The coverage check on the real broker and store: kecamatan targets (issue 12 point 1) and the
election calendar's voting day (point 3), with the service's clock under the test's control."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.events import EventType
from tests.conftest import running
from tests.notifications_support import activity, add_recipient, event, fast, inbox, jobs, publish, soon, subscribed, ticks

WIB = ZoneInfo("Asia/Jakarta")


def _targets() -> dict:
    now = datetime.now(UTC).isoformat()
    return {"id": "pilkada-2024", "election": "pilkada-2024", "region": "32.73", "voting_day": "2024-11-27",
            "created_at": now, "updated_at": now, "participation_target_pct": 82.0,
            "segment_targets": {"pemilih_pemula": 1},
            "district_targets": [{"district": "32.73.02", "activities": 3}, {"district": "32.73.03", "activities": 1}]}


def _election(voting_day: str, name: str = "Pemilihan Wali Kota Bandung 2024") -> dict:
    now = datetime.now(UTC).isoformat()
    return {"id": "pilkada-2024", "region": "32.73", "name": name, "kind": "pilkada", "voting_day": voting_day,
            "participation_target_pct": 82.0, "stages": [], "turnout": None, "created_at": now, "updated_at": now,
            "changed_fields": ["voting_day"]}


async def _gaps(client, recipient_id):
    return [n for n in await inbox(client, recipient_id) if n["rule"] == "coverage.gap"]


async def _due(client):
    return [j["due_local"] for j in await jobs(client, kind="coverage")]


@pytest.mark.parametrize("election_first", [False, True])
async def test_the_coverage_check_follows_the_voting_day_and_names_the_kecamatan_not_reached(
        settings, monkeypatch, election_first):
    fast(monkeypatch)
    async with running("notifications", settings) as (app, client):
        clock = app.state.clock
        clock.freeze(datetime(2024, 10, 1, 9, 0, tzinfo=WIB))
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Staf Sosdiklih")
        held = activity("A-1", datetime(2024, 10, 5, 9, 0, tzinfo=WIB).isoformat(), status="held",
                        location={"district": "32.73.02", "venue": "Balai RW 05"})
        targets = event(EventType.TARGETS_SET, _targets())
        if election_first:  # the calendar already moved the voting day when the targets arrive
            await publish(settings, event(EventType.ELECTION_UPDATED, _election("2024-12-11"), version=2))
        await publish(settings, targets, event(EventType.ACTIVITY_HELD, held, version=3))
        await soon(lambda: jobs(client, subject="A-1"))  # the held activity is known
        if not election_first:
            assert await soon(lambda: _due(client)) == ["2024-10-28T08:00:00+07:00"]
            # The admin moves voting day by two weeks (PUT /elections/pilkada-2024).
            await publish(settings, event(EventType.ELECTION_UPDATED, _election("2024-12-11"), version=2))
        await soon(lambda: _moved(client, ["2024-11-11T08:00:00+07:00"]))

        clock.freeze(datetime(2024, 10, 28, 8, 0, tzinfo=WIB))  # the old day: nothing
        await ticks(app, 3)
        assert await _gaps(client, staff["id"]) == []

        clock.freeze(datetime(2024, 11, 11, 8, 0, tzinfo=WIB))
        [gap] = await soon(lambda: _gaps(client, staff["id"]))
        # The held activity reached the one targeted segment (pemilih pemula) in Coblong (32.73.02).
        assert gap["subject"] == ("Kecamatan belum terjangkau: 1 kecamatan tanpa kegiatan terlaksana, "
                                  "30 hari sebelum pemungutan suara Pemilihan Wali Kota Bandung 2024")
        assert "- Kecamatan 32.73.03 (target 1 kegiatan)" in gap["body"] and "32.73.02" not in gap["body"]
        assert "Rabu 11 Desember 2024" in gap["body"]
        assert gap["data"]["voting_day"] == "2024-12-11"
        assert gap["data"]["district_gaps"] == [{"district": "32.73.03", "target": 1}]


async def _moved(client, wanted):
    return await _due(client) == wanted


async def test_a_standing_programme_without_a_voting_day_has_no_coverage_check(settings, monkeypatch):
    fast(monkeypatch)
    async with running("notifications", settings) as (app, client):
        app.state.clock.freeze(datetime(2024, 10, 1, 9, 0, tzinfo=WIB))
        await soon(lambda: subscribed(app))
        await publish(settings, event(EventType.TARGETS_SET, _targets()))
        assert await soon(lambda: _due(client)) == ["2024-10-28T08:00:00+07:00"]
        await publish(settings, event(EventType.ELECTION_UPDATED, _election(None, "Pendidikan pemilih"), version=2))
        await soon(lambda: _moved(client, []))
