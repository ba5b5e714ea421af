from celery.schedules import crontab

from apps.core.registry import NavEntry, NexusAppConfig, Scope


class BillingConfig(NexusAppConfig):
    """Credit accounts, the append-only ledger, plans and packages, Stripe checkout/portal/webhooks, resets."""

    name = "apps.billing"
    label = "billing"
    verbose_name = "Billing and credits"
    api_urls = "apps.billing.api.urls"
    page_urls = "apps.billing.urls"  # the billing page and its Stripe redirects
    navigation = (NavEntry("Billing", "billing:page", position=100),)
    scopes = (Scope("billing:read", position=70), Scope("billing", position=80))
    beat = {
        # Daily: the reset itself happens once per account and period, so a missed day is caught up the next.
        "billing-reset-monthly-credits": {
            "task": "apps.billing.tasks.credits_reset_monthly",
            "schedule": crontab(minute=5, hour=0),
            "options": {"queue": "default"},
        },
        "billing-expire-reservations": {
            "task": "apps.billing.tasks.credit_reservations_expire",
            "schedule": 300.0,
            "options": {"queue": "default"},
        },
    }
