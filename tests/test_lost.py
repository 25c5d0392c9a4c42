"""Lost-business report: who is losing business, why (exogenous or fixable), and when."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis_books import sample_canonical, small_books, tiny_book
from relhealth.lost import (ACCOUNT_COLUMNS, EXOGENOUS, FIXABLE, OWNER_COLUMNS, QUARTER_COLUMNS, REASON_COLUMNS,
                            UNKNOWN, lost_business)
from relhealth.sample import planted_truths


@pytest.fixture(scope="module")
def report():
    return lost_business(sample_canonical())


def test_sample_reasons_marked_exogenous_or_fixable(report):
    reasons = planted_truths()["reasons"]
    by_reason = report.by_reason.set_index("reason")
    assert list(report.by_reason.columns) == REASON_COLUMNS
    for reason in reasons["exogenous"]:
        assert by_reason.loc[reason, "cause"] == EXOGENOUS and by_reason.loc[reason, "exogenous"]
    for reason in set(reasons["fixable"]) & set(by_reason.index):
        assert by_reason.loc[reason, "cause"] == FIXABLE and not by_reason.loc[reason, "exogenous"]
    assert by_reason["share_of_lost"].sum() == pytest.approx(1)
    assert by_reason["share_of_revenue"].sum() == pytest.approx(1)


def test_sample_totals_agree_across_tables(report):
    accounts = sample_canonical().accounts
    lost = accounts["lost_date"].notna()
    revenue = accounts.loc[lost, "annual_revenue"].sum()
    assert len(report.accounts) == lost.sum() and list(report.accounts.columns) == ACCOUNT_COLUMNS
    for table in (report.by_owner, report.by_reason, report.by_quarter):
        assert table["lost"].sum() == lost.sum()
        assert table["revenue_lost"].sum() == pytest.approx(revenue, rel=1e-9)
    owners = report.by_owner.set_index("owner")
    assert list(report.by_owner.columns) == OWNER_COLUMNS
    assert set(owners.index) == set(accounts["owner"])
    assert (owners["exogenous"] + owners["fixable"] + owners["unknown"] == owners["lost"]).all()
    assert (owners["accounts"] == accounts.groupby("owner").size().reindex(owners.index)).all()
    assert owners["loss_rate"].between(0, 1).all()
    assert report.by_owner["lost"].is_monotonic_decreasing
    assert report.message == ""


def test_sample_quarters_run_without_gaps(report):
    quarters = report.by_quarter
    assert list(quarters.columns) == QUARTER_COLUMNS
    periods = pd.PeriodIndex(quarters["quarter"], freq="Q")
    assert (np.diff(periods.asi8) == 1).all()
    assert quarters["quarter"].iloc[-1] == "2026Q4"
    assert (quarters["active_at_start"] > 0).all() and quarters["loss_rate"].between(0, 1).all()
    assert (quarters["exogenous"] + quarters["fixable"] + quarters["unknown"] == quarters["lost"]).all()


def test_by_hand():
    rows = [{"account_id": "A", "owner": "Ann", "annual_revenue": 100.0, "customer_since": "2024-01-01",
             "lost_date": "2025-02-10", "lost_reason": "Acquired by Big Co"},
            {"account_id": "B", "owner": "Ann", "annual_revenue": 50.0, "customer_since": "2024-01-01",
             "lost_date": "2025-08-01", "lost_reason": "price "},
            {"account_id": "C", "owner": "Bo", "customer_since": "2024-01-01", "lost_date": "2025-08-15",
             "lost_reason": "PRICE"},
            {"account_id": "D", "owner": "Bo", "annual_revenue": 10.0, "customer_since": "2024-01-01",
             "lost_date": "2025-09-01"},
            {"account_id": "E", "owner": None, "annual_revenue": 5.0, "customer_since": "2024-01-01",
             "status": "Lost", "lost_reason": "Went out of business"},
            {"account_id": "F", "owner": "Cy", "annual_revenue": 70.0, "customer_since": "2024-01-01"}]
    book = tiny_book(rows, orders=[("C", "2025-03-01", 40.0), ("C", "2025-06-01", 40.0),
                                   ("C", "2024-01-05", 999.0)])  # more than a year before its loss: not counted
    book.accounts.loc[book.accounts["account_id"] == "E", "status"] = "Lost"  # status Lost, no date
    report = lost_business(book)
    reason = report.by_reason.set_index("reason")
    assert reason.loc["price", "lost"] == 2 and reason.loc["price", "revenue_lost"] == 50 + 80
    assert reason.loc["Acquired by Big Co", "cause"] == EXOGENOUS
    assert reason.loc["Went out of business", "cause"] == EXOGENOUS
    assert reason.loc["(no reason recorded)", "cause"] == UNKNOWN
    owner = report.by_owner.set_index("owner")
    ann = owner.loc["Ann"]
    assert (ann["lost"], ann["exogenous"], ann["fixable"], ann["revenue_fixable"], ann["accounts"]) == (2, 1, 1, 50, 2)
    assert owner.loc["(no owner)", "lost"] == 1 and owner.loc["Cy", "lost"] == 0
    assert owner.loc["Cy", "loss_rate"] == 0
    quarter = report.by_quarter.set_index("quarter")
    assert quarter.index.tolist() == [f"{y}Q{q}" for y, q in [(2025, 1), (2025, 2), (2025, 3), (2025, 4),
                                                              (2026, 1), (2026, 2), (2026, 3), (2026, 4)]]
    assert quarter.loc["2025Q3", "lost"] == 3 and quarter["lost"].sum() == 4  # E has no date
    assert quarter.loc["2025Q2", "lost"] == 0


@pytest.mark.parametrize("name", list(small_books()))
def test_small_books(name):
    book = small_books()[name]
    report = lost_business(book)
    lost = int(book.accounts["lost_date"].notna().sum()) if "lost_date" in book.accounts else 0
    assert len(report.accounts) == lost
    assert list(report.by_owner.columns) == OWNER_COLUMNS
    assert list(report.by_quarter.columns) == QUARTER_COLUMNS
    assert report.by_quarter["lost"].sum() == lost
    assert (report.message == "") == (lost > 0)
