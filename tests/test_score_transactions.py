"""score_transactions on real purchase data (CDNOW) against the classic rankings, and the command around it."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from addin.cli import main
from addin.transactions import read_purchase_log, score_transactions_file
from relhealth.btyd import BGNBD, ParetoNBD
from relhealth.calibration import History, summarise
from relhealth.risk import score_transactions

DATA = Path(__file__).parent / "data"
AS_OF, END, HORIZON = pd.Timestamp("1997-09-30"), pd.Timestamp("1998-06-30"), 273


def roc_auc(score, positive) -> float:
    """P(a positive scores above a negative), ties counting half (Mann-Whitney U / n1 n0)."""
    positive = np.asarray(positive, bool)
    ranks = rankdata(score)
    n1, n0 = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def brier(p, outcome) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(outcome, float)) ** 2))


def test_metric_helpers():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.5, 0.5], [0, 1]) == 0.5
    assert roc_auc([0.9, 0.1], [0, 1]) == 0.0
    assert brier([1, 0], [1, 0]) == 0 and brier([0.5], [1]) == 0.25


@pytest.fixture(scope="module")
def log():
    raw = pd.read_csv(DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, dtype={0: str, 2: str})
    return pd.DataFrame({"account_id": raw[0], "order_date": pd.to_datetime(raw[2], format="%Y%m%d"),
                         "amount": raw[4].astype(float)})


@pytest.fixture(scope="module")
def figures(log):
    """AUC and Brier for "no purchase in (1997-09-30, 1998-06-30]": ours and the classics, printed."""
    calib = log[log["order_date"] <= AS_OF]
    customers = pd.Index(calib["account_id"].unique())
    later = log[(log["order_date"] > AS_OF) & (log["order_date"] <= END)]["account_id"].unique()
    churn = ~customers.isin(later)
    s = summarise(History.from_frame(calib["account_id"], calib["order_date"], customers), int(AS_OF.value // 86_400e9))
    x, t_x, T = s.xtT()
    recency_days = s.cutoff - s.last
    spend = calib.groupby("account_id")["amount"].sum().reindex(customers).to_numpy()

    def quintile(v):
        return pd.qcut(pd.Series(v).rank(method="first"), 5, labels=False).to_numpy() + 1

    rfm = quintile(-recency_days) + quintile(x) + quintile(spend)  # the standard R + F + M quintile score
    rank = {"recency": (recency_days, None), "RFM": (-rfm, None)}
    for model in (BGNBD, ParetoNBD):
        fit = model().fit(x, t_x, T)
        p0 = fit.prob_no_purchase(x, t_x, T, HORIZON / 7)
        rank[f"{model.__name__} E[X]"] = (-fit.expected_purchases(x, t_x, T, HORIZON / 7), None)
        rank[f"{model.__name__} P(no purchase)"] = (p0, p0)
    ours = score_transactions(log, AS_OF.date(), HORIZON).set_index("customer_id").reindex(customers)
    rows = {name: (roc_auc(score, churn), brier(p, churn) if p is not None else np.nan)
            for name, (score, p) in rank.items()}
    rows["score_transactions"] = (roc_auc(ours["risk"], churn), brier(ours["risk"], churn))
    table = pd.DataFrame(rows, index=["AUC", "Brier"]).T
    print(f"\nCDNOW sample as of {AS_OF:%Y-%m-%d}, horizon {HORIZON} days, churn rate {churn.mean():.3f}\n"
          f"{table.round(4).to_string()}")
    return table


def test_risk_ranks_better_than_every_classic(figures):
    classics = figures.drop(index="score_transactions")
    assert figures.loc["score_transactions", "AUC"] > classics["AUC"].max()


def test_risk_is_better_calibrated_than_every_models_no_purchase_probability(figures):
    models = figures["Brier"].drop(index="score_transactions").dropna()
    assert len(models) == 2
    assert figures.loc["score_transactions", "Brier"] < models.min()


def test_only_purchases_up_to_as_of_count(log):
    base = score_transactions(log, AS_OF.date(), HORIZON)
    assert score_transactions(log[log["order_date"] <= AS_OF], AS_OF.date(), HORIZON).equals(base)
    assert list(base.columns) == ["customer_id", "risk", "band", "drivers"]
    assert base["risk"].between(0, 1).all() and base["customer_id"].is_unique
    assert set(base["band"]) <= {"Low", "Watch", "High", "Critical"}
    assert base["drivers"].str.endswith(" pts").all()


def test_customers_who_start_after_as_of_are_left_out(log):
    early = score_transactions(log, "1997-01-31", 90)
    assert 0 < len(early) < log["account_id"].nunique()


def _write_log(path: Path, log: pd.DataFrame, headers=("Cust ID", "Invoice Date", "Order Total")) -> None:
    frame = log.rename(columns=dict(zip(("account_id", "order_date", "amount"), headers)))
    frame[headers[1]] = frame[headers[1]].dt.strftime("%Y-%m-%d")
    frame.to_csv(path, index=False)


def test_file_headers_are_mapped_by_synonym(tmp_path, log):
    path = tmp_path / "log.csv"
    _write_log(path, log)
    orders, skipped = read_purchase_log(path)
    assert skipped == 0 and len(orders) == len(log)
    assert list(orders.columns) == ["account_id", "order_date", "amount"]
    assert orders["amount"].sum() == pytest.approx(log["amount"].sum())


def test_command_writes_scores(tmp_path, log, capsys):
    path, out = tmp_path / "log.csv", tmp_path / "scores.csv"
    _write_log(path, log)
    code = main(["score-transactions", str(path), "--as-of", "1997-09-30", "--horizon-days", "273",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    written = pd.read_csv(out, dtype={"customer_id": str})
    assert list(written.columns) == ["customer_id", "risk", "band", "drivers"]
    assert len(written) == 2357
    direct = score_transactions(log, AS_OF.date(), HORIZON)
    assert np.allclose(written["risk"], direct["risk"], atol=1e-6)


def test_command_names_a_missing_column(tmp_path, capsys):
    path = tmp_path / "log.csv"
    pd.DataFrame({"Customer": ["a", "b"], "Colour": ["red", "blue"]}).to_csv(path, index=False)
    code = main(["score-transactions", str(path), "--as-of", "2020-01-01", "--out", str(tmp_path / "s.csv")])
    assert code == 1
    assert "no order date column" in capsys.readouterr().err


def test_unreadable_lines_are_left_out_and_counted(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Customer ID,Date,Amount\nA,2020-01-05,10\nA,not a date,5\n,2020-02-01,3\nB,2020-01-07,4\n")
    orders, skipped = read_purchase_log(path)
    assert skipped == 2 and list(orders["account_id"]) == ["A", "B"]
    scores = score_transactions_file(path, pd.Timestamp("2020-03-01").date(), 60, tmp_path / "s.csv", quiet=True)
    assert set(scores["customer_id"]) == {"A", "B"}  # too few repeat buyers: the recency rule scores them
    assert scores["risk"].between(0, 1).all()
