"""The console's pages against the real services: what a member of staff does and sees."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.console.pages.home import current_election
from tests.conftest import auth, eventually
from tests.console.conftest import Console, post_form

ZONE = ZoneInfo("Asia/Jakarta")


def _id_from(location: str, prefix: str) -> str:
    assert location.startswith(prefix), location
    return location.removeprefix(prefix)


async def test_a_partner_registered_in_the_console_is_attributed_to_the_person(console: Console):
    user = await console.user("sari@kpu.example", name="Sari Wulandari")
    client = await console.signed_in("sari@kpu.example")
    made = await post_form(client, "/mitra/baru", "/mitra/baru",
                           {"name": "KIM Coblong Berdaya", "type": "kim", "district": "32.73.02",
                            "segments": ["pemilih_pemula"], "contacts[0].name": "Ujang",
                            "contacts[0].phone": "0812-2233-4455"})
    assert made.status_code == 303
    partner_id = _id_from(made.headers["location"], "/mitra/")
    detail = await client.get(made.headers["location"])
    assert "KIM Coblong Berdaya" in detail.text and "Pemilih pemula" in detail.text

    async def logged() -> dict | None:  # the event log keeps an event once the relay has published it
        audit = (await console.services["partners"].get("/audit", headers=auth("admin"))).json()
        return next((e for e in audit["items"] if e["subject"] == partner_id), None)

    entry = await eventually(logged, timeout=15)
    assert entry["actor"] == user.id and entry["actor_name"] == "Sari Wulandari"


async def test_the_services_field_errors_are_shown_next_to_the_fields(console: Console):
    await console.user("op@kpu.example")
    client = await console.signed_in("op@kpu.example")
    refused = await post_form(client, "/mitra/baru", "/mitra/baru",
                              {"name": "KIM Salah Nomor", "type": "kim", "contacts[0].name": "Ujang",
                               "contacts[0].phone": "nomor"})
    assert refused.status_code == 422
    error = re.search(r'id="e-contacts\[0\]\.phone">([^<]+)<', refused.text)
    assert error, refused.text
    assert 'value="KIM Salah Nomor"' in refused.text  # what was typed is kept


async def test_a_conflicting_edit_is_shown_not_lost(console: Console):
    await console.user("a@kpu.example")
    await console.user("b@kpu.example")
    first, second = await console.signed_in("a@kpu.example"), await console.signed_in("b@kpu.example")
    made = await post_form(first, "/mitra/baru", "/mitra/baru", {"name": "Karang Taruna Sukajadi", "type": "ormas_komunitas"})
    path = made.headers["location"] + "/ubah"
    page_a, page_b = await first.get(path), await second.get(path)
    from tests.console.conftest import csrf_of

    saved = await first.post(path, data={"csrf": csrf_of(page_a.text), "version": "1", "name": "Karang Taruna Sukajadi",
                                         "type": "ormas_komunitas", "notes": "catatan A"})
    assert saved.status_code == 303
    late = await second.post(path, data={"csrf": csrf_of(page_b.text), "version": "1", "name": "Karang Taruna Sukajadi",
                                         "type": "ormas_komunitas", "notes": "catatan B"})
    assert late.status_code == 412
    assert "telah diubah orang lain" in late.text
    assert "catatan A" in late.text and "catatan B" in late.text  # theirs shown, mine kept


async def test_an_activity_goes_through_its_life_cycle_with_buttons(console: Console):
    await console.user("op3@kpu.example")
    client = await console.signed_in("op3@kpu.example")
    calendar = (await console.services["activities"].get("/elections", headers=auth("viewer"))).json()["items"]
    election = current_election(calendar, datetime.now(ZONE).date())
    assert "Pemilih pemula" not in (await client.get("/")).text  # the Beranda's figures, now kept a while
    start = (datetime.now(ZONE) - timedelta(hours=3)).replace(second=0, microsecond=0)
    made = await post_form(client, "/kegiatan/baru", "/kegiatan/baru",
                           {"title": "Sosialisasi pemilih pemula SMAN 2", "election": election["id"],
                            "kind": "sosialisasi", "method": "langsung", "format": "tatap_muka",
                            "segments": ["pemilih_pemula"]})
    assert made.status_code == 303, made.text[:2000]
    path = made.headers["location"]
    steps = [("schedule", {"version": "1", "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
                           "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")}),
             ("hold", {"version": "2"}),
             ("report", {"version": "3", "attendance_total": "120", "women": "60", "reach": "150",
                         "attendance_by_segment.pemilih_pemula": "120"})]
    for step, data in steps:
        answer = await post_form(client, path, f"{path}/{step}", data)
        assert answer.status_code == 303, (step, answer.text[:2000])
    page = await client.get(path)
    assert "Dilaporkan" in page.text and "120" in page.text
    activity = (await console.services["activities"].get(f"/activities/{path.split('/')[-1]}",
                                                          headers=auth("viewer"))).json()
    assert activity["status"] == "reported"
    # typed in the instance's zone, stored as that instant
    assert datetime.fromisoformat(activity["starts_at"].replace("Z", "+00:00")) == start
    # the Beranda counts it at once: a change made here is not hidden by the figures kept
    assert "Pemilih pemula" in (await client.get("/")).text


async def test_a_refused_step_shows_the_services_reason(console: Console):
    await console.user("op4@kpu.example")
    client = await console.signed_in("op4@kpu.example")
    made = await post_form(client, "/kegiatan/baru", "/kegiatan/baru",
                           {"title": "Forum warga", "election": "pilkada-2024", "kind": "sosialisasi",
                            "method": "langsung", "format": "forum_warga", "segments": ["keluarga"]})
    path = made.headers["location"]
    refused = await post_form(client, path, f"{path}/schedule", {"version": "1", "starts_at": "", "ends_at": ""})
    assert refused.status_code == 422
    assert 'id="e-starts_at"' in refused.text


async def test_the_inbox_is_the_users_own_and_marks_read(console: Console):
    await console.user("staf@kpu.example", name="Staf")
    client = await console.signed_in("staf@kpu.example")
    await post_form(client, "/mitra/baru", "/mitra/baru", {"name": "Komunitas Difabel Bandung", "type": "komunitas"})

    async def arrived() -> str | None:
        badge = await client.get("/notifikasi/jumlah")
        return badge.text if badge.text else None

    assert (await eventually(arrived, timeout=30)).startswith("1")
    inbox = await client.get("/notifikasi")
    assert "Komunitas Difabel Bandung" in inbox.text
    done = await post_form(client, "/notifikasi", "/notifikasi/baca-semua", {})
    assert done.status_code == 303
    assert (await client.get("/notifikasi/jumlah")).text == ""


async def test_every_page_of_the_menu_answers_in_both_languages(console: Console):
    await console.user("kepala@kpu.example", role="admin")
    client = await console.signed_in("kepala@kpu.example")
    for path in ("/", "/mitra", "/mitra/baru", "/mitra-impor", "/kegiatan", "/kegiatan?view=week",
                 "/kegiatan?view=month", "/kegiatan/baru", "/notifikasi", "/pengaturan", "/pengaturan/penerima",
                 "/pengaturan/pengiriman", "/pengaturan/target", "/pengaturan/antrean"):
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text[:1500])
    # the console keeps no event log: the services' audit and replay routes are not its own
    assert (await client.get("/audit", headers=auth("admin"))).status_code == 404
    switched = await post_form(client, "/", "/bahasa", {"lang": "en", "next": "/mitra"})
    assert switched.headers["location"] == "/mitra"
    assert "Register a partner" in (await client.get("/mitra")).text


async def test_an_admin_sets_an_elections_targets_and_a_wrong_one_is_named(console: Console):
    await console.user("kepala2@kpu.example", role="admin")
    client = await console.signed_in("kepala2@kpu.example")
    page = "/pengaturan/target?election=pilkada-2024"
    refused = await post_form(client, page, "/pengaturan/target",
                              {"election": "pilkada-2024", "participation_target_pct": "150"})
    assert refused.status_code == 422 and 'id="e-participation_target_pct"' in refused.text
    saved = await post_form(client, page, "/pengaturan/target",
                            {"election": "pilkada-2024", "participation_target_pct": "77.5", "reach_target": "5000",
                             "segment_targets.pemilih_pemula": "6", "district_targets": "32.73.02=4"})
    assert saved.status_code == 303, saved.text[:1500]
    targets = (await console.services["activities"].get("/targets/pilkada-2024", headers=auth("viewer"))).json()
    assert targets["segment_targets"] == {"pemilih_pemula": 6} and targets["district_targets"] == {"32.73.02": 4}
    assert 'value="6"' in (await client.get(page)).text


async def test_an_import_shows_each_rows_errors_against_the_files_rows(console: Console):
    await console.user("impor@kpu.example")
    client = await console.signed_in("impor@kpu.example")
    page = await client.get("/mitra-impor")
    from tests.console.conftest import csrf_of

    sheet = "nama,jenis\nKIM Antapani Maju,kim\n,kim\n".encode()
    answer = await client.post("/mitra-impor", data={"csrf": csrf_of(page.text)},
                               files={"file": ("mitra.csv", sheet, "text/csv")})
    assert answer.status_code == 200, answer.text[:1500]
    row = re.search(r"<tr><td>(\d+)</td><td>([^<]*)</td>", answer.text)
    assert row and row.group(1) == "3", answer.text  # the header is row 1: the empty name is row 3
    listed = await console.services["partners"].get("/partners", params={"q": "Antapani"}, headers=auth("viewer"))
    assert [p["name"] for p in listed.json()["items"]] == ["KIM Antapani Maju"]


async def test_editing_a_partner_keeps_the_contacts_the_form_does_not_show(console: Console):
    await console.user("edit@kpu.example")
    client = await console.signed_in("edit@kpu.example")
    made = await console.services["partners"].post("/partners", headers=auth("operator"), json={
        "name": "Forum Pemuda Arcamanik", "type": "ormas_komunitas",
        "contacts": [{"name": "Ketua"}, {"name": "Sekretaris", "phone": "0812-1111-2222"}]})
    partner_id = made.json()["id"]
    saved = await post_form(client, f"/mitra/{partner_id}/ubah", f"/mitra/{partner_id}/ubah",
                            {"version": "1", "name": "Forum Pemuda Arcamanik", "type": "ormas_komunitas",
                             "contacts[0].name": "Ketua Baru"})
    assert saved.status_code == 303, saved.text[:1500]
    partner = (await console.services["partners"].get(f"/partners/{partner_id}", headers=auth("viewer"))).json()
    assert [c["name"] for c in partner["contacts"]] == ["Ketua Baru", "Sekretaris"]
