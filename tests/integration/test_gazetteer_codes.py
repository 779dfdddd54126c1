"""Unknown kecamatan codes are refused, turnout per kecamatan by name, names in coverage and the
report (issue 12 point 2), against the real store and broker.

Kota Bandung has 30 kecamatan (32.73.01–32.73.30): ``32.73.31`` is shaped like a code of the region
but names no place, so it is refused like an unknown name, with the nearest kecamatan suggested.
"""

from __future__ import annotations

import csv
import io
import secrets

import pytest
from openpyxl import load_workbook

from tests.conftest import auth, make_settings, running
from tests.integration.test_activities_helpers import activity_body, plan, post


@pytest.fixture(scope="module")
async def partners(servers, run_id):
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    async with running("partners", settings) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def activities(servers, run_id):
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    async with running("activities", settings) as (_, client):
        yield client


def _refused(answer, field):
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    [error] = [e for e in problem["errors"] if e["field"] == field]
    assert "32.73.31" in error["message"]
    assert problem["suggestions"][field][0] == "Mandalajati"
    return problem


async def test_a_partner_with_a_kecamatan_code_the_gazetteer_does_not_list_is_refused(partners):
    refused = await partners.post("/partners", headers=auth(), json={
        "name": f"KIM Antah {secrets.token_hex(3)}", "type": "kim", "district": "32.73.31"})
    _refused(refused, "district")
    kept = await partners.post("/partners", headers=auth(), json={
        "name": f"KIM Mandalajati {secrets.token_hex(3)}", "type": "kim", "district": "32.73.30"})
    assert kept.status_code == 201 and kept.json()["district_name"] == "Mandalajati"


async def test_an_activity_s_location_and_district_targets_refuse_unknown_codes(activities):
    refused = await activities.post("/activities", headers=auth(), json=activity_body(
        location={"district": "32.73.31"}))
    _refused(refused, "location.district")
    village = await activities.post("/activities", headers=auth(), json=activity_body(
        location={"district": "32.73.02", "village": "32.73.02.1099"}))
    assert village.status_code == 422
    assert [e["field"] for e in village.json()["errors"]] == ["location.village"]
    targets = await activities.put("/targets/pemilu-2019", headers=auth(), json={
        "participation_target_pct": 80, "district_targets": {"32.73.31": 2}})
    _refused(targets, "district_targets.32.73.31")


async def test_turnout_per_kecamatan_is_taken_by_name_or_code_and_shown_with_names(activities):
    body = {"turnout_pct": 70.2, "districts": [{"district": "Kec. Coblong", "turnout_pct": 74.1},
                                               {"district": "32.73.25", "turnout_pct": 61.0}]}
    recorded = await activities.put("/elections/pemilu-2019/turnout", json=body, headers=auth())
    assert recorded.status_code == 200, recorded.text
    assert [d["district"] for d in recorded.json()["turnout"]["districts"]] == ["32.73.02", "32.73.25"]
    unknown = await activities.put("/elections/pemilu-2019/turnout", headers=auth(), json={
        "turnout_pct": 70, "districts": [{"district": "Cobong", "turnout_pct": 70},
                                         {"district": "32.73.31", "turnout_pct": 70}]})
    assert unknown.status_code == 422
    assert unknown.json()["suggestions"]["districts[0].district"] == ["Coblong"]
    _refused(unknown, "districts[1].district")
    twice = await activities.put("/elections/pemilu-2019/turnout", headers=auth(), json={
        "turnout_pct": 70, "districts": [{"district": "Coblong", "turnout_pct": 70},
                                         {"district": "32.73.02", "turnout_pct": 71}]})
    assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "districts[1].district"

    coverage = (await activities.get("/stats/coverage", params={"election": "pemilu-2019", "group_by": "district"},
                                     headers=auth("viewer"))).json()
    assert [(d["district"], d["district_name"]) for d in coverage["turnout"]["districts"]] == [
        ("32.73.02", "Coblong"), ("32.73.25", "Cibiru")]


async def test_coverage_by_kecamatan_and_the_report_name_each_kecamatan_and_the_report_has_a_programme(activities):
    election = "pilkada-2020"
    targeted = await activities.put(f"/targets/{election}", headers=auth(), json={
        "participation_target_pct": 80, "district_targets": {"Cibiru": 1}})
    assert targeted.status_code in (200, 201), targeted.text
    created = await plan(activities, election=election, programme="GERDU PEMILU",
                         location={"district": "Coblong"})
    scheduled = await post(activities, created["id"], "schedule", {"starts_at": "2020-11-02T09:00:00+07:00",
                                                                   "ends_at": "2020-11-02T11:00:00+07:00"})
    assert scheduled.status_code == 200, scheduled.text

    coverage = (await activities.get("/stats/coverage", params={"election": election, "group_by": "district"},
                                     headers=auth("viewer"))).json()
    names = {row["key"]: row["name"] for row in coverage["groups"]}
    assert names["32.73.02"] == "Coblong" and names["32.73.25"] == "Cibiru"
    assert coverage["gaps"]["districts"] == ["32.73.25"] and coverage["gaps"]["district_names"] == {"32.73.25": "Cibiru"}
    matrix = (await activities.get("/stats/coverage", params={"election": election, "group_by": "segment,district"},
                                   headers=auth("viewer"))).json()
    assert {row["name"] for row in matrix["groups"]} == {"Coblong"}

    report = await activities.get("/reports/activities", params={"election": election, "format": "csv"},
                                  headers=auth("viewer"))
    rows = {r["ID"]: r for r in csv.DictReader(io.StringIO(report.content.decode("utf-8-sig")))}
    assert rows[created["id"]]["Program"] == "GERDU PEMILU"
    xlsx = await activities.get("/reports/activities", params={"election": election, "format": "xlsx"},
                                headers=auth("viewer"))
    book = load_workbook(io.BytesIO(xlsx.content))
    header = [c.value for c in book["Kegiatan"][1]]
    assert book["Kegiatan"].cell(2, header.index("Program") + 1).value == "GERDU PEMILU"
    summary = [[c.value for c in r] for r in book["Ringkasan"].iter_rows()]
    per_district = {r[0]: r[1] for r in summary[summary.index(next(r for r in summary if r[0] == "Per kecamatan")) + 1:]
                    if r[0] and r[0].startswith("32.73.")}
    assert per_district == {"32.73.02": "Coblong", "32.73.25": "Cibiru"}


async def test_a_kecamatan_refusal_reads_in_bahasa_indonesia_or_in_english_on_request(partners):
    body = {"name": f"KIM Cobong {secrets.token_hex(3)}", "type": "kim", "district": "Cobong"}
    # (the test client asks for English unless told otherwise)
    default = (await partners.post("/partners", headers={**auth(), "Accept-Language": "id"}, json=body)).json()
    assert default["errors"][0]["message"] == "'Cobong' bukan kecamatan di Kota Bandung (32.73); maksud Anda Coblong?"
    english = (await partners.post("/partners", headers={**auth(), "Accept-Language": "en"}, json=body)).json()
    assert english["errors"][0]["message"] == "'Cobong' is not a kecamatan of Kota Bandung (32.73); did you mean Coblong?"
