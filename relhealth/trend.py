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
    return _Rewind(book).book_as_of(date)


class _Rewind:
    """``book_as_of`` for many dates of one book: what does not depend on the date (parsed dates, first orders,
    the row hashes of the order and event logs) is worked out once."""

    def __init__(self, book: Book):
        self.book = book
        self.order_dates = pd.to_datetime(book.orders["order_date"]) if len(book.orders) else None
        self.event_dates = pd.to_datetime(book.events["event_date"]) if len(book.events) else None
        accounts = book.accounts
        self.first_order = None
        if len(book.orders):
            first = self.order_dates.groupby(book.orders["account_id"].astype(str)).min()
            self.first_order = first.reindex(accounts["account_id"].astype(str)).to_numpy()
        self.since = pd.to_datetime(accounts["customer_since"]) if "customer_since" in accounts.columns else None
        self.lost = pd.to_datetime(accounts["lost_date"]) if "lost_date" in accounts.columns else None
        self._hashes: dict[str, tuple[str, np.ndarray]] = {}

    def book_as_of(self, date) -> Book:
        book, stamp = self.book, pd.Timestamp(date).normalize()
        orders = book.orders[self.order_mask(stamp)] if len(book.orders) else book.orders
        events = book.events[self.event_mask(stamp)] if len(book.events) else book.events
        accounts = book.accounts.copy()
        if len(book.orders):
            accounts = accounts.drop(columns=[c for c in SUMMARY_COLUMNS if c in accounts.columns])
        keep = np.ones(len(accounts), dtype=bool)
        if self.since is not None:
            keep &= ~(self.since > stamp).to_numpy()
        if len(book.orders):
            since = self.since.to_numpy() if self.since is not None else np.full(len(accounts), np.datetime64("NaT"))
            keep &= ~(np.isnat(since) & (self.first_order > stamp.to_datetime64()))
        if self.lost is not None:
            later = (self.lost > stamp).to_numpy()
            accounts.loc[later, "lost_date"] = pd.NaT
            if "status" in accounts.columns:
                accounts.loc[later, "status"] = "Active"
            if "lost_reason" in accounts.columns:
                accounts.loc[later, "lost_reason"] = None
        accounts = accounts[keep].reset_index(drop=True)
        return replace(book, accounts=accounts, orders=orders.reset_index(drop=True),
                       events=events.reset_index(drop=True), settings=book.settings.with_(as_of=stamp.date()),
                       issues=empty_issues())

    def order_mask(self, stamp: pd.Timestamp):
        return self.order_dates <= stamp

    def event_mask(self, stamp: pd.Timestamp):
        return self.event_dates <= stamp

    def fingerprint(self, past: Book, stamp: pd.Timestamp) -> str:
        """``fingerprint(past)`` with the log rows hashed once for the whole book (a row's hash does not depend
        on the other rows, so the rows up to ``stamp`` are picked out of them)."""
        digest = hashlib.sha1()
        logs = {"orders": (self.book.orders, self.order_mask), "events": (self.book.events, self.event_mask)}
        for name, frame in (("accounts", past.accounts), ("orders", past.orders), ("events", past.events)):
            frame = frame.drop(columns=[c for c in ("source_row",) if c in frame.columns])
            digest.update("|".join(map(str, frame.columns)).encode())
            if not len(frame):
                continue
            if name == "accounts":
                digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
                continue
            full, mask = logs[name]
            if name not in self._hashes:
                whole = full.drop(columns=[c for c in ("source_row",) if c in full.columns])
                self._hashes[name] = pd.util.hash_pandas_object(whole, index=False).to_numpy()
            digest.update(self._hashes[name][mask(stamp).to_numpy()].tobytes())
        digest.update(repr(replace(past.settings, as_of=None)).encode())
        return digest.hexdigest()[:16]


def health_trend(book: Book, months: int = 12, score=None, tier=None, known: pd.DataFrame | None = None,
                 budget_seconds: float | None = None, workers: int = 1) -> Trend:
    """Risk bands, tier mix and one-mistake-away exposure as of each of the last ``months`` month-ends.

    ``score(book) -> scores`` and ``tier(book, scores) -> tiers`` default to ``risk.score_book`` and
    ``tiers.loyalty_tiers``; tests may pass small stand-ins. ``known``: an earlier trend table whose rows are
    reused where month-end and fingerprint match. ``budget_seconds``: stop computing new month-ends (newest
    first, at least one) once this much time is spent; ``Trend.pending`` counts the ones left for later.
    ``workers``: 2 or more shares the month-ends with a forked helper process (see ``TrendJob``).
    """
    return TrendJob(book, months, score, tier, known, budget_seconds).start(workers).result()


class TrendJob:
    """``health_trend`` in two steps, so that its month-ends can be computed while the caller does other work.

    ``start(workers)`` with ``workers >= 2`` (and where processes can be forked) forks one helper process that
    takes month-ends, newest first, from a shared counter; ``result()`` has the calling process take the rest
    from the same counter, collects the helper's rows and returns the ``Trend``. Each month-end is computed by
    the same code on the same records whichever process takes it, so the table does not depend on ``workers``;
    a month-end the helper took but did not deliver (it died) is computed by the caller. With ``workers=1`` (or
    no fork) everything happens in ``result()``."""

    def __init__(self, book: Book, months: int = 12, score=None, tier=None, known: pd.DataFrame | None = None,
                 budget_seconds: float | None = None):
        if score is None or tier is None:
            from . import risk, tiers as tiers_module

            def score_past(past: Book) -> pd.DataFrame:
                # every month-end's event model selects from the latest book's rows (the same records up to it)
                return risk.score_book(past, explain=False, learning=book.event_learning)
            score = score or score_past
            tier = tier or tiers_module.loyalty_tiers
        self.book, self.months, self.score, self.tier = book, months, score, tier
        self.budget = budget_seconds
        self.cache = {}
        if known is not None and len(known) and "fingerprint" in known.columns:
            self.cache = {(pd.Timestamp(r["month_end"]), str(r["fingerprint"])): r for r in known.to_dict("records")}
        self.stamps = list(reversed(month_ends(book.settings.today(), months))) if len(book.orders) else []
        self.started = time.perf_counter()
        self.helper = None
        self._rewind = None
        self._next, self._computing = 0, 0  # used without a helper
        self._shared = None

    def start(self, workers: int = 1) -> "TrendJob":
        self.started = time.perf_counter()
        if workers < 2 or len(self.stamps) < 2:
            return self
        import multiprocessing as mp
        import sys
        # fork only where it is safe after numpy/matplotlib are loaded: Linux (macOS lists fork but its system
        # libraries are not fork-safe; Windows has none)
        if not sys.platform.startswith("linux") or "fork" not in mp.get_all_start_methods():
            return self
        try:
            ctx = mp.get_context("fork")
            self._shared = ctx.Array("i", [0, 0])  # next month-end to take, month-ends taken for computing
            receive, send = ctx.Pipe(duplex=False)
            helper = ctx.Process(target=self._helper_main, args=(send,), daemon=True)
            helper.start()
        except OSError:
            self._shared = None
            return self
        send.close()
        self.helper, self._receive = helper, receive
        return self

    def _claim(self) -> int | None:
        """The next month-end index to take, or None when all are taken."""
        if self._shared is None:
            if self._next >= len(self.stamps):
                return None
            self._next += 1
            return self._next - 1
        with self._shared.get_lock():
            index = self._shared[0]
            if index >= len(self.stamps):
                return None
            self._shared[0] = index + 1
            return index

    def _may_compute(self) -> bool:
        """Within the time budget, or no month-end computed yet (at least one is); counts the one about to be."""
        within = self.budget is None or time.perf_counter() - self.started <= self.budget
        if self._shared is None:
            allowed = within or self._computing == 0
            self._computing += allowed
            return allowed
        with self._shared.get_lock():
            allowed = within or self._shared[1] == 0
            self._shared[1] += allowed
            return allowed

    def _one(self, index: int, force: bool = False) -> tuple:
        """("row", index, row, seconds) | ("reused", index, row) | ("pending", index) | ("skip", index)."""
        if self._rewind is None:
            self._rewind = _Rewind(self.book)
        stamp = self.stamps[index]
        past = self._rewind.book_as_of(stamp)
        alive = _active(past)
        if not alive.any():
            return ("skip", index)
        key = (stamp, self._rewind.fingerprint(past, stamp))
        if key in self.cache:
            return ("reused", index, {c: self.cache[key].get(c) for c in TREND_COLUMNS})
        if not force and not self._may_compute():
            return ("pending", index)
        began = time.perf_counter()
        scores = self.score(past)
        tiers = self.tier(past, scores)
        row = {**_summarise(past, scores, tiers, alive, stamp, self.book), "fingerprint": key[1]}
        return ("row", index, row, time.perf_counter() - began)

    def _work(self, emit) -> None:
        while (index := self._claim()) is not None:
            emit(self._one(index))

    def _helper_main(self, send) -> None:
        try:
            self._work(send.send)
        except Exception:  # noqa: BLE001 - the caller computes what was not delivered (and meets the error itself)
            pass
        finally:
            send.close()

    def result(self) -> Trend:
        if not len(self.book.orders):
            return Trend(_empty(), "not enough history: without an order log the book shows only today's state, "
                                   "so past month-ends cannot be recomputed")
        done: dict[int, tuple] = {}
        self._work(lambda item: done.__setitem__(item[1], item))
        if self.helper is not None:
            while True:
                try:
                    item = self._receive.recv()
                except (EOFError, OSError):
                    break
                done[item[1]] = item
            self._receive.close()
            self.helper.join()
            claimed = self._shared[0]
            for index in range(min(claimed, len(self.stamps))):  # taken by a helper that did not deliver
                if index not in done:
                    done[index] = self._one(index, force=True)
        rows, reused, pending, spent = [], 0, 0, []
        for index in range(len(self.stamps)):
            item = done[index]
            if item[0] == "row":
                rows.append(item[2])
                spent.append(item[3])
            elif item[0] == "reused":
                rows.append(item[2])
                reused += 1
            elif item[0] == "pending":
                pending += 1
        rows.reverse()
        months = self.months
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
