"""relhealth's Excel functions, for classic xlwings (COM), xlwings Server and xlwings Lite.

Excel sees exactly the functions named here (xlwings registers every decorated function of this module); the
names are documented in docs/excel-functions.md and a test keeps the three in step. Other programs (the
LibreOffice extension) call the same Python functions through ``FUNCTIONS``.
"""

from .functions import (
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

# Excel name -> Python function.
FUNCTIONS = {
    "CHURN_RISK": churn_risk,
    "RISK_BAND": risk_band,
    "RISK_DRIVERS": risk_drivers,
    "EXPECTED_PURCHASES": expected_purchases,
    "LOYALTY_TIER": loyalty_tier,
    "ONE_MISTAKE_AWAY": one_mistake_away,
    "WINBACK_PLAY": winback_play,
    "DATA_ISSUES": data_issues,
    "BREAKUP_SEASONALITY": breakup_seasonality,
    "TRIGGER_LIFT": trigger_lift,
    "COMPLAINT_STEPS": complaint_steps,
}
# Functions that spill a small table with a header row; the others give one value per account row.
TABLE_FUNCTIONS = ("BREAKUP_SEASONALITY", "TRIGGER_LIFT", "COMPLAINT_STEPS")

__all__ = [f.__name__ for f in FUNCTIONS.values()] + ["FUNCTIONS", "TABLE_FUNCTIONS"]
