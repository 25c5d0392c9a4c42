"""score_book on a book of summary columns (First Order / Last Order / Orders) whose rows disagree with themselves:
one bad row never stops the book, it is scored on what can be trusted and says so in its own data_issues."""

import datetime as dt

import numpy as np
import pytest

from relhealth.reader import read_book
from relhealth.risk import SCORE_COLUMNS, score_book
from relhealth.settings import Settings

AS_OF = dt.date(2025, 6, 30)
D = dt.date

CASES = {  # id: (first order, last order, orders, words expected in data_issues)
    "one-order-two-dates": (D(2024, 1, 10), D(2025, 2, 3), 1, "'Orders' says 1 but First Order and Last Order differ"),
    "last-before-first": (D(2025, 2, 3), D(2024, 1, 10), 6, "Last Order is before First Order"),
    "zero-orders-with-dates": (D(2024, 1, 10), D(2025, 2, 3), 0, "'Orders' says 0"),
    "negative-orders": (D(2024, 1, 10), D(2025, 2, 3), -3, "below zero"),
    "many-orders-one-day": (D(2025, 2, 3), D(2025, 2, 3), 7, "the same day"),
    "orders-without-dates": (None, None, 4, "First Order and Last Order are blank"),
    "dates-past-as-of-thin": (D(2025, 1, 2), D(2026, 9, 1), 2, "run past as-of"),
}


def summary_book(bad_row=None):
    """Forty consistent accounts (a few years of a wholesaler's customers) and optionally one bad row."""
    rng = np.random.default_rng(7)
    rows = [["Account ID", "Account Name", "First Order", "Last Order", "Orders", "Complaints 90d"]]
    for i in range(40):
        first = D(2022, 3, 1) + dt.timedelta(days=int(rng.integers(0, 500)))
        last = min(first + dt.timedelta(days=int(rng.integers(20, 900))), AS_OF)
        rows.append([f"K{i:03d}", f"Customer {i}", first, last, int(rng.integers(2, 40)), int(i % 7 == 0)])
    if bad_row is not None:
        first, last, orders, _ = bad_row
        rows.append(["BAD", "Odd Row Ltd", first, last, orders, 0])
    return read_book({"Accounts": rows}, Settings(as_of=AS_OF))


@pytest.fixture(scope="module")
def clean():
    return score_book(summary_book()).set_index("account_id")


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_an_inconsistent_row_is_scored_and_explained(case, clean):
    scores = score_book(summary_book(case))
    assert list(scores.columns) == SCORE_COLUMNS
    assert len(scores) == 41
    bad = scores.set_index("account_id").loc["BAD"]
    assert case[3] in bad["data_issues"]
    if case[0] is None:  # it bought, but nothing says when: no number rather than a guessed one
        assert np.isnan(bad["risk"]) and "Last Order is blank or unreadable" in bad["data_issues"]
    else:
        assert 0 <= bad["risk"] <= 1
    # the other rows are untouched by the bad one (same fit up to one customer) and carry no note
    others = scores.set_index("account_id").drop(index="BAD")
    assert (others["data_issues"] == "").all()
    assert np.abs(others["risk"] - clean["risk"]).max() < 0.05


def test_dates_are_trusted_over_the_count():
    one = score_book(summary_book(CASES["one-order-two-dates"])).set_index("account_id").loc["BAD"]
    two = score_book(summary_book((D(2024, 1, 10), D(2025, 2, 3), 2, ""))).set_index("account_id").loc["BAD"]
    assert one["risk"] == pytest.approx(two["risk"])
    swapped = score_book(summary_book(CASES["last-before-first"])).set_index("account_id").loc["BAD"]
    straight = score_book(summary_book((D(2024, 1, 10), D(2025, 2, 3), 6, ""))).set_index("account_id").loc["BAD"]
    assert swapped["risk"] == pytest.approx(straight["risk"])


@pytest.mark.parametrize("last_order", [None, "next tues"], ids=["blank", "unreadable"])
def test_unknown_last_order_gives_no_number_and_says_why(last_order):
    scores = score_book(summary_book((D(2023, 5, 2), last_order, 12, ""))).set_index("account_id")
    bad = scores.loc["BAD"]
    assert np.isnan(bad["risk"]) and bad["band"] == "" and bad["drivers"] == ""
    assert "Last Order is blank or unreadable" in bad["data_issues"]
    assert "same day" not in bad["data_issues"]
    assert scores.drop(index="BAD")["risk"].between(0, 1).all()
