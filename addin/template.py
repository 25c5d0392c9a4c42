"""workbook_template.xlsx: the workbook a sales ops user starts from, generated here (``relhealth template``).

Sheets: ``Start here`` (instructions), ``Accounts`` / ``Orders`` / ``Events`` (recognised headers, a few example
rows, room for more), ``Settings`` (every default, with a fixed as-of date so results are reproducible),
``Scores`` (the formulas a user would type: whole-table and single-row forms of each function, and the table
functions) and ``xlwings.conf`` (``UDF Modules`` = ``udfs`` for the classic add-in).

Whole-table formulas are written as array formulas over their exact output range: LibreOffice does not spill
dynamic arrays, and Excel shows them as {=...}. The ranges reach past the example rows (blank rows give blank
results), so pasting up to ``MAX_ACCOUNTS`` accounts needs no formula change. The table functions' ranges are
sized from what the functions return on the example rows, so building the template calls them once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.formula import ArrayFormula

AS_OF = dt.date(2026, 10, 31)
MAX_ACCOUNTS, MAX_ORDERS, MAX_EVENTS = 200, 2000, 500
FONT = "Calibri"

ACCOUNT_HEADERS = ["Account ID", "Account Name", "Owner", "Segment", "Annual Revenue", "Customer Since",
                   "Renewal Date", "Exec Sponsor", "NPS", "Referrals", "Status", "Lost Date", "Lost Reason"]
ORDER_HEADERS = ["Account ID", "Order Date", "Amount"]
EVENT_HEADERS = ["Account ID", "Event Date", "Event", "Detail"]

_D = dt.date
EXAMPLE_ACCOUNTS = [
    ["A-1001", "Harbor Foods", "Dana Ruiz", "Mid-Market", 120000, _D(2019, 3, 4), _D(2027, 3, 4), "Lee Park", 9, 2,
     "Active", None, None],
    ["A-1002", "Northwind Traders", "Dana Ruiz", "Enterprise", 410000, _D(2017, 6, 12), _D(2027, 6, 12), None, 6, 0,
     "Active", None, None],
    ["A-1003", "Blue Ridge Clinic", "Sam Okafor", "SMB", 18500, _D(2022, 1, 20), _D(2027, 1, 20), None, 4, 0,
     "Active", None, None],
    ["A-1004", "Kestrel Logistics", "Sam Okafor", "Mid-Market", 86000, _D(2020, 9, 1), _D(2026, 12, 1), "Ana Silva",
     7, 1, "Active", None, None],
    ["A-1005", "Maple & Co", "Priya Nair", "SMB", 9200, _D(2023, 4, 15), _D(2027, 4, 15), None, None, 0, "Lost",
     _D(2026, 7, 18), "Better price from a competitor"],
    ["A-1006", "Summit Outdoor", "Priya Nair", "Mid-Market", 64000, _D(2018, 11, 5), _D(2026, 11, 5), "Tom Reyes",
     10, 3, "Active", None, None],
    ["A-1007", "Orchid Dental", "Dana Ruiz", "SMB", 12800, _D(2021, 2, 8), _D(2027, 2, 8), None, 3, 0, "Active",
     None, None],
    ["A-1008", "Granite Works", "Sam Okafor", "Enterprise", 275000, _D(2016, 5, 30), _D(2027, 5, 30), "Mia Chen",
     8, 1, "Lost", _D(2026, 9, 2), "Acquired by another group"],
]
EXAMPLE_ORDERS = [[account, _D(*day), amount] for account, day, amount in [
    ("A-1001", (2026, 1, 14), 9800), ("A-1001", (2026, 3, 11), 10400), ("A-1001", (2026, 5, 13), 9950),
    ("A-1001", (2026, 7, 15), 10100), ("A-1001", (2026, 9, 16), 10600),
    ("A-1002", (2025, 12, 3), 36000), ("A-1002", (2026, 2, 25), 33500), ("A-1002", (2026, 6, 2), 35200),
    ("A-1003", (2025, 11, 20), 4200), ("A-1003", (2026, 4, 8), 4900),
    ("A-1004", (2026, 2, 2), 7100), ("A-1004", (2026, 4, 6), 6900), ("A-1004", (2026, 6, 1), 7300),
    ("A-1004", (2026, 8, 3), 7000), ("A-1004", (2026, 10, 5), 7250),
    ("A-1005", (2025, 10, 9), 2300), ("A-1005", (2026, 2, 17), 2150),
    ("A-1006", (2026, 1, 6), 5200), ("A-1006", (2026, 3, 3), 5600), ("A-1006", (2026, 5, 5), 5400),
    ("A-1006", (2026, 7, 7), 5900), ("A-1006", (2026, 9, 8), 5500), ("A-1006", (2026, 10, 27), 5800),
    ("A-1007", (2025, 8, 19), 3100), ("A-1007", (2026, 1, 27), 2900),
    ("A-1008", (2025, 12, 15), 24000), ("A-1008", (2026, 3, 16), 22500), ("A-1008", (2026, 6, 15), 23800),
]]
EXAMPLE_EVENTS = [[account, _D(*day), event, detail] for account, day, event, detail in [
    ("A-1003", (2026, 8, 21), "Complaint", "Late delivery, second time this quarter"),
    ("A-1003", (2026, 9, 30), "Complaint", "Invoice errors"),
    ("A-1005", (2026, 5, 2), "Better competitor price", "Quote 12% below ours"),
    ("A-1007", (2026, 6, 10), "New decision-maker", "Practice manager replaced"),
    ("A-1007", (2026, 9, 14), "Contact unresponsive", "No reply to three emails"),
    ("A-1008", (2026, 6, 30), "Merger", "Acquired by Apex Holdings"),
    ("A-1002", (2026, 10, 1), "Price increase", "4% list price uplift"),
]]

# Scores sheet: the per-account functions, left to right (Excel name, column header).
FORMATS = {"CHURN_RISK": "0%", "EXPECTED_PURCHASES": "0.0"}  # how the per-account results are shown
PER_ACCOUNT = [("CHURN_RISK", "Churn risk"), ("RISK_BAND", "Risk band"), ("RISK_DRIVERS", "Risk drivers"),
               ("EXPECTED_PURCHASES", "Expected purchases"), ("LOYALTY_TIER", "Loyalty tier"),
               ("ONE_MISTAKE_AWAY", "One mistake away"), ("WINBACK_PLAY", "Win-back play"),
               ("DATA_ISSUES", "Data issues")]
TABLES = [("BREAKUP_SEASONALITY", '"month"', "Break-ups by month"),
          ("TRIGGER_LIFT", None, "Break-up rate after each event"),
          ("COMPLAINT_STEPS", None, "Break-up rate by number of complaints")]
SINGLE_ROW_EXAMPLES = ["A-1001", "A-1003", "A-1005", "A-1007"]

START_HERE = [
    "relhealth: relationship health for your account sheet",
    "",
    "1. Install the functions (see docs/excel-functions.md): the classic xlwings add-in (Windows, free),",
    "   xlwings Lite (Excel on Windows/Mac/web, free: add relhealth to requirements.txt), or xlwings Server.",
    "2. Replace the example rows on Accounts, Orders and Events with your own (keep the header row; up to "
    f"{MAX_ACCOUNTS} accounts fit the ranges used here). Your own header names are fine: 'Customer', 'Acct #',",
    "   'Last purchase' and many more are recognised.",
    "3. Settings holds every threshold with its default. as_of is fixed to "
    f"{AS_OF.isoformat()} so these examples always give the same numbers: clear it to compute as of today.",
    "4. Scores shows the formulas: whole-table form (one value per account row) and single-row form",
    "   =CHURN_RISK(Accounts!$A$1:$M$201, \"A-1001\", ...) for one account; the table functions spill a table.",
    "",
    "Arguments of every function: (accounts, [account], [orders], [events], [settings], [horizon_days], [as_of]).",
    "A bad cell shows a short message in that row's result, e.g. CHURN_RISK: 'Last Order' \"next tues\" is not a "
    "date (row 14).",
    "DATA_ISSUES lists every problem found in a row.",
]


def _ref(sheet: str, columns: int, rows: int) -> str:
    return f"{sheet}!$A$1:${get_column_letter(columns)}${rows + 1}"


def ranges(settings_rows: int) -> dict[str, str]:
    """The absolute ranges the template's formulas use (header row included)."""
    return {"accounts": _ref("Accounts", len(ACCOUNT_HEADERS), MAX_ACCOUNTS),
            "orders": _ref("Orders", len(ORDER_HEADERS), MAX_ORDERS),
            "events": _ref("Events", len(EVENT_HEADERS), MAX_EVENTS),
            "settings": f"Settings!$A$1:$C${settings_rows + 1}"}


def formula(name: str, second: str, refs: dict[str, str]) -> str:
    """``=NAME(accounts, second, orders, events, settings)``; ``second`` empty for the whole table."""
    return f"={name}({refs['accounts']},{second},{refs['orders']},{refs['events']},{refs['settings']})"


def settings_rows() -> list[tuple]:
    from relhealth.settings import Settings

    return Settings(as_of=AS_OF).to_rows()


def _sheet_rows(headers: list[str], rows: list[list]) -> list[list]:
    return [headers] + [list(r) for r in rows]


def _write_table(ws, headers: list[str], rows: list[list], widths: dict[str, int]) -> None:
    for r, row in enumerate(_sheet_rows(headers, rows), start=1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            cell.font = Font(name=FONT, bold=(r == 1))
            if isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(value, (int, float)) and headers[c - 1] in ("Annual Revenue", "Amount"):
                cell.number_format = "#,##0"
    for c, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(c)].width = widths.get(header, max(12, len(header) + 2))
    ws.freeze_panes = "A2"


def _table_shapes(refs_values: dict) -> dict[str, tuple[int, int]]:
    """Rows x columns each table function returns on the example data (sizes its array formula)."""
    import udfs

    shapes = {}
    for name, second, _title in TABLES:
        result = udfs.FUNCTIONS[name](refs_values["accounts"], second.strip('"') if second else None,
                                      refs_values["orders"], refs_values["events"], refs_values["settings"])
        shapes[name] = (len(result), max(len(row) for row in result))
    return shapes


def example_values() -> dict[str, list[list]]:
    """The template's ranges as the functions receive them (header row first, blank rows after the examples)."""
    def padded(headers, rows, size):
        body = _sheet_rows(headers, rows)
        return body + [[None] * len(headers) for _ in range(size + 1 - len(body))]

    settings = [["Setting", "Value", "Note"]] + [list(r) for r in settings_rows()]
    return {"accounts": padded(ACCOUNT_HEADERS, EXAMPLE_ACCOUNTS, MAX_ACCOUNTS),
            "orders": padded(ORDER_HEADERS, EXAMPLE_ORDERS, MAX_ORDERS),
            "events": padded(EVENT_HEADERS, EXAMPLE_EVENTS, MAX_EVENTS),
            "settings": settings}


def build_template(out: str | Path = "workbook_template.xlsx") -> Path:
    """Write the template workbook to ``out`` and return its path. Deterministic: same code, same cells."""
    out = Path(out)
    wb = Workbook()
    start = wb.active
    start.title = "Start here"
    for r, line in enumerate(START_HERE, start=1):
        start.cell(row=r, column=1, value=line).font = Font(name=FONT, bold=(r == 1), size=14 if r == 1 else 11)
    start.column_dimensions["A"].width = 110

    _write_table(wb.create_sheet("Accounts"), ACCOUNT_HEADERS, EXAMPLE_ACCOUNTS,
                 {"Account Name": 22, "Lost Reason": 30, "Exec Sponsor": 14})
    _write_table(wb.create_sheet("Orders"), ORDER_HEADERS, EXAMPLE_ORDERS, {})
    _write_table(wb.create_sheet("Events"), EVENT_HEADERS, EXAMPLE_EVENTS, {"Event": 26, "Detail": 42})
    rows = settings_rows()
    _write_table(wb.create_sheet("Settings"), ["Setting", "Value", "Note"], [list(r) for r in rows],
                 {"Setting": 34, "Value": 16, "Note": 90})

    refs = ranges(len(rows))
    _write_scores(wb.create_sheet("Scores"), refs, _table_shapes(example_values()))

    conf = wb.create_sheet("xlwings.conf")
    conf["A1"], conf["B1"] = "UDF Modules", "udfs"
    conf.column_dimensions["A"].width = 16

    # Fixed metadata so the file is identical build after build.
    wb.properties.creator = "relhealth"
    wb.properties.created = wb.properties.modified = dt.datetime(2026, 1, 1)
    wb.save(out)
    return out


def _write_scores(ws, refs: dict[str, str], shapes: dict[str, tuple[int, int]]) -> None:
    bold, fill = Font(name=FONT, bold=True), PatternFill("solid", fgColor="DDEBF7")
    ws["A1"] = "Account ID"
    ws["A1"].font = bold
    last = MAX_ACCOUNTS + 1
    for r in range(2, last + 1):
        ws.cell(row=r, column=1, value=f'=IF(Accounts!A{r}="","",Accounts!A{r})')
    for c, (name, header) in enumerate(PER_ACCOUNT, start=2):
        column = get_column_letter(c)
        ws.cell(row=1, column=c, value=header).font = bold
        target = f"{column}2:{column}{last}"
        ws[f"{column}2"] = ArrayFormula(target, formula(name, "", refs))
        if name in FORMATS:
            for r in range(2, last + 1):
                ws.cell(row=r, column=c).number_format = FORMATS[name]
        ws.column_dimensions[column].width = 40 if name in ("RISK_DRIVERS", "WINBACK_PLAY", "DATA_ISSUES") else 16

    # Single-row form, to the right: one account id per row.
    left = len(PER_ACCOUNT) + 3
    ws.cell(row=1, column=left, value="Single account").font = bold
    ws.cell(row=1, column=left).fill = fill
    ws.cell(row=2, column=left, value="Account").font = bold
    for c, (name, header) in enumerate(PER_ACCOUNT, start=left + 1):
        ws.cell(row=2, column=c, value=header).font = bold
    id_column = get_column_letter(left)
    for r, account in enumerate(SINGLE_ROW_EXAMPLES, start=3):
        ws.cell(row=r, column=left, value=account)
        for c, (name, _header) in enumerate(PER_ACCOUNT, start=left + 1):
            cell = ws.cell(row=r, column=c, value=formula(name, f"${id_column}{r}", refs))
            cell.number_format = FORMATS.get(name, "General")
    ws.column_dimensions[id_column].width = 14

    # Table functions, below the single-row block, each an array formula sized to its result.
    row = len(SINGLE_ROW_EXAMPLES) + 5
    for name, second, title in TABLES:
        ws.cell(row=row, column=left, value=title).font = bold
        ws.cell(row=row, column=left).fill = fill
        height, width = shapes[name]
        top = row + 1
        target = f"{id_column}{top}:{get_column_letter(left + width - 1)}{top + height - 1}"
        ws[f"{id_column}{top}"] = ArrayFormula(target, formula(name, second or "", refs))
        row = top + height + 1
    ws.freeze_panes = "B2"
    for r in range(1, 3):
        ws.cell(row=r, column=left).alignment = Alignment(horizontal="left")
