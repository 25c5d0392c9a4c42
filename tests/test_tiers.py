"""Loyalty tiers and one-mistake-away: rules by hand, the sample's planted buyer kinds, contract properties."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analysis_books import AS_OF, sample_canonical, simulated_book, small_books, tiny_book
from relhealth import stats
from relhealth.book import Book
from relhealth.sample import planted_truths, sample_truth
from relhealth.settings import Settings
from relhealth.tiers import (HABITUAL, LOYAL, OCCASIONAL, SUMMARY_COLUMNS, TIER_COLUMNS, TIERS, loyalty_tiers,
                             one_mistake_summary)


def _monthly(account: str, n: int = 12, start: str = "2025-11-05", every: int = 30, jitter=()):
    day = pd.Timestamp(start)
    out = []
    for i in range(n):
        out.append((account, (day + pd.Timedelta(days=every * i + (jitter[i] if i < len(jitter) else 0)))
                    .date().isoformat(), 100.0))
    return out


def _tiers(rows, orders=(), events=(), scores=None, **settings):
    book = tiny_book(rows, orders=orders, events=events, **settings)
    return loyalty_tiers(book, scores).set_index("account_id"), book


def test_rules_by_hand():
    rows = [{"account_id": "LOY", "customer_since": "2024-01-01", "referrals": 2, "exec_sponsor": "Dana Novak"},
            {"account_id": "HAB", "customer_since": "2024-01-01", "nps": 7, "exec_sponsor": "no"},
            {"account_id": "OCC", "customer_since": "2024-01-01", "referrals": 3},
            {"account_id": "FEW", "customer_since": "2024-01-01", "nps": 10},
            {"account_id": "PRO", "customer_since": "2024-01-01", "nps": 9}]
    irregular = [("OCC", d, 50.0) for d in ("2025-11-01", "2025-11-03", "2026-04-20", "2026-05-01", "2026-10-01")]
    orders = (_monthly("LOY", jitter=[0, 2, -1, 1]) + _monthly("HAB") + irregular
              + [("FEW", "2026-01-01", 10.0), ("FEW", "2026-02-01", 10.0)] + _monthly("PRO"))
    tiers, _ = _tiers(rows, orders)
    assert tiers["tier"].to_dict() == {"LOY": LOYAL, "HAB": HABITUAL, "OCC": OCCASIONAL, "FEW": OCCASIONAL,
                                       "PRO": LOYAL}
    assert tiers.loc["LOY", "tier_reason"].startswith("Orders every ~30 days, steady")
    assert "2 referrals" in tiers.loc["LOY", "tier_reason"] and "exec sponsor" in tiers.loc["LOY", "tier_reason"]
    assert "no sign of affinity" in tiers.loc["HAB", "tier_reason"]
    assert "irregular" in tiers.loc["OCC", "tier_reason"] and "3 referrals" in tiers.loc["OCC", "tier_reason"]
    assert "too few to show a habit" in tiers.loc["FEW", "tier_reason"]
    assert "NPS 9" in tiers.loc["PRO", "tier_reason"]
    assert tiers["one_mistake_away"].to_dict() == {"LOY": False, "HAB": True, "OCC": True, "FEW": True,
                                                   "PRO": False}


def test_infrequent_but_steady_is_occasional_and_overdue_breaks_the_rhythm():
    rows = [{"account_id": "TWICE", "customer_since": "2022-01-01"},
            {"account_id": "STOPPED", "customer_since": "2025-01-01"}]
    twice = [("TWICE", f"{y}-{m:02d}-01", 10.0) for y in (2022, 2023, 2024, 2025, 2026) for m in (3, 9)]
    stopped = _monthly("STOPPED", n=8, start="2025-01-10")  # monthly until Aug 2025, silent since
    tiers, _ = _tiers(rows, twice + stopped)
    assert tiers.loc["TWICE", "tier"] == OCCASIONAL and "infrequent" in tiers.loc["TWICE", "tier_reason"]
    assert tiers.loc["STOPPED", "tier"] == OCCASIONAL and "irregular" in tiers.loc["STOPPED", "tier_reason"]


def test_price_shopping_pushes_one_step_down():
    rows = [{"account_id": "L2", "referrals": 1, "customer_since": "2024-01-01"},
            {"account_id": "L1", "referrals": 1, "customer_since": "2024-01-01"},
            {"account_id": "H2", "customer_since": "2024-01-01"}]
    orders = _monthly("L2") + _monthly("L1") + _monthly("H2")
    events = [("L2", "2026-03-01", "price_relief"), ("L2", "2026-06-01", "competitor_price"),
              ("L1", "2026-03-01", "price_relief"),
              ("H2", "2026-02-01", "competitor_price"), ("H2", "2026-08-01", "competitor_price"),
              ("L1", "2024-03-01", "price_relief")]  # more than a year ago: does not count
    tiers, _ = _tiers(rows, orders, events)
    assert tiers["tier"].to_dict() == {"L2": HABITUAL, "L1": LOYAL, "H2": OCCASIONAL}
    assert "shops on price" in tiers.loc["H2", "tier_reason"]
    assert tiers.loc["L1", "price_signals"] == 1 and "shops on price" not in tiers.loc["L1", "tier_reason"]


def test_withstanding_a_big_failure_is_affinity():
    rows = [{"account_id": a, "customer_since": "2024-01-01"} for a in ("STAYED", "ONE", "RECENT", "SLOWED")]
    weekly = [("SLOWED", (pd.Timestamp("2025-11-03") + pd.Timedelta(days=7 * i)).date().isoformat(), 10.0)
              for i in range(52) if i < 14 or i % 4 == 0]  # every week until the failure, then every fourth
    orders = _monthly("STAYED") + _monthly("ONE") + _monthly("RECENT") + weekly
    failure = ("2026-01-05", "2026-01-20", "2026-02-10")
    events = ([("STAYED", d, "complaint") for d in failure] + [("SLOWED", d, "complaint") for d in failure]
              + [("ONE", "2026-01-05", "complaint")]
              + [("RECENT", d, "complaint") for d in ("2026-08-05", "2026-08-20", "2026-09-10")])
    tiers, _ = _tiers(rows, orders, events)
    assert tiers.loc["STAYED", "tier"] == LOYAL and "big service failure" in tiers.loc["STAYED", "tier_reason"]
    assert tiers.loc["ONE", "tier"] == HABITUAL  # one complaint is not a big mistake
    assert tiers.loc["RECENT", "tier"] == HABITUAL  # not yet through the 90 days after it
    assert not tiers.loc["SLOWED", "affinity"]  # kept ordering, but at a quarter of the pace: the habit broke
    assert "big service failure" not in tiers.loc["SLOWED", "tier_reason"]


def test_loyal_with_high_risk_is_one_mistake_away():
    rows = [{"account_id": a, "referrals": 2, "customer_since": "2024-01-01"} for a in ("A", "B", "C")]
    orders = _monthly("A") + _monthly("B") + _monthly("C")
    scores = pd.DataFrame({"account_id": ["A", "B", "C"], "band": ["Low", "High", "Critical"]})
    tiers, _ = _tiers(rows, orders, scores=scores)
    assert (tiers["tier"] == LOYAL).all()
    assert tiers["one_mistake_away"].to_dict() == {"A": False, "B": True, "C": True}
    assert "risk band High or worse" in tiers.loc["B", "tier_reason"]


def test_shape_a_summary_columns():
    rows = [{"account_id": "REG", "first_order": "2024-01-10", "last_order": "2026-10-15", "order_count": 34,
             "nps": 10},
            {"account_id": "LATE", "first_order": "2024-01-10", "last_order": "2025-10-15", "order_count": 22},
            {"account_id": "RARE", "first_order": "2023-01-10", "last_order": "2026-09-15", "order_count": 5}]
    tiers, _ = _tiers(rows)
    assert tiers["tier"].to_dict() == {"REG": LOYAL, "LATE": OCCASIONAL, "RARE": OCCASIONAL}
    assert "on rhythm" in tiers.loc["REG", "tier_reason"] and "overdue" in tiers.loc["LATE", "tier_reason"]


def test_contract_without_orders():
    rows = [{"account_id": "K", "customer_since": "2024-01-01", "renewal_date": "2027-01-01"},
            {"account_id": "N", "customer_since": "2024-01-01"}]
    tiers, _ = _tiers(rows)
    assert tiers["tier"].to_dict() == {"K": HABITUAL, "N": OCCASIONAL}
    assert tiers.loc["K", "tier_reason"].startswith("On contract")


def test_summary_over_active_accounts_by_hand():
    rows = [{"account_id": "A", "annual_revenue": 100.0, "referrals": 1, "customer_since": "2024-01-01"},
            {"account_id": "B", "annual_revenue": 300.0, "customer_since": "2024-01-01"},
            {"account_id": "C", "revenue_12m": 600.0, "customer_since": "2024-01-01", "lost_date": "2026-05-01"},
            {"account_id": "D", "customer_since": "2024-01-01"}]
    orders = _monthly("A") + _monthly("B") + _monthly("C", n=6) + _monthly("D")  # D: 12 x 100 in the last year
    tiers, book = _tiers(rows, orders)
    summary = one_mistake_summary(book, tiers.reset_index()).set_index("measure")
    assert list(summary.reset_index().columns) == SUMMARY_COLUMNS
    assert summary.loc["accounts"].tolist() == [1, 2, pytest.approx(1 / 3)]  # C is lost: left out
    assert summary.loc["revenue"].tolist() == [100, 300 + 1200, pytest.approx(100 / 1600)]


def test_sample_tiers_match_planted_buyer_kinds():
    """The tiers read from the book match the planted buyer kinds, where a habitual buyer that lived through a
    big failure (and had half a year to show it) is expected to have broken the habit, as planted."""
    book = sample_canonical()
    tiers = loyalty_tiers(book, None)
    truth = sample_truth(seed=7, as_of=AS_OF)
    assert (tiers["account_id"] == truth["account_id"]).all()
    end = book.accounts["lost_date"].fillna(pd.Timestamp(AS_OF))
    kinds = planted_truths()["habit_break"]["kinds"]
    broke = truth["buyer_kind"].isin(kinds) & ((end - truth["big_failure"]).dt.days >= 180)
    expected = truth["buyer_kind"].where(~broke, "occasional")
    mine = tiers["tier"].str.lower()
    assert (mine == expected).mean() >= 0.9, pd.crosstab(expected, tiers["tier"])
    for kind in ("occasional", "habitual", "loyal"):
        assert (mine[expected == kind] == kind).mean() >= 0.8, kind
    # a loyal customer who lived through a big failure carries on, and says so
    stayed = (truth["buyer_kind"] == "loyal") & truth["big_failure"].notna() & book.accounts["lost_date"].isna()
    assert tiers.loc[stayed, "tier"].eq(LOYAL).mean() >= 0.9


@pytest.mark.parametrize("better,worse", [(LOYAL, HABITUAL), (LOYAL, OCCASIONAL), (HABITUAL, OCCASIONAL)])
def test_sample_tier_differences_in_break_ups(better, worse):
    """Planted: occasional buyers break up most, loyal customers least. The tiers read from the book show it,
    each difference significant (Fisher's exact test on the share lost)."""
    hazard = planted_truths()["base_annual_hazard"]
    assert hazard[better.lower()] < hazard[worse.lower()]
    tiers = loyalty_tiers(sample_canonical(), None)
    lost = tiers["lost"]
    a, b = tiers["tier"] == better, tiers["tier"] == worse
    test = stats.risk_ratio_test(int((lost & a).sum()), int(a.sum()), int((lost & b).sum()), int(b.sum()))
    assert test.rate_ratio < 1 and test.p_value < Settings().significance, test


def _random_book(seed: int) -> Book:
    return simulated_book(accounts=120, seed=seed, years=3.0, effects=bool(seed % 2))


CONTRACT_BOOKS = {
    "sample": lambda: sample_canonical(),
    "simulated no orders 1": lambda: _random_book(1),
    "simulated no orders 2": lambda: _random_book(2),
    "shape a": lambda: tiny_book([{"account_id": f"R{i}", "first_order": "2024-01-01", "last_order": "2026-10-01",
                                   "order_count": i, "nps": i % 11, "annual_revenue": 10.0 * i}
                                  for i in range(40)]),
    **{f"small: {name}": (lambda b=b: b) for name, b in small_books().items()},
}


@pytest.mark.parametrize("name", list(CONTRACT_BOOKS), ids=list(CONTRACT_BOOKS))
def test_contract_one_tier_per_account_and_shares_in_unit_interval(name):
    book = CONTRACT_BOOKS[name]()
    rng = np.random.default_rng(len(name))
    scores = pd.DataFrame({"account_id": book.accounts["account_id"].astype(str),
                           "band": rng.choice(["Low", "Watch", "High", "Critical"], size=len(book.accounts))})
    tiers = loyalty_tiers(book, scores)
    assert list(tiers.columns) == TIER_COLUMNS
    assert tiers["account_id"].tolist() == book.accounts["account_id"].astype(str).tolist()
    assert tiers["account_id"].is_unique
    assert tiers["tier"].isin(TIERS).all()
    assert tiers["tier_reason"].map(lambda r: isinstance(r, str) and len(r) > 0).all()
    assert tiers["one_mistake_away"].map(lambda v: isinstance(v, (bool, np.bool_))).all()
    assert (tiers.loc[tiers["tier"] != LOYAL, "one_mistake_away"]).all()
    summary = one_mistake_summary(book, tiers)
    assert summary["measure"].tolist() == ["accounts", "revenue"]
    shares = summary["share_surviving"]
    assert (shares.isna() | shares.between(0, 1)).all()
    assert (summary["survive_one_mistake"] >= 0).all() and (summary["one_mistake_away"] >= 0).all()
    active = int((~stats.at_risk_spans(book)["lost"]).sum())
    accounts = summary.set_index("measure").loc["accounts"]
    assert accounts["survive_one_mistake"] + accounts["one_mistake_away"] == active
    if active:
        assert shares.iloc[0] == pytest.approx(accounts["survive_one_mistake"] / active)
