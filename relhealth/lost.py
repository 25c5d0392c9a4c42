"""Lost-business report (seed 002: "Do you keep track of business you're losing, who's losing it, and why?").

``lost_business(book) -> LostReport``:

- ``accounts``: one row per lost account: who owned it, when and why it was lost, the revenue it stood for, and
  whether the reason is exogenous (seed 003: merger / acquired, out of business: outside the team's control,
  ``schema.is_exogenous``), fixable (any other stated reason) or unknown (no reason given).
- ``by_owner``: per owner, lost accounts and revenue, split exogenous / fixable / unknown, against the accounts
  the owner holds (``loss_rate`` = lost / accounts owned, lost ones included).
- ``by_reason``: per stated reason (spellings that differ only in case, spaces or punctuation are one reason),
  count and revenue, with its cause.
- ``by_quarter``: per calendar quarter from the first quarter with a break-up to as-of: lost accounts and revenue,
  exogenous / fixable / unknown, the accounts on the book at the quarter's start (or when the records begin, for
  the first quarter) and the loss rate (lost / accounts at the start).

A lost account is one with status Lost or a lost date on or before as-of; one without a lost date counts in
every table except ``by_quarter``. Revenue per account: annual revenue, else revenue 12M, else its order amounts
in the 365 days up to its lost date (``stats.account_revenue``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .book import Book
from .schema import is_exogenous, normalise_header

EXOGENOUS, FIXABLE, UNKNOWN = "Exogenous", "Fixable", "Unknown"
NO_REASON, NO_OWNER = "(no reason recorded)", "(no owner)"
ACCOUNT_COLUMNS = ["account_id", "account_name", "owner", "lost_date", "reason", "cause", "exogenous", "revenue"]
OWNER_COLUMNS = ["owner", "lost", "revenue_lost", "exogenous", "fixable", "unknown", "revenue_fixable", "accounts",
                 "loss_rate"]
REASON_COLUMNS = ["reason", "cause", "exogenous", "lost", "revenue_lost", "share_of_lost", "share_of_revenue"]
QUARTER_COLUMNS = ["quarter", "quarter_start", "lost", "revenue_lost", "exogenous", "fixable", "unknown",
                   "active_at_start", "loss_rate"]


@dataclass(frozen=True)
class LostReport:
    accounts: pd.DataFrame
    by_owner: pd.DataFrame
    by_reason: pd.DataFrame
    by_quarter: pd.DataFrame
    message: str = ""


def _text(accounts: pd.DataFrame, column: str, missing: str) -> np.ndarray:
    if column not in accounts.columns:
        return np.full(len(accounts), missing, dtype=object)
    values = accounts[column].astype(object).to_numpy().tolist()
    texts = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip() for v in values]
    return np.array([t or missing for t in texts], dtype=object)


def _cause(reason: str) -> str:
    if reason == NO_REASON:
        return UNKNOWN
    return EXOGENOUS if is_exogenous(reason) else FIXABLE


def _lost_accounts(book: Book) -> tuple[pd.DataFrame, np.ndarray]:
    """Every account's row for the report, and the mask of lost ones (book.accounts order)."""
    accounts = book.accounts
    today = stats.as_of_day(book)
    lost_day = stats.day_numbers(accounts["lost_date"]) if "lost_date" in accounts else np.full(len(accounts), np.nan)
    status = _text(accounts, "status", "")
    lost = (lost_day <= today) | (np.char.lower(status.astype(str)) == "lost")
    reasons = _text(accounts, "lost_reason", NO_REASON)
    # One spelling per reason: the first one met for each normalised key.
    # A book repeats a few reasons many times: each distinct spelling is normalised and classified once.
    first_spelling: dict[str, str] = {}
    spelling: dict[str, str] = {}
    for r in dict.fromkeys(reasons.tolist()):  # distinct reasons, in order of first appearance
        spelling[r] = first_spelling.setdefault(normalise_header(r), r)
    cause_of = {r: _cause(r) for r in dict.fromkeys(spelling.values())}
    reasons = np.array([spelling[r] for r in reasons.tolist()], dtype=object)
    causes = np.array([cause_of[r] for r in reasons.tolist()], dtype=object)
    end = np.where(np.isfinite(lost_day), np.minimum(lost_day, today), today)
    frame = pd.DataFrame({
        "account_id": accounts["account_id"].astype(str).to_numpy(),
        "account_name": _text(accounts, "account_name", ""), "owner": _text(accounts, "owner", NO_OWNER),
        "lost_date": pd.to_datetime(accounts["lost_date"]).to_numpy() if "lost_date" in accounts
        else np.full(len(accounts), np.datetime64("NaT"), dtype="datetime64[ns]"),
        "reason": reasons, "cause": causes, "exogenous": causes == EXOGENOUS,
        "revenue": stats.account_revenue(book, end_days=end)})
    frame.loc[lost_day > today, "lost_date"] = pd.NaT
    return frame, lost


def _cause_counts(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    counts = pd.crosstab(frame[key], frame["cause"]).reindex(columns=[EXOGENOUS, FIXABLE, UNKNOWN], fill_value=0)
    return counts.rename(columns={EXOGENOUS: "exogenous", FIXABLE: "fixable", UNKNOWN: "unknown"})


def _by_owner(every: pd.DataFrame, lost: pd.DataFrame) -> pd.DataFrame:
    """Every owner (those who lost nothing too), most losses first."""
    grouped = lost.groupby("owner")
    table = pd.DataFrame({"accounts": every.groupby("owner").size()})
    table["lost"] = grouped.size()
    table["revenue_lost"] = grouped["revenue"].sum()
    table = table.join(_cause_counts(lost, "owner"))
    table["revenue_fixable"] = lost[lost["cause"] == FIXABLE].groupby("owner")["revenue"].sum()
    table = table.fillna(0)
    table[["lost", "exogenous", "fixable", "unknown"]] = table[["lost", "exogenous", "fixable", "unknown"]].astype(int)
    table["loss_rate"] = table["lost"] / table["accounts"]
    table = table.sort_values(["lost", "revenue_lost"], ascending=False, kind="stable").reset_index(names="owner")
    return table[OWNER_COLUMNS]


def _by_reason(lost: pd.DataFrame) -> pd.DataFrame:
    grouped = lost.groupby("reason")
    table = pd.DataFrame({"lost": grouped.size(), "revenue_lost": grouped["revenue"].sum(min_count=1),
                          "cause": grouped["cause"].first()})
    table["exogenous"] = table["cause"] == EXOGENOUS
    table["share_of_lost"] = table["lost"] / table["lost"].sum()
    revenue = table["revenue_lost"].sum()
    table["share_of_revenue"] = table["revenue_lost"] / revenue if revenue > 0 else np.nan
    table = table.sort_values(["lost", "revenue_lost"], ascending=False).reset_index(names="reason")
    return table[REASON_COLUMNS]


def _by_quarter(book: Book, lost: pd.DataFrame) -> pd.DataFrame:
    dated = lost[lost["lost_date"].notna()]
    if not len(dated):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in QUARTER_COLUMNS})
    today = pd.Timestamp(book.settings.today())
    quarters = pd.period_range(dated["lost_date"].min().to_period("Q"), today.to_period("Q"), freq="Q")
    period = dated["lost_date"].dt.to_period("Q")
    grouped = dated.groupby(period)
    table = pd.DataFrame({"lost": grouped.size(), "revenue_lost": grouped["revenue"].sum(min_count=1)})
    table = table.join(_cause_counts(dated.assign(q=period), "q")).reindex(quarters, fill_value=0)
    table["revenue_lost"] = table["revenue_lost"].astype(float)
    spans = stats.at_risk_spans(book)
    starts = np.fmax(stats.day_numbers(quarters.start_time), spans["start"].min())
    table["active_at_start"] = [int(((spans["start"] <= d) & (spans["end"] >= d)).sum()) for d in starts]
    table["loss_rate"] = table["lost"] / table["active_at_start"].where(table["active_at_start"] > 0)
    table["quarter"] = [str(q) for q in quarters]
    table["quarter_start"] = quarters.start_time
    return table.reset_index(drop=True)[QUARTER_COLUMNS]


def lost_business(book: Book) -> LostReport:
    """Losses by owner, by reason (exogenous or fixable) and by quarter; see the module docstring."""
    stats.check_book(book)
    every, mask = _lost_accounts(book)
    lost = every[mask].reset_index(drop=True)
    message = "" if len(lost) else "no lost accounts on record: nothing to report yet"
    return LostReport(accounts=lost[ACCOUNT_COLUMNS], by_owner=_by_owner(every, lost), by_reason=_by_reason(lost),
                      by_quarter=_by_quarter(book, lost), message=message)
