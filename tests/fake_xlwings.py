"""A small in-memory stand-in for the part of the xlwings object model the refresh script uses (no Excel on
Linux): books, sheets, used ranges, values/formulas, row delete, names, pictures, the status bar.

Cells hold a value or a formula string; ``value`` reads a formula cell as its formula text (good enough: the
refresh only reads the owned sheets' values back to match rows). Row delete shifts cells up and adjusts
references to moved rows of the same sheet in formulas, as Excel does.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

from openpyxl.utils import column_index_from_string, get_column_letter


class Range:
    def __init__(self, sheet, r1, c1, r2=None, c2=None, ndim=None):
        self.sheet, self.row, self.column = sheet, r1, c1
        self.last_row, self.last_column = r2 or r1, c2 or c1
        self._ndim = ndim
        self.font = SimpleNamespace(bold=False)
        self.left, self.top = (c1 - 1) * 64.0, (r1 - 1) * 20.0

    def options(self, ndim=None, **_):
        return Range(self.sheet, self.row, self.column, self.last_row, self.last_column, ndim)

    def _grid(self, formulas: bool):
        cells = self.sheet.cells
        return [[cells.get((r, c)) for c in range(self.column, self.last_column + 1)]
                for r in range(self.row, self.last_row + 1)]

    @property
    def value(self):
        grid = self._grid(False)
        if self._ndim == 2 or len(grid) > 1 or len(grid[0]) > 1:
            return grid
        return grid[0][0]

    @value.setter
    def value(self, data):
        if not isinstance(data, list):
            data = [[data]]
        elif data and not isinstance(data[0], list):
            data = [data]
        for i, row in enumerate(data):
            for j, v in enumerate(row):
                if v is None:
                    self.sheet.cells.pop((self.row + i, self.column + j), None)
                else:
                    self.sheet.cells[(self.row + i, self.column + j)] = v

    formula = value

    @property
    def number_format(self):
        return self.sheet.formats.get((self.row, self.column), "General")

    @number_format.setter
    def number_format(self, fmt):
        for r in range(self.row, self.last_row + 1):
            for c in range(self.column, self.last_column + 1):
                self.sheet.formats[(r, c)] = fmt

    @property
    def column_width(self):
        return self.sheet.widths.get(self.column, 8.43)

    @column_width.setter
    def column_width(self, width):
        self.sheet.widths[self.column] = width

    def clear(self):
        for r in range(self.row, self.last_row + 1):
            for c in range(self.column, self.last_column + 1):
                self.sheet.cells.pop((r, c), None)

    def delete(self):
        self.sheet.delete_rows(self.row, self.last_row)

    def get_address(self, row_absolute=True, column_absolute=True, include_sheetname=False):
        address = f"${get_column_letter(self.column)}${self.row}:${get_column_letter(self.last_column)}" \
                  f"${self.last_row}"
        return f"'{self.sheet.name}'!{address}" if include_sheetname else address


class Sheet:
    def __init__(self, book, name):
        self.book, self.name = book, name
        self.cells, self.formats, self.widths, self.pictures_by_name = {}, {}, {}, {}
        self.pictures = SimpleNamespace(add=self._add_picture)

    def _add_picture(self, fig, name=None, update=False, left=0, top=0):
        if name in self.pictures_by_name and not update:
            raise ValueError("picture name taken")
        self.pictures_by_name[name] = (fig, left, top)

    def range(self, first, second=None):
        if isinstance(first, tuple):
            r2, c2 = second if second else first
            return Range(self, first[0], first[1], r2, c2)
        rows = re.fullmatch(r"(\d+):(\d+)", first)
        if rows:
            return Range(self, int(rows.group(1)), 1, int(rows.group(2)), self._max()[1] or 1)
        cell = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", first)
        return Range(self, int(cell.group(2)), column_index_from_string(cell.group(1)))

    def _max(self):
        if not self.cells:
            return 0, 0
        return max(r for r, _ in self.cells), max(c for _, c in self.cells)

    @property
    def used_range(self):
        rows, cols = self._max()
        return Range(self, 1, 1, max(rows, 1), max(cols, 1))

    def delete_rows(self, first, last):
        count = last - first + 1
        moved = {}
        for (r, c), v in self.cells.items():
            if first <= r <= last:
                continue
            moved[(r - count if r > last else r, c)] = v
        shift = {r: r - count for r in range(last + 1, self._max()[0] + 1)}
        self.cells = {k: _shift_formula(v, shift) for k, v in moved.items()}


def _shift_formula(value, shift):
    if not (isinstance(value, str) and value.startswith("=")):
        return value
    return re.sub(r"(?<![A-Za-z!$\d])(\$?[A-Z]{1,3}\$?)(\d+)\b",
                  lambda m: f"{m.group(1)}{shift.get(int(m.group(2)), int(m.group(2)))}", value)


class Names(list):
    def add(self, name, refers_to):
        self.append(Name(self.book, name, refers_to))


class Name:
    def __init__(self, book, name, refers_to):
        self.book, self.name, self.refers_to = book, name, refers_to

    @property
    def refers_to_range(self):
        match = re.fullmatch(r"='(.+)'!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", self.refers_to)
        sheet = self.book.sheets[match.group(1)]
        return Range(sheet, int(match.group(3)), column_index_from_string(match.group(2)), int(match.group(5)),
                     column_index_from_string(match.group(4)))


class Sheets(list):
    def __getitem__(self, key):
        if isinstance(key, str):
            return next(s for s in self if s.name == key)
        return list.__getitem__(self, key)

    def add(self, name, after=None):
        sheet = Sheet(self.book, name)
        self.append(sheet)
        return sheet


class App:
    """Records what the status bar showed."""

    def __init__(self):
        self.history = []

    @property
    def status_bar(self):
        return self.history[-1] if self.history else False

    @status_bar.setter
    def status_bar(self, text):
        self.history.append(text)


class Book:
    def __init__(self, sheets: dict[str, list[list]]):
        self.sheets = Sheets()
        self.sheets.book = self
        self.names = Names()
        self.names.book = self
        self.app = App()
        for name, grid in sheets.items():
            sheet = self.sheets.add(name)
            sheet.range("A1").value = [list(r) for r in grid]
