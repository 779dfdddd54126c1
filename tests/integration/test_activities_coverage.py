"""Coverage figures and the period report on 2,000 generated activities, against a count done here.

The activities are built with the domain and stored with the store's own document mapping
(``insert_many``: 2,000 HTTP round trips would measure FerretDB, not coverage); the expected
figures are counted independently from the generated plain data.
"""

from __future__ import annotations

import io
import random
import secrets
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from ulid import ULID

from services.activities.domain import Activity
from services.activities.store import document
from shared.vocabulary import DIRECT_FORMATS, MEDIA_FORMATS, Segment
from tests.conftest import auth, make_settings, running

WIB = ZoneInfo("Asia/Jakarta")
N = 2000
STATUSES = ["planned", "scheduled", "held", "reported", "cancelled"]
SEGMENTS = [s.value for s in Segment]
# Kota Bandung has 30 kecamatan (32.73.01–30): the activities reach 29, Mandalajati (30) is the gap.
DISTRICTS = [f"32.73.{n:02d}" for n in range(1, 30)]
PARTNERS = [str(ULID()) for _ in range(12)]
SEASON_START = datetime(2024, 9, 1, 1, 0, tzinfo=UTC)


def generate(rng: random.Random) -> dict[str, Any]:
    """One activity as plain data: what it is, where it got to, what it reached."""
    direct = rng.random() < 0.7
    fmt = rng.choice(sorted(DIRECT_FORMATS if direct else MEDIA_FORMATS))
    status = rng.choices(STATUSES, weights=[2, 2, 2, 5, 1])[0]
    dated = status != "planned" or rng.random() < 0.5
    starts_at = None
    if dated:
        # late in the evening UTC is the next day in WIB: the month must be the local one
        starts_at = SEASON_START + timedelta(days=rng.randint(0, 86), hours=rng.choice([0, 3, 12, 17, 18]))
    segments = rng.sample(SEGMENTS, rng.randint(1, 3))
    spec: dict[str, Any] = {
        "election": "pilkada-2024",
        "format": fmt,
        "method": "langsung" if direct else "tidak_langsung",
        "segments": segments,
        "partners": list(dict.fromkeys(rng.sample(PARTNERS, rng.randint(0, 3)))),
        "district": rng.choice(DISTRICTS) if direct and rng.random() < 0.9 else None,
        "starts_at": starts_at,
        "status": status,
        "cancelled_from": rng.choice(["planned", "scheduled"]) if dated else "planned",
        "outcome": None,
    }
    if status == "reported":
        total = rng.randint(0, 400)
        by_segment = {s: rng.randint(0, total) for s in rng.sample(SEGMENTS, rng.randint(0, 4))}
        spec["outcome"] = {"attendance_total": total, "attendance_by_segment": by_segment,
                           "women": rng.randint(0, total), "disabled": rng.randint(0, min(total, 10)),
                           "reach": total + rng.randint(0, 5000) * (not direct)}
    return spec


def build(spec: dict[str, Any], now: datetime) -> Activity:
    """The generated activity, moved through its life cycle by the domain."""
    activity = Activity.plan(
        id=str(ULID()), region="32.73", now=now, title="Kegiatan uji cakupan", kind="sosialisasi",
        election=spec["election"], method=spec["method"], format=spec["format"], segments=spec["segments"],
        partners=[{"partner_id": p, "role": "mitra"} for p in spec["partners"]],
        location={"district": spec["district"]} if spec["district"] else None,
        starts_at=spec["starts_at"] if spec["status"] == "planned" else None)
    status, start = spec["status"], spec["starts_at"]
    if status in ("scheduled", "held", "reported") or (status == "cancelled" and spec["cancelled_from"] == "scheduled"):
        activity.schedule(start, start + timedelta(hours=2), None, now)
    if status == "cancelled" and spec["cancelled_from"] == "planned" and start is not None:
        activity.edit({"starts_at": start}, now)
    if status in ("held", "reported"):
        activity.hold(now)
    if status == "reported":
        activity.report(now=now, **spec["outcome"])
    if status == "cancelled":
        activity.cancel("Ditunda karena bentrok jadwal", now)
    activity.events.clear()
    assert activity.status.value == status
    return activity


def keys(spec: dict[str, Any], group_by: str) -> list[str | None]:
    if group_by == "segment":
        return list(spec["segments"])
    if group_by == "partner":
        return list(spec["partners"])
    if group_by == "format":
        return [spec["format"]]
    if group_by == "district":
        return [spec["district"]]
    start = spec["starts_at"]
    return [start.astimezone(WIB).strftime("%Y-%m") if start else None]


def expected(specs: list[dict[str, Any]], group_by: str) -> dict[str | None, dict[str, Any]]:
    groups: dict[str | None, dict[str, Any]] = defaultdict(
        lambda: {"by_status": Counter(), "attendance": 0, "women": 0, "disabled": 0, "reach": 0})
    for spec in specs:
        outcome = spec["outcome"] or {"attendance_total": 0, "attendance_by_segment": {}, "women": 0,
                                      "disabled": 0, "reach": 0}
        for key in keys(spec, group_by):
            group = groups[key]
            group["by_status"][spec["status"]] += 1
            if group_by != "segment":
                group["attendance"] += outcome["attendance_total"]
            for metric in ("women", "disabled", "reach"):
                group[metric] += outcome[metric]
        if group_by == "segment":  # a segment's attendance is what was reported for it, anywhere
            for segment, count in outcome["attendance_by_segment"].items():
                groups[segment]["attendance"] += count
    return {k: _figures(v) for k, v in groups.items()
            if sum(v["by_status"].values()) or v["attendance"]}


def _figures(group: dict[str, Any]) -> dict[str, Any]:
    by_status = {s: group["by_status"].get(s, 0) for s in STATUSES}
    return {"activities": sum(by_status.values()), "by_status": by_status,
            "held": by_status["held"] + by_status["reported"],
            **{m: group[m] for m in ("attendance", "women", "disabled", "reach")}}


def figures_of(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("activities", "by_status", "held", "attendance", "women", "disabled", "reach")}


@pytest.fixture(scope="module")
async def season(servers, run_id):
    """One service holding 2,000 generated Pilkada 2024 activities (and a few of another election)."""
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    rng = random.Random(20241127)
    specs = [generate(rng) for _ in range(N)]
    now = datetime(2024, 12, 1, tzinfo=UTC)
    async with running("activities", settings) as (app, client):
        others = [{**generate(rng), "election": "pemilu-2024"} for _ in range(20)]
        docs = [document(build(spec, now), settings.zone) for spec in [*specs, *others]]
        await app.state.infra.db["activities"].insert_many(docs, ordered=False)
        # Targets nothing reached: the generator reaches every segment and every kecamatan but
        # Mandalajati (32.73.30), the district gap; lansia has a target of 0 (not a gap).
        targets = {"segment_targets": {"perempuan": 10, "disabilitas": 5, "lansia": 0},
                   "district_targets": {"32.73.02": 4, "32.73.30": 2}, "reach_target": 1_000_000}
        assert (await client.put("/targets/pilkada-2024", json=targets, headers=auth())).status_code == 201
        yield specs, client


@pytest.mark.parametrize("group_by", ["segment", "format", "partner", "district", "month"])
async def test_coverage_of_2000_activities_equals_an_independent_count(season, group_by):
    specs, client = season
    response = await client.get("/stats/coverage", params={"election": "pilkada-2024", "group_by": group_by},
                                headers=auth("viewer"))
    assert response.status_code == 200, response.text
    coverage = response.json()
    want = expected(specs, group_by)
    if group_by == "district":
        want["32.73.30"] = _figures({"by_status": Counter(), "attendance": 0, "women": 0, "disabled": 0, "reach": 0})
    assert {row["key"]: figures_of(row) for row in coverage["groups"]} == want
    assert figures_of(coverage["totals"]) == expected([{**s, "format": "all"} for s in specs], "format")["all"]
    assert coverage["totals"]["activities"] == N


async def test_gaps_name_the_targeted_segments_and_districts_where_nothing_took_place(season):
    specs, client = season
    took_place = [s for s in specs if s["status"] in ("held", "reported")]
    coverage = (await client.get("/stats/coverage", headers=auth("viewer"),
                                 params={"election": "pilkada-2024", "group_by": "district"})).json()
    assert coverage["gaps"]["segments"] == sorted({"perempuan", "disabilitas"}
                                                  - {seg for s in took_place for seg in s["segments"]})
    assert coverage["gaps"]["districts"] == sorted({"32.73.02", "32.73.30"} - {s["district"] for s in took_place})
    assert "32.73.30" in coverage["gaps"]["districts"]
    row = next(r for r in coverage["groups"] if r["key"] == "32.73.30")
    assert (row["activities"], row["target"], row["progress_pct"]) == (0, 2, 0.0)
    assert row["name"] == "Mandalajati" and coverage["gaps"]["district_names"]["32.73.30"] == "Mandalajati"
    today = datetime.now(WIB).date()
    assert coverage["days_to_voting_day"] == coverage["gaps"]["days_to_voting_day"] == (date(2024, 11, 27) - today).days
    assert coverage["targets"]["reach_pct"] == round(coverage["totals"]["reach"] * 100 / 1_000_000, 1)
    segments = (await client.get("/stats/coverage", headers=auth("viewer"),
                                 params={"election": "pilkada-2024", "group_by": "segment"})).json()
    lansia = next(r for r in segments["groups"] if r["key"] == "lansia")
    assert lansia["target"] == 0 and lansia["progress_pct"] is None


async def test_the_xlsx_report_of_a_period_opens_and_its_totals_equal_the_coverage_endpoints(season):
    specs, client = season
    params = {"election": "pilkada-2024", "from": "2024-10-01", "to": "2024-10-31"}
    response = await client.get("/reports/activities", params={**params, "format": "xlsx"}, headers=auth("viewer"))
    assert response.status_code == 200, response.text
    assert "laporan-kegiatan-pilkada-2024-2024-10-01_2024-10-31.xlsx" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Ringkasan", "Kegiatan"]

    coverage = (await client.get("/stats/coverage", params={**params, "group_by": "format"},
                                 headers=auth("viewer"))).json()
    assert coverage["period"] == {"from": "2024-09-30T17:00:00+00:00", "to": "2024-10-31T17:00:00+00:00"}
    in_october = [s for s in specs if s["starts_at"] and s["starts_at"].astimezone(WIB).strftime("%Y-%m") == "2024-10"]
    totals = coverage["totals"]
    assert figures_of(totals) == expected([{**s, "format": "all"} for s in in_october], "format")["all"]

    summary = {row[0]: row[1] for row in book["Ringkasan"].iter_rows(values_only=True) if row and row[0]}
    assert summary["Jumlah kegiatan"] == totals["activities"]
    assert summary["Jumlah peserta"] == totals["attendance"]
    assert summary["Peserta perempuan"] == totals["women"]
    assert summary["Peserta penyandang disabilitas"] == totals["disabled"]
    assert summary["Jangkauan"] == totals["reach"]
    assert summary["  Dilaporkan"] == totals["by_status"]["reported"]
    assert "Periode: 2024-10-01 s.d. 2024-10-31" in summary

    rows = list(book["Kegiatan"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == totals["activities"] == len(in_october)
    column = {name: i for i, name in enumerate(header)}
    assert sum(r[column["Peserta"]] or 0 for r in body) == totals["attendance"]
    assert sum(r[column["Jangkauan"]] or 0 for r in body) == totals["reach"]
    dates = [r[column["Tanggal"]] for r in body]
    assert dates == sorted(dates) and dates[0] >= "2024-10-01" and dates[-1] <= "2024-10-31"

    by_format = {r["label"]: r for r in coverage["groups"]}
    sheet = list(book["Ringkasan"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(sheet) if r[0] == "Per bentuk kegiatan")
    for row in sheet[start + 1:]:
        if row[0] == "Jumlah":
            assert row[1:7] == (totals["activities"], totals["held"], totals["attendance"], totals["women"],
                                totals["disabled"], totals["reach"])
            break
        assert row[1] == by_format[row[0]]["activities"] and row[3] == by_format[row[0]]["attendance"]
    else:
        pytest.fail("no Jumlah row under Per bentuk kegiatan")


async def test_coverage_needs_a_known_election(season):
    _, client = season
    unknown = await client.get("/stats/coverage", params={"election": "pemilu-2029"}, headers=auth("viewer"))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "election"
    missing = await client.get("/stats/coverage", headers=auth("viewer"))
    assert missing.status_code == 422
    wrong_group = await client.get("/stats/coverage", params={"election": "pilkada-2024", "group_by": "kabupaten"},
                                   headers=auth("viewer"))
    assert wrong_group.status_code == 422
