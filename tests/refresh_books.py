"""Shared helpers for the refresh tests: a small sample book written once, copies of it, and cell snapshots."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from openpyxl import load_workbook  # noqa: E402
from openpyxl.comments import Comment  # noqa: E402
from openpyxl.styles import Font, PatternFill  # noqa: E402

from addin.refresh import refresh_file  # noqa: E402
from addin.sample_book import write_sample_book  # noqa: E402

ACCOUNTS = 60


@functools.lru_cache(maxsize=None)
def _base(folder: str, refreshed: bool) -> Path:
    path = Path(folder) / f"base-{'refreshed' if refreshed else 'plain'}.xlsx"
    write_sample_book(path, accounts=ACCOUNTS, seed=11)
    add_user_sheet(path)
    if refreshed:
        refresh_file(path, progress=False)
    return path


def book_copy(tmp_path: Path, cache_dir: Path, refreshed: bool = False, name: str = "book.xlsx") -> Path:
    """A fresh copy of the small book (with a user sheet), refreshed once if asked."""
    target = tmp_path / name
    shutil.copy(_base(str(cache_dir), refreshed), target)
    return target


def add_user_sheet(path: Path) -> None:
    """A sheet of the user's own: formulas over the Accounts sheet, formats, a merged title, a note."""
    wb = load_workbook(path)
    ws = wb.create_sheet("My Review", 0)
    ws["A1"] = "Pipeline review"
    ws["A1"].font = Font(bold=True, size=16, color="8B0000")
    ws.merge_cells("A1:D1")
    ws["A3"], ws["B3"] = "Accounts", "=COUNTA(Accounts!A:A)-1"
    ws["A4"], ws["B4"] = "Revenue", "=SUM(Accounts!E:E)"
    ws["B4"].number_format = '"$"#,##0'
    ws["A5"], ws["B5"] = "Ratio", "=B4/B3"
    ws["A5"].fill = PatternFill("solid", fgColor="C6EFCE")
    ws["C3"].comment = Comment("Checked by Maya", "Maya")
    ws.column_dimensions["A"].width = 31
    wb.save(path)


def cell_snapshot(ws) -> dict:
    """Every non-empty cell: value (formula text for formulas), number format, font, fill, comment."""
    out = {}
    for row in ws.iter_rows():
        for c in row:
            if c.value is None and not c.has_style and c.comment is None:
                continue
            out[c.coordinate] = (c.value if not hasattr(c.value, "text") else c.value.text, c.number_format,
                                 c.font.b, c.font.sz, c.font.color.rgb if c.font.color else None,
                                 c.fill.fgColor.rgb if c.fill and c.fill.fill_type else None,
                                 c.comment.text if c.comment else None)
    return out


def sheet_snapshot(path: Path, names: list[str] | None = None) -> dict:
    wb = load_workbook(path)
    names = names or wb.sheetnames
    return {n: (cell_snapshot(wb[n]), sorted(str(r) for r in wb[n].merged_cells.ranges),
                {k: v.width for k, v in wb[n].column_dimensions.items()}) for n in names}
