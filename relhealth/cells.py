"""A column of raw cell values -> dates / money / numbers / percentages / flags / status / event codes.

Every parser takes a pandas Series of whatever the workbook gave (numbers, datetimes, text, None, Excel error
strings) and returns a ``Parsed``: the parsed values, a per-row problem in plain words ("is not a date") or None,
and which cells were blank. Blank cells become missing silently; Excel errors (#N/A, #REF!, ...) become missing
with a problem; nothing raises for a cell.

Speed: a column is split by cell type once; numbers and real datetimes convert in one vectorised step; text is
factorised first, so each distinct text is parsed once (an order log of 500,000 lines has a few thousand
distinct dates), with explicit-format ``pd.to_datetime`` passes and a per-value fallback only for leftovers.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from .datetext import FIRST_DAY, LAST_DAY, NAT, ORDER_WORDS, serials, text_dates
from .schema import normalise_event, normalise_header

EXCEL_ERRORS = frozenset({"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#GETTING_DATA",
                          "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#CONNECT!", "#BUSY!"})
# Typed stand-ins for "nothing here": read as missing without a problem (a lone dash is 0 in a money column).
NULL_WORDS = frozenset({"n/a", "na", "none", "null", "nil", "-", "--", "---", "\u2013", "\u2014"})
DASHES = frozenset({"-", "--", "---", "\u2013", "\u2014"})
TRUE_WORDS = frozenset({"y", "yes", "true", "t", "1", "x", "on", "\u2713", "\u2714"})
FALSE_WORDS = frozenset({"n", "no", "false", "f", "0", "off", "-", "none"})
ACTIVE_WORDS = frozenset({"active", "current", "live", "customer", "open", "ongoing", "retained", "renewed",
                          "existing", "won", "closed won"})
LOST_WORDS = frozenset({"lost", "churned", "churn", "closed", "cancelled", "canceled", "inactive", "terminated",
                        "ended", "former", "lapsed", "left", "gone", "closed lost", "not renewed", "non renewed",
                        "defected", "attrited"})

MISSING, NUMBER, DATE, BOOL, TEXT, ERROR, TIME = range(7)
_KIND_OF = {type(None): MISSING, type(pd.NaT): MISSING, str: TEXT, np.str_: TEXT, bool: BOOL, np.bool_: BOOL,
            dt.datetime: DATE, dt.date: DATE, pd.Timestamp: DATE, np.datetime64: DATE, dt.time: TIME,
            **{t: NUMBER for t in (int, float, np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32,
                                   np.uint16, np.uint8, np.float64, np.float32)}}
_TYPE_OF = np.frompyfunc(type, 1, 1)
_UNIFORM = {"string": TEXT, "floating": NUMBER, "integer": NUMBER, "mixed-integer-float": NUMBER,
            "datetime": DATE, "datetime64": DATE, "date": DATE, "boolean": BOOL, "time": TIME, "empty": MISSING}


class Parsed(NamedTuple):
    values: pd.Series          # parsed values, missing where blank or bad
    problems: pd.Series        # object: None where fine (or blank), else "is not a date"-style words
    blank: np.ndarray          # bool: the cell was empty (None, "", whitespace)
    note: str = ""             # column-level remark, e.g. "dates read day/month/year"


class _Cells(NamedTuple):
    index: pd.Index
    obj: np.ndarray            # raw values as objects
    kind: np.ndarray           # int8 per row: MISSING, NUMBER, DATE, BOOL, TEXT, ERROR, TIME
    codes: np.ndarray          # per row: index into ``texts`` for TEXT rows, -1 otherwise
    texts: np.ndarray          # distinct stripped texts
    floats: np.ndarray | None = None   # the NUMBER rows' values as float, in row order, when already converted

    def numbers(self) -> np.ndarray:
        """The NUMBER rows' values as float."""
        return self.floats if self.floats is not None else self.obj[self.kind == NUMBER].astype(float)


def _split(raw: pd.Series) -> _Cells:
    """Sort every cell of the column by type; text is factorised and stripped once per distinct value."""
    raw = pd.Series(raw) if not isinstance(raw, pd.Series) else raw
    n = len(raw)
    codes = np.full(n, -1, dtype=np.int64)
    if n and pd.api.types.is_bool_dtype(raw.dtype) and raw.dtype != object:
        kind = np.where(raw.isna().to_numpy(), MISSING, BOOL).astype(np.int8)
        return _Cells(raw.index, raw.astype(object).to_numpy(), kind, codes, np.array([], dtype=object))
    if pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_datetime64_any_dtype(raw.dtype):
        filled = NUMBER if pd.api.types.is_numeric_dtype(raw.dtype) else DATE
        kind = np.where(raw.isna().to_numpy(), MISSING, filled).astype(np.int8)
        return _Cells(raw.index, raw.to_numpy(), kind, codes, np.array([], dtype=object))
    values = raw.astype(object).to_numpy()
    uniform = _UNIFORM.get(pd.api.types.infer_dtype(values, skipna=True))   # one C pass: all one type?
    if uniform is None:
        split = _numbers_and_texts(values)
        if split is not None:
            return _Cells(raw.index, values, *split)
    if uniform == TEXT:        # text and blanks only: one hash pass finds the distinct texts and the blanks
        all_codes, all_texts = pd.factorize(values)
        kind = np.where(all_codes < 0, MISSING, TEXT).astype(np.int8)
    elif uniform is not None:
        kind = np.where(pd.isna(values), MISSING, uniform).astype(np.int8)
    else:                      # mixed: each cell's type in one C pass, then the few distinct types looked up
        type_codes, types = pd.factorize(_TYPE_OF(values).astype(object))
        kind = np.array([_KIND_OF.get(t, TEXT) for t in types], dtype=np.int8)[type_codes]
    numbers = np.flatnonzero(kind == NUMBER)
    floats = None
    if len(numbers):
        floats = values[numbers].astype(float)
        nan = np.isnan(floats)
        kind[numbers[nan]] = MISSING
        floats = floats[~nan] if nan.any() else floats       # kept for the parsers: converted once
    is_text = kind == TEXT
    texts = np.array([], dtype=object)
    if is_text.any():
        sub_codes, uniques = (all_codes[is_text], all_texts) if uniform == TEXT else pd.factorize(values[is_text])
        texts = (_stripped(uniques) if uniform == TEXT       # all str already
                 else np.fromiter((str(u).strip() for u in uniques), dtype=object, count=len(uniques)))
        kind[is_text] = _text_kinds(texts)[sub_codes]
        codes[is_text] = sub_codes
    return _Cells(raw.index, values, kind, codes, texts, floats)


def _stripped(texts) -> np.ndarray:
    """Distinct texts (str) stripped, as a 1-D object array."""
    return np.fromiter(map(str.strip, texts), dtype=object, count=len(texts))


def _text_kinds(texts: np.ndarray) -> np.ndarray:
    """Per distinct stripped text: MISSING (empty), ERROR (#N/A and the like) or TEXT."""
    error = np.zeros(len(texts), dtype=bool)
    if "#" in "".join(texts):      # Excel errors all start with "#": most columns hold none at all
        error = np.array([t[:1] == "#" and t.upper() in EXCEL_ERRORS for t in texts], dtype=bool)
    return np.where(texts == "", MISSING, np.where(error, ERROR, TEXT)).astype(np.int8)


_PLAIN_NUMBERS = frozenset({int, float})
_PLAIN_CELLS = frozenset({str, int, float, type(None)})
_PROBE, _FEW = 100, 4       # the first cells looked at: at most a quarter of them distinct means many repeats


def _numbers_and_texts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(kind, codes, texts) of a column that mixes only text, int and float cells and blanks (what Excel sends),
    from one hash pass over the cells with each distinct value's type looked at once; None for any other mix, and
    for a column of mostly distinct values (amounts, dates), where hashing every number costs more than it saves
    (the first cells tell which: a column is rarely one kind above and another below).

    A distinct number may stand for equal cells of other types (True == 1, numpy numbers), and a missing one for
    any of pandas' missing values: those cells' own types are checked, so such columns take the general way."""
    probe = values[:_PROBE]
    if not set(map(type, probe)) <= _PLAIN_CELLS or len(pd.unique(probe)) > len(probe) // _FEW:
        return None
    all_codes, uniques = pd.factorize(values)
    types = _TYPE_OF(uniques)
    is_text = types == str
    is_number = (types == float) | (types == int)
    if not (is_text | is_number).all():
        return None
    number_cells = np.append(is_number, False)[all_codes]
    if number_cells.any() and not set(map(type, values[number_cells])) <= _PLAIN_NUMBERS:
        return None
    missing = all_codes < 0
    if missing.any() and not set(map(type, values[missing])) <= {type(None), float}:
        return None
    text_at = np.flatnonzero(is_text)
    texts = _stripped(uniques[text_at])
    unique_kind = np.full(len(uniques) + 1, MISSING, dtype=np.int8)      # the last: blank cells (code -1)
    unique_kind[np.flatnonzero(is_number)] = NUMBER
    unique_kind[text_at] = _text_kinds(texts)
    text_code = np.full(len(uniques) + 1, -1, dtype=np.int64)
    text_code[text_at] = np.arange(len(text_at))
    return unique_kind[all_codes], text_code[all_codes], texts


def _problems(cells: _Cells) -> np.ndarray:
    """None per row, or the Excel error's words: worded once per distinct error text (a column of #N/A has one)."""
    out = np.full(len(cells.kind), None, dtype=object)
    errors = np.flatnonzero(cells.kind == ERROR)
    if len(errors):
        codes = cells.codes[errors]
        words = np.full(len(cells.texts), None, dtype=object)
        for code in np.unique(codes):
            words[code] = f"is an Excel error ({cells.texts[code].upper()})"
        out[errors] = words[codes]
    return out


def _from_texts(cells: _Cells, per_text: np.ndarray, out: np.ndarray) -> None:
    """Spread a result computed once per distinct text back onto the TEXT rows."""
    rows = cells.kind == TEXT
    if rows.any():
        out[rows] = per_text[cells.codes[rows]]


def _finish(cells: _Cells, values: np.ndarray, problems: np.ndarray, note: str = "", dtype=None) -> Parsed:
    series = pd.Series(values, index=cells.index, dtype=dtype, copy=False)
    return Parsed(series, pd.Series(problems, index=cells.index, dtype=object, copy=False), cells.kind == MISSING,
                  note)


def _is_null_word(texts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(texts), dtype=bool)
    short = np.flatnonzero(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) <= 4)  # none is longer
    out[short] = [texts[i].lower() in NULL_WORDS for i in short]
    return out


# ---------------------------------------------------------------------------------------------- dates

def parse_dates(raw: pd.Series, order: str = "auto") -> Parsed:
    """Dates from serial numbers, real dates and text; ``order`` auto | MDY | DMY | YMD for ambiguous text.

    Times of day are dropped: the engine counts in days.
    """
    cells = _split(raw)
    values = np.full(len(cells.kind), NAT)
    problems = _problems(cells)
    rows = cells.kind == NUMBER
    if rows.any():
        values[rows] = serials(cells.numbers())
        problems[rows & np.isnat(values)] = "is not a date"
    rows = cells.kind == DATE
    if rows.any():
        values[rows] = _real_dates(cells.obj[rows])
        problems[rows & np.isnat(values)] = "is not a plausible date"
    problems[cells.kind == BOOL] = "is not a date"
    problems[cells.kind == TIME] = "is a time of day, not a date"
    note = ""
    if len(cells.texts):
        weights = np.bincount(cells.codes[cells.codes >= 0], minlength=len(cells.texts))
        # blanks and Excel errors among the texts are settled already: only the rest is worth reading
        wanted = np.zeros(len(cells.texts), dtype=bool)
        wanted[cells.codes[cells.kind == TEXT]] = True
        text_values, text_problems, used = text_dates(cells.texts, order, weights,
                                                      wanted & ~_is_null_word(cells.texts))
        _from_texts(cells, text_values, values)
        _from_texts(cells, text_problems, problems)
        note = f"dates read {ORDER_WORDS[used]}" if used else ""
    implausible = ~np.isnat(values) & ((values < FIRST_DAY) | (values > LAST_DAY))
    problems[implausible] = "is not a plausible date (before 1900 or after 2199)"
    values[implausible] = NAT
    values = values.astype("datetime64[D]").astype("datetime64[ns]")
    return _finish(cells, values, problems, note, dtype="datetime64[ns]")


def _real_dates(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]")
    try:
        parsed = pd.to_datetime(pd.Series(values, dtype=object, copy=False), errors="coerce", cache=False)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        return parsed.to_numpy(dtype="datetime64[ns]")
    except (ValueError, TypeError, OverflowError):    # mixed time zones, far-off years: one by one
        out = np.full(len(values), NAT)
        for i, v in enumerate(values):
            try:
                out[i] = np.datetime64(pd.Timestamp(v).tz_localize(None) if pd.Timestamp(v).tz else pd.Timestamp(v),
                                       "ns")
            except (ValueError, TypeError, OverflowError):
                pass
        return out


# ---------------------------------------------------------------------------------------------- numbers

_CURRENCY = (r"(?:us\$|a\$|c\$|nz\$|usd|eur|gbp|cad|aud|chf|jpy|inr|nzd|sek|nok|dkk|zar|sgd|hkd"
             r"|[$\u20ac\u00a3\u00a5\u20b9])")
_DECORATED = re.compile(rf"""(?P<open>[-(+])?\s*{_CURRENCY}?\s*(?P<inner>[-(])?\s*{_CURRENCY}?\s*
    (?P<body>\d[\d,.'\s\u00a0]*|[.,]\d+)\s*(?P<suffix>k|mm|mn|m|bn|b)?\s*(?P<pct>%)?\s*{_CURRENCY}?\s*
    (?P<close>[)-])?""", re.IGNORECASE | re.VERBOSE)
_US_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d+)?")
_EU_NUMBER = re.compile(r"(?:\d{1,3}(?:\.\d{3})+|\d*)(?:,\d+)?")
_SUFFIX = {"k": 1e3, "m": 1e6, "mm": 1e6, "mn": 1e6, "bn": 1e9, "b": 1e9}


# "$12,300", "1,234.50": what _one_number makes of them, read without its pattern (most money texts look so)
_PLAIN_AMOUNT = re.compile(r"\$?[0-9]{1,3}(?:,[0-9]{3})*(?:\.[0-9]+)?")


def _one_number(text: str) -> tuple[float, bool]:
    """ "$1,200.50", "1.2k", "(300)", "300-", "USD 300", "€1.200,50", "45%" -> (number, had a % sign); NaN if not."""
    m = _DECORATED.fullmatch(text)
    if not m:
        return np.nan, False
    body = re.sub(r"[\s'\u00a0]", "", m["body"])
    if _US_NUMBER.fullmatch(body):
        number = float(body.replace(",", ""))
    elif _EU_NUMBER.fullmatch(body):
        number = float(body.replace(".", "").replace(",", "."))
    else:
        return np.nan, False
    number *= _SUFFIX[m["suffix"].lower()] if m["suffix"] else 1.0
    opened = "(" in (m["open"] or "", m["inner"] or "")
    if opened != (m["close"] == ")"):
        return np.nan, False
    if opened or "-" in (m["open"] or "", m["inner"] or "") or m["close"] == "-":
        number = -number
    return number, bool(m["pct"])


def _text_numbers(texts: np.ndarray, what: str, percent: bool) -> tuple[np.ndarray, np.ndarray]:
    """Distinct texts -> (float, problems). Plain numbers in one vectorised step; the rest one by one.

    A dash alone is 0 (accounting format); "n/a" and friends are missing; "45%" is 0.45 only when ``percent``."""
    raw = pd.Series(texts, dtype=object)
    out = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, copy=True)
    problems = np.full(len(raw), None, dtype=object)
    left = np.flatnonzero(np.isnan(out))
    plain = np.array([_PLAIN_AMOUNT.fullmatch(texts[i]) is not None for i in left], dtype=bool)
    out[left[plain]] = [float(texts[i].lstrip("$").replace(",", "")) for i in left[plain]]
    for i in left[~plain]:
        text = texts[i]
        if text in DASHES:
            out[i] = 0.0
        elif text.lower() in NULL_WORDS:
            continue
        else:
            number, pct = _one_number(text)
            if np.isnan(number):
                problems[i] = f"is not {what}"
            elif pct and not percent:
                problems[i] = f"is a percentage, not {what}"
            else:
                out[i] = number / 100.0 if pct else number
    return out, problems


def _numbers(raw: pd.Series, what: str, percent: bool = False) -> Parsed:
    cells = _split(raw)
    values = np.full(len(cells.kind), np.nan)
    problems = _problems(cells)
    rows = cells.kind == NUMBER
    values[rows] = cells.numbers()
    problems[(cells.kind == DATE) | (cells.kind == BOOL) | (cells.kind == TIME)] = f"is not {what}"
    if len(cells.texts):
        text_values, text_problems = _text_numbers(cells.texts, what, percent)
        _from_texts(cells, text_values, values)
        _from_texts(cells, text_problems, problems)
    return _finish(cells, values, problems, dtype=float)


def parse_money(raw: pd.Series) -> Parsed:
    """Amounts: numbers as they are; text such as "$1,200.50", "1.2k", "(300)", "USD 300", "€1.200,50", "-" (0)."""
    return _numbers(raw, "an amount")


def parse_numbers(raw: pd.Series) -> Parsed:
    """Plain numbers (counts, scores), with the same text forms as money."""
    return _numbers(raw, "a number")


def parse_percent(raw: pd.Series) -> Parsed:
    """"45%" -> 0.45; a number is taken as it is (Excel stores 45% as 0.45)."""
    return _numbers(raw, "a percentage", percent=True)


# ---------------------------------------------------------------------------------------------- words

def _words(raw: pd.Series, per_text, number_rule, what: str, missing=None, dtype=object) -> Parsed:
    """Shared frame for flag / status / event columns: ``per_text`` maps one normalised text to a value or None."""
    cells = _split(raw)
    values = np.full(len(cells.kind), missing, dtype=object)
    problems = _problems(cells)
    for i in np.flatnonzero(cells.kind == BOOL):
        values[i] = number_rule(1.0 if cells.obj[i] else 0.0)
    for i in np.flatnonzero(cells.kind == NUMBER):
        values[i] = number_rule(float(cells.obj[i]))
        if values[i] is None:
            values[i], problems[i] = missing, f"is not {what}"
    problems[(cells.kind == DATE) | (cells.kind == TIME)] = f"is not {what}"
    if len(cells.texts):
        keys = [normalise_header(t) if t.lower() not in NULL_WORDS else "" for t in cells.texts]
        mapped = np.array([per_text(k) if k else missing for k in keys], dtype=object)
        bad = np.array([bool(k) and m is None for k, m in zip(keys, mapped)], dtype=bool)
        text_problems = np.where(bad, f"is not {what}", None).astype(object)
        mapped[bad] = missing
        _from_texts(cells, mapped, values)
        _from_texts(cells, text_problems, problems)
    return _finish(cells, values, problems, dtype=dtype)


def _flag_word(key: str) -> bool | None:
    return True if key in TRUE_WORDS else False if key in FALSE_WORDS else None


def _flag_number(x: float) -> bool | None:
    return True if x == 1 else False if x == 0 else None


def parse_flags(raw: pd.Series) -> Parsed:
    """Y/N, Yes/No, TRUE/FALSE, 1/0, x (ticked) -> bool; blank -> False."""
    words = {**{w: True for w in TRUE_WORDS}, **{w: False for w in FALSE_WORDS}}
    words.update({normalise_header(w): v for w, v in words.items() if normalise_header(w)})
    return _words(raw, words.get, _flag_number, "a yes/no flag", missing=False, dtype=bool)


def parse_status(raw: pd.Series, flag_means: str = "Active") -> Parsed:
    """Active / Lost from many spellings (Churned, Cancelled, Inactive -> Lost; Current, Live -> Active).

    A yes/no column takes ``flag_means`` for yes (a column headed "Churned" passes "Lost")."""
    other = "Lost" if flag_means == "Active" else "Active"

    def word(key: str) -> str | None:
        if key in LOST_WORDS:
            return "Lost"
        if key in ACTIVE_WORDS:
            return "Active"
        flag = _flag_word(key)
        if flag is not None:
            return flag_means if flag else other
        tokens = set(key.split())
        if tokens & LOST_WORDS or tokens & {"not", "no", "former", "ex"}:
            return "Lost"
        return "Active" if tokens & ACTIVE_WORDS else None

    def number(x: float) -> str | None:
        flag = _flag_number(x)
        return None if flag is None else flag_means if flag else other

    return _words(raw, word, number, "a status this add-in knows (Active or Lost)")


def parse_events(raw: pd.Series) -> Parsed:
    """Event type text -> code of ``schema.EVENT_TYPES`` ("Service failure" -> "complaint")."""
    return _words(raw, normalise_event, lambda x: None, "an event type this add-in knows")


def parse_text(raw: pd.Series) -> Parsed:
    """Text: stripped; whole numbers without ".0" (ids typed as numbers); dates as YYYY-MM-DD."""
    cells = _split(raw)
    values = np.full(len(cells.kind), None, dtype=object)
    problems = _problems(cells)
    rows = (cells.kind == NUMBER) | (cells.kind == DATE) | (cells.kind == TIME)
    if rows.any():  # numbers, dates, times: each distinct value written out once
        codes, uniques = pd.factorize(cells.obj[rows].astype(object))
        values[rows] = np.array([as_text(u) for u in uniques], dtype=object)[codes]
    flags = cells.kind == BOOL    # apart: hashing takes TRUE for 1, and would write one as the other
    values[flags] = [as_text(v) for v in cells.obj[flags]]
    _from_texts(cells, cells.texts.astype(object), values)
    return _finish(cells, values, problems, dtype=object)


def as_text(value: object) -> str:
    """A raw cell as the user would read it: 1001.0 -> "1001", a midnight datetime -> "2025-03-15"."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return as_text(pd.Timestamp(value))
    return str(value).strip()


PARSERS = {"date": parse_dates, "money": parse_money, "number": parse_numbers, "percent": parse_percent,
           "flag": parse_flags, "status": parse_status, "event": parse_events, "text": parse_text,
           "id": parse_text}


def parse_column(raw: pd.Series, kind: str, *, date_order: str = "auto") -> Parsed:
    """Parse a column by its schema kind ("date", "money", ...)."""
    if kind == "date":
        return parse_dates(raw, date_order)
    return PARSERS[kind](raw)
