"""The period report: a *laporan kegiatan sosialisasi* as XLSX (openpyxl) or CSV.

XLSX: a summary sheet (``Ringkasan``: the header of the report, totals, a table per segment
and per format, the gaps) and one row per activity (``Kegiatan``). CSV: the activity rows
alone. The summary adds up the same stored coverage facts that ``GET /stats/coverage`` adds
up in the database (read along with the rows, in the same scan), so the two agree for the
same election and period.

Titles, names and notes are what users typed, so no cell is ever a formula: XLSX text cells
are written as text (openpyxl makes any string starting with "=" a formula), and a CSV cell
starting with a formula character gets a leading apostrophe (docs/security.md, "Uploads and
exports"; issue 11).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from services.activities import coverage
from services.activities.domain import Activity, Status, Targets
from services.activities.elections import Election
from services.activities.fields import places
from services.activities.invitations import ANSWERS
from shared.gazetteer import Places
from shared.cells import keep_text, neutralised, writable
from shared.vocabulary import label

COLUMNS = [
    ("No", 5), ("Tanggal", 11), ("Mulai", 17), ("Selesai", 17), ("Judul kegiatan", 45), ("Jenis", 18),
    ("Metode", 14), ("Bentuk kegiatan", 22), ("Tahapan", 22), ("Program", 25), ("Topik", 35), ("Segmen sasaran", 35),
    ("Mitra (peran)", 45), ("Narasumber", 35), ("Kecamatan", 11), ("Nama kecamatan", 18),
    ("Kelurahan/desa", 15), ("Nama kelurahan/desa", 20), ("Tempat", 30),
    ("Tautan daring", 30), ("Status", 14), ("Peserta", 9), ("Perempuan", 10), ("Disabilitas", 10),
    ("Peserta per segmen", 40), ("Jangkauan", 11), ("Rencana jangkauan", 11),
    ("Konfirmasi hadir", 11), ("Konfirmasi tidak hadir", 11), ("Konfirmasi diwakilkan", 11), ("Dokumentasi", 40),
    ("Catatan", 40), ("Alasan pembatalan", 30), ("ID", 28),
]
# Where each total sits on the summary sheet: the label in column A, the figure in column B.
TOTAL_LABELS = {
    "activities": "Jumlah kegiatan",
    "attendance": "Jumlah peserta",
    "women": "Peserta perempuan",
    "disabled": "Peserta penyandang disabilitas",
    "reach": "Jangkauan",
}
BOLD = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


@dataclass(frozen=True)
class ReportContext:
    region: str
    region_name: str
    election: Election
    period_text: str
    prepared_on: date
    targets: Targets | None


def rows(activities: list[Activity], partner_names: dict[str, str], zone: ZoneInfo,
         confirmations: dict[str, dict[str, int]] | None = None) -> list[list[Any]]:
    """One row per activity, in the order of :data:`COLUMNS`. ``confirmations``: per activity, how
    many invited contacts answered each way (``invitations.counts``); an activity no contact has
    answered for shows empty cells (it may have invited nobody)."""
    out = []
    for n, a in enumerate(activities, start=1):
        answered = (confirmations or {}).get(a.id)
        outcome = a.outcome
        location = a.location
        counts = outcome.attendance_by_segment.items() if outcome else []
        by_segment = "; ".join(f"{label(s, 'segment')}: {c}" for s, c in counts)
        out.append([
            n,
            a.starts_at.astimezone(zone).date().isoformat() if a.starts_at else "",
            local_time(a.starts_at, zone),
            local_time(a.ends_at, zone),
            a.title,
            label(a.kind, "kind"),
            label(a.method, "method"),
            label(a.format, "format"),
            label(a.stage, "stage"),
            a.programme or "",
            ", ".join(label(t, "topic") for t in a.topics),
            ", ".join(label(s, "segment") for s in a.segments),
            "; ".join(f"{partner_names.get(p.partner_id, p.partner_id)} ({label(p.role, 'role')})"
                      for p in a.partners),
            "; ".join(f"{s.name}" + (f" ({s.affiliation})" if s.affiliation else "") for s in a.speakers),
            (location.district or "") if location else "",
            (places(a.region).name_of(location.district) or "") if location else "",
            (location.village or "") if location else "",
            (places(a.region).name_of(location.village) or "") if location else "",
            (location.venue or "") if location else "",
            (location.online_url or "") if location else "",
            label(a.status, "activity_status"),
            outcome.attendance_total if outcome else None,
            outcome.women if outcome else None,
            outcome.disabled if outcome else None,
            by_segment,
            outcome.reach if outcome else None,
            a.planned_reach,
            *((answered.get(answer, 0) for answer in ANSWERS) if answered else (None for _ in ANSWERS)),
            "\n".join(outcome.documentation_urls) if outcome else "",
            (outcome.notes or "") if outcome else "",
            a.cancel_reason or "",
            a.id,
        ])
    return out


def local_time(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def to_csv(table: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([name for name, _ in COLUMNS])
    for row in table:
        writer.writerow(["" if v is None else neutralised(v) if isinstance(v, str) else v for v in row])
    # With a BOM, spreadsheet programs open the UTF-8 text as UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(context: ReportContext, table: list[list[Any]], cube: coverage.Cube) -> bytes:
    book = Workbook()
    summary = book.active
    summary.title = "Ringkasan"
    _summary(summary, context, cube)
    for cells in summary.iter_rows():  # a few dozen rows; the region's and election's names are among them
        for cell in cells:
            keep_text(cell)
    sheet = book.create_sheet("Kegiatan")
    sheet.append([name for name, _ in COLUMNS])
    for cell in sheet[1]:
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, (_, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    for number, row in enumerate(table, start=2):
        for column, value in enumerate(row, start=1):
            if value is not None:
                keep_text(sheet.cell(row=number, column=column, value=writable(value)))
    sheet.freeze_panes = "E2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(table) + 1}"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _summary(sheet: Any, context: ReportContext, cube: coverage.Cube) -> None:
    election, targets = context.election, context.targets
    totals = coverage.total(cube)
    sheet.column_dimensions["A"].width = 36
    for col in "BCDEFGH":
        sheet.column_dimensions[col].width = 14
    sheet.append(["LAPORAN KEGIATAN SOSIALISASI DAN PENDIDIKAN PEMILIH"])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([f"KPU {context.region_name} ({context.region})"])
    voting_day = targets.voting_day if targets else election.voting_day
    day = f"hari pemungutan suara {voting_day.isoformat()}" if voting_day else "tanpa hari pemungutan suara"
    sheet.append([f"Pemilihan: {election.name}; {day}"])
    sheet.append([f"Periode: {context.period_text}"])
    sheet.append([f"Disusun: {context.prepared_on.isoformat()}"])
    sheet.append([])

    _heading(sheet, ["Rekapitulasi", "Jumlah"])
    by_status = totals.by_status
    sheet.append([TOTAL_LABELS["activities"], totals.activities])
    for status in Status:
        sheet.append([f"  {label(status, 'activity_status')}", by_status[status.value]])
    for metric in ("attendance", "women", "disabled", "reach"):
        sheet.append([TOTAL_LABELS[metric], getattr(totals, metric)])
    if targets is not None:
        sheet.append(["Target jangkauan", targets.reach_target])
        sheet.append(["Target partisipasi pemilih (%)", targets.participation_target_pct])
    else:
        sheet.append(["Target partisipasi pemilih nasional (%)", election.national_target_pct])
    sheet.append([])

    wanted = targets.segment_targets if targets else {}
    _heading(sheet, ["Per segmen pemilih", "Target kegiatan", "Kegiatan", "Terlaksana", "Peserta segmen",
                     "Capaian target (%)"])
    segments = dict(cube["segment"])
    for key in wanted:
        segments.setdefault(key, coverage.Tally())
    for key in sorted(k for k in segments if k):
        tally = segments[key]
        target = wanted.get(key)
        progress = round(tally.held * 100 / target, 1) if target else None
        sheet.append([label(key, "segment"), target, tally.activities, tally.held, tally.attendance, progress])
    sheet.append([])

    _heading(sheet, ["Per bentuk kegiatan", "Kegiatan", "Terlaksana", "Peserta", "Perempuan", "Disabilitas",
                     "Jangkauan"])
    for key in sorted(k for k in cube["format"] if k):
        tally = cube["format"][key]
        sheet.append([label(key, "format"), tally.activities, tally.held, tally.attendance, tally.women, tally.disabled,
                      tally.reach])
    sheet.append(["Jumlah", totals.activities, totals.held, totals.attendance, totals.women, totals.disabled,
                  totals.reach])
    sheet.cell(sheet.max_row, 1).font = BOLD
    sheet.append([])

    _districts(sheet, targets, cube, places(context.region))

    _heading(sheet, ["Celah cakupan", ""])
    missing_segments = coverage.missing(wanted, cube, "segment")
    missing_districts = coverage.missing(targets.district_targets if targets else {}, cube, "district")
    sheet.append(["Segmen sasaran tanpa kegiatan terlaksana",
                  ", ".join(label(s, "segment") for s in missing_segments) or "-"])
    names = places(context.region)
    sheet.append(["Kecamatan sasaran tanpa kegiatan terlaksana",
                  ", ".join(names.label(d) for d in missing_districts) or "-"])
    sheet.append(["Hari menuju pemungutan suara", (voting_day - context.prepared_on).days if voting_day else "-"])


def _districts(sheet: Any, targets: Targets | None, cube: coverage.Cube, names: Places) -> None:
    """Per kecamatan, by code and name: the targeted ones and those where anything was done."""
    wanted = targets.district_targets if targets else {}
    districts = dict(cube["district"])
    for key in wanted:
        districts.setdefault(key, coverage.Tally())
    if not any(districts):
        return
    _heading(sheet, ["Per kecamatan", "Nama kecamatan", "Target kegiatan", "Kegiatan", "Terlaksana", "Peserta",
                     "Capaian target (%)"])
    for key in sorted(k for k in districts if k):
        tally = districts[key]
        target = wanted.get(key)
        progress = round(tally.held * 100 / target, 1) if target else None
        sheet.append([key, names.name_of(key) or "", target, tally.activities, tally.held, tally.attendance,
                      progress])
    sheet.append([])


def _heading(sheet: Any, values: list[str]) -> None:
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        cell.font, cell.fill = BOLD, HEADER_FILL
