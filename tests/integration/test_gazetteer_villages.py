"""A partner's desa/kelurahan (issue 12 point 2), against the real store and broker: taken by code or
name within its kecamatan, kept as the code, its name shown beside it in answers, events and the
export, and read back by the import."""

from __future__ import annotations

import csv
import io
import secrets

import pytest

from tests.bus import tap
from tests.conftest import auth, eventually, make_settings, running


@pytest.fixture(scope="module")
async def partners(servers, run_id):
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    async with running("partners", settings) as (_, client):
        yield settings, client


async def register(client, **body):
    return await client.post("/partners", headers=auth(), json={"type": "kim", **body})


async def test_a_partner_s_kelurahan_is_taken_by_name_in_its_kecamatan_and_shown_with_its_name(partners):
    settings, client = partners
    async with tap(settings, "*.partner.registered") as published:
        created = await register(client, name=f"KIM Dago {secrets.token_hex(3)}", district="Coblong",
                                 village="Kel. dago")
        assert created.status_code == 201, created.text
        event = await eventually(lambda: _async([e for e in published if e["subject"] == created.json()["id"]]))
    shown = created.json()
    assert (shown["village"], shown["village_name"]) == ("32.73.02.1004", "Dago")
    read = (await client.get(f"/partners/{shown['id']}", headers=auth("viewer"))).json()
    assert (read["district_name"], read["village"], read["village_name"]) == ("Coblong", "32.73.02.1004", "Dago")
    assert (event[0]["data"]["village"], event[0]["data"]["village_name"]) == ("32.73.02.1004", "Dago")

    moved = await client.patch(f"/partners/{shown['id']}", json={"village": "Sekeloa"},
                               headers={**auth(), "If-Match": '"1"'})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["village"], moved.json()["village_name"]) == ("32.73.02.1005", "Sekeloa")


async def test_a_kelurahan_outside_its_kecamatan_or_unknown_is_a_422_with_the_closest_names(partners):
    _, client = partners
    elsewhere = await register(client, name=f"KIM Isola {secrets.token_hex(3)}", district="Coblong", village="Isola")
    assert elsewhere.status_code == 422
    assert [e["field"] for e in elsewhere.json()["errors"]] == ["village"]
    assert "Isola" in elsewhere.json()["errors"][0]["message"]
    typo = await register(client, name=f"KIM Dgo {secrets.token_hex(3)}", district="32.73.02", village="Sekelo")
    assert typo.status_code == 422 and typo.json()["suggestions"] == {"village": ["Sekeloa"]}
    coded = await register(client, name=f"KIM Sarijadi {secrets.token_hex(3)}", district="Coblong",
                           village="32.73.01.1004")
    assert coded.status_code == 422 and [e["field"] for e in coded.json()["errors"]] == ["village"]
    alone = await register(client, name=f"KIM Isola {secrets.token_hex(3)}", village="Isola")
    assert alone.status_code == 201 and alone.json()["village"] == "32.73.01.1003"
    assert (alone.json()["district"], alone.json()["district_name"]) == ("32.73.01", "Sukasari"), \
        "a desa/kelurahan names its kecamatan"


async def test_the_export_has_the_kelurahan_and_its_name_and_the_import_reads_a_desa_column(partners):
    _, client = partners
    suffix = secrets.token_hex(3)
    created = (await register(client, name=f"Radio Sadang {suffix}", district="Coblong",
                              village="Sadang Serang")).json()
    export = await client.get("/partners/export", params={"format": "csv"}, headers=auth("viewer"))
    rows = {r["nama"]: r for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))}
    assert (rows[created["name"]]["kelurahan"], rows[created["name"]]["nama_kelurahan"]) == (
        "32.73.02.1003", "Sadang Serang")

    sheet = io.StringIO()
    writer = csv.writer(sheet)
    writer.writerow(["Nama", "Jenis", "Kecamatan", "Desa"])
    writer.writerow([f"KIM Cipaganti {suffix}", "kim", "Kec. Coblong", "Kel. Cipaganti"])
    writer.writerow([f"KIM Entah {suffix}", "kim", "Coblong", "Cipagantii Baru"])
    report = (await client.post("/partners/import", headers=auth(),
                                files={"file": ("mitra.csv", sheet.getvalue().encode())})).json()
    assert report["created"] == 1, report
    [error] = report["errors"]
    assert (error["row"], error["field"]) == (3, "Desa") and "Cipagantii Baru" in error["message"]
    found = (await client.get("/partners", params={"q": f"Cipaganti {suffix}"}, headers=auth("viewer"))).json()
    assert [(p["village"], p["village_name"]) for p in found["items"]] == [("32.73.02.1001", "Cipaganti")]

    # the export read back changes nothing (nama_kelurahan is shown, not read)
    again = (await client.post("/partners/import", headers=auth(),
                               files={"file": ("mitra.csv", export.content)})).json()
    assert again["created"] == 0 and again["updated"] == 0 and not again["errors"], again


async def _async(value):
    return value
