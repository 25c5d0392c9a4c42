"""Argument conversion and the content cache behind every Excel function.

xlwings hands each argument over with the ``raw`` converter: whatever the runtime sent, untouched. That is a
scalar for one cell; a tuple of tuples (classic, COM) or a list of lists (Office.js: xlwings Server and Lite) for
a range. Dates arrive as Excel serial numbers (Office.js) or as datetimes (classic, sometimes tz-aware); error
cells as ``{"type": "Error", "basicValue": "#N/A"}`` (Office.js) or as COM error codes (classic). ``matrix``
turns all of that into one plain 2-D list the reader understands, once per distinct input: ``computation``
keys an LRU cache by the *content* of the raw arguments, so hundreds of single-row formulas over the same table
cost one read and one engine run.

Nothing here scores anything: the engine does (``relhealth.reader.read_book`` then the ``relhealth`` analyses).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import marshal
import pickle
import re
import threading
from collections import OrderedDict
from functools import cached_property
from typing import Any, Callable

from relhealth import schema

try:  # Pyodide >= 0.28 (xlwings Lite) may hand empty cells over as its JsNull sentinel
    from pyodide.ffi import JsNull as _JsNull  # type: ignore[import-not-found]
except ImportError:  # CPython: classic and xlwings Server
    _JsNull = None

CACHE_SIZE = 4

# Classic xlwings with the raw converter passes error cells as these COM error codes.
COM_ERRORS = {-2146826281: "#DIV/0!", -2146826246: "#N/A", -2146826259: "#NAME?", -2146826288: "#NULL!",
              -2146826252: "#NUM!", -2146826265: "#REF!", -2146826273: "#VALUE!", -2146826245: "#GETTING_DATA"}
_PLAIN = frozenset({str, float, int, bool, type(None)})


class CallError(ValueError):
    """A problem with the whole call (wrong kind of range, no account column, bad settings): one message."""


# ---------------------------------------------------------------------------------------------------- cells

def _clean_cell(value: Any) -> Any:
    """One cell the way the reader expects it: None for empty, '#N/A' text for an error, naive datetimes."""
    if value is None or (value.__class__ is str and value == ""):
        return None
    cls = value.__class__
    if cls is dict:  # Office.js: an error cell or a formatted/data-type value
        if value.get("type") == "Error":
            return str(value.get("basicValue") or "#VALUE!")
        return _clean_cell(value.get("basicValue"))
    if cls is int and value in COM_ERRORS:
        return COM_ERRORS[value]
    if isinstance(value, dt.datetime):  # pywintypes datetimes carry a UTC tzinfo
        return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                           value.microsecond)
    if _JsNull is not None and isinstance(value, _JsNull):
        return None
    return value


def matrix(value: Any) -> list[list[Any]] | None:
    """A raw argument as a clean 2-D list (None when the argument was left out)."""
    if value is None or (_JsNull is not None and isinstance(value, _JsNull)):
        return None
    if not isinstance(value, (list, tuple)):
        return [[_clean_cell(value)]]
    if not value:
        return None
    rows = value if isinstance(value[0], (list, tuple)) else [value]
    if isinstance(value, list):  # Office.js (JSON): plain values, "" for empty, dicts for errors/data types
        kinds = set(map(type, itertools.chain.from_iterable(rows)))  # one C-level pass over the cells
        if kinds <= _PLAIN:  # the common case: nothing to change ("" is blank to the reader), no copy
            return rows
    return [[_clean_cell(c) for c in row] for row in rows]  # classic (COM tuples): error codes, tz-aware dates


def scalar(value: Any) -> Any:
    """A 1x1 range or a plain value as one clean value (None when empty)."""
    while isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (list, tuple)):
        return value
    return _clean_cell(value)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def number_text(value: Any) -> str:
    """How a cell value is quoted in a message: 1200.0 -> 1200."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    return str(value)


def account_key(value: Any) -> str:
    """The text an account id is matched by: 1001.0 and ' 1001' both give '1001'; case-insensitive."""
    return number_text(value).strip().casefold()


# ---------------------------------------------------------------------------------------------- options

def horizon(value: Any, name: str) -> int | None:
    value = scalar(value)
    if is_blank(value):
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        number = -1.0
    if isinstance(value, bool) or not number.is_integer() or number < 1:
        raise CallError(f"{name}: horizon_days should be a whole number of days, like 180; got "
                        f'"{number_text(value)}"')
    return int(number)


def as_of_date(value: Any, name: str) -> dt.date | None:
    """An as-of date from a serial number (Office.js), a datetime (classic) or ISO text."""
    value = scalar(value)
    if is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value < 2958466:
        return (dt.datetime(1899, 12, 30) + dt.timedelta(days=float(value))).date()
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise CallError(f'{name}: as_of should be a date (a date cell, or text like 2026-10-31); got '
                        f'"{number_text(value)}"') from None


def settings_pairs(rows: list[list[Any]] | None, name: str) -> tuple[list[tuple[Any, Any]], list[int]]:
    """(setting, value) pairs from a Setting / Value [/ Note] range (a header row is optional), and the range row
    number (1-based) each pair came from."""
    if rows is None:
        return [], []
    if len(rows[0]) < 2:
        raise CallError(f"{name}: the settings range should have two columns, Setting and Value (like the "
                        f"Settings sheet, e.g. Settings!A1:C40); got {len(rows[0])} column")
    numbered = [(index + 1, row[0], row[1]) for index, row in enumerate(rows) if not is_blank(row[0])]
    if numbered and schema.normalise_header(numbered[0][1]) == "setting":
        numbered = numbered[1:]
    return [(key, value) for _, key, value in numbered], [number for number, _, _ in numbered]


_KEPT = re.compile(r"; (the default was kept|it was ignored|defaults kept)$")


def build_settings(rows: list[list[Any]] | None, horizon_days: int | None, as_of: dt.date | None, name: str):
    """Settings from the settings range plus the horizon/as-of arguments; a bad setting stops the call (a
    silently kept default would be a silent wrong number)."""
    from relhealth.settings import Settings

    pairs, numbers = settings_pairs(rows, name)
    settings, issues = Settings.from_rows(pairs)
    if issues:
        first = issues[0]
        index = first["row"] - 2 if isinstance(first.get("row"), int) else None
        where = f" (row {numbers[index]} of the settings range)" if index is not None and 0 <= index < len(
            numbers) else ""
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        problem = _KEPT.sub("", str(first["problem"]))
        raise CallError(f'{name}: setting "{number_text(first["value"])}" {problem}{where}{more}; '
                        "fix the settings range")
    changes = {}
    if horizon_days is not None:
        changes["horizon_days"] = horizon_days
    if as_of is not None:
        changes["as_of"] = as_of
    return settings.with_(**changes) if changes else settings


# --------------------------------------------------------------------------------------------- headers

def header_index(rows: list[list[Any]], columns: tuple[schema.Column, ...]) -> int:
    """0-based index of the header row: the first row naming an account column, else the first non-blank row."""
    id_names = set(next(c for c in columns if c.name == "account_id").synonyms)
    id_keys = {schema.normalise_header(s) for s in id_names}
    first_filled = None
    for index, row in enumerate(rows[:50]):
        if first_filled is None and not all(is_blank(c) for c in row):
            first_filled = index
        if any(schema.normalise_header(c) in id_keys for c in row if isinstance(c, str)):
            return index
    return first_filled or 0


def canonical_names(header: list[Any], columns: tuple[schema.Column, ...], sheet: str,
                    overrides: dict) -> dict[str, str]:
    """User header -> canonical column name, by the schema's synonyms (and the settings' column overrides)."""
    by_key: dict[str, str] = {}
    for column in columns:
        for synonym in column.synonyms:
            by_key.setdefault(schema.normalise_header(synonym), column.name)
    for (over_sheet, col), user in overrides.items():
        if over_sheet == sheet:
            by_key[schema.normalise_header(user)] = col
    return {str(h): by_key[schema.normalise_header(h)] for h in header
            if not is_blank(h) and schema.normalise_header(h) in by_key}


# ------------------------------------------------------------------------------------------------ cache

def content_key(*parts: Any) -> bytes:
    """A digest of the raw arguments' content: exact types and values (1, 1.0 and TRUE differ)."""
    try:
        # Office.js payloads hold str/float/int/bool/None/dict only. Marshal version 0: from version 1 on, bytes
        # depend on object identity (interned strings, back-references for shared objects), not only content.
        data = marshal.dumps(parts, 0)
    except ValueError:  # datetimes (classic, fresh objects from COM on every call) and other objects
        data = pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.blake2b(data, digest_size=20).digest()


class Computation:
    """One read of the inputs and, computed when first asked for, each engine table. Cached by content."""

    def __init__(self, book: Any, accounts: list[list[Any]], header_row: int, orders: list[list[Any]] | None,
                 events: list[list[Any]] | None):
        self.book = book
        self.header_row = header_row              # 0-based index in the accounts matrix
        self.data_rows = len(accounts) - header_row - 1
        self._raw = {"Accounts": accounts, "Orders": orders, "Events": events}
        self._memo: dict[Any, Any] = {}

    # engine tables, each computed once (the same calls as relhealth.health.assess, but only those needed)
    @cached_property
    def risk(self):
        from relhealth import risk
        return risk.BookRisk(self.book)

    @cached_property
    def risk_numbers(self):
        """Risk, band and expected purchases without the drivers' words (what CHURN_RISK and RISK_BAND show)."""
        return self.risk.scores(explain=False)

    @cached_property
    def scores(self):
        return self.risk.scores(explain=True)

    @cached_property
    def tiers(self):
        from relhealth import tiers
        return tiers.loyalty_tiers(self.book, self.risk_numbers)

    @cached_property
    def planner(self):
        from relhealth import planner
        return planner.winback_plan(self.book, self.scores, self.tiers)

    @cached_property
    def seasonality(self):
        from relhealth import seasonality
        return seasonality.breakup_seasonality(self.book)

    @cached_property
    def triggers(self):
        from relhealth import triggers
        return triggers.trigger_lift(self.book)

    @cached_property
    def complaint_steps(self):
        from relhealth import triggers
        return triggers.complaint_steps(self.book)

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """Anything derived from this computation (per-function outputs, lookups), built once."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def is_blank_row(self, index: int) -> bool:
        """Whether data row ``index`` (0-based below the header) is blank: asked only for the few rows that gave
        no account, so the other rows are never looked at."""
        return all(is_blank(c) for c in self._raw["Accounts"][self.header_row + 1 + index])

    # where a book row came from, and which account a log row belongs to
    def output_index(self, source_row: int) -> int:
        """Accounts' ``source_row`` (1-based sheet row of the matrix) -> index among the data rows."""
        return int(source_row) - self.header_row - 2

    @cached_property
    def log_accounts(self) -> dict[tuple[str, int], str]:
        """(sheet, row) -> account key, for the order and event logs, so a bad log cell finds its account."""
        from relhealth.schema import EVENT_COLUMNS, ORDER_COLUMNS

        found: dict[tuple[str, int], str] = {}
        for sheet, columns in (("Orders", ORDER_COLUMNS), ("Events", EVENT_COLUMNS)):
            rows = self._raw[sheet]
            if not rows:
                continue
            top = header_index(rows, columns)
            names = canonical_names(rows[top], columns, sheet, dict(self.book.settings.column_overrides))
            id_cols = [i for i, h in enumerate(rows[top]) if names.get(str(h)) == "account_id"]
            if not id_cols:
                continue
            for index in range(top + 1, len(rows)):
                value = rows[index][id_cols[0]]
                if not is_blank(value):
                    found[(sheet, index + 1)] = account_key(value)
        return found

    @cached_property
    def header_names(self) -> dict[str, dict[str, str]]:
        """Per sheet: user header -> canonical name (for deciding which issues make a number untrustworthy)."""
        from relhealth.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, ORDER_COLUMNS

        overrides = dict(self.book.settings.column_overrides)
        result = {}
        for sheet, columns in (("Accounts", ACCOUNT_COLUMNS), ("Orders", ORDER_COLUMNS), ("Events", EVENT_COLUMNS)):
            rows = self._raw[sheet]
            if rows:
                top = self.header_row if sheet == "Accounts" else header_index(rows, columns)
                result[sheet] = canonical_names(rows[top], columns, sheet, overrides)
        return result


class ContentCache:
    """A small LRU of Computations keyed by the content of the raw arguments."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._entries: OrderedDict[bytes, Computation] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = self.misses = 0

    def get(self, key: bytes, build: Callable[[], Computation]) -> Computation:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        computation = build()  # outside the lock: a slow read must not block other workbooks
        with self._lock:
            self.misses += 1
            self._entries[key] = computation
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return computation

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


CACHE = ContentCache()


def computation(name: str, accounts: Any, orders: Any = None, events: Any = None, settings: Any = None,
                horizon_days: Any = None, as_of: Any = None) -> Computation:
    """The (cached) read of one set of inputs. Raises CallError for a problem with the whole call."""
    key = content_key(accounts, orders, events, settings, scalar(horizon_days), scalar(as_of))
    return CACHE.get(key, lambda: _build(name, accounts, orders, events, settings, horizon_days, as_of))


def _build(name, accounts, orders, events, settings, horizon_days, as_of) -> Computation:
    from relhealth.book import BookError
    from relhealth.reader import read_book
    from relhealth.schema import ACCOUNT_COLUMNS

    table = matrix(accounts)
    if table is None or (len(table) == 1 and len(table[0]) == 1):
        raise CallError(f"{name}: expected the account table with its header row, e.g. Accounts!A1:M601 or "
                        "Table1[#All]; got " + ("nothing" if table is None else "a single cell"))
    order_rows, event_rows, settings_rows = matrix(orders), matrix(events), matrix(settings)
    logs = (("orders", order_rows, "Orders!A1:C5000"), ("events", event_rows, "Events!A1:D800"))
    for label, rows, example in logs:
        if rows is not None and len(rows) < 2:
            raise CallError(f"{name}: expected the {label} log with its header row, e.g. {example}; got one row")
    book_settings = build_settings(settings_rows, horizon(horizon_days, name), as_of_date(as_of, name), name)
    top = header_index(table, ACCOUNT_COLUMNS)
    if top == len(table) - 1:
        raise CallError(f"{name}: the account table has a header row but no data rows below it")
    sheets = {"Accounts": table}
    if order_rows is not None:
        sheets["Orders"] = order_rows
    if event_rows is not None:
        sheets["Events"] = event_rows
    try:
        book = read_book(sheets, settings=book_settings)
    except BookError as exc:
        raise CallError(f"{name}: {exc}") from None
    return Computation(book, table, top, order_rows, event_rows)
