"""Display names in Bahasa Indonesia for the enumerations (reports, coverage labels)."""

from __future__ import annotations

from datetime import datetime

LABELS: dict[str, str] = {
    # kinds and methods
    "sosialisasi": "Sosialisasi",
    "pendidikan_pemilih": "Pendidikan pemilih",
    "langsung": "Langsung",
    "tidak_langsung": "Tidak langsung",
    # statuses
    "planned": "Direncanakan",
    "scheduled": "Dijadwalkan",
    "held": "Terlaksana",
    "reported": "Dilaporkan",
    "cancelled": "Dibatalkan",
    # formats
    "tatap_muka": "Tatap muka",
    "forum_warga": "Forum warga",
    "diskusi": "Diskusi",
    "seminar": "Seminar",
    "talkshow": "Talkshow",
    "simulasi_pemungutan": "Simulasi pemungutan suara",
    "door_to_door": "Door to door",
    "goes_to_school": "KPU goes to school",
    "goes_to_campus": "KPU goes to campus",
    "pentas_seni": "Pentas seni",
    "budaya_lokal": "Budaya lokal",
    "rapat_koordinasi": "Rapat koordinasi",
    "kunjungan_rpp": "Kunjungan Rumah Pintar Pemilu",
    "media_cetak": "Media cetak",
    "radio": "Radio",
    "televisi": "Televisi",
    "media_online": "Media daring",
    "media_sosial": "Media sosial",
    "luar_ruang": "Media luar ruang",
    "bahan_sosialisasi": "Bahan sosialisasi",
    "konten_kreatif": "Konten kreatif",
    "lainnya": "Lainnya",
    # segments
    "keluarga": "Keluarga",
    "pemilih_pemula": "Pemilih pemula",
    "pemilih_muda": "Pemilih muda",
    "perempuan": "Perempuan",
    "disabilitas": "Penyandang disabilitas",
    "berkebutuhan_khusus": "Berkebutuhan khusus",
    "marjinal": "Marjinal",
    "komunitas": "Komunitas",
    "keagamaan": "Keagamaan",
    "warga_internet": "Warga internet",
    "masyarakat_adat": "Masyarakat adat",
    "pelajar": "Pelajar",
    "lansia": "Lanjut usia",
    "umum": "Masyarakat umum",
    # partner roles
    "penyelenggara": "Penyelenggara",
    "mitra": "Mitra",
    "narasumber": "Narasumber",
    "tempat": "Tempat",
    "media": "Media",
    # stages
    "perencanaan": "Perencanaan",
    "pembentukan_adhoc": "Pembentukan badan ad hoc",
    "pemutakhiran_data_pemilih": "Pemutakhiran data pemilih",
    "pendaftaran_peserta": "Pendaftaran peserta",
    "pencalonan": "Pencalonan",
    "kampanye": "Kampanye",
    "masa_tenang": "Masa tenang",
    "pemungutan_penghitungan": "Pemungutan dan penghitungan suara",
    "rekapitulasi": "Rekapitulasi",
    "penetapan_hasil": "Penetapan hasil",
    "pasca_tahapan": "Pasca tahapan",
    # topics
    "tahapan": "Tahapan",
    "tata_cara_memilih": "Tata cara memilih",
    "jadwal_pemungutan": "Jadwal pemungutan suara",
    "daftar_pemilih": "Daftar pemilih",
    "hak_pilih": "Hak pilih",
    "surat_suara_sah": "Surat suara sah",
    "anti_politik_uang": "Anti politik uang",
    "netralitas_asn": "Netralitas ASN",
    "bijak_media_sosial": "Bijak bermedia sosial",
    "anti_hoaks": "Anti hoaks",
    "profil_calon": "Profil calon",
    "partisipasi": "Partisipasi",
}

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")


def label(value: str | None) -> str:
    if value is None:
        return ""
    return LABELS.get(value, value)


def month_label(key: str | None) -> str:
    """``2024-10`` → ``Oktober 2024``; no month → ``Belum dijadwalkan``."""
    if not key:
        return "Belum dijadwalkan"
    year, month = key.split("-")
    return f"{MONTHS[int(month) - 1]} {year}"


def local_time(value: datetime | None, zone) -> str:  # noqa: ANN001 - a ZoneInfo
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""
