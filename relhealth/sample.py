"""A realistic sample account book with planted truths, and a shuffled control of it.

``sample_book(accounts, seed, as_of)`` returns the sheets a B2B account team keeps (``Accounts``, ``Orders``,
``Events``) under the headers they use. Everything planted in it is a number in ``PLANTED`` below; the generator
reads those numbers and nothing else, and ``planted_truths()`` returns a copy so tests read the same ones.

How the book is made (day by day over three years up to ``as_of``, vectorised over accounts):

- Each account is one of three buyer kinds (seed 004). Occasional: a few irregular orders a year (gamma gaps,
  CV ~1.1), more price-relief requests and better-competitor-price events. Habitual: an order every one to five
  weeks like clockwork (CV ~0.2), no advocacy (no referrals, no exec sponsor, NPS 8 or less). Loyal: as regular,
  plus advocacy (referrals, promoter NPS, exec sponsor: at least one of them).
- Events arrive as Poisson processes per account; complaints come in episodes of 1-4 within 45 days, so some
  accounts reach three complaints within 90 days.
- The break-up hazard is a base daily rate per buyer kind, multiplied by the season (planted windows), by each
  event in the 90 days after it, by the complaint count in the trailing 90 days (3+: strong; a loyal account
  shrugs off one), and by an approaching contract renewal. An account breaks up on the day its cumulative hazard
  passes an exponential draw. The lost reason follows the factor that most likely caused it (drawn in proportion
  to each factor's excess hazard on the day), so a merger-driven loss says "Acquired by another company".
- Lost accounts stop ordering at their lost date; before a fixable break-up their orders thin out.
- A little messiness a real sheet has (``PLANTED["messy_cells"]``): text dates, money strings, blanks, "#N/A".

``shuffled_control(sheets, seed)`` re-times break-ups and re-deals events so any season or trigger found in it is
coincidence (see its docstring). Pure: pandas and numpy only.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .schema import ACCOUNTS, EVENT_TYPES, EVENTS, ORDERS
from .settings import DEFAULT_WINDOWS

KINDS = ("occasional", "habitual", "loyal")
WINDOW_DAYS = 90  # how long an event raises the hazard, and the trailing window complaints are counted in

PLANTED: dict = {
    "years": 3,
    "tier_mix": {"occasional": 0.35, "habitual": 0.40, "loyal": 0.25},
    "orders": {  # per buyer kind: mean orders per year (range), gamma shape of the gaps (CV = 1/sqrt(shape))
        "occasional": {"orders_per_year": (1.0, 2.8), "gap_shape": 0.8},
        "habitual": {"orders_per_year": (10.0, 50.0), "gap_shape": 20.0},
        "loyal": {"orders_per_year": (10.0, 50.0), "gap_shape": 20.0},
    },
    "advocacy": {  # share of accounts with referrals >= 1, exec sponsor, NPS range when answered
        "occasional": {"referrals": 0.0, "sponsor": 0.0, "nps": (2, 8)},
        "habitual": {"referrals": 0.0, "sponsor": 0.0, "nps": (5, 8)},
        "loyal": {"referrals": 0.75, "sponsor": 0.7, "nps": (9, 10)},
    },
    "nps_unanswered": 0.12,
    "base_annual_hazard": {"occasional": 0.09, "habitual": 0.06, "loyal": 0.025},
    "season": {"windows": dict(DEFAULT_WINDOWS), "rate_ratio": 4.0},
    "renewal": {"days_before": 90, "odds": 1.5},
    "new_account_grace_days": 30,
    # Odds multipliers on the daily hazard (hazards are small, so odds and rate ratios coincide) for the
    # WINDOW_DAYS after each event; "planted" ones are the truths the analyses must recover.
    "event_odds": {
        "price_increase": 3.5, "merger": 6.0, "new_decision_maker": 4.0,
        "competitor_price": 1.5, "unresponsive": 1.5, "new_management": 1.3, "layoffs": 1.3,
        "new_competitor": 1.2, "price_relief": 1.2, "unprovided_service": 1.0,
    },
    "planted_events": ("complaint", "price_increase", "merger", "new_decision_maker"),
    "event_window_days": WINDOW_DAYS,
    "event_rates": {  # events per account-year (occasional, habitual, loyal); complaint = episodes
        "complaint": (0.45, 0.45, 0.45), "price_increase": (0.2, 0.2, 0.2),
        "competitor_price": (0.8, 0.15, 0.05), "merger": (0.06, 0.06, 0.06),
        "new_decision_maker": (0.15, 0.15, 0.15), "new_management": (0.08, 0.08, 0.08),
        "new_competitor": (0.12, 0.12, 0.12), "layoffs": (0.06, 0.06, 0.06),
        "price_relief": (0.7, 0.1, 0.05), "unprovided_service": (0.12, 0.12, 0.12),
        "unresponsive": (0.1, 0.1, 0.05),
    },
    "complaints": {
        "threshold": 3, "window_days": WINDOW_DAYS,
        "episode_sizes": (0.55, 0.20, 0.15, 0.10), "episode_days": 45,  # P(1, 2, 3, 4 complaints), spread
        "odds_by_count": {  # 0, 1, 2, 3+ complaints in the trailing window
            "occasional": (1.0, 1.8, 2.5, 10.0), "habitual": (1.0, 1.8, 2.5, 10.0), "loyal": (1.0, 1.0, 1.5, 4.0)},
    },
    "loyal_survives_one_complaint": True,  # odds 1.0 for one complaint, and orders go on as before
    "thinning": {"days_before_loss": 60, "keep": 0.5},  # before a fixable break-up
    # "Make a mistake, and they will break the habit" (seed 004): an occasional or habitual account that lives
    # through a big failure (threshold complaints within the window) keeps only this share of its later orders.
    "habit_break": {"kinds": ("occasional", "habitual"), "keep": 0.35},
    "reasons": {
        "fixable": ("Service failures", "Price", "Competitor offer", "New decision-maker", "Unresponsive support"),
        "exogenous": ("Acquired by another company", "Out of business"),
        "by_cause": {
            "complaint": {"Service failures": 0.75, "Unresponsive support": 0.25},
            "price_increase": {"Price": 1.0}, "price_relief": {"Price": 1.0}, "renewal": {"Price": 1.0},
            "competitor_price": {"Competitor offer": 1.0}, "new_competitor": {"Competitor offer": 1.0},
            "unprovided_service": {"Competitor offer": 1.0}, "unresponsive": {"Competitor offer": 1.0},
            "merger": {"Acquired by another company": 1.0}, "layoffs": {"Out of business": 1.0},
            "new_decision_maker": {"New decision-maker": 1.0}, "new_management": {"New decision-maker": 1.0},
            "baseline": {"Competitor offer": 0.3, "Price": 0.25, "Out of business": 0.2, "Service failures": 0.1,
                         "Unresponsive support": 0.1, "Acquired by another company": 0.05},
        },
    },
    # (sheet, header, 0-based data row, what is there, what a reader should make of it). Rows past the end
    # of a small book are skipped.
    "messy_cells": (
        (ACCOUNTS, "Customer Since", 3, "iso text date", "parsed"),
        (ACCOUNTS, "Customer Since", 27, "iso text date", "parsed"),
        (ACCOUNTS, "Renewal Date", 14, "iso text date", "parsed"),
        (ACCOUNTS, "Annual Revenue", 5, "money text", "parsed"),
        (ACCOUNTS, "Annual Revenue", 21, "money text", "parsed"),
        (ACCOUNTS, "Annual Revenue", 33, "money text", "parsed"),
        (ACCOUNTS, "Annual Revenue", 9, "#N/A", "issue"),
        (ACCOUNTS, "NPS", 8, "blank", "missing"),
        (ACCOUNTS, "NPS", 19, "blank", "missing"),
        (ORDERS, "Amount", 40, "money text", "parsed"),
        (ORDERS, "Amount", 41, "money text", "parsed"),
        (EVENTS, "Event Date", 10, "iso text date", "parsed"),
    ),
}

ACCOUNT_HEADERS = ["Account ID", "Account Name", "Owner", "Segment", "Annual Revenue", "Customer Since",
                   "Renewal Date", "Exec Sponsor", "NPS", "Referrals", "Status", "Lost Date", "Lost Reason"]
ORDER_HEADERS = ["Order Date", "Account ID", "Amount"]
EVENT_HEADERS = ["Event Date", "Account ID", "Event", "Detail"]

OWNERS = ("Maya Chen", "Luis Ortega", "Priya Raman", "Tom Becker", "Aisha Okafor", "Jonas Lindqvist",
          "Sara Kowalski", "Daniel Reyes")
_NAME_A = ("North", "Blue", "Iron", "Summit", "Cedar", "Harbor", "Pioneer", "Silver", "Granite", "Maple", "Atlas",
           "Beacon", "Crescent", "Delta", "Evergreen", "Falcon", "Golden", "Highland", "Keystone", "Lakeside",
           "Meridian", "Oakridge", "Pacific", "Quarry", "Redwood", "Sterling", "Tidewater", "Union", "Valley",
           "Westfield", "Bright", "Copper", "Eastgate", "Frontier", "Lighthouse", "Riverside", "Stonebridge",
           "Sunrise", "Trinity", "Willow")
_NAME_B = ("Logistics", "Foods", "Dental", "Manufacturing", "Health", "Builders", "Analytics", "Labs", "Retail",
           "Energy", "Freight", "Hospitality", "Print", "Motors", "Pharma", "Textiles", "Media", "Plastics",
           "Packaging", "Farms", "Clinics", "Engineering", "Robotics", "Supply", "Outfitters", "Brewing",
           "Software", "Optics", "Marine", "Aerospace", "Furniture", "Chemicals", "Electric", "Metals", "Studios",
           "Hotels", "Insurance", "Pharmacy", "Transit", "Water")
_NAME_C = ("Inc", "LLC", "Ltd", "Group", "Co", "Partners", "Corp", "Holdings")
_FIRST = ("Dana", "Chris", "Morgan", "Alex", "Jordan", "Taylor", "Robin", "Casey", "Jamie", "Pat", "Lee", "Sam",
          "Kim", "Drew", "Avery", "Quinn", "Reese", "Elena", "Marcus", "Nadia", "Owen", "Grace", "Victor", "Hana")
_LAST = ("Whitfield", "Novak", "Brennan", "Alvarez", "Okoro", "Schmidt", "Tanaka", "Murphy", "Dubois", "Rossi",
         "Patel", "Nguyen", "Larsen", "Fischer", "Campbell", "Moreau", "Silva", "Hughes", "Weber", "Kaur")
DETAILS = {
    "complaint": ("Late delivery", "Order shipped incomplete", "Invoice error", "Support ticket open for a week",
                  "Product defect reported", "Missed service visit", "Escalated to their director"),
    "price_increase": ("Annual price uplift of 4%", "Annual price uplift of 6%", "List price up 8%",
                       "Surcharge added to invoices"),
    "competitor_price": ("Competitor quoted 10% lower", "Competitor quoted 15% lower", "Got a cheaper bid",
                         "Asked us to match a competitor price"),
    "merger": ("Announced merger", "Acquired by a larger group", "Merging with a competitor's customer"),
    "new_decision_maker": ("New head of purchasing", "Our champion left", "New buyer assigned"),
    "new_management": ("New CEO", "New leadership team", "Reorganisation announced"),
    "new_competitor": ("Competitor rep seen on site", "New vendor trialled", "Competitor opened locally"),
    "layoffs": ("Announced layoffs", "Cut 10% of staff", "Downsizing a site"),
    "price_relief": ("Asked for a discount", "Asked for extended payment terms", "Asked for a rebate"),
    "unprovided_service": ("Asked for same-day delivery", "Asked for on-site installation", "Asked for EDI ordering"),
    "unresponsive": ("No reply to three emails", "Missed the quarterly review", "Not returning calls"),
}
_EPOCH = np.datetime64("1970-01-01", "D")


def planted_truths() -> dict:
    """Everything planted in the sample book (a deep copy of ``PLANTED``; the generator reads the same numbers)."""
    truths = copy.deepcopy(PLANTED)
    truths["event_labels"] = {code: label for code, (label, _) in EVENT_TYPES.items()}
    return truths


def sample_book(accounts: int = 600, seed: int = 7, as_of: dt.date = dt.date(2026, 10, 31)) -> dict[str, pd.DataFrame]:
    """Sheets ``Accounts``, ``Orders``, ``Events`` as an account team keeps them; deterministic for a seed."""
    return _simulate(accounts, seed, as_of).sheets


def sample_truth(accounts: int = 600, seed: int = 7, as_of: dt.date = dt.date(2026, 10, 31)) -> pd.DataFrame:
    """What the book hides, per account: ``account_id``, ``buyer_kind``, ``lost_cause`` (the factor drawn as the
    cause of a break-up: an event code, "baseline" or "renewal"; missing when active), ``at_risk_from`` (first day
    the account could break up) and ``big_failure`` (the day its complaints first reached the threshold within
    the window, NaT if never; an occasional or habitual account that lives through it breaks its habit)."""
    return _simulate(accounts, seed, as_of).truth


@dataclass(frozen=True)
class _Result:
    sheets: dict[str, pd.DataFrame]
    truth: pd.DataFrame


def _simulate(n: int, seed: int, as_of: dt.date) -> _Result:
    if int(n) != n or n < 1:
        raise ValueError(f"accounts must be a whole number of 1 or more, got {n!r}")
    n = int(n)
    as_of = pd.Timestamp(as_of).date()
    start = np.datetime64((pd.Timestamp(as_of) - pd.DateOffset(years=PLANTED["years"])).date(), "D") + 1
    days = int((np.datetime64(as_of, "D") - start).astype(int)) + 1
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    acc = _accounts(n, days, start, streams[0])
    ev = _events(acc, days, streams[1])
    loss_day, cause = _breakups(acc, ev, days, start, streams[2])
    reasons = _reasons(cause, streams[3])
    ev = ev[ev["day"] <= loss_day[ev["acc"].to_numpy()]]
    failure_day = _big_failure_day(ev, acc["n"], days)
    orders = _orders(acc, loss_day, reasons, failure_day, days, streams[4])
    sheets = _sheets(acc, ev, orders, loss_day, reasons, start, days, as_of, streams[5])
    _mess_up(sheets)
    truth = pd.DataFrame({"account_id": acc["id"], "buyer_kind": np.array(KINDS)[acc["kind"]],
                          "lost_cause": cause, "at_risk_from": _ts(start + acc["risk_from"]),
                          "big_failure": _ts(np.where(failure_day < days, start + failure_day, np.datetime64("NaT")))})
    return _Result(sheets, truth)


def _accounts(n: int, days: int, start: np.datetime64, rng: np.random.Generator) -> dict:
    kind = rng.choice(3, size=n, p=[PLANTED["tier_mix"][k] for k in KINDS])
    new = rng.random(n) < 0.25
    since = np.where(new, rng.integers(0, max(days - 60, 1), n), -rng.integers(30, 8 * 365, n))
    grace = np.where(new, PLANTED["new_account_grace_days"], 0)
    revenue = np.round(np.exp(rng.normal(np.log(60_000), 1.0, n)) * np.array([0.6, 1.0, 1.5])[kind], -2)
    width = max(4, len(str(n)))
    names = _company_names(n, rng)
    return {"n": n, "kind": kind, "new": new, "since": since, "risk_from": np.maximum(since, 0) + grace,
            "id": np.array([f"AC-{i:0{width}d}" for i in range(1, n + 1)]), "name": names,
            "owner": rng.integers(0, len(OWNERS), n), "revenue": np.maximum(revenue, 1_000.0)}


def _company_names(n: int, rng: np.random.Generator) -> np.ndarray:
    space = len(_NAME_A) * len(_NAME_B) * len(_NAME_C)
    pick = rng.permutation(space)[np.arange(n) % space]
    a, rest = np.divmod(pick, len(_NAME_B) * len(_NAME_C))
    b, c = np.divmod(rest, len(_NAME_C))
    names = [f"{_NAME_A[x]} {_NAME_B[y]} {_NAME_C[z]}" for x, y, z in zip(a, b, c)]
    return np.array([f"{nm} {i // space + 1}" if i >= space else nm for i, nm in enumerate(names)])


def _events(acc: dict, days: int, rng: np.random.Generator) -> pd.DataFrame:
    """Every event over the whole period (dropped later when after the account's break-up)."""
    span = np.maximum(days - np.maximum(acc["since"], 0), 1)
    parts = []
    for code, rates in PLANTED["event_rates"].items():
        counts = rng.poisson(np.array(rates)[acc["kind"]] * span / 365.0)
        owner = np.repeat(np.arange(acc["n"]), counts)
        day = np.maximum(acc["since"], 0)[owner] + (rng.random(owner.size) * span[owner]).astype(int)
        if code == "complaint":
            c = PLANTED["complaints"]
            size = rng.choice(len(c["episode_sizes"]), size=owner.size, p=c["episode_sizes"]) + 1
            first = np.repeat(np.cumsum(size) - size, size)
            offset = rng.integers(1, c["episode_days"] + 1, size.sum())
            offset[first == np.arange(size.sum())] = 0
            owner, day = np.repeat(owner, size), np.repeat(day, size) + offset
        parts.append(pd.DataFrame({"acc": owner, "day": day, "code": code}))
    ev = pd.concat(parts, ignore_index=True)
    ev = ev[ev["day"] < days].sort_values(["day", "acc"], kind="stable", ignore_index=True)
    pick, detail = rng.integers(0, 1000, len(ev)), np.empty(len(ev), dtype=object)
    for code, texts in DETAILS.items():
        sel = (ev["code"] == code).to_numpy()
        detail[sel] = np.array(texts, dtype=object)[pick[sel] % len(texts)]
    ev["detail"] = detail
    return ev


def _season(start: np.datetime64, days: int) -> np.ndarray:
    dates = pd.DatetimeIndex(start + np.arange(days))
    key = dates.month.to_numpy() * 100 + dates.day.to_numpy()
    inside = np.zeros(days, bool)
    for lo, hi in PLANTED["season"]["windows"].values():
        lo, hi = (int(x[:2]) * 100 + int(x[3:]) for x in (lo, hi))
        inside |= (key >= lo) & (key <= hi) if lo <= hi else (key >= lo) | (key <= hi)
    return inside


def _anniversary(since: pd.DatetimeIndex, years: np.ndarray | int) -> pd.DatetimeIndex:
    """The contract anniversary of ``since`` in ``years`` (annual contracts; 29 Feb renews on 28 Feb)."""
    day = np.minimum(since.day.to_numpy(), np.where(since.month.to_numpy() == 2, 28, 31))
    return pd.DatetimeIndex(pd.to_datetime(pd.DataFrame({"year": years, "month": since.month, "day": day})))


def _anniversaries(acc: dict, start: np.datetime64) -> np.ndarray:
    """Contract anniversaries (day numbers from the log start) from the year before the log to the year after."""
    since, first = _ts(start + acc["since"]), pd.Timestamp(start).year - 1
    return np.column_stack([(_anniversary(since, year).to_numpy().astype("datetime64[D]") - start).astype(int)
                            for year in range(first, first + PLANTED["years"] + 3)])


def _in_renewal(anniv: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether ``day`` falls in the renewal window of the account's contract (one row of ``anniv`` per day)."""
    gap = anniv - day[:, None]
    return ((gap >= 0) & (gap < PLANTED["renewal"]["days_before"])).any(axis=1)


def _breakups(acc: dict, ev: pd.DataFrame, days: int, start: np.datetime64,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Day of break-up per account (``days`` when none) and its drawn cause."""
    n, kind = acc["n"], acc["kind"]
    log_season = np.where(_season(start, days), np.log(PLANTED["season"]["rate_ratio"]), 0.0).astype(np.float32)
    base = np.log(np.array([PLANTED["base_annual_hazard"][k] for k in KINDS]) / 365.0)[kind].astype(np.float32)
    log_c = np.log(np.array([PLANTED["complaints"]["odds_by_count"][k] for k in KINDS])).astype(np.float32).ravel()
    is_c = (ev["code"] == "complaint").to_numpy()
    weight = np.log(ev["code"].map(PLANTED["event_odds"]).fillna(1.0).to_numpy())  # complaints: counted below
    # A contract renewal acts as one more event, raising the hazard on the days_before days up to the renewal.
    anniv = _anniversaries(acc, start)
    ren_acc = np.repeat(np.arange(n), anniv.shape[1])
    ren_end = np.minimum(anniv.ravel() + 1, days)
    ren_start = np.maximum(anniv.ravel() + 1 - PLANTED["renewal"]["days_before"], 0)
    keep = ren_start < ren_end
    ren_acc, ren_start, ren_end = ren_acc[keep], ren_start[keep], ren_end[keep]
    ev_acc, ev_day = ev["acc"].to_numpy(), ev["day"].to_numpy()
    threshold = rng.exponential(size=n)
    loss_day = np.full(n, days)
    width = days + WINDOW_DAYS
    for lo in range(0, n, 4096):  # chunks bound the memory of the account x day arrays
        hi, rows = min(lo + 4096, n), min(4096, n - lo)
        sel = (ev_acc >= lo) & (ev_acc < hi)
        flat = (ev_acc[sel] - lo) * width + ev_day[sel]
        rsel = (ren_acc >= lo) & (ren_acc < hi)
        r_lo, r_hi = (ren_acc[rsel] - lo) * width + ren_start[rsel], (ren_acc[rsel] - lo) * width + ren_end[rsel]
        log_r = np.log(PLANTED["renewal"]["odds"])
        logm = np.bincount(np.r_[flat, flat + WINDOW_DAYS, r_lo, r_hi],
                           np.r_[weight[sel], -weight[sel], np.full(r_lo.size, log_r), np.full(r_hi.size, -log_r)],
                           rows * width)
        count = np.bincount(np.r_[flat, flat + WINDOW_DAYS], np.r_[is_c[sel], -is_c[sel].astype(float)], rows * width)
        logm = np.cumsum(logm.reshape(rows, width), axis=1, dtype=np.float32)[:, :days]
        count = np.cumsum(count.reshape(rows, width), axis=1, dtype=np.float32)[:, :days]
        step = np.minimum(count + np.float32(0.5), 3).astype(np.int8) + (4 * kind[lo:hi, None]).astype(np.int8)
        logm += base[lo:hi, None]
        logm += log_season[None, :]
        logm += log_c[step]
        hazard = np.exp(logm, out=logm)
        hazard[np.arange(days)[None, :] < acc["risk_from"][lo:hi, None]] = 0.0
        crossed = np.cumsum(hazard, axis=1) >= threshold[lo:hi, None]
        loss_day[lo:hi] = np.where(crossed[:, -1], crossed.argmax(axis=1), days)
    return loss_day, _causes(acc, ev, loss_day, days, anniv, rng)


def _causes(acc: dict, ev: pd.DataFrame, loss_day: np.ndarray, days: int, anniv: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """Draw each break-up's cause in proportion to each factor's excess hazard on the day (baseline: 1)."""
    lost = np.flatnonzero(loss_day < days)
    day = loss_day[ev["acc"].to_numpy()]
    active = ev[(ev["day"].to_numpy() <= day) & (ev["day"].to_numpy() > day - WINDOW_DAYS)]
    counts = pd.crosstab(active["acc"], active["code"]).reindex(index=lost, columns=list(EVENT_TYPES),
                                                                fill_value=0)
    odds = np.array([PLANTED["event_odds"].get(code, 1.0) for code in EVENT_TYPES])
    excess = odds[None, :] ** counts.to_numpy() - 1.0
    c_odds = np.array([PLANTED["complaints"]["odds_by_count"][k] for k in KINDS])
    n_c = np.minimum(counts["complaint"].to_numpy(), 3)
    excess[:, list(EVENT_TYPES).index("complaint")] = c_odds[acc["kind"][lost], n_c] - 1.0
    ren = PLANTED["renewal"]
    in_renewal = _in_renewal(anniv[lost], loss_day[lost])
    weights = np.column_stack([excess, np.ones(lost.size), np.where(in_renewal, ren["odds"] - 1.0, 0.0)])
    names = np.array(list(EVENT_TYPES) + ["baseline", "renewal"], dtype=object)
    cum = np.cumsum(weights, axis=1)
    pick = (cum >= rng.random(lost.size)[:, None] * cum[:, -1:]).argmax(axis=1)
    cause = np.full(acc["n"], None, dtype=object)
    cause[lost] = names[pick]
    return cause


def _big_failure_day(ev: pd.DataFrame, n: int, days: int) -> np.ndarray:
    """Per account, the first day its complaints in the trailing window reach the threshold (``days``: never)."""
    k = PLANTED["complaints"]["threshold"]
    c = ev[ev["code"] == "complaint"].sort_values(["acc", "day"], kind="stable")
    acc, day = c["acc"].to_numpy(), c["day"].to_numpy()
    out = np.full(n, days)
    hit = (acc[k - 1:] == acc[:acc.size - k + 1]) & (day[k - 1:] - day[:day.size - k + 1] < WINDOW_DAYS)
    np.minimum.at(out, acc[k - 1:][hit], day[k - 1:][hit])
    return out


def _orders(acc: dict, loss_day: np.ndarray, reasons: np.ndarray, failure_day: np.ndarray, days: int,
            rng: np.random.Generator) -> pd.DataFrame:
    n, kind = acc["n"], acc["kind"]
    rate = np.empty(n)
    shape = np.empty(n)
    for k, name in enumerate(KINDS):
        lo, hi = PLANTED["orders"][name]["orders_per_year"]
        rate[kind == k] = np.exp(rng.uniform(np.log(lo), np.log(hi), (kind == k).sum()))
        shape[kind == k] = PLANTED["orders"][name]["gap_shape"]
    mean_gap = 365.0 / rate
    begin = np.maximum(acc["since"], 0)
    end = np.minimum(loss_day, days - 1)
    count = np.ceil((end - begin + 1) / mean_gap * 2 + 10).astype(int)
    owner = np.repeat(np.arange(n), count)
    gaps = rng.gamma(shape[owner], mean_gap[owner] / shape[owner])
    first = np.r_[0, np.cumsum(count)[:-1]]
    # An old account is met mid-cycle; a new one places its first order within two weeks of signing.
    gaps[first] = np.where(acc["new"], rng.uniform(0, 14, n), gaps[first] * rng.random(n))
    t = np.cumsum(gaps)
    t -= np.repeat(t[first] - gaps[first], count)
    day = begin[owner] + np.floor(t).astype(int)
    keep = day <= end[owner]
    fixable = np.isin(reasons, PLANTED["reasons"]["fixable"])
    th = PLANTED["thinning"]
    thin = fixable[owner] & (day > loss_day[owner] - th["days_before_loss"]) & (np.arange(owner.size) != first[owner])
    keep &= ~thin | (rng.random(owner.size) < th["keep"])
    hb = PLANTED["habit_break"]
    breaks = np.isin(kind, [KINDS.index(k) for k in hb["kinds"]])
    broken = breaks[owner] & (day > failure_day[owner]) & (np.arange(owner.size) != first[owner])
    keep &= ~broken | (rng.random(owner.size) < hb["keep"])
    owner, day = owner[keep], day[keep]
    noise = np.exp(rng.normal(-0.045, 0.3, owner.size))
    amount = np.round(acc["revenue"][owner] / rate[owner] * noise, 2)
    frame = pd.DataFrame({"acc": owner, "day": day, "amount": amount})
    return frame.sort_values(["day", "acc"], kind="stable", ignore_index=True)


def _sheets(acc: dict, ev: pd.DataFrame, orders: pd.DataFrame, loss_day: np.ndarray, reasons: np.ndarray,
            start: np.datetime64, days: int, as_of: dt.date, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    n, kind = acc["n"], acc["kind"]
    lost = loss_day < days
    adv = [PLANTED["advocacy"][k] for k in KINDS]
    lo_nps, hi_nps = (np.array([a["nps"][i] for a in adv])[kind] for i in (0, 1))
    nps = rng.integers(lo_nps, hi_nps + 1).astype(float)
    nps[rng.random(n) < PLANTED["nps_unanswered"]] = np.nan
    for _, header, row, what, _ in PLANTED["messy_cells"]:
        if header == "NPS" and what == "blank" and row < n:
            nps[row] = np.nan
    referrals = np.where(rng.random(n) < np.array([a["referrals"] for a in adv])[kind], 1 + rng.poisson(1.2, n), 0)
    sponsor = rng.random(n) < np.array([a["sponsor"] for a in adv])[kind]
    no_sign = (kind == 2) & (referrals == 0) & ~(nps >= 9)
    sponsor |= no_sign  # every loyal account shows affinity somehow
    sponsor_names = [f"{_FIRST[i]} {_LAST[j]}"
                     for i, j in zip(rng.integers(0, len(_FIRST), n), rng.integers(0, len(_LAST), n))]
    since = start + acc["since"]
    ends = np.where(lost, start + np.minimum(loss_day, days - 1), np.datetime64(as_of, "D"))
    renewal = _next_anniversary(_ts(since), _ts(ends))
    segment = np.select([acc["revenue"] >= 250_000, acc["revenue"] >= 50_000], ["Enterprise", "Mid-Market"], "SMB")
    accounts = pd.DataFrame({
        "Account ID": acc["id"], "Account Name": acc["name"], "Owner": np.array(OWNERS)[acc["owner"]],
        "Segment": segment, "Annual Revenue": acc["revenue"], "Customer Since": _ts(since),
        "Renewal Date": renewal, "Exec Sponsor": np.where(sponsor, np.array(sponsor_names, dtype=object), None),
        "NPS": nps, "Referrals": referrals.astype(np.int64), "Status": np.where(lost, "Lost", "Active"),
        "Lost Date": _ts(np.where(lost, start + np.minimum(loss_day, days - 1), np.datetime64("NaT"))),
        "Lost Reason": np.where(lost, reasons, None),
    })
    order_frame = pd.DataFrame({"Order Date": _ts(start + orders["day"].to_numpy()),
                                "Account ID": acc["id"][orders["acc"].to_numpy()], "Amount": orders["amount"]})
    labels = {code: label for code, (label, _) in EVENT_TYPES.items()}
    events = pd.DataFrame({"Event Date": _ts(start + ev["day"].to_numpy()),
                           "Account ID": acc["id"][ev["acc"].to_numpy()], "Event": ev["code"].map(labels).to_numpy(),
                           "Detail": ev["detail"].to_numpy()})
    return {ACCOUNTS: accounts, ORDERS: order_frame, EVENTS: events}


def _next_anniversary(since: pd.DatetimeIndex, after: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The first contract anniversary of ``since`` strictly after ``after``."""
    this = _anniversary(since, after.year.to_numpy())
    return pd.DatetimeIndex(np.where(this > after, this, _anniversary(since, after.year.to_numpy() + 1)))


def _reasons(cause: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.full(cause.size, None, dtype=object)
    u = rng.random(cause.size)
    for code, mix in PLANTED["reasons"]["by_cause"].items():
        sel = cause == code
        names, probs = list(mix), np.cumsum(list(mix.values()))
        out[sel] = np.array(names, dtype=object)[np.minimum(np.searchsorted(probs, u[sel] * probs[-1]), len(names) - 1)]
    return out


def _ts(days: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(days).astype("datetime64[ns]"))


def _mess_up(sheets: dict[str, pd.DataFrame]) -> None:
    for sheet, header, row, what, _ in PLANTED["messy_cells"]:
        frame = sheets[sheet]
        if row >= len(frame) or what == "blank":
            continue
        if frame[header].dtype != object:
            frame[header] = frame[header].astype(object)
        value = frame.at[row, header]
        if what == "iso text date":
            frame.at[row, header] = pd.Timestamp(value).date().isoformat()
        elif what == "money text":
            frame.at[row, header] = f"${value:,.2f}".removesuffix(".00")
        elif what == "#N/A":
            frame.at[row, header] = "#N/A"


def shuffled_control(sheets: dict[str, pd.DataFrame], seed: int = 0) -> dict[str, pd.DataFrame]:
    """The same book with break-up dates re-timed and events re-dealt, so any season or trigger is coincidence.

    - Lost dates: each moves by a uniform random offset of -182..+182 days, wrapped by a whole year to stay
      within the account's time on the book (from ``Customer Since`` or the first order-log day, to the last date
      in the book). The shift makes the day of the year uniform, so the planted seasons vanish, while a break-up
      stays in roughly the same stretch of the book (a plain permutation among lost accounts would keep the
      seasonal calendar intact). Accounts shorter than a year on the book get a uniform date in their span.
    - Orders after an account's new lost date are dropped (a lost account never orders after its lost date); an
      account whose loss moved later simply went quiet before it.
    - Events: each account's whole event history (dates, kinds, details) is handed to another account, by a
      random permutation of accounts that joined the book in the same half-year (all accounts older than the
      order log form one group). Events that then fall after the new account's (new) lost date, or before its
      ``Customer Since``, are dropped: about a sixth of them, as a lost account cannot have events after it left.
      Histories keep their shape (a burst of three complaints stays a burst) but who had them says nothing about
      who broke up or when. (Re-timing events within their own account would keep "the accounts with many
      complaints are the lost ones".)
    - Lost reasons stay with their accounts; everything else is unchanged.
    """
    rng = np.random.default_rng(seed)
    out = {name: frame.copy() for name, frame in sheets.items()}
    acc, orders, events = out[ACCOUNTS], out[ORDERS], out[EVENTS]
    since, lost = _day_numbers(acc["Customer Since"]), _day_numbers(acc["Lost Date"])
    order_day, event_day = _day_numbers(orders["Order Date"]), _day_numbers(events["Event Date"])
    book_start = np.nanmin(order_day) if len(order_day) else np.nanmin(since)
    book_end = np.nanmax(np.r_[order_day, event_day, lost[~np.isnan(lost)], book_start])
    lo = np.fmax(since, book_start)
    lo = np.where(np.isnan(lo), book_start, lo)
    new = lost + rng.integers(-182, 183, len(lost))
    new = np.where(new < lo, new + 365, np.where(new > book_end, new - 365, new))
    bad = ~np.isnan(lost) & ((new < lo) | (new > book_end))
    new[bad] = np.floor(lo[bad] + rng.random(bad.sum()) * (book_end - lo[bad] + 1))
    acc["Lost Date"] = _ts(pd.to_datetime(new, unit="D").to_numpy())
    position = pd.Series(np.arange(len(acc)), index=acc["Account ID"].astype(str).to_numpy())
    end = np.where(np.isnan(new), np.inf, new)
    owner = position.reindex(orders["Account ID"].astype(str)).to_numpy()
    owner_end = np.where(np.isnan(owner), np.inf, end[np.nan_to_num(owner, nan=0).astype(int)])
    out[ORDERS] = orders[~(order_day > owner_end)].reset_index(drop=True)
    start_ok = np.where(np.isnan(since), -np.inf, since)
    joined = np.floor((lo - book_start) / 182.0)  # hand histories between accounts that joined about together
    perm = np.arange(len(acc))
    for group in np.unique(joined):
        members = np.flatnonzero(joined == group)
        perm[members] = rng.permutation(members)
    holder = position.reindex(events["Account ID"].astype(str)).to_numpy()
    known = ~np.isnan(holder)
    target = perm[np.nan_to_num(holder, nan=0).astype(int)]
    events["Account ID"] = np.where(known, acc["Account ID"].to_numpy()[target], events["Account ID"].to_numpy())
    inside = ~known | ((event_day >= start_ok[target]) & ~(event_day > end[target]))
    out[EVENTS] = events[inside].reset_index(drop=True)
    return out


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Dates (Timestamps or ISO text) -> float days since 1970-01-01, NaN when missing."""
    is_date = pd.api.types.is_datetime64_any_dtype(values.dtype)
    parsed = values if is_date else pd.to_datetime(values, errors="coerce", format="mixed")
    days = parsed.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    out = (days - _EPOCH).astype(float)
    out[np.isnat(days)] = np.nan
    return out
