"""A spreadsheet file as rows of cells: the bounds an upload must keep, its rows as read, and
the apostrophe that keeps a text cell from being a formula (docs/security.md, "Uploads and exports").

An XLSX file is a zip archive of XML parts. 1 MB of it unpacked to a 150 MB sheet, which the
service parsed whole: 2.2 GB of memory and 52 s before it answered (issue 11). So before
openpyxl opens a workbook, its parts are counted, each part's declared size and compression
ratio and their sum are checked, and then every part is read through in chunks, counting
what really comes out — a declared size can lie (zipfile stops there, and the CRC check then
fails) — and, in each worksheet, the rows that hold a value: a file of too many rows is
refused without one cell being parsed (openpyxl takes about a second per thousand rows).
Rows are then streamed (openpyxl's read-only mode, the csv module), each checked as it comes.
"""

from __future__ import annotations

import csv
import io
import re
import struct
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shared.cells import unescaped
from shared.errors import TooLarge

# The header is looked for in this many first rows (a title and a blank line may sit above it).
HEADER_WITHIN = 20
# What a file may be, whatever the settings say:
MAX_COLUMNS = 1_000  # cells in one row (a cell at column XFD made openpyxl build a row of 16,384)
MAX_ROW_NUMBER = 1_048_576  # Excel's last row; openpyxl walks to any r="…" a sheet claims, one empty row at a time
MAX_PARTS = 1_000  # parts of a workbook (a workbook has a dozen; zipfile spends ~500 bytes on each)
MAX_RATIO = 100  # unpacked / packed, for a part over RATIO_FROM bytes (sheets from Excel or openpyxl: 5–20)
RATIO_FROM = 1 << 20
CHUNK = 1 << 20
# The end of a row, or the start of a cell's value (<v>) or inline string (<is>), with or without a
# namespace prefix (<x:row> from the .NET SDK).
MARK = re.compile(rb"</(?:[\w.-]+:)?row>|<(?:[\w.-]+:)?(?:v|is)[\s>]")
# A row's number (<row r="5000000" …>): one past Excel's last row is refused before openpyxl
# walks to it one empty row at a time (a million rows: 9 s on a loaded machine).
ROW_NUMBER = re.compile(rb'<(?:[\w.-]+:)?row\s[^>]*?\br="(\d+)"')
OVERLAP = 256  # bytes carried from one chunk to the next, so a mark or row tag cut in two is still seen
WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$")
END_OF_DIRECTORY = b"PK\x05\x06"
# A text cell starting with one of these is a formula (or starts one) for a spreadsheet program
# opening the CSV: it is written after an apostrophe, the usual neutraliser, and read back
# without it (a phone +62…, a name =HYPERLINK(…) survive the round trip).


class Unreadable(Exception):
    """The file as a whole cannot be read (not a sheet, no name column, a damaged archive...)."""


class SheetTooLarge(Unreadable, TooLarge):
    """The file is over one of the limits: 413 with ``limit`` and ``maximum`` (and the ``setting``
    that moves it, where one does)."""


@dataclass(frozen=True)
class Limits:
    """Bounds of one upload; ``None`` is no bound (a file read on the operator's own machine)."""

    rows: int | None = None  # data rows below the header (blank ones not counted)
    unpacked_bytes: int | None = None  # all parts of an XLSX together, unpacked

    def too_many_rows(self, detail: str) -> SheetTooLarge:
        return SheetTooLarge(f"{detail}; split the file (the bound is SINERGI_IMPORT_MAX_ROWS)", limit="rows",
                             maximum=self.rows, setting="SINERGI_IMPORT_MAX_ROWS")


def blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def records(content: bytes, limits: Limits, pick: Callable[[list[str]], str]) -> Iterator[Record]:
    """The rows of a CSV, or of the sheet ``pick`` chooses among a workbook's sheet names."""
    if content.startswith(b"PK\x03\x04"):
        return _xlsx_records(content, limits, pick)
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise Unreadable("this is an old .xls workbook; save it as .xlsx or .csv and upload again")
    return _csv_records(content)


@dataclass(frozen=True)
class Record:
    """A row as read: its number in the file, its cells up to the last one not blank (text
    without the apostrophe an export put before a formula), and how many cells it spans
    with the blank ones after them (at most MAX_COLUMNS): a header's width says which cells
    of a data row are beyond it."""

    number: int
    cells: list[Any]
    width: int


def _record(number: int, cells: Sequence[Any]) -> Record:
    if number > MAX_ROW_NUMBER:
        raise _past_last_row()
    end = len(cells)
    while end and blank(cells[end - 1]):
        end -= 1
    if end > MAX_COLUMNS:
        raise SheetTooLarge(f"row {number} has {end:,} columns; a partner sheet has at most {MAX_COLUMNS:,}",
                            limit="columns", maximum=MAX_COLUMNS)
    return Record(number, [unescaped(cell) for cell in cells[:end]], min(len(cells), MAX_COLUMNS))


def _xlsx_records(content: bytes, limits: Limits, pick: Callable[[list[str]], str]) -> Iterator[Record]:
    from openpyxl import load_workbook

    valued = check_xlsx(content, limits)
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise Unreadable(f"the XLSX file cannot be opened: {exc}") from exc
    try:
        sheet = book[pick(book.sheetnames)]
        # openpyxl's name of the sheet's part: its rows holding a value bound the rows it has.
        part = str(getattr(sheet, "_worksheet_path", "")).lstrip("/")
        if limits.rows is not None and valued.get(part, 0) > limits.rows + HEADER_WITHIN:
            raise limits.too_many_rows(f"the sheet has {valued[part]:,} rows, more than {limits.rows:,}")
        # The sheet's claim of its size (<dimension ref="A1:XFD1048576">): its width, if a sheet's,
        # makes every row as wide (cells beyond it are not read); its height is not followed.
        width = sheet.max_column if sheet.max_column and sheet.max_column <= MAX_COLUMNS else None
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True, max_col=width)
        number = 0
        while True:
            try:
                cells = next(rows, None)
            except Exception as exc:  # a damaged sheet: openpyxl raises many kinds
                raise Unreadable(f"the XLSX file cannot be read after row {number}: {exc}") from exc
            if cells is None:
                return
            number += 1
            yield _record(number, cells)
    finally:
        book.close()


def _csv_records(content: bytes) -> Iterator[Record]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    # The separator of the header line: the one a line of the first twenty uses most (a title
    # row above the header may have none). Offices with an Indonesian Excel save with ";".
    lines = text[:1 << 16].splitlines()[:HEADER_WITHIN]
    delimiter = max((",", ";", "\t"), key=lambda d: max((line.count(d) for line in lines), default=0))
    # newline="": the csv module's own handling of line ends, quoted ones included.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            raise Unreadable(f"the CSV file cannot be read: {exc}") from exc
        if cells is None:
            return
        number += 1
        yield _record(number, cells)


# --- the archive, before openpyxl opens it ---------------------------------------------------


def check_xlsx(content: bytes, limits: Limits) -> dict[str, int]:
    """Refuses an archive over the limits; answers, for each worksheet part, how many rows hold a value."""
    _count_parts(content)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise Unreadable(f"the XLSX file cannot be opened: {exc}") from exc
    with archive:
        parts = [part for part in archive.infolist() if not part.is_dir()]
        if len(parts) > MAX_PARTS:  # the end record said fewer than the directory holds
            raise _too_many_parts()
        _check_declared(parts, limits)
        rows: dict[str, int] = {}
        unpacked = 0
        for part in parts:
            counting = bool(WORKSHEET.match(part.filename))
            valued, in_value, carried = 0, False, b""
            try:
                with archive.open(part) as stream:
                    while chunk := stream.read(CHUNK):
                        unpacked += len(chunk)
                        if limits.unpacked_bytes is not None and unpacked > limits.unpacked_bytes:
                            raise _unpacks_to_more(limits)
                        if not counting:
                            continue
                        text = carried + chunk
                        for row in ROW_NUMBER.finditer(text):
                            if int(row.group(1)) > MAX_ROW_NUMBER:
                                raise _past_last_row()
                        for mark in MARK.finditer(text):
                            if mark.end() <= len(carried):
                                continue  # seen with the previous chunk
                            if mark.group().startswith(b"</"):
                                valued += in_value
                                in_value = False
                            else:
                                in_value = True
                        carried = text[-OVERLAP:]
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, ValueError) as exc:
                # a bad CRC (a part longer than it says), encryption, an unknown compression
                raise Unreadable(f"the XLSX file is damaged ({part.filename}: {exc}); "
                                 "save it again and upload it") from exc
            if counting:
                rows[part.filename] = valued
    return rows


def _check_declared(parts: list[zipfile.ZipInfo], limits: Limits) -> None:
    if limits.unpacked_bytes is None:
        return
    declared = 0
    for part in parts:
        declared += part.file_size
        if declared > limits.unpacked_bytes:
            raise _unpacks_to_more(limits)
        if part.file_size > RATIO_FROM and part.file_size > MAX_RATIO * max(part.compress_size, 1):
            raise SheetTooLarge(
                f"the XLSX file's part {part.filename} would unpack to {part.file_size:,} bytes, "
                f"{part.file_size // max(part.compress_size, 1):,} times its packed size; "
                f"a spreadsheet unpacks at most {MAX_RATIO} times", limit="compression_ratio", maximum=MAX_RATIO)


def _count_parts(content: bytes) -> None:
    """The parts the archive's end record declares, read before zipfile builds an object for each."""
    at = content.rfind(END_OF_DIRECTORY, max(0, len(content) - (1 << 16) - 22))
    if at < 0 or len(content) < at + 12:
        return  # not a zip as far as its end says; zipfile explains
    (count,) = struct.unpack("<H", content[at + 10:at + 12])
    if count > MAX_PARTS:  # 0xFFFF, a ZIP64 directory, included
        raise _too_many_parts()


def _past_last_row() -> SheetTooLarge:
    return SheetTooLarge(f"the file goes on past row {MAX_ROW_NUMBER:,}, the last a spreadsheet has",
                         limit="row_number", maximum=MAX_ROW_NUMBER)


def _too_many_parts() -> SheetTooLarge:
    return SheetTooLarge(f"the XLSX file holds more than {MAX_PARTS:,} parts; a spreadsheet holds a few dozen",
                         limit="parts", maximum=MAX_PARTS)


def _unpacks_to_more(limits: Limits) -> SheetTooLarge:
    megabytes = (limits.unpacked_bytes or 0) >> 20
    return SheetTooLarge(f"the XLSX file unpacks to more than {megabytes:,} MB; split it, or save it as CSV "
                         "(the bound is SINERGI_IMPORT_MAX_UNPACKED_MB)", limit="unpacked_bytes",
                         maximum=limits.unpacked_bytes, setting="SINERGI_IMPORT_MAX_UNPACKED_MB")
