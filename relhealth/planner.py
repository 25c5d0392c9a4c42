"""Win-back plays per lost and at-risk account, drawn from the playbook (seeds 000-004).

``winback_plan(book, scores, tiers)`` returns one row per account that needs a plan, keyed by ``account_id``:

- every account lost within ``Settings.lost_lookback_days`` of as-of (an account marked Lost with no date is
  included too, with a note asking for the date), and
- every account not lost whose break-up risk band is High or Critical.

Each row carries the plays a rep can act on. Lost, fixable (seeds 002-004): someone with authority calls, the
company eats crow, makes good in proportion to the harm, resells the reasons they bought, holds a post-mortem
with a third party, then gives space with occasional useful reminders. Lost to exogenous factors (acquired, out of
business; seed 003): no apology owed; thank them, support the transition, keep the door open and watch for the new
decision-makers. At risk (seeds 000-001): a direct conversation now ("is something bothering you?"), empathy, a
detailed action plan without overpromising, then deliver.

The make-good budget is ``revenue at stake x make_good_share x harm scale`` where the harm scale grows with the
size of the failure on record (complaints before the loss, a service failure named in the reason):
``HARM_SCALE``. A loss with no failure of ours on record gets a small goodwill gesture; an exogenous loss none.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

import numpy as np
import pandas as pd

from .book import Book
from .schema import is_exogenous, normalise_header
from .stats import account_positions, account_revenue, day_numbers

PLAN_COLUMNS = ["account_id", "account_name", "owner", "kind", "band", "revenue_at_stake", "lost_date", "risk",
                "why", "cause", "who_calls", "eat_crow", "make_good", "make_good_budget", "harm", "resell",
                "post_mortem", "first_touch", "reminders", "play"]

LOST, AT_RISK = "Lost", "At risk"
EXOGENOUS, FIXABLE = "Exogenous", "Fixable"

# Size of the failure -> multiplier of (revenue at stake x make_good_share).
HARM_SCALE = {"major": 2.0, "moderate": 1.0, "none on record": 0.25, "exogenous": 0.0}
MAJOR_COMPLAINTS = 3
_MAJOR_WORDS = ("outage", "downtime", "down time", "data loss", "breach", "recall", "repeat service failure",
                "repeated failure", "missed deadline", "safety")
_SERVICE_WORDS = ("service", "complaint", "quality", "late", "delivery", "defect", "error", "mistake", "support",
                  "billing", "invoice", "unresponsive", "neglect", "communication", "slow", "broken", "failure",
                  "incident", "escalation", "bug", "wrong")
_EXOGENOUS_EVENTS = ("merger",)


def winback_plan(book: Book, scores: pd.DataFrame, tiers: pd.DataFrame) -> pd.DataFrame:
    """One row per lost (within the look-back) and High/Critical at-risk account; columns ``PLAN_COLUMNS``.

    Rows are ordered by urgency: Critical, then High (still savable), then fixable losses, then exogenous losses;
    within each group by revenue at stake, largest first.
    """
    _check_inputs(book, scores, tiers)
    settings = book.settings
    accounts = book.accounts.reset_index(drop=True)
    today = pd.Timestamp(settings.today())
    today_day = float(day_numbers([today])[0])
    lost_day = _days(accounts, "lost_date")
    status = accounts["status"].astype(str) if "status" in accounts.columns else pd.Series("", index=accounts.index)
    is_lost = (status.str.lower() == "lost").to_numpy() | ~np.isnan(lost_day)
    is_lost &= ~(lost_day > today_day)  # lost after as-of: not lost yet at that date
    recent = np.isnan(lost_day) | (lost_day >= today_day - settings.lost_lookback_days)
    ids = accounts["account_id"].astype(str)
    score_by_id = scores.assign(account_id=scores["account_id"].astype(str)).drop_duplicates("account_id") \
        .set_index("account_id")
    band = score_by_id["band"].reindex(ids).to_numpy(dtype=object)
    risk = pd.to_numeric(score_by_id["risk"].reindex(ids), errors="coerce").to_numpy(dtype=float)
    at_risk = ~is_lost & np.isin(band, ["High", "Critical"])
    chosen = np.flatnonzero((is_lost & recent) | at_risk)
    if not len(chosen):
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in PLAN_COLUMNS})

    end_day = np.where(is_lost & ~np.isnan(lost_day), lost_day, today_day)
    revenue = account_revenue(book, end_days=end_day)
    tier_by_id = tiers.assign(account_id=tiers["account_id"].astype(str)).drop_duplicates("account_id")
    # Per-account values as plain lists and dicts, taken once: the loop below touches no pandas object.
    drivers = _lookup(score_by_id, "drivers")
    tier_of = _lookup(tier_by_id.set_index("account_id"), "tier")
    column = {c: _column(accounts, c) for c in ("account_name", "owner", "exec_sponsor", "lost_reason", "segment",
                                                "nps", "referrals")}
    since_day = _days(accounts, "customer_since")
    id_list = ids.tolist()
    history = _history(book, ids, end_day, chosen)
    rows = []
    lost_at, since_at, end_at = (_timestamps(days[chosen]) for days in (lost_day, since_day, end_day))
    for k, (i, past) in enumerate(zip(chosen.tolist(), history)):
        account_id = id_list[i]
        facts = {
            "id": account_id, "name": _text(column["account_name"][i]), "owner": _text(column["owner"][i]),
            "sponsor": _text(column["exec_sponsor"][i]), "reason": _text(column["lost_reason"][i]),
            "lost": bool(is_lost[i]), "lost_date": lost_at[k], "band": band[i], "risk": risk[i],
            "revenue": revenue[i], "drivers": _text(drivers.get(account_id)),
            "tier": _text(tier_of.get(account_id)), "since": since_at[k],
            "nps": _number(column["nps"][i]), "referrals": _number(column["referrals"][i]),
            "segment": _text(column["segment"][i]), "end": end_at[k], **past,
        }
        rows.append(_plan_row(facts, settings, today))
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    order = plan["kind"].map({AT_RISK: 0, LOST: 2}) + plan["band"].map({"Critical": 0}).fillna(1) \
        + (plan["cause"] == EXOGENOUS) * 2
    plan = plan.assign(_order=order, _rev=-plan["revenue_at_stake"].fillna(0)) \
        .sort_values(["_order", "_rev", "account_id"], kind="stable").drop(columns=["_order", "_rev"])
    return plan.reset_index(drop=True)


def _check_inputs(book: Book, scores: pd.DataFrame, tiers: pd.DataFrame) -> None:
    for name, frame, needed in (("scores", scores, ("account_id", "risk", "band")),
                                ("tiers", tiers, ("account_id",))):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"winback_plan: the {name} table lacks column(s) {', '.join(missing)}")
    if "account_id" not in book.accounts.columns:
        raise ValueError("winback_plan: the book's accounts lack account_id")


# ---- facts from the account's history ---------------------------------------------------------------------------

def _history(book: Book, ids: pd.Series, end_day: np.ndarray, chosen: np.ndarray) -> list[dict]:
    """Per chosen account (in ``chosen`` order): lifetime orders and spend up to its end, and the relationship
    events (in log order) in the window before."""
    n = len(ids)
    orders_n, spend = np.full(n, np.nan), np.full(n, np.nan)
    complaints = np.full(n, np.nan)
    events_of: dict[int, list[str]] = {}
    orders = book.orders
    if len(orders):
        at = account_positions(book, orders)
        keep = at >= 0
        at = at[keep]
        before = book.order_days[keep] <= end_day[at]
        amounts = pd.to_numeric(orders["amount"], errors="coerce").to_numpy(dtype=float)[keep]
        counts = np.bincount(at[before], minlength=n)
        total = np.bincount(at[before], weights=np.nan_to_num(amounts[before]), minlength=n)
        orders_n = counts.astype(float)
        spend = np.where(counts > 0, total, np.nan)
    window = book.settings.event_window_days
    events = book.events
    if len(events):
        at = account_positions(book, events)
        keep = at >= 0
        at = at[keep]
        day = day_numbers(events["event_date"])[keep]
        inside = (end_day[at] - window <= day) & (day <= end_day[at])
        at, types = at[inside], events["event_type"].astype(str).to_numpy()[keep][inside]
        order = np.argsort(at, kind="stable")  # grouped by account, log order kept within each
        at, types = at[order], types[order]
        bounds = np.flatnonzero(np.r_[True, at[1:] != at[:-1]]) if len(at) else np.array([], dtype=int)
        at_list, type_list = at.tolist(), types.tolist()
        for lo, hi in zip(bounds.tolist(), np.r_[bounds[1:], len(at)].tolist()):
            events_of[at_list[lo]] = type_list[lo:hi]
        complaints = np.bincount(at[types == "complaint"], minlength=n).astype(float)
    elif "complaints_90d" in book.accounts.columns:
        complaints = pd.to_numeric(book.accounts["complaints_90d"], errors="coerce").to_numpy(dtype=float)
    return [{"orders": o, "spend": s, "complaints": c, "events": events_of.get(i, [])} for i, o, s, c in
            zip(chosen.tolist(), orders_n[chosen].tolist(), spend[chosen].tolist(), complaints[chosen].tolist())]


def harm_of(reason: str, complaints: float) -> str:
    """Size of our failure: 'major', 'moderate', 'none on record' (or 'exogenous' when nobody's fault of ours)."""
    exogenous, major, service = _reason_words(reason)
    if exogenous:
        return "exogenous"
    if (complaints == complaints and complaints >= MAJOR_COMPLAINTS) or major:
        return "major"
    if (complaints == complaints and complaints >= 1) or service:
        return "moderate"
    return "none on record"


_SERVICE_AT_WORD_START = re.compile(r"\b(?:" + "|".join(map(re.escape, _SERVICE_WORDS)) + ")")
# A book repeats a few reasons (and settings' day counts) many times: each is worked out once.
_is_exogenous = lru_cache(maxsize=4096)(is_exogenous)
_span = lru_cache(maxsize=64)(lambda days: pd.Timedelta(days=days))


@lru_cache(maxsize=4096)
def _reason_words(reason: str) -> tuple[bool, bool, bool]:
    """(exogenous, names a major failure, names a service failure) for a stated reason."""
    key = normalise_header(reason)
    return (bool(reason) and _is_exogenous(reason), any(w in key for w in _MAJOR_WORDS),
            _SERVICE_AT_WORD_START.search(key) is not None)


def make_good_budget(revenue: float, harm: str, share: float) -> float:
    """Revenue at stake x share x harm scale, rounded to a figure a manager would sign off (NaN: unknown)."""
    if harm == "exogenous":
        return 0.0
    if not np.isfinite(revenue) or revenue <= 0:
        return np.nan
    return _round_money(revenue * share * HARM_SCALE[harm])


def _round_money(value: float) -> float:
    step = 10 if value < 500 else 50 if value < 2_000 else 100 if value < 20_000 else 500
    return float(max(step, round(value / step) * step))


# ---- the plays ----------------------------------------------------------------------------------------------------

def _plan_row(f: dict, settings, today: pd.Timestamp) -> dict:
    exogenous = (f["lost"] and _is_exogenous(f["reason"])) or (not f["lost"] and "merger" in f["events"])
    harm = "exogenous" if exogenous else harm_of(f["reason"] if f["lost"] else "", f["complaints"])
    budget = make_good_budget(f["revenue"], harm, settings.make_good_share)
    if not f["lost"] and harm == "none on record":
        budget = 0.0  # at risk with no failure of ours: nothing to make good yet
    caller = _who_calls(f, exogenous)
    first = _first_touch(f, settings, today)
    cadence = settings.reminder_cadence_days
    later = [first + _span(cadence * k) for k in (1, 2)]
    reminders = (f"Every {cadence} days after the first touch (next {_d(later[0])}, {_d(later[1])}): "
                 "send something useful to them (news, an idea, an introduction), meet other people at the account; "
                 "no pushing.")
    if exogenous:
        reminders = (f"Every {cadence} days: keep the door open; watch for the new decision-makers and introduce "
                     f"yourself when they arrive (next {_d(later[0])}, {_d(later[1])}).")
    row = {"account_id": f["id"], "account_name": f["name"], "owner": f["owner"],
           "kind": LOST if f["lost"] else AT_RISK, "band": "" if f["lost"] else f["band"],
           "revenue_at_stake": f["revenue"], "lost_date": f["lost_date"],
           "risk": np.nan if f["lost"] else f["risk"], "why": _why(f),
           "cause": EXOGENOUS if exogenous else FIXABLE, "who_calls": caller,
           "eat_crow": _eat_crow(f, exogenous), "make_good": _make_good(f, harm, budget, settings),
           "make_good_budget": budget, "harm": harm, "resell": _resell(f, exogenous),
           "post_mortem": _post_mortem(f, exogenous), "first_touch": first, "reminders": reminders}
    row["play"] = _headline(f, exogenous, budget)
    return row


def _who_calls(f: dict, exogenous: bool) -> str:
    owner = f["owner"] or "the account owner"
    boss = f"{f['sponsor']} (exec sponsor)" if f["sponsor"] else f"{owner}'s manager" if f["owner"] \
        else "The sales manager"
    if not f["owner"]:
        return f"{boss} (no owner on file: assign one to follow through)"
    if not f["lost"] and f["band"] == "High" and not exogenous:
        return f"{owner} opens; {boss} follows up to show the company cares"
    return f"{boss[0].upper()}{boss[1:]}, with {owner} (authority, not only the rep)"


def _why(f: dict) -> str:
    parts = []
    if f["lost"]:
        parts.append(f"Lost: {f['reason']}" if f["reason"] else "Lost: reason not recorded (ask in the post-mortem)")
        if f["lost_date"] is None:
            parts.append("lost date not given: add it in Accounts so old losses drop off")
    elif f["drivers"]:
        parts.append(f["drivers"])
    counts = Counter(e for e in f["events"] if e != "complaint").most_common()  # most first, ties in log order
    if f["complaints"] == f["complaints"] and f["complaints"] > 0 and (f["lost"] or not f["drivers"]):
        when = "before the loss" if f["lost"] else "recently"
        parts.append(f"{int(f['complaints'])} complaint{'s' if f['complaints'] != 1 else ''} {when}")
    if f["lost"] and len(counts):
        parts.append("also " + ", ".join(name.replace("_", " ") for name, _ in counts))
    return "; ".join(parts)


def _eat_crow(f: dict, exogenous: bool) -> str:
    if exogenous:
        what = f"({f['reason']} is outside our control)" if f["lost"] and f["reason"] else "for the change"
        return f"No apology owed {what}; thank them sincerely for the business."
    if f["lost"]:
        return ("Open with the company's apology: \"We screwed up, and we're sorry.\" Don't pass the buck to "
                "another department. Let them vent and empathise before anything else.")
    return ("Ask directly: \"Is something bothering you that would help to discuss?\" Empathise, let them vent, "
            "and apologise sincerely for what went wrong.")


def _make_good(f: dict, harm: str, budget: float, settings) -> str:
    if harm == "exogenous":
        return "None needed: the loss was not our failure. Offer to waive exit penalties if they apply."
    if not np.isfinite(budget):
        return ("Size the gesture to the cost of the failure to them (revenue at stake unknown); "
                "not a token gift.")
    basis = (f"{settings.make_good_share:.0%} of {_money(f['revenue'])} at stake"
             f"{'' if HARM_SCALE[harm] == 1 else f' x {HARM_SCALE[harm]:g}'}, harm {harm}")
    if harm == "none on record" and not f["lost"]:
        return "None yet: no failure of ours on record. Fix what the drivers point to; be extra attentive."
    if harm == "none on record":
        return f"No failure of ours on record: a goodwill gesture of about {_money(budget)} ({basis})."
    form = ("a service credit or free period" if budget >= 5_000 else
            "a credit on the next invoice or extra service" if budget >= 500 else "a personal gesture and a credit")
    return f"Proportional to the harm: {form} worth about {_money(budget)} ({basis}); not a token gift."


def _resell(f: dict, exogenous: bool) -> str:
    reasons = []
    if f["since"] is not None:
        years = (f["end"] - f["since"]).days / 365.25
        reasons.append(f"a customer for {years:.0f} years (since {f['since'].year})" if years >= 1.5
                       else f"a customer since {f['since'].strftime('%b %Y')}")
    if f["orders"] == f["orders"] and f["orders"] > 0:
        spend = f" worth {_money(f['spend'])}" if f["spend"] == f["spend"] else ""
        reasons.append(f"{int(f['orders'])} order{'s' if f['orders'] != 1 else ''}{spend}")
    if f["segment"]:
        reasons.append(f"a {f['segment']} customer")
    if f["referrals"] == f["referrals"] and f["referrals"] > 0:
        reasons.append(f"referred {int(f['referrals'])} customer{'s' if f['referrals'] != 1 else ''}")
    if f["nps"] == f["nps"]:
        reasons.append(f"NPS {f['nps']:g}")
    if f["tier"]:
        reasons.append(f"{f['tier'].lower()} buyer")
    if exogenous:
        return ("Tell the new decision-makers what you did for them: " + ", ".join(reasons) + ". "
                if reasons else "Tell the new decision-makers what you did for them. ") + \
            "Re-close only when they are ready."
    history = ("Remind them why they chose you: " + ", ".join(reasons) + ". ") if reasons else \
        "Ask what they valued when they chose you. "
    if f["lost"]:
        return history + "Re-close only when they are ready; don't push for the order on the first call."
    return history + "Reinforce those reasons with what you'll deliver next."


def _post_mortem(f: dict, exogenous: bool) -> str:
    if exogenous:
        return ("Thank them for the business; offer full support for the transition to the new owner and ask "
                "who will decide from now on. Keep the door open.")
    if f["lost"]:
        return ("Ask your manager or a colleague to broker a post-break-up meeting with their contact; go to learn, "
                "not to argue (feelings aren't facts). Take the high ground: thank them, support the transition, "
                "say you intend to earn the business back. Apply the lesson to similar accounts.")
    return ("Agree a detailed, specific action plan for what they raised, with dates; don't overpromise. "
            "Deliver it, and spend extra time with them until it holds.")


def _first_touch(f: dict, settings, today: pd.Timestamp) -> pd.Timestamp:
    space = _span(settings.first_touch_days)
    if not f["lost"]:
        return today if f["band"] == "Critical" else today + _span(min(2, settings.first_touch_days))
    if f["lost_date"] is None:
        return today + space
    return max(f["lost_date"] + space, today)


def _headline(f: dict, exogenous: bool, budget: float) -> str:
    if exogenous:
        return "Keep the door open: thank them, support the transition, watch for the new decision-makers."
    if f["lost"]:
        gesture = f", make good (~{_money(budget)})" if np.isfinite(budget) and budget > 0 else ", make good"
        return f"Win back: authority calls, eat crow{gesture}, resell, post-mortem, then give space."
    return ("Save now: direct conversation, apology, detailed action plan; don't overpromise."
            if f["band"] == "Critical" else
            "Save: check in this week, ask what's bothering them, agree an action plan and deliver it.")


# ---- small helpers ------------------------------------------------------------------------------------------------

def _column(frame: pd.DataFrame, column: str) -> list:
    return frame[column].to_numpy(dtype=object).tolist() if column in frame.columns else [None] * len(frame)


def _lookup(frame: pd.DataFrame, column: str) -> dict:
    if column not in frame.columns:
        return {}
    return dict(zip(frame.index.to_numpy(dtype=object).tolist(), frame[column].to_numpy(dtype=object).tolist()))


def _days(frame: pd.DataFrame, column: str) -> np.ndarray:
    return day_numbers(frame[column]) if column in frame.columns else np.full(len(frame), np.nan)


def _timestamps(days: np.ndarray) -> list:
    """Day numbers -> Timestamps (None where missing), converted in one go."""
    finite = np.isfinite(days)
    stamps = pd.Timestamp("1970-01-01") + pd.to_timedelta(np.where(finite, days, 0).astype("int64"), unit="D")
    return [stamp if ok else None for stamp, ok in zip(stamps, finite.tolist())]


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _number(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _money(value: float) -> str:
    return "an unknown amount" if not np.isfinite(value) else f"${value:,.0f}"


def _d(stamp: pd.Timestamp) -> str:
    return stamp.date().isoformat()  # YYYY-MM-DD, several times quicker than strftime


def _dtype(column: str) -> str:
    if column in ("revenue_at_stake", "risk", "make_good_budget"):
        return "float64"
    if column in ("lost_date", "first_touch"):
        return "datetime64[ns]"
    return "object"
