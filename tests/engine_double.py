"""A stand-in for engine modules that have not landed yet (reader, risk, tiers, seasonality, triggers, planner).

The Excel functions are bindings over the engine contract in docs/architecture.md. While other engineers write
the engine, the binding tests still need *an* engine that keeps that contract: ``install()`` registers these
stand-ins for whichever ``relhealth`` modules cannot be imported, and does nothing once the real ones exist.
Tests compare the functions' output with the engine called directly, so they hold for either engine.
It is deliberately simple (recency-based risk) and is never used outside tests and the benchmark.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import math
import re
import sys
import types
from dataclasses import dataclass

import pandas as pd

MODULES = ("reader", "risk", "tiers", "seasonality", "triggers", "planner")


def install() -> list[str]:
    """Register a stand-in for each engine module that is missing; returns the names stood in for."""
    stood_in = []
    for name in MODULES:
        full = f"relhealth.{name}"
        try:
            real = importlib.import_module(full)
            missing = [attr for attr in _EXPORTS[name] if not hasattr(real, attr)]
        except ImportError:
            missing = ["module"]
        if missing:
            module = types.ModuleType(full, f"Test stand-in for {full} (tests/engine_double.py)")
            for attr, value in _EXPORTS[name].items():
                setattr(module, attr, value)
            sys.modules[full] = module
            setattr(importlib.import_module("relhealth"), name, module)
            stood_in.append(name)
    return stood_in


@contextlib.contextmanager
def installed():
    """``install()`` for the duration of a block, then the modules as they were (other test files unaffected)."""
    saved = {name: sys.modules.get(f"relhealth.{name}") for name in MODULES}
    package = importlib.import_module("relhealth")
    attrs = {name: getattr(package, name, None) for name in MODULES}
    stood_in = install()
    try:
        yield stood_in
    finally:
        for name in stood_in:
            if saved[name] is None:
                sys.modules.pop(f"relhealth.{name}", None)
            else:
                sys.modules[f"relhealth.{name}"] = saved[name]
            if attrs[name] is None:
                if hasattr(package, name):
                    delattr(package, name)
            else:
                setattr(package, name, attrs[name])


# ------------------------------------------------------------------------------------------------ reader

_MDY = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")


def _date(value):
    if isinstance(value, dt.datetime):
        return pd.Timestamp(value)
    if isinstance(value, dt.date):
        return pd.Timestamp(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return pd.Timestamp(dt.datetime(1899, 12, 30) + dt.timedelta(days=float(value))).normalize()
    text = str(value).strip()
    match = _MDY.match(text)
    if match:
        month, day, year = map(int, match.groups())
        return pd.Timestamp(dt.date(year, month, day))
    return pd.Timestamp(dt.date.fromisoformat(text[:10]))


def _money(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return float(str(value).replace("$", "").replace(",", "").strip())


def _number(value):
    if isinstance(value, bool):
        raise ValueError
    return float(value) if isinstance(value, (int, float)) else float(str(value).strip())


def _flag(value):
    return str(value).strip().lower() in ("1", "1.0", "true", "yes", "y", "x")


_PARSE = {"date": (_date, "is not a date"), "money": (_money, "is not an amount of money"),
          "number": (_number, "is not a number"), "percent": (_number, "is not a number")}


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _id(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_table(sheet, rows, columns, settings, issues):
    from relhealth.book import BookError
    from relhealth.schema import normalise_header

    by_key = {}
    for column in columns:
        for synonym in column.synonyms:
            by_key.setdefault(normalise_header(synonym), column)
    for (over_sheet, col), user in settings.column_overrides.items():
        if over_sheet == sheet:
            by_key[normalise_header(user)] = next(c for c in columns if c.name == col)
    top = next((i for i, row in enumerate(rows) if any(
        isinstance(c, str) and by_key.get(normalise_header(c)) is not None
        and by_key[normalise_header(c)].name == "account_id" for c in row)), None)
    if top is None:
        found = [str(c) for row in rows[:1] for c in row if not _blank(c)]
        raise BookError(f"{sheet}: no account column; headers found: {', '.join(found) or 'none'}; "
                        f"accepted: Account ID, Account, Customer ID, ...")
    header = rows[top]
    mapped = {}
    for index, head in enumerate(header):
        column = by_key.get(normalise_header(head)) if not _blank(head) else None
        if column is not None and column.name not in {c.name for c, _ in mapped.values()}:
            mapped[index] = (column, str(head))
    records = []
    for offset, row in enumerate(rows[top + 1:]):
        sheet_row = top + offset + 2
        if all(_blank(c) for c in row):
            continue
        record = {"source_row": sheet_row}
        for index, (column, head) in mapped.items():
            value = row[index] if index < len(row) else None
            if _blank(value):
                record[column.name] = None
                continue
            if isinstance(value, str) and value.startswith("#"):
                issues.append({"sheet": sheet, "row": sheet_row, "column": head, "value": value,
                               "problem": f"is an error value ({value})"})
                record[column.name] = None
                continue
            if column.kind == "id":
                record[column.name] = _id(value)
            elif column.kind in _PARSE:
                parse, problem = _PARSE[column.kind]
                try:
                    record[column.name] = parse(value)
                except (ValueError, TypeError, OverflowError):
                    issues.append({"sheet": sheet, "row": sheet_row, "column": head, "value": value,
                                   "problem": problem})
                    record[column.name] = None
            elif column.kind == "flag":
                record[column.name] = _flag(value)
            else:
                record[column.name] = str(value).strip()
        if record.get("account_id") is None:
            id_head = next(h for c, h in mapped.values() if c.name == "account_id")
            issues.append({"sheet": sheet, "row": sheet_row, "column": id_head, "value": None,
                           "problem": "is empty; the row was skipped"})
            continue
        records.append(record)
    return records, [c.name for c, _ in mapped.values()]


def read_book(sheets, settings=None, hidden=None):
    from relhealth.book import Book, empty_events, empty_issues, empty_orders
    from relhealth.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, ORDER_COLUMNS, normalise_event
    from relhealth.settings import Settings

    settings = settings or Settings()
    if "Settings" in sheets:
        rows = sheets["Settings"]
        rows = rows.values.tolist() if isinstance(rows, pd.DataFrame) else rows[1:]
        settings, _ = Settings.from_rows([(r[0], r[1]) for r in rows])
    raw = {k: (v if isinstance(v, list) else [list(v.columns)] + v.values.tolist()) for k, v in sheets.items()}
    issues: list[dict] = []
    records, names = _read_table("Accounts", raw["Accounts"], ACCOUNT_COLUMNS, settings, issues)
    accounts = pd.DataFrame(records, columns=["source_row"] + names)
    accounts = accounts[["account_id"] + [c for c in accounts.columns if c != "account_id"]]
    for column in ACCOUNT_COLUMNS:
        if column.name in accounts and column.kind == "date":
            accounts[column.name] = pd.to_datetime(accounts[column.name])
        elif column.name in accounts and column.kind in ("money", "number"):
            accounts[column.name] = pd.to_numeric(accounts[column.name]).astype(float)
    if "status" in accounts or "lost_date" in accounts:
        lost = accounts["lost_date"].notna() if "lost_date" in accounts else False
        given = accounts["status"].fillna("").str.lower().eq("lost") if "status" in accounts else False
        accounts["status"] = ["Lost" if x else "Active" for x in (lost | given)]
    orders, events = empty_orders(), empty_events()
    if "Orders" in raw:
        rows, _ = _read_table("Orders", raw["Orders"], ORDER_COLUMNS, settings, issues)
        rows = [r for r in rows if r.get("order_date") is not None]
        if rows:
            orders = pd.DataFrame(rows)[["account_id", "order_date", "amount", "source_row"]]
            orders["order_date"] = pd.to_datetime(orders["order_date"])
            orders["amount"] = pd.to_numeric(orders["amount"]).astype(float)
    if "Events" in raw:
        rows, _ = _read_table("Events", raw["Events"], EVENT_COLUMNS, settings, issues)
        kept = []
        for r in rows:
            code = normalise_event(r.get("event_type"))
            if r.get("event_date") is None or code is None:
                continue
            kept.append({**r, "event_type": code})
        if kept:
            events = pd.DataFrame(kept).reindex(columns=["account_id", "event_date", "event_type", "detail",
                                                         "source_row"])
            events["event_date"] = pd.to_datetime(events["event_date"])
    frame = pd.DataFrame(issues, columns=list(empty_issues().columns)) if issues else empty_issues()
    return Book(accounts=accounts, orders=orders, events=events, settings=settings, issues=frame)


# -------------------------------------------------------------------------------------------- analyses

def _last_orders(book):
    last = book.accounts["last_order"] if "last_order" in book.accounts else pd.Series(pd.NaT,
                                                                                       index=book.accounts.index)
    if len(book.orders):
        from_log = book.orders.groupby("account_id")["order_date"].max()
        last = book.accounts["account_id"].map(from_log).fillna(last)
    return pd.to_datetime(last)


def score_book(book):
    settings = book.settings
    as_of = pd.Timestamp(settings.today())
    days = (as_of - _last_orders(book)).dt.days.astype(float).fillna(2 * settings.horizon_days)
    complaints = book.accounts.get("complaints_90d", pd.Series(0.0, index=book.accounts.index)).fillna(0)
    risk = (1 - (1 - days.clip(lower=0) / (days.clip(lower=0) + settings.horizon_days)) * 0.9 ** complaints)
    risk = risk.clip(0, 1)
    band = ["Critical" if r >= settings.band_critical else "High" if r >= settings.band_high else
            "Watch" if r >= settings.band_watch else "Low" for r in risk]
    drivers = [f"{int(d)} days since last order: +{round(100 * r)} pts" for d, r in zip(days, risk)]
    return pd.DataFrame({"account_id": book.accounts["account_id"], "risk": risk.values, "band": band,
                         "driver_1": drivers, "driver_2": "", "driver_3": "", "drivers": drivers,
                         "expected_purchases": (settings.horizon_days / (days + 30)).values,
                         "p_alive": (1 - risk).values, "data_issues": ""})


def loyalty_tiers(book, scores):
    counts = book.accounts.get("order_count", pd.Series(0.0, index=book.accounts.index)).fillna(0)
    if len(book.orders):
        counts = book.accounts["account_id"].map(book.orders.groupby("account_id").size()).fillna(counts)
    nps = book.accounts.get("nps", pd.Series(float("nan"), index=book.accounts.index))
    tier = ["Loyal" if c >= 4 and n >= 9 else "Habitual" if c >= 4 else "Occasional" for c, n in zip(counts, nps)]
    return pd.DataFrame({"account_id": book.accounts["account_id"], "tier": tier,
                         "tier_reason": [f"{int(c)} orders" for c in counts],
                         "one_mistake_away": [t != "Loyal" and r >= 0.25 for t, r in zip(tier, scores["risk"])]})


def one_mistake_summary(book, tiers):
    away = int(tiers["one_mistake_away"].sum())
    return pd.DataFrame({"measure": ["accounts"], "survive_one_mistake": [len(tiers) - away],
                         "one_mistake_away": [away], "share_surviving": [1 - away / max(len(tiers), 1)]})


@dataclass(frozen=True)
class Seasonality:
    by_month: pd.DataFrame
    by_week: pd.DataFrame
    windows: pd.DataFrame
    test: pd.DataFrame
    message: str = ""


def breakup_seasonality(book):
    lost = book.accounts["lost_date"].dropna() if "lost_date" in book.accounts else pd.Series(dtype="datetime64[ns]")
    months = lost.dt.month.value_counts()
    by_month = pd.DataFrame({"month": range(1, 13), "month_name": [dt.date(2000, m, 1).strftime("%B")
                                                                   for m in range(1, 13)],
                             "breakups": [int(months.get(m, 0)) for m in range(1, 13)]})
    by_month["rate_ratio"] = by_month["breakups"] / max(by_month["breakups"].mean(), 1e-9)
    weeks = lost.dt.isocalendar().week.value_counts() if len(lost) else {}
    by_week = pd.DataFrame({"week": range(1, 53), "breakups": [int(weeks.get(w, 0)) for w in range(1, 53)]})
    windows = pd.DataFrame({"window": list(book.settings.windows), "breakups": 0, "verdict": "no trend"})
    message = "" if len(lost) >= 3 else f"not enough history: {len(lost)} break-ups, need 3"
    return Seasonality(by_month, by_week, windows, pd.DataFrame({"p_value": [1.0]}), message)


def trigger_lift(book):
    from relhealth.schema import EVENT_TYPES

    lost = set(book.accounts.loc[book.accounts.get("status", pd.Series("", index=book.accounts.index))
                                 .eq("Lost"), "account_id"])
    total = len(book.accounts)
    rows = []
    for code, (label, _) in EVENT_TYPES.items():
        with_ = set(book.events.loc[book.events["event_type"] == code, "account_id"])
        broke = len(with_ & lost)
        rate_with = broke / len(with_) if with_ else math.nan
        without = total - len(with_)
        rate_without = (len(lost) - broke) / without if without else math.nan
        rows.append({"event_type": code, "label": label, "accounts_with": len(with_), "breakups_with": broke,
                     "rate_with": rate_with, "rate_without": rate_without,
                     "rate_ratio": rate_with / rate_without if rate_without else math.nan,
                     "verdict": "trend" if with_ and rate_with > 2 * (rate_without or 0) else "no trend"})
    return pd.DataFrame(rows)


def complaint_steps(book):
    counts = book.accounts.get("complaints_90d", pd.Series(0.0, index=book.accounts.index)).fillna(0)
    lost = book.accounts.get("status", pd.Series("", index=book.accounts.index)).eq("Lost")
    steps = counts.clip(upper=3).astype(int)
    rows = []
    for step in range(4):
        mask = steps == step
        rows.append({"complaints": "3+" if step == 3 else str(step), "accounts": int(mask.sum()),
                     "breakups": int((mask & lost).sum()),
                     "rate": float((mask & lost).sum() / mask.sum()) if mask.sum() else math.nan})
    return pd.DataFrame(rows)


def winback_plan(book, scores, tiers):
    status = book.accounts.get("status", pd.Series("Active", index=book.accounts.index))
    chosen = scores["band"].isin(["High", "Critical"]).values | status.eq("Lost").values
    plan = book.accounts.loc[chosen, ["account_id"]].copy()
    plan["play"] = ["Call within 7 days: " + ("win back" if s == "Lost" else "save") for s in status[chosen]]
    return plan.reset_index(drop=True)


_EXPORTS = {
    "reader": {"read_book": read_book},
    "risk": {"score_book": score_book},
    "tiers": {"loyalty_tiers": loyalty_tiers, "one_mistake_summary": one_mistake_summary},
    "seasonality": {"breakup_seasonality": breakup_seasonality, "Seasonality": Seasonality},
    "triggers": {"trigger_lift": trigger_lift, "complaint_steps": complaint_steps},
    "planner": {"winback_plan": winback_plan},
}
