"""The book at a glance: tier mix and the "one mistake away" share (by accounts and by revenue), and the health
trend (risk bands and tier mix as of each of the last 12 month-ends)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import (ACCENT, BANDS, INK, TIERS, finish, headline, new_axes, not_enough, percent,
                    top_legend)

TIER_ORDER = ("Occasional", "Habitual", "Loyal")
BAND_ORDER = ("Low", "Watch", "High", "Critical")


def tier_mix(tiers: pd.DataFrame, revenue: pd.Series | None = None) -> pd.DataFrame:
    """Active accounts per tier: ``tier, accounts, revenue, away_accounts, away_revenue`` (away = one mistake away).
    ``revenue`` is indexed by account id (missing -> 0)."""
    frame = tiers.assign(account_id=tiers["account_id"].astype(str))
    if "lost" in frame.columns:
        frame = frame[~frame["lost"].fillna(False).astype(bool)]
    rev = (revenue.reindex(frame["account_id"]).fillna(0).to_numpy(dtype=float) if revenue is not None
           else np.zeros(len(frame)))
    away = frame["one_mistake_away"].fillna(True).to_numpy(dtype=bool)
    rows = []
    for tier in TIER_ORDER:
        at = (frame["tier"] == tier).to_numpy()
        rows.append({"tier": tier, "accounts": int(at.sum()), "revenue": float(rev[at].sum()),
                     "away_accounts": int((at & away).sum()), "away_revenue": float(rev[at & away].sum())})
    return pd.DataFrame(rows)


def tier_mix_chart(tiers: pd.DataFrame, one_mistake: pd.DataFrame, revenue: pd.Series | None = None, ax=None):
    """Two 100% bars (accounts, revenue) split by tier, each with the share one mistake away marked above it."""
    mix = tier_mix(tiers, revenue)
    if mix["accounts"].sum() == 0:
        return not_enough(ax, "Loyalty tiers", "no active accounts to place in tiers")
    fig, ax = new_axes(ax)
    rows = [("Accounts", "accounts", "away_accounts")]
    if mix["revenue"].sum() > 0:
        rows.append(("Revenue", "revenue", "away_revenue"))
    for y, (label, column, away_column) in enumerate(reversed(rows)):
        total = float(mix[column].sum())
        left = 0.0
        for tier, value in zip(mix["tier"], mix[column]):
            share = value / total
            ax.barh(y, share, left=left, height=0.5, color=TIERS[tier], edgecolor="white", linewidth=1,
                    label=tier if y == 0 else None)
            if share >= 0.06:
                ax.text(left + share / 2, y, f"{tier}\n{percent(share)}", ha="center", va="center", fontsize=9,
                        color="white" if tier != "Occasional" else INK)
            left += share
        away = float(mix[away_column].sum()) / total
        ax.plot([0, away], [y + 0.36, y + 0.36], color=ACCENT, linewidth=3, solid_capstyle="butt")
        ax.text(away + 0.01, y + 0.36, f"one mistake away: {percent(away)}", va="center", ha="left", fontsize=9,
                color=ACCENT, fontweight="bold")
    ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)])
    ax.set_ylim(-0.5, len(rows) - 0.3)
    ax.set_xlim(0, 1)
    ax.set_xticks(np.linspace(0, 1, 6), [f"{int(t * 100)}%" for t in np.linspace(0, 1, 6)])
    ax.set_xlabel("Share of active accounts / of their annual revenue")
    ax.grid(axis="y", visible=False)
    shares = one_mistake.set_index("measure")["share_surviving"] if len(one_mistake) else pd.Series(dtype=float)
    rev_share = 1 - float(shares.get("revenue", np.nan))
    acc_share = 1 - float(shares.get("accounts", np.nan))
    if np.isfinite(rev_share):
        title = f"{percent(rev_share)} of revenue is one mistake away from leaving"
    else:
        title = f"{percent(acc_share)} of active accounts are one mistake away from leaving"
    evidence = (f"By count, {percent(acc_share)} of the {int(mix['accounts'].sum()):,} active accounts are one "
                "mistake away: Occasional and Habitual buyers, and Loyal ones at High risk")
    headline(ax, title, evidence)
    return finish(fig, left=0.11, right=0.97)


def _building(trend) -> bool:
    return bool(getattr(trend, "pending", 0)) and len(trend.table) < 2


def health_trend_chart(trend, ax=None):
    """Active accounts by risk band as of each month-end (stacked), the High + Critical count labelled."""
    if _building(trend):
        return not_enough(ax, "Book health trend", trend.note, building=True)
    if trend.message or not len(trend.table):
        return not_enough(ax, "Book health trend", trend.message)
    table = trend.table
    fig, ax = new_axes(ax)
    x = np.arange(len(table))
    bottom = np.zeros(len(table))
    for band in BAND_ORDER:
        values = table[band.lower()].to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, width=0.72, color=BANDS[band], label=band, edgecolor="white",
               linewidth=0.5)
        bottom += values
    risky = (table["high"] + table["critical"]).to_numpy()
    for i, (value, top) in enumerate(zip(risky, bottom)):
        ax.text(i, top + bottom.max() * 0.015, f"{int(value)}", ha="center", va="bottom", fontsize=8.5,
                color=BANDS["Critical"], fontweight="bold")
    ax.set_xticks(x, [pd.Timestamp(d).strftime("%b\n%Y") if i == 0 or pd.Timestamp(d).month == 1
                      else pd.Timestamp(d).strftime("%b") for i, d in enumerate(table["month_end"])])
    ax.set_ylim(0, bottom.max() * 1.12)
    ax.set_ylabel("Active accounts")
    ax.set_xlabel("Month-end (each recomputed from the records up to that day; red: High + Critical)")
    ax.grid(axis="x", visible=False)
    top_legend(ax, ncol=4)
    first, last = int(risky[0]), int(risky[-1])
    start, end = pd.Timestamp(table["month_end"].iloc[0]), pd.Timestamp(table["month_end"].iloc[-1])
    if last > first * 1.1 and last - first >= 3:
        title = f"High or Critical accounts rose from {first} to {last} in {len(table)} months"
    elif last < first * 0.9 and first - last >= 3:
        title = f"High or Critical accounts fell from {first} to {last} in {len(table)} months"
    else:
        title = f"High or Critical accounts held at about {int(round(np.mean(risky)))} over {len(table)} months"
    share = [r / a if a else np.nan for r, a in zip(risky, table["accounts"])]
    evidence = (f"{start:%b %Y}: {percent(share[0])} of {int(table['accounts'].iloc[0]):,} active accounts; "
                f"{end:%b %Y}: {percent(share[-1])} of {int(table['accounts'].iloc[-1]):,}. "
                f"Lost in these months: {int(table['lost_in_month'].sum())}")
    if getattr(trend, "note", ""):
        evidence = f"{evidence}. Trend: {trend.note}"
    headline(ax, title, evidence)
    return finish(fig, bottom=0.2, legend=True)


def tier_trend_chart(trend, ax=None):
    """Tier mix (share of active accounts) and the revenue one mistake away, as of each month-end."""
    if _building(trend):
        return not_enough(ax, "Loyalty trend", trend.note, building=True)
    if trend.message or not len(trend.table):
        return not_enough(ax, "Loyalty trend", trend.message)
    table = trend.table
    fig, ax = new_axes(ax)
    x = np.arange(len(table))
    accounts = table["accounts"].replace(0, np.nan).to_numpy(dtype=float)
    ends = []
    for tier in TIER_ORDER:
        share = table[tier.lower()].to_numpy(dtype=float) / accounts * 100
        ax.plot(x, share, color=TIERS[tier] if tier != "Occasional" else "#9fb3c8", linewidth=2.4, marker="o",
                markersize=4, label=f"{tier} (% of accounts)")
        ends.append([share[-1], f"{tier[:3]} {share[-1]:.0f}%"])
    ends.sort()
    for k in range(1, len(ends)):  # keep the end labels apart
        ends[k][0] = max(ends[k][0], ends[k - 1][0] + 5)
    for y, text in ends:
        ax.text(x[-1] + 0.25, y, text, va="center", fontsize=8.5, color=INK)
    revenue = table["revenue"].replace(0, np.nan).to_numpy(dtype=float)
    away = table["revenue_one_mistake_away"].to_numpy(dtype=float) / revenue * 100
    ax.plot(x, away, color=ACCENT, linewidth=2, linestyle="--", label="Revenue one mistake away (%)")
    ax.text(x[-1] + 0.25, away[-1], f"{away[-1]:.0f}%", va="center", fontsize=9, color=ACCENT, fontweight="bold")
    ax.set_xticks(x, [pd.Timestamp(d).strftime("%b\n%Y") if i == 0 or pd.Timestamp(d).month == 1
                      else pd.Timestamp(d).strftime("%b") for i, d in enumerate(table["month_end"])])
    ax.set_xlim(-0.4, len(x) + 0.6)
    ax.set_ylim(0, 100)
    ax.set_ylabel("Share (%)")
    ax.set_xlabel("Month-end (each recomputed from the records up to that day)")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8.5, borderaxespad=0.3)
    loyal = table["loyal"].to_numpy(dtype=float) / accounts * 100
    move = "rose" if loyal[-1] > loyal[0] + 1 else "fell" if loyal[-1] < loyal[0] - 1 else "held"
    title = (f"Loyal customers {move} from {loyal[0]:.0f}% to {loyal[-1]:.0f}% of the book"
             if move != "held" else f"Loyal customers held at about {loyal[-1]:.0f}% of the book")
    evidence = (f"Revenue one mistake away: {away[0]:.0f}% at {pd.Timestamp(table['month_end'].iloc[0]):%b %Y}, "
                f"{away[-1]:.0f}% at {pd.Timestamp(table['month_end'].iloc[-1]):%b %Y}")
    if getattr(trend, "note", ""):
        evidence = f"{evidence}. Trend: {trend.note}"
    headline(ax, title, evidence)
    return finish(fig, bottom=0.2, right=0.94, legend=True)
