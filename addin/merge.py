"""Refreshing a keyed sheet without losing anything the user typed (pure: no workbook here).

The sheet as it stands (``Existing``: the header row and the rows under it, cells as value-or-formula plus an
opaque style) and the freshly computed table (``owned.Keyed``) give a ``Plan``:

- columns keep their positions; computed columns the sheet lacks are appended at the right; any other column
  (Status, Next step, Notes, Outcome, or one the user added, with or without a header) is the user's;
- rows keep the user's order. A row whose Account ID is still in the table gets fresh computed cells and keeps its
  user cells. A row whose account no longer qualifies is kept, marked, when it has anything in a user column,
  and dropped when it has not. A row with no Account ID but user input is kept as it is. New accounts are
  appended at the bottom, in the table's order (most urgent first);
- a carried formula keeps pointing at the same cells, as Excel adjusts formulas when rows are deleted or moved:
  a reference to a row of the table that moved follows it ("=C7*2" on account A's row still reads account A's
  row), references elsewhere are left alone (``move_formula``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.worksheet.formula import ArrayFormula

from .owned import KEY, Keyed, key_text


@dataclass
class Cell:
    value: Any = None
    style: Any = None  # openpyxl StyleArray (headless) or None (xlwings)
    hyperlink: Any = None
    comment: Any = None

    @property
    def empty(self) -> bool:
        return self.value is None or (isinstance(self.value, str) and not self.value.strip())


@dataclass
class Existing:
    header_row: int  # 1-based sheet row of the header
    headers: list[str | None]
    rows: list[list[Cell]]


@dataclass
class OutRow:
    source: int | None  # index into Existing.rows whose cells are carried, None for a new row
    computed: dict[str, Any] | None  # header -> value, None: the row's cells are all carried as they were
    marker: str | None = None


@dataclass
class Plan:
    header_row: int
    headers: list[str | None]
    computed: set[str]
    rows: list[OutRow]
    added: list[str] = field(default_factory=list)  # computed headers appended on this refresh

    def position(self, header: str) -> int:
        """0-based column of a computed header."""
        return self.headers.index(header)


def header_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def find_header(rows: list[list[Any]], scan: int = 10) -> int | None:
    """0-based index of the first of the top ``scan`` rows holding the key header, else None."""
    for i, row in enumerate(rows[:scan]):
        if any(header_text(v) == KEY for v in row):
            return i
    return None


def plan_keyed(existing: Existing | None, table: Keyed, known_ids: set[str] | None = None) -> Plan:
    """Where every cell of the refreshed sheet comes from (see the module docstring)."""
    computed_headers = [c.header for c in table.cols]
    values = _values_by_id(table)
    if existing is None:
        rows = [OutRow(None, row) for row in values.values()]
        return Plan(1, list(table.layout), set(computed_headers), rows)

    headers = list(existing.headers)
    present = {h for h in headers if h}
    added = [h for h in computed_headers if h not in present]
    headers += added
    # Only the first column under a computed header is computed; a copy of it elsewhere is the user's.
    first = {h: headers.index(h) for h in computed_headers}
    computed_at = set(first.values())
    key_at = first[KEY]
    user_at = [j for j in range(len(headers)) if j not in computed_at]
    known = known_ids if known_ids is not None else set(values)
    situation_at = first.get(table.marker) if table.marker in first else None

    out: list[OutRow] = []
    seen: set[str] = set()
    for i, row in enumerate(existing.rows):
        key = key_text(row[key_at].value) if key_at < len(row) else ""
        has_input = any(j < len(row) and not row[j].empty for j in user_at)
        if key and key in values:
            out.append(OutRow(i, values[key]))
            seen.add(key)
        elif has_input:
            out.append(OutRow(i, None, _stale_marker(table, key, known, row, situation_at) if key else None))
    out += [OutRow(None, row) for key, row in values.items() if key not in seen]
    return Plan(existing.header_row, headers, set(computed_headers), out, added)


def _values_by_id(table: Keyed) -> dict[str, dict[str, Any]]:
    frame = table.frame
    by_id: dict[str, dict[str, Any]] = {}
    columns = {c.header: frame[c.field].tolist() if c.field in frame.columns else [None] * len(frame)
               for c in table.cols}
    for k in range(len(frame)):
        row = {h: column[k] for h, column in columns.items()}
        key = key_text(row[KEY])
        if key and key not in by_id:
            by_id[key] = row
    return by_id


def _stale_marker(table: Keyed, key: str, known: set[str], row: list[Cell], situation_at: int | None) -> str:
    if key not in known:
        return table.stale["gone"]
    was = str(row[situation_at].value or "") if situation_at is not None and situation_at < len(row) else ""
    kind = "Lost" if was.startswith("Lost") else "At risk"
    return table.stale.get(kind, table.stale["gone"])


def has_user_input(existing: Existing | None, table: Keyed) -> bool:
    if existing is None:
        return False
    computed = {c.header for c in table.cols}
    user_at = [j for j, h in enumerate(existing.headers) if h not in computed]
    return any(j < len(row) and not row[j].empty for row in existing.rows for j in user_at)


def row_map(plan: Plan) -> dict[int, int]:
    """Old sheet row -> new sheet row of every carried row (1-based)."""
    first = plan.header_row + 1
    return {first + row.source: first + k for k, row in enumerate(plan.rows) if row.source is not None}


_CELL = re.compile(r"^(\$?[A-Za-z]{1,3}\$?)(\d+)$")
_ROW = re.compile(r"^(\$?)(\d+)$")


def move_formula(value: Any, rows: dict[int, int], sheet: str) -> Any:
    """A carried formula after the refresh moved rows, as Excel adjusts formulas when rows move: a reference to
    a cell of this sheet whose row moved follows it (relative or absolute); references to other sheets, to
    names and to rows that did not move are left as they are."""
    text = value.text if isinstance(value, ArrayFormula) else value
    if not (isinstance(text, str) and text.startswith("=")) or all(k == v for k, v in rows.items()):
        return value
    try:
        tokens = Tokenizer(text)
    except Exception:  # a formula openpyxl's tokenizer cannot parse is carried unchanged
        return value
    changed = False
    for token in tokens.items:
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            moved = _move_reference(token.value, rows, sheet)
            changed |= moved != token.value
            token.value = moved
    if not changed:
        return value
    text = tokens.render()
    return ArrayFormula(value.ref, text) if isinstance(value, ArrayFormula) else text


def _move_reference(ref: str, rows: dict[int, int], sheet: str) -> str:
    prefix, bang, address = ref.rpartition("!")
    if bang:
        name = prefix[1:-1].replace("''", "'") if prefix.startswith("'") else prefix
        if name != sheet:
            return ref
    parts = []
    for part in address.split(":"):
        cell, row = _CELL.match(part), _ROW.match(part)
        if cell:
            part = f"{cell.group(1)}{rows.get(int(cell.group(2)), int(cell.group(2)))}"
        elif row and ":" in address:
            part = f"{row.group(1)}{rows.get(int(row.group(2)), int(row.group(2)))}"
        parts.append(part)
    return f"{prefix}{bang}{':'.join(parts)}"
