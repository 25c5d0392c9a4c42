"""Dates from what spreadsheets hold: Excel serial numbers and text in the many ways people type a date.

Works on arrays of distinct values (``relhealth.cells`` factorises a column first). The plain forms most cells hold
("3/14/2025", "2025-03-14") are read straight from their characters' codes as numbers; only the rest is cleaned up
and tried with explicit-format ``pd.to_datetime`` passes, then a per-value fallback for the leftovers. An
ambiguous numeric order (03/04/2025) is decided for the whole column from its own values unless an order is forced.
"""

from __future__ import annotations

import calendar
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


def _order_votes(s: pd.Series, todo: np.ndarray, weights: np.ndarray) -> tuple[int, int]:
    """Rows that read only month-first, only day-first (a first part above 12 means day-first)."""
    def parses(fmts: tuple[str, ...]) -> np.ndarray:
        got = np.zeros(len(s), dtype=bool)
        for fmt in fmts:
            got |= pd.to_datetime(s.where(todo, ""), format=fmt, errors="coerce").notna().to_numpy()
        return got & todo

    if not todo.any():
        return 0, 0
    mdy, dmy = parses(_ORDER_FORMATS["MDY"]), parses(_ORDER_FORMATS["DMY"])
    return weights[mdy & ~dmy].sum(), weights[dmy & ~mdy].sum()


# The two forms most cells hold, read from the characters' codes without a pattern per text: "3/14/2025" (either
# order) and "2025-03-14". Letters a, b, c are the digits of the three numbers (ASCII digits only: other scripts'
# digits are left to the formats below); any other character must be there as it is.
_PLAIN_FORMS = {"a/b/cccc": False, "a/bb/cccc": False, "aa/b/cccc": False, "aa/bb/cccc": False, "aaaa-bb-cc": True}


def _form(form: str) -> tuple[np.ndarray, np.ndarray]:
    """(the character codes required, -1 where a digit goes; each digit's place value in numbers a, b, c)."""
    shape = np.array([-1 if c in "abc" else ord(c) for c in form])
    places = np.zeros((len(form), 3), dtype=np.int64)
    for k, letter in enumerate("abc"):
        at = [i for i, c in enumerate(form) if c == letter]
        places[at, k] = 10 ** np.arange(len(at))[::-1]
    return shape, places


_FORMS = [(_form(form), is_iso) for form, is_iso in _PLAIN_FORMS.items()]
_PLAIN_YEARS = (1900, 2199)   # within these every reading is plausible, so no later check can differ


_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[ns], exists): the calendar day for each triple, where it exists.

    Counted in whole numbers (days from 1970-01-01 of the proleptic Gregorian calendar, as numpy counts): numpy's
    own month and day arithmetic converts every value through its calendar code, several times slower."""
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    month, day = np.clip(month, 1, 12), np.clip(day, 1, 31)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    ok &= day <= _MONTH_DAYS[month - 1] + (leap & (month == 2))       # 2/30 is no day
    shifted = year - (month <= 2)                  # years counted from March: the leap day ends the year
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = (era * 146_097 + day_of_era - 719_468).astype(np.int64)
    return (days * 86_400_000_000_000).view("datetime64[ns]"), ok


def _plain_numbers(texts: np.ndarray, todo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(which texts, their three numbers, ISO or not) for the ``todo`` texts in one of ``_PLAIN_FORMS``."""
    idx = np.flatnonzero(todo)
    lengths = np.fromiter(map(len, texts[idx]), dtype=np.int64, count=len(idx))
    fits = (lengths >= 8) & (lengths <= 10)
    idx, lengths = idx[fits], lengths[fits]
    codes = texts[idx].astype("U10").view(np.uint32).reshape(len(idx), 10).astype(np.int64)   # one row a text
    digits = codes - 48
    is_digit = (digits >= 0) & (digits <= 9)
    shapes = np.where(is_digit, -1, codes)          # each text's characters, with -1 for every digit
    found, numbers, iso = [], [], []
    for (shape, places), is_iso in _FORMS:
        rows = np.flatnonzero(lengths == len(shape))
        rows = rows[(shapes[rows, :len(shape)] == shape).all(axis=1)]
        found.append(rows)
        numbers.append(digits[rows, :len(shape)] @ places)    # places are 0 where the form has no digit
        iso.append(np.full(len(rows), is_iso))
    order = np.concatenate(found)
    return idx[order], np.concatenate(numbers), np.concatenate(iso)


class _Plain:
    """The plain texts among ``todo``: ISO days read outright; "m/d/yyyy" both ways, for the column to choose."""

    def __init__(self, texts: np.ndarray, todo: np.ndarray, out: np.ndarray, slashed: bool):
        n = len(texts)
        self.iso, self.slash = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        self.mdy, self.dmy = np.full(n, NAT), np.full(n, NAT)     # each slashed text read month- / day-first
        idx, parts, iso = _plain_numbers(texts, todo)
        if not len(idx):
            return
        year = np.where(iso, parts[:, 0], parts[:, 2])
        in_years = (year >= _PLAIN_YEARS[0]) & (year <= _PLAIN_YEARS[1])
        day, ok = _days(year, parts[:, 1], parts[:, 2])
        take = iso & in_years & ok            # an ISO text that is no day is left to the slower readers
        out[idx[take]] = day[take]
        self.iso[idx[take]] = True
        if slashed:
            take = ~iso & in_years
            self.slash[idx[take]] = True
            mdy, mdy_ok = _days(year, parts[:, 0], parts[:, 1])
            dmy, dmy_ok = _days(year, parts[:, 1], parts[:, 0])
            self.mdy[idx[take & mdy_ok]] = mdy[take & mdy_ok]
            self.dmy[idx[take & dmy_ok]] = dmy[take & dmy_ok]

    def votes(self, weights: np.ndarray) -> tuple[int, int]:
        mdy, dmy = ~np.isnat(self.mdy), ~np.isnat(self.dmy)
        return weights[mdy & ~dmy].sum(), weights[dmy & ~mdy].sum()

    def read(self, used: str, out: np.ndarray, problems: np.ndarray) -> None:
        """Each slashed text in the column's order; one that only reads the other way says so."""
        if not self.slash.any():
            return
        got, other = (self.mdy, self.dmy) if used == "MDY" else (self.dmy, self.mdy)
        good = self.slash & ~np.isnat(got)
        out[good] = got[good]
        problems[self.slash & ~good & ~np.isnat(other)] = f"is not a date in this column's order ({ORDER_WORDS[used]})"


def text_dates(texts: np.ndarray, order: str, weights: np.ndarray,
               readable: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Distinct date texts -> (datetime64[ns], problems, order used: "" or MDY / DMY / YMD).

    ``weights`` counts the rows holding each text (the column's majority decides an ambiguous order);
    ``readable`` is False for texts that stand for nothing ("n/a"): they stay missing without a problem."""
    texts = np.asarray(texts, dtype=object)
    out = np.full(len(texts), NAT)
    problems = np.full(len(texts), None, dtype=object)
    todo = np.asarray(readable, dtype=bool).copy()
    used = order.upper() if order and order.lower() != "auto" else ""
    plain = _Plain(texts, todo, out, slashed=used != "YMD")   # YMD reads "3/14/2025" its own way, below
    todo &= ~plain.iso & ~plain.slash
    raw = pd.Series(texts, dtype=object) if todo.any() else None      # what no plain form read
    iso = _where(raw, todo, lambda t: t.str.match(r"\d{4}-\d{1,2}-\d{1,2}"))  # 2025-03-15T10:30:00Z
    if iso.any():  # the day as written: a time and its zone are dropped, not converted
        day = raw[iso].str.extract(r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ].*)?$")[0]
        out[iso] = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").to_numpy(dtype="datetime64[ns]")
        todo &= ~(iso & ~np.isnat(out))
    numbers = np.full(len(texts), np.nan)
    numbers[todo] = pd.to_numeric(texts[todo], errors="coerce")
    is_number = todo & ~np.isnan(numbers)
    out[is_number] = serials(numbers[is_number])
    todo &= ~is_number
    checked = iso | is_number | plain.iso | plain.slash
    if not todo.any():          # every text plain, ISO or a serial: slashed ones read in their own majority order
        if plain.slash.any():
            if not used:
                votes = plain.votes(weights)
                used = "DMY" if votes[1] > votes[0] else "MDY"
            plain.read(used, out, problems)
        return out, _date_problems(out, checked, problems), used
    cleaned = np.full(len(texts), "", dtype=object)
    if todo.any():          # only what no plain form read is cleaned up
        cleaned[todo] = _normalise_date_text(pd.Series(texts[todo], dtype=object)).to_numpy()
    s = pd.Series(cleaned, dtype=object)
    _parse_formats(s, _YMD_FORMATS, out, todo)
    numeric = _where(s, todo, lambda t: t.str.fullmatch(r"\d{1,2}/\d{1,2}/\d{2,4}"))
    if numeric.any() or plain.slash.any():
        if not used:
            votes = np.add(_order_votes(s, numeric, weights), plain.votes(weights))
            used = "DMY" if votes[1] > votes[0] else "MDY"
        plain.read(used, out, problems)
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
    named = _where(s, todo, lambda t: t.str.contains(_month_names()))   # every named format needs one
    unnamed = todo & ~named
    _parse_formats(s, _NAMED_FORMATS, out, named)
    todo = named | unnamed
    for i in np.flatnonzero(todo):               # slow path: the few texts no vectorised format read
        out[i] = _one_date(str(texts[i]))
    return out, _date_problems(out, todo | checked, problems), used


def _month_names() -> re.Pattern:
    """The month names and abbreviations strptime's %B and %b read (the locale's words, any case)."""
    names = {n.lower() for n in (*calendar.month_name[1:], *calendar.month_abbr[1:]) if n}
    return re.compile("|".join(map(re.escape, sorted(names))), re.IGNORECASE)


def _where(s: pd.Series, todo: np.ndarray, test) -> np.ndarray:
    """``test`` (a vectorised string match) on the ``todo`` texts only; False elsewhere."""
    hit = np.zeros(len(todo), dtype=bool)
    if todo.any():
        hit[todo] = test(s[todo]).to_numpy(dtype=bool)
    return hit


_FALLBACK_FORMATS = ("%Y%m%d", "%d.%m.%Y", "%Y.%m.%d", "%B %d %Y", "%d %B %Y", "%Y %b %d", "%Y %B %d",
                     "%b %d %Y", "%b-%d-%Y", "%d-%B-%Y", "%Y-%m-%dT%H:%M:%S.%f")


def _one_date(text: str) -> np.datetime64:
    if not any(ch.isdigit() for ch in text):   # every format holds a day or year number ("next tues" holds none)
        return NAT
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
