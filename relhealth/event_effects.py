"""Relationship events as multiplicative effects on the odds of a break-up, learned from the book when it can.

Features of an account as of a day ``t`` (``event_features``):

- ``complaint``: complaints in the ``event_window_days`` up to ``t`` (each one multiplies the odds);
- every other event type: 1 when at least one happened in that window, else 0;
- ``renewal``: 1 when a contract anniversary falls inside the horizon after ``t`` (contracts taken as annual, so
  past anniversaries are the renewal date minus whole years, never before the customer started).

Books without an event log can carry summary columns (Complaints 90d, Price Increase, Merger, New Decision-Maker);
those have no dates, so they count at every as-of date.

Learning (``learn_effects``): when the book has at least ``min_breakups_to_learn`` dated break-ups, a discrete-time
hazard model is fitted on account-weeks: for each 7-day period ended by as-of (periods on one fixed grid of day
numbers, so an earlier as-of sees a subset of the same rows), every account on the book and not yet lost
contributes one row with its features at the period start, its buying behaviour then (log days since its
last order, log orders in the year before) and whether it broke up within the period. The logistic regression is
penalised towards the defaults in Settings (``event_odds``, ``renewal_odds``): a normal prior on each log odds
ratio worth ``effect_shrinkage`` pseudo-accounts, i.e. precision ``shrinkage * p(1 - p)`` with ``p`` the book's
break-up rate over the horizon. The reported odds ratio and its 95% interval come from that penalised fit. The
p-value asks the book's data alone (no pull towards the defaults) whether the event changes the odds at all (Wald
test), Benjamini-Hochberg-adjusted over the effects tested, so that a book where events mean nothing shows no
significant one (under that global null the adjustment keeps the family-wise error at the level).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .book import Book
from .calibration import penalised_logistic
from .schema import EVENT_TYPES
from .stats import day_numbers

RENEWAL = "renewal"
RENEWAL_LABEL = "Contract renewal within the horizon"
PERIOD_DAYS = 7  # weeks: the learned effects move far less with the grid's phase than with fortnights
EFFECT_COLUMNS = ["event_type", "label", "odds_ratio", "ci_low", "ci_high", "p_value", "source", "n_events"]
FLAG_COLUMNS = {"price_increase": "price_increase_flag", "merger": "merger_flag",
                "new_decision_maker": "new_decision_maker_flag"}
CODES = tuple(EVENT_TYPES) + (RENEWAL,)


def day_of(date) -> int:
    return int(pd.Timestamp(date).to_datetime64().astype("datetime64[D]").astype("int64"))


class EventData:
    """The book's dated events and renewal anniversaries in day numbers, aligned to ``book.accounts`` rows."""

    def __init__(self, book: Book):
        accounts = book.accounts
        self.n = len(accounts)
        ev = book.events
        pos = book.event_positions if len(ev) else np.array([], dtype=int)
        day = day_numbers(ev["event_date"]) if len(ev) else np.array([])
        keep = (pos >= 0) & np.isfinite(day)
        self.pos, self.day = pos[keep], day[keep]
        self.code = ev["event_type"].astype(str).to_numpy()[keep] if len(ev) else np.array([], dtype=object)
        lookup = {code: j for j, code in enumerate(CODES[:-1])}
        self.code_index = np.array([lookup.get(c, len(CODES) - 1) for c in self.code], dtype=np.int64)
        self.renewal, self.since = (day_numbers(accounts[col]) if col in accounts.columns else np.full(self.n, np.nan)
                                    for col in ("renewal_date", "customer_since"))
        self.flags = {}
        if "complaints_90d" in accounts.columns:
            self.flags["complaint"] = pd.to_numeric(accounts["complaints_90d"], errors="coerce").fillna(0).to_numpy()
        for code, column in FLAG_COLUMNS.items():
            if column in accounts.columns:
                self.flags[code] = accounts[column].fillna(False).astype(bool).to_numpy().astype(float)

    def features(self, t: float, window: int, horizon: int, with_flags: bool = True) -> np.ndarray:
        """Accounts x ``CODES``: the features as of day ``t`` (see the module docstring)."""
        inside = (self.day <= t) & (self.day > t - window)
        out = np.zeros((self.n, len(CODES)))
        if inside.any():
            out[:, :len(EVENT_TYPES)] = np.bincount(self.pos[inside] * len(CODES) + self.code_index[inside],
                                                    minlength=self.n * len(CODES)).reshape(self.n, -1)[:, :-1]
        if with_flags:
            for code, values in self.flags.items():
                j = CODES.index(code)
                out[:, j] = np.maximum(out[:, j], values)
        out[:, 1:len(EVENT_TYPES)] = np.minimum(out[:, 1:len(EVENT_TYPES)], 1.0)  # presence, except complaints
        out[:, -1] = self.renews_within(t, horizon)
        return out

    def renews_within(self, t: float, horizon: int) -> np.ndarray:
        """Days until the next contract anniversary after ``t`` is at most ``horizon`` (annual contracts)."""
        return self.days_to_renewal(t) <= horizon

    def days_to_renewal(self, t: float) -> np.ndarray:
        """Days from ``t`` to the next anniversary of the renewal date (annual contracts; inf when unknown)."""
        years = np.floor((self.renewal - t - 1) / 365.25)  # whole years to step back (or forward, when < 0)
        nxt = self.renewal - np.round(years * 365.25)
        valid = np.isfinite(nxt) & ~(nxt <= self.since)
        return np.where(valid, np.maximum(nxt - t, 1), np.inf)

    def latest(self, t: float, window: int, code: str) -> np.ndarray:
        """Day of each account's latest event of ``code`` in the window up to ``t`` (NaN when none)."""
        sel = (self.day <= t) & (self.day > t - window) & (self.code == code)
        out = np.full(self.n, np.nan)
        if sel.any():
            frame = pd.DataFrame({"pos": self.pos[sel], "day": self.day[sel]}).groupby("pos")["day"].max()
            out[frame.index.to_numpy()] = frame.to_numpy()
        return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values. When no event matters at all it keeps the chance of calling any
    of them significant at the level (like Holm), with more power when several do."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok):
        order = ok[np.argsort(p[ok])]
        m = len(order)
        scaled = p[order] * m / np.arange(1, m + 1)
        out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def default_effects(book: Book) -> pd.Series:
    """Log odds ratios from Settings (event_odds, renewal_odds), indexed by event code."""
    s = book.settings
    odds = {code: float(s.event_odds.get(code, 1.0)) for code in EVENT_TYPES}
    odds[RENEWAL] = float(s.renewal_odds)
    return np.log(pd.Series(odds))


class _Behaviour:
    """Days since the last order and orders in the 365 days before, per account at rising days t (whole numbers:
    rows that share them can be pooled; the model takes their logs)."""

    def __init__(self, book: Book, n_accounts: int):
        orders = book.orders
        pos = book.order_positions if len(orders) else np.array([], int)
        day = book.order_days if len(orders) else np.array([])
        ok = (pos >= 0) & np.isfinite(day)
        order = np.argsort(day[ok], kind="stable")
        self.pos, self.day = pos[ok][order], day[ok][order]
        self.last = np.full(n_accounts, np.nan)
        self.done = 0

    def at(self, t: float) -> np.ndarray:
        """Features at day ``t``; call with non-decreasing ``t``."""
        k = int(np.searchsorted(self.day, t, side="right"))
        if k > self.done:
            np.fmax.at(self.last, self.pos[self.done:k], self.day[self.done:k])
            self.done = k
        lo = int(np.searchsorted(self.day, t - 365, side="right"))
        recent = np.bincount(self.pos[lo:k], minlength=len(self.last))
        since = np.where(np.isfinite(self.last), t - self.last, 3 * 365)
        return np.column_stack([since, recent])


@dataclass(frozen=True)
class LearningRows:
    """A book's account-weeks, pooled. Periods start on one fixed 7-day grid (day numbers divisible by 7),
    whatever the as-of, so the rows of an earlier as-of are exactly those whose period had ended by then: the
    month-ends of a trend select from one set instead of each building its own."""

    period_end: np.ndarray   # per account-week: the last day of its period
    group: np.ndarray        # per account-week: its pooled row (same features, same buying behaviour)
    breakup: np.ndarray      # per account-week: True when the account broke up within the period
    events: np.ndarray       # per pooled row: the event features (``CODES`` columns, flags left out)
    behaviour: np.ndarray    # per pooled row: days since the last order, orders in the 365 days before


def learning_rows(book: Book) -> LearningRows | None:
    """The account-weeks of ``book`` up to its as-of (None when it has no dated records)."""
    s = book.settings
    as_of, window, horizon = day_of(s.today()), int(s.event_window_days), int(s.horizon_days)
    data = EventData(book)
    accounts = book.accounts
    # a lost date after as-of only means "not lost yet": every period here ends by as-of
    lost = day_numbers(accounts["lost_date"]) if "lost_date" in accounts.columns else np.full(data.n, np.nan)
    first_order = np.full(data.n, np.nan)
    if len(book.orders):
        pos, day = book.order_positions, book.order_days
        ok = pos >= 0
        got = pd.Series(day[ok]).groupby(pos[ok]).min()
        first_order[got.index.to_numpy()] = got.to_numpy()
    start = np.where(np.isfinite(data.since), data.since, first_order)
    dated = np.r_[data.day, book.order_days if len(book.orders) else []]
    if not len(dated):
        return None
    records = float(np.nanmin(dated)) + window  # the first period start with a full event window behind it
    status_lost = (accounts["status"].astype(str) == "Lost").to_numpy() if "status" in accounts.columns \
        else np.zeros(data.n, bool)
    undated_loss = status_lost & np.isnan(lost)
    ends, ys, events, behaviour = [], [], [], []
    orders = _Behaviour(book, data.n)
    first_start = -(-records // PERIOD_DAYS) * PERIOD_DAYS  # on the grid, oldest first
    for t in np.arange(first_start, as_of - PERIOD_DAYS + 1, PERIOD_DAYS):
        at_risk = (start <= t) & ~(lost <= t) & ~undated_loss
        features = orders.at(t)
        if at_risk.any():
            # whole numbers kept as integers: the pooling below keys on them, without a large float matrix
            events.append(data.features(t, window, horizon, with_flags=False)[at_risk].astype(np.int32))
            ys.append(((lost > t) & (lost <= t + PERIOD_DAYS))[at_risk])
            behaviour.append(features[at_risk].astype(np.int64))
            ends.append(np.full(int(at_risk.sum()), t + PERIOD_DAYS, dtype=np.int32))
    if not ends:
        return None
    events, behaviour = np.vstack(events), np.vstack(behaviour)
    first, group = _pooled([*events.T, *behaviour.T])
    # compact types: a book keeps these rows while it lives (9 bytes per account-week)
    return LearningRows(np.concatenate(ends), group.astype(np.int32), np.concatenate(ys),
                        events[first].astype(float), behaviour[first].astype(float))


def _pooled(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows, given column by column as whole numbers >= 0, grouped when equal: (each group's first row, each
    row's group)."""
    radix = [int(column.max()) + 1 for column in columns]
    if sum(np.log2(radix)) < 62:  # one int64 key per row: hashed, no row sort
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for column, base in zip(columns, radix):
            key *= base
            key += column
        group, uniques = pd.factorize(key)
        first = np.empty(len(uniques), dtype=np.int64)
        first[group[::-1]] = np.arange(len(group) - 1, -1, -1)  # the last write per group is its first row
        return first, group
    _, first, group = np.unique(np.column_stack(columns), axis=0, return_index=True, return_inverse=True)
    return first, group.ravel()


def learn_effects(book: Book, p_values: bool = True, rows: LearningRows | None = None) -> pd.DataFrame:
    """The effects table (``EFFECT_COLUMNS``, one row per event type and the renewal), learned or default.

    ``p_values=False`` leaves ``p_value`` blank and skips the unpenalised fit that only the p-values need (scoring
    uses the odds ratios alone). ``rows``: ``learning_rows`` of a later as-of of the same records (a trend's
    latest book), of which the periods ended by this book's as-of are used; by default they are built here."""
    s = book.settings
    as_of = day_of(s.today())
    horizon = int(s.horizon_days)
    data = EventData(book)
    prior = default_effects(book)
    counts = pd.Series({code: int(np.count_nonzero((data.code == code) & (data.day <= as_of))) for code in EVENT_TYPES})
    counts[RENEWAL] = int(np.isfinite(data.renewal).sum())
    table = pd.DataFrame({"event_type": list(CODES),
                          "label": [EVENT_TYPES[c][0] if c in EVENT_TYPES else RENEWAL_LABEL for c in CODES],
                          "odds_ratio": np.exp(prior.reindex(CODES).to_numpy()), "ci_low": np.nan,
                          "ci_high": np.nan, "p_value": np.nan, "source": "default",
                          "n_events": counts.reindex(CODES).to_numpy()})
    if not len(book.events):
        return table
    rows = book.event_learning if rows is None else rows
    if rows is None:
        return table
    # pooled rows: identical account-weeks as one binomial row (the same likelihood, a fraction of the rows)
    mine = rows.period_end <= as_of
    trials = np.bincount(rows.group[mine], minlength=len(rows.events)).astype(float)
    y = np.bincount(rows.group[mine], weights=rows.breakup[mine], minlength=len(rows.events))
    if y.sum() < max(int(s.min_breakups_to_learn), 1) or y.sum() == trials.sum():
        return table
    used = trials > 0
    trials, y, events, behaviour = trials[used], y[used], rows.events[used], rows.behaviour[used]
    present = events.sum(axis=0) > 0
    codes = [c for c, ok in zip(CODES, present) if ok]
    E = events[:, present]
    logs = np.log1p(behaviour)
    centre = np.average(logs, axis=0, weights=trials)
    spread = np.sqrt(np.average((logs - centre) ** 2, axis=0, weights=trials))
    b = (logs - centre) / np.maximum(spread, 1e-9)
    X = np.column_stack([np.ones(len(y)), b, E])
    k0 = X.shape[1] - E.shape[1]
    rate = y.sum() / trials.sum()
    p_h = 1 - (1 - rate) ** (horizon / PERIOD_DAYS)  # break-up probability over the horizon
    tau = max(float(s.effect_shrinkage), 0.0) * p_h * (1 - p_h)
    mean = np.r_[np.zeros(k0), prior.reindex(codes).to_numpy()]
    prec = np.r_[np.full(k0, 1e-6), np.full(len(codes), max(tau, 1e-6))]
    start = mean.copy()
    start[0] = np.log(rate / (1 - rate))  # the intercept at the break-up rate: Newton then needs fewer steps
    coef, info = penalised_logistic(X, y, mean, prec, start=start, trials=trials)
    se = np.sqrt(np.clip(np.diag(np.linalg.pinv(info)), 0, None))[k0:]
    p_adj = np.full(len(codes), np.nan)
    if p_values:
        raw, raw_info = penalised_logistic(X, y, None, np.r_[np.full(k0, 1e-6), np.full(len(codes), 1e-4)],
                                           start=coef, trials=trials)
        raw_se = np.sqrt(np.clip(np.diag(np.linalg.pinv(raw_info)), 0, None))[k0:]
        with np.errstate(divide="ignore", invalid="ignore"):
            p_raw = 2 * special.ndtr(-np.abs(raw[k0:] / raw_se))
        p_adj = benjamini_hochberg(p_raw)
    at = table.set_index("event_type")
    for j, code in enumerate(codes):
        beta = coef[k0 + j]
        at.loc[code, ["odds_ratio", "ci_low", "ci_high", "p_value"]] = [
            np.exp(beta), np.exp(beta - 1.96 * se[j]), np.exp(beta + 1.96 * se[j]), p_adj[j]]
        at.loc[code, "source"] = "learned"
    return at.reset_index()[EFFECT_COLUMNS]
