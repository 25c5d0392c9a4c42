"""Write the sample account book (``relhealth.sample.sample_book``) as a formatted Excel workbook.

Sheets ``Accounts``, ``Orders``, ``Events`` are Excel tables (styled header, column widths, date and money number
formats, frozen header row); ``Settings`` is the Setting / Value / Note table with every default spelled out and
``as_of`` set to the sample's as-of date, so a refresh of the sample scores it as of the day it was made.
openpyxl (write-only mode) writes the workbook around the data: styles, headers, tables, widths, frozen panes,
the Settings sheet; the data rows are streamed into the sheets as XML text, which is several times faster than
openpyxl's cell-by-cell writer (see ``_write_table``).
The file is saved atomically: written to temporary files beside the target, then moved over it, so a crash never
leaves half a workbook under the user's file name.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo

from relhealth.sample import sample_book
from relhealth.schema import SETTINGS
from relhealth.settings import Settings

SAMPLE_AS_OF = dt.date(2026, 10, 31)
DATE_FORMAT = "yyyy-mm-dd"
FORMATS = {
    "Customer Since": DATE_FORMAT, "Renewal Date": DATE_FORMAT, "Lost Date": DATE_FORMAT,
    "Order Date": DATE_FORMAT, "Event Date": DATE_FORMAT,
    "Annual Revenue": '"$"#,##0', "Amount": '"$"#,##0.00', "NPS": "0", "Referrals": "0",
}
SETTINGS_HEADERS = ["Setting", "Value", "Note"]
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")  # serial day 0 of the 1900 date system (as Excel counts)
_HEADER_FONT = Font(name="Calibri", bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")


def write_sample_book(path: str | os.PathLike, accounts: int = 600, seed: int = 7,
                      as_of: dt.date = SAMPLE_AS_OF) -> Path:
    """Write the sample book to ``path`` (.xlsx) and return the path."""
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: the folder {target.parent} does not exist")
    sheets = sample_book(accounts=accounts, seed=seed, as_of=as_of)
    settings = pd.DataFrame(Settings(as_of=as_of).to_rows(), columns=SETTINGS_HEADERS)
    workbook = Workbook(write_only=True)
    bodies = {f"xl/worksheets/sheet{index}.xml": _write_table(workbook, name, frame)
              for index, (name, frame) in enumerate((*sheets.items(), (SETTINGS, settings)), start=1)}
    return _save_atomically(workbook, target, bodies)


def _save_atomically(workbook: Workbook, target: Path, bodies: dict[str, tuple[Iterator[str], str]]) -> Path:
    """Save with openpyxl, stream the data rows into each sheet, then move the finished file over ``target``."""
    temps = []
    try:
        for _ in range(2):
            handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(handle)
            temps.append(temp)
        workbook.save(temps[0])
        packed = zipfile.ZipFile(temps[1], "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        with zipfile.ZipFile(temps[0]) as source, packed as out:
            missing = set(bodies) - set(source.namelist())
            if missing:  # openpyxl names sheet parts sheet1.xml, sheet2.xml ... in creation order
                raise RuntimeError(f"workbook parts not where expected: {sorted(missing)}")
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename not in bodies:
                    out.writestr(item, data)
                    continue
                rows, ref = bodies[item.filename]
                head, tail = data.decode("utf-8").split("</sheetData>", 1)
                head = head.replace("<sheetViews>", f'<dimension ref="{ref}" /><sheetViews>', 1)
                with out.open(item.filename, "w") as stream:
                    stream.write(head.encode("utf-8"))
                    for chunk in _chunks(rows):
                        stream.write(chunk.encode("utf-8"))
                    stream.write(("</sheetData>" + tail).encode("utf-8"))
        os.chmod(temps[1], target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask())
        os.replace(temps[1], target)
    finally:
        for temp in temps:
            Path(temp).unlink(missing_ok=True)
    return target


def _chunks(rows: Iterator[str], size: int = 2000) -> Iterator[str]:
    while chunk := "".join(islice(rows, size)):
        yield chunk


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_table(workbook: Workbook, name: str, frame: pd.DataFrame) -> tuple[Iterator[str], str]:
    """Add the sheet with its header row, widths, frozen header and table; return its data rows as XML, and the
    sheet's used range.

    openpyxl writes a cell at a time (~15 us each); a 10,000-account book has over a million cells, so the data
    rows are written as XML text straight into the sheet (inline strings, the cell styles openpyxl registered for
    each column's number format) once openpyxl has saved the rest of the workbook."""
    sheet = workbook.create_sheet(name)
    headers = [str(h) for h in frame.columns]
    columns = [_cell_values(frame[h]) for h in frame.columns]
    for index, (header, values) in enumerate(zip(headers, columns), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _width(header, values)
    sheet.freeze_panes = "A2"
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(vertical="center")
        header_cells.append(cell)
    sheet.append(header_cells)
    styles = []
    for header in headers:
        style = None
        if header in FORMATS:
            cell = WriteOnlyCell(sheet)
            cell.number_format = FORMATS[header]
            style = cell.style_id  # registers the style; the index Excel's "s" attribute refers to
        styles.append(style)
    last = f"{get_column_letter(len(headers))}{max(len(frame), 1) + 1}"
    table = Table(displayName=f"tbl{name}", ref=f"A1:{last}", autoFilter=AutoFilter(ref=f"A1:{last}"),
                  tableStyleInfo=TableStyleInfo(name="TableStyleMedium2", showRowStripes=True))
    table.tableColumns = [TableColumn(id=i, name=h) for i, h in enumerate(headers, start=1)]
    with warnings.catch_warnings():  # openpyxl warns that write-only tables need their columns: they have them
        warnings.simplefilter("ignore", UserWarning)
        sheet.add_table(table)
    return _rows_xml(columns, styles), f"A1:{get_column_letter(len(headers))}{len(frame) + 1}"


def _rows_xml(columns: list[list], styles: list[int | None], chunk: int = 4096) -> Iterator[str]:
    """``<row>`` elements for the data rows (sheet rows 2 onwards), built a column and a few thousand rows at a time."""
    letters = [get_column_letter(i) for i in range(1, len(columns) + 1)]
    cached: list[dict] = [{} for _ in columns]
    for lo in range(0, len(columns[0]) if columns else 0, chunk):
        cells = [_cells_xml(letter, style, values[lo:lo + chunk], lo + 2, cache)
                 for letter, style, values, cache in zip(letters, styles, columns, cached)]
        for r, row in enumerate(zip(*cells), start=lo + 2):
            yield f'<row r="{r}">{"".join(row)}</row>'


def _cells_xml(letter: str, style: int | None, values: list, first_row: int, cache: dict) -> list[str]:
    number = f' s="{style}"' if style is not None else ""
    out = []
    for r, value in enumerate(values, start=first_row):
        kind = type(value)
        if value is None:
            out.append("")
        elif kind is str:  # text in a date or money column stays text, as the user typed it
            body = cache.get(value)
            if body is None:
                body = cache[value] = (f't="e"><v>{value}</v>' if value in ERROR_CODES
                                       else f't="inlineStr"><is><t>{escape(value)}</t></is>')
            out.append(f'<c r="{letter}{r}" {body}</c>')
        elif kind is bool:
            out.append(f'<c r="{letter}{r}" t="b"><v>{int(value)}</v></c>')
        else:
            out.append(f'<c r="{letter}{r}"{number}><v>{value!r}</v></c>')
    return out


def _cell_values(column: pd.Series) -> list:
    """A column as plain Python cell values (str, int, float, bool): dates as Excel serial numbers, missing None."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        days = column.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        serial = (days - _EXCEL_EPOCH).astype(np.int64).astype(object)
        serial[np.isnat(days)] = None
        return serial.tolist()
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy(dtype=float)
        out = (values.astype(np.int64) if pd.api.types.is_integer_dtype(column.dtype) else values).astype(object)
        out[np.isnan(values)] = None
        return out.tolist()
    values = column.to_numpy(dtype=object, copy=True)
    values[pd.isna(column).to_numpy()] = None
    dates = np.array([isinstance(v, (dt.date, np.datetime64)) for v in values], dtype=bool)
    if dates.any():  # a date column with a few text dates typed into it
        days = pd.DatetimeIndex(list(values[dates])).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        values[dates] = (days - _EXCEL_EPOCH).astype(np.int64).tolist()
    return [v if type(v) in _PLAIN else _plain(v) for v in values.tolist()]


_PLAIN = {str, int, float, bool, type(None)}


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else str(value)


def _width(header: str, values: list) -> float:
    """Column width in characters: the header (bold, so a little wider) or the longest of the first values."""
    if FORMATS.get(header) == DATE_FORMAT:
        return max(len(header) * 1.2, 10) + 3
    longest = max((len(str(v)) for v in values[:500] if v is not None), default=0)
    if header in FORMATS:
        longest += 4  # "$" and thousands separators
    return min(max(len(header) * 1.2, longest) + 3, 60)
