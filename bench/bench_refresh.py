"""How long does ``relhealth refresh`` take? Prints seconds per phase for sample books of 600 / 1k / 10k accounts
with their order and event logs, for the first refresh (every trend month-end computed) and the next one (month-
ends whose records did not change are read back from the Charts sheet).

    python bench/bench_refresh.py                    # 600, 1000, 10000 accounts
    python bench/bench_refresh.py --sizes 600 --keep /tmp/books

Targets: 600 accounts under 3 s, 10k accounts under 15 s, imports excluded: the modules a refresh imports on
first use (the engine, scipy, matplotlib, openpyxl's reader; about 1.5 s) are imported before the clock starts,
and the time they took is printed on its own line. Figures, not a timed test: nothing here fails on a slow
machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from addin.refresh import BookTarget, refresh  # noqa: E402
from addin.safe_save import save_atomic  # noqa: E402
from addin.sample_book import write_sample_book  # noqa: E402

TARGETS = {600: 3.0, 10_000: 15.0}
# What ``refresh`` imports on first use: imported up front so that the first refresh is timed without them.
FIRST_USE_IMPORTS = ("charts", "relhealth.health", "relhealth.risk", "relhealth.tiers", "relhealth.lost",
                     "relhealth.planner", "relhealth.seasonality", "relhealth.triggers", "relhealth.trend",
                     "relhealth.reader", "addin.workbook", "addin.fastload", "openpyxl.reader.excel", "scipy.stats",
                     "multiprocessing.context")


def import_first_use_modules() -> float:
    import importlib

    started = time.perf_counter()
    for name in FIRST_USE_IMPORTS:
        importlib.import_module(name)
    return time.perf_counter() - started


class Phases:
    """A progress callback that records how long each step took."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.current = "opening the workbook"
        self.spent: dict[str, float] = {}

    def __call__(self, _fraction: float, message: str) -> None:
        now = time.perf_counter()
        key = "scoring" if message.startswith("scoring") else message
        self.spent[self.current] = self.spent.get(self.current, 0.0) + now - self.last
        self.current, self.last = key, now

    def close(self) -> float:
        self(1.0, "done")
        return time.perf_counter() - self.start


def one_refresh(path: Path) -> tuple[float, dict[str, float], int]:
    phases = Phases()
    target = BookTarget(path)
    report = refresh(target, phases)
    save_atomic(target.save_to, path, backup=True)
    total = phases.close()
    return total, phases.spent, report.trend_reused


def rows_in(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        size = sum(i.file_size for i in z.infolist()) / 1e6
    return f"{path.stat().st_size / 1e6:.1f} MB ({size:.0f} MB unpacked)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[600, 1000, 10_000])
    parser.add_argument("--keep", help="folder to keep the benchmark books in")
    args = parser.parse_args(argv)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench-refresh-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"imports on first use (not counted below): {import_first_use_modules():.2f} s")
    print(f"{'accounts':>8}  {'run':<6} {'total s':>8}  {'target':>7}  phases (s)")
    for n in args.sizes:
        path = folder / f"sample-{n}.xlsx"
        started = time.perf_counter()
        write_sample_book(path, accounts=n)
        print(f"{n:>8}  sample book written in {time.perf_counter() - started:.1f} s: {rows_in(path)}")
        for run in ("first", "next"):
            total, spent, reused = one_refresh(path)
            target = TARGETS.get(n)
            verdict = "" if target is None else (f"<{target:g} ok" if total < target else f"<{target:g} MISSED")
            detail = ", ".join(f"{k} {v:.2f}" for k, v in spent.items() if v >= 0.05)
            print(f"{n:>8}  {run:<6} {total:8.2f}  {verdict:>7}  {detail}; trend month-ends reused: {reused}")
    print(f"books in {folder}")


if __name__ == "__main__":
    main()
