"""read_book on in-memory sheets: finding tables, mapping headers, classifying sheets, whole-book errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from relhealth.book import BookError
from relhealth.reader import describe_book, read_book
from relhealth.settings import Settings
from relhealth.tables import totals_labels

ACCOUNTS = [["Account ID", "Account Name"], ["A1", "One"], ["A2", "Two"], ["A3", "Three"]]


def orders(*rows):
    return [["Customer", "Date", "Amount"], *rows]


@pytest.mark.parametrize("header", ["Account ID", "account_id", "ACCOUNT-ID", "Customer", "Client", "Acct",
                                    "Acct #", "Customer No.", "  client  id "],
                         ids=["label", "snake", "upper-dash", "customer", "client", "acct", "acct-hash",
                              "customer-no", "padded"])
def test_account_header_synonyms(header):
    book = read_book({"Sheet1": [[header, "Last Purchase"], ["A1", "2025-01-02"]]})
    assert book.accounts["account_id"].tolist() == ["A1"]
    assert book.accounts["last_order"].tolist() == [pd.Timestamp("2025-01-02")]
    assert book.accounts.attrs["header_map"]["account_id"] == header.strip()


@pytest.mark.parametrize("header,column", [("Last Purchase", "last_order"), ("Last Order Date", "last_order"),
                                           ("Revenue 12M", "revenue_12m"), ("# Orders", "order_count"),
                                           ("Complaints", "complaints_90d"), ("Merger", "merger_flag"),
                                           ("New DM", "new_decision_maker_flag"), ("Churn Date", "lost_date")],
                         ids=["last-purchase", "last-order-date", "revenue-12m", "hash-orders", "complaints",
                              "merger", "new-dm", "churn-date"])
def test_summary_header_synonyms(header, column):
    book = read_book({"Accounts": [["Account", header], ["A1", None]]})
    assert column in book.accounts
    assert book.accounts.attrs["header_map"][column] == header


def test_title_rows_above_the_header_are_skipped():
    grid = [["Quarterly review"], [None, "prepared by ops"], [], *ACCOUNTS]
    book = read_book({"Review": grid})
    assert book.accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    assert book.accounts["source_row"].tolist() == [5, 6, 7]
    assert book.accounts.attrs["header_row"] == 4


def test_dataframe_sheets_use_their_columns_as_headers():
    frame = pd.DataFrame({"Client": ["A1", "A2"], "Status": ["Churned", "Live"]})
    book = read_book({"Accounts": frame})
    assert book.accounts["status"].tolist() == ["Lost", "Active"]
    assert book.accounts["source_row"].tolist() == [2, 3]


def test_dataframe_without_header_is_searched_like_a_grid():
    frame = pd.DataFrame([["Title", None], ["Account", "Owner"], ["A1", "Ann"]])
    book = read_book({"Accounts": frame})
    assert book.accounts[["account_id", "owner"]].values.tolist() == [["A1", "Ann"]]


def test_sheets_are_recognised_by_content_not_name():
    book = read_book({"Data 1": orders(["A1", "2025-01-01", 5], ["A1", "2025-02-01", 6], ["A2", "2025-02-01", 7]),
                      "Data 2": ACCOUNTS})
    assert book.shape_name == "accounts + orders"
    assert book.accounts.attrs["sheet"] == "Data 2" and book.orders.attrs["sheet"] == "Data 1"
    assert book.orders["amount"].tolist() == [5.0, 6.0, 7.0]


def test_competing_account_sheets_prefer_the_one_named_accounts():
    other = [["Account ID", "Account Name"], ["Z1", "Zed"]]
    book = read_book({"Copy": other, "Accounts": ACCOUNTS})
    assert book.accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    assert book.accounts.attrs["book"]["ignored_sheets"] == ["Copy"]


def test_hidden_helper_column_is_never_matched():
    grid = [["Account", "Owner", "Owner"], ["A1", "helper", "Ann"]]
    book = read_book({"Accounts": grid}, hidden={"Accounts": {1}})
    assert book.accounts["owner"].tolist() == ["Ann"]
    assert read_book({"Accounts": grid}).accounts["owner"].tolist() == ["helper"]


def test_settings_column_override_names_a_user_header():
    book = read_book({"Accounts": [["Account", "Final PO"], ["A1", "2025-03-01"]],
                      "Settings": [["Setting", "Value"], ["column Accounts last_order", "Final PO"]]})
    assert book.accounts["last_order"].tolist() == [pd.Timestamp("2025-03-01")]
    assert book.issues.empty


def test_settings_date_order_forces_day_first():
    grid = [["Account", "Last Order"], ["A1", "03/04/2025"]]
    assert read_book({"Accounts": grid}).accounts["last_order"].tolist() == [pd.Timestamp("2025-03-04")]
    forced = read_book({"Accounts": grid, "Settings": [["Setting", "Value"], ["Date order", "DMY"]]})
    assert forced.accounts["last_order"].tolist() == [pd.Timestamp("2025-04-03")]
    passed = read_book({"Accounts": grid}, settings=Settings(date_order="DMY"))
    assert passed.accounts["last_order"].tolist() == [pd.Timestamp("2025-04-03")]


def test_settings_issues_carry_the_real_sheet_row():
    book = read_book({"Accounts": ACCOUNTS,
                      "Settings": [["My settings"], [], ["Setting", "Value"], ["horizon days", 90],
                                   ["nonsense", 1]]})
    assert book.settings.horizon_days == 90
    assert book.issues.to_dict("records") == [
        {"sheet": "Settings", "row": 5, "column": "Setting", "value": "nonsense",
         "problem": "is not a setting this add-in knows; it was ignored"}]


def test_status_is_lost_when_a_lost_date_is_given():
    grid = [["Account", "Status", "Lost Date"], ["A1", "Active", "2025-01-01"], ["A2", None, None],
            ["A3", "Churned", None]]
    assert read_book({"Accounts": grid}).accounts["status"].tolist() == ["Lost", "Active", "Lost"]


def test_a_churned_flag_column_means_lost():
    grid = [["Account", "Churned"], ["A1", "Y"], ["A2", "N"]]
    assert read_book({"Accounts": grid}).accounts["status"].tolist() == ["Lost", "Active"]


def test_status_is_always_present_and_active_by_default():
    assert read_book({"Accounts": ACCOUNTS}).accounts["status"].tolist() == ["Active"] * 3


@pytest.mark.parametrize("label", ["Total", "TOTALS", "Grand total", "Sum", "Subtotal", "Total:", "Total (USD)"],
                         ids=["total", "totals", "grand-total", "sum", "subtotal", "colon", "paren"])
def test_totals_rows_are_not_accounts(label):
    grid = [["Account", "Revenue 12M"], ["A1", 5], ["A2", 6], [label, 11]]
    book = read_book({"Accounts": grid})
    assert book.accounts["account_id"].tolist() == ["A1", "A2"]
    assert book.issues.empty and book.accounts.attrs["skipped_totals"] == [4]


def test_totals_labels_are_found_among_many_names():
    names = [f"Company {i}" for i in range(500)] + ["Grand Total", "Total Wine & More", "\u017fum", "Overall:", None, 3]
    assert np.flatnonzero(totals_labels(names)).tolist() == [500, 502, 503]
    # a letter whose lower case is longer ("\u0130") cannot throw the search off
    assert totals_labels(["\u0130stanbul", "Subtotal", "Sum of all"]).tolist() == [False, True, False]


def test_an_account_named_like_a_total_is_still_an_account():
    grid = [["Account", "Account Name"], ["Total Wine & More", "Total Wine & More"]]
    assert read_book({"Accounts": grid}).accounts["account_id"].tolist() == ["Total Wine & More"]


def test_log_ids_match_accounts_loosely_and_unknown_ones_are_summarised():
    book = read_book({"Accounts": [["Account"], ["AB-01"], [7]],
                      "Orders": orders([" ab-01 ", "2025-01-01", 1], ["007", "2025-01-02", 2],
                                       *[[f"X{i}", "2025-01-03", 3] for i in range(12)])})
    assert book.orders["account_id"].tolist() == ["AB-01", "7"]
    assert book.issues.to_dict("records") == [
        {"sheet": "Orders", "row": None, "column": "Customer", "value": "X0, X1, X2",
         "problem": "12 order lines name accounts not in Accounts, e.g. X0; they were left out"}]


def test_empty_logs_keep_the_contract_columns_and_dtypes():
    book = read_book({"Accounts": ACCOUNTS, "Orders": orders()})
    assert book.orders.dtypes.astype(str).to_dict() == {"account_id": "object", "order_date": "datetime64[ns]",
                                                        "amount": "float64", "source_row": "int64"}
    assert book.events.empty and list(book.events.columns) == ["account_id", "event_date", "event_type", "detail",
                                                               "source_row"]


def test_order_log_without_amount_column_has_nan_amounts():
    book = read_book({"Accounts": ACCOUNTS, "Orders": [["Account", "Order Date"], ["A1", "2025-01-01"],
                                                       ["A1", "2025-01-05"]]})
    assert book.orders["amount"].isna().all() and len(book.orders) == 2


@pytest.mark.parametrize("sheets,message", [
    ({"Accounts": [["Region", "Rep"], ["East", "Bo"]]},
     'Accounts: no account column. Found: "Region", "Rep". Accepted: "Account ID", "Account", "Acct", '),
    ({"Accounts": ACCOUNTS, "Orders": [["Customer", "Amount"], ["A1", 5]]},
     'Orders: no order date column. Found: "Customer", "Amount". Accepted: "Order Date", "Date", '
     '"Purchase Date"'),
    ({"Accounts": ACCOUNTS, "Events": [["Customer", "Note"], ["A1", "x"]]},
     'Events: no event date and no event column. Found: "Customer", "Note". Accepted for event date: '
     '"Event Date", "Date", "When"'),
    ({"Log": orders(["A1", "2025-01-01", 5], ["A1", "2025-01-02", 5])},
     "No account table: the sheets ('Log') hold logs, but no sheet has one row per account."),
    ({}, "The workbook has no sheets"),
], ids=["accounts", "orders", "events", "only-a-log", "no-sheets"])
def test_missing_required_column_is_one_clear_message(sheets, message):
    with pytest.raises(BookError) as error:
        read_book(sheets)
    assert message in str(error.value)


def test_missing_column_message_lists_every_accepted_name():
    with pytest.raises(BookError) as error:
        read_book({"Accounts": [["Region", "Rep"]]})
    text = str(error.value)
    for name in ("Customer", "Client", "Customer ID", "Acct #", "Account Number"):
        assert f'"{name}"' in text
    assert '"column Accounts account_id" = your header' in text


def test_bad_override_is_an_issue_not_a_crash():
    book = read_book({"Accounts": ACCOUNTS, "Settings": [["Setting", "Value"], ["column Accounts wibble", "X"],
                                                         ["column Accounts last_order", "Nope"]]})
    assert [(i["row"], i["problem"].split(" (")[0]) for i in book.issues.to_dict("records")] == [
        (2, "names no column of Accounts this add-in knows"), (3, "is not a header on sheet Accounts")]


def test_describe_book_names_shape_headers_and_issues():
    book = read_book({"Clients": [["Client", "Last Purchase"], ["C1", "13/01/2025"], ["C2", "#N/A"]],
                      "Orders": orders(["C1", "2025-01-01", 1], ["C1", "2025-02-01", 2])})
    text = describe_book(book)
    assert text.splitlines()[0] == "Book: accounts + orders"
    assert 'Accounts: 2 accounts from sheet "Clients" (headers on row 1); 0 lost' in text
    assert 'last_order <- "Last Purchase" (dates read day/month/year)' in text
    assert "Orders: 2 order lines" in text and "2025-01-01 to 2025-02-01" in text
    assert 'Data issues: 1\n  Clients row 3, "Last Purchase": "#N/A" is an Excel error (#N/A)' in text


def test_large_order_log_reads_whole_and_fast_enough():
    rng = np.random.default_rng(3)
    n_accounts, n_lines = 2_000, 100_000
    accounts = [["Account ID"]] + [[f"A{i}"] for i in range(n_accounts)]
    base = dt.datetime(2023, 1, 1)
    log = [["Account ID", "Order Date", "Amount"]] + [
        [f"A{a}", base + dt.timedelta(days=int(d)), float(x)]
        for a, d, x in zip(rng.integers(0, n_accounts, n_lines), rng.integers(0, 1000, n_lines),
                           rng.gamma(2, 100, n_lines).round(2))]
    book = read_book({"Accounts": accounts, "Orders": log})
    assert len(book.orders) == n_lines and book.issues.empty
    assert book.orders["order_date"].between("2023-01-01", "2025-09-27").all()


def test_docs_list_every_column_and_header_the_reader_accepts():
    from pathlib import Path

    from relhealth.schema import COLUMNS, normalise_header
    from relhealth.tables import display

    text = (Path(__file__).resolve().parents[1] / "docs" / "reading.md").read_text()
    sections = {"Accounts": "### Accounts", "Orders": "### Order log", "Events": "### Event log"}
    for role, columns in COLUMNS.items():
        section = text.split(sections[role], 1)[1].split("###", 1)[0]
        for column in columns:
            row = next((line for line in section.splitlines() if f"(`{column.name}`)" in line), "")
            assert row.startswith(f"| {column.label} (`{column.name}`)"), column.name
            own = {normalise_header(column.name), normalise_header(column.label)}
            for synonym in column.synonyms:
                assert normalise_header(synonym) in own or display(synonym) in row, (column.name, synonym)


def test_typed_dataframes_keep_their_values():
    frame = pd.DataFrame({"Account ID": [1, 2], "Customer Since": pd.to_datetime(["2020-01-05", None]),
                          "Annual Revenue": [10.5, np.nan], "Price Increase": [True, False]})
    book = read_book({"Accounts": frame})
    assert book.accounts["account_id"].tolist() == ["1", "2"]
    assert book.accounts["customer_since"].tolist()[0] == pd.Timestamp("2020-01-05")
    assert pd.isna(book.accounts["customer_since"].iloc[1]) and np.isnan(book.accounts["annual_revenue"].iloc[1])
    assert book.accounts["price_increase_flag"].tolist() == [True, False] and book.issues.empty


@pytest.mark.parametrize("grid,ids", [
    ([["Account", "Owner"], ["A1"], None, ["A2", "Bo", "extra"]], ["A1", "A2"]),
    ([["Account", "Owner"]] + [[f"A{i}", "Ann"] for i in range(30)] + [["B1", "Bo", "extra"], ["B2"]],
     [f"A{i}" for i in range(30)] + ["B1", "B2"]),
    (("Account", "Owner"), []),
    ([("Account",), ("A1",)], ["A1"]),
], ids=["ragged-and-none-rows", "ragged-after-plain-rows", "one-row-from-xlwings", "tuples-from-openpyxl"])
def test_grid_shapes_from_excel_libraries(grid, ids):
    assert read_book({"Accounts": grid}).accounts["account_id"].tolist() == ids


def test_a_log_with_one_order_per_account_is_still_the_order_log():
    book = read_book({"Clients": [["Client", "Client Name", "Owner"], ["A1", "One", "Ann"], ["A2", "Two", "Bo"]],
                      "Data": orders(["A1", "2025-01-01", 5], ["A2", "2025-01-02", 6])})
    assert book.accounts.attrs["sheet"] == "Clients" and book.orders.attrs["sheet"] == "Data"
    assert len(book.orders) == 2


def test_a_type_column_of_order_types_does_not_make_an_event_log():
    log = [["Customer", "Date", "Amount", "Type"], ["A1", "2025-01-01", 5, "Online"], ["A1", "2025-01-02", 6, "Shop"]]
    book = read_book({"Accounts": ACCOUNTS, "Sales data": log})
    assert book.shape_name == "accounts + orders" and book.orders["amount"].tolist() == [5.0, 6.0]


def test_describe_book_names_the_settings_that_differ_from_the_defaults():
    book = read_book({"Accounts": [["Account", "PO"], ["A1", None]],
                      "Settings": [["Setting", "Value"], ["date_order", "DMY"], ["column Accounts last_order", "PO"]]})
    assert 'Settings: sheet "Settings" (date_order DMY, 1 column override)' in describe_book(book)
    assert "Settings: defaults (no Settings sheet)\n" in describe_book(read_book({"Accounts": ACCOUNTS}))


def test_issues_come_settings_first_then_each_sheet_by_row_and_column():
    accounts = [["Account", "Last Order", "NPS", "Revenue 12M"],
                ["A1", "#N/A", "#N/A", "$5"], ["A2", "2025-01-02", 7, "lots"], [None, "2025-01-03", 8, 1],
                ["A1", "2025-01-04", "#N/A", 2], ["A3", "soon", "#N/A", "lots"]]
    book = read_book({"Accounts": accounts,
                      "Orders": orders(["A2", "someday", 5], ["A9", "2025-01-01", 5], ["A3", "2025-01-01", "??"]),
                      "Settings": [["Setting", "Value"], ["nonsense", 1], ["column Accounts wibble", "X"]]})
    found = [(i["sheet"], i["row"], i["column"], i["value"], i["problem"].split(";")[0].split(" (account_id")[0])
             for i in book.issues.to_dict("records")]
    assert found == [
        ("Settings", 2, "Setting", "nonsense", "is not a setting this add-in knows"),
        ("Settings", 3, "Setting", "column Accounts wibble", "names no column of Accounts this add-in knows"),
        ("Accounts", 2, "Last Order", "#N/A", "is an Excel error (#N/A)"),
        ("Accounts", 2, "NPS", "#N/A", "is an Excel error (#N/A)"),
        ("Accounts", 3, "Revenue 12M", "lots", "is not an amount"),
        ("Accounts", 4, "Account", "", "is blank"),
        ("Accounts", 5, "Account", "A1", "repeats an account id already on row 2"),
        ("Accounts", 6, "Last Order", "soon", "is not a date"),
        ("Accounts", 6, "NPS", "#N/A", "is an Excel error (#N/A)"),
        ("Accounts", 6, "Revenue 12M", "lots", "is not an amount"),
        ("Orders", 2, "Date", "someday", "is not a date"),
        ("Orders", 4, "Amount", "??", "is not an amount"),
        ("Orders", None, "Customer", "A9", "1 order line names an account not in Accounts, e.g. A9"),
    ]


def test_each_repeated_account_id_names_the_row_it_first_appeared_on():
    grid = [["Account", "NPS", "Owner"], ["A1", 1, "Ann"], ["A2", 2, "Bo"], ["A1", 3, "Cy"], ["a1", 4, "Di"],
            [None, 5, "Ed"], ["A2", 6, "Flo"], [" A1 ", 7, "Gus"], ["Total", 28, None]]
    book = read_book({"Accounts": grid})
    assert book.accounts["account_id"].tolist() == ["A1", "A2", "a1"]
    assert book.accounts["nps"].tolist() == [1.0, 2.0, 4.0]
    assert [(i["row"], i["problem"]) for i in book.issues.to_dict("records")] == [
        (4, "repeats an account id already on row 2; this row was left out"),
        (6, "is blank; the row was left out"),
        (7, "repeats an account id already on row 3; this row was left out"),
        (8, "repeats an account id already on row 2; this row was left out")]
    assert book.accounts.attrs["skipped_totals"] == [9]


def test_every_subtotal_row_down_a_column_is_skipped_and_look_alikes_are_kept():
    grid = [["Region", "Account", "Revenue 12M"]]
    for block in range(3):
        grid += [["Summit", f"S{block}", 5], ["Sum Valley", f"V{block}", 6], [" Subtotal ", None, 11]]
    grid.append(["Total", None, 33])
    book = read_book({"Accounts": grid})
    assert book.accounts["account_id"].tolist() == ["S0", "V0", "S1", "V1", "S2", "V2"]
    assert book.accounts.attrs["skipped_totals"] == [4, 7, 10, 11]
    assert book.issues.empty
