"""Which events come before break-ups? Break-up rate after each event type, and "after three complaints".

Seed 000 lists the moments a customer's eye wanders (a better price, a merger, a new decision-maker, repeat
service failures, a price increase ...) and asks the team to tell a trend from a coincidence.

The comparison is made in account-time, so that accounts followed for different lengths, and events near as-of
whose window is not over yet, are treated fairly:

- every account is at risk from its start to its lost date or as-of (``stats.at_risk_spans``), in whole days;
- the days from an event of type E up to ``trigger_window_days`` later (the event day included) are "after E";
  all other days at risk, of every account, are the reference;
- a break-up counts "after E" when it falls on a day after E.

``rate_with`` / ``rate_without`` are break-ups per account per ``trigger_window_days`` days, which reads as the
chance of breaking up within that window. The rate ratio, its exact 95% interval and the two-sided p-value come
from the exact conditional Poisson test (``stats.rate_ratio_test``: the person-time counterpart of Fisher's exact
test, exact for small counts). A book with no event log but an event flag column on the account sheet (Merger,
Price Increase, New Decision-Maker, Complaints 90d) is compared account by account instead: share lost among
flagged vs unflagged accounts, Fisher's exact test. The ``method`` column says which was used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .book import Book
from .schema import EVENT_TYPES

TRIGGER_COLUMNS = ["event_type", "label", "accounts_with", "breakups_with", "rate_with", "accounts_without",
                   "breakups_without", "rate_without", "rate_ratio", "ci_low", "ci_high", "p_value", "verdict",
                   "days_with", "days_without", "method"]
STEP_COLUMNS = ["complaints", "accounts", "breakups", "rate", "account_days", "rate_ratio", "ci_low", "ci_high",
                "p_value", "verdict", "method"]
STEPS = ("0", "1", "2", "3+")
FLAG_COLUMNS = {"merger": "merger_flag", "price_increase": "price_increase_flag",
                "new_decision_maker": "new_decision_maker_flag"}
PERSON_TIME = "exact Poisson test on account-days"
FISHER = "Fisher's exact test on accounts (flag column, no event dates)"


def _spans(book: Book) -> pd.DataFrame:
    spans = stats.at_risk_spans(book)
    spans["row"] = np.arange(len(spans))  # the account's row in book.accounts
    spans["key"] = stats.account_positions(book, book.accounts)  # the first row with the same id
    return spans[spans["start"].notna()].reset_index(drop=True)


def _problem(book: Book, spans: pd.DataFrame) -> str:
    window = int(book.settings.trigger_window_days)
    return stats.history_problem(spans, int(spans["lost"].sum()), book.settings.min_breakups_to_learn, window,
                                 f"an event needs its {window}-day window (Settings: trigger_window_days) to be seen")


class _Events:
    """Every event joined to its account's span, as an inner merge on account_id would (one row per span row with
    the id), dropping undated events and events after the account's end; sorted by account, then day, then log
    order. Joined once on account positions; ``of(event_type)`` picks one type."""

    def __init__(self, book: Book, spans: pd.DataFrame):
        events = book.events
        at = stats.account_positions(book, events) if len(events) else np.zeros(0, int)
        span_key = spans["key"].to_numpy()
        by_key = np.argsort(span_key, kind="stable")
        lo = np.searchsorted(span_key[by_key], at, "left")
        count = np.searchsorted(span_key[by_key], at, "right") - lo
        event = np.repeat(np.arange(len(at)), count)
        nth = np.arange(len(event)) - np.repeat(np.cumsum(count) - count, count)
        span = by_key[np.repeat(lo, count) + nth]
        day = stats.day_numbers(events["event_date"])[event] if len(events) else np.zeros(0)
        end = spans["end"].to_numpy()[span]
        keep = ~np.isnan(day) & (day <= end)
        event, span, day = event[keep], span[keep], day[keep]
        order = np.lexsort((day, at[event]))
        event, span, day = event[order], span[order], day[order]
        self.codes, types = pd.factorize(events["event_type"].to_numpy(dtype=object)[event])
        self.types = {t: k for k, t in enumerate(types)}
        self.frame = pd.DataFrame({"key": at[event], "day": day,
                                   "start": spans["start"].to_numpy()[span], "end": end[keep][order],
                                   "lost": spans["lost"].to_numpy()[span]})

    def of(self, event_type: str) -> pd.DataFrame:
        return self.frame[self.codes == self.types.get(event_type, -2)]


def _events_in_spans(book: Book, spans: pd.DataFrame, event_type: str) -> pd.DataFrame:
    """Events of one type joined to their account's span, dropping events after the account's end."""
    return _Events(book, spans).of(event_type)


def _after_event(events: pd.DataFrame, window: int) -> pd.DataFrame:
    """Per account with events: days at risk within ``window`` days from an event, and whether its break-up
    falls in one. Windows are [day, day + window - 1] clipped to the span; overlapping windows count once."""
    if not len(events):
        return pd.DataFrame({"key": [], "days": [], "breakup": []})
    lo = np.maximum(events["day"].to_numpy(), events["start"].to_numpy())
    hi = np.minimum(events["day"].to_numpy() + window - 1, events["end"].to_numpy())
    same = events["key"].to_numpy()
    first = np.flatnonzero(np.r_[True, same[1:] != same[:-1]])  # events come grouped by account
    prev_hi = np.r_[-np.inf, hi[:-1]]
    prev_hi[first] = -np.inf
    covered = np.maximum(0.0, hi - np.maximum(lo, prev_hi + 1) + 1)
    hit = events["lost"].to_numpy() & (hi >= events["end"].to_numpy()) & (lo <= events["end"].to_numpy())
    # whole days: per-account sums are exact
    return pd.DataFrame({"key": same[first], "days": np.add.reduceat(covered, first),
                         "breakup": np.logical_or.reduceat(hit, first)})


def _person_time_row(spans: pd.DataFrame, after: pd.DataFrame, window: int, significance: float,
                     problem: str) -> dict:
    total_days = float((spans["end"] - spans["start"] + 1).sum())
    total_breakups = int(spans["lost"].sum())
    days_with = float(after["days"].sum())
    breakups_with = int(after["breakup"].sum())
    days_without = total_days - days_with
    breakups_without = total_breakups - breakups_with
    per_account = pd.Series(after["days"].to_numpy(), index=after["key"].to_numpy())
    own = (spans["end"] - spans["start"] + 1).to_numpy() - per_account.reindex(spans["key"]).fillna(0).to_numpy()
    comparison = stats.rate_ratio_test(breakups_with, days_with, breakups_without, days_without)
    if problem:
        comparison = stats.Comparison(comparison.rate_ratio, np.nan, np.nan, np.nan)
    if not len(after):
        verdict = "no events logged"
    else:
        verdict = problem or stats.verdict(comparison, significance)
    return {"accounts_with": int((after["days"] > 0).sum()), "breakups_with": breakups_with,
            "rate_with": breakups_with / days_with * window if days_with > 0 else np.nan,
            "accounts_without": int((own > 0).sum()), "breakups_without": breakups_without,
            "rate_without": breakups_without / days_without * window if days_without > 0 else np.nan,
            "rate_ratio": comparison.rate_ratio, "ci_low": comparison.ci_low, "ci_high": comparison.ci_high,
            "p_value": comparison.p_value, "verdict": verdict, "days_with": days_with,
            "days_without": days_without, "method": PERSON_TIME}


def _flag_row(book: Book, flagged: np.ndarray, significance: float, problem: str) -> dict:
    lost = stats.at_risk_spans(book)["lost"].to_numpy()
    lost_with, n_with = int((lost & flagged).sum()), int(flagged.sum())
    lost_without, n_without = int((lost & ~flagged).sum()), int((~flagged).sum())
    comparison = stats.risk_ratio_test(lost_with, n_with, lost_without, n_without)
    if problem:
        comparison = stats.Comparison(comparison.rate_ratio, np.nan, np.nan, np.nan)
    return {"accounts_with": n_with, "breakups_with": lost_with,
            "rate_with": lost_with / n_with if n_with else np.nan, "accounts_without": n_without,
            "breakups_without": lost_without, "rate_without": lost_without / n_without if n_without else np.nan,
            "rate_ratio": comparison.rate_ratio, "ci_low": comparison.ci_low, "ci_high": comparison.ci_high,
            "p_value": comparison.p_value,
            "verdict": (problem or stats.verdict(comparison, significance)) if n_with else "no events logged",
            "days_with": np.nan, "days_without": np.nan, "method": FISHER}


def _flags(book: Book, event_type: str) -> np.ndarray | None:
    """Per account (book.accounts order), the shape-(a) flag standing for an event type, or None."""
    accounts = book.accounts
    if event_type == "complaint" and "complaints_90d" in accounts.columns:
        return pd.to_numeric(accounts["complaints_90d"], errors="coerce").fillna(0).to_numpy() > 0
    column = FLAG_COLUMNS.get(event_type)
    if column and column in accounts.columns:
        return accounts[column].fillna(False).astype(bool).to_numpy()
    return None


def trigger_lift(book: Book) -> pd.DataFrame:
    """One row per event type (schema order): counts, rates after the event vs otherwise, rate ratio, exact 95%
    interval, p-value and verdict ("trend", "fewer break-ups", "could be coincidence", "no events logged" or
    "not enough history: ...")."""
    stats.check_book(book)
    settings = book.settings
    window = max(int(settings.trigger_window_days), 1)
    spans = _spans(book)
    problem = _problem(book, spans)
    rows = []
    joined = _Events(book, spans)
    for code, (label, _phrases) in EVENT_TYPES.items():
        events = joined.of(code)
        flags = _flags(book, code)
        if not len(events) and flags is not None and flags.any():
            row = _flag_row(book, flags, settings.significance, problem)
        else:
            row = _person_time_row(spans, _after_event(events, window), window, settings.significance, problem)
        rows.append({"event_type": code, "label": label, **row})
    return pd.DataFrame(rows, columns=TRIGGER_COLUMNS)


def _complaint_levels(book: Book, spans: pd.DataFrame, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per level 0/1/2/3+ of complaints in the trailing ``window`` days: account-days, break-ups (by the level on
    the day of the break-up) and accounts that spent a day there. A complaint counts from its day for ``window``
    days (its day included)."""
    events = _events_in_spans(book, spans, "complaint")
    days = np.zeros(4)
    breakups = np.zeros(4, dtype=int)
    accounts = np.zeros(4, dtype=int)
    quiet = ~np.isin(spans["key"].to_numpy(), events["key"].to_numpy())
    days[0] += float((spans.loc[quiet, "end"] - spans.loc[quiet, "start"] + 1).sum())
    breakups[0] += int(spans.loc[quiet, "lost"].sum())
    accounts[0] += int(quiet.sum())
    if not len(events):
        return days, breakups, accounts
    starts, ends = events["start"].to_numpy(), events["end"].to_numpy()
    touched = spans[~quiet]
    # Change points per account (key: the account's first row), sorted by account then day, ties in this order.
    ids = np.r_[events["key"].to_numpy(), events["key"].to_numpy(), touched["key"].to_numpy(),
                touched["key"].to_numpy()]
    day = np.r_[np.clip(events["day"].to_numpy(), starts, ends + 1),
                np.clip(events["day"].to_numpy() + window, starts, ends + 1),
                touched["start"].to_numpy(), touched["end"].to_numpy() + 1]
    delta = np.r_[np.ones(len(events)), -np.ones(len(events)), np.zeros(2 * len(touched))]
    order = np.lexsort((day, ids))
    ids, day, delta = ids[order], day[order], delta[order]
    new_account = np.r_[True, ids[1:] != ids[:-1]]
    running = np.cumsum(delta)  # whole numbers, so restarting it per account is exact
    group_start = np.maximum.accumulate(np.where(new_account, np.arange(len(ids)), 0))
    level = running - (running - delta)[group_start]
    next_day = np.r_[day[1:], np.nan]
    next_day[np.r_[new_account[1:], True]] = np.nan
    duration = np.nan_to_num(next_day - day)
    step = np.minimum(level, 3).astype(int)
    days += np.bincount(step, weights=duration, minlength=4)[:4]
    visited = np.sort(ids[duration > 0] * 4 + step[duration > 0])  # (account, level) pairs, each counted once
    visited = visited[np.r_[True, visited[1:] != visited[:-1]]] % 4 if len(visited) else visited
    accounts += np.bincount(visited, minlength=4)[:4]
    points = pd.DataFrame({"account_id": ids, "day": day})
    ends_by_id = touched.set_index("key")
    lost_end = ends_by_id.loc[ends_by_id["lost"], "end"]
    if len(lost_end):
        at = points.assign(step=step)
        at = at[at["account_id"].isin(lost_end.index)]
        at = at[at["day"] <= lost_end.reindex(at["account_id"]).to_numpy()]
        last_step = at.groupby("account_id", sort=False)["step"].last()
        breakups += np.bincount(last_step.to_numpy(dtype=int), minlength=4)[:4]
    return days, breakups, accounts


def complaint_steps(book: Book) -> pd.DataFrame:
    """Break-up rate by complaints in the trailing ``complaint_window_days`` (0, 1, 2, 3+), each step against
    0 complaints, so a team sees whether "after three complaints" holds for them."""
    stats.check_book(book)
    settings = book.settings
    window = max(int(settings.trigger_window_days), 1)
    spans = _spans(book)
    problem = _problem(book, spans)
    has_events = bool((book.events["event_type"] == "complaint").any()) if len(book.events) else False
    flags = book.accounts.get("complaints_90d")
    if not has_events and flags is not None and pd.to_numeric(flags, errors="coerce").fillna(0).gt(0).any():
        return _complaint_steps_from_counts(book, problem)
    days, breakups, accounts = _complaint_levels(book, spans, max(int(settings.complaint_window_days), 1))
    rows = []
    for level, label in enumerate(STEPS):
        comparison = stats.rate_ratio_test(breakups[level], days[level], breakups[0], days[0])
        rows.append(_step_row(label, accounts[level], breakups[level], breakups[level] / days[level] * window
                              if days[level] > 0 else np.nan, days[level], comparison, level, problem,
                              settings.significance, PERSON_TIME))
    return pd.DataFrame(rows, columns=STEP_COLUMNS)


def _step_row(label: str, accounts: float, breakups: int, rate: float, days: float, comparison: stats.Comparison,
              level: int, problem: str, significance: float, method: str) -> dict:
    if level == 0:
        comparison, verdict = stats.Comparison(1.0, np.nan, np.nan, np.nan), stats.REFERENCE
    elif problem:
        comparison, verdict = stats.Comparison(comparison.rate_ratio, np.nan, np.nan, np.nan), problem
    else:
        verdict = stats.verdict(comparison, significance)
    return {"complaints": label, "accounts": accounts, "breakups": int(breakups), "rate": rate,
            "account_days": days, "rate_ratio": comparison.rate_ratio, "ci_low": comparison.ci_low,
            "ci_high": comparison.ci_high, "p_value": comparison.p_value, "verdict": verdict, "method": method}


def _complaint_steps_from_counts(book: Book, problem: str) -> pd.DataFrame:
    """Shape (a): the Complaints 90d column, compared account by account (share lost, Fisher's exact test)."""
    level = np.minimum(pd.to_numeric(book.accounts["complaints_90d"], errors="coerce").fillna(0)
                       .clip(lower=0).astype(int).to_numpy(), 3)
    lost = stats.at_risk_spans(book)["lost"].to_numpy()
    n0, lost0 = int((level == 0).sum()), int((lost & (level == 0)).sum())
    rows = []
    for step, label in enumerate(STEPS):
        n, k = int((level == step).sum()), int((lost & (level == step)).sum())
        comparison = stats.risk_ratio_test(k, n, lost0, n0)
        rows.append(_step_row(label, n, k, k / n if n else np.nan, np.nan, comparison, step, problem,
                              book.settings.significance, FISHER))
    return pd.DataFrame(rows, columns=STEP_COLUMNS)
