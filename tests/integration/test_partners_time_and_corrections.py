"""Facts that come with time (an agreement near its end, or past it) are announced once each, and a
mistaken status change can be corrected with a reason (issue 12, points 8 and 6), on the real
store and broker. The registry's clock is set by the test; the timer's job is run by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.bus import tap
from tests.conftest import auth, eventually, running
from tests.integration.test_partners_api import PARTNER_EVENTS, count_at_least, of_type, register

MOU = {"doc_type": "mou", "number": "011/MoU/2027", "valid_from": "2026-07-01", "valid_until": "2027-03-31"}


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T03:00:00").replace(tzinfo=UTC)


async def test_an_agreement_is_announced_expiring_then_lapsed_once_each_however_often_the_timer_runs(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (app, client):
        registry = app.state.registry_service
        registry.clock = lambda: at("2027-01-10")
        partner = await register(client, {"name": "Radio Komunitas Sekeloa", "type": "media", "agreements": [MOU]})
        assert partner["version"] == 1
        agreement_id = partner["agreements"][0]["id"]
        assert await registry.announce_agreements() == 0  # 80 days before its end: nothing yet

        registry.clock = lambda: at("2027-03-01")  # 30 days before 31 March
        await asyncio.gather(registry.announce_agreements(), registry.announce_agreements())
        assert await registry.announce_agreements() == 0
        registry.clock = lambda: at("2027-04-01")  # the day after its last valid day
        await asyncio.gather(registry.announce_agreements(), registry.announce_agreements())
        await registry.announce_agreements()

        await eventually(lambda: count_at_least(published, 3))
        await asyncio.sleep(0.3)  # room for a duplicate to show up, were there one
        expiring, lapsed = of_type(published, "agreement_expiring"), of_type(published, "agreement_lapsed")
        assert len(expiring) == 1 and len(lapsed) == 1, [e["type"] for e in published]
        assert expiring[0]["aggregateversion"] == 2 and lapsed[0]["aggregateversion"] == 3
        assert expiring[0]["data"]["agreement_id"] == lapsed[0]["data"]["agreement_id"] == agreement_id
        read = (await client.get(f"/partners/{partner['id']}", headers=auth("viewer"))).json()
        assert read["version"] == 3 and read["agreements"] == partner["agreements"]  # no bookkeeping shown


async def test_an_agreement_recorded_already_lapsed_is_announced_lapsed_at_once_and_never_again(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (app, client):
        registry = app.state.registry_service
        registry.clock = lambda: at("2027-06-01")
        partner = await register(client, {"name": "KIM Cidadap", "type": "kim"})
        signed = await client.post(f"/partners/{partner['id']}/agreements", headers=auth(), json=MOU)
        assert signed.status_code == 201, signed.text
        assert signed.json()["version"] == 3 and signed.headers["etag"] == '"3"'  # signed, then lapsed
        assert await registry.announce_agreements() == 0

        await eventually(lambda: count_at_least(published, 3))
        assert [e["type"].rsplit(".", 1)[1] for e in sorted(published, key=lambda e: e["aggregateversion"])] == [
            "registered", "agreement_signed", "agreement_lapsed"]
        assert of_type(published, "agreement_lapsed")[0]["data"]["agreement_id"] == signed.headers["x-agreement-id"]


async def test_a_mistaken_archive_is_corrected_with_a_reason_kept_in_the_history_and_announced(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        partner = await register(client, {"name": "Komunitas Difabel Bandung", "type": "ormas_komunitas"})
        url = f"/partners/{partner['id']}"
        archived = await client.post(f"{url}/archive", headers=auth(), json={"reason": "bubar"})
        assert archived.status_code == 200

        no_reason = await client.post(f"{url}/status/correct", headers=auth(), json={"status": "active"})
        assert no_reason.status_code == 422
        same = await client.post(f"{url}/status/correct", headers=auth(), json={"status": "archived", "reason": "x"})
        assert same.status_code == 409 and same.json()["current_status"] == "archived"
        stale = await client.post(f"{url}/status/correct", headers={**auth(), "If-Match": '"1"'},
                                  json={"status": "active", "reason": "salah arsip"})
        assert stale.status_code == 412

        corrected = await client.post(f"{url}/status/correct", headers=auth(),
                                      json={"status": "active", "reason": "salah pilih mitra; komunitas masih aktif"})
        assert corrected.status_code == 200, corrected.text
        body = corrected.json()
        assert body["status"] == "active" and body["version"] == 3
        last = body["status_history"][-1]
        assert (last["status"], last["previous"], last["reason"], last["by"]) == (
            "active", "archived", "salah pilih mitra; komunitas masih aktif", "tester")
        # The partner is an ordinary active one again.
        assert (await client.post(f"{url}/suspend", headers=auth(), json={"reason": "rehat"})).status_code == 200

        await eventually(lambda: count_at_least(published, 4))
        [event] = of_type(published, "status_corrected")
        assert event["aggregateversion"] == 3 and event["data"]["status"] == "active"
        assert event["data"]["status_history"][-1]["reason"] == "salah pilih mitra; komunitas masih aktif"


# --- possible duplicates (issue 12, point 10) -----------------------------------------------------


async def test_a_partner_that_looks_registered_already_is_a_409_unless_confirmed_a_similar_one_a_warning(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        kominfo = await register(client, {"name": "Diskominfo Kab. Bandung", "type": "opd_diskominfo"})
        sekarbela = await register(client, {"name": "KIM Sekarbela", "type": "kim", "contacts": [
            {"name": "Lalu", "phone": "0819-0700-1122", "email": "kim.sekarbela@example.id"}]})

        spelled_out = await client.post("/partners", headers=auth(), json={
            "name": "Dinas Komunikasi dan Informatika Kabupaten  Bandung", "type": "opd_diskominfo"})
        assert spelled_out.status_code == 409, spelled_out.text
        assert spelled_out.json()["possible_duplicates"] == [{"id": kominfo["id"], "name": kominfo["name"]}]
        same_phone = await client.post("/partners", headers=auth(), json={
            "name": "Kelompok Informasi Masyarakat Ampenan", "type": "kim",
            "contacts": [{"name": "Lalu", "phone": "+6281907001122"}]})
        assert same_phone.status_code == 409
        assert same_phone.json()["possible_duplicates"] == [{"id": sekarbela["id"], "name": "KIM Sekarbela"}]
        same_email = await client.post("/partners", headers=auth(), json={
            "name": "Forum Warga Ampenan", "type": "ormas_komunitas",
            "contacts": [{"name": "Lalu", "email": "KIM.Sekarbela@example.id"}]})
        assert same_email.status_code == 409

        confirmed = await client.post("/partners?confirm=true", headers=auth(), json={
            "name": "Dinas Komunikasi dan Informatika Kabupaten Bandung", "type": "opd_diskominfo"})
        assert confirmed.status_code == 201
        similar = await client.post("/partners", headers=auth(), json={"name": "KIM Sekarbela Bdg", "type": "kim"})
        assert similar.status_code == 201, similar.text
        assert similar.json()["possible_duplicates"] == [{"id": sekarbela["id"], "name": "KIM Sekarbela"}]
        typo = await client.post("/partners", headers=auth(), json={"name": "KIM Sekarbella", "type": "kim"})
        assert typo.status_code == 201 and {d["id"] for d in typo.json()["possible_duplicates"]} == {sekarbela["id"]}
        plain = await client.post("/partners", headers=auth(), json={"name": "Radio Mora FM", "type": "media"})
        assert plain.status_code == 201 and "possible_duplicates" not in plain.json()

        await eventually(lambda: count_at_least(published, 6))
        assert len(of_type(published, "registered")) == 6


async def test_an_import_imports_possible_duplicates_and_lists_them_as_warnings_per_row(settings):
    async with running("partners", settings) as (_, client):
        kominfo = await register(client, {"name": "Diskominfo Kota Bandung", "type": "opd_diskominfo"})
        sheet = ("nama,jenis,nama kontak,no hp\n"
                 "Dinas Komunikasi dan Informatika Kota Bandung,opd_diskominfo,,\n"
                 "KIM Sekarbela,kim,Lalu,0819-0700-1122\n"
                 "KIM Sekarbela Bdg,kim,,\n"
                 "Forum Warga Ampenan,ormas_komunitas,Baiq,0819 0700 1122\n"
                 "Radio Mora FM,media,,\n")
        answer = await client.post("/partners/import", headers=auth(),
                                   files={"file": ("mitra.csv", sheet.encode(), "text/csv")})
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["created"] == 5 and report["errors"] == []
        warned = {w["row"]: {d["name"] for d in w["possible_duplicates"]} for w in report["warnings"]}
        assert warned == {2: {kominfo["name"]}, 4: {"KIM Sekarbela"}, 5: {"KIM Sekarbela"}}
        assert all(w["message"] for w in report["warnings"])

        again = (await client.post("/partners/import", headers=auth(),
                                   files={"file": ("mitra.csv", sheet.encode(), "text/csv")})).json()
        assert (again["created"], again["warnings"]) == (0, [])  # nothing new, nothing to warn about
