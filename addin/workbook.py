"""Workbook files in: an .xlsx becomes {sheet name: rows of cell values} plus the hidden columns of each sheet.

openpyxl's read-only mode streams cell values fast (cached values, not formulas) but does not load column
dimensions, so hidden columns are read separately: each sheet's ``<cols>`` element sits before its cell data in
the sheet's XML, so only the first bytes of each sheet are read for it, whatever the sheet's size.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

from relhealth.book import Book, BookError
from relhealth.reader import read_book
from relhealth.settings import Settings

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")
_COL = re.compile(rb"<(?:\w+:)?col\b([^>]*)>")
_ATTR = re.compile(rb'(\w+)="([^"]*)"')
_MAX_HIDDEN_SPAN = 1024   # a <col> hiding "every column to the right" (up to XFD) is not a helper column


def load_sheets(path: str | os.PathLike, skip=(),
                workers: int = 1) -> tuple[dict[str, list[tuple]], dict[str, set[int]]]:
    """Read every worksheet's values (as Excel last calculated them) and each sheet's hidden column indexes
    (0-based). Raises FileNotFoundError for a missing file and BookError for a file that is not an .xlsx.

    The values come from ``addin.fastload`` (the same values as openpyxl's read-only mode, several times faster);
    a workbook it cannot read goes through openpyxl's read-only mode. Sheets titled in ``skip`` may be left out
    (the refresh's own sheets, which it loads anyway). ``workers`` >= 2: a large sheet is scanned in two halves at
    once (``fastload.load_values``)."""
    target = _check_path(path)
    try:
        from .fastload import load_values

        sheets, paths = load_values(target, skip=set(skip), workers=workers)
    except Exception:  # noqa: BLE001 - anything unusual: openpyxl's own reader decides (and words the error)
        sheets, paths = _load_with_openpyxl(target)
    return sheets, hidden_columns(target, paths)


def _load_with_openpyxl(target: Path) -> tuple[dict[str, list[tuple]], dict[str, str | None]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    # Opening a sheet read-only looks for its recorded used range; a sheet without one (openpyxl's own
    # write-only books, many exporters) is then parsed in full just to find none, doubling the load time.
    # The used range is thrown away below anyway (reset_dimensions), so that first pass is skipped.
    get_size = ReadOnlyWorksheet._get_size
    ReadOnlyWorksheet._get_size = lambda self: None
    try:
        workbook = load_workbook(target, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise BookError(f"{target.name} could not be opened as an Excel workbook ({exc}). "
                        "Save it from Excel as .xlsx and try again.") from exc
    finally:
        ReadOnlyWorksheet._get_size = get_size
    try:
        sheets, paths = {}, {}
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()          # some writers record a wrong used range; read what is there
            sheets[sheet.title] = list(sheet.iter_rows(values_only=True))
            paths[sheet.title] = getattr(sheet, "_worksheet_path", None)
    finally:
        workbook.close()
    return sheets, paths


def hidden_columns(path: Path, sheet_paths: dict[str, str | None]) -> dict[str, set[int]]:
    """{sheet: 0-based indexes of hidden columns}, from the ``<cols>`` element at the start of each sheet's XML."""
    hidden: dict[str, set[int]] = {}
    with zipfile.ZipFile(path) as archive:
        for title, member in sheet_paths.items():
            if not member:
                continue
            head = _sheet_head(archive, member.lstrip("/"))
            columns: set[int] = set()
            for match in _COL.finditer(head):
                attrs = {k.decode(): v.decode() for k, v in _ATTR.findall(match.group(1))}
                if attrs.get("hidden") in ("1", "true") and attrs.get("min", "").isdigit():
                    first, last = int(attrs["min"]), int(attrs.get("max", attrs["min"]))
                    if last - first < _MAX_HIDDEN_SPAN:
                        columns.update(range(first - 1, last))
            if columns:
                hidden[title] = columns
    return hidden


def _sheet_head(archive: zipfile.ZipFile, member: str, chunk: int = 1 << 16) -> bytes:
    """The sheet XML up to its cell data (where ``<cols>`` ends), read in small chunks."""
    head = b""
    with archive.open(member) as stream:
        while True:
            block = stream.read(chunk)
            head += block
            cut = re.search(rb"<(?:\w+:)?sheetData\b", head)
            if cut:
                return head[:cut.start()]
            if not block or len(head) > (8 << 20):
                return head


def _check_path(path: str | os.PathLike) -> Path:
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"{target}: no such file")
    if target.is_dir():
        raise BookError(f"{target} is a folder, not an Excel workbook")
    if target.suffix.lower() not in EXCEL_SUFFIXES or not zipfile.is_zipfile(target):
        kind = "an old-style .xls workbook" if target.suffix.lower() == ".xls" else "not an Excel .xlsx workbook"
        raise BookError(f"{target.name} is {kind}. Open it in Excel and save it as .xlsx (Excel Workbook).")
    return target


def read_book_file(path: str | os.PathLike, settings: Settings | None = None) -> Book:
    """Load an .xlsx and read it into a Book (``relhealth.reader.read_book``)."""
    sheets, hidden = load_sheets(path)
    return read_book(sheets, settings=settings, hidden=hidden)
