"""The Excel button: the same refresh through xlwings (tested on an in-memory stand-in of the object model)."""

import datetime as dt

import pandas as pd
import pytest

from fake_xlwings import Book  # noqa: E402

from addin import owned  # noqa: E402
from addin.scripts import refresh_book  # noqa: E402
from relhealth.sample import sample_book  # noqa: E402
from relhealth.settings import Settings  # noqa: E402


def _grid(frame: pd.DataFrame) -> list[list]:
    def cell(v):
        if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
            return None
        return v.to_pydatetime() if isinstance(v, pd.Timestamp) else v
    return [list(frame.columns)] + [[cell(v) for v in row] for row in frame.itertuples(index=False)]


@pytest.fixture(scope="module")
def book():
    sheets = {name: _grid(frame) for name, frame in sample_book(accounts=60, seed=11).items()}
    sheets["Settings"] = [["Setting", "Value"]] + [[k, v] for k, v, _ in Settings(as_of=dt.date(2026, 10, 31)).to_rows()]
    sheets["My Review"] = [["Total", "=SUM(Accounts!E:E)"]]
    book = Book(sheets)
    refresh_book(book)
    return book


def _planner(book):
    sheet = book.sheets[owned.PLANNER]
    grid = sheet.used_range.options(ndim=2).value
    return grid[0], {row[0]: (r, row) for r, row in enumerate(grid[1:], start=2) if row[0] is not None}


def test_script_writes_owned_sheets_and_charts(book):
    names = [s.name for s in book.sheets]
    for name in (owned.SCORES, owned.PLANNER, owned.SEASONALITY, owned.TRIGGERS, owned.CHARTS):
        assert name in names
    assert len(book.sheets[owned.CHARTS].pictures_by_name) == 9
    assert book.sheets["My Review"].range("B1").value == "=SUM(Accounts!E:E)"
    header, rows = _planner(book)
    assert header[: len(owned.PLANNER_COLS)] == [c.header for c in owned.PLANNER_COLS]
    assert rows


def test_status_bar_shows_progress_then_is_handed_back(book):
    shown = [h for h in book.app.history if h]
    assert any("scoring" in h for h in shown) and any("refreshed" in h for h in shown)
    assert book.app.history[-1] is False


def test_second_refresh_keeps_notes_replaces_pictures_and_marks_kept_rows(book):
    header, rows = _planner(book)
    sheet = book.sheets[owned.PLANNER]
    notes = header.index("Notes") + 1
    accounts = list(rows)[:3]
    for account in accounts:
        sheet.range((rows[account][0], notes)).value = f"called {account} ✓"
    extra = len(header) + 1
    sheet.range((1, extra)).value = "My column"
    first_row = rows[accounts[0]][0]
    sheet.range((first_row, extra)).value = f"=LEN(A{first_row})"
    last = max(r for r, _ in rows.values())
    sheet.range((last + 1, 1)).value = "GHOST-1"
    sheet.range((last + 1, notes)).value = "keep me"
    sheet.range((last + 2, 1)).value = "GHOST-2"
    refresh_book(book)
    header2, rows2 = _planner(book)
    for account in accounts:
        assert rows2[account][1][notes - 1] == f"called {account} ✓"
    row = rows2[accounts[0]]
    assert row[1][extra - 1] == f"=LEN(A{row[0]})"
    assert rows2["GHOST-1"][1][header.index("Situation")].startswith("Not in the account list")
    assert "GHOST-2" not in rows2
    assert len(book.sheets[owned.CHARTS].pictures_by_name) == 9
