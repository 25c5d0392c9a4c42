"""Messy .xlsx books built here with openpyxl, read end to end (addin.workbook -> relhealth.reader).

Each shape of book (a: accounts with summary columns; b: plus an order log; c: plus an event log and a Settings
sheet) is checked value by value and issue by issue.
"""

from __future__ import annotations

import datetime as dt
import zipfile

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

from addin.cli import main as cli_main
from addin.workbook import load_sheets, read_book_file
from relhealth.book import BookError

D = pd.Timestamp
NAT = pd.NaT


def save(tmp_path, sheets: dict[str, list[list]], hidden: dict[str, list[str]] | None = None, name="book.xlsx"):
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for letter in (hidden or {}).get(title, []):
            sheet.column_dimensions[letter].hidden = True
    path = tmp_path / name
    workbook.save(path)
    return path


def issues_of(book) -> list[tuple]:
    return [tuple(r) for r in book.issues[["sheet", "row", "column", "value", "problem"]].itertuples(index=False)]


# ------------------------------------------------------------------------------------ shape (a): accounts alone

SUMMARY_HEADERS = ["Acct #", "Client Name", "Rep", "Revenue", "First Purchase", "Last Purchase", "# Orders",
                   "Revenue 12M", "Complaints", "Price Increase", "Status", "Date Lost", "NPS"]
SUMMARY_ROWS = [
    ["Key accounts - summary"],
    ["Exported from the CRM on 2025-10-01"],
    [],
    SUMMARY_HEADERS,
    ["A-001", "Acme Ltd", "Ann", 111, dt.datetime(2023, 1, 10), "15/03/2025", 12, "$1,200.50", 0, "Y", "Active",
     None, 9],
    ["A-002", "Beta GmbH", "Bob", 222, "2023-02-11", "02/04/2025", "7", "1.2k", 3, "N", "Churned", "2025-05-01",
     "8"],
    [],
    ["A-003", "Gamma Inc", "Cy", 333, "Mar 15, 2023", "#N/A", -3, "(300)", "#REF!", "x", "Current", None, "#N/A"],
    ["A-004", "Delta LLC", "Ann", 444, 44927, "28/02/2025", 4, "USD 300", 1, True, "Active", dt.date(2025, 6, 30),
     10],
    ["A-005", "Epsilon", "Bob", 555, "sometime", "01/01/2025", 2, "-", 0, "maybe", "Cancelled", None, 7],
    ["A-002", "Beta again", "Bob", 666, "2020-01-01", "01/01/2020", 1, "abc", 9, "Y", "Active", None, 1],
    [None, "Orphan Co", "Cy", 777, "2024-01-01", "05/05/2025", 1, 10, 0, "N", "Active", None, 5],
    ["Total", None, None, 2997, None, None, 26, "$3,000", 4, None, None, None, None],
]


def test_shape_a_accounts_with_summary_columns(tmp_path):
    path = save(tmp_path, {"Client Summary": SUMMARY_ROWS}, hidden={"Client Summary": ["D"]})
    book = read_book_file(path)
    assert book.shape_name == "accounts only"
    assert len(book.orders) == 0 and len(book.events) == 0
    expected = pd.DataFrame({
        "account_id": pd.Series(["A-001", "A-002", "A-003", "A-004", "A-005"], dtype=object),
        "account_name": pd.Series(["Acme Ltd", "Beta GmbH", "Gamma Inc", "Delta LLC", "Epsilon"], dtype=object),
        "owner": pd.Series(["Ann", "Bob", "Cy", "Ann", "Bob"], dtype=object),
        "nps": [9.0, 8.0, np.nan, 10.0, 7.0],
        "status": pd.Series(["Active", "Lost", "Active", "Lost", "Lost"], dtype=object),
        "lost_date": pd.Series([NAT, D("2025-05-01"), NAT, D("2025-06-30"), NAT], dtype="datetime64[ns]"),
        "first_order": pd.Series([D("2023-01-10"), D("2023-02-11"), D("2023-03-15"), D("2023-01-01"), NAT],
                                 dtype="datetime64[ns]"),
        "last_order": pd.Series([D("2025-03-15"), D("2025-04-02"), NAT, D("2025-02-28"), D("2025-01-01")],
                                dtype="datetime64[ns]"),
        "order_count": [12.0, 7.0, np.nan, 4.0, 2.0],
        "revenue_12m": [1200.5, 1200.0, -300.0, 300.0, 0.0],
        "complaints_90d": [0.0, 3.0, np.nan, 1.0, 0.0],
        "price_increase_flag": [True, False, True, True, False],
        "source_row": np.array([5, 6, 8, 9, 10], dtype=np.int64),
    })
    pd.testing.assert_frame_equal(book.accounts, expected)
    assert "annual_revenue" not in book.accounts          # "Revenue" sits in a hidden helper column
    assert issues_of(book) == [
        ("Client Summary", 8, "Last Purchase", "#N/A", "is an Excel error (#N/A)"),
        ("Client Summary", 8, "# Orders", "-3", "is below zero"),
        ("Client Summary", 8, "Complaints", "#REF!", "is an Excel error (#REF!)"),
        ("Client Summary", 8, "NPS", "#N/A", "is an Excel error (#N/A)"),
        ("Client Summary", 10, "First Purchase", "sometime", "is not a date"),
        ("Client Summary", 10, "Price Increase", "maybe", "is not a yes/no flag"),
        ("Client Summary", 11, "Acct #", "A-002", "repeats an account id already on row 6; this row was left out"),
        ("Client Summary", 12, "Acct #", "", "is blank; the row was left out"),
    ]
    attrs = book.accounts.attrs
    assert attrs["header_map"]["last_order"] == "Last Purchase" and attrs["header_map"]["account_id"] == "Acct #"
    assert attrs["header_row"] == 4 and attrs["skipped_totals"] == [13]
    assert attrs["notes"]["last_order"] == "dates read day/month/year"


# ------------------------------------------------------------------------------------ shape (b): plus an order log

CUSTOMERS = [
    ["Customer ID", "Customer Name", "Segment", "Customer Since", "Active", "Exec Sponsor"],
    [1001, "North Co", "Retail", "3/15/2021", "Y", "Jane Roe"],
    [1002, "South Co", "Health", "12/31/2020", "N", "Y"],
    [1003, "East Co", "Retail", dt.datetime(2022, 7, 1), "yes", "N"],
    [1004, "West Co", None, "01/02/2022", "#N/A", None],
]
INVOICES = [
    ["Invoices 2025", None, None],
    ["Date", "Client", "Order Value"],
    [dt.datetime(2025, 1, 5), 1001, "$1,200.50"],
    [45663, "1002", 300],
    ["2025-01-07", 1003.0, "(50)"],
    ["1/8/2025", " 1001 ", "#N/A"],
    ["12/31/2024", 1004, "1.5k"],
    [None, None, None],
    ["31/01/2025", 1001, 10],
    [None, 1002, 20],
    ["01/09/2025", 9999, 5],
    ["01/10/2025", 9999, 6],
    ["01/11/2025", "#REF!", 7],
    [None, None, 1981.5],                      # a totals row: Excel keeps the SUM's value
]


def test_shape_b_accounts_and_order_log(tmp_path):
    path = save(tmp_path, {"Customers": CUSTOMERS, "2025 invoices": INVOICES})
    book = read_book_file(path)
    assert book.shape_name == "accounts + orders"
    expected_accounts = pd.DataFrame({
        "account_id": pd.Series(["1001", "1002", "1003", "1004"], dtype=object),
        "account_name": pd.Series(["North Co", "South Co", "East Co", "West Co"], dtype=object),
        "segment": pd.Series(["Retail", "Health", "Retail", None], dtype=object),
        "customer_since": pd.Series([D("2021-03-15"), D("2020-12-31"), D("2022-07-01"), D("2022-01-02")],
                                    dtype="datetime64[ns]"),
        "exec_sponsor": pd.Series(["Jane Roe", "Yes", None, None], dtype=object),
        "status": pd.Series(["Active", "Lost", "Active", "Active"], dtype=object),
        "source_row": np.array([2, 3, 4, 5], dtype=np.int64),
    })
    pd.testing.assert_frame_equal(book.accounts, expected_accounts)
    expected_orders = pd.DataFrame({
        "account_id": pd.Series(["1001", "1002", "1003", "1001", "1004"], dtype=object),
        "order_date": pd.Series([D("2025-01-05"), D("2025-01-06"), D("2025-01-07"), D("2025-01-08"),
                                 D("2024-12-31")], dtype="datetime64[ns]"),
        "amount": [1200.5, 300.0, -50.0, np.nan, 1500.0],
        "source_row": np.array([3, 4, 5, 6, 7], dtype=np.int64),
    })
    pd.testing.assert_frame_equal(book.orders, expected_orders)
    assert issues_of(book) == [
        ("Customers", 5, "Active", "#N/A", "is an Excel error (#N/A)"),
        ("2025 invoices", 6, "Order Value", "#N/A", "is an Excel error (#N/A)"),
        ("2025 invoices", 9, "Date", "31/01/2025",
         "is not a date in this column's order (month/day/year); the order line was left out"),
        ("2025 invoices", 10, "Date", "", "is blank; the order line was left out"),
        ("2025 invoices", 13, "Client", "#REF!", "is an Excel error (#REF!); the order line was left out"),
        ("2025 invoices", None, "Client", "9999",
         "2 order lines name accounts not in Customers, e.g. 9999; they were left out"),
    ]
    assert book.orders.attrs["header_map"] == {"account_id": "Client", "order_date": "Date",
                                               "amount": "Order Value"}
    assert book.orders.attrs["skipped_totals"] == [14]


# ------------------------------------------------------------------------------------ shape (c): plus events, Settings

ACCOUNTS = [
    ["Account", "Name", "Owner", "Status", "Lost Date", "Final PO"],
    ["K1", "Kilo", "Ann", "Live", None, "03/04/2025"],
    ["K2", "Lima", "Bob", "Closed", "05/06/2025", "01/02/2025"],
    ["K3", "Mike", "Cy", "Inactive", None, 45700],
    ["Grand Total", None, None, None, None, None],
]
ORDER_LOG = [
    ["Account ID", "Order Date", "Amount"],
    ["K1", "03/04/2025", "€1.200,50"],
    ["K2", "04/03/2025", 10],
    ["K3", "10/02/2025", "USD 300"],
]
ACTIVITY = [
    ["Relationship log"],
    ["Customer", "When", "What happened", "Notes"],
    ["K1", "02/03/2025", "Complaint", "late truck"],
    ["K1", "03/03/2025", "Service failure", None],
    ["K2", "04/03/2025", "M&A", "bought by Oscar"],
    ["K3", "05/03/2025", "price hike", 5],
    ["K3", "06/03/2025", "Birthday", "cake"],
    ["K2", "07/03/2025", None, "forgot the type"],
]
SETTINGS_ROWS = [
    ["Setting", "Value", "Note"],
    ["date_order", "DMY", "we write day first"],
    ["column Accounts last_order", "Final PO", "our header"],
    ["horizon_days", "soon", "oops"],
]


def test_shape_c_accounts_orders_events_and_settings(tmp_path):
    path = save(tmp_path, {"Accounts": ACCOUNTS, "Orders": ORDER_LOG, "Activity": ACTIVITY,
                           "Settings": SETTINGS_ROWS})
    book = read_book_file(path)
    assert book.shape_name == "accounts + orders + events"
    assert book.settings.date_order == "DMY" and book.settings.horizon_days == 180
    expected_accounts = pd.DataFrame({
        "account_id": pd.Series(["K1", "K2", "K3"], dtype=object),
        "account_name": pd.Series(["Kilo", "Lima", "Mike"], dtype=object),
        "owner": pd.Series(["Ann", "Bob", "Cy"], dtype=object),
        "status": pd.Series(["Active", "Lost", "Lost"], dtype=object),
        "lost_date": pd.Series([NAT, D("2025-06-05"), NAT], dtype="datetime64[ns]"),
        "last_order": pd.Series([D("2025-04-03"), D("2025-02-01"), D("2025-02-12")], dtype="datetime64[ns]"),
        "source_row": np.array([2, 3, 4], dtype=np.int64),
    })
    pd.testing.assert_frame_equal(book.accounts, expected_accounts)
    expected_orders = pd.DataFrame({
        "account_id": pd.Series(["K1", "K2", "K3"], dtype=object),
        "order_date": pd.Series([D("2025-04-03"), D("2025-03-04"), D("2025-02-10")], dtype="datetime64[ns]"),
        "amount": [1200.5, 10.0, 300.0],
        "source_row": np.array([2, 3, 4], dtype=np.int64),
    })
    pd.testing.assert_frame_equal(book.orders, expected_orders)
    expected_events = pd.DataFrame({
        "account_id": pd.Series(["K1", "K1", "K2", "K3"], dtype=object),
        "event_date": pd.Series([D("2025-03-02"), D("2025-03-03"), D("2025-03-04"), D("2025-03-05")],
                                dtype="datetime64[ns]"),
        "event_type": pd.Series(["complaint", "complaint", "merger", "price_increase"], dtype=object),
        "detail": pd.Series(["late truck", None, "bought by Oscar", "5"], dtype=object),
        "source_row": np.array([3, 4, 5, 6], dtype=np.int64),
    })
    pd.testing.assert_frame_equal(book.events, expected_events)
    assert issues_of(book) == [
        ("Settings", 4, "Value", "soon",
         "is not a valid value for 'horizon_days' (could not convert string to float: 'soon'); the default was kept"),
        ("Activity", 7, "What happened", "Birthday",
         "is not an event type this add-in knows; the event was left out"),
        ("Activity", 8, "What happened", "", "is blank; the event was left out"),
    ]
    assert book.accounts.attrs["header_map"]["last_order"] == "Final PO"
    assert book.accounts.attrs["skipped_totals"] == [5]
    assert book.events.attrs["sheet"] == "Activity" and book.events.attrs["header_row"] == 2


# ------------------------------------------------------------------------------------ files and the command line

def test_hidden_columns_are_read_from_the_file(tmp_path):
    path = save(tmp_path, {"A": [["Account", "x", "y", "z"]], "B": [["Account"]]}, hidden={"A": ["B", "D"]})
    sheets, hidden = load_sheets(path)
    assert hidden == {"A": {1, 3}}
    assert sheets["A"][0] == ("Account", "x", "y", "z")


def test_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_book_file(tmp_path / "nope.xlsx")


@pytest.mark.parametrize("name,content,message", [
    ("book.csv", b"Account\nA1\n", "is not an Excel .xlsx workbook"),
    ("book.xls", b"\xd0\xcf\x11\xe0", "is an old-style .xls workbook"),
    ("book.xlsx", b"not a zip", "is not an Excel .xlsx workbook"),
], ids=["csv", "old-xls", "fake-xlsx"])
def test_not_an_xlsx_is_a_clear_book_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BookError, match=message):
        read_book_file(path)


def test_broken_xlsx_zip_is_a_clear_book_error(tmp_path):
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "no workbook here")
    with pytest.raises(BookError, match="could not be opened as an Excel workbook"):
        read_book_file(path)


def test_cli_read_summarises_the_book(tmp_path, capsys):
    path = save(tmp_path, {"Customers": CUSTOMERS, "2025 invoices": INVOICES})
    assert cli_main(["read", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Book: accounts + orders" in out
    assert 'Accounts: 4 accounts from sheet "Customers" (headers on row 1); 1 lost' in out
    assert 'Orders: 5 order lines from sheet "2025 invoices" (headers on row 2), 2024-12-31 to 2025-01-08' in out
    assert 'account_id <- "Client"' in out and "Data issues: 6" in out


def test_cli_read_names_the_missing_column(tmp_path, capsys):
    path = save(tmp_path, {"Accounts": [["Region", "Rep"], ["East", "Bo"]]})
    assert cli_main(["read", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith('relhealth: Accounts: no account column. Found: "Region", "Rep". Accepted: "Account ID"')
