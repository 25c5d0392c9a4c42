"""Classic xlwings (Windows, COM): the VBA wrappers xlwings generates for ``udfs`` name every function with its
arguments. Generated on Linux by tests/classic_worker.py, which stubs only the COM modules xlwings.udfs imports
and never calls (see its docstring); Excel itself is not involved."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest

import udfs

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated():
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "classic_worker.py"), "relhealth.xlsm"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    vba, _, options = done.stdout.rstrip().rpartition("\n")
    return vba, json.loads(options)


@pytest.mark.parametrize("name", list(udfs.FUNCTIONS))
def test_vba_wrapper_names_the_function_and_its_arguments(generated, name):
    vba, _ = generated
    fn = udfs.FUNCTIONS[name].__name__
    second = {"BREAKUP_SEASONALITY": "view", "TRIGGER_LIFT": "event", "COMPLAINT_STEPS": "complaints"}.get(
        name, "account")
    args = ["accounts", second, "orders", "events", "settings", "horizon_days", "as_of"]
    signature = f"Function {fn}(accounts, " + ", ".join(f"Optional {a}" for a in args[1:]) + ")"
    assert signature in vba
    assert f'{fn} = XLPy.CallUDF("udfs", "{fn}", Array({", ".join(args)}), ThisWorkbook, Application.Caller)' in vba


def test_exactly_the_registered_functions_get_wrappers(generated):
    vba, _ = generated
    assert set(re.findall(r"^Function (\w+)\(", vba, re.M)) == {f.__name__ for f in udfs.FUNCTIONS.values()}


def test_classic_side_reads_every_range_raw_with_a_description(generated):
    _, options = generated
    for fn, info in options.items():
        assert info["doc"] == getattr(udfs, fn).__doc__
        for name, opts, doc, optional in info["args"]:
            assert opts == {"convert": "raw"}, (fn, name)
            assert doc and not doc.startswith("Positional"), (fn, name)
            assert optional == (name != "accounts")
