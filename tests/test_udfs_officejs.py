"""The functions through xlwings' Office.js custom-functions protocol: what Excel on Mac/web (xlwings Server) and
xlwings Lite send and receive.

xlwings picks its Office.js decorators only when ``XLWINGS_ON_SERVER=true`` is set before it is first imported,
so the protocol runs in one subprocess (tests/officejs_worker.py) and the rest of the suite keeps plain
functions. ``XLWINGS_LICENSE_KEY=noncommercial`` is xlwings' documented key for non-commercial use (tests).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys

import pytest

import udfs
from udf_books import book_args, sample_sheets, serial

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "officejs_worker.py"
DOCUMENTED = ["CHURN_RISK", "RISK_BAND", "RISK_DRIVERS", "EXPECTED_PURCHASES", "LOYALTY_TIER", "ONE_MISTAKE_AWAY",
              "WINBACK_PLAY", "DATA_ISSUES", "BREAKUP_SEASONALITY", "TRIGGER_LIFT", "COMPLAINT_STEPS"]
PARAMETERS = ["accounts", None, "orders", "events", "settings", "horizon_days", "as_of"]
SECOND = {"BREAKUP_SEASONALITY": "view", "TRIGGER_LIFT": "event", "COMPLAINT_STEPS": "complaints"}


def run_protocol(module: str, payloads: list[dict], tmp_path: pathlib.Path) -> dict:
    """custom_functions_meta and custom_functions_call for each payload, in a fresh XLWINGS_ON_SERVER process."""
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"module": module, "payloads": payloads}))
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial"}
    done = subprocess.run([sys.executable, str(WORKER), str(request)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def payload(func_name: str, *args) -> dict:
    """As Office.js sends it: one 2-D matrix per parameter, null for an omitted optional one."""
    matrices = [None if a is None else (a if isinstance(a, list) else [[a]]) for a in args]
    matrices += [None] * (len(PARAMETERS) - len(matrices))
    return {"client": "Office.js", "func_name": func_name, "args": matrices,
            "caller_address": "[relhealth.xlsx]Scores!B2", "session_id": "test-session",
            "culture_info_name": "en-US", "date_format": "M/d/yyyy", "version": "0.37.8", "runtime": "1.4"}


def as_json(rows):
    """A matrix as it crosses JSON: empty cells as "" (Office.js sends them so)."""
    return [["" if v is None else v for v in row] for row in rows]


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    """The sample book with dates as serial numbers, called through the protocol, and plain-call expectations."""
    args = book_args(sample_sheets(accounts=60), "serial")
    ids = [row[0] for row in args["accounts"][1:]]
    book = [as_json(args["accounts"]), None] + [as_json(args[k]) for k in ("orders", "events", "settings")]
    payloads, expected = [], []
    for name in DOCUMENTED:
        fn = udfs.FUNCTIONS[name].__name__
        payloads.append(payload(fn, *book))
        expected.append(udfs.FUNCTIONS[name](args["accounts"], None, args["orders"], args["events"],
                                             args["settings"]))
        if name not in udfs.TABLE_FUNCTIONS:
            single = list(book)
            single[1] = [[ids[4]]]
            payloads.append(payload(fn, *single))
            expected.append(udfs.FUNCTIONS[name](args["accounts"], ids[4], args["orders"], args["events"],
                                                 args["settings"]))
    # the same call with as_of as a serial number (Office.js) and horizon_days, against plain datetimes
    payloads.append(payload("churn_risk", *book[:5], [[90]], [[serial(dt.date(2027, 1, 15))]]))
    expected.append(udfs.churn_risk(args["accounts"], None, args["orders"], args["events"], args["settings"],
                                    90, dt.datetime(2027, 1, 15)))
    # a whole-call problem and an error cell as Office.js sends it
    payloads.append(payload("churn_risk", [["Colour", "Size"], ["red", 3]]))
    messy = as_json(args["accounts"])
    messy[3][messy[0].index("Customer Since")] = {"type": "Error", "errorType": "NotAvailable",
                                                  "basicValue": "#N/A"}
    payloads.append(payload("data_issues", messy))
    out = run_protocol("udfs", payloads, tmp_path_factory.mktemp("officejs"))
    return {"out": out, "expected": expected, "ids": ids, "rows": len(args["accounts"]) - 1}


def test_meta_lists_exactly_the_documented_functions(office):
    names = [f["name"] for f in office["out"]["meta"]["functions"]]
    assert sorted(names) == sorted(DOCUMENTED) == sorted(udfs.FUNCTIONS)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_meta_parameters_and_dimensionality(office, name):
    meta = next(f for f in office["out"]["meta"]["functions"] if f["name"] == name)
    expected = [p or SECOND.get(name, "account") for p in PARAMETERS]
    assert [p["name"] for p in meta["parameters"]] == expected
    assert all(p["dimensionality"] == "matrix" for p in meta["parameters"])
    assert [p.get("optional", False) for p in meta["parameters"]] == [False] + [True] * 6
    assert meta["result"]["dimensionality"] == "matrix"
    assert meta["description"] == udfs.FUNCTIONS[name].__doc__
    assert all(p["description"] and not p["description"].startswith("Positional") for p in meta["parameters"])


def _from_office(value):
    """A returned cell back to Python: "" for empty (None), Office.js error objects kept."""
    return None if value == "" else value


def test_protocol_results_equal_plain_calls(office):
    results, expected = office["out"]["results"], office["expected"]
    for got, want in zip(results[:len(expected) - 1], expected[:-1]):
        assert not (isinstance(got, dict) and "error" in got), got
        if not isinstance(want, list):
            want = [[want]]
        got_cells = [[_from_office(v) for v in row] for row in got]
        want_cells = [[None if v == "" else v for v in row] for row in want]
        assert len(got_cells) == len(want_cells)
        for g_row, w_row in zip(got_cells, want_cells):
            for g, w in zip(g_row, w_row):
                if isinstance(w, float):
                    assert g == pytest.approx(w, rel=1e-12)
                else:
                    assert g == w


def test_whole_table_spills_one_value_per_row(office):
    churn = office["out"]["results"][0]
    assert len(churn) == office["rows"] and all(len(row) == 1 for row in churn)
    assert sum(isinstance(row[0], float) and 0 <= row[0] <= 1 for row in churn) >= office["rows"] * 0.8


def test_single_row_call_returns_one_cell(office):
    assert office["out"]["results"][1] == [[pytest.approx(office["expected"][1])]]


def test_serial_as_of_and_horizon_through_the_protocol(office):
    results, expected = office["out"]["results"], office["expected"]
    index = len(expected) - 1
    got = [row[0] for row in results[index]]
    want = [row[0] for row in expected[index]]
    assert got == [pytest.approx(w) if isinstance(w, float) else w for w in want]
    assert got != [row[0] for row in results[0]]


def test_whole_call_problem_is_one_readable_cell(office):
    problem = office["out"]["results"][len(office["expected"])]
    assert len(problem) == 1 and len(problem[0]) == 1 and problem[0][0].startswith("CHURN_RISK: ")


def test_error_cell_object_reads_as_excel_error(office):
    issues = office["out"]["results"][len(office["expected"]) + 1]
    assert "'Customer Since' \"#N/A\"" in issues[2][0]


def test_table_function_spills_a_header_row(office):
    index = 0
    for name in DOCUMENTED:
        if name == "TRIGGER_LIFT":
            break
        index += 1 if name in udfs.TABLE_FUNCTIONS else 2
    lift = office["out"]["results"][index]
    assert lift[0][:2] == ["Event type", "Event"] and len(lift) > 2
