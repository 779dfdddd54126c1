"""Answers to invitations (issue 14 point 4), the three real services on the real broker and store:
the invitation e-mail carries a signed link; its page takes the contact's answer; the answer travels
as sinergi.invitation.answered and the activity's view shows it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from tests.bus import tap
from tests.conftest import auth, running
from tests.notifications_support import SmtpSink, add_recipient, fast, soon, subscribed, value


async def test_a_contact_answers_on_the_signed_page_and_the_activity_shows_the_confirmation(settings, monkeypatch):
    fast(monkeypatch, SINERGI_NOTIFY_PUBLIC_URL="https://sinergi.kpu-bandung.example")
    with SmtpSink() as smtp:
        settings = settings.model_copy(update={"smtp_url": smtp.url})
        async with (
            tap(settings, "*.invitation.*") as published,
            running("notifications", settings) as (app, notifications),
            running("activities", settings) as (_, activities),
            running("partners", settings) as (_, partners),
        ):
            await soon(lambda: subscribed(app))
            await add_recipient(notifications, name="Rina (Sosdiklih)")
            created = await partners.post("/partners", headers=auth(), json={
                "name": "KIM Coblong Berdaya", "type": "kim", "segments": ["pemilih_pemula"],
                "contacts": [{"name": "Ibu Sari", "role": "ketua", "email": "sari@kimcoblong.id"}]})
            assert created.status_code == 201, created.text
            partner_id = created.json()["id"]

            async def known():
                return (await activities.get(f"/replica/partners/{partner_id}", headers=auth("viewer"))).status_code == 200
            await soon(known)
            planned = await activities.post("/activities", headers=auth(), json={
                "title": "Forum Warga Coblong", "kind": "sosialisasi", "election": "pilkada-2024", "method": "langsung",
                "format": "forum_warga", "segments": ["pemilih_pemula"],
                "partners": [{"partner_id": partner_id, "role": "penyelenggara"}]})
            activity_id = planned.json()["id"]
            starts = (datetime.now(UTC) + timedelta(days=10)).replace(hour=2, minute=0, second=0, microsecond=0)
            scheduled = await activities.post(f"/activities/{activity_id}/schedule", headers=auth(), json={
                "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
                "location": {"district": "32.73.02", "venue": "Balai RW 05"}})
            assert scheduled.status_code == 200, scheduled.text

            invitation = (await soon(lambda: value(smtp.to("sari@kimcoblong.id"))))[0]
            text = invitation.get_content()
            [link] = re.findall(r"https://sinergi\.kpu-bandung\.example/invitations/\S+", text)
            assert "Mohon konfirmasi kehadiran (hadir, tidak hadir, atau diwakilkan) melalui tautan berikut:" in text
            path = urlparse(link).path

            page = await notifications.get(path)  # no token: the signature is the authority
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "Yth. Ibu Sari" in page.text and "Forum Warga Coblong" in page.text
            assert 'name="viewport"' in page.text and "Diwakilkan" in page.text

            tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
            refused = await notifications.get(tampered)
            assert refused.status_code == 403 and "tidak sah" in refused.text
            assert (await notifications.post(tampered, data={"answer": "hadir"})).status_code == 403

            nameless = await notifications.post(path, data={"answer": "diwakilkan", "name": ""})
            assert nameless.status_code == 422 and "tulis nama yang mewakili" in nameless.text
            answered = await notifications.post(path, data={"answer": "diwakilkan", "name": "Pak Dedi",
                                                            "note": "Ibu Sari bertugas di luar kota"})
            assert answered.status_code == 200 and "Anda diwakili oleh Pak Dedi" in answered.text
            again = await notifications.post(path, data={"answer": "diwakilkan", "name": "Pak Dedi",
                                                         "note": "Ibu Sari bertugas di luar kota"})
            assert again.status_code == 200  # the same answer twice is one answer

            [event] = await soon(lambda: value([e for e in published if e["type"] == "sinergi.invitation.answered"]))
            assert event["data"]["activity_id"] == activity_id and event["data"]["answer"] == "diwakilkan"
            assert event["data"]["name"] == "Pak Dedi" and event["data"]["partner_id"] == partner_id
            assert event["aggregateversion"] == 1

            async def confirmed():
                view = (await activities.get(f"/activities/{activity_id}", headers=auth("viewer"))).json()
                return view.get("confirmations", {}).get("items") and view["confirmations"]

            shown = await soon(confirmed)
            assert shown["counts"] == {"hadir": 0, "tidak_hadir": 0, "diwakilkan": 1}
            [item] = shown["items"]
            assert (item["contact_name"], item["name"], item["answer"]) == ("Ibu Sari", "Pak Dedi", "diwakilkan")

            # A changed mind is a later version, and the view follows it.
            await notifications.post(path, data={"answer": "hadir", "name": "Ibu Sari"})

            async def attending():
                view = (await activities.get(f"/activities/{activity_id}", headers=auth("viewer"))).json()
                return view["confirmations"]["counts"]["hadir"] == 1 and view["confirmations"]

            assert (await soon(attending))["counts"]["diwakilkan"] == 0
            page = await notifications.get(path)
            assert "Jawaban Anda sebelumnya: Hadir (Ibu Sari)" in page.text
