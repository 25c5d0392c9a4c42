"""Benchmark: the whole ``relhealth score-transactions`` process on the CDNOW purchase log, side by side with the
``lifetimes`` package's ``ParetoNBDFitter().fit`` alone on the same customers.

    python bench/bench_lifetimes.py [--venv /tmp/lifetimes-venv] [--runs 3]

lifetimes (archived, pins old autograd) is installed ONLY in a throwaway venv that this script creates with
``python -m venv`` + ``pip install lifetimes``; the project never depends on it. Prints both times, lifetimes'
fitted parameters next to ours, and the ratio (target: the whole command at least 5x faster than the fit alone).
Both sides run with OpenBLAS on one thread and, where ``taskset`` exists, on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench_risk import one_core, timed_runs  # run as a script: bench/ is on the path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"

LIFETIMES_FIT = """
import json, sys, time
import pandas as pd
from lifetimes import ParetoNBDFitter
d = pd.read_csv(sys.argv[1])
runs = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    fitter = ParetoNBDFitter().fit(d["frequency"], d["recency"], d["T"])
    runs.append(time.perf_counter() - start)
print(json.dumps({"runs": runs, "params": {k: float(v) for k, v in fitter.params_.items()}}))
"""


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import lifetimes"], capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} and installing lifetimes there (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "lifetimes"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default="/tmp/lifetimes-venv")
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    python = ensure_venv(Path(opts.venv))

    raw = pd.read_csv(DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, dtype={0: str, 2: str})
    log = pd.DataFrame({"Customer ID": raw[0], "Date": pd.to_datetime(raw[2], format="%Y%m%d").dt.strftime("%Y-%m-%d"),
                        "Dollar Value": raw[4]})
    with tempfile.TemporaryDirectory() as tmp:
        log_path, out = Path(tmp) / "cdnow.csv", Path(tmp) / "scores.csv"
        log.to_csv(log_path, index=False)
        command, env = one_core([sys.executable, "-m", "addin.cli", "score-transactions", str(log_path),
                                 "--as-of", "1997-09-30", "--horizon-days", "273", "--out", str(out)])
        ours, ours_cpu = timed_runs(command, env, opts.runs)
        scored = len(pd.read_csv(out))

        command, env = one_core([str(python), "-c", LIFETIMES_FIT, str(DATA / "cdnow_customers_summary.csv"),
                                 str(opts.runs)])
        env.pop("PYTHONPATH")
        theirs = json.loads(subprocess.run(command, env=env, check=True, capture_output=True,
                                           text=True).stdout.strip().splitlines()[-1])

    sys.path.insert(0, str(ROOT))
    from relhealth.btyd import ParetoNBD

    summary = pd.read_csv(DATA / "cdnow_customers_summary.csv")
    fits = []
    for _ in range(opts.runs):
        start = time.perf_counter()
        fit = ParetoNBD().fit(summary["frequency"], summary["recency"], summary["T"])
        fits.append(time.perf_counter() - start)
    in_process = min(fits)
    best_ours, best_theirs = min(ours), min(theirs["runs"])
    print(f"CDNOW sample: {len(log):,} purchase lines, {scored:,} customers")
    print(f"relhealth score-transactions, whole process (read CSV, two Pareto/NBD fits with the back-test, score, "
          f"write): best {best_ours:.2f} s of {', '.join(f'{t:.2f}' for t in ours)} (CPU {min(ours_cpu):.2f} s)")
    print(f"lifetimes ParetoNBDFitter.fit alone (summary already built): best {best_theirs:.2f} s of "
          f"{', '.join(f'{t:.2f}' for t in theirs['runs'])}")
    print(f"ratio: {best_theirs / best_ours:.1f}x (target >= 5x); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"relhealth ParetoNBD.fit alone, in-process: best {in_process:.3f} s "
          f"({best_theirs / in_process:.0f}x faster than lifetimes' fit)")
    print("parameters  " + "  ".join(f"{k}: lifetimes {theirs['params'][k]:.4f} / relhealth {fit.params_[k]:.4f}"
                                     for k in ("r", "alpha", "s", "beta")))


if __name__ == "__main__":
    main()
