"""The registry as a spreadsheet: CSV and XLSX in and out, Indonesian or English headers.

Over 400 lines on purpose: reading and writing share one table of columns, so exports import back.

One row per partner. Columns are found by name, in either language and in any case or
spacing (``Nama``, ``name``, ``Kontak 1 - No. HP``); the header may sit below a title row.
Repeated parts of a partner are numbered column groups: ``kontak1_nama``, ``kontak1_telepon``,
``kanal2_jenis``, ``perjanjian1_berakhir``... Lists (``segmen``, ``kategori``) are comma lists.
Words are matched loosely (``Pemilih Pemula`` → ``pemilih_pemula``); the domain checks the rest.
An export names every column the registry uses, so the file imports back unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.partners.domain import Partner, Status, fold
from services.partners.sheetfile import HEADER_WITHIN, Limits, Record, SheetTooLarge, Unreadable, blank, records
from shared.cells import keep_text, neutralised, protected, writable
from shared import vocabulary
from shared.gazetteer import installed
from shared.vocabulary import ChannelKind, DocType, PartnerType, Segment

__all__ = ["Limits", "SheetTooLarge", "Unreadable", "parse", "read_table", "table_csv", "to_csv", "to_xlsx"]

# Canonical name → header aliases (normalised: lower case, words joined by "_").
COLUMNS: dict[str, list[str]] = {
    "name": ["nama", "nama_mitra", "name", "partner_name", "mitra"],
    "type": ["jenis", "jenis_mitra", "tipe", "type", "partner_type"],
    "region": ["wilayah", "kode_wilayah", "region"],
    "district": ["kecamatan", "kode_kecamatan", "district"],
    # Shown by the export beside the code; read back and left alone (the code, or a name typed in
    # the kecamatan column, is what counts).
    "district_name": ["nama_kecamatan", "district_name"],
    "village": ["kelurahan", "desa", "kelurahan_desa", "desa_kelurahan", "kode_kelurahan", "kode_desa", "village"],
    "village_name": ["nama_kelurahan", "nama_desa", "village_name"],  # like district_name: shown, not read
    "categories": ["kategori", "categories", "category", "tag"],
    "segments": ["segmen", "segmen_pemilih", "sasaran", "segments", "segment"],
    "status": ["status"],
    "status_reason": ["alasan_status", "status_reason"],
    "notes": ["catatan", "keterangan", "notes"],
}
# A group: its prefixes, then each field's aliases. First alias = the Indonesian export header.
GROUPS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "contacts": (["kontak", "contact", "narahubung"], {
        "name": ["nama", "name"],
        "role": ["jabatan", "peran", "role"],
        "phone": ["telepon", "telp", "hp", "no_hp", "nomor_hp", "no_telepon", "whatsapp", "wa", "phone"],
        "email": ["email", "e_mail", "surel"],
    }),
    "channels": (["kanal", "channel", "saluran"], {
        "kind": ["jenis", "kind", "type"],
        "handle_or_url": ["akun", "alamat", "tautan", "url", "handle", "handle_or_url"],
        "audience_size": ["jangkauan", "pengikut", "audiens", "audience", "audience_size"],
    }),
    "agreements": (["perjanjian", "agreement", "dokumen"], {
        "doc_type": ["jenis", "doc_type", "type"],
        "number": ["nomor", "no", "number"],
        "title": ["judul", "perihal", "title"],
        "valid_from": ["mulai", "berlaku_mulai", "tanggal_mulai", "valid_from"],
        "valid_until": ["berakhir", "berlaku_sampai", "tanggal_berakhir", "valid_until"],
        "scope": ["lingkup", "ruang_lingkup", "scope"],
    }),
}
# Headers a simple sheet uses for its one contact, without a "kontak" prefix.
BARE_CONTACT = {"kontak": "name", "narahubung": "name", "contact_person": "name", "jabatan": "role", "telepon": "phone", "telp": "phone", "no_hp": "phone",
                "hp": "phone", "nomor_hp": "phone", "no_telepon": "phone", "email": "email", "e_mail": "email"}
# The column that numbers rows in reports (the CLI sends the original row numbers in it).
ROW_COLUMN = ("baris", "row")

ENGLISH = {"contacts": "contact", "channels": "channel", "agreements": "agreement"}
EXPORT_HEADERS = {
    "id": {"name": "nama", "type": "jenis", "region": "wilayah", "district": "kecamatan",
           "district_name": "nama_kecamatan", "village": "kelurahan", "village_name": "nama_kelurahan",
           "categories": "kategori",
           "segments": "segmen", "status": "status", "status_reason": "alasan_status", "notes": "catatan"},
    "en": {key: key for key in COLUMNS},
}

# The vocabulary kind of each enumerated column; its words are read as the JSON APIs read them.
VOCABULARY = {"type": "partner_type", "segments": "segment", "channels.kind": "channel_kind",
              "agreements.doc_type": "doc_type", "status": "partner_status"}
ENUMS = {"type": PartnerType, "segments": Segment, "channels.kind": ChannelKind, "agreements.doc_type": DocType,
         "status": Status}
LIST_SPLIT = re.compile(r"[,;\n]")
DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


@dataclass
class Row:
    """One data row: its number in the file, the values found, and where each came from."""

    number: int
    values: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def label(self, name: str) -> str:
        """The file's header for a field path (``contacts[0].email`` → ``Kontak1 Email``)."""
        if name in self.labels:
            return self.labels[name]
        base = re.sub(r"\[\d+\]$", "", name)
        return self.labels.get(base, name)


@dataclass
class Table:
    """Raw cells: the header row and the data rows, each with its row number in the file."""

    header_number: int
    header: list[Any]
    rows: list[tuple[int, list[Any]]]


@dataclass
class Sheet:
    rows: list[Row]
    ignored_columns: list[str]


# --- reading -------------------------------------------------------------------------------


def normalise(text: Any) -> str:
    return re.sub(r"[^0-9a-z]+", "_", fold(str(text or ""))).strip("_")


def read_table(content: bytes, limits: Limits = Limits()) -> Table:
    """Cells of the first sheet of an XLSX, or of a CSV (UTF-8 or Windows-1252; , ; or tab).

    Rows are streamed and counted as they come, so a file over ``limits`` is refused having
    read at most the rows it may hold (a 1,000,000-row CSV took 25 s and 3.8 GB, issue 11).
    Without limits (the CLI reading the operator's own file) any number of rows is read.
    """
    rows = records(content, limits, _partner_sheet)
    with closing(rows):
        for row in rows:
            if row.number > HEADER_WITHIN:
                break
            if {normalise(cell) for cell in row.cells} & set(COLUMNS["name"]):
                header = row.cells + [None] * (row.width - len(row.cells))
                return Table(row.number, header, _data_rows(rows, limits))
    raise Unreadable(f"no header row with a 'nama' (or 'name') column in the first {HEADER_WITHIN} rows")


def _partner_sheet(names: list[str]) -> str:
    """The sheet of a workbook an import reads: one named Mitra (or Partners), else the first."""
    by_name = {normalise(name): name for name in names}
    return by_name.get("mitra") or by_name.get("partners") or names[0]


def _data_rows(records: Iterator[Record], limits: Limits) -> list[tuple[int, list[Any]]]:
    rows = []
    for row in records:
        if not row.cells:
            continue
        if limits.rows is not None and len(rows) >= limits.rows:
            raise limits.too_many_rows(f"the file has more than {limits.rows:,} rows below its header")
        rows.append((row.number, row.cells))
    return rows


def parse(content: bytes, limits: Limits = Limits()) -> Sheet:
    """Read a whole upload into rows of values for the registry."""
    table = read_table(content, limits)
    columns, ignored, row_column = _map_header(table.header)
    rows = []
    for number, cells in table.rows:
        if row_column is not None and row_column < len(cells) and str(cells[row_column] or "").strip().isdigit():
            number = int(str(cells[row_column]).strip())
        row = _row(number, cells, columns)
        extra = [c for c in cells[len(table.header):] if not blank(c)]
        if extra:
            row.errors.append(("row", f"has {len(table.header) + len(extra)} cells but the header names "
                                      f"{len(table.header)} columns; a comma inside a cell needs quotes"))
        rows.append(row)
    return Sheet(rows, ignored)


@dataclass(frozen=True)
class _Column:
    index: int
    header: str
    key: str  # "name", or "contacts.email"
    group_number: int = 0


def _map_header(header: list[Any]) -> tuple[list[_Column], list[str], int | None]:
    columns: list[_Column] = []
    ignored: list[str] = []
    row_column = None
    top = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}
    for index, cell in enumerate(header):
        if blank(cell):
            continue
        label, name = str(cell).strip(), normalise(cell)
        if name in ROW_COLUMN and row_column is None:
            row_column = index
        elif name in top:
            columns.append(_Column(index, label, top[name]))
        elif (found := _group_column(name)) is not None:
            group, number, part = found
            columns.append(_Column(index, label, f"{group}.{part}", number))
        elif name in BARE_CONTACT:
            columns.append(_Column(index, label, f"contacts.{BARE_CONTACT[name]}", 1))
        else:
            ignored.append(label)
    return columns, ignored, row_column


def _group_column(name: str) -> tuple[str, int, str] | None:
    for group, (prefixes, parts) in GROUPS.items():
        for part, aliases in parts.items():
            for prefix in prefixes:
                for alias in aliases:
                    # kontak1_nama, kontak_1_nama, kontak_nama, nama_kontak, nama_kontak_2
                    for pattern in (rf"^{prefix}_?(\d*)_{alias}$", rf"^{alias}_{prefix}_?(\d*)$"):
                        match = re.match(pattern, name)
                        if match:
                            return group, int(match.group(1) or 1), part
    return None


def _row(number: int, cells: list[Any], columns: list[_Column]) -> Row:
    row = Row(number, {})
    items: dict[str, dict[int, dict[str, Any]]] = {}
    item_labels: dict[str, dict[int, dict[str, str]]] = {}
    for column in columns:
        cell = cells[column.index] if column.index < len(cells) else None
        if column.group_number:
            group, part = column.key.split(".")
            items.setdefault(group, {}).setdefault(column.group_number, {})[part] = cell
            item_labels.setdefault(group, {}).setdefault(column.group_number, {})[part] = column.header
        else:
            row.labels[column.key] = column.header
            row.values[column.key] = _cell(column.key, cell, column.key, row)
    for group, numbered in items.items():
        row.values[group] = []
        for n in sorted(numbered):
            if all(blank(v) for v in numbered[n].values()):
                continue
            at = f"{group}[{len(row.values[group])}]"
            for part, header in item_labels[group][n].items():
                row.labels[f"{at}.{part}"] = header
            row.values[group].append(
                {part: _cell(f"{group}.{part}", value, f"{at}.{part}", row) for part, value in numbered[n].items()})
    return row


def _cell(kind: str, value: Any, at: str, row: Row) -> Any:
    """One cell as the domain expects it; a cell that cannot be read becomes a row error."""
    if blank(value):
        return [] if kind in ("categories", "segments") else None
    if kind in ("categories", "segments"):
        parts = [p.strip() for p in LIST_SPLIT.split(str(value)) if p.strip()]
        return [_word(kind, p) for p in parts] if kind == "segments" else parts
    if kind in ENUMS:
        return _word(kind, value)
    if kind == "channels.audience_size":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
        digits = re.sub(r"[.,\s]", "", str(value))
        if not digits.isdigit():
            row.errors.append((at, f"{value!r} is not a number"))
        return int(digits) if digits.isdigit() else None
    if kind in ("agreements.valid_from", "agreements.valid_until"):
        return _date(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone number typed into a number cell
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).strip()


def _word(kind: str, value: Any) -> str:
    """The enumerated value an office's word stands for; else the word as written, for the error."""
    found = vocabulary.code(VOCABULARY[kind], str(value), [str(c) for c in ENUMS[kind]])
    return str(found) if found is not None else str(value).strip()


def _date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    match = DMY.match(text)
    if match:  # 27/11/2024, the way an Indonesian office writes a date
        day, month, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day)
        except ValueError:
            return text
    return text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}([ T].*)?$", text) else text


# --- writing -------------------------------------------------------------------------------


def header(partners: list[Partner], lang: str = "id") -> list[tuple[str, str]]:
    """(key, header) of every column the export needs: base columns, then numbered groups."""
    base = [(key, EXPORT_HEADERS[lang][key]) for key in COLUMNS]
    counts = {"contacts": 1, "channels": 1, "agreements": 1}
    for partner in partners:
        for group in counts:
            counts[group] = max(counts[group], len(getattr(partner, group)))
    columns = list(base)
    for group, count in counts.items():
        prefixes, parts = GROUPS[group]
        prefix = prefixes[0] if lang == "id" else ENGLISH[group]
        for n in range(1, count + 1):
            for part, aliases in parts.items():
                columns.append((f"{group}.{n}.{part}", f"{prefix}{n}_{aliases[0] if lang == 'id' else part}"))
    return columns


def cells(partner: Partner, columns: list[tuple[str, str]]) -> list[Any]:
    reason = partner.status_history[-1].reason if partner.status is not Status.active and partner.status_history else None
    base = {
        "name": partner.name, "type": partner.type.value, "region": partner.region, "district": partner.district,
        "district_name": installed(partner.region).name_of(partner.district),
        "village": partner.village, "village_name": installed(partner.region).name_of(partner.village),
        "categories": ", ".join(partner.categories), "segments": ", ".join(s.value for s in partner.segments),
        "status": partner.status.value, "status_reason": reason, "notes": partner.notes,
    }
    out: list[Any] = []
    for key, _ in columns:
        if key in base:
            out.append(base[key])
            continue
        group, n, part = key.split(".")
        items = getattr(partner, group)
        value = getattr(items[int(n) - 1], part) if int(n) <= len(items) else None
        out.append(value.value if hasattr(value, "value") else value)
    return out


def to_csv(partners: list[Partner], lang: str = "id") -> bytes:
    columns = header(partners, lang)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([h for _, h in columns])
    for partner in partners:
        writer.writerow([neutralised(_as_text(c)) for c in cells(partner, columns)])
    # With a BOM, Excel opens UTF-8 text as UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(partners: list[Partner], lang: str = "id", region: str = "") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    columns = header(partners, lang)
    book = Workbook()
    sheet = book.active
    sheet.title = "Mitra" if lang == "id" else "Partners"
    _write_row(sheet, 1, [h for _, h in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "B2"
    rows = [cells(partner, columns) for partner in partners]
    for number, row in enumerate(rows, start=2):
        _write_row(sheet, number, row)
    for index, (key, title) in enumerate(columns):
        longest = max([len(title)] + [len(str(row[index] or "")) for row in rows[:200]])
        letter = sheet.cell(1, index + 1).column_letter
        sheet.column_dimensions[letter].width = min(longest + 2, 50)
        text = key.endswith(("phone", "number")) or key in ("district", "village", "region")
        day = key.endswith(("valid_from", "valid_until"))
        if text or day:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index + 1, max_col=index + 1):
                # Text keeps +62 and leading zeros; dates show as dates.
                cell.number_format = "@" if text else "yyyy-mm-dd"
    guide = book.create_sheet("Petunjuk" if lang == "id" else "Guide")
    _write_row(guide, 1, ["kolom" if lang == "id" else "column", "nilai yang diterima" if lang == "id" else "accepted values"])
    for number, (title, values) in enumerate(_guide(lang, region), start=2):
        _write_row(guide, number, [title, values])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _guide(lang: str, region: str) -> Iterator[tuple[str, str]]:
    names = EXPORT_HEADERS[lang]
    yield names["type"], ", ".join(PartnerType)
    yield names["segments"], ", ".join(Segment) + (" (dipisah koma)" if lang == "id" else " (comma separated)")
    yield names["status"], ", ".join(Status)
    yield names["district"], (f"kode kecamatan ({region}.02) atau nama (Coblong, Kec. Coblong)" if lang == "id"
                              else f"kecamatan code ({region}.02) or name (Coblong, Kec. Coblong)")
    yield names["district_name"], ("diisi saat ekspor; tidak dibaca saat impor" if lang == "id"
                                   else "filled in by the export; not read by an import")
    yield names["village"], (f"kode kelurahan/desa ({region}.02.1004) atau nama (Dago, Kel. Dago), di kecamatannya"
                             if lang == "id" else
                             f"desa/kelurahan code ({region}.02.1004) or name (Dago, Kel. Dago), within its kecamatan")
    yield names["village_name"], ("diisi saat ekspor; tidak dibaca saat impor" if lang == "id"
                                  else "filled in by the export; not read by an import")
    yield ("kanalN_jenis" if lang == "id" else "channelN_kind"), ", ".join(ChannelKind)
    yield ("perjanjianN_jenis" if lang == "id" else "agreementN_doc_type"), ", ".join(DocType)
    yield ("perjanjianN_mulai / _berakhir" if lang == "id" else "agreementN_valid_from / _valid_until"), "2024-11-27"


def table_csv(header: list[Any], rows: list[tuple[int, list[Any]]]) -> bytes:
    """Rows of a sheet as CSV, each with its row number in the file in a ``baris`` column.

    The CLI uploads a large sheet in such chunks, so the progress bar moves and every error
    still names the row of the operator's file.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([ROW_COLUMN[0], *(neutralised(_as_text(h)) for h in header)])
    for number, values in rows:
        writer.writerow([number, *(neutralised(_as_text(v)) for v in values)])
    return buffer.getvalue().encode("utf-8")


def _write_row(sheet: Any, number: int, values: list[Any]) -> None:
    """One row of an XLSX export: text is always a text cell, never a formula (openpyxl makes
    any string starting with "=" one, and "#N/A" an error), whatever a partner's name says."""
    for column, value in enumerate(values, start=1):
        if value is None:
            continue
        keep_text(sheet.cell(row=number, column=column,
                             value=writable(protected(value)) if isinstance(value, str) else value))


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
