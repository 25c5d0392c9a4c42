"""Finding tables in a workbook's sheets: the header row below any title rows, which user header means which
canonical column (synonyms and Settings overrides), which sheet is the account table, order log or event log,
where the Settings table is, and the one clear message when a required column is missing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import cells
from .book import BookError
from .schema import (ACCOUNTS, COLUMNS, EVENTS, ORDERS, REQUIRED, SETTINGS, Column, normalise_event,
                     normalise_header)
from .settings import Settings

HEADER_SCAN_ROWS = 30
_PLAIN_CELLS = (str, float, int, bool, type(None))
ROLE_NAMES = {
    ACCOUNTS: {"accounts", "account", "account list", "customers", "customer list", "clients", "client list"},
    ORDERS: {"orders", "order", "order log", "order lines", "order history", "sales", "sales log", "transactions",
             "purchases", "invoices"},
    EVENTS: {"events", "event", "event log", "relationship events", "activity", "activities", "touchpoints"},
}
STRICT_NAMES = {ACCOUNTS: {"accounts"}, ORDERS: {"orders", "order log"}, EVENTS: {"events", "event log"}}
SETTING_KEYS, VALUE_KEYS = {"setting", "settings", "parameter", "option"}, {"value"}
_SYNONYMS: dict[str, dict[str, tuple[Column, int]]] = {
    role: {normalise_header(s): (col, 1000 if s in (col.name, col.label) else len(normalise_header(s)))
           for col in cols for s in col.synonyms} for role, cols in COLUMNS.items()}
_KNOWN = set().union(*_SYNONYMS.values())


@dataclass
class Table:
    """One sheet's table: headers (as written), their keys, the header's sheet row, and the data below it.

    Columns are cut from the rows only when asked for (a 500,000-line log has few columns anyone reads)."""

    sheet: str
    headers: list[str]
    keys: list[str]
    header_row: int
    rows: np.ndarray                       # the sheet's 1-based row number of every data row
    hidden: set[int]
    body: list | None = None               # the data rows of a grid, or
    frame: pd.DataFrame | None = None      # the DataFrame given
    mapping: dict[str, int] = field(default_factory=dict)
    _columns: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def column(self, j: int) -> np.ndarray:
        if j not in self._columns:
            if self.frame is not None:
                self._columns[j] = self.frame.iloc[:, j].to_numpy()
            else:
                n = len(self.body)
                try:            # itemgetter through map: the rows are walked in C, not in a Python generator
                    column = np.fromiter(map(itemgetter(j), self.body), dtype=object, count=n)
                except (IndexError, TypeError):          # ragged rows, or None for an empty row
                    column = np.fromiter((r[j] if r is not None and j < len(r) else None for r in self.body),
                                         dtype=object, count=n)
                self._columns[j] = column
        return self._columns[j]

    def cut(self, js) -> None:
        """Cut the columns ``js`` in one go when they are most of a grid of plain cells (text, numbers, blanks: what
        Excel sends): numpy copies such a grid in C, twice as fast as a column at a time. Dates and other objects
        make numpy look hard at every cell, and a few columns of a wide sheet are cheaper one by one."""
        js = [j for j in js if j not in self._columns]
        if self.body is None or len(js) < 2 or 2 * len(js) < len(self.headers):
            return
        try:
            if not all(type(v) in _PLAIN_CELLS for row in self.body[:20] for v in row):
                return
            grid = np.array(self.body, dtype=object)
        except (TypeError, ValueError):                  # None for an empty row; rows numpy cannot stack
            return
        if grid.ndim != 2 or max(js) >= grid.shape[1]:   # ragged rows stay a 1-D array of lists
            return
        self._columns.update(zip(js, np.ascontiguousarray(grid.T[js])))

    def raw(self, j: int) -> pd.Series:
        """Column j as a Series: typed as the DataFrame had it (fast paths in cells), else object."""
        if self.frame is not None:
            return self.frame.iloc[:, j].reset_index(drop=True)
        return pd.Series(self.column(j), dtype=object, copy=False)


def grid_table(sheet: str, grid: list, hidden: set[int], extra_keys: set[str]) -> Table | None:
    """Find the header row among the first rows (the one naming most known columns) and cut the table below it."""
    best, best_score = None, 0
    for i, row in enumerate(grid[:HEADER_SCAN_ROWS]):
        keys = {normalise_header(v) for j, v in enumerate(row or ()) if j not in hidden and v is not None}
        score = len(keys & (_KNOWN | extra_keys))
        if score > best_score:
            best, best_score = i, score
    if best is None:
        return None
    body = grid[best + 1:]
    return _make_table(sheet, list(grid[best]), hidden, best + 1, np.arange(best + 2, best + 2 + len(body)),
                       body=body)


def frame_table(sheet: str, frame: pd.DataFrame, hidden: set[int], extra: set[str]) -> Table | None:
    if isinstance(frame.columns, pd.RangeIndex):      # no header given: find it like in a grid
        return grid_table(sheet, frame.astype(object).values.tolist(), hidden, extra)
    return _make_table(sheet, list(frame.columns), hidden, 1, np.arange(2, len(frame) + 2), frame=frame)


def _make_table(sheet, header, hidden, header_row, rows, **data) -> Table:
    headers = [cells.as_text(h) for h in header]
    keys = ["" if j in hidden else normalise_header(h) for j, h in enumerate(headers)]
    return Table(sheet, headers, keys, header_row, rows, hidden, **data)


def _overrides_for(settings: Settings, role: str, sheet: str) -> dict[str, str]:
    names = {normalise_header(role), normalise_header(sheet)}
    return {col: normalise_header(header) for (where, col), header in settings.column_overrides.items()
            if normalise_header(where) in names}


def map_columns(table: Table, role: str, settings: Settings) -> dict[str, int]:
    """Canonical column -> table column: a Settings override first, then the most specific synonym, leftmost."""
    overrides = _overrides_for(settings, role, table.sheet)
    candidates = []
    for j, key in enumerate(table.keys):
        if not key:
            continue
        for col, header in overrides.items():
            if key == header:
                candidates.append((-10_000, j, col))
        if key in _SYNONYMS[role]:
            col, strength = _SYNONYMS[role][key]
            candidates.append((-strength, j, col.name))
    mapping: dict[str, int] = {}
    for _, j, col in sorted(candidates):
        if col not in mapping and j not in mapping.values():
            mapping[col] = j
    return mapping


def _unique_share(table: Table, j: int) -> float:
    """Share of distinct ids among the first 50,000 filled cells (enough to tell a list from a log)."""
    ids = table.raw(j)[:50_000]
    values = ids.to_numpy()
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "string":
        filled = values[~pd.isna(values)]      # texts compare alike in a set and in pandas, which hashes slower
        return len(set(filled)) / len(filled) if len(filled) else 1.0
    ids = ids.dropna()
    return ids.nunique() / len(ids) if len(ids) else 1.0


def _known_event_share(table: Table, j: int) -> float:
    """Share of the first 5,000 filled event-type cells that name an event this add-in knows."""
    types = table.raw(j)[:5_000].dropna()
    types = types[types.astype(str).str.strip() != ""]
    if not len(types):
        return 0.0
    counts = types.astype(str).value_counts()
    known = sum(n for text, n in counts.items() if normalise_event(text) is not None)
    return known / len(types)


def role_scores(table: Table, settings: Settings) -> dict[str, tuple[float, dict[str, int]]]:
    """How well the table fits each role: columns mapped, plus the sheet's name, plus one-row-per-account."""
    name = normalise_header(table.sheet)
    scores = {}
    for role in (ACCOUNTS, ORDERS, EVENTS):
        mapping = map_columns(table, role, settings)
        if not all(c in mapping for c in REQUIRED[role]):
            continue
        unique = _unique_share(table, mapping["account_id"])
        score = len(mapping) + (10 if name in ROLE_NAMES[role] else 0)
        score += (3 if unique > 0.9 else -3) if role == ACCOUNTS else (2 if unique <= 0.9 else -1)
        if role == EVENTS:        # a "Type" column of order types is no event log
            score += 3 if _known_event_share(table, mapping["event_type"]) >= 0.5 else -3
        scores[role] = (score, mapping)
    return scores


def accepted(role: str, col: str) -> str:
    column = next(c for c in COLUMNS[role] if c.name == col)
    own = {normalise_header(column.name), normalise_header(column.label)}
    shown = [column.label] + [display(s) for s in column.synonyms if normalise_header(s) not in own]
    return ", ".join(f'"{s}"' for s in dict.fromkeys(shown))


def display(synonym: str) -> str:
    upper = {"id", "nps", "arr", "acv", "am", "ae", "csm", "ltm", "mrr", "dm", "m&a", "t12m", "12m"}
    return " ".join(w.upper() if w in upper else w.capitalize() for w in synonym.split())


def missing_columns_error(sheet: str, role: str, headers: list[str], missing: list[str]) -> BookError:
    labels = {c.name: c.label.lower().replace("account id", "account") for c in COLUMNS[role]}
    found = ", ".join(f'"{h}"' for h in headers if h) or "no headers"
    what = " and no ".join(f"{labels[c]}" for c in missing)
    if len(missing) == 1:
        names = f"Accepted: {accepted(role, missing[0])}."
    else:
        names = "Accepted " + "; ".join(f"for {labels[c]}: {accepted(role, c)}" for c in missing) + "."
    fix = "; ".join(f'"column {role} {c}" = your header' for c in missing)
    return BookError(f"{sheet}: no {what} column. Found: {found}. {names} "
                     f"Or name your own header in the Settings sheet: {fix}.")


def headers_of(sheet_value: Any, hidden: set[int]) -> list[str]:
    if isinstance(sheet_value, pd.DataFrame) and not isinstance(sheet_value.columns, pd.RangeIndex):
        return [cells.as_text(h) for h in sheet_value.columns]
    rows = [r for r in _grid(sheet_value, HEADER_SCAN_ROWS) if any(v not in (None, "") for v in (r or ()))]
    best = max(rows, key=lambda r: len({normalise_header(v) for v in r} & _KNOWN), default=[])
    return [cells.as_text(v) for j, v in enumerate(best) if j not in hidden and v not in (None, "")]


# ---------------------------------------------------------------------------------------------- totals rows

TOTALS = re.compile(r"\s*(?:grand\s+|sub\s*-?\s*)?(?:totals?|sum|overall)\s*(?::.*|\(.*\))?", re.IGNORECASE)
# One of these is in every label TOTALS matches, lower-cased ("\u017f", the long s, also matches s ignoring case).
_TOTAL_WORDS = ("total", "sum", "\u017fum", "overall")


def totals_labels(labels) -> np.ndarray:
    """Which labels read Total/Sum/...: the words are found in all labels joined and lower-cased (a C-level scan),
    and the pattern is run only on the labels that hold one."""
    texts = (list(labels) if pd.api.types.infer_dtype(labels, skipna=False) == "string"
             else [u if isinstance(u, str) else "" for u in labels])
    joined = "\0".join(texts)
    low = joined.lower()
    if len(low) != len(joined):            # a letter whose lower case is longer: positions would drift
        return np.array([TOTALS.fullmatch(t) is not None for t in texts], dtype=bool)
    found = []
    for word in _TOTAL_WORDS:
        at = low.find(word)
        while at >= 0:
            found.append(at)
            at = low.find(word, at + 1)
    hits = np.zeros(len(texts), dtype=bool)
    if found:
        ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
        matched: dict[str, bool] = {}            # a label repeated down a column is matched once
        for i in np.unique(np.searchsorted(ends, found, side="right")):
            text = texts[i]
            if text not in matched:
                matched[text] = TOTALS.fullmatch(text) is not None
            hits[i] = matched[text]
    return hits


# ---------------------------------------------------------------------------------------------- settings

def find_settings(sheets: Mapping[str, Any], hidden: dict[str, set[int]]) -> tuple[str, list[tuple]] | None:
    """The Setting / Value table: a sheet named Settings, or any sheet whose header has Setting and Value."""
    ordered = sorted(sheets, key=lambda n: normalise_header(n) != normalise_header(SETTINGS))
    for name in ordered:
        value = sheets[name]
        skip = hidden.get(name, set())
        for i, row in enumerate(_grid(value, HEADER_SCAN_ROWS)):
            keys = ["" if j in skip else normalise_header(v) for j, v in enumerate(row or ())]
            key_col = next((j for j, k in enumerate(keys) if k in SETTING_KEYS), None)
            value_col = next((j for j, k in enumerate(keys) if k in VALUE_KEYS), None)
            if key_col is not None and value_col is not None:
                return name, _setting_rows(_grid(value), i + 1, key_col, value_col)
        if normalise_header(name) == normalise_header(SETTINGS) and _grid(value):   # no header: columns A, B
            return name, _setting_rows(_grid(value), 0, 0, 1)
    return None


def _grid(value: Any, rows: int | None = None) -> list:
    """A sheet as a list of rows (a DataFrame's columns become the first row), optionally only the first rows."""
    if isinstance(value, pd.DataFrame):
        body = value if rows is None else value.head(rows)
        return [list(value.columns)] + body.astype(object).values.tolist()
    return as_grid(value)[:rows] if rows is not None else as_grid(value)


def as_grid(value: Any) -> list:
    """A 2-D list as given; a single row (xlwings returns a 1-D list for one row) or a lone cell made 2-D."""
    if isinstance(value, pd.DataFrame):
        return value.astype(object).values.tolist()
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        return [[value]]
    value = list(value)
    if value and not any(isinstance(r, (list, tuple)) or r is None for r in value[:HEADER_SCAN_ROWS]):
        return [value]
    return value


def _setting_rows(grid: list, start: int, key_col: int, value_col: int) -> list[tuple]:
    rows = []
    for i, row in enumerate(grid[start:], start=start + 1):
        row = list(row or ())
        key = row[key_col] if key_col < len(row) else None
        if key not in (None, "") and str(key).strip():
            value = row[value_col] if value_col < len(row) else None
            rows.append((i, key, None if isinstance(value, float) and np.isnan(value) else value))
    return rows


def no_accounts_error(sheets, hidden, settings_sheet, best) -> BookError:
    used = {tab.sheet for _, tab in best.values()}
    names = [n for n in sheets if n != settings_sheet]
    blame = (next((n for n in names if normalise_header(n) in ROLE_NAMES[ACCOUNTS]), None)
             or next((n for n in names if n not in used), None))
    if blame is None:
        return BookError(f"No account table: the sheets ({', '.join(repr(n) for n in names)}) hold logs, but no "
                         f"sheet has one row per account. Add an Accounts sheet with an account column. "
                         f"Accepted: {accepted(ACCOUNTS, 'account_id')}.")
    return missing_columns_error(blame, ACCOUNTS, headers_of(sheets[blame], hidden.get(blame, set())),
                                 ["account_id"])
