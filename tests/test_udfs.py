"""The Excel functions called as plain Python (what classic xlwings and the LibreOffice extension do).

Each output is checked against the engine called directly on the same cells, so these tests pin the binding
(alignment, single-row lookup, messages, caching), not the engine's numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
import pathlib
import re

import pytest

import udfs
from udf_books import (book_args, engine_health, messy_accounts, sample_sheets, serial, settings_rows,
                       summary_accounts)
from udfs import convert

ROOT = pathlib.Path(__file__).resolve().parents[1]
PER_ACCOUNT = [name for name in udfs.FUNCTIONS if name not in udfs.TABLE_FUNCTIONS]


@pytest.fixture(autouse=True)
def fresh_cache():
    convert.CACHE.clear()
    yield


@pytest.fixture(scope="module")
def sample():
    return book_args(sample_sheets())


def call(name, args, second=None, **extra):
    return udfs.FUNCTIONS[name](args["accounts"], second, args.get("orders"), args.get("events"),
                                args.get("settings"), extra.get("horizon_days"), extra.get("as_of"))


def column(result):
    assert all(len(row) == 1 for row in result)
    return [row[0] for row in result]


def expected_column(name, args):
    """The engine's own values, one per account row, for a per-account function."""
    from relhealth import planner, risk, tiers

    book = engine_health(args)
    scores = risk.score_book(book)
    frames = {"CHURN_RISK": (scores, "risk"), "RISK_BAND": (scores, "band"), "RISK_DRIVERS": (scores, "drivers"),
              "EXPECTED_PURCHASES": (scores, "expected_purchases")}
    if name in ("LOYALTY_TIER", "ONE_MISTAKE_AWAY", "WINBACK_PLAY"):
        tier_frame = tiers.loyalty_tiers(book, scores)
        frames["LOYALTY_TIER"] = (tier_frame, "tier")
        frames["ONE_MISTAKE_AWAY"] = (tier_frame, "one_mistake_away")
        frames["WINBACK_PLAY"] = (planner.winback_plan(book, scores, tier_frame), "play")
    frame, col = frames[name]
    by_id = dict(zip(frame["account_id"], frame[col]))
    return book, [by_id.get(a) for a in book.accounts["account_id"]]


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-12)
    return a == b or (a in (None, "") and b in (None, ""))


# ------------------------------------------------------------------------------------- whole-table form

@pytest.mark.parametrize("name", [n for n in PER_ACCOUNT if n != "DATA_ISSUES"])
def test_whole_table_gives_the_engine_value_on_each_row(name, sample):
    out = column(call(name, sample))
    book, expected = expected_column(name, sample)
    assert len(out) == len(sample["accounts"]) - 1
    bad_rows = set(book.issues.loc[book.issues["sheet"] == "Accounts", "row"].dropna().astype(int))
    checked = 0
    for (source_row, want) in zip(book.accounts["source_row"], expected):
        got = out[int(source_row) - 2]
        if isinstance(got, str) and got.startswith(f"{name}:"):
            assert int(source_row) in bad_rows or "Orders" in got or "Events" in got, got
            continue
        assert same(got, _plain(want)), (source_row, got, want)
        checked += 1
    assert checked >= len(expected) * 0.8


def _plain(value):
    from udfs.shape import cell

    return cell(value)


def test_churn_risk_values_are_probabilities(sample):
    numbers = [v for v in column(call("CHURN_RISK", sample)) if isinstance(v, float)]
    assert numbers and all(0 <= v <= 1 for v in numbers)


def test_risk_band_uses_the_settings_thresholds(sample):
    risk = column(call("CHURN_RISK", sample))
    band = column(call("RISK_BAND", sample))
    for r, b in zip(risk, band):
        if isinstance(r, float):
            want = "Critical" if r >= 0.75 else "High" if r >= 0.5 else "Watch" if r >= 0.25 else "Low"
            assert b == want


def test_blank_rows_stay_blank_and_rows_stay_aligned(sample):
    args = dict(sample)
    rows = [list(r) for r in sample["accounts"]]
    blank = [None] * len(rows[0])
    padded = rows[:4] + [blank] + rows[4:9] + [blank, blank] + rows[9:] + [blank]
    args["accounts"] = padded
    before = column(call("CHURN_RISK", sample))
    after = column(call("CHURN_RISK", args))
    assert len(after) == len(padded) - 1
    assert after[3] is None and after[9] is None and after[10] is None and after[-1] is None
    assert [v for i, v in enumerate(after) if i not in (3, 9, 10, len(after) - 1)] == before


def test_blank_rows_as_office_js_sends_them_stay_blank_and_a_row_without_id_says_so(sample):
    rows = [list(r) for r in sample["accounts"]]
    width = len(rows[0])
    no_id = [None] * width
    no_id[1] = "Company without an id"
    padded = (rows[:3] + [[""] * width] + rows[3:6] + [["  "] + [""] * (width - 1)] + [no_id] + rows[6:]
              + [[None] * width])
    before = column(call("CHURN_RISK", sample))
    after = column(call("CHURN_RISK", dict(sample, accounts=padded)))
    assert len(after) == len(padded) - 1
    assert after[2] is None and after[6] is None and after[-1] is None  # "" cells, spaces, None: all blank
    assert after[7].startswith("CHURN_RISK: ") and after[7].endswith("(row 9)")
    assert [v for i, v in enumerate(after) if i not in (2, 6, 7, len(after) - 1)] == before
    assert call("CHURN_RISK", dict(sample, accounts=padded), rows[5][0]) == before[4]


def test_only_the_rows_whose_account_has_a_bad_log_line_get_its_message(sample):
    orders = [list(r) for r in sample["orders"]]
    account = orders[5][orders[0].index("Account ID")]
    orders[5][orders[0].index("Order Date")] = "31/31/2025"
    before = column(call("CHURN_RISK", sample))
    after = column(call("CHURN_RISK", dict(sample, orders=orders)))
    ids = [row[0] for row in sample["accounts"][1:]]
    messages = [i for i, v in enumerate(after) if isinstance(v, str)]
    assert messages == sorted([i for i, v in enumerate(before) if isinstance(v, str)] + [ids.index(account)])
    assert after[ids.index(account)].startswith("CHURN_RISK: Orders 'Order Date' \"31/31/2025\"")


def test_an_account_without_a_value_gets_a_message_unless_blank_is_fine(sample):
    from udfs import shape

    comp = convert.computation("X", sample["accounts"], sample["orders"], sample["events"], sample["settings"])
    ids = comp.book.accounts["account_id"].tolist()
    rows = comp.book.accounts["source_row"].tolist()

    def values(c):
        return [None if i == 4 else 0.25 for i in range(len(ids))]

    out = shape.per_row(comp, "CHURN_RISK", "risk", values)
    assert out[rows[4] - 2] == f'CHURN_RISK: no value for account "{ids[4]}" (row {rows[4]})'
    assert shape.per_row(comp, "WINBACK_PLAY", "plan", values, blank_ok=True)[rows[4] - 2] is None
    assert all(v == 0.25 for i, v in enumerate(out) if i != rows[4] - 2 and not isinstance(v, str))


def test_issue_records_are_what_pandas_gives_value_for_value_and_type_for_type():
    import numpy as np
    import pandas as pd

    from udfs import shape

    plain = pd.DataFrame({"sheet": ["Accounts", "Orders"], "row": [3, 9], "column": ["NPS", "Order Date"],
                          "value": ["#N/A", 12.5], "problem": ["is an Excel error (#N/A)", None]})
    mixed = plain.assign(value=pd.Series([np.int64(7), pd.NA], dtype=object),
                         when=[pd.Timestamp("2026-01-02"), pd.NaT], flag=[True, np.nan])
    for frame in (plain, mixed, plain.astype({"row": float})):
        got, want = shape.records_of(frame), frame.to_dict("records")
        assert got == want
        assert [[type(v) for v in r.values()] for r in got] == [[type(v) for v in r.values()] for r in want]


def test_every_function_runs_with_the_cyclic_collector_paused(sample, monkeypatch):
    import gc

    import relhealth.reader as reader
    from relhealth import risk

    seen = []
    real_read, real_risk = reader.read_book, risk.BookRisk
    monkeypatch.setattr(reader, "read_book", lambda *a, **k: seen.append(gc.isenabled()) or real_read(*a, **k))
    monkeypatch.setattr(risk, "BookRisk", lambda *a, **k: seen.append(gc.isenabled()) or real_risk(*a, **k))
    rows = call("CHURN_RISK", sample)
    assert seen == [False, False] and gc.isenabled()
    assert len(rows) == len(sample["accounts"]) - 1 and all(isinstance(r[0], float) for r in rows)
    monkeypatch.setattr(risk, "BookRisk", lambda *a, **k: 1 / 0)  # a failing call turns it back on as well
    assert call("RISK_BAND", sample, horizon_days=30)[0][0].startswith("RISK_BAND: unexpected error")
    assert gc.isenabled()


def test_collector_pauses_nest_and_leave_a_paused_collector_paused():
    import gc

    from relhealth.collector import collector_paused

    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_range_may_start_below_a_title_row(sample):
    args = dict(sample, accounts=[["Relationship review, Q4"] + [None] * 12] + sample["accounts"])
    assert column(call("CHURN_RISK", args)) == column(call("CHURN_RISK", sample))


# ---------------------------------------------------------------------------------------- single-row form

@pytest.mark.parametrize("name", PER_ACCOUNT)
def test_single_row_form_gives_the_whole_table_value(name, sample):
    whole = column(call(name, sample))
    for index in (0, 7, 31, len(whole) - 1):
        account = sample["accounts"][index + 1][0]
        assert same(call(name, sample, account), whole[index])


def test_account_id_forms_and_lists(sample):
    whole = column(call("CHURN_RISK", sample))
    first, second = sample["accounts"][1][0], sample["accounts"][2][0]
    assert call("CHURN_RISK", sample, f"  {first.lower()} ") == whole[0]
    assert call("CHURN_RISK", sample, [[first]]) == whole[0]
    assert call("CHURN_RISK", sample, [[first], [second]]) == [[whole[0]], [whole[1]]]
    assert call("CHURN_RISK", sample, [[first, second]]) == [[whole[0], whole[1]]]


def test_numeric_account_ids_match_typed_numbers():
    rows = summary_accounts()
    for i, row in enumerate(rows[1:], start=1):
        row[0] = float(1000 + i)
    args = {"accounts": rows, "settings": settings_rows()}
    whole = column(call("CHURN_RISK", args))
    assert call("CHURN_RISK", args, 1003) == whole[2]
    assert call("CHURN_RISK", args, "1003") == whole[2]


def test_unknown_and_blank_accounts(sample):
    assert call("CHURN_RISK", sample, "ZZ-9") == 'CHURN_RISK: account "ZZ-9" is not in the account table'
    assert call("CHURN_RISK", sample, "") in (None, "")


# ------------------------------------------------------------------------------------------- messy cells

@pytest.fixture
def messy():
    rows, where = messy_accounts()
    return {"accounts": rows, "settings": settings_rows()}, where


def test_a_bad_date_gives_that_row_a_message(messy):
    args, where = messy
    out = column(call("CHURN_RISK", args))
    row = where["next tues"] + 2
    assert re.fullmatch(rf"CHURN_RISK: 'Last Order' \"next tues\" .*date.* \(row {row}\)", out[where["next tues"]])
    assert isinstance(out[where["text date"]], float)
    assert isinstance(out[where["money"]], float)
    assert sum(isinstance(v, float) for v in out) == len(out) - 4  # bad date, error cell, blank row, no id


def test_a_bad_cell_the_number_does_not_use_leaves_the_number(messy):
    args, where = messy
    risk = column(call("CHURN_RISK", args))
    tier = column(call("LOYALTY_TIER", args))
    issues = column(call("DATA_ISSUES", args))
    i = where["na_nps"]
    assert isinstance(risk[i], float)
    assert tier[i].startswith("LOYALTY_TIER: 'NPS' \"#N/A\"") and tier[i].endswith(f"(row {i + 2})")
    assert "'NPS' \"#N/A\"" in issues[i]
    assert issues[0] in (None, "")


def test_error_cells_blank_rows_and_rows_without_id(messy):
    args, where = messy
    out = column(call("RISK_BAND", args))
    assert out[where["blank row"]] is None
    assert out[where["error dict"]].startswith("RISK_BAND: 'Last Order' \"#N/A\"")
    assert out[where["no id"]].startswith("RISK_BAND:") and f"row {where['no id'] + 2}" in out[where["no id"]]


def test_com_error_codes_read_as_excel_errors(messy):
    args, where = messy
    args["accounts"][where["na_nps"] + 1][6] = -2146826246  # what classic xlwings' raw converter gives for #N/A
    issues = column(call("DATA_ISSUES", args))
    assert "#N/A" in issues[where["na_nps"]]


def test_a_bad_order_date_marks_its_account(sample):
    args = dict(sample)
    orders = [list(r) for r in sample["orders"]]
    account = orders[5][orders[0].index("Account ID")]
    orders[5][orders[0].index("Order Date")] = "31/31/2025"
    args["orders"] = orders
    got = call("CHURN_RISK", args, account)
    assert got.startswith("CHURN_RISK: Orders 'Order Date' \"31/31/2025\"") and got.endswith("(row 6)")
    assert "Orders 'Order Date'" in call("DATA_ISSUES", args, account)


def test_office_js_serial_dates_equal_classic_datetimes():
    sheets = sample_sheets(accounts=40)
    classic, office = book_args(sheets, "datetime"), book_args(sheets, "serial")
    for name in PER_ACCOUNT:
        assert call(name, office) == call(name, classic), name


def test_horizon_and_as_of_arguments_override_the_settings(sample):
    later = dt.datetime(2027, 3, 31)
    by_args = call("CHURN_RISK", sample, horizon_days=90, as_of=later)
    by_serial = call("CHURN_RISK", sample, horizon_days=[[90.0]], as_of=serial(later))
    by_text = call("CHURN_RISK", sample, horizon_days="90", as_of="2027-03-31")
    by_settings = call("CHURN_RISK", dict(sample, settings=settings_rows(horizon_days=90, as_of="2027-03-31")))
    assert by_args == by_serial == by_text == by_settings
    assert by_args != call("CHURN_RISK", sample)


# ----------------------------------------------------------------------------------- whole-call problems

@pytest.mark.parametrize("args, expected", [
    ({"accounts": [["Account ID"]]}, "CHURN_RISK: expected the account table with its header row"),
    ({"accounts": None}, "CHURN_RISK: expected the account table with its header row"),
    ({"accounts": [["Colour", "Size"], ["red", 3]]}, "CHURN_RISK: "),
    ({"accounts": [["Account ID", "Last Order"]]}, "CHURN_RISK: the account table has a header row but no data"),
    ({"settings": [["horizon_days"], [180]]}, "CHURN_RISK: the settings range should have two columns"),
    ({"settings": [["horizon_days", "soon"]]}, 'CHURN_RISK: setting "soon" is not a valid value'),
    ({"settings": [["horizon dayz", 90]]}, 'CHURN_RISK: setting "horizon dayz" is not a setting'),
    ({"horizon_days": "six months"}, "CHURN_RISK: horizon_days should be a whole number of days"),
    ({"horizon_days": -5}, "CHURN_RISK: horizon_days should be a whole number of days"),
    ({"as_of": "next tues"}, "CHURN_RISK: as_of should be a date"),
    ({"orders": [["Account ID", "Order Date", "Amount"]]}, "CHURN_RISK: expected the orders log with its header"),
], ids=["one cell", "nothing", "no account column", "header only", "settings one column", "bad setting",
        "unknown setting", "bad horizon", "negative horizon", "bad as_of", "orders header only"])
def test_whole_call_problems_give_one_clear_message(args, expected):
    base = {"accounts": summary_accounts(), "settings": settings_rows()}
    base.update({k: v for k, v in args.items() if k not in ("horizon_days", "as_of")})
    result = call("CHURN_RISK", base, horizon_days=args.get("horizon_days"), as_of=args.get("as_of"))
    assert len(result) == 1 and len(result[0]) == 1
    assert result[0][0].startswith(expected), result[0][0]
    assert "Traceback" not in result[0][0]


def test_an_order_log_in_the_account_slot_says_where_it_goes(sample):
    text = call("CHURN_RISK", sample, sample["orders"])
    assert text.startswith("CHURN_RISK: the 2nd argument is the account id") and "Orders!" in text


def test_a_bug_is_logged_and_shown_as_a_short_message(sample, monkeypatch, caplog):
    from relhealth import risk

    def broken(book, learning=None):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(risk, "BookRisk", broken)
    with caplog.at_level(logging.ERROR, logger="udfs.functions"):
        out = call("CHURN_RISK", sample)
    assert out == [["CHURN_RISK: unexpected error (details in the add-in log); please report it"]]
    assert "ZeroDivisionError" in caplog.text
    assert call("CHURN_RISK", sample, sample["accounts"][1][0]).startswith("CHURN_RISK: unexpected error")


# ------------------------------------------------------------------------------------------------ cache

def test_single_row_calls_over_one_table_cost_one_read(sample, monkeypatch):
    import relhealth.reader as reader

    calls = []
    real = reader.read_book
    monkeypatch.setattr(reader, "read_book", lambda *a, **k: calls.append(1) or real(*a, **k))
    ids = [row[0] for row in sample["accounts"][1:]]
    for account in ids:
        copy = {k: [list(r) for r in v] for k, v in sample.items()}  # new objects, same content
        call("CHURN_RISK", copy, account)
        call("RISK_BAND", copy, account)
    assert len(calls) == 1
    assert convert.CACHE.misses == 1 and convert.CACHE.hits == 2 * len(ids) - 1


def test_risk_alone_skips_the_drivers_words_and_the_drivers_reuse_its_fit(sample, monkeypatch):
    from relhealth import calibration, risk

    fits, worded = [], []
    real_fit, real_words = calibration.purchase_risk, risk.BookRisk._words
    monkeypatch.setattr(risk, "purchase_risk", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    monkeypatch.setattr(risk.BookRisk, "_words", lambda self, explain: worded.append(explain) or
                        real_words(self, explain))
    risks = call("CHURN_RISK", sample)
    assert fits == [1] and worded == [False]
    drivers = call("RISK_DRIVERS", sample)
    assert fits == [1] and worded == [False, True]  # the same scoring, now with its words
    for name, out in (("CHURN_RISK", risks), ("RISK_DRIVERS", drivers)):
        assert all(same(a, b) for a, b in zip(column(out), expected_column(name, sample)[1], strict=True))


def test_cache_key_follows_content_and_type():
    rows = summary_accounts()
    key = convert.content_key(rows, None)
    assert convert.content_key([list(r) for r in rows], None) == key
    changed = [list(r) for r in rows]
    changed[3][4] = 7.0 if changed[3][4] != 7.0 else 8.0
    assert convert.content_key(changed, None) != key
    assert len({convert.content_key([[1]]), convert.content_key([[1.0]]), convert.content_key([[True]])}) == 3
    text = "".join(["Act", "ive"])
    shared, distinct = [[text, text]], [[text, "".join(["Acti", "ve"])]]
    keep = [shared[0][0]] * 3  # more references to the same object: the key must not change
    assert convert.content_key(shared) == convert.content_key(distinct) and keep
    with_dates = [[dt.datetime(2026, 1, 1)]]
    assert convert.content_key(with_dates) == convert.content_key([[dt.datetime(2026, 1, 1)]])


def test_changed_cell_recomputes(sample):
    before = call("CHURN_RISK", sample, sample["accounts"][1][0], horizon_days=30)
    after = call("CHURN_RISK", sample, sample["accounts"][1][0], horizon_days=400)
    assert before != after and convert.CACHE.misses == 2


# ------------------------------------------------------------------------------------------ table functions

def test_trigger_lift_spills_the_engine_table_with_a_header(sample):
    from relhealth import triggers

    out = call("TRIGGER_LIFT", sample)
    frame = triggers.trigger_lift(engine_health(sample))
    assert len(out) == len(frame) + 1 and "Event" in out[0] and "Rate ratio" in out[0]
    assert [row[list(frame.columns).index("event_type")] for row in out[1:]] == list(frame["event_type"])
    one = call("TRIGGER_LIFT", sample, "Complaint")
    assert len(one) == 2 and one[1][list(frame.columns).index("event_type")] == "complaint"
    assert call("TRIGGER_LIFT", sample, "karaoke")[0][0].startswith('TRIGGER_LIFT: "karaoke" is not an event type')


def test_complaint_steps_spill_and_one_step(sample):
    from relhealth import triggers

    out = call("COMPLAINT_STEPS", sample)
    frame = triggers.complaint_steps(engine_health(sample))
    assert out[0][0] == "Complaints" and len(out) == len(frame) + 1
    step = call("COMPLAINT_STEPS", sample, 3)
    assert len(step) == 2 and str(step[1][0]).startswith("3")
    assert call("COMPLAINT_STEPS", sample, 9)[0][0].startswith("COMPLAINT_STEPS: complaints should be")


@pytest.mark.parametrize("view, attr", [(None, "by_month"), ("week", "by_week"), ("windows", "windows")])
def test_breakup_seasonality_views(view, attr):
    from relhealth import seasonality

    args = book_args(sample_sheets(accounts=400))
    out = call("BREAKUP_SEASONALITY", args, view)
    season = seasonality.breakup_seasonality(engine_health(args))
    if season.message:
        assert out == [[f"BREAKUP_SEASONALITY: {season.message}"]]
    else:
        frame = getattr(season, attr)
        assert len(out) == len(frame) + 1 and all(len(row) == len(frame.columns) for row in out)
        assert not any(isinstance(v, float) and v != v for row in out for v in row)  # no NaN: Excel shows #NUM!


def test_breakup_seasonality_rejects_an_unknown_view(sample):
    assert call("BREAKUP_SEASONALITY", sample, "fortnight")[0][0].startswith(
        'BREAKUP_SEASONALITY: view should be "month", "week" or "windows"')


# ------------------------------------------------------------------------------------ registry and docs

def test_exports_are_explicit_and_match_the_registry():
    source = (ROOT / "udfs" / "__init__.py").read_text()
    assert "import *" not in source
    assert {f.__name__.upper() for f in udfs.FUNCTIONS.values()} == set(udfs.FUNCTIONS)
    exported = {n for n in udfs.__all__ if callable(getattr(udfs, n)) and hasattr(getattr(udfs, n), "__code__")}
    assert exported == {f.__name__ for f in udfs.FUNCTIONS.values()}


@pytest.mark.parametrize("name", list(udfs.FUNCTIONS))
def test_every_function_has_a_docstring_and_is_documented(name):
    doc = udfs.FUNCTIONS[name].__doc__
    assert doc and len(doc.strip()) > 20 and "\n" not in doc.strip()
    text = (ROOT / "docs" / "excel-functions.md").read_text(encoding="utf-8")
    assert re.search(rf"^###.*`{name}`", text, re.M), f"{name} has no section in docs/excel-functions.md"


def test_documented_functions_are_exactly_the_registered_ones():
    text = (ROOT / "docs" / "excel-functions.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([A-Z_]+)`", text, re.M))
    assert documented == set(udfs.FUNCTIONS)
