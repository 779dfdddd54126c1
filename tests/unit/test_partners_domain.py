"""The Partner aggregate's rules, without I/O."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from services.partners import domain
from services.partners.domain import (
    AgreementSigned,
    Invalid,
    NotAllowed,
    Partner,
    PartnerArchived,
    PartnerReactivated,
    PartnerRegistered,
    PartnerSuspended,
    PartnerUpdated,
    Status,
)
from services.partners.events import wire
from shared.errors import Conflict
from shared.events import PartnerEvent

NOW = datetime(2024, 10, 17, 3, 0, tzinfo=UTC)
REGION = "32.73"


def fields(**overrides):
    raw = {"name": "KIM Coblong Berdaya", "type": "kim", **overrides}
    return domain.details(raw, REGION)


def partner(**overrides) -> Partner:
    return Partner.register(id="p1", region=REGION, now=NOW, by="op", fields=fields(**overrides))


def errors_of(call) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        call()
    return {error["field"]: error["message"] for error in caught.value.errors}


def test_details_are_normalised_once_for_every_way_in():
    checked = fields(
        name="  KIM   Coblong  Berdaya ",
        district="32.73.02",
        categories=["Kepemudaan", "kepemudaan ", "Seni  Budaya"],
        segments=["pemilih_muda", "pemilih_muda", "warga_internet"],
        contacts=[{"name": "Asep Saepudin", "role": "Ketua", "phone": "0812-2233-4455", "email": "Asep@KIM.example.id"}],
        channels=[{"kind": "instagram", "handle_or_url": "@kimcoblong", "audience_size": 1200}],
        notes="  baris satu\nbaris dua  ",
    )
    assert checked["name"] == "KIM Coblong Berdaya"
    assert checked["categories"] == ["kepemudaan", "seni budaya"]
    assert checked["segments"] == ["pemilih_muda", "warga_internet"]
    assert checked["contacts"][0].phone == "+6281222334455"
    assert checked["contacts"][0].email == "Asep@kim.example.id"
    assert checked["notes"] == "baris satu\nbaris dua"


@pytest.mark.parametrize("number, expected", [
    ("0812-2233-4455", "+6281222334455"),
    ("+62 812 2233 4455", "+6281222334455"),
    ("6281222334455", "+6281222334455"),
    ("022-4230000", "+62224230000"),
])
def test_indonesian_phone_numbers_are_stored_as_plus_62(number, expected):
    assert domain.phone(number) == expected


@pytest.mark.parametrize("number", ["123", "+1 415 555 0100", "nomor HP", "0812"])
def test_other_phone_numbers_are_refused(number):
    with pytest.raises(ValueError):
        domain.phone(number)


def test_every_bad_field_is_named():
    problems = errors_of(lambda: domain.details({
        "name": " ", "type": "partai",
        "district": "32.74.01",
        "segments": ["pemilih_muda", "pemuda"],
        "categories": ["seni, budaya"],
        "contacts": [{"name": "Asep", "phone": "123", "email": "asep-at-example"}, {"phone": "081222334455"}],
        "channels": [{"kind": "friendster", "handle_or_url": "", "audience_size": -1}],
    }, REGION))
    assert set(problems) == {
        "name", "type", "district", "segments[1]", "categories[0]", "contacts[0].phone", "contacts[0].email",
        "contacts[1].name", "channels[0].kind", "channels[0].handle_or_url", "channels[0].audience_size",
    }
    assert "not in region 32.73" in problems["district"]
    assert "partai" in problems["type"] and "kim" in problems["type"]


def test_a_control_character_in_a_name_or_notes_is_named_and_line_breaks_in_notes_stay():
    # A name copied with a stray \x01 could not even be exported to XLSX; line breaks in notes are fine.
    problems = errors_of(lambda: domain.details({"name": "KIM\x01 Sekarbela", "type": "kim",
                                                  "notes": "rapat\x07", "contacts": [{"name": "Bu\x1bSari"}]}, REGION))
    assert set(problems) == {"name", "notes", "contacts[0].name"}
    assert "control character" in problems["name"]
    assert fields(notes="Rapat 1:\n- MoU\tditandatangani")["notes"] == "Rapat 1:\n- MoU\tditandatangani"


def test_name_and_type_are_required_to_register_but_not_to_revise():
    assert set(errors_of(lambda: domain.details({}, REGION))) == {"name", "type"}
    assert domain.details({"notes": "baru"}, REGION, partial=True) == {"notes": "baru"}


@pytest.mark.parametrize("value, expected", [("32.73.02", "32.73.02"), ("Coblong", "Coblong"),
                                             ("  Bandung   Wetan ", "Bandung Wetan"), ("", None)])
def test_a_district_is_a_kecamatan_code_of_the_region_or_a_name(value, expected):
    assert fields(district=value)["district"] == expected


@pytest.mark.parametrize("value", ["32.73", "32.73.2", "32.73.02.1001", "32.74.02"])
def test_a_district_code_must_be_a_kecamatan_of_the_region(value):
    assert "district" in errors_of(lambda: fields(district=value))


def test_an_agreement_ends_after_it_starts():
    raw = {"doc_type": "mou", "number": "027/PP.08-NK/3273/2024", "valid_from": "2024-06-01", "valid_until": "2024-06-01"}
    assert "valid_until" in errors_of(lambda: domain.agreement(raw, "a1"))
    signed = domain.agreement({**raw, "valid_until": date(2024, 12, 31)}, "a1")
    assert signed.valid_until == date(2024, 12, 31) and signed.doc_type == "mou"
    assert set(errors_of(lambda: domain.agreement({"doc_type": "nota"}, "a1"))) == {
        "doc_type", "number", "valid_from", "valid_until"}


def test_registration_records_one_event_at_version_one_with_a_history():
    p = partner()
    assert p.version == 1 and p.status is Status.active
    assert [type(e) for e in p.events] == [PartnerRegistered]
    assert p.events[0].partner.version == 1
    assert p.status_history[0].reason == "registered" and p.status_history[0].by == "op"


def test_revise_names_the_fields_that_really_changed():
    p = partner(segments=["pemilih_muda"])
    p.events.clear()
    later = NOW + timedelta(minutes=1)
    changed = p.revise(domain.details({"segments": ["pemilih_muda"], "notes": "aktif di Dago"}, REGION, partial=True),
                       later)
    assert changed == ["notes"]
    assert p.version == 2 and p.updated_at == later
    [event] = p.events
    assert isinstance(event, PartnerUpdated) and event.changed_fields == ("notes",)
    assert event.partner.notes == "aktif di Dago" and event.partner.version == 2


def test_a_change_that_changes_nothing_records_nothing():
    p = partner(notes="x")
    p.events.clear()
    assert p.revise({"notes": "x", "name": "KIM Coblong Berdaya"}, NOW) == []
    assert p.version == 1 and p.events == []


def test_status_goes_active_suspended_active_then_archived_for_good_each_with_a_reason():
    p = partner()
    p.suspend("kepengurusan vakum", NOW, "op")
    p.reactivate(None, NOW, "op")
    p.archive("organisasi bubar", NOW, "op")
    assert [type(e) for e in p.events] == [PartnerRegistered, PartnerSuspended, PartnerReactivated, PartnerArchived]
    assert [e.partner.version for e in p.events] == [1, 2, 3, 4]
    assert [(h.previous, h.status, h.reason) for h in p.status_history] == [
        (None, Status.active, "registered"),
        (Status.active, Status.suspended, "kepengurusan vakum"),
        (Status.suspended, Status.active, None),
        (Status.active, Status.archived, "organisasi bubar"),
    ]
    for change in (lambda: p.suspend("x", NOW, "op"), lambda: p.reactivate("x", NOW, "op"),
                   lambda: p.archive("x", NOW, "op"), lambda: p.revise({"notes": "x"}, NOW)):
        with pytest.raises(NotAllowed, match="is 'archived'"):
            change()


def test_only_a_suspended_partner_is_reactivated_and_only_an_active_one_suspended():
    p = partner()
    with pytest.raises(NotAllowed, match=r"p1 is 'active'; only a suspended partner can be reactivated") as caught:
        p.reactivate(None, NOW, "op")
    # A refusal the client can act on, with the status it met (409 at the edge).
    assert isinstance(caught.value, Conflict) and caught.value.facts == {"current_status": "active"}
    p.suspend("x", NOW, "op")
    with pytest.raises(NotAllowed, match="only an active partner can be suspended"):
        p.suspend("x", NOW, "op")


def test_an_agreement_number_is_signed_once():
    p = partner()
    raw = {"doc_type": "pks", "number": "12/PKS/2024", "valid_from": "2024-06-01", "valid_until": "2025-06-01"}
    p.sign(domain.agreement(raw, "a1"), NOW)
    assert isinstance(p.events[-1], AgreementSigned) and p.version == 2
    with pytest.raises(domain.DuplicateAgreement) as caught:
        p.sign(domain.agreement({**raw, "number": " 12/pks/2024"}, "a2"), NOW)
    assert caught.value.existing_id == "a1" and caught.value.facts == {"existing_id": "a1"}


def test_reasons_are_required_where_they_must_be():
    assert "reason" in errors_of(lambda: domain.reason("  ", required=True))
    assert domain.reason(None, required=False) is None


def test_event_snapshots_do_not_change_with_later_changes():
    p = partner()
    first = p.events[0].partner
    p.revise({"notes": "later"}, NOW)
    assert first.notes is None and first.version == 1


@pytest.mark.parametrize("raw, field", [
    ({"name": "KIM \ud800 Coblong"}, "name"),
    ({"notes": "catatan \udfff"}, "notes"),
    ({"categories": ["seni", "\ud83d"]}, "categories[1]"),
    ({"contacts": [{"name": "Asep", "email": "asep\ud800@example.id"}]}, "contacts[0].email"),
    ({"contacts": [{"name": "Asep", "phone": "0812\ud800"}]}, "contacts[0].phone"),
    ({"channels": [{"kind": "website", "handle_or_url": "https://kim.example/\ud800"}]}, "channels[0].handle_or_url"),
])
def test_text_that_is_not_valid_unicode_is_refused_by_field_and_never_echoed(raw, field):
    problems = errors_of(lambda: domain.details({"name": "KIM Coblong", "type": "kim", **raw}, REGION))
    assert set(problems) == {field}
    assert "not valid Unicode" in problems[field]
    "; ".join(problems.values()).encode("utf-8")  # the answer itself can be sent


def test_an_agreement_or_a_reason_that_is_not_valid_unicode_is_refused_by_field():
    raw = {"doc_type": "mou", "number": "12/\ud800", "valid_from": "2024-06-01", "valid_until": "2025-06-01"}
    assert set(errors_of(lambda: domain.agreement(raw, "a1"))) == {"number"}
    assert set(errors_of(lambda: domain.reason("vakum \ud800", required=True))) == {"reason"}


def test_each_event_is_announced_with_the_partner_it_left_and_what_the_event_adds():
    p = partner(district="32.73.02", segments=["pemilih_muda"],
                contacts=[{"name": "Asep", "phone": "0812-2233-4455"}],
                channels=[{"kind": "instagram", "handle_or_url": "@kimcoblong"}])
    p.revise(domain.details({"notes": "aktif"}, REGION, partial=True), NOW)
    p.sign(domain.agreement({"doc_type": "mou", "number": "1/MoU", "valid_from": "2024-06-01",
                             "valid_until": "2024-12-31"}, "a1"), NOW)
    p.suspend("vakum", NOW, "op")
    registered, updated, signed, suspended = (json.loads(wire(e).to_wire()) for e in p.events)

    assert [e["type"] for e in (registered, updated, signed, suspended)] == [
        "sinergi.partner.registered", "sinergi.partner.updated", "sinergi.partner.agreement_signed",
        "sinergi.partner.suspended"]
    assert [e["aggregateversion"] for e in (registered, updated, signed, suspended)] == [1, 2, 3, 4]
    assert registered["subject"] == "p1" and registered["source"] == "/sinergi/32.73/partners"
    assert registered["data"] == {
        "id": "p1", "version": 1, "created_at": "2024-10-17T03:00:00Z", "updated_at": "2024-10-17T03:00:00Z",
        "name": "KIM Coblong Berdaya", "type": "kim", "region": "32.73", "district": "32.73.02",
        "district_name": "Coblong", "village": None, "village_name": None, "categories": [], "segments": ["pemilih_muda"],
        "contacts": [{"name": "Asep", "role": None, "phone": "+6281222334455", "email": None}],
        "channels": [{"kind": "instagram", "handle_or_url": "@kimcoblong", "audience_size": None}],
        "agreements": [], "status": "active", "notes": None,
        "status_history": [{"status": "active", "previous": None, "reason": "registered",
                            "at": "2024-10-17T03:00:00Z", "by": "op"}],
    }
    assert updated["data"]["changed_fields"] == ["notes"] and updated["data"]["notes"] == "aktif"
    assert signed["data"]["agreement_id"] == "a1" and "changed_fields" not in signed["data"]
    assert signed["data"]["agreements"] == [{"id": "a1", "doc_type": "mou", "number": "1/MoU",
                                             "valid_from": "2024-06-01", "valid_until": "2024-12-31",
                                             "title": None, "scope": None}]
    assert suspended["data"]["status"] == "suspended" and suspended["data"]["status_history"][-1]["reason"] == "vakum"
    # Each is a document of the published model (docs/events/sinergi.partner.*.schema.json).
    for document in (registered, updated, signed, suspended):
        PartnerEvent.model_validate(document)
