"""Small canonical Books for the analysis tests (tiers, seasonality, triggers, lost business).

``simulated_book`` draws a book day by day from a known break-up hazard, so the tests know the truth: seasonal
windows, event effects and "three complaints" can be planted or left out. ``null_shuffle`` re-times break-ups
and re-deals event histories the way ``relhealth.sample.shuffled_control`` does, on a canonical Book.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pandas as pd

from relhealth.book import Book, empty_events, empty_orders
from relhealth.settings import DEFAULT_WINDOWS, Settings

AS_OF = dt.date(2026, 10, 31)
EVENT_RATES = {  # events per account-year
    "complaint": 1.2, "merger": 0.06, "new_decision_maker": 0.12, "price_increase": 0.25, "layoffs": 0.08,
    "new_competitor": 0.1}
EVENT_EFFECTS = {"merger": 5.0, "new_decision_maker": 3.5, "price_increase": 3.0}


def _keys(days: pd.DatetimeIndex) -> np.ndarray:
    return days.month.to_numpy() * 100 + days.day.to_numpy()


def _window_mask(days: pd.DatetimeIndex, windows) -> np.ndarray:
    keys = _keys(days)
    mask = np.zeros(len(days), bool)
    for start, end in windows:
        lo, hi = int(start.replace("-", "")), int(end.replace("-", ""))
        mask |= (keys >= lo) & (keys <= hi) if lo <= hi else (keys >= lo) | (keys <= hi)
    return mask


def simulated_book(accounts: int = 600, seed: int = 1, years: float = 6.0, base_rate: float = 0.15,
                   season: float = 1.0, effects: bool = False, complaint_step: float = 1.0,
                   as_of: dt.date = AS_OF) -> Book:
    """A canonical Book drawn from a daily break-up hazard.

    base_rate: break-ups per account-year; season: hazard multiplier inside the default seed-000 windows;
    effects: planted multipliers for merger / new decision-maker / price increase in the 90 days after the event;
    complaint_step: multiplier while the account has 3+ complaints in the trailing 90 days."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(as_of)
    first = end - pd.Timedelta(days=int(years * 365))
    days = pd.date_range(first, end, freq="D")
    n_days = len(days)
    start = rng.integers(0, n_days - 60, size=accounts)
    start[: accounts // 3] = 0  # a third were customers before the records begin
    alive_days = n_days - start
    in_window = _window_mask(days, DEFAULT_WINDOWS.values())
    hazard = np.full((accounts, n_days), base_rate / 365.25)
    hazard[:, in_window] *= season
    events = []
    for code, rate in EVENT_RATES.items():
        counts = rng.poisson(rate * alive_days / 365.25)
        owner = np.repeat(np.arange(accounts), counts)
        day = start[owner] + (rng.random(len(owner)) * alive_days[owner]).astype(int)
        events.append(pd.DataFrame({"row": owner, "day": day, "code": code}))
        marks = np.zeros((accounts, n_days + 91), np.int32)
        np.add.at(marks, (owner, day), 1)
        np.add.at(marks, (owner, day + 91), -1)
        active = np.cumsum(marks, axis=1)[:, :n_days]  # events in the trailing 91 days (day d..d+90)
        if effects and code in EVENT_EFFECTS:
            hazard = np.where(active > 0, hazard * EVENT_EFFECTS[code], hazard)
        if code == "complaint" and complaint_step != 1.0:
            hazard = np.where(active >= 3, hazard * complaint_step, hazard)
    alive = np.arange(n_days)[None, :] >= start[:, None]
    hit = (rng.random((accounts, n_days)) < hazard) & alive
    lost_day = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    ids = [f"A{i:04d}" for i in range(accounts)]
    lost = lost_day >= 0
    frame = pd.DataFrame({
        "account_id": ids, "account_name": [f"Company {i}" for i in range(accounts)],
        "owner": rng.choice(["Ann", "Bo", "Cy"], size=accounts),
        "annual_revenue": np.round(rng.lognormal(10, 0.8, size=accounts), 0),
        "customer_since": pd.DatetimeIndex(days[start]).astype("datetime64[ns]"),
        "status": np.where(lost, "Lost", "Active"),
        "lost_date": pd.DatetimeIndex([days[d] if d >= 0 else pd.NaT for d in lost_day]).astype("datetime64[ns]"),
        "lost_reason": [rng.choice(["Price", "Acquired by a competitor", "Service failures", None]) if x else None
                        for x in lost],
        "source_row": np.arange(2, accounts + 2)})
    ev = pd.concat(events, ignore_index=True)
    ev = ev[(lost_day[ev["row"]] < 0) | (ev["day"] <= lost_day[ev["row"]])]
    event_frame = pd.DataFrame({
        "account_id": np.array(ids, dtype=object)[ev["row"].to_numpy()],
        "event_date": pd.DatetimeIndex(days[ev["day"].to_numpy()]).astype("datetime64[ns]"),
        "event_type": ev["code"].to_numpy(dtype=object), "detail": None,
        "source_row": np.arange(2, len(ev) + 2)}) if len(ev) else empty_events()
    return Book(accounts=frame, orders=empty_orders(), events=event_frame.reset_index(drop=True),
                settings=Settings(as_of=as_of))


def null_shuffle(book: Book, seed: int) -> Book:
    """The canonical-level twin of ``relhealth.sample.shuffled_control`` (no sheets, no reader: fast enough to run
    a hundred times in a test). Each lost date moves by a uniform -182..+182 days, wrapped by a year to stay inside
    the account's time on the book; every account's whole event history is handed to another account (a random
    permutation) and events outside the new holder's time on the book are dropped; orders after a new lost date
    are dropped. Who is lost stays; when, and who had which events, no longer carry any season or trigger."""
    rng = np.random.default_rng(seed)
    accounts = book.accounts.copy()
    today = pd.Timestamp(book.settings.today())
    day = np.timedelta64(1, "D")
    dated = [frame[col] for frame, col in ((book.orders, "order_date"), (book.events, "event_date")) if len(frame)]
    book_start = min(s.min() for s in dated) if dated else accounts["customer_since"].min()
    lo = accounts["customer_since"].fillna(book_start).clip(lower=book_start).to_numpy()
    lost = accounts["lost_date"].to_numpy()
    new = lost + rng.integers(-182, 183, len(lost)) * day
    new = np.where(new < lo, new + 365 * day, np.where(new > today.to_datetime64(), new - 365 * day, new))
    bad = ~np.isnat(lost) & ((new < lo) | (new > today.to_datetime64()))
    width = ((today.to_datetime64() - lo[bad]) / day).astype(int) + 1
    new[bad] = lo[bad] + (rng.random(bad.sum()) * width).astype(int) * day
    accounts["lost_date"] = pd.DatetimeIndex(new).astype("datetime64[ns]")
    ids = accounts["account_id"].to_numpy()
    end = pd.Series(accounts["lost_date"].fillna(today).to_numpy(), index=ids)
    start = pd.Series(accounts["customer_since"].fillna(pd.Timestamp.min).to_numpy(), index=ids)
    orders = book.orders[book.orders["order_date"].to_numpy() <= end.reindex(book.orders["account_id"]).to_numpy()]
    events = book.events.copy()
    if len(events):
        holder = pd.Series(ids[rng.permutation(len(ids))], index=ids)
        events["account_id"] = holder.reindex(events["account_id"]).to_numpy()
        when = events["event_date"].to_numpy()
        inside = (when >= start.reindex(events["account_id"]).to_numpy()) & (
            when <= end.reindex(events["account_id"]).to_numpy())
        events = events[inside].reset_index(drop=True)
    return Book(accounts=accounts, orders=orders.reset_index(drop=True), events=events, settings=book.settings,
                issues=book.issues)


def tiny_book(rows: list[dict], orders: list[tuple] = (), events: list[tuple] = (),
              as_of: dt.date = AS_OF, **settings) -> Book:
    """A hand-written Book: account dicts (account_id plus any canonical columns), orders as
    (account_id, 'YYYY-MM-DD', amount), events as (account_id, 'YYYY-MM-DD', event_code)."""
    accounts = pd.DataFrame(rows)
    for column in ("customer_since", "lost_date", "renewal_date", "first_order", "last_order"):
        if column in accounts.columns:
            accounts[column] = pd.to_datetime(accounts[column]).astype("datetime64[ns]")
    if "lost_date" in accounts.columns:
        accounts["status"] = np.where(accounts["lost_date"].notna(), "Lost", "Active")
    accounts["source_row"] = np.arange(2, len(accounts) + 2)
    order_frame = empty_orders()
    if len(orders):
        order_frame = pd.DataFrame({
            "account_id": [o[0] for o in orders],
            "order_date": pd.to_datetime([o[1] for o in orders]).astype("datetime64[ns]"),
            "amount": [float(o[2]) for o in orders], "source_row": np.arange(2, len(orders) + 2)})
    event_frame = empty_events()
    if len(events):
        event_frame = pd.DataFrame({
            "account_id": [e[0] for e in events],
            "event_date": pd.to_datetime([e[1] for e in events]).astype("datetime64[ns]"),
            "event_type": [e[2] for e in events], "detail": None, "source_row": np.arange(2, len(events) + 2)})
    return Book(accounts=accounts, orders=order_frame, events=event_frame,
                settings=Settings(as_of=as_of, **settings))


@functools.lru_cache(maxsize=4)
def sample_canonical(seed: int = 7) -> Book:
    """The sample book with planted truths, read the way a user's workbook is (cached: read once per run)."""
    from relhealth.reader import read_book
    from relhealth.sample import sample_book

    return read_book(sample_book(seed=seed, as_of=AS_OF), Settings(as_of=AS_OF))


def fp_allowance(tests: int, significance: float) -> int:
    """Most false 'trend' verdicts tolerated in ``tests`` null tests: the 99.9th percentile of a binomial at
    the nominal rate (a "trend" verdict needs p < significance *and* the planted direction, so an honest test
    sits near half the nominal rate; the bound only fails a test that calls trends more often than nominal)."""
    from scipy.stats import binom

    return int(binom.ppf(0.999, tests, significance))


def small_books() -> dict[str, Book]:
    """Books too small to show a season or a trigger; several are built so a careless analysis *would* call one
    (every break-up in the Christmas window, each a few days after a merger)."""
    def accounts(n, since="2022-01-01", lost=()):
        rows = [{"account_id": f"S{i:02d}", "owner": "Ann", "annual_revenue": 1000.0 * (i + 1),
                 "customer_since": since, "lost_date": None, "renewal_date": "2026-12-15"} for i in range(n)]
        for i, day in enumerate(lost):
            rows[i]["lost_date"] = day
        return rows

    christmas = ["2023-12-15", "2024-12-14", "2025-12-16", "2024-12-20", "2025-12-12", "2023-12-18"]
    mergers = [(f"S{i:02d}", (pd.Timestamp(d) - pd.Timedelta(days=5)).date().isoformat(), "merger")
               for i, d in enumerate(christmas)]
    return {
        "no accounts": Book(
            accounts=pd.DataFrame({"account_id": pd.Series(dtype=object), "source_row": pd.Series(dtype="int64")}),
            settings=Settings(as_of=AS_OF)),
        "no dates at all": tiny_book([{"account_id": f"N{i}"} for i in range(5)]),
        "0 break-ups": tiny_book(accounts(30), events=[("S01", "2025-03-01", "complaint")]),
        "1 break-up": tiny_book(accounts(30, lost=["2025-12-15"]), events=[("S00", "2025-12-10", "merger")]),
        "one month only": tiny_book(accounts(80, since="2026-10-01", lost=["2026-10-10", "2026-10-20"] * 20),
                                    events=[(f"S{i:02d}", "2026-10-05", "merger") for i in range(0, 40, 2)]),
        "all accounts lost": tiny_book(accounts(6, lost=christmas), events=mergers),
        "all of many accounts lost": tiny_book(accounts(60, since="2020-01-01", lost=christmas * 10),
                                               events=mergers * 10),
    }
