"""The gazetteer's lookups, on a few rows given in memory (no I/O)."""

from __future__ import annotations

import pytest

from shared.errors import Invalid
from shared.gazetteer import Unresolved, of_rows, refusal

PROVINCES = [("32", "Jawa Barat"), ("33", "Jawa Tengah")]
REGENCIES = [("32.73", "Kota Bandung"), ("32.11", "Kabupaten Sumedang"), ("33.16", "Kabupaten Blora")]
DISTRICTS = [("32.73.01", "Sukasari"), ("32.73.02", "Coblong"), ("32.73.22", "Buahbatu"),
             ("32.73.14", "Cibeunying Kidul"), ("32.73.18", "Cibeunying Kaler"), ("32.11.12", "Sukasari"),
             ("33.16.01", "Jati")]
VILLAGES = [("32.73.02.1004", "Dago"), ("32.73.02.1001", "Cipaganti"), ("32.73.01.1001", "Sukarasa"),
            ("32.73.22.1001", "Sukarasa")]


def places(region: str = "32.73"):
    return of_rows(region, PROVINCES, REGENCIES, DISTRICTS, VILLAGES)


@pytest.mark.parametrize("typed", ["Coblong", "coblong", "Kec. Coblong", "Kec.coblong", "KECAMATAN  coblong",
                                   "kec coblong", "32.73.02", "327302", " 32.73.02 "])
def test_a_kecamatan_is_found_by_its_name_as_typed_or_by_its_code(typed):
    assert places().district(typed) == "32.73.02"


def test_spacing_and_punctuation_inside_a_name_do_not_matter():
    assert places().district("Buah Batu") == "32.73.22"
    assert places().district("Cibeunying-Kidul") == "32.73.14"


def test_an_unknown_name_says_what_was_typed_and_suggests_the_closest_names():
    with pytest.raises(Unresolved) as refused:
        places().district("Cobong")
    assert "'Cobong'" in refused.value.message and refused.value.suggestions == ["Coblong"]
    with pytest.raises(Unresolved) as cut_short:
        places().district("Cibeunying")
    assert set(cut_short.value.suggestions) == {"Cibeunying Kidul", "Cibeunying Kaler"}


def test_a_code_outside_the_region_or_not_shaped_like_one_is_refused():
    with pytest.raises(Unresolved, match="not in Kota Bandung"):
        places().district("33.16.01")
    with pytest.raises(Unresolved, match="not a kecamatan code"):
        places().district("32.73")


def test_a_name_two_kabupaten_of_a_province_share_is_ambiguous_and_lists_both():
    with pytest.raises(Unresolved) as ambiguous:
        places("32").district("Sukasari")
    assert ambiguous.value.candidates == [
        {"code": "32.11.12", "name": "Sukasari", "within": "Kabupaten Sumedang"},
        {"code": "32.73.01", "name": "Sukasari", "within": "Kota Bandung"}]
    assert places("32.73").district("Sukasari") == "32.73.01"  # one in the kota's own region


def test_a_kelurahan_is_found_within_its_kecamatan_and_ambiguous_across_them():
    assert places().village("Kel. Dago") == "32.73.02.1004"
    assert places().village("Desa Sukarasa", "32.73.22") == "32.73.22.1001"
    with pytest.raises(Unresolved) as ambiguous:
        places().village("Sukarasa")
    assert {c["within"] for c in ambiguous.value.candidates} == {"Sukasari", "Buahbatu"}


def test_names_of_codes_and_one_refusal_for_every_field():
    assert places().name_of("32.73.02") == "Coblong" and places().name_of("32.73.99") is None
    assert places().label("32.73.02") == "Coblong (32.73.02)"
    try:
        places().district("Cobong")
    except Unresolved as exc:
        invalid = refusal({"district": exc}, [("name", "is required")])
    assert isinstance(invalid, Invalid)
    assert [e["field"] for e in invalid.errors] == ["name", "district"]
    assert invalid.facts == {"suggestions": {"district": ["Coblong"]}}


def test_a_well_formed_code_the_gazetteer_does_not_list_is_refused_with_the_nearest_kecamatan():
    with pytest.raises(Unresolved) as refused:
        places().district("32.73.21")
    assert "'32.73.21'" in refused.value.message and "Buahbatu (32.73.22)" in refused.value.message
    assert refused.value.suggestions[0] == "Buahbatu"
    with pytest.raises(Unresolved, match="not a desa/kelurahan of Coblong"):
        places().village("32.73.02.1099", "32.73.02")
