"""The words of DOMAIN.md, once: the enumerations every service speaks, and their labels.

API values are lower snake case (the codes below); labels are what a person reads, in Bahasa
Indonesia first and English on request. A service's domain imports its enumerations from here,
so a segment or a format means the same in the registry, the activities and the messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import lru_cache
from typing import Any


class Kind(StrEnum):
    sosialisasi = "sosialisasi"
    pendidikan_pemilih = "pendidikan_pemilih"


class Method(StrEnum):
    langsung = "langsung"
    tidak_langsung = "tidak_langsung"


class Format(StrEnum):
    # direct (face to face)
    tatap_muka = "tatap_muka"
    forum_warga = "forum_warga"
    diskusi = "diskusi"
    seminar = "seminar"
    talkshow = "talkshow"
    simulasi_pemungutan = "simulasi_pemungutan"
    door_to_door = "door_to_door"
    goes_to_school = "goes_to_school"
    goes_to_campus = "goes_to_campus"
    pentas_seni = "pentas_seni"
    budaya_lokal = "budaya_lokal"
    rapat_koordinasi = "rapat_koordinasi"
    kunjungan_rpp = "kunjungan_rpp"
    lokakarya = "lokakarya"  # workshop, e.g. with agencies, ormas and media (KPU Karanganyar)
    bimtek = "bimtek"  # bimbingan teknis: technical guidance for ad hoc bodies and partners
    # indirect (media)
    media_cetak = "media_cetak"
    radio = "radio"
    televisi = "televisi"
    media_online = "media_online"
    media_sosial = "media_sosial"
    luar_ruang = "luar_ruang"
    bahan_sosialisasi = "bahan_sosialisasi"
    konten_kreatif = "konten_kreatif"
    # either
    lainnya = "lainnya"


MEDIA_FORMATS = frozenset({
    Format.media_cetak, Format.radio, Format.televisi, Format.media_online, Format.media_sosial,
    Format.luar_ruang, Format.bahan_sosialisasi, Format.konten_kreatif,
})
DIRECT_FORMATS = frozenset(set(Format) - MEDIA_FORMATS - {Format.lainnya})


class Segment(StrEnum):
    keluarga = "keluarga"
    pemilih_pemula = "pemilih_pemula"
    pemilih_muda = "pemilih_muda"
    perempuan = "perempuan"
    disabilitas = "disabilitas"
    berkebutuhan_khusus = "berkebutuhan_khusus"
    marjinal = "marjinal"
    komunitas = "komunitas"
    keagamaan = "keagamaan"
    warga_internet = "warga_internet"
    masyarakat_adat = "masyarakat_adat"
    pelajar = "pelajar"
    lansia = "lansia"
    umum = "umum"


class Topic(StrEnum):
    tahapan = "tahapan"
    tata_cara_memilih = "tata_cara_memilih"
    jadwal_pemungutan = "jadwal_pemungutan"
    daftar_pemilih = "daftar_pemilih"
    hak_pilih = "hak_pilih"
    surat_suara_sah = "surat_suara_sah"
    anti_politik_uang = "anti_politik_uang"
    netralitas_asn = "netralitas_asn"
    bijak_media_sosial = "bijak_media_sosial"
    anti_hoaks = "anti_hoaks"
    profil_calon = "profil_calon"
    partisipasi = "partisipasi"
    lainnya = "lainnya"


class Stage(StrEnum):
    perencanaan = "perencanaan"
    pembentukan_adhoc = "pembentukan_adhoc"
    pemutakhiran_data_pemilih = "pemutakhiran_data_pemilih"
    pendaftaran_peserta = "pendaftaran_peserta"
    pencalonan = "pencalonan"
    kampanye = "kampanye"
    masa_tenang = "masa_tenang"
    pemungutan_penghitungan = "pemungutan_penghitungan"
    rekapitulasi = "rekapitulasi"
    penetapan_hasil = "penetapan_hasil"
    pasca_tahapan = "pasca_tahapan"


class PartnerType(StrEnum):
    opd_diskominfo = "opd_diskominfo"
    opd_lain = "opd_lain"
    kim = "kim"
    ormas_komunitas = "ormas_komunitas"
    media = "media"
    perguruan_tinggi = "perguruan_tinggi"
    sekolah = "sekolah"
    keagamaan = "keagamaan"
    badan_adhoc = "badan_adhoc"
    desa_kelurahan = "desa_kelurahan"
    relawan = "relawan"
    lainnya = "lainnya"


class ChannelKind(StrEnum):
    radio = "radio"
    televisi = "televisi"
    media_cetak = "media_cetak"
    media_online = "media_online"
    website = "website"
    instagram = "instagram"
    facebook = "facebook"
    tiktok = "tiktok"
    x = "x"
    youtube = "youtube"
    whatsapp_group = "whatsapp_group"
    jaringan_komunitas = "jaringan_komunitas"
    lainnya = "lainnya"


class PartnerRole(StrEnum):
    """What a partner does in an activity."""

    penyelenggara = "penyelenggara"
    mitra = "mitra"
    narasumber = "narasumber"
    tempat = "tempat"
    media = "media"


class DocType(StrEnum):
    mou = "mou"
    pks = "pks"


# --- labels: kind → language → code → what a person reads ---------------------------------------
# A code missing from a table reads as itself with spaces (``forum_warga`` → ``forum warga``);
# "Lainnya"/"other" and the like are listed where that would read wrong.

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "kind": {
        "id": {"sosialisasi": "Sosialisasi", "pendidikan_pemilih": "Pendidikan pemilih"},
        "en": {"sosialisasi": "Outreach", "pendidikan_pemilih": "Voter education"},
    },
    "method": {
        "id": {"langsung": "Langsung", "tidak_langsung": "Tidak langsung"},
        "en": {"langsung": "Face to face", "tidak_langsung": "Through media"},
    },
    "activity_status": {
        "id": {"planned": "Direncanakan", "scheduled": "Dijadwalkan", "held": "Terlaksana",
               "reported": "Dilaporkan", "cancelled": "Dibatalkan"},
        "en": {"planned": "Planned", "scheduled": "Scheduled", "held": "Held", "reported": "Reported",
               "cancelled": "Cancelled"},
    },
    "partner_status": {
        "id": {"active": "Aktif", "suspended": "Ditangguhkan", "archived": "Diarsipkan"},
        "en": {"active": "Active", "suspended": "Suspended", "archived": "Archived"},
    },
    "format": {
        "id": {"tatap_muka": "Tatap muka", "forum_warga": "Forum warga", "diskusi": "Diskusi", "seminar": "Seminar",
               "talkshow": "Talkshow", "simulasi_pemungutan": "Simulasi pemungutan suara",
               "door_to_door": "Door to door", "goes_to_school": "KPU goes to school",
               "goes_to_campus": "KPU goes to campus", "pentas_seni": "Pentas seni", "budaya_lokal": "Budaya lokal",
               "rapat_koordinasi": "Rapat koordinasi", "kunjungan_rpp": "Kunjungan Rumah Pintar Pemilu",
               "lokakarya": "Lokakarya", "bimtek": "Bimbingan teknis (bimtek)", "media_cetak": "Media cetak", "radio": "Radio", "televisi": "Televisi", "media_online": "Media daring",
               "media_sosial": "Media sosial", "luar_ruang": "Media luar ruang",
               "bahan_sosialisasi": "Bahan sosialisasi", "konten_kreatif": "Konten kreatif", "lainnya": "Lainnya"},
        "en": {"tatap_muka": "Face-to-face meeting", "forum_warga": "Community forum", "diskusi": "Discussion",
               "seminar": "Seminar", "talkshow": "Talk show", "simulasi_pemungutan": "Voting simulation",
               "door_to_door": "Door-to-door visits", "goes_to_school": "School visit",
               "goes_to_campus": "Campus visit", "pentas_seni": "Art show", "budaya_lokal": "Local culture event",
               "rapat_koordinasi": "Coordination meeting", "kunjungan_rpp": "Visit to the voter education house",
               "lokakarya": "Workshop", "bimtek": "Technical guidance (bimtek)",
               "media_cetak": "Print media", "radio": "Radio", "televisi": "Television",
               "media_online": "Online media", "media_sosial": "Social media", "luar_ruang": "Outdoor media",
               "bahan_sosialisasi": "Outreach materials", "konten_kreatif": "Creative content", "lainnya": "Other"},
    },
    "segment": {
        "id": {"keluarga": "Keluarga", "pemilih_pemula": "Pemilih pemula", "pemilih_muda": "Pemilih muda",
               "perempuan": "Perempuan", "disabilitas": "Penyandang disabilitas",
               "berkebutuhan_khusus": "Pemilih berkebutuhan khusus", "marjinal": "Kelompok marjinal",
               "komunitas": "Komunitas", "keagamaan": "Kelompok keagamaan", "warga_internet": "Warga internet", "masyarakat_adat": "Masyarakat adat",
               "pelajar": "Pelajar", "lansia": "Lanjut usia", "umum": "Masyarakat umum"},
        "en": {"keluarga": "Families", "pemilih_pemula": "First-time voters", "pemilih_muda": "Young voters",
               "perempuan": "Women", "disabilitas": "Voters with disabilities",
               "berkebutuhan_khusus": "Voters with special needs", "marjinal": "Marginalised groups",
               "komunitas": "Communities", "keagamaan": "Religious groups", "warga_internet": "Internet users",
               "masyarakat_adat": "Indigenous communities", "pelajar": "Students", "lansia": "The elderly",
               "umum": "The general public"},
    },
    "topic": {
        "id": {"tahapan": "Tahapan", "tata_cara_memilih": "Tata cara memilih",
               "jadwal_pemungutan": "Jadwal pemungutan suara", "daftar_pemilih": "Daftar pemilih",
               "hak_pilih": "Hak pilih", "surat_suara_sah": "Surat suara sah",
               "anti_politik_uang": "Anti politik uang", "netralitas_asn": "Netralitas ASN",
               "bijak_media_sosial": "Bijak bermedia sosial", "anti_hoaks": "Anti hoaks",
               "profil_calon": "Profil calon", "partisipasi": "Partisipasi", "lainnya": "Lainnya"},
        "en": {"tahapan": "Election stages", "tata_cara_memilih": "How to vote", "jadwal_pemungutan": "Voting day",
               "daftar_pemilih": "Voter list", "hak_pilih": "The right to vote", "surat_suara_sah": "Valid ballots",
               "anti_politik_uang": "Against vote buying", "netralitas_asn": "Civil service neutrality",
               "bijak_media_sosial": "Social media wisdom", "anti_hoaks": "Against hoaxes",
               "profil_calon": "Candidate profiles", "partisipasi": "Participation", "lainnya": "Other"},
    },
    "stage": {
        "id": {"perencanaan": "Perencanaan", "pembentukan_adhoc": "Pembentukan badan ad hoc",
               "pemutakhiran_data_pemilih": "Pemutakhiran data pemilih", "pendaftaran_peserta": "Pendaftaran peserta",
               "pencalonan": "Pencalonan", "kampanye": "Kampanye", "masa_tenang": "Masa tenang",
               "pemungutan_penghitungan": "Pemungutan dan penghitungan suara", "rekapitulasi": "Rekapitulasi",
               "penetapan_hasil": "Penetapan hasil", "pasca_tahapan": "Pasca tahapan"},
        "en": {"perencanaan": "Planning", "pembentukan_adhoc": "Forming the ad hoc bodies",
               "pemutakhiran_data_pemilih": "Updating the voter list", "pendaftaran_peserta": "Registering contestants",
               "pencalonan": "Nominations", "kampanye": "Campaign", "masa_tenang": "Quiet period",
               "pemungutan_penghitungan": "Voting and counting", "rekapitulasi": "Recapitulation",
               "penetapan_hasil": "Declaring the results", "pasca_tahapan": "After the stages"},
    },
    "role": {
        "id": {"penyelenggara": "Penyelenggara", "mitra": "Mitra", "narasumber": "Narasumber",
               "tempat": "Penyedia tempat", "media": "Mitra media"},
        "en": {"penyelenggara": "Organiser", "mitra": "Partner", "narasumber": "Speaker", "tempat": "Venue host",
               "media": "Media partner"},
    },
    "partner_type": {
        "id": {"opd_diskominfo": "OPD Diskominfo", "opd_lain": "OPD lain", "kim": "KIM",
               "ormas_komunitas": "Ormas/komunitas", "media": "Media", "perguruan_tinggi": "Perguruan tinggi",
               "sekolah": "Sekolah", "keagamaan": "Organisasi keagamaan", "badan_adhoc": "Badan ad hoc",
               "desa_kelurahan": "Desa/kelurahan", "relawan": "Relawan demokrasi", "lainnya": "Lainnya"},
        "en": {"opd_diskominfo": "Communications office (Diskominfo)", "opd_lain": "Regional agency",
               "kim": "KIM (community information group)", "ormas_komunitas": "Community organisation",
               "media": "Media", "perguruan_tinggi": "University", "sekolah": "School",
               "keagamaan": "Religious organisation", "badan_adhoc": "Ad hoc election body",
               "desa_kelurahan": "Village office", "relawan": "Democracy volunteers", "lainnya": "Other"},
    },
    "channel_kind": {
        "id": {"media_cetak": "Media cetak", "media_online": "Media daring", "whatsapp_group": "Grup WhatsApp",
               "jaringan_komunitas": "Jaringan komunitas", "lainnya": "Lainnya", "x": "X (Twitter)"},
        "en": {"televisi": "Television", "media_cetak": "Print media", "media_online": "Online media",
               "whatsapp_group": "WhatsApp group", "jaringan_komunitas": "Community network", "lainnya": "Other",
               "x": "X (Twitter)"},
    },
    "doc_type": {
        "id": {"mou": "MoU (Nota Kesepahaman)", "pks": "PKS (Perjanjian Kerja Sama)"},
        "en": {"mou": "MoU", "pks": "Cooperation agreement (PKS)"},
    },
}

LANGUAGES = ("id", "en")


def label(value: object, kind: str, language: str = "id") -> str:
    """What a person reads for a code: ``label("pemilih_pemula", "segment")`` → ``Pemilih pemula``."""
    if value is None:
        return ""
    code = str(value)
    found = LABELS.get(kind, {}).get(language, {}).get(code)
    if found:
        return found
    text = code.replace("_", " ")
    return text[:1].upper() + text[1:]


# --- reading what a person wrote -----------------------------------------------------------------
# The importer and the JSON APIs read an enumerated value the same way (issue 12, point 9): the code
# in any case, with spaces or hyphens for underscores, a label in either language, or a word an
# office writes otherwise (below). What matches nothing is left for the caller to refuse.

ENUMS: dict[str, type[StrEnum]] = {
    "kind": Kind, "method": Method, "format": Format, "segment": Segment, "topic": Topic, "stage": Stage,
    "role": PartnerRole, "partner_type": PartnerType, "channel_kind": ChannelKind, "doc_type": DocType,
}

# kind → a word as an office writes it (normalised: lower case, words joined by "_") → code.
ALIASES: dict[str, dict[str, str]] = {
    "partner_type": {"diskominfo": "opd_diskominfo", "kominfo": "opd_diskominfo", "dinas_kominfo": "opd_diskominfo",
                     "opd": "opd_lain", "komunitas": "ormas_komunitas", "ormas": "ormas_komunitas",
                     "pt": "perguruan_tinggi", "kampus": "perguruan_tinggi", "universitas": "perguruan_tinggi",
                     "pers": "media", "desa": "desa_kelurahan", "kelurahan": "desa_kelurahan",
                     "ppk": "badan_adhoc", "pps": "badan_adhoc", "kpps": "badan_adhoc", "relasi": "relawan",
                     "relawan_demokrasi": "relawan"},
    "segment": {"pemula": "pemilih_pemula", "muda": "pemilih_muda", "warganet": "warga_internet",
                "netizen": "warga_internet", "agama": "keagamaan", "adat": "masyarakat_adat",
                "difabel": "disabilitas", "penyandang_disabilitas": "disabilitas", "wanita": "perempuan"},
    "channel_kind": {"tv": "televisi", "koran": "media_cetak", "cetak": "media_cetak", "web": "website",
                     "situs": "website", "ig": "instagram", "fb": "facebook", "twitter": "x",
                     "whatsapp": "whatsapp_group", "wa": "whatsapp_group", "grup_whatsapp": "whatsapp_group",
                     "grup_wa": "whatsapp_group", "online": "media_online", "media_daring": "media_online"},
    "doc_type": {"nota_kesepahaman": "mou", "perjanjian_kerja_sama": "pks", "perjanjian_kerjasama": "pks"},
    "format": {"workshop": "lokakarya", "bimbingan_teknis": "bimtek", "media_daring": "media_online"},
    "partner_status": {"aktif": "active", "ditangguhkan": "suspended", "nonaktif": "suspended",
                       "non_aktif": "suspended", "diarsipkan": "archived", "arsip": "archived"},
}

_LONGEST_WORD = 200  # longer than any label; a longer value is refused without being read


def normalised(value: object) -> str:
    """A word compared ignoring case, spacing and punctuation: ``Forum Warga`` → ``forum_warga``."""
    return re.sub(r"[^0-9a-z]+", "_", str(value).casefold()).strip("_")


@lru_cache(maxsize=64)
def _words(kind: str, codes: tuple[str, ...]) -> dict[str, str]:
    found = {normalised(a): c for a, c in ALIASES.get(kind, {}).items() if c in codes}
    for language in LANGUAGES:
        for value, text in LABELS.get(kind, {}).get(language, {}).items():
            if value in codes:
                found[normalised(text)] = value
    found.update({normalised(c): c for c in codes})  # a code always means itself
    return found


def code(kind: str, value: object, choices: Iterable[str] | None = None) -> str | None:
    """The code a person's word stands for, or None: ``code("segment", "Warganet")`` → ``warga_internet``.

    ``choices`` are the codes of an enumeration not listed in ``ENUMS`` (a status)."""
    if not isinstance(value, str) or len(value) > _LONGEST_WORD:
        return None
    enum = ENUMS.get(kind)
    if choices is None and enum is None:
        raise KeyError(kind)
    words = _words(kind, tuple(str(c) for c in (choices if choices is not None else enum)))  # type: ignore[union-attr]
    found = words.get(normalised(value))
    return enum(found) if enum is not None and found is not None else found


def lenient(kind: str) -> Callable[[Any], Any]:
    """A reader for a validator: a word becomes its code; anything else passes on unchanged, for
    the enumeration to refuse with the accepted codes."""

    def read(value: Any) -> Any:
        found = code(kind, value)
        return value if found is None else found

    return read
