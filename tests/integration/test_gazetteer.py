"""Kecamatan and desa/kelurahan by name or code (issue 12 point 2), against the real store and broker.

Partners and activities take a kecamatan as an office types it — ``Coblong``, ``Kec. coblong``,
``32.73.02`` — keep the Kemendagri code, and show the gazetteer's name beside it; a name the
gazetteer cannot place is a 422 naming what was typed, with the closest names.
"""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime

import pytest
from openpyxl import Workbook, load_workbook

from services.partners.domain import Partner
from shared.vocabulary import PartnerType
from sinergi_cli.districts import migrate
from tests.bus import tap
from tests.conftest import auth, eventually, make_settings, running, token
from tests.integration.test_activities_helpers import activity_body, plan, post


@pytest.fixture(scope="module")
async def partners(servers, run_id):
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    async with running("partners", settings) as (app, client):
        yield settings, app, client


@pytest.fixture(scope="module")
async def activities(servers, run_id):
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    async with running("activities", settings) as (_, client):
        yield client


async def register(client, **body):
    return await client.post("/partners", headers=auth(), json={"type": "kim", **body})


@pytest.mark.parametrize("typed", ["Coblong", "Kec. coblong", "  KECAMATAN   Coblong ", "32.73.02", "327302"])
async def test_a_partner_s_kecamatan_is_taken_by_name_or_code_and_kept_as_the_code_with_its_name(partners, typed):
    _, _, client = partners
    created = await register(client, name=f"KIM Dago {secrets.token_hex(3)}", district=typed)
    assert created.status_code == 201, created.text
    assert (created.json()["district"], created.json()["district_name"]) == ("32.73.02", "Coblong")
    read = (await client.get(f"/partners/{created.json()['id']}", headers=auth("viewer"))).json()
    assert (read["district"], read["district_name"]) == ("32.73.02", "Coblong")


async def test_an_unknown_kecamatan_is_a_422_naming_what_was_typed_with_the_closest_names(partners):
    _, _, client = partners
    refused = await register(client, name="KIM Cobong", district="Kec. Cobong")
    assert refused.status_code == 422
    problem = refused.json()
    assert [e["field"] for e in problem["errors"]] == ["district"]
    assert "Cobong" in problem["errors"][0]["message"]
    assert problem["suggestions"] == {"district": ["Coblong"]}
    elsewhere = await register(client, name="KIM Blora", district="33.16.01")
    assert elsewhere.status_code == 422 and [e["field"] for e in elsewhere.json()["errors"]] == ["district"]


async def test_a_partner_s_events_list_filter_patch_and_export_speak_names_too(partners):
    settings, _, client = partners
    async with tap(settings, "*.partner.registered") as published:
        created = (await register(client, name=f"Radio Cibiru {secrets.token_hex(3)}", district="cibiru")).json()
        event = await eventually(lambda: _async([e for e in published if e["subject"] == created["id"]]))
    assert (event[0]["data"]["district"], event[0]["data"]["district_name"]) == ("32.73.25", "Cibiru")

    found = await client.get("/partners", params={"district": "Kec. Cibiru"}, headers=auth("viewer"))
    assert created["id"] in [p["id"] for p in found.json()["items"]]
    unknown = await client.get("/partners", params={"district": "Cibiruu"}, headers=auth("viewer"))
    assert unknown.status_code == 422 and unknown.json()["suggestions"] == {"district": ["Cibiru"]}

    moved = await client.patch(f"/partners/{created['id']}", json={"district": "Ujung Berung"},
                               headers={**auth(), "If-Match": '"1"'})
    assert moved.status_code == 200 and (moved.json()["district"], moved.json()["district_name"]) == (
        "32.73.26", "Ujungberung")

    export = await client.get("/partners/export", params={"format": "csv"}, headers=auth("viewer"))
    rows = {r["nama"]: r for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))}
    assert (rows[created["name"]]["kecamatan"], rows[created["name"]]["nama_kecamatan"]) == ("32.73.26", "Ujungberung")


async def test_an_import_places_each_row_s_kecamatan_and_names_the_ones_it_cannot(partners):
    _, _, client = partners
    book = Workbook()
    sheet = book.active
    sheet.append(["Nama", "Jenis", "Kecamatan"])
    suffix = secrets.token_hex(3)
    sheet.append([f"KIM Sukajadi {suffix}", "kim", "Kec. Sukajadi"])
    sheet.append([f"KIM Antah {suffix}", "kim", "Bandung Wetann"])
    buffer = io.BytesIO()
    book.save(buffer)
    report = (await client.post("/partners/import", headers=auth(),
                                files={"file": ("mitra.xlsx", buffer.getvalue())})).json()
    assert report["created"] == 1
    [error] = report["errors"]
    assert (error["row"], error["field"]) == (3, "Kecamatan") and "Bandung Wetan" in error["message"]
    found = (await client.get("/partners", params={"q": f"Sukajadi {suffix}"}, headers=auth("viewer"))).json()
    assert [(p["district"], p["district_name"]) for p in found["items"]] == [("32.73.07", "Sukajadi")]


async def test_an_activity_takes_kecamatan_and_kelurahan_by_name_and_shows_both_names(activities):
    client = activities
    created = await plan(client, location={"district": "Kecamatan Coblong", "village": "Kel. Dago", "venue": "Balai RW"})
    assert created["location"] == {"district": "32.73.02", "village": "32.73.02.1004", "venue": "Balai RW",
                                   "online_url": None, "district_name": "Coblong", "village_name": "Dago"}
    refused = await client.post("/activities", headers=auth(), json=activity_body(
        location={"district": "Cobong", "village": "Dago"}))
    assert refused.status_code == 422
    assert refused.json()["suggestions"]["location.district"] == ["Coblong"]

    moved = await post(client, created["id"], "schedule", {"starts_at": "2024-10-12T09:00:00+07:00",
                                                          "ends_at": "2024-10-12T11:00:00+07:00",
                                                          "location": {"district": "Sukasari"}})
    assert moved.status_code == 200 and moved.json()["location"]["district_name"] == "Sukasari"
    listed = await client.get("/activities", params={"district": "sukasari"}, headers=auth("viewer"))
    assert created["id"] in [a["id"] for a in listed.json()["items"]]

    report = await client.get("/reports/activities", params={"election": created["election"], "format": "csv"},
                              headers=auth("viewer"))
    rows = {r["ID"]: r for r in csv.DictReader(io.StringIO(report.content.decode("utf-8-sig")))}
    assert (rows[created["id"]]["Kecamatan"], rows[created["id"]]["Nama kecamatan"]) == ("32.73.01", "Sukasari")
    xlsx = await client.get("/reports/activities", params={"election": created["election"], "format": "xlsx"},
                            headers=auth("viewer"))
    sheet = load_workbook(io.BytesIO(xlsx.content))["Kegiatan"]
    header = [c.value for c in sheet[1]]
    assert header.index("Nama kecamatan") == header.index("Kecamatan") + 1


async def test_district_targets_take_names_and_keep_codes(activities):
    client = activities
    put = await client.put("/targets/pemilu-2019", headers=auth(), json={
        "participation_target_pct": 80, "district_targets": {"Coblong": 2, "32.73.25": 1}})
    assert put.status_code in (200, 201), put.text
    assert put.json()["district_targets"] == {"32.73.02": 2, "32.73.25": 1}
    assert put.json()["district_names"] == {"32.73.02": "Coblong", "32.73.25": "Cibiru"}
    twice = await client.put("/targets/pemilu-2019", headers=auth(), json={
        "participation_target_pct": 80, "district_targets": {"Coblong": 2, "32.73.02": 1}})
    assert twice.status_code == 422
    unknown = await client.put("/targets/pemilu-2019", headers=auth(), json={
        "participation_target_pct": 80, "district_targets": {"Cibiruu": 2}})
    assert unknown.status_code == 422 and unknown.json()["suggestions"] == {"district_targets.Cibiruu": ["Cibiru"]}


async def test_the_migration_moves_free_text_kecamatan_to_codes_and_reports_what_it_cannot(partners):
    """Partners accepted a kecamatan as typed before the gazetteer: such records are written here as
    the old code wrote them (through the service's own repository), then migrated over HTTP."""
    _, app, client = partners
    registry = app.state.registry_service
    now = datetime.now(UTC).replace(microsecond=0)
    old = {}
    for name, typed in (("KIM Coblong Lama", "Coblong"), ("KIM Entah", "Kecamatan Antah Berantah")):
        partner = Partner.register(id=f"old{secrets.token_hex(6)}", region="32.73", now=now, by="seed",
                                   fields={"name": f"{name} {secrets.token_hex(3)}", "type": PartnerType.kim,
                                           "district": typed})
        assert await registry.unit.add(partner)
        old[typed] = partner.id
    admin = token("admin")

    dry = await migrate(client, None, admin, dry_run=True)
    assert [(c.id, c.code) for c in dry.changed if c.id in old.values()] == [(old["Coblong"], "32.73.02")]
    still = (await client.get(f"/partners/{old['Coblong']}", headers=auth("viewer"))).json()
    assert still["district"] == "Coblong" and still["district_name"] is None

    done = await migrate(client, None, admin)
    assert [(c.id, c.code) for c in done.changed if c.id in old.values()] == [(old["Coblong"], "32.73.02")]
    [left] = [c for c in done.unresolved if c.id in old.values()]
    assert left.id == old["Kecamatan Antah Berantah"] and left.typed == "Kecamatan Antah Berantah"
    migrated = (await client.get(f"/partners/{old['Coblong']}", headers=auth("viewer"))).json()
    assert (migrated["district"], migrated["district_name"], migrated["version"]) == ("32.73.02", "Coblong", 2)

    again = await migrate(client, None, admin)
    assert not [c for c in again.changed if c.id in old.values()]


async def _async(value):
    return value
