"""The canonical shape of a book: which columns the engine knows, and the header names people give them.

Every layer speaks these canonical names; only the reader sees the user's own headers. Header matching is
case-, space- and punctuation-insensitive (see ``normalise_header``), so "Account Name", "account_name" and
"ACCOUNT-NAME" are one synonym.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ACCOUNTS, ORDERS, EVENTS, SETTINGS = "Accounts", "Orders", "Events", "Settings"


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, the kind of value it holds, and the headers that mean it."""

    name: str
    kind: str  # "id" | "text" | "date" | "money" | "number" | "percent" | "flag" | "status" | "event"
    synonyms: tuple[str, ...]
    label: str  # how messages and output sheets name it


def _col(name: str, kind: str, label: str, *synonyms: str) -> Column:
    return Column(name, kind, (name, label, *synonyms), label)


ACCOUNT_COLUMNS: tuple[Column, ...] = (
    _col("account_id", "id", "Account ID", "account", "acct", "acct id", "acct no", "account number",
         "account no", "account #", "acct #", "customer", "customer id", "customer no", "customer number",
         "client", "client id", "cust id", "id"),
    _col("account_name", "text", "Account Name", "name", "customer name", "client name", "company",
         "company name", "organisation", "organization"),
    _col("owner", "text", "Owner", "account owner", "rep", "sales rep", "account manager", "am",
         "account executive", "ae", "salesperson", "csm", "acct manager", "acct mgr", "account mgr",
         "acct owner", "key account manager", "kam", "sales owner"),
    _col("segment", "text", "Segment", "tier segment", "industry", "vertical", "market"),
    _col("annual_revenue", "money", "Annual Revenue", "revenue", "arr", "acv", "annual value",
         "contract value", "yearly revenue", "annual spend", "mrr x 12"),
    _col("customer_since", "date", "Customer Since", "start date", "since", "client since", "signed",
         "signup date", "acquired", "first contract"),
    _col("renewal_date", "date", "Renewal Date", "renewal", "contract renewal", "contract end",
         "contract end date", "next renewal", "expiry", "expiration date"),
    _col("exec_sponsor", "text", "Exec Sponsor", "executive sponsor", "sponsor", "champion",
         "executive contact"),
    _col("nps", "number", "NPS", "net promoter score", "nps score", "promoter score", "likelihood to recommend"),
    _col("referrals", "number", "Referrals", "referrals given", "referral count", "references",
         "advocacy", "referrals made"),
    _col("status", "status", "Status", "account status", "customer status", "state", "active",
         "active lost", "churned"),
    _col("lost_date", "date", "Lost Date", "churn date", "date lost", "churned on", "cancel date",
         "cancellation date", "closed lost date", "end date", "left on"),
    _col("lost_reason", "text", "Lost Reason", "churn reason", "reason lost", "loss reason",
         "cancellation reason", "why lost", "reason"),
    # Summary columns, for a book with no order log (shape a).
    _col("first_order", "date", "First Order", "first purchase", "first order date", "first purchase date",
         "first buy"),
    _col("last_order", "date", "Last Order", "last purchase", "last order date", "last purchase date",
         "last buy", "most recent order", "last invoice"),
    _col("order_count", "number", "Orders", "number of orders", "order count", "no of orders",
         "num orders", "purchases", "number of purchases", "total orders", "# orders"),
    _col("revenue_12m", "money", "Revenue 12M", "revenue 12 months", "revenue last 12 months",
         "ltm revenue", "trailing 12m revenue", "t12m revenue", "12m revenue", "spend 12m"),
    _col("complaints_90d", "number", "Complaints 90d", "complaints", "complaints 90 days",
         "complaints last 90 days", "open complaints", "service failures", "tickets 90d"),
    _col("price_increase_flag", "flag", "Price Increase", "price increase", "price rise", "price up"),
    _col("merger_flag", "flag", "Merger", "merger", "acquired flag", "m&a", "merger acquisition"),
    _col("new_decision_maker_flag", "flag", "New Decision-Maker", "new decision maker", "new dm",
         "new buyer"),
)

ORDER_COLUMNS: tuple[Column, ...] = (
    _col("account_id", "id", "Account ID", "account", "acct", "customer", "customer id", "client",
         "client id", "cust id", "account number", "sold to", "bill to", "id"),
    _col("order_date", "date", "Order Date", "date", "purchase date", "invoice date", "order placed",
         "transaction date", "txn date", "day"),
    _col("amount", "money", "Amount", "value", "order value", "revenue", "total", "net amount",
         "sales", "price", "dollar value", "order total", "invoice amount"),
)

EVENT_COLUMNS: tuple[Column, ...] = (
    _col("account_id", "id", "Account ID", "account", "acct", "customer", "customer id", "client",
         "client id", "cust id", "account number", "id"),
    _col("event_date", "date", "Event Date", "date", "when", "occurred", "occurred on", "logged"),
    _col("event_type", "event", "Event", "event type", "type", "kind", "what happened", "category"),
    _col("detail", "text", "Detail", "details", "note", "notes", "description", "comment", "comments"),
)

REQUIRED = {
    ACCOUNTS: ("account_id",),
    ORDERS: ("account_id", "order_date"),
    EVENTS: ("account_id", "event_date", "event_type"),
}

COLUMNS = {ACCOUNTS: ACCOUNT_COLUMNS, ORDERS: ORDER_COLUMNS, EVENTS: EVENT_COLUMNS}


# Relationship events named in the seeds: code -> (label a rep reads, phrases that mean it).
EVENT_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "complaint": ("Complaint / service failure", (
        "complaint", "service failure", "outage", "escalation", "service issue", "missed delivery",
        "late delivery", "defect", "incident", "quality issue", "repeat service failure")),
    "price_increase": ("Price increase", ("price increase", "price rise", "price hike", "price uplift",
                                          "increase in price")),
    "competitor_price": ("Better competitor price", (
        "better competitor price", "competitor price", "more attractive price", "competitor offer",
        "cheaper competitor", "competitive bid", "undercut")),
    "merger": ("Merger or acquisition", ("merger", "acquisition", "acquired", "merger acquisition",
                                         "m&a", "merged", "takeover")),
    "new_decision_maker": ("New decision-maker", ("new decision maker", "new decision-maker", "new buyer",
                                                  "new contact", "champion left", "new dm")),
    "new_management": ("New management team", ("new management", "new management team", "new leadership",
                                                "new ceo", "leadership change", "reorg")),
    "new_competitor": ("New competitor", ("new competitor", "competitor entered", "new entrant",
                                          "new vendor in account")),
    "layoffs": ("Layoffs", ("layoffs", "layoff", "employee layoffs", "redundancies", "downsizing",
                            "job cuts")),
    "price_relief": ("Price-relief request", ("price relief", "price-relief request", "price relief request",
                                              "discount request", "asked for discount", "rebate request")),
    "unprovided_service": ("Request for a service we don't provide", (
        "request for a service we don't provide", "service we dont provide", "unprovided service",
        "unsupported request", "service not offered", "feature request unmet")),
    "unresponsive": ("Contact unresponsive", ("contact unresponsive", "unresponsive", "no response",
                                              "ghosted", "not returning calls", "went quiet")),
}

# Lost reasons that are outside the team's control (seed 003: "exogenous factors").
EXOGENOUS_REASONS = ("acquired", "acquisition", "merger", "merged", "out of business", "bankrupt",
                     "bankruptcy", "closed down", "ceased trading", "insolvency", "went under")


_NON_ALNUM = re.compile(r"[^0-9a-z#&]+")


def normalise_header(text: object) -> str:
    """'Account  Name:' -> 'account name'; the key every header and synonym is compared by."""
    return _NON_ALNUM.sub(" ", str(text).strip().lower()).strip()


def normalise_event(text: object) -> str | None:
    """Map a free-text event type ("Service failure", "M&A") to its code, or None when unknown."""
    key = normalise_header(text)
    if not key:
        return None
    for code, (label, phrases) in EVENT_TYPES.items():
        if key == normalise_header(code) or key == normalise_header(label):
            return code
        if any(key == normalise_header(p) for p in phrases):
            return code
    for code, (_label, phrases) in EVENT_TYPES.items():  # looser: a known phrase inside longer text
        if any(normalise_header(p) in key for p in phrases):
            return code
    return None


def event_label(code: str) -> str:
    return EVENT_TYPES[code][0]


def is_exogenous(reason: object) -> bool:
    key = normalise_header(reason)
    return bool(key) and any(normalise_header(r) in key for r in EXOGENOUS_REASONS)
