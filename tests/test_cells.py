"""One column of raw cells -> parsed values and plain-words problems (relhealth.cells)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from relhealth import cells

NAT = pd.NaT


def one(parser, value, **kwargs):
    parsed = parser(pd.Series([value], dtype=object), **kwargs)
    return parsed.values.iloc[0], parsed.problems.iloc[0]


DATES = [
    ("serial", 45731, pd.Timestamp("2025-03-15"), None),
    ("serial-with-time", 45731.75, pd.Timestamp("2025-03-15"), None),
    ("serial-before-fake-leap-day", 59, pd.Timestamp("1900-02-28"), None),
    ("serial-after-fake-leap-day", 61, pd.Timestamp("1900-03-01"), None),
    ("serial-as-text", "45731", pd.Timestamp("2025-03-15"), None),
    ("yyyymmdd-number", 20250315, pd.Timestamp("2025-03-15"), None),
    ("datetime", dt.datetime(2025, 3, 15, 16, 30), pd.Timestamp("2025-03-15"), None),
    ("date", dt.date(2025, 3, 15), pd.Timestamp("2025-03-15"), None),
    ("timestamp", pd.Timestamp("2025-03-15 08:00"), pd.Timestamp("2025-03-15"), None),
    ("iso", "2025-03-15", pd.Timestamp("2025-03-15"), None),
    ("iso-with-time-and-zone", "2025-03-15T23:30:00+05:00", pd.Timestamp("2025-03-15"), None),
    ("iso-slashes", "2025/03/15", pd.Timestamp("2025-03-15"), None),
    ("us", "3/15/2025", pd.Timestamp("2025-03-15"), None),
    ("us-short-year", "3/15/25", pd.Timestamp("2025-03-15"), None),
    ("day-first-dots", "15.03.2025", pd.Timestamp("2025-03-15"), None),
    ("day-month-name", "15 Mar 2025", pd.Timestamp("2025-03-15"), None),
    ("month-name-day", "Mar 15, 2025", pd.Timestamp("2025-03-15"), None),
    ("full-month-ordinal", "15th March 2025", pd.Timestamp("2025-03-15"), None),
    ("dashed-month-name", "15-Mar-25", pd.Timestamp("2025-03-15"), None),
    ("blank", None, NAT, None),
    ("whitespace", "   ", NAT, None),
    ("na-word", "n/a", NAT, None),
    ("excel-na", "#N/A", NAT, "is an Excel error (#N/A)"),
    ("excel-value", "#VALUE!", NAT, "is an Excel error (#VALUE!)"),
    ("excel-getting-data", "#GETTING_DATA", NAT, "is an Excel error (#GETTING_DATA)"),
    ("words", "next Tuesday", NAT, "is not a date"),
    ("impossible-day", "2025-02-30", NAT, "is not a date"),
    ("flag", True, NAT, "is not a date"),
    ("time-of-day", dt.time(9, 30), NAT, "is a time of day, not a date"),
    ("year-1800", dt.datetime(1800, 1, 1), NAT, "is not a plausible date (before 1900 or after 2199)"),
]


@pytest.mark.parametrize("raw,expected,problem", [d[1:] for d in DATES], ids=[d[0] for d in DATES])
def test_dates(raw, expected, problem):
    value, found = one(cells.parse_dates, raw)
    assert (pd.isna(value) and pd.isna(expected)) or value == expected
    assert found == problem


ORDERS = [
    ("first-part-above-12-means-day-first", ["03/04/2025", "13/04/2025"], "auto",
     ["2025-04-03", "2025-04-13"], "dates read day/month/year"),
    ("second-part-above-12-means-month-first", ["03/04/2025", "04/13/2025"], "auto",
     ["2025-03-04", "2025-04-13"], "dates read month/day/year"),
    ("undecided-means-month-first", ["03/04/2025", "05/06/2025"], "auto",
     ["2025-03-04", "2025-05-06"], "dates read month/day/year"),
    ("forced-day-first", ["03/04/2025", "05/06/2025"], "DMY", ["2025-04-03", "2025-06-05"],
     "dates read day/month/year"),
    ("forced-year-first-short", ["25/03/04"], "YMD", ["2025-03-04"], "dates read year/month/day"),
]


@pytest.mark.parametrize("texts,order,expected,note", [o[1:] for o in ORDERS], ids=[o[0] for o in ORDERS])
def test_ambiguous_dates_are_decided_per_column(texts, order, expected, note):
    parsed = cells.parse_dates(pd.Series(texts, dtype=object), order)
    assert parsed.values.tolist() == [pd.Timestamp(e) for e in expected]
    assert parsed.note == note
    assert parsed.problems.isna().all()


def test_mixed_order_column_follows_the_majority_and_names_the_misfit():
    parsed = cells.parse_dates(pd.Series(["13/01/2025", "20/02/2025", "01/31/2025"], dtype=object))
    assert parsed.values.tolist()[:2] == [pd.Timestamp("2025-01-13"), pd.Timestamp("2025-02-20")]
    assert pd.isna(parsed.values.iloc[2])
    assert parsed.problems.tolist() == [None, None, "is not a date in this column's order (day/month/year)"]


def test_plain_and_spelled_out_slashed_dates_decide_the_order_together():
    # "15.03.2025" is cleaned up to 15/03/2025 and can only be day-first; the plain texts follow it
    parsed = cells.parse_dates(pd.Series(["15.03.2025", "3/4/2025", "3/4/2025", "13/4/2025", "2/30/2025",
                                          "2025-02-30", "2025-02-28", "31/12/1899"], dtype=object))
    assert parsed.note == "dates read day/month/year"
    assert parsed.values.tolist()[:4] == [pd.Timestamp(d) for d in ("2025-03-15", "2025-04-03", "2025-04-03",
                                                                     "2025-04-13")]
    assert parsed.values.iloc[6] == pd.Timestamp("2025-02-28")
    assert parsed.problems.tolist() == [None, None, None, None, "is not a date", "is not a date", None,
                                        "is not a plausible date (before 1900 or after 2199)"]


def test_dates_come_back_as_datetime64_ns_with_blank_mask():
    parsed = cells.parse_dates(pd.Series([45731, None, " "], dtype=object))
    assert str(parsed.values.dtype) == "datetime64[ns]"
    assert parsed.blank.tolist() == [False, True, True]


MONEY = [
    ("number", 1200.5, 1200.5, None),
    ("integer", 300, 300.0, None),
    ("dollars-with-thousands", "$1,200.50", 1200.5, None),
    ("thousands-suffix", "1.2k", 1200.0, None),
    ("millions-suffix", "2.5M", 2_500_000.0, None),
    ("parentheses-negative", "(300)", -300.0, None),
    ("currency-before-parentheses", "$ (1,000)", -1000.0, None),
    ("trailing-minus", "300-", -300.0, None),
    ("leading-minus-dollar", "-$50", -50.0, None),
    ("euro-comma-decimal", "€1.200,50", 1200.5, None),
    ("currency-code", "USD 300", 300.0, None),
    ("plain-text-number", " 42.5 ", 42.5, None),
    ("dash-is-zero", "-", 0.0, None),
    ("blank", None, np.nan, None),
    ("na-word", "N/A", np.nan, None),
    ("excel-ref", "#REF!", np.nan, "is an Excel error (#REF!)"),
    ("excel-div0", "#DIV/0!", np.nan, "is an Excel error (#DIV/0!)"),
    ("percentage", "45%", np.nan, "is a percentage, not an amount"),
    ("words", "call Bob", np.nan, "is not an amount"),
    ("bad-grouping", "1,2,3", np.nan, "is not an amount"),
    ("unclosed-parenthesis", "(300", np.nan, "is not an amount"),
    ("date", dt.datetime(2025, 1, 1), np.nan, "is not an amount"),
]


@pytest.mark.parametrize("raw,expected,problem", [m[1:] for m in MONEY], ids=[m[0] for m in MONEY])
def test_money(raw, expected, problem):
    value, found = one(cells.parse_money, raw)
    assert (np.isnan(value) and np.isnan(expected)) or value == pytest.approx(expected)
    assert found == problem


@pytest.mark.parametrize("raw,expected,problem", [
    ("45%", 0.45, None), ("12.5 %", 0.125, None), (0.3, 0.3, None), ("0.3", 0.3, None),
    ("lots", np.nan, "is not a percentage"), ("#NUM!", np.nan, "is an Excel error (#NUM!)"),
], ids=["percent-sign", "percent-sign-space", "fraction-number", "fraction-text", "words", "excel-num"])
def test_percent(raw, expected, problem):
    value, found = one(cells.parse_percent, raw)
    assert (np.isnan(value) and np.isnan(expected)) or value == pytest.approx(expected)
    assert found == problem


def test_numbers_say_number_not_amount():
    assert one(cells.parse_numbers, "three") == (pytest.approx(np.nan, nan_ok=True), "is not a number")
    assert one(cells.parse_numbers, "1,200")[0] == 1200.0


FLAGS = [("Y", True), ("n", False), ("Yes", True), ("NO", False), ("TRUE", True), ("false", False), (1, True),
         (0, False), ("1", True), ("0", False), ("x", True), (True, True), (False, False), (None, False),
         ("  ", False)]


@pytest.mark.parametrize("raw,expected", FLAGS, ids=[f"{r!r}" for r, _ in FLAGS])
def test_flags(raw, expected):
    assert one(cells.parse_flags, raw) == (expected, None)


@pytest.mark.parametrize("raw,problem", [("maybe", "is not a yes/no flag"), (2, "is not a yes/no flag"),
                                         ("#NAME?", "is an Excel error (#NAME?)")],
                         ids=["word", "two", "excel-name"])
def test_bad_flags_are_false_with_a_problem(raw, problem):
    assert one(cells.parse_flags, raw) == (False, problem)


STATUS = [("Active", "Active"), ("Current", "Active"), ("Live", "Active"), ("Customer", "Active"),
          ("Lost", "Lost"), ("Churned", "Lost"), ("Closed", "Lost"), ("Cancelled", "Lost"), ("canceled", "Lost"),
          ("Inactive", "Lost"), ("Closed - Lost", "Lost"), ("not active", "Lost"), ("Y", "Active"),
          ("N", "Lost")]


@pytest.mark.parametrize("raw,expected", STATUS, ids=[s for s, _ in STATUS])
def test_status_spellings(raw, expected):
    assert one(cells.parse_status, raw) == (expected, None)


def test_status_flag_in_a_churned_column_means_lost():
    parsed = cells.parse_status(pd.Series(["Y", "N", 1], dtype=object), flag_means="Lost")
    assert parsed.values.tolist() == ["Lost", "Active", "Lost"]


def test_unknown_status_is_missing_with_a_problem():
    assert one(cells.parse_status, "Paused") == (None, "is not a status this add-in knows (Active or Lost)")


@pytest.mark.parametrize("raw,code", [("Complaint", "complaint"), ("Service failure", "complaint"),
                                      ("M&A", "merger"), ("Price hike", "price_increase"),
                                      ("New decision-maker", "new_decision_maker"), ("Layoffs", "layoffs")],
                         ids=["complaint", "service-failure", "m-and-a", "price-hike", "new-dm", "layoffs"])
def test_event_codes(raw, code):
    assert one(cells.parse_events, raw) == (code, None)


def test_unknown_event_is_missing_with_a_problem():
    assert one(cells.parse_events, "Birthday party") == (None, "is not an event type this add-in knows")


@pytest.mark.parametrize("raw,text", [(1001, "1001"), (1001.0, "1001"), (" A-7 ", "A-7"), (12.5, "12.5"),
                                      (dt.datetime(2025, 1, 2), "2025-01-02"), (None, None)],
                         ids=["int", "whole-float", "padded", "fraction", "datetime", "blank"])
def test_text(raw, text):
    assert one(cells.parse_text, raw) == (text, None)


def test_text_keeps_flags_and_numbers_apart():
    raw = pd.Series([1, True, 0, False, 1.0, "x", True], dtype=object)
    assert cells.parse_text(raw).values.tolist() == ["1", "TRUE", "0", "FALSE", "1", "x", "TRUE"]


def test_a_numeric_column_takes_the_fast_path():
    parsed = cells.parse_money(pd.Series([1.5, np.nan, 3.0]))
    assert parsed.values.tolist()[0::2] == [1.5, 3.0] and np.isnan(parsed.values.iloc[1])
    assert parsed.blank.tolist() == [False, True, False]
    assert parsed.problems.isna().all()


def test_repeated_texts_are_parsed_once_and_spread_back():
    raw = pd.Series(["$5", "#N/A", "$5", None, "$7"] * 1000, dtype=object)
    parsed = cells.parse_money(raw)
    assert parsed.values.iloc[:5].tolist()[0::2] == [5.0, 5.0, 7.0]
    assert parsed.problems.value_counts().to_dict() == {"is an Excel error (#N/A)": 1000}


def test_each_excel_error_is_named_on_every_row_it_is_on():
    raw = pd.Series(["#N/A", 5, " #ref! ", "#N/A", "#DIV/0!", "#N/A"], dtype=object)
    assert cells.parse_numbers(raw).problems.tolist() == [
        "is an Excel error (#N/A)", None, "is an Excel error (#REF!)", "is an Excel error (#N/A)",
        "is an Excel error (#DIV/0!)", "is an Excel error (#N/A)"]


def test_plain_dates_follow_the_calendar():
    # every day of a leap year, a century year that is none (1900) and one that is (2000), each written both ways
    days = [dt.date(y, 1, 1) + dt.timedelta(d) for y in (1900, 2000, 2024, 2025) for d in range(366)
            if (dt.date(y, 1, 1) + dt.timedelta(d)).year == y]
    for texts, order in (([f"{d.month}/{d.day}/{d.year}" for d in days], "MDY"),
                         ([d.isoformat() for d in days], "auto"),
                         ([f"{d.day:02d}/{d.month:02d}/{d.year}" for d in days], "DMY")):
        parsed = cells.parse_dates(pd.Series(texts, dtype=object), order)
        assert parsed.values.tolist() == [pd.Timestamp(d) for d in days]
        assert parsed.problems.isna().all()
    no_days = ["2/29/1900", "2/29/2100", "2/30/2024", "4/31/2025", "0/5/2025", "2100-02-29", "2025-04-31"]
    parsed = cells.parse_dates(pd.Series(no_days + ["13/1/2025"], dtype=object), "MDY")
    assert parsed.values.isna().all()
    assert parsed.problems.tolist() == ["is not a date"] * 7 + ["is not a date in this column's order (month/day/year)"]


def test_only_texts_with_a_number_are_tried_one_format_at_a_time():
    parsed = cells.parse_dates(pd.Series(["2025 Mar 15", "next tues", "Tuesday", "2025 March 16"], dtype=object))
    assert parsed.values.tolist()[0::3] == [pd.Timestamp("2025-03-15"), pd.Timestamp("2025-03-16")]
    assert parsed.problems.tolist() == [None, "is not a date", "is not a date", None]


def test_numbers_and_texts_mixed_are_read_once_per_distinct_value():
    raw = pd.Series([45731, "3/15/2025", 45731.0, None, "#N/A", "3/15/2025 ", np.nan, "", "soon", 45732] * 300,
                    dtype=object)
    parsed = cells.parse_dates(raw)
    day = pd.Timestamp("2025-03-15")
    assert parsed.values.iloc[:10].tolist()[:3] == [day, day, day]
    assert parsed.values.iloc[5] == day and parsed.values.iloc[9] == pd.Timestamp("2025-03-16")
    assert parsed.blank.tolist()[:10] == [False, False, False, True, False, False, True, True, False, False]
    assert parsed.problems.tolist()[:10] == [None] * 4 + ["is an Excel error (#N/A)"] + [None] * 3 + [
        "is not a date", None]
    assert parsed.problems.notna().sum() == 600


@pytest.mark.parametrize("other", [True, np.float64(1.0), np.int64(1), pd.NaT],
                         ids=["flag", "numpy-float", "numpy-int", "nat"])
@pytest.mark.parametrize("at", [2, 150], ids=["among-the-first-cells", "further-down"])
def test_a_cell_equal_to_another_keeps_its_own_type(other, at):
    # True == 1 and numpy numbers equal Python ones: a cell is read by its own type, not an equal one's
    cells_in = [1, "2", 1.0, None] * 50
    cells_in[at] = other
    parsed = cells.parse_numbers(pd.Series(cells_in, dtype=object))
    one_by_one = [cells.parse_numbers(pd.Series([v], dtype=object)) for v in cells_in]
    assert parsed.values.fillna(-1).tolist() == [p.values.fillna(-1).iloc[0] for p in one_by_one]
    assert parsed.problems.tolist() == [p.problems.iloc[0] for p in one_by_one]
    assert parsed.blank.tolist() == [p.blank[0] for p in one_by_one]


@pytest.mark.parametrize("parser,expected", [
    (cells.parse_numbers, [3.0, np.nan, 5.0, 7.5, np.nan, -2.0, 45731.0]),
    (cells.parse_dates, [pd.Timestamp("1900-01-03"), pd.NaT, pd.Timestamp("1900-01-05"), pd.Timestamp("1900-01-07"),
                         pd.NaT, pd.NaT, pd.Timestamp("2025-03-15")]),
], ids=["numbers", "dates"])
def test_numbers_between_blanks_and_texts_stay_on_their_rows(parser, expected):
    raw = pd.Series([3, float("nan"), 5.0, 7.5, "", "-2" if parser is cells.parse_numbers else "x", 45731],
                    dtype=object)
    parsed = parser(raw)
    assert [None if pd.isna(v) else v for v in parsed.values] == [None if pd.isna(v) else v for v in expected]
    assert parsed.blank.tolist() == [False, True, False, False, True, False, False]
