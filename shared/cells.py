"""Spreadsheet cells a user can open safely: what every export writes, and the importer reads back.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to a
spreadsheet program (a partner named ``=HYPERLINK(...)`` would run on the office's laptop). In CSV
such a cell gets a leading apostrophe, the usual neutraliser, and :func:`unescaped` takes it off
again on import; in XLSX a text cell is written as text, never as a formula or an error value.
"""

from __future__ import annotations

from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    """A CSV cell no spreadsheet program runs as a formula, read back by :func:`unescaped`."""
    return "'" + text if text.startswith(FORMULA_START) else protected(text)


def protected(text: str) -> str:
    """Text :func:`unescaped` gives back as it is: one that starts like an escape (``'=…``, ``''…``) gets one more."""
    return "'" + text if unescaped(text) != text else text


def unescaped(cell: Any) -> Any:
    """A cell without the apostrophe an export puts before a formula character or another apostrophe."""
    if isinstance(cell, str) and len(cell) > 1 and cell[0] == "'" and cell[1] in (*FORMULA_START, "'"):
        return cell[1:]
    return cell


def writable(value: Any) -> Any:
    """A value XLSX can carry: XML has no place for most control characters (openpyxl refuses them)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def keep_text(cell: Any) -> None:
    """A text cell stays text: openpyxl makes a string starting with "=" a formula and "#N/A" an error."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
