"""xlwings Lite: paste this file into the xlwings Lite editor's main.py tab (requirements.txt: see README.md here).

xlwings Lite registers every function decorated with ``xlwings.func`` that it finds in main.py, including ones
imported from a package, so re-exporting relhealth's functions by name serves them all: type
``=CHURN_RISK(Accounts!A1:M601)`` in any cell. The code is the same module the classic add-in and xlwings Server
use (``udfs``), installed from the relhealth wheel.
"""

from udfs import (
    breakup_seasonality,
    churn_risk,
    complaint_steps,
    data_issues,
    expected_purchases,
    loyalty_tier,
    one_mistake_away,
    risk_band,
    risk_drivers,
    trigger_lift,
    winback_play,
)

__all__ = [
    "breakup_seasonality",
    "churn_risk",
    "complaint_steps",
    "data_issues",
    "expected_purchases",
    "loyalty_tier",
    "one_mistake_away",
    "risk_band",
    "risk_drivers",
    "trigger_lift",
    "winback_play",
]
