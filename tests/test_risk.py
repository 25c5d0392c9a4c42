"""score_book and the event effects: contract, as-of discipline, drivers that add up, planted truths."""

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from relhealth.book import Book
from relhealth.event_effects import CODES, benjamini_hochberg
from relhealth.reader import read_book
from relhealth.risk import SCORE_COLUMNS, band_of, event_effects, score_book, shapley_points
from relhealth.sample import planted_truths, sample_book, shuffled_control
from relhealth.settings import Settings

AS_OF = dt.date(2025, 6, 30)


def synthetic_book(n=80, seed=0, as_of=AS_OF, events=None, lost=(), settings=None, orders_after=False):
    """Accounts buying every ``gap`` days (some stopped a while ago), canonical frames as the reader makes them."""
    rng = np.random.default_rng(seed)
    ids = [f"A{i:03d}" for i in range(n)]
    start = pd.Timestamp(as_of) - pd.Timedelta(days=720)
    rows = []
    for i, account in enumerate(ids):
        gap = int(rng.integers(10, 60))
        stop = pd.Timestamp(as_of) - pd.Timedelta(days=int(rng.integers(0, 400))) if i % 3 == 0 else None
        day = start + pd.Timedelta(days=int(rng.integers(0, gap)))
        end = pd.Timestamp(as_of) + pd.Timedelta(days=200 if orders_after else 0)
        while day <= end:
            if stop is None or day <= stop:
                rows.append((account, day, float(rng.integers(100, 1000))))
            day += pd.Timedelta(days=max(1, int(rng.normal(gap, gap / 4))))
    orders = pd.DataFrame(rows, columns=["account_id", "order_date", "amount"])
    orders["source_row"] = np.arange(2, len(orders) + 2)
    accounts = pd.DataFrame({"account_id": ids, "status": "Active", "lost_date": pd.NaT, "lost_reason": None,
                             "renewal_date": pd.Timestamp(as_of) + pd.to_timedelta(rng.integers(1, 365, n), "D"),
                             "customer_since": start, "source_row": np.arange(2, n + 2)})
    for i, (when, reason) in lost:
        accounts.loc[i, ["status", "lost_date", "lost_reason"]] = ["Lost", pd.Timestamp(when), reason]
    ev = pd.DataFrame(events or [], columns=["account_id", "event_date", "event_type"])
    ev["event_date"] = pd.to_datetime(ev["event_date"])
    ev["detail"], ev["source_row"] = None, np.arange(2, len(ev) + 2)
    return Book(accounts=accounts, orders=orders, events=ev, settings=settings or Settings(as_of=as_of))


def points(text: str) -> int:
    match = re.search(r"([+-]?\d+) pts$", text)
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="module")
def book():
    events = [("A001", "2025-06-01", "merger"), ("A001", "2025-05-20", "complaint"),
              ("A001", "2025-05-25", "complaint"), ("A001", "2025-06-10", "complaint"),
              ("A002", "2025-06-20", "price_increase"), ("A004", "2024-01-01", "merger")]
    return synthetic_book(events=events, lost=[(5, ("2025-03-01", "Price"))])


@pytest.fixture(scope="module")
def scores(book):
    return score_book(book)


def test_one_row_per_account_in_book_order(book, scores):
    assert list(scores.columns) == SCORE_COLUMNS
    assert list(scores["account_id"]) == list(book.accounts["account_id"])
    assert scores["risk"].between(0, 1).all()
    assert (scores["band"] == band_of(scores["risk"].to_numpy(), book.settings)).all()


def test_numbers_first_and_words_later_give_the_same_scores(book, scores):
    from relhealth.risk import BookRisk

    scoring = BookRisk(book)
    numbers = scoring.scores(explain=False)
    for col in ("account_id", "risk", "band", "expected_purchases", "p_alive"):
        assert numbers[col].equals(scores[col]), col
    lost = numbers["risk"] == 1.0
    assert (numbers.loc[~lost, ["driver_1", "driver_2", "driver_3", "drivers"]] == "").all().all()
    assert numbers.loc[lost, "driver_1"].str.startswith("Lost on").all()  # a lost account still says why
    pd.testing.assert_frame_equal(scoring.scores(), scores)  # the words afterwards, from the same fit


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed{s}")
def test_drivers_add_up_to_the_risk(seed):
    events = [(f"A{i:03d}", "2025-06-15", code) for i, code in enumerate(CODES[:-1])]
    many = ("merger", "price_increase", "complaint", "layoffs", "new_decision_maker")
    events += [("A050", "2025-06-01", code) for code in many]
    scores = score_book(synthetic_book(seed=seed, events=events))
    assert "other factors" in scores.set_index("account_id").loc["A050", "driver_3"]
    for _, row in scores.iterrows():
        shown = [row[f"driver_{k}"] for k in (1, 2, 3)]
        assert sum(points(d) for d in shown) == round(row["risk"] * 100), shown
        assert row["drivers"] == "; ".join(d for d in shown if d)


def test_events_raise_the_risk_and_are_named(book, scores):
    quiet = score_book(synthetic_book())  # same accounts without events
    a001 = scores.set_index("account_id").loc["A001"]
    assert a001["risk"] > quiet.set_index("account_id").loc["A001", "risk"]
    assert "3 complaints in 90 days" in a001["drivers"] and "Merger or acquisition" in a001["drivers"]
    assert "Price increase 10 days ago" in scores.set_index("account_id").loc["A002", "drivers"]
    # an event outside the window changes nothing
    assert scores.set_index("account_id").loc["A004", "risk"] == pytest.approx(
        quiet.set_index("account_id").loc["A004", "risk"], rel=1e-9)


def test_lost_accounts_are_certain_and_say_why(scores):
    lost = scores.iloc[5]
    assert lost["risk"] == 1.0 and lost["band"] == "Critical"
    assert lost["driver_1"] == "Lost on 2025-03-01: Price"


def test_nothing_after_as_of_is_used():
    full = synthetic_book(seed=3, orders_after=True, events=[("A000", "2025-08-01", "merger"),
                                                             ("A001", "2025-06-01", "merger")])
    cut = pd.Timestamp(AS_OF)
    known = Book(accounts=full.accounts, orders=full.orders[full.orders["order_date"] <= cut],
                 events=full.events[full.events["event_date"] <= cut], settings=full.settings)
    assert len(known.orders) < len(full.orders)
    pd.testing.assert_frame_equal(score_book(full), score_book(known))


def test_past_as_of_scores_the_book_as_it_stood():
    book = synthetic_book(seed=4, lost=[(2, ("2025-05-01", "Price"))])
    earlier = Book(accounts=book.accounts, orders=book.orders, events=book.events,
                   settings=Settings(as_of=dt.date(2025, 1, 31)))
    scores = score_book(earlier)
    assert scores.loc[2, "risk"] < 1.0  # lost later than that as-of: still an active customer then


def test_defaults_apply_without_enough_breakups(book):
    effects = event_effects(book)
    assert list(effects["event_type"]) == list(CODES)
    assert (effects["source"] == "default").all()
    settings = book.settings
    assert effects.set_index("event_type").loc["merger", "odds_ratio"] == pytest.approx(settings.event_odds["merger"])
    assert effects.set_index("event_type").loc["renewal", "odds_ratio"] == pytest.approx(settings.renewal_odds)


def test_a_default_changed_in_settings_changes_the_risk(book, scores):
    stronger = Book(accounts=book.accounts, orders=book.orders, events=book.events,
                    settings=book.settings.with_(event_odds={**book.settings.event_odds, "merger": 8.0}))
    again = score_book(stronger).set_index("account_id")
    assert again.loc["A001", "risk"] > scores.set_index("account_id").loc["A001", "risk"]


def test_summary_columns_book_is_scored():
    acc = pd.DataFrame({"account_id": ["a", "b", "c", "d"] * 10,
                        "first_order": pd.Timestamp("2023-01-01"),
                        "last_order": pd.to_datetime(["2025-06-20", "2024-09-01", "2025-01-10", "2023-01-01"] * 10),
                        "order_count": [40.0, 12.0, 20.0, 1.0] * 10, "complaints_90d": [0, 3, 0, 0] * 10,
                        "source_row": np.arange(2, 42)})
    acc["account_id"] = [f"{x}{i}" for i, x in enumerate(acc["account_id"])]
    scores = score_book(Book(accounts=acc, settings=Settings(as_of=AS_OF)))
    assert scores["risk"].between(0, 1).all()
    assert scores.loc[0, "risk"] < scores.loc[1, "risk"]  # bought days ago vs silent for ten months
    assert "3 complaints in 90 days" in scores.loc[1, "drivers"]


def test_too_little_history_falls_back_to_the_recency_rule():
    acc = pd.DataFrame({"account_id": ["x", "y", "z"], "source_row": [2, 3, 4]})
    orders = pd.DataFrame({"account_id": ["x", "x", "y"], "order_date": pd.to_datetime(["2025-01-01", "2025-06-01",
                                                                                       "2024-01-01"]),
                           "amount": 1.0, "source_row": [2, 3, 4]})
    scores = score_book(Book(accounts=acc, orders=orders, settings=Settings(as_of=AS_OF)))
    assert scores["risk"].between(0, 1).all()
    assert "recency rule" in scores.loc[0, "data_issues"]
    assert "no orders on record" in scores.loc[2, "data_issues"]
    assert scores.loc[0, "risk"] < scores.loc[1, "risk"]


def test_shapley_points_share_the_extra_risk_exactly():
    base = np.array([-1.0, 0.5, 0.0])
    effects = np.array([[0.7, 0.0, 1.2], [0.3, 0.3, 0.0], [0.0, 0.0, 0.0]])
    shares = shapley_points(base, effects)
    total = 1 / (1 + np.exp(-(base + effects.sum(axis=1)))) - 1 / (1 + np.exp(-base))
    assert shares.sum(axis=1) == pytest.approx(total)
    assert shares[1, 0] == pytest.approx(shares[1, 1])  # symmetric effects share equally
    assert (shares[effects == 0] == 0).all()


def test_benjamini_hochberg():
    assert benjamini_hochberg([0.01, 0.04, 0.03, np.nan]) == pytest.approx([0.03, 0.04, 0.04, np.nan], nan_ok=True)


# ---- planted truths of the sample book ---------------------------------------------------------------------

SAMPLE_AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def sample_sheets():
    return sample_book(as_of=SAMPLE_AS_OF)


def test_learned_effects_find_the_planted_events(sample_sheets):
    book = read_book(sample_sheets, Settings(as_of=SAMPLE_AS_OF))
    effects = event_effects(book).set_index("event_type")
    truths = planted_truths()
    assert (effects["source"] == "learned").all()
    for code in truths["planted_events"]:
        assert effects.loc[code, "odds_ratio"] > 1.5, code
        assert effects.loc[code, "ci_low"] > 1, code
        assert effects.loc[code, "p_value"] < book.settings.significance, code
    strongest = max(truths["event_odds"], key=lambda c: truths["event_odds"][c] if c != "complaint" else 0)
    assert effects["odds_ratio"].drop(index="complaint").idxmax() == strongest  # the merger


@pytest.mark.parametrize("month_end", ["2025-11-30", "2026-03-31", "2026-07-31", "2026-10-31"])
def test_a_past_month_end_learns_the_same_from_the_latest_books_rows(sample_sheets, month_end):
    """The trend's month-ends take their account-weeks from the latest book's set: exactly what each would have
    built from its own records (accounts lost later are still active then; their rows are the same)."""
    from relhealth.event_effects import learn_effects
    from relhealth.trend import book_as_of

    latest = read_book(sample_sheets, Settings(as_of=SAMPLE_AS_OF))
    past = book_as_of(latest, pd.Timestamp(month_end))
    own = learn_effects(past)
    shared = learn_effects(past, rows=latest.event_learning)
    assert (own["source"] == "learned").all()
    pd.testing.assert_frame_equal(shared, own, rtol=1e-9)
    assert (score_book(past, learning=latest.event_learning)["risk"].to_numpy()
            == pytest.approx(score_book(past)["risk"].to_numpy(), rel=1e-9, nan_ok=True))


@pytest.mark.parametrize("seed", [0, 1], ids=lambda s: f"shuffle{s}")
def test_shuffled_control_shows_no_significant_effect(sample_sheets, seed):
    book = read_book(shuffled_control(sample_sheets, seed=seed), Settings(as_of=SAMPLE_AS_OF))
    effects = event_effects(book)
    assert (effects["source"] == "learned").all()
    assert (effects["p_value"] >= book.settings.significance).all(), effects[["event_type", "p_value"]]
