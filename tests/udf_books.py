"""Books for the Excel-function tests: the sample book as Excel would hand it over, and messy variants.

``as_rows`` turns a sheet into the 2-D list a UDF receives: header row first, empty cells None, dates as
datetimes (classic, COM) or as Excel serial numbers (Office.js: xlwings Server and Lite).
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from addin.template import AS_OF

EPOCH = dt.datetime(1899, 12, 30)


def serial(value: dt.datetime | dt.date) -> float:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    return (value - EPOCH).total_seconds() / 86400


def _cell(value, dates: str):
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, dt.date)):
        value = value.item()
    if isinstance(value, (dt.datetime, dt.date)) and dates == "serial":
        return serial(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return value


def as_rows(frame: pd.DataFrame, dates: str = "datetime") -> list[list]:
    """A sheet as a UDF argument: [headers] + rows."""
    body = [[_cell(v, dates) for v in row] for row in frame.itertuples(index=False, name=None)]
    return [list(frame.columns)] + body


def settings_rows(**overrides) -> list[list]:
    """The Settings sheet (Setting / Value / Note) with the template's fixed as-of date."""
    from relhealth.settings import Settings

    rows = [["Setting", "Value", "Note"]] + [list(r) for r in Settings(as_of=AS_OF).to_rows()]
    for name, value in overrides.items():
        rows.append([name, value, ""])
    return rows


def sample_sheets(accounts: int = 80, seed: int = 7) -> dict[str, pd.DataFrame]:
    from relhealth.sample import sample_book

    return sample_book(accounts=accounts, seed=seed, as_of=AS_OF)


def book_args(sheets: dict[str, pd.DataFrame], dates: str = "datetime") -> dict[str, list[list]]:
    """The UDF arguments for a book: accounts, orders, events, settings."""
    return {"accounts": as_rows(sheets["Accounts"], dates), "orders": as_rows(sheets["Orders"], dates),
            "events": as_rows(sheets["Events"], dates), "settings": settings_rows()}


def engine_health(args: dict[str, list[list]]):
    """What the engine computes from the same cells, called directly (no UDF layer)."""
    from relhealth.reader import read_book
    from relhealth.settings import Settings

    settings, issues = Settings.from_rows([(r[0], r[1]) for r in args["settings"][1:]])
    assert not issues
    sheets = {"Accounts": args["accounts"]}
    for name, key in (("Orders", "orders"), ("Events", "events")):
        if args.get(key) is not None:
            sheets[name] = args[key]
    return read_book(sheets, settings=settings)


def summary_accounts() -> list[list]:
    """An account sheet with summary columns and no order log (shape a), clean."""
    header = ["Account", "Account Name", "Last Order", "First Order", "Orders", "Annual Revenue", "NPS",
              "Complaints 90d", "Status", "Lost Date"]
    rows = [header]
    for i in range(24):
        last = dt.datetime(2026, 10, 20) - dt.timedelta(days=9 * i)
        first = dt.datetime(2019, 1, 7) + dt.timedelta(days=40 * i)
        lost = dt.datetime(2026, 3, 1) + dt.timedelta(days=5 * i) if i % 6 == 5 else None
        rows.append([f"C-{200 + i}", f"Customer {i}", last, first, float(3 + i % 9), 10000.0 + 2500 * i,
                     float(i % 11), float(i % 4), "Lost" if lost else "Active", lost])
    return rows


def messy_accounts() -> tuple[list[list], dict[str, int]]:
    """Summary accounts with the mess people really have; returns the rows and where each mess is (0-based)."""
    rows = summary_accounts()
    where = {"text date": 3, "next tues": 5, "money": 6, "na_nps": 8, "blank row": 10, "no id": 12,
             "error dict": 14}
    rows[where["text date"] + 1][2] = "2026-09-03"           # an ISO text date: fine
    rows[where["next tues"] + 1][2] = "next tues"             # not a date: that row's risk is a message
    rows[where["money"] + 1][5] = "$1,200"                    # money text: fine
    rows[where["na_nps"] + 1][6] = "#N/A"                     # error in NPS: risk stays, tier is a message
    rows[where["blank row"] + 1] = [None] * len(rows[0])     # a blank row: blank output
    rows[where["no id"] + 1][0] = None                        # data without an account id
    rows[where["error dict"] + 1][2] = {"type": "Error", "errorType": "NotAvailable", "basicValue": "#N/A"}
    return rows, where
