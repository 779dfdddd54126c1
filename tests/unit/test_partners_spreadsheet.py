"""Reading and writing partner spreadsheets, as offices keep them, without I/O."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import Workbook

from services.partners import domain, spreadsheet
from services.partners.domain import Partner

NOW = datetime(2024, 10, 17, 3, 0, tzinfo=UTC)


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_indonesian_headers_in_any_case_below_a_title_row():
    content = xlsx([
        ["DAFTAR MITRA SOSIALISASI KPU KOTA BANDUNG 2024"],
        [],
        ["No.", "Nama Mitra", "Jenis", "Kecamatan", "Segmen", "Kategori", "Nama Kontak", "Jabatan", "No. HP",
         "E-mail", "Keterangan"],
        [1, "KIM Coblong Berdaya", "KIM", "32.73.02", "Pemilih Muda, warganet", "kepemudaan; seni", "Asep",
         "Ketua", 81222334455, "asep@kim.example.id", "aktif"],
        [None] * 11,
        [2, "Radio Komunitas Cibiru", "Media", "Cibiru", "umum", "", "Rina", "Penyiar", "022-7800001", "", ""],
    ])
    sheet = spreadsheet.parse(content)
    assert sheet.ignored_columns == ["No."]
    first, second = sheet.rows
    assert first.number == 4 and second.number == 6  # rows of the file, blank ones skipped
    assert first.values["name"] == "KIM Coblong Berdaya" and first.values["type"] == "kim"
    assert first.values["segments"] == ["pemilih_muda", "warga_internet"]
    assert first.values["categories"] == ["kepemudaan", "seni"]
    assert first.values["contacts"] == [{"name": "Asep", "role": "Ketua", "phone": "81222334455",
                                         "email": "asep@kim.example.id"}]
    assert first.label("contacts[0].phone") == "No. HP" and first.label("segments[1]") == "Segmen"
    assert second.values["type"] == "media" and second.values["categories"] == []


def test_english_headers_numbered_groups_and_a_semicolon_csv():
    content = (
        "Name;Type;District;contact 1 name;contact 1 email;Contact2_Name;contact2_phone;channel1_kind;"
        "channel1_handle;channel1_audience;agreement1_type;agreement1_number;agreement1_valid_from;"
        "agreement1_valid_until\n"
        "Universitas Pasundan;Kampus;Lengkong;Dr. Rahmat;rahmat@unpas.example.id;;;IG;@unpas;1.200;"
        "Nota Kesepahaman;12/MoU/2024;01/06/2024;31-12-2025\n"
    ).encode("cp1252")
    [row] = spreadsheet.parse(content).rows
    assert row.number == 2
    assert row.values["type"] == "perguruan_tinggi"
    assert row.values["contacts"] == [{"name": "Dr. Rahmat", "email": "rahmat@unpas.example.id"}]
    assert row.values["channels"] == [{"kind": "instagram", "handle_or_url": "@unpas", "audience_size": 1200}]
    assert row.values["agreements"] == [{"doc_type": "mou", "number": "12/MoU/2024",
                                         "valid_from": date(2024, 6, 1), "valid_until": date(2025, 12, 31)}]
    assert row.label("agreements[0].valid_until") == "agreement1_valid_until"


def test_a_cell_that_cannot_be_read_is_a_row_error_naming_its_column():
    [row] = spreadsheet.parse(b"nama,jenis,kanal1_jenis,kanal1_akun,kanal1_pengikut\nKIM A,kim,radio,98.3 FM,banyak\n").rows
    assert row.errors == [("channels[0].audience_size", "'banyak' is not a number")]
    assert row.label("channels[0].audience_size") == "kanal1_pengikut"


def test_a_row_with_more_cells_than_the_header_is_refused():
    [row] = spreadsheet.parse(b"nama,jenis,segmen\nKIM A,kim,pemilih_muda, perempuan\n").rows
    assert row.errors == [("row", "has 4 cells but the header names 3 columns; a comma inside a cell needs quotes")]


def test_a_file_without_a_name_column_is_refused_whole():
    with pytest.raises(spreadsheet.Unreadable, match="'nama'"):
        spreadsheet.parse(b"organisasi,jenis\nKIM A,kim\n")
    with pytest.raises(spreadsheet.Unreadable, match=r"\.xls"):
        spreadsheet.parse(b"\xd0\xcf\x11\xe0" + b"\0" * 100)


def test_a_row_column_keeps_the_numbers_of_the_original_file():
    table = spreadsheet.read_table(xlsx([["Judul"], ["nama", "jenis"], ["A", "kim"], [], ["B", "media"]]))
    chunk = spreadsheet.table_csv(table.header, table.rows[1:])
    [row] = spreadsheet.parse(chunk).rows
    assert row.number == 5 and row.values["name"] == "B"


def full_partner() -> Partner:
    fields = domain.details({
        "name": "Komunitas Seni Braga", "type": "ormas_komunitas", "district": "32.73.19",
        "categories": ["seni", "budaya"], "segments": ["pemilih_muda", "komunitas"],
        "contacts": [{"name": "Dewi Lestari", "role": "Koordinator", "phone": "081311112222", "email": "dewi@braga.example.id"},
                     {"name": "Yusuf", "phone": "022-4201234"}],
        "channels": [{"kind": "instagram", "handle_or_url": "@senibraga", "audience_size": 15400},
                     {"kind": "whatsapp_group", "handle_or_url": "Grup Seniman Braga"}],
        "notes": "Pentas seni tiap Sabtu malam,\n\"Braga Culture Night\"",
    }, "32.73")
    signed = domain.agreements([{"doc_type": "pks", "number": "045/PKS/KPU-Kot-011.329/2024", "title": "Pentas seni",
                                 "valid_from": "2024-09-01", "valid_until": "2024-12-31", "scope": "Pilwalkot 2024"}],
                               iter(["a1"]))
    partner = Partner.register(id="p1", region="32.73", now=NOW, by="op", fields=fields, agreements=signed)
    partner.suspend("menunggu laporan kegiatan", NOW, "op")
    return partner


@pytest.mark.parametrize("write", [spreadsheet.to_csv, spreadsheet.to_xlsx])
@pytest.mark.parametrize("lang", ["id", "en"])
def test_an_export_reads_back_to_the_same_values(write, lang):
    partner = full_partner()
    [row] = spreadsheet.parse(write([partner], lang)).rows
    assert row.errors == []
    assert domain.details({k: v for k, v in row.values.items() if k in domain.EDITABLE}, "32.73") == {
        key: getattr(partner, key) for key in domain.EDITABLE}
    [agreement] = domain.agreements(row.values["agreements"], iter(["a1"]))
    assert agreement == partner.agreements[0]
    assert row.values["status"] == "suspended" and row.values["status_reason"] == "menunggu laporan kegiatan"


def test_a_word_that_names_no_value_is_reported_as_the_office_wrote_it():
    content = "Daftar mitra 2024\nNama;Jenis;Segmen;Kontak\nKomunitas A;Komunitas Seni;Pemilih Muda, Milenial;Ujang\n"
    [row] = spreadsheet.parse(content.encode()).rows
    assert row.values["type"] == "Komunitas Seni"
    assert row.values["segments"] == ["pemilih_muda", "Milenial"]
    assert row.values["contacts"] == [{"name": "Ujang"}]
    refused = pytest.raises(domain.Invalid, domain.details, {"type": row.values["type"]}, "32.73", partial=True)
    errors = {error["field"]: error["message"] for error in refused.value.errors}
    assert errors["type"].startswith("'Komunitas Seni' is not one of")
