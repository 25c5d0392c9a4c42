"""Engine tables -> what a formula returns: one value per data row, one value per account, or a small table.

The rules users see (docs/excel-functions.md, "Errors"):
- A blank row of the range gives a blank output row; the output has exactly one row per data row.
- A bad cell the number depends on replaces that row's number with a short message such as
  ``CHURN_RISK: 'Last Order' "next tues" is not a date (row 14)``. Which cells count is ``TRUSTED_ON`` below;
  other bad cells (an unreadable NPS for CHURN_RISK, say) leave the number and show in ``DATA_ISSUES``.
- A row the reader could not take as an account (no account id) gives a message, never a number.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from . import convert

# Account columns whose bad cells make a function's number untrustworthy, per family of functions.
_RISK = frozenset({"account_id", "customer_since", "renewal_date", "status", "lost_date", "first_order",
                   "last_order", "order_count", "complaints_90d", "price_increase_flag", "merger_flag",
                   "new_decision_maker_flag"})
_TIER = _RISK | {"nps", "referrals", "revenue_12m"}
_PLAN = _TIER | {"annual_revenue", "lost_reason", "owner"}
TRUSTED_ON = {"risk": _RISK, "tier": _TIER, "plan": _PLAN, "none": frozenset()}
# Log columns whose bad cells make the account's numbers untrustworthy (an order or event went missing).
LOG_CRITICAL = {"Orders": frozenset({"order_date"}), "Events": frozenset({"event_date"})}


def cell(value: Any) -> Any:
    """An engine value as a cell value: numpy scalars -> Python, NaN/NaT/None -> None."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("∞" if value > 0 else "-∞")  # JSON has no Infinity
    if value.__class__.__name__ in ("NaTType",):
        return None
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return value


def cells(values: list[Any]) -> list[Any]:
    """``cell`` for a column's ``tolist()``: plain Python values pass through untouched (the common case)."""
    plain = (str, bool, int, type(None))
    return [v if v.__class__ in plain or (v.__class__ is float and math.isfinite(v)) else cell(v) for v in values]


def issue_text(issue: dict) -> str:
    """``'Last Order' "next tues" is not a date (row 14)``, prefixed by the sheet for the logs."""
    sheet = "" if issue["sheet"] in ("Accounts", None) else f"{issue['sheet']} "
    value = issue.get("value")
    shown = "" if convert.is_blank(value) or value != value else f' "{convert.number_text(value)}"'
    row = f" (row {int(issue['row'])})" if issue.get("row") is not None and issue["row"] == issue["row"] else ""
    return f"{sheet}'{issue['column']}'{shown} {issue['problem']}{row}"


_PYTHON_SCALARS = frozenset({str, int, float, bool, type(None)})


def records_of(frame: Any) -> list[dict]:
    """``frame.to_dict("records")``, built straight from the columns when every cell already is a plain Python value
    (all pandas would do is turn numpy values into Python ones; that costs it a call per cell)."""
    columns = frame.columns.tolist()
    values = [frame[c].tolist() for c in columns]
    if len(set(columns)) == len(columns) and all(set(map(type, v)) <= _PYTHON_SCALARS for v in values):
        return [dict(zip(columns, row)) for row in zip(*values)]
    return frame.to_dict("records")


class RowIssues:
    """The book's issues arranged per output row and per account, built once per computation."""

    def __init__(self, comp: convert.Computation):
        self.by_row: dict[int, list[dict]] = {}      # output index -> Accounts issues
        self.by_account: dict[str, list[dict]] = {}  # account key -> Orders / Events issues
        self._rows_blocked: dict[str, set[int]] = {}
        issues = comp.book.issues
        issue_records = records_of(issues) if len(issues) else []
        for issue in issue_records:
            row = issue.get("row")
            if row is None or row != row:
                continue
            if issue["sheet"] == "Accounts":
                self.by_row.setdefault(comp.output_index(row), []).append(issue)
            else:
                account = comp.log_accounts.get((issue["sheet"], int(row)))
                if account is not None:
                    self.by_account.setdefault(account, []).append(issue)
        self.names = comp.header_names

    def _canonical(self, issue: dict) -> str | None:
        return self.names.get(issue["sheet"], {}).get(str(issue["column"]))

    def all_for(self, index: int, account: str | None) -> list[dict]:
        return self.by_row.get(index, []) + (self.by_account.get(account, []) if account is not None else [])

    def rows_blocked(self, family: str) -> set[int]:
        """The output rows whose own issues make the number untrustworthy for a function of this family."""
        if family not in self._rows_blocked:
            trusted_on = TRUSTED_ON[family]
            self._rows_blocked[family] = {index for index, found in self.by_row.items()
                                          if any(self._canonical(i) in trusted_on for i in found)}
        return self._rows_blocked[family]

    def blocking(self, index: int, account: str | None, family: str) -> list[dict]:
        """The issues that make this row's number untrustworthy for a function of this family."""
        trusted_on = TRUSTED_ON[family]
        if not trusted_on:
            return []
        found = [i for i in self.by_row.get(index, []) if self._canonical(i) in trusted_on]
        if account is not None:
            found += [i for i in self.by_account.get(account, [])
                      if self._canonical(i) in LOG_CRITICAL.get(i["sheet"], ())]
        return found


def message(name: str, issues: list[dict]) -> str:
    more = f" (+{len(issues) - 1} more: see DATA_ISSUES)" if len(issues) > 1 else ""
    return f"{name}: {issue_text(issues[0])}{more}"


def per_row(comp: convert.Computation, name: str, family: str,
            values: Callable[[convert.Computation], list[Any]], blank_ok: bool = False) -> list[Any]:
    """One output value per data row of the account range (blank rows blank, bad rows a message).

    ``values(comp)`` gives one value per account in ``book.accounts`` order; None there becomes a message
    unless ``blank_ok`` (WINBACK_PLAY: no play for an account that needs none)."""

    def build() -> list[Any]:
        book = comp.book
        issues = comp.memo("issues", lambda: RowIssues(comp))
        account_values = values(comp)
        rows = comp.data_rows
        source_rows = book.accounts["source_row"].tolist()
        account_ids = book.accounts["account_id"].tolist()
        # data row -> the account read from it (the first one, should a row give two); built backwards so the
        # first account's position is the one left in the dict
        first_row = comp.header_row + 2
        position_of = dict(zip([r - first_row for r in reversed(source_rows)], range(len(source_rows) - 1, -1, -1)))
        if position_of and (min(position_of) < 0 or max(position_of) >= rows):
            position_of = {index: position for index, position in position_of.items() if 0 <= index < rows}
        out: list[Any] = [None] * rows
        for index, position in position_of.items():
            out[index] = account_values[position]
        # Most rows keep their value as it is; look again only at those that may not: a row whose issues block
        # this function, an account with log issues, an account without a value.
        keys = [convert.account_key(a) for a in account_ids] if issues.by_account else None
        suspects = {index for index in issues.rows_blocked(family) if index in position_of}
        if keys is not None:
            suspects.update(index for index, position in position_of.items() if keys[position] in issues.by_account)
        if not blank_ok:
            for position in [p for p, value in enumerate(account_values) if value is None]:
                index = source_rows[position] - first_row
                if position_of.get(index) == position:
                    suspects.add(index)
        for index in suspects:
            position = position_of[index]
            blocking = issues.blocking(index, keys[position] if keys is not None else None, family)
            if blocking:
                out[index] = message(name, blocking)
            elif account_values[position] is None and not blank_ok:
                row = int(source_rows[position])
                out[index] = f"{name}: no value for account \"{account_ids[position]}\" (row {row})"
        # rows that gave no account: blank when the row is blank, else why not
        if len(position_of) < rows:
            for index in range(rows):
                if index in position_of or comp.is_blank_row(index):
                    continue
                row_issues = issues.by_row.get(index)
                sheet_row = index + comp.header_row + 2
                out[index] = (message(name, row_issues) if row_issues
                              else f"{name}: no account id in this row (row {sheet_row})")
        return out

    return comp.memo(("rows", name), build)


def lookup(comp: convert.Computation, name: str, family: str,
           values: Callable[[convert.Computation], list[Any]], account: Any, blank_ok: bool = False) -> Any:
    """One account's value: ``account`` is an id (text or number) or a row/column of ids."""
    if isinstance(account, list):
        return [[lookup(comp, name, family, values, a, blank_ok) for a in row] for row in account]
    if convert.is_blank(account):
        return None

    def index() -> dict[str, int]:
        found: dict[str, int] = {}
        for source_row, account_id in zip(comp.book.accounts["source_row"], comp.book.accounts["account_id"]):
            found.setdefault(convert.account_key(account_id), comp.output_index(source_row))
        return found

    rows = per_row(comp, name, family, values, blank_ok)
    position = comp.memo("account index", index).get(convert.account_key(account))
    if position is None or not 0 <= position < len(rows):
        return f'{name}: account "{convert.number_text(account)}" is not in the account table'
    return rows[position]


def table(frame: Any, headers: dict[str, str]) -> list[list[Any]]:
    """A DataFrame as a spilled table: a header row of readable names, then the rows."""
    columns = list(frame.columns)
    head = [headers.get(c, c.replace("_", " ").capitalize()) for c in columns]
    body = [[cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return [head] + body


# Readable headers for the spilled tables (engine column -> header); other columns get "Column name" style.
HEADERS = {
    "month": "Month", "month_name": "Month name", "week": "Week", "breakups": "Break-ups",
    "exposure_account_years": "Exposure (account-years)", "rate": "Rate", "expected": "Expected",
    "rate_ratio": "Rate ratio", "ci_low": "CI low", "ci_high": "CI high", "p_value": "p-value",
    "window": "Window", "start": "Start", "end": "End", "verdict": "Verdict", "event_type": "Event type",
    "label": "Event", "accounts_with": "Accounts with", "breakups_with": "Break-ups with",
    "rate_with": "Rate with", "accounts_without": "Accounts without", "breakups_without": "Break-ups without",
    "rate_without": "Rate without", "complaints": "Complaints", "accounts": "Accounts",
}
