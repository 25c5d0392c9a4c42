"""xlwings Server's custom functions: relhealth's Excel functions, re-exported by name (never ``*``).

xlwings Server imports the ``custom_functions`` package from its project directory (``XLWINGS_PROJECT_DIR``, or
the directory it is started from); pointing it at ``addin/server`` serves exactly the functions of ``udfs``.
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
