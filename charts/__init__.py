"""Charts from the engine's tables (matplotlib only here). Each function takes tables and ``ax=None`` and returns
the figure; its title states the finding computed from the data; a table that says "not enough history" gets a
panel saying so instead of a plot of noise.

``book_charts(health)`` draws every chart of a refresh, in the order they are laid out on the Charts sheet.
"""

from __future__ import annotations

from dataclasses import dataclass

from .book import health_trend_chart, tier_mix, tier_mix_chart, tier_trend_chart
from .lost import lost_owner_chart, lost_reason_chart
from .seasonality import season_finding, seasonality_chart, seasonality_week_chart
from .style import DPI, FIGSIZE
from .triggers import complaint_finding, complaint_steps_chart, trigger_chart, trigger_finding


@dataclass(frozen=True)
class Chart:
    name: str  # fixed picture name: a refresh replaces the picture instead of stacking a new one
    figure: object

    @property
    def title(self) -> str:
        text = self.figure._suptitle.get_text() if self.figure._suptitle else self.name
        return text.replace("\n", " ").replace("\\$", "$")


def book_charts(health, revenue=None, trend=None) -> list[Chart]:
    """Every chart of the refresh from one ``Health`` (``revenue``: per account id, for the tier mix; ``trend``:
    the health trend when already computed, else ``health.trend``)."""
    trend = trend if trend is not None else getattr(health, "trend", None)
    return in_order(health_charts(health, revenue), trend_charts(trend) if trend is not None else [])


def health_charts(health, revenue=None) -> list[Chart]:
    """The charts drawn from ``health`` alone (all but the two trend charts), in their order on the sheet: they
    can be drawn while the trend is still being computed."""
    settings = health.book.settings
    return [
        Chart("relhealth_tier_mix", tier_mix_chart(health.tiers, health.one_mistake, revenue)),
        Chart("relhealth_seasonality", seasonality_chart(health.seasonality)),
        Chart("relhealth_triggers", trigger_chart(health.triggers, settings.trigger_window_days)),
        Chart("relhealth_complaints", complaint_steps_chart(health.complaint_steps, settings.complaint_window_days)),
        Chart("relhealth_lost_reason", lost_reason_chart(health.lost)),
        Chart("relhealth_lost_owner", lost_owner_chart(health.lost)),
        Chart("relhealth_season_weeks", seasonality_week_chart(health.seasonality)),
    ]


def trend_charts(trend) -> list[Chart]:
    return [Chart("relhealth_health_trend", health_trend_chart(trend)),
            Chart("relhealth_tier_trend", tier_trend_chart(trend))]


def in_order(health_list: list[Chart], trend_list: list[Chart]) -> list[Chart]:
    """The sheet's order: tier mix, seasonality, triggers, complaints, the trend charts, lost reason and owner,
    season weeks."""
    return health_list[:4] + trend_list + health_list[4:]


__all__ = ["Chart", "book_charts", "health_charts", "trend_charts", "in_order", "complaint_finding", "complaint_steps_chart", "health_trend_chart",
           "lost_owner_chart", "lost_reason_chart", "season_finding", "seasonality_chart", "seasonality_week_chart",
           "tier_mix", "tier_mix_chart", "tier_trend_chart", "trigger_chart", "trigger_finding", "DPI", "FIGSIZE"]
