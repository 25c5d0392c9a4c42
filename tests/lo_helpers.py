"""Helpers for the LibreOffice end-to-end test: find LibreOffice, and compute in-process what every formula cell of
a workbook should hold (by calling the udfs functions on the same ranges), then compare with what Calc saved.

The expected values follow the rules a spreadsheet applies to a function returning a 2-D array:
- an array formula over an area gets the result laid out from its top-left cell; a one-row (one-column) result is
  repeated down (across) the area; cells beyond the result are #N/A;
- an ordinary formula gets the result's top-left value;
and the add-in's conversions (addin/libreoffice/oxt/relhealth_calc.py): None and NaN show as blank, booleans as
TRUE/FALSE or 1/0, dates as serial numbers.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl.formula import Tokenizer
from openpyxl.formula.tokenizer import Token
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string, range_boundaries
from openpyxl.worksheet.formula import ArrayFormula

EPOCH = dt.datetime(1899, 12, 30)
BLANK = ""
NA = "#N/A"


# ---------------------------------------------------------------- finding LibreOffice
def find_soffice() -> str | None:
    for c in (os.environ.get("SOFFICE", ""), shutil.which("soffice") or "", "/usr/lib/libreoffice/program/soffice",
              "/opt/libreoffice/program/soffice"):
        if c and os.access(c, os.X_OK):
            return c
    return None


def find_uno_python() -> str | None:
    """A Python that can ``import uno`` (LibreOffice's): $LO_PYTHON, Debian's /usr/bin/python3, LO's own."""
    soffice = find_soffice()
    candidates = [os.environ.get("LO_PYTHON", ""), "/usr/bin/python3", sys.executable]
    if soffice:
        candidates.insert(1, str(Path(os.path.realpath(soffice)).parent / "python"))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            ok = subprocess.run([c, "-c", "import uno"], capture_output=True, check=False).returncode == 0
            if ok:
                return c
    return None


def python_version(python: str) -> tuple[int, int]:
    out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), int(out[1])


def site_dirs() -> list[str]:
    """This interpreter's site-packages folders (pandas, numpy, scipy for LibreOffice's Python)."""
    return [p for p in dict.fromkeys(sys.path) if p.rstrip("/").endswith(("site-packages", "dist-packages"))
            and os.path.isdir(p)]


# ---------------------------------------------------------------- values as the spreadsheet holds them
def normalize(value: Any) -> Any:
    """A result value as a cell shows it: float, str (blank = ""), or an error string."""
    if value is None:
        return BLANK
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        value = float(value)
        return BLANK if math.isnan(value) else value
    if isinstance(value, dt.datetime):
        return (value.replace(tzinfo=None) - EPOCH).total_seconds() / 86400.0
    if isinstance(value, dt.date):
        return float((value - EPOCH.date()).days)
    if isinstance(value, dt.time):
        return (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400.0
    item = getattr(value, "item", None)  # numpy / pandas scalars
    if callable(item):
        return normalize(item())
    to_py = getattr(value, "to_pydatetime", None)
    if callable(to_py):
        return normalize(to_py())
    return value if isinstance(value, str) else str(value)


def as_argument(value: Any) -> Any:
    """A computed (normalized) cell value as the next formula receives it: blank -> None."""
    return None if value == BLANK else value


def same(expected: Any, actual: Any, rel: float = 1e-7, abs_: float = 1e-9) -> bool:
    e, a = normalize(expected), normalize(actual)
    if isinstance(e, float) and isinstance(a, float):
        return math.isclose(e, a, rel_tol=rel, abs_tol=abs_)
    return e == a


# ---------------------------------------------------------------- evaluating formulas in-process
class FormulaError(Exception):
    pass


@dataclass
class FormulaCell:
    sheet: str
    coord: str           # top-left cell
    text: str            # formula text, with "="
    area: str | None     # the array formula's area, None for an ordinary formula

    def cells(self) -> list[str]:
        if not self.area:
            return [self.coord]
        c1, r1, c2, r2 = range_boundaries(self.area)
        return [f"{get_column_letter(c)}{r}" for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)]


def formula_cells(wb) -> list[FormulaCell]:
    """Every formula of a workbook loaded with openpyxl (formulas, not values)."""
    found = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                v = cell.value
                if isinstance(v, ArrayFormula):
                    text = v.text if v.text.startswith("=") else "=" + v.text
                    found.append(FormulaCell(ws.title, cell.coordinate, text, v.ref))
                elif isinstance(v, str) and v.startswith("=") and len(v) > 1 and cell.data_type == "f":
                    found.append(FormulaCell(ws.title, cell.coordinate, v, None))
    return found


_PREFIXES = ("_xludf.", "_xll.", "_xlfn._xlws.", "_xlfn.")


class Evaluator:
    """Computes formula cells by calling ``functions[NAME](*args)`` on the values of the ranges they reference."""

    def __init__(self, wb, functions: dict[str, Callable]):
        self.wb = wb
        self.functions = functions
        self.formulas = {(f.sheet, f.coord): f for f in formula_cells(wb)}
        self.owner: dict[tuple[str, str], FormulaCell] = {}
        for f in self.formulas.values():
            for c in f.cells():
                self.owner[(f.sheet, c)] = f
        self.results: dict[tuple[str, str], list[list[Any]] | Exception] = {}
        self._busy: set = set()
        self._ranges: dict[tuple[str, str], list[list[Any]]] = {}
        self.calls = 0

    # -- cell values
    def argument(self, sheet: str, coord: str) -> Any:
        """A cell's value as a function argument: a data cell as openpyxl reads it (datetime, bool, ... as a Python
        caller would pass it; Calc passes serial numbers and 1/0, which the UDFs must treat the same), a formula
        cell as computed here."""
        f = self.owner.get((sheet, coord))
        if f is None:
            v = self.wb[sheet][coord].value
            return None if v == "" else v
        result = self.result(f)
        if isinstance(result, Exception):
            raise result
        return as_argument(self._pick(f, result, coord))

    def expected(self, f: FormulaCell) -> dict[str, Any]:
        result = self.result(f)
        if isinstance(result, Exception):
            raise result
        return {c: self._pick(f, result, c) for c in f.cells()}

    @staticmethod
    def _pick(f: FormulaCell, result: list[list[Any]], coord: str) -> Any:
        rows = len(result)
        cols = max((len(r) for r in result), default=0)
        if not f.area:
            i = j = 0
        else:
            c0, r0, _, _ = range_boundaries(f.area)
            col, row = coordinate_from_string(coord)
            i, j = row - r0, column_index_from_string(col) - c0
            if rows == 1:
                i = 0
            if cols == 1:
                j = 0
        if i >= rows or j >= cols:
            return NA
        r = result[i]
        return normalize(r[j]) if j < len(r) else BLANK

    # -- formulas
    def result(self, f: FormulaCell):
        key = (f.sheet, f.coord)
        if key not in self.results:
            if key in self._busy:
                raise FormulaError(f"{f.sheet}!{f.coord}: circular reference")
            self._busy.add(key)
            try:
                tokens = [t for t in Tokenizer(f.text).items if t.type != Token.WSPACE]
                value, pos = self._expr(tokens, 0, f.sheet)
                if pos != len(tokens):
                    raise FormulaError(f"cannot evaluate {f.text!r}: unexpected {tokens[pos].value!r}")
                value = _matrix(value)
                self.results[key] = value if isinstance(value, list) else [[value]]
            except FormulaError as exc:
                self.results[key] = FormulaError(f"{f.sheet}!{f.coord} {f.text}: {exc}")
            finally:
                self._busy.discard(key)
        return self.results[key]

    # A small Pratt parser over openpyxl's tokens: udfs calls, ranges, literals, and the few native operators
    # and functions a template uses around them (IF, IFERROR, AND, OR, NOT; = <> < > <= >= & + - * / ^).
    _INFIX = {"=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "&": 2, "+": 3, "-": 3, "*": 4, "/": 4, "^": 5}

    def _expr(self, tokens: list[Token], pos: int, sheet: str, min_prec: int = 1):
        left, pos = self._prefix(tokens, pos, sheet)
        while pos < len(tokens) and tokens[pos].type == Token.OP_IN:
            op = tokens[pos].value
            prec = self._INFIX.get(op)
            if prec is None:
                raise FormulaError(f"unsupported operator {op!r}")
            if prec < min_prec:
                break
            right, pos = self._expr(tokens, pos + 1, sheet, prec + 1)
            left = _infix(op, _scalar(left), _scalar(right))
        return left, pos

    def _prefix(self, tokens: list[Token], pos: int, sheet: str):
        t = tokens[pos]
        if t.type == Token.OP_PRE:
            value, pos = self._expr(tokens, pos + 1, sheet, 6)
            value = _scalar(value)
            return (-_number(value) if t.value == "-" else _number(value)), pos
        if t.type == Token.PAREN and t.subtype == Token.OPEN:
            value, pos = self._expr(tokens, pos + 1, sheet)
            return value, pos + 1  # the closing parenthesis
        if t.type == Token.FUNC and t.subtype == Token.OPEN:
            name = t.value[:-1]
            for p in _PREFIXES:
                if name.lower().startswith(p):
                    name = name[len(p):]
            pos += 1
            args: list[Any] = []
            while not (tokens[pos].type == Token.FUNC and tokens[pos].subtype == Token.CLOSE):
                if tokens[pos].type == Token.SEP:
                    args.append(None)  # an empty argument
                    pos += 1
                    continue
                value, pos = self._expr(tokens, pos, sheet)
                args.append(value)
                if tokens[pos].type == Token.SEP:
                    pos += 1
                    if tokens[pos].type == Token.FUNC and tokens[pos].subtype == Token.CLOSE:
                        args.append(None)
            pos += 1
            upper = name.upper()
            if upper in self.functions:
                self.calls += 1
                return self._call(upper, self.functions[upper], [_matrix(a) for a in args]), pos
            if upper in _NATIVE:
                return _NATIVE[upper]([_scalar(a) for a in args]), pos
            raise FormulaError(f"{name} is neither a udfs function nor a native function the test evaluates")
        if t.type == Token.OPERAND:
            if t.subtype == Token.RANGE:
                return self._range(t.value, sheet), pos + 1
            if t.subtype == Token.NUMBER:
                return float(t.value), pos + 1
            if t.subtype == Token.TEXT:
                return t.value[1:-1].replace('""', '"'), pos + 1
            if t.subtype == Token.LOGICAL:
                return t.value.upper() == "TRUE", pos + 1
        raise FormulaError(f"unsupported formula element {t.value!r} ({t.type} {t.subtype})")

    def _call(self, name: str, func: Callable, args: list[Any]):
        import inspect

        params = list(inspect.signature(func).parameters.values())
        positional, keywords = [], {}
        for param, value in zip(params, args):
            required = param.default is inspect.Parameter.empty
            if required:  # a range argument (sequence<sequence<any>> in the add-in): always 2-D
                positional.append(value if isinstance(value, list) else [[value]])
                continue
            if isinstance(value, list) and len(value) == 1 and len(value[0]) == 1:
                value = value[0][0]  # one cell given for an optional (any) argument: its value
            if value is not None:  # omitted or empty: the function's default
                keywords[param.name] = value
        try:
            return func(*positional, **keywords)
        except Exception as exc:  # the add-in shows the same message in the cell
            return [[f"relhealth: {name}: {str(exc).strip() or type(exc).__name__}"]]

    def _range(self, ref: str, sheet: str) -> list[list[Any]]:
        if "!" in ref:
            sheet, ref = ref.rsplit("!", 1)
            sheet = sheet[1:-1].replace("''", "'") if sheet.startswith("'") else sheet
        if sheet not in self.wb.sheetnames:
            raise FormulaError(f"no sheet {sheet!r}")
        ref = ref.replace("$", "")
        if re.fullmatch(r"[A-Za-z_][\w.]*", ref) and not re.fullmatch(r"[A-Za-z]{1,3}\d+", ref):
            raise FormulaError(f"named ranges ({ref}) are not supported by the test")
        key = (sheet, ref)
        if key not in self._ranges:
            ws = self.wb[sheet]
            c1, r1, c2, r2 = range_boundaries(ref)
            c1, r1 = c1 or 1, r1 or 1
            c2, r2 = c2 or ws.max_column, r2 or ws.max_row
            rows = [[None if v == "" else v for v in row]
                    for row in ws.iter_rows(min_row=r1, max_row=r2, min_col=c1, max_col=c2, values_only=True)]
            for s, coord in self.owner:  # formula cells inside: their computed values
                if s != sheet:
                    continue
                col, row = coordinate_from_string(coord)
                c = column_index_from_string(col)
                if r1 <= row <= r2 and c1 <= c <= c2:
                    rows[row - r1][c - c1] = self.argument(sheet, coord)
            self._ranges[key] = rows
        return [list(r) for r in self._ranges[key]]


# ---------------------------------------------------------------- native spreadsheet semantics (the few used)
def _matrix(value: Any) -> Any:
    """A range (2-D list) stays 2-D; a udfs result that is a plain list of rows too; scalars stay scalars."""
    if isinstance(value, tuple):
        value = [list(r) if isinstance(r, (list, tuple)) else [r] for r in value]
    return value


def _scalar(value: Any) -> Any:
    """A value in a scalar context: the top-left of an array (a 1x1 range is its cell)."""
    while isinstance(value, (list, tuple)):
        if not value:
            return None
        value = value[0]
    return value


def _number(value: Any) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return normalize(value)
    try:
        return float(str(value))
    except ValueError:
        raise FormulaError(f"#VALUE!: {value!r} is not a number") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(a: Any, b: Any) -> int:
    if a is None:
        a = "" if isinstance(b, str) else (False if isinstance(b, bool) else 0.0)
    if b is None:
        b = "" if isinstance(a, str) else (False if isinstance(a, bool) else 0.0)

    def rank(v: Any) -> int:
        return 2 if isinstance(v, bool) else 1 if isinstance(v, str) else 0

    if rank(a) != rank(b):
        return -1 if rank(a) < rank(b) else 1
    if isinstance(a, str):
        a, b = a.casefold(), b.casefold()
    elif not isinstance(a, bool):
        a, b = _number(a), _number(b)
    return (a > b) - (a < b)


def _infix(op: str, a: Any, b: Any) -> Any:
    if op in ("=", "<>", "<", ">", "<=", ">="):
        c = _compare(a, b)
        return {"=": c == 0, "<>": c != 0, "<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]
    if op == "&":
        return _text(a) + _text(b)
    x, y = _number(a), _number(b)
    if op == "/" and y == 0:
        return "#DIV/0!"
    return {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else 0.0, "^": x ** y}[op]


def _truth(value: Any) -> bool:
    if isinstance(value, str):
        if value.upper() in ("TRUE", "FALSE"):
            return value.upper() == "TRUE"
        raise FormulaError(f"#VALUE!: {value!r} is not TRUE or FALSE")
    return bool(_number(value))


def _is_error(value: Any) -> bool:
    return isinstance(value, str) and value in ("#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!")


_NATIVE: dict[str, Callable[[list[Any]], Any]] = {
    "IF": lambda a: (a[1] if len(a) > 1 else True) if _truth(a[0]) else (a[2] if len(a) > 2 else False),
    "IFERROR": lambda a: a[1] if _is_error(a[0]) else a[0],
    "AND": lambda a: all(_truth(v) for v in a if v is not None),
    "OR": lambda a: any(_truth(v) for v in a if v is not None),
    "NOT": lambda a: not _truth(a[0]),
}
