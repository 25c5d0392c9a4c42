"""Dates from what spreadsheets hold: Excel serial numbers and text in the many ways people type a date.

Works on arrays of distinct values (``relhealth.cells`` factorises a column first), with explicit-format
``pd.to_datetime`` passes and a per-value fallback only for the leftovers. An ambiguous numeric order (03/04/2025)
is decided for the whole column from its own values unless an order is forced.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

EXCEL_EPOCH = np.datetime64("1899-12-30", "D")   # serial day 0 of the 1900 date system, as Excel counts
FIRST_DAY, LAST_DAY = np.datetime64("1900-01-01", "ns"), np.datetime64("2199-12-31", "ns")
NAT = np.datetime64("NaT", "ns")


def serials(numbers: np.ndarray) -> np.ndarray:
    """Excel 1900-system serial numbers (and 8-digit YYYYMMDD integers) -> datetime64[ns], NaT when neither."""
    x = np.asarray(numbers, dtype=float)
    out = np.full(len(x), NAT)
    days = np.floor(x)
    serial = (days >= 1) & (days <= 109_574)                        # 1900-01-01 .. 2199-12-31
    # Excel counts a 29 Feb 1900 that never was (serial 60): serials below it count from 1899-12-31.
    shift = np.where(days < 61, 1, 0)
    ok = serial & (days != 60)
    out[ok] = (EXCEL_EPOCH + (days[ok] + shift[ok]).astype("timedelta64[D]")).astype("datetime64[ns]")
    ymd = ~serial & (days >= 19_000_101) & (days <= 21_991_231) & (x == days)
    if ymd.any():
        parsed = pd.to_datetime(pd.Series(days[ymd].astype(np.int64).astype(str)), format="%Y%m%d",
                                errors="coerce")
        out[ymd] = parsed.to_numpy(dtype="datetime64[ns]")
    return out


_TIME_TAIL = re.compile(r"(?:[T\s]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp]\.?[Mm]\.?)?(?:Z|[+-]\d{2}:?\d{2})?)$")
_ORDINAL = re.compile(r"(?<=\d)(?:st|nd|rd|th)\b", re.IGNORECASE)
_YMD_FORMATS = ("%Y/%m/%d",)
_NAMED_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%d %b %y", "%d %B %y", "%b %d %y",
                  "%B %d %y", "%d/%b/%Y", "%d/%b/%y", "%a %d %b %Y", "%A %d %B %Y", "%a %b %d %Y",
                  "%A %B %d %Y", "%b %Y", "%B %Y")
_ORDER_FORMATS = {"MDY": ("%m/%d/%Y", "%m/%d/%y"), "DMY": ("%d/%m/%Y", "%d/%m/%y"), "YMD": ("%y/%m/%d",)}
ORDER_WORDS = {"MDY": "month/day/year", "DMY": "day/month/year", "YMD": "year/month/day"}


def _normalise_date_text(texts: pd.Series) -> pd.Series:
    s = texts.str.replace(_TIME_TAIL, "", regex=True)
    s = s.str.replace(r"(?<=\d)\s*[.\-/]\s*(?=\d)", "/", regex=True)
    s = s.str.replace(r"(?<=[A-Za-z])-(?=\d)|(?<=\d)-(?=[A-Za-z])", "/", regex=True)
    s = s.str.replace(_ORDINAL, "", regex=True).str.replace(",", " ", regex=False)
    s = s.str.replace(r"\bSept\b", "Sep", regex=True, case=False).str.replace(r"\s+", " ", regex=True)
    return s.str.strip()


def _parse_formats(s: pd.Series, formats: tuple[str, ...], out: np.ndarray, todo: np.ndarray) -> None:
    for fmt in formats:
        if not todo.any():
            return
        got = pd.to_datetime(s[todo], format=fmt, errors="coerce").to_numpy(dtype="datetime64[ns]")
        hit = ~np.isnat(got)
        where = np.flatnonzero(todo)[hit]
        out[where] = got[hit]
        todo[where] = False


def _decide_order(s: pd.Series, todo: np.ndarray, weights: np.ndarray) -> str:
    """Month-first or day-first, from the column's own values: a first part above 12 means day-first."""
    def parses(fmts: tuple[str, ...]) -> np.ndarray:
        got = np.zeros(len(s), dtype=bool)
        for fmt in fmts:
            got |= pd.to_datetime(s.where(todo, ""), format=fmt, errors="coerce").notna().to_numpy()
        return got & todo

    mdy, dmy = parses(_ORDER_FORMATS["MDY"]), parses(_ORDER_FORMATS["DMY"])
    only_m, only_d = weights[mdy & ~dmy].sum(), weights[dmy & ~mdy].sum()
    return "DMY" if only_d > only_m else "MDY"


def text_dates(texts: np.ndarray, order: str, weights: np.ndarray,
               readable: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Distinct date texts -> (datetime64[ns], problems, order used: "" or MDY / DMY / YMD).

    ``weights`` counts the rows holding each text (the column's majority decides an ambiguous order);
    ``readable`` is False for texts that stand for nothing ("n/a"): they stay missing without a problem."""
    raw = pd.Series(texts, dtype=object)
    out = np.full(len(raw), NAT)
    problems = np.full(len(raw), None, dtype=object)
    todo = np.asarray(readable, dtype=bool).copy()
    iso = todo & raw.str.match(r"\d{4}-\d{1,2}-\d{1,2}").to_numpy()    # 2025-03-15, 2025-03-15T10:30:00Z
    if iso.any():  # the day as written: a time and its zone are dropped, not converted
        day = raw[iso].str.extract(r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ].*)?$")[0]
        out[iso] = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").to_numpy(dtype="datetime64[ns]")
        todo &= ~(iso & ~np.isnat(out))
    numbers = pd.to_numeric(raw.where(todo, ""), errors="coerce").to_numpy(dtype=float)
    is_number = todo & ~np.isnan(numbers)
    out[is_number] = serials(numbers[is_number])
    todo &= ~is_number
    used = order.upper() if order and order.lower() != "auto" else ""
    if not todo.any():
        return out, _date_problems(out, iso | is_number, problems), used
    s = _normalise_date_text(raw)
    _parse_formats(s, _YMD_FORMATS, out, todo)
    numeric = todo & s.str.fullmatch(r"\d{1,2}/\d{1,2}/\d{2,4}").to_numpy()
    if numeric.any():
        used = used or _decide_order(s, numeric, weights)
        formats = _ORDER_FORMATS[used] if used != "YMD" else _ORDER_FORMATS["YMD"] + _ORDER_FORMATS["MDY"]
        _parse_formats(s, formats, out, todo)
        other = "DMY" if used == "MDY" else "MDY"
        wrong = todo & numeric
        if wrong.any():
            probe = np.full(len(s), NAT)
            _parse_formats(s, _ORDER_FORMATS[other], probe, wrong.copy())
            misfit = wrong & ~np.isnat(probe)
            problems[misfit] = f"is not a date in this column's order ({ORDER_WORDS[used]})"
            todo &= ~misfit
    _parse_formats(s, _NAMED_FORMATS, out, todo)
    for i in np.flatnonzero(todo):               # slow path: the few texts no vectorised format read
        out[i] = _one_date(str(texts[i]))
    return out, _date_problems(out, todo | iso | is_number, problems), used


_FALLBACK_FORMATS = ("%Y%m%d", "%d.%m.%Y", "%Y.%m.%d", "%B %d %Y", "%d %B %Y", "%Y %b %d", "%Y %B %d",
                     "%b %d %Y", "%b-%d-%Y", "%d-%B-%Y", "%Y-%m-%dT%H:%M:%S.%f")


def _one_date(text: str) -> np.datetime64:
    cleaned = re.sub(r"\s+", " ", _ORDINAL.sub("", text.replace(",", " "))).strip()
    for candidate in (cleaned, text.strip()):
        for fmt in _FALLBACK_FORMATS:
            try:
                return np.datetime64(dt.datetime.strptime(candidate, fmt).date(), "ns")
            except ValueError:
                continue
    return NAT


def _date_problems(out: np.ndarray, checked: np.ndarray, problems: np.ndarray) -> np.ndarray:
    bad = checked & np.isnat(out) & (problems == None)  # noqa: E711  (element-wise)
    problems[bad] = "is not a date"
    implausible = ~np.isnat(out) & ((out < FIRST_DAY) | (out > LAST_DAY))
    problems[implausible] = "is not a plausible date (before 1900 or after 2199)"
    out[implausible] = NAT
    return problems
