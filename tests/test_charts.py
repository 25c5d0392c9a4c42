"""Charts: each builds from the engine's tables of the sample book, titles state what the tables say, and a table
that says "not enough history" gets a panel saying so instead of a plot."""

import dataclasses
import datetime as dt

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import charts  # noqa: E402
from charts.style import FIGSIZE  # noqa: E402
from relhealth import stats  # noqa: E402
from relhealth.health import assess  # noqa: E402
from relhealth.reader import read_book  # noqa: E402
from relhealth.sample import sample_book  # noqa: E402
from relhealth.settings import Settings  # noqa: E402
from relhealth.trend import Trend  # noqa: E402

AS_OF = Settings(as_of=dt.date(2026, 10, 31))


@pytest.fixture(scope="module")
def health():
    return assess(read_book(sample_book(accounts=300, seed=7), settings=AS_OF))


@pytest.fixture(scope="module")
def young():
    """A book whose records cover four months: too little for seasons, triggers or a trend."""
    sheets = sample_book(accounts=40, seed=3)
    start = pd.Timestamp("2026-07-01")
    orders = sheets["Orders"][pd.to_datetime(sheets["Orders"]["Order Date"], errors="coerce") >= start]
    events = sheets["Events"][pd.to_datetime(sheets["Events"]["Event Date"], errors="coerce") >= start]
    accounts = sheets["Accounts"].assign(**{"Customer Since": start, "Status": "Active", "Lost Date": None,
                                            "Lost Reason": None})
    return assess(read_book({"Accounts": accounts, "Orders": orders, "Events": events}, settings=AS_OF))


def _title(fig) -> str:
    return fig._suptitle.get_text().replace("\n", " ").replace("\\$", "$")


def _has_plot(fig) -> bool:
    return any(ax.axison for ax in fig.axes)


def test_every_chart_of_a_refresh_builds_on_the_sample_book(health):
    drawn = charts.book_charts(health)
    assert [c.name for c in drawn] == ["relhealth_tier_mix", "relhealth_seasonality", "relhealth_triggers",
                                       "relhealth_complaints", "relhealth_health_trend", "relhealth_tier_trend",
                                       "relhealth_lost_reason", "relhealth_lost_owner", "relhealth_season_weeks"]
    for chart in drawn:
        assert chart.title and "\\$" not in chart.title
        assert tuple(chart.figure.get_size_inches()) == pytest.approx(FIGSIZE)
        chart.figure.canvas.draw()  # renders without error (text with $ signs, log axes ...)


def test_seasonality_title_states_the_strongest_trend_window(health):
    s = health.seasonality
    fig = charts.seasonality_chart(s)
    trend = s.windows[s.windows["verdict"] == "trend"]
    if len(trend):
        best = trend.loc[trend["rate_ratio"].idxmax()]
        assert f"{best['rate_ratio']:.1f}x normal" in _title(fig)
    else:
        assert "No break-up season stands out" in _title(fig)
    ax = fig.axes[0]
    assert ax.get_ylabel() and ax.get_xlabel()
    assert len(ax.patches) >= 12  # a bar per month


def test_trigger_title_names_the_event_with_the_largest_significant_lift(health):
    t = health.triggers
    fig = charts.trigger_chart(t, 90)
    trend = t[t["verdict"] == "trend"]
    if len(trend):
        best = trend.loc[trend["rate_ratio"].idxmax()]
        assert _title(fig).startswith(f"{best['label']}: {best['rate_ratio']:.1f}x")
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    shown = t[np.isfinite(t["rate_ratio"]) & (t["rate_ratio"] > 0)].sort_values("rate_ratio")
    assert len(labels) == len(shown)  # sorted, smallest at the bottom
    assert "log scale" in fig.axes[0].get_xlabel()


def test_complaint_steps_title_is_computed(health):
    steps = health.complaint_steps
    title = _title(charts.complaint_steps_chart(steps, 90))
    top = steps.set_index("complaints").loc["3+"]
    if top["verdict"] == "trend":
        assert f"{top['rate_ratio']:.1f}x" in title


def test_tier_mix_title_is_the_revenue_share_one_mistake_away(health):
    revenue = pd.Series(stats.account_revenue(health.book), index=health.book.accounts["account_id"].astype(str))
    fig = charts.tier_mix_chart(health.tiers, health.one_mistake, revenue)
    share = 1 - health.one_mistake.set_index("measure").loc["revenue", "share_surviving"]
    assert _title(fig) == f"{100 * share:.0f}% of revenue is one mistake away from leaving"
    mix = charts.tier_mix(health.tiers, revenue)
    assert mix["accounts"].sum() == int((~health.tiers["lost"]).sum())


def test_health_trend_recomputes_twelve_month_ends(health):
    table = health.trend.table
    assert len(table) == 12 and table["month_end"].iloc[-1] == pd.Timestamp("2026-10-31")
    bands = table[["low", "watch", "high", "critical"]].sum(axis=1)
    assert (bands == table["accounts"]).all()
    title = _title(charts.health_trend_chart(health.trend))
    first, last = int(table["high"].iloc[0] + table["critical"].iloc[0]), \
        int(table["high"].iloc[-1] + table["critical"].iloc[-1])
    assert (f"from {first} to {last}" in title) or "held at about" in title


def test_lost_charts_state_the_fixable_share_and_the_owner_with_most_losses(health):
    reasons = health.lost.by_reason
    fixable = reasons.loc[reasons["cause"] == "Fixable", "revenue_lost"].sum() / reasons["revenue_lost"].sum()
    assert _title(charts.lost_reason_chart(health.lost)).startswith(f"{100 * fixable:.0f}% of lost revenue")
    assert "lost" in _title(charts.lost_owner_chart(health.lost))


@pytest.mark.parametrize("draw", [
    lambda h: charts.seasonality_chart(h.seasonality), lambda h: charts.seasonality_week_chart(h.seasonality),
    lambda h: charts.trigger_chart(h.triggers), lambda h: charts.complaint_steps_chart(h.complaint_steps),
    lambda h: charts.health_trend_chart(h.trend), lambda h: charts.tier_trend_chart(h.trend),
    lambda h: charts.lost_reason_chart(h.lost), lambda h: charts.lost_owner_chart(h.lost)],
    ids=["season", "weeks", "triggers", "complaints", "trend", "tier-trend", "lost-reason", "lost-owner"])
def test_not_enough_history_is_said_not_plotted(young, draw):
    fig = draw(young)
    assert "not enough history" in _title(fig).lower()
    assert not _has_plot(fig)
    message = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert message.strip()


def test_trend_message_is_shown_for_a_book_without_order_log():
    fig = charts.health_trend_chart(Trend(pd.DataFrame(), "not enough history: without an order log ..."))
    assert "without an order log" in " ".join(t.get_text() for t in fig.axes[0].texts)


def test_charts_draw_into_a_given_axes(health):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot(1, 1, 1)
    assert charts.seasonality_chart(health.seasonality, ax=ax) is fig


def test_dollar_signs_in_names_are_shown_as_typed(health):
    reasons = health.lost.by_reason.copy()
    reasons.loc[0, "reason"] = "Quoted $5 more per unit"
    lost = dataclasses.replace(health.lost, by_reason=reasons)
    fig = charts.lost_reason_chart(lost)
    fig.canvas.draw()
    assert any("$5 more" in t.get_text().replace("\\$", "$") for t in fig.axes[0].get_yticklabels())


def test_as_of_is_the_books(health):
    assert health.book.settings.today() == dt.date(2026, 10, 31)


def test_a_book_without_complaints_says_so(health):
    steps = health.complaint_steps.copy()
    steps.loc[1:, ["accounts", "breakups"]] = 0
    steps.loc[1:, "rate"] = np.nan
    fig = charts.complaint_steps_chart(steps)
    assert not _has_plot(fig) and "no complaints are logged" in " ".join(t.get_text() for t in fig.axes[0].texts).lower()
