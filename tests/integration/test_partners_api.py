"""The partner registry over HTTP on the real store and broker: every endpoint, its errors, its events."""

from __future__ import annotations

import pytest

from tests.bus import tap
from tests.conftest import auth, eventually, running

PARTNER_EVENTS = "*.partner.*"

SEKARBELA = {
    "name": "KIM Sekarbela",
    "type": "kim",
    "region": "32.73",
    "district": "32.73.02",
    "categories": ["informasi publik"],
    "segments": ["pemilih_pemula", "warga_internet"],
    "contacts": [{"name": "Lalu Ahmad Zaini", "role": "Ketua KIM", "phone": "0819-0700-1122",
                  "email": "kim.sekarbela@example.id"}],
    "channels": [{"kind": "facebook", "handle_or_url": "https://facebook.com/kimsekarbela", "audience_size": 3400}],
    "agreements": [{"doc_type": "mou", "number": "027/PP.08-NK/3273/2024", "title": "Sosialisasi Pilkada 2024",
                    "valid_from": "2026-06-01", "valid_until": "2029-12-31", "scope": "informasi tahapan"}],
    "notes": "Menginformasikan setiap tahapan pemilihan kepada warga.",
}

SNAPSHOT_FIELDS = {"id", "version", "created_at", "updated_at", "name", "type", "region", "district", "categories",
                   "segments", "contacts", "channels", "agreements", "status", "notes"}


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == f"sinergi.partner.{kind}"]


async def count_at_least(events: list[dict], n: int) -> bool:
    return len(events) >= n


async def register(client, body=None, **changes) -> dict:
    response = await client.post("/partners", headers=auth(), json={**(body or SEKARBELA), **changes})
    assert response.status_code == 201, response.text
    return response.json()


def problem_fields(response) -> set[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return {e["field"] for e in response.json().get("errors", [])}


async def test_a_partner_is_registered_read_and_announced_with_its_full_snapshot(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        created = await client.post("/partners", headers=auth(), json=SEKARBELA)
        assert created.status_code == 201, created.text
        partner = created.json()
        assert created.headers["etag"] == '"1"' and created.headers["location"] == f"/partners/{partner['id']}"
        assert partner["status"] == "active" and partner["version"] == 1
        assert partner["contacts"][0]["phone"] == "+6281907001122"
        assert partner["agreements"][0]["id"] and partner["agreements"][0]["valid_until"] == "2029-12-31"

        read = await client.get(f"/partners/{partner['id']}", headers=auth("viewer"))
        assert read.status_code == 200 and read.json() == partner and read.headers["etag"] == '"1"'

        await eventually(lambda: count_at_least(published, 1))
        [event] = published
        assert event["type"] == "sinergi.partner.registered" and event["aggregateversion"] == 1
        assert event["_amqp"]["routing_key"] == "3273.partner.registered"
        assert SNAPSHOT_FIELDS <= set(event["data"])
        assert {k: event["data"][k] for k in SNAPSHOT_FIELDS} == {k: partner[k] for k in SNAPSHOT_FIELDS}


async def test_a_minimal_registration_takes_the_instance_region(settings):
    async with running("partners", settings) as (_, client):
        partner = await register(client, {"name": "Diskominfo Kota Bandung", "type": "opd_diskominfo"})
        assert partner["region"] == "32.73" and partner["contacts"] == [] and partner["district"] is None


INVALID_REGISTRATIONS = [
    ({"name": None}, "name"),
    ({"name": "   "}, "name"),
    ({"type": "partai_politik"}, "type"),
    ({"region": "Bandung"}, "region"),
    ({"region": "33.16"}, "region"),
    ({"district": "32.74.01"}, "district"),
    ({"segments": ["pemilih_muda", "milenial"]}, "segments[1]"),
    ({"categories": ["seni, budaya"]}, "categories[0]"),
    ({"contacts": [{"name": "Asep", "phone": "12345"}]}, "contacts[0].phone"),
    ({"contacts": [{"name": "Asep", "email": "asep@"}]}, "contacts[0].email"),
    ({"contacts": [{"role": "Ketua"}]}, "contacts[0].name"),
    ({"channels": [{"kind": "friendster", "handle_or_url": "x"}]}, "channels[0].kind"),
    ({"channels": [{"kind": "radio", "handle_or_url": "98.3 FM", "audience_size": -5}]}, "channels[0].audience_size"),
    ({"agreements": [{"doc_type": "mou", "number": "1", "valid_from": "2024-06-01", "valid_until": "2024-05-01"}]},
     "agreements[0].valid_until"),
    ({"agreements": [{"doc_type": "nota", "number": "1", "valid_from": "2024-06-01", "valid_until": "2024-07-01"}]},
     "agreements[0].doc_type"),
    ({"status": "suspended"}, "status"),
    ({"notes": "x" * 5001}, "notes"),
]


async def test_each_invalid_field_of_a_registration_is_named_and_nothing_is_stored(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        for change, field in INVALID_REGISTRATIONS:
            response = await client.post("/partners", headers=auth(), json={**SEKARBELA, **change})
            assert response.status_code == 422, (change, response.text)
            assert field in problem_fields(response), (change, response.json())
        # The same registration, valid: it is the first thing stored, and the only event.
        await register(client)
        await eventually(lambda: count_at_least(published, 1))
        listed = await client.get("/partners", headers=auth("viewer"))
        assert [p["name"] for p in listed.json()["items"]] == ["KIM Sekarbela"]
        assert [e["type"] for e in published] == ["sinergi.partner.registered"]


async def test_text_that_is_not_valid_unicode_is_a_422_naming_the_field_not_a_500(settings):
    # JSON may escape a lone surrogate ("\\ud800"); no store or answer can encode it.
    async with running("partners", settings) as (_, client):
        json_body = {**auth(), "Content-Type": "application/json"}
        refused = await client.post("/partners", headers=json_body,
                                    content=b'{"name": "KIM \\ud800 Sekarbela", "type": "kim"}')
        assert refused.status_code == 422, refused.text
        assert problem_fields(refused) == {"name"}
        partner = await register(client)
        for body, field in [(b'{"notes": "catatan \\udfff"}', "notes"),
                            (b'{"contacts": [{"name": "Lalu \\ud83d"}]}', "contacts[0].name")]:
            patched = await client.patch(f"/partners/{partner['id']}", headers=json_body, content=body)
            assert patched.status_code == 422, patched.text
            assert problem_fields(patched) == {field}
        suspended = await client.post(f"/partners/{partner['id']}/suspend", headers=json_body,
                                      content=b'{"reason": "vakum \\ud800"}')
        assert suspended.status_code == 422 and problem_fields(suspended) == {"reason"}, suspended.text
        stored = (await client.get(f"/partners/{partner['id']}", headers=auth("viewer"))).json()
        assert stored == partner  # nothing changed


async def test_a_name_is_taken_once_per_region_ignoring_case_and_spaces(settings):
    async with running("partners", settings) as (_, client):
        first = await register(client)
        again = await client.post("/partners", headers=auth(), json={**SEKARBELA, "name": "  kim   SEKARBELA "})
        assert again.status_code == 409
        assert again.json()["existing_id"] == first["id"] and "already registered" in again.json()["detail"]
        other = await register(client, name="KIM Cibiru", contacts=[])  # not a duplicate by phone
        renamed = await client.patch(f"/partners/{other['id']}", headers=auth(), json={"name": "Kim Sekarbela"})
        assert renamed.status_code == 409
        # A rename frees the old name for someone else.
        moved = await client.patch(f"/partners/{first['id']}", headers=auth(), json={"name": "KIM Sekarbela Mataram"})
        assert moved.status_code == 200
        await register(client, contacts=[])  # the same phone would make it a possible duplicate (409)


async def test_an_unknown_partner_is_404_on_every_route(settings):
    async with running("partners", settings) as (_, client):
        missing = "01J00000000000000000000000"
        calls = [
            client.get(f"/partners/{missing}", headers=auth("viewer")),
            client.patch(f"/partners/{missing}", headers=auth(), json={"notes": "x"}),
            client.post(f"/partners/{missing}/suspend", headers=auth(), json={"reason": "x"}),
            client.post(f"/partners/{missing}/reactivate", headers=auth()),
            client.post(f"/partners/{missing}/archive", headers=auth(), json={"reason": "x"}),
            client.post(f"/partners/{missing}/agreements", headers=auth(), json=SEKARBELA["agreements"][0]),
        ]
        for call in calls:
            response = await call
            assert response.status_code == 404, response.text
            assert missing in response.json()["detail"]


async def test_filters_search_literally_and_pages_follow_the_cursor(settings):
    async with running("partners", settings) as (_, client):
        await register(client)
        await register(client, {"name": "Radio Komunitas Cibiru 107.7 FM", "type": "media", "district": "Cibiru",
                                "segments": ["umum", "lansia"], "categories": ["media"]})
        await register(client, {"name": "Komunitas Seni Braga", "type": "ormas_komunitas", "district": "32.73.19",
                                "segments": ["pemilih_muda"], "categories": ["seni", "Budaya"]})
        braga = await register(client, {"name": "KIM Braga (lama)", "type": "kim", "segments": ["pemilih_muda"]})
        await client.post(f"/partners/{braga['id']}/suspend", headers=auth(), json={"reason": "tidak aktif"})

        async def names(**params) -> list[str]:
            response = await client.get("/partners", headers=auth("viewer"), params=params)
            assert response.status_code == 200, response.text
            return [p["name"] for p in response.json()["items"]]

        assert await names(type="kim") == ["KIM Sekarbela", "KIM Braga (lama)"]
        assert await names(segment="pemilih_muda") == ["Komunitas Seni Braga", "KIM Braga (lama)"]
        assert await names(category="BUDAYA") == ["Komunitas Seni Braga"]
        assert await names(status="suspended") == ["KIM Braga (lama)"]
        assert await names(district="cibiru") == ["Radio Komunitas Cibiru 107.7 FM"]
        assert await names(district="32.73.19") == ["Komunitas Seni Braga"]
        assert await names(q="braga") == ["Komunitas Seni Braga", "KIM Braga (lama)"]
        assert await names(q="braga", type="kim", status="suspended") == ["KIM Braga (lama)"]
        assert await names(q="107.7") == ["Radio Komunitas Cibiru 107.7 FM"]
        assert await names(q="(lama)") == ["KIM Braga (lama)"]
        for pattern in (".*", "^", "[a-z]", "1.7", "\\"):
            assert await names(q=pattern) == [], pattern
        for wrong in ({"type": "partai"}, {"segment": "pemuda"}, {"q": "x" * 201}, {"category": "c" * 61}):
            refused = await client.get("/partners", headers=auth("viewer"), params=wrong)
            assert refused.status_code == 422 and problem_fields(refused) == set(wrong), refused.text

        seen, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/partners", headers=auth("viewer"), params=params)).json()
            seen += [p["name"] for p in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert len(seen) == 4 == len(set(seen))

        for params, field in [({"segment": "milenial"}, "segment"), ({"type": "partai"}, "type"),
                              ({"status": "deleted"}, "status"), ({"limit": 501}, "limit"),
                              ({"cursor": "%%%"}, "cursor")]:
            response = await client.get("/partners", headers=auth("viewer"), params=params)
            assert response.status_code == 422 and field in problem_fields(response), (params, response.text)


async def test_a_patch_announces_the_fields_it_changed_and_an_empty_change_changes_nothing(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        partner = await register(client)
        url = f"/partners/{partner['id']}"
        same = await client.patch(url, headers=auth(), json={"name": "KIM Sekarbela", "segments": SEKARBELA["segments"]})
        assert same.status_code == 200 and same.json()["version"] == 1

        changed = await client.patch(url, headers={**auth(), "If-Match": '"1"'},
                                     json={"segments": ["pemilih_pemula"], "district": None, "notes": "Aktif."})
        assert changed.status_code == 200, changed.text
        assert changed.headers["etag"] == '"2"' and changed.json()["district"] is None

        stale = await client.patch(url, headers={**auth(), "If-Match": '"1"'}, json={"notes": "ditimpa"})
        assert stale.status_code == 412 and stale.json()["current_version"] == 2

        for body, field in [({"type": "partai"}, "type"), ({"contacts": [{"name": "A", "phone": "1"}]},
                            "contacts[0].phone"), ({"status": "archived"}, "status"), ({"name": None}, "name"),
                            ({"region": "33.16"}, "region")]:
            response = await client.patch(url, headers=auth(), json=body)
            assert response.status_code == 422 and field in problem_fields(response), (body, response.text)
        bad_etag = await client.patch(url, headers={**auth(), "If-Match": "latest"}, json={"notes": "x"})
        assert bad_etag.status_code == 422 and "If-Match" in problem_fields(bad_etag)

        stored = (await client.get(url, headers=auth("viewer"))).json()
        assert stored["version"] == 2 and stored["notes"] == "Aktif."
        await eventually(lambda: count_at_least(published, 2))
        assert [(e["type"], e["aggregateversion"]) for e in published] == [
            ("sinergi.partner.registered", 1), ("sinergi.partner.updated", 2)]
        assert sorted(published[1]["data"]["changed_fields"]) == ["district", "notes", "segments"]
        assert published[1]["data"]["notes"] == "Aktif."


async def test_status_changes_keep_their_reasons_and_are_announced(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        partner = await register(client)
        url = f"/partners/{partner['id']}"
        missing_reason = await client.post(f"{url}/suspend", headers=auth(), json={})
        assert missing_reason.status_code == 422 and "reason" in problem_fields(missing_reason)
        blank_reason = await client.post(f"{url}/suspend", headers=auth(), json={"reason": "  "})
        assert blank_reason.status_code == 422 and "reason" in problem_fields(blank_reason)

        suspended = await client.post(f"{url}/suspend", headers=auth(), json={"reason": "kepengurusan vakum"})
        assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
        twice = await client.post(f"{url}/suspend", headers=auth(), json={"reason": "lagi"})
        assert twice.status_code == 409
        assert twice.json()["detail"] == (f"partner {partner['id']} is 'suspended'; "
                                          "only an active partner can be suspended")
        reactivated = await client.post(f"{url}/reactivate", headers={**auth(), "If-Match": '"2"'},
                                        json={"reason": "pengurus baru dilantik"})
        assert reactivated.status_code == 200 and reactivated.headers["etag"] == '"3"'
        archived = await client.post(f"{url}/archive", headers=auth(), json={"reason": "organisasi bubar"})
        assert archived.status_code == 200 and archived.json()["status"] == "archived"
        for call in (client.post(f"{url}/reactivate", headers=auth()),
                     client.post(f"{url}/suspend", headers=auth(), json={"reason": "x"}),
                     client.patch(url, headers=auth(), json={"notes": "x"})):
            refused = await call
            assert refused.status_code == 409 and "is 'archived'" in refused.json()["detail"]

        history = archived.json()["status_history"]
        assert [(h["previous"], h["status"], h["reason"]) for h in history] == [
            (None, "active", "registered"), ("active", "suspended", "kepengurusan vakum"),
            ("suspended", "active", "pengurus baru dilantik"), ("active", "archived", "organisasi bubar")]
        await eventually(lambda: count_at_least(published, 4))
        assert [(e["type"].rsplit(".", 1)[1], e["aggregateversion"], e["data"]["status"]) for e in published] == [
            ("registered", 1, "active"), ("suspended", 2, "suspended"), ("reactivated", 3, "active"),
            ("archived", 4, "archived")]


async def test_an_agreement_is_added_once_and_announced(settings):
    pks = {"doc_type": "pks", "number": "045/PKS/KPU-Kot-011.329/2024", "title": "Pentas seni Pilwalkot",
           "valid_from": "2024-09-01", "valid_until": "2029-12-31", "scope": "pentas seni, media sosial"}
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        partner = await register(client)
        url = f"/partners/{partner['id']}/agreements"
        invalid = await client.post(url, headers=auth(), json={**pks, "valid_until": "2024-08-01"})
        assert invalid.status_code == 422 and problem_fields(invalid) == {"valid_until"}
        invalid = await client.post(url, headers=auth(), json={**pks, "doc_type": "kontrak", "valid_from": "kemarin"})
        assert invalid.status_code == 422 and problem_fields(invalid) == {"doc_type", "valid_from"}

        signed = await client.post(url, headers={**auth(), "Idempotency-Key": "pks-045"}, json=pks)
        assert signed.status_code == 201 and signed.headers["etag"] == '"2"'
        retried = await client.post(url, headers={**auth(), "Idempotency-Key": "pks-045"}, json=pks)
        assert retried.status_code == 201 and retried.json() == signed.json()
        duplicate = await client.post(url, headers=auth(), json={**pks, "title": "lain"})
        assert duplicate.status_code == 409 and "already has PKS 045/PKS" in duplicate.json()["detail"]
        agreements = signed.json()["agreements"]
        assert len(agreements) == 2 and agreements[1]["id"] == signed.headers["x-agreement-id"]

        await eventually(lambda: count_at_least(published, 2))
        [event] = of_type(published, "agreement_signed")
        assert event["aggregateversion"] == 2 and event["data"]["agreement_id"] == agreements[1]["id"]
        assert event["data"]["agreements"][1]["valid_until"] == "2029-12-31"
        assert len(published) == 2


async def test_a_viewer_reads_but_cannot_write_and_another_region_can_do_neither(settings):
    async with running("partners", settings) as (_, client):
        partner = await register(client)
        url = f"/partners/{partner['id']}"
        writes = [
            ("POST", "/partners", {"json": {**SEKARBELA, "name": "KIM Lain"}}),
            ("PATCH", url, {"json": {"notes": "x"}}),
            ("POST", f"{url}/suspend", {"json": {"reason": "x"}}),
            ("POST", f"{url}/reactivate", {}),
            ("POST", f"{url}/archive", {"json": {"reason": "x"}}),
            ("POST", f"{url}/agreements", {"json": {**SEKARBELA["agreements"][0], "number": "2"}}),
            ("POST", "/partners/import", {"files": {"file": ("m.csv", b"nama,jenis\nKIM X,kim\n")}}),
        ]
        reads = [("GET", url, {}), ("GET", "/partners", {}), ("GET", "/partners/export", {})]
        for method, path, kwargs in writes:
            response = await client.request(method, path, headers=auth("viewer"), **kwargs)
            assert response.status_code == 403, (method, path, response.text)
            assert "operator" in response.json()["detail"]
        blora = auth("operator", regions=["33.16"])
        for method, path, kwargs in writes + reads:
            response = await client.request(method, path, headers=blora, **kwargs)
            assert response.status_code == 403, (method, path, response.text)
            assert "32.73" in response.json()["detail"]
        for method, path, kwargs in reads:
            assert (await client.request(method, path, headers=auth("viewer"), **kwargs)).status_code == 200
            assert (await client.request(method, path, **kwargs)).status_code == 401
        province = await client.get(url, headers=auth("viewer", regions=["32"]))
        assert province.status_code == 200
        stored = (await client.get(url, headers=auth("viewer"))).json()
        assert stored["version"] == 1


@pytest.mark.parametrize("q", ["KIM", "kim sekarbela", "  Sekarbela  "])
async def test_search_ignores_case_and_spacing(settings, q):
    async with running("partners", settings) as (_, client):
        await register(client)
        response = await client.get("/partners", headers=auth("viewer"), params={"q": q})
        assert [p["name"] for p in response.json()["items"]] == ["KIM Sekarbela"]


async def test_a_registration_retried_after_it_was_stored_answers_with_that_partner(settings):
    # What an abandoned Idempotency-Key claim leads to: the same planned id registered again.
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (app, client):
        registry = app.state.registry_service
        first, _ = await registry.register("01JRETRIED0000000000000000", dict(SEKARBELA), "op")
        again, _ = await registry.register("01JRETRIED0000000000000000", dict(SEKARBELA), "op")
        assert (again.id, again.version, again.name) == (first.id, 1, "KIM Sekarbela")
        await eventually(lambda: count_at_least(published, 1))
        marker = await register(client, name="KIM Penanda", contacts=[])
        await eventually(lambda: count_at_least(published, 2))
        assert [e["subject"] for e in published] == [first.id, marker["id"]]


async def test_a_retry_while_the_first_attempt_still_runs_is_409_in_progress_whatever_the_language(settings):
    # A client (and the fault suite) knows to retry by `in_progress`, not by the detail's words,
    # which are in the reader's language (issue 12 point 9).
    import hashlib
    import json
    from datetime import UTC, datetime

    from shared.auth import authenticate
    from shared.idempotency import _claim_id

    body = json.dumps(SEKARBELA).encode()
    headers = {**auth(), "Idempotency-Key": "kunci-1", "Content-Type": "application/json"}
    async with running("partners", settings) as (app, client):
        who = authenticate(settings, headers["Authorization"])
        fingerprint = hashlib.sha256(b"/partners\0" + body).hexdigest()
        await app.state.idempotency.collection.insert_one({  # the first attempt, still running
            "_id": _claim_id(who, b"kunci-1"), "state": "running", "fingerprint": fingerprint,
            "resource_id": "01JFIRSTATTEMPT00000000000", "at": datetime.now(UTC)})
        for language in ("id", "en"):
            retried = await client.post("/partners", content=body, headers={**headers, "Accept-Language": language})
            assert retried.status_code == 409, retried.text
            assert retried.json()["in_progress"] is True and retried.headers["retry-after"] == "1"
        assert (await client.get("/partners", headers=auth("viewer"))).json()["items"] == []
