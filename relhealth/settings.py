"""Every choice a user may change, with its documented default, in one frozen object.

The workbook's ``Settings`` sheet is a plain Setting / Value / Note table. ``Settings.from_rows`` reads it (a bad
value becomes a data issue and the default stays); ``Settings.to_rows`` writes every setting with its default
spelled out. Nothing else in the project reads raw settings cells.

Setting names in the sheet are the field names below, case/space-insensitive ("Horizon days" = horizon_days).
Three families are open-ended:
- ``effect <event>``: odds multiplier of a relationship event ("effect complaint" = 1.35).
- ``column <sheet> <field>``: the user's header for a canonical column ("column Accounts last_order" = "Final PO").
- ``window <name>``: a seasonal window "MM-DD to MM-DD" ("window Fiscal year end" = "06-15 to 06-30").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Mapping

from .schema import EVENT_TYPES, normalise_header

# Odds multipliers used when the book has too little break-up history to learn its own (seed 000's list).
DEFAULT_EVENT_ODDS: Mapping[str, float] = MappingProxyType({
    "complaint": 1.35,          # each complaint in the trailing window; 3+ compounds strongly
    "price_increase": 1.8,
    "competitor_price": 1.9,
    "merger": 2.2,
    "new_decision_maker": 1.9,
    "new_management": 1.6,
    "new_competitor": 1.4,
    "layoffs": 1.5,
    "price_relief": 1.5,
    "unprovided_service": 1.3,
    "unresponsive": 1.7,
})

# Seasonal windows from seed 000, as (MM-DD, MM-DD) inclusive.
DEFAULT_WINDOWS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "Two weeks before Christmas": ("12-11", "12-24"),
    "Around Valentine's Day": ("02-07", "02-21"),
    "Spring break": ("03-08", "03-28"),
})


@dataclass(frozen=True)
class Settings:
    as_of: dt.date | None = None            # None: today
    horizon_days: int = 180
    date_order: str = "auto"                # auto | MDY | DMY | YMD: how ambiguous text dates are read
    # Risk bands: a risk at or above the threshold takes the band.
    band_watch: float = 0.25
    band_high: float = 0.50
    band_critical: float = 0.75
    event_window_days: int = 90             # how far back an event still counts for an account's risk
    renewal_odds: float = 1.4               # contract renewal falling inside the horizon
    min_breakups_to_learn: int = 30         # fewer past break-ups: the default effects apply
    effect_shrinkage: float = 5.0           # pseudo-count pulling learned effects towards the defaults
    # Loyalty tiers (seed 004).
    habitual_max_gap_cv: float = 0.6        # coefficient of variation of gaps between orders
    habitual_min_orders: int = 4
    occasional_max_orders_per_year: float = 3.0
    promoter_nps: float = 9.0
    loyal_min_referrals: int = 1
    big_mistake_complaints: int = 3         # complaints within complaint_window_days that make a big mistake
    kept_pace: float = 0.5                  # survived a big mistake: buying at this share of the earlier pace
    price_signal_days: int = 365
    price_push_signals: int = 2             # price-relief / competitor-price events that push a tier down
    # Seasonality and triggers.
    trigger_window_days: int = 90
    complaint_window_days: int = 90
    significance: float = 0.05
    season_min_history_days: int = 365      # records needed before seasons are tested
    # Win-back planner (seeds 001-004).
    lost_lookback_days: int = 365
    reminder_cadence_days: int = 45
    first_touch_days: int = 7
    make_good_share: float = 0.05           # of the revenue at stake, scaled by the size of the failure
    event_odds: Mapping[str, float] = field(default_factory=lambda: DEFAULT_EVENT_ODDS)
    windows: Mapping[str, tuple[str, str]] = field(default_factory=lambda: DEFAULT_WINDOWS)
    column_overrides: Mapping[tuple[str, str], str] = field(default_factory=lambda: MappingProxyType({}))

    def today(self) -> dt.date:
        return self.as_of or dt.date.today()

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_rows(cls, rows: list[tuple[Any, ...]], base: "Settings | None" = None) -> tuple["Settings", list[dict]]:
        """Read (setting, value) pairs, or (sheet row number, setting, value) triples so issues name the real row;
        values apply on top of ``base`` (default: the defaults). Returns the settings and data issues for values
        that could not be used."""
        return _parse_rows(base or cls(), rows)

    def to_rows(self) -> list[tuple[str, Any, str]]:
        """(Setting, Value, Note) rows spelling out every setting, for the workbook's Settings sheet."""
        rows: list[tuple[str, Any, str]] = []
        for f in fields(self):
            if f.name in ("event_odds", "windows", "column_overrides"):
                continue
            value = getattr(self, f.name)
            if f.name == "as_of":
                value = value.isoformat() if value else ""
            rows.append((f.name, value, NOTES[f.name]))
        for code, odds in self.event_odds.items():
            rows.append((f"effect {code}", odds, f"Odds multiplier of '{EVENT_TYPES[code][0]}' when the book "
                                                 "has too little history to learn it"))
        for name, (start, end) in self.windows.items():
            rows.append((f"window {name}", f"{start} to {end}", "Seasonal window tested for break-ups (MM-DD to MM-DD)"))
        for (sheet, col), header in self.column_overrides.items():
            rows.append((f"column {sheet} {col}", header, "Your header for this column"))
        return rows


NOTES: dict[str, str] = {
    "as_of": "Date everything is computed as of (blank: today), YYYY-MM-DD",
    "horizon_days": "Break-up risk = chance of no purchase within this many days",
    "date_order": "How to read dates like 03/04/2025: auto (decide from the column), MDY, DMY or YMD",
    "band_watch": "Risk at or above this is Watch",
    "band_high": "Risk at or above this is High",
    "band_critical": "Risk at or above this is Critical",
    "event_window_days": "An event counts towards risk for this many days",
    "renewal_odds": "Odds multiplier when the contract renews inside the horizon",
    "min_breakups_to_learn": "Past break-ups needed before event effects are learned from this book",
    "effect_shrinkage": "How strongly learned effects are pulled towards the defaults (pseudo-accounts)",
    "habitual_max_gap_cv": "Regular buyer: variation of gaps between orders at most this (0 = clockwork)",
    "habitual_min_orders": "Orders needed before a buyer can count as regular",
    "occasional_max_orders_per_year": "Buyers with fewer orders a year than this are Occasional",
    "promoter_nps": "NPS at or above this shows affinity (promoter)",
    "loyal_min_referrals": "Referrals at or above this show affinity",
    "big_mistake_complaints": "Complaints within the complaint window that count as one big mistake",
    "kept_pace": "Survived a big mistake: still buying at this share (or more) of the pace before it",
    "price_signal_days": "Look-back for price-relief requests and better-competitor-price events",
    "price_push_signals": "This many price signals in the look-back move an account one tier towards Occasional",
    "season_min_history_days": "Days of records needed before break-up seasons are tested",
    "trigger_window_days": "Break-ups within this many days after an event count towards its lift",
    "complaint_window_days": "Complaints counted in this trailing window ('after three complaints')",
    "significance": "p-value below which a season or trigger is called a trend",
    "lost_lookback_days": "Lost accounts within this many days get a win-back plan",
    "reminder_cadence_days": "Days between occasional reminders to a lost account",
    "first_touch_days": "Days after the loss (or today) for the first touch",
    "make_good_share": "Make-good budget as a share of the revenue at stake, before scaling by the harm",
}

_ALIASES = {normalise_header(f): f for f in NOTES}


def _parse_value(name: str, default: Any, raw: Any) -> Any:
    if name == "as_of":
        if raw in (None, ""):
            return None
        if isinstance(raw, dt.datetime):
            return raw.date()
        if isinstance(raw, dt.date):
            return raw
        if isinstance(raw, (int, float)):
            return (dt.datetime(1899, 12, 30) + dt.timedelta(days=float(raw))).date()
        return dt.date.fromisoformat(str(raw).strip()[:10])
    if name == "date_order":
        value = str(raw).strip().upper()
        if value in ("AUTO", "MDY", "DMY", "YMD"):
            return value.lower() if value == "AUTO" else value
        raise ValueError("expected auto, MDY, DMY or YMD")
    if isinstance(default, bool):
        return str(raw).strip().lower() in ("1", "true", "yes", "y")
    if isinstance(default, int):
        number = float(str(raw).strip())
        if number != int(number) or number < 0:
            raise ValueError("expected a whole number of 0 or more")
        return int(number)
    if isinstance(default, float):
        number = float(str(raw).strip().rstrip("%")) / (100 if str(raw).strip().endswith("%") else 1)
        if number < 0:
            raise ValueError("expected a number of 0 or more")
        return number
    return raw


def _parse_window(raw: Any) -> tuple[str, str]:
    parts = [p.strip() for p in str(raw).replace("..", " to ").split(" to ")]
    if len(parts) != 2:
        raise ValueError("expected 'MM-DD to MM-DD'")
    for p in parts:
        dt.date.fromisoformat(f"2000-{p}")  # leap year: 02-29 is allowed
    return parts[0], parts[1]


def _parse_rows(base: Settings, rows: list[tuple[Any, ...]]) -> tuple[Settings, list[dict]]:
    changes: dict[str, Any] = {}
    odds = dict(base.event_odds)
    windows = dict(base.windows)
    overrides = dict(base.column_overrides)
    issues: list[dict] = []
    for index, row in enumerate(rows):
        row_number, key, raw = row if len(row) == 3 else (index + 2, *row)
        name = normalise_header(key)
        if not name or raw is None or (isinstance(raw, str) and not raw.strip() and name != "as of"):
            continue
        try:
            head, _, rest = name.partition(" ")
            if head == "effect" and rest.replace(" ", "_") in EVENT_TYPES:
                value = float(raw)
                if value <= 0:
                    raise ValueError("expected an odds multiplier above 0")
                odds[rest.replace(" ", "_")] = value
            elif head == "window":
                windows[str(key).strip()[len("window"):].strip()] = _parse_window(raw)
            elif head == "column":
                sheet, _, col = str(key).strip()[len("column"):].strip().partition(" ")
                overrides[(sheet.strip().title(), col.strip().replace(" ", "_").lower())] = str(raw).strip()
            elif name in _ALIASES:
                field_name = _ALIASES[name]
                changes[field_name] = _parse_value(field_name, getattr(base, field_name), raw)
            else:
                issues.append({"sheet": "Settings", "row": row_number, "column": "Setting", "value": key,
                               "problem": "is not a setting this add-in knows; it was ignored"})
        except (ValueError, TypeError) as exc:
            issues.append({"sheet": "Settings", "row": row_number, "column": "Value", "value": raw,
                           "problem": f"is not a valid value for '{key}' ({exc}); the default was kept"})
    settings = replace(base, **changes, event_odds=MappingProxyType(odds), windows=MappingProxyType(windows),
                       column_overrides=MappingProxyType(overrides))
    if not settings.band_watch < settings.band_high < settings.band_critical <= 1:
        issues.append({"sheet": "Settings", "row": None, "column": "Value",
                       "value": f"{settings.band_watch}/{settings.band_high}/{settings.band_critical}",
                       "problem": "band thresholds must rise: watch < high < critical <= 1; defaults kept"})
        settings = replace(settings, band_watch=base.band_watch, band_high=base.band_high,
                           band_critical=base.band_critical)
    return settings, issues
