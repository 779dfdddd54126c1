"""The activities service as an operator runs it: its own process, next to the partners service.

The demo season is loaded through the HTTP APIs (twice: nothing changes the second time), and
`sinergi activities report` writes the period report from the running service.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter

import httpx
import openpyxl
from rich.console import Console

from sinergi_cli.demo import activities as demo_activities
from tests.conftest import ROOT, SECRET, auth, service_env

# One partner of each type the season asks for (the full partners demo registers 87: slow here).
PARTNERS = [
    {"name": "Diskominfo Kota Bandung", "type": "opd_diskominfo"},
    {"name": "KIM Dago Berdaya", "type": "kim", "district": "32.73.02"},
    {"name": "KIM Cicadas Bersatu", "type": "kim", "district": "32.73.14"},
    {"name": "Komunitas Seni Braga", "type": "ormas_komunitas"},
    {"name": "Radio Komunitas Cibiru", "type": "media"},
    {"name": "SMA Negeri 2 Bandung", "type": "sekolah", "district": "32.73.02"},
    {"name": "FISIP Universitas Padjadjaran", "type": "perguruan_tinggi"},
]


async def test_the_demo_season_loads_twice_into_running_services_and_the_cli_writes_its_report(
    processes, settings, tmp_path
):
    partners = processes("partners")
    activities = processes("activities")
    console = Console(file=io.StringIO())
    headers = auth("admin")
    with httpx.Client(base_url=partners.url, headers=headers, timeout=30) as p, \
            httpx.Client(base_url=activities.url, headers=headers, timeout=30) as a:
        partner_ids = []
        for partner in PARTNERS:
            created = p.post("/partners", json={**partner, "region": "32.73"})
            assert created.status_code == 201, created.text
            partner_ids.append(created.json()["id"])
        demo_activities.load(console, a, partner_ids)
        first = a.get("/activities", params={"election": "pilkada-2024", "limit": 500}).json()["items"]
        demo_activities.load(console, a, partner_ids)
        again = a.get("/activities", params={"election": "pilkada-2024", "limit": 500}).json()["items"]

    assert len(first) == sum(d.election is None for d in demo_activities.SEASON)
    assert {x["title"] for x in first if x["programme"] == "GERDU PEMILU"} >= {
        "Forum warga: tahapan Pilwalkot Bandung 2024 di Kelurahan Dago"}
    with httpx.Client(base_url=activities.url, headers=headers, timeout=30) as a:
        between = a.get("/activities", params={"election": "berkelanjutan", "limit": 500}).json()["items"]
        a_between = a.get("/stats/coverage", params={"election": "berkelanjutan", "group_by": "programme"}).json()
    assert {x["programme"] for x in between} == {"Desa Peduli Pemilu dan Pemilihan", "Sekolah Kader Demokrasi"}
    assert {g["key"]: g["held"] for g in a_between["groups"]} == {
        "Desa Peduli Pemilu dan Pemilihan": 1, "Sekolah Kader Demokrasi": 0}
    assert [(x["id"], x["version"]) for x in again] == [(x["id"], x["version"]) for x in first]
    statuses = Counter(x["status"] for x in first)
    assert set(statuses) == {"planned", "scheduled", "held", "reported", "cancelled"}
    named = {p["name"]: p["partner_id"] for x in first for p in x["partners"]}
    assert set(named.values()) <= set(partner_ids) and len(named) >= 6, "demo activities name the demo partners"
    dago = next(x for x in first if "Kelurahan Dago" in x["title"])
    assert [p["name"] for p in dago["partners"]] == ["KIM Dago Berdaya"], "a KIM of the activity's own kecamatan"
    quiet = [x for x in first if any(w["code"] == "masa_tenang" for w in x["warnings"])]
    assert [x["title"] for x in quiet] == ["Mobil sosialisasi keliling: ayo ke TPS 27 November"]

    async with httpx.AsyncClient(base_url=activities.url, timeout=30) as client:
        coverage = (await client.get("/stats/coverage", headers=auth("viewer"),
                                     params={"election": "pilkada-2024", "group_by": "district"})).json()
    assert coverage["totals"]["by_status"] == {s: statuses.get(s, 0) for s in coverage["totals"]["by_status"]}
    assert "32.73.27" in coverage["gaps"]["districts"]  # the Gedebage walk was cancelled
    assert "berkebutuhan_khusus" in coverage["gaps"]["segments"]  # Sukamiskin is only scheduled

    target = tmp_path / "laporan.xlsx"
    env = {**service_env(settings), "SINERGI_AUTH_SECRET": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "sinergi_cli.main", "activities", "report", "--election", "pilkada-2024",
         "--from", "2024-09-01", "--to", "2024-11-30", "-o", str(target), "--url", activities.url],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ditulis" in result.stderr and "Jumlah kegiatan" in result.stderr
    book = openpyxl.load_workbook(target)
    summary = {row[0]: row[1] for row in book["Ringkasan"].iter_rows(values_only=True) if row and row[0]}
    dated = [x for x in first if x["starts_at"]]
    assert summary["Jumlah kegiatan"] == len(dated) == book["Kegiatan"].max_row - 1
    assert summary["Jumlah peserta"] == sum((x["outcome"] or {}).get("attendance_total", 0) for x in first)

    refused = subprocess.run(
        [sys.executable, "-m", "sinergi_cli.main", "activities", "report", "--election", "pilkada-2029",
         "-o", str(tmp_path / "x.csv"), "--url", activities.url],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "tidak dikenal" in refused.stderr
