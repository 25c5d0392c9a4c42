"""Property: whatever a user does to the planner's rows and columns and to their own sheets, a refresh keeps it.

Each example takes the small refreshed book, makes random edits with openpyxl as a user would in Excel (reorders
the planner rows, types text in any script, numbers, dates and formulas into the user columns, adds columns with
or without a header, adds a row for an account that no longer qualifies, with or without notes; edits cells,
formulas and formats of their own sheets and adds a sheet), refreshes, and checks every edit is still there:
planner cells matched by account id, formulas still pointing at the same account's row.
"""

import datetime as dt
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.styles import Font, PatternFill

from refresh_books import book_copy, cell_snapshot

from addin import owned  # noqa: E402
from addin.refresh import refresh_file  # noqa: E402

# Text a user may type: any script, emoji, quotes; not control characters (a workbook cannot hold them) and never
# starting with "=" (Excel would make that a formula, which is drawn separately).
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co")), min_size=1, max_size=40) \
    .filter(lambda s: s.strip() and not s.startswith(("=", "'")) and s == s.strip())
VALUES = st.one_of(TEXT, st.integers(-10**9, 10**9), st.floats(-1e9, 1e9, allow_nan=False).map(lambda x: round(x, 4)),
                   st.booleans(), st.dates(dt.date(2000, 1, 1), dt.date(2035, 12, 31)).map(
                       lambda d: dt.datetime(d.year, d.month, d.day)))
FORMULAS = st.sampled_from(["=LEN(A{r})", "=B{r}&\" – check\"", "=$A${r}", "=E{r}*0.1", "=SUM($E$2:$E$5)",
                            "='My Review'!B3", "=IF(A{r}=\"\",\"?\",\"ok\")", "=TODAY()"])
HEADERS = st.one_of(TEXT.filter(lambda s: s not in {c.header for c in owned.PLANNER_COLS + owned.PLANNER_DETAIL}
                                and s not in owned.PLANNER_USER and s != owned.KEY),
                    st.just(None))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "refresh-cache"
    folder.mkdir(exist_ok=True)
    return folder


def _planner_rows(ws):
    header = [c.value for c in ws[1]]
    return header, [[c.value for c in row] for row in ws.iter_rows(min_row=2, max_col=len(header))]


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_user_edit_survives_a_refresh(data, tmp_path_factory, cache):
    path = book_copy(tmp_path_factory.mktemp("prop"), cache, refreshed=True)
    wb = load_workbook(path)
    ws = wb[owned.PLANNER]
    header, rows = _planner_rows(ws)
    width = len(header)

    # The user's own columns: the four the planner gives, plus some they add (with or without a header).
    new_headers = data.draw(st.lists(HEADERS, max_size=2), label="new columns")
    user_cols = [header.index(h) for h in owned.PLANNER_USER] + list(range(width, width + len(new_headers)))
    for k, title in enumerate(new_headers):
        ws.cell(1, width + 1 + k, title)

    # Reorder the rows as a user sorting by their own column would, and slip in rows that no longer qualify.
    order = list(range(len(rows)))
    random.Random(data.draw(st.integers(0, 10**6), label="shuffle")).shuffle(order)
    ghosts = data.draw(st.lists(st.booleans(), max_size=3), label="ghost rows (True: with notes)")
    layout = [("row", i) for i in order]
    for k, with_notes in enumerate(ghosts):
        layout.insert(data.draw(st.integers(0, len(layout)), label="ghost at"), ("ghost", (k, with_notes)))

    kept = [r for r, (kind, what) in enumerate(layout, start=2) if kind == "row" or what[1]]
    moves = {old: new for new, old in enumerate(kept, start=2)}  # rows without notes that no longer qualify go
    edits = {}  # account id -> {column index: (kind, value typed, sheet row typed at)}
    for r, (kind, what) in enumerate(layout, start=2):
        values = rows[what] + [None] * len(new_headers) if kind == "row" else \
            [f"GHOST-{what[0]}"] + [None] * (width + len(new_headers) - 1)
        for j, value in enumerate(values, start=1):
            ws.cell(r, j, value)
        account = values[0]
        if kind == "ghost":
            if what[1]:
                ws.cell(r, header.index("Notes") + 1, f"ghost note {what[0]}")
                edits[account] = {header.index("Notes"): ("value", f"ghost note {what[0]}", r)}
            continue
        for col in data.draw(st.lists(st.sampled_from(user_cols), max_size=3, unique=True), label="edited"):
            if data.draw(st.booleans(), label="formula?"):
                formula = data.draw(FORMULAS, label="formula").format(r=r)
                ws.cell(r, col + 1, formula)
                edits.setdefault(account, {})[col] = ("formula", formula, r)
            else:
                value = data.draw(VALUES, label="value")
                ws.cell(r, col + 1, value)
                edits.setdefault(account, {})[col] = ("value", value, r)

    # The user's own sheets: cells, formulas and formats in "My Review", and a sheet of their own.
    review = wb["My Review"]
    for _ in range(data.draw(st.integers(0, 4), label="review edits")):
        cell = review.cell(data.draw(st.integers(7, 30)), data.draw(st.integers(1, 8)))
        cell.value = data.draw(st.one_of(VALUES, FORMULAS.map(lambda f: f.format(r=3))), label="review value")
        if data.draw(st.booleans(), label="format?"):
            cell.font = Font(bold=True, italic=True, color="1F4E78")
            cell.fill = PatternFill("solid", fgColor="FFEB9C")
            cell.number_format = "0.00%"
    own = wb.create_sheet(data.draw(st.sampled_from(["Notes ✓", "Zettel", "備考", "Q4 plan"]), label="sheet"))
    own["A1"], own["B1"] = data.draw(VALUES, label="own value"), "=A1"
    wb.save(path)
    before = {name: cell_snapshot(load_workbook(path)[name]) for name in ("My Review", own.title)}

    refresh_file(path, progress=False)

    wb = load_workbook(path)
    assert {name: cell_snapshot(wb[name]) for name in before} == before
    ws = wb[owned.PLANNER]
    new_header = [c.value for c in ws[1]]
    assert new_header[:width + len(new_headers)] == header + new_headers
    found = {}
    for row in ws.iter_rows(min_row=2):
        if row[0].value is not None:
            found.setdefault(str(row[0].value), row)
    for account, cells in edits.items():
        assert account in found, f"row of {account} lost"
        row = found[account]
        for col, (kind, typed, typed_row) in cells.items():
            got = row[col].value
            if kind == "value":
                assert got == typed, (account, new_header[col] if col < len(new_header) else col)
            else:
                assert row[0].row == moves[typed_row]
                assert got == _follow(typed, moves), (account, typed)
    ghosts_kept = {a for a in found if a.startswith("GHOST-")}
    assert ghosts_kept == {a for a in edits if a.startswith("GHOST-")}
    for account in ghosts_kept:
        assert found[account][header.index("Situation")].value.startswith("Not in the account list")


def _follow(formula: str, moves: dict[int, int]) -> str:
    """The formula once rows moved: a reference to a row of this sheet follows that row (a row that was dropped
    keeps its number); references to another sheet stay as typed."""
    return re.sub(r"(?<![A-Za-z!$\d])(\$?[A-Z]{1,3}\$?)(\d+)\b",
                  lambda m: f"{m.group(1)}{moves.get(int(m.group(2)), int(m.group(2)))}", formula)
