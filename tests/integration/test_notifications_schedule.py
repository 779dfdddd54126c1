"""Date-aware rules on the real broker and store, with the service's clock under the test's control."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.clock import now_ms
from shared.events import EventType
from tests.conftest import running
from tests.notifications_support import (  # noqa: F401 - smtp and hooks are fixtures
    activity,
    add_recipient,
    event,
    fast,
    inbox,
    jobs,
    partner,
    publish,
    smtp,
    soon,
    subscribed,
    ticks,
    value,
)

WIB = ZoneInfo("Asia/Jakarta")


def local(zone, *args):
    return datetime(*args, tzinfo=zone)


@asynccontextmanager
async def frozen(settings, monkeypatch, at, **recipient):
    """The service with its clock stopped at ``at`` and one staff recipient."""
    fast(monkeypatch)
    async with running("notifications", settings) as (app, client):
        app.state.clock.freeze(at)
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, **{"name": "Staf Sosdiklih", **recipient})
        yield app, client, app.state.clock, staff


async def _rules(client, recipient_id, rule):
    return [n for n in await inbox(client, recipient_id) if n["rule"] == rule]


@pytest.mark.parametrize(("region", "timezone", "abbreviation"), [
    ("32.73", "Asia/Jakarta", "WIB"),  # Kota Bandung
    ("73.71", "Asia/Makassar", "WITA"),  # Kota Makassar
    ("91.71", "Asia/Jayapura", "WIT"),  # Kota Jayapura
])
async def test_h3_and_h1_reminders_fire_at_08_00_local_time_of_the_region(settings, monkeypatch, region, timezone,
                                                                          abbreviation):
    zone = ZoneInfo(timezone)
    settings = settings.model_copy(update={"region": region, "timezone": timezone})
    async with frozen(settings, monkeypatch, local(zone, 2024, 11, 1, 9, 0), regions=[region]) as (app, client, clock,
                                                                                                   staff):
        starts = local(zone, 2024, 11, 6, 9, 0)  # Rabu 6 November 2024, 09.00 local
        await publish(settings, event(EventType.ACTIVITY_SCHEDULED,
                                      activity("A-1", starts.isoformat(), region=region), region=region))

        reminders = await soon(lambda: jobs(client, subject="A-1"))
        h3, h1 = local(zone, 2024, 11, 3, 8, 0), local(zone, 2024, 11, 5, 8, 0)
        assert sorted(datetime.fromisoformat(j["due_local"]) for j in reminders) == [h3, h1]
        assert {j["due_local"][-6:] for j in reminders} == {h3.strftime("%z")[:3] + ":00"}

        for due, phrase, count in ((h3, "3 hari lagi", 1), (h1, "besok", 2)):
            clock.freeze(due - timedelta(seconds=1))
            await ticks(app)
            assert len(await _rules(client, staff["id"], "activity.reminder")) == count - 1
            clock.freeze(due)
            found = await soon(lambda c=count: _exactly(client, staff["id"], "activity.reminder", c))
            assert found[0]["subject"] == (f"Pengingat: kegiatan 'Forum Warga Coblong' dijadwalkan {phrase}, "
                                           f"Rabu 6 November 2024 pukul 09.00 {abbreviation} di Balai RW 05")
        await soon(lambda: _count(jobs(client, subject="A-1"), 0))


async def _exactly(client, recipient_id, rule, count):
    found = await _rules(client, recipient_id, rule)
    return found if len(found) == count else None


async def test_rescheduling_moves_the_reminders_and_cancelling_removes_them(settings, monkeypatch, smtp):
    settings = settings.model_copy(update={"smtp_url": smtp.url})
    async with frozen(settings, monkeypatch, local(WIB, 2024, 11, 1, 9, 0)) as (app, client, clock, staff):
        kim = partner("P-1", "KIM Dago", contacts=[{"name": "Ibu Sari", "email": "sari@kimdago.id"}])
        moved = activity("A-MOVE", local(WIB, 2024, 11, 6, 9, 0).isoformat())
        dropped = activity("A-DROP", local(WIB, 2024, 11, 7, 9, 0).isoformat(), title="Diskusi Pemilih Muda",
                           partners=[{"partner_id": "P-1", "role": "mitra"}])
        await publish(settings, event(EventType.PARTNER_REGISTERED, kim),
                      event(EventType.ACTIVITY_SCHEDULED, moved, version=2),
                      event(EventType.ACTIVITY_SCHEDULED, dropped, version=2))
        await soon(lambda: _count(jobs(client, kind="reminder"), 4))
        await soon(lambda: value(smtp.to("sari@kimdago.id")))  # invited

        new_start = local(WIB, 2024, 11, 10, 14, 0)
        await publish(settings,
                      event(EventType.ACTIVITY_RESCHEDULED, {**moved, "starts_at": new_start.isoformat()}, version=3),
                      event(EventType.ACTIVITY_CANCELLED, {**dropped, "status": "cancelled"}, version=3))

        async def moved_jobs():
            found = sorted(datetime.fromisoformat(j["due_local"]) for j in await jobs(client, kind="reminder"))
            return found == [local(WIB, 2024, 11, 7, 8, 0), local(WIB, 2024, 11, 9, 8, 0)] and found
        await soon(moved_jobs)
        changed = await soon(lambda: _exactly(client, staff["id"], "activity.scheduled", 3))
        assert "Jadwal berubah: 'Forum Warga Coblong', Minggu 10 November 2024 pukul 14.00 WIB" in [
            n["subject"] for n in changed]
        assert (await _rules(client, staff["id"], "activity.cancelled"))[0]["subject"] == (
            "Kegiatan dibatalkan: 'Diskusi Pemilih Muda', Kamis 7 November 2024")

        # The old H-1 of both activities passes quietly.
        clock.freeze(local(WIB, 2024, 11, 6, 8, 0))
        await ticks(app, 3)
        assert await _rules(client, staff["id"], "activity.reminder") == []

        clock.freeze(local(WIB, 2024, 11, 7, 8, 0))
        [h3] = await soon(lambda: _exactly(client, staff["id"], "activity.reminder", 1))
        assert h3["subject"].startswith("Pengingat: kegiatan 'Forum Warga Coblong' dijadwalkan 3 hari lagi, "
                                        "Minggu 10 November 2024 pukul 14.00 WIB")
        clock.freeze(local(WIB, 2024, 11, 9, 8, 0))
        [h1, _] = await soon(lambda: _exactly(client, staff["id"], "activity.reminder", 2))
        assert h1["subject"].startswith("Pengingat: kegiatan 'Forum Warga Coblong' dijadwalkan besok, "
                                        "Minggu 10 November 2024 pukul 14.00 WIB")

        # The partner's contact was invited, then told of the cancellation.
        await soon(lambda: value(len(smtp.to("sari@kimdago.id")) == 2))
        invited, cancelled = sorted(smtp.to("sari@kimdago.id"), key=lambda m: m["Subject"].startswith("Kegiatan"))
        assert invited["Subject"] == "Undangan: Diskusi Pemilih Muda, Kamis 7 November 2024 pukul 09.00 WIB"
        assert cancelled["Subject"] == "Kegiatan dibatalkan: 'Diskusi Pemilih Muda', Kamis 7 November 2024"
        assert cancelled.get_content().startswith("Yth. Ibu Sari,")


async def _count(found, n):
    return len(await found) == n


# The overdue-report and agreement alerts follow the producers' events now: tests/integration/test_alerts.py.


async def test_a_targeted_segment_with_no_held_activity_30_days_before_voting_day_is_a_gap(settings, monkeypatch):
    async with frozen(settings, monkeypatch, local(WIB, 2024, 10, 1, 9, 0)) as (app, client, clock, staff):
        now = datetime.now(UTC).isoformat()
        targets = {"id": "pilkada-2024", "election": "pilkada-2024", "region": "32.73", "voting_day": "2024-11-27",
                   "created_at": now, "updated_at": now, "participation_target_pct": 82.0,
                   "segment_targets": {"pemilih_pemula": 3, "disabilitas": 2, "perempuan": 1, "lansia": 0}}
        held = activity("A-1", local(WIB, 2024, 10, 5, 9, 0).isoformat(), status="held",
                        segments=["pemilih_pemula", "komunitas"])
        planned = activity("A-2", None, status="planned", segments=["disabilitas"])
        await publish(settings, event(EventType.TARGETS_SET, targets), event(EventType.ACTIVITY_HELD, held, version=3),
                      event(EventType.ACTIVITY_PLANNED, planned))
        await soon(lambda: jobs(client, subject="A-1"))  # the held activity is known
        [check] = await jobs(client, kind="coverage")
        assert check["due_local"] == "2024-10-28T08:00:00+07:00"

        clock.freeze(local(WIB, 2024, 10, 28, 8, 0))
        [gap] = await soon(lambda: _exactly(client, staff["id"], "coverage.gap", 1))
        assert gap["subject"] == ("Segmen belum terjangkau: 2 segmen tanpa kegiatan terlaksana, 30 hari sebelum "
                                  "pemungutan suara Pilkada 2024")
        assert "- penyandang disabilitas (target 2 kegiatan)\n- perempuan (target 1 kegiatan)" in gap["body"]
        assert "pemilih pemula" not in gap["body"] and "lansia" not in gap["body"]
        assert gap["data"]["gaps"] == ["disabilitas", "perempuan"]


async def test_the_weekly_digest_goes_out_on_monday_at_07_00_local(settings, monkeypatch):
    sunday_night = local(WIB, 2024, 11, 10, 23, 0)
    fast(monkeypatch, SINERGI_NOTIFY_CLOCK_OFFSET_SECONDS=str((sunday_night - datetime.now(UTC)).total_seconds()))
    async with running("notifications", settings) as (app, client):
        clock = app.state.clock
        clock.freeze(sunday_night)
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Kasubbag Teknis", subscriptions=["digest.weekly"])
        [digest] = await jobs(client, kind="digest")
        assert digest["due_local"] == "2024-11-11T07:00:00+07:00"

        reported = activity("A-1", local(WIB, 2024, 11, 6, 9, 0).isoformat(), status="reported",
                            title="Forum Warga Coblong", outcome={"attendance_total": 80, "reach": 120})
        open_report = activity("A-2", local(WIB, 2024, 11, 8, 13, 0).isoformat(), status="held",
                               title="Goes to Campus ITB")
        older = activity("A-3", local(WIB, 2024, 10, 20, 9, 0).isoformat(), status="reported", title="Lama",
                         outcome={"attendance_total": 500, "reach": 900})
        coming = activity("A-4", local(WIB, 2024, 11, 12, 19, 0).isoformat(), title="Pentas Seni Braga")
        await publish(settings, *(event(EventType.ACTIVITY_SCHEDULED, a, version=2)
                                  for a in (reported, open_report, older, coming)))
        await soon(lambda: _count(jobs(client, kind="reminder"), 1))

        clock.freeze(local(WIB, 2024, 11, 11, 6, 59, 59))
        await ticks(app)
        assert await inbox(client, staff["id"]) == []
        clock.freeze(local(WIB, 2024, 11, 11, 7, 0))
        [weekly] = await soon(lambda: _exactly(client, staff["id"], "digest.weekly", 1))
        assert weekly["subject"] == "Ringkasan mingguan KPU Kota Bandung: 4 November 2024 – 10 November 2024"
        body = weekly["body"]
        assert "Kegiatan pekan lalu : 2 (terlaksana 2, dilaporkan 1, dibatalkan 0)" in body
        assert "Jumlah hadir        : 80" in body and "Jangkauan           : 120" in body
        assert "- Goes to Campus ITB (8 November 2024)" in body
        assert "Selasa 12 November 2024 pukul 19.00 WIB · Pentas Seni Braga" in body
        assert "Lama" not in body
        async def following():
            return [j["due_local"] for j in await jobs(client, kind="digest")] == ["2024-11-18T07:00:00+07:00"]
        await soon(following)


async def test_a_reminder_that_came_due_while_the_service_was_down_fires_once_on_start(settings, monkeypatch):
    due = local(WIB, 2024, 11, 5, 8, 0)

    def shift_to(moment):
        fast(monkeypatch, SINERGI_NOTIFY_CLOCK_OFFSET_SECONDS=str((moment - datetime.now(UTC)).total_seconds()))

    shift_to(due - timedelta(hours=1))
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Staf Sosdiklih")
        await publish(settings, event(EventType.ACTIVITY_SCHEDULED,
                                      activity("A-1", local(WIB, 2024, 11, 6, 9, 0).isoformat())))
        await soon(lambda: _count(jobs(client, kind="reminder"), 1))
    # Down from 07:00 to 10:00; the H-1 reminder was due at 08:00.
    shift_to(due + timedelta(hours=2))
    async with running("notifications", settings) as (app, client):
        [reminder] = await soon(lambda: _exactly(client, staff["id"], "activity.reminder", 1))
        assert "dijadwalkan besok, Rabu 6 November 2024" in reminder["subject"]
        assert await jobs(client, kind="reminder") == []
    async with running("notifications", settings) as (app, client):
        await ticks(app, 3)
        assert len(await _rules(client, staff["id"], "activity.reminder")) == 1


async def test_a_reminder_due_a_second_after_its_event_fires_then_not_at_the_next_poll(settings, monkeypatch):
    """The scheduler looks for due work every ``poll_seconds`` (5 s by default) when nothing wakes
    it. A reminder that comes due one second after its activity is scheduled is on time, where it
    used to wait for the next poll (up to 5 s late)."""
    fast(monkeypatch, SINERGI_NOTIFY_POLL_SECONDS="5", SINERGI_NOTIFY_DISABLED_RULES="digest.weekly")
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Staf Sosdiklih")  # an inbox only: no delivery wakes the scheduler
        starts, h1 = local(WIB, 2030, 3, 6, 9, 0), local(WIB, 2030, 3, 5, 8, 0)
        await ticks(app, 1)  # it has just looked: the next poll is 5 s away
        moved_at = now_ms()
        app.state.clock.offset = h1 - timedelta(seconds=1) - moved_at  # one second before the H-1 reminder
        await publish(settings, event(EventType.ACTIVITY_SCHEDULED, activity("A-SOON", starts.isoformat())))

        found = await soon(lambda: _exactly(client, staff["id"], "activity.reminder", 1), timeout=15)
        late = (datetime.fromisoformat(found[0]["created_at"]) - (moved_at + timedelta(seconds=1))).total_seconds()
        assert found[0]["subject"].endswith("dijadwalkan besok, Rabu 6 Maret 2030 pukul 09.00 WIB di Balai RW 05")
        assert 0 <= late < 1.0, f"the reminder fired {late:.2f} s after it was due"
