"""Targets set in the activities service reach the notifications service: district targets included.

District targets are keyed by kecamatan code (``32.73.02``), and a key with a dot can be neither
stored (MongoDB, FerretDB) nor taken by a consumer: the event carries them as a list.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import auth, running
from tests.notifications_support import fast, soon, subscribed
from tests.notifications_support import jobs as jobs_of


async def test_targets_with_district_targets_reach_the_notifications_service(settings, monkeypatch):
    # The notifications clock a month before Pilkada 2024's voting day, so its coverage check is ahead.
    before = datetime(2024, 10, 1, 2, 0, tzinfo=UTC)
    fast(monkeypatch, SINERGI_NOTIFY_CLOCK_OFFSET_SECONDS=str((before - datetime.now(UTC)).total_seconds()))
    async with (
        running("notifications", settings) as (app, notifications),
        running("activities", settings) as (_, activities),
    ):
        await soon(lambda: subscribed(app))
        body = {"participation_target_pct": 82.0, "segment_targets": {"pemilih_pemula": 3, "disabilitas": 2},
                "district_targets": {"32.73.02": 2, "32.73.25": 1}}
        answer = await activities.put("/targets/pilkada-2024", json=body, headers=auth())
        assert answer.status_code == 201, answer.text
        assert answer.json()["district_targets"] == {"32.73.02": 2, "32.73.25": 1}  # the API keeps its shape

        # The coverage check is scheduled from the targets: the event was applied, not dead-lettered.
        [check] = await soon(lambda: jobs_of(notifications, kind="coverage"))
        assert check["subject"] == "pilkada-2024"
