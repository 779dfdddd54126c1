"""What the console's pages say, in Bahasa Indonesia first and English.

``say(key, language)`` reads one; the services' own refusals are shown as they come, with the
common validation messages put in the page's language (:func:`message`).
"""

from __future__ import annotations

LANGUAGES = ("id", "en")

TEXTS: dict[str, tuple[str, str]] = {
    "app": ("Konsol Sinergi", "Sinergi console"),
    "home": ("Beranda", "Home"),
    "partners": ("Mitra", "Partners"),
    "activities": ("Kegiatan", "Activities"),
    "inbox": ("Notifikasi", "Notifications"),
    "settings": ("Pengaturan", "Settings"),
    "login": ("Masuk", "Sign in"),
    "logout": ("Keluar", "Sign out"),
    "logout_all": ("Keluar dari semua perangkat", "Sign out everywhere"),
    "email": ("Surel", "E-mail"),
    "password": ("Kata sandi", "Password"),
    "name": ("Nama", "Name"),
    "display_name": ("Nama tampilan", "Display name"),
    "role": ("Peran", "Role"),
    "regions": ("Wilayah", "Regions"),
    "status": ("Status", "Status"),
    "save": ("Simpan", "Save"),
    "search": ("Cari", "Search"),
    "register_partner": ("Daftarkan mitra", "Register a partner"),
    "edit": ("Ubah", "Edit"),
    "type": ("Jenis", "Type"),
    "district": ("Kecamatan", "District"),
    "segments": ("Segmen", "Segments"),
    "contacts": ("Kontak", "Contacts"),
    "channels": ("Kanal", "Channels"),
    "agreements": ("Perjanjian", "Agreements"),
    "valid": ("Berlaku", "Valid"),
    "history": ("Riwayat status", "Status history"),
    "notes": ("Catatan", "Notes"),
    "reason": ("Alasan", "Reason"),
    "suspend": ("Bekukan", "Suspend"),
    "reactivate": ("Aktifkan kembali", "Reactivate"),
    "archive": ("Arsipkan", "Archive"),
    "export": ("Unduh (XLSX)", "Export (XLSX)"),
    "import": ("Impor berkas", "Import a file"),
    "file": ("Berkas (CSV/XLSX)", "File (CSV/XLSX)"),
    "row": ("Baris", "Row"),
    "plan_activity": ("Rencanakan kegiatan", "Plan an activity"),
    "title": ("Judul", "Title"),
    "kind": ("Jenis kegiatan", "Kind"),
    "method": ("Metode", "Method"),
    "format": ("Bentuk", "Format"),
    "election": ("Pemilihan", "Election"),
    "starts_at": ("Mulai", "Starts"),
    "ends_at": ("Selesai", "Ends"),
    "venue": ("Tempat", "Venue"),
    "schedule": ("Jadwalkan", "Schedule"),
    "hold": ("Tandai terlaksana", "Mark as held"),
    "report": ("Laporkan hasil", "Report the outcome"),
    "cancel": ("Batalkan", "Cancel"),
    "attendance_total": ("Jumlah peserta", "Attendance"),
    "women": ("Perempuan", "Women"),
    "disabled": ("Penyandang disabilitas", "People with disabilities"),
    "reach": ("Jangkauan", "Reach"),
    "planned_reach": ("Rencana jangkauan", "Planned reach"),
    "list": ("Daftar", "List"),
    "week": ("Minggu", "Week"),
    "month": ("Bulan", "Month"),
    "previous": ("Sebelumnya", "Previous"),
    "next": ("Berikutnya", "Next"),
    "more": ("Lebih banyak", "More"),
    "unread": ("belum dibaca", "unread"),
    "mark_read": ("Tandai dibaca", "Mark read"),
    "mark_all_read": ("Tandai semua dibaca", "Mark all read"),
    "no_items": ("Belum ada.", "None yet."),
    "days_to_voting": ("hari menuju hari pemungutan suara", "days to voting day"),
    "participation_target": ("Target partisipasi", "Participation target"),
    "coverage": ("Cakupan segmen", "Segment coverage"),
    "gaps": ("Kesenjangan", "Gaps"),
    "this_week": ("Kegiatan minggu ini", "This week's activities"),
    "overdue": ("Laporan terlambat", "Reports overdue"),
    "users": ("Pengguna", "Users"),
    "add_user": ("Tambah pengguna", "Add a user"),
    "invite": ("Undang lewat surel", "Invite by e-mail"),
    "invited": ("Undangan terkirim ke", "Invitation sent to"),
    "disable": ("Nonaktifkan", "Disable"),
    "enable": ("Aktifkan", "Enable"),
    "active": ("Aktif", "Active"),
    "inactive": ("Nonaktif", "Disabled"),
    "recipients": ("Penerima notifikasi", "Recipients"),
    "deliveries": ("Pengiriman", "Deliveries"),
    "retry": ("Kirim ulang", "Retry"),
    "targets": ("Target", "Targets"),
    "set_password": ("Buat kata sandi", "Set your password"),
    "language": ("Bahasa", "Language"),
    "forbidden": ("Halaman ini hanya untuk admin.", "This page is for admins only."),
    "not_found": ("Tidak ditemukan.", "Not found."),
    "conflict": ("Data ini telah diubah orang lain. Periksa versi terbaru di bawah, lalu simpan lagi.",
                 "Someone else changed this meanwhile. Check the current version below, then save again."),
    "warnings": ("Peringatan", "Warnings"),
    "main_menu": ("Menu utama", "Main menu"),
    "skip": ("Lompat ke isi", "Skip to content"),
    "signed_in_as": ("Masuk sebagai", "Signed in as"),
    "all": ("Semua", "All"),
    "partner": ("Mitra", "Partner"),
    "when": ("Waktu", "When"),
    "done": ("Tersimpan.", "Saved."),
    "login_failed": ("Surel atau kata sandi salah, atau akun dinonaktifkan.",
                     "Wrong e-mail or password, or the account is disabled."),
    "too_many": ("Terlalu banyak percobaan gagal. Coba lagi nanti.", "Too many failed attempts. Try again later."),
    "csrf": ("Formulir kedaluwarsa; muat ulang halaman dan coba lagi.",
             "The form has expired; reload the page and try again."),
    "service_down": ("Layanan tidak menjawab; coba sebentar lagi.", "A service does not answer; try again shortly."),
}

# The validation messages pydantic and the services use most, in Bahasa Indonesia.
MESSAGES_ID = {
    "Field required": "Wajib diisi",
    "field required": "Wajib diisi",
    "String should have at least 1 character": "Wajib diisi",
    "Input should be a valid integer, unable to parse string as an integer": "Harus bilangan bulat",
    "Input should be greater than or equal to 0": "Tidak boleh negatif",
    "Input should be a valid datetime": "Tanggal dan jam tidak valid",
    "Extra inputs are not permitted": "Isian ini tidak dikenal",
}


def say(key: str, language: str = "id") -> str:
    pair = TEXTS.get(key)
    if pair is None:
        return key
    return pair[1] if language == "en" else pair[0]


def message(text: str, language: str = "id") -> str:
    if language == "en":
        return text
    for english, indonesian in MESSAGES_ID.items():
        if text.startswith(english):
            return indonesian + text[len(english):]
    return text
