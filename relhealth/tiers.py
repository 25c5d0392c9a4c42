"""Loyalty tiers (seed 004): Occasional buyer, Habitual buyer, Loyal customer, and who is one mistake away.

Seed 004 asks "what percentage of your customer base would allow you one big mistake?". An account's tier:

1. Regular buying. From the order log: the gaps between order days up to as-of (or the lost date). The time
   since the last order counts as one more gap once it is longer than the usual gap (the rhythm is already
   broken). Regular = at least ``habitual_min_orders`` orders, at least ``occasional_max_orders_per_year`` orders
   a year over the account's time on the book, and a coefficient of variation of the gaps of at most
   ``habitual_max_gap_cv``. A book without an order log uses Orders / First Order / Last Order: the same count
   and rate, and "regular" unless the time since the last order exceeds the usual gap by more than
   ``habitual_max_gap_cv`` of it (the spread a regular buyer's gaps are allowed). An account with no purchase
   record at all counts as regular when it is on a contract with a renewal date, otherwise not.
2. Affinity: referrals >= ``loyal_min_referrals``, NPS >= ``promoter_nps``, an exec sponsor, or it withstood a
   big mistake: a service failure of ``Settings.big_mistake_complaints`` complaints within ``complaint_window_days``, at
   least ``complaint_window_days`` ago (the stretch in which a failure usually ends a relationship), after which
   it is not lost and kept spending: ordering at ``Settings.kept_pace`` or more of its pace in the year before (seed 004:
   a habitual buyer "will break the habit" after a mistake; a loyal one carries on). One complaint followed by
   an order is not enough: most buyers of every kind carry on after a single complaint.
3. Not regular -> Occasional; regular with affinity -> Loyal; regular without -> Habitual. Price shopping pushes
   one step towards Occasional (Loyal -> Habitual, Habitual -> Occasional): ``Settings.price_push_signals`` or more
   price-relief requests or better-competitor-price events in the last ``Settings.price_signal_days`` days, so every
   purchase has become a new buying decision. (One request is not yet a pattern: on the sample book one signal
   would demote a fifth of the habitual buyers, two separate the price shoppers.)

One mistake away: every Occasional and Habitual account, and a Loyal one whose risk band (from the risk engine's
``scores``) is High or Critical. ``one_mistake_summary`` gives the book-level shares, over accounts still active
(a lost account has already had its mistake, so it is left out of both the numerator and the denominator).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .book import Book

OCCASIONAL, HABITUAL, LOYAL = "Occasional", "Habitual", "Loyal"
TIERS = (OCCASIONAL, HABITUAL, LOYAL)
TIER_COLUMNS = ["account_id", "tier", "tier_reason", "one_mistake_away", "regular", "affinity", "orders",
                "orders_per_year", "mean_gap_days", "gap_cv", "price_signals", "lost"]
SUMMARY_COLUMNS = ["measure", "survive_one_mistake", "one_mistake_away", "share_surviving"]
HIGH_BANDS = ("High", "Critical")
PRICE_SIGNALS = ("price_relief", "competitor_price")
_NO = {"", "no", "none", "n a", "na", "false", "0", "nan", "nil", "tbd", "vacant"}


def _order_days(book: Book, spans: pd.DataFrame) -> pd.DataFrame:
    """Distinct order days up to each account's end, sorted by account then day: ``at`` (the account's position
    in book.accounts; its id is ``spans["account_id"]`` there) and ``day``. Orders of accounts not in the book
    are left out (no account, no tier)."""
    orders = book.orders
    no_id = pd.isna(book.accounts["account_id"].astype(str).to_numpy())
    at = stats.account_positions(book, orders)
    day = book.order_days
    keep = (at >= 0) & ~np.isnan(day)
    if no_id.any():  # orders without an account id count for nobody
        keep &= ~no_id[np.where(keep, at, 0)]
    at, day = at[keep], day[keep]
    end = spans["end"].to_numpy(dtype=float)[at]  # spans rows follow book.accounts
    inside = day <= np.where(np.isnan(end), stats.as_of_day(book), end)
    at, day = at[inside], day[inside]
    if not len(at):
        return pd.DataFrame({"at": at, "day": day})
    # (account, day) as one whole number: one sort both orders and de-duplicates them
    low = int(day.min())
    width = int(day.max()) - low + 1
    pair = np.sort(at.astype(np.int64) * width + (day.astype(np.int64) - low))
    pair = pair[np.r_[True, pair[1:] != pair[:-1]]]  # (np.unique is many times slower here)
    at, day = pair // width, (pair % width + low).astype(float)
    return pd.DataFrame({"at": at, "day": day})


def _orders_by_account(order_days: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """Per account with orders: number of order days, mean gap, gap CV (the overdue open gap included), last day.
    Vectorised over accounts on the sorted order days: sums and sums of squares of the gaps (whole days, so the
    sums are exact in any order) give the mean and the (n - 1) spread."""
    at, day = order_days["at"].to_numpy(), order_days["day"].to_numpy(dtype=float)
    first = np.flatnonzero(np.r_[True, at[1:] != at[:-1]]) if len(at) else np.zeros(0, int)
    after = np.r_[first[1:], len(at)].astype(int) if len(at) else np.zeros(0, int)
    gap = np.r_[0.0, np.diff(day)]
    gap[first] = 0.0
    count = after - first
    m = (count - 1).astype(float)
    s1 = np.add.reduceat(gap, first) if len(first) else np.zeros(0)
    s2 = np.add.reduceat(gap ** 2, first) if len(first) else np.zeros(0)
    last_day = day[after - 1]
    open_gap = spans["end"].to_numpy(dtype=float)[at[first]] - last_day
    with np.errstate(invalid="ignore", divide="ignore"):
        overdue = (m > 0) & (open_gap > s1 / m)
        m, s1, s2 = m + overdue, s1 + np.where(overdue, open_gap, 0), s2 + np.where(overdue, open_gap ** 2, 0)
        mean = np.where(m > 0, s1 / m, np.nan)
        spread = np.sqrt(np.maximum(s2 - s1 ** 2 / m, 0) / (m - 1))
        cv = np.where((m >= 2) & (mean > 0), spread / mean, np.nan)
    return pd.DataFrame({"orders": count.astype("int64"), "mean_gap": mean, "gap_cv": cv, "last_day": last_day},
                        index=pd.Index(spans["account_id"].to_numpy()[at[first]], name="account_id"))


def _summary_orders(book: Book, spans: pd.DataFrame) -> pd.DataFrame:
    """Shape (a): Orders / First Order / Last Order columns -> orders, mean gap, and NaN CV."""
    accounts = book.accounts
    count = pd.to_numeric(accounts.get("order_count"), errors="coerce") if "order_count" in accounts else None
    if count is None:
        return pd.DataFrame(columns=["orders", "mean_gap", "gap_cv", "last_day"])
    first = stats.day_numbers(accounts["first_order"]) if "first_order" in accounts else np.full(len(accounts), np.nan)
    last = stats.day_numbers(accounts["last_order"]) if "last_order" in accounts else np.full(len(accounts), np.nan)
    count = count.to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 1, (last - first) / (count - 1), np.nan)
    frame = pd.DataFrame({"orders": count, "mean_gap": mean, "gap_cv": np.nan, "last_day": last},
                         index=accounts["account_id"].astype(str).to_numpy())
    return frame[np.isfinite(count)]


def _exec_sponsor(accounts: pd.DataFrame) -> np.ndarray:
    if "exec_sponsor" not in accounts.columns:
        return np.zeros(len(accounts), bool)
    from .schema import normalise_header
    return np.array([v is True or (v is not None and v is not False and not (isinstance(v, float) and np.isnan(v))
                                   and normalise_header(v) not in _NO) for v in accounts["exec_sponsor"]])


def _event_days(book: Book, codes: tuple[str, ...]) -> pd.DataFrame:
    events = book.events
    events = events[events["event_type"].isin(codes)] if len(events) else events
    return pd.DataFrame({"account_id": events["account_id"].astype(str).to_numpy(),
                         "day": stats.day_numbers(events["event_date"])}).dropna()


def _withstood_failure(book: Book, spans: pd.DataFrame, order_days: pd.DataFrame | None,
                       last_order: pd.Series) -> pd.Series:
    """Accounts that had big_mistake_complaints complaints within complaint_window_days and are not lost, with
    at least complaint_window_days since, and that kept buying: at kept_pace or more of their order rate in the
    year before (without an order log: still ordering a window after it). They have already allowed one big
    mistake."""
    settings = book.settings
    window = int(settings.complaint_window_days)
    k = settings.big_mistake_complaints
    complaints = _event_days(book, ("complaint",)).sort_values(["account_id", "day"], kind="stable")
    ids, day = complaints["account_id"].to_numpy(), complaints["day"].to_numpy()
    if len(day) < k:
        return pd.Series(dtype=bool)
    # the k-th complaint of a run of k within the window: day[i + k - 1] with day[i + k - 1] - day[i] < window
    run = (ids[k - 1:] == ids[: len(ids) - k + 1]) & (day[k - 1:] - day[: len(day) - k + 1] < window)
    failure = pd.Series(day[k - 1:][run], index=ids[k - 1:][run]).groupby(level=0).min()
    span = spans.drop_duplicates("account_id").set_index("account_id").reindex(failure.index)
    keep = ~span["lost"].fillna(True).to_numpy(dtype=bool) & (span["end"].to_numpy() - failure.to_numpy() >= window)
    failure, span = failure[keep], span[keep]
    if order_days is None:
        return last_order.reindex(failure.index).fillna(-np.inf) >= failure + window
    accounts = spans.drop_duplicates("account_id")
    failing = accounts.index.to_numpy()[pd.Index(accounts["account_id"]).get_indexer(failure.index)]
    orders = order_days[np.isin(order_days["at"].to_numpy(), failing)]
    order_ids = spans["account_id"].to_numpy()[orders["at"].to_numpy()]
    at = failure.reindex(order_ids).to_numpy()
    since_by_id = np.maximum(span["start"], failure - 365)
    since = since_by_id.reindex(order_ids).to_numpy()
    frame = pd.DataFrame({"account_id": order_ids,
                          "before": (orders["day"].to_numpy() >= since) & (orders["day"].to_numpy() < at),
                          "after": orders["day"].to_numpy() > at})
    counts = frame.groupby("account_id")[["before", "after"]].sum().reindex(failure.index, fill_value=0)
    before = counts["before"] / np.maximum(failure - since_by_id, 1)
    after = counts["after"] / np.maximum(span["end"] - failure, 1)
    return (after > 0) & (after >= settings.kept_pace * before)


def _regularity_words(row: dict, settings, contract: bool) -> str:
    if not np.isfinite(row["orders"]) or row["orders"] == 0:
        return "On contract, no order history (renews every year)" if contract else "No order history"
    n, gap, cv, rate = int(row["orders"]), row["mean_gap"], row["gap_cv"], row["orders_per_year"]
    if n < settings.habitual_min_orders:
        return f"{n} order{'s' if n != 1 else ''} on record, too few to show a habit"
    every = f"Orders every ~{gap:.0f} days"
    if rate < settings.occasional_max_orders_per_year:
        return f"{every} (~{rate:.1f} a year), infrequent"
    if np.isfinite(cv):
        steady = "steady" if cv <= settings.habitual_max_gap_cv else "irregular"
        return f"{every}, {steady} (gap variation {cv:.2f})"
    return f"{every}, {'on rhythm' if row['regular'] else 'overdue'}"


def _affinity_words(row: dict) -> str:
    parts = []
    if row["referrals"] > 0:
        parts.append(f"{int(row['referrals'])} referral{'s' if row['referrals'] != 1 else ''}")
    if row["promoter"]:
        parts.append(f"NPS {row['nps']:.0f}")
    if row["sponsor"]:
        parts.append("exec sponsor")
    if row["withstood"]:
        parts.append("kept ordering after a big service failure")
    return ", ".join(parts)


def loyalty_tiers(book: Book, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per account (book.accounts order): ``account_id, tier, tier_reason, one_mistake_away`` plus the
    evidence (``regular, affinity, orders, orders_per_year, mean_gap_days, gap_cv, price_signals, lost``)."""
    stats.check_book(book)
    settings = book.settings
    accounts = book.accounts
    ids = accounts["account_id"].astype(str).to_numpy()
    spans = stats.at_risk_spans(book)
    today = stats.as_of_day(book)
    end = spans["end"].fillna(today).to_numpy()
    order_days = _order_days(book, spans) if len(book.orders) else None
    history = _orders_by_account(order_days, spans) if order_days is not None else _summary_orders(book, spans)
    frame = history.reindex(ids)
    frame["orders"] = frame["orders"].astype(float).fillna(0.0)
    start = spans["start"].to_numpy()
    if not len(book.orders) and "first_order" in accounts:
        start = np.fmin(stats.day_numbers(accounts["first_order"]), end)
    years = np.maximum(end - np.where(np.isfinite(start), start, end) + 1, 1) / 365.25
    frame["orders_per_year"] = np.where(frame["orders"] > 0, frame["orders"] / np.maximum(years, 30 / 365.25), 0.0)
    contract = (pd.to_datetime(accounts["renewal_date"], errors="coerce").notna().to_numpy()
                if "renewal_date" in accounts else np.zeros(len(accounts), bool))
    enough = (frame["orders"] >= settings.habitual_min_orders) & (
        frame["orders_per_year"] >= settings.occasional_max_orders_per_year)
    cv = frame["gap_cv"].to_numpy(dtype=float)
    overdue = (end - frame["last_day"].to_numpy(dtype=float)) > frame["mean_gap"].to_numpy(dtype=float) * (
        1 + settings.habitual_max_gap_cv)
    steady = np.where(np.isfinite(cv), cv <= settings.habitual_max_gap_cv, ~overdue)
    no_record = frame["orders"].to_numpy() == 0
    frame["regular"] = np.where(no_record, contract & ~spans["lost"].to_numpy(), enough.to_numpy() & steady)

    referrals = (pd.to_numeric(accounts["referrals"], errors="coerce").fillna(0).to_numpy()
                 if "referrals" in accounts else np.zeros(len(accounts)))
    frame["referrals"] = np.where(referrals >= max(settings.loyal_min_referrals, 1), referrals, 0)
    nps = pd.to_numeric(accounts["nps"], errors="coerce").to_numpy() if "nps" in accounts else np.full(len(ids), np.nan)
    frame["nps"] = nps
    frame["promoter"] = nps >= settings.promoter_nps
    frame["sponsor"] = _exec_sponsor(accounts)
    withstood = _withstood_failure(book, spans, order_days, history["last_day"])
    frame["withstood"] = withstood.reindex(ids).fillna(False).to_numpy(dtype=bool)
    frame["affinity"] = (frame["referrals"] > 0) | frame["promoter"] | frame["sponsor"] | frame["withstood"]

    signals = _event_days(book, PRICE_SIGNALS)
    signals = signals[(signals["day"] <= today) & (signals["day"] > today - settings.price_signal_days)]
    frame["lost"] = spans["lost"].to_numpy(dtype=bool)
    frame["price_signals"] = signals.groupby("account_id").size().reindex(ids).fillna(0).astype(int).to_numpy()

    level = np.where(frame["regular"].to_numpy(dtype=bool), np.where(frame["affinity"].to_numpy(dtype=bool), 2, 1), 0)
    pushed = (frame["price_signals"].to_numpy() >= settings.price_push_signals) & (level > 0)
    tier = np.array(TIERS, dtype=object)[level - pushed]

    reasons = []
    columns = list(frame.columns)
    records = (dict(zip(columns, values)) for values in zip(*(frame[c].to_numpy().tolist() for c in columns)))
    for i, row in enumerate(records):
        words = _regularity_words(row, settings, bool(contract[i] and not row["lost"]))
        affinity = _affinity_words(row)
        words += f"; {affinity}" if affinity else "; no sign of affinity (no referrals, promoter NPS or exec sponsor)"
        if row["price_signals"]:
            count = int(row["price_signals"])
            words += f"; {count} price-relief / competitor-price event{'s' if count != 1 else ''} in the last year"
            words += ": shops on price, one step down" if pushed[i] else ""
        reasons.append(words)

    band = pd.Series(dtype=object)
    if scores is not None and len(scores) and "band" in scores:
        band = pd.Series(scores["band"].to_numpy(), index=scores["account_id"].astype(str).to_numpy())
        band = band[~band.index.duplicated()]
    high = band.reindex(ids).isin(HIGH_BANDS).to_numpy()
    away = (tier != LOYAL) | high
    reasons = [r + ("; risk band High or worse" if h and t == LOYAL else "") for r, h, t in zip(reasons, high, tier)]
    return pd.DataFrame({
        "account_id": ids, "tier": tier, "tier_reason": reasons, "one_mistake_away": away.astype(bool),
        "regular": frame["regular"].to_numpy(dtype=bool), "affinity": frame["affinity"].to_numpy(dtype=bool),
        "orders": frame["orders"].to_numpy(dtype=float), "orders_per_year": frame["orders_per_year"].to_numpy(float),
        "mean_gap_days": frame["mean_gap"].to_numpy(dtype=float), "gap_cv": cv,
        "price_signals": frame["price_signals"].to_numpy(), "lost": spans["lost"].to_numpy(dtype=bool)},
        columns=TIER_COLUMNS)


def one_mistake_summary(book: Book, tiers: pd.DataFrame) -> pd.DataFrame:
    """Book level, over active accounts: how many (and how much revenue) would survive one big mistake.

    Rows ``accounts`` and ``revenue``; revenue per account is annual revenue, else revenue 12M, else its order
    amounts over the last 365 days; accounts with no known revenue count as 0 in the revenue row. A share is NaN
    when there is nothing to share (no active accounts, or no known revenue)."""
    stats.check_book(book)
    ids = book.accounts["account_id"].astype(str).to_numpy()
    aligned = tiers.set_index(tiers["account_id"].astype(str))
    aligned = aligned[~aligned.index.duplicated()].reindex(ids)
    active = ~stats.at_risk_spans(book)["lost"].to_numpy()
    away = aligned["one_mistake_away"].fillna(True).to_numpy(dtype=bool)
    revenue = np.nan_to_num(stats.account_revenue(book), nan=0.0)
    rows = []
    for measure, weight in (("accounts", np.ones(len(ids))), ("revenue", revenue)):
        survive = float(weight[active & ~away].sum())
        at_risk = float(weight[active & away].sum())
        total = survive + at_risk
        rows.append({"measure": measure, "survive_one_mistake": survive, "one_mistake_away": at_risk,
                     "share_surviving": survive / total if total > 0 else np.nan})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
