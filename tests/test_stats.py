"""Shared statistics: exact tests against scipy, Holm, goodness of fit, and how time at risk is measured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from analysis_books import tiny_book
from relhealth import stats


@pytest.mark.parametrize("k1,t1,k0,t0", [(3, 10.0, 1, 50.0), (0, 5.0, 20, 100.0), (12, 1.0, 40, 9.0),
                                         (7, 30.0, 0, 70.0), (25, 200.0, 30, 250.0)])
def test_rate_ratio_test_is_the_exact_conditional_binomial(k1, t1, k0, t0):
    result = stats.rate_ratio_test(k1, t1, k0, t0)
    share = t1 / (t1 + t0)
    binom = st.binomtest(k1, k1 + k0, share)
    ci = binom.proportion_ci(0.95, method="exact")
    assert result.ci_low == pytest.approx(ci.low / (1 - ci.low) * t0 / t1, rel=1e-6, abs=1e-12)
    if k0:
        assert result.rate_ratio == pytest.approx((k1 / t1) / (k0 / t0))
        assert result.ci_high == pytest.approx(ci.high / (1 - ci.high) * t0 / t1, rel=1e-6)
    else:
        assert result.rate_ratio == np.inf and result.ci_high == np.inf
    tails = min(st.binom.cdf(k1, k1 + k0, share), st.binom.sf(k1 - 1, k1 + k0, share))
    assert result.p_value == pytest.approx(min(1.0, 2 * tails))


def test_p_value_and_interval_always_agree():
    rng = np.random.default_rng(0)
    for _ in range(500):
        k1, k0 = rng.integers(0, 40, 2)
        t1, t0 = rng.uniform(1, 100, 2)
        r = stats.rate_ratio_test(k1, t1, k0, t0)
        assert (r.p_value < 0.05) == (r.ci_low > 1 or r.ci_high < 1)


def test_rate_ratio_interval_covers_the_truth_at_least_95_percent():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(1000):
        t1, t0 = 20.0, 80.0
        k1, k0 = rng.poisson(0.3 * t1 * 2.0), rng.poisson(0.3 * t0)
        r = stats.rate_ratio_test(k1, t1, k0, t0)
        covered += r.ci_low <= 2.0 <= r.ci_high
    assert covered >= 950


def test_degenerate_rate_ratios():
    assert np.isnan(stats.rate_ratio_test(1, 0.0, 1, 10.0).p_value)
    nothing = stats.rate_ratio_test(0, 10.0, 0, 10.0)
    assert np.isnan(nothing.rate_ratio) and nothing.p_value == 1.0


def test_risk_ratio_test_is_fisher():
    r = stats.risk_ratio_test(8, 20, 10, 100)
    assert r.rate_ratio == pytest.approx(0.4 / 0.1)
    assert r.p_value == pytest.approx(st.fisher_exact([[8, 12], [10, 90]]).pvalue)
    assert r.ci_low < 4 < r.ci_high
    assert np.isnan(stats.risk_ratio_test(1, 0, 1, 10).p_value)


def _same(got, expected, rel=1e-12):
    """Equal to ``rel`` (relative), NaN where the reference is NaN, exactly where either is 0, 1 or infinite."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    edge = np.isnan(expected) | np.isin(expected, [0.0, 1.0, np.inf, -np.inf])
    assert np.array_equal(got[edge], expected[edge], equal_nan=True)
    got, expected = got[~edge], expected[~edge]
    close = np.abs(got - expected) <= rel * np.abs(expected)
    assert close.all(), list(zip(got[~close], expected[~close]))


_N = [0, 1, 2, 5, 17, 60, 187, 1000, 4000]
_P = [0.0, 1e-9, 0.001, 0.0841, 0.3, 0.5, 0.77, 0.999, 1 - 1e-9, 1.0, np.nan]
_BINOMIAL = [(k, n, p) for n in _N for k in sorted({-2, -1, 0, 1, n // 3, n // 2, n - 1, n, n + 1}) for p in _P]
_BETA = [(q, k, n - k + 1) for n in _N[1:] for k in sorted({1, n // 3, n // 2, n}) for q in (0.025, 0.975)] + \
        [(q, k + 1, n - k) for n in _N[1:] for k in sorted({0, n // 3, n // 2, n - 1}) for q in (0.025, 0.975)]
_CHI2 = [(x, df) for df in (1, 2, 3, 11, 52) for x in (-1.0, 0.0, 1e-8, 0.4, 3.84, 20.0, 80.0, 700.0, np.inf, np.nan)]
_MU = [0.0, 1e-12, 1e-3, 0.0253, 0.3, 1.0, 2.5, 4.9999, 7.0, 12.345, 40.0, 123.4, 1e4, 1e7, np.finfo(float).max,
       -1.0, np.nan]


@pytest.mark.parametrize("name", ["binom_cdf", "binom_sf", "beta_ppf", "norm_ppf", "chi2_sf", "poisson_ppf"])
def test_distributions_match_scipy_stats(name):
    from charts.seasonality import poisson_ppf
    if name == "binom_cdf":
        _same([stats.binom_cdf(*args) for args in _BINOMIAL], [st.binom.cdf(*args) for args in _BINOMIAL])
    elif name == "binom_sf":  # as the two-sided test asks for it: the upper tail from k, so k - 1 = -1 at k = 0
        _same([stats.binom_sf(*args) for args in _BINOMIAL], [st.binom.sf(*args) for args in _BINOMIAL])
    elif name == "beta_ppf":
        _same([stats.beta_ppf(*args) for args in _BETA], [st.beta.ppf(*args) for args in _BETA])
    elif name == "norm_ppf":
        q = [0.0, 1e-300, 0.025, 0.5, 0.6, 0.95, 0.975, 0.995, 1.0, np.nan]
        _same([stats.norm_ppf(v) for v in q], st.norm.ppf(q))
    elif name == "chi2_sf":
        _same([stats.chi2_sf(x, df) for x, df in _CHI2], [st.chi2.sf(x, df) for x, df in _CHI2])
    else:
        for q in (0.025, 0.5, 0.975):
            _same(poisson_ppf(q, _MU), st.poisson.ppf(q, _MU))
        many = np.linspace(0, 60, 6001)
        _same(poisson_ppf(0.025, many), st.poisson.ppf(0.025, many))
        _same(poisson_ppf(0.975, many), st.poisson.ppf(0.975, many))


def _tables() -> list[tuple[int, int, int, int]]:
    rng = np.random.default_rng(7)
    tables = [(0, 0, 0, 0), (0, 5, 0, 7), (3, 0, 9, 0), (4, 6, 0, 0), (0, 0, 2, 8), (1, 0, 0, 1), (0, 1, 1, 0),
              (5, 5, 5, 5), (3, 7, 7, 3), (6, 2, 1, 4), (8, 2, 1, 5), (8, 12, 10, 90), (0, 20, 5, 95),
              (20, 0, 80, 17), (1, 1000, 0, 5000), (300, 700, 200, 800), (0, 424, 424, 0), (1027, 55, 199, 686)]
    for scale in (3, 10, 40, 250, 3000):
        cells = rng.integers(0, scale, (300, 4))
        cells[rng.random((300, 4)) < 0.15] = 0
        mirrored = rng.random(300) < 0.2  # equal rows or columns: tables tie with their mirror image
        cells[mirrored, 2:] = cells[mirrored, 1::-1]
        tables += [tuple(int(v) for v in row) for row in cells]
    return tables


def test_fisher_two_sided_matches_scipy_stats():
    tables = _tables()
    got = [stats.fisher_two_sided(*t) for t in tables]
    expected = [st.fisher_exact([[a, b], [c, d]]).pvalue for a, b, c, d in tables]
    _same(got, expected)
    with pytest.raises(ValueError):
        stats.fisher_two_sided(1, -1, 2, 3)


def test_holm_matches_the_step_down_rule():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    adjusted = stats.holm(p)
    # sorted: 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert adjusted[[4, 0, 2, 1]].tolist() == pytest.approx([0.02, 0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])


def test_goodness_of_fit_chi_square_and_monte_carlo():
    observed = np.array([30, 20, 25, 25])
    expected = np.array([25.0, 25, 25, 25])
    statistic, df, p_value, method = stats.goodness_of_fit(observed, expected)
    reference = st.chisquare(observed, expected)
    assert (statistic, df, method) == (pytest.approx(reference.statistic), 3, "chi-square")
    assert p_value == pytest.approx(reference.pvalue)
    small = stats.goodness_of_fit(np.array([3, 0, 1, 0]), np.ones(4))
    assert small[3].startswith("Monte Carlo") and 0 < small[2] <= 1
    assert small == stats.goodness_of_fit(np.array([3, 0, 1, 0]), np.ones(4))  # seeded: a refresh agrees


def test_spans_start_when_the_records_start():
    """Customers since 2015, but the order log (the records) begins in 2024: time before then is not at risk."""
    rows = [{"account_id": "A", "customer_since": "2015-01-01"},
            {"account_id": "B", "customer_since": "2025-03-01", "lost_date": "2025-09-30"},
            {"account_id": "C", "customer_since": "2030-01-01"}]
    book = tiny_book(rows, orders=[("A", "2024-01-01", 1.0), ("B", "2025-03-02", 1.0)])
    spans = stats.at_risk_spans(book).set_index("account_id")
    day = lambda text: stats.day_numbers([text])[0]  # noqa: E731
    assert spans.loc["A", ["start", "end"]].tolist() == [day("2024-01-01"), day("2026-10-31")]
    assert spans.loc["B", ["start", "end", "lost"]].tolist() == [day("2025-03-01"), day("2025-09-30"), True]
    assert np.isnan(spans.loc["C", "start"]) and not spans.loc["C", "lost"]  # not a customer yet


def test_spans_without_order_log_detect_cleared_out_losses():
    """No order log; accounts since 2010 but the first of many break-ups on record only in 2024: earlier lost
    accounts were not kept, so the records begin at the first break-up."""
    rows = [{"account_id": f"A{i}", "customer_since": "2010-01-01",
             "lost_date": (pd.Timestamp("2024-01-05") + pd.Timedelta(days=12 * i)).date().isoformat()
             if i < 50 else None} for i in range(100)]
    spans = stats.at_risk_spans(tiny_book(rows))
    assert spans["start"].min() == stats.day_numbers(["2024-01-05"])[0]
    one = stats.at_risk_spans(tiny_book(rows[49:]))  # a single late break-up is no evidence of clearing out
    assert one["start"].min() == stats.day_numbers(["2010-01-01"])[0]


def test_account_revenue_falls_back_in_order():
    rows = [{"account_id": "A", "annual_revenue": 10.0, "revenue_12m": 99.0},
            {"account_id": "B", "revenue_12m": 20.0}, {"account_id": "C"}, {"account_id": "D"}]
    orders = [("C", "2026-01-01", 5.0), ("C", "2026-10-01", 6.0), ("C", "2025-06-01", 100.0)]
    revenue = stats.account_revenue(tiny_book(rows, orders=orders))
    assert revenue[:3].tolist() == [10.0, 20.0, 11.0] and np.isnan(revenue[3])


def test_account_positions_first_row_of_an_id_and_minus_one_when_unknown():
    book = tiny_book([{"account_id": "A"}, {"account_id": "B"}, {"account_id": "A"}],
                     orders=[("B", "2026-01-01", 1.0), ("Z", "2026-01-01", 1.0), ("A", "2026-01-02", 1.0)])
    assert stats.account_positions(book, book.orders).tolist() == [1, -1, 0]
    assert stats.account_positions(book, book.accounts).tolist() == [0, 1, 0]


def test_account_revenue_sums_like_a_group_by_on_ids_to_the_last_digit():
    rng = np.random.default_rng(3)
    ids = [f"A{i:03d}" for i in range(60)]
    orders = [(ids[j], f"2026-{rng.integers(1, 11):02d}-{rng.integers(1, 28):02d}", rng.integers(1, 10**6) / 100)
              for j in rng.integers(0, 60, 3000)]
    for shuffled in (orders, sorted(orders)):  # pandas sums sorted and unsorted group keys differently
        # accounts listed in another order than their ids sort in, one of them twice
        book = tiny_book([{"account_id": i} for i in ids[::-1]] + [{"account_id": "A007"}], orders=shuffled)
        frame = book.orders.assign(day=stats.day_numbers(book.orders["order_date"]))
        inside = frame[frame["day"] > stats.as_of_day(book) - stats.REVENUE_DAYS]
        expected = inside.set_index("account_id")["amount"].groupby(level=0).sum(min_count=1)
        revenue = stats.account_revenue(book)
        assert revenue.tolist() == expected.reindex(ids[::-1] + ["A007"]).tolist()


def test_every_entry_point_checks_its_book():
    from relhealth import lost, seasonality, tiers, triggers
    from relhealth.book import Book, BookError

    broken = Book(accounts=pd.DataFrame({"customer": ["A"]}))
    calls = [lambda: tiers.loyalty_tiers(broken, None), lambda: tiers.one_mistake_summary(broken, pd.DataFrame()),
             lambda: seasonality.breakup_seasonality(broken), lambda: triggers.trigger_lift(broken),
             lambda: triggers.complaint_steps(broken), lambda: lost.lost_business(broken)]
    for call in calls:
        with pytest.raises(BookError, match="account_id"):
            call()
    with pytest.raises(BookError, match="events"):
        triggers.trigger_lift(Book(accounts=pd.DataFrame({"account_id": ["A"]}), events=pd.DataFrame()))
