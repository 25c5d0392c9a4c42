"""Trigger lift: how much more often accounts break up after each kind of event (rate ratio with its 95%
interval, sorted), and the "after N complaints" steps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import (ACCENT, BASE, INK, MUTED, SUBTLE, esc, finish, headline, lower_first, new_axes, not_enough,
                    percent, ratio, top_legend)

NOT_ENOUGH = "not enough history"


def _history_problem(frame: pd.DataFrame) -> str:
    """The table's own "not enough history: ..." verdict when every row carries it, else ''."""
    verdicts = frame["verdict"].astype(str) if len(frame) else pd.Series(dtype=str)
    problems = verdicts[verdicts.str.startswith(NOT_ENOUGH)]
    if len(frame) and len(problems) == len(frame.loc[verdicts != "reference"]):
        return problems.iloc[0]
    return ""


def trigger_finding(triggers: pd.DataFrame, window_days: int | None = None) -> tuple[str, str]:
    after = f"in the {window_days} days after" if window_days else "after it"
    trend = triggers[triggers["verdict"] == "trend"]
    if len(trend):
        best = trend.loc[pd.to_numeric(trend["rate_ratio"]).idxmax()]
        others = [lower_first(str(x)) for x in trend.sort_values("rate_ratio", ascending=False)["label"]
                  if x != best["label"]]
        more = f". Also a trend: {', '.join(others[:4])}" if others else ""
        return (f"{best['label']}: {ratio(best['rate_ratio'])} the break-up rate {after}",
                f"{int(best['breakups_with'])} break-ups followed it (95% interval {best['ci_low']:.1f}-"
                f"{_high(best['ci_high'])}x){more}")
    logged = triggers[np.isfinite(pd.to_numeric(triggers["rate_ratio"], errors="coerce"))]
    return ("No event is followed by clearly more break-ups yet",
            f"{len(logged)} event types compared; every difference could be chance at this book's size")


def _high(value: float) -> str:
    return "∞" if not np.isfinite(value) else f"{value:.1f}"


def trigger_chart(triggers: pd.DataFrame, window_days: int | None = None, ax=None):
    """Rate ratio of break-ups after each event type vs otherwise, with 95% intervals, largest at the top."""
    problem = _history_problem(triggers)
    ratios = pd.to_numeric(triggers.get("rate_ratio", pd.Series(dtype=float)), errors="coerce")
    shown = triggers.assign(rate_ratio=ratios)[np.isfinite(ratios) & (ratios > 0)]
    if problem or not len(shown):
        return not_enough(ax, "Events before break-ups",
                          problem or "no relationship events are logged yet (add an Events sheet: date, "
                                     "account, what happened)")
    fig, ax = new_axes(ax)
    shown = shown.sort_values("rate_ratio").reset_index(drop=True)
    y = np.arange(len(shown))
    low = pd.to_numeric(shown["ci_low"], errors="coerce").to_numpy(dtype=float)
    high = pd.to_numeric(shown["ci_high"], errors="coerce").to_numpy(dtype=float)
    mid = shown["rate_ratio"].to_numpy(dtype=float)
    finite_high = high[np.isfinite(high)]
    x_max = max(float(np.nanmax(mid)) * 1.6, float(np.nanmax(finite_high)) * 1.15 if len(finite_high) else 1, 2.5)
    x_min = min(float(np.nanmin(low[low > 0])) * 0.85 if (low > 0).any() else 0.5, float(np.nanmin(mid)) * 0.8, 0.5)
    trend = (shown["verdict"] == "trend").to_numpy()
    colors = np.where(trend, ACCENT, np.where(shown["verdict"] == "fewer break-ups", BASE, MUTED))
    for i in range(len(shown)):
        lo = low[i] if np.isfinite(low[i]) and low[i] > 0 else x_min
        hi = high[i] if np.isfinite(high[i]) else x_max
        ax.plot([lo, hi], [y[i], y[i]], color=colors[i], linewidth=2.2, solid_capstyle="round", zorder=2)
        if not np.isfinite(high[i]):
            ax.annotate("", xy=(x_max, y[i]), xytext=(x_max / 1.25, y[i]),
                        arrowprops={"arrowstyle": "->", "color": colors[i]})
        ax.text(x_max * 1.02, y[i], ratio(mid[i]), va="center", ha="left", fontsize=9,
                color=ACCENT if trend[i] else SUBTLE, fontweight="bold" if trend[i] else "normal")
    ax.scatter(mid, y, s=46, color=colors, zorder=3, edgecolor="white", linewidth=0.8)
    ax.axvline(1.0, color=INK, linewidth=1, linestyle="--", zorder=1)
    ax.set_xscale("log")
    ax.set_xlim(x_min, x_max)
    ticks = [t for t in (0.25, 0.5, 1, 2, 3, 5, 10, 20, 50) if x_min <= t <= x_max]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(y, [_label(row) for row in shown.itertuples()])
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Break-up rate after the event vs otherwise (log scale; 1x = no difference)")
    ax.scatter([], [], color=ACCENT, label="trend")
    ax.scatter([], [], color=MUTED, label="could be chance")
    if (shown["verdict"] == "fewer break-ups").any():
        ax.scatter([], [], color=BASE, label="fewer break-ups")
    top_legend(ax, ncol=3)
    title, evidence = trigger_finding(triggers, window_days)
    headline(ax, title, evidence)
    longest = max(len(_label(row)) for row in shown.itertuples())
    return finish(fig, left=min(0.42, 0.03 + 0.0098 * longest), right=0.93, legend=True)


def _label(row) -> str:
    text = str(row.label)
    return esc(text if len(text) <= 32 else text[:31] + "…")


def complaint_finding(steps: pd.DataFrame, window_days: int | None = None) -> tuple[str, str]:
    rows = steps.set_index(steps["complaints"].astype(str))
    if "3+" in rows.index and "0" in rows.index:
        top, base = rows.loc["3+"], rows.loc["0"]
        if top["verdict"] == "trend":
            return (f"After 3 or more complaints, break-ups run {ratio(top['rate_ratio'])} the rate of "
                    f"accounts with none",
                    f"{int(top['breakups'])} break-ups among {int(top['accounts'])} accounts that reached 3+ "
                    f"complaints (95% interval {top['ci_low']:.1f}-{_high(top['ci_high'])}x vs none)")
    steps_up = steps[steps["verdict"] == "trend"]
    if len(steps_up):
        first = steps_up.iloc[0]
        return (f"From {first['complaints']} complaint{'s' if first['complaints'] != '1' else ''}, break-ups "
                f"run {ratio(first['rate_ratio'])} the rate of accounts with none", "")
    return ("Complaints are not yet followed by clearly more break-ups",
            "Each step (1, 2, 3+ complaints) compared with none; the differences could be chance")


def complaint_steps_chart(steps: pd.DataFrame, window_days: int | None = None, ax=None):
    """Break-up rate by the number of recent complaints (0, 1, 2, 3+), each step's ratio to none above it."""
    problem = _history_problem(steps)
    complained = pd.to_numeric(steps["accounts"], errors="coerce").iloc[1:].sum() if len(steps) else 0
    if problem or not complained or not np.isfinite(pd.to_numeric(steps["rate"], errors="coerce")).any():
        return not_enough(ax, "Break-ups after complaints",
                          problem or "no complaints are logged yet (Events sheet, or a Complaints 90d column)")
    fig, ax = new_axes(ax)
    x = np.arange(len(steps))
    rate = pd.to_numeric(steps["rate"], errors="coerce").to_numpy(dtype=float)
    trend = (steps["verdict"] == "trend").to_numpy()
    ax.bar(x, np.nan_to_num(rate) * 100, width=0.62, color=np.where(trend, ACCENT, BASE), zorder=2)
    peak = float(np.nanmax(rate)) * 100
    for i, row in enumerate(steps.itertuples()):
        if not np.isfinite(rate[i]):
            continue
        note = "reference" if row.verdict == "reference" else ratio(row.rate_ratio)
        ax.text(i, rate[i] * 100 + peak * 0.03, f"{percent(rate[i])}\n{note}", ha="center", va="bottom",
                fontsize=9, color=ACCENT if trend[i] else INK, fontweight="bold" if trend[i] else "normal")
    ax.set_ylim(0, peak * 1.35 if peak > 0 else 1)
    ax.set_xticks(x, [f"{c} complaint{'s' if str(c) != '1' else ''}\n({int(a):,} accounts)"
                      for c, a in zip(steps["complaints"], steps["accounts"])])
    ax.grid(axis="x", visible=False)
    fisher = steps["method"].astype(str).str.contains("Fisher").any() if "method" in steps.columns else False
    span = f"{window_days} days" if window_days else "window"
    ax.set_ylabel("Accounts lost (%)" if fisher else f"Break-up chance per {span} (%)")
    ax.set_xlabel(f"Complaints in the trailing {window_days} days" if window_days else "Recent complaints")
    title, evidence = complaint_finding(steps, window_days)
    headline(ax, title, evidence)
    return finish(fig, bottom=0.22, left=0.1)
