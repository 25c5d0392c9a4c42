"""Shared statistics for the relationship analyses, and the book-derived quantities they rest on.

Statistics (pure numbers in, numbers out):

- ``rate_ratio_test``: two Poisson rates (events per unit of exposure) compared by the exact conditional test:
  given the total count ``k1 + k0``, ``k1`` is Binomial(k1 + k0, t1 / (t1 + t0)) when the rates are equal. The
  95% interval of the rate ratio is the Clopper-Pearson interval of that binomial proportion, transformed, and
  the two-sided p-value doubles the smaller exact tail, so "p < 0.05" and "the interval excludes 1" always
  agree. It is exact for small counts (the person-time counterpart of Fisher's exact test).
- ``risk_ratio_test``: two proportions (lost / accounts) by Fisher's exact test, with the log (Katz) interval.
- ``goodness_of_fit``: observed counts against expected ones (chi-square, or a Monte Carlo multinomial test when
  expected counts are small).
- ``holm``: Holm's step-down adjustment of a family of p-values.

The distributions behind them come from ``scipy.special`` (``binom_cdf``, ``binom_sf``, ``beta_ppf``,
``norm_ppf``, ``chi2_sf``, ``fisher_two_sided``): the same numbers as scipy's statistics module, without the half
a second its import takes on every refresh and first Excel call.

Book-derived quantities (every analysis measures time the same way):

- ``day_numbers``: dates -> whole days since 1970-01-01 (float, NaN when missing).
- ``at_risk_spans``: per account, the first and last day it was at risk of breaking up (both inclusive), and
  whether the last day is a break-up.
- ``account_revenue``: the revenue an account stands for (annual revenue, else revenue 12M, else order amounts in
  the 365 days up to its end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .book import Book, BookError, positions_in

TREND, FEWER, COINCIDENCE, REFERENCE = "trend", "fewer break-ups", "could be coincidence", "reference"
NOT_ENOUGH = "not enough history"
REVENUE_DAYS = 365


@dataclass(frozen=True)
class Comparison:
    rate_ratio: float
    ci_low: float
    ci_high: float
    p_value: float


NO_COMPARISON = Comparison(np.nan, np.nan, np.nan, np.nan)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), as scipy's ``binom.cdf`` (the same regularised incomplete beta, to
    the last digit or two): 0 below the support, 1 from n up, NaN when n or p is not a valid parameter."""
    if not (n >= 0 and 0 <= p <= 1):
        return np.nan
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return float(special.betainc(n - k, k + 1, 1 - p))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X > k) for X ~ Binomial(n, p), as scipy's ``binom.sf``: 1 below the support (k = -1 included), 0 from
    n up, NaN when n or p is not a valid parameter."""
    if not (n >= 0 and 0 <= p <= 1):
        return np.nan
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    return float(special.betainc(k + 1, n - k, p))


def beta_ppf(q: float, a: float, b: float) -> float:
    """Quantile q of Beta(a, b), as scipy's ``beta.ppf``."""
    return float(special.betaincinv(a, b, q))


def norm_ppf(q: float) -> float:
    """Quantile q of the standard normal, as scipy's ``norm.ppf``."""
    return float(special.ndtri(q))


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for X ~ chi-square(df), as scipy's ``chi2.sf`` (1 for x < 0, NaN for df <= 0)."""
    if not df > 0:
        return np.nan
    if x < 0:
        return 1.0
    return float(special.chdtrc(df, x))


# Two tables whose probabilities agree to this (log) margin count as equally likely, as scipy's 1 + 1e-14 does
# with its own rounding: equal probabilities (mirror-image margins) come out of the sums below 1e-13 apart.
_SAME_PROBABILITY = 1e-10


def _running_sum(values: np.ndarray) -> np.ndarray:
    """np.cumsum without the rounding that thousands of additions pile up: the values' multiples of 2**-20 add up
    exactly, and what is left of each value is too small for its sum to lose digits that matter."""
    coarse = np.round(values * 2.0 ** 20) / 2.0 ** 20
    return np.cumsum(coarse) + np.cumsum(values - coarse)


def fisher_two_sided(a: int, b: int, c: int, d: int) -> float:
    """Fisher's exact two-sided p-value of the 2x2 table [[a, b], [c, d]], as scipy's ``fisher_exact``: the
    total probability of the tables with the same margins that are no more likely than the one observed (1 when a
    margin is empty).

    The tables' hypergeometric probabilities are built from the mode outward, one exact ratio of integers per
    step (log scale, so far tails neither overflow nor lose digits), then normalised by their sum.
    """
    a, b, c, d = int(a), int(b), int(c), int(d)
    if min(a, b, c, d) < 0:
        raise ValueError("a 2x2 table of counts has no negative cells")
    row1, row2, col1 = a + b, c + d, a + c
    if row1 == 0 or row2 == 0 or col1 == 0 or b + d == 0:
        return 1.0
    lo, hi = max(0, col1 - row2), min(col1, row1)
    mode = (col1 + 1) * (row1 + 1) // (row1 + row2 + 2) - lo
    x = np.arange(lo, hi, dtype=float)
    # P(x + 1) / P(x): exact integer products as floats (to 2**53), one rounding in the division
    step = np.log((row1 - x) * (col1 - x) / ((x + 1) * (row2 - col1 + x + 1)))
    log_p = np.zeros(hi - lo + 1)
    log_p[mode + 1:] = _running_sum(step[mode:])
    log_p[:mode] = -_running_sum(step[:mode][::-1])[::-1]
    weight = np.exp(log_p)
    extreme = log_p <= log_p[a - lo] + _SAME_PROBABILITY
    return float(min(1.0, weight[extreme].sum() / weight.sum()))


def binom_two_sided(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial p-value by doubling the smaller tail: the test that matches the Clopper-Pearson
    interval (the interval excludes p exactly when this p-value is below 1 - level)."""
    if n == 0:
        return 1.0
    tail = min(binom_cdf(k, n, p), binom_sf(k - 1, n, p))
    return float(min(1.0, 2 * tail))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial proportion k / n."""
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else beta_ppf(tail, k, n - k + 1)
    high = 1.0 if k == n else beta_ppf(1 - tail, k + 1, n - k)
    return low, high


def rate_ratio_test(k1: float, t1: float, k0: float, t0: float, level: float = 0.95) -> Comparison:
    """Rate ratio (k1/t1) / (k0/t0) with its exact interval and two-sided exact conditional p-value."""
    k1, k0 = int(k1), int(k0)
    if t1 <= 0 or t0 <= 0:
        return NO_COMPARISON
    n = k1 + k0
    if n == 0:
        return Comparison(np.nan, 0.0, np.inf, 1.0)
    low, high = clopper_pearson(k1, n, level)
    scale = t0 / t1
    ratio = np.inf if k0 == 0 else (k1 / t1) / (k0 / t0)
    high = np.inf if high >= 1 else high / (1 - high) * scale
    return Comparison(float(ratio), float(low / (1 - low) * scale), float(high),
                      binom_two_sided(k1, n, t1 / (t1 + t0)))


def risk_ratio_test(lost1: int, n1: int, lost0: int, n0: int, level: float = 0.95) -> Comparison:
    """Risk ratio (lost1/n1) / (lost0/n0), Fisher's exact two-sided p-value and the log (Katz) interval."""
    lost1, n1, lost0, n0 = int(lost1), int(n1), int(lost0), int(n0)
    if n1 == 0 or n0 == 0:
        return NO_COMPARISON
    p_value = fisher_two_sided(lost1, n1 - lost1, lost0, n0 - lost0)
    if lost1 + lost0 == 0:
        return Comparison(np.nan, 0.0, np.inf, p_value)
    if lost0 == 0:
        return Comparison(np.inf, np.nan, np.inf, p_value)
    ratio = (lost1 / n1) / (lost0 / n0)
    if lost1 == 0:
        return Comparison(0.0, 0.0, np.nan, p_value)
    se = np.sqrt(1 / lost1 - 1 / n1 + 1 / lost0 - 1 / n0)
    z = norm_ppf(0.5 + level / 2)
    return Comparison(float(ratio), float(ratio * np.exp(-z * se)), float(ratio * np.exp(z * se)), p_value)


def verdict(comparison: Comparison, significance: float) -> str:
    """'trend' (significantly more break-ups), 'fewer break-ups' (significantly fewer) or 'could be coincidence'."""
    if not np.isfinite(comparison.p_value) or comparison.p_value >= significance:
        return COINCIDENCE
    return TREND if comparison.rate_ratio > 1 else FEWER


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted in the family)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def goodness_of_fit(observed: np.ndarray, expected: np.ndarray, draws: int = 10_000,
                    seed: int = 0) -> tuple[float, int, float, str]:
    """Test observed counts against expected counts of the same total: (statistic, df, p_value, method).

    Pearson's chi-square when every expected count is at least 5; otherwise the same statistic's p-value from
    ``draws`` multinomial samples (seeded, so a refresh gives the same answer).
    """
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    keep = expected > 0
    observed, expected = observed[keep], expected[keep]
    df = int(keep.sum()) - 1
    if df < 1 or observed.sum() == 0:
        return np.nan, max(df, 0), np.nan, "not tested"
    statistic = float(((observed - expected) ** 2 / expected).sum())
    if expected.min() >= 5:
        return statistic, df, chi2_sf(statistic, df), "chi-square"
    rng = np.random.default_rng(seed)
    sims = rng.multinomial(int(observed.sum()), expected / expected.sum(), size=draws)
    sim_stats = ((sims - expected) ** 2 / expected).sum(axis=1)
    p_value = (1 + np.count_nonzero(sim_stats >= statistic - 1e-9)) / (draws + 1)
    return statistic, df, float(p_value), f"Monte Carlo chi-square ({draws:,} draws)"


# ---- book-derived quantities -------------------------------------------------------------------------------

_REQUIRED = (("accounts", ("account_id",)), ("orders", ("account_id", "order_date")),
             ("events", ("account_id", "event_date", "event_type")))


def check_book(book: Book) -> None:
    """The one input check of every analysis entry point: a Book whose frames have the canonical columns
    (``book.py``'s contract; the reader always builds one). Raises ``BookError`` naming what is missing."""
    if not isinstance(book, Book):
        raise TypeError(f"expected a relhealth.book.Book, got {type(book).__name__}")
    for name, required in _REQUIRED:
        frame = getattr(book, name)
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise BookError(f"the book's {name} table has no {', '.join(missing)} column; build books with "
                            "relhealth.reader.read_book or the empty frames of relhealth.book")


_EPOCH = np.datetime64("1970-01-01", "D")


def day_numbers(values: object) -> np.ndarray:
    """Dates (anything pandas reads as dates) -> days since 1970-01-01 as floats, NaN where missing."""
    series = pd.to_datetime(pd.Series(values), errors="coerce")
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_localize(None)
    days = series.to_numpy(dtype="datetime64[D]")
    out = (days - _EPOCH).astype("int64").astype(float)
    out[np.isnat(days)] = np.nan
    return out


def day_to_timestamp(day: float) -> pd.Timestamp:
    return pd.Timestamp(_EPOCH + np.timedelta64(int(day), "D"))


def as_of_day(book: Book) -> float:
    return float(day_numbers([book.settings.today()])[0])


def _column_days(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column in frame.columns:
        return day_numbers(frame[column])
    return np.full(len(frame), np.nan)


def account_positions(book: Book, frame: pd.DataFrame) -> np.ndarray:
    """Each row's account as a position in book.accounts (the first row when an id repeats; -1 when the account is
    not in the book), matched by ``account_id`` as text. Lets per-account sums run on integers, not on ids. The
    book's own order and event logs reuse the positions the book worked out once (read-only)."""
    if frame is book.orders or frame is book.events:
        return book.order_positions if frame is book.orders else book.event_positions
    return positions_in(book.accounts, frame)


def _same_account(ids: np.ndarray) -> np.ndarray:
    """Per account row, the first row with the same id (what an id-keyed lookup gives every copy)."""
    index = pd.Index(ids)
    first = np.flatnonzero(~index.duplicated())
    return first[index[first].get_indexer(index)]


def _first_per_account(book: Book, frame: pd.DataFrame, date_column: str, wanted: np.ndarray | None = None
                       ) -> np.ndarray:
    """Earliest date per account (aligned to book.accounts), NaN when the account has none (or is not ``wanted``)."""
    n = len(book.accounts)
    if not len(frame):
        return np.full(n, np.nan)
    at = account_positions(book, frame)
    same = _same_account(book.accounts["account_id"].astype(str).to_numpy())
    keep = at >= 0
    if wanted is not None:
        keep &= _any_copy(same, wanted)[at]
    first = pd.Series(day_numbers(frame[date_column])[keep]).groupby(at[keep]).min()
    out = np.full(n, np.nan)
    out[first.index.to_numpy()] = first.to_numpy(dtype=float)
    return out[same]


def _any_copy(same: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per first row of an id: whether ``mask`` holds for any row with that id."""
    out = np.zeros(len(same), bool)
    out[same[mask]] = True
    return out


def records_start(book: Book, start: np.ndarray, lost_day: np.ndarray) -> float:
    """First day break-ups are on record (NaN when nothing is dated).

    The earliest account start, but not before the records begin: the first order of the order log (or the first
    lost date, when earlier). Events are too sparse to mark it. Without an order log, lost accounts may have been
    cleared out of the sheet up to some date: when the first break-up on record comes more than a year after the
    earliest start, and a wait that long before all n break-ups would happen by chance less than 1% of the time
    (break-ups at a steady rate fall uniformly over the records), the records are taken to begin at that first
    break-up.
    """
    first = float(np.nanmin(start)) if np.isfinite(start).any() else np.nan
    lost = lost_day[np.isfinite(lost_day)]
    if len(book.orders):
        ordered = book.order_days
        dated = np.concatenate([ordered[np.isfinite(ordered)], lost])
        if len(dated):
            first = float(np.fmax(first, dated.min()))
    if len(lost) and np.isfinite(first):
        wait, span = lost.min() - first, as_of_day(book) - first + 1
        # Break-ups at a steady rate fall uniformly over the records: all n after `wait` with chance (1-wait/span)^n
        if wait > 365 and (1 - wait / span) ** len(lost) < 0.01:
            first = float(lost.min())
    return first


def at_risk_spans(book: Book) -> pd.DataFrame:
    """Per account (book.accounts order): ``account_id, start, end, lost`` in day numbers, days inclusive.

    start: customer_since, else first_order, else the first order or event on record, else the book's earliest
    known date; never before ``records_start`` (time before the records begin cannot show a break-up). end: the
    lost date when the account broke up on or before as-of, else as-of. A lost date before the start moves the
    start back to it (one day at risk). Accounts with no usable date, lost before the records begin, or starting
    after as-of get NaN start and end (``lost`` False) and are left out of every exposure.
    """
    accounts = book.accounts
    today = as_of_day(book)
    start = _column_days(accounts, "customer_since")
    fallbacks = (lambda: _column_days(accounts, "first_order"),
                 lambda: _first_per_account(book, book.orders, "order_date", np.isnan(start)),
                 lambda: _first_per_account(book, book.events, "event_date", np.isnan(start)))
    for fallback in fallbacks:
        if np.isnan(start).any():  # a fallback fills only missing starts: skip it when none is missing
            start = np.where(np.isnan(start), fallback(), start)
    lost_day = _column_days(accounts, "lost_date")
    lost_day = np.where(lost_day <= today, lost_day, np.nan)
    lost = np.isfinite(lost_day)
    first = records_start(book, start, lost_day)
    start = np.where(np.isnan(start), first, np.fmax(start, first))
    end = np.where(lost, lost_day, today)
    not_yet = start > today
    start = np.minimum(start, end)
    usable = np.isfinite(start) & ~not_yet & (end >= first)
    return pd.DataFrame({"account_id": accounts["account_id"].astype(str).to_numpy(),
                         "start": np.where(usable, start, np.nan), "end": np.where(usable, end, np.nan),
                         "lost": lost & usable})


def history_problem(spans: pd.DataFrame, breakups: int, minimum: int, min_days: int = 0,
                    needs: str = "") -> str:
    """'' when a book has enough history to test anything, else 'not enough history: <why>'.

    ``spans`` from ``at_risk_spans``; ``minimum``: break-ups needed; ``min_days``: how long the records must run
    (``needs`` says why, e.g. "a season needs at least a full year")."""
    usable = spans.dropna(subset=["start"])
    if breakups == 0:
        return "not enough history: no break-ups on record (no lost dates up to as-of), so there is nothing to test"
    first, last = float(usable["start"].min()), float(usable["end"].max())
    if last - first + 1 < min_days:
        return (f"not enough history: the records cover only {int(last - first + 1)} days "
                f"({day_to_timestamp(first):%Y-%m-%d} to {day_to_timestamp(last):%Y-%m-%d}); {needs}")
    if bool(usable["lost"].all()):
        return ("not enough history: every account in the book is lost; a comparison needs the accounts that "
                "stayed as well")
    minimum = max(int(minimum), 2)
    if breakups < minimum:
        return (f"not enough history: {breakups} break-up{'s' if breakups != 1 else ''} on record; at least "
                f"{minimum} are needed before anything is tested (Settings: min_breakups_to_learn)")
    return ""


def account_revenue(book: Book, end_days: np.ndarray | None = None) -> np.ndarray:
    """Revenue each account stands for (book.accounts order): annual_revenue, else revenue_12m, else the sum of
    its order amounts in the 365 days up to ``end_days`` (default: as-of). NaN when none is known."""
    accounts = book.accounts
    revenue = np.full(len(accounts), np.nan)
    for column in ("annual_revenue", "revenue_12m"):
        if column in accounts.columns:
            revenue = np.where(np.isnan(revenue), pd.to_numeric(accounts[column], errors="coerce"), revenue)
    orders = book.orders
    if np.isnan(revenue).any() and len(orders) and "amount" in orders.columns:
        ids = accounts["account_id"].astype(str).to_numpy()
        ends = np.full(len(accounts), as_of_day(book)) if end_days is None else np.asarray(end_days, float)
        at = account_positions(book, orders)
        order_day = book.order_days
        order_end = np.where(at >= 0, ends[np.maximum(at, 0)], np.nan)
        inside = (order_day <= order_end) & (order_day > order_end - REVENUE_DAYS)
        amounts = pd.Series(pd.to_numeric(orders["amount"], errors="coerce").to_numpy(dtype=float)[inside])
        # Grouped by the ids' sort rank, so pandas sums each account exactly as a group-by on the ids would
        # (the summing method it picks depends on whether the group keys come sorted).
        rank = pd.factorize(ids, sort=True)[0].astype(float)
        rank[rank < 0] = np.nan  # a missing id is no group, as with the ids themselves
        sums = amounts.groupby(rank[at[inside]]).sum(min_count=1)
        summed = sums.reindex(rank).to_numpy(dtype=float)
        revenue = np.where(np.isnan(revenue), summed, revenue)
    return revenue
