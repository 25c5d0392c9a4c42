"""``relhealth score-transactions LOG.csv --as-of YYYY-MM-DD --horizon-days N --out SCORES.csv``.

Reads a purchase log (one purchase per line: customer, date, amount), maps its headers by the same synonyms as
an Orders sheet ("Customer ID", "Invoice Date", "Order Total", ...), parses cells as the workbook reader does,
keeps the lines up to ``as_of`` and writes ``customer_id,risk,band,drivers`` with one row per customer. Only
pandas, numpy and the engine modules that scoring needs are imported.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from relhealth import cells
from relhealth.book import BookError
from relhealth.risk import score_transactions
from relhealth.schema import ORDERS, REQUIRED
from relhealth.settings import Settings
from relhealth.tables import frame_table, map_columns, missing_columns_error


def read_purchase_log(path: str | os.PathLike, settings: Settings | None = None) -> tuple[pd.DataFrame, int]:
    """The log as a canonical orders frame (``account_id, order_date, amount``) and the number of lines whose
    customer or date could not be read (they are left out)."""
    settings = settings or Settings()
    name = Path(path).name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise BookError(f"{name}: the file is empty; it needs a header line and one purchase per line") from None
    table = frame_table(name, frame, set(), set())
    mapping = map_columns(table, ORDERS, settings) if table is not None else {}
    missing = [c for c in REQUIRED[ORDERS] if c not in mapping]
    if missing:
        raise missing_columns_error(name, ORDERS, list(frame.columns), missing)
    ids = cells.parse_text(table.raw(mapping["account_id"]))
    dates = cells.parse_dates(table.raw(mapping["order_date"]), settings.date_order)
    amount = cells.parse_money(table.raw(mapping["amount"])).values if "amount" in mapping \
        else pd.Series(float("nan"), index=frame.index)
    orders = pd.DataFrame({"account_id": ids.values, "order_date": pd.to_datetime(dates.values), "amount": amount})
    good = orders["account_id"].notna().to_numpy() & orders["order_date"].notna().to_numpy()
    return orders[good].reset_index(drop=True), int((~good).sum())


def score_transactions_file(log: str | os.PathLike, as_of: dt.date, horizon_days: int, out: str | os.PathLike,
                            quiet: bool = False) -> pd.DataFrame:
    """Score every customer of ``log`` as of ``as_of`` and write ``out`` (CSV); returns the scores."""
    if horizon_days < 1:
        raise BookError(f"--horizon-days must be 1 or more, got {horizon_days}")
    orders, skipped = read_purchase_log(log)
    if not len(orders):
        raise BookError(f"{Path(log).name}: no line has both a customer and a date that can be read")
    scores = score_transactions(orders, as_of, horizon_days)
    if not len(scores):
        raise BookError(f"{Path(log).name}: no purchase on or before {as_of:%Y-%m-%d}")
    scores.to_csv(out, index=False, float_format="%.6f")
    if not quiet:
        extra = f"; {skipped:,} unreadable line{'s' if skipped != 1 else ''} left out" if skipped else ""
        print(f"wrote {out}: {len(scores):,} customers scored as of {as_of:%Y-%m-%d}, "
              f"horizon {horizon_days} days{extra}")
    return scores
