"""Trigger lift and complaint steps: planted triggers found, shuffled controls quiet, the arithmetic exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis_books import AS_OF, fp_allowance, null_shuffle, sample_canonical, simulated_book, small_books, tiny_book
from relhealth.reader import read_book
from relhealth.sample import planted_truths, sample_book, shuffled_control
from relhealth.schema import EVENT_TYPES
from relhealth.settings import Settings
from relhealth.triggers import FISHER, PERSON_TIME, STEP_COLUMNS, TRIGGER_COLUMNS, complaint_steps, trigger_lift


@pytest.fixture(scope="module")
def sample_lift() -> pd.DataFrame:
    return trigger_lift(sample_canonical()).set_index("event_type")


@pytest.mark.parametrize("event", [e for e in planted_truths()["planted_events"] if e != "complaint"])
def test_planted_triggers_are_trends(sample_lift, event):
    row = sample_lift.loc[event]
    planted = planted_truths()["event_odds"][event]
    assert row["verdict"] == "trend", row.to_dict()
    assert row["rate_ratio"] > 1 and row["p_value"] < Settings().significance and row["ci_low"] > 1
    assert row["ci_low"] <= planted <= row["ci_high"], row.to_dict()


def test_three_complaints_step_is_a_trend():
    truths = planted_truths()["complaints"]
    steps = complaint_steps(sample_canonical()).set_index("complaints")
    three = steps.loc["3+"]
    assert three["verdict"] == "trend" and three["p_value"] < 1e-6 and three["ci_low"] > 1
    # the step at three complaints is the big one, as planted (odds 10 for most buyers)
    assert three["rate_ratio"] > steps.loc["2", "rate_ratio"] > 1
    assert three["rate_ratio"] > 0.5 * truths["odds_by_count"]["habitual"][3]
    assert steps.loc["0", "verdict"] == "reference" and steps.loc["0", "rate_ratio"] == 1


def test_tables_have_contract_columns(sample_lift):
    lift = sample_lift.reset_index()
    assert list(lift.columns) == TRIGGER_COLUMNS
    assert lift["event_type"].tolist() == list(EVENT_TYPES)
    assert (lift["method"] == PERSON_TIME).all()
    assert lift["p_value"].between(0, 1).all()
    assert ((lift["ci_low"] <= lift["rate_ratio"]) & (lift["rate_ratio"] <= lift["ci_high"])).all()
    total = int(sample_canonical().accounts["lost_date"].notna().sum())
    assert ((lift["breakups_with"] + lift["breakups_without"]) == total).all()
    steps = complaint_steps(sample_canonical())
    assert list(steps.columns) == STEP_COLUMNS
    assert steps["complaints"].tolist() == ["0", "1", "2", "3+"]
    assert steps["breakups"].sum() == total
    assert steps["account_days"].sum() == pytest.approx(lift["days_with"].iloc[0] + lift["days_without"].iloc[0])


def test_person_time_arithmetic_by_hand():
    """Two accounts on the book for 100 days each, window 10 days: A has an event on day 50 and breaks up on
    day 55 (inside the window); B breaks up on day 100 with no event; C stays."""
    rows = [{"account_id": "A", "customer_since": "2026-01-01", "lost_date": "2026-02-25"},
            {"account_id": "B", "customer_since": "2026-01-01", "lost_date": "2026-04-10"},
            {"account_id": "C", "customer_since": "2026-01-01"}]
    events = [("A", "2026-02-20", "merger"), ("C", "2026-03-01", "merger"), ("C", "2026-03-05", "merger")]
    book = tiny_book(rows, events=events, as_of=pd.Timestamp("2026-06-30").date(), trigger_window_days=10,
                     min_breakups_to_learn=2)
    merger = trigger_lift(book).set_index("event_type").loc["merger"]
    # A: Feb 20..Feb 25 = 6 days after the event, break-up inside. C: Mar 1..Mar 14 (windows overlap) = 14 days.
    assert merger["days_with"] == 6 + 14
    total = (56) + (100) + (181)  # Jan 1..Feb 25, Jan 1..Apr 10, Jan 1..Jun 30
    assert merger["days_without"] == total - 20
    assert (merger["accounts_with"], merger["breakups_with"], merger["breakups_without"]) == (2, 1, 1)
    assert merger["rate_with"] == pytest.approx(1 / 20 * 10)
    assert merger["rate_ratio"] == pytest.approx((1 / 20) / (1 / (total - 20)))


def test_events_after_the_break_up_do_not_count():
    rows = [{"account_id": f"A{i}", "customer_since": "2024-01-01", "lost_date": "2025-06-01" if i < 40 else None}
            for i in range(80)]
    events = [(f"A{i}", "2025-06-10", "merger") for i in range(40)]  # logged after they left
    lift = trigger_lift(tiny_book(rows, events=events)).set_index("event_type").loc["merger"]
    assert lift["accounts_with"] == 0 and lift["verdict"] == "no events logged"


def test_flag_columns_are_compared_account_by_account():
    """A book with no event log but a Merger flag: Fisher's exact test on accounts."""
    rng = np.random.default_rng(4)
    merger = rng.random(300) < 0.2
    lost = rng.random(300) < np.where(merger, 0.6, 0.15)
    rows = [{"account_id": f"F{i}", "customer_since": "2023-01-01", "merger_flag": bool(m),
             "lost_date": "2025-05-01" if x else None, "complaints_90d": float(i % 4)}
            for i, (m, x) in enumerate(zip(merger, lost))]
    book = tiny_book(rows)
    row = trigger_lift(book).set_index("event_type").loc["merger"]
    assert row["method"] == FISHER
    assert (row["accounts_with"], row["breakups_with"]) == (merger.sum(), (merger & lost).sum())
    assert row["verdict"] == "trend" and row["rate_ratio"] > 1
    steps = complaint_steps(book)
    assert (steps["method"] == FISHER).all() and steps["accounts"].sum() == 300


def test_shuffled_controls_call_no_trigger_a_trend():
    """60 shuffles of the sample book x 11 event types (and 3 complaint steps): "trend" verdicts no more often
    than the nominal rate allows."""
    base = sample_canonical()
    alpha = base.settings.significance
    lift, steps = [], []
    for seed in range(60):
        book = null_shuffle(base, seed)
        lift += trigger_lift(book)["verdict"].tolist()
        steps += complaint_steps(book)["verdict"].iloc[1:].tolist()
    for verdicts in (lift, steps):
        tested = [v for v in verdicts if v != "no events logged"]
        trends = tested.count("trend")
        assert trends <= fp_allowance(len(tested), alpha), trends
        assert trends / len(tested) <= 2 * alpha


def test_sample_shuffled_control_through_the_reader_is_quiet():
    sheets = sample_book(as_of=AS_OF)
    planted = [e for e in planted_truths()["planted_events"] if e != "complaint"]
    hits = 0
    for seed in range(8):
        book = read_book(shuffled_control(sheets, seed), Settings(as_of=AS_OF))
        lift = trigger_lift(book).set_index("event_type")
        hits += int((lift.loc[planted, "verdict"] == "trend").sum())
        hits += int(complaint_steps(book).set_index("complaints").loc["3+", "verdict"] == "trend")
    assert hits <= fp_allowance(8 * 4, Settings().significance)


def test_simulated_null_book_is_quiet_and_planted_one_is_not():
    quiet = trigger_lift(simulated_book(seed=21))
    assert "trend" not in quiet.loc[quiet["event_type"].isin(["merger", "new_decision_maker", "price_increase"]),
                                    "verdict"].tolist()
    loud = trigger_lift(simulated_book(seed=21, effects=True)).set_index("event_type")
    assert (loud.loc[["merger", "new_decision_maker", "price_increase"], "verdict"] == "trend").all()


@pytest.mark.parametrize("name", list(small_books()))
def test_small_books_say_not_enough_history(name):
    book = small_books()[name]
    lift, steps = trigger_lift(book), complaint_steps(book)
    assert list(lift.columns) == TRIGGER_COLUMNS and list(steps.columns) == STEP_COLUMNS
    for verdicts in (lift["verdict"], steps["verdict"]):
        assert not verdicts.isin(["trend", "fewer break-ups"]).any()
        assert verdicts.str.startswith("not enough history: ").any() or verdicts.isin(
            ["no events logged", "reference"]).all()
    assert lift["p_value"].isna().all() and steps["p_value"].isna().all()
