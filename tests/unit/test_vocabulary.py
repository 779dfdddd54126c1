"""One lenient reader of the vocabulary (issue 12, point 9): what the importer accepts, the APIs accept."""

from __future__ import annotations

import pytest

from shared.vocabulary import ALIASES, ENUMS, LABELS, LANGUAGES, code, normalised


@pytest.mark.parametrize(("kind", "written", "meant"), [
    ("partner_type", "KIM", "kim"),
    ("partner_type", "kim", "kim"),
    ("partner_type", "Diskominfo", "opd_diskominfo"),
    ("partner_type", "ormas", "ormas_komunitas"),
    ("partner_type", "PT", "perguruan_tinggi"),
    ("partner_type", "kampus", "perguruan_tinggi"),
    ("partner_type", "Perguruan Tinggi", "perguruan_tinggi"),
    ("partner_type", "University", "perguruan_tinggi"),
    ("segment", "warganet", "warga_internet"),
    ("segment", "Pemilih pemula", "pemilih_pemula"),
    ("segment", "FIRST-TIME VOTERS", "pemilih_pemula"),
    ("method", "Tidak-Langsung", "tidak_langsung"),
    ("method", "Through media", "tidak_langsung"),
    ("format", "Forum Warga", "forum_warga"),
    ("format", "KPU goes to school", "goes_to_school"),
    ("format", "workshop", "lokakarya"),
    ("channel_kind", "X (Twitter)", "x"),
    ("channel_kind", "WA", "whatsapp_group"),
    ("doc_type", "Nota Kesepahaman", "mou"),
    ("stage", "Masa tenang", "masa_tenang"),
    ("role", "Narasumber", "narasumber"),
])
def test_a_code_a_label_or_an_offices_word_reads_as_its_code(kind, written, meant):
    found = code(kind, written)
    assert found == meant
    assert isinstance(found, ENUMS[kind])


@pytest.mark.parametrize("written", ["partai", "", "kim kim", None, 3, ["kim"], "k" * 10_000])
def test_what_matches_nothing_is_none(written):
    assert code("partner_type", written) is None


def test_a_status_is_read_from_the_codes_given():
    assert code("partner_status", "Aktif", ["active", "suspended", "archived"]) == "active"
    assert code("partner_status", "nonaktif", ["active", "suspended", "archived"]) == "suspended"


@pytest.mark.parametrize("kind", sorted(ENUMS))
def test_no_label_or_alias_of_one_code_reads_as_another_code(kind):
    codes = {normalised(c): str(c) for c in ENUMS[kind]}
    words = list(ALIASES.get(kind, {}).items())
    words += [(text, c) for language in LANGUAGES for c, text in LABELS.get(kind, {}).get(language, {}).items()]
    meanings: dict[str, set[str]] = {}
    for word, meant in words:
        assert meant in codes.values(), (kind, word, meant)
        assert codes.get(normalised(word), meant) == meant, (kind, word)
        meanings.setdefault(normalised(word), set()).add(meant)
    assert {w: m for w, m in meanings.items() if len(m) > 1} == {}
