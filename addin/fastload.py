"""Worksheet values straight from the sheet XML: what openpyxl's read-only ``iter_rows(values_only=True)`` returns
(after ``reset_dimensions``), cell for cell, in a fraction of the time.

openpyxl builds a dictionary and, for text, a ``Text`` object per cell; over tens of thousands of order lines that
is most of the time it takes to open a workbook. Here the workbook part, the styles (which number formats are
dates) and the epoch still come from openpyxl; only the cell loop is replaced. Conversions follow openpyxl's
``WorkSheetParser.parse_cell`` with ``data_only=True`` (cached values, formulas ignored): numbers are ``int``
unless they carry a decimal point or exponent, date-formatted numbers become datetimes (timedeltas, times),
``b`` is a bool, ``s`` indexes the shared strings, ``d`` is ISO 8601 and inline strings are their text runs.
Rows are padded like openpyxl's: a missing row is ``[]``, a row element without cells is ``()``.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
ROW, CELL_V, CELL_IS, SI, T, R = (NS + x for x in ("row", "v", "is", "si", "t", "r"))
_CHUNK = 1 << 16


def load_values(path: Path, skip=(), workers: int = 1) -> tuple[dict[str, list], dict[str, str]]:
    """({sheet title: rows of values}, {sheet title: part name}) for every worksheet, in workbook order (but the
    titles in ``skip``). With ``workers`` >= 2 a large sheet's second half is scanned by a forked process at the
    same time as the first (``_split_rows``); the rows are the same."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.xml.constants import SHARED_STRINGS

    reader = ExcelReader(str(path), read_only=True, data_only=True)
    try:
        reader.read_manifest()
        strings_part = reader.package.find(SHARED_STRINGS)
        strings = []
        if strings_part is not None:
            with reader.archive.open(strings_part.PartName[1:]) as src:
                strings = shared_strings(src)
        reader.read_workbook()
        wb = reader.wb
        apply_stylesheet(reader.archive, wb)
        sheets, paths = {}, {}
        for sheet, rel in reader.parser.find_sheets():
            if rel.target not in reader.valid_files or "chartsheet" in rel.Type or sheet.name in skip:
                continue
            with reader.archive.open(rel.target) as src:
                sheets[sheet.name] = sheet_rows(src, strings, wb.epoch, set(wb._date_formats),
                                                set(wb._timedelta_formats), workers)
            paths[sheet.name] = rel.target
        return sheets, paths
    finally:
        reader.archive.close()


def _text(element) -> str:
    """openpyxl's ``Text.content``: the plain ``t`` then each rich run's ``t`` (phonetic runs left out)."""
    parts = []
    for child in element:
        if child.tag == T:
            parts.append(child.text or "")
        elif child.tag == R:
            for grand in child:
                if grand.tag == T:
                    parts.append(grand.text or "")
    return "".join(parts)


def shared_strings(src) -> list[str]:
    out = []
    parser = ET.XMLPullParser(("end",))
    while True:
        block = src.read(_CHUNK)
        if not block:
            break
        parser.feed(block)
        for _, element in parser.read_events():
            if element.tag == SI:
                out.append(_text(element).replace("x005F_", ""))
                element.clear()
    parser.close()
    for _, element in parser.read_events():
        if element.tag == SI:
            out.append(_text(element).replace("x005F_", ""))
    return out


def _column(coordinate: str, cache: dict) -> int:
    letters = coordinate.rstrip("0123456789$")
    col = cache.get(letters)
    if col is None:
        col = 0
        for ch in letters.lstrip("$").upper():
            col = col * 26 + ord(ch) - 64
        cache[letters] = col
    return col


class Unusual(ValueError):
    """The sheet XML has something the fast scan does not handle (prefixed tags, comments, CDATA, another
    encoding): the caller reads the workbook through openpyxl instead."""


_DECL = re.compile(r"<\?xml[^>]*encoding=[\"']([^\"']+)")
_DATA = re.compile(r"<sheetData\b[^>]*?(?:/>|>(.*)</sheetData>)", re.S)
_ATTR = re.compile(r"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_V = re.compile(r"<v(?:\s[^>]*)?(?:/>|>(.*?)</v>)", re.S)
_PLAIN_IS = re.compile(r"<is>\s*<t(?:\s[^>]*)?(?:/>|>([^<]*)</t>)\s*</is>|<is\s*/>", re.S)
_IS = re.compile(r"<is\b.*?(?:</is>|<is\s*/>)", re.S)


def _unescape(text: str) -> str:
    if "\r" in text:  # an XML parser normalises line ends in character data
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return html.unescape(text) if "&" in text else text


def _attrs(text: str) -> dict:
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _ATTR.finditer(text)}


def _inline(content: str | None):
    if content is None:
        return None
    plain = _PLAIN_IS.search(content)
    if plain is not None and plain.group(0).startswith("<is>") and "<r" not in content:
        return _unescape(plain.group(1) or "")
    found = _IS.search(content)
    if found is None:
        return None
    element = ET.fromstring(found.group(0).replace("<is", f'<is xmlns="{NS[1:-1]}"', 1))
    return _text(element)


def sheet_rows(src, strings: list, epoch, date_styles: set, timedelta_styles: set, workers: int = 1) -> list:
    data = _sheet_data(src.read())
    args = (strings, epoch, date_styles, timedelta_styles)
    if workers >= 2 and len(data) >= SPLIT_CHARS and _can_fork():
        rows = _split_rows(data, args)
        if rows is not None:
            return rows
    return _usual_rows(data, *args)


SPLIT_CHARS = 4_000_000  # below this a sheet is scanned in well under 0.1 s: not worth a process


def _can_fork() -> bool:
    import multiprocessing as mp
    import sys
    # as relhealth.trend.TrendJob: fork only on Linux (macOS lists fork but is not fork-safe with these libraries)
    return sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()


def _split_rows(data: str, args: tuple) -> list | None:
    """The sheet's rows, its second half (from a row start) scanned by a forked process while this one scans the
    first; None when that cannot be done (then the caller scans it all). The halves join exactly when the row
    numbers run on across the cut (they always do from Excel and openpyxl); else the caller scans it all."""
    import multiprocessing as mp
    import pickle

    cut = data.find("<row ", len(data) // 2)
    if cut < 0:
        return None
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    try:
        child = ctx.Process(target=_scan_part, args=(data, cut, args, send), daemon=True)
        child.start()
    except OSError:
        return None
    send.close()
    payload = None
    try:
        first = _usual_rows(data[:cut], *args)
        payload = receive.recv_bytes()
    except EOFError:  # the process died: the caller scans the sheet itself
        return None
    finally:
        receive.close()
        if payload is None:
            child.terminate()
        child.join()
    second = pickle.loads(payload)
    if isinstance(second, Exception):
        raise second
    start, rows = second
    if len(first) >= start:  # row numbers do not run on across the cut
        return None
    first.extend([] for _ in range(start - 1 - len(first)))
    first.extend(rows)
    return first


def _scan_part(data: str, cut: int, args: tuple, send) -> None:
    """In the forked process: (first row number, rows) of the sheet data from ``cut`` on, or the exception."""
    import pickle

    try:
        found = _TOKEN.match(data, cut)
        r = (found.group(1) or _attrs(found.group(2)).get("r", "")) if found is not None else ""
        if not r.isdigit() or int(r) < 1:
            raise Unusual("row number")
        result = (int(r), _usual_rows(data[cut:], *args, start=int(r) - 1))
    except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
        result = exc
    send.send_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    send.close()


def _sheet_data(raw: bytes) -> str:
    head = raw[:200].decode("ascii", "replace")
    declared = _DECL.search(head)
    if declared and declared.group(1).lower().replace("-", "") not in ("utf8",):
        raise Unusual(f"encoding {declared.group(1)}")
    text = raw.decode("utf-8")
    found = _DATA.search(text)
    if found is None:
        if re.search(r"<\w+:sheetData\b", text):
            raise Unusual("prefixed tags")
        return ""
    data = found.group(1) or ""
    if "<!--" in data or "<![CDATA[" in data or re.search(r"<\w+:", data):
        raise Unusual("comments, CDATA or prefixed tags in the cell data")
    return data


# One token per row start or cell. A cell's value is captured directly in the two shapes nearly every cell has
# (``<v>text</v>``, ``<is><t>text</t></is>``; the latter with its "</t>" so an empty text still shows it matched);
# anything else in a cell comes whole in the last content group.
_TOKEN = re.compile(r'<row\b(?: r="(\d+)")?([^>]*?)(/?)>'
                    r'|<c r="([A-Z]+)\d+"(?: s="(\d+)")?(?: t="(\w+)")?\s*'
                    r'(?:/>|><v>([^<]+)</v></c>|><is><t>([^<]*</t>)</is></c>|>(.*?)</c>)'
                    r'|(<c\b)', re.S)


def _usual_rows(data: str, strings: list, epoch, date_styles: set, timedelta_styles: set, start: int = 0) -> list:
    """The sheet data most writers produce (every cell ``<c r=".." s=".." t="..">`` in that order, a ``<v>`` or
    a plain inline string) in one scan; raises ``Unusual`` for anything else (then openpyxl reads the workbook).

    A row's values are appended as its cells come (the usual case: columns in order); a cell left of the last one
    is placed as openpyxl places it (the row is as wide as its last cell, a later cell overwrites). ``start``: the
    rows before this part of the sheet (they are not in the list returned)."""
    from openpyxl.utils.datetime import from_excel

    rows: list = []
    columns: dict = {}
    kinds: dict = {}  # style index text -> None (not a date) or whether it is a duration format
    dates: dict = {}  # (number text, duration?) -> the datetime, timedelta or time
    values: list | None = None
    index = last_col = 0

    def close_row():
        while start + len(rows) + 1 < index:
            rows.append([])
        if start + len(rows) + 1 <= index:
            rows.append(tuple(values) if last_col == len(values) else tuple(values[:last_col]))

    for r, row_attrs, empty, letters, style, data_type, v, plain, content, odd in _TOKEN.findall(data):
        if letters:
            if values is None:
                raise Unusual("cell outside a row")
            column = columns.get(letters) or _column(letters, columns)
            if v:
                if "&" in v or "\r" in v:
                    v = _unescape(v)
            elif plain:
                v = None
            elif content:
                found = _V.search(content) if data_type != "inlineStr" else None
                v = _unescape(found.group(1)) if found is not None and found.group(1) else None
            else:
                v = None
            if data_type == "inlineStr":
                if plain:
                    value = _unescape(plain[:-4]) if "&" in plain or "\r" in plain else plain[:-4]
                else:
                    value = _inline(content)
            elif not v:
                value = None
            elif not data_type or data_type == "n":
                if style:
                    kind = kinds.get(style, 0)
                    if kind == 0:
                        kind = kinds[style] = (int(style) in timedelta_styles) if int(style) in date_styles else None
                    if kind is not None:
                        key = (v, kind)
                        value = dates.get(key)
                        if value is None:
                            number = float(v) if ("." in v or "E" in v or "e" in v) else int(v)
                            try:
                                value = from_excel(number, epoch, timedelta=kind)
                            except (OverflowError, ValueError):
                                value = "#VALUE!"
                            dates[key] = value
                    else:
                        value = float(v) if ("." in v or "E" in v or "e" in v) else int(v)
                else:
                    value = float(v) if ("." in v or "E" in v or "e" in v) else int(v)
            elif data_type == "s":
                value = strings[int(v)]
            elif data_type == "b":
                value = bool(int(v))
            elif data_type == "d":
                from openpyxl.utils.datetime import from_ISO8601
                value = from_ISO8601(v)
            else:
                value = v
            n = len(values)
            if column == n + 1:
                values.append(value)
            elif column > n:
                values.extend([None] * (column - n - 1))
                values.append(value)
            else:
                values[column - 1] = value
            last_col = column
            continue
        if odd:
            raise Unusual("cell attributes")
        if values is not None:
            close_row()
        if not r:
            r = _attrs(row_attrs).get("r")
            if r is None or not r.isdigit():
                raise Unusual("row number")
        index = int(r)
        values, last_col = [], 0
        if empty:
            close_row()
            values = None
    if values is not None:
        close_row()
    return rows
