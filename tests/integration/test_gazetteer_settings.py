"""The gazetteer's path has one source, ``Settings.gazetteer_dir`` (issue 12 point 5's leftover):
each service reads the index from the directory its settings name, and every name it shows —
answers, events, coverage — comes from that index, whatever the process's environment says."""

from __future__ import annotations

import json
import secrets

import pytest

from shared.gazetteer import directory, index_dir, index_file, installed
from tests.bus import tap
from tests.conftest import REGION, auth, eventually, make_settings, running
from tests.integration.test_activities_helpers import plan


@pytest.fixture
def own_gazetteer(tmp_path):
    """A copy of the installed index in which Coblong (32.73.02) is called 'Coblong Uji'; the
    process's default directory is given back afterwards."""
    index = json.loads(index_file(directory(), REGION[:2]).read_text(encoding="utf-8"))
    index["districts"] = [[code, "Coblong Uji" if code == f"{REGION}.02" else name]
                          for code, name in index["districts"]]
    index_dir(tmp_path).mkdir(parents=True)
    index_file(tmp_path, REGION[:2]).write_text(json.dumps(index), encoding="utf-8")
    yield str(tmp_path)
    installed(REGION, None)  # what a service started with the default settings reads again


async def test_partners_name_kecamatan_from_the_directory_the_settings_give(servers, run_id, own_gazetteer):
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}", gazetteer_dir=own_gazetteer)
    async with tap(settings, "*.partner.registered") as published, running("partners", settings) as (_, client):
        created = await client.post("/partners", headers=auth(), json={
            "name": f"KIM Uji {secrets.token_hex(3)}", "type": "kim", "district": "Coblong Uji"})
        assert created.status_code == 201, created.text
        assert created.json()["district_name"] == "Coblong Uji"
        event = await eventually(lambda: _async([e for e in published if e["subject"] == created.json()["id"]]))
    assert event[0]["data"]["district_name"] == "Coblong Uji"


async def test_activities_name_kecamatan_from_the_directory_the_settings_give(servers, run_id, own_gazetteer):
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}", gazetteer_dir=own_gazetteer)
    async with running("activities", settings) as (_, client):
        created = await plan(client, location={"district": "32.73.02"})
        assert created["location"]["district_name"] == "Coblong Uji"
        coverage = (await client.get("/stats/coverage", params={"election": created["election"],
                                                                "group_by": "district"},
                                     headers=auth("viewer"))).json()
        assert {row["key"]: row["name"] for row in coverage["groups"]}["32.73.02"] == "Coblong Uji"


async def _async(value):
    return value
