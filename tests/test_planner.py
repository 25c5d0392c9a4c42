"""Win-back planner: which accounts get a row, and that each row carries the seeds' plays for its case."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from relhealth.book import Book, empty_events
from relhealth.planner import HARM_SCALE, PLAN_COLUMNS, harm_of, make_good_budget, winback_plan
from relhealth.settings import Settings

AS_OF = dt.date(2026, 10, 31)


def _book(**settings) -> tuple[Book, pd.DataFrame, pd.DataFrame]:
    """Six accounts, one per case: lost fixable with an outage, lost exogenous (acquired), lost too long ago,
    Critical at risk, High at risk with no owner, Low."""
    accounts = pd.DataFrame({
        "account_id": ["FIX", "ACQ", "OLD", "CRIT", "HIGH", "LOW"],
        "account_name": ["Fixable Co", "Acquired Co", "Old Co", "Critical Co", "High Co", "Low Co"],
        "owner": ["Ann", "Bob", "Ann", "Cy", None, "Ann"],
        "exec_sponsor": ["Vera Voss", None, None, None, None, None],
        "annual_revenue": [150_000.0, 40_000.0, 90_000.0, 300_000.0, 20_000.0, 5_000.0],
        "customer_since": pd.to_datetime(["2018-02-01", "2022-05-01", "2015-01-01", "2020-01-01", "2025-01-01",
                                          "2021-01-01"]),
        "nps": [9.0, np.nan, np.nan, 4.0, np.nan, np.nan],
        "referrals": [2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "status": ["Lost", "Lost", "Lost", "Active", "Active", "Active"],
        "lost_date": pd.to_datetime(["2026-09-15", "2026-08-01", "2024-01-10", None, None, None]),
        "lost_reason": ["Outage during peak season", "Acquired by Globex", "Price", None, None, None],
        "source_row": range(2, 8),
    })
    orders = pd.DataFrame({"account_id": ["FIX"] * 3 + ["CRIT"] * 2,
                           "order_date": pd.to_datetime(["2025-03-01", "2025-09-01", "2026-03-01", "2026-01-05",
                                                         "2026-04-05"]),
                           "amount": [50_000.0, 50_000.0, 50_000.0, 150_000.0, 150_000.0], "source_row": range(2, 7)})
    events = pd.DataFrame({"account_id": ["FIX", "FIX", "FIX", "CRIT"],
                           "event_date": pd.to_datetime(["2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01"]),
                           "event_type": ["complaint"] * 4, "detail": [None] * 4, "source_row": range(2, 6)})
    book = Book(accounts, orders, events, Settings(as_of=AS_OF, **settings))
    scores = pd.DataFrame({"account_id": accounts["account_id"], "risk": [1, 1, 1, 0.81, 0.55, 0.1],
                           "band": ["Critical", "Critical", "Critical", "Critical", "High", "Low"],
                           "drivers": ["", "", "", "1 complaint in 90 days: +9 pts", "no order in 200 days", ""]})
    tiers = pd.DataFrame({"account_id": accounts["account_id"],
                          "tier": ["Loyal", "Habitual", "Habitual", "Habitual", "Occasional", "Loyal"],
                          "one_mistake_away": [False, True, True, True, True, False]})
    return book, scores, tiers


@pytest.fixture(scope="module")
def plan():
    return winback_plan(*_book()).set_index("account_id")


def test_rows_are_recent_losses_and_high_or_critical_accounts(plan):
    assert set(plan.index) == {"FIX", "ACQ", "CRIT", "HIGH"}  # OLD lost before the look-back, LOW is fine
    assert list(winback_plan(*_book()).columns) == PLAN_COLUMNS


def test_look_back_setting_brings_older_losses_in():
    assert "OLD" in set(winback_plan(*_book(lost_lookback_days=2000))["account_id"])


def test_at_risk_rows_come_first_most_urgent_first():
    order = list(winback_plan(*_book())["account_id"])
    assert order == ["CRIT", "HIGH", "FIX", "ACQ"]


def test_lost_fixable_account_gets_the_full_win_back_play(plan):
    row = plan.loc["FIX"]
    assert row["cause"] == "Fixable" and row["kind"] == "Lost"
    assert "Vera Voss" in row["who_calls"] and "not only the rep" in row["who_calls"]
    assert "We screwed up, and we're sorry" in row["eat_crow"] and "vent" in row["eat_crow"]
    assert row["harm"] == "major"  # three complaints before the loss and an outage
    assert row["make_good_budget"] == pytest.approx(150_000 * 0.05 * HARM_SCALE["major"])
    assert "not a token gift" in row["make_good"]
    assert "since 2018" in row["resell"] and "3 orders" in row["resell"] and "referred 2" in row["resell"]
    assert "ready" in row["resell"]
    assert "manager or a colleague" in row["post_mortem"] and "high ground" in row["post_mortem"]
    assert "transition" in row["post_mortem"]
    assert row["first_touch"] == pd.Timestamp("2026-10-31")  # lost 2026-09-15 + 7 days is past: today
    assert "Every 45 days" in row["reminders"] and "other people at the account" in row["reminders"]
    assert "no pushing" in row["reminders"]


def test_exogenous_loss_keeps_the_door_open_without_apology_or_make_good(plan):
    row = plan.loc["ACQ"]
    assert row["cause"] == "Exogenous"
    assert row["make_good_budget"] == 0
    assert "No apology owed" in row["eat_crow"]
    assert "new decision-makers" in row["reminders"] and "door open" in row["play"]
    assert "transition" in row["post_mortem"]


def test_at_risk_account_gets_a_save_play(plan):
    row = plan.loc["CRIT"]
    assert row["kind"] == "At risk" and row["band"] == "Critical" and row["risk"] == pytest.approx(0.81)
    assert "Is something bothering you" in row["eat_crow"]
    assert "action plan" in row["post_mortem"] and "overpromise" in row["post_mortem"]
    assert row["first_touch"] == pd.Timestamp(AS_OF)  # Critical: don't drag it out
    assert "1 complaint" in row["why"]
    assert row["harm"] == "moderate" and row["make_good_budget"] == pytest.approx(300_000 * 0.05)


def test_high_account_without_owner_is_handed_to_a_manager(plan):
    row = plan.loc["HIGH"]
    assert "sales manager" in row["who_calls"].lower() and "assign" in row["who_calls"]
    assert row["make_good_budget"] == 0  # no failure of ours on record


@pytest.mark.parametrize("revenue,harm,expected", [
    (30_000, "major", 3_000), (30_000, "moderate", 1_500), (30_000, "none on record", 380),
    (600_000, "major", 60_000), (30_000, "exogenous", 0)], ids=["major", "moderate", "none", "big", "exogenous"])
def test_make_good_budget_is_proportional_to_revenue_and_harm(revenue, harm, expected):
    assert make_good_budget(revenue, harm, 0.05) == pytest.approx(expected, rel=0.02)


def test_a_30000_outage_does_not_get_a_15_dollar_basket():
    assert make_good_budget(60_000, harm_of("Outage cost them $30,000", 0), 0.05) >= 5_000


def test_budget_scales_with_the_make_good_share_setting():
    book, scores, tiers = _book(make_good_share=0.10)
    row = winback_plan(book, scores, tiers).set_index("account_id").loc["FIX"]
    assert row["make_good_budget"] == pytest.approx(150_000 * 0.10 * HARM_SCALE["major"])


@pytest.mark.parametrize("reason,complaints,harm", [
    ("Acquired by a competitor", 5, "exogenous"), ("Went out of business", 0, "exogenous"),
    ("Service failures", 0, "moderate"), ("Price", 0, "none on record"), ("Price", 3, "major"),
    ("", 1, "moderate")], ids=["acquired", "closed", "service", "price", "price-3-complaints", "one-complaint"])
def test_harm_of_a_loss(reason, complaints, harm):
    assert harm_of(reason, complaints) == harm


def test_reminder_cadence_comes_from_settings():
    book, scores, tiers = _book(reminder_cadence_days=30)
    row = winback_plan(book, scores, tiers).set_index("account_id").loc["FIX"]
    assert "Every 30 days" in row["reminders"] and "2026-11-30" in row["reminders"]


def test_empty_plan_has_the_documented_columns():
    book, scores, tiers = _book()
    calm = scores.assign(band="Low")
    quiet = Book(book.accounts.assign(status="Active", lost_date=pd.NaT), book.orders, empty_events(),
                 book.settings)
    plan = winback_plan(quiet, calm, tiers)
    assert len(plan) == 0 and list(plan.columns) == PLAN_COLUMNS


def test_missing_score_columns_are_named():
    book, scores, tiers = _book()
    with pytest.raises(ValueError, match="band"):
        winback_plan(book, scores.drop(columns="band"), tiers)
