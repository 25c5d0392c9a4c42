"""Break-up seasonality: break-ups by month (and ISO week) against the count expected from exposure, with the
normal range (95% Poisson interval around the expected count) and the trend windows highlighted."""

from __future__ import annotations

import calendar

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from scipy import special

from .style import (ACCENT, ACCENT_LIGHT, BASE, NORMAL_BAND, SUBTLE, esc, finish, headline, lower_first, new_axes,
                    not_enough, ratio, top_legend)

_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "first", "last", "final")
_PREPOSITIONS = ("around", "before", "after", "during", "in", "over", "near", "at", "on")


def window_phrase(name: str) -> str:
    """'Two weeks before Christmas' -> 'in the two weeks before Christmas'; 'Around Valentine's Day' -> as is."""
    first = name.split()[0].lower() if name.split() else ""
    if first in _PREPOSITIONS:
        return lower_first(name)
    if first[:1].isdigit() or first in _NUMBER_WORDS:
        return "in the " + lower_first(name)
    return "during " + lower_first(name)


def season_finding(seasonality) -> tuple[str, str]:
    """(title, evidence) computed from the tables: the strongest trend window, else the strongest trend month."""
    windows, months = seasonality.windows, seasonality.by_month
    trend = windows[windows["verdict"] == "trend"] if len(windows) else windows
    if len(trend):
        best = trend.loc[pd.to_numeric(trend["rate_ratio"]).idxmax()]
        others = [f"{w} {ratio(r)}" for w, r in zip(trend["window"], trend["rate_ratio"]) if w != best["window"]]
        more = f". Also a trend: {', '.join(others)}" if others else ""
        return (f"Break-ups run {ratio(best['rate_ratio'])} normal {window_phrase(str(best['window']))}",
                f"{_dates(best['start'], best['end'])}: {int(best['breakups'])} break-ups vs "
                f"{best['expected']:.0f} expected (95% interval {best['ci_low']:.1f}-{best['ci_high']:.1f}x){more}")
    hot = months[months["verdict"] == "trend"] if len(months) else months
    if len(hot):
        best = hot.loc[pd.to_numeric(hot["rate_ratio"]).idxmax()]
        return (f"Break-ups run {ratio(best['rate_ratio'])} normal in {best['month_name']}",
                f"{int(best['breakups'])} break-ups vs {best['expected']:.0f} expected "
                f"(95% interval {best['ci_low']:.1f}-{best['ci_high']:.1f}x); no named window is a trend")
    total = int(months["breakups"].sum()) if len(months) else 0
    return ("No break-up season stands out: the monthly ups and downs could be chance",
            f"{total} break-ups tested month by month and in the named windows; none differs from normal "
            "after allowing for chance")


def _dates(start: str, end: str) -> str:
    """'12-11', '12-24' -> 'Dec 11-24'; '12-20', '01-05' -> 'Dec 20-Jan 5'."""
    (m0, d0), (m1, d1) = (map(int, str(start).split("-")), map(int, str(end).split("-")))
    tail = f"{d1}" if m0 == m1 else f"{calendar.month_abbr[m1]} {d1}"
    return f"{calendar.month_abbr[m0]} {d0}-{tail}"


def _short(name: str) -> str:
    return esc(name if len(name) <= 26 else name[:25] + "…")


def poisson_ppf(q: float, mu: np.ndarray) -> np.ndarray:
    """The smallest count whose Poisson(mu) cumulative probability reaches q (0 < q < 1), as scipy's
    ``poisson.ppf``: the inverse of the continuous cdf rounded up, one count lower when that one already reaches q;
    NaN for a negative or missing mu."""
    mu = np.asarray(mu, dtype=float)
    valid = mu >= 0
    safe = np.where(valid, mu, 0.0)
    count = np.ceil(special.pdtrik(q, safe))
    lower = np.maximum(count - 1, 0)
    out = np.where(special.pdtr(lower, safe) >= q, lower, count)
    return np.where(valid, out, np.nan)


def _normal_range(expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    expected = np.nan_to_num(np.asarray(expected, dtype=float))
    return poisson_ppf(0.025, expected), poisson_ppf(0.975, expected)


def _window_spans(windows: pd.DataFrame, position) -> list[tuple[float, float, str, float]]:
    """(x0, x1, name, rate ratio) of each trend window; a window over new year is split in two."""
    spans = []
    if not len(windows):
        return spans
    for row in windows[windows["verdict"] == "trend"].itertuples():
        (m0, d0), (m1, d1) = (map(int, str(row.start).split("-")), map(int, str(row.end).split("-")))
        x0, x1 = position(m0, d0, False), position(m1, d1, True)
        if x1 < x0:
            spans += [(x0, position(12, 31, True), row.window, row.rate_ratio),
                      (position(1, 1, False), x1, "", row.rate_ratio)]
        else:
            spans.append((x0, x1, row.window, row.rate_ratio))
    return spans


def _draw(ax, x, counts, expected, verdicts, spans, width):
    low, high = _normal_range(expected)
    ax.fill_between(np.r_[x[0] - width / 2, x, x[-1] + width / 2],
                    np.r_[low[0], low, low[-1]], np.r_[high[0], high, high[-1]], step="mid",
                    color=NORMAL_BAND, label="normal range", zorder=0)
    ax.step(np.r_[x[0] - width / 2, x, x[-1] + width / 2], np.r_[expected[0], expected, expected[-1]],
            where="mid", color=SUBTLE, linewidth=1.2, linestyle="--", label="expected", zorder=3)
    above = (np.asarray(verdicts) == "trend") | (counts > high)
    ax.bar(x[~above], counts[~above], width=width * 0.8, color=BASE, zorder=2, label="break-ups")
    ax.bar(x[above], counts[above], width=width * 0.8, color=ACCENT, zorder=2, label="above normal")
    top = max(float(np.nanmax(counts)) if len(counts) else 1, float(np.nanmax(high)) if len(high) else 1) * 1.3
    named = [s for s in spans if s[2]]
    for x0, x1, _name, _rr in spans:
        ax.axvspan(x0, x1, color=ACCENT_LIGHT, zorder=-1, label=None)
    for k, (x0, x1, name, rr) in enumerate(sorted(named)):
        right = x0 > (x[0] + x[-1]) / 2
        ax.text(x1 if right else x0, top * (0.97 - 0.08 * (k % 2)), f"{_short(name)} {ratio(rr)}",
                ha="right" if right else "left", va="top", fontsize=8.5, color=ACCENT, fontweight="bold")
    if spans:
        ax.axvspan(np.nan, np.nan, color=ACCENT_LIGHT, label="trend window")
    ax.set_ylim(0, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    top_legend(ax, ncol=5)


def seasonality_chart(seasonality, ax=None):
    """Break-ups per calendar month against the expected count and its normal range; trend windows shaded."""
    if seasonality.message or not len(seasonality.by_month):
        return not_enough(ax, "Break-up seasons", seasonality.message)
    fig, ax = new_axes(ax)
    months = seasonality.by_month.sort_values("month")
    x = months["month"].to_numpy(dtype=float)
    counts = months["breakups"].to_numpy(dtype=float)
    expected = months["expected"].to_numpy(dtype=float)

    def position(month: int, day: int, end: bool) -> float:
        days = calendar.monthrange(2001, month)[1]
        return month - 0.5 + (day - (0 if end else 1)) / days

    _draw(ax, x, counts, expected, months["verdict"].to_numpy(), _window_spans(seasonality.windows, position), 1.0)
    ax.set_xticks(x, [calendar.month_abbr[int(m)] for m in x])
    ax.set_xlim(0.4, 12.6)
    ax.set_ylabel("Break-ups (accounts lost)")
    ax.set_xlabel("Month of the year (all years on record)")
    title, evidence = season_finding(seasonality)
    headline(ax, title, evidence)
    return finish(fig, legend=True)


def seasonality_week_chart(seasonality, ax=None):
    """Break-ups per ISO week of the year against the expected count; trend windows shaded."""
    if seasonality.message or not len(seasonality.by_week):
        return not_enough(ax, "Break-ups by week", seasonality.message)
    fig, ax = new_axes(ax)
    weeks = seasonality.by_week.sort_values("week")
    x = weeks["week"].to_numpy(dtype=float)
    counts = weeks["breakups"].to_numpy(dtype=float)
    expected = weeks["expected"].to_numpy(dtype=float)

    def position(month: int, day: int, end: bool) -> float:
        doy = pd.Timestamp(2001, month, day).day_of_year
        return (doy - (0 if end else 1)) / 7 + 0.5

    _draw(ax, x, counts, expected, weeks["verdict"].to_numpy(), _window_spans(seasonality.windows, position), 1.0)
    starts = [pd.Timestamp(2001, m, 1).day_of_year / 7 + 0.5 for m in range(1, 13)]
    ax.set_xticks(starts, [calendar.month_abbr[m] for m in range(1, 13)], ha="left")
    ax.set_xlim(0.4, 53.6)
    ax.set_ylabel("Break-ups (accounts lost)")
    ax.set_xlabel("Week of the year (ISO weeks; labels mark month starts)")
    hot = weeks[weeks["verdict"] == "trend"]
    if len(hot):
        listed = ", ".join(str(int(w)) for w in hot["week"])
        title = f"Break-ups peak in week{'s' if len(hot) > 1 else ''} {listed}, beyond what chance explains"
        best = hot.loc[pd.to_numeric(hot["rate_ratio"]).idxmax()]
        evidence = (f"Week {int(best['week'])}: {int(best['breakups'])} break-ups vs {best['expected']:.0f} "
                    f"expected ({ratio(best['rate_ratio'])}; adjusted for testing 53 weeks)")
    else:
        peak = weeks.loc[pd.to_numeric(weeks["rate_ratio"]).idxmax()]
        title = "Week by week, no single week stands out once chance is allowed for"
        evidence = (f"Busiest week: {int(peak['week'])} with {int(peak['breakups'])} break-ups vs "
                    f"{peak['expected']:.0f} expected; see the monthly chart and the named windows")
    headline(ax, title, evidence)
    return finish(fig, legend=True)
