"""The catalogue of sentences (shared/bahasa.toml) stays whole and reads both ways."""

from __future__ import annotations

import re

import pytest

from shared.language import negotiate, refusal, say, templates

PLACEHOLDER = re.compile(r"\{(\w+\*?)\}")


@pytest.mark.parametrize(("header", "language"), [
    (None, "id"), ("", "id"), ("en", "en"), ("en-US,en;q=0.9", "en"), ("id-ID", "id"), ("*", "id"),
    ("fr", "id"), ("id;q=0.5, en;q=0.8", "en"), ("en;q=0, id", "id"), ("en;q=abc", "id"),
])
def test_the_language_asked_for_is_bahasa_indonesia_unless_english_is(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_every_sentence_has_both_languages_with_the_same_placeholders() -> None:
    pairs = templates()
    assert len(pairs) > 100
    for english, bahasa in pairs:
        assert english.strip() and bahasa.strip() and english != bahasa or english.isupper(), english
        assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(bahasa)), english
    englishes = [english for english, _ in pairs]
    assert len(englishes) == len(set(englishes)), "a sentence is in the catalogue twice"


def test_a_sentence_with_values_reads_in_either_language() -> None:
    english = "activity 01ABC is 'held'; it cannot be edited (only planned or scheduled activities can be edited)"
    bahasa = say(english, "id")
    assert bahasa == ("kegiatan 01ABC berstatus 'held'; tidak dapat diubah (hanya kegiatan yang direncanakan atau "
                      "dijadwalkan yang dapat diubah)")
    assert say(bahasa, "en") == english
    assert say("is 300 characters long; at most 200", "id") == "panjangnya 300 karakter; paling banyak 200"


def test_a_warning_written_in_bahasa_indonesia_reads_in_english_on_request() -> None:
    warning = ("tahapan kampanye pilkada-2024 berlangsung 2024-09-25 s.d. 2024-11-23, sedangkan tanggal kegiatan "
               "2024-11-25 termasuk di luar semua tahapan")
    assert say(warning, "en") == ("stage kampanye of pilkada-2024 runs 2024-09-25 to 2024-11-23, while the "
                                  "activity's date 2024-11-25 falls outside every stage")
    assert say(warning, "id") == warning


def test_a_sentence_the_catalogue_does_not_know_is_shown_as_written() -> None:
    assert say("something new happened", "id") == "something new happened"


def test_pydantic_refusals_are_worded_by_type() -> None:
    error = {"type": "literal_error", "msg": "Input should be 'langsung' or 'tidak_langsung'",
             "ctx": {"expected": "'langsung' or 'tidak_langsung'"}}
    assert refusal(error, "id") == "harus salah satu dari: 'langsung' atau 'tidak_langsung'"
    assert refusal(error, "en") == "Input should be 'langsung' or 'tidak_langsung'"
    assert refusal({"type": "missing", "msg": "Field required"}, "id") == "wajib diisi"
    assert refusal({"type": "value_error", "msg": "Value error, x", "ctx": {"error": ValueError("must be text")}},
                   "id") == "harus berupa teks"
