"""The JSON APIs accept what the importer accepts (issue 12, point 9): a code in any case, a label in
Bahasa Indonesia or English, or an office's word ("KIM", "warganet"); they store and answer the code."""

from __future__ import annotations

from tests.conftest import auth, running
from tests.integration.test_activities_helpers import activity_body
from tests.integration.test_partners_api import SEKARBELA, problem_fields


async def test_a_partner_registered_in_an_offices_words_is_stored_and_found_by_its_codes(settings):
    async with running("partners", settings) as (_, client):
        body = {**SEKARBELA, "type": "KIM", "segments": ["Warganet", "pemilih pemula"],
                "channels": [{"kind": "Grup WhatsApp", "handle_or_url": "https://chat.whatsapp.com/kim"}],
                "agreements": [{**SEKARBELA["agreements"][0], "doc_type": "Nota Kesepahaman"}]}
        created = await client.post("/partners", headers=auth(), json=body)
        assert created.status_code == 201, created.text
        partner = created.json()
        assert partner["type"] == "kim"
        assert partner["segments"] == ["warga_internet", "pemilih_pemula"]
        assert partner["channels"][0]["kind"] == "whatsapp_group"
        assert partner["agreements"][0]["doc_type"] == "mou"

        for params in ({"type": "KIM"}, {"type": "kim"}, {"segment": "Warganet"}):
            found = await client.get("/partners", headers=auth("viewer"), params=params)
            assert found.status_code == 200, found.text
            assert [p["id"] for p in found.json()["items"]] == [partner["id"]], params

        if_match = {**auth(), "If-Match": created.headers["ETag"]}
        patched = await client.patch(f"/partners/{partner['id']}", headers=if_match, json={"type": "Perguruan Tinggi", "segments": ["FIRST-TIME VOTERS"]})
        assert patched.status_code == 200, patched.text
        assert (patched.json()["type"], patched.json()["segments"]) == ("perguruan_tinggi", ["pemilih_pemula"])


async def test_an_unknown_word_is_still_a_422_naming_the_field_and_the_codes(settings):
    async with running("partners", settings) as (_, client):
        refused = await client.post("/partners", headers=auth(), json={**SEKARBELA, "type": "partai"})
        assert refused.status_code == 422, refused.text
        assert problem_fields(refused) == {"type"}
        assert "opd_diskominfo" in refused.text and "kim" in refused.text
        listed = await client.get("/partners", headers=auth("viewer"), params={"type": "partai"})
        assert listed.status_code == 422 and "type" in listed.text, listed.text


async def test_an_activity_planned_in_words_is_stored_with_codes(settings):
    async with running("activities", settings) as (_, client):
        body = activity_body(format="Forum Warga", method="Langsung", kind="Pendidikan Pemilih",
                             stage="Masa tenang", topics=["Anti Politik Uang", "tata-cara-memilih"],
                             segments=["warganet", "Perempuan"])
        created = await client.post("/activities", headers=auth(), json=body)
        assert created.status_code == 201, created.text
        activity = created.json()
        assert (activity["format"], activity["method"], activity["kind"], activity["stage"]) == (
            "forum_warga", "langsung", "pendidikan_pemilih", "masa_tenang")
        assert activity["topics"] == ["anti_politik_uang", "tata_cara_memilih"]
        assert activity["segments"] == ["warga_internet", "perempuan"]
        found = await client.get("/activities", headers=auth("viewer"),
                                 params={"format": "forum warga", "segment": "Warganet"})
        assert found.status_code == 200, found.text
        assert activity["id"] in [a["id"] for a in found.json()["items"]]
        refused = await client.post("/activities", headers=auth(), json=activity_body(format="pawai"))
        assert refused.status_code == 422 and "format" in refused.text and "forum_warga" in refused.text, refused.text


async def test_segment_keys_of_targets_and_attendance_read_an_offices_words_too(settings):
    async with running("activities", settings) as (_, client):
        targets = await client.put("/targets/pilkada-2024", headers=auth(), json={
            "participation_target_pct": 77.5, "segment_targets": {"Pemilih Pemula": 4, "warganet": 2}})
        assert targets.status_code in (200, 201), targets.text
        assert targets.json()["segment_targets"] == {"pemilih_pemula": 4, "warga_internet": 2}

        planned = (await client.post("/activities", headers=auth(), json=activity_body(stage=None))).json()
        when = {"starts_at": "2024-11-20T09:00:00+07:00", "ends_at": "2024-11-20T11:00:00+07:00"}
        await client.post(f"/activities/{planned['id']}/schedule", headers=auth(), json=when)
        await client.post(f"/activities/{planned['id']}/hold", headers=auth())
        reported = await client.post(f"/activities/{planned['id']}/report", headers=auth(), json={
            "attendance_total": 40, "attendance_by_segment": {"pemula": 25, "Perempuan": 15}})
        assert reported.status_code == 200, reported.text
        assert reported.json()["outcome"]["attendance_by_segment"] == {"pemilih_pemula": 25, "perempuan": 15}
