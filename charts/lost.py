"""Lost business (seed 002: "who's losing it, and why"): lost revenue by reason, split fixable / exogenous, and
lost accounts by owner against the share of the owner's book."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import (ACCENT, BASE, INK, MUTED, esc, finish, headline, money, new_axes, not_enough, percent,
                    top_legend)

CAUSE_COLORS = {"Fixable": ACCENT, "Exogenous": MUTED, "Unknown": "#d8dee5"}
TOP = 8


def _period(lost) -> str:
    quarters = getattr(lost, "by_quarter", None)
    if isinstance(quarters, pd.DataFrame) and len(quarters):
        return f"{quarters['quarter'].iloc[0]} to {quarters['quarter'].iloc[-1]}"
    return "on record"


def lost_reason_chart(lost, ax=None):
    """Lost revenue per stated reason (largest first, the rest grouped), coloured fixable / exogenous / unknown."""
    reasons = lost.by_reason
    if getattr(lost, "message", "") or not len(reasons):
        return not_enough(ax, "Lost business by reason", getattr(lost, "message", "") or "no lost accounts yet")
    fig, ax = new_axes(ax)
    table = reasons.assign(value=pd.to_numeric(reasons["revenue_lost"], errors="coerce").fillna(0.0))
    by_revenue = table["value"].sum() > 0
    key = "value" if by_revenue else "lost"
    table = table.sort_values(key, ascending=False).reset_index(drop=True)
    if len(table) > TOP:
        rest = table.iloc[TOP - 1:]
        other = {"reason": f"{len(rest)} other reasons", "cause": "Unknown", "lost": int(rest["lost"].sum()),
                 "value": float(rest["value"].sum())}
        table = pd.concat([table.iloc[:TOP - 1], pd.DataFrame([other])], ignore_index=True)
    table = table.iloc[::-1].reset_index(drop=True)
    y = np.arange(len(table))
    values = table[key].to_numpy(dtype=float)
    colors = [CAUSE_COLORS.get(str(c), BASE) for c in table["cause"]]
    ax.barh(y, values, color=colors, height=0.62)
    peak = values.max() if len(values) else 1
    for i, row in table.iterrows():
        text = f"{money(row['value'])} · {int(row['lost'])} acct{'s' if row['lost'] != 1 else ''}" if by_revenue \
            else f"{int(row['lost'])}"
        ax.text(values[i] + peak * 0.01, i, text, va="center", fontsize=8.5, color=INK)
    ax.set_yticks(y, [_short(str(r)) for r in table["reason"]])
    ax.set_xlim(0, peak * 1.3)
    ax.grid(axis="y", visible=False)
    if by_revenue:
        ax.xaxis.set_major_formatter(lambda v, _pos: money(v))
    ax.set_xlabel("Annual revenue of the lost accounts" if by_revenue else "Lost accounts")
    for cause, color in CAUSE_COLORS.items():
        if (reasons["cause"] == cause).any():
            ax.barh(np.nan, 0, color=color, label=cause)
    top_legend(ax, ncol=3)
    total = float(reasons["revenue_lost"].fillna(0).sum())
    fixable = float(reasons.loc[reasons["cause"] == "Fixable", "revenue_lost"].fillna(0).sum())
    best = reasons.assign(value=pd.to_numeric(reasons["revenue_lost"], errors="coerce").fillna(0)) \
        .sort_values(key if key == "lost" else "value", ascending=False).iloc[0]
    if total > 0:
        title = f"{percent(fixable / total)} of lost revenue was fixable; \"{best['reason']}\" cost the most"
        evidence = (f"{money(total)} lost with {int(reasons['lost'].sum())} accounts ({_period(lost)}); "
                    f"\"{best['reason']}\": {money(best['value'])}. Exogenous = acquired, out of business")
    else:
        title = f"\"{best['reason']}\" is the most common reason for losing an account"
        evidence = f"{int(reasons['lost'].sum())} lost accounts ({_period(lost)})"
    headline(ax, title, evidence)
    longest = max(len(_short(str(r))) for r in table["reason"])
    return finish(fig, left=min(0.4, 0.03 + 0.0095 * longest), right=0.97, legend=True)


def lost_owner_chart(lost, ax=None):
    """Lost accounts per owner, split fixable / exogenous / unknown, with the share of the owner's book lost."""
    owners = lost.by_owner
    if getattr(lost, "message", "") or not len(owners) or owners["lost"].sum() == 0:
        return not_enough(ax, "Lost business by owner", getattr(lost, "message", "") or "no lost accounts yet")
    fig, ax = new_axes(ax)
    table = owners.sort_values(["lost", "revenue_lost"], ascending=True).tail(12).reset_index(drop=True)
    y = np.arange(len(table))
    left = np.zeros(len(table))
    for column, cause in (("fixable", "Fixable"), ("exogenous", "Exogenous"), ("unknown", "Unknown")):
        values = table[column].to_numpy(dtype=float)
        ax.barh(y, values, left=left, color=CAUSE_COLORS[cause], height=0.62, label=cause)
        left += values
    peak = left.max()
    for i, row in table.iterrows():
        ax.text(left[i] + peak * 0.01, i, f"{percent(row['loss_rate'])} of book · {money(row['revenue_lost'])}",
                va="center", fontsize=8.5, color=INK)
    ax.set_yticks(y, [_short(str(o)) for o in table["owner"]])
    ax.set_xlim(0, peak * 1.45)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Lost accounts (label: share of the owner's accounts lost · their annual revenue)")
    top_legend(ax, ncol=3)
    team = owners["lost"].sum() / max(owners["accounts"].sum(), 1)
    sized = owners[owners["accounts"] >= max(10, owners["accounts"].median() / 2)]
    worst = (sized if len(sized) else owners).sort_values("loss_rate", ascending=False).iloc[0]
    fixable_share = owners["fixable"].sum() / max(owners["lost"].sum(), 1)
    title = f"{worst['owner']} lost {percent(worst['loss_rate'])} of their accounts, the team {percent(team)}"
    evidence = (f"{int(owners['lost'].sum())} accounts lost ({_period(lost)}), {percent(fixable_share)} for fixable "
                "reasons. Worth a look at what differs, not a verdict on a person")
    headline(ax, title, evidence)
    longest = max(len(_short(str(o))) for o in table["owner"])
    return finish(fig, left=min(0.35, 0.03 + 0.0095 * longest), right=0.97, legend=True)


def _short(text: str, width: int = 30) -> str:
    return esc(text if len(text) <= width else text[:width - 1] + "…")

