"""The one refresh: read the book, run ``health.assess`` once, write the sheets the add-in owns, insert the charts.

``refresh(target, progress)`` is the routine. A *target* is the workbook seen through one library:

- ``BookTarget`` (here): a workbook file through openpyxl, for ``relhealth refresh BOOK.xlsx`` and
  ``relhealth demo``; ``refresh_file`` wraps it with the atomic save, the backup and the terminal progress bar;
- ``addin.scripts.ExcelTarget``: the open workbook through xlwings, for the button in Excel (``@script``),
  with progress in Excel's status bar.

Both offer the same five operations (``input_sheets``, ``read_keyed``, ``write_keyed``, ``write_report``,
``write_charts``); everything else, including what goes in each sheet (``owned``) and how user rows and columns
are kept (``merge``), is shared. See docs/refresh.md.
"""

from __future__ import annotations

import io
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from relhealth.collector import collector_paused

from . import graft, merge, owned, safe_save, writer

ProgressFn = Callable[[float, str], None]
# Past month-ends of the health trend cost a full scoring each. A refresh spends at most this long on new ones
# (newest first); the rest are added by the next refreshes (the table is kept on the Charts sheet).
TREND_BUDGET_SECONDS = 20.0


@dataclass
class RefreshReport:
    accounts: int = 0
    planner_rows: int = 0
    kept_rows: int = 0  # planner rows kept only for the user's notes
    trend_reused: int = 0  # month-ends of the trend taken from the last refresh
    trend_pending: int = 0  # month-ends left for a later refresh (time budget)
    warnings: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    path: Path | None = None
    backup: Path | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"Refreshed {self.path.name if self.path else 'the workbook'}: {self.accounts:,} accounts scored, "
                 f"{self.planner_rows:,} rows in the Win-back Planner"
                 + (f" ({self.kept_rows} kept for your notes)" if self.kept_rows else "")
                 + f", {self.seconds:.1f} s."]
        if self.backup:
            lines.append(f"The previous version is kept as {self.backup.name}.")
        if self.trend_pending:
            lines.append(f"The health trend has {self.trend_pending} month-ends still to compute: each refresh "
                         "adds more.")
        lines += [f"Note: {w}" for w in self.warnings]
        return "\n".join(lines)


def refresh(target, progress: ProgressFn | None = None) -> RefreshReport:
    """Read, assess once, write the owned sheets and charts through ``target``; returns what was done."""
    from charts import health_charts, in_order, trend_charts
    from relhealth import stats
    from relhealth.health import assess
    from relhealth.reader import read_book
    from relhealth.trend import TrendJob

    step = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    report = RefreshReport()
    step(0.02, "reading the workbook")
    sheets, hidden = target.input_sheets()
    book = read_book(sheets, hidden=hidden)
    report.accounts = len(book.accounts)
    # The trend's month-ends (a scoring each) start now: with ``trend_workers`` >= 2 a forked helper computes them
    # while this process scores the book and writes the sheets, then both share what is left.
    trend_job = TrendJob(book, known=target.read_trend(owned.CHARTS), budget_seconds=TREND_BUDGET_SECONDS)
    trend_job.start(getattr(target, "trend_workers", 1))
    step(0.20, f"scoring {len(book.accounts):,} accounts")
    health = assess(book)
    ids = book.accounts["account_id"].astype(str)
    step(0.60, "writing Scores and the Win-back Planner")
    for table in (owned.scores_table(health), owned.planner_table(health)):
        existing = target.read_keyed(table.sheet, report.warnings)
        plan = merge.plan_keyed(existing, table, set(ids))
        target.write_keyed(table, plan, existing, report.warnings)
        if table.sheet == owned.PLANNER:
            report.planner_rows = len(plan.rows)
            report.kept_rows = sum(1 for r in plan.rows if r.marker)
    step(0.68, "writing Seasonality and Triggers")
    stamp = f"as of {book.settings.today():%Y-%m-%d}"
    note = ("Written by the relhealth refresh ({}). These tables are replaced on every refresh; "
            "anything you type outside them is kept.")
    target.write_report(owned.SEASONALITY, f"Break-up seasons ({stamp})", note.format(writer.today_text()),
                        owned.seasonality_blocks(health), report.warnings)
    target.write_report(owned.TRIGGERS, f"What comes before a break-up ({stamp})", note.format(writer.today_text()),
                        owned.trigger_blocks(health), report.warnings)
    step(0.72, "drawing charts")
    revenue = pd.Series(stats.account_revenue(book), index=ids.to_numpy())
    first = health_charts(health, revenue)  # drawn (and rendered) while the trend's helper is still at work
    if hasattr(target, "render_charts"):
        target.render_charts(first)
    step(0.80, "recomputing past month-ends for the trend")
    trend = trend_job.result()
    report.trend_reused, report.trend_pending = trend.reused, trend.pending
    step(0.85, "drawing the trend charts")
    charts = in_order(first, trend_charts(trend))
    report.findings = [c.title for c in charts]
    target.write_charts(owned.CHARTS, f"Relationship health at a glance ({stamp})", charts,
                        owned.trend_block(trend), report.warnings)
    _close(charts)
    report.seconds = time.perf_counter() - started
    step(0.92, "saving")
    return report


def _close(charts) -> None:
    for chart in charts:
        chart.figure.clear()


# ---- headless: a workbook file through openpyxl -------------------------------------------------------------------

class BookTarget:
    """A workbook file through openpyxl. Only the owned sheets are loaded and written: the user's sheets are
    stubbed out and grafted back untouched on save (``graft``), unless the workbook has parts that cannot be
    grafted; then the whole workbook makes the openpyxl round-trip. The trend's month-ends are shared with one
    forked helper process where the machine has two cores or more (``TrendJob``)."""

    trend_workers = min(2, os.cpu_count() or 1)

    def __init__(self, path: Path):
        from openpyxl import load_workbook

        from .workbook import load_sheets

        self.path = path
        self._png: dict[str, bytes] = {}
        self._rendering: list[PngJob] = []
        with collector_paused():
            try:
                self.grafted = graft.can_graft(path)
                source, self.stubbed = graft.reduce_package(path) if self.grafted else (path, set())
                self.wb = load_workbook(source, keep_vba=path.suffix.lower() in (".xlsm", ".xltm"), keep_links=True)
                owned_titles = self.owned_titles()
            except Exception:
                load_sheets(path)  # not a workbook: the reader's own error (FileNotFoundError, BookError)
                raise
            # values as Excel last calculated them, hidden columns; the owned sheets (loaded above) are not read
            # twice
            self._values = load_sheets(path, skip=owned_titles, workers=self.trend_workers)

    def owned_titles(self) -> set[str]:
        return {ws.title for name in owned.ROLES if (ws := writer.owned_sheet(self.wb, name)) is not None}

    def input_sheets(self):
        sheets, hidden = self._values
        mine = self.owned_titles()
        return ({k: v for k, v in sheets.items() if k not in mine},
                {k: v for k, v in hidden.items() if k not in mine})

    def read_keyed(self, name: str, warnings: list[str]):
        ws = writer.owned_sheet(self.wb, name)
        if ws is None:
            return None
        with collector_paused():
            existing = writer.read_existing(ws)
        if existing is None:  # the user removed the Account ID header: keep their sheet, start a fresh one
            old = ws.title
            ws.title = writer.free_title(self.wb, f"{old} (old)")
            del self.wb.defined_names[owned.ROLES[name]]
            warnings.append(f"'{old}' had no '{owned.KEY}' header any more, so rows could not be matched; it was "
                            f"kept as '{ws.title}' and a fresh '{old}' was written.")
        return existing

    def write_keyed(self, table: owned.Keyed, plan: merge.Plan, existing, warnings: list[str]) -> None:
        ws, created = writer.sheet_for(self.wb, table.sheet, warnings)
        with collector_paused():
            writer.write_keyed(self.wb, ws, table, plan, existing, created)
        writer.mark(self.wb, table.sheet, ws, plan.header_row + len(plan.rows), len(plan.headers))

    def write_report(self, name: str, title: str, banner: str, blocks, warnings: list[str]) -> None:
        ws, created = writer.sheet_for(self.wb, name, warnings)
        if not created:
            writer.clear_area(ws, writer.previous_area(self.wb, name))
        last_row, width = writer.write_report(ws, title, banner, blocks)
        writer.mark(self.wb, name, ws, last_row, width)

    def render_charts(self, charts) -> None:
        """Render these charts' PNGs (``write_charts`` places them) while the trend is computed. Where a process
        can be forked (``PngJob``) it renders half of them meanwhile, and this one the other half."""
        charts = list(charts)
        half = (len(charts) + 1) // 2 if self.trend_workers >= 2 else 0
        self._rendering.append(PngJob(charts[:half], self.trend_workers))
        self._png.update({c.name: writer.png_bytes(c.figure) for c in charts[half:]})

    def read_trend(self, name: str):
        ws = writer.owned_sheet(self.wb, name)
        return owned.trend_from_grid([list(r) for r in ws.iter_rows(values_only=True)]) if ws is not None else None

    def write_charts(self, name: str, title: str, charts, trend, warnings: list[str]) -> None:
        ws, created = writer.sheet_for(self.wb, name, warnings)
        if not created:
            writer.clear_area(ws, writer.previous_area(self.wb, name))
        last_row = writer.write_findings(ws, title, [c.title for c in charts])
        anchors = chart_anchors(last_row + 2, len(charts))
        pending = {c.name for job in self._rendering for c in job.charts}
        self.render_charts([c for c in charts if c.name not in self._png and c.name not in pending])
        while self._rendering:
            self._png.update(self._rendering.pop(0).result())
        writer.place_pictures(ws, [(c.name, self._png.get(c.name, c.figure), a) for c, a in zip(charts, anchors)])
        writer.chart_page_breaks(ws, last_row + 2, len(charts), CHART_ROWS)
        below = last_row + 2 + ((len(charts) + 1) // 2) * CHART_ROWS
        end_row, end_col = writer.write_block(ws, below, 2, trend)
        writer.mark(self.wb, name, ws, end_row, end_col)

    def save_to(self, path: Path) -> None:
        with collector_paused():
            if not self.grafted:
                self.wb.save(path)
                return
            buffer = io.BytesIO()
            self.wb.save(buffer)
            graft.graft(self.path, buffer.getvalue(), self.stubbed, path)


class PngJob:
    """The PNGs of some charts, ``{name: bytes}`` from ``result()``. With ``workers`` >= 2 (Linux, as the trend's
    helper) a forked process renders them meanwhile; the bytes are those ``writer.png_bytes`` gives here, and if
    that process fails they are rendered here after all."""

    def __init__(self, charts, workers: int = 1):
        self.charts, self.child, self.receive = list(charts), None, None
        if workers < 2 or not self.charts or not sys.platform.startswith("linux"):
            return
        import multiprocessing as mp
        try:
            ctx = mp.get_context("fork")
            self.receive, send = ctx.Pipe(duplex=False)
            self.child = ctx.Process(target=self._render_to, args=(send,), daemon=True)
            self.child.start()
            send.close()
        except (OSError, ValueError):
            self.child = None

    def _render_to(self, send) -> None:
        import pickle
        send.send_bytes(pickle.dumps({c.name: writer.png_bytes(c.figure) for c in self.charts}))
        send.close()

    def result(self) -> dict[str, bytes]:
        if self.child is not None:
            import pickle
            try:
                return pickle.loads(self.receive.recv_bytes())
            except (EOFError, OSError):
                pass  # the process died: render here
            finally:
                self.receive.close()
                self.child.join()
        return {c.name: writer.png_bytes(c.figure) for c in self.charts}


CHART_ROWS = 21  # a 380-px chart spans 19 default rows (20 px each), plus a gap


def chart_anchors(first_row: int, count: int) -> list[str]:
    """Top-left cells of the charts: two per row of charts, columns B and J (8 columns of 13 = 728 px)."""
    return [f"{'B' if k % 2 == 0 else 'J'}{first_row + (k // 2) * CHART_ROWS}" for k in range(count)]


# ---- the command -------------------------------------------------------------------------------------------------

class TextProgress:
    """A progress bar on stderr: redrawn in place on a terminal, one line per step otherwise. No dependency."""

    def __init__(self, stream=None, width: int = 28):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, fraction: float, message: str) -> None:
        filled = int(round(self.width * max(0.0, min(1.0, fraction))))
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} {message}"
        self.stream.write(("\r" + bar.ljust(78)) if self.tty else bar + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def refresh_file(path, out=None, progress: bool = True) -> RefreshReport:
    """Refresh the workbook at ``path`` (or write the refreshed copy to ``out``), atomically, keeping a backup.

    Raises ``FileNotFoundError`` / ``relhealth.book.BookError`` for an unreadable book and ``safe_save.SaveError``
    (a ``PermissionError``) when the target cannot be written; in every such case no file has changed."""
    started = time.perf_counter()
    source = Path(path)
    dest = Path(out) if out else source
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file")
    safe_save.check_writable(dest)  # fail before the work, not after it
    bar = TextProgress() if progress else None
    try:
        target = BookTarget(source)
        report = refresh(target, bar)
        # The grafted sheets go back byte for byte with everything they reference: only the user's sheets that
        # made the openpyxl round-trip (all of them when the book could not be grafted) are compared.
        user_sheets = set(target.wb.sheetnames) - target.owned_titles() - target.stubbed
        before = safe_save.package_features(source, user_sheets)

        def save(temp: Path) -> None:
            target.save_to(temp)
            lost = safe_save.lost_features(before, safe_save.package_features(temp, user_sheets), user_sheets)
            if lost:
                report.warnings.append(
                    "openpyxl could not carry over " + "; ".join(lost) + ". The previous version (backup) still "
                    "has them; refresh from Excel (the relhealth button) to keep them in place.")

        report.backup = safe_save.save_atomic(save, dest, backup=True)
        report.path = dest
        report.seconds = time.perf_counter() - started
        if bar:
            bar(1.0, "done")
    finally:
        if bar:
            bar.close()
    if progress:
        print(report.summary())
    return report
