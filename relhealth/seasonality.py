"""When do customers break up? Break-ups by calendar month, ISO week and named window, against exposure.

Seed 000: people split around Valentine's Day, spring break and two weeks before Christmas; "the key is to
recognise the events as trends, rather than coincidence". A month with many customers on the book has many
break-ups for no seasonal reason, so every count is set against exposure: the account-time at risk in that
month (each account from its start to its lost date or as-of, see ``stats.at_risk_spans``).

- ``by_month`` / ``by_week``: break-ups, exposure (account-years), rate per account-year, the count expected if
  break-ups ignored the calendar, the rate ratio against the rest of the year with its exact 95% interval and
  p-value, the Holm-adjusted p-value over the scan, and a verdict. A scan of 12 months (or 53 weeks) will throw
  up "significant" months by chance at the nominal rate, so the scan's verdicts use the Holm-adjusted p-value.
- ``windows``: the windows in Settings (named in advance: these are the hypotheses), each tested on its own
  p-value: "trend" when p < significance and the rate ratio is above 1.
- ``test``: the overall "no season" test (chi-square of the counts against their exposure-expected values).
- ``message``: "" or "not enough history: ..." when the book cannot support a test; the tables then keep their
  counts and exposure but carry no p-values and the verdict "not enough history".
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .book import Book

DAYS_PER_YEAR = 365.25

MONTH_COLUMNS = ["month", "month_name", "breakups", "exposure_account_years", "rate", "expected", "rate_ratio",
                 "ci_low", "ci_high", "p_value", "p_holm", "verdict"]
WEEK_COLUMNS = ["week"] + MONTH_COLUMNS[2:]
WINDOW_COLUMNS = ["window", "start", "end", "breakups", "exposure_account_years", "rate", "expected",
                  "rate_ratio", "ci_low", "ci_high", "p_value", "p_holm", "verdict"]
TEST_COLUMNS = ["test", "breakups", "statistic", "df", "p_value", "method", "verdict"]


@dataclass(frozen=True)
class Seasonality:
    by_month: pd.DataFrame
    by_week: pd.DataFrame
    windows: pd.DataFrame
    test: pd.DataFrame
    message: str
    breakups: int
    period_start: pd.Timestamp | None
    period_end: pd.Timestamp | None

    def trend_windows(self) -> list[str]:
        """Names of the windows whose verdict is 'trend'."""
        return self.windows.loc[self.windows["verdict"] == stats.TREND, "window"].tolist()


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _month_day_key(days: pd.DatetimeIndex) -> np.ndarray:
    return days.month.to_numpy() * 100 + days.day.to_numpy()


def _window_key(text: str) -> int:
    month, day = str(text).strip().split("-")
    return int(month) * 100 + int(day)


def _in_window(keys: np.ndarray, start: str, end: str) -> np.ndarray:
    """Month-day keys (MMDD) inside an inclusive window; a window may run over new year (12-20 to 01-05)."""
    lo, hi = _window_key(start), _window_key(end)
    return (keys >= lo) & (keys <= hi) if lo <= hi else (keys >= lo) | (keys <= hi)


def _scan(codes: np.ndarray, breakup_codes: np.ndarray, exposure_days: np.ndarray, size: int,
          testable: bool, significance: float, use_holm: bool) -> pd.DataFrame:
    """One row per category 0..size-1 (``codes``: each day's category, ``breakup_codes``: each break-up's):
    counts, exposure, rate, expected, rate ratio vs the rest, p-values, verdict."""
    exposure = np.bincount(codes, weights=exposure_days, minlength=size).astype(float)
    counts = np.bincount(breakup_codes.astype(int), minlength=size)
    total_k, total_e = int(counts.sum()), float(exposure.sum())
    years = exposure / DAYS_PER_YEAR
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(years > 0, counts / years, np.nan)
    expected = total_k * exposure / total_e if total_e > 0 else np.full(size, np.nan)
    if testable:
        comparisons = [stats.rate_ratio_test(k, e, total_k - k, total_e - e) for k, e in zip(counts, exposure)]
    else:
        comparisons = [stats.NO_COMPARISON] * size
    frame = pd.DataFrame({
        "breakups": counts, "exposure_account_years": years, "rate": rate, "expected": expected,
        "rate_ratio": [c.rate_ratio for c in comparisons], "ci_low": [c.ci_low for c in comparisons],
        "ci_high": [c.ci_high for c in comparisons], "p_value": [c.p_value for c in comparisons]})
    frame["p_holm"] = stats.holm(frame["p_value"].to_numpy())
    decide_on = "p_holm" if use_holm else "p_value"
    frame["verdict"] = [
        stats.verdict(stats.Comparison(r, np.nan, np.nan, p), significance) if testable else stats.NOT_ENOUGH
        for r, p in zip(frame["rate_ratio"], frame[decide_on])]
    return frame


def breakup_seasonality(book: Book) -> Seasonality:
    """Break-ups by month, ISO week and named window, each against exposure, with the tests described above."""
    stats.check_book(book)
    settings = book.settings
    today = stats.as_of_day(book)
    spans = stats.at_risk_spans(book).dropna(subset=["start"])
    if not len(spans):
        message = ("not enough history: no account has a start date, order or lost date to measure time on "
                   "the book from")
        return Seasonality(_empty(MONTH_COLUMNS), _empty(WEEK_COLUMNS), _empty(WINDOW_COLUMNS),
                           _empty(TEST_COLUMNS), message, 0, None, None)
    first, last = float(spans["start"].min()), today
    size = int(last - first) + 2
    at_risk = np.zeros(size)  # accounts at risk each day: +1 on the start, -1 the day after the end
    np.add.at(at_risk, (spans["start"].to_numpy() - first).astype(int), 1)
    np.add.at(at_risk, (spans["end"].to_numpy() - first + 1).astype(int), -1)
    at_risk = np.cumsum(at_risk)[:-1]
    days = pd.date_range(stats.day_to_timestamp(first), periods=size - 1, freq="D")
    lost_days = spans.loc[spans["lost"], "end"].to_numpy()
    lost_index = days[(lost_days - first).astype(int)]
    breakups = len(lost_days)

    message = stats.history_problem(spans, breakups, settings.min_breakups_to_learn, settings.season_min_history_days,
                                    "a season needs at least a full year")
    testable = not message
    alpha = settings.significance

    months = np.arange(1, 13)
    by_month = _scan(days.month.to_numpy() - 1, lost_index.month.to_numpy() - 1, at_risk, 12, testable, alpha,
                     True)
    by_month.insert(0, "month_name", [calendar.month_name[m] for m in months])
    by_month.insert(0, "month", months)

    weeks = np.arange(1, 54)
    day_weeks = days.isocalendar().week.to_numpy(dtype=int)
    lost_weeks = lost_index.isocalendar().week.to_numpy(dtype=int) if breakups else np.array([], dtype=int)
    by_week = _scan(day_weeks - 1, lost_weeks - 1, at_risk, 53, testable, alpha, True)
    by_week.insert(0, "week", weeks)

    windows = _windows(settings.windows, days, at_risk, lost_index, testable, alpha)
    test = pd.DataFrame([_overall("calendar month", by_month, testable, alpha),
                         _overall("ISO week", by_week, testable, alpha)], columns=TEST_COLUMNS)
    return Seasonality(by_month[MONTH_COLUMNS], by_week[WEEK_COLUMNS], windows, test, message, breakups,
                       stats.day_to_timestamp(first), stats.day_to_timestamp(last))


def _windows(windows: dict, days: pd.DatetimeIndex, at_risk: np.ndarray, lost_index: pd.DatetimeIndex,
             testable: bool, alpha: float) -> pd.DataFrame:
    if not len(windows):
        return _empty(WINDOW_COLUMNS)
    day_keys, lost_keys = _month_day_key(days), _month_day_key(lost_index)
    rows = []
    for name, (start, end) in windows.items():
        # Each window is tested on its own (windows may overlap), as one category against the rest of the year.
        labels = _in_window(day_keys, start, end)
        outside = (~labels).astype(int), (~_in_window(lost_keys, start, end)).astype(int)
        row = _scan(*outside, at_risk, 2, testable, alpha, False).iloc[[0]]
        if not (0 < float(at_risk[labels].sum()) < float(at_risk.sum())):
            row = row.assign(rate_ratio=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan,
                             verdict=stats.NOT_ENOUGH if not testable else "window not covered by the records")
        rows.append(row.assign(window=name, start=start, end=end))
    frame = pd.concat(rows, ignore_index=True)
    frame["p_holm"] = stats.holm(frame["p_value"].to_numpy())
    return frame[WINDOW_COLUMNS]


def _overall(name: str, table: pd.DataFrame, testable: bool, alpha: float) -> dict:
    breakups = int(table["breakups"].sum())
    if not testable:
        return {"test": name, "breakups": breakups, "statistic": np.nan, "df": np.nan, "p_value": np.nan,
                "method": "not tested", "verdict": stats.NOT_ENOUGH}
    statistic, df, p_value, method = stats.goodness_of_fit(table["breakups"].to_numpy(),
                                                           table["expected"].to_numpy())
    verdict = "season" if np.isfinite(p_value) and p_value < alpha else "no clear season"
    return {"test": name, "breakups": breakups, "statistic": statistic, "df": df, "p_value": p_value,
            "method": method, "verdict": verdict}


def renewal_in_trend_window(book: Book, seasonality: Seasonality) -> pd.DataFrame:
    """Per account (book.accounts order): ``account_id, renewal_date, trend_window, in_trend_window``.

    An active account whose renewal date (its month and day: renewals recur yearly) falls inside a window the
    seasonality analysis called a trend is flagged; ``trend_window`` names the window(s), "" otherwise."""
    stats.check_book(book)
    accounts = book.accounts
    renewal = (pd.to_datetime(accounts["renewal_date"], errors="coerce") if "renewal_date" in accounts.columns
               else pd.Series(pd.NaT, index=accounts.index, dtype="datetime64[ns]"))
    lost = stats.at_risk_spans(book)["lost"].to_numpy()
    if "status" in accounts.columns:
        lost = lost | (accounts["status"].astype(str) == "Lost").to_numpy()
    names = [""] * len(accounts)
    trend = seasonality.windows[seasonality.windows["verdict"] == stats.TREND] if len(seasonality.windows) else []
    if len(trend):
        keys = _month_day_key(pd.DatetimeIndex(renewal.fillna(pd.Timestamp("2000-01-01"))))
        has_date = renewal.notna().to_numpy() & ~lost
        hits = [np.where(_in_window(keys, row.start, row.end) & has_date, row.window, "")
                for row in trend.itertuples()]
        names = ["; ".join(n for n in parts if n) for parts in zip(*hits)]
    return pd.DataFrame({"account_id": accounts["account_id"].astype(str).to_numpy(),
                         "renewal_date": renewal.to_numpy(), "trend_window": names,
                         "in_trend_window": [bool(n) for n in names]})
