"""What a person reads is in Bahasa Indonesia unless the request asks for English, and one answer
names every problem of a body (issue 12, point 9). Real services in-process, real store and broker."""

from __future__ import annotations

import httpx

from tests.conftest import auth, running
from tests.integration.test_activities_helpers import activity_body

NO_LANGUAGE: dict[str, str] = {}
ENGLISH = {"Accept-Language": "en"}


def client_of(app, service: str) -> httpx.AsyncClient:
    """A client that sends no Accept-Language, as a phone's fetch without settings does."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}")


async def test_a_refused_partner_is_answered_in_bahasa_indonesia_with_every_problem_at_once(settings):
    body = {"type": "kim", "contacts": [{"name": "Bu Tati", "phone": "12", "email": "tati"}]}
    async with running("partners", settings) as (app, _), client_of(app, "partners") as client:
        refused = await client.post("/partners", json=body, headers=auth())
        assert refused.status_code == 422
        assert refused.headers["content-language"] == "id"
        problem = refused.json()
        assert problem["title"] == "Masukan tidak sah"
        messages = {e["field"]: e["message"] for e in problem["errors"]}
        # the name the model requires and the phone and e-mail the registry checks: one answer, not two
        assert messages["name"] == "wajib diisi"
        assert messages["contacts[0].phone"].startswith("'12' bukan nomor telepon Indonesia yang sah")
        assert messages["contacts[0].email"].startswith("'tati' bukan alamat e-mail")
        assert "contacts[0].phone: '12' bukan nomor telepon" in problem["detail"]

        english = await client.post("/partners", json=body, headers={**auth(), **ENGLISH})
        assert english.headers["content-language"] == "en"
        assert {e["field"]: e["message"] for e in english.json()["errors"]}["name"] == "Field required"
        assert "is not a valid Indonesian phone number" in english.text
        assert (await client.get("/partners", headers=auth("viewer"))).json()["items"] == [], "nothing was stored"


async def test_a_refused_activity_names_shape_and_rule_problems_in_one_answer(settings):
    body = activity_body(title="", method="lewat_pos", election="pemilu-2099",
                         starts_at="2026-03-02T09:00:00+07:00", ends_at="2026-03-01T09:00:00+07:00")
    async with running("activities", settings) as (app, _), client_of(app, "activities") as client:
        refused = await client.post("/activities", json=body, headers=auth())
        assert refused.status_code == 422
        messages = {e["field"]: e["message"] for e in refused.json()["errors"]}
        assert messages["title"] == "paling sedikit 1 karakter"
        assert messages["method"] == "harus salah satu dari: 'langsung' atau 'tidak_langsung'"
        assert messages["election"].startswith("pemilu 'pemilu-2099' tidak dikenal; salah satu dari")
        assert messages["ends_at"] == "harus setelah starts_at (2026-03-02T09:00:00+07:00)"
        assert (await client.get("/activities", headers=auth("viewer"))).json()["items"] == []


async def test_a_refused_transition_and_a_warning_read_in_the_language_asked_for(settings):
    async with running("activities", settings) as (app, _), client_of(app, "activities") as client:
        planned = (await client.post("/activities", json=activity_body(stage=None), headers=auth())).json()
        held = await client.post(f"/activities/{planned['id']}/hold", headers=auth())
        assert held.status_code == 409
        assert held.json()["detail"] == (f"kegiatan {planned['id']} berstatus 'planned'; jadwalkan dulu "
                                         f"(POST /activities/{planned['id']}/schedule) sebelum ditandai terlaksana")
        assert held.json()["title"] == "Konflik"

        quiet = {"starts_at": "2024-11-25T09:00:00+07:00", "ends_at": "2024-11-25T11:00:00+07:00"}
        scheduled = await client.post(f"/activities/{planned['id']}/schedule", json=quiet, headers=auth())
        assert scheduled.json()["warnings"][0]["message"].startswith("2024-11-25 berada dalam masa tenang pilkada-2024")
        english = await client.get(f"/activities/{planned['id']}", headers={**auth("viewer"), **ENGLISH})
        assert english.json()["warnings"][0]["message"].startswith(
            "2024-11-25 falls in the quiet period of pilkada-2024 (2024-11-24 to 2024-11-26)")
        listed = await client.get("/activities", headers={**auth("viewer"), **ENGLISH})
        assert listed.json()["items"][0]["warnings"][0]["message"].startswith("2024-11-25 falls in the quiet period")


async def test_import_row_errors_are_in_bahasa_indonesia(settings):
    sheet = "nama,jenis,telepon\nKIM Cibeunying,kim,12\nKIM Sukajadi,klub_motor,\n".encode()
    async with running("partners", settings) as (app, _), client_of(app, "partners") as client:
        answer = await client.post("/partners/import", headers=auth(), files={"file": ("mitra.csv", sheet)})
        assert answer.status_code == 200, answer.text
        messages = [e["message"] for e in answer.json()["errors"]]
        assert any("bukan nomor telepon Indonesia yang sah" in m for m in messages), messages
        assert any("'klub_motor' bukan salah satu dari" in m for m in messages), messages


async def test_a_refused_schedule_and_report_name_every_problem_in_one_answer(settings):
    async with running("activities", settings) as (app, _), client_of(app, "activities") as client:
        planned = (await client.post("/activities", json=activity_body(), headers=auth())).json()
        when = {"starts_at": "2026-03-02T09:00:00+07:00", "ends_at": "2026-03-02T11:00:00+07:00"}

        # a time without its offset, and a kecamatan the region does not have: both named at once
        refused = await client.post(f"/activities/{planned['id']}/schedule", headers=auth(), json={
            "starts_at": "2026-03-02T09:00:00", "ends_at": when["ends_at"], "location": {"district": "Atlantis"}})
        assert refused.status_code == 422
        fields = {e["field"] for e in refused.json()["errors"]}
        assert {"starts_at", "location.district"} <= fields, refused.json()
        assert (await client.get(f"/activities/{planned['id']}", headers=auth("viewer"))).json()["status"] == "planned"

        scheduled = await client.post(f"/activities/{planned['id']}/schedule", headers=auth(), json=when)
        assert scheduled.status_code == 200, scheduled.text
        assert (await client.post(f"/activities/{planned['id']}/hold", headers=auth())).status_code == 200

        # a count of the wrong type, and women counted beyond those who attended
        refused = await client.post(f"/activities/{planned['id']}/report", headers=auth(), json={
            "attendance_total": 40, "women": 55, "disabled": "dua"})
        assert refused.status_code == 422
        messages = {e["field"]: e["message"] for e in refused.json()["errors"]}
        assert set(messages) == {"disabled", "women"}, messages
        assert messages["women"] == "55 melebihi 40 peserta yang hadir"
        assert (await client.get(f"/activities/{planned['id']}", headers=auth("viewer"))).json()["status"] == "held"
