"""The Excel functions. One module for classic xlwings (COM), xlwings Server and xlwings Lite.

Every function takes the same arguments, so a user learns them once:

    =FUNCTION(accounts, [account | view | event | complaints], [orders], [events], [settings], [horizon_days], [as_of])

- ``accounts``: the account table *with its header row* (``Accounts!A1:M601`` or ``Table1[#All]``).
- 2nd argument narrows the result: an account id (or a row/column of ids) for the per-account functions; which
  table for BREAKUP_SEASONALITY; one event type for TRIGGER_LIFT; a complaint count for COMPLAINT_STEPS.
  Left out (``=CHURN_RISK(Accounts!A1:M601)``, or ``=CHURN_RISK(Accounts!A1:M601, , Orders!A1:C5000)``):
  the whole table, one value per data row, spilled beside the rows.
- ``orders``, ``events``: the order and event logs with their header rows; ``settings``: a Setting/Value range
  like the Settings sheet; ``horizon_days`` and ``as_of`` override those two settings.

Per-account functions return one value per data row (whole-table form) or one value (single-row form); a bad
cell the number depends on gives that row a short message instead. A problem with the whole call gives one
message. Never a traceback: an unexpected error is logged and shown as a short generic message.

Bodies stay a few lines: ``convert`` reads and caches the inputs, the engine computes, ``shape`` shapes.
"""

from __future__ import annotations

import logging
from functools import reduce
from typing import Any, Callable

from relhealth.collector import collector_paused
from xlwings import arg, func

from . import convert, shape

logger = logging.getLogger(__name__)

_DOCS = {
    "accounts": "Account table including its header row, e.g. Accounts!A1:M601 or Table1[#All]",
    "account": "Optional: an account id (e.g. [@Account]) or a list of ids; leave empty for the whole table",
    "orders": "Optional: order log with its header row (account, order date, amount)",
    "events": "Optional: event log with its header row (account, date, event type)",
    "settings": "Optional: a Setting / Value range like the Settings sheet",
    "horizon_days": "Optional: days ahead the risk looks (default: the settings' horizon_days, 180)",
    "as_of": "Optional: the date to compute as of (default: the settings' as_of, else today)",
    "view": 'Optional: "month" (default), "week" or "windows"',
    "event": 'Optional: one event type (e.g. "complaint") to show only its row',
    "complaints": "Optional: 0, 1, 2 or 3 to show only that step (3 = three or more)",
}


def _args(second: str) -> Callable:
    """The argument declarations every function shares; built fresh per function (xlwings pops `doc`)."""
    names = ["accounts", second, "orders", "events", "settings", "horizon_days", "as_of"]
    decorators = [arg(name, "raw", doc=_DOCS[name]) for name in names]
    return lambda f: reduce(lambda g, d: d(g), reversed(decorators), f)


def _guard(name: str, run: Callable[[], Any], single: bool) -> Any:
    """Whole-call problems -> one message; anything unexpected -> logged, short generic message. The call runs with
    the cyclic garbage collector paused: reading, scoring and shaping a table make many objects and no cycles."""
    try:
        with collector_paused():
            return run()
    except convert.CallError as exc:
        text = str(exc)
    except Exception:  # a bug: never a traceback in a cell
        logger.exception("%s failed", name)
        text = f"{name}: unexpected error (details in the add-in log); please report it"
    return text if single else [[text]]


def _per_account(name: str, family: str, values: Callable[[convert.Computation], list[Any]], accounts: Any,
                 account: Any, orders: Any, events: Any, settings: Any, horizon_days: Any, as_of: Any,
                 blank_ok: bool = False) -> Any:
    wanted = _accounts_wanted(name, account)
    single = wanted is not None and not isinstance(wanted, list)

    def run() -> Any:
        comp = convert.computation(name, accounts, orders, events, settings, horizon_days, as_of)
        if wanted is None:
            return [[v] for v in shape.per_row(comp, name, family, values, blank_ok)]
        return shape.lookup(comp, name, family, values, wanted, blank_ok)

    if isinstance(wanted, convert.CallError):
        return str(wanted)
    return _guard(name, run, single)


def _accounts_wanted(name: str, account: Any) -> Any:
    """None (whole table), one id, or a 2-D list of ids; a CallError when an order log was put there."""
    if account is None:
        return None
    rows = convert.matrix(account)
    if len(rows) == 1 and len(rows[0]) == 1:
        return "" if rows[0][0] is None else rows[0][0]  # a blank id cell: blank result, not the whole table
    if len(rows) > 1 and len(rows[0]) > 1:
        return convert.CallError(
            f"{name}: the 2nd argument is the account id (or a list of ids); put the order log 3rd, e.g. "
            f"={name}(Accounts!A1:M601, , Orders!A1:C5000)")
    return rows


def _column(frame_of: Callable[[convert.Computation], Any], column: str) -> Callable:
    """Values of one engine column, one per account in book order (frames keyed by account_id)."""

    def values(comp: convert.Computation) -> list[Any]:
        frame = frame_of(comp)
        ids = comp.book.accounts["account_id"].tolist()
        values = shape.cells(frame[column].tolist())
        if len(frame) == len(ids) and frame["account_id"].tolist() == ids:
            return values
        by_id = dict(zip(frame["account_id"].tolist(), values))
        return [by_id.get(i) for i in ids]

    return values


def _issues(comp: convert.Computation) -> list[str]:
    issues = comp.memo("issues", lambda: shape.RowIssues(comp))
    return ["; ".join(shape.issue_text(i) for i in issues.all_for(comp.output_index(row), convert.account_key(a)))
            for row, a in zip(comp.book.accounts["source_row"], comp.book.accounts["account_id"])]


_RISK = _column(lambda c: c.risk_numbers, "risk")
_BAND = _column(lambda c: c.risk_numbers, "band")
_DRIVERS = _column(lambda c: c.scores, "drivers")
_EXPECTED = _column(lambda c: c.risk_numbers, "expected_purchases")
_TIER = _column(lambda c: c.tiers, "tier")
_ONE_MISTAKE = _column(lambda c: c.tiers, "one_mistake_away")
_PLAY = _column(lambda c: c.planner, "play")


@func
@_args("account")
def churn_risk(accounts, account=None, orders=None, events=None, settings=None, horizon_days=None, as_of=None):
    """Break-up risk 0-1: chance of no purchase within the horizon. Per row, or for the account given 2nd."""
    return _per_account("CHURN_RISK", "risk", _RISK, accounts, account, orders, events, settings, horizon_days,
                        as_of)


@func
@_args("account")
def risk_band(accounts, account=None, orders=None, events=None, settings=None, horizon_days=None, as_of=None):
    """Risk band: Low, Watch, High or Critical (thresholds from the settings). Per row or for one account."""
    return _per_account("RISK_BAND", "risk", _BAND, accounts, account, orders, events, settings, horizon_days,
                        as_of)


@func
@_args("account")
def risk_drivers(accounts, account=None, orders=None, events=None, settings=None, horizon_days=None,
                 as_of=None):
    """The three biggest reasons behind the risk, in plain words with points. Per row or for one account."""
    return _per_account("RISK_DRIVERS", "risk", _DRIVERS, accounts, account, orders, events, settings,
                        horizon_days, as_of)


@func
@_args("account")
def expected_purchases(accounts, account=None, orders=None, events=None, settings=None, horizon_days=None,
                       as_of=None):
    """Expected number of purchases within the horizon. Per row or for one account."""
    return _per_account("EXPECTED_PURCHASES", "risk", _EXPECTED, accounts, account, orders, events, settings,
                        horizon_days, as_of)


@func
@_args("account")
def loyalty_tier(accounts, account=None, orders=None, events=None, settings=None, horizon_days=None,
                 as_of=None):
    """Loyalty tier: Occasional, Habitual or Loyal. Per row or for one account."""
    return _per_account("LOYALTY_TIER", "tier", _TIER, accounts, account, orders, events, settings,
                        horizon_days, as_of)


@func
@_args("account")
def one_mistake_away(accounts, account=None, orders=None, events=None, settings=None, horizon_days=None,
                     as_of=None):
    """TRUE when one more service failure could lose the account (no loyalty to fall back on). Per row."""
    return _per_account("ONE_MISTAKE_AWAY", "tier", _ONE_MISTAKE, accounts, account, orders, events, settings,
                        horizon_days, as_of)


@func
@_args("account")
def winback_play(accounts, account=None, orders=None, events=None, settings=None, horizon_days=None,
                 as_of=None):
    """The win-back play for a lost or High/Critical account (blank when none is needed). Per row or for one account."""
    return _per_account("WINBACK_PLAY", "plan", _PLAY, accounts, account, orders, events, settings,
                        horizon_days, as_of, blank_ok=True)


@func
@_args("account")
def data_issues(accounts, account=None, orders=None, events=None, settings=None, horizon_days=None,
                as_of=None):
    """The data problems found in the row (and in that account's orders and events); blank when none."""
    return _per_account("DATA_ISSUES", "none", _issues, accounts, account, orders, events, settings,
                        horizon_days, as_of, blank_ok=True)


def _table(name: str, build: Callable[[convert.Computation], list[list[Any]]], accounts: Any, orders: Any,
           events: Any, settings: Any, horizon_days: Any, as_of: Any) -> Any:
    def run() -> Any:
        return build(convert.computation(name, accounts, orders, events, settings, horizon_days, as_of))

    return _guard(name, run, single=False)


_SEASON_VIEWS = {"month": "by_month", "week": "by_week", "windows": "windows", "window": "windows"}


@func
@_args("view")
def breakup_seasonality(accounts, view=None, orders=None, events=None, settings=None, horizon_days=None,
                        as_of=None):
    """Break-ups by month, week or named window against exposure, with rate ratios; spills a table."""
    choice = str(convert.scalar(view) or "month").strip().lower()
    if choice not in _SEASON_VIEWS:
        return [[f'BREAKUP_SEASONALITY: view should be "month", "week" or "windows"; got "{choice}"']]

    def build(comp: convert.Computation) -> list[list[Any]]:
        season = comp.seasonality
        if getattr(season, "message", ""):
            return [[f"BREAKUP_SEASONALITY: {season.message}"]]
        return shape.table(getattr(season, _SEASON_VIEWS[choice]), shape.HEADERS)

    return _table("BREAKUP_SEASONALITY", build, accounts, orders, events, settings, horizon_days, as_of)


@func
@_args("event")
def trigger_lift(accounts, event=None, orders=None, events=None, settings=None, horizon_days=None, as_of=None):
    """Break-up rate after each event type vs without it (ratio, interval, p-value); spills a table."""
    wanted = convert.scalar(event)

    def build(comp: convert.Computation) -> list[list[Any]]:
        frame = comp.triggers
        if not convert.is_blank(wanted):
            from relhealth.schema import normalise_event

            code = normalise_event(wanted)
            frame = frame[frame["event_type"] == code]
            if code is None or not len(frame):
                return [[f'TRIGGER_LIFT: "{wanted}" is not an event type in this book (try "complaint")']]
        return shape.table(frame, shape.HEADERS)

    return _table("TRIGGER_LIFT", build, accounts, orders, events, settings, horizon_days, as_of)


@func
@_args("complaints")
def complaint_steps(accounts, complaints=None, orders=None, events=None, settings=None, horizon_days=None,
                    as_of=None):
    """Break-up rate by number of recent complaints (0, 1, 2, 3+); spills a table with a header row."""
    wanted = convert.scalar(complaints)

    def build(comp: convert.Computation) -> list[list[Any]]:
        frame = comp.complaint_steps
        if not convert.is_blank(wanted):
            key = convert.number_text(wanted).strip().rstrip("+")
            frame = frame[[convert.number_text(v).strip().rstrip("+") == key for v in frame["complaints"]]]
            if not len(frame):
                return [[f'COMPLAINT_STEPS: complaints should be 0, 1, 2 or 3; got "{wanted}"']]
        return shape.table(frame, shape.HEADERS)

    return _table("COMPLAINT_STEPS", build, accounts, orders, events, settings, horizon_days, as_of)
