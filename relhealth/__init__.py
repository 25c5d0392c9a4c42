"""relhealth: relationship health for account spreadsheets.

Pure engine (pandas/numpy/scipy, no Excel imports). Where is the risk computed? ``relhealth.risk``.
"""

__version__ = "0.1.0"
