"""Health trend: the book rewound to each month-end, and month-ends reused only while their records are unchanged."""

import datetime as dt

import numpy as np
import pandas as pd

from relhealth.book import Book, empty_events, empty_orders
from relhealth.settings import Settings
from relhealth.trend import book_as_of, fingerprint, health_trend, month_ends

AS_OF = dt.date(2026, 10, 31)
calls = []


def _score(book):
    calls.append(book.settings.today())
    ids = book.accounts["account_id"]
    return pd.DataFrame({"account_id": ids, "risk": 0.5, "band": np.where(ids.str.endswith("1"), "High", "Low")})


def _tier(book, scores):
    return pd.DataFrame({"account_id": book.accounts["account_id"], "tier": "Habitual", "one_mistake_away": True})


def _book() -> Book:
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3"], "annual_revenue": [100.0, 200.0, 300.0],
                             "customer_since": pd.to_datetime(["2024-01-01", "2024-01-01", "2026-06-15"]),
                             "status": ["Lost", "Active", "Active"],
                             "lost_date": pd.to_datetime(["2026-05-20", None, None]),
                             "lost_reason": ["Price", None, None], "source_row": [2, 3, 4]})
    days = pd.date_range("2024-01-15", "2026-10-15", freq="30D")
    orders = pd.DataFrame({"account_id": ["A2"] * len(days), "order_date": days, "amount": 10.0,
                           "source_row": range(2, len(days) + 2)})
    return Book(accounts, orders, empty_events(), Settings(as_of=AS_OF))


def test_month_ends_are_the_last_twelve():
    ends = month_ends(AS_OF)
    assert len(ends) == 12 and ends[0] == pd.Timestamp("2025-11-30") and ends[-1] == pd.Timestamp("2026-10-31")
    assert month_ends(dt.date(2026, 10, 15), 2) == [pd.Timestamp("2026-08-31"), pd.Timestamp("2026-09-30")]


def test_book_as_of_knows_only_what_was_known_then():
    past = book_as_of(_book(), pd.Timestamp("2026-04-30"))
    assert past.settings.today() == dt.date(2026, 4, 30)
    assert list(past.accounts["account_id"]) == ["A1", "A2"]  # A3 was not a customer yet
    assert past.accounts.loc[0, "status"] == "Active" and pd.isna(past.accounts.loc[0, "lost_date"])
    assert past.orders["order_date"].max() <= pd.Timestamp("2026-04-30")


def test_trend_counts_active_accounts_and_losses_per_month_end():
    trend = health_trend(_book(), score=_score, tier=_tier)
    table = trend.table.set_index("month_end")
    assert table.loc["2026-04-30", "accounts"] == 2 and table.loc["2026-05-31", "accounts"] == 1
    assert table.loc["2026-06-30", "accounts"] == 2  # A3 joined
    assert table.loc["2026-05-31", "lost_in_month"] == 1
    assert table.loc["2026-04-30", "high"] == 1  # A1 still active then
    assert (table[["low", "watch", "high", "critical"]].sum(axis=1) == table["accounts"]).all()


def test_known_month_ends_are_reused_until_their_records_change():
    book = _book()
    first = health_trend(book, score=_score, tier=_tier)
    calls.clear()
    again = health_trend(book, score=_score, tier=_tier, known=first.table)
    assert again.reused == 12 and calls == []
    pd.testing.assert_frame_equal(again.table, first.table, check_dtype=False)
    orders = pd.concat([book.orders, pd.DataFrame({"account_id": ["A2"], "order_date": [pd.Timestamp("2026-08-03")],
                                                   "amount": [5.0], "source_row": [999]})], ignore_index=True)
    changed = Book(book.accounts, orders, book.events, book.settings)
    calls.clear()
    later = health_trend(changed, score=_score, tier=_tier, known=first.table)
    assert later.reused == 9 and sorted(calls) == [dt.date(2026, 8, 31), dt.date(2026, 9, 30), dt.date(2026, 10, 31)]
    assert fingerprint(book_as_of(book, pd.Timestamp("2026-07-31"))) == \
        fingerprint(book_as_of(changed, pd.Timestamp("2026-07-31")))


def test_a_settings_change_invalidates_every_month_end():
    book = _book()
    first = health_trend(book, score=_score, tier=_tier)
    other = Book(book.accounts, book.orders, book.events, book.settings.with_(band_high=0.6))
    assert health_trend(other, score=_score, tier=_tier, known=first.table).reused == 0


def test_no_order_log_means_no_trend():
    book = _book()
    trend = health_trend(Book(book.accounts, empty_orders(), book.events, book.settings), score=_score, tier=_tier)
    assert trend.message.startswith("not enough history") and trend.table.empty


def test_a_time_budget_computes_the_newest_month_ends_first_and_leaves_the_rest():
    calls.clear()
    partial = health_trend(_book(), score=_score, tier=_tier, budget_seconds=0.0)
    assert partial.pending == 11 and len(partial.table) == 1 and calls == [AS_OF]
    assert "1 of 12 month-ends so far" in partial.note
    more = health_trend(_book(), score=_score, tier=_tier, known=partial.table, budget_seconds=0.0)
    assert more.reused == 1 and len(more.table) == 2 and more.pending == 10
    assert list(more.table["month_end"]) == [pd.Timestamp("2026-09-30"), pd.Timestamp("2026-10-31")]


def test_a_forked_helper_gives_the_same_table():
    book = _book()
    alone = health_trend(book, score=_score, tier=_tier)
    shared = health_trend(book, score=_score, tier=_tier, workers=2)
    pd.testing.assert_frame_equal(shared.table, alone.table)
    assert (shared.reused, shared.pending) == (0, 0)
    again = health_trend(book, score=_score, tier=_tier, known=shared.table, workers=2)
    assert again.reused == 12
    partial = health_trend(book, score=_score, tier=_tier, budget_seconds=0.0, workers=2)
    assert len(partial.table) == 1 and partial.pending == 11
