"""One computation, three consumers: ``assess`` runs every analysis once; UDFs, charts and refresh reuse it."""

from __future__ import annotations

from dataclasses import dataclass

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


def assess(book: Book) -> Health:
    from . import lost, planner, risk, seasonality, tiers, triggers

    scores = risk.score_book(book)
    tier_frame = tiers.loyalty_tiers(book, scores)
    return Health(
        book=book,
        scores=scores,
        tiers=tier_frame,
        one_mistake=tiers.one_mistake_summary(book, tier_frame),
        seasonality=seasonality.breakup_seasonality(book),
        triggers=triggers.trigger_lift(book),
        complaint_steps=triggers.complaint_steps(book),
        lost=lost.lost_business(book),
        planner=planner.winback_plan(book, scores, tier_frame),
    )
