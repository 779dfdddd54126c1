"""Kegiatan forms: an activity's partners (with their role) and speakers, planned and edited, the
activities service's own field errors shown next to the fields."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from services.console.pages.home import current_election
from tests.conftest import auth, eventually
from tests.console.conftest import Console, csrf_of, post_form


def _error(html: str, field: str) -> str | None:
    found = re.search(rf'id="e-{re.escape(field)}">([^<]+)<', html)
    return found.group(1) if found else None


async def test_an_activitys_partners_and_speakers_are_planned_and_edited_with_field_errors(console: Console):
    await console.user("op@kpu.example")
    client = await console.signed_in("op@kpu.example")
    made = await post_form(client, "/mitra/baru", "/mitra/baru", {"name": "Karang Taruna Sukaluyu", "type": "kim"})
    partner_id = made.headers["location"].removeprefix("/mitra/")

    async def replicated() -> bool:
        return (await console.services["activities"].get(f"/replica/partners/{partner_id}",
                                                         headers=auth("viewer"))).status_code == 200

    await eventually(replicated, timeout=15)
    calendar = (await console.services["activities"].get("/elections", headers=auth("viewer"))).json()["items"]
    election = current_election(calendar, datetime.now(ZoneInfo("Asia/Jakarta")).date())
    plan = {"title": "Sosialisasi Karang Taruna", "election": election["id"], "kind": "sosialisasi",
            "method": "langsung", "format": "tatap_muka", "segments": "pemilih_pemula",
            "partners[0].partner_id": partner_id,
            "partners[0].role": "", "speakers[0].name": "", "speakers[0].affiliation": "KPU Kota Bandung"}
    form = await client.get("/kegiatan/baru")
    assert "Karang Taruna Sukaluyu" in form.text  # the partner is offered by name
    refused = await client.post("/kegiatan/baru", data={"csrf": csrf_of(form.text), **plan})
    assert refused.status_code == 422, refused.text[:800]
    assert _error(refused.text, "partners[0].role") and _error(refused.text, "speakers[0].name"), refused.text
    planned = await client.post("/kegiatan/baru", data={"csrf": csrf_of(form.text), **plan, "partners[0].role": "tempat",
                                                        "speakers[0].name": "Dr. Rina Marlina"})
    assert planned.status_code == 303, re.findall(r"class=\"(?:error|alert)\"[^>]*>([^<]+)<", planned.text)
    path = planned.headers["location"]
    detail = (await client.get(path)).text
    assert "Karang Taruna Sukaluyu" in detail and "Dr. Rina Marlina (KPU Kota Bandung)" in detail

    edit = await client.get(f"{path}/ubah")
    assert 'value="Dr. Rina Marlina"' in edit.text  # the form shows the rows it edits
    version = re.search(r'name="version" value="(\d+)"', edit.text).group(1)
    changed = await client.post(f"{path}/ubah", data={
        "csrf": csrf_of(edit.text), "version": version, **{k: v for k, v in plan.items() if "[" not in k},
        "partners[0].partner_id": partner_id, "partners[0].role": "penyelenggara",
        "speakers[0].name": "", "speakers[0].affiliation": "", "speakers[1].name": "Asep Saepudin",
        "speakers[1].affiliation": ""})
    assert changed.status_code == 303, changed.text[:800]
    activity = (await console.services["activities"].get(f"/activities/{path.split('/')[-1]}",
                                                          headers=auth("viewer"))).json()
    assert [(p["partner_id"], p["role"]) for p in activity["partners"]] == [(partner_id, "penyelenggara")]
    assert [s["name"] for s in activity["speakers"]] == ["Asep Saepudin"]
