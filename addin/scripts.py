"""The refresh button in Excel: an xlwings ``@script`` over the same routine as ``relhealth refresh``.

    def refresh(book): ...   # Excel: the relhealth button (xlwings Lite / Server task pane, or RunPython)

``ExcelTarget`` gives ``addin.refresh.refresh`` the open workbook through xlwings: values are read from the used
ranges, the owned sheets are written in place and the charts inserted with
``sheet.pictures.add(fig, name=..., update=True)``, so a refresh replaces each picture instead of stacking a new
one. Rows that no longer qualify are deleted with Excel's own row delete, so Excel itself adjusts every formula
that points at the planner (in any sheet), and formats of the user's cells move with their rows. Progress goes
to Excel's status bar. The workbook is not saved: the user saves (or closes without saving) as with any edit.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from . import merge, owned
from .refresh import CHART_ROWS, chart_anchors, refresh
from .writer import NUMBER_FORMATS, _excel_value

try:  # xlwings is a dependency; its decorators are no-ops where no Excel runs
    import xlwings as xw
    from xlwings import script
except ImportError:  # pragma: no cover - xlwings missing
    xw, script = None, (lambda f: f)

logger = logging.getLogger(__name__)


@script
def refresh_book(book: "xw.Book" = None):
    """Recompute Scores, the Win-back Planner, Seasonality, Triggers and the charts of this workbook."""
    book = book or xw.Book.caller()
    status = StatusBar(book)
    try:
        report = refresh(ExcelTarget(book), status)
        status(1.0, f"relhealth: refreshed {report.accounts:,} accounts, {report.planner_rows} planner rows")
        return report
    except Exception as exc:  # input problems read as text; anything else is logged with a short message
        from relhealth.book import BookError

        text = str(exc) if isinstance(exc, BookError) else "relhealth: the refresh failed (see the log)"
        if not isinstance(exc, BookError):
            logger.exception("refresh failed")
        status(1.0, text)
        raise
    finally:
        status.reset()


class StatusBar:
    """Progress in Excel's status bar where the runtime has one (classic Excel); silently nothing elsewhere."""

    def __init__(self, book):
        self.app = getattr(book, "app", None)

    def __call__(self, fraction: float, message: str) -> None:
        try:
            self.app.status_bar = f"relhealth: {message} ({fraction:.0%})"
        except Exception:
            pass

    def reset(self) -> None:
        try:
            self.app.status_bar = False
        except Exception:
            pass


class ExcelTarget:
    """The open workbook through xlwings (classic COM, Server or Lite)."""

    def __init__(self, book):
        self.book = book

    # -- finding our sheets (hidden names, as in the headless writer) --
    def _area(self, name: str):
        """The range the last refresh wrote for a role (its hidden name), or None."""
        for defined in self.book.names:
            if defined.name == owned.ROLES[name]:
                try:
                    return defined.refers_to_range
                except Exception:  # the sheet was deleted: the name says #REF!
                    return None
        return None

    def _owned(self, name: str):
        area = self._area(name)
        return area.sheet if area is not None else None

    def _mark(self, name: str, sheet, rows: int, cols: int) -> None:
        address = sheet.range((1, 1), (max(rows, 1), max(cols, 1))).get_address(True, True, include_sheetname=True)
        for defined in self.book.names:
            if defined.name == owned.ROLES[name]:
                defined.refers_to = "=" + address
                return
        self.book.names.add(owned.ROLES[name], "=" + address)

    def _sheet(self, name: str, warnings: list[str]):
        sheet = self._owned(name)
        if sheet is not None:
            return sheet, False
        titles = [s.name for s in self.book.sheets]
        title = name if name not in titles else f"{name} (relhealth)"[:31]
        if title != name:
            warnings.append(f"A sheet named '{name}' already exists and is yours, so it was left alone; the refresh "
                            f"wrote '{title}' instead.")
        return self.book.sheets.add(title, after=self.book.sheets[len(self.book.sheets) - 1]), True

    # -- the five operations of a target --
    def input_sheets(self):
        mine = {s.name for s in (self._owned(n) for n in owned.ROLES) if s is not None}
        sheets = {}
        for sheet in self.book.sheets:
            if sheet.name not in mine:
                sheets[sheet.name] = sheet.used_range.options(ndim=2).value or []
        return sheets, {}

    def read_keyed(self, name: str, warnings: list[str]):
        sheet = self._owned(name)
        if sheet is None:
            return None
        used = sheet.used_range
        values = used.options(ndim=2).value or []
        formulas = _grid(used.formula)
        found = merge.find_header(values)
        if found is None:
            return None
        top, left = used.row, used.column
        if left != 1:  # keep column positions absolute
            values = [[None] * (left - 1) + list(r) for r in values]
            formulas = [[None] * (left - 1) + list(r) for r in formulas]
        rows = []
        for values_row, formula_row in zip(values[found + 1:], formulas[found + 1:]):
            rows.append([merge.Cell(f if isinstance(f, str) and f.startswith("=") else v)
                         for v, f in zip(values_row, formula_row)])
        return merge.Existing(top + found, [merge.header_text(v) for v in values[found]], rows)

    def write_keyed(self, table: owned.Keyed, plan: merge.Plan, existing, warnings: list[str]) -> None:
        sheet, created = self._sheet(table.sheet, warnings)
        hr = plan.header_row
        if existing is not None:  # delete dropped rows bottom-up: Excel moves formats and fixes formulas itself
            kept = {row.source for row in plan.rows if row.source is not None}
            for index in sorted(set(range(len(existing.rows))) - kept, reverse=True):
                sheet.range(f"{hr + 1 + index}:{hr + 1 + index}").delete()
        for j, header in enumerate(plan.headers, start=1):
            if created or header in plan.added:
                sheet.range((hr, j)).value = header
        fmt = {c.header: c.fmt for c in table.cols}
        n = len(plan.rows)
        for header in plan.computed:
            j = plan.position(header) + 1
            column = []
            for row in plan.rows:
                if row.computed is not None:
                    column.append(_cell(row.computed.get(header)))
                else:
                    old = existing.rows[row.source][j - 1].value if j - 1 < len(existing.rows[row.source]) else None
                    column.append(row.marker if header == table.marker and row.marker else old)
            if n:
                target = sheet.range((hr + 1, j), (hr + n, j))
                target.options(ndim=2).value = [[v] for v in column]
                target.number_format = NUMBER_FORMATS.get(fmt[header], "General")
        if created:
            header_row = sheet.range((hr, 1), (hr, len(plan.headers)))
            header_row.font.bold = True
            for header in plan.headers:
                match = next((c for c in table.cols if c.header == header), None)
                if match:
                    sheet.range((1, plan.position(header) + 1)).column_width = match.width
        self._mark(table.sheet, sheet, hr + n, len(plan.headers))

    def write_report(self, name: str, title: str, banner: str, blocks, warnings: list[str]) -> None:
        sheet, created = self._sheet(name, warnings)
        if not created:
            self._area(name).clear()  # only what the last refresh wrote
        grid: list[list[Any]] = [[title], [banner], []]
        for block in blocks:
            grid.append([block.title])
            if block.note:
                grid.append([block.note])
            grid.append([str(c) for c in block.frame.columns])
            grid += [[_cell(v) for v in row] for row in block.frame.itertuples(index=False)]
            grid.append([])
        width = max(len(r) for r in grid)
        sheet.range("A1").options(ndim=2).value = [r + [None] * (width - len(r)) for r in grid]
        sheet.range("A1").font.bold = True
        self._mark(name, sheet, len(grid), width)

    def read_trend(self, name: str):
        sheet = self._owned(name)
        if sheet is None:
            return None
        return owned.trend_from_grid(sheet.used_range.options(ndim=2).value or [])

    def write_charts(self, name: str, title: str, charts, trend, warnings: list[str]) -> None:
        sheet, created = self._sheet(name, warnings)
        if not created:
            self._area(name).clear()
        lines = [[title], ["What the charts say (each title is computed from your data):"], []]
        lines += [[f"•  {c.title}"] for c in charts]
        sheet.range("B1").options(ndim=2).value = lines
        first = len(lines) + 2
        for chart, anchor in zip(charts, chart_anchors(first, len(charts))):
            cell = sheet.range(anchor)
            sheet.pictures.add(chart.figure, name=chart.name, update=True, left=cell.left, top=cell.top)
        below = first + ((len(charts) + 1) // 2) * CHART_ROWS
        table = [[trend.title], [trend.note], [str(c) for c in trend.frame.columns]]
        table += [[_cell(v) for v in row] for row in trend.frame.itertuples(index=False)]
        width = max(len(r) for r in table)
        sheet.range((below, 2)).options(ndim=2).value = [r + [None] * (width - len(r)) for r in table]
        self._mark(name, sheet, below + len(table), width + 1)


def _grid(formulas: Any) -> list[list]:
    """Range.formula as a 2-D list (xlwings gives a bare string for one cell, tuples of tuples for more)."""
    if formulas is None:
        return []
    if isinstance(formulas, str):
        return [[formulas]]
    return [list(row) if isinstance(row, (list, tuple)) else [row] for row in formulas]


def _cell(value: Any) -> Any:
    value = _excel_value(value)
    return value if not isinstance(value, pd.Timestamp) else value.to_pydatetime()
