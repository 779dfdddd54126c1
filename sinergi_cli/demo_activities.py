"""Demo activities of Kota Bandung (32.73): a season of Pilkada 2024 outreach in every status.

Shaped like the seed articles: KPU Kota Bandung working with communities and organisations
for the Pilwalkot and Pilgub 2024 (voting 27 November 2024) through forum warga, talkshows on
local radio, goes-to-school and goes-to-campus, pentas seni, social-media campaigns and
voting simulations. Loaded through the HTTP API with Idempotency-Keys, and each activity is
looked up by title first, so loading again (even after the keys expired) changes nothing and
finishes whatever a broken earlier load left half done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

ELECTION = "pilkada-2024"
KPU = "KPU Kota Bandung, Divisi Sosdiklih Parmas dan SDM"
TARGETS = {
    "segment_targets": {"pemilih_pemula": 4, "pemilih_muda": 4, "perempuan": 3, "disabilitas": 2,
                        "berkebutuhan_khusus": 1, "marjinal": 2, "komunitas": 3, "keagamaan": 2,
                        "warga_internet": 3, "lansia": 1},
    # Kecamatan codes (Kemendagri): Coblong, Babakan Ciparay, Cibeunying Kidul, Sumur Bandung,
    # Cibiru, Gedebage, Cinambo.
    "district_targets": {"32.73.02": 3, "32.73.03": 1, "32.73.14": 1, "32.73.19": 1, "32.73.25": 1,
                         "32.73.27": 1, "32.73.29": 1},
    "reach_target": 150_000,
    "source": "target nasional KPU RI (82%); target segmen dan kecamatan: rencana kerja Sosdiklih Parmas "
              "KPU Kota Bandung (data demo)",
}


@dataclass
class Demo:
    """One activity of the season and how far it got."""

    title: str
    format: str
    segments: list[str]
    topics: list[str]
    stage: str
    when: tuple[str, str] | None  # local WIB times
    status: str
    description: str = ""
    kind: str = "sosialisasi"
    location: dict[str, Any] | None = None
    speakers: list[dict[str, str]] = field(default_factory=list)
    partners: list[tuple[str, str]] = field(default_factory=list)  # (partner type wanted, role)
    planned_reach: int | None = None
    outcome: dict[str, Any] | None = None
    cancel_reason: str | None = None

    @property
    def method(self) -> str:
        media = {"media_cetak", "radio", "televisi", "media_online", "media_sosial", "luar_ruang",
                 "bahan_sosialisasi", "konten_kreatif"}
        return "tidak_langsung" if self.format in media else "langsung"


def _at(day: str, start: str, end: str) -> tuple[str, str]:
    return f"2024-{day}T{start}:00+07:00", f"2024-{day}T{end}:00+07:00"


SPEAKER_KPU = {"name": "Anggota KPU Kota Bandung", "affiliation": KPU}

SEASON = [
    Demo("Forum warga: tahapan Pilwalkot Bandung 2024 di Kelurahan Dago", "forum_warga", ["umum", "perempuan"],
         ["tahapan", "jadwal_pemungutan"], "pencalonan", _at("09-05", "09:00", "12:00"), "reported",
         "Sosialisasi tahapan dan jadwal Pilkada 2024 kepada warga RW 01-08 Kelurahan Dago.",
         location={"district": "32.73.02", "village": "32.73.02.1004", "venue": "Aula Kantor Kelurahan Dago"},
         speakers=[SPEAKER_KPU], partners=[("kim", "mitra")], planned_reach=80,
         outcome={"attendance_total": 86, "attendance_by_segment": {"perempuan": 47, "umum": 86}, "women": 47,
                  "disabled": 2, "documentation_urls": ["https://kota-bandung.kpu.go.id/dokumentasi/forum-warga-dago"],
                  "notes": "Warga banyak bertanya soal pindah memilih dan formulir A."}),
    Demo("KPU goes to school: pemilih pemula SMA Negeri 2 Bandung", "goes_to_school", ["pemilih_pemula", "pelajar"],
         ["hak_pilih", "tata_cara_memilih", "anti_hoaks"], "pemutakhiran_data_pemilih", _at("09-12", "08:00", "10:30"),
         "reported", "Pengenalan hak pilih dan cara mengecek DPT bagi siswa kelas XII yang genap 17 tahun.",
         kind="pendidikan_pemilih", location={"district": "32.73.02", "venue": "Aula SMA Negeri 2 Bandung"},
         speakers=[SPEAKER_KPU], partners=[("sekolah", "tempat")], planned_reach=300,
         outcome={"attendance_total": 312, "attendance_by_segment": {"pemilih_pemula": 298, "pelajar": 312},
                  "women": 160, "disabled": 1, "notes": "Cek DPT online dipraktikkan langsung lewat ponsel."}),
    Demo("Talkshow radio: mengenal tahapan Pilwalkot dan Pilgub 2024", "radio", ["umum", "keluarga"],
         ["tahapan", "daftar_pemilih"], "kampanye", _at("09-26", "16:00", "17:00"), "reported",
         "Dialog interaktif di radio mitra Diskominfo, dengan telepon pendengar.",
         location={"online_url": "https://radio.bandung.go.id/streaming"}, speakers=[SPEAKER_KPU],
         partners=[("opd_diskominfo", "media"), ("media", "media")], planned_reach=10_000,
         outcome={"attendance_total": 0, "reach": 12_500, "notes": "14 penelepon; siaran ulang di kanal YouTube."}),
    Demo("KPU goes to campus: pemilih muda cerdas memilih", "goes_to_campus", ["pemilih_muda"],
         ["profil_calon", "bijak_media_sosial", "anti_politik_uang"], "kampanye", _at("10-03", "13:00", "16:00"),
         "reported", "Diskusi rekam jejak dan program calon, serta bijak bermedia sosial.", kind="pendidikan_pemilih",
         location={"district": "32.73.02", "venue": "Aula FISIP Universitas Padjadjaran, Kampus Dipatiukur"},
         speakers=[SPEAKER_KPU, {"name": "Dosen Ilmu Komunikasi", "affiliation": "FISIP Universitas Padjadjaran"}],
         partners=[("perguruan_tinggi", "tempat")], planned_reach=250,
         outcome={"attendance_total": 241, "attendance_by_segment": {"pemilih_muda": 236}, "women": 131,
                  "disabled": 3, "reach": 1_900}),
    Demo("Pentas seni 'Ayo ka TPS, Baraya!' di Braga", "pentas_seni", ["pemilih_muda", "komunitas"],
         ["partisipasi", "tata_cara_memilih"], "kampanye", _at("10-12", "19:00", "22:00"), "reported",
         "Pentas musik dan teater komunitas seni; pesan ajakan memilih di sela penampilan.",
         location={"district": "32.73.19", "venue": "Taman Cikapundung Riverspot, Braga"},
         partners=[("ormas_komunitas", "penyelenggara")], planned_reach=300,
         outcome={"attendance_total": 356, "attendance_by_segment": {"pemilih_muda": 214, "komunitas": 120},
                  "women": 171, "disabled": 4, "reach": 2_600,
                  "documentation_urls": ["https://www.instagram.com/kpukotabandung/"]}),
    Demo("Kampanye media sosial #BarayaBandungMilih", "media_sosial", ["warga_internet", "pemilih_muda"],
         ["jadwal_pemungutan", "anti_hoaks"], "kampanye", _at("10-14", "08:00", "20:00"), "reported",
         "Seri unggahan dan video pendek tentang jadwal pemungutan suara dan cek fakta hoaks.",
         location={"online_url": "https://www.instagram.com/kpukotabandung/"},
         partners=[("ormas_komunitas", "mitra")], planned_reach=40_000,
         outcome={"attendance_total": 0, "reach": 48_200, "notes": "Tayangan 48.200, 3.100 interaksi."}),
    Demo("Simulasi pemungutan dan penghitungan suara di TPS", "simulasi_pemungutan", ["umum", "lansia", "disabilitas"],
         ["tata_cara_memilih", "surat_suara_sah"], "kampanye", _at("10-19", "08:00", "11:00"), "reported",
         "Simulasi lengkap dengan KPPS; praktik surat suara sah dan alat bantu tunanetra.",
         location={"district": "32.73.14", "venue": "Lapangan RW 03 Kelurahan Cicadas"},
         speakers=[SPEAKER_KPU], partners=[("kim", "mitra")], planned_reach=120,
         outcome={"attendance_total": 124, "attendance_by_segment": {"lansia": 31, "disabilitas": 9}, "women": 66,
                  "disabled": 9}),
    Demo("Forum warga anti politik uang di Babakan Ciparay", "forum_warga", ["marjinal", "keluarga"],
         ["anti_politik_uang", "hak_pilih"], "kampanye", _at("10-24", "19:30", "21:30"), "reported",
         "Diskusi warga tentang bahaya politik uang dan cara melapor ke Bawaslu.",
         location={"district": "32.73.03", "venue": "Balai Warga RW 07"}, speakers=[SPEAKER_KPU],
         partners=[("kim", "mitra")], planned_reach=70,
         outcome={"attendance_total": 64, "attendance_by_segment": {"marjinal": 40, "keluarga": 64}, "women": 29,
                  "disabled": 0}),
    Demo("Dialog tokoh agama: pemilihan damai dan bermartabat", "diskusi", ["keagamaan"],
         ["anti_hoaks", "partisipasi"], "kampanye", _at("10-30", "09:00", "12:00"), "reported",
         "Tokoh lintas agama diajak menyejukkan suasana dan menangkal hoaks di jamaah.",
         location={"district": "32.73.18", "venue": "Aula Pusdai Jawa Barat"}, speakers=[SPEAKER_KPU],
         partners=[("keagamaan", "mitra"), ("opd_diskominfo", "media")], planned_reach=100,
         outcome={"attendance_total": 92, "attendance_by_segment": {"keagamaan": 92}, "women": 30, "disabled": 1}),
    Demo("Talkshow televisi lokal: netralitas ASN di Pilkada", "televisi", ["umum"], ["netralitas_asn"],
         "kampanye", _at("11-04", "19:00", "20:00"), "held", "Bersama Bawaslu dan BKPSDM Kota Bandung.",
         partners=[("opd_diskominfo", "media")], planned_reach=30_000),
    Demo("Sosialisasi DPT dari pintu ke pintu di Kiaracondong", "door_to_door", ["marjinal", "umum"],
         ["daftar_pemilih"], "kampanye", _at("11-09", "08:00", "12:00"), "held",
         "Relawan dan PPS mengetuk pintu warga yang belum menerima pemberitahuan memilih.",
         location={"district": "32.73.16", "venue": "Permukiman RW 04-06"}, partners=[("kim", "mitra")],
         planned_reach=200),
    Demo("Sosialisasi pemilih perempuan bersama PKK Antapani", "tatap_muka", ["perempuan", "keluarga"],
         ["hak_pilih", "anti_politik_uang"], "kampanye", _at("11-13", "13:00", "15:00"), "held",
         "Kader PKK sebagai penyampai informasi ke keluarga.", location={"district": "32.73.20",
                                                                           "venue": "Aula Kecamatan Antapani"},
         speakers=[SPEAKER_KPU], planned_reach=90),
    Demo("Sosialisasi hak pilih warga binaan Lapas Sukamiskin", "tatap_muka", ["berkebutuhan_khusus"],
         ["hak_pilih", "tata_cara_memilih"], "kampanye", _at("11-20", "09:00", "11:00"), "scheduled",
         "Bersama petugas lapas: TPS khusus dan pindah memilih bagi warga binaan.",
         location={"district": "32.73.24", "venue": "Lapas Kelas I Sukamiskin"}, speakers=[SPEAKER_KPU],
         planned_reach=150),
    Demo("Podcast: surat suara sah Pilwalkot dan Pilgub", "konten_kreatif", ["warga_internet"],
         ["surat_suara_sah"], "kampanye", _at("11-22", "15:00", "16:00"), "scheduled",
         "Episode podcast tentang cara mencoblos yang sah di dua surat suara.",
         location={"online_url": "https://www.youtube.com/@kpukotabandung"},
         partners=[("ormas_komunitas", "narasumber")], planned_reach=8_000),
    Demo("Mobil sosialisasi keliling: ayo ke TPS 27 November", "door_to_door", ["umum", "lansia"],
         ["jadwal_pemungutan", "tata_cara_memilih"], "masa_tenang", _at("11-25", "08:00", "14:00"),
         "scheduled", "Pengumuman hari dan jam pemungutan suara keliling permukiman (bukan kampanye).",
         location={"district": "32.73.25", "venue": "Kecamatan Cibiru"}, planned_reach=1_000),
    Demo("KPU goes to school: SMK di Kecamatan Cibiru", "goes_to_school", ["pemilih_pemula", "pelajar"],
         ["hak_pilih", "anti_hoaks"], "kampanye", _at("11-18", "08:00", "10:00"), "scheduled",
         kind="pendidikan_pemilih", location={"district": "32.73.25", "venue": "Aula SMK Negeri di Cibiru"},
         speakers=[SPEAKER_KPU], partners=[("sekolah", "tempat")], planned_reach=250),
    Demo("Seminar evaluasi partisipasi pemilih muda", "seminar", ["pemilih_muda", "komunitas"], ["partisipasi"],
         "pasca_tahapan", None, "planned", "Evaluasi bersama mitra komunitas dan kampus setelah rekapitulasi.",
         partners=[("perguruan_tinggi", "narasumber"), ("ormas_komunitas", "mitra")], planned_reach=150),
    Demo("Rapat koordinasi sosialisasi dengan mitra komunitas", "rapat_koordinasi", ["komunitas"],
         ["tahapan", "partisipasi"], "pasca_tahapan", None, "planned", "Menyusun rencana sosialisasi 2025.",
         partners=[("ormas_komunitas", "mitra"), ("kim", "mitra")]),
    Demo("Baliho ajakan memilih di simpang jalan utama", "luar_ruang", ["umum"], ["jadwal_pemungutan"],
         "kampanye", None, "planned", "Pemasangan baliho di 30 kecamatan, menunggu izin reklame.",
         partners=[("opd_diskominfo", "mitra")], planned_reach=100_000),
    Demo("Jalan sehat demokrasi bersama warga Gedebage", "lainnya", ["keluarga", "umum"], ["partisipasi"],
         "kampanye", _at("11-10", "06:00", "09:00"), "cancelled",
         location={"district": "32.73.27", "venue": "Lapangan Gedebage"},
         cancel_reason="Bentrok dengan jadwal kampanye pasangan calon di lokasi yang sama; dialihkan ke forum warga."),
    Demo("Sosialisasi di car free day Dago", "tatap_muka", ["umum", "pemilih_muda"], ["jadwal_pemungutan"],
         "kampanye", None, "cancelled", location={"district": "32.73.02", "venue": "Jl. Ir. H. Juanda (CFD Dago)"},
         cancel_reason="CFD ditiadakan pada pekan itu."),
]
STEPS = {"planned": [], "scheduled": ["schedule"], "held": ["schedule", "hold"],
         "reported": ["schedule", "hold", "report"], "cancelled": ["cancel"]}
ORDER = ["planned", "scheduled", "held", "reported"]


def load(console: Console, client: httpx.Client, partner_ids: list[str]) -> None:
    """Set the Pilkada 2024 targets and plan, schedule, hold and report the season's activities."""
    partners = _wait_for_partners(console, client, partner_ids)
    _request(client, "PUT", f"/targets/{ELECTION}", TARGETS)
    existing = _existing(client)
    for demo in SEASON:
        activity = existing.get(demo.title) or _create(client, demo, partners)
        _advance(client, demo, activity)
    counts = {s: sum(d.status == s for d in SEASON) for s in [*ORDER, "cancelled"]}
    console.print(f"demo: {len(SEASON)} activities for {ELECTION} "
                  f"({', '.join(f'{n} {s}' for s, n in counts.items())}), targets set")


def _wait_for_partners(console: Console, client: httpx.Client, partner_ids: list[str],
                       timeout: float = 30.0) -> list[dict[str, Any]]:
    """The demo partners as this service's replica knows them (it fills from partner events)."""
    wanted = set(partner_ids)
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with console.status("demo: waiting for the activities service to learn the partners ..."):
        while True:
            cursor: str | None = None
            while True:
                params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                page = _request(client, "GET", "/replica/partners", params=params)
                found.update({p["id"]: p for p in page["items"] if p["id"] in wanted})
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            if len(found) == len(wanted) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    if len(found) < len(wanted):
        console.print(f"[yellow]demo: {len(wanted) - len(found)} partner(s) not known to the activities "
                      "service yet; their activities are loaded without them[/yellow]")
    return [p for p in found.values() if p["status"] == "active"]


def _pick(partners: list[dict[str, Any]], wanted_type: str, district: str | None) -> str | None:
    """An active partner of that type, one from the activity's kecamatan when there is one."""
    of_type = [p for p in partners if p.get("type") == wanted_type]
    local = [p for p in of_type if district and p.get("district") == district]
    chosen = (local or of_type)[:1]
    return chosen[0]["id"] if chosen else None


def _existing(client: httpx.Client) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params = {"election": ELECTION, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = _request(client, "GET", "/activities", params=params)
        for item in page["items"]:
            found.setdefault(item["title"], item)
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def _create(client: httpx.Client, demo: Demo, partners: list[dict[str, Any]]) -> dict[str, Any]:
    chosen: list[dict[str, str]] = []
    district = (demo.location or {}).get("district")
    for wanted, role in demo.partners:
        partner_id = _pick(partners, wanted, district)
        if partner_id and all(p["partner_id"] != partner_id for p in chosen):
            chosen.append({"partner_id": partner_id, "role": role})
    body = {"title": demo.title, "description": demo.description or None, "kind": demo.kind, "election": ELECTION,
            "stage": demo.stage, "topics": demo.topics, "method": demo.method, "format": demo.format,
            "segments": demo.segments, "partners": chosen, "speakers": demo.speakers, "location": demo.location,
            "planned_reach": demo.planned_reach}
    key = f"demo-activity-{demo.title}"
    response = client.post("/activities", json=body, headers={"Idempotency-Key": key})
    refused = _refused_partners(response)
    if refused:  # suspended while the replica caught up: plan it without them
        body["partners"] = [p for i, p in enumerate(chosen) if i not in refused]
        response = client.post("/activities", json=body, headers={"Idempotency-Key": f"{key}-without-{len(refused)}"})
    if response.status_code != 201:
        raise RuntimeError(f"activities POST /activities: {response.status_code} {response.text[:500]}")
    return response.json()


def _refused_partners(response: httpx.Response) -> set[int]:
    if response.status_code != 422:
        return set()
    fields = [e["field"] for e in response.json().get("errors", [])]
    if not fields or not all(f.startswith("partners[") for f in fields):
        return set()
    return {int(f.split("[")[1].split("]")[0]) for f in fields}


def _advance(client: httpx.Client, demo: Demo, activity: dict[str, Any]) -> None:
    """Take the activity as far as the demo says, from wherever it is."""
    steps = ["schedule", "cancel"] if demo.status == "cancelled" and demo.when else STEPS[demo.status]
    for step in steps:
        status = activity["status"]
        done = status == "cancelled" or (step != "cancel" and ORDER.index(status) >= ORDER.index(
            {"schedule": "scheduled", "hold": "held", "report": "reported"}[step]))
        if done:
            continue
        body: dict[str, Any] | None = None
        if step == "schedule" and demo.when:
            body = {"starts_at": demo.when[0], "ends_at": demo.when[1]}
        elif step == "report":
            body = demo.outcome
        elif step == "cancel":
            body = {"reason": demo.cancel_reason}
        activity = _request(client, "POST", f"/activities/{activity['id']}/{step}", body,
                            key=f"demo-activity-{demo.title}-{step}")


def _request(client: httpx.Client, method: str, path: str, body: Any = None, key: str | None = None,
             params: dict[str, Any] | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    response = client.request(method, path, json=body, params=params, headers=headers)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"activities {method} {path}: {response.status_code} {response.text[:500]}")
    return response.json()
