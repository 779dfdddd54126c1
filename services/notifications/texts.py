"""Texts of notifications: Jinja2 templates, Bahasa Indonesia first, English on request.

Each template under ``templates/<language>/`` defines a ``subject`` and a ``body`` block.
Dates and times are shown on the region's wall clock in Indonesian formats ("Rabu 6 November
2024 pukul 09.00 WIB"); the English texts use the same zone ("Wednesday 6 November 2024 at
09:00 WIB").
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.notifications.domain import LANGUAGES, ZONE_ABBREVIATIONS

TEMPLATES = Path(__file__).with_name("templates")

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "segment": {
        "id": {
            "pemilih_pemula": "pemilih pemula", "pemilih_muda": "pemilih muda", "disabilitas": "penyandang disabilitas",
            "berkebutuhan_khusus": "pemilih berkebutuhan khusus", "marjinal": "kelompok marjinal",
            "keagamaan": "kelompok keagamaan", "warga_internet": "warga internet", "masyarakat_adat": "masyarakat adat",
            "umum": "masyarakat umum",
        },
        "en": {
            "keluarga": "families", "pemilih_pemula": "first-time voters", "pemilih_muda": "young voters",
            "perempuan": "women", "disabilitas": "voters with disabilities",
            "berkebutuhan_khusus": "voters with special needs", "marjinal": "marginalised groups",
            "komunitas": "communities", "keagamaan": "religious groups", "warga_internet": "internet users",
            "masyarakat_adat": "indigenous communities", "pelajar": "students", "lansia": "the elderly",
            "umum": "the general public",
        },
    },
    "status": {
        "id": {"planned": "direncanakan", "scheduled": "terjadwal", "held": "terlaksana", "reported": "dilaporkan",
               "cancelled": "dibatalkan"},
        "en": {},
    },
    "kind": {
        "id": {"sosialisasi": "sosialisasi", "pendidikan_pemilih": "pendidikan pemilih"},
        "en": {"sosialisasi": "outreach", "pendidikan_pemilih": "voter education"},
    },
    "format": {
        "id": {"tatap_muka": "tatap muka", "simulasi_pemungutan": "simulasi pemungutan suara",
               "goes_to_school": "KPU goes to school", "goes_to_campus": "KPU goes to campus",
               "kunjungan_rpp": "kunjungan rumah pintar pemilu", "luar_ruang": "media luar ruang"},
        "en": {"tatap_muka": "face-to-face meeting", "forum_warga": "community forum", "diskusi": "discussion",
               "simulasi_pemungutan": "voting simulation", "door_to_door": "door-to-door visits",
               "goes_to_school": "school visit", "goes_to_campus": "campus visit", "pentas_seni": "art show",
               "budaya_lokal": "local culture event", "rapat_koordinasi": "coordination meeting",
               "kunjungan_rpp": "visit to the voter education house", "media_cetak": "print media",
               "televisi": "television", "media_online": "online media", "media_sosial": "social media",
               "luar_ruang": "outdoor media", "bahan_sosialisasi": "outreach materials",
               "konten_kreatif": "creative content", "lainnya": "other"},
    },
    "role": {
        "id": {"tempat": "penyedia tempat", "media": "mitra media"},
        "en": {"penyelenggara": "organiser", "mitra": "partner", "narasumber": "speaker", "tempat": "venue host",
               "media": "media partner"},
    },
    "election": {
        "id": {"pemilu-2019": "Pemilu 2019", "pilkada-2020": "Pemilihan Serentak 2020", "pemilu-2024": "Pemilu 2024",
               "pilkada-2024": "Pilkada 2024"},
        "en": {"pemilu-2019": "the 2019 general election", "pilkada-2020": "the 2020 regional elections",
               "pemilu-2024": "the 2024 general election", "pilkada-2024": "the 2024 regional elections"},
    },
    "doc_type": {
        "id": {"mou": "MoU (Nota Kesepahaman)", "pks": "PKS (Perjanjian Kerja Sama)"},
        "en": {"mou": "MoU", "pks": "cooperation agreement (PKS)"},
    },
    "partner_type": {
        "id": {"kim": "KIM", "opd_diskominfo": "OPD Diskominfo", "opd_lain": "OPD", "ormas_komunitas": "ormas/komunitas",
               "badan_adhoc": "badan ad hoc", "desa_kelurahan": "desa/kelurahan", "relawan": "relawan demokrasi"},
        "en": {"kim": "KIM (community information group)", "opd_diskominfo": "communications office (Diskominfo)",
               "opd_lain": "regional agency", "ormas_komunitas": "community organisation", "media": "media",
               "perguruan_tinggi": "university", "sekolah": "school", "keagamaan": "religious organisation",
               "badan_adhoc": "ad hoc election body", "desa_kelurahan": "village office",
               "relawan": "democracy volunteers", "lainnya": "other"},
    },
}

DATE_FORMAT = {"id": "EEEE d MMMM y", "en": "EEEE d MMMM y"}
SHORT_DATE_FORMAT = {"id": "d MMMM y", "en": "d MMMM y"}
TIME_FORMAT = {"id": "HH.mm", "en": "HH:mm"}


def zone_abbreviation(zone: tzinfo, moment: datetime | None = None) -> str:
    key = getattr(zone, "key", None)
    if key in ZONE_ABBREVIATIONS:
        return ZONE_ABBREVIATIONS[key]
    return (moment or datetime.now(zone)).astimezone(zone).tzname() or str(zone)


def label(value: Any, kind: str, language: str = "id") -> str:
    if value is None:
        return ""
    text = str(value)
    return LABELS.get(kind, {}).get(language, {}).get(text) or text.replace("_", " ")


class Texts:
    """Renders ``(subject, body)`` of a template in a language, for one region's zone."""

    def __init__(self, zone: tzinfo, region_name: str) -> None:
        self.zone = zone
        self.region_name = region_name
        self._environments = {language: self._environment(language) for language in LANGUAGES}

    def _environment(self, language: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader([TEMPLATES / language, TEMPLATES]),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        zone = self.zone

        def local(moment: datetime | date) -> datetime | date:
            return moment.astimezone(zone) if isinstance(moment, datetime) else moment

        env.filters["long_date"] = lambda m: format_date(local(m), DATE_FORMAT[language], locale=language)
        env.filters["short_date"] = lambda m: format_date(local(m), SHORT_DATE_FORMAT[language], locale=language)
        env.filters["clock"] = lambda m: format_time(local(m), TIME_FORMAT[language], locale=language)
        env.filters["label"] = lambda value, kind: label(value, kind, language)
        env.filters["labels"] = lambda values, kind: ", ".join(label(v, kind, language) for v in values or [])
        env.globals.update(region_name=self.region_name, zone=zone_abbreviation(zone), language=language)
        return env

    def render(self, language: str, template: str, context: dict[str, Any]) -> tuple[str, str]:
        env = self._environments.get(language) or self._environments["id"]
        found = env.get_template(f"{template}.txt")
        ctx = found.new_context(context)
        subject = " ".join("".join(found.blocks["subject"](ctx)).split())
        body = "".join(found.blocks["body"](ctx)).strip() + "\n"
        return subject, body
