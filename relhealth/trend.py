"""Book health as of each of the last 12 month-ends: risk bands and loyalty-tier mix, recomputed as of each date.

``health_trend(book, months=12) -> Trend``. For each month-end on or before as-of, ``book_as_of`` rebuilds the
book as it stood that day (orders and events up to it; accounts not yet customers left out; accounts lost later
still active; ``Settings.as_of`` set to the date), then the risk engine and the tiers run on it unchanged. Nothing
is extrapolated: a month-end is only recomputed from what was on record by then.

Each month-end costs a full scoring of the book, so a row can be reused: ``fingerprint`` hashes the book as it
stood that day (records up to it and every setting but as-of); ``health_trend(book, known=table)`` takes the
rows of an earlier table whose month-end and fingerprint match instead of recomputing them. Past month-ends
rarely change, so a refresh usually recomputes none or one.

A book with no order log (accounts-only summary columns such as Last Order or Orders are as of today) cannot be
rewound, and a book with fewer than ``MIN_POINTS`` month-ends of history has no trend: ``Trend.message`` then
says "not enough history: ..." and the table is empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .book import Book, empty_issues
from .stats import account_revenue, day_numbers

TREND_COLUMNS = ["month_end", "accounts", "low", "watch", "high", "critical", "occasional", "habitual", "loyal",
                 "one_mistake_away", "revenue", "revenue_one_mistake_away", "lost_in_month", "fingerprint"]
BANDS = ("Low", "Watch", "High", "Critical")
TIERS = ("Occasional", "Habitual", "Loyal")
MIN_POINTS = 6
# Account columns that summarise history as of today: they cannot be rewound, so they are dropped when an order
# log exists (the engine then works from the log) and make the trend impossible when it does not.
SUMMARY_COLUMNS = ("last_order", "order_count", "revenue_12m", "complaints_90d", "first_order")


@dataclass(frozen=True)
class Trend:
    table: pd.DataFrame
    message: str = ""
    reused: int = 0  # month-ends taken from ``known`` instead of recomputed
    pending: int = 0  # month-ends left for a later refresh (time budget spent)
    seconds_each: float = 0.0  # time one month-end took to compute

    @property
    def note(self) -> str:
        """'' when complete, else how far the trend has got (for chart subtitles)."""
        if not self.pending:
            return ""
        return (f"{len(self.table)} of {len(self.table) + self.pending} month-ends so far (about "
                f"{self.seconds_each:.0f} s each on this book); each refresh adds more")


def fingerprint(book: Book) -> str:
    """A short hash of everything a month-end's figures depend on: the records and the settings but as-of."""
    digest = hashlib.sha1()
    for frame in (book.accounts, book.orders, book.events):
        frame = frame.drop(columns=[c for c in ("source_row",) if c in frame.columns])
        digest.update("|".join(map(str, frame.columns)).encode())
        if len(frame):
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(repr(replace(book.settings, as_of=None)).encode())
    return digest.hexdigest()[:16]


def month_ends(as_of: dt.date, months: int = 12) -> list[pd.Timestamp]:
    """The last ``months`` month-ends on or before ``as_of``, oldest first."""
    stamp = pd.Timestamp(as_of)
    last = stamp if stamp.is_month_end else (stamp - pd.offsets.MonthEnd(1))
    return [last - pd.offsets.MonthEnd(k) if k else last for k in range(months - 1, -1, -1)]


def book_as_of(book: Book, date: pd.Timestamp | dt.date) -> Book:
    """The book as it stood at the end of ``date``: what was known then, with ``Settings.as_of = date``."""
    stamp = pd.Timestamp(date).normalize()
    orders = book.orders[pd.to_datetime(book.orders["order_date"]) <= stamp] if len(book.orders) else book.orders
    events = book.events[pd.to_datetime(book.events["event_date"]) <= stamp] if len(book.events) else book.events
    accounts = book.accounts.copy()
    if len(book.orders):
        accounts = accounts.drop(columns=[c for c in SUMMARY_COLUMNS if c in accounts.columns])
    keep = np.ones(len(accounts), dtype=bool)
    if "customer_since" in accounts.columns:
        keep &= ~(pd.to_datetime(accounts["customer_since"]) > stamp).to_numpy()
    if len(book.orders):
        first = pd.to_datetime(book.orders["order_date"]).groupby(book.orders["account_id"].astype(str)).min()
        first_order = first.reindex(accounts["account_id"].astype(str)).to_numpy()
        since = pd.to_datetime(accounts["customer_since"]).to_numpy() if "customer_since" in accounts.columns \
            else np.full(len(accounts), np.datetime64("NaT"))
        keep &= ~(np.isnat(since) & (first_order > stamp.to_datetime64()))
    if "lost_date" in accounts.columns:
        later = (pd.to_datetime(accounts["lost_date"]) > stamp).to_numpy()
        accounts.loc[later, "lost_date"] = pd.NaT
        if "status" in accounts.columns:
            accounts.loc[later, "status"] = "Active"
        if "lost_reason" in accounts.columns:
            accounts.loc[later, "lost_reason"] = None
    accounts = accounts[keep].reset_index(drop=True)
    return replace(book, accounts=accounts, orders=orders.reset_index(drop=True),
                   events=events.reset_index(drop=True), settings=book.settings.with_(as_of=stamp.date()),
                   issues=empty_issues())


def health_trend(book: Book, months: int = 12, score=None, tier=None, known: pd.DataFrame | None = None,
                 budget_seconds: float | None = None) -> Trend:
    """Risk bands, tier mix and one-mistake-away exposure as of each of the last ``months`` month-ends.

    ``score(book) -> scores`` and ``tier(book, scores) -> tiers`` default to ``risk.score_book`` and
    ``tiers.loyalty_tiers``; tests may pass small stand-ins. ``known``: an earlier trend table whose rows are
    reused where month-end and fingerprint match. ``budget_seconds``: stop computing new month-ends (newest
    first, at least one) once this much time is spent; ``Trend.pending`` counts the ones left for later.
    """
    if score is None or tier is None:
        from . import risk, tiers as tiers_module
        score = score or risk.score_book
        tier = tier or tiers_module.loyalty_tiers
    if not len(book.orders):
        return Trend(_empty(), "not enough history: without an order log the book shows only today's state, "
                               "so past month-ends cannot be recomputed")
    cache = {}
    if known is not None and len(known) and "fingerprint" in known.columns:
        cache = {(pd.Timestamp(r["month_end"]), str(r["fingerprint"])): r for r in known.to_dict("records")}
    rows, reused, pending, spent = [], 0, 0, []
    started = time.perf_counter()
    for stamp in reversed(month_ends(book.settings.today(), months)):  # newest first
        past = book_as_of(book, stamp)
        alive = _active(past)
        if not alive.any():
            continue
        key = (stamp, fingerprint(past))
        if key in cache:
            rows.append({c: cache[key].get(c) for c in TREND_COLUMNS})
            reused += 1
            continue
        if budget_seconds is not None and spent and time.perf_counter() - started > budget_seconds:
            pending += 1
            continue
        began = time.perf_counter()
        scores = score(past)
        tiers = tier(past, scores)
        rows.append({**_summarise(past, scores, tiers, alive, stamp, book), "fingerprint": key[1]})
        spent.append(time.perf_counter() - began)
    rows.reverse()
    each = float(np.mean(spent)) if spent else 0.0
    if not pending and len(rows) < MIN_POINTS:
        return Trend(_empty(), f"not enough history: the records cover {len(rows)} of the last {months} "
                               f"month-ends; a trend needs at least {MIN_POINTS}")
    table = pd.DataFrame(rows, columns=TREND_COLUMNS) if rows else _empty()
    return Trend(table, reused=reused, pending=pending, seconds_each=each)


def _active(book: Book) -> np.ndarray:
    accounts = book.accounts
    lost = np.zeros(len(accounts), dtype=bool)
    if "status" in accounts.columns:
        lost |= (accounts["status"].astype(str).str.lower() == "lost").to_numpy()
    if "lost_date" in accounts.columns:
        lost |= accounts["lost_date"].notna().to_numpy()
    return ~lost


def _summarise(past: Book, scores: pd.DataFrame, tiers: pd.DataFrame, alive: np.ndarray,
               stamp: pd.Timestamp, full: Book) -> dict:
    ids = past.accounts["account_id"].astype(str)
    band = scores.assign(account_id=scores["account_id"].astype(str)).drop_duplicates("account_id") \
        .set_index("account_id")["band"].reindex(ids).to_numpy(dtype=object)[alive]
    tier_frame = tiers.assign(account_id=tiers["account_id"].astype(str)).drop_duplicates("account_id") \
        .set_index("account_id").reindex(ids)
    tier = tier_frame["tier"].to_numpy(dtype=object)[alive]
    away = tier_frame["one_mistake_away"].fillna(False).to_numpy(dtype=bool)[alive] \
        if "one_mistake_away" in tier_frame.columns else np.zeros(int(alive.sum()), dtype=bool)
    revenue = np.nan_to_num(account_revenue(past)[alive])
    row = {"month_end": stamp, "accounts": int(alive.sum())}
    row.update({b.lower(): int(np.count_nonzero(band == b)) for b in BANDS})
    row.update({t.lower(): int(np.count_nonzero(tier == t)) for t in TIERS})
    row["one_mistake_away"] = int(away.sum())
    row["revenue"] = float(revenue.sum())
    row["revenue_one_mistake_away"] = float(revenue[away].sum())
    lost_day = day_numbers(full.accounts["lost_date"]) if "lost_date" in full.accounts.columns else np.array([])
    start = float(day_numbers([stamp - pd.offsets.MonthBegin(1)])[0])
    end = float(day_numbers([stamp])[0])
    row["lost_in_month"] = int(np.count_nonzero((lost_day >= start) & (lost_day <= end)))
    return row


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="int64") for c in TREND_COLUMNS})
    return frame.astype({"month_end": "datetime64[ns]", "revenue": float, "revenue_one_mistake_away": float,
                         "fingerprint": object})
