"""One computation, three consumers: ``assess`` runs every analysis once; UDFs, charts and refresh reuse it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from .book import Book


@dataclass(frozen=True)
class Health:
    book: Book
    scores: pd.DataFrame
    tiers: pd.DataFrame
    one_mistake: pd.DataFrame
    seasonality: object
    triggers: pd.DataFrame
    complaint_steps: pd.DataFrame
    lost: object
    planner: pd.DataFrame
    renewal_season: pd.DataFrame  # per account: does its renewal fall in a window called a break-up trend?

    @cached_property
    def trend(self):
        """Book health as of each of the last 12 month-ends (``trend.health_trend``). Computed on first use, once:
        it re-scores the book twelve times, which only the charts need."""
        from .trend import health_trend

        return health_trend(self.book)


def assess(book: Book) -> Health:
    from . import lost, planner, risk, seasonality, tiers, triggers

    scores = risk.score_book(book)
    tier_frame = tiers.loyalty_tiers(book, scores)
    seasons = seasonality.breakup_seasonality(book)
    return Health(
        book=book,
        scores=scores,
        tiers=tier_frame,
        one_mistake=tiers.one_mistake_summary(book, tier_frame),
        seasonality=seasons,
        triggers=triggers.trigger_lift(book),
        complaint_steps=triggers.complaint_steps(book),
        lost=lost.lost_business(book),
        planner=planner.winback_plan(book, scores, tier_frame),
        renewal_season=seasonality.renewal_in_trend_window(book, seasons),
    )
