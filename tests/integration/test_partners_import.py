"""Spreadsheet import and export against the real store and broker."""

from __future__ import annotations

import io

from openpyxl import Workbook

from tests.bus import tap
from tests.conftest import auth, eventually, make_settings, running
from tests.integration.test_partners_api import PARTNER_EVENTS, count_at_least, register

HEADER = ["Nama", "Jenis", "Kecamatan", "Segmen", "Kategori", "Kontak1 Nama", "Kontak1 Telepon", "Kontak1 Email",
          "Kanal1 Jenis", "Kanal1 Akun", "Kanal1 Pengikut", "Perjanjian1 Jenis", "Perjanjian1 Nomor",
          "Perjanjian1 Mulai", "Perjanjian1 Berakhir"]
# Row number in the file → (column, bad value): one bad cell per row.
BAD = {
    7: ("Jenis", "partai"),
    100: ("Kontak1 Telepon", "12345"),
    205: ("Kontak1 Email", "rt05@"),
    333: ("Segmen", "pemilih_muda, milenial"),
    404: ("Perjanjian1 Berakhir", "2024-01-01"),
    512: ("Kecamatan", "32.74.01"),
    640: ("Nama", ""),
    777: ("Kanal1 Pengikut", "ribuan"),
    888: ("Perjanjian1 Mulai", "awal Juni"),
    1001: ("Nama", "Komunitas Warga RW 01"),  # repeats row 2's partner
}


def thousand_rows() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for number in range(2, 1002):
        n = number - 1
        row = {
            "Nama": f"Komunitas Warga RW {n:02d}", "Jenis": "ormas_komunitas", "Kecamatan": f"32.73.{n % 30 + 1:02d}",
            "Segmen": "pemilih_muda, perempuan" if n % 2 else "keluarga", "Kategori": "kewargaan",
            "Kontak1 Nama": f"Ketua RW {n}", "Kontak1 Telepon": f"0812{n:08d}", "Kontak1 Email": f"rw{n}@warga.example.id",
            "Kanal1 Jenis": "whatsapp_group", "Kanal1 Akun": f"Grup Warga RW {n}", "Kanal1 Pengikut": 100 + n,
            "Perjanjian1 Jenis": "pks" if n % 10 == 0 else "", "Perjanjian1 Nomor": f"{n}/PKS/2024" if n % 10 == 0 else "",
            "Perjanjian1 Mulai": "2024-06-01" if n % 10 == 0 else "",
            "Perjanjian1 Berakhir": "2029-12-31" if n % 10 == 0 else "",
        }
        if number in BAD:
            column, value = BAD[number]
            row[column] = value
            if column.startswith("Perjanjian1"):
                row.update({"Perjanjian1 Jenis": "mou", "Perjanjian1 Nomor": f"{n}/MoU/2024",
                            "Perjanjian1 Mulai": row["Perjanjian1 Mulai"] or "2024-06-01",
                            "Perjanjian1 Berakhir": row["Perjanjian1 Berakhir"] or "2029-12-31"})
        sheet.append([row[h] for h in HEADER])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def upload(client, content: bytes, name: str = "mitra.xlsx") -> dict:
    response = await client.post("/partners/import", headers=auth(), files={"file": (name, content)})
    assert response.status_code == 200, response.text
    return response.json()


async def recorded_events(db) -> set[str]:
    """Ids of every event the registry has recorded: still in an outbox, or published (the
    relay logs an event before it leaves the outbox, so none slips between the two reads)."""
    pending = {e["id"] async for doc in db["partners"].find({}, {"_outbox": 1}) for e in doc.get("_outbox", [])}
    return pending | {doc["_id"] async for doc in db["event_log"].find({}, {"_id": 1})}


async def test_a_thousand_rows_with_ten_bad_ones_then_the_same_file_again_changes_nothing(settings, mongo):
    content = thousand_rows()
    # The relay publishes right after each write; its sweep (a scan of every partner for
    # leftovers) is for crashes, and every half second it would only slow this test down.
    settings = settings.model_copy(update={"outbox_sweep_seconds": 60.0})
    db = mongo[settings.database_name("partners")]
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (app, client):
        report = await upload(client, content)
        assert (report["created"], report["updated"], report["unchanged"]) == (990, 0, 0)
        assert [(e["row"], e["field"]) for e in report["errors"]] == [(row, column) for row, (column, _) in BAD.items()]
        assert "repeats the partner of row 2" in report["errors"][-1]["message"]
        recorded = await recorded_events(db)
        assert len(recorded) == 990
        await eventually(lambda: count_at_least(published, 1))
        # Publishing 990 events keeps FerretDB busy for a while; pause the relay so the checks
        # below answer quickly. What was recorded is compared, not what was published.
        await app.state.infra.relay.stop()

        again = await upload(client, content)
        assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 990)
        assert again["errors"] == report["errors"]
        # Nothing written: every partner still at version 1, not one event more.
        assert await db["partners"].count_documents({"version": {"$ne": 1}}) == 0
        assert await recorded_events(db) == recorded
        assert {e["type"] for e in published} == {"sinergi.partner.registered"}
        assert {e["id"] for e in published} <= recorded

        found = (await client.get("/partners", headers=auth("viewer"), params={"q": "RW 10"})).json()["items"]
        rw10 = next(p for p in found if p["name"] == "Komunitas Warga RW 10")
        assert rw10["contacts"][0]["phone"] == "+6281200000010" and rw10["agreements"][0]["number"] == "10/PKS/2024"
        assert rw10["channels"][0]["audience_size"] == 110 and rw10["version"] == 1
        first_page = (await client.get("/partners", headers=auth("viewer"), params={"limit": 3})).json()["items"]
        assert [p["name"] for p in first_page] == ["Komunitas Warga RW 01", "Komunitas Warga RW 02",
                                                   "Komunitas Warga RW 03"]  # the file's order


async def test_a_changed_row_updates_its_partner_and_new_agreements_are_signed(settings):
    sheet = ("nama,jenis,segmen,perjanjian1_jenis,perjanjian1_nomor,perjanjian1_mulai,perjanjian1_berakhir\n"
             "KIM Sekarbela,kim,pemilih_pemula,mou,027/PP.08-NK/3273/2024,2024-06-01,2029-12-31\n")
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        partner = await register(client)
        changed = sheet.replace("pemilih_pemula", '"pemilih_pemula, perempuan"') + "Karang Taruna Antapani,ormas_komunitas,,,,,\n"
        changed = changed.replace("mou,027", "pks,045")
        report = await upload(client, changed.encode(), "perubahan.csv")
        assert (report["created"], report["updated"], report["unchanged"], report["errors"]) == (1, 1, 0, [])
        stored = (await client.get(f"/partners/{partner['id']}", headers=auth("viewer"))).json()
        assert stored["segments"] == ["pemilih_pemula", "perempuan"] and stored["version"] == 3
        assert [a["number"] for a in stored["agreements"]] == ["027/PP.08-NK/3273/2024", "045/PP.08-NK/3273/2024"]
        assert stored["contacts"] == partner["contacts"]  # columns the file lacks are left alone
        await eventually(lambda: count_at_least(published, 4))
        mine = [e for e in published if e["subject"] == partner["id"]]
        assert [(e["type"].rsplit(".", 1)[1], e["aggregateversion"]) for e in mine] == [
            ("registered", 1), ("updated", 2), ("agreement_signed", 3)]
        assert mine[1]["data"]["changed_fields"] == ["segments"]

        conflicting = sheet.replace("2029-12-31", "2030-12-31")
        report = await upload(client, conflicting.encode(), "lain.csv")
        assert report["updated"] == 0
        assert [(e["row"], e["field"]) for e in report["errors"]] == [(2, "perjanjian1_nomor")]


async def test_a_file_that_is_not_a_partner_sheet_is_refused_whole(settings):
    async with running("partners", settings) as (_, client):
        for files in ({"file": ("foto.jpg", b"\xff\xd8\xff\xe0 not a sheet")}, {"file": ("kosong.csv", b"")},
                      {"other": ("m.csv", b"nama\nA\n")}):
            response = await client.post("/partners/import", headers=auth(), files=files)
            assert response.status_code == 422, response.text
            assert [e["field"] for e in response.json()["errors"]] == ["file"]


async def build_registry(client) -> None:
    """A small registry with everything a partner can carry, in every status."""
    await register(client)
    braga = await register(client, {
        "name": "Komunitas Seni Braga", "type": "ormas_komunitas", "district": "32.73.19",
        "categories": ["seni", "budaya"], "segments": ["pemilih_muda", "komunitas"],
        "contacts": [{"name": "Dewi Lestari", "role": "Koordinator", "phone": "0813-1111-2222",
                      "email": "dewi@senibraga.example.id"}, {"name": "Yusuf Maulana", "phone": "022-4201234"}],
        "channels": [{"kind": "instagram", "handle_or_url": "@senibraga", "audience_size": 15400},
                     {"kind": "tiktok", "handle_or_url": "@braga.art"}],
        "notes": "Pentas seni tiap Sabtu malam;\n\"Braga Culture Night\", 300 penonton.",
    })
    await client.post(f"/partners/{braga['id']}/agreements", headers=auth(), json={
        "doc_type": "pks", "number": "045/PKS/2024", "title": "Pentas seni", "valid_from": "2024-09-01",
        "valid_until": "2029-12-31", "scope": "Pilwalkot 2024"})
    radio = await register(client, {"name": "Radio Komunitas Cibiru 107.7 FM", "type": "media", "district": "Cibiru",
                                     "channels": [{"kind": "radio", "handle_or_url": "107.7 FM", "audience_size": 20000}]})
    await client.post(f"/partners/{radio['id']}/suspend", headers=auth(), json={"reason": "izin siaran diperpanjang"})
    old = await register(client, {"name": "KIM Braga Lama", "type": "kim"})
    await client.post(f"/partners/{old['id']}/archive", headers=auth(), json={"reason": "bergabung ke KIM Sumur Bandung"})


def comparable(partners: list[dict]) -> list[dict]:
    drop = {"id", "version", "created_at", "updated_at", "status_history"}
    return [{**{k: v for k, v in p.items() if k not in drop},
             "agreements": [{k: v for k, v in a.items() if k != "id"} for a in p["agreements"]]} for p in partners]


async def test_an_export_imported_into_an_empty_registry_reproduces_it(settings, servers, run_id, unique):
    async with running("partners", settings) as (_, source):
        await build_registry(source)
        original = (await source.get("/partners", headers=auth("viewer"))).json()["items"]
        files = {fmt: (await source.get("/partners/export", headers=auth("viewer"), params={"format": fmt}))
                 for fmt in ("csv", "xlsx")}
    assert files["csv"].headers["content-type"].startswith("text/csv")
    assert 'filename="mitra-32.73-' in files["csv"].headers["content-disposition"]
    for fmt, exported in files.items():
        empty = make_settings(servers, f"{run_id}{unique}{fmt}")
        async with running("partners", empty) as (_, target):
            report = await upload(target, exported.content, f"mitra.{fmt}")
            assert (report["created"], report["errors"], report["ignored_columns"]) == (4, [], [])
            copy = (await target.get("/partners", headers=auth("viewer"))).json()["items"]
            assert comparable(copy) == comparable(original), fmt
            assert copy[2]["status_history"][-1]["reason"] == "izin siaran diperpanjang"
            if fmt == "csv":
                again = await target.get("/partners/export", headers=auth("viewer"), params={"format": "csv"})
                assert again.content == exported.content
