"""Demo partners of Kota Bandung (32.73), shaped like the seed articles.

KPU Kota Bandung signed up 83 communities and organisations for Pilwalkot 2024 (youth,
arts, culture, education, religion); Diskominfo offices lend their radio, media and
networks; KIM groups carry every stage to the kampung; a campus lends speakers and halls.
The registry below is that picture: about eighty partners over the city's kecamatan, with
their contacts, channels and MoU/PKS documents.

Contacts are invented. Their e-mail addresses use the reserved ``.example`` top-level domain
(RFC 2606), so a demo instance wired to a real mail server never writes to a stranger.
Loaded through ``POST /partners`` with an ``Idempotency-Key`` per partner: loading twice
creates nothing twice (and after the keys expire, the 409 names the partner that exists).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import httpx
from rich.console import Console

REGION = "32.73"

# Kecamatan of Kota Bandung by Kemendagri code.
KECAMATAN = {
    "Sukasari": "32.73.01", "Coblong": "32.73.02", "Babakan Ciparay": "32.73.03", "Bojongloa Kaler": "32.73.04",
    "Andir": "32.73.05", "Cicendo": "32.73.06", "Sukajadi": "32.73.07", "Cidadap": "32.73.08",
    "Bandung Wetan": "32.73.09", "Astanaanyar": "32.73.10", "Regol": "32.73.11", "Batununggal": "32.73.12",
    "Lengkong": "32.73.13", "Cibeunying Kidul": "32.73.14", "Bandung Kulon": "32.73.15", "Kiaracondong": "32.73.16",
    "Bojongloa Kidul": "32.73.17", "Cibeunying Kaler": "32.73.18", "Sumur Bandung": "32.73.19",
    "Antapani": "32.73.20", "Bandung Kidul": "32.73.21", "Buahbatu": "32.73.22", "Rancasari": "32.73.23",
    "Arcamanik": "32.73.24", "Cibiru": "32.73.25", "Ujungberung": "32.73.26", "Gedebage": "32.73.27",
    "Panyileukan": "32.73.28", "Cinambo": "32.73.29", "Mandalajati": "32.73.30",
}

# The Pilwalkot 2024 cooperation documents, and the standing MoUs with agencies that run
# until a date near today, so the agreement_expiring reminders have something to say.
PILKADA_FROM, PILKADA_UNTIL = date(2024, 6, 3), date(2024, 12, 31)


def _soon(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def person(name: str, role: str, phone: str, email: str | None = None) -> dict[str, Any]:
    return {"name": name, "role": role, "phone": phone, "email": email}


def channel(kind: str, handle: str, audience: int | None = None) -> dict[str, Any]:
    return {"kind": kind, "handle_or_url": handle, "audience_size": audience}


def mou(number: int, title: str, scope: str, until: str = PILKADA_UNTIL.isoformat(),
        since: str = PILKADA_FROM.isoformat()) -> dict[str, Any]:
    return {"doc_type": "mou", "number": f"{number:03d}/PP.08-NK/3273/2024", "title": title,
            "valid_from": since, "valid_until": until, "scope": scope}


def pks(number: int, title: str, scope: str, until: str = PILKADA_UNTIL.isoformat()) -> dict[str, Any]:
    return {"doc_type": "pks", "number": f"{number:03d}/PP.08-PKS/3273/2024", "title": title,
            "valid_from": "2024-08-01", "valid_until": until, "scope": scope}


def partner(name: str, type: str, kecamatan: str | None, categories: list[str], segments: list[str],
            contacts: list[dict[str, Any]], channels: list[dict[str, Any]] | None = None,
            agreements: list[dict[str, Any]] | None = None, notes: str | None = None) -> dict[str, Any]:
    return {"name": name, "type": type, "region": REGION, "district": KECAMATAN[kecamatan] if kecamatan else None,
            "categories": categories, "segments": segments, "contacts": contacts, "channels": channels or [],
            "agreements": agreements or [], "notes": notes}


def _kim(kecamatan: str, name: str, chair: str, phone: str, members: int) -> dict[str, Any]:
    slug = kecamatan.lower().replace(" ", "")
    return partner(
        f"KIM {name}", "kim", kecamatan, ["informasi publik", "kewargaan"],
        ["keluarga", "pemilih_pemula", "warga_internet", "umum"],
        [person(chair, "Ketua KIM", phone, f"kim.{slug}@kim-bandung.example")],
        [channel("whatsapp_group", f"Grup Info Warga {kecamatan}", members),
         channel("instagram", f"@kim_{slug}", members * 3)],
        notes=f"Kelompok Informasi Masyarakat Kecamatan {kecamatan}: menyebarkan info tahapan ke RW dan kampung.",
    )


DEMO_PARTNERS: list[dict[str, Any]] = [
    # --- the city's agencies: Diskominfo lends its network, media and radio (Blitar, Blora) ---
    partner("Diskominfo Kota Bandung", "opd_diskominfo", "Sumur Bandung", ["pemerintah", "informasi publik"],
            ["umum", "warga_internet", "pemilih_muda"],
            [person("Yudi Permana Sastra", "Kepala Bidang Informasi dan Komunikasi Publik", "022-4234793",
                    "ikp@diskominfo.bandung.example"),
             person("Rina Marlina", "Koordinator Tim Kehumasan", "0812-2045-7781", "humas@diskominfo.bandung.example")],
            [channel("website", "https://diskominfo.bandung.example", 120_000),
             channel("instagram", "@diskominfobdg", 85_000), channel("youtube", "Bandung Command Center TV", 21_000),
             channel("radio", "Radio Publik Kota Bandung 101.5 FM", 40_000),
             channel("jaringan_komunitas", "Jaringan KIM se-Kota Bandung (30 kecamatan)", 3_000)],
            [mou(12, "Sinergi penyebarluasan informasi tahapan Pemilihan 2024",
                 "konten kehumasan, videotron, radio, media sosial OPD dan kecamatan", until=_soon(25),
                 since="2024-03-01")],
            "Program kolaborasi informasi tahapan; tim kehumasan bersama memproduksi konten."),
    partner("Badan Kesatuan Bangsa dan Politik Kota Bandung", "opd_lain", "Sumur Bandung", ["pemerintah"],
            ["umum", "pemilih_pemula"],
            [person("Drs. Bambang Sukardi", "Kepala Bidang Politik Dalam Negeri", "022-4206513",
                    "poldagri@kesbangpol.bandung.example")],
            agreements=[mou(13, "Fasilitasi pendidikan politik dan pemilih", "forum warga, rapat koordinasi",
                            until=_soon(7), since="2024-03-01")]),
    partner("Dinas Pendidikan Kota Bandung", "opd_lain", "Bandung Wetan", ["pendidikan", "pemerintah"],
            ["pelajar", "pemilih_pemula"],
            [person("Hj. Euis Kurniasih, M.Pd.", "Kepala Bidang Pembinaan SMP", "022-4264500",
                    "pembinaan@disdik.bandung.example")],
            [channel("instagram", "@disdikkotabdg", 60_000)],
            [mou(14, "KPU Goes to School", "sosialisasi pemilih pemula di SMA/SMK/MA")]),
    partner("Dinas Pemuda dan Olahraga Kota Bandung", "opd_lain", "Lengkong", ["kepemudaan", "pemerintah"],
            ["pemilih_muda", "pemilih_pemula"],
            [person("Andi Supriatna", "Kepala Bidang Kepemudaan", "022-7305125", "kepemudaan@dispora.bandung.example")],
            [channel("instagram", "@disporabdg", 18_000)]),
    partner("Dinas Sosial Kota Bandung", "opd_lain", "Cibeunying Kidul", ["sosial", "pemerintah"],
            ["disabilitas", "lansia", "marjinal"],
            [person("Nurhayati", "Kepala Seksi Rehabilitasi Sosial", "022-7208765", "rehsos@dinsos.bandung.example")]),
    partner("Dinas Pemberdayaan Perempuan dan Perlindungan Anak Kota Bandung", "opd_lain", "Sumur Bandung",
            ["perempuan", "pemerintah"], ["perempuan", "keluarga"],
            [person("Siti Aminah, S.Sos.", "Kepala Bidang Pemberdayaan Perempuan", "022-4231921",
                    "pp@dp3a.bandung.example")]),
    partner("Dinas Kebudayaan dan Pariwisata Kota Bandung", "opd_lain", "Bandung Wetan", ["budaya", "seni"],
            ["komunitas", "umum"],
            [person("Tatang Rustandi", "Kepala Bidang Kebudayaan", "022-4209112", "budaya@disbudpar.bandung.example")],
            [channel("instagram", "@disbudparbdg", 52_000)]),
    # --- KIM: one per several kecamatan, carrying every stage to the kampung (KIM Sekarbela) ---
    _kim("Coblong", "Coblong Berdaya", "Asep Saepudin", "0812-2233-4455", 420),
    _kim("Sukajadi", "Sukajadi Mandiri", "Dedi Suryana", "0813-2011-7302", 310),
    _kim("Antapani", "Antapani Cerdas", "Neneng Hasanah", "0857-2233-1190", 280),
    _kim("Cibeunying Kaler", "Cigadung Informatif", "Ujang Rohmat", "0821-1555-0042", 190),
    _kim("Arcamanik", "Arcamanik Sauyunan", "Lilis Kurniasih", "0878-2100-3344", 350),
    _kim("Bojongloa Kaler", "Babakan Asih", "Cecep Hidayat", "0812-8716-4302", 240),
    _kim("Rancasari", "Rancasari Motekar", "Enok Rohayati", "0813-9470-2211", 205),
    _kim("Kiaracondong", "Kiaracondong Ngahiji", "Agus Setiawan", "0896-1274-5538", 330),
    _kim("Buahbatu", "Margasari Informasi", "Wawan Gunawan", "0822-1800-6543", 260),
    _kim("Cicendo", "Pasirkaliki Sadaya", "Iis Sumiati", "0819-1020-3040", 175),
    _kim("Babakan Ciparay", "Ciparay Wargi", "Engkus Kusnadi", "0838-1294-5061", 220),
    _kim("Ujungberung", "Ujungberung Rancage", "Yati Suryati", "0852-2071-8899", 300),
    # --- youth (kepemudaan) ---
    partner("KNPI Kota Bandung", "ormas_komunitas", "Lengkong", ["kepemudaan"], ["pemilih_muda", "pemilih_pemula"],
            [person("Rizky Firmansyah", "Ketua DPD", "0812-2400-1122", "sekretariat@knpi-bandung.example")],
            [channel("instagram", "@knpikotabandung", 9_800)],
            [mou(21, "Gerakan pemuda sadar pemilihan", "diskusi komunitas, kampanye media sosial")]),
    partner("Karang Taruna Kota Bandung", "ormas_komunitas", "Regol", ["kepemudaan", "sosial"],
            ["pemilih_muda", "keluarga"],
            [person("Fajar Nugraha", "Ketua", "0813-2112-4567", "kartar@karangtaruna-bandung.example"),
             person("Dewi Anggraeni", "Sekretaris", "0857-9876-1234")],
            [channel("instagram", "@karangtarunabdg", 12_500),
             channel("jaringan_komunitas", "Karang Taruna 151 kelurahan", 6_000)],
            [mou(22, "Relawan pemuda Pilwalkot 2024", "forum warga, door to door")]),
    partner("Karang Taruna Kelurahan Ciroyom", "ormas_komunitas", "Andir", ["kepemudaan"], ["pemilih_muda", "marjinal"],
            [person("Ilham Maulana", "Ketua", "0812-9012-3456")], [channel("whatsapp_group", "Kartar Ciroyom", 140)]),
    partner("Forum Anak Kota Bandung", "ormas_komunitas", "Sumur Bandung", ["kepemudaan", "pendidikan"],
            ["pemilih_pemula", "pelajar"],
            [person("Salsabila Putri", "Ketua Forum", "0895-3300-1122", "forumanak@dp3a.bandung.example")],
            [channel("tiktok", "@forumanakbdg", 25_000)]),
    partner("Kwartir Cabang Gerakan Pramuka Kota Bandung", "ormas_komunitas", "Bandung Wetan",
            ["kepemudaan", "pendidikan"], ["pelajar", "pemilih_pemula"],
            [person("Kak Hendra Wijaya", "Wakil Ketua Bidang Abdimas", "0812-2055-6677",
                    "kwarcab@pramuka-bandung.example")],
            [channel("instagram", "@pramukakotabandung", 14_000)]),
    partner("Bandung Youth Forum", "ormas_komunitas", "Coblong", ["kepemudaan", "literasi digital"],
            ["pemilih_muda", "warga_internet"],
            [person("Nadia Rahmawati", "Koordinator", "0817-0201-8899", "halo@bandungyouthforum.example")],
            [channel("instagram", "@bandungyouthforum", 31_000), channel("x", "@bdgyouthforum", 8_200)],
            [pks(31, "Kampanye #BandungMilih di media sosial", "konten kreatif, talkshow daring")]),
    partner("Komunitas Gamer Bandung", "ormas_komunitas", "Sukasari", ["kepemudaan", "literasi digital"],
            ["pemilih_muda", "pemilih_pemula", "warga_internet"],
            [person("Raka Pradipta", "Admin Komunitas", "0896-7788-1100")],
            [channel("youtube", "Gamer Bandung Channel", 44_000), channel("tiktok", "@gamerbandung", 67_000)]),
    partner("Komunitas Skateboard Taman Dago", "ormas_komunitas", "Coblong", ["kepemudaan", "olahraga"],
            ["pemilih_pemula", "pemilih_muda"],
            [person("Dimas Nugroho", "Koordinator", "0821-2200-9911")], [channel("instagram", "@skatedago", 5_400)]),
    partner("Bandung Creative Hub Collective", "ormas_komunitas", "Cicendo", ["kepemudaan", "ekonomi kreatif"],
            ["pemilih_muda", "warga_internet"],
            [person("Tiara Kusumawardhani", "Program Manager", "0812-1456-2323", "program@bch-collective.example")],
            [channel("instagram", "@bchcollective", 27_000)],
            [pks(32, "Lomba konten kreatif pemilih muda", "lomba video pendek, pameran")]),
    # --- arts (seni) ---
    partner("Komunitas Seni Braga", "ormas_komunitas", "Sumur Bandung", ["seni", "budaya"],
            ["pemilih_muda", "komunitas"],
            [person("Dewi Kartika", "Koordinator", "0813-1111-2222", "dewi.kartika@senibraga.example"),
             person("Yusuf Maulana", "Humas", "0857-2020-3131")],
            [channel("instagram", "@senibraga", 15_400), channel("tiktok", "@braga.art", 9_000)],
            [pks(41, "Pentas seni sosialisasi Pilwalkot", "pentas seni Braga Culture Night")],
            "Pentas seni tiap Sabtu malam di Jalan Braga."),
    partner("Sanggar Tari Jaipong Sekar Pakuan", "ormas_komunitas", "Astanaanyar", ["seni", "budaya"],
            ["perempuan", "komunitas"],
            [person("Ibu Euis Rahayu", "Pimpinan Sanggar", "0812-2030-4050")],
            [channel("youtube", "Sekar Pakuan Jaipong", 6_100)]),
    partner("Komunitas Mural Cikapundung", "ormas_komunitas", "Bandung Wetan", ["seni"], ["pemilih_muda", "umum"],
            [person("Gilang Pratama", "Koordinator", "0878-1212-3434", "mural@cikapundung.example")],
            [channel("instagram", "@muralcikapundung", 7_700)],
            [pks(42, "Mural ajakan memilih", "luar ruang: mural di 10 titik kota")]),
    partner("Teater Lintas Bandung", "ormas_komunitas", "Coblong", ["seni"], ["pemilih_muda", "pelajar"],
            [person("Arief Setiadi", "Sutradara", "0812-9900-1212")], [channel("instagram", "@teaterlintas", 4_300)]),
    partner("Komunitas Musik Indie Dago", "ormas_komunitas", "Coblong", ["seni", "kepemudaan"], ["pemilih_muda"],
            [person("Bayu Saputra", "Penggagas", "0813-2525-3636")],
            [channel("instagram", "@indiedago", 19_000), channel("youtube", "Dago Indie Sessions", 12_000)]),
    partner("Paguyuban Calung Cibiru", "ormas_komunitas", "Cibiru", ["seni", "budaya"], ["lansia", "keluarga"],
            [person("Abah Engkos", "Sesepuh", "0852-2114-5566")]),
    partner("Lingkung Seni Angklung Ujungberung", "ormas_komunitas", "Ujungberung", ["seni", "budaya"],
            ["pelajar", "keluarga"],
            [person("Kang Dadan", "Ketua", "0812-2323-5656")], [channel("youtube", "Angklung Ujungberung", 3_200)]),
    partner("Komunitas Stand Up Comedy Bandung", "ormas_komunitas", "Lengkong", ["seni", "kepemudaan"],
            ["pemilih_muda", "warga_internet"],
            [person("Rendi Oktaviano", "Koordinator Acara", "0896-5050-6060")],
            [channel("instagram", "@standupbdg", 22_000)]),
    # --- culture (budaya) ---
    partner("Paguyuban Budaya Sunda Rancasari", "ormas_komunitas", "Rancasari", ["budaya"], ["keluarga", "lansia"],
            [person("Abah Odang Suganda", "Ketua Paguyuban", "0813-2020-9090")]),
    partner("Komunitas Sejarah Bandung Heritage Walk", "ormas_komunitas", "Sumur Bandung", ["budaya", "pendidikan"],
            ["pemilih_muda", "umum"],
            [person("Ridwan Sitorus", "Pemandu", "0812-1414-1515", "jalan@heritagewalk.example")],
            [channel("instagram", "@heritagewalkbdg", 16_000)]),
    partner("Padepokan Pencak Silat Cimande Sukajadi", "ormas_komunitas", "Sukajadi", ["budaya", "olahraga"],
            ["pemilih_pemula", "komunitas"], [person("Aki Jaja", "Guru Besar", "0857-3131-4242")]),
    partner("Sanggar Wayang Golek Putra Pakuan", "ormas_komunitas", "Bojongloa Kidul", ["budaya", "seni"],
            ["keluarga", "lansia", "umum"],
            [person("Ki Dalang Asep", "Dalang", "0812-6060-7070")],
            [channel("youtube", "Wayang Golek Putra Pakuan", 38_000)],
            [pks(43, "Pagelaran wayang golek sosialisasi", "budaya lokal: pagelaran di 3 kecamatan")]),
    partner("Komunitas Kampung Kreatif Dago Pojok", "ormas_komunitas", "Coblong", ["budaya", "ekonomi kreatif"],
            ["keluarga", "komunitas"], [person("Rahmat Saputra", "Penggerak Kampung", "0821-3030-4040")]),
    # --- education: schools, campuses, teachers ---
    partner("SMAN 3 Bandung", "sekolah", "Bandung Wetan", ["pendidikan"], ["pelajar", "pemilih_pemula"],
            [person("Drs. H. Wawan Setiawan", "Wakasek Kesiswaan", "022-4203860", "kesiswaan@sman3bdg.example")],
            [channel("instagram", "@osis_sman3bdg", 6_500)]),
    partner("SMAN 5 Bandung", "sekolah", "Bandung Wetan", ["pendidikan"], ["pelajar", "pemilih_pemula"],
            [person("Lina Marliana, S.Pd.", "Pembina OSIS", "0813-2099-8877")]),
    partner("SMKN 1 Bandung", "sekolah", "Lengkong", ["pendidikan"], ["pelajar", "pemilih_pemula"],
            [person("Ujang Supriadi, M.T.", "Wakasek Humas", "022-7303736", "humas@smkn1bdg.example")]),
    partner("MAN 2 Kota Bandung", "sekolah", "Bojongloa Kaler", ["pendidikan", "keagamaan"],
            ["pelajar", "pemilih_pemula", "keagamaan"], [person("Hj. Nia Kurniawati", "Wakamad Kesiswaan", "022-6030522")]),
    partner("SMA Pasundan 1 Bandung", "sekolah", "Regol", ["pendidikan"], ["pelajar", "pemilih_pemula"],
            [person("Yudi Rachmat", "Pembina OSIS", "0857-2211-3344")]),
    partner("Forum OSIS Kota Bandung", "ormas_komunitas", "Bandung Wetan", ["pendidikan", "kepemudaan"],
            ["pelajar", "pemilih_pemula"],
            [person("Muhammad Fikri", "Ketua Forum", "0895-1122-3344", "forumosis@pelajar-bandung.example")],
            [channel("instagram", "@forumosisbdg", 11_000)],
            [pks(51, "Duta pemilih pemula", "goes to school di 40 SMA/SMK/MA")]),
    partner("Universitas Pasundan", "perguruan_tinggi", "Lengkong", ["pendidikan", "kampus"],
            ["pemilih_muda", "pemilih_pemula"],
            [person("Dr. Rahmat Hidayat, M.Si.", "Dekan FISIP", "022-4205945", "fisip@unpas.example"),
             person("Sri Wulandari", "Staf Humas", "0812-2050-6070", "humas@unpas.example")],
            [channel("website", "https://www.unpas.example", 50_000), channel("instagram", "@unpas.official", 75_000)],
            [mou(61, "Pendidikan pemilih dan kajian partisipasi", "narasumber akademisi, goes to campus, riset"),
             pks(62, "Goes to campus Pilwalkot 2024", "diskusi, simulasi pemungutan suara di kampus")]),
    partner("Universitas Pendidikan Indonesia", "perguruan_tinggi", "Sukasari", ["pendidikan", "kampus"],
            ["pemilih_muda", "pemilih_pemula"],
            [person("Prof. Dr. Budi Hartono", "Guru Besar Ilmu Politik", "022-2013163", "kewarganegaraan@upi.example")],
            [channel("instagram", "@upi.official", 150_000)],
            [mou(63, "Relawan demokrasi kampus", "pelatihan relawan, KKN tematik kepemiluan")]),
    partner("UIN Sunan Gunung Djati Bandung", "perguruan_tinggi", "Cibiru", ["pendidikan", "kampus", "keagamaan"],
            ["pemilih_muda", "keagamaan"],
            [person("Dr. Asep Nurjaman", "Ketua Pusat Studi Demokrasi", "022-7800525", "psd@uinsgd.example")]),
    partner("BEM Universitas Pasundan", "ormas_komunitas", "Lengkong", ["kepemudaan", "kampus"], ["pemilih_muda"],
            [person("Taufik Hakim", "Presiden Mahasiswa", "0813-9988-7766")],
            [channel("instagram", "@bem_unpas", 8_900)]),
    partner("Komunitas Guru Penggerak Kota Bandung", "ormas_komunitas", "Sukasari", ["pendidikan"], ["pelajar", "keluarga"],
            [person("Ibu Ratna Dewi, S.Pd.", "Koordinator", "0812-2323-4545", "gurupenggerak@guru-bandung.example")],
            [channel("whatsapp_group", "Guru Penggerak Kota Bandung", 480)]),
    # --- religion (keagamaan) ---
    partner("MUI Kota Bandung", "keagamaan", "Regol", ["keagamaan"], ["keagamaan", "umum"],
            [person("KH. Abdul Halim Sobari", "Ketua Komisi Ukhuwah", "022-5204125", "sekretariat@mui-bandung.example")],
            agreements=[mou(71, "Pemilihan damai dan tolak politik uang", "khutbah, majelis taklim")]),
    partner("PCNU Kota Bandung", "keagamaan", "Bandung Kidul", ["keagamaan"], ["keagamaan", "pemilih_muda"],
            [person("KH. Ahmad Syarif", "Sekretaris", "0812-2112-3131", "pcnu@nu-bandung.example")],
            [channel("facebook", "PCNU Kota Bandung", 12_000)]),
    partner("PD Muhammadiyah Kota Bandung", "keagamaan", "Cicendo", ["keagamaan", "pendidikan"],
            ["keagamaan", "pelajar"],
            [person("Dr. Ruslan Hakim", "Ketua Majelis Hikmah", "022-6030303", "hikmah@muhammadiyah-bandung.example")]),
    partner("Forum Kerukunan Umat Beragama Kota Bandung", "keagamaan", "Sumur Bandung", ["keagamaan", "toleransi"],
            ["keagamaan", "komunitas"],
            [person("Pdt. Markus Simanjuntak", "Wakil Ketua", "0813-2400-5050", "fkub@fkub-bandung.example")],
            agreements=[mou(72, "Pemilihan damai lintas iman", "dialog lintas iman, deklarasi damai")]),
    partner("Ikatan Remaja Masjid Pusdai", "keagamaan", "Cibeunying Kaler", ["keagamaan", "kepemudaan"],
            ["keagamaan", "pemilih_pemula", "pemilih_muda"],
            [person("Hafidz Abdurrahman", "Ketua", "0896-2222-3333")], [channel("instagram", "@iremapusdai", 7_200)]),
    partner("Komisi Kerawam Keuskupan Bandung", "keagamaan", "Sumur Bandung", ["keagamaan"], ["keagamaan", "keluarga"],
            [person("RD. Yohanes Subagyo", "Ketua Komisi", "022-4232580", "kerawam@keuskupanbandung.example")]),
    partner("PHDI Kota Bandung", "keagamaan", "Cicendo", ["keagamaan"], ["keagamaan"],
            [person("I Made Suarta", "Ketua", "0812-2070-8080")]),
    partner("Majelis Taklim Al-Hidayah Antapani", "keagamaan", "Antapani", ["keagamaan", "perempuan"],
            ["perempuan", "keagamaan", "lansia"],
            [person("Ustazah Hj. Imas Masitoh", "Ketua", "0857-2424-5353")],
            [channel("whatsapp_group", "Majelis Taklim Al-Hidayah", 210)]),
    # --- media: local radio and online media ---
    partner("Radio Komunitas Cibiru 107.7 FM", "media", "Cibiru", ["media"], ["umum", "lansia", "keluarga"],
            [person("Hendra Kurniawan", "Kepala Stasiun", "0812-2100-7077", "studio@rakom-cibiru.example")],
            [channel("radio", "107.7 FM", 20_000)], [pks(81, "Talkshow radio mingguan", "talkshow, iklan layanan")]),
    partner("Radio Swara Bandung 98.1 FM", "media", "Lengkong", ["media"], ["umum", "pemilih_muda"],
            [person("Ayu Pratiwi", "Produser Siaran", "0813-2080-9191", "produser@swarabandung.example")],
            [channel("radio", "98.1 FM", 150_000), channel("instagram", "@swarabandung", 40_000)],
            [pks(82, "Dialog interaktif Pilwalkot 2024", "talkshow, iklan layanan masyarakat")]),
    partner("Radio Kampus Unpas 93.5 FM", "media", "Lengkong", ["media", "kampus"], ["pemilih_muda"],
            [person("Galih Permana", "Station Manager", "0878-3030-4141")], [channel("radio", "93.5 FM", 12_000)]),
    partner("Kabar Cikapundung (media online)", "media", "Bandung Wetan", ["media"], ["warga_internet", "umum"],
            [person("Irfan Maulana", "Pemimpin Redaksi", "0812-2233-9090", "redaksi@kabarcikapundung.example")],
            [channel("media_online", "https://kabarcikapundung.example", 300_000),
             channel("facebook", "Kabar Cikapundung", 95_000)],
            [pks(83, "Publikasi tahapan dan cek fakta", "media online, anti hoaks")]),
    partner("Bandung Kini (portal berita)", "media", "Coblong", ["media"], ["warga_internet", "pemilih_muda"],
            [person("Sinta Maharani", "Redaktur", "0857-1010-2020", "redaksi@bandungkini.example")],
            [channel("media_online", "https://bandungkini.example", 180_000), channel("tiktok", "@bandungkini", 210_000)]),
    partner("Harian Pikiran Warga Bandung", "media", "Sumur Bandung", ["media"], ["umum", "lansia"],
            [person("Dudi Sugandi", "Redaktur Politik", "022-4218888", "politik@pikiranwarga.example")],
            [channel("media_cetak", "Harian Pikiran Warga", 60_000)]),
    partner("Televisi Lokal Bandung TV 55", "media", "Cibeunying Kidul", ["media"], ["umum", "keluarga"],
            [person("Yogi Prasetyo", "Manajer Program", "022-7207070", "program@bandungtv55.example")],
            [channel("televisi", "Bandung TV 55 UHF", 250_000)]),
    partner("Persatuan Wartawan Kota Bandung", "ormas_komunitas", "Sumur Bandung", ["media"], ["warga_internet", "umum"],
            [person("Asep Kusnadi", "Ketua", "0812-2411-3322")]),
    # --- inclusion: disability, women, the elderly, the marginalised ---
    partner("Pertuni DPC Kota Bandung", "ormas_komunitas", "Cicendo", ["disabilitas", "inklusi"], ["disabilitas"],
            [person("Yayat Ruhiyat", "Ketua", "0813-2121-4343", "pertuni@disabilitas-bandung.example")],
            agreements=[pks(91, "Sosialisasi tata cara memilih bagi tunanetra", "template braille, simulasi")]),
    partner("Gerkatin Kota Bandung", "ormas_komunitas", "Sukajadi", ["disabilitas", "inklusi"], ["disabilitas"],
            [person("Nurul Hidayah", "Ketua", "0896-4545-6767", "gerkatin@disabilitas-bandung.example")],
            [channel("instagram", "@gerkatinbdg", 3_100)]),
    partner("Persatuan Penyandang Disabilitas Indonesia Kota Bandung", "ormas_komunitas", "Batununggal",
            ["disabilitas", "inklusi"], ["disabilitas", "berkebutuhan_khusus"],
            [person("Deden Sumpena", "Sekretaris", "0812-2266-4488")]),
    partner("Koalisi Perempuan Kota Bandung", "ormas_komunitas", "Coblong", ["perempuan"], ["perempuan", "keluarga"],
            [person("Ani Rostiani", "Koordinator", "0813-2288-5599", "koalisi@perempuan-bandung.example")],
            [channel("facebook", "Koalisi Perempuan Kota Bandung", 4_600)]),
    partner("PKK Kota Bandung", "ormas_komunitas", "Sumur Bandung", ["perempuan", "keluarga"], ["perempuan", "keluarga"],
            [person("Ibu Hj. Yuyun", "Ketua Pokja I", "022-4210310")],
            [channel("jaringan_komunitas", "Kader PKK 151 kelurahan", 9_000)],
            [mou(92, "Ibu-ibu PKK sadar pemilihan", "door to door, posyandu")]),
    partner("Posyandu Lansia Mawar Gedebage", "ormas_komunitas", "Gedebage", ["kesehatan", "lansia"], ["lansia"],
            [person("Ibu Entin", "Kader", "0857-7070-8080")]),
    partner("Komunitas Peduli Pemulung Sukamiskin", "ormas_komunitas", "Arcamanik", ["sosial"], ["marjinal"],
            [person("Ahmad Fauzi", "Pendamping", "0821-9090-1010")]),
    partner("Rumah Singgah Anak Jalanan Cikapundung", "ormas_komunitas", "Sumur Bandung", ["sosial"],
            ["marjinal", "pemilih_pemula"], [person("Kang Tedi", "Pengelola", "0812-3434-5656")]),
    partner("Lapas Kelas I Sukamiskin", "lainnya", "Arcamanik", ["pemasyarakatan"], ["berkebutuhan_khusus"],
            [person("Drs. Joko Santoso", "Kepala Seksi Bimbingan Kemasyarakatan", "022-7810241")],
            notes="TPS khusus di lapas; sosialisasi untuk warga binaan."),
    # --- ad hoc bodies, kelurahan, Relawan Demokrasi ---
    partner("PPK Coblong", "badan_adhoc", "Coblong", ["penyelenggara"], ["umum"],
            [person("Taufik Rahman", "Ketua PPK", "0813-1000-2000", "ppk.coblong@kpu-bandung.example")]),
    partner("PPK Kiaracondong", "badan_adhoc", "Kiaracondong", ["penyelenggara"], ["umum"],
            [person("Rini Susanti", "Ketua PPK", "0812-3000-4000", "ppk.kiaracondong@kpu-bandung.example")]),
    partner("PPK Ujungberung", "badan_adhoc", "Ujungberung", ["penyelenggara"], ["umum"],
            [person("Dadang Suherman", "Divisi Sosdiklih", "0857-5000-6000")]),
    partner("Kelurahan Dago", "desa_kelurahan", "Coblong", ["pemerintah"], ["keluarga", "umum"],
            [person("Hj. Rosita Dewi", "Lurah", "022-2500401", "kel.dago@bandung.example")]),
    partner("Kelurahan Sukaluyu", "desa_kelurahan", "Cibeunying Kaler", ["pemerintah"], ["keluarga", "umum"],
            [person("Iwan Kurniawan", "Lurah", "022-7271100")]),
    partner("Relawan Demokrasi Basis Pemilih Pemula", "relawan", None, ["relawan demokrasi"],
            ["pemilih_pemula", "pelajar"], [person("Anisa Fitriani", "Koordinator Basis", "0895-6060-7070")]),
    partner("Relawan Demokrasi Basis Disabilitas", "relawan", None, ["relawan demokrasi", "inklusi"], ["disabilitas"],
            [person("Yoga Permana", "Koordinator Basis", "0812-8080-9090")]),
    partner("Relawan Demokrasi Basis Warga Internet", "relawan", None, ["relawan demokrasi", "literasi digital"],
            ["warga_internet", "pemilih_muda"],
            [person("Kirana Puspitasari", "Koordinator Basis", "0813-7070-6060")],
            [channel("instagram", "@relasiwarganet.bdg", 5_800), channel("tiktok", "@relasi.bdg", 14_000)]),
    partner("Relawan Demokrasi Basis Perempuan", "relawan", None, ["relawan demokrasi"], ["perempuan", "keluarga"],
            [person("Mira Sulastri", "Koordinator Basis", "0857-1313-2424")]),
    partner("Relawan Demokrasi Basis Keagamaan", "relawan", None, ["relawan demokrasi", "keagamaan"], ["keagamaan"],
            [person("Ust. Fauzan Hakim", "Koordinator Basis", "0812-1717-2828")]),
]

# A partner whose work paused, as registries have.
SUSPENDED = {"Komunitas Skateboard Taman Dago": "kepengurusan vakum sejak Agustus; menunggu pengurus baru"}


def load(console: Console, client: httpx.Client, workers: int = 4) -> list[str]:
    """Register the demo partners; returns their ids in the order above (existing ones included)."""
    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(lambda body: _register(client, body), DEMO_PARTNERS))
    for name, reason in SUSPENDED.items():
        partner_id = ids[[p["name"] for p in DEMO_PARTNERS].index(name)]
        response = client.post(f"/partners/{partner_id}/suspend", json={"reason": reason},
                               headers={"Idempotency-Key": f"demo-suspend-{partner_id}"})
        if response.status_code not in (200, 409):  # 409: suspended on an earlier load
            raise RuntimeError(f"{name}: {response.status_code} {response.text}")
    signed = sum(len(p["agreements"]) for p in DEMO_PARTNERS)
    console.print(f"demo: {len(ids)} partners of Kota Bandung ({signed} MoU/PKS)")
    return ids


def _register(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post("/partners", json=body, headers={"Idempotency-Key": f"demo-partner-{body['name']}"})
    if response.status_code == 201:
        return response.json()["id"]
    if response.status_code == 409 and "existing_id" in response.json():
        return response.json()["existing_id"]
    raise RuntimeError(f"{body['name']}: {response.status_code} {response.text}")
