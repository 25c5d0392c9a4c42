"""The book as the engine sees it: canonical DataFrames, the settings, and the data issues met on the way in.

Contract shared by every layer (the reader builds it; everything else only reads it):

- ``accounts``: one row per account, index 0..n-1, columns from ``schema.ACCOUNT_COLUMNS`` that the sheet had
  (``account_id`` always, as str), plus ``source_row`` (the sheet row number, for messages). Dates are
  ``datetime64[ns]`` (NaT when missing), money/number columns float64 (NaN when missing), flags boolean
  (missing -> False), status "Active" / "Lost" (Lost whenever a lost date is present), text columns str or None.
- ``orders``: ``account_id``, ``order_date``, ``amount`` (float, NaN when not given), ``source_row``; empty with
  these columns when the book has no order log.
- ``events``: ``account_id``, ``event_date``, ``event_type`` (a code of ``schema.EVENT_TYPES``), ``detail``,
  ``source_row``; empty with these columns when the book has no event log.
- ``issues``: ``sheet``, ``row``, ``column``, ``value``, ``problem`` (plain words), one row per bad cell or
  setting. A bad cell became missing; it never stopped the read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .settings import Settings

ISSUE_COLUMNS = ["sheet", "row", "column", "value", "problem"]


def empty_issues() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ISSUE_COLUMNS})


def empty_orders() -> pd.DataFrame:
    return pd.DataFrame({"account_id": pd.Series(dtype=object), "order_date": pd.Series(dtype="datetime64[ns]"),
                         "amount": pd.Series(dtype=float), "source_row": pd.Series(dtype="int64")})


def empty_events() -> pd.DataFrame:
    return pd.DataFrame({"account_id": pd.Series(dtype=object), "event_date": pd.Series(dtype="datetime64[ns]"),
                         "event_type": pd.Series(dtype=object), "detail": pd.Series(dtype=object),
                         "source_row": pd.Series(dtype="int64")})


@dataclass(frozen=True)
class Book:
    accounts: pd.DataFrame
    orders: pd.DataFrame = field(default_factory=empty_orders)
    events: pd.DataFrame = field(default_factory=empty_events)
    settings: Settings = field(default_factory=Settings)
    issues: pd.DataFrame = field(default_factory=empty_issues)

    # Where each log row's account sits in ``accounts``, and its day: several analyses need them for the same
    # book; worked out once per book (a Book's frames are read, never changed, once it is built).
    @cached_property
    def order_positions(self) -> np.ndarray:
        """Each order's account as a row position in ``accounts`` (-1 when the account is not in the book)."""
        return _read_only(positions_in(self.accounts, self.orders))

    @cached_property
    def order_days(self) -> np.ndarray:
        """Each order's date as days since 1970-01-01 (float, NaN when missing)."""
        from .stats import day_numbers

        return _read_only(day_numbers(self.orders["order_date"]))

    @cached_property
    def event_positions(self) -> np.ndarray:
        return _read_only(positions_in(self.accounts, self.events))

    @cached_property
    def event_learning(self):
        """The account-weeks the event model learns from (``event_effects.learning_rows``), built once per book."""
        from .event_effects import learning_rows

        return learning_rows(self)

    @property
    def shape_name(self) -> str:
        """'accounts only', 'accounts + orders' or 'accounts + orders + events' (issue shapes a, b, c)."""
        parts = ["accounts"] + [name for name, frame in (("orders", self.orders), ("events", self.events))
                                if len(frame)]
        return " + ".join(parts) if len(parts) > 1 else "accounts only"


def _read_only(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False  # shared by every analysis of the book: none may change it for the others
    return values


def positions_in(accounts: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Each row of ``frame`` as the position of its ``account_id`` (as text) in ``accounts`` (the first row when an
    id repeats; -1 when it is not there). The many row ids are factorised and only the distinct ones matched:
    several times cheaper than a lookup per row."""
    codes, uniques = pd.factorize(frame["account_id"].astype(str).to_numpy(), use_na_sentinel=False)
    index = pd.Index(accounts["account_id"].astype(str).to_numpy())
    first = np.flatnonzero(~index.duplicated())
    if not len(first):
        return np.full(len(codes), -1)
    where = index[first].get_indexer(uniques)
    return np.where(where >= 0, first[np.maximum(where, 0)], -1)[codes]


class BookError(ValueError):
    """A problem with the whole input (a missing required column, no account table): one clear message."""
