"""Credits and payments (API.md, Billing and credits)."""
from .._route import Route, Section
from ..models import Balance, Transaction


class Billing(Section):
    """Balance, ledger, usage, plans, checkout and invoices."""

    balance = Route("GET", "/billing/balance", model=Balance)
    transactions = Route("GET", "/billing/transactions", kind="page", model=Transaction)
    usage = Route("GET", "/billing/usage")
    plans = Route("GET", "/billing/plans")
    checkout = Route("POST", "/billing/checkout")
    portal = Route("POST", "/billing/portal")
    invoices = Route("GET", "/billing/invoices", kind="page")
