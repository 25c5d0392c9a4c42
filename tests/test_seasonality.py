"""Break-up seasonality: planted windows found, shuffled controls quiet, small books answered in words."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analysis_books import AS_OF, fp_allowance, null_shuffle, sample_canonical, simulated_book, small_books, tiny_book
from relhealth import stats
from relhealth.reader import read_book
from relhealth.sample import planted_truths, sample_book, shuffled_control
from relhealth.seasonality import (MONTH_COLUMNS, WEEK_COLUMNS, WINDOW_COLUMNS, Seasonality, breakup_seasonality,
                                   renewal_in_trend_window)
from relhealth.settings import Settings


@pytest.fixture(scope="module")
def sample_season() -> Seasonality:
    return breakup_seasonality(sample_canonical())


def test_planted_windows_are_trends(sample_season):
    season = planted_truths()["season"]
    alpha = Settings().significance
    windows = sample_season.windows.set_index("window")
    assert sample_season.message == ""
    for name, (start, end) in season["windows"].items():
        row = windows.loc[name]
        assert (row["start"], row["end"]) == (start, end)
        assert row["verdict"] == "trend", (name, row.to_dict())
        assert row["p_value"] < alpha and row["ci_low"] > 1
        # the planted rate ratio lies inside the 95% interval
        assert row["ci_low"] <= season["rate_ratio"] <= row["ci_high"], (name, row.to_dict())


def test_overall_no_season_test_rejects_on_sample(sample_season):
    test = sample_season.test.set_index("test")
    assert test.loc["calendar month", "verdict"] == "season"
    assert test.loc["calendar month", "p_value"] < 1e-4


def test_tables_have_contract_columns_and_add_up(sample_season):
    s = sample_season
    assert list(s.by_month.columns) == MONTH_COLUMNS
    assert list(s.by_week.columns) == WEEK_COLUMNS
    assert list(s.windows.columns) == WINDOW_COLUMNS
    assert s.by_month["month"].tolist() == list(range(1, 13))
    assert s.by_week["week"].tolist() == list(range(1, 54))
    assert s.by_month["breakups"].sum() == s.by_week["breakups"].sum() == s.breakups
    assert s.breakups == int(sample_canonical().accounts["lost_date"].notna().sum())
    assert s.by_month["expected"].sum() == pytest.approx(s.breakups)
    # exposure: the same account-time, however it is cut
    assert s.by_month["exposure_account_years"].sum() == pytest.approx(s.by_week["exposure_account_years"].sum())
    assert ((s.by_month["p_holm"] >= s.by_month["p_value"]) & (s.by_month["p_holm"] <= 1)).all()


def test_exposure_not_counts_make_the_season():
    """Many customers joining in one month bring many break-ups that month: a raw count would call it a season,
    the exposure-based rate does not."""
    rng = np.random.default_rng(3)
    rows, as_of = [], pd.Timestamp(AS_OF)
    for i in range(900):
        # a third of the book arrives in Junes; every account breaks up at a constant rate
        if i % 3 == 0:
            since = pd.Timestamp(f"{2021 + i % 5}-06-{1 + i % 28:02d}")
        else:
            since = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 2000)))
        life = pd.Timedelta(days=int(rng.exponential(365 * 4)))
        rows.append({"account_id": f"E{i}", "customer_since": since.date().isoformat(),
                     "lost_date": (since + life).date().isoformat() if since + life <= as_of else None})
    book = tiny_book(rows)
    season = breakup_seasonality(book)
    june = season.by_month.set_index("month").loc[6]
    assert june["breakups"] > season.by_month["breakups"].median()  # the raw count is high in June...
    assert june["verdict"] != "trend"  # ...but not against the accounts on the book


def test_custom_window_from_settings_is_tested():
    book = simulated_book(seed=5, season=1.0)
    windows = {"Fiscal year end": ("06-15", "06-30"), "New year": ("12-28", "01-04")}
    season = breakup_seasonality(book.__class__(accounts=book.accounts, events=book.events,
                                                settings=Settings(as_of=AS_OF, windows=windows)))
    assert season.windows["window"].tolist() == list(windows)
    assert season.windows["breakups"].ge(0).all() and season.windows["p_value"].between(0, 1).all()
    assert (season.windows["verdict"] != "trend").all()


def test_month_scan_verdicts_use_the_holm_adjustment():
    book = simulated_book(seed=11, season=1.0)
    months = breakup_seasonality(book).by_month
    assert (months.loc[months["verdict"] == "trend", "p_holm"] < Settings().significance).all()


def test_renewals_in_trend_windows_are_flagged(sample_season):
    book = sample_canonical()
    flags = renewal_in_trend_window(book, sample_season)
    assert list(flags.columns) == ["account_id", "renewal_date", "trend_window", "in_trend_window"]
    assert len(flags) == len(book.accounts)
    renewal = pd.to_datetime(book.accounts["renewal_date"])
    key = renewal.dt.month * 100 + renewal.dt.day
    christmas = (key >= 1211) & (key <= 1224) & book.accounts["lost_date"].isna()
    assert christmas.any()
    assert flags.loc[christmas.to_numpy(), "in_trend_window"].all()
    assert flags.loc[christmas.to_numpy(), "trend_window"].str.contains("Christmas").all()
    lost = book.accounts["lost_date"].notna().to_numpy()
    assert not flags.loc[lost, "in_trend_window"].any()
    flagged = flags[flags["in_trend_window"]]
    assert set("; ".join(flagged["trend_window"]).split("; ")) <= set(sample_season.trend_windows())


def test_shuffled_controls_call_no_window_a_trend():
    """Break-up dates re-timed and events re-dealt: the named-window tests must call "trend" no more often than
    the nominal rate allows (60 shuffles of the sample book, 3 windows each)."""
    base = sample_canonical()
    alpha = base.settings.significance
    verdicts = []
    for seed in range(60):
        verdicts += breakup_seasonality(null_shuffle(base, seed)).windows["verdict"].tolist()
    trends = verdicts.count("trend")
    assert trends <= fp_allowance(len(verdicts), alpha), trends
    assert trends / len(verdicts) <= 2 * alpha


def test_sample_shuffled_control_through_the_reader_is_quiet():
    """The sample's own control (sheets shuffled, then read like a user's workbook): no planted window survives."""
    sheets = sample_book(as_of=AS_OF)
    trends = 0
    for seed in range(8):
        book = read_book(shuffled_control(sheets, seed), Settings(as_of=AS_OF))
        season = breakup_seasonality(book)
        assert season.message == ""
        trends += int((season.windows["verdict"] == "trend").sum())
    assert trends <= fp_allowance(24, Settings().significance)


@pytest.mark.parametrize("name", list(small_books()))
def test_small_books_say_not_enough_history(name):
    book = small_books()[name]
    season = breakup_seasonality(book)
    assert season.message.startswith("not enough history: ")
    for table in (season.by_month, season.by_week, season.windows, season.test):
        assert "trend" not in set(table.get("verdict", [])) and "season" not in set(table.get("verdict", []))
        if len(table):
            assert table["p_value"].isna().all()
    assert list(season.by_month.columns) == MONTH_COLUMNS
    flags = renewal_in_trend_window(book, season)
    assert len(flags) == len(book.accounts) and not flags["in_trend_window"].any()


def test_small_book_messages_say_why():
    books = small_books()
    assert "no break-ups" in breakup_seasonality(books["0 break-ups"]).message
    assert "1 break-up on record" in breakup_seasonality(books["1 break-up"]).message
    assert "full year" in breakup_seasonality(books["one month only"]).message
    assert "every account in the book is lost" in breakup_seasonality(books["all of many accounts lost"]).message


def test_seasonality_as_of_moves_the_window_of_records():
    book = sample_canonical()
    earlier = breakup_seasonality(book.__class__(accounts=book.accounts, orders=book.orders, events=book.events,
                                                 settings=Settings(as_of=dt.date(2025, 10, 31))))
    assert earlier.period_end == pd.Timestamp("2025-10-31")
    assert earlier.breakups < breakup_seasonality(book).breakups
