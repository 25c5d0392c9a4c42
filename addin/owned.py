"""What the refresh writes: the sheets it owns, their columns and tables, built from one ``Health`` (pure pandas).

Two kinds of owned sheet:

- keyed tables (``Scores``, ``Win-back Planner``): one row per account, matched by Account ID on every refresh.
  The add-in's columns (``Col``) are recomputed; every other column is the user's and is carried with its row.
- reports (``Seasonality``, ``Triggers``, ``Charts``): stacked ``Block`` tables and pictures; the cells the last
  refresh wrote are replaced, cells outside them are left alone.

Nothing here touches a workbook; ``addin.writer`` (openpyxl) and ``addin.scripts`` (xlwings) do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SCORES, PLANNER, SEASONALITY, TRIGGERS, CHARTS = "Scores", "Win-back Planner", "Seasonality", "Triggers", "Charts"
ROLES = {SCORES: "_relhealth_scores", PLANNER: "_relhealth_planner", SEASONALITY: "_relhealth_seasonality",
         TRIGGERS: "_relhealth_triggers", CHARTS: "_relhealth_charts"}  # sheet -> hidden defined name marking it
KEY = "Account ID"


@dataclass(frozen=True)
class Col:
    """One computed column: header, source field, format and width. Formats: text, wrap, id, money, percent,
    date, int, ratio, p, band, yesno."""

    header: str
    field: str
    fmt: str = "text"
    width: float = 14


SCORE_COLS = (
    Col(KEY, "account_id", "id", 13), Col("Account Name", "account_name", "text", 28),
    Col("Owner", "owner", "text", 16), Col("Break-up risk", "risk", "percent", 12), Col("Band", "band", "band", 10),
    Col("Loyalty tier", "tier", "text", 12), Col("One mistake away", "one_mistake_away", "yesno", 11),
    Col("Renewal in break-up season", "renewal_season", "text", 18),
    Col("Top drivers", "drivers", "text", 70), Col("Data issues", "data_issues", "text", 40))

PLANNER_COLS = (
    Col(KEY, "account_id", "id", 13), Col("Account", "account_name", "text", 24), Col("Owner", "owner", "text", 15),
    Col("Situation", "situation", "text", 16), Col("Revenue at stake", "revenue_at_stake", "money", 13),
    Col("Why", "why", "wrap", 34), Col("Play", "play", "wrap", 40), Col("Who calls", "who_calls", "wrap", 30),
    Col("First touch", "first_touch", "date", 12))
PLANNER_USER = ("Status", "Next step", "Notes", "Outcome")  # created empty; the user's from then on
PLANNER_DETAIL = (
    Col("Eat crow", "eat_crow", "wrap", 40), Col("Make good", "make_good", "wrap", 40),
    Col("Make-good budget", "make_good_budget", "money", 12), Col("Resell", "resell", "wrap", 40),
    Col("Post-mortem / action plan", "post_mortem", "wrap", 44), Col("Reminders", "reminders", "wrap", 40),
    Col("Lost date", "lost_date", "date", 12), Col("Break-up risk", "risk", "percent", 11),
    Col("Cause", "cause", "text", 11))
STATUS_CHOICES = ("Not started", "Contacted", "Meeting set", "Plan agreed", "Won back", "Saved", "Closed, door open")

STALE = {PLANNER: {"gone": "Not in the account list any more - kept for your notes",
                   "Lost": "Lost before the look-back - kept for your notes",
                   "At risk": "No longer at risk - kept for your notes"},
         SCORES: {"gone": "Not in the account list any more - kept for your notes"}}
MARKER = {PLANNER: "Situation", SCORES: "Data issues"}  # where a kept row says why it is kept


@dataclass
class Keyed:
    """A keyed sheet: its computed columns in first-refresh order, the user columns to create, the rows."""

    sheet: str
    cols: tuple[Col, ...]
    user_headers: tuple[str, ...]
    frame: pd.DataFrame  # one row per account, columns = Col.field
    stale: dict[str, str]  # why a kept row no longer qualifies: kind of row -> marker text
    marker: str
    kind_of: dict[str, str] = field(default_factory=dict)  # account id -> "Lost"/"At risk" (planner)

    @property
    def layout(self) -> list[str]:
        """Headers in first-refresh order: computed columns with the user columns placed after ``First touch``."""
        heads = [c.header for c in self.cols]
        if not self.user_headers:
            return heads
        cut = heads.index("First touch") + 1 if "First touch" in heads else len(heads)
        return heads[:cut] + list(self.user_headers) + heads[cut:]


@dataclass
class Block:
    """A titled table on a report sheet."""

    title: str
    note: str
    frame: pd.DataFrame
    formats: dict[str, str] = field(default_factory=dict)  # column -> format
    widths: dict[str, float] = field(default_factory=dict)


def account_ids(values) -> list[str]:
    """Account ids as the engine keys them: text; 1001.0 -> '1001'."""
    return [key_text(v) for v in values]


def key_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ---- keyed tables -------------------------------------------------------------------------------------------------

def scores_table(health) -> Keyed:
    accounts = health.book.accounts
    ids = accounts["account_id"].astype(str).to_numpy()
    frame = pd.DataFrame({"account_id": ids})
    for column in ("account_name", "owner"):
        frame[column] = accounts[column].to_numpy() if column in accounts.columns else None
    scores = _by_id(health.scores, ids)
    tiers = _by_id(health.tiers, ids)
    frame["risk"] = pd.to_numeric(scores["risk"], errors="coerce").to_numpy()
    frame["band"] = scores["band"].to_numpy()
    frame["tier"] = tiers["tier"].to_numpy() if "tier" in tiers.columns else None
    away = tiers["one_mistake_away"] if "one_mistake_away" in tiers.columns else pd.Series(index=tiers.index)
    frame["one_mistake_away"] = [None if v is None or v != v else bool(v) for v in away.to_numpy(dtype=object)]
    season = _by_id(health.renewal_season, ids)["trend_window"] if len(health.renewal_season) else None
    frame["renewal_season"] = season.fillna("").to_numpy() if season is not None else ""
    frame["drivers"] = scores["drivers"].to_numpy() if "drivers" in scores.columns else ""
    frame["data_issues"] = scores["data_issues"].to_numpy() if "data_issues" in scores.columns else ""
    return Keyed(SCORES, SCORE_COLS, (), frame, STALE[SCORES], MARKER[SCORES])


def planner_table(health) -> Keyed:
    plan = health.planner.copy()
    plan["account_id"] = plan["account_id"].astype(str)
    band = plan["band"].fillna("").astype(str) if "band" in plan.columns else pd.Series("", index=plan.index)
    kind = plan["kind"] if "kind" in plan.columns else np.where(plan["lost_date"].notna(), "Lost", "At risk")
    plan["situation"] = [f"{k}: {b}" if k == "At risk" and b else ("Lost, exogenous" if k == "Lost" and c ==
                         "Exogenous" else str(k)) for k, b, c in zip(kind, band, plan.get("cause", [""] * len(plan)))]
    return Keyed(PLANNER, PLANNER_COLS + PLANNER_DETAIL, PLANNER_USER, plan, STALE[PLANNER], MARKER[PLANNER],
                 kind_of=dict(zip(plan["account_id"], kind)))


def _by_id(frame: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    keyed = frame.assign(account_id=frame["account_id"].astype(str)).drop_duplicates("account_id")
    return keyed.set_index("account_id").reindex(ids)


# ---- report sheets ------------------------------------------------------------------------------------------------

def seasonality_blocks(health) -> list[Block]:
    s = health.seasonality
    note = s.message or (f"{s.breakups} break-ups from {s.period_start:%Y-%m-%d} to {s.period_end:%Y-%m-%d}, "
                         "each month set against the accounts on the book then (exposure).")
    ratio_cols = {"Expected": "num1", "x normal": "ratio", "95% low": "ratio", "95% high": "ratio",
                  "p-value": "p", "Adjusted p": "p", "Account-years": "num1"}
    windows = _rename(s.windows, {"window": "Window", "start": "From (MM-DD)", "end": "To (MM-DD)",
                                  "breakups": "Break-ups", "expected": "Expected", "rate_ratio": "x normal",
                                  "ci_low": "95% low", "ci_high": "95% high", "p_value": "p-value",
                                  "verdict": "Verdict"})
    common = {"breakups": "Break-ups", "exposure_account_years": "Account-years", "expected": "Expected",
              "rate_ratio": "x normal", "ci_low": "95% low", "ci_high": "95% high", "p_value": "p-value",
              "p_holm": "Adjusted p", "verdict": "Verdict"}
    months = _rename(s.by_month, {"month_name": "Month", **common})
    weeks = _rename(s.by_week, {"week": "ISO week", **common})
    test = _rename(s.test, {"test": "Test", "verdict": "Verdict", "breakups": "Break-ups", "statistic": "Statistic",
                            "df": "df", "p_value": "p-value"})
    return [
        Block("Named windows (Settings: window ...)", note, windows, {**ratio_cols, "Break-ups": "int"},
              {"Window": 28}),
        Block("Break-ups by month", "x normal = the month's break-up rate against the rest of the year; adjusted "
              "p allows for testing 12 months.", months, {**ratio_cols, "Break-ups": "int"}),
        Block("Is there a season at all?", "Chi-square test of the counts against exposure (Monte Carlo when counts "
              "are small).", test, {"Statistic": "num1", "p-value": "p", "Break-ups": "int"}),
        Block("Break-ups by ISO week", "", weeks, {**ratio_cols, "Break-ups": "int", "ISO week": "int"}),
    ]


def trigger_blocks(health) -> list[Block]:
    settings = health.book.settings
    lift = _rename(health.triggers, {
        "label": "Event", "accounts_with": "Accounts with it", "breakups_with": "Break-ups after it",
        "rate_with": "Rate after", "accounts_without": "Accounts without", "breakups_without": "Break-ups otherwise",
        "rate_without": "Rate otherwise", "rate_ratio": "x normal", "ci_low": "95% low", "ci_high": "95% high",
        "p_value": "p-value", "verdict": "Verdict", "method": "Method"})
    if "x normal" in lift.columns:
        lift = lift.sort_values("x normal", ascending=False, na_position="last")
    steps = _rename(health.complaint_steps, {
        "complaints": "Complaints", "accounts": "Accounts", "breakups": "Break-ups", "rate": "Rate",
        "rate_ratio": "x vs none", "ci_low": "95% low", "ci_high": "95% high", "p_value": "p-value",
        "verdict": "Verdict"})
    fmt = {"Rate after": "percent1", "Rate otherwise": "percent1", "Rate": "percent1", "x normal": "ratio",
           "x vs none": "ratio", "95% low": "ratio", "95% high": "ratio", "p-value": "p"}
    blocks = [
        Block("Break-ups after each kind of event", f"Rate = chance of a break-up within "
              f"{settings.trigger_window_days} days (after the event vs all other time on the book).", lift, fmt,
              {"Event": 34, "Verdict": 22, "Method": 30}),
        Block("After N complaints", f"Complaints in the trailing {settings.complaint_window_days} days; each step "
              "against accounts with none.", steps, fmt),
    ]
    lost = health.lost
    for title, attr in (("Lost business by reason", "by_reason"), ("Lost business by owner", "by_owner"),
                        ("Lost business by quarter", "by_quarter")):
        frame = getattr(lost, attr, None)
        if isinstance(frame, pd.DataFrame) and len(frame.columns):
            pretty = frame.rename(columns=lambda c: str(c).replace("_", " ").capitalize())
            formats = {c: "percent1" if any(w in c.lower() for w in ("share", "rate")) else "money"
                       for c in pretty.columns if any(w in c.lower() for w in ("revenue", "share", "rate"))}
            blocks.append(Block(title, "", pretty, formats))
    return blocks


TREND_TITLE = "Book health as of each month-end (the data of the trend charts)"
TREND_HEADERS = {"month_end": "Month-end", "accounts": "Active accounts", "low": "Low", "watch": "Watch",
                 "high": "High", "critical": "Critical", "occasional": "Occasional", "habitual": "Habitual",
                 "loyal": "Loyal", "one_mistake_away": "One mistake away", "revenue": "Revenue",
                 "revenue_one_mistake_away": "Revenue one mistake away", "lost_in_month": "Lost in the month",
                 "fingerprint": "Fingerprint"}


def trend_block(trend) -> Block:
    """The trend table, kept on the Charts sheet: shown to the user, and read back by the next refresh so that
    month-ends whose records did not change are not recomputed (``trend.fingerprint``)."""
    note = trend.message or ("Each month-end is recomputed from the records up to that day; the fingerprint lets "
                             "the next refresh reuse a month-end whose records did not change.")
    return Block(TREND_TITLE, note, _rename(trend.table, TREND_HEADERS),
                 {"Revenue": "money", "Revenue one mistake away": "money", "Month-end": "date", "Fingerprint": "code"})


def trend_from_grid(grid: list[list]) -> pd.DataFrame | None:
    """The trend table read back from the Charts sheet's cells (None when it is not there)."""
    for i, row in enumerate(grid):
        if any(v == TREND_TITLE for v in row):
            j = list(row).index(TREND_TITLE)
            start = i + 1
            while start < len(grid) and list(grid[start])[j:j + 1] != ["Month-end"]:
                start += 1
                if start > i + 3:
                    return None
            names = {v: k for k, v in TREND_HEADERS.items()}
            header = [names.get(v) for v in list(grid[start])[j:j + len(TREND_HEADERS)]]
            rows = []
            for values in grid[start + 1:]:
                values = list(values)[j:j + len(header)]
                if not values or values[0] is None:
                    break
                rows.append(dict(zip(header, values)))
            frame = pd.DataFrame(rows)
            return frame if "fingerprint" in frame.columns and "month_end" in frame.columns else None
    return None


def _rename(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    keep = [c for c in names if c in frame.columns]
    return frame[keep].rename(columns=names).reset_index(drop=True)
