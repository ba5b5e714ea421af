from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Credit accounts, the append-only ledger, plans and packages, Stripe checkout/portal/webhooks, resets."""

    name = "apps.billing"
    label = "billing"
    verbose_name = "Billing and credits"
