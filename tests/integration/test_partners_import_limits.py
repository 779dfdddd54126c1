"""Bounds of a spreadsheet import, against a partners service running as its own process
(issue 11, point 2): what it answers, how fast, and what the process's memory does meanwhile.

Memory is the service process's own, read from /proc: ``VmHWM`` (the peak resident set since
it started) and ``VmRSS`` (now). A bomb that is unpacked shows up in the peak whatever happens
afterwards; the old code's peak grew by 2.2 GB on the first file here.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import auth, running
from tests.unit.test_partners_spreadsheet import bomb, lying, rows_csv

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the service's memory from /proc")

MB = 1 << 20
# What a refusal may take, upload included, on a loaded two-core test machine ("a second or two").
REFUSED_WITHIN = 3.0

ENGLISH = {"Accept-Language": "en"}  # the limits are named in the words the assertions read


def memory(pid: int) -> dict[str, int]:
    """The process's resident set now (VmRSS) and at its peak (VmHWM), in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


async def upload(client: httpx.AsyncClient, name: str, content: bytes, **params: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post("/partners/import", headers=auth(), params=params, files={"file": (name, content)})
    return response, time.monotonic() - started


async def watching_health(client: httpx.AsyncClient, work: asyncio.Task) -> list[float]:
    """How long each GET /healthz took, asked every 100 ms for as long as ``work`` runs."""
    waits = []
    while not work.done():
        started = time.monotonic()
        response = await client.get("/healthz", timeout=10.0)
        assert response.status_code == 200
        waits.append(time.monotonic() - started)
        await asyncio.sleep(0.1)
    return waits


def valid_rows(count: int) -> bytes:
    """Rows the way offices write them: three contacts, each phone and e-mail checked (~1 ms each)."""
    header = ["nama", "jenis"] + [f"kontak{k}_{part}" for k in (1, 2, 3) for part in ("nama", "telepon", "email")]
    lines = [",".join(header)]
    for n in range(count):
        contacts = [f"Pengurus {k},0812{k}{n:07d},p{k}.rw{n}@warga.example.id" for k in (1, 2, 3)]
        lines.append(",".join([f"Karang Taruna RW {n:04d}", "ormas_komunitas", *contacts]))
    return "\n".join(lines).encode()


async def test_decompression_bombs_are_refused_at_once_and_memory_stays_where_it_was(processes):
    service = processes("partners")
    pid = service.process.pid
    async with httpx.AsyncClient(base_url=service.url, timeout=60.0, headers=ENGLISH) as client:
        before = memory(pid)
        refusals = {
            # 150 MB of sheet in a file of a few hundred KB: over the 64 MB every part may unpack to
            "unpacked_bytes": (bomb(150), 413),
            # 20 MB of sheet: under that bound, but a thousand times its packed size
            "compression_ratio": (bomb(20), 413),
            # 150 MB of sheet whose directory says 10 KB: read no further than 10 KB, then the CRC fails
            "damaged": (lying(bomb(150)), 422),
        }
        for limit, (content, status) in refusals.items():
            response, took = await upload(client, "mitra.xlsx", content)
            assert response.status_code == status, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            if status == 413:
                assert problem["limit"] == limit and problem["maximum"] > 0, problem
                assert "unpack" in problem["detail"]
            else:
                assert problem["errors"][0]["field"] == "file" and "damaged" in problem["errors"][0]["message"]
            assert took < REFUSED_WITHIN, f"{limit}: answered after {took:.1f} s"
            assert (await client.get("/healthz")).status_code == 200
        after = memory(pid)
    assert after["VmHWM"] - before["VmHWM"] < 64 * MB, (before, after)
    assert after["VmRSS"] - before["VmRSS"] < 64 * MB, (before, after)


async def test_a_million_row_csv_is_refused_by_the_row_limit_and_healthz_keeps_answering(processes):
    service = processes("partners")
    content = rows_csv(1_000_000)  # 7.9 MB, under the 16 MB an upload may be
    assert len(content) < 8 * MB
    async with httpx.AsyncClient(base_url=service.url, timeout=60.0, headers=ENGLISH) as client:
        before = memory(service.process.pid)
        work = asyncio.create_task(upload(client, "sejuta.csv", content))
        waits = await watching_health(client, work)
        response, took = await work
        after = memory(service.process.pid)
    assert response.status_code == 413, response.text
    problem = response.json()
    assert (problem["limit"], problem["maximum"], problem["setting"]) == ("rows", 20_000, "SINERGI_IMPORT_MAX_ROWS")
    assert "more than 20,000 rows" in problem["detail"]
    assert took < REFUSED_WITHIN, f"answered after {took:.1f} s"
    assert max(waits) < 1.0, waits
    assert after["VmHWM"] - before["VmHWM"] < 200 * MB, (before, after)


async def test_healthz_answers_within_a_second_throughout_a_large_import(processes):
    service = processes("partners", SINERGI_OUTBOX_SWEEP_SECONDS="60")
    async with httpx.AsyncClient(base_url=service.url, timeout=120.0, headers=ENGLISH) as client:
        work = asyncio.create_task(upload(client, "mitra.csv", valid_rows(3_000)))
        waits = await watching_health(client, work)
        response, took = await work
    assert response.status_code == 200, response.text
    assert len(waits) >= 5, f"the import took {took:.1f} s"
    assert max(waits) < 1.0, f"/healthz waited {max(waits):.2f} s during an import of {took:.1f} s"
    assert response.json()["created"] == 3_000


async def test_a_file_of_5000_bad_rows_answers_the_first_100_errors_and_counts_them_all(settings):
    good = {n for n in range(5_100) if n % 51 == 0}  # 100 good rows among 5,000 bad ones
    lines = ["nama,jenis"] + [f"Komunitas {n},{'kim' if n in good else 'partai'}" for n in range(5_100)]
    content = "\n".join(lines).encode()
    bad_rows = [n + 2 for n in range(5_100) if n not in good]  # row numbers in the file, the header is row 1
    async with running("partners", settings) as (_, client):
        response, _ = await upload(client, "mitra.csv", content)
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["created"], report["error_count"], len(report["errors"])) == (100, 5_000, 100)
        assert [e["row"] for e in report["errors"]] == bad_rows[:100]  # the first ones, by row
        assert {e["field"] for e in report["errors"]} == {"jenis"}
        assert len(response.content) < 40_000  # all 5,000 took 1 MB

        again, _ = await upload(client, "mitra.csv", content, max_errors=10_000)
        report = again.json()
        assert (report["unchanged"], report["error_count"], len(report["errors"])) == (100, 5_000, 5_000)
        assert [e["row"] for e in report["errors"]] == bad_rows

        refused = await client.post("/partners/import", headers=auth(), params={"max_errors": 10_001},
                                    files={"file": ("mitra.csv", content)})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "max_errors"


async def test_the_row_limit_is_a_setting(settings, monkeypatch):
    monkeypatch.setenv("SINERGI_IMPORT_MAX_ROWS", "50")
    async with running("partners", settings) as (_, client):
        response, _ = await upload(client, "mitra.csv", "\n".join(["nama,jenis"] + [f"K{n},kim" for n in range(51)]).encode())
        assert response.status_code == 413, response.text
        assert (response.json()["limit"], response.json()["maximum"]) == ("rows", 50)
        response, _ = await upload(client, "mitra.csv", "\n".join(["nama,jenis"] + [f"K{n},kim" for n in range(50)]).encode())
        assert response.status_code == 200 and response.json()["created"] == 50
