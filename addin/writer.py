"""Writing the owned sheets into an open openpyxl workbook (the headless refresh), leaving everything else alone.

Which sheets are ours is recorded in the workbook itself: a hidden workbook-level defined name per role
(``owned.ROLES``) refers to the area the last refresh wrote, e.g. ``_relhealth_seasonality =
'Seasonality'!$A$1:$L$88``. Excel keeps such a name pointing at the sheet when the user renames it, so a renamed
planner is still found. A sheet that merely has one of our names but no marker is the user's: it is never
overwritten; ours is written beside it as "<name> (relhealth)".

Keyed sheets (Scores, planner) follow ``merge.plan_keyed``; carried user cells keep value, formula (shifted with
the row), style, hyperlink and comment. Report sheets (Seasonality, Triggers, Charts) clear exactly the area the
last refresh wrote and write the new tables; cells outside it are kept. The Charts sheet's pictures are replaced.
"""

from __future__ import annotations

import datetime as dt
import io
from copy import copy
from typing import Any

import numpy as np
import pandas as pd
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from . import merge
from .owned import KEY, PLANNER, ROLES, STATUS_CHOICES, Block, Keyed

FONT = "Calibri"
NUMBER_FORMATS = {"money": '"$"#,##0', "percent": "0%", "percent1": "0.0%", "date": "yyyy-mm-dd", "int": "0",
                  "num1": "0.0", "ratio": '0.0"x"', "p": "0.0000", "id": "@"}
BAND_FILLS = {"Low": "E3EDF6", "Watch": "FFF2CC", "High": "FBDCC8", "Critical": "F2C4C0"}
HEADER_FILL, USER_FILL, MARK_FONT = "1F4E78", "FFF2CC", "7F7F7F"
_TIME_TYPES = (dt.datetime, dt.date, dt.time, dt.timedelta)


class Styles:
    """Cell styles made once per workbook and copied onto cells (fast, and no duplicate style records)."""

    def __init__(self, ws):
        self._ws, self._cache = ws, {}

    def get(self, key: str, make) -> StyleArray:
        """The style ``key``; ``make()`` gives its attributes (font=..., fill=...) the first time only."""
        if key not in self._cache:
            scratch = XlCell(self._ws)
            for name, value in make().items():
                setattr(scratch, name, value)
            self._cache[key] = scratch._style
        return copy(self._cache[key])

    def header(self, user: bool = False) -> StyleArray:
        if user:
            return self.get("head-user", lambda: dict(
                font=Font(name=FONT, bold=True, color="1F2D3D"), fill=PatternFill("solid", fgColor=USER_FILL),
                alignment=Alignment(wrap_text=True, vertical="center")))
        return self.get("head", lambda: dict(
            font=Font(name=FONT, bold=True, color="FFFFFF"), fill=PatternFill("solid", fgColor=HEADER_FILL),
            alignment=Alignment(wrap_text=True, vertical="center")))

    def value(self, fmt: str, value: Any = None) -> StyleArray:
        if fmt == "band" and value in BAND_FILLS:
            return self.get(f"band-{value}", lambda: dict(
                font=Font(name=FONT, bold=value in ("High", "Critical")),
                fill=PatternFill("solid", fgColor=BAND_FILLS[value]), alignment=Alignment(vertical="top")))
        if fmt == "code":  # machine text (the trend's fingerprints): small, grey, never wrapped
            return self.get("value-code", lambda: dict(font=Font(name=FONT, size=8, color="8497B0"),
                                                       alignment=Alignment()))
        if fmt == "p" and isinstance(value, float) and 0 < value < 1e-4:
            fmt = "p-small"
        return self.get(f"value-{fmt}", lambda: dict(
            font=Font(name=FONT), number_format="0.0E+00" if fmt == "p-small" else NUMBER_FORMATS.get(fmt, "General"),
            alignment=Alignment(wrap_text=fmt in ("wrap", "text"), vertical="top")))

    def text(self, kind: str) -> StyleArray:
        fonts = {"title": dict(bold=True, size=14, color="1F2D3D"), "block": dict(bold=True, size=12, color="1F4E78"),
                 "note": dict(italic=True, color="5B6B7B"), "mark": dict(italic=True, color=MARK_FONT),
                 "finding": dict(size=12, color="1F2D3D")}
        return self.get(f"text-{kind}", lambda: dict(font=Font(name=FONT, **fonts[kind])))


# ---- finding our sheets -------------------------------------------------------------------------------------------

def owned_sheet(wb, name: str):
    """The sheet marked as ours for role ``name`` (found through its defined name), or None."""
    defined = wb.defined_names.get(ROLES[name])
    if defined is None:
        return None
    try:
        destinations = list(defined.destinations)
    except Exception:  # "#REF!" after the user deleted the sheet
        destinations = []
    for title, _area in destinations:
        if title in wb.sheetnames:
            return wb[title]
    return None


def previous_area(wb, name: str) -> tuple[int, int, int, int] | None:
    """(min_row, min_col, max_row, max_col) the last refresh wrote on the role's sheet."""
    from openpyxl.utils.cell import range_boundaries

    defined = wb.defined_names.get(ROLES[name])
    try:
        (_title, area), = list(defined.destinations)
        min_col, min_row, max_col, max_row = range_boundaries(area.replace("$", ""))
        return min_row, min_col, max_row or min_row, max_col or min_col
    except Exception:
        return None


def mark(wb, name: str, ws, max_row: int, max_col: int) -> None:
    ref = f"{quote_sheetname(ws.title)}!$A$1:${get_column_letter(max(max_col, 1))}${max(max_row, 1)}"
    wb.defined_names[ROLES[name]] = DefinedName(ROLES[name], attr_text=ref, hidden=True)


def sheet_for(wb, name: str, warnings: list[str]):
    """(our sheet for the role, created?) creating it at the end when missing; never takes over a user's sheet."""
    ws = owned_sheet(wb, name)
    if ws is not None:
        return ws, False
    title = name
    if title in wb.sheetnames:
        title = free_title(wb, f"{name} (relhealth)")
        warnings.append(f"A sheet named '{name}' already exists and is yours, so it was left alone; the refresh "
                        f"wrote '{title}' instead.")
    return wb.create_sheet(title), True


def free_title(wb, base: str) -> str:
    title, k = base[:31], 2
    while title in wb.sheetnames:
        suffix = f" {k}"
        title, k = base[:31 - len(suffix)] + suffix, k + 1
    return title


# ---- keyed sheets -------------------------------------------------------------------------------------------------

def read_existing(ws) -> merge.Existing | None:
    """The keyed table on ``ws`` (header row found by its Account ID header), or None when there is none."""
    top = [[c.value for c in row] for row in ws.iter_rows(min_row=1, max_row=min(ws.max_row, 10))]
    found = merge.find_header(top)
    if found is None:
        return None
    header_row = found + 1
    width = ws.max_column
    headers = [merge.header_text(v) for v in top[found]] + [None] * (width - len(top[found]))
    rows = []
    # The style is taken as it is, not copied: cells are only ever given a new style object (``write_keyed`` copies
    # it onto the cell it writes), never changed in place. Links and notes are copied: assigning them binds them.
    for row in ws.iter_rows(min_row=header_row + 1, max_row=ws.max_row, max_col=max(width, 1)):
        rows.append([merge.Cell(c.value, c._style if c.has_style else None,
                                copy(c.hyperlink) if c.hyperlink else None, copy(c.comment) if c.comment else None)
                     for c in row])
    return merge.Existing(header_row, headers, rows)


def write_keyed(wb, ws, table: Keyed, plan: merge.Plan, existing: merge.Existing | None,
                created: bool) -> None:
    styles = Styles(ws)
    fmt = {c.header: c.fmt for c in table.cols}
    hr = plan.header_row
    for j, header in enumerate(plan.headers, start=1):
        if created or header in plan.added:
            cell = ws.cell(hr, j, header)
            cell._style = styles.header(user=header not in plan.computed)
    marker_at = plan.position(table.marker) + 1 if table.marker in plan.headers else None
    moves = merge.row_map(plan)
    # (column, header, computed here?) once, not per cell
    layout = [(j, header, header in plan.computed and plan.position(header) == j - 1)
              for j, header in enumerate(plan.headers, start=1)]
    for k, row in enumerate(plan.rows):
        r = hr + 1 + k
        source = existing.rows[row.source] if row.source is not None else None
        for j, header, computed in layout:
            cell = ws.cell(r, j)
            if row.computed is not None and computed:
                value = _excel_value(row.computed.get(header))
                if isinstance(value, _TIME_TYPES):
                    cell._style = StyleArray()  # openpyxl sets a date format on the style it has: not a shared one
                cell.value = value
                cell._style = styles.value(fmt[header], value)
            elif source is not None and j - 1 < len(source):
                old = source[j - 1]
                value = merge.move_formula(old.value, moves, ws.title)
                if isinstance(value, _TIME_TYPES):
                    cell._style = StyleArray()
                cell.value = value
                cell._style = copy(old.style) if old.style is not None else StyleArray()
                cell.hyperlink = old.hyperlink
                cell.comment = old.comment
            else:
                _blank(cell)
        if row.marker and marker_at:
            cell = ws.cell(r, marker_at, row.marker)
            cell._style = styles.text("mark")
    last = hr + len(plan.rows)
    old_last = hr + len(existing.rows) if existing else last
    width = max(len(plan.headers), ws.max_column)
    for r in range(last + 1, old_last + 1):
        for j in range(1, width + 1):
            _blank(ws.cell(r, j))
    if created:
        _dress_keyed(ws, table, plan, last)
    elif ws.auto_filter.ref:
        ws.auto_filter.ref = f"A{hr}:{get_column_letter(len(plan.headers))}{max(last, hr + 1)}"
    for header in plan.added:
        col = next(c for c in table.cols if c.header == header)
        ws.column_dimensions[get_column_letter(plan.position(header) + 1)].width = col.width


def _dress_keyed(ws, table: Keyed, plan: merge.Plan, last: int) -> None:
    widths = {c.header: c.width for c in table.cols}
    for j, header in enumerate(plan.headers, start=1):
        ws.column_dimensions[get_column_letter(j)].width = widths.get(header, 22)
    ws.row_dimensions[plan.header_row].height = 30
    key_col = plan.position(KEY) + 1
    ws.freeze_panes = ws.cell(plan.header_row + 1, key_col + 2 if table.sheet == PLANNER else key_col + 1)
    ws.auto_filter.ref = f"A{plan.header_row}:{get_column_letter(len(plan.headers))}{max(last, plan.header_row + 1)}"
    if "Status" in plan.headers and table.sheet == PLANNER:
        letter = get_column_letter(plan.headers.index("Status") + 1)
        validation = DataValidation(type="list", formula1='"' + ",".join(STATUS_CHOICES) + '"', allow_blank=True,
                                    showErrorMessage=False)
        validation.add(f"{letter}{plan.header_row + 1}:{letter}{plan.header_row + 5000}")
        ws.add_data_validation(validation)
    _print_setup(ws, landscape=True)
    ws.print_title_rows = f"{plan.header_row}:{plan.header_row}"
    if table.sheet == PLANNER:
        ws.page_setup.fitToWidth = 2  # the plan columns on one page, the play details on the next


def _blank(cell) -> None:
    cell.value = None
    cell._style = StyleArray()
    cell.hyperlink = None
    cell.comment = None


def _excel_value(value: Any) -> Any:
    """A pandas/numpy value as a cell value: NaN/NaT/None -> empty, numpy scalars -> Python, bools -> Yes/No."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "Yes" if value else "No"
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, np.datetime64):
        return _excel_value(pd.Timestamp(value))
    if isinstance(value, str) and value.startswith("="):
        return "'" + value  # engine text is never a formula
    return value


# ---- report sheets ------------------------------------------------------------------------------------------------

def clear_area(ws, area: tuple[int, int, int, int] | None) -> None:
    if not area:
        return
    min_row, min_col, max_row, max_col = area
    for merged in list(ws.merged_cells.ranges):
        if merged.min_row >= min_row and merged.max_row <= max_row and merged.min_col >= min_col \
                and merged.max_col <= max_col:
            ws.unmerge_cells(str(merged))
    for row in ws.iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col):
        for cell in row:
            _blank(cell)


def write_report(ws, title: str, banner: str, blocks: list[Block], start_row: int = 1) -> tuple[int, int]:
    """Title, banner and stacked tables from ``start_row``; returns the (last row, last column) written."""
    styles = Styles(ws)
    ws.cell(start_row, 1, title)._style = styles.text("title")
    ws.cell(start_row + 1, 1, banner)._style = styles.text("note")
    r, width = start_row + 3, 1
    for block in blocks:
        r, last_col = write_block(ws, r, 1, block)
        width = max(width, last_col)
        r += 2
    for j in range(1, width + 1):
        letter = get_column_letter(j)
        if not ws.column_dimensions[letter].width or ws.column_dimensions[letter].width < 12:
            ws.column_dimensions[letter].width = 12 if j > 1 else 26
    _print_setup(ws, landscape=True)
    return r, width


def write_block(ws, row: int, col: int, block: Block) -> tuple[int, int]:
    """A titled table with its top-left at (row, col); returns its (last row, last column)."""
    styles = Styles(ws)
    ws.cell(row, col, block.title)._style = styles.text("block")
    r = row
    if block.note:
        ws.cell(row + 1, col, block.note)._style = styles.text("note")
        r += 1
    r += 1
    columns = [str(c) for c in block.frame.columns]
    for j, header in enumerate(columns, start=col):
        ws.cell(r, j, header)._style = styles.header()
    for values in block.frame.itertuples(index=False):
        r += 1
        for j, (header, value) in enumerate(zip(columns, values), start=col):
            cell = ws.cell(r, j, _excel_value(value))
            kind = block.formats.get(header) or _default_format(header, cell.value)
            cell._style = styles.value("num1" if kind == "num" and isinstance(cell.value, float)
                                       and not float(cell.value).is_integer() else kind, cell.value)
    for header, w in block.widths.items():
        if header in columns:
            letter = get_column_letter(col + columns.index(header))
            ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, w)
    return r, col + max(len(columns), 1) - 1


def write_findings(ws, title: str, findings: list[str]) -> int:
    """The Charts sheet's head: title, note and one line per chart finding; returns the last row written."""
    styles = Styles(ws)
    ws.cell(1, 2, title)._style = styles.text("title")
    ws.cell(2, 2, "What the charts say (each title is computed from your data; pictures below are replaced on "
                  "every refresh):")._style = styles.text("note")
    for k, finding in enumerate(findings):
        ws.cell(4 + k, 2, f"•  {finding}")._style = styles.text("finding")
    for j in range(1, 18):
        ws.column_dimensions[get_column_letter(j)].width = 13
    ws.column_dimensions["A"].width = 3
    ws.sheet_view.showGridLines = False
    _print_setup(ws, landscape=True)
    return 3 + len(findings)


def chart_page_breaks(ws, first_row: int, count: int, rows_per_chart: int) -> None:
    """Printed, a chart is never cut in two: a page break after every second row of charts (the first page also
    holds the findings)."""
    from openpyxl.worksheet.pagebreak import Break, RowBreak

    ws.row_breaks = RowBreak()
    rows = (count + 1) // 2
    for k in range(2, rows, 2):
        ws.row_breaks.append(Break(id=first_row + k * rows_per_chart - 2))


def _default_format(header: str, value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return "date"
    if isinstance(value, str):
        return "plain"  # report text runs over into the empty cells beside it instead of wrapping
    if isinstance(value, float) and any(w in header.lower() for w in ("rate", "share")):
        return "percent1"
    return "num"


def png_bytes(fig) -> bytes:
    """The figure as a PNG at its own pixel size."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def place_pictures(ws, pictures: list[tuple[str, Any, str]]) -> None:
    """Replace the sheet's pictures with ``(name, figure or its PNG bytes, anchor cell)``; PNG at the figure's own
    pixel size (``png_bytes``)."""
    ws._images = []  # openpyxl has no public way to remove a picture; the Charts sheet's pictures are all ours
    for name, fig, anchor in pictures:
        image = Image(io.BytesIO(fig if isinstance(fig, bytes) else png_bytes(fig)))
        image.anchor = anchor
        ws.add_image(image)


def _print_setup(ws, landscape: bool) -> None:
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def today_text() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M")
