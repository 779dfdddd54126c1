"""The directory the duplicate check looks through: kept between reads and changed by writes, so it
is indexed once per read of the region, not once per registration or import (docs/performance.md)."""

from __future__ import annotations

import time

from services.partners.domain.duplicates import BUCKET, Candidate, Directory


def names(found):
    return sorted(c.name for c in found.same + found.similar)


def test_a_partner_written_again_is_found_by_what_it_is_now_not_what_it_was():
    directory = Directory.of([Candidate("a", "Karang Taruna Cibeunying", ("081211112222",))])
    directory.add(Candidate("a", "Forum Anak Sukajadi", ("081233334444",)))

    assert names(directory.look(Candidate("x", "Forum Anak Sukajadi Bdg"))) == ["Forum Anak Sukajadi"]
    assert names(directory.look(Candidate("y", "Karang Taruna Cibeunying"))) == []
    assert names(directory.look(Candidate("z", "Lain", ("081211112222",)))) == []  # its old phone
    assert names(directory.look(Candidate("w", "Lain", ("081233334444",)))) == ["Forum Anak Sukajadi"]


def test_an_imports_layer_compares_its_rows_with_the_region_and_each_other_and_leaves_the_region_as_it_was():
    region = Directory.of([Candidate("a", "KIM Sekarbela")])
    layer = region.layer()
    layer.add(Candidate("r1", "Pokdarwis Dago Atas"))

    assert names(layer.look(Candidate("r2", "KIM Sekarbela Bdg"))) == ["KIM Sekarbela"]
    assert names(layer.look(Candidate("r3", "Pokdarwis Dago Atas Lama"))) == ["Pokdarwis Dago Atas"]
    assert names(region.look(Candidate("r3", "Pokdarwis Dago Atas Lama"))) == []
    # a row stored meanwhile is in both; it is named once
    region.add(Candidate("r1", "Pokdarwis Dago Atas"))
    assert names(layer.look(Candidate("r3", "Pokdarwis Dago Atas Lama"))) == ["Pokdarwis Dago Atas"]


def test_a_layer_answers_as_many_numbered_names_as_one_directory_would():
    numbered = [Candidate(f"p{n}", f"Karang Taruna RW {n:04d}") for n in range(12)]
    whole = Directory.of(numbered)
    layer = Directory.of(numbered[:5]).layer()
    for candidate in numbered[5:]:
        layer.add(candidate)

    probe = Candidate("x", "Karang Taruna RW 0099")
    assert names(layer.look(probe)) == names(whole.look(probe))
    assert len(layer.look(probe).similar) <= 2 * BUCKET


def test_looking_through_a_large_region_costs_no_new_index():
    directory = Directory.of(Candidate(f"p{n}", f"Karang Taruna Kelurahan Sukajadi RW {n:05d}") for n in range(3_000))
    started = time.process_time()
    for n in range(100):
        directory.layer().look(Candidate(f"x{n}", f"Kelompok Informasi Masyarakat {n}"))
    # 100 looks; building the index again each time took ~1 s each on the test machine
    assert time.process_time() - started < 1.0


def test_an_imports_warnings_are_worded_once_as_the_catalogue_words_each():
    from services.partners.api import _maybe_same
    from services.partners.handlers import MAYBE_SAME
    from shared.language import say_all

    names = ", ".join(f"Karang Taruna RW {n:04d}" for n in range(8))
    warnings = [{"row": n + 2, "message": MAYBE_SAME.format(names=f"KIM: {{x}} {n}, {names}"),
                 "possible_duplicates": []} for n in range(300)]
    for language in ("id", "en"):
        assert _maybe_same(warnings, language) == say_all(warnings, language)
    assert _maybe_same(warnings, "en")[0]["message"].startswith("may be the same as a registered partner: KIM: {x} 0")
