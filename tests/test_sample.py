"""The sample book: deterministic, shaped like a real account book, and carrying the truths it says it plants.

The planted effects are measured here the way an analyst would, from the sheets alone: break-ups per account-day
at risk (from ``Customer Since`` or the start of the order log, to the lost date or the end of the book), in a
state (a seasonal window, three complaints in the trailing 90 days, an event in the last 90 days) against outside
it, with the exact conditional Poisson test. The shuffled control must lose every one of those associations.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest
from scipy import stats

from addin.sample_book import write_sample_book
from relhealth import sample
from relhealth.reader import read_book
from relhealth.schema import (
    ACCOUNTS,
    EVENT_TYPES,
    EVENTS,
    ORDERS,
    SETTINGS,
    normalise_event,
)
from relhealth.settings import DEFAULT_WINDOWS, Settings

AS_OF = dt.date(2026, 10, 31)
TRUTHS = sample.planted_truths()


# ---------------------------------------------------------------- measuring a book from its sheets

def _days(values: pd.Series) -> np.ndarray:
    parsed = pd.to_datetime(values, errors="coerce", format="mixed") if values.dtype == object else values
    return parsed.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


class Exposure:
    """Account x day grid of a book: who is at risk of breaking up, who broke up, and states to compare."""

    def __init__(self, sheets: dict[str, pd.DataFrame], as_of: dt.date = AS_OF):
        acc, events = sheets[ACCOUNTS], sheets[EVENTS]
        self.start = np.datetime64(as_of.replace(year=as_of.year - 3), "D") + 1
        self.days = int((np.datetime64(as_of, "D") - self.start).astype(int)) + 1
        since = (_days(acc["Customer Since"]) - self.start).astype(int)
        lost = _days(acc["Lost Date"])
        last = np.where(np.isnat(lost), self.days - 1, (np.where(np.isnat(lost), self.start, lost) - self.start)
                        .astype(int))
        t = np.arange(self.days)
        self.at_risk = (t[None, :] >= np.maximum(since, 0)[:, None]) & (t[None, :] <= last[:, None])
        self.breakup = np.zeros_like(self.at_risk)
        self.breakup[np.flatnonzero(~np.isnat(lost)), last[~np.isnat(lost)]] = True
        position = pd.Series(np.arange(len(acc)), index=acc["Account ID"].to_numpy())
        self.event_acc = position.reindex(events["Account ID"]).to_numpy()
        self.event_day = (_days(events["Event Date"]) - self.start).astype(int)
        self.event_code = events["Event"].map(normalise_event).to_numpy()
        dates = pd.DatetimeIndex(self.start + t)
        self.month_day = dates.month.to_numpy() * 100 + dates.day.to_numpy()

    def trailing(self, code: str, days: int = 90) -> np.ndarray:
        """Number of events of ``code`` in the trailing ``days`` (the event's own day included)."""
        sel = self.event_code == code
        grid = np.zeros((self.at_risk.shape[0], self.days + days))
        np.add.at(grid, (self.event_acc[sel], self.event_day[sel]), 1)
        np.add.at(grid, (self.event_acc[sel], self.event_day[sel] + days), -1)
        return np.rint(np.cumsum(grid, axis=1)[:, :self.days])

    def window(self, start: str, end: str) -> np.ndarray:
        lo, hi = int(start.replace("-", "")), int(end.replace("-", ""))
        return np.broadcast_to((self.month_day >= lo) & (self.month_day <= hi), self.at_risk.shape)

    def compare(self, state: np.ndarray, within: np.ndarray | None = None) -> tuple[float, float, int]:
        """Break-up rate ratio (in state / out of it), exact two-sided p-value, break-ups in state; optionally among
        the accounts of ``within`` only."""
        at_risk, breakup = self.at_risk, self.breakup
        if within is not None:
            at_risk, breakup = at_risk & within[:, None], breakup & within[:, None]
        k1, k0 = int((breakup & state).sum()), int((breakup & ~state).sum())
        t1, t0 = int((at_risk & state).sum()), int((at_risk & ~state).sum())
        p_value = stats.binomtest(k1, k1 + k0, t1 / (t1 + t0)).pvalue if k1 + k0 else 1.0
        ratio = (k1 / t1) / (k0 / t0) if k0 and t1 else np.nan
        return ratio, p_value, k1


def _all_windows(grid: Exposure) -> np.ndarray:
    state = np.zeros(grid.at_risk.shape, bool)
    for start, end in TRUTHS["season"]["windows"].values():
        state |= grid.window(start, end)
    return state


def _money(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce")


@pytest.fixture(scope="module")
def book():
    return sample.sample_book()


@pytest.fixture(scope="module")
def grid(book):
    return Exposure(book)


@pytest.fixture(scope="module")
def big():
    return sample.sample_book(accounts=5000, seed=11)


@pytest.fixture(scope="module")
def big_grid(big):
    return Exposure(big)


@pytest.fixture(scope="module")
def control(book):
    return sample.shuffled_control(book, seed=5)


# ---------------------------------------------------------------- determinism and shape

def test_same_seed_gives_identical_frames():
    first, second = sample.sample_book(150, seed=3), sample.sample_book(150, seed=3)
    for name in (ACCOUNTS, ORDERS, EVENTS):
        pd.testing.assert_frame_equal(first[name], second[name])


def test_different_seed_gives_a_different_book():
    first, second = sample.sample_book(150, seed=3), sample.sample_book(150, seed=4)
    assert not first[ORDERS].equals(second[ORDERS])
    assert not first[ACCOUNTS]["Lost Date"].equals(second[ACCOUNTS]["Lost Date"])


def test_sheets_have_the_headers_a_team_uses(book):
    assert list(book) == [ACCOUNTS, ORDERS, EVENTS]
    assert list(book[ACCOUNTS].columns) == sample.ACCOUNT_HEADERS
    assert list(book[ORDERS].columns) == ["Order Date", "Account ID", "Amount"]
    assert list(book[EVENTS].columns) == ["Event Date", "Account ID", "Event", "Detail"]


def test_row_counts_of_the_default_book(book):
    assert len(book[ACCOUNTS]) == 600
    assert book[ACCOUNTS]["Account ID"].is_unique
    assert 15_000 <= len(book[ORDERS]) <= 60_000  # tens of thousands of order lines
    assert 1_000 <= len(book[EVENTS]) <= 10_000
    ids = set(book[ACCOUNTS]["Account ID"])
    assert set(book[ORDERS]["Account ID"]) <= ids and set(book[EVENTS]["Account ID"]) <= ids


def test_every_event_kind_appears_under_its_label(book):
    labels = {label: code for code, (label, _) in EVENT_TYPES.items()}
    assert set(book[EVENTS]["Event"]) == set(labels)
    assert (book[EVENTS]["Event"].map(normalise_event) == book[EVENTS]["Event"].map(labels)).all()


def test_orders_cover_three_years_up_to_as_of(book):
    dates = _days(book[ORDERS]["Order Date"])
    assert dates.max() <= np.datetime64(AS_OF) and dates.min() > np.datetime64("2023-10-31")
    assert (np.datetime64(AS_OF) - dates.max()).astype(int) < 10
    assert (dates.min() - np.datetime64("2023-11-01")).astype(int) < 10


def test_account_fields_are_plausible(book):
    acc = book[ACCOUNTS]
    assert acc["Owner"].nunique() == 8
    assert set(acc["Segment"]) == {"Enterprise", "Mid-Market", "SMB"}
    revenue = _money(acc["Annual Revenue"]).dropna()
    assert (revenue > 0).all() and revenue.median() > 10_000 and revenue.max() / revenue.median() > 10  # lognormal
    nps = acc["NPS"]
    assert nps.dropna().between(0, 10).all() and nps.isna().sum() >= 2
    assert (acc["Referrals"] >= 0).all()
    assert 0.3 < acc["Exec Sponsor"].isna().mean() < 0.95
    since, renewal = _days(acc["Customer Since"]), _days(acc["Renewal Date"])
    assert (renewal > since).all() and (since <= np.datetime64(AS_OF)).all()
    assert (pd.DatetimeIndex(renewal).day == pd.DatetimeIndex(since).day).mean() > 0.99  # annual contracts


def test_status_lost_date_and_reason_agree(book):
    acc = book[ACCOUNTS]
    lost = acc["Status"] == "Lost"
    assert set(acc["Status"]) == {"Active", "Lost"}
    assert acc.loc[lost, "Lost Date"].notna().all() and acc.loc[~lost, "Lost Date"].isna().all()
    assert acc.loc[~lost, "Lost Reason"].isna().all()
    reasons = set(acc.loc[lost, "Lost Reason"])
    assert reasons <= set(TRUTHS["reasons"]["fixable"]) | set(TRUTHS["reasons"]["exogenous"])
    assert reasons & set(TRUTHS["reasons"]["exogenous"]) and reasons & set(TRUTHS["reasons"]["fixable"])
    assert 0.15 < lost.mean() < 0.5


def test_lost_accounts_stop_ordering_at_their_lost_date(book):
    lost = book[ACCOUNTS].set_index("Account ID")["Lost Date"].dropna()
    orders = book[ORDERS][book[ORDERS]["Account ID"].isin(lost.index)]
    assert len(orders) > 1000
    assert (orders["Order Date"] <= orders["Account ID"].map(lost)).all()
    events = book[EVENTS][book[EVENTS]["Account ID"].isin(lost.index)]
    assert (_days(events["Event Date"]) <= _days(events["Account ID"].map(lost))).all()


# ---------------------------------------------------------------- buyer kinds (seed 004)

@pytest.fixture(scope="module")
def kinds(big):
    """Per account of the big book: its hidden buyer kind, gap CV, orders a year and advocacy."""
    truth = sample.sample_truth(accounts=5000, seed=11).set_index("account_id")
    orders = big[ORDERS].sort_values(["Account ID", "Order Date"])
    gap = orders.groupby("Account ID")["Order Date"].diff().dt.days
    per = pd.DataFrame({"cv": gap.groupby(orders["Account ID"]).std() / gap.groupby(orders["Account ID"]).mean(),
                        "orders": orders.groupby("Account ID").size()})
    acc = big[ACCOUNTS].set_index("Account ID")
    years = (pd.Timestamp(AS_OF) - pd.to_datetime(acc["Customer Since"], format="mixed").clip(
        lower=pd.Timestamp("2023-11-01"))).dt.days / 365.0
    per["orders_per_year"] = per["orders"] / years.reindex(per.index)
    per["kind"] = truth["buyer_kind"]
    events = big[EVENTS]["Event"].map(normalise_event)
    price = events.isin(["price_relief", "competitor_price"]).groupby(big[EVENTS]["Account ID"]).sum()
    per["price_events_per_year"] = price.reindex(per.index, fill_value=0) / years.reindex(per.index)
    acc = acc.assign(kind=truth["buyer_kind"])
    return per, acc


def test_buyer_kind_mix_is_the_planted_one():
    truth = sample.sample_truth(accounts=5000, seed=11)
    share = truth["buyer_kind"].value_counts(normalize=True)
    for kind, planted in TRUTHS["tier_mix"].items():
        assert share[kind] == pytest.approx(planted, abs=0.03)


def test_regular_buyers_have_steady_gaps_and_occasional_ones_do_not(kinds):
    per, _ = kinds
    steady = per[per["orders"] >= 6].groupby("kind")["cv"].median()
    assert steady["occasional"] > 0.7
    assert steady["habitual"] < 0.35 and steady["loyal"] < 0.35
    rate = per.groupby("kind")["orders_per_year"].median()
    assert rate["occasional"] < 3 and rate["habitual"] > 8 and rate["loyal"] > 8


def test_only_loyal_accounts_show_advocacy(kinds):
    _, acc = kinds
    affinity = (acc["Referrals"] >= 1) | (acc["NPS"] >= 9) | acc["Exec Sponsor"].notna()
    assert affinity[acc["kind"] == "loyal"].all()
    assert not affinity[acc["kind"] == "habitual"].any()
    assert (acc.loc[acc["kind"] == "occasional", "Referrals"] == 0).all()
    promoters = acc.groupby("kind")["NPS"].apply(lambda s: (s.dropna() >= 9).mean())
    assert promoters["loyal"] > 0.8 and promoters["habitual"] == 0


def test_occasional_buyers_are_price_sensitive(kinds):
    per, _ = kinds
    rate = per.groupby("kind")["price_events_per_year"].mean()
    assert rate["occasional"] > 3 * rate["habitual"] and rate["occasional"] > 3 * rate["loyal"]


# ---------------------------------------------------------------- planted break-up truths

@pytest.mark.parametrize("name", list(DEFAULT_WINDOWS), ids=lambda n: n.split()[-1])
def test_each_window_is_a_significant_season_in_the_default_book(grid, name):
    ratio, p_value, _ = grid.compare(grid.window(*DEFAULT_WINDOWS[name]))
    assert ratio > 1.8 and p_value < 0.01


def test_window_rate_ratio_is_the_planted_one(big_grid):
    ratio, p_value, _ = big_grid.compare(_all_windows(big_grid))
    assert ratio == pytest.approx(TRUTHS["season"]["rate_ratio"], rel=0.2)
    assert p_value < 1e-20


def test_three_complaints_in_90_days_raise_break_ups_strongly(grid, big_grid):
    ratio, p_value, count = grid.compare(grid.trailing("complaint") >= TRUTHS["complaints"]["threshold"])
    assert ratio > 4 and p_value < 1e-6 and count >= 10
    one, _, _ = big_grid.compare(big_grid.trailing("complaint") == 1)
    three, _, _ = big_grid.compare(big_grid.trailing("complaint") >= 3)
    assert three > 2.5 * one


@pytest.mark.parametrize("code", ["price_increase", "merger", "new_decision_maker"])
def test_planted_events_raise_break_ups_within_90_days(grid, code):
    ratio, p_value, _ = grid.compare(grid.trailing(code) > 0)
    assert ratio > 1.8 and p_value < 0.01


def test_an_event_without_effect_shows_none(big_grid):
    assert TRUTHS["event_odds"]["unprovided_service"] == 1.0
    ratio, _, _ = big_grid.compare(big_grid.trailing("unprovided_service") > 0)
    assert 0.6 < ratio < 1.5


def test_loyal_accounts_survive_a_single_service_failure(big, big_grid, kinds):
    _, acc = kinds
    loyal = (acc["kind"] == "loyal").to_numpy()
    single = big_grid.trailing("complaint") == 1
    loyal_ratio, _, _ = big_grid.compare(single, within=loyal)
    other_ratio, other_p, _ = big_grid.compare(single, within=~loyal)
    assert other_ratio > 1.3 and other_p < 0.01  # a single failure costs habitual and occasional accounts...
    assert loyal_ratio < 1.5 and loyal_ratio < other_ratio  # ... and leaves loyal ones at their baseline
    # Loyal accounts with exactly one complaint, months ago, and still active, kept ordering after it.
    events = big[EVENTS][big[EVENTS]["Event"].map(normalise_event) == "complaint"]
    counts = events.groupby("Account ID").size()
    ids = [a for a in counts[counts == 1].index if acc.at[a, "kind"] == "loyal" and acc.at[a, "Status"] == "Active"]
    when = pd.to_datetime(events.set_index("Account ID").loc[ids, "Event Date"], format="mixed")
    when = when[when < pd.Timestamp("2026-06-30")]
    last = big[ORDERS].groupby("Account ID")["Order Date"].max().reindex(when.index)
    assert len(when) > 30 and (last > when).mean() > 0.95


def test_a_big_failure_breaks_the_habit_of_habitual_buyers_but_not_of_loyal_ones(big):
    truth = sample.sample_truth(accounts=5000, seed=11).set_index("account_id")
    status = big[ACCOUNTS].set_index("Account ID")["Status"]
    failed = truth[truth["big_failure"].between(pd.Timestamp("2024-11-01"), pd.Timestamp("2026-04-30"))
                   & (status.reindex(truth.index) == "Active")]
    orders = big[ORDERS].merge(failed["big_failure"], left_on="Account ID", right_index=True)
    days_after = (pd.Timestamp(AS_OF) - orders["big_failure"]).dt.days
    after = orders["Order Date"] > orders["big_failure"]
    before = orders["Order Date"].between(orders["big_failure"] - pd.Timedelta(days=365), orders["big_failure"])
    rate_after = after.groupby(orders["Account ID"]).sum() / days_after.groupby(orders["Account ID"]).first()
    rate_before = before.groupby(orders["Account ID"]).sum() / 365
    change = (rate_after / rate_before).groupby(failed["buyer_kind"]).median()
    assert change["habitual"] < 0.6 and change["loyal"] > 0.8


def test_lost_reasons_follow_the_events_that_caused_them(big):
    truth = sample.sample_truth(accounts=5000, seed=11).set_index("account_id")
    reason = big[ACCOUNTS].set_index("Account ID")["Lost Reason"]
    for cause, mix in TRUTHS["reasons"]["by_cause"].items():
        got = set(reason[truth["lost_cause"] == cause])
        assert got <= set(mix), cause
    merged = reason[truth["lost_cause"] == "merger"]
    assert len(merged) > 20 and (merged == "Acquired by another company").all()


def test_planted_truths_is_the_one_source(monkeypatch):
    truths = sample.planted_truths()
    truths["season"]["rate_ratio"] = 99.0
    assert sample.planted_truths()["season"]["rate_ratio"] == TRUTHS["season"]["rate_ratio"]  # a copy
    monkeypatch.setitem(sample.PLANTED["season"], "rate_ratio", 1.0)
    grid = Exposure(sample.sample_book(3000, seed=2))
    ratio, _, _ = grid.compare(_all_windows(grid))
    assert 0.7 < ratio < 1.4  # no season planted -> none found


# ---------------------------------------------------------------- messiness

@pytest.mark.parametrize("cell", TRUTHS["messy_cells"], ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_planted_messy_cells_are_there(book, cell):
    sheet, header, row, what, _expect = cell
    value = book[sheet].at[row, header]
    if what == "iso text date":
        assert isinstance(value, str) and dt.date.fromisoformat(value)
    elif what == "money text":
        assert isinstance(value, str) and value.startswith("$") and float(value[1:].replace(",", "")) > 0
    elif what == "#N/A":
        assert value == "#N/A"
    else:
        assert pd.isna(value)


def test_the_rest_of_the_book_is_clean_and_typed(book):
    messy = {(s, h, r) for s, h, r, _, _ in TRUTHS["messy_cells"]}
    for sheet, header in [(ACCOUNTS, "Customer Since"), (ACCOUNTS, "Annual Revenue"), (ORDERS, "Amount"),
                          (EVENTS, "Event Date")]:
        values = book[sheet][header]
        clean = [v for r, v in enumerate(values) if (sheet, header, r) not in messy]
        assert all(isinstance(v, (pd.Timestamp, float, int, np.floating)) for v in clean), (sheet, header)
    assert pd.api.types.is_datetime64_any_dtype(book[ORDERS]["Order Date"])


def test_a_tiny_book_works_and_rejects_nonsense():
    tiny = sample.sample_book(accounts=1, seed=1)
    assert len(tiny[ACCOUNTS]) == 1 and len(tiny[ORDERS]) >= 1
    with pytest.raises(ValueError, match="accounts"):
        sample.sample_book(accounts=0)


# ---------------------------------------------------------------- shuffled control

def test_control_keeps_the_book_consistent(book, control):
    acc = control[ACCOUNTS]
    assert len(acc) == len(book[ACCOUNTS]) and (acc["Status"] == book[ACCOUNTS]["Status"]).all()
    assert acc["Lost Date"].notna().sum() == book[ACCOUNTS]["Lost Date"].notna().sum()
    assert not acc["Lost Date"].equals(book[ACCOUNTS]["Lost Date"])
    lost = acc.set_index("Account ID")["Lost Date"]
    since = pd.Series(_days(acc["Customer Since"]), index=acc["Account ID"])
    assert (_days(lost.dropna()) >= since[lost.dropna().index].to_numpy()).all()
    last_order = control[ORDERS].groupby("Account ID")["Order Date"].max()
    common = lost.dropna().index.intersection(last_order.index)
    assert (last_order[common] <= lost[common]).all()
    event_day = _days(control[EVENTS]["Event Date"])
    owner_lost = _days(control[EVENTS]["Account ID"].map(lost))
    assert not (event_day > owner_lost).any()
    assert (event_day >= _days(control[EVENTS]["Account ID"].map(since.astype("datetime64[ns]")))).all()
    assert len(control[EVENTS]) > 0.75 * len(book[EVENTS])


def test_control_breaks_the_planted_associations(big):
    grid = Exposure(sample.shuffled_control(big, seed=1))
    season, p_season, _ = grid.compare(_all_windows(grid))
    assert 0.75 < season < 1.3 and p_season > 0.01
    complaints, _, _ = grid.compare(grid.trailing("complaint") >= 3)
    assert 0.5 < complaints < 1.6
    for code in ("price_increase", "merger", "new_decision_maker"):
        ratio, _, _ = grid.compare(grid.trailing(code) > 0)
        assert 0.5 < ratio < 1.6, code


def test_control_calls_trends_at_about_the_nominal_rate(book):
    p_values = []
    for seed in range(20):
        grid = Exposure(sample.shuffled_control(book, seed=seed))
        for start, end in DEFAULT_WINDOWS.values():
            p_values.append(grid.compare(grid.window(start, end))[1])
        for code in ("price_increase", "merger", "new_decision_maker"):
            p_values.append(grid.compare(grid.trailing(code) > 0)[1])
        p_values.append(grid.compare(grid.trailing("complaint") >= 3)[1])
    assert np.mean(np.array(p_values) < 0.05) < 0.12


# ---------------------------------------------------------------- the workbook

@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "sample.xlsx"
    write_sample_book(path, accounts=60, seed=3)
    return path


def test_written_book_has_formatted_tables(written):
    book = sample.sample_book(accounts=60, seed=3)
    wb = openpyxl.load_workbook(written)
    assert wb.sheetnames == [ACCOUNTS, ORDERS, EVENTS, SETTINGS]
    for name in (ACCOUNTS, ORDERS, EVENTS):
        ws = wb[name]
        headers = [c.value for c in ws[1]]
        assert headers == list(book[name].columns)
        assert ws.max_row == len(book[name]) + 1
        assert ws.freeze_panes == "A2" and ws[1][0].font.b
        (table,) = ws.tables.values()
        assert table.ref == f"A1:{openpyxl.utils.get_column_letter(len(headers))}{len(book[name]) + 1}"
        assert [c.name for c in table.tableColumns] == headers
    acc = wb[ACCOUNTS]
    assert acc["F3"].is_date and isinstance(acc["F3"].value, dt.datetime)
    assert acc["E3"].number_format == '"$"#,##0'
    assert wb[ORDERS]["C2"].number_format == '"$"#,##0.00'
    assert acc["E11"].value == "#N/A" and acc["E11"].data_type == "e"
    assert acc["F5"].value == book[ACCOUNTS].at[3, "Customer Since"]  # a text date stays text
    first = book[ORDERS].iloc[0]
    assert wb[ORDERS]["A2"].value == first["Order Date"].to_pydatetime()
    assert wb[ORDERS]["C2"].value == pytest.approx(float(first["Amount"]))


def test_written_book_has_a_complete_settings_table(written):
    ws = openpyxl.load_workbook(written)[SETTINGS]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == ["Setting", "Value", "Note"]
    expected = Settings(as_of=AS_OF).to_rows()
    assert [r[0] for r in rows[1:]] == [r[0] for r in expected]
    assert all(r[2] for r in rows[1:])
    assert {r[0]: r[1] for r in rows[1:]}["as_of"] == "2026-10-31"
    parsed, issues = Settings.from_rows([(r[0], r[1]) for r in rows[1:]])
    assert not issues and parsed == Settings(as_of=AS_OF)


def test_writing_replaces_a_file_atomically(tmp_path):
    path = tmp_path / "book.xlsx"
    path.write_text("not a workbook")
    write_sample_book(path, accounts=5, seed=1)
    assert openpyxl.load_workbook(path).sheetnames[0] == ACCOUNTS
    assert [p.name for p in tmp_path.iterdir()] == ["book.xlsx"]  # no temporary file left behind
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_sample_book(tmp_path / "missing" / "book.xlsx", accounts=5)


def test_sample_command_writes_the_book(tmp_path, capsys):
    from addin.cli import main

    assert main(["sample", str(tmp_path / "s.xlsx"), "--accounts", "20", "--seed", "2"]) == 0
    assert "20 accounts, seed 2" in capsys.readouterr().out
    assert openpyxl.load_workbook(tmp_path / "s.xlsx", read_only=True)[ACCOUNTS].max_row == 21
    assert main(["sample", str(tmp_path / "missing" / "s.xlsx")]) == 1
    assert "does not exist" in capsys.readouterr().err


# ---------------------------------------------------------------- read back with the reader

def _load(path) -> dict[str, list[list]]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


@pytest.fixture(scope="module")
def read_default(book):
    return read_book(book)


def test_reader_recovers_the_written_book(written):
    book = sample.sample_book(accounts=60, seed=3)
    read = read_book(_load(written))
    assert read.shape_name == "accounts + orders + events"
    assert (len(read.accounts), len(read.orders), len(read.events)) == tuple(len(book[s]) for s in book)
    assert read.settings.as_of == AS_OF
    acc = read.accounts
    assert list(acc["account_id"]) == list(book[ACCOUNTS]["Account ID"])
    assert list(acc["status"]) == list(book[ACCOUNTS]["Status"])
    pd.testing.assert_series_equal(acc["lost_date"], book[ACCOUNTS]["Lost Date"], check_names=False,
                                   check_dtype=False)
    assert list(read.events["event_type"]) == list(book[EVENTS]["Event"].map(normalise_event))
    assert read.orders["amount"].sum() == pytest.approx(_money(book[ORDERS]["Amount"]).sum()
                                                        + sum(float(v[1:].replace(",", ""))
                                                              for v in book[ORDERS]["Amount"] if isinstance(v, str)))
    assert acc["nps"].isna().sum() == book[ACCOUNTS]["NPS"].isna().sum()


@pytest.mark.parametrize("cell", TRUTHS["messy_cells"], ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_reader_makes_sense_of_each_messy_cell(book, read_default, cell):
    read = read_default
    sheet, header, row, what, expect = cell
    issues = read.issues[(read.issues["sheet"] == sheet) & (read.issues["row"] == row + 2)
                         & (read.issues["column"] == header)]
    frame = {ACCOUNTS: read.accounts, ORDERS: read.orders, EVENTS: read.events}[sheet]
    column = {"Customer Since": "customer_since", "Renewal Date": "renewal_date", "Annual Revenue": "annual_revenue",
              "NPS": "nps", "Amount": "amount", "Event Date": "event_date"}[header]
    got = frame.loc[frame["source_row"] == row + 2, column].iloc[0]
    raw = book[sheet].at[row, header]
    if expect == "issue":
        assert len(issues) == 1 and pd.isna(got)
    elif expect == "missing":
        assert issues.empty and pd.isna(got)
    elif what == "iso text date":
        assert issues.empty and got == pd.Timestamp(raw)
    else:
        assert issues.empty and got == pytest.approx(float(raw[1:].replace(",", "")))


def test_only_the_planted_error_is_a_data_issue(read_default):
    issues = read_default.issues
    planted = [(s, r + 2, h) for s, h, r, _, expect in TRUTHS["messy_cells"] if expect == "issue"]
    assert sorted(zip(issues["sheet"], issues["row"], issues["column"])) == sorted(planted)
