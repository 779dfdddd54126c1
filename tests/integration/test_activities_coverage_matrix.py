"""Programmes and coverage as offices read it, on the real store (issue 12, points 4 and 5): the
``programme`` field and filter, ``?stage=``, unknown query parameters refused, ``group_by`` of one
or two groupings (``segment,district`` is the matrix)."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import auth, make_settings, running
from tests.integration.test_activities_helpers import plan, post


@pytest.fixture(scope="module")
async def season(servers, run_id):
    """Three activities of Pilkada 2024 in a service of their own: two of GERDU PEMILU, reported."""
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    async with running("activities", settings) as (_, client):
        async def reported(starts_at: str, attendance: dict[str, int], **fields) -> dict:
            activity = await plan(client, **fields)
            ends_at = starts_at.replace("T09", "T11")
            await post(client, activity["id"], "schedule", {"starts_at": starts_at, "ends_at": ends_at})
            await post(client, activity["id"], "hold")
            answer = await post(client, activity["id"], "report", {
                "attendance_total": max(attendance.values()), "attendance_by_segment": attendance})
            assert answer.status_code == 200, answer.text
            return answer.json()

        dago = await reported("2024-10-12T09:00:00+07:00", {"pemilih_pemula": 30, "perempuan": 20},
                              programme="  GERDU   PEMILU ", stage=None)
        coblong = await reported("2024-11-02T09:00:00+07:00", {"pemilih_pemula": 12},
                                 programme="GERDU PEMILU", stage=None, segments=["pemilih_pemula"],
                                 location={"district": "32.73.25"})
        other = await plan(client, programme="Sekolah Kader Demokrasi", stage="pencalonan")
        yield client, {"dago": dago, "coblong": coblong, "other": other}


async def test_an_activity_belongs_to_a_programme_and_the_list_filters_by_programme_and_stage(season):
    client, made = season
    assert made["dago"]["programme"] == "GERDU PEMILU", "trimmed, spaces collapsed"
    too_long = await client.post("/activities", headers=auth(), json={
        "title": "Forum", "kind": "sosialisasi", "election": "pilkada-2024", "method": "langsung",
        "format": "forum_warga", "segments": ["umum"], "programme": "x" * 121})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "programme"

    async def ids(**params) -> set[str]:
        answer = await client.get("/activities", params=params, headers=auth("viewer"))
        assert answer.status_code == 200, answer.text
        return {a["id"] for a in answer.json()["items"]}

    assert await ids(programme="GERDU PEMILU") == {made["dago"]["id"], made["coblong"]["id"]}
    assert await ids(programme="Sekolah Kader Demokrasi") == {made["other"]["id"]}
    assert await ids(stage="kampanye") == {made["dago"]["id"], made["coblong"]["id"]}, "filled from the dates"
    assert await ids(stage="pencalonan") == {made["other"]["id"]}


@pytest.mark.parametrize(("path", "params"), [
    ("/activities", {"stge": "kampanye"}),
    ("/stats/coverage", {"election": "pilkada-2024", "segmen": "perempuan"}),
    ("/reports/activities", {"election": "pilkada-2024", "programme": "GERDU PEMILU"}),
])
async def test_an_unknown_query_parameter_is_a_422_naming_it(season, path, params):
    client, _ = season
    answer = await client.get(path, params=params, headers=auth("viewer"))
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [next(k for k in params if k != "election")]


async def test_coverage_by_programme_stage_and_the_segment_by_district_matrix(season):
    client, made = season

    async def coverage(group_by: str) -> dict:
        answer = await client.get("/stats/coverage", params={"election": "pilkada-2024", "group_by": group_by},
                                  headers=auth("viewer"))
        assert answer.status_code == 200, answer.text
        return answer.json()

    by_programme = {g["key"]: (g["activities"], g["held"], g["attendance"])
                    for g in (await coverage("programme"))["groups"]}
    assert by_programme == {"GERDU PEMILU": (2, 2, 42), "Sekolah Kader Demokrasi": (1, 0, 0)}
    by_stage = {g["key"]: (g["label"], g["activities"]) for g in (await coverage("stage"))["groups"]}
    assert by_stage["kampanye"][1] == 2 and by_stage["pencalonan"][1] == 1

    matrix = await coverage("segment,district")
    assert matrix["group_by"] == "segment,district"
    cells = {tuple(g["key"]): g for g in matrix["groups"]}
    assert cells[("pemilih_pemula", "32.73.02")]["attendance"] == 30, "the segment's own attendance there"
    assert cells[("pemilih_pemula", "32.73.25")]["attendance"] == 12
    assert cells[("perempuan", "32.73.02")]["held"] == 1
    assert ("perempuan", "32.73.25") not in cells, "an empty cell is not a row"
    assert cells[("pemilih_pemula", "32.73.02")]["label"] == ["Pemilih pemula", "32.73.02"]
    assert matrix["totals"]["activities"] == 3

    for bad in ("segment,segment", "segment,district,format", "kecamatan"):
        answer = await client.get("/stats/coverage", params={"election": "pilkada-2024", "group_by": bad},
                                  headers=auth("viewer"))
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "group_by"
