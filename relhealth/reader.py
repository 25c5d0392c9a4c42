"""``read_book(sheets) -> Book``: find the account table, order log and event log by their headers, map the user's
headers to canonical columns by synonym, parse every cell forgivingly and record what could not be read.

A bad cell never stops the read: it becomes missing and one issue row names the sheet, the sheet's own row number,
the user's header, the raw value and the problem in plain words. Only a missing required column (or no account
table at all) stops it, with one ``BookError`` that lists the headers found and the names accepted.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import cells
from .book import Book, BookError, ISSUE_COLUMNS, empty_events, empty_issues, empty_orders
from .schema import ACCOUNTS, COLUMNS, EVENTS, ORDERS, REQUIRED, SETTINGS, normalise_header
from .settings import Settings
from .tables import (STRICT_NAMES, Table, as_grid, find_settings, frame_table, grid_table, headers_of,
                     map_columns, missing_columns_error, no_accounts_error, role_scores, totals_labels)

_COUNTS = ("order_count", "complaints_90d", "referrals")
_LOST_HEADERS = {"churned", "churn", "lost", "cancelled", "canceled", "closed"}


# ---------------------------------------------------------------------------------------------- rows and cells

def _parse_all(table: Table, role: str, settings: Settings) -> dict[str, cells.Parsed]:
    kinds = {c.name: c.kind for c in COLUMNS[role]}
    parsed = {}
    table.cut(table.mapping.values())
    for col, j in table.mapping.items():
        raw = table.raw(j)
        if col == "status":
            parsed[col] = cells.parse_status(raw, "Lost" if table.keys[j] in _LOST_HEADERS else "Active")
        else:
            parsed[col] = cells.parse_column(raw, kinds[col], date_order=settings.date_order)
    for col in _COUNTS:
        if col in parsed:
            values, problems = parsed[col].values.copy(), parsed[col].problems.copy()
            below = (values < 0).to_numpy()
            values[below], problems[below] = np.nan, "is below zero"
            parsed[col] = parsed[col]._replace(values=values, problems=problems)
    return parsed


def _is_totals_label(raw: pd.Series) -> np.ndarray:
    """A column of text only (names) is searched cell by cell, in one joined scan: cheaper than first finding its
    distinct labels. Any other column (dates, numbers, blanks) is searched once per distinct value."""
    values = raw.to_numpy()
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return totals_labels(values)
    codes, uniques = pd.factorize(values)     # an array: its uniques are read faster than an Index
    return np.append(totals_labels(uniques), False)[codes]


class _Ids:
    """The account id column, hashed once: each distinct id's answers are spread back by code."""

    def __init__(self, parsed: cells.Parsed):
        self.values = parsed.values
        self.missing = parsed.blank | parsed.problems.notna().to_numpy()
        self.codes, self.uniques = pd.factorize(parsed.values.to_numpy())

    def per_id(self, answers: np.ndarray) -> np.ndarray:
        return np.append(np.asarray(answers, dtype=bool), False)[self.codes]

    def totals_label(self) -> np.ndarray:
        return self.per_id(totals_labels(self.uniques))

    def repeated(self, rows: np.ndarray) -> np.ndarray:
        """Among ``rows``, those whose id an earlier one of them has (the codes of equal ids are equal)."""
        at = np.flatnonzero(rows & (self.codes >= 0))
        out = np.zeros(len(self.codes), dtype=bool)
        out[at] = pd.Series(self.codes[at], copy=False).duplicated(keep="first").to_numpy()
        return out


def _kept(values: pd.Series, keep: np.ndarray) -> pd.Series:
    """A parsed column's kept rows, for a new frame (which copies them once)."""
    array = values.to_numpy()
    return pd.Series(array if keep.all() else array[keep], dtype=values.dtype, copy=False)


def _skipped(table: Table, role: str, parsed: dict[str, cells.Parsed], ids: _Ids) -> tuple[np.ndarray, np.ndarray]:
    """(blank rows, totals rows): a totals row says Total/Sum, or has numbers with no account and nothing else."""
    n = len(table.rows)
    blank = np.logical_and.reduce([p.blank for p in parsed.values()]) if parsed else np.ones(n, bool)
    first = next((j for j in range(len(table.keys)) if j not in table.hidden), None)
    label_cols = {table.mapping.get("account_name", -1), first} - {-1, None, table.mapping["account_id"]}
    totals = ids.totals_label()
    for j in label_cols:
        totals |= _is_totals_label(table.raw(j))
    kinds = {c.name: c.kind for c in COLUMNS[role]}
    other = np.zeros(n, dtype=bool)
    for col, p in parsed.items():
        if kinds[col] not in ("money", "number", "percent"):
            other |= ~p.blank
    totals |= ~blank & ~other
    return blank, totals & ~blank


def _value_text(value: Any) -> str:
    """``cells.as_text``, with text (most bad cells) taken the short way."""
    return value.strip() if type(value) is str else cells.as_text(value)


_NO_ROW = 1 << 62      # sorts a whole-column issue (no row) after the rows


@dataclass
class _Issues:
    """One sheet's data issues, kept as columns (a column of #N/A adds thousands at once), sorted by row and then
    by the column's position when asked for."""

    sheet: str
    sort_rows: list[int] = field(default_factory=list)
    sort_columns: list[int] = field(default_factory=list)
    row: list[int | None] = field(default_factory=list)
    column: list[str] = field(default_factory=list)
    value: list[str] = field(default_factory=list)
    problem: list[str] = field(default_factory=list)

    def add(self, row: int | None, column: str, value: Any, problem: str, order: int = 0) -> None:
        self.sort_rows.append(_NO_ROW if row is None else row)
        self.sort_columns.append(order)
        self.row.append(None if row is None else int(row))
        self.column.append(column)
        self.value.append(_value_text(value))
        self.problem.append(problem)

    def cells(self, table: Table, parsed: dict[str, cells.Parsed], keep: np.ndarray, skip=()) -> None:
        for col, p in parsed.items():
            if col in skip:
                continue
            j = table.mapping[col]
            problems = p.problems.to_numpy()
            bad = np.flatnonzero(keep & pd.notna(problems))
            rows = table.rows[bad].tolist()
            self.sort_rows += rows
            self.sort_columns += [j] * len(bad)
            self.row += rows
            self.column += [table.headers[j]] * len(bad)
            self.value += [_value_text(v) for v in table.column(j)[bad]]
            self.problem += problems[bad].tolist()

    def sorted(self) -> dict[str, list]:
        """The issues as columns (``ISSUE_COLUMNS``), by row, then column; as added where both are the same."""
        order = np.lexsort((np.array(self.sort_columns, dtype=np.int64), np.array(self.sort_rows, dtype=np.int64)))
        columns = {"sheet": [self.sheet] * len(order)}
        for name in ISSUE_COLUMNS[1:]:
            found = getattr(self, name)
            columns[name] = [found[i] for i in order.tolist()]
        return columns


def _read_accounts(table: Table, settings: Settings) -> tuple[pd.DataFrame, dict[str, list], dict]:
    parsed = _parse_all(table, ACCOUNTS, settings)
    issues = _Issues(table.sheet)
    id_info = _Ids(parsed["account_id"])
    blank, totals = _skipped(table, ACCOUNTS, parsed, id_info)
    j_id = table.mapping["account_id"]
    ids = parsed["account_id"].values
    no_id = ~blank & ~totals & id_info.missing
    for i in np.flatnonzero(no_id):
        problem = parsed["account_id"].problems.iloc[i] or "is blank"
        issues.add(table.rows[i], table.headers[j_id], table.column(j_id)[i], f"{problem}; the row was left out", j_id)
    candidate = ~blank & ~totals & ~no_id
    dup = id_info.repeated(candidate)
    first_row = dict(zip(ids[candidate & ~dup], table.rows[candidate & ~dup])) if dup.any() else {}
    for i in np.flatnonzero(dup):
        issues.add(table.rows[i], table.headers[j_id], ids.iloc[i],
                   f"repeats an account id already on row {first_row[ids.iloc[i]]}; this row was left out", j_id)
    keep = candidate & ~dup
    issues.cells(table, parsed, keep, skip=("account_id",))
    frame = pd.DataFrame({c.name: _kept(parsed[c.name].values, keep) for c in COLUMNS[ACCOUNTS] if c.name in parsed})
    if "exec_sponsor" in frame:   # text or None (parse_text): each distinct name looked at once
        codes, names = pd.factorize(frame["exec_sponsor"])
        answers = np.array([_sponsor(v) for v in names] + [_sponsor(None)], dtype=object)
        frame["exec_sponsor"] = pd.Series(answers[codes], dtype=object)
    status = frame["status"] if "status" in frame else pd.Series(None, index=frame.index, dtype=object)
    status = status.where(status.notna(), "Active")
    if "lost_date" in frame:
        status = status.where(frame["lost_date"].isna(), "Lost")
    frame["status"] = status.astype(object)
    frame["source_row"] = table.rows[keep].astype(np.int64)
    meta = {"skipped_totals": [int(r) for r in table.rows[totals]], "notes": _notes(parsed)}
    return frame, issues.sorted(), meta


def _sponsor(value: object) -> object:
    """Exec sponsor holds a name, or only a flag: a yes becomes "Yes", a no becomes missing."""
    if value is None:
        return None
    key = normalise_header(value)
    if key in cells.TRUE_WORDS:
        return "Yes"
    return None if key in cells.FALSE_WORDS | {"", "no sponsor", "nobody"} else value


def _notes(parsed: dict[str, cells.Parsed]) -> dict[str, str]:
    return {col: p.note for col, p in parsed.items() if p.note}


_LOG = {ORDERS: ("order_date", "order line", "order lines"), EVENTS: ("event_date", "event", "events")}


def _id_key(ids: pd.Series) -> pd.Series:
    """Looser account id for matching log lines: case, spaces and leading zeros of numbers do not count."""
    key = ids.astype(str).str.upper().str.replace(r"\s+", "", regex=True)
    return key.where(~key.str.fullmatch(r"0+\d+"), key.str.lstrip("0"))


def _read_log(table: Table, role: str, settings: Settings, accounts: pd.DataFrame,
              accounts_sheet: str) -> tuple[pd.DataFrame, dict[str, list], dict]:
    date_col, one, many = _LOG[role]
    parsed = _parse_all(table, role, settings)
    issues = _Issues(table.sheet)
    id_info = _Ids(parsed["account_id"])
    blank, totals = _skipped(table, role, parsed, id_info)
    j_id = table.mapping["account_id"]
    ids = parsed["account_id"].values
    live = ~blank & ~totals
    no_id = live & id_info.missing
    for i in np.flatnonzero(no_id):
        problem = parsed["account_id"].problems.iloc[i] or "is blank"
        issues.add(table.rows[i], table.headers[j_id], table.column(j_id)[i], f"{problem}; the {one} was left out",
                   j_id)
    live &= ~no_id
    known = id_info.per_id(pd.Index(id_info.uniques, dtype=object).isin(accounts["account_id"]))
    loose = live & ~known
    if loose.any():       # second chance: "a-0001 " names A-0001
        lookup = dict(zip(_id_key(accounts["account_id"]), accounts["account_id"]))
        matched = _id_key(ids[loose]).map(lookup)
        ids = ids.copy()
        ids[loose] = matched.to_numpy()
        known = ids.notna().to_numpy() & live
    unknown = live & ~known
    if unknown.any():
        examples = pd.unique(parsed["account_id"].values[unknown])[:3]
        count = int(unknown.sum())
        noun, verb = (one, "names an account") if count == 1 else (many, "name accounts")
        issues.add(None, table.headers[j_id], ", ".join(examples),
                   f"{count:,} {noun} {verb} not in {accounts_sheet}, e.g. {examples[0]}; "
                   f"{'it was' if count == 1 else 'they were'} left out")
    live &= ~unknown
    required = [date_col] + (["event_type"] if role == EVENTS else [])
    for col in required:
        j = table.mapping[col]
        missing = live & parsed[col].values.isna().to_numpy()
        for i in np.flatnonzero(missing):
            problem = parsed[col].problems.iloc[i] or "is blank"
            issues.add(table.rows[i], table.headers[j], table.column(j)[i], f"{problem}; the {one} was left out", j)
        live &= ~missing
    issues.cells(table, parsed, live, skip=("account_id", *required))
    columns = empty_orders() if role == ORDERS else empty_events()
    frame = pd.DataFrame({"account_id": ids.to_numpy()[live].astype(object)})
    for col in columns.columns.drop(["account_id", "source_row"]):
        if col in parsed:
            frame[col] = _kept(parsed[col].values, live)
        else:
            frame[col] = pd.Series(np.nan if col == "amount" else None, index=frame.index,
                                   dtype=columns[col].dtype)
    frame["source_row"] = table.rows[live].astype(np.int64)
    frame = frame.astype(columns.dtypes.to_dict())
    meta = {"skipped_totals": [int(r) for r in table.rows[totals]], "notes": _notes(parsed),
            "left_out": int((~blank & ~totals & ~live).sum())}
    return frame, issues.sorted(), meta


# ---------------------------------------------------------------------------------------------- the book

def read_book(sheets: Mapping[str, Any], settings: Settings | None = None,
              hidden: Mapping[str, set[int]] | None = None) -> Book:
    """Read a workbook's sheets (name -> 2-D list of cell values, or DataFrame) into a canonical ``Book``.

    ``settings`` is the base that the book's own Settings sheet overrides; ``hidden`` gives per-sheet 0-based
    column indexes of hidden helper columns, which are never matched to a canonical column."""
    # The cyclic garbage collector would rescan the caller's millions of cell objects again and again while the
    # reader allocates (a third of the time on a 500,000-line log); nothing here makes reference cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_book(sheets, settings, hidden)
    finally:
        if was_enabled:
            gc.enable()


def _read_book(sheets: Mapping[str, Any], settings: Settings | None,
               hidden: Mapping[str, set[int]] | None) -> Book:
    if not sheets:
        raise BookError("The workbook has no sheets: nothing to read.")
    hidden = {name: set(cols) for name, cols in (hidden or {}).items()}
    settings = settings or Settings()
    found = find_settings(sheets, hidden)
    settings_sheet, setting_rows = found if found else (None, [])
    setting_issues: list[dict] = []
    if found:
        settings, setting_issues = Settings.from_rows(setting_rows, base=settings)
        setting_issues = [{**i, "sheet": settings_sheet} for i in setting_issues]
    extra = {normalise_header(h) for h in settings.column_overrides.values()}
    candidates = []
    for order, (name, value) in enumerate(sheets.items()):
        if name == settings_sheet:
            continue
        skip = hidden.get(name, set())
        table = (frame_table(name, value, skip, extra) if isinstance(value, pd.DataFrame)
                 else grid_table(name, as_grid(value), skip, extra))
        scores = role_scores(table, settings) if table else {}
        strict = next((r for r, names in STRICT_NAMES.items() if normalise_header(name) in names), None)
        if strict and strict not in scores and headers_of(value, skip):
            mapping = map_columns(table, strict, settings) if table else {}
            raise missing_columns_error(name, strict, headers_of(value, skip),
                                        [c for c in REQUIRED[strict] if c not in mapping])
        candidates += [(-score, order, role, table, mapping) for role, (score, mapping) in scores.items()]
    best: dict[str, tuple[float, Table]] = {}         # best fit first; a sheet plays one role, a role one sheet
    for neg_score, _, role, table, mapping in sorted(candidates, key=lambda c: c[:2]):
        if role not in best and all(t is not table for _, t in best.values()):
            table.mapping = mapping
            best[role] = (-neg_score, table)
    used = {t.sheet for _, t in best.values()}
    ignored = [name for name in sheets if name != settings_sheet and name not in used]
    if ACCOUNTS not in best:
        raise no_accounts_error(sheets, hidden, settings_sheet, best)
    table = best[ACCOUNTS][1]
    accounts, found_issues, meta = _read_accounts(table, settings)
    sheet_issues = [found_issues]
    frames = {ACCOUNTS: (accounts, table, meta)}
    for role in (ORDERS, EVENTS):
        if role in best:
            frame, found_issues, meta = _read_log(best[role][1], role, settings, accounts, table.sheet)
            sheet_issues.append(found_issues)
            frames[role] = (frame, best[role][1], meta)
    setting_issues += _override_issues(settings, setting_rows, settings_sheet, frames)
    issues = [{c: [_value_text(i[c]) if c == "value" else i[c] for i in setting_issues] for c in ISSUE_COLUMNS},
              *sheet_issues]
    for role, (frame, tab, meta) in frames.items():
        frame.attrs.update(sheet=tab.sheet, header_row=tab.header_row, **meta,
                           header_map={c.name: tab.headers[tab.mapping[c.name]] for c in COLUMNS[role]
                                       if c.name in tab.mapping})
    accounts.attrs["book"] = {"settings_sheet": settings_sheet, "ignored_sheets": ignored,
                              "sheets": {role: tab.sheet for role, (_, tab, _) in frames.items()}}
    issue_frame = empty_issues()
    if any(part["sheet"] for part in issues):       # issues as columns, one part a sheet
        issue_frame = pd.DataFrame({c: pd.Series([v for part in issues for v in part[c]], dtype=object)
                                    for c in ISSUE_COLUMNS})
    return Book(accounts=accounts, orders=frames[ORDERS][0] if ORDERS in frames else empty_orders(),
                events=frames[EVENTS][0] if EVENTS in frames else empty_events(), settings=settings,
                issues=issue_frame)


def _override_issues(settings, setting_rows, settings_sheet, frames) -> list[dict]:
    issues = []
    for (where, col), header in settings.column_overrides.items():
        row = next((r for r, key, _ in setting_rows if normalise_header(key).startswith("column")
                    and normalise_header(key).endswith(normalise_header(col.replace("_", " ")))), None)
        issue = {"sheet": settings_sheet or SETTINGS, "row": row, "column": "Value", "value": header}
        match = [(role, tab) for role, (_, tab, _) in frames.items()
                 if normalise_header(where) in (normalise_header(role), normalise_header(tab.sheet))]
        if not match:
            continue
        role, tab = match[0]
        if col not in {c.name for c in COLUMNS[role]}:
            names = ", ".join(c.name for c in COLUMNS[role])
            issues.append({**issue, "column": "Setting", "value": f"column {where} {col}",
                           "problem": f"names no column of {role} this add-in knows ({names}); it was ignored"})
        elif normalise_header(header) not in tab.keys:
            issues.append({**issue, "problem": f"is not a header on sheet {tab.sheet} (for {col}); "
                                               "the usual names were used instead"})
    return issues


def describe_book(book: Book) -> str:
    """A short human summary: the shape, what was read from which sheet and header, and the first data issues."""
    meta = book.accounts.attrs.get("book", {})
    lines = [f"Book: {book.shape_name}"]
    for role, frame, noun in ((ACCOUNTS, book.accounts, "accounts"), (ORDERS, book.orders, "order lines"),
                              (EVENTS, book.events, "events")):
        if "sheet" not in frame.attrs:
            lines.append(f"{role}: none found")
            continue
        a = frame.attrs
        noun = noun if len(frame) != 1 else noun.replace("lines", "line").rstrip("s")
        text = f'{role}: {len(frame):,} {noun} from sheet "{a["sheet"]}" (headers on row {a["header_row"]})'
        if role == ACCOUNTS and "status" in frame:
            text += f"; {int((frame['status'] == 'Lost').sum()):,} lost"
        date_col = {ORDERS: "order_date", EVENTS: "event_date"}.get(role)
        if date_col and len(frame):
            text += f", {frame[date_col].min():%Y-%m-%d} to {frame[date_col].max():%Y-%m-%d}"
        if a.get("left_out"):
            text += f"; {a['left_out']:,} lines left out (see data issues)"
        if a.get("skipped_totals"):
            text += f"; totals row skipped (row {', '.join(map(str, a['skipped_totals']))})"
        lines.append(text)
        notes = a.get("notes", {})
        lines.append("  columns: " + ", ".join(f'{col} <- "{header}"' + (f" ({notes[col]})" if col in notes else "")
                                               for col, header in a["header_map"].items()))
    settings_sheet = meta.get("settings_sheet")
    lines.append(f'Settings: sheet "{settings_sheet}"{_changed_settings(book.settings)}' if settings_sheet
                 else f"Settings: defaults (no Settings sheet){_changed_settings(book.settings)}")
    if meta.get("ignored_sheets"):
        lines.append("Ignored sheets: " + ", ".join(f'"{n}"' for n in meta["ignored_sheets"]))
    lines.append(f"Data issues: {len(book.issues):,}")
    for issue in book.issues.head(8).itertuples():
        where = f"{issue.sheet} row {issue.row}" if pd.notna(issue.row) else issue.sheet
        lines.append(f'  {where}, "{issue.column}": "{issue.value}" {issue.problem}')
    if len(book.issues) > 8:
        lines.append(f"  ... and {len(book.issues) - 8:,} more")
    return "\n".join(lines)


def _changed_settings(settings: Settings) -> str:
    """" (date_order DMY, 1 column override)": the settings that differ from the defaults."""
    default = Settings()
    changed = [f"{f.name} {getattr(settings, f.name)}" for f in fields(Settings)
               if f.name not in ("event_odds", "windows", "column_overrides")
               and getattr(settings, f.name) != getattr(default, f.name)]
    for name, noun in (("column_overrides", "column override"), ("event_odds", "event effect"),
                       ("windows", "seasonal window")):
        count = sum(1 for k, v in getattr(settings, name).items() if getattr(default, name).get(k) != v)
        if count:
            changed.append(f"{count} {noun}{'s' if count > 1 else ''}")
    return f" ({', '.join(changed)})" if changed else ""
