"""`sinergi partners import` and `export` against the partners service running as its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from openpyxl import Workbook

from tests.bus import tap
from tests.conftest import SECRET, auth, eventually

SINERGI = Path(sys.executable).parent / "sinergi"


def sheet(path: Path, rows: int, bad: dict[int, str]) -> None:
    """An office's sheet: a title, then the header on row 3, then one partner per row."""
    book = Workbook()
    book.active.append(["Daftar Mitra Sosialisasi Pilwalkot Bandung 2024"])
    book.active.append([])
    book.active.append(["No", "Nama Mitra", "Jenis", "Segmen", "Nama Kontak", "No. HP"])
    for n in range(1, rows + 1):
        number = n + 3
        book.active.append([n, f"Karang Taruna RW {n:03d}", "ormas_komunitas", "pemilih_muda", f"Ketua {n}",
                            bad.get(number, f"0813{n:08d}")])
    book.save(path)


def sinergi(*args: str, url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"SINERGI_AUTH_SECRET": SECRET, "SINERGI_REGION": "32.73", "SINERGI_PARTNERS_URL": url,
           "PATH": "/usr/bin:/bin", "COLUMNS": "200", "SINERGI_HOME": str(Path(args[-1]).parent / ".sinergi"),
           **extra}
    return subprocess.run([str(SINERGI), "partners", *args], capture_output=True, text=True, env=env, timeout=300)


async def test_the_cli_imports_a_sheet_in_chunks_naming_bad_rows_of_the_file_and_exports_it_back(
        processes, settings, tmp_path):
    partners = processes("partners")
    source = tmp_path / "mitra.xlsx"
    sheet(source, 150, {10: "12345", 103: "nomor rahasia"})
    async with tap(settings, "*.partner.registered") as published:
        first = sinergi("import", "--batch", "50", "--errors-file", str(tmp_path / "errors.csv"), str(source),
                        url=partners.url)
        assert first.returncode == 1, first.stderr
        # in Bahasa Indonesia, the language of the office, unless SINERGI_LANG=en
        assert "148 dibuat, 0 diperbarui, 0 tidak berubah, 2 baris ditolak" in first.stderr
        assert (tmp_path / "errors.csv").read_text(encoding="utf-8-sig").splitlines()[1:] == [
            "10,No. HP,'12345' bukan nomor telepon Indonesia yang sah (mis. 0812-3456-7890 atau 022-4230000)",
            "103,No. HP,'nomor rahasia' bukan nomor telepon",
        ]
        assert "kolom yang tidak dibaca: No" in first.stderr
        await eventually(lambda: _at_least(published, 148), timeout=30)
        # three chunks, one batch: notifications sums the file up in one message per person
        assert {(e.get("batchid"), e.get("batchlabel")) for e in published} == {
            (published[0]["batchid"], "mitra.xlsx")}

    async with httpx.AsyncClient(base_url=partners.url, headers=auth("viewer")) as client:
        found = (await client.get("/partners", params={"q": "RW 150"})).json()["items"]
        assert found[0]["contacts"] == [{"name": "Ketua 150", "role": None, "phone": "+6281300000150", "email": None}]

    exported = tmp_path / "ekspor.csv"
    written = sinergi("export", "-o", str(exported), url=partners.url)
    assert written.returncode == 0, written.stderr
    assert exported.read_text(encoding="utf-8-sig").count("\n") == 149

    again = sinergi("import", str(exported), url=partners.url, SINERGI_LANG="en")
    assert again.returncode == 0, again.stderr
    assert "0 created, 0 updated, 148 unchanged, 0 row(s) refused" in again.stderr


async def _at_least(events: list, n: int) -> bool:
    return len(events) >= n


async def test_every_refused_row_of_a_big_chunk_is_named_by_the_cli(processes, tmp_path):
    # The service answers a chunk with its first 100 row errors unless asked for more; the CLI asks,
    # so an operator's error file lists every row to fix.
    partners = processes("partners")
    source = tmp_path / "mitra.xlsx"
    sheet(source, 150, {n + 3: "12345" for n in range(1, 131)})
    result = sinergi("import", "--batch", "150", "--errors-file", str(tmp_path / "errors.csv"), str(source),
                     url=partners.url)
    assert result.returncode == 1, result.stderr
    assert "20 dibuat, 0 diperbarui, 0 tidak berubah, 130 baris ditolak" in result.stderr
    assert len((tmp_path / "errors.csv").read_text(encoding="utf-8-sig").splitlines()[1:]) == 130
