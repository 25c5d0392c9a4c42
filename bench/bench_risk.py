"""Benchmark: score 100,000 accounts with 1,000,000 order lines, in-process and as a whole command.

    python bench/bench_risk.py [--accounts 100000] [--lines 1000000]

Prints figures; asserts nothing (targets: under 3 s in-process on one core, under 10 s for the whole
``relhealth score-transactions`` process). The log is synthetic and seeded: Pareto/NBD-like buyers (gamma purchase
rates, exponential lifetimes) acquired over three years, one line per purchase with an amount. The command runs
with OpenBLAS on one thread and, where ``taskset`` exists, pinned to one core.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = pd.Timestamp("2025-12-31")
HORIZON = 180


def synthetic_log(accounts: int, lines: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 3 * 365, accounts)                     # days on the book at as-of
    life = rng.exponential(1 / rng.gamma(0.7, 1 / 700.0, accounts))
    seen = np.minimum(life, age)
    rate = rng.gamma(0.9, 1.0, accounts)
    rate *= (lines - accounts) / max(float((rate * seen).sum()), 1.0)  # expected repeat lines hit the target
    repeats = rng.poisson(rate * seen)
    owner = np.repeat(np.arange(accounts), repeats + 1)
    offset = rng.random(owner.size) * seen[owner]
    first = np.r_[0, np.cumsum(repeats + 1)[:-1]]
    offset[first] = 0.0
    day = (AS_OF - pd.to_timedelta(age[owner], "D")) + pd.to_timedelta(np.floor(offset), "D")
    return pd.DataFrame({"customer_id": np.char.add("C", owner.astype(str)), "order_date": day,
                         "amount": np.round(rng.gamma(2.0, 40.0, owner.size), 2)})


def one_core(command: list[str]) -> tuple[list[str], dict]:
    """``command`` on one core (taskset, where it exists) with OpenBLAS on one thread, and its environment."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return (["taskset", "-c", "0"] if shutil.which("taskset") else []) + command, env


def timed_runs(command: list[str], env: dict, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of ``runs`` runs of a process."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    opts = parser.parse_args()
    log = synthetic_log(opts.accounts, opts.lines)
    print(f"synthetic log: {log['customer_id'].nunique():,} accounts, {len(log):,} order lines, "
          f"as of {AS_OF:%Y-%m-%d}, horizon {HORIZON} days")

    from relhealth.risk import score_transactions

    orders = log.rename(columns={"customer_id": "account_id"})
    times, cpu = [], []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        scores = score_transactions(orders, AS_OF.date(), HORIZON)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    best = min(times)
    print(f"in-process fit and score: {best:.2f} s best of 3 ({', '.join(f'{t:.2f}' for t in times)}), "
          f"{len(log) / best:,.0f} order lines/s, {len(scores) / best:,.0f} accounts/s; "
          f"CPU time {min(cpu):.2f} s; target < 3 s")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall time above CPU time means the "
          "machine was shared)")

    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "log.csv", Path(tmp) / "scores.csv"
        log.assign(order_date=log["order_date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
        command, env = one_core([sys.executable, "-m", "addin.cli", "score-transactions", str(path), "--as-of",
                                 f"{AS_OF:%Y-%m-%d}", "--horizon-days", str(HORIZON), "--out", str(out)])
        runs, cpu = timed_runs(command, env, 2)
        best = min(runs)
        written = pd.read_csv(out)
        print(f"whole score-transactions process (one core): {best:.2f} s best of 2 "
              f"({', '.join(f'{t:.2f}' for t in runs)}), {len(log) / best:,.0f} order lines/s, "
              f"{len(written):,} rows written; CPU time {min(cpu):.2f} s; target < 10 s")


if __name__ == "__main__":
    main()
