"""Alerts that follow the facts (issue 14 point 5), on the real broker and store with the service's
clock under the test's control: the producers' events (sinergi.activity.report_overdue,
sinergi.partner.agreement_expiring and .agreement_lapsed) alert; an overdue report or a lapsed
agreement is alerted again each week until reported or renewed, and stays in the weekly digest;
weeks missed while the service was away give one alert when it is back, not one per week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.events import EventType
from tests.integration.test_notifications_schedule import WIB, frozen, local
from tests.notifications_support import activity, event, inbox, jobs, partner, publish, soon, ticks


async def _rule(client, recipient_id, rule, count):
    found = [n for n in await inbox(client, recipient_id) if n["rule"] == rule]
    return found if len(found) == count else None


async def _due(client, kind, subject):
    return [j["due_local"] for j in await jobs(client, kind=kind, subject=subject)]


async def test_an_overdue_report_is_alerted_by_the_event_then_weekly_until_reported(settings, monkeypatch):
    async with frozen(settings, monkeypatch, local(WIB, 2024, 11, 6, 12, 0)) as (app, client, clock, staff):
        starts = local(WIB, 2024, 11, 6, 9, 0)
        ends = (starts + timedelta(hours=2)).isoformat()
        late = activity("A-LATE", starts.isoformat(), ends_at=ends, status="held", title="Simulasi Pemungutan Suara")
        prompt = activity("A-PROMPT", starts.isoformat(), ends_at=ends, status="held", title="Talkshow Radio")
        await publish(settings, event(EventType.ACTIVITY_HELD, late, version=3),
                      event(EventType.ACTIVITY_HELD, prompt, version=3))
        await publish(settings, event(EventType.ACTIVITY_REPORTED, {**prompt, "status": "reported",
                                                                    "outcome": {"attendance_total": 60}}, version=4))

        async def weekly_only_for_the_late_one():
            return (await _due(client, "realert", "A-LATE") == ["2024-11-16T08:00:00+07:00"]
                    and await _due(client, "realert", "A-PROMPT") == [])

        await soon(weekly_only_for_the_late_one)
        # H+3 08:00: notifications no longer derives the first alert itself...
        clock.freeze(local(WIB, 2024, 11, 9, 8, 0))
        await ticks(app, 3)
        assert await _rule(client, staff["id"], "activity.report_overdue", 0) == []
        # ...the activities service announces it.
        clock.freeze(local(WIB, 2024, 11, 9, 8, 5))
        await publish(settings, event(EventType.ACTIVITY_REPORT_OVERDUE, late, version=4))
        [first] = await soon(lambda: _rule(client, staff["id"], "activity.report_overdue", 1))
        assert first["subject"] == "Laporan belum masuk: kegiatan 'Simulasi Pemungutan Suara' (6 November 2024)"
        assert "belum masuk 3 hari setelah kegiatan" in first["body"]

        clock.freeze(local(WIB, 2024, 11, 16, 8, 0))
        [again] = [n for n in await soon(lambda: _rule(client, staff["id"], "activity.report_overdue", 2))
                   if n["data"].get("again")]
        assert "belum masuk 10 hari setelah kegiatan" in again["body"]
        await soon(lambda: _next(client, "A-LATE", "2024-11-23T08:00:00+07:00"))

        # Away for three weeks: one alert when it is back, and the next a week on.
        clock.freeze(local(WIB, 2024, 12, 7, 9, 0))
        await soon(lambda: _rule(client, staff["id"], "activity.report_overdue", 3))
        await soon(lambda: _next(client, "A-LATE", "2024-12-14T08:00:00+07:00"))
        await ticks(app, 3)
        assert len(await _rule(client, staff["id"], "activity.report_overdue", 3)) == 3

        await publish(settings, event(EventType.ACTIVITY_REPORTED, {**late, "status": "reported"}, version=5))
        await soon(lambda: _next(client, "A-LATE", None))
        clock.freeze(local(WIB, 2024, 12, 14, 8, 0))
        await ticks(app, 3)
        assert await _rule(client, staff["id"], "activity.report_overdue", 3)


async def _next(client, subject, due):
    return await _due(client, "realert", subject) == ([due] if due else [])


MOU = {"id": "AG-1", "doc_type": "mou", "number": "01/PP.06-NK/3273/2023", "title": "Sosialisasi Pilkada",
       "valid_from": "2023-01-01", "valid_until": "2024-10-31", "scope": "penyebaran informasi"}


async def test_a_lapsed_agreement_is_alerted_then_weekly_and_in_the_digest_until_renewed(settings, monkeypatch):
    start = local(WIB, 2024, 11, 4, 9, 0)  # a Monday, after its digest
    # From its start, so that the digest it schedules then is the one of the week in question.
    monkeypatch.setenv("SINERGI_NOTIFY_CLOCK_OFFSET_SECONDS", str((start - datetime.now(UTC)).total_seconds()))
    async with frozen(settings, monkeypatch, start,
                      subscriptions=["partner.*", "digest.weekly"]) as (app, client, clock, staff):
        diskominfo = partner("P-1", "Diskominfo Kota Bandung", type="opd_diskominfo", agreements=[MOU])
        await publish(settings, event(EventType.PARTNER_REGISTERED, diskominfo))
        await soon(lambda: _next(client, "P-1", "2024-11-08T08:00:00+07:00"))
        lapsed = event(EventType.PARTNER_AGREEMENT_LAPSED, diskominfo, version=2)
        lapsed.data["agreement_id"] = "AG-1"
        await publish(settings, lapsed)
        [first] = await soon(lambda: _rule(client, staff["id"], "partner.agreement_lapsed", 1))
        assert first["subject"] == ("MoU (Nota Kesepahaman) dengan Diskominfo Kota Bandung sudah berakhir "
                                    "Kamis 31 Oktober 2024 (4 hari lalu)")

        clock.freeze(local(WIB, 2024, 11, 8, 8, 0))
        again = await soon(lambda: _rule(client, staff["id"], "partner.agreement_lapsed", 2))
        assert sorted(n["subject"].startswith("Masih berakhir: MoU (Nota Kesepahaman) dengan Diskominfo")
                      for n in again) == [False, True]

        clock.freeze(local(WIB, 2024, 11, 11, 7, 0))
        [digest] = await soon(lambda: _rule(client, staff["id"], "digest.weekly", 1))
        assert "Perjanjian yang sudah berakhir dan belum diperpanjang:" in digest["body"]
        assert "- Diskominfo Kota Bandung · MoU (Nota Kesepahaman) 01/PP.06-NK/3273/2023 · berakhir 31 Oktober 2024" \
            in digest["body"]
        assert digest["data"]["lapsed_agreements"] == [{"partner_id": "P-1", "agreement_id": "AG-1",
                                                        "valid_until": "2024-10-31"}]

        renewal = {**MOU, "id": "AG-2", "valid_from": "2024-11-01", "valid_until": "2025-10-31"}
        await publish(settings, event(EventType.PARTNER_AGREEMENT_SIGNED,
                                      {**diskominfo, "agreements": [MOU, renewal]}, version=3))
        await soon(lambda: _next(client, "P-1", None))
        clock.freeze(local(WIB, 2024, 11, 18, 8, 0))
        await soon(lambda: _rule(client, staff["id"], "digest.weekly", 2))
        assert len(await _rule(client, staff["id"], "partner.agreement_lapsed", 2)) == 2
        latest = max(await _rule(client, staff["id"], "digest.weekly", 2), key=lambda n: n["occurred_at"])
        assert "belum diperpanjang" not in latest["body"]


async def test_an_expiring_agreement_is_alerted_by_the_partners_event_and_reminded_a_week_before(settings,
                                                                                                monkeypatch):
    async with frozen(settings, monkeypatch, local(WIB, 2024, 12, 1, 8, 0), language="en") as (app, client, clock,
                                                                                               staff):
        mou = {**MOU, "valid_until": "2024-12-31"}
        diskominfo = partner("P-1", "Diskominfo Kota Bandung", type="opd_diskominfo", agreements=[mou])
        await publish(settings, event(EventType.PARTNER_REGISTERED, diskominfo))
        await soon(lambda: _only(client, "agreement", ["2024-12-24T08:00:00+07:00"]))
        expiring = event(EventType.PARTNER_AGREEMENT_EXPIRING, diskominfo, version=2)
        expiring.data["agreement_id"] = "AG-1"
        await publish(settings, expiring)
        [alert] = await soon(lambda: _rule(client, staff["id"], "partner.agreement_expiring", 1))
        assert alert["subject"] == "MoU with Diskominfo Kota Bandung expires in 30 days (Tuesday 31 December 2024)"
        clock.freeze(local(WIB, 2024, 12, 24, 8, 0))
        alerts = await soon(lambda: _rule(client, staff["id"], "partner.agreement_expiring", 2))
        assert any(n["subject"].endswith("expires in 7 days (Tuesday 31 December 2024)") for n in alerts)


async def _only(client, kind, dues):
    return sorted(j["due_local"] for j in await jobs(client, kind=kind)) == dues
