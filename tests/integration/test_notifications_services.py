"""The three real services in one process: what operators do in partners and activities reaches
staff, partner contacts and systems through the notifications service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import auth, running
from tests.notifications_support import (
    LOCAL_RECEIVERS,
    SmtpSink,
    WebhookReceiver,
    add_recipient,
    fast,
    inbox,
    jobs,
    soon,
    subscribed,
    value,
)


async def test_a_partner_an_activity_scheduled_then_cancelled_notify_staff_contacts_and_systems(settings, monkeypatch):
    fast(monkeypatch, **LOCAL_RECEIVERS)
    with SmtpSink() as smtp, WebhookReceiver() as hooks:
        settings = settings.model_copy(update={"smtp_url": smtp.url})
        async with (
            running("notifications", settings) as (app, notifications),
            running("activities", settings) as (_, activities),
            running("partners", settings) as (_, partners),
        ):
            await soon(lambda: subscribed(app))
            staff = await add_recipient(notifications, name="Rina (Sosdiklih)", email="rina@kpu-bandung.go.id")
            system = await add_recipient(notifications, name="Dasbor Jabar", kind="system",
                                         webhook_url=hooks.url("/jabar"), subscriptions=["activity.*"])

            created = await partners.post("/partners", headers=auth(), json={
                "name": "KIM Coblong Berdaya", "type": "kim", "segments": ["pemilih_pemula"],
                "contacts": [{"name": "Ibu Sari", "role": "ketua", "phone": "0812-2233-4455",
                              "email": "sari@kimcoblong.id"}]})
            assert created.status_code == 201, created.text
            partner_id = created.json()["id"]
            [registered] = await soon(lambda: inbox(notifications, staff["id"]))
            assert registered["subject"] == "Mitra baru: KIM Coblong Berdaya"

            async def known():
                return (await activities.get(f"/replica/partners/{partner_id}", headers=auth("viewer"))).status_code == 200
            await soon(known)
            planned = await activities.post("/activities", headers=auth(), json={
                "title": "Forum Warga Coblong", "kind": "sosialisasi", "election": "pilkada-2024", "method": "langsung",
                "format": "forum_warga", "segments": ["pemilih_pemula"],
                "partners": [{"partner_id": partner_id, "role": "penyelenggara"}]})
            assert planned.status_code == 201, planned.text
            activity_id = planned.json()["id"]
            starts = (datetime.now(UTC) + timedelta(days=10)).replace(hour=2, minute=0, second=0, microsecond=0)
            scheduled = await activities.post(f"/activities/{activity_id}/schedule", headers=auth(), json={
                "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
                "location": {"district": "32.73.02", "venue": "Balai RW 05"}})
            assert scheduled.status_code == 200, scheduled.text

            invitation = (await soon(lambda: value(smtp.to("sari@kimcoblong.id"))))[0]
            assert invitation["Subject"].startswith("Undangan: Forum Warga Coblong, ")
            assert invitation["Subject"].endswith("pukul 09.00 WIB")
            assert "mengundang KIM Coblong Berdaya sebagai penyelenggara" in invitation.get_content()
            [hook] = await soon(lambda: value(hooks.to("/jabar")))
            assert hook.signed_with(system["webhook_secret"]) and hook.json["data"]["activity"]["id"] == activity_id
            assert len(await soon(lambda: jobs(notifications, subject=activity_id))) == 2

            cancelled = await activities.post(f"/activities/{activity_id}/cancel", headers=auth(),
                                              json={"reason": "Balai RW dipakai untuk posko banjir"})
            assert cancelled.status_code == 200, cancelled.text
            await soon(lambda: value(len(smtp.to("sari@kimcoblong.id")) == 2))
            notice = next(m for m in smtp.to("sari@kimcoblong.id") if m["Subject"].startswith("Kegiatan dibatalkan"))
            assert "Alasan: Balai RW dipakai untuk posko banjir" in notice.get_content()
            rules = [n["rule"] for n in await soon(lambda: _three(notifications, staff["id"]))]
            assert rules == ["activity.cancelled", "activity.scheduled", "partner.registered"]
            assert await jobs(notifications, subject=activity_id) == []
            await soon(lambda: value(len(hooks.to("/jabar")) == 2))


async def _three(client, recipient_id):
    found = await inbox(client, recipient_id)
    return found if len(found) == 3 else None
